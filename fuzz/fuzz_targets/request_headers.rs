//! Arbitrary `Authorization` and `Cookie` fields through the `Authenticator` (header-or-cookie
//! source): never panics, never accepts (the fuzzer cannot sign), and every refusal renders
//! with a 4xx/5xx status and valid header values.
#![no_main]

use std::sync::OnceLock;

use http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;
use supagate_auth::{Authenticator, TokenSource};
use supagate_cookie::{CookieName, SessionReader};
use supagate_testkit::{TestKeys, TokenBuilder};

fn auth() -> &'static Authenticator {
    static AUTH: OnceLock<Authenticator> = OnceLock::new();
    AUTH.get_or_init(|| {
        let reader = SessionReader::new(
            CookieName::from_supabase_url(TestKeys::SUPABASE_URL).expect("test URL"),
        );
        Authenticator::builder(TestKeys::new().verifier_at(TokenBuilder::DEFAULT_NOW))
            .token_source(TokenSource::AuthorizationHeaderOrSessionCookie(reader))
            .build()
            .expect("valid configuration")
    })
}

fuzz_target!(|input: (Vec<Vec<u8>>, Vec<Vec<u8>>)| {
    let (authorization, cookie) = input;
    let mut headers = HeaderMap::new();
    for v in authorization.iter().filter_map(|v| HeaderValue::from_bytes(v).ok()) {
        headers.append(header::AUTHORIZATION, v);
    }
    for v in cookie.iter().filter_map(|v| HeaderValue::from_bytes(v).ok()) {
        headers.append(header::COOKIE, v);
    }
    let auth = auth();
    match auth.authenticate(&headers) {
        Ok(_) => panic!("unsigned input was accepted"),
        Err(e) => {
            let res = auth.refusal(&e).into_response();
            assert!(res.status().is_client_error() || res.status().is_server_error());
        }
    }
});
