//! A notes API on axum whose access rules are Row Level Security policies: supagate verifies
//! the caller and scopes each request's transaction to them, as PostgREST does.
//!
//! ```sh
//! DATABASE_URL=postgres://authenticator@127.0.0.1:5432/postgres \
//! SUPABASE_URL=https://<ref>.supabase.co SUPABASE_JWT_SECRET=... \
//! SESSION_CHECK=db SESSION_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//! cargo run -p backend-rls
//! ```

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let (state, config, check) =
        match backend_rls::from_variables(supagate::Variables::from_env()).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("backend-rls: configuration error: {e}");
                return ExitCode::FAILURE;
            }
        };
    let app = match backend_rls::app(state) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("backend-rls: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.bind).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("backend-rls: cannot bind {}: {e}", config.bind);
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!(
            "backend-rls listening on http://{addr} (keys: {}; session check: {check:?})",
            config.keys
        ),
        Err(e) => eprintln!("backend-rls: {e}"),
    }
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("backend-rls: server error: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
