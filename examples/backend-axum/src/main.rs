//! The backend API of the reference architecture, on axum: every route verifies the caller's
//! Supabase access token and enforces its role policy.
//!
//! ```sh
//! SUPABASE_URL=https://<ref>.supabase.co SUPABASE_JWT_SECRET=... cargo run -p backend-axum
//! ```

use std::process::ExitCode;

use backend_axum::app;
use backend_common::Config;

/// The default `METRICS_BIND`: loopback, the port of OpenTelemetry's Prometheus exporters.
const METRICS_BIND: &str = "127.0.0.1:9464";

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("backend-axum: configuration error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let metrics = match backend_common::metrics::from_env(METRICS_BIND) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("backend-axum: configuration error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(m) = metrics {
        // Its own address: the API's clients never reach it.
        match m.serve().await {
            Ok(addr) => println!("backend-axum metrics on http://{addr}/metrics"),
            Err(e) => {
                eprintln!("backend-axum: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let app = match app(config.auth, config.resource) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("backend-axum: {e}");
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
