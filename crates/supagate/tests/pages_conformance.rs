//! The page session (`supagate::axum::pages`, `supagate::actix::pages`) on both adapters against
//! one mock Supabase Auth: the same table of cases (no session, valid, expiring within the
//! margin, an ended session, the auth server down, a forged session, protected and public
//! pages, HTML and non-HTML requests, cross-site posts, server-side backend calls) must give
//! the same status, `Location`, cookie changes, caching headers, body and number of refresh
//! calls on axum and actix-web. The same table runs again on a pages-only app (its layer made
//! from `Sessions` alone, no upstream configured anywhere), where only the backend calls
//! differ. A last test sends 50 concurrent page loads with one expired session through each
//! adapter: one refresh.
#![cfg(all(feature = "axum", feature = "actix", feature = "proxy"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use supagate::RequestError as _;

use http::HeaderMap;
use serde_json::json;
use supagate::auth::Authenticator;
use supagate::cookie::{CookieName, CookieOptions, Session, SessionWriter};
use supagate::jwt::Verifier;
use supagate::proxy::{Proxy, Sessions};
use supagate_testkit::{Endpoint, Fault, MockAuth, TestKeys, TokenBuilder};

const PUBLIC: &str = "https://app.example.com";
const EMAIL: &str = "alice@example.com";
const HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// The request of a case, made fresh for each adapter (refresh tokens are spent once).
struct Input {
    method: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
}

struct Case {
    name: &'static str,
    input: fn(&Fixture) -> Input,
    expect: Observed,
}

#[derive(Debug, PartialEq, Clone)]
struct Observed {
    status: u16,
    location: Option<String>,
    /// `none`, `session` (new session cookies), `cleared` (deletions only).
    cookies: &'static str,
    cache_control: Option<String>,
    www_authenticate: bool,
    retry_after: bool,
    body: String,
    refreshes: usize,
}

struct Fixture {
    auth: MockAuth,
    backend: SocketAddr,
}

impl Fixture {
    fn new() -> Fixture {
        let auth = MockAuth::start();
        auth.add_user(EMAIL, "correct horse", json!({"role": "editor"}));
        Fixture {
            auth,
            backend: backend(),
        }
    }

    /// The app's authenticator (`realm` as the app chose it).
    fn authenticator(&self, realm: &str) -> Authenticator {
        let verifier = Verifier::from_supabase_url(self.auth.url())
            .jwk_set(TestKeys::new().jwk_set())
            .build()
            .unwrap();
        Authenticator::builder(verifier)
            .realm(realm)
            .build()
            .unwrap()
    }

    /// The sessions of a pages-only app: no upstream anywhere.
    fn sessions(&self, realm: &str) -> Sessions {
        Sessions::builder(self.auth.url(), "anon-key", self.authenticator(realm))
            .public_origin(PUBLIC)
            .sign_in_page("/login")
            .build()
            .unwrap()
    }

    fn proxy(&self) -> Proxy {
        Proxy::builder(self.sessions("supagate"))
            .upstream(format!("http://{}", self.backend))
            .route("/api/", "/")
            .build()
            .unwrap()
    }

    /// The layer of a case run: with the proxy's backend, or pages only.
    fn pages(&self, pages_only: bool) -> Pages {
        if pages_only {
            Pages::Only(self.sessions("supagate"))
        } else {
            Pages::WithBackend(self.proxy())
        }
    }

    /// The `Cookie` header of a session expiring in `expires_in` seconds.
    fn cookie(&self, expires_in: i64) -> String {
        cookie_for(&self.auth.session_json(EMAIL, expires_in))
    }
}

/// What a page layer is made from.
#[derive(Clone)]
enum Pages {
    WithBackend(Proxy),
    Only(Sessions),
}

fn cookie_for(json: &str) -> String {
    let writer = SessionWriter::new(
        CookieName::custom("sb-127-auth-token").unwrap(),
        CookieOptions::default(),
    )
    .unwrap();
    writer
        .set(&Session::from_json(json).unwrap(), &HeaderMap::new())
        .unwrap()
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

/// A backend that answers `/profile/me` with what it received and tries to set the session
/// cookie.
fn backend() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            use axum::routing::get;
            let app = axum::Router::new().route(
                "/profile/me",
                get(|h: axum::http::HeaderMap| async move {
                    let auth = h
                        .get("authorization")
                        .map(|v| v.to_str().unwrap().starts_with("Bearer ey"));
                    (
                        [("set-cookie", "sb-127-auth-token=planted; Path=/")],
                        axum::Json(json!({
                            "bearer": auth,
                            "cookie": h.contains_key("cookie"),
                        })),
                    )
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

fn get(path: &'static str, headers: Vec<(&'static str, String)>) -> Input {
    Input {
        method: "GET",
        path,
        headers,
    }
}

fn html(cookie: Option<String>) -> Vec<(&'static str, String)> {
    let mut h = vec![("accept", HTML.to_owned())];
    if let Some(c) = cookie {
        h.push(("cookie", c));
    }
    h
}

fn page(status: u16, cookies: &'static str, body: &str, refreshes: usize) -> Observed {
    Observed {
        status,
        location: None,
        cookies,
        cache_control: match (status, cookies) {
            (_, "none") if body.starts_with("anon") => None,
            (_, "none") => Some("private, no-store".into()),
            _ => Some("private, no-cache, no-store, must-revalidate, max-age=0".into()),
        },
        www_authenticate: false,
        retry_after: false,
        body: body.to_owned(),
        refreshes,
    }
}

fn to_login(next: Option<&str>, cookies: &'static str, refreshes: usize) -> Observed {
    Observed {
        status: 303,
        location: Some(match next {
            Some(n) => format!("/login?next={n}"),
            None => "/login".to_owned(),
        }),
        cookies,
        cache_control: Some(if cookies == "none" {
            "no-store".into()
        } else {
            "private, no-cache, no-store, must-revalidate, max-age=0".into()
        }),
        www_authenticate: false,
        retry_after: false,
        body: String::new(),
        refreshes,
    }
}

fn forged() -> String {
    // Signed with a key the project never had, and expired: nothing may be refreshed for it.
    let token = TokenBuilder::now()
        .claim("exp", 1_000)
        .sign_hmac(b"an attacker's secret, not the project's at all");
    let json = json!({
        "access_token": token,
        "refresh_token": "forged-refresh-token",
        "token_type": "bearer",
        "expires_in": 3600,
        "expires_at": 1_000,
        "user": {"id": "0a11ce00-0000-4000-8000-000000000001"}
    });
    cookie_for(&json.to_string())
}

fn cases() -> Vec<Case> {
    let user = format!("user:{EMAIL}:editor");
    vec![
        Case {
            name: "no session, public page: None",
            input: |_| get("/public", html(None)),
            expect: page(200, "none", "anon", 0),
        },
        Case {
            name: "no session, protected page, HTML: to the sign-in page with next",
            input: |_| get("/private?tab=2", html(None)),
            expect: to_login(Some("%2Fprivate%3Ftab%3D2"), "none", 0),
        },
        Case {
            name: "no session, protected page, not HTML: 401",
            input: |_| get("/private", vec![("accept", "application/json".into())]),
            expect: Observed {
                status: 401,
                location: None,
                cookies: "none",
                cache_control: Some("no-store".into()),
                www_authenticate: true,
                retry_after: false,
                body: r#"{"error":"unauthorized","error_description":"authentication required"}"#.into(),
                refreshes: 0,
            },
        },
        Case {
            name: "valid session, protected page",
            input: |f| get("/private", html(Some(f.cookie(3600)))),
            expect: page(200, "none", &format!("private:{EMAIL}"), 0),
        },
        Case {
            name: "valid session, public page",
            input: |f| get("/public", html(Some(f.cookie(3600)))),
            expect: page(200, "none", &user, 0),
        },
        Case {
            name: "expiring within the margin: refreshed, cookies on the HTML page",
            input: |f| get("/private", html(Some(f.cookie(30)))),
            expect: page(200, "session", &format!("private:{EMAIL}"), 1),
        },
        Case {
            name: "expiring within the margin: refreshed, cookies on the handler's redirect",
            input: |f| get("/go", html(Some(f.cookie(30)))),
            expect: Observed {
                status: 303,
                location: Some("/private".into()),
                ..page(303, "session", "", 1)
            },
        },
        Case {
            name: "expired: refreshed",
            input: |f| get("/public", html(Some(f.cookie(-10)))),
            expect: page(200, "session", &user, 1),
        },
        Case {
            name: "expired, refresh_token_already_used, public page: cleared, None",
            input: |f| {
                f.auth.inject(
                    Endpoint::Refresh,
                    Fault::error(400, "refresh_token_already_used"),
                    1,
                );
                get("/public", html(Some(f.cookie(-10))))
            },
            expect: Observed {
                cache_control: Some(
                    "private, no-cache, no-store, must-revalidate, max-age=0".into(),
                ),
                ..page(200, "cleared", "anon", 1)
            },
        },
        Case {
            name: "expired, refresh_token_already_used, protected page: cleared, redirect",
            input: |f| {
                f.auth.inject(
                    Endpoint::Refresh,
                    Fault::error(400, "refresh_token_already_used"),
                    1,
                );
                get("/private", html(Some(f.cookie(-10))))
            },
            expect: to_login(Some("%2Fprivate"), "cleared", 1),
        },
        Case {
            name: "expired, the auth server down: 503, cookies kept",
            input: |f| {
                f.auth.inject(Endpoint::Refresh, Fault::Hangup, 1);
                get("/public", html(Some(f.cookie(-10))))
            },
            expect: Observed {
                status: 503,
                location: None,
                cookies: "none",
                cache_control: Some("no-store".into()),
                www_authenticate: false,
                retry_after: true,
                body: r#"{"error":"temporarily_unavailable","error_description":"auth server unavailable"}"#.into(),
                refreshes: 1,
            },
        },
        Case {
            name: "expiring within the margin, the auth server down: the still-valid session",
            input: |f| {
                f.auth.inject(Endpoint::Refresh, Fault::Hangup, 1);
                get("/private", html(Some(f.cookie(30))))
            },
            expect: page(200, "none", &format!("private:{EMAIL}"), 1),
        },
        Case {
            name: "forged session: cleared, None, no refresh spent",
            input: |_| get("/public", html(Some(forged()))),
            expect: Observed {
                cache_control: Some(
                    "private, no-cache, no-store, must-revalidate, max-age=0".into(),
                ),
                ..page(200, "cleared", "anon", 0)
            },
        },
        Case {
            name: "forged session, protected page: cleared, redirect, no refresh spent",
            input: |_| get("/private", html(Some(forged()))),
            expect: to_login(Some("%2Fprivate"), "cleared", 0),
        },
        Case {
            name: "a form post from our own origin",
            input: |f| Input {
                method: "POST",
                path: "/form",
                headers: vec![
                    ("origin", PUBLIC.into()),
                    ("content-type", "application/x-www-form-urlencoded".into()),
                    ("cookie", f.cookie(3600)),
                ],
            },
            expect: page(200, "none", "posted by alice@example.com", 0),
        },
        Case {
            name: "a cross-site form post: 403, the page does not run",
            input: |f| Input {
                method: "POST",
                path: "/form",
                headers: vec![
                    ("origin", "https://evil.example".into()),
                    ("content-type", "application/x-www-form-urlencoded".into()),
                    ("cookie", f.cookie(30)),
                ],
            },
            expect: Observed {
                status: 403,
                location: None,
                cookies: "none",
                cache_control: Some("no-store".into()),
                www_authenticate: false,
                retry_after: false,
                body: r#"{"error":"csrf_rejected","error_description":"cross-site request refused"}"#.into(),
                refreshes: 0,
            },
        },
        Case {
            name: "a handler that sets the session itself (sign-in under the layer) keeps it",
            input: |f| get("/sets-session", html(Some(f.cookie(30)))),
            expect: Observed {
                cache_control: Some("no-store".into()),
                ..page(200, "handler", "set", 1)
            },
        },
        // Review finding: any cookie of the family (the PKCE verifier of start_oauth) made the
        // layer drop the refreshed session's cookies, whose refresh token was already spent.
        Case {
            name: "a handler that sets the PKCE verifier keeps the refreshed session's cookies",
            input: |f| get("/sets-verifier", html(Some(f.cookie(30)))),
            expect: page(200, "session+verifier", "verifier", 1),
        },
        Case {
            name: "a page's own Cache-Control lines are all kept",
            input: |f| get("/cached", html(Some(f.cookie(3600)))),
            expect: Observed {
                cache_control: Some("max-age=60, private".into()),
                ..page(200, "none", "cached", 0)
            },
        },
        Case {
            name: "a backend call with the user's bearer, no cookie, its Set-Cookie dropped",
            input: |f| get("/profile", html(Some(f.cookie(3600)))),
            expect: page(200, "none", r#"200 0 {"bearer":true,"cookie":false}"#, 0),
        },
        Case {
            name: "a backend call to a path with a dot segment: refused before it leaves",
            input: |f| get("/escape", html(Some(f.cookie(3600)))),
            expect: page(200, "none", "400", 0),
        },
    ]
}

fn classify(set_cookies: &[String]) -> &'static str {
    let verifier = |c: &String| c.starts_with("sb-127-auth-token-code-verifier=handler");
    if set_cookies.is_empty() {
        "none"
    } else if set_cookies.iter().any(verifier) {
        let session = set_cookies
            .iter()
            .any(|c| c.starts_with("sb-127-auth-token=") && !c.contains("Max-Age=0"));
        if session {
            "session+verifier"
        } else {
            "verifier"
        }
    } else if set_cookies
        .iter()
        .all(|c| c.starts_with("sb-127-auth-token=handler"))
    {
        "handler"
    } else if set_cookies.iter().all(|c| c.contains("Max-Age=0")) {
        "cleared"
    } else {
        "session"
    }
}

/// What both adapters' apps answer, from the pieces every case needs.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Raw {
    fn observe(self, refreshes: usize) -> Observed {
        let one = |n: &str| {
            self.headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
        };
        let set: Vec<String> = self
            .headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .map(|(_, v)| v.clone())
            .collect();
        Observed {
            status: self.status,
            location: one("location"),
            cookies: classify(&set),
            cache_control: {
                let all: Vec<&str> = self
                    .headers
                    .iter()
                    .filter(|(k, _)| k == "cache-control")
                    .map(|(_, v)| v.as_str())
                    .collect();
                (!all.is_empty()).then(|| all.join(", "))
            },
            www_authenticate: one("www-authenticate").is_some(),
            retry_after: one("retry-after").is_some(),
            body: self.body,
            refreshes,
        }
    }
}

mod on_axum {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::response::{IntoResponse, Redirect};
    use axum::routing::{get, post};
    use supagate::axum::pages::{BackendClient, SessionLayer, User};
    use tower::ServiceExt;

    async fn public(user: Option<User>) -> String {
        match user {
            Some(u) => format!(
                "user:{}:{}",
                u.email().unwrap_or_default(),
                u.app_role().unwrap_or_default()
            ),
            None => "anon".into(),
        }
    }

    async fn private(user: User) -> String {
        format!("private:{}", user.email().unwrap_or_default())
    }

    async fn go(_user: User) -> Redirect {
        Redirect::to("/private")
    }

    async fn form(user: Option<User>) -> String {
        format!(
            "posted by {}",
            user.as_ref()
                .and_then(|u| u.email().map(str::to_owned))
                .unwrap_or_default()
        )
    }

    async fn profile(user: User, backend: BackendClient) -> impl IntoResponse {
        let res = backend.get(&user, "/profile/me").await.unwrap();
        format!(
            "{} {} {}",
            res.status().as_u16(),
            res.headers().get_all("set-cookie").iter().count(),
            String::from_utf8_lossy(res.body())
        )
    }

    async fn escape(user: User, backend: BackendClient) -> String {
        match backend.get(&user, "/profile/../admin").await {
            Ok(r) => r.status().as_u16().to_string(),
            Err(e) => e.status().as_u16().to_string(),
        }
    }

    async fn sets_session() -> impl IntoResponse {
        ([("set-cookie", "sb-127-auth-token=handler; Path=/")], "set")
    }

    async fn sets_verifier() -> impl IntoResponse {
        (
            [(
                "set-cookie",
                "sb-127-auth-token-code-verifier=handler; Path=/",
            )],
            "verifier",
        )
    }

    async fn cached(_user: User) -> impl IntoResponse {
        let mut h = axum::http::HeaderMap::new();
        h.append("cache-control", "max-age=60".parse().unwrap());
        h.append("cache-control", "private".parse().unwrap());
        (h, "cached")
    }

    pub(super) fn layer(pages: Pages) -> SessionLayer {
        match pages {
            Pages::WithBackend(proxy) => SessionLayer::with_backend(proxy),
            Pages::Only(sessions) => SessionLayer::new(sessions),
        }
    }

    pub(super) fn app(pages: Pages) -> Router {
        Router::new()
            .route("/sets-session", get(sets_session))
            .route("/sets-verifier", get(sets_verifier))
            .route("/cached", get(cached))
            .route("/public", get(public))
            .route("/private", get(private))
            .route("/go", get(go))
            .route("/form", post(form))
            .route("/profile", get(profile))
            .route("/escape", get(escape))
            .layer(layer(pages))
    }

    pub(super) async fn call(app: &Router, input: &Input) -> Raw {
        let mut req = http::Request::builder()
            .method(input.method)
            .uri(input.path);
        for (k, v) in &input.headers {
            req = req.header(*k, v.as_bytes());
        }
        let res = app
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
            .collect();
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        Raw {
            status,
            headers,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }

    pub(super) fn run_all(f: &Fixture, cases: &[Case], pages: Pages) -> Vec<Observed> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let app = app(pages);
            let mut out = Vec::new();
            for case in cases {
                let input = (case.input)(f);
                let before = f.auth.count(Endpoint::Refresh);
                let raw = call(&app, &input).await;
                out.push(raw.observe(f.auth.count(Endpoint::Refresh) - before));
            }
            out
        })
    }

    pub(super) fn concurrent(f: &Fixture, n: usize) -> (Vec<Observed>, usize) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let app = app(f.pages(false));
            let cookie = f.cookie(-10);
            let before = f.auth.count(Endpoint::Refresh);
            let mut tasks = Vec::new();
            for _ in 0..n {
                let (app, cookie) = (app.clone(), cookie.clone());
                tasks.push(tokio::spawn(async move {
                    call(&app, &super::get("/private", html(Some(cookie)))).await
                }));
            }
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap().observe(0));
            }
            (out, f.auth.count(Endpoint::Refresh) - before)
        })
    }
}

mod on_actix {
    use super::*;
    use actix_web::{App, HttpResponse, test, web};
    use supagate::actix::pages::{BackendClient, SessionMiddleware, User};

    async fn public(user: Option<User>) -> String {
        match user {
            Some(u) => format!(
                "user:{}:{}",
                u.email().unwrap_or_default(),
                u.app_role().unwrap_or_default()
            ),
            None => "anon".into(),
        }
    }

    async fn private(user: User) -> String {
        format!("private:{}", user.email().unwrap_or_default())
    }

    async fn go(_user: User) -> HttpResponse {
        HttpResponse::SeeOther()
            .insert_header(("location", "/private"))
            .finish()
    }

    async fn form(user: Option<User>) -> String {
        format!(
            "posted by {}",
            user.as_ref()
                .and_then(|u| u.email().map(str::to_owned))
                .unwrap_or_default()
        )
    }

    async fn profile(user: User, backend: BackendClient) -> String {
        let res = backend.get(&user, "/profile/me").await.unwrap();
        format!(
            "{} {} {}",
            res.status().as_u16(),
            res.headers().get_all("set-cookie").iter().count(),
            String::from_utf8_lossy(res.body())
        )
    }

    async fn escape(user: User, backend: BackendClient) -> String {
        match backend.get(&user, "/profile/../admin").await {
            Ok(r) => r.status().as_u16().to_string(),
            Err(e) => e.status().as_u16().to_string(),
        }
    }

    async fn sets_session() -> HttpResponse {
        HttpResponse::Ok()
            .insert_header(("set-cookie", "sb-127-auth-token=handler; Path=/"))
            .body("set")
    }

    async fn sets_verifier() -> HttpResponse {
        HttpResponse::Ok()
            .insert_header((
                "set-cookie",
                "sb-127-auth-token-code-verifier=handler; Path=/",
            ))
            .body("verifier")
    }

    async fn cached(_user: User) -> HttpResponse {
        HttpResponse::Ok()
            .append_header(("cache-control", "max-age=60"))
            .append_header(("cache-control", "private"))
            .body("cached")
    }

    pub(super) fn middleware(pages: Pages) -> SessionMiddleware {
        match pages {
            Pages::WithBackend(proxy) => SessionMiddleware::with_backend(proxy),
            Pages::Only(sessions) => SessionMiddleware::new(sessions),
        }
    }

    macro_rules! app {
        ($pages:expr) => {
            test::init_service(
                App::new()
                    .wrap(middleware($pages))
                    .route("/sets-session", web::get().to(sets_session))
                    .route("/sets-verifier", web::get().to(sets_verifier))
                    .route("/cached", web::get().to(cached))
                    .route("/public", web::get().to(public))
                    .route("/private", web::get().to(private))
                    .route("/go", web::get().to(go))
                    .route("/form", web::post().to(form))
                    .route("/profile", web::get().to(profile))
                    .route("/escape", web::get().to(escape)),
            )
            .await
        };
    }

    fn request(input: &Input) -> test::TestRequest {
        let mut req = test::TestRequest::default()
            .method(input.method.parse().unwrap())
            .uri(input.path);
        for (k, v) in &input.headers {
            req = req.insert_header((*k, v.as_str()));
        }
        req
    }

    macro_rules! call {
        ($app:expr, $input:expr) => {
            async {
                let res = test::call_service($app, request($input).to_request()).await;
                let status = res.status().as_u16();
                let headers = res
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
                    .collect();
                let body = test::read_body(res).await;
                Raw {
                    status,
                    headers,
                    body: String::from_utf8(body.to_vec()).unwrap(),
                }
            }
        };
    }

    pub(super) fn run_all(f: &Fixture, cases: &[Case], pages: Pages) -> Vec<Observed> {
        actix_web::rt::System::new().block_on(async {
            let app = app!(pages);
            let mut out = Vec::new();
            for case in cases {
                let input = (case.input)(f);
                let before = f.auth.count(Endpoint::Refresh);
                let raw = call!(&app, &input).await;
                out.push(raw.observe(f.auth.count(Endpoint::Refresh) - before));
            }
            out
        })
    }

    pub(super) fn call_once(pages: Pages, input: &Input) -> Raw {
        actix_web::rt::System::new().block_on(async {
            let app = app!(pages);
            call!(&app, input).await
        })
    }

    pub(super) fn concurrent(f: &Fixture, n: usize) -> (Vec<Observed>, usize) {
        actix_web::rt::System::new().block_on(async {
            let app = app!(f.pages(false));
            let cookie = f.cookie(-10);
            let before = f.auth.count(Endpoint::Refresh);
            let input = get("/private", html(Some(cookie)));
            let calls: Vec<_> = (0..n).map(|_| Box::pin(call!(&app, &input))).collect();
            let out = join_all(calls).await;
            (
                out.into_iter().map(|r| r.observe(0)).collect(),
                f.auth.count(Endpoint::Refresh) - before,
            )
        })
    }

    /// Polls every future concurrently on this (single-threaded) runtime.
    async fn join_all<F: std::future::Future + Unpin>(mut futures: Vec<F>) -> Vec<F::Output> {
        let mut out: Vec<Option<F::Output>> = (0..futures.len()).map(|_| None).collect();
        std::future::poll_fn(|cx| {
            let mut pending = false;
            for (i, f) in futures.iter_mut().enumerate() {
                if out[i].is_none() {
                    match std::pin::Pin::new(f).poll(cx) {
                        std::task::Poll::Ready(v) => out[i] = Some(v),
                        std::task::Poll::Pending => pending = true,
                    }
                }
            }
            if pending {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(())
            }
        })
        .await;
        out.into_iter().map(Option::unwrap).collect()
    }
}

#[test]
fn the_page_session_behaves_the_same_on_axum_and_actix() {
    let f = Fixture::new();
    let cases = cases();
    check_table(&cases, &f, false);
}

/// The conformance row for a pages-only app: the layer made from `Sessions` alone (no
/// upstream configured anywhere) answers every case as the proxy's layer does, except that a
/// handler asking for a `BackendClient` finds none (500, a wiring mistake, before any call).
#[test]
fn a_pages_only_app_behaves_the_same_without_any_upstream() {
    let f = Fixture::new();
    let mut cases = cases();
    for case in &mut cases {
        if case.name.starts_with("a backend call") {
            case.expect = Observed {
                status: 500,
                location: None,
                cookies: "none",
                cache_control: Some("private, no-store".into()),
                www_authenticate: false,
                retry_after: false,
                body: "no backend for pages: make the page layer with_backend(proxy)".into(),
                refreshes: 0,
            };
        }
    }
    check_table(&cases, &f, true);
}

/// The pages use the app's own authenticator: its realm is in their challenges.
#[test]
fn pages_refuse_with_the_apps_own_authenticator() {
    let f = Fixture::new();
    let input = get("/private", vec![("accept", "application/json".into())]);
    let sessions = f.sessions("the-app");
    let axum = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(on_axum::call(
            &on_axum::app(Pages::Only(sessions.clone())),
            &input,
        ));
    let actix = on_actix::call_once(Pages::Only(sessions), &input);
    for (adapter, raw) in [("axum", axum), ("actix", actix)] {
        assert_eq!(raw.status, 401, "{adapter}");
        let challenge = raw
            .headers
            .iter()
            .find(|(k, _)| k == "www-authenticate")
            .map(|(_, v)| v.clone());
        assert_eq!(
            challenge.as_deref(),
            Some(r#"Bearer realm="the-app""#),
            "{adapter}"
        );
    }
}

fn check_table(cases: &[Case], f: &Fixture, pages_only: bool) {
    let axum = on_axum::run_all(f, cases, f.pages(pages_only));
    let actix = on_actix::run_all(f, cases, f.pages(pages_only));
    let mut wrong = Vec::new();
    for ((case, a), x) in cases.iter().zip(&axum).zip(&actix) {
        for (adapter, got) in [("axum", a), ("actix", x)] {
            if got != &case.expect {
                wrong.push(format!(
                    "{adapter}: {}\n  got  {got:?}\n  want {:?}",
                    case.name, case.expect
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(axum.len(), cases.len());
    assert_eq!(actix.len(), cases.len());
}

#[test]
fn fifty_concurrent_page_loads_with_one_expired_session_refresh_once() {
    let f = Fixture::new();
    for (adapter, (out, refreshes)) in [
        ("axum", on_axum::concurrent(&f, 50)),
        ("actix", on_actix::concurrent(&f, 50)),
    ] {
        assert_eq!(refreshes, 1, "{adapter}: one refresh for 50 page loads");
        assert_eq!(out.len(), 50);
        for o in &out {
            assert_eq!(o.status, 200, "{adapter}: {o:?}");
            assert_eq!(
                o.cookies, "session",
                "{adapter}: every page carries the new cookies"
            );
            assert_eq!(o.body, format!("private:{EMAIL}"));
        }
    }
}
