//! Helpers for `benches/load/rotation.sh` (not used by the test suite):
//!
//! - `load-tools mock-jwks <rotate-secs>`: serve the test JWK set on a loopback port, always with
//!   the ES256 key and alternately the RS256 or the EdDSA key, switching every `rotate-secs`,
//!   with `Cache-Control: max-age=2`; prints the URL, runs until killed.
//! - `load-tools tokens <n> <issuer-url>`: print `n` ES256 access tokens for `n` distinct users,
//!   valid for two hours from now, one per line.
//! - `load-tools jwks`: print the test JWK set (public keys).
//! - `load-tools bare-proxy <port> <backend origin>`: a bare Rust hop (no session handling),
//!   the floor a proxy can reach on this machine.
//! - `load-tools session-cookie <supabase-url> <hs256|es256>`: print a `Cookie` header
//!   carrying an `@supabase/ssr` session (access token valid for two hours), for
//!   `benches/load/proxy.sh`.

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

/// The floor for `benches/load/proxy.sh`: a bare hop (axum server, hyper-util pooled client)
/// that forwards `/api/profile` to `<upstream>/profile/me` with the bearer from `BEARER`: no
/// session parsing, no verification, no filtering.
fn bare_proxy(port: &str, upstream: &str) -> ExitCode {
    use axum::body::Body;
    use axum::extract::{Request, State};
    use hyper_util::client::legacy::Client;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioExecutor;
    type Pool = Client<HttpConnector, Body>;
    let bearer = std::env::var("BEARER").unwrap_or_default();
    let upstream = format!("{upstream}/profile/me");
    let Ok(rt) = tokio::runtime::Runtime::new() else {
        return ExitCode::FAILURE;
    };
    let port = port.to_owned();
    rt.block_on(async move {
        let client: Pool = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
        let handler = move |State(client): State<Pool>, req: Request| {
            let (upstream, bearer) = (upstream.clone(), bearer.clone());
            async move {
                drop(req);
                let mut out = http::Request::new(Body::empty());
                *out.uri_mut() = upstream.parse().unwrap_or_default();
                if let Ok(v) = format!("Bearer {bearer}").parse() {
                    out.headers_mut().insert(http::header::AUTHORIZATION, v);
                }
                match client.request(out).await {
                    Ok(res) => res.map(Body::new),
                    Err(_) => http::Response::new(Body::empty()),
                }
            }
        };
        let app = axum::Router::new()
            .route("/api/profile", axum::routing::get(handler))
            .with_state(client);
        let Ok(listener) = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await else {
            return ExitCode::FAILURE;
        };
        println!("listening on http://127.0.0.1:{port}");
        match axum::serve(listener, app).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        }
    })
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
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
            let now = unix_now();
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
        ["bare-proxy", port, upstream] => bare_proxy(port, upstream),
        ["jwks"] => {
            println!("{}", TestKeys::new().jwks_json());
            ExitCode::SUCCESS
        }
        ["session-cookie", url, alg] => {
            let builder = TokenBuilder::new()
                .claim("iss", format!("{url}/auth/v1"))
                .issued_at(unix_now(), 7200);
            let token = match *alg {
                "hs256" => builder.sign_hs256(&TestKeys::new()),
                _ => builder.sign_es256(&TestKeys::new()),
            };
            match supagate_testkit::session_cookie_header_at(url, &token, unix_now() + 7200) {
                Some(cookie) => {
                    println!("{cookie}");
                    ExitCode::SUCCESS
                }
                None => {
                    eprintln!("not a Supabase project URL: {url}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!(
                "usage: load-tools mock-jwks <rotate-secs> | tokens <n> <supabase-url> | jwks | session-cookie <supabase-url> <hs256|es256>"
            );
            ExitCode::FAILURE
        }
    }
}
