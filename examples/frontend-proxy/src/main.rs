//! The frontend proxy of the reference architecture, on axum.
//!
//! ```sh
//! # in front of `cargo run -p backend-axum`, with a local `supabase start`:
//! cargo run -p frontend-proxy
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;

use frontend_proxy::{Config, app};
use tracing_subscriber::filter::LevelFilter;

/// The default `METRICS_BIND`: loopback, next to the backend's 9464.
const METRICS_BIND: &str = "127.0.0.1:9465";

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_max_level(LevelFilter::INFO)
        .with_target(true)
        .with_writer(std::io::stderr)
        .init();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("frontend-proxy: configuration error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let metrics = match backend_common::metrics::from_env(METRICS_BIND) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("frontend-proxy: configuration error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(m) = metrics {
        // Its own address: the browser never reaches it, nor through `/api/`.
        match m.serve().await {
            Ok(addr) => println!("frontend-proxy metrics on http://{addr}/metrics"),
            Err(e) => {
                eprintln!("frontend-proxy: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let listener = match tokio::net::TcpListener::bind(config.bind).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("frontend-proxy: cannot bind {}: {e}", config.bind);
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!(
            "frontend-proxy listening on http://{addr} ({})",
            config.banner
        ),
        Err(e) => eprintln!("frontend-proxy: {e}"),
    }
    let app = app(&config).into_make_service_with_connect_info::<SocketAddr>();
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("frontend-proxy: server error: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
