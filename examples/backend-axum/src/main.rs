//! The backend API of the reference architecture, on axum: every route verifies the caller's
//! Supabase access token and enforces its role policy.
//!
//! ```sh
//! SUPABASE_URL=https://<ref>.supabase.co SUPABASE_JWT_SECRET=... cargo run -p backend-axum
//! ```

use std::process::ExitCode;

use axum::routing::get;
use axum::{Json, Router};
use backend_common::{Config, admin_policy, billing_policy, ok, profile};
use serde_json::Value;
use supagate::Authenticator;
use supagate::axum::{Claims, RequireLayer};

/// Any verified user. A client-sent `X-User-Id` is never read: the identity is the token's
/// `sub`.
async fn profile_me(Claims(claims): Claims) -> Json<Value> {
    Json(profile(&claims))
}

async fn healthz() -> &'static str {
    "ok"
}

async fn allowed() -> Json<Value> {
    Json(ok())
}

/// The router, on an authenticator; the integration tests and benches build it the same way.
fn app(auth: Authenticator) -> Result<Router, supagate::policy::PolicyError> {
    let admin = Router::new()
        .route("/admin/stats", get(allowed))
        .route_layer(RequireLayer::new(auth.clone(), admin_policy()?));
    let billing = Router::new()
        .route("/billing", get(allowed))
        .route_layer(RequireLayer::new(auth.clone(), billing_policy()?));
    Ok(Router::new()
        .route("/healthz", get(healthz))
        .route("/profile/me", get(profile_me))
        .merge(admin)
        .merge(billing)
        .with_state(auth))
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("backend-axum: configuration error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let app = match app(config.auth) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("backend-axum: policy error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.bind).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("backend-axum: cannot bind {}: {e}", config.bind);
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!(
            "backend-axum listening on http://{addr} (keys: {})",
            config.keys
        ),
        Err(e) => eprintln!("backend-axum: {e}"),
    }
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("backend-axum: server error: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
