//! One proxy address, 500 clients: each refreshes its session within a minute, through the
//! frontend-proxy binary behind a trusted hop (nginx's `X-Forwarded-For`), against `MockAuth`
//! with the auth server's default token limit (150 per 5 minutes per address, bursts of 30).
//! Without a secret key every refresh counts against the proxy's one address and the auth
//! server refuses most of them (the proxy answers 503 with `Retry-After` and keeps the
//! cookies); with `SUPABASE_SECRET_KEY` each carries `Sb-Forwarded-For` and every one
//! succeeds. The figures are printed (`--nocapture`) for `docs/benchmarks.md`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Stack, set_cookies};
use serde_json::json;
use supagate_testkit::TestKeys;

const CLIENTS: usize = 500;
const THREADS: usize = 8;

#[derive(Debug, Default)]
struct Figures {
    ok: usize,
    unavailable: usize,
    unavailable_with_retry_after: usize,
    deletions: usize,
    other: usize,
    auth_server_refusals: usize,
    refresh_calls: usize,
    elapsed: Duration,
}

fn run(secret: bool) -> Figures {
    let mut env = vec![("TRUSTED_PROXIES", "127.0.0.1")];
    if secret {
        env.push(("SUPABASE_SECRET_KEY", TestKeys::SECRET_KEY));
    }
    let s = Arc::new(Stack::start_with(|_, _| None, &env));
    let cookies: Arc<Vec<String>> = Arc::new(
        (0..CLIENTS)
            .map(|i| {
                let email = format!("user{i}@example.com");
                s.auth.add_user(&email, "pw", json!({}));
                s.cookie(&email, -60)
            })
            .collect(),
    );
    let started = Instant::now();
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (s, cookies) = (Arc::clone(&s), Arc::clone(&cookies));
            std::thread::spawn(move || {
                let mut out = Vec::new();
                for i in (t..CLIENTS).step_by(THREADS) {
                    let client = format!("10.0.{}.{}", i / 250, i % 250 + 1);
                    let r = s.get(
                        "/api/profile",
                        &[("cookie", &cookies[i]), ("x-forwarded-for", &client)],
                    );
                    let deletions = set_cookies(&r)
                        .iter()
                        .filter(|c| c.contains("Max-Age=0"))
                        .count();
                    out.push((r.status, r.header("retry-after").is_some(), deletions));
                }
                out
            })
        })
        .collect();
    let mut f = Figures::default();
    for w in workers {
        for (status, retry_after, deletions) in w.join().unwrap() {
            f.deletions += deletions;
            match status {
                200 => f.ok += 1,
                503 => {
                    f.unavailable += 1;
                    f.unavailable_with_retry_after += usize::from(retry_after);
                }
                _ => f.other += 1,
            }
        }
    }
    f.elapsed = started.elapsed();
    f.auth_server_refusals = s.auth.rate_limited();
    f.refresh_calls = s.auth.count(supagate_testkit::Endpoint::Refresh);
    eprintln!(
        "{CLIENTS} clients through one proxy address, {} secret key: {} refreshed (200), {} 503 ({} with Retry-After), {} other, {} cookie deletions; auth server: {} refresh calls, {} refused with 429; {:.2} s",
        if secret { "with a" } else { "without a" },
        f.ok,
        f.unavailable,
        f.unavailable_with_retry_after,
        f.other,
        f.deletions,
        f.refresh_calls,
        f.auth_server_refusals,
        f.elapsed.as_secs_f64()
    );
    f
}

#[test]
fn five_hundred_clients_through_one_proxy_address_refresh_with_a_secret_key() {
    let without = run(false);
    // The auth server's bucket for the proxy's address: 30 at once, then 0.5 a second.
    let allowed = 30 + (without.elapsed.as_secs_f64() * 0.5).ceil() as usize;
    assert!(without.elapsed < Duration::from_secs(60), "{without:?}");
    assert!(without.ok <= allowed, "{without:?}");
    assert_eq!(without.ok + without.unavailable, CLIENTS, "{without:?}");
    assert_eq!(without.unavailable_with_retry_after, without.unavailable);
    assert_eq!(without.deletions, 0, "no session cleared for a 429");
    assert_eq!(without.auth_server_refusals, without.unavailable);

    let with = run(true);
    assert!(with.elapsed < Duration::from_secs(60), "{with:?}");
    assert_eq!(with.ok, CLIENTS, "{with:?}");
    assert_eq!(with.auth_server_refusals, 0);
    assert_eq!(with.refresh_calls, CLIENTS);
}
