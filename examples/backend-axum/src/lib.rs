//! The backend API of the reference architecture, on axum, as a library: the router, so that
//! the frontend-proxy example's tests can serve it in-process.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use axum::routing::get;
use axum::{Json, Router};
use backend_common::{admin_policy, billing_policy, ok, profile};
use serde_json::Value;
use supagate::Authenticator;
use supagate::axum::{Authenticated, RequireLayer};

/// Any verified user. A client-sent `X-User-Id` is never read: the identity is the token's
/// `sub`.
async fn profile_me(Authenticated(claims): Authenticated) -> Json<Value> {
    Json(profile(&claims))
}

async fn healthz() -> &'static str {
    "ok"
}

async fn allowed() -> Json<Value> {
    Json(ok())
}

/// The router, on an authenticator: `/healthz`, `/profile/me`, `/admin/stats`, `/billing`.
///
/// # Errors
///
/// A route policy that does not build (it always does).
pub fn app(auth: Authenticator) -> Result<Router, supagate::policy::PolicyError> {
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
