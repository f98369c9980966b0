//! `cargo run -p quickstart`: the reference architecture on loopback, no Supabase project
//! needed. Open the printed address, sign in as either demo user, and watch the dashboard call
//! the backend through the proxy.

use std::process::ExitCode;

use quickstart::{ADMIN, USER, start};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

#[tokio::main]
async fn main() -> ExitCode {
    // A first run prints nothing before the banner but the build: PostgreSQL's notices while
    // the notes table is set up (`policy … does not exist, skipping`) are not news.
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(LevelFilter::INFO)
        .with_target("sqlx::postgres::notice", LevelFilter::WARN);
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(filter)
        .init();
    let vars = supagate::Variables::from_env();
    let bind = vars
        .get("QUICKSTART_BIND")
        .unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    // How long the demo's access tokens live: short enough to watch a refresh happen.
    let ttl = match vars
        .get("QUICKSTART_TOKEN_SECS")
        .map(|v| v.trim().parse::<i64>())
    {
        None => 3600,
        Some(Ok(secs)) if (20..=86_400).contains(&secs) => secs,
        Some(_) => {
            eprintln!(
                "quickstart: QUICKSTART_TOKEN_SECS must be a number of seconds from 20 to 86400 (default 3600)"
            );
            return ExitCode::FAILURE;
        }
    };
    // The proxy refreshes a session this long before its token expires: at most half the
    // lifetime, so that a short-lived demo token is used for a while first.
    let margin = u32::try_from((ttl / 2).min(90)).unwrap_or(90);
    let stack = match start(&bind, ttl, margin).await {
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
Access tokens live {ttl} s (QUICKSTART_TOKEN_SECS); the proxy refreshes them {margin} s before.
Notes (Row Level Security, /api/notes, optional): {notes}

By hand (the cookie jar in /tmp, not in your clone):
  curl -i -c /tmp/supagate-jar -b /tmp/supagate-jar -H 'Sec-Fetch-Site: same-origin' \\
       -d 'email={ad}&password={ap}' http://{f}/auth/sign-in
  curl -i -b /tmp/supagate-jar http://{f}/api/profile
  curl -i -b /tmp/supagate-jar http://{f}/api/admin/stats
  curl -i -c /tmp/supagate-jar -b /tmp/supagate-jar -X POST -H 'Sec-Fetch-Site: same-origin' http://{f}/auth/sign-out
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
            Err(why) => format!("off, PostgreSQL is needed for them ({why})"),
        },
    );
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}
