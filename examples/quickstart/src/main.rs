//! `cargo run -p quickstart`: the reference architecture on loopback, no Supabase project
//! needed. Open the printed address, sign in as either demo user, and watch the dashboard call
//! the backend through the proxy.

use std::process::ExitCode;

use quickstart::{ADMIN, USER, start};
use tracing_subscriber::filter::LevelFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_max_level(LevelFilter::INFO)
        .with_writer(std::io::stderr)
        .init();
    let bind = supagate::Variables::from_env()
        .get("QUICKSTART_BIND")
        .unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let stack = match start(&bind, 3600, 90).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("quickstart: {e}");
            return ExitCode::FAILURE;
        }
    };
    let f = stack.frontend;
    println!(
        "quickstart listening on http://{f}

  browser  ──cookies──▶  frontend-proxy http://{f}  ──Bearer──▶  backend-axum http://{b}
                                 │ refresh / sign-in / sign-out
                                 ▼
                          mock Supabase Auth {a}

Open http://{f}/ and sign in as
  {u} / {up}   (plain user: /api/admin/stats answers 403)
  {ad} / {ap} (admin: 200)
The page's JavaScript never sees a token: document.cookie stays empty.
Notes (Row Level Security, /api/notes): {notes}

By hand:
  curl -i -c jar -b jar -H 'Sec-Fetch-Site: same-origin' \\
       -d 'email={ad}&password={ap}' http://{f}/auth/sign-in
  curl -i -b jar http://{f}/api/profile
  curl -i -b jar http://{f}/api/admin/stats
  curl -i -c jar -b jar -X POST -H 'Sec-Fetch-Site: same-origin' http://{f}/auth/sign-out
  curl -i http://{b}/profile/me -H 'X-User-Id: anyone'   # the backend wants a verified token

Ctrl-C to stop.",
        b = stack.backend,
        a = stack.auth.url(),
        u = USER.0,
        up = USER.1,
        ad = ADMIN.0,
        ap = ADMIN.1,
        notes = match &stack.postgres {
            Ok(pg) => format!("on, a throw-away PostgreSQL on 127.0.0.1:{}", pg.port()),
            Err(why) => format!("off ({why})"),
        },
    );
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}
