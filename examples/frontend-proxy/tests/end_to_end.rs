//! The frontend-proxy binary over real HTTP, in front of `backend-axum` (served in process on a
//! loopback port) and the `MockAuth` server as Supabase Auth. With `SUPAGATE_INTEROP=1` (as
//! `.ci/test` sets it), a session written by the real `@supabase/ssr` (Node, `interop/node`)
//! goes through the proxy too, and cookies the proxy wrote are read back by it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use backend_common::drive::{Response, cookie_header, node, request};
use common::{ORIGIN, Stack, pairs, set_cookies};
use serde_json::Value;
use supagate_testkit::{Endpoint, Fault};

#[test]
fn sign_in_then_call_the_backend_through_the_proxy() {
    let s = Stack::start();
    let same = ("sec-fetch-site", "same-origin");
    let form = ("content-type", "application/x-www-form-urlencoded");
    let r = s.post(
        "/auth/sign-in",
        &[same, form],
        "email=alice%40example.com&password=correct+horse&next=%2F",
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let set = set_cookies(&r);
    assert!(!set.is_empty());
    for c in &set {
        assert!(c.starts_with("sb-127-auth-token"), "{c}");
        assert!(
            c.contains("HttpOnly") && c.contains("Secure") && c.contains("SameSite=Lax"),
            "{c}"
        );
    }
    assert_eq!(
        r.header("cache-control"),
        Some("private, no-cache, no-store, must-revalidate, max-age=0")
    );
    let cookie = pairs(set.into_iter());
    // GET /api/profile -> backend /profile/me with the cookie's token; the client's identity
    // headers are dropped (rows 96-98).
    let r = s.get(
        "/api/profile",
        &[
            ("cookie", &cookie),
            ("x-user-id", "00000000-0000-0000-0000-000000000000"),
            ("authorization", "Bearer forged"),
            ("X_User_Id", "x"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let me = r.json();
    assert_eq!(me["email"], "alice@example.com");
    assert!(me["user_id"].as_str().unwrap().starts_with("0b6a9c1e-"));
    // ANY /api/{*path}: the admin route passes for alice, and bob is refused by the backend.
    assert_eq!(
        s.get("/api/admin/stats", &[("cookie", &cookie)]).status,
        200
    );
    let bob = s.cookie("bob@example.com", 3600);
    let r = s.get("/api/admin/stats", &[("cookie", &bob)]);
    assert_eq!(r.status, 403);
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("insufficient_scope")
    );
    // Without a session the backend answers 401 with its challenge.
    let r = s.get("/api/profile", &[]);
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    // Row 99/100 at the proxy: whatever the client sends as Authorization is not used.
    let r = s.get(
        "/api/profile",
        &[("authorization", "Bearer a"), ("authorization", "Basic b")],
    );
    assert_eq!(r.status, 401);
    // Row 111: the backend reached directly with a forged X-User-Id is not fooled.
    let r = request(
        s.backend,
        "GET",
        "/profile/me",
        &[("x-user-id", me["user_id"].as_str().unwrap())],
        b"",
    );
    assert_eq!(r.status, 401);
    // Paths, absolute-form targets and CSRF (rows 103, 104, 107).
    assert_eq!(
        s.get("/api/../admin/stats", &[("cookie", &cookie)]).status,
        400
    );
    assert_eq!(
        s.get("/api//evil.example/x", &[("cookie", &cookie)]).status,
        400
    );
    assert_eq!(
        s.get("http://evil.example/api/profile", &[("cookie", &cookie)])
            .status,
        400
    );
    let r = s.post(
        "/api/billing",
        &[("cookie", &cookie), ("origin", "https://evil.example")],
        "",
    );
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"], "csrf_rejected");
    // Sign-out ends the session at the auth server and clears the cookies.
    let r = s.post("/auth/sign-out", &[("cookie", &cookie), same], "");
    assert_eq!(r.status, 204);
    assert!(
        set_cookies(&r)
            .iter()
            .any(|c| c.starts_with("sb-127-auth-token=;") && c.contains("Max-Age=0"))
    );
    assert_eq!(s.auth.count(Endpoint::Logout), 1);
}

#[test]
fn fifty_concurrent_requests_with_one_expired_session_make_one_refresh() {
    let s = Stack::start();
    let cookie = s.cookie("alice@example.com", -60);
    let addr = s.proxy.addr;
    let threads: Vec<_> = (0..50)
        .map(|_| {
            let cookie = cookie.clone();
            std::thread::spawn(move || {
                request(addr, "GET", "/api/profile", &[("cookie", &cookie)], b"")
            })
        })
        .collect();
    let answers: Vec<Response> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        s.auth.count(Endpoint::Refresh),
        1,
        "exactly one refresh call"
    );
    let first: Vec<&str> = set_cookies(&answers[0]);
    assert!(!first.is_empty());
    for a in &answers {
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.json()["email"], "alice@example.com");
        assert_eq!(
            set_cookies(a),
            first,
            "every response carries the same new cookies"
        );
    }
    assert_eq!(
        s.auth.active_sessions(),
        1,
        "the session survived (no reuse detected)"
    );
}

#[test]
fn refresh_refused_clears_the_session_and_an_auth_outage_keeps_it() {
    let s = Stack::start();
    s.auth.inject(
        Endpoint::Refresh,
        Fault::error(400, "refresh_token_already_used"),
        1,
    );
    let r = s.get(
        "/api/profile",
        &[("cookie", &s.cookie("alice@example.com", -60))],
    );
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );
    let cleared = set_cookies(&r);
    assert!(!cleared.is_empty());
    assert!(
        cleared.iter().all(|c| c.contains("Max-Age=0")),
        "{cleared:?}"
    );

    s.auth.inject(
        Endpoint::Refresh,
        Fault::error(503, "unexpected_failure"),
        1,
    );
    let r = s.get(
        "/api/profile",
        &[("cookie", &s.cookie("alice@example.com", -60))],
    );
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    assert!(set_cookies(&r).is_empty(), "cookies kept");
}

#[test]
fn the_oauth_round_trip_through_the_callback() {
    let s = Stack::start();
    let r = s.get("/auth/oauth/github", &[]);
    assert_eq!(r.status, 303);
    let location = r.header("location").unwrap().to_owned();
    assert!(location.contains("redirect_to=http%3A%2F%2Fapp.localhost%3A3000%2Fauth%2Fcallback"));
    let verifier = pairs(set_cookies(&r).into_iter());
    // The browser goes to the auth server, which sends it back with a code.
    let authorize = location.strip_prefix(&s.auth.url()).unwrap();
    let r = request(
        s.auth
            .url()
            .strip_prefix("http://")
            .unwrap()
            .parse()
            .unwrap(),
        "GET",
        authorize,
        &[],
        b"",
    );
    assert_eq!(r.status, 302);
    let back = r.header("location").unwrap();
    let callback = back.strip_prefix(ORIGIN).unwrap();
    let r = s.get(callback, &[("cookie", &verifier)]);
    assert_eq!(r.status, 303, "{}", r.body);
    let cookie = pairs(
        set_cookies(&r)
            .into_iter()
            .filter(|c| !c.contains("code-verifier")),
    );
    let r = s.get("/api/profile", &[("cookie", &cookie)]);
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn a_session_written_by_the_real_supabase_ssr_goes_through_and_back() {
    if std::env::var("SUPAGATE_INTEROP").as_deref() != Ok("1") {
        eprintln!("skipped: set SUPAGATE_INTEROP=1 after `npm ci` in interop/node (.ci/test does)");
        return;
    }
    let s = Stack::start();
    // @supabase/ssr signs in against the auth server and writes its cookies.
    let written = node(
        "proxy-session.mjs",
        &[
            "sign-in",
            &s.auth.url(),
            "anon-key",
            "alice@example.com",
            "correct horse",
        ],
    );
    let cookie = cookie_header(&written);
    assert!(cookie.starts_with("sb-127-auth-token"), "{cookie}");
    let r = s.get("/api/profile", &[("cookie", &cookie)]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["email"], "alice@example.com");
    // The proxy refreshes an expired session; @supabase/ssr reads the cookies it wrote.
    let r = s.get(
        "/api/profile",
        &[("cookie", &s.cookie("alice@example.com", -60))],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let refreshed = pairs(set_cookies(&r).into_iter());
    let read = node("proxy-session.mjs", &["read", &s.auth.url(), &refreshed]);
    assert_eq!(read["error"], Value::Null);
    let token = read["access_token"].as_str().unwrap();
    assert!(token.starts_with("ey"));
    // And that token is what the proxy forwards.
    let r = s.get("/api/profile", &[("cookie", &refreshed)]);
    assert_eq!(r.status, 200);
    assert!(set_cookies(&r).is_empty());
}

/// `METRICS=prometheus`: the proxy's `GET /metrics`, on an address of its own (never the
/// public one, nor the backend's through `/api/`), counts its refresh, its key-set fetch and
/// its token-cache lookups under the documented names, and holds no cookie, token or email.
#[test]
fn the_proxy_exposes_its_refreshes_and_key_fetches_as_metrics() {
    let s = Stack::start_with(
        |_, _| None,
        &[("METRICS", "prometheus"), ("METRICS_BIND", "127.0.0.1:0")],
    );
    let metrics = s.proxy.metrics.expect("metrics on an address of their own");
    let cookie = s.cookie("alice@example.com", -60); // expired: refreshed on the way
    let r = s.get("/api/profile", &[("cookie", &cookie)]);
    assert_eq!(r.status, 200, "{}", r.body);
    let refreshed = pairs(set_cookies(&r).into_iter());
    let again = s.get("/api/profile", &[("cookie", &refreshed)]);
    assert_eq!(again.status, 200, "{}", again.body);
    // Not on the proxy's public address, nor forwarded to the backend's.
    assert_eq!(s.get("/metrics", &[]).status, 404);
    assert_eq!(s.get("/api/metrics", &[]).status, 404);
    let m = request(metrics, "GET", "/metrics", &[], b"");
    assert_eq!(m.status, 200);
    let value = |series: &str| -> f64 {
        m.body
            .lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no series {series} in:\n{}", m.body))
    };
    assert_eq!(
        value(r#"supagate_proxy_refreshes_total{outcome="refreshed"}"#),
        1.0
    );
    assert!(value(r#"supagate_jwks_fetches_total{result="success"}"#) >= 1.0);
    assert!(value("supagate_jwks_keys") >= 1.0);
    assert!(value(r#"supagate_token_cache_requests_total{result="miss"}"#) >= 1.0);
    for secret in [cookie.as_str(), refreshed.as_str(), "alice@example.com"] {
        assert!(!m.body.contains(secret), "{secret} in the metrics");
    }
    for pair in refreshed.split("; ") {
        let value = pair.split_once('=').map_or(pair, |(_, v)| v);
        assert!(value.len() < 20 || !m.body.contains(value));
    }

    let plain = Stack::start();
    assert!(plain.proxy.metrics.is_none());
}
