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
//! - `load-tools mint-hs256 <supabase-url>`: print one HS256 access token valid for two hours.
//! - `load-tools hand <port> <hs256-secret | jwks-file>`: the baselines for `benches/load/run.sh`,
//!   on one axum server: `/profile/me` behind a hand-written extractor around raw
//!   `jsonwebtoken::decode` (what teams write today), and `/plain/me`, the same JSON route with
//!   no authentication at all.

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

/// The claims the hand-written extractor decodes (what a team would declare for `/profile/me`).
#[derive(serde::Deserialize)]
struct HandClaims {
    sub: String,
    email: Option<String>,
}

/// What the hand-written extractor needs: one decoding key per `kid` (or one for HS256) and a
/// Supabase-style `Validation`.
#[derive(Clone)]
struct HandState {
    keys: std::sync::Arc<Vec<(Option<String>, jsonwebtoken::DecodingKey)>>,
    validation: std::sync::Arc<jsonwebtoken::Validation>,
}

struct HandUser(HandClaims);

impl axum::extract::FromRequestParts<HandState> for HandUser {
    type Rejection = http::StatusCode;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &HandState,
    ) -> Result<Self, http::StatusCode> {
        let unauthorized = http::StatusCode::UNAUTHORIZED;
        let token = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(unauthorized)?;
        let kid = jsonwebtoken::decode_header(token)
            .map_err(|_| unauthorized)?
            .kid;
        let key = state
            .keys
            .iter()
            .find(|(k, _)| k.is_none() || *k == kid)
            .map(|(_, key)| key)
            .ok_or(unauthorized)?;
        jsonwebtoken::decode::<HandClaims>(token, key, &state.validation)
            .map(|d| HandUser(d.claims))
            .map_err(|_| unauthorized)
    }
}

/// `load-tools hand`: see the module docs.
fn hand(port: &str, key: &str, issuer: &str) -> ExitCode {
    use axum::Json;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let (keys, alg) = if let Ok(json) = std::fs::read_to_string(key) {
        let Ok(set) = serde_json::from_str::<jsonwebtoken::jwk::JwkSet>(&json) else {
            eprintln!("{key}: not a JWK set");
            return ExitCode::FAILURE;
        };
        let keys = set
            .keys
            .iter()
            .filter(|k| k.common.key_id.as_deref() == Some(TestKeys::ES256_KID))
            .filter_map(|k| Some((k.common.key_id.clone(), DecodingKey::from_jwk(k).ok()?)))
            .collect::<Vec<_>>();
        (keys, Algorithm::ES256)
    } else {
        (
            vec![(None, DecodingKey::from_secret(key.as_bytes()))],
            Algorithm::HS256,
        )
    };
    let mut validation = Validation::new(alg);
    validation.set_audience(&["authenticated"]);
    validation.set_issuer(&[format!("{issuer}/auth/v1")]);
    validation.leeway = 30;
    let state = HandState {
        keys: std::sync::Arc::new(keys),
        validation: std::sync::Arc::new(validation),
    };
    let Ok(rt) = tokio::runtime::Runtime::new() else {
        return ExitCode::FAILURE;
    };
    let port = port.to_owned();
    rt.block_on(async move {
        let app = axum::Router::new()
            .route(
                "/profile/me",
                axum::routing::get(|HandUser(c): HandUser| async move {
                    Json(serde_json::json!({ "user_id": c.sub, "email": c.email }))
                }),
            )
            .route(
                "/plain/me",
                axum::routing::get(|| async {
                    Json(serde_json::json!({
                        "user_id": "00000000-0000-4000-8000-000000000000",
                        "email": "user0@example.com",
                    }))
                }),
            )
            .with_state(state);
        let Ok(listener) = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await else {
            return ExitCode::FAILURE;
        };
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
        ["mint-hs256", url] => {
            let token = TokenBuilder::new()
                .claim("iss", format!("{url}/auth/v1"))
                .issued_at(unix_now(), 7200)
                .sign_hs256(&TestKeys::new());
            println!("{token}");
            ExitCode::SUCCESS
        }
        ["hand", port, key, issuer] => hand(port, key, issuer),
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
                "usage: load-tools mock-jwks <rotate-secs> | tokens <n> <supabase-url> | jwks | session-cookie <supabase-url> <hs256|es256> | bare-proxy <port> <origin> | hand <port> <secret|jwks-file> <supabase-url>"
            );
            ExitCode::FAILURE
        }
    }
}
