//! The backend API of the reference architecture, on actix-web: the same routes and answers
//! as `backend-axum`. A library too, so that other examples' tests can serve it in process.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};
use backend_common::{
    admin_policy, billing_policy, caller, modes, notes, notes_policy, ok, profile,
};
use supagate::Authenticator;
use supagate::actix::{Admit, Admitted, Authenticated, Require, ResourceMetadata};
use supagate::auth::ProtectedResource;

/// Any verified user. A client-sent `X-User-Id` is never read: the identity is the token's
/// `sub`.
async fn profile_me(Authenticated(claims): Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(profile(&claims))
}

/// Who is calling: the matched auth mode, and the user or key name.
async fn whoami(Admitted(c): Admitted) -> HttpResponse {
    HttpResponse::Ok().json(caller(&c))
}

/// The user's notes, for the user or an OAuth client they granted `notes:read`.
async fn oauth_notes(Authenticated(claims): Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(notes(&claims))
}

async fn healthz() -> &'static str {
    "ok"
}

async fn allowed() -> HttpResponse {
    HttpResponse::Ok().json(ok())
}

/// The server on `listener`, with the routes of `backend-axum`.
///
/// # Errors
///
/// A message for a policy that does not build or a listener actix cannot use.
pub fn server(
    auth: Authenticator,
    resource: ProtectedResource,
    listener: TcpListener,
) -> Result<Server, String> {
    let admin = admin_policy().map_err(|e| format!("policy error: {e}"))?;
    let billing = billing_policy().map_err(|e| format!("policy error: {e}"))?;
    let notes = notes_policy().map_err(|e| format!("policy error: {e}"))?;
    let (whoami_modes, ping_modes, stats_modes) = (
        modes(modes::WHOAMI)?,
        modes(modes::PING)?,
        modes(modes::STATS)?,
    );
    let server = HttpServer::new(move || {
        App::new()
            .app_data(auth.clone())
            .route("/healthz", web::get().to(healthz))
            .route("/profile/me", web::get().to(profile_me))
            .service(
                web::resource("/admin/stats")
                    .wrap(Require::new(auth.clone(), admin.clone()))
                    .route(web::get().to(allowed)),
            )
            .service(
                web::resource("/billing")
                    .wrap(Require::new(auth.clone(), billing.clone()))
                    .route(web::get().to(allowed)),
            )
            .service(
                web::resource("/public/whoami")
                    .wrap(Admit::new(auth.clone(), whoami_modes.clone()))
                    .route(web::get().to(whoami)),
            )
            .service(
                web::resource("/client/ping")
                    .wrap(Admit::new(auth.clone(), ping_modes.clone()))
                    .route(web::get().to(whoami)),
            )
            .service(
                web::resource("/internal/stats")
                    .wrap(Admit::new(auth.clone(), stats_modes.clone()))
                    .route(web::get().to(whoami)),
            )
            .service(
                web::resource("/oauth/notes")
                    .wrap(Require::new(auth.clone(), notes.clone()))
                    .route(web::get().to(oauth_notes)),
            )
            .service(
                web::resource(resource.metadata_path()).route(web::get().to({
                    let resource = resource.clone();
                    move || std::future::ready(ResourceMetadata(resource.clone()))
                })),
            )
    })
    .listen(listener)
    .map_err(|e| format!("cannot listen: {e}"))?;
    Ok(server.run())
}
