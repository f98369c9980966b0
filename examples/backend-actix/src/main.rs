//! The backend API of the reference architecture, on actix-web: the same routes and answers
//! as `backend-axum`.
//!
//! ```sh
//! SUPABASE_URL=https://<ref>.supabase.co SUPABASE_JWT_SECRET=... cargo run -p backend-actix
//! ```

use std::process::ExitCode;

use backend_common::Config;

#[actix_web::main]
async fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("backend-actix: configuration error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match std::net::TcpListener::bind(config.bind) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("backend-actix: cannot bind {}: {e}", config.bind);
            return ExitCode::FAILURE;
        }
    };
    if let Ok(addr) = listener.local_addr() {
        println!(
            "backend-actix listening on http://{addr} (keys: {})",
            config.keys
        );
    }
    let server = match backend_actix::server(config.auth, config.resource, listener) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("backend-actix: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = server.await {
        eprintln!("backend-actix: server error: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
