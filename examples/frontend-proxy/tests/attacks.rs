//! The review's attacks on the frontend proxy, over real HTTP against the frontend-proxy
//! binary with `MockAuth` as Supabase Auth: forged sessions that would spend refreshes, an
//! auth server that rate-limits, a client that goes away mid-refresh, cookie bombs, a backend
//! that tries to set the session cookies, identity and routing headers, odd methods and paths.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::response::IntoResponse;
use axum::routing::any;
use backend_common::drive::{Response, request};
use common::{Stack, set_cookies};
use serde_json::{Value, json};
use supagate_testkit::{Endpoint, Fault, TestKeys, TokenBuilder};

const SAME: (&str, &str) = ("sec-fetch-site", "same-origin");

/// A session JSON like the auth server's, with this access and refresh token, expired.
fn forged_session(s: &Stack, access_token: &str, refresh_token: &str) -> String {
    let mut v: Value = serde_json::from_str(&s.auth.session_json("bob@example.com", -60)).unwrap();
    v["access_token"] = Value::from(access_token);
    v["refresh_token"] = Value::from(refresh_token);
    v["expires_at"] = Value::from(1_000);
    v.to_string()
}

fn is_cleared(r: &Response) -> bool {
    let set = set_cookies(r);
    !set.is_empty() && set.iter().all(|c| c.contains("Max-Age=0"))
}

#[test]
fn a_hundred_forged_expired_sessions_never_reach_the_auth_server() {
    let s = Stack::start();
    let keys = TestKeys::new();
    let issuer = s.auth.issuer();
    let real = serde_json::from_str::<Value>(&s.auth.session_json("bob@example.com", -60)).unwrap()
        ["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // A real token with its payload changed (signature no longer matches).
    let parts: Vec<&str> = real.split('.').collect();
    let tampered = format!(
        "{}.{}x.{}",
        parts[0],
        &parts[1][..parts[1].len() - 1],
        parts[2]
    );
    let forged: Vec<String> = vec![
        "garbage".to_owned(),
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.".to_owned(),
        // Our key, another project.
        TokenBuilder::new().issued_at(1_000, 3600).sign_es256(&keys),
        // HS256 with a secret the proxy does not have.
        TokenBuilder::new()
            .claim("iss", issuer.as_str())
            .sign_hmac(b"an-attacker-chosen-secret-of-32-bytes!!"),
        tampered,
    ];
    for i in 0..100 {
        let token = &forged[i % forged.len()];
        let cookie = s.cookie_for(&forged_session(&s, token, &format!("random-refresh-{i}")));
        let r = s.get("/api/profile", &[("cookie", &cookie)]);
        assert_eq!(r.status, 401, "forged #{i}: {}", r.body);
        assert!(
            is_cleared(&r),
            "forged #{i}: the useless cookies are cleared"
        );
    }
    assert_eq!(
        s.auth.count(Endpoint::Refresh),
        0,
        "no refresh call for a forged session"
    );
}

#[test]
fn sessions_whose_key_left_the_set_are_refreshed_only_within_a_budget() {
    let s = Stack::start();
    let keys = TestKeys::new();
    let issuer = s.auth.issuer();
    let mut answers = Vec::new();
    for i in 0..20 {
        let token = TokenBuilder::new()
            .claim("iss", issuer.as_str())
            .header("kid", "rotated-out-and-revoked")
            .issued_at(1_000, 3600)
            .sign_es256(&keys);
        let cookie = s.cookie_for(&forged_session(&s, &token, &format!("random-{i}")));
        answers.push(s.get("/api/profile", &[("cookie", &cookie)]));
    }
    let calls = s.auth.count(Endpoint::Refresh);
    assert_eq!(
        calls, 5,
        "the burst of the unverifiable-refresh budget, then nothing"
    );
    let limited: Vec<&Response> = answers.iter().filter(|r| r.status == 429).collect();
    assert_eq!(limited.len(), 20 - calls);
    for r in limited {
        assert!(r.header("retry-after").is_some());
        assert!(set_cookies(r).is_empty(), "over budget: the cookies stay");
    }
    // A real session's refresh is not held back by that budget (it verifies, so it spends
    // only the general auth-call budget).
    let r = s.get(
        "/api/profile",
        &[("cookie", &s.cookie("alice@example.com", -60))],
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn an_auth_server_answering_429_keeps_the_session_and_says_when_to_retry() {
    let s = Stack::start();
    let cookie = s.cookie("alice@example.com", -60);
    s.auth.inject(
        Endpoint::Refresh,
        Fault::RateLimited {
            retry_after_secs: Some(17),
        },
        1,
    );
    let r = s.get("/api/profile", &[("cookie", &cookie)]);
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.header("retry-after"), Some("17"));
    assert!(set_cookies(&r).is_empty(), "cookies untouched");
    // 408: the same.
    s.auth
        .inject(Endpoint::Refresh, Fault::error(408, "request_timeout"), 1);
    let r = s.get("/api/profile", &[("cookie", &cookie)]);
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    assert!(set_cookies(&r).is_empty());
    // Neither spent the refresh token, so neither is reused: once the auth server recovers,
    // the same cookie refreshes.
    let r = s.get("/api/profile", &[("cookie", &cookie)]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!set_cookies(&r).is_empty(), "refreshed");
    assert_eq!(s.auth.active_sessions(), 1);
    // An unknown 4xx is not a verdict on the session either.
    let other = s.cookie("alice@example.com", -60);
    s.auth
        .inject(Endpoint::Refresh, Fault::error(403, "something_new"), 1);
    let r = s.get("/api/profile", &[("cookie", &other)]);
    assert_eq!(r.status, 503);
    assert!(set_cookies(&r).is_empty());
}

#[test]
fn a_client_that_disconnects_during_the_refresh_does_not_lose_the_session() {
    let s = Stack::start();
    let cookie = s.cookie("alice@example.com", -60);
    s.auth.inject(
        Endpoint::Refresh,
        Fault::Delay(Duration::from_millis(600)),
        1,
    );
    {
        let mut stream = TcpStream::connect(s.proxy.addr).unwrap();
        let req = format!(
            "GET /api/profile HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(req.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(150));
        // The browser tab closes mid-refresh.
    }
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        s.auth.count(Endpoint::Refresh),
        1,
        "the refresh went through"
    );
    // The next request with the old cookie gets the refreshed session, without a second
    // refresh (which strict rotation would answer with refresh_token_already_used).
    let r = s.get("/api/profile", &[("cookie", &cookie)]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!set_cookies(&r).is_empty(), "the new cookies are written");
    assert_eq!(s.auth.count(Endpoint::Refresh), 1);
    assert_eq!(s.auth.active_sessions(), 1, "the session survived");
}

#[test]
fn a_cookie_bomb_answers_431_and_keeps_the_session() {
    let s = Stack::start();
    let cookie = s.cookie("alice@example.com", 3600);
    // Tens of KB of junk next to the session (settable from a sibling subdomain): under the
    // limit the session still works…
    let junk = |n: usize| -> String {
        (0..n)
            .map(|i| format!("junk{i}={}", "j".repeat(1000)))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let r = s.get(
        "/api/profile",
        &[("cookie", &format!("{}; {cookie}", junk(40)))],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // …and over it the answer is 431, and the session cookies are not deleted.
    let fresh = s.cookie("bob@example.com", 3600);
    let r = s.get(
        "/api/profile",
        &[("cookie", &format!("{}; {fresh}", junk(70)))],
    );
    assert_eq!(r.status, 431, "{}", r.body);
    assert!(
        set_cookies(&r).is_empty(),
        "no deletion: {:?}",
        set_cookies(&r)
    );
    let r = s.get("/api/profile", &[("cookie", &fresh)]);
    assert_eq!(r.status, 200);
}

/// An upstream that echoes what it received, and on `/set-cookies` tries to set the session.
fn echo_upstream(rt: &tokio::runtime::Runtime, _auth: &str) -> Option<SocketAddr> {
    async fn echo(req: Request) -> axum::response::Response {
        let headers: serde_json::Map<String, Value> = req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    Value::from(v.to_str().unwrap_or("?")),
                )
            })
            .collect();
        let body = json!({
            "method": req.method().as_str(),
            "path": req.uri().path(),
            "headers": headers,
        });
        let mut res = axum::Json(body).into_response();
        if req.uri().path() == "/set-cookies" {
            for c in [
                "theme=dark; Path=/",
                "=sb-127-auth-token=base64-forged; Path=/",
                "sb-127-auth-token=forged; Path=/",
                "SB-127-AUTH-TOKEN.0=forged",
                "__Host-sb-127-auth-token=forged; Path=/; Secure",
                "sb-127-auth-token-code-verifier=forged",
                "sb-127-auth-token",
                "x=sb-127-auth-token=forged",
                "sb-access-token=forged",
            ] {
                res.headers_mut().append("set-cookie", c.parse().unwrap());
            }
        }
        res
    }
    let app = Router::new().route("/{*path}", any(echo));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, app).await });
    Some(addr)
}

#[test]
fn the_backend_cannot_set_the_session_cookies() {
    let s = Stack::start_with(echo_upstream, &[]);
    let cookie = s.cookie("alice@example.com", 3600);
    let r = s.get("/api/set-cookies", &[("cookie", &cookie)]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(set_cookies(&r), ["theme=dark; Path=/"]);
}

#[test]
fn identity_and_routing_headers_never_reach_the_backend() {
    let s = Stack::start_with(echo_upstream, &[]);
    let cookie = s.cookie("alice@example.com", 3600);
    let sent: &[(&str, &str)] = &[
        ("cookie", &cookie),
        ("x-supabase-role", "service_role"),
        ("X-Supabase-Auth", "x"),
        ("remote-user", "admin"),
        ("X-Remote-User", "admin"),
        ("x-auth-request-user", "admin"),
        ("X-Auth-Request-Email", "admin@example.com"),
        ("true-client-ip", "10.0.0.1"),
        ("cf-connecting-ip", "10.0.0.1"),
        ("x-client-ip", "10.0.0.1"),
        ("x-cluster-client-ip", "10.0.0.1"),
        ("x-original-url", "/admin/stats"),
        ("x-rewrite-url", "/admin/stats"),
        ("x-http-method-override", "DELETE"),
        ("X-HTTP-Method", "DELETE"),
        ("x-method-override", "DELETE"),
        ("x_user_id", "victim"),
        ("x-real-ip", "10.0.0.1"),
        ("X-WebAuth-User", "admin"),
        ("X-MS-Client-Principal-Name", "admin"),
        ("x-amzn-oidc-identity", "admin"),
        ("x-goog-authenticated-user-email", "admin@example.com"),
        ("cf-access-authenticated-user-email", "admin@example.com"),
        ("x-ssl-client-verify", "SUCCESS"),
        ("client-ip", "10.0.0.1"),
        ("x-original-host", "admin.internal"),
    ];
    let r = s.get("/api/echo", sent);
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = r.json();
    let headers = seen["headers"].as_object().unwrap();
    for (name, _) in sent.iter().skip(1) {
        let lower = name.to_ascii_lowercase();
        assert!(!headers.contains_key(&lower), "{name} reached the backend");
    }
    assert_eq!(seen["method"], "GET");
    assert!(
        headers["authorization"]
            .as_str()
            .unwrap()
            .starts_with("Bearer ey")
    );
    assert!(
        !headers.contains_key("cookie"),
        "session cookies stay at the proxy"
    );
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
}

#[test]
fn odd_methods_paths_and_redirects_are_refused() {
    let s = Stack::start_with(echo_upstream, &[]);
    let cookie = s.cookie("alice@example.com", 3600);
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut h: Vec<(&str, &str)> = vec![("cookie", cookie.as_str())];
        h.extend_from_slice(extra);
        h
    };
    // TRACE would echo the bearer back to the page.
    let r = request(s.proxy.addr, "TRACE", "/api/echo", &with(&[SAME]), b"");
    assert_eq!(r.status, 405, "{}", r.body);
    // OPTIONS that is not a preflight, from another site: refused before the backend.
    let r = request(
        s.proxy.addr,
        "OPTIONS",
        "/api/echo",
        &with(&[
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://evil.example"),
        ]),
        b"",
    );
    assert_eq!(r.status, 403, "{}", r.body);
    // Sign-out by GET (a cross-site link): 405, the session stays.
    let r = s.get("/auth/sign-out", &with(&[SAME]));
    assert_eq!(r.status, 405, "{}", r.body);
    assert!(set_cookies(&r).is_empty());
    assert_eq!(s.auth.count(Endpoint::Logout), 0);
    // next that a browser would resolve to another host.
    let r = s.post("/auth/sign-out?next=/.%2F/evil.example", &with(&[SAME]), "");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.header("location").is_none());
    // Dot segments in disguise.
    for path in [
        "/api/..%3b/admin",
        "/api/%c0%ae%c0%ae/admin",
        "/api/a%zz",
        "/api/%3B",
    ] {
        let r = s.get(path, &with(&[]));
        assert_eq!(r.status, 400, "{path}: {}", r.body);
    }
}

#[test]
fn a_large_session_reaches_both_backends() {
    // A 12 KB access token (an OAuth provider's profile in user_metadata), stored as
    // @supabase/ssr stores it (four chunks), through the proxy to backend-axum and to
    // backend-actix.
    let big = json!({ "avatar_url": "https://example.com/a.png", "bio": "b".repeat(11_500) });
    for backend in ["axum", "actix"] {
        let s = Stack::start_with(
            |_, auth_url| (backend == "actix").then(|| actix_backend(auth_url)),
            &[],
        );
        s.auth.set_user_metadata("alice@example.com", big.clone());
        let json = s.auth.session_json("alice@example.com", 3600);
        let token = serde_json::from_str::<Value>(&json).unwrap()["access_token"]
            .as_str()
            .unwrap()
            .len();
        assert!(token > 12_000, "{token}");
        let cookie = s.cookie_for(&json);
        assert!(cookie.contains(".3="), "several chunks");
        let r = s.get("/api/profile", &[("cookie", &cookie)]);
        assert_eq!(r.status, 200, "{backend}: {}", r.body);
        assert_eq!(r.json()["email"], "alice@example.com");
        // The same, as the real @supabase/ssr stores it after signing in (.ci/test runs it).
        if std::env::var("SUPAGATE_INTEROP").as_deref() == Ok("1") {
            let written = backend_common::drive::node(
                "proxy-session.mjs",
                &[
                    "sign-in",
                    &s.auth.url(),
                    "anon-key",
                    "alice@example.com",
                    "correct horse",
                ],
            );
            let cookie = backend_common::drive::cookie_header(&written);
            assert!(cookie.contains("sb-127-auth-token.3="), "{}", cookie.len());
            let r = s.get("/api/profile", &[("cookie", &cookie)]);
            assert_eq!(
                r.status, 200,
                "{backend}, @supabase/ssr's cookies: {}",
                r.body
            );
        }
        // And after a refresh (the new cookies are as large).
        let r = s.get(
            "/api/profile",
            &[("cookie", &s.cookie("alice@example.com", -60))],
        );
        assert_eq!(r.status, 200, "{backend}: {}", r.body);
    }
}

/// backend-actix in process on its own actix system thread, configured exactly as its binary
/// is (keys from the auth server's JWKS).
fn actix_backend(auth_url: &str) -> SocketAddr {
    let url = auth_url.to_owned();
    let config = backend_common::Config::from_lookup(|name| match name {
        "SUPABASE_URL" => Some(url.clone()),
        "BIND" => Some("127.0.0.1:0".to_owned()),
        _ => None,
    })
    .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            backend_actix::server(config.auth, config.resource, listener)
                .unwrap()
                .await
        })
    });
    addr
}

#[test]
fn one_held_token_with_made_up_refresh_tokens_is_not_a_flood() {
    // The attacker's own (expired) access token, which verifies, with a new refresh token on
    // every request: each would be its own refresh call.
    let s = Stack::start();
    let mine = serde_json::from_str::<Value>(&s.auth.session_json("bob@example.com", -60)).unwrap()
        ["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut limited = 0;
    for i in 0..30 {
        let cookie = s.cookie_for(&forged_session(&s, &mine, &format!("made-up-{i}")));
        let r = s.get("/api/profile", &[("cookie", &cookie)]);
        match r.status {
            401 => assert!(is_cleared(&r)),
            429 => {
                limited += 1;
                assert!(set_cookies(&r).is_empty());
            }
            other => panic!("{other}: {}", r.body),
        }
    }
    let calls = s.auth.count(Endpoint::Refresh);
    assert_eq!(calls, 4, "the per-session burst, then nothing");
    assert_eq!(limited, 30 - calls);
}

#[test]
fn a_tossed_duplicate_session_cookie_deletes_nothing() {
    // A sibling subdomain plants a second copy of the session cookie: the jar is ambiguous.
    // Clearing would delete the user's own host-only cookies and keep the planted one.
    let s = Stack::start();
    let cookie = s.cookie("alice@example.com", 3600);
    let tossed = format!("{cookie}; sb-127-auth-token=planted");
    let r = s.get("/api/profile", &[("cookie", &tossed)]);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(set_cookies(&r).is_empty(), "{:?}", set_cookies(&r));
    let r = s.get(
        "/api/profile",
        &[("cookie", &format!("{cookie}; sb-127-auth-token.0=x"))],
    );
    assert_eq!(r.status, 401);
    assert!(set_cookies(&r).is_empty());
}

#[test]
fn the_proxy_forwards_only_what_a_bare_extractor_admits() {
    // A third-party OAuth client's token for the user, and a service_role token, put in the
    // session cookie: refused at the proxy (403), never forwarded, cookies kept.
    let s = Stack::start_with(echo_upstream, &[]);
    let keys = TestKeys::new();
    let issuer = s.auth.issuer();
    let base = || {
        TokenBuilder::new()
            .claim("iss", issuer.as_str())
            .issued_at(unix_now(), 3600)
    };
    for token in [
        base()
            .claim("client_id", "third-party-app")
            .sign_es256(&keys),
        base().claim("role", "service_role").sign_es256(&keys),
    ] {
        let mut session: Value =
            serde_json::from_str(&s.auth.session_json("alice@example.com", 3600)).unwrap();
        session["access_token"] = Value::from(token);
        let cookie = s.cookie_for(&session.to_string());
        let r = s.get("/api/echo", &[("cookie", &cookie)]);
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(
            r.header("www-authenticate")
                .unwrap()
                .contains("insufficient_scope")
        );
        assert!(set_cookies(&r).is_empty());
    }
}

#[test]
fn a_sign_out_that_cannot_reach_the_auth_server_keeps_the_cookies() {
    let s = Stack::start();
    let cookie = s.cookie("alice@example.com", -60);
    // The session needs a refresh before the logout call, and the auth server limits.
    s.auth.inject(
        Endpoint::Refresh,
        Fault::RateLimited {
            retry_after_secs: Some(5),
        },
        1,
    );
    let r = s.post("/auth/sign-out", &[("cookie", &cookie), SAME], "");
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(set_cookies(&r).is_empty());
    // A cookie bomb: the session cannot be read, so it cannot be ended at the auth server.
    let junk: Vec<String> = (0..70)
        .map(|i| format!("j{i}={}", "j".repeat(1000)))
        .collect();
    let bombed = format!(
        "{}; {}",
        junk.join("; "),
        s.cookie("alice@example.com", 3600)
    );
    let r = s.post("/auth/sign-out", &[("cookie", &bombed), SAME], "");
    assert_eq!(r.status, 431, "{}", r.body);
    assert!(set_cookies(&r).is_empty());
    assert_eq!(s.auth.count(Endpoint::Logout), 0);
}

fn unix_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

#[test]
fn sign_in_attempts_spend_the_per_address_budget() {
    // Password guesses all leave from the proxy's address: past the client's budget (10 at
    // once in the example) they are refused here, before the auth server.
    let s = Stack::start();
    let form = ("content-type", "application/x-www-form-urlencoded");
    let mut statuses = Vec::new();
    for i in 0..15 {
        let r = s.post(
            "/auth/sign-in",
            &[SAME, form],
            &format!("email=alice%40example.com&password=guess-{i}"),
        );
        statuses.push(r.status);
        if r.status == 429 {
            assert!(r.header("retry-after").is_some());
        }
    }
    let sent = s.auth.count(Endpoint::Password);
    assert_eq!(sent, 10, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|&&c| c == 401).count(), 10);
    assert_eq!(statuses.iter().filter(|&&c| c == 429).count(), 5);
}

#[test]
fn an_auth_server_that_hangs_up_keeps_the_session() {
    // A dead dependency: the connection closes without an answer. The session stays and the
    // client is told to retry.
    let s = Stack::start();
    let cookie = s.cookie("alice@example.com", -60);
    s.auth.inject(Endpoint::Refresh, Fault::Hangup, 1);
    let r = s.get("/api/profile", &[("cookie", &cookie)]);
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    assert!(set_cookies(&r).is_empty(), "cookies untouched");
    assert_eq!(s.auth.active_sessions(), 1);
}
