//! `MockAuth` is as strict as the auth server it stands for: its gateway's `apikey` check,
//! GoTrue's refresh-token format check, the per-address token limit and `Sb-Forwarded-For`
//! (with a secret key only), and no leeway on `exp` for `GET /user`. Over plain HTTP/1.1.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::{Value, json};
use supagate_testkit::{Endpoint, MockAuth, RefreshFormat, TestKeys, TokenBuilder, TokenLimit};

/// `(status, body)` of one request.
fn call(
    auth: &MockAuth,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    let mut s = TcpStream::connect(auth.url().trim_start_matches("http://")).unwrap();
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn refresh(auth: &MockAuth, token: &str, key: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut headers = vec![("apikey", key), ("content-type", "application/json")];
    headers.extend_from_slice(extra);
    call(
        auth,
        "POST",
        "/auth/v1/token?grant_type=refresh_token",
        &headers,
        &json!({ "refresh_token": token }).to_string(),
    )
}

#[test]
fn the_gateway_wants_a_key_of_the_project_and_no_secret_key_from_a_browser() {
    let auth = MockAuth::start();
    let (status, body) = call(
        &auth,
        "POST",
        "/auth/v1/token?grant_type=refresh_token",
        &[],
        "{}",
    );
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("No API key found in request"))
    );
    let (status, _) = refresh(&auth, "abcdefghijkl", "sb_secret_not_the_projects_key", &[]);
    assert_eq!(status, 401);
    let (status, _) = refresh(
        &auth,
        "abcdefghijkl",
        auth.secret_key(),
        &[("user-agent", "Mozilla/5.0 (X11; Linux x86_64)")],
    );
    assert_eq!(status, 401);
    // The JWKS needs no key, as on a hosted project.
    assert_eq!(
        call(&auth, "GET", "/auth/v1/.well-known/jwks.json", &[], "").0,
        200
    );
}

#[test]
fn refresh_tokens_in_none_of_gotrues_formats_are_validation_failed() {
    let auth = MockAuth::start();
    auth.add_user("alice@example.com", "pw", json!({}));
    let issued: Value =
        serde_json::from_str(&auth.session_json("alice@example.com", 3600)).unwrap();
    let v1 = issued["refresh_token"].as_str().unwrap();
    assert_eq!(v1.len(), 12);
    assert!(
        v1.bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
    );
    for bad in [
        "short",
        "ABCDEFGHIJKL",
        "mockrefresh000000000001",
        &"A".repeat(51),
    ] {
        let (status, body) = refresh(&auth, bad, auth.publishable_key(), &[]);
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("validation_failed")),
            "{bad}"
        );
    }
    // Well-formed but unknown: not found.
    let (status, body) = refresh(&auth, "abcdefghijkl", auth.publishable_key(), &[]);
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("refresh_token_not_found"))
    );
    let (status, body) = refresh(&auth, v1, auth.publishable_key(), &[]);
    assert_eq!(status, 200, "{body}");

    // v2: issued with the session's id and counter 0, a mangled one refused.
    auth.set_refresh_format(RefreshFormat::V2);
    let issued: Value =
        serde_json::from_str(&auth.session_json("alice@example.com", 3600)).unwrap();
    let v2 = issued["refresh_token"].as_str().unwrap().to_owned();
    assert!((51..=63).contains(&v2.len()), "{v2}");
    let mut mangled = v2.clone().into_bytes();
    mangled[30] = if mangled[30] == b'A' { b'B' } else { b'A' };
    let (status, body) = refresh(
        &auth,
        std::str::from_utf8(&mangled).unwrap(),
        auth.publishable_key(),
        &[],
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("validation_failed"))
    );
    let (status, first) = refresh(&auth, &v2, auth.publishable_key(), &[]);
    assert_eq!(status, 200);
    // Fail-to-save: the previous token again gets the current one, not a new rotation.
    let (status, again) = refresh(&auth, &v2, auth.publishable_key(), &[]);
    assert_eq!(status, 200);
    assert_eq!(again["refresh_token"], first["refresh_token"]);
}

#[test]
fn the_token_limit_counts_the_peer_or_sb_forwarded_for_with_a_secret_key() {
    let auth = MockAuth::start();
    auth.set_token_limit(Some(TokenLimit::new(150, 3)));
    // A publishable key's Sb-Forwarded-For is not believed: all count against the peer.
    for i in 0..5 {
        let forwarded = format!("203.0.113.{i}");
        refresh(
            &auth,
            "abcdefghijkl",
            auth.publishable_key(),
            &[("sb-forwarded-for", &forwarded)],
        );
    }
    assert_eq!(auth.rate_limited(), 2);
    // A secret key's is: each address its own bucket (and an unusable value is the peer).
    for i in 0..5 {
        let forwarded = format!("198.51.100.{i}");
        let (status, _) = refresh(
            &auth,
            "abcdefghijkl",
            auth.secret_key(),
            &[("sb-forwarded-for", &forwarded)],
        );
        assert_eq!(status, 400, "the grant's own answer, not 429");
    }
    let (status, body) = refresh(
        &auth,
        "abcdefghijkl",
        auth.secret_key(),
        &[("sb-forwarded-for", "[::1]:80")],
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("over_request_rate_limit"))
    );
    let limited: Vec<_> = auth
        .requests()
        .into_iter()
        .filter_map(|r| r.limited_as)
        .collect();
    assert_eq!(limited[5], "198.51.100.0");
    assert_eq!(limited[10], "127.0.0.1");
    assert_eq!(auth.count(Endpoint::Refresh), 11);
}

#[test]
fn get_user_allows_no_leeway_on_exp_and_checks_the_signature() {
    let auth = MockAuth::start();
    auth.add_user("alice@example.com", "pw", json!({}));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let session: Value =
        serde_json::from_str(&auth.session_json("alice@example.com", 3600)).unwrap();
    let live = session["access_token"].as_str().unwrap();
    let bearer = format!("Bearer {live}");
    let user = |bearer: &str| {
        call(
            &auth,
            "GET",
            "/auth/v1/user",
            &[
                ("apikey", auth.publishable_key()),
                ("authorization", bearer),
            ],
            "",
        )
    };
    assert_eq!(user(&bearer).0, 200);
    // The same session, a token 1 s past exp (inside any verifier's leeway): bad_jwt.
    let claims = TokenBuilder::new()
        .issued_at(now - 3601, 3600)
        .claim("iss", auth.issuer())
        .claim("sub", session["user"]["id"].as_str().unwrap())
        .claim("session_id", "5e7c1a2b-3d4f-4a6b-8c9d-000000000000");
    let (status, body) = user(&format!("Bearer {}", claims.sign_es256(&TestKeys::new())));
    assert_eq!((status, body["code"].as_str()), (403, Some("bad_jwt")));
    // Signed by another key: bad_jwt; no bearer: no_authorization.
    let (status, body) = user(&format!(
        "Bearer {}",
        TokenBuilder::now().sign_hs256(&TestKeys::new())
    ));
    assert_eq!((status, body["code"].as_str()), (403, Some("bad_jwt")));
    let (status, body) = user("Basic x");
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("no_authorization"))
    );
}
