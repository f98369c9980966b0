//! The proxy and the auth server at scale, against `MockAuth` as strict as GoTrue (its
//! per-address token limit, its refresh-token formats): `Sb-Forwarded-For` with a secret key
//! (and never from a client), v2 refresh tokens refused before any call when they cannot be
//! the session's, GoTrue's v2 rotation and fail-to-save, and two proxy instances refreshing
//! one session at the same moment.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http::header::SET_COOKIE;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use supagate_auth::{Authenticator, SecretKey};
use supagate_cookie::{CookieName, CookieOptions, Session, SessionWriter};
use supagate_jwt::Verifier;
use supagate_proxy::{Proxy, ProxyBody, Sessions, SessionsBuilder};
use supagate_testkit::{Endpoint, MockAuth, RefreshFormat, Rotation, TestKeys, TokenLimit};

const PUBLIC: &str = "https://app.example.com";
const NGINX: &str = "127.0.0.1";

/// An upstream that answers with the request headers it received, a `name: value` line each.
async fn echo() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = service_fn(|req: Request<Incoming>| async move {
                    let lines: Vec<String> = req
                        .headers()
                        .iter()
                        .map(|(k, v)| format!("{k}: {}", String::from_utf8_lossy(v.as_bytes())))
                        .collect();
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(lines.join("\n")))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

fn verifier(auth: &MockAuth) -> Verifier {
    Verifier::from_supabase_url(auth.url())
        .jwk_set(TestKeys::new().jwk_set())
        .build()
        .unwrap()
}

/// A proxy behind a trusted hop on loopback (nginx), with or without the secret key.
fn proxy(auth: &MockAuth, upstream: SocketAddr, secret: bool) -> supagate_proxy::ProxyBuilder {
    proxy_on(sessions(auth, secret), upstream)
}

/// The sessions of [`proxy`].
fn sessions(auth: &MockAuth, secret: bool) -> SessionsBuilder {
    let s = Sessions::builder(
        auth.url(),
        auth.publishable_key(),
        Authenticator::new(verifier(auth)),
    )
    .public_origin(PUBLIC)
    .trusted_proxies([NGINX.parse().unwrap()]);
    if secret {
        s.secret_key(SecretKey::parse(auth.secret_key()).unwrap())
    } else {
        s
    }
}

/// A proxy to `upstream` on `sessions`.
fn proxy_on(sessions: SessionsBuilder, upstream: SocketAddr) -> supagate_proxy::ProxyBuilder {
    Proxy::builder(sessions.build().unwrap())
        .upstream(format!("http://{upstream}"))
        .route("/api/", "/")
}

fn cookie_for(json: &str) -> String {
    SessionWriter::new(
        CookieName::custom("sb-127-auth-token").unwrap(),
        CookieOptions::default(),
    )
    .unwrap()
    .set(&Session::from_json(json).unwrap(), &HeaderMap::new())
    .unwrap()
    .iter()
    .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
    .collect::<Vec<_>>()
    .join("; ")
}

/// The cookies a response set, as a `Cookie` header (deletions left out).
fn cookies_of(set: &[String]) -> String {
    set.iter()
        .filter(|c| !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }
}

/// `GET /api/x` from `client` through the trusted hop, with `cookie` and `extra` headers.
async fn get(proxy: &Proxy, cookie: &str, client: &str, extra: &[(&str, &str)]) -> Answer {
    let mut req = Request::builder()
        .method(Method::GET)
        .uri("/api/x")
        .header("cookie", cookie)
        .header("x-forwarded-for", client);
    for (n, v) in extra {
        req = req.header(*n, *v);
    }
    let req = req.body(Full::new(Bytes::new())).unwrap();
    let res: Response<ProxyBody> = proxy.forward(req, NGINX.parse().unwrap()).await;
    let (parts, body) = res.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// `n` users, each with a session whose access token expired a minute ago.
fn expired_sessions(auth: &MockAuth, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let email = format!("user{i}@example.com");
            auth.add_user(&email, "pw", json!({}));
            cookie_for(&auth.session_json(&email, -60))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_secret_key_each_client_has_its_own_limit_at_the_auth_server() {
    let upstream = echo().await;
    let auth = MockAuth::start();
    auth.set_token_limit(Some(TokenLimit::new(150, 2)));
    let sessions = expired_sessions(&auth, 6);
    let clients = ["203.0.113.1", "203.0.113.2", "203.0.113.3", "2001:db8::7"];

    // With the secret key: every refresh carries its client's address, each its own bucket.
    let with_key = proxy(&auth, upstream, true).build().unwrap();
    for (cookie, client) in sessions.iter().zip(clients) {
        // A client's own Sb-Forwarded-For is never believed nor forwarded.
        let a = get(
            &with_key,
            cookie,
            client,
            &[
                ("SB-Forwarded-For", "6.6.6.6"),
                ("sb_forwarded_for", "6.6.6.7"),
            ],
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{client}: {}", a.body);
        assert!(
            !a.body.contains("sb-forwarded-for") && !a.body.contains("sb_forwarded_for"),
            "upstream got {}",
            a.body
        );
    }
    let refreshes: Vec<_> = auth
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == Some(Endpoint::Refresh))
        .collect();
    assert_eq!(refreshes.len(), 4);
    for (r, client) in refreshes.iter().zip(clients) {
        assert_eq!(r.header("apikey"), Some(auth.secret_key()));
        assert_eq!(r.header("sb-forwarded-for"), Some(client));
        assert_eq!(r.limited_as.as_deref(), Some(client));
        assert_eq!(r.status, 200);
    }
    assert_eq!(auth.rate_limited(), 0);

    // Without it, every refresh counts against the proxy's one address: the third is
    // refused, and the proxy answers 503 with Retry-After and keeps the cookies.
    let auth = MockAuth::start();
    auth.set_token_limit(Some(TokenLimit::new(150, 2)));
    let sessions = expired_sessions(&auth, 4);
    let without = proxy(&auth, upstream, false).build().unwrap();
    let mut statuses = Vec::new();
    for (cookie, client) in sessions.iter().zip(clients) {
        let a = get(&without, cookie, client, &[]).await;
        if a.status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(a.headers.contains_key("retry-after"));
            assert!(
                a.set_cookies().is_empty(),
                "cookies kept: {:?}",
                a.set_cookies()
            );
        }
        statuses.push(a.status.as_u16());
    }
    assert_eq!(statuses, [200, 200, 503, 503]);
    assert_eq!(auth.rate_limited(), 2);
    for r in auth.requests() {
        assert_eq!(r.header("apikey"), Some(auth.publishable_key()));
        assert_eq!(r.header("sb-forwarded-for"), None);
        assert_eq!(r.limited_as.as_deref(), Some("127.0.0.1"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_and_sign_out_carry_the_clients_address_too() {
    let upstream = echo().await;
    let auth = MockAuth::start();
    auth.add_user("alice@example.com", "correct horse", json!({}));
    let p = proxy(&auth, upstream, true).build().unwrap();
    let sign_in = Request::builder()
        .method(Method::POST)
        .uri("/auth/sign-in")
        .header("sec-fetch-site", "same-origin")
        .header("x-forwarded-for", "198.51.100.20")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(
            "email=alice%40example.com&password=correct%20horse",
        )))
        .unwrap();
    let res = p.sessions().sign_in(sign_in, NGINX.parse().unwrap()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let set: Vec<String> = res
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let sign_out = Request::builder()
        .method(Method::POST)
        .uri("/auth/sign-out")
        .header("sec-fetch-site", "same-origin")
        .header("x-forwarded-for", "198.51.100.20")
        .header("cookie", cookies_of(&set))
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(
        p.sessions()
            .sign_out(sign_out, NGINX.parse().unwrap())
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    for endpoint in [Endpoint::Password, Endpoint::Logout] {
        let r = auth
            .requests()
            .into_iter()
            .find(|r| r.endpoint == Some(endpoint))
            .unwrap();
        assert_eq!(
            r.header("sb-forwarded-for"),
            Some("198.51.100.20"),
            "{endpoint:?}"
        );
        assert_eq!(r.header("apikey"), Some(auth.secret_key()), "{endpoint:?}");
    }
    // The sign-out's bearer is the user's access token, not the key.
    let logout = auth
        .requests()
        .into_iter()
        .find(|r| r.endpoint == Some(Endpoint::Logout))
        .unwrap();
    assert!(
        !logout
            .header("authorization")
            .unwrap()
            .contains("sb_secret_")
    );
}

/// A refresh token with the v2 shape whose checksum does not hold, or whose session is not
/// the access token's: refused at the door, 0 calls to the auth server, the session cleared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_forged_v2_refresh_tokens_make_no_auth_server_call() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use sha2::Digest as _;
    let upstream = echo().await;
    let auth = MockAuth::start();
    auth.set_refresh_format(RefreshFormat::V2);
    auth.add_user("alice@example.com", "pw", json!({}));
    let json: serde_json::Value =
        serde_json::from_str(&auth.session_json("alice@example.com", -60)).unwrap();
    let genuine = json["refresh_token"].as_str().unwrap().to_owned();
    assert!(matches!(
        supagate_proxy::core::RefreshTokenShape::of(&genuine),
        supagate_proxy::core::RefreshTokenShape::V2 { counter: 0, .. }
    ));
    let p = proxy(&auth, upstream, false).build().unwrap();
    let with_refresh = |refresh: &str| {
        let mut j = json.clone();
        j["refresh_token"] = refresh.into();
        cookie_for(&j.to_string())
    };
    let forged: Vec<String> = (0..1000u32)
        .map(|i| {
            let mut bytes = URL_SAFE_NO_PAD.decode(&genuine).unwrap();
            if i % 2 == 0 {
                // Mangled: one byte of the signature changed, the checksum left as it was.
                let at = 20 + (i as usize / 2) % 16;
                bytes[at] ^= 0x5a;
            } else {
                // Well-formed, checksum recomputed, for another session.
                bytes[1..17].copy_from_slice(uuid::Uuid::from_u128(u128::from(i)).as_bytes());
                let n = bytes.len();
                let sum = sha2::Sha256::digest(&bytes[..n - 4]);
                bytes[n - 4..].copy_from_slice(&sum[..4]);
            }
            URL_SAFE_NO_PAD.encode(bytes)
        })
        .collect();
    for (i, refresh) in forged.iter().enumerate() {
        let client = format!("203.0.113.{}", i % 250);
        let a = get(&p, &with_refresh(refresh), &client, &[]).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{i}");
        assert!(
            a.set_cookies().iter().all(|c| c.contains("Max-Age=0")) && !a.set_cookies().is_empty(),
            "{i}: cleared"
        );
    }
    assert_eq!(
        auth.count(Endpoint::Refresh),
        0,
        "no call for a forged token"
    );
    // The genuine one still refreshes.
    let a = get(&p, &with_refresh(&genuine), "203.0.113.1", &[]).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(auth.count(Endpoint::Refresh), 1);
}

/// GoTrue's v2 rules through the proxy: rotation, the previous token accepted
/// ("fail-to-save": the current one again), an older one ending the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_rotation_and_fail_to_save_through_the_proxy() {
    let upstream = echo().await;
    let auth = MockAuth::start();
    auth.set_refresh_format(RefreshFormat::V2);
    auth.set_access_ttl(30); // inside the refresh margin: every request refreshes
    auth.add_user("alice@example.com", "pw", json!({}));
    // No reuse window at the proxy: every stale cookie reaches the auth server.
    let p = proxy_on(
        sessions(&auth, false).reuse_window(Duration::ZERO),
        upstream,
    )
    .build()
    .unwrap();
    let t0 = cookie_for(&auth.session_json("alice@example.com", -60));
    let a = get(&p, &t0, "203.0.113.1", &[]).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let t1 = cookies_of(&a.set_cookies());
    // The browser failed to save t1 and sends t0 again: the auth server gives t1 again.
    let a = get(&p, &t0, "203.0.113.1", &[]).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(cookies_of(&a.set_cookies()).len(), t1.len());
    let refresh_of = |cookie: &str| -> String {
        let v = cookie
            .split_once('=')
            .unwrap()
            .1
            .strip_prefix("base64-")
            .unwrap();
        use base64::Engine as _;
        let json: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(v)
                .unwrap(),
        )
        .unwrap();
        json["refresh_token"].as_str().unwrap().to_owned()
    };
    assert_eq!(refresh_of(&cookies_of(&a.set_cookies())), refresh_of(&t1));
    // t1 rotates on to t2.
    let a = get(&p, &t1, "203.0.113.1", &[]).await;
    assert_eq!(a.status, StatusCode::OK);
    let t2 = cookies_of(&a.set_cookies());
    assert_ne!(refresh_of(&t2), refresh_of(&t1));
    // t0 now is two behind and outside any reuse interval: the session is logged out.
    let a = get(&p, &t0, "203.0.113.1", &[]).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.set_cookies().iter().all(|c| c.contains("Max-Age=0")));
    assert_eq!(auth.active_sessions(), 0);
    assert_eq!(auth.count(Endpoint::Refresh), 4);
}

/// Two proxy instances (no shared state) refresh one session at the same moment: both end
/// with a working session for the user, through the auth server's reuse rules alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_proxy_instances_refreshing_one_session_both_succeed() {
    let upstream = echo().await;
    for (format, rotation) in [
        (RefreshFormat::V2, Rotation::Strict),
        (
            RefreshFormat::V2,
            Rotation::ReuseInterval(Duration::from_secs(10)),
        ),
        (
            RefreshFormat::Legacy,
            Rotation::ReuseInterval(Duration::from_secs(10)),
        ),
    ] {
        let auth = MockAuth::start();
        auth.set_refresh_format(format);
        auth.set_rotation(rotation);
        auth.add_user("alice@example.com", "pw", json!({}));
        let a = proxy(&auth, upstream, true).build().unwrap();
        let b = proxy(&auth, upstream, true).build().unwrap();
        for round in 0..20 {
            // One browser per round (the auth server limits each address to bursts of 30).
            let client = format!("203.0.113.{round}");
            let client = client.as_str();
            let cookie = cookie_for(&auth.session_json("alice@example.com", -60));
            let (ra, rb) =
                tokio::join!(get(&a, &cookie, client, &[]), get(&b, &cookie, client, &[]));
            for (name, r) in [("a", &ra), ("b", &rb)] {
                assert_eq!(
                    r.status,
                    StatusCode::OK,
                    "{format:?} {rotation:?} round {round}, proxy {name}: {}",
                    r.body
                );
            }
            // Whichever cookies the browser keeps, the session goes on, on either instance.
            for (r, next) in [(&ra, &b), (&rb, &a)] {
                let kept = cookies_of(&r.set_cookies());
                assert_eq!(get(next, &kept, client, &[]).await.status, StatusCode::OK);
            }
        }
        assert_eq!(auth.active_sessions(), 20, "{format:?} {rotation:?}");
        // Both instances called the auth server each round: nothing was shared between them.
        assert_eq!(auth.count(Endpoint::Refresh), 40, "{format:?} {rotation:?}");
    }
}

#[test]
fn a_client_address_is_never_invented() {
    // An unknown peer (0.0.0.0) gets no Sb-Forwarded-For: the auth server only believes it
    // with a secret key, and it must name a real client.
    let auth = supagate_proxy::core::AuthEndpoint::new(
        "https://abcdefghijklmnopqrst.supabase.co",
        "sb_publishable_x_0123456789",
    )
    .unwrap()
    .with_secret_key(&SecretKey::parse("sb_secret_0123456789abcdef").unwrap());
    let mut req = auth.refresh_request(&supagate_jwt::Token::new("abcdefghijkl"));
    auth.forward_for(&mut req, IpAddr::from([0, 0, 0, 0]));
    assert!(req.headers().get("sb-forwarded-for").is_none());
    auth.forward_for(&mut req, "::ffff:0.0.0.0".parse().unwrap());
    assert!(req.headers().get("sb-forwarded-for").is_none());
    assert_eq!(req.headers()["apikey"], "sb_publishable_x_0123456789");
    auth.forward_for(&mut req, "::ffff:203.0.113.5".parse().unwrap());
    assert_eq!(req.headers()["sb-forwarded-for"], "203.0.113.5");
    assert_eq!(
        req.headers()["authorization"],
        "Bearer sb_secret_0123456789abcdef"
    );
}

/// `tokens-only` cookies: what a refresh writes, what a page sees (the user from the verified
/// token), and the sizes of a typical session and of a session with an 8.5 KB access token,
/// both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_only_cookies_are_smaller_and_pages_still_know_the_user() {
    let upstream = echo().await;
    let auth = MockAuth::start();
    auth.add_user(
        "alice@example.com",
        "pw",
        json!({"provider": "email", "providers": ["email"], "role": "editor"}),
    );
    auth.add_user("oauth@example.com", "pw", json!({"provider": "github"}));
    auth.set_user_metadata(
        "oauth@example.com",
        json!({"avatar_url": "https://example.com/a.png", "bio": "b".repeat(5_900)}),
    );
    let size = |json: &str, tokens_only: bool| -> (usize, usize) {
        let set = SessionWriter::new(
            CookieName::custom("sb-abcdefghijklmnopqrst-auth-token").unwrap(),
            CookieOptions::default(),
        )
        .unwrap()
        .with_tokens_only(tokens_only)
        .set(&Session::from_json(json).unwrap(), &HeaderMap::new())
        .unwrap();
        // What the browser sends back: `name=value` pairs joined by `; `.
        let header = cookies_of(
            &set.iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect::<Vec<_>>(),
        );
        (header.len(), set.len())
    };
    for email in ["alice@example.com", "oauth@example.com"] {
        let json = auth.session_json(email, 3600);
        let token = serde_json::from_str::<serde_json::Value>(&json).unwrap()["access_token"]
            .as_str()
            .unwrap()
            .len();
        let (full, full_chunks) = size(&json, false);
        let (tokens, tokens_chunks) = size(&json, true);
        eprintln!(
            "cookie size, {email} (access token {token} B): full session {full} B in {full_chunks} cookie(s), tokens-only {tokens} B in {tokens_chunks} cookie(s) ({:.2}x)",
            tokens as f64 / full as f64
        );
        assert!(tokens * 4 < full * 3, "{email}: {tokens} vs {full}");
        assert!(tokens_chunks <= full_chunks);
        if email.starts_with("oauth") {
            assert!((8_300..8_800).contains(&token), "{token}");
            assert!(tokens_chunks < full_chunks, "fewer chunks");
        }
    }

    // Through the proxy: a refresh writes tokens-only cookies; the page's user is the
    // token's.
    auth.set_access_ttl(3600);
    let p = proxy_on(sessions(&auth, false).tokens_only_cookies(true), upstream)
        .build()
        .unwrap();
    let cookie = cookie_for(&auth.session_json("alice@example.com", -60));
    let mut headers = HeaderMap::new();
    headers.insert("cookie", cookie.parse().unwrap());
    let page = p
        .sessions()
        .page_session(&Method::GET, &headers, "203.0.113.1".parse().unwrap())
        .await;
    let user = page.user().unwrap();
    assert_eq!(user.email(), Some("alice@example.com"));
    assert_eq!(user.app_role(), Some("editor"));
    let (_, cookies) = page.into_parts().unwrap();
    let mut res = HeaderMap::new();
    cookies.apply(&mut res);
    let set: Vec<String> = res
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let value = cookies_of(&set);
    let value = value.split_once("=base64-").unwrap().1;
    use base64::Engine as _;
    let stored: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(value)
            .unwrap(),
    )
    .unwrap();
    assert!(stored.get("user").is_none(), "{stored}");
    assert!(stored["refresh_token"].is_string() && stored["expires_at"].is_number());
    // And the tokens-only session it wrote is a session the proxy reads.
    let mut again = HeaderMap::new();
    again.insert("cookie", cookies_of(&set).parse().unwrap());
    let page = p
        .sessions()
        .page_session(&Method::GET, &again, "203.0.113.1".parse().unwrap())
        .await;
    assert_eq!(page.user().unwrap().email(), Some("alice@example.com"));
}

/// A call with the secret key is an admin call to the auth server, which then skips its
/// CAPTCHA: a proxy with a secret key always has its own per-address budget of auth calls
/// (30 a minute, bursts of 10, when none was configured), so a client cannot turn it into
/// unlimited password attempts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_key_always_comes_with_a_budget_of_auth_calls() {
    let upstream = echo().await;
    let auth = MockAuth::start();
    auth.add_user("alice@example.com", "correct horse", json!({}));
    let p = proxy(&auth, upstream, true).build().unwrap();
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let req = Request::builder()
            .method(Method::POST)
            .uri("/auth/sign-in")
            .header("sec-fetch-site", "same-origin")
            .header("x-forwarded-for", "198.51.100.66")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(
                "email=alice%40example.com&password=guess",
            )))
            .unwrap();
        statuses.push(
            p.sessions()
                .sign_in(req, NGINX.parse().unwrap())
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(&statuses[10..], &[429, 429]);
    assert_eq!(
        auth.count(Endpoint::Password),
        10,
        "the budget stopped the rest here"
    );
    // Another client has its own budget.
    let req = Request::builder()
        .method(Method::POST)
        .uri("/auth/sign-in")
        .header("sec-fetch-site", "same-origin")
        .header("x-forwarded-for", "198.51.100.67")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(
            "email=alice%40example.com&password=correct%20horse",
        )))
        .unwrap();
    assert_eq!(
        p.sessions()
            .sign_in(req, NGINX.parse().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
}

/// The secret key goes to the auth server and nowhere else: not to the backend on a forwarded
/// request or a page's server-side call, not into `Debug`; and a dead auth server with the
/// key configured is still a 503 that keeps the cookies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_key_never_reaches_the_backend_and_a_dead_auth_server_keeps_the_session() {
    let upstream = echo().await;
    let auth = MockAuth::start();
    let sessions = expired_sessions(&auth, 2);
    let p = proxy(&auth, upstream, true).build().unwrap();
    let a = get(&p, &sessions[0], "203.0.113.8", &[]).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(
        !a.body.contains(auth.secret_key()),
        "backend got the key: {}",
        a.body
    );
    assert!(!a.body.contains("apikey"), "{}", a.body);
    assert!(a.body.contains("authorization: Bearer eyJ"), "{}", a.body);
    // A page's server-side call to the backend.
    let mut headers = HeaderMap::new();
    headers.insert("cookie", cookies_of(&a.set_cookies()).parse().unwrap());
    let page = p
        .sessions()
        .page_session(&Method::GET, &headers, "203.0.113.8".parse().unwrap())
        .await;
    let (context, _) = page.with_backend(&p).into_parts().unwrap();
    let user = context.user().unwrap().clone();
    let res = context.backend().unwrap().get(&user, "/x").await.unwrap();
    let body = String::from_utf8_lossy(res.body()).into_owned();
    assert!(body.contains("authorization: Bearer eyJ"), "{body}");
    assert!(
        !body.contains(auth.secret_key()) && !body.contains("apikey"),
        "{body}"
    );
    // Debug output of everything that holds the key.
    let source = supagate_proxy::AuthServerSessions::new(auth.url(), auth.publishable_key())
        .unwrap()
        .with_secret_key(&SecretKey::parse(auth.secret_key()).unwrap());
    for debug in [format!("{p:?}"), format!("{source:?}")] {
        assert!(!debug.contains("sb_secret_"), "{debug}");
    }
    // The auth server hangs up on the refresh: 503 with Retry-After, cookies kept.
    auth.inject(Endpoint::Refresh, supagate_testkit::Fault::Hangup, 1);
    let a = get(&p, &sessions[1], "203.0.113.9", &[]).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.body);
    assert!(a.headers.contains_key("retry-after"));
    assert!(a.set_cookies().is_empty());
}
