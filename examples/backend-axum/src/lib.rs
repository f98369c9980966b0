//! The backend API of the reference architecture, on axum, as a library: the router, so that
//! the frontend-proxy example's tests can serve it in-process.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use axum::routing::get;
use axum::{Json, Router};
use backend_common::{
    admin_policy, billing_policy, caller, modes, notes, notes_policy, ok, profile,
};
use serde_json::Value;
use std::sync::Arc;
use supagate::Authenticator;
use supagate::auth::ProtectedResource;
use supagate::axum::{AdmitLayer, Admitted, Authenticated, RequireLayer, ResourceMetadata};

/// Any verified user. A client-sent `X-User-Id` is never read: the identity is the token's
/// `sub`. `Arc<Claims>`: the verified claims shared with the token cache, not copied.
async fn profile_me(Authenticated(claims): Authenticated<Arc<supagate::Claims>>) -> Json<Value> {
    Json(profile(&claims))
}

/// Who is calling: the matched auth mode, and the user or key name.
async fn whoami(Admitted(c): Admitted) -> Json<Value> {
    Json(caller(&c))
}

/// The user's notes, for the user or an OAuth client they granted `notes:read`.
async fn oauth_notes(Authenticated(claims): Authenticated) -> Json<Value> {
    Json(notes(&claims))
}

async fn healthz() -> &'static str {
    "ok"
}

async fn allowed() -> Json<Value> {
    Json(ok())
}

/// The router, on an authenticator: `/healthz`, `/profile/me`, `/admin/stats`, `/billing`,
/// `/public/whoami`, `/client/ping`, `/internal/stats`, `/oauth/notes` and the RFC 9728
/// metadata of `resource`.
///
/// # Errors
///
/// A route policy or mode list that does not build (they always do).
pub fn app(auth: Authenticator, resource: ProtectedResource) -> Result<Router, String> {
    let admit = |list: &str| modes(list).map(|m| AdmitLayer::new(auth.clone(), m));
    let policy_error = |e: supagate::policy::PolicyError| format!("policy error: {e}");
    let oauth = Router::new()
        .route("/oauth/notes", get(oauth_notes))
        .route_layer(RequireLayer::new(
            auth.clone(),
            notes_policy().map_err(policy_error)?,
        ));
    let metadata_path = resource.metadata_path();
    let admin = Router::new()
        .route("/admin/stats", get(allowed))
        .route_layer(RequireLayer::new(
            auth.clone(),
            admin_policy().map_err(policy_error)?,
        ));
    let billing = Router::new()
        .route("/billing", get(allowed))
        .route_layer(RequireLayer::new(
            auth.clone(),
            billing_policy().map_err(policy_error)?,
        ));
    Ok(Router::new()
        .route("/healthz", get(healthz))
        .route("/profile/me", get(profile_me))
        .route("/public/whoami", get(whoami).layer(admit(modes::WHOAMI)?))
        .route("/client/ping", get(whoami).layer(admit(modes::PING)?))
        .route("/internal/stats", get(whoami).layer(admit(modes::STATS)?))
        .route(
            &metadata_path,
            get(move || std::future::ready(ResourceMetadata(resource.clone()))),
        )
        .merge(admin)
        .merge(billing)
        .merge(oauth)
        .with_state(auth))
}
