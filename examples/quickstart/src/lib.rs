//! The whole reference architecture on loopback: a mock Supabase Auth (from
//! `supagate-testkit`, ES256-signed tokens) with two demo users, `backend-axum` and
//! `frontend-proxy`, in one process. When PostgreSQL is installed, a throw-away cluster too,
//! and the notes API of `backend-rls` on the same backend (Row Level Security; session
//! liveness from the mock auth server). Used by `main` and by the browser and interop tests.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::net::SocketAddr;

use serde_json::json;
use supagate_testkit::{MockAuth, TestPostgres};

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
    /// The throw-away PostgreSQL cluster behind `/notes`, when PostgreSQL is installed (why
    /// not, otherwise). Dropping it stops the cluster.
    pub postgres: Result<TestPostgres, String>,
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

    // Bound first: its 401s name its own address as the protected resource
    // (`resource_metadata`), not a default of another set-up.
    let backend_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("backend: {e}"))?;
    let backend = backend_listener
        .local_addr()
        .map_err(|e| format!("backend: {e}"))?;
    let backend_public = format!("http://{backend}");
    let backend_config = backend_common::Config::from_lookup(|name| match name {
        "SUPABASE_URL" => Some(url.clone()),
        "SUPAGATE_TOKEN_CACHE" => Some("1".to_owned()),
        "PUBLIC_URL" => Some(backend_public.clone()),
        _ => None,
    })?;
    let mut backend_app = backend_axum::app(backend_config.auth, backend_config.resource)
        .map_err(|e| e.to_string())?;
    // The notes of backend-rls, on a throw-away cluster, when PostgreSQL is there.
    let postgres = match tokio::task::spawn_blocking(TestPostgres::start).await {
        Ok(Ok(pg)) => Ok(pg),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let mut liveness = None;
    let postgres = match postgres {
        Ok(pg) => match notes(&pg, &url).await {
            Ok((router, live)) => {
                backend_app = backend_app.merge(router);
                liveness = live;
                Ok(pg)
            }
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    tokio::spawn(async move { axum::serve(backend_listener, backend_app).await });

    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| format!("cannot bind {bind}: {e}"))?;
    let frontend = listener.local_addr().map_err(|e| e.to_string())?;
    let api = format!("http://{backend}");
    let public = format!("http://{frontend}");
    let margin = refresh_margin.to_string();
    let (publishable, secret) = (
        auth.publishable_key().to_owned(),
        auth.secret_key().to_owned(),
    );
    // The proxy shares the notes' session check: a sign-out through it ends the session
    // there at once.
    let config = frontend_proxy::Config::from_lookup_with(
        |name| match name {
            "SUPABASE_URL" => Some(url.clone()),
            // The production set-up: the publishable key, and the secret key, with which the
            // auth server limits each browser's address (Sb-Forwarded-For), not the proxy's.
            "SUPABASE_PUBLISHABLE_KEY" => Some(publishable.clone()),
            "SUPABASE_SECRET_KEY" => Some(secret.clone()),
            "API_URL" => Some(api.clone()),
            "PUBLIC_ORIGIN" => Some(public.clone()),
            "REFRESH_MARGIN_SECS" => Some(margin.clone()),
            _ => None,
        },
        |b| match liveness {
            Some(l) => b.session_liveness(l),
            None => b,
        },
    )?;
    let app = frontend_proxy::app(&config).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(Quickstart {
        auth,
        backend,
        frontend,
        postgres,
    })
}

/// backend-rls's `/notes` on `pg`, its sessions checked with the mock auth server at
/// `auth_url` (its sessions are not rows of the cluster's `auth.sessions`).
async fn notes(
    pg: &TestPostgres,
    auth_url: &str,
) -> Result<(axum::Router, Option<supagate::auth::SessionLiveness>), String> {
    let (database, admin) = (pg.url("authenticator"), pg.superuser_url());
    let (state, _, _) = backend_rls::from_env(|name| match name {
        "DATABASE_URL" => Some(database.clone()),
        "MIGRATION_DATABASE_URL" => Some(admin.clone()),
        "SUPABASE_URL" => Some(auth_url.to_owned()),
        "SUPABASE_PUBLISHABLE_KEY" => Some(supagate_testkit::TestKeys::PUBLISHABLE_KEY.to_owned()),
        "SESSION_CHECK" => Some("auth".to_owned()),
        "SUPAGATE_TOKEN_CACHE" => Some("1".to_owned()),
        _ => None,
    })
    .await?;
    let liveness = state.auth.session_liveness().cloned();
    Ok((backend_rls::notes(state)?, liveness))
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
