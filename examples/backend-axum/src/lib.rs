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
use supagate::auth::Gate;
use supagate::auth::ProtectedResource;
use supagate::auth::openapi::Access;
use supagate::auth::openapi::utoipa::SecuritySchemes;
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

/// What each route asks of its callers, from the same policies and mode lists the router
/// applies: the source of `GET /openapi.json`.
fn accesses(auth: &Authenticator) -> Result<Vec<(String, &'static str, Access)>, String> {
    let policy_error = |e: supagate::policy::PolicyError| format!("policy error: {e}");
    let policy = |p: supagate::Policy| Access::of_gate(&Gate::policy(auth.clone(), p));
    let admitting = |list: &str| modes(list).map(|m| Access::of_modes(auth, &m));
    let routes = vec![
        ("/healthz", "Liveness of the service", Access::public()),
        (
            "/profile/me",
            "The signed-in user's profile",
            Access::user(auth),
        ),
        (
            "/admin/stats",
            "Statistics, for the app role admin",
            policy(admin_policy().map_err(policy_error)?),
        ),
        (
            "/billing",
            "Billing, for a permanent account at aal2",
            policy(billing_policy().map_err(policy_error)?),
        ),
        (
            "/oauth/notes",
            "The user's notes, for the user or an OAuth client with notes:read",
            policy(notes_policy().map_err(policy_error)?),
        ),
        (
            "/public/whoami",
            "Who is calling: a user, else anyone",
            admitting(modes::WHOAMI)?,
        ),
        (
            "/client/ping",
            "A client app with the default publishable key",
            admitting(modes::PING)?,
        ),
        (
            "/internal/stats",
            "A service with one of the project's secret keys",
            admitting(modes::STATS)?,
        ),
        ("/openapi.json", "This document", Access::public()),
    ];
    Ok(routes
        .into_iter()
        .map(|(path, summary, access)| (path.to_owned(), summary, access))
        .collect())
}

/// The OpenAPI 3.1 document of the routes: the authenticator's security schemes, and per
/// route its requirement and its refusals (400, 401, 403, 503 as they apply).
///
/// # Errors
///
/// As [`app`].
pub fn openapi(
    auth: &Authenticator,
    resource: &ProtectedResource,
) -> Result<utoipa::openapi::OpenApi, String> {
    use utoipa::Modify as _;
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
    let mut paths = utoipa::openapi::path::PathsBuilder::new();
    let mut routes = accesses(auth)?;
    routes.push((
        resource.metadata_path(),
        "The RFC 9728 metadata of this API",
        Access::public(),
    ));
    for (path, summary, access) in routes {
        let mut op = OperationBuilder::new()
            .summary(Some(summary))
            .response("200", utoipa::openapi::Response::new("OK"))
            .build();
        access.document(&mut op);
        paths = paths.path(path, PathItem::new(HttpMethod::Get, op));
    }
    let mut doc = utoipa::openapi::OpenApiBuilder::new()
        .info(utoipa::openapi::Info::new(
            "backend-axum",
            env!("CARGO_PKG_VERSION"),
        ))
        .paths(paths.build())
        .build();
    SecuritySchemes::of(auth).modify(&mut doc);
    Ok(doc)
}

/// The router, on an authenticator: `/healthz`, `/profile/me`, `/admin/stats`, `/billing`,
/// `/public/whoami`, `/client/ping`, `/internal/stats`, `/oauth/notes`, the RFC 9728
/// metadata of `resource`, and `/openapi.json` ([`openapi`]).
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
    // Served whole from memory: no token, no work per request.
    let document = serde_json::to_vec(&openapi(&auth, &resource)?).map_err(|e| e.to_string())?;
    let document = bytes::Bytes::from(document);
    Ok(Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/openapi.json",
            get(move || {
                let body = document.clone();
                std::future::ready((
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    body,
                ))
            }),
        )
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
