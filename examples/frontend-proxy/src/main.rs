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
    let metrics = match backend_common::metrics::from_env() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("frontend-proxy: configuration error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut app = app(&config);
    if let Some(handle) = metrics {
        // `GET /metrics`, the Prometheus exposition (no token, no secrets).
        app = app.route(
            "/metrics",
            axum::routing::get(move || std::future::ready(handle.render())),
        );
    }
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("frontend-proxy: server error: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
