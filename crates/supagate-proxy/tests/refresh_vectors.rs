//! The refresh cases f01-f05 of the real `@supabase/ssr` corpus (`testdata/`): the
//! same request to the auth server, and the same cookie outcome.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::Value;
use supagate_cookie::{CookieName, CookieOptions, SessionReader, SessionWriter};
use supagate_proxy::core::{AuthEndpoint, RefreshNeed, RefreshOutcome};

const URL: &str = "https://abcdefghijklmnopqrst.supabase.co";

fn case(id: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/supabase-ssr/cases")
        .join(format!("{id}.json"));
    serde_json::from_str(
        &std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (testdata/ in the repository)", path.display())),
    )
    .unwrap()
}

fn cookie_headers(cookie: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("cookie", HeaderValue::from_str(cookie).unwrap());
    h
}

struct Setup {
    vector: Value,
    request: HeaderMap,
    auth: AuthEndpoint,
    need: RefreshNeed,
    writer: SessionWriter,
}

fn setup(id: &str) -> Setup {
    let vector = case(id);
    let request = cookie_headers(vector["request_cookie_header"].as_str().unwrap());
    let name = CookieName::from_supabase_url(URL).unwrap();
    let session = SessionReader::new(name.clone())
        .read(&request)
        .unwrap()
        .unwrap();
    let sent = &vector["http_requests_sent_by_auth_js"][0];
    let api_key = sent["headers"]["apikey"].as_str().unwrap();
    let auth = AuthEndpoint::new(URL, api_key).unwrap();
    let now = vector["reference_now_unix"].as_i64().unwrap();
    let need = auth.needs_refresh(&session, now);

    // The same request as auth-js (x-client-info names us instead).
    let req = auth.refresh_request(session.refresh_token());
    assert_eq!(
        req.method().as_str(),
        sent["method"].as_str().unwrap(),
        "{id}"
    );
    assert_eq!(req.uri().to_string(), sent["url"].as_str().unwrap(), "{id}");
    assert_eq!(
        req.body().as_slice(),
        sent["body"].as_str().unwrap().as_bytes(),
        "{id}"
    );
    for (k, v) in sent["headers"].as_object().unwrap() {
        if k == "x-client-info" {
            assert!(req.headers().contains_key("x-client-info"));
            continue;
        }
        assert_eq!(
            req.headers()[k.as_str()],
            v.as_str().unwrap(),
            "{id}: header {k}"
        );
    }
    assert_eq!(
        req.headers().len(),
        sent["headers"].as_object().unwrap().len(),
        "{id}"
    );
    assert!(format!("{auth:?}").contains("<redacted>") && !format!("{auth:?}").contains(api_key));

    let writer = SessionWriter::new(name, CookieOptions::default()).unwrap();
    Setup {
        vector,
        request,
        auth,
        need,
        writer,
    }
}

/// `(name, value, deletes)` of each cookie the vector's `setAll` wrote.
fn expected_cookies(vector: &Value) -> Vec<(String, String, bool)> {
    vector["set_all_calls"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|call| call["cookies"].as_array().unwrap().clone())
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["value"].as_str().unwrap().to_owned(),
                c["options"]["maxAge"].as_i64() == Some(0),
            )
        })
        .collect()
}

fn written(set_cookies: &[HeaderValue]) -> Vec<(String, String, bool)> {
    set_cookies
        .iter()
        .map(|v| {
            let s = v.to_str().unwrap();
            let pair = s.split(';').next().unwrap();
            let (n, val) = pair.split_once('=').unwrap();
            (n.to_owned(), val.to_owned(), s.contains("Max-Age=0"))
        })
        .collect()
}

#[test]
fn f01_refresh_success_writes_the_new_session_and_deletes_stale_chunks() {
    let s = setup("f01-refresh-success-shrinks-to-one-cookie");
    assert_eq!(s.need, RefreshNeed::Expired);
    // The auth server's answer is the session the cookies hold afterwards.
    let after = cookie_headers(s.vector["cookie_header_after"].as_str().unwrap());
    let reader = SessionReader::new(CookieName::from_supabase_url(URL).unwrap());
    let body = reader
        .read(&after)
        .unwrap()
        .unwrap()
        .expose_json()
        .to_owned();
    let RefreshOutcome::Refreshed(session) =
        s.auth
            .refresh_outcome(s.need, Some(StatusCode::OK), body.as_bytes())
    else {
        panic!("expected a refreshed session");
    };
    assert_eq!(
        session.access_token().expose(),
        s.vector["result"]["access_token"].as_str().unwrap()
    );
    let set = s.writer.set(&session, &s.request).unwrap();
    assert_eq!(written(&set), expected_cookies(&s.vector));
}

fn ends_session(id: &str, status: u16, body: &str, code: &str) {
    let s = setup(id);
    assert_eq!(s.need, RefreshNeed::Expired);
    match s
        .auth
        .refresh_outcome(s.need, StatusCode::from_u16(status).ok(), body.as_bytes())
    {
        RefreshOutcome::EndSession { code: c } => assert_eq!(c.as_deref(), Some(code)),
        other => panic!("{id}: {other:?}"),
    }
    let cleared = written(&s.writer.clear(&s.request).unwrap());
    let expected = expected_cookies(&s.vector);
    // Every cookie auth-js deleted, we delete; we also delete the unchunked name (absent
    // here), which is harmless.
    for e in &expected {
        assert!(cleared.contains(e), "{id}: {e:?} not deleted");
    }
    for c in &cleared {
        assert!(c.2, "{id}: only deletions");
        assert!(expected.contains(c) || c.0 == "sb-abcdefghijklmnopqrst-auth-token");
    }
}

#[test]
fn f02_refresh_token_not_found_ends_the_session() {
    ends_session(
        "f02-refresh-token-not-found",
        400,
        r#"{"code":"refresh_token_not_found","message":"Invalid Refresh Token: Refresh Token Not Found"}"#,
        "refresh_token_not_found",
    );
}

#[test]
fn f03_already_used_in_the_legacy_error_shape_ends_the_session() {
    ends_session(
        "f03-refresh-token-already-used-legacy-error-shape",
        400,
        r#"{"code":400,"error_code":"refresh_token_already_used","msg":"Invalid Refresh Token: Already Used"}"#,
        "refresh_token_already_used",
    );
}

#[test]
fn f04_a_5xx_keeps_the_cookies() {
    let s = setup("f04-refresh-5xx-keeps-cookies");
    assert!(expected_cookies(&s.vector).is_empty());
    for status in [
        Some(StatusCode::SERVICE_UNAVAILABLE),
        Some(StatusCode::BAD_GATEWAY),
        None,
    ] {
        assert!(matches!(
            s.auth
                .refresh_outcome(s.need, status, b"upstream unavailable"),
            RefreshOutcome::Unavailable
        ));
    }
}

#[test]
fn f05_a_failed_proactive_refresh_keeps_the_valid_session() {
    let s = setup("f05-proactive-refresh-fails-token-still-valid");
    assert_eq!(s.need, RefreshNeed::Proactive);
    assert!(expected_cookies(&s.vector).is_empty());
    assert!(matches!(
        s.auth.refresh_outcome(
            s.need,
            Some(StatusCode::BAD_REQUEST),
            br#"{"code":"refresh_token_already_used","message":"Invalid Refresh Token: Already Used"}"#
        ),
        RefreshOutcome::KeepOld
    ));
}

#[test]
fn a_2xx_that_is_not_a_session_never_signs_out() {
    let s = setup("f02-refresh-token-not-found");
    assert!(matches!(
        s.auth
            .refresh_outcome(s.need, Some(StatusCode::OK), b"<html>"),
        RefreshOutcome::Unavailable
    ));
}
