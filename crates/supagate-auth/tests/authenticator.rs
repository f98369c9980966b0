//! `Authenticator` behaviour that the adapters' conformance table does not reach: logging,
//! configuration errors, sources, and bad input never panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use http::HeaderMap;
use proptest::prelude::*;
use supagate_auth::{AuthError, Authenticator, TokenSource};
use supagate_cookie::{CookieName, SessionReader};
use supagate_testkit::{TestKeys, TokenBuilder, session_cookie_header};

fn auth() -> Authenticator {
    Authenticator::new(TestKeys::new().verifier_at(TokenBuilder::DEFAULT_NOW))
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    h
}

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn refusals_are_logged_with_the_reason_and_never_the_token() {
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let keys = TestKeys::new();
    let expired = TokenBuilder::new()
        .issued_at(TokenBuilder::DEFAULT_NOW - 7200, 3600)
        .sign_hs256(&keys);
    let forged = format!("{}x", TokenBuilder::new().sign_hs256(&keys));
    let es512 = format!(
        "{}.c2ln",
        supagate_testkit::encode_segments(br#"{"alg":"ES512","kid":"k"}"#, b"{}")
    );
    let auth = auth();
    tracing::subscriber::with_default(subscriber, || {
        // Another test thread may have hit these callsites first, with no subscriber, and
        // cached "never" for them: make every callsite ask again now that one is set.
        tracing::callsite::rebuild_interest_cache();
        for token in [&expired, &forged, &es512, &es512] {
            let h = headers(&[("authorization", &format!("Bearer {token}"))]);
            let err = auth.authenticate(&h).unwrap_err();
            let _ = auth.refusal(&err);
        }
    });
    let log = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("reason=\"expired\""), "{log}");
    assert!(log.contains("status=401"), "{log}");
    for token in [&expired, &forged] {
        for part in token.split('.') {
            assert!(!log.contains(part), "a token segment was logged: {log}");
        }
    }
    assert!(!log.contains("user@example.com"));
    assert_eq!(
        log.matches("does not implement").count(),
        1,
        "the unsupported-algorithm warning is logged once: {log}"
    );
}

#[test]
fn realm_is_validated() {
    let v = TestKeys::new().verifier_at(TokenBuilder::DEFAULT_NOW);
    for bad in ["", "a\"b", "a\\b", "caf\u{e9}", "a\nb"] {
        let err = Authenticator::builder(v.clone())
            .realm(bad)
            .build()
            .unwrap_err();
        assert!(
            matches!(err, supagate_auth::AuthConfigError { .. }),
            "{bad:?}"
        );
    }
    assert!(Authenticator::builder(v).realm("my api").build().is_ok());
}

#[test]
fn header_or_cookie_refuses_both() {
    let keys = TestKeys::new();
    let token = TokenBuilder::new().sign_hs256(&keys);
    let cookie = session_cookie_header(TestKeys::SUPABASE_URL, &token).unwrap();
    let reader = SessionReader::new(CookieName::from_supabase_url(TestKeys::SUPABASE_URL).unwrap());
    let auth = Authenticator::builder(keys.verifier_at(TokenBuilder::DEFAULT_NOW))
        .token_source(TokenSource::AuthorizationHeaderOrSessionCookie(reader))
        .build()
        .unwrap();
    let bearer = format!("Bearer {token}");
    assert!(
        auth.authenticate(&headers(&[("authorization", &bearer)]))
            .is_ok()
    );
    assert!(auth.authenticate(&headers(&[("cookie", &cookie)])).is_ok());
    let both = auth
        .authenticate(&headers(&[("authorization", &bearer), ("cookie", &cookie)]))
        .unwrap_err();
    assert_eq!(
        both,
        AuthError::InvalidRequest {
            reason: "token in both header and cookie"
        }
    );
    assert_eq!(
        auth.authenticate(&HeaderMap::new()).unwrap_err(),
        AuthError::MissingCredentials
    );
    // Another scheme next to a cookie is not a second bearer credential.
    assert!(
        auth.authenticate(&headers(&[
            ("authorization", "Basic eDp5"),
            ("cookie", &cookie)
        ]))
        .is_ok()
    );
}

#[test]
fn optional_distinguishes_absent_from_bad() {
    let optional = supagate_auth::Gate::modes(auth(), "user, none".parse().unwrap());
    let none = optional.decide_now(&HeaderMap::new()).unwrap().unwrap();
    assert_eq!(none.caller().map(|c| c.mode()), Some("none"));
    assert!(
        optional
            .decide_now(&headers(&[("authorization", "Bearer a.b.c")]))
            .unwrap()
            .is_err()
    );
}

#[test]
fn refusal_headers() {
    let auth = auth();
    let r = auth.refusal(&AuthError::Token(supagate_jwt::Error::KeysUnavailable));
    let res = r.into_response();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "30");
    assert!(res.headers().get("www-authenticate").is_none());
    assert_eq!(res.headers()["cache-control"], "no-store");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any bytes in any number of Authorization and Cookie fields: an answer, never a panic,
    /// and never acceptance.
    #[test]
    fn arbitrary_headers_never_panic(
        auths in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..3),
        cookies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..3),
    ) {
        let reader = SessionReader::new(CookieName::from_supabase_url(TestKeys::SUPABASE_URL).unwrap());
        let auth = Authenticator::builder(TestKeys::new().verifier_at(TokenBuilder::DEFAULT_NOW))
            .token_source(TokenSource::AuthorizationHeaderOrSessionCookie(reader))
            .build()
            .unwrap();
        let mut h = HeaderMap::new();
        for a in &auths {
            if let Ok(v) = http::HeaderValue::from_bytes(a) {
                h.append(http::header::AUTHORIZATION, v);
            }
        }
        for c in &cookies {
            if let Ok(v) = http::HeaderValue::from_bytes(c) {
                h.append(http::header::COOKIE, v);
            }
        }
        match auth.authenticate(&h) {
            Ok(_) => prop_assert!(false, "random bytes were accepted"),
            Err(e) => {
                let r = auth.refusal(&e);
                prop_assert!(r.status().is_client_error() || r.status().is_server_error());
            }
        }
    }
}
