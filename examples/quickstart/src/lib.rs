//! The whole reference architecture on loopback: a mock Supabase Auth (from
//! `supagate-testkit`, ES256-signed tokens) with two demo users, `backend-axum` and
//! `frontend-proxy`, in one process. Used by `main` and by the browser and interop tests.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::net::SocketAddr;

use serde_json::json;
use supagate_testkit::MockAuth;

/// The plain demo user.
pub const USER: (&str, &str) = ("user@example.com", "user-password");
/// The admin demo user (`app_metadata.role = admin`).
pub const ADMIN: (&str, &str) = ("admin@example.com", "admin-password");

/// The running stack. Dropping it stops the mock auth server; the servers stop with the
/// runtime.
#[derive(Debug)]
pub struct Quickstart {
    /// The mock Supabase Auth (for counting requests in tests).
    pub auth: MockAuth,
    /// `backend-axum`.
    pub backend: SocketAddr,
    /// `frontend-proxy`: open `http://<frontend>/`.
    pub frontend: SocketAddr,
}

/// Starts the stack: the auth server on a free port, the backend on a free port, the proxy
/// on `bind`. Access tokens live `access_ttl` seconds and the proxy refreshes them within
/// `refresh_margin` seconds of expiry (3600 and 90 in the demo; the browser test shortens
/// both to watch a refresh).
///
/// # Errors
///
/// A message when a server cannot start.
pub async fn start(bind: &str, access_ttl: i64, refresh_margin: u32) -> Result<Quickstart, String> {
    let auth = MockAuth::start();
    auth.set_access_ttl(access_ttl);
    auth.add_user(
        USER.0,
        USER.1,
        json!({"provider": "email", "providers": ["email"]}),
    );
    auth.add_user(
        ADMIN.0,
        ADMIN.1,
        json!({"provider": "email", "providers": ["email"], "role": "admin"}),
    );
    let url = auth.url();

    let backend_config = backend_common::Config::from_lookup(|name| match name {
        "SUPABASE_URL" => Some(url.clone()),
        "SUPAGATE_TOKEN_CACHE" => Some("1".to_owned()),
        _ => None,
    })?;
    let backend_app = backend_axum::app(backend_config.auth, backend_config.resource)
        .map_err(|e| e.to_string())?;
    let backend_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("backend: {e}"))?;
    let backend = backend_listener
        .local_addr()
        .map_err(|e| format!("backend: {e}"))?;
    tokio::spawn(async move { axum::serve(backend_listener, backend_app).await });

    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| format!("cannot bind {bind}: {e}"))?;
    let frontend = listener.local_addr().map_err(|e| e.to_string())?;
    let api = format!("http://{backend}");
    let public = format!("http://{frontend}");
    let margin = refresh_margin.to_string();
    let config = frontend_proxy::Config::from_lookup(|name| match name {
        "SUPABASE_URL" => Some(url.clone()),
        "SUPABASE_ANON_KEY" => Some("quickstart-anon-key".to_owned()),
        "API_URL" => Some(api.clone()),
        "PUBLIC_ORIGIN" => Some(public.clone()),
        "REFRESH_MARGIN_SECS" => Some(margin.clone()),
        _ => None,
    })?;
    let app = frontend_proxy::app(&config).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(Quickstart {
        auth,
        backend,
        frontend,
    })
}

/// [`start`] on a runtime of its own (two worker threads), for synchronous tests: keep the
/// runtime alive as long as the stack is used.
///
/// # Errors
///
/// As [`start`], or when the runtime cannot be built.
pub fn start_on_runtime(
    access_ttl: i64,
    refresh_margin: u32,
) -> Result<(tokio::runtime::Runtime, Quickstart), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let stack = runtime.block_on(start("127.0.0.1:0", access_ttl, refresh_margin))?;
    Ok((runtime, stack))
}
