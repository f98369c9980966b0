//! The backend API as a gRPC service on tonic, behind supagate (see the crate's docs for the
//! methods and their gates).
//!
//! ```sh
//! SUPABASE_URL=https://<ref>.supabase.co cargo run -p backend-grpc
//! ```

use std::process::ExitCode;

use backend_common::Config;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("backend-grpc: configuration error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let service = match backend_grpc::service(config.auth) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("backend-grpc: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.bind).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("backend-grpc: cannot bind {}: {e}", config.bind);
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!(
            "backend-grpc listening on http://{addr} (gRPC, service notes.Notes; keys: {})",
            config.keys
        ),
        Err(e) => eprintln!("backend-grpc: {e}"),
    }
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    if let Err(e) = tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming(incoming)
        .await
    {
        eprintln!("backend-grpc: server error: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
