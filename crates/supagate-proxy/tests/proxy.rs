//! The `Proxy` service end to end, in process: a real HTTP upstream (hyper, loopback, port
//! 0) that echoes what it received, and the `MockAuth` server as Supabase Auth. Covers
//! catalog rows 96-111 at the HTTP level together with `tests/catalog.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::header::SET_COOKIE;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use supagate_auth::Authenticator;
use supagate_cookie::{CookieName, CookieOptions, Session, SessionWriter};
use supagate_jwt::Verifier;
use supagate_proxy::{
    HeaderPolicy, Limits, Proxy, ProxyBody, RateLimit, Sessions, SessionsBuilder,
};
use supagate_testkit::{Endpoint, Fault, MockAuth, TestKeys};

const PUBLIC: &str = "https://app.example.com";
const PEER: &str = "198.51.100.7";

/// An upstream that answers with what it received, plus a few special paths.
async fn upstream(evil: SocketAddr) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| answer(req, evil));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

async fn answer(
    req: Request<Incoming>,
    evil: SocketAddr,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let mut res = Response::new(Full::new(Bytes::new()));
    match path.as_str() {
        "/redirect" => {
            *res.status_mut() = StatusCode::FOUND;
            res.headers_mut()
                .insert("location", format!("http://{evil}/steal").parse().unwrap());
            return Ok(res);
        }
        "/slow" => tokio::time::sleep(Duration::from_secs(3)).await,
        "/big" => {
            *res.body_mut() = Full::new(Bytes::from(vec![b'x'; 64 * 1024]));
            return Ok(res);
        }
        _ => {}
    }
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let method = req.method().to_string();
    let target = req.uri().to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let echo =
        json!({"method": method, "target": target, "headers": headers, "body_len": body.len()});
    *res.body_mut() = Full::new(Bytes::from(echo.to_string()));
    let h = res.headers_mut();
    h.insert("content-type", "application/json".parse().unwrap());
    if path == "/set-cookie-custom" {
        for c in [
            "app-session=forged; Path=/",
            "App-Session.0=forged",
            "__Host-app-session=forged; Path=/; Secure",
            "app-session-code-verifier=forged",
            "=app-session=forged",
            "theme=dark; Path=/",
        ] {
            h.append(SET_COOKIE, c.parse().unwrap());
        }
    }
    if path == "/set-cookie" {
        h.append(
            SET_COOKIE,
            "sb-127-auth-token=forged; Path=/".parse().unwrap(),
        );
        h.append(SET_COOKIE, "theme=dark; Path=/".parse().unwrap());
        h.insert("access-control-allow-origin", "*".parse().unwrap());
        h.insert("access-control-allow-credentials", "true".parse().unwrap());
    }
    Ok(res)
}

/// A server that only counts connections (where a followed redirect would go).
async fn evil_server() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        while let Ok((_s, _)) = listener.accept().await {
            h.fetch_add(1, Ordering::SeqCst);
        }
    });
    (addr, hits)
}

struct Fixture {
    auth: MockAuth,
    upstream: SocketAddr,
    evil_hits: Arc<AtomicUsize>,
}

impl Fixture {
    async fn new() -> Fixture {
        let auth = MockAuth::start();
        auth.add_user(
            "alice@example.com",
            "correct horse",
            json!({"role": "admin"}),
        );
        let (evil, evil_hits) = evil_server().await;
        let upstream = upstream(evil).await;
        Fixture {
            auth,
            upstream,
            evil_hits,
        }
    }

    fn verifier(&self) -> Verifier {
        Verifier::from_supabase_url(self.auth.url())
            .jwk_set(TestKeys::new().jwk_set())
            .build()
            .unwrap()
    }

    /// The sessions every fixture proxy forwards with.
    fn sessions(&self) -> SessionsBuilder {
        Sessions::builder(
            self.auth.url(),
            "anon-key",
            Authenticator::new(self.verifier()),
        )
        .public_origin(PUBLIC)
        .allowed_origins(["https://admin.example.com"])
    }

    /// A proxy to the fixture's upstream on `sessions`.
    fn proxy_on(&self, sessions: SessionsBuilder) -> supagate_proxy::ProxyBuilder {
        Proxy::builder(sessions.build().unwrap())
            .upstream(format!("http://{}", self.upstream))
            .route("/api/", "/")
    }

    fn builder(&self) -> supagate_proxy::ProxyBuilder {
        self.proxy_on(self.sessions())
    }

    /// A proxy to the fixture's upstream on sessions already built.
    fn proxy_on_sessions(&self, sessions: Sessions) -> Proxy {
        Proxy::builder(sessions)
            .upstream(format!("http://{}", self.upstream))
            .route("/api/", "/")
            .build()
            .unwrap()
    }

    fn proxy(&self) -> Proxy {
        self.builder().build().unwrap()
    }

    /// A proxy whose upstream refuses connections (port 9, discard, closed on loopback).
    fn unreachable_upstream(&self) -> Proxy {
        Proxy::builder(
            Sessions::builder(
                self.auth.url(),
                "anon-key",
                Authenticator::new(self.verifier()),
            )
            .public_origin(PUBLIC)
            .build()
            .unwrap(),
        )
        .upstream("http://127.0.0.1:9")
        .route("/api/", "/")
        .build()
        .unwrap()
    }

    /// The `Cookie` header `@supabase/ssr` would send for a session of alice expiring in
    /// `expires_in` seconds.
    fn cookie(&self, expires_in: i64) -> String {
        cookie_for(&self.auth.session_json("alice@example.com", expires_in))
    }
}

fn cookie_for(session_json: &str) -> String {
    let writer = SessionWriter::new(
        CookieName::custom("sb-127-auth-token").unwrap(),
        CookieOptions::default(),
    )
    .unwrap();
    let set = writer
        .set(
            &Session::from_json(session_json).unwrap(),
            &HeaderMap::new(),
        )
        .unwrap();
    set.iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

fn request(method: Method, target: &str, headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut req = Request::builder().method(method).uri(target);
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    req.body(Full::new(Bytes::new())).unwrap()
}

fn peer() -> IpAddr {
    PEER.parse().unwrap()
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }
    /// The upstream's view of a header (from the echo).
    fn upstream_header(&self, name: &str) -> Option<String> {
        self.json()["headers"]
            .as_array()?
            .iter()
            .find(|h| h[0].as_str() == Some(name))
            .and_then(|h| h[1].as_str().map(str::to_owned))
    }
}

async fn read(res: Response<ProxyBody>) -> Answer {
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

/// `GET target` with a `Cookie` header.
async fn get(proxy: &Proxy, target: &str, cookie: &str) -> Answer {
    send(proxy, request(Method::GET, target, &[("cookie", cookie)])).await
}

async fn send(proxy: &Proxy, req: Request<Full<Bytes>>) -> Answer {
    read(proxy.forward(req, peer()).await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_with_the_verified_bearer_and_nothing_the_client_claimed() {
    let f = Fixture::new().await;
    let proxy = f.proxy();
    let cookie = format!("{}; theme=dark", f.cookie(3600));
    let a = send(
        &proxy,
        request(
            Method::GET,
            "/api/profile/me?x=1",
            &[
                ("cookie", &cookie),
                ("authorization", "Bearer attacker"),
                ("x-user-id", "victim"),
                ("X_User_Id", "victim"),
                ("x-forwarded-for", "10.0.0.1"),
                ("connection", "x-secret"),
                ("x-secret", "hop"),
            ],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.json()["target"], "/profile/me?x=1");
    let bearer = a.upstream_header("authorization").unwrap();
    assert!(bearer.starts_with("Bearer ey"), "{bearer}");
    assert_eq!(a.upstream_header("x-user-id"), None);
    assert_eq!(a.upstream_header("x_user_id"), None);
    assert_eq!(a.upstream_header("x-secret"), None);
    assert_eq!(a.upstream_header("cookie").as_deref(), Some("theme=dark"));
    assert_eq!(a.upstream_header("x-forwarded-for").as_deref(), Some(PEER));
    assert_eq!(
        a.upstream_header("x-forwarded-host").as_deref(),
        Some("app.example.com")
    );
    assert!(a.set_cookies().is_empty(), "no refresh, no cookie");
    assert_eq!(f.auth.count(Endpoint::Refresh), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_session_forwards_anonymously_or_refuses_when_required() {
    let f = Fixture::new().await;
    let a = send(
        &f.proxy(),
        request(
            Method::GET,
            "/api/healthz",
            &[("authorization", "Bearer attacker")],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.upstream_header("authorization"), None);
    let strict = f.builder().require_session(true).build().unwrap();
    let a = send(&strict, request(Method::GET, "/api/healthz", &[])).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.headers["www-authenticate"], r#"Bearer realm="supagate""#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_or_tampered_session_is_refused_and_cleared() {
    let f = Fixture::new().await;
    let json = f.auth.session_json("alice@example.com", 3600);
    let mut v: Value = serde_json::from_str(&json).unwrap();
    let token = v["access_token"].as_str().unwrap().to_owned();
    v["access_token"] = Value::String(format!("{}AAAA", &token[..token.len() - 4]));
    let a = send(
        &f.proxy(),
        request(
            Method::GET,
            "/api/x",
            &[("cookie", &cookie_for(&v.to_string()))],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(
        a.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    assert!(
        a.set_cookies()
            .iter()
            .any(|c| c.starts_with("sb-127-auth-token=;") && c.contains("Max-Age=0"))
    );
    // Unparseable cookie: 401, never a panic, and nothing deleted (a sibling subdomain may
    // have planted it; a new sign-in overwrites it).
    let a = send(
        &f.proxy(),
        request(
            Method::GET,
            "/api/x",
            &[("cookie", "sb-127-auth-token=base64-%%%")],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.set_cookies().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_is_refreshed_once_for_fifty_concurrent_requests() {
    let f = Fixture::new().await;
    let proxy = f.proxy();
    let cookie = f.cookie(-30);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (proxy, cookie) = (proxy.clone(), cookie.clone());
        tasks.push(tokio::spawn(async move {
            read(
                proxy
                    .forward(
                        request(Method::GET, "/api/profile/me", &[("cookie", &cookie)]),
                        peer(),
                    )
                    .await,
            )
            .await
        }));
    }
    let mut first: Option<Vec<String>> = None;
    for t in tasks {
        let a = t.await.unwrap();
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let set = a.set_cookies();
        assert!(!set.is_empty());
        assert_eq!(
            a.headers["cache-control"],
            "private, no-cache, no-store, must-revalidate, max-age=0"
        );
        match &first {
            None => first = Some(set),
            Some(s) => assert_eq!(&set, s, "every response carries the same new cookies"),
        }
    }
    assert_eq!(f.auth.count(Endpoint::Refresh), 1);
    // The request the auth server got is auth-js's.
    let req = f
        .auth
        .requests()
        .into_iter()
        .find(|r| r.endpoint == Some(Endpoint::Refresh))
        .unwrap();
    assert_eq!(req.header("apikey"), Some("anon-key"));
    assert_eq!(req.header("authorization"), Some("Bearer anon-key"));
    assert_eq!(
        req.header("content-type"),
        Some("application/json;charset=UTF-8")
    );
    assert_eq!(req.header("x-supabase-api-version"), Some("2024-01-01"));
    // The written cookies hold the new session, which works without another refresh.
    let new_cookie: String = first
        .unwrap()
        .iter()
        .map(|c| c.split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ");
    let a = get(&proxy, "/api/x", &new_cookie).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.set_cookies().is_empty());
    assert_eq!(f.auth.count(Endpoint::Refresh), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_failures_as_auth_js() {
    let f = Fixture::new().await;
    let proxy = f.proxy();
    // 4xx on an expired session: cleared, 401.
    f.auth.inject(
        Endpoint::Refresh,
        Fault::error(400, "refresh_token_already_used"),
        1,
    );
    let a = get(&proxy, "/api/x", &f.cookie(-30)).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(
        a.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("session ended")
    );
    assert!(a.set_cookies().iter().all(|c| c.contains("Max-Age=0")));
    assert!(!a.set_cookies().is_empty());
    // 5xx on an expired session: kept, 503 + Retry-After.
    f.auth.inject(
        Endpoint::Refresh,
        Fault::error(503, "unexpected_failure"),
        1,
    );
    let a = get(&proxy, "/api/x", &f.cookie(-30)).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(a.headers.contains_key("retry-after"));
    assert!(a.set_cookies().is_empty());
    // No answer at all (hang-up): same as 5xx.
    f.auth.inject(Endpoint::Refresh, Fault::Hangup, 1);
    let a = get(&proxy, "/api/x", &f.cookie(-30)).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    // Inside the margin, a failed refresh keeps the still-valid token and writes nothing.
    f.auth.inject(
        Endpoint::Refresh,
        Fault::error(400, "refresh_token_not_found"),
        1,
    );
    let a = get(&proxy, "/api/x", &f.cookie(30)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.upstream_header("authorization").is_some());
    assert!(a.set_cookies().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_refresh_token_is_not_sent_twice() {
    // Strict rotation: a second refresh with the same token would end the session.
    let f = Fixture::new().await;
    let proxy = f.proxy();
    let cookie = f.cookie(-30);
    let a = get(&proxy, "/api/x", &cookie).await;
    assert_eq!(a.status, StatusCode::OK);
    // Moments later, another tab still sends the old cookie.
    let b = get(&proxy, "/api/x", &cookie).await;
    assert_eq!(b.status, StatusCode::OK);
    assert_eq!(a.set_cookies(), b.set_cookies());
    assert_eq!(f.auth.count(Endpoint::Refresh), 1);
    assert_eq!(f.auth.active_sessions(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_105_redirects_are_passed_back_not_followed() {
    let f = Fixture::new().await;
    let a = send(
        &f.proxy(),
        request(Method::GET, "/api/redirect", &[("cookie", &f.cookie(3600))]),
    )
    .await;
    assert_eq!(a.status, StatusCode::FOUND);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        f.evil_hits.load(Ordering::SeqCst),
        0,
        "the bearer never goes to another host"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_106_109_backend_cookies_and_cors_are_dropped_cors_is_exact() {
    let f = Fixture::new().await;
    let proxy = f.proxy();
    let a = send(
        &proxy,
        request(
            Method::GET,
            "/api/set-cookie",
            &[("origin", "https://evil.example")],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.set_cookies(), vec!["theme=dark; Path=/".to_owned()]);
    assert!(!a.headers.contains_key("access-control-allow-origin"));
    assert!(!a.headers.contains_key("access-control-allow-credentials"));
    let a = send(
        &proxy,
        request(
            Method::GET,
            "/api/set-cookie",
            &[("origin", "https://admin.example.com")],
        ),
    )
    .await;
    assert_eq!(
        a.headers["access-control-allow-origin"],
        "https://admin.example.com"
    );
    assert_eq!(a.headers["access-control-allow-credentials"], "true");
    // Preflights: allowed origin answered, others refused without CORS headers.
    let pre = |origin: &'static str| {
        request(
            Method::OPTIONS,
            "/api/x",
            &[
                ("origin", origin),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type, x-user-id"),
            ],
        )
    };
    let a = send(&proxy, pre("https://admin.example.com")).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_eq!(a.headers["access-control-allow-headers"], "content-type");
    let a = send(&proxy, pre("https://evil.example")).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(!a.headers.contains_key("access-control-allow-origin"));
    let a = send(&proxy, pre("null")).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_103_104_107_paths_targets_and_csrf() {
    let f = Fixture::new().await;
    let proxy = f.proxy();
    for target in [
        "/api/../admin",
        "/api//evil.example/x",
        "/api/%2e%2e/admin",
        "/api/a%2Fb",
        "/api/x;jsessionid=1",
    ] {
        let a = send(&proxy, request(Method::GET, target, &[])).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{target}");
    }
    let a = send(
        &proxy,
        request(Method::GET, "http://evil.example/api/x", &[]),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "absolute-form");
    let a = send(&proxy, request(Method::GET, "/admin", &[])).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let cookie = f.cookie(3600);
    for headers in [
        vec![("cookie", cookie.as_str())],
        vec![("cookie", cookie.as_str()), ("origin", "null")],
        vec![
            ("cookie", cookie.as_str()),
            ("origin", "https://evil.example"),
        ],
        vec![
            ("cookie", cookie.as_str()),
            ("sec-fetch-site", "cross-site"),
            ("origin", PUBLIC),
        ],
    ] {
        let a = send(&proxy, request(Method::POST, "/api/x", &headers)).await;
        // `Sec-Fetch-Site: cross-site` with an allowed Origin is still the origin check's call.
        if headers.iter().any(|(_, v)| *v == PUBLIC) {
            assert_eq!(a.status, StatusCode::OK);
        } else {
            assert_eq!(a.status, StatusCode::FORBIDDEN, "{headers:?}");
        }
    }
    let a = send(
        &proxy,
        request(
            Method::POST,
            "/api/x",
            &[("cookie", &cookie), ("sec-fetch-site", "same-origin")],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["method"], "POST");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_108_cross_site_navigations_can_go_without_the_bearer() {
    let f = Fixture::new().await;
    let proxy = f
        .builder()
        .anonymous_cross_site_navigations(true)
        .build()
        .unwrap();
    let cookie = f.cookie(3600);
    let nav = [
        ("cookie", cookie.as_str()),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-mode", "navigate"),
    ];
    let a = send(&proxy, request(Method::GET, "/api/x", &nav)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.upstream_header("authorization"), None);
    let a = send(&proxy, request(Method::GET, "/api/x", &nav[..1])).await;
    assert!(a.upstream_header("authorization").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_timeouts_and_an_unreachable_upstream() {
    let f = Fixture::new().await;
    let mut limits = Limits::default();
    limits.request_body = 1024;
    limits.response_body = 1024;
    limits.upstream_timeout = Duration::from_millis(500);
    let proxy = f.builder().limits(limits).build().unwrap();
    let mut big = request(Method::POST, "/api/x", &[("sec-fetch-site", "same-origin")]);
    *big.body_mut() = Full::new(Bytes::from(vec![0u8; 4096]));
    big.headers_mut()
        .insert("content-length", "4096".parse().unwrap());
    assert_eq!(
        send(&proxy, big).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // A response over the limit is cut (its declared length is already too large).
    assert_eq!(
        send(&proxy, request(Method::GET, "/api/big", &[]))
            .await
            .status,
        StatusCode::BAD_GATEWAY
    );
    assert_eq!(
        send(&proxy, request(Method::GET, "/api/slow", &[]))
            .await
            .status,
        StatusCode::GATEWAY_TIMEOUT
    );
    let down = f.unreachable_upstream();
    let a = send(&down, request(Method::GET, "/api/x", &[])).await;
    assert_eq!(a.status, StatusCode::BAD_GATEWAY);
    assert_eq!(a.json()["error"], "bad_gateway");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_429_with_retry_after() {
    let f = Fixture::new().await;
    let proxy = f
        .proxy_on(
            f.sessions()
                .rate_limit(RateLimit::new().per_client_address(60, 3)),
        )
        .build()
        .unwrap();
    for _ in 0..3 {
        assert_eq!(
            send(&proxy, request(Method::GET, "/api/x", &[]))
                .await
                .status,
            StatusCode::OK
        );
    }
    let a = send(&proxy, request(Method::GET, "/api/x", &[])).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        a.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    // Another client is not affected.
    let other = proxy
        .forward(
            request(Method::GET, "/api/x", &[]),
            "198.51.100.8".parse().unwrap(),
        )
        .await;
    assert_eq!(other.status(), StatusCode::OK);
    // Per user.
    let proxy = f
        .proxy_on(f.sessions().rate_limit(RateLimit::new().per_user(60, 1)))
        .build()
        .unwrap();
    let cookie = f.cookie(3600);
    assert_eq!(get(&proxy, "/api/x", &cookie).await.status, StatusCode::OK);
    assert_eq!(
        get(&proxy, "/api/x", &cookie).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

fn form(target: &str, body: &str, extra: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut req = request(Method::POST, target, extra);
    req.headers_mut().insert(
        "content-type",
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    *req.body_mut() = Full::new(Bytes::from(body.to_owned()));
    req
}

async fn sign_out(proxy: &Proxy, cookie: &str) -> Answer {
    let req = request(
        Method::POST,
        "/auth/sign-out",
        &[("cookie", cookie), ("sec-fetch-site", "same-origin")],
    );
    read(proxy.sessions().sign_out(req, peer()).await).await
}

fn cookie_header(set_cookies: &[String]) -> String {
    set_cookies
        .iter()
        .filter(|c| !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_sign_out_and_the_pkce_callback() {
    let f = Fixture::new().await;
    let proxy = f.proxy();
    let same = [("sec-fetch-site", "same-origin")];
    // Wrong password: 401, no cookie, nothing of the auth server's text.
    let a = read(
        proxy
            .sessions()
            .sign_in(
                form(
                    "/auth/sign-in",
                    "email=alice%40example.com&password=nope",
                    &same,
                ),
                peer(),
            )
            .await,
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.json()["error"], "invalid_credentials");
    assert!(a.set_cookies().is_empty());
    // Cross-site form post: 403 before the auth server is called.
    let before = f.auth.count(Endpoint::Password);
    let a = read(
        proxy
            .sessions()
            .sign_in(
                form(
                    "/auth/sign-in",
                    "email=a&password=b",
                    &[("origin", "https://evil.example")],
                ),
                peer(),
            )
            .await,
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(f.auth.count(Endpoint::Password), before);
    // Open redirect refused.
    let a = read(
        proxy
            .sessions()
            .sign_in(
                form(
                    "/auth/sign-in",
                    "email=alice%40example.com&password=correct+horse&next=%2F%2Fevil.example",
                    &same,
                ),
                peer(),
            )
            .await,
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    // Success: 303 to next, HttpOnly cookies, no token in the body.
    let a = read(
        proxy
            .sessions()
            .sign_in(
                form(
                    "/auth/sign-in",
                    "email=alice%40example.com&password=correct+horse&next=%2Fhome",
                    &same,
                ),
                peer(),
            )
            .await,
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.headers["location"], "/home");
    let set = a.set_cookies();
    assert!(
        set.iter()
            .all(|c| c.contains("HttpOnly") && c.contains("Secure") && c.contains("SameSite=Lax"))
    );
    let cookie = cookie_header(&set);
    let a = get(&proxy, "/api/me", &cookie).await;
    assert!(a.upstream_header("authorization").is_some());
    // JSON sign-in without next: the user, never a token.
    let mut req = request(Method::POST, "/auth/sign-in", &same);
    req.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    *req.body_mut() = Full::new(Bytes::from(
        r#"{"email":"alice@example.com","password":"correct horse"}"#,
    ));
    let a = read(proxy.sessions().sign_in(req, peer()).await).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["user"]["email"], "alice@example.com");
    assert!(!a.body.contains("ey"), "no token in the body: {}", a.body);
    // Sign-out: logout at the auth server, every session cookie deleted.
    let sessions = f.auth.active_sessions();
    let a = sign_out(&proxy, &cookie).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert!(
        a.set_cookies()
            .iter()
            .any(|c| c.starts_with("sb-127-auth-token=;") && c.contains("Max-Age=0"))
    );
    assert_eq!(f.auth.count(Endpoint::Logout), 1);
    assert!(f.auth.active_sessions() < sessions);
    let logout = f
        .auth
        .requests()
        .into_iter()
        .find(|r| r.endpoint == Some(Endpoint::Logout))
        .unwrap();
    assert!(logout.target.ends_with("?scope=global"));
    assert!(
        logout
            .header("authorization")
            .unwrap()
            .starts_with("Bearer ey")
    );
    // Sign-out while the auth server is down: 503, cookies kept.
    let cookie2 = f.cookie(3600);
    f.auth
        .inject(Endpoint::Logout, Fault::error(500, "unexpected_failure"), 1);
    let a = sign_out(&proxy, &cookie2).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(a.set_cookies().is_empty());

    // OAuth: start writes an HttpOnly verifier and redirects to authorize...
    let start = read(proxy.sessions().start_oauth(
        &HeaderMap::new(),
        peer(),
        "github",
        "https://app.example.com/auth/callback",
    ))
    .await;
    assert_eq!(start.status, StatusCode::SEE_OTHER);
    let location = start.headers["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&format!("{}/auth/v1/authorize?provider=github&redirect_to=https%3A%2F%2Fapp.example.com%2Fauth%2Fcallback&code_challenge=", f.auth.url())));
    let verifier_cookie = cookie_header(&start.set_cookies());
    assert!(verifier_cookie.starts_with("sb-127-auth-token-code-verifier=base64-"));
    assert!(start.set_cookies()[0].contains("HttpOnly"));
    // ...the mock "provider" consents and sends the browser back with a code...
    let challenge = location
        .split("code_challenge=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let code = f.auth.authorize_code("alice@example.com", challenge);
    // ...and the callback exchanges it with the verifier from the cookie.
    let cb = read(
        proxy
            .sessions()
            .callback(
                request(
                    Method::GET,
                    &format!("/auth/callback?code={code}&next=%2Fdone"),
                    &[("cookie", &verifier_cookie)],
                ),
                peer(),
            )
            .await,
    )
    .await;
    assert_eq!(cb.status, StatusCode::SEE_OTHER, "{}", cb.body);
    assert_eq!(cb.headers["location"], "/done");
    let set = cb.set_cookies();
    assert!(
        set.iter()
            .any(|c| c.starts_with("sb-127-auth-token=base64-"))
    );
    assert!(
        set.iter()
            .any(|c| c.starts_with("sb-127-auth-token-code-verifier=;") && c.contains("Max-Age=0"))
    );
    let pkce = f
        .auth
        .requests()
        .into_iter()
        .find(|r| r.endpoint == Some(Endpoint::Pkce))
        .unwrap();
    let body: Value = serde_json::from_slice(&pkce.body).unwrap();
    assert_eq!(body["auth_code"], code.as_str());
    // A code with the wrong verifier, and a callback without any verifier.
    let code = f
        .auth
        .authorize_code("alice@example.com", "not-the-challenge");
    let cb = read(
        proxy
            .sessions()
            .callback(
                request(
                    Method::GET,
                    &format!("/auth/callback?code={code}"),
                    &[("cookie", &verifier_cookie)],
                ),
                peer(),
            )
            .await,
    )
    .await;
    assert_eq!(cb.status, StatusCode::BAD_REQUEST);
    assert_eq!(cb.json()["error"], "bad_code_verifier");
    let cb = read(
        proxy
            .sessions()
            .callback(request(Method::GET, "/auth/callback?code=abc", &[]), peer())
            .await,
    )
    .await;
    assert_eq!(cb.status, StatusCode::BAD_REQUEST);
    // A `next` off this site: 400 before any exchange; the verifiers are cleared (a code is
    // tried at most once), the session cookies are not touched.
    let exchanges = f.auth.count(Endpoint::Pkce);
    let cb = read(
        proxy
            .sessions()
            .callback(
                request(
                    Method::GET,
                    "/auth/callback?code=abc&next=%2F%2Fevil.example",
                    &[("cookie", &verifier_cookie)],
                ),
                peer(),
            )
            .await,
    )
    .await;
    assert_eq!(cb.status, StatusCode::BAD_REQUEST);
    assert_eq!(f.auth.count(Endpoint::Pkce), exchanges);
    let set = cb.set_cookies();
    assert!(!set.is_empty());
    assert!(
        set.iter()
            .all(|c| c.starts_with("sb-127-auth-token-code-verifier"))
    );
    let cb = read(
        proxy
            .sessions()
            .callback(
                request(Method::GET, "/auth/callback?error=access_denied", &[]),
                peer(),
            )
            .await,
    )
    .await;
    assert_eq!(cb.status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_output_has_no_secrets() {
    let f = Fixture::new().await;
    let sessions = Sessions::builder(
        f.auth.url(),
        "sb_publishable_api_key_value",
        Authenticator::new(f.verifier()),
    )
    .secret_key(supagate_auth::SecretKey::parse("sb_secret_api_key_value").unwrap())
    .public_origin(PUBLIC)
    .build()
    .unwrap();
    let debug = format!("{sessions:?}");
    assert!(!debug.contains("api_key_value"), "{debug}");
    let proxy = Proxy::builder(sessions)
        .upstream(format!("http://{}", f.upstream))
        .header_policy(HeaderPolicy::default())
        .build()
        .unwrap();
    let debug = format!("{proxy:?}");
    assert!(!debug.contains("api_key_value"), "{debug}");
    assert!(debug.contains("upstream"));
    // A secret key where the publishable one belongs is a start-up error.
    let err = Sessions::builder(
        f.auth.url(),
        "sb_secret_api_key_value",
        Authenticator::new(f.verifier()),
    )
    .public_origin(PUBLIC)
    .build()
    .unwrap_err();
    assert!(err.to_string().contains("secret key"), "{err}");
    assert!(!err.to_string().contains("api_key_value"), "{err}");
}

#[test]
fn configuration_errors_are_reported_at_build() {
    let keys = TestKeys::new();
    let v = || Verifier::builder().jwk_set(keys.jwk_set()).build().unwrap();
    let sessions = |url: &str| Sessions::builder(url, "k", Authenticator::new(v()));
    let ours = || sessions("https://abcdefghijklmnopqrst.supabase.co");
    let base = || Proxy::builder(ours().public_origin(PUBLIC).build().unwrap());
    let err = |b: supagate_proxy::ProxyBuilder| b.build().unwrap_err().to_string();
    let session_err = |b: SessionsBuilder| b.build().unwrap_err().to_string();
    assert!(err(base()).contains("upstream"));
    assert!(err(base().upstream("ftp://x")).contains("upstream"));
    assert!(err(base().upstream("http://x/path")).contains("upstream"));
    assert!(err(base().upstream("http://user@x")).contains("upstream"));
    assert!(session_err(ours()).contains("public origin"));
    assert!(err(base().upstream("http://x").route("api", "/")).contains("prefix"));
    assert!(
        session_err(sessions("http://evil.example").public_origin(PUBLIC)).contains("supabase url")
    );
    assert!(
        session_err(
            ours()
                .public_origin(PUBLIC)
                .allowed_origins(["https://x/path"])
        )
        .contains("origin")
    );
    assert!(
        session_err(ours().public_origin(PUBLIC).sign_in_page("https://evil/"))
            .contains("sign-in page")
    );
    assert!(base().upstream("http://127.0.0.1:8000").build().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_session_is_still_refreshed_when_it_nears_expiry() {
    // One clock: the verifier's, which the proxy's refresh decisions read too.
    let f = Fixture::new().await;
    let clock = supagate_jwt::FixedClock::new(0);
    let verifier = Verifier::from_supabase_url(f.auth.url())
        .jwk_set(TestKeys::new().jwk_set())
        .clock(clock.clone())
        .build()
        .unwrap();
    let proxy = f
        .proxy_on(
            Sessions::builder(f.auth.url(), "anon-key", Authenticator::new(verifier))
                .public_origin(PUBLIC)
                .allowed_origins(["https://admin.example.com"]),
        )
        .build()
        .unwrap();
    struct Now(supagate_jwt::FixedClock);
    impl Now {
        fn store(&self, t: i64, _: Ordering) {
            self.0.set(t);
        }
    }
    let now = Now(clock);
    let json = f.auth.session_json("alice@example.com", 3600);
    let expires_at = serde_json::from_str::<Value>(&json).unwrap()["expires_at"]
        .as_i64()
        .unwrap();
    let cookie = cookie_for(&json);
    now.store(expires_at - 3000, Ordering::SeqCst);
    for _ in 0..3 {
        let a = get(&proxy, "/api/x", &cookie).await;
        assert_eq!(a.status, StatusCode::OK);
        assert!(a.set_cookies().is_empty());
    }
    assert_eq!(f.auth.count(Endpoint::Refresh), 0);
    // Inside the margin: the cached entry must not hide the need to refresh.
    now.store(expires_at - 30, Ordering::SeqCst);
    let a = get(&proxy, "/api/x", &cookie).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(!a.set_cookies().is_empty());
    assert_eq!(f.auth.count(Endpoint::Refresh), 1);
    // With the cache off, the same holds.
    let uncached = f
        .proxy_on(f.sessions().session_cache(Duration::ZERO))
        .build()
        .unwrap();
    let a = get(&uncached, "/api/x", &f.cookie(3600)).await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_cookie_name_is_kept_from_the_backend_both_ways() {
    let f = Fixture::new().await;
    let name = CookieName::custom("app-session").unwrap();
    let proxy = f
        .proxy_on(f.sessions().cookie_name(name.clone()))
        .build()
        .unwrap();
    let writer = SessionWriter::new(name, CookieOptions::default()).unwrap();
    let set = writer
        .set(
            &Session::from_json(&f.auth.session_json("alice@example.com", 3600)).unwrap(),
            &HeaderMap::new(),
        )
        .unwrap();
    let session: Vec<String> = set
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    let cookie = format!(
        "{}; app-session-code-verifier=v; theme=dark",
        session.join("; ")
    );
    // Toward the backend: the session (refresh token included) and its PKCE slot stay here.
    let a = get(&proxy, "/api/echo", &cookie).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.upstream_header("cookie").as_deref(), Some("theme=dark"));
    assert!(
        a.upstream_header("authorization")
            .unwrap()
            .starts_with("Bearer ey")
    );
    // Toward the browser: the backend cannot set any cookie of that family, in any case or
    // prefix, nor a nameless one.
    let a = get(&proxy, "/api/set-cookie-custom", &cookie).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.set_cookies(), ["theme=dark; Path=/"]);
}

/// Decide first, render once: a refusal that comes after a refresh (the upstream down, the
/// per-user budget spent, a backend timeout) still stores the refreshed session, because the
/// old refresh token is spent. In 0.1 a `map_err` after the refresh dropped these cookies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_after_a_refresh_still_stores_the_new_session() {
    let f = Fixture::new().await;
    let no_cache = "private, no-cache, no-store, must-revalidate, max-age=0";
    // The upstream is unreachable: 502, with the new cookies.
    let down = f.unreachable_upstream();
    let a = get(&down, "/api/x", &f.cookie(-30)).await;
    assert_eq!(a.status, StatusCode::BAD_GATEWAY);
    assert!(!a.set_cookies().is_empty(), "refreshed cookies dropped");
    assert!(a.set_cookies().iter().all(|c| !c.contains("Max-Age=0")));
    assert_eq!(a.headers["cache-control"], no_cache);
    assert_eq!(f.auth.count(Endpoint::Refresh), 1);
    // The per-user budget is spent by the first request; the second one refreshes, then is
    // refused 429, and still carries its new session.
    let limited = f
        .proxy_on(f.sessions().rate_limit(RateLimit::new().per_user(60, 1)))
        .build()
        .unwrap();
    assert_eq!(
        get(&limited, "/api/x", &f.cookie(3600)).await.status,
        StatusCode::OK
    );
    let a = get(&limited, "/api/x", &f.cookie(-30)).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(a.headers.contains_key("retry-after"));
    assert!(!a.set_cookies().is_empty(), "refreshed cookies dropped");
    assert_eq!(a.headers["cache-control"], no_cache);
    // A backend that times out after the refresh: 504, with the new cookies.
    let mut limits = Limits::default();
    limits.upstream_timeout = Duration::from_millis(300);
    let slow = f.builder().limits(limits).build().unwrap();
    let a = get(&slow, "/api/slow", &f.cookie(-30)).await;
    assert_eq!(a.status, StatusCode::GATEWAY_TIMEOUT);
    assert!(!a.set_cookies().is_empty(), "refreshed cookies dropped");
    // And nothing is written when there was nothing to write.
    let a = get(&down, "/api/x", &f.cookie(3600)).await;
    assert_eq!(a.status, StatusCode::BAD_GATEWAY);
    assert!(a.set_cookies().is_empty());
    assert!(!a.headers.contains_key("expires"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_party_token_in_the_session_cookie_is_no_session() {
    // The verifier also trusts a third-party issuer (a backend's configuration reused for the
    // frontend): its tokens verify as bearers, but a session cookie holds only the project's
    // own, so such a cookie is refused, never refreshed at the auth server, never forwarded.
    let f = Fixture::new().await;
    let issuer = "https://clerk.example.com";
    let verifier = Verifier::from_supabase_url(f.auth.url())
        .jwk_set(TestKeys::new().jwk_set())
        .third_party_issuer(
            supagate_jwt::ThirdPartyIssuer::new(issuer)
                .audience(supagate_testkit::MockOidc::AUDIENCE)
                .jwk_set(supagate_testkit::MockOidc::jwk_set()),
        )
        .build()
        .unwrap();
    let proxy = f
        .proxy_on(
            Sessions::builder(f.auth.url(), "anon-key", Authenticator::new(verifier))
                .public_origin(PUBLIC),
        )
        .build()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let provider = || {
        supagate_testkit::TokenBuilder::third_party(issuer)
            // A UUID sub, so only the issuer tells it apart from a project session.
            .claim("sub", supagate_testkit::TokenBuilder::DEFAULT_SUB)
    };
    let valid = provider().issued_at(now, 3600).sign_provider();
    let expired = provider().issued_at(now - 7200, 3600).sign_provider();
    // A `kid` the provider does not have: not a project session whose key rotated away, so
    // no budgeted refresh either.
    let forged_kid = provider()
        .issued_at(now - 7200, 3600)
        .header("kid", "forged")
        .sign_provider();
    let refreshes = f.auth.count(Endpoint::Refresh);
    for (token, expires_at) in [
        (&valid, now + 3600),
        (&expired, now - 3600),
        (&forged_kid, now - 3600),
        (&forged_kid, now + 3600),
    ] {
        let cookie = cookie_for(&supagate_testkit::session_json(token, expires_at));
        let a = get(&proxy, "/api/me", &cookie).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
        assert_eq!(a.upstream_header("authorization"), None);
    }
    assert_eq!(
        f.auth.count(Endpoint::Refresh),
        refreshes,
        "no refresh was spent"
    );
    assert_eq!(f.evil_hits.load(Ordering::SeqCst), 0);
    // The project's own sessions still work through the same proxy.
    let a = get(&proxy, "/api/me", &f.cookie(3600)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

/// Review finding: a copy of the session cookie that a sibling subdomain planted with its own
/// `Domain` makes the jar ambiguous (every session refused), and a new sign-in did not remove
/// it although a comment said so. Sign-in and sign-out now delete such copies at the public
/// host's parent domains; a jar without a planted copy gets no such deletions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_removes_a_copy_a_sibling_subdomain_planted() {
    let f = Fixture::new().await;
    let proxy = f.proxy();
    let own = f.cookie(3600);
    // The browser sends both: ours (host-only) and the one `evil.example.com` set with
    // `Domain=example.com`.
    let jar = format!("{own}; sb-127-auth-token=planted");
    assert_eq!(
        get(&proxy, "/api/x", &jar).await.status,
        StatusCode::UNAUTHORIZED
    );
    let same = [("sec-fetch-site", "same-origin"), ("cookie", jar.as_str())];
    let a = read(
        proxy
            .sessions()
            .sign_in(
                form(
                    "/auth/sign-in",
                    "email=alice%40example.com&password=correct%20horse",
                    &same,
                ),
                peer(),
            )
            .await,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let set = a.set_cookies();
    for domain in ["app.example.com", "example.com"] {
        let want = format!(
            "sb-127-auth-token=; Max-Age=0; Domain={domain}; Path=/; HttpOnly; Secure; SameSite=Lax"
        );
        let at = set.iter().position(|c| *c == want);
        let new = set
            .iter()
            .position(|c| c.starts_with("sb-127-auth-token=base64-"));
        assert!(at.is_some() && at < new, "{domain}: {set:#?}");
    }
    // Sign-out of an ambiguous jar: the same scoped deletions beside the host-only one.
    let a = sign_out(&proxy, &jar).await;
    assert!(
        a.set_cookies()
            .iter()
            .any(|c| c.contains("Domain=example.com") && c.contains("Max-Age=0")),
        "{:#?}",
        a.set_cookies()
    );
    // A plain sign-in (nothing planted) carries no Domain deletions.
    let a = read(
        proxy
            .sessions()
            .sign_in(
                form(
                    "/auth/sign-in",
                    "email=alice%40example.com&password=correct%20horse",
                    &[("sec-fetch-site", "same-origin"), ("cookie", own.as_str())],
                ),
                peer(),
            )
            .await,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.set_cookies().iter().all(|c| !c.contains("Domain=")),
        "{:#?}",
        a.set_cookies()
    );
}

/// Review finding: a Sessions built from an app authenticator that admits OAuth clients and
/// `service_role` bearers for its API must still take only first-party user sessions from
/// cookies, or a third-party OAuth client could wrap its token in a cookie and drive the
/// app's pages and forms (it is no browser: it can send a matching `Origin` too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cookie_session_is_first_party_whatever_the_api_allows() {
    let f = Fixture::new().await;
    let permissive = Authenticator::builder(f.verifier())
        .allow_oauth_clients(["9a1b2c3d-0000-4000-8000-00000000c11e"])
        .allow_postgres_roles(["service_role"])
        .build()
        .unwrap();
    let sessions = Sessions::builder(f.auth.url(), "anon-key", permissive)
        .public_origin(PUBLIC)
        .build()
        .unwrap();
    let proxy = f.proxy_on_sessions(sessions.clone());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let keys = TestKeys::new();
    let issuer = format!("{}/auth/v1", f.auth.url());
    let token = |claim: &str, value: &str| {
        supagate_testkit::TokenBuilder::new()
            .claim("iss", issuer.as_str())
            .claim(claim, value)
            .issued_at(now, 3600)
            .sign_es256(&keys)
    };
    let expired = |claim: &str, value: &str| {
        supagate_testkit::TokenBuilder::new()
            .claim("iss", issuer.as_str())
            .claim(claim, value)
            .issued_at(now - 7200, 3600)
            .sign_es256(&keys)
    };
    let refreshes = f.auth.count(Endpoint::Refresh);
    // Valid ones, and expired ones: a flood of expired OAuth-client cookies must not make
    // the proxy call the auth server (the refusal comes before any refresh).
    for (t, expires_at) in [
        (
            token("client_id", "9a1b2c3d-0000-4000-8000-00000000c11e"),
            now + 3600,
        ),
        (token("role", "service_role"), now + 3600),
        (
            expired("client_id", "9a1b2c3d-0000-4000-8000-00000000c11e"),
            now - 3600,
        ),
        (expired("role", "service_role"), now - 3600),
    ] {
        let cookie = cookie_for(&supagate_testkit::session_json(&t, expires_at));
        let a = get(&proxy, "/api/me", &cookie).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
        assert_eq!(a.upstream_header("authorization"), None);
        let mut headers = HeaderMap::new();
        headers.insert("cookie", cookie.parse().unwrap());
        let page = sessions.page_session(&Method::GET, &headers, peer()).await;
        assert!(page.user().is_none());
        assert_eq!(page.refusal_status(), Some(StatusCode::FORBIDDEN));
    }
    assert_eq!(
        f.auth.count(Endpoint::Refresh),
        refreshes,
        "no refresh spent on a session that is not first-party"
    );
    // The same tokens as bearers are the app's API business: its authenticator admits them.
    let mut bearer = HeaderMap::new();
    let t = token("role", "service_role");
    bearer.insert("authorization", format!("Bearer {t}").parse().unwrap());
    assert!(sessions.authenticator().authenticate(&bearer).is_ok());
    // A first-party session still works.
    let a = get(&proxy, "/api/me", &f.cookie(3600)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

/// A target that fits in a request but whose upstream URI (the upstream's scheme and
/// authority in front) is longer than the `http` crate parses is refused 400, as when the URI
/// was printed and parsed whole; one that fits is forwarded.
#[tokio::test]
async fn an_upstream_uri_longer_than_http_parses_is_400() {
    let f = Fixture::new().await;
    let proxy = f.proxy();
    let long = format!("/api/{}", "a".repeat(65_525));
    let a = send(&proxy, request(Method::GET, &long, &[])).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let fits = format!("/api/{}", "a".repeat(60_000));
    let a = send(&proxy, request(Method::GET, &fits, &[])).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

/// A forwarded call dropped while its session's refresh is in flight (the uncached path runs
/// boxed): the refresh still completes once, and the same old cookie sent again a moment later
/// gets the new session, never a second refresh with the spent token (the mock rotates
/// strictly: a reuse would end the session).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_cancelled_during_its_refresh_neither_cancels_nor_repeats_it() {
    let f = Fixture::new().await;
    let proxy = f.proxy();
    let cookie = f.cookie(-30);
    f.auth.inject(
        Endpoint::Refresh,
        Fault::Delay(Duration::from_millis(300)),
        1,
    );
    let dropped = tokio::time::timeout(
        Duration::from_millis(50),
        proxy.forward(
            request(Method::GET, "/api/x", &[("cookie", &cookie)]),
            peer(),
        ),
    )
    .await;
    assert!(dropped.is_err(), "the call was cancelled mid-refresh");
    let a = get(&proxy, "/api/x", &cookie).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(!a.set_cookies().is_empty(), "the new session is written");
    assert_eq!(f.auth.count(Endpoint::Refresh), 1);
    assert_eq!(f.auth.active_sessions(), 1);
}
