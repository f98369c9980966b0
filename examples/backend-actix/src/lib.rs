//! The backend API of the reference architecture, on actix-web: the same routes and answers
//! as `backend-axum`. A library too, so that other examples' tests can serve it in process.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};
use backend_common::{admin_policy, billing_policy, ok, profile};
use supagate::Authenticator;
use supagate::actix::{Authenticated, Require};

/// Any verified user. A client-sent `X-User-Id` is never read: the identity is the token's
/// `sub`.
async fn profile_me(Authenticated(claims): Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(profile(&claims))
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
pub fn server(auth: Authenticator, listener: TcpListener) -> Result<Server, String> {
    let admin = admin_policy().map_err(|e| format!("policy error: {e}"))?;
    let billing = billing_policy().map_err(|e| format!("policy error: {e}"))?;
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
    })
    .listen(listener)
    .map_err(|e| format!("cannot listen: {e}"))?;
    Ok(server.run())
}
