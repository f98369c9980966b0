//! Helpers for `benches/load/rotation.sh` (not used by the test suite):
//!
//! - `load-tools mock-jwks <rotate-secs>`: serve the test JWK set on a loopback port, always with
//!   the ES256 key and alternately the RS256 or the EdDSA key, switching every `rotate-secs`,
//!   with `Cache-Control: max-age=2`; prints the URL, runs until killed.
//! - `load-tools tokens <n> <issuer-url>`: print `n` ES256 access tokens for `n` distinct users,
//!   valid for two hours from now, one per line.

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use supagate_testkit::{MockJwks, TestKeys, TokenBuilder};

fn set_with(kids: &[&str]) -> String {
    let mut v: Value = serde_json::from_str(&TestKeys::new().jwks_json()).unwrap_or_default();
    if let Some(keys) = v.get_mut("keys").and_then(Value::as_array_mut) {
        keys.retain(|k| {
            k.get("kid")
                .and_then(Value::as_str)
                .is_some_and(|kid| kids.contains(&kid))
        });
    }
    v.to_string()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["mock-jwks", secs] => {
            let Ok(secs) = secs.parse::<u64>() else {
                eprintln!("rotate-secs must be a number");
                return ExitCode::FAILURE;
            };
            let sets = [
                set_with(&[TestKeys::ES256_KID, TestKeys::RS256_KID]),
                set_with(&[TestKeys::ES256_KID, TestKeys::EDDSA_KID]),
            ];
            let [first, second] = &sets;
            let server = MockJwks::start(first);
            server.set_cache_control(Some("public, max-age=2"));
            println!("{}", server.url());
            for i in 1_usize.. {
                std::thread::sleep(Duration::from_secs(secs));
                server.set_keys(if i % 2 == 0 { first } else { second });
                eprintln!(
                    "mock-jwks: rotation {i}, {} requests so far",
                    server.requests()
                );
            }
            ExitCode::SUCCESS
        }
        ["tokens", n, issuer_url] => {
            let Ok(n) = n.parse::<u32>() else {
                eprintln!("n must be a number");
                return ExitCode::FAILURE;
            };
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
            let keys = TestKeys::new();
            for i in 0..n {
                let sub = format!("00000000-0000-4000-8000-{i:012}");
                let token = TokenBuilder::new()
                    .claim("iss", format!("{issuer_url}/auth/v1"))
                    .claim("sub", sub.as_str())
                    .claim("email", format!("user{i}@example.com"))
                    .issued_at(now, 7200)
                    .sign_es256(&keys);
                println!("{token}");
            }
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!(
                "usage: load-tools mock-jwks <rotate-secs> | load-tools tokens <n> <supabase-url>"
            );
            ExitCode::FAILURE
        }
    }
}
