//! The backend API of the reference architecture, on actix-web: the same routes and answers
//! as `backend-axum`.
//!
//! ```sh
//! SUPABASE_URL=https://<ref>.supabase.co SUPABASE_JWT_SECRET=... cargo run -p backend-actix
//! ```

use std::process::ExitCode;

use actix_web::{App, HttpResponse, HttpServer, web};
use backend_common::{Config, admin_policy, billing_policy, ok, profile};
use supagate::actix::{Claims, Require};

/// Any verified user. A client-sent `X-User-Id` is never read: the identity is the token's
/// `sub`.
async fn profile_me(Claims(claims): Claims) -> HttpResponse {
    HttpResponse::Ok().json(profile(&claims))
}

async fn healthz() -> &'static str {
    "ok"
}

async fn allowed() -> HttpResponse {
    HttpResponse::Ok().json(ok())
}

#[actix_web::main]
async fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("backend-actix: configuration error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (admin, billing) = match (admin_policy(), billing_policy()) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("backend-actix: policy error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let auth = config.auth;
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
    });
    let server = match server.bind(config.bind) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("backend-actix: cannot bind {}: {e}", config.bind);
            return ExitCode::FAILURE;
        }
    };
    for addr in server.addrs() {
        println!(
            "backend-actix listening on http://{addr} (keys: {})",
            config.keys
        );
    }
    if let Err(e) = server.run().await {
        eprintln!("backend-actix: server error: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
