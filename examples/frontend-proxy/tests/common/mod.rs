//! The stack the frontend-proxy tests run: `MockAuth` as Supabase Auth, `backend-axum` (or a
//! test upstream) in process, and the frontend-proxy binary, all on loopback.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;

use backend_common::drive::{Response, Server, request};
use http::HeaderMap;
use serde_json::json;
use supagate_cookie::{CookieName, CookieOptions, Session, SessionWriter};
use supagate_testkit::MockAuth;

pub const ORIGIN: &str = "http://app.localhost:3000";

pub struct Stack {
    pub auth: MockAuth,
    pub backend: SocketAddr,
    pub proxy: Server,
    pub runtime: tokio::runtime::Runtime,
    pub cookie_name: String,
}

impl Stack {
    pub fn start() -> Stack {
        Stack::start_with(|_, _| None, &[])
    }

    /// With `upstream` (given the runtime and the auth server's URL) as the backend instead of
    /// backend-axum, and extra environment variables for the proxy.
    pub fn start_with(
        upstream: impl FnOnce(&tokio::runtime::Runtime, &str) -> Option<SocketAddr>,
        env: &[(&str, &str)],
    ) -> Stack {
        let auth = MockAuth::start();
        auth.add_user(
            "alice@example.com",
            "correct horse",
            json!({"role": "admin"}),
        );
        auth.add_user("bob@example.com", "battery staple", json!({}));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let url = auth.url();
        let backend = runtime.block_on(async move {
            // backend-axum exactly as its binary builds it, keys from the auth server's JWKS.
            let config = backend_common::Config::from_lookup(|name| match name {
                "SUPABASE_URL" => Some(url.clone()),
                "BIND" => Some("127.0.0.1:0".to_owned()),
                _ => None,
            })
            .unwrap();
            let app = backend_axum::app(config.auth, config.resource).unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await });
            addr
        });
        let backend = upstream(&runtime, &auth.url()).unwrap_or(backend);
        let api = format!("http://{backend}");
        let url = auth.url();
        let mut vars = vec![
            ("SUPABASE_URL", url.as_str()),
            (
                "SUPABASE_PUBLISHABLE_KEY",
                supagate_testkit::TestKeys::PUBLISHABLE_KEY,
            ),
            ("API_URL", &api),
            ("BIND", "127.0.0.1:0"),
            ("PUBLIC_ORIGIN", ORIGIN),
        ];
        vars.extend_from_slice(env);
        let proxy = Server::spawn(env!("CARGO_BIN_EXE_frontend-proxy"), &vars);
        Stack {
            auth,
            backend,
            proxy,
            runtime,
            cookie_name: "sb-127-auth-token".to_owned(),
        }
    }

    pub fn get(&self, target: &str, headers: &[(&str, &str)]) -> Response {
        request(self.proxy.addr, "GET", target, headers, b"")
    }

    pub fn post(&self, target: &str, headers: &[(&str, &str)], body: &str) -> Response {
        request(self.proxy.addr, "POST", target, headers, body.as_bytes())
    }

    /// The `Cookie` header for a session of `email` expiring in `expires_in` seconds, in
    /// `@supabase/ssr`'s format.
    pub fn cookie(&self, email: &str, expires_in: i64) -> String {
        self.cookie_for(&self.auth.session_json(email, expires_in))
    }

    /// The `Cookie` header for `session_json` (any JSON session), in `@supabase/ssr`'s format.
    pub fn cookie_for(&self, session_json: &str) -> String {
        let writer = SessionWriter::new(
            CookieName::custom(self.cookie_name.as_str()).unwrap(),
            CookieOptions::default(),
        )
        .unwrap();
        let set = writer
            .set(
                &Session::from_json(session_json).unwrap(),
                &HeaderMap::new(),
            )
            .unwrap();
        pairs(set.iter().map(|v| v.to_str().unwrap()))
    }
}

/// `name=value` pairs of non-deleting `Set-Cookie` values, as a `Cookie` header.
pub fn pairs<'a>(set_cookies: impl Iterator<Item = &'a str>) -> String {
    set_cookies
        .filter(|c| !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

pub fn set_cookies(r: &Response) -> Vec<&str> {
    r.headers_named("set-cookie")
}
