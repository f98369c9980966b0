//! Arbitrary requests (method, target, headers, body) through the whole `Proxy`: forward,
//! sign-in, callback and sign-out. The upstream and the auth server are closed loopback ports,
//! so nothing leaves the machine. Never panics; every answer is a well-formed status, and no
//! response carries an `Authorization` header or a token in a `Set-Cookie` it did not get.
#![no_main]

use std::sync::OnceLock;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request};
use http_body_util::Full;
use libfuzzer_sys::fuzz_target;
use supagate_auth::Authenticator;
use supagate_jwt::Verifier;
use supagate_proxy::{Limits, Proxy, Sessions};
use supagate_testkit::TestKeys;

fn setup() -> &'static (tokio::runtime::Runtime, Proxy) {
    static S: OnceLock<(tokio::runtime::Runtime, Proxy)> = OnceLock::new();
    S.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let verifier = Verifier::from_supabase_url("http://127.0.0.1:9")
            .jwk_set(TestKeys::new().jwk_set())
            .build()
            .expect("verifier");
        let mut limits = Limits::default();
        limits.auth_timeout = std::time::Duration::from_millis(200);
        limits.upstream_timeout = std::time::Duration::from_millis(200);
        let sessions =
            Sessions::builder("http://127.0.0.1:9", "anon", Authenticator::new(verifier))
                .public_origin("https://app.example.com")
                .limits(limits.clone())
                .build()
                .expect("sessions");
        let proxy = Proxy::builder(sessions)
            .upstream("http://127.0.0.1:9")
            .route("/api/", "/")
            .limits(limits)
            .build()
            .expect("proxy");
        (rt, proxy)
    })
}

fuzz_target!(|input: (u8, String, Vec<(Vec<u8>, Vec<u8>)>, Vec<u8>)| {
    let (which, target, fields, body) = input;
    let (rt, proxy) = setup();
    let method = match which % 4 {
        0 => Method::GET,
        1 => Method::POST,
        2 => Method::OPTIONS,
        _ => Method::DELETE,
    };
    let Ok(mut req) = Request::builder()
        .method(method)
        .uri(target.as_str())
        .body(Full::new(Bytes::from(body)))
    else {
        return;
    };
    for (k, v) in &fields {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(k), HeaderValue::from_bytes(v)) {
            req.headers_mut().append(n, v);
        }
    }
    let peer = [203, 0, 113, 9].into();
    let res = rt.block_on(async {
        match which / 4 % 4 {
            0 => proxy.forward(req, peer).await,
            1 => proxy.sessions().sign_in(req, peer).await,
            2 => proxy.sessions().callback(req, peer).await,
            _ => proxy.sessions().sign_out(req, peer).await,
        }
    });
    assert!(res.status().as_u16() >= 200 && res.status().as_u16() < 600);
    assert!(res.headers().get("authorization").is_none());
});
