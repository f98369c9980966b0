//! The integration-test driver: start a backend binary on a free loopback port, call every
//! route over real HTTP with minted tokens, and check the answers. Both example backends run
//! the same checks, so they stay the same service.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use supagate_testkit::{Behaviour, MockJwks, MockOidc, TestKeys, TokenBuilder};

/// The `PUBLIC_URL` the driver starts backends with.
pub const PUBLIC_URL: &str = "https://api.example.test";

/// The 401 challenge of a request without credentials, naming the RFC 9728 metadata.
pub const CHALLENGE: &str = r#"Bearer realm="supagate", resource_metadata="https://api.example.test/.well-known/oauth-protected-resource""#;

/// A running backend, killed on drop.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where it serves `GET /metrics`, when it printed `metrics on http://…` before listening.
    pub metrics: Option<SocketAddr>,
}

impl Server {
    /// Starts `binary` with the test project's settings (HS256 secret, the JWK set at
    /// `jwks_url`) on `127.0.0.1:0`, and waits for its `listening on` line.
    pub fn start(binary: &str, jwks_url: &str) -> Server {
        Server::start_with(binary, jwks_url, &[])
    }

    /// [`Server::start`] with more variables (`SUPABASE_THIRD_PARTY_ISSUERS`, say).
    pub fn start_with(binary: &str, jwks_url: &str, extra: &[(&str, &str)]) -> Server {
        let api = (
            TestKeys::api_key_env("SUPABASE_PUBLISHABLE_KEYS").unwrap(),
            TestKeys::api_key_env("SUPABASE_SECRET_KEYS").unwrap(),
            TestKeys::legacy_anon_key(),
        );
        let mut env: Vec<(&str, &str)> = vec![
            ("SUPABASE_URL", TestKeys::SUPABASE_URL),
            ("SUPABASE_JWT_SECRET", TestKeys::HS256_SECRET),
            ("SUPABASE_JWKS_URL", jwks_url),
            ("BIND", "127.0.0.1:0"),
            ("PUBLIC_URL", PUBLIC_URL),
            ("SUPABASE_PUBLISHABLE_KEYS", &api.0),
            ("SUPABASE_SECRET_KEYS", &api.1),
            ("SUPABASE_ANON_KEY", &api.2),
        ];
        env.extend_from_slice(extra);
        Server::spawn(binary, &env)
    }

    /// Starts `binary` with these environment variables, and waits for the `listening on
    /// http://<addr>` line on its standard output.
    pub fn spawn(binary: &str, env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(binary);
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut metrics = None;
        let addr = loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                panic!("{binary} exited before listening");
            };
            if let Some(a) = line
                .split("metrics on http://")
                .nth(1)
                .and_then(|rest| rest.split('/').next())
                .and_then(|a| a.parse().ok())
            {
                metrics = Some(a);
            }
            let addr = line
                .split("listening on http://")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|a| a.parse().ok());
            if let Some(addr) = addr {
                break addr;
            }
        };
        // Keep draining standard output so that the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            addr,
            metrics,
        }
    }

    /// `GET path` with extra headers, over a fresh connection.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        request(self.addr, "GET", path, headers, b"")
    }
}

/// One HTTP/1.1 request over a fresh connection (`Connection: close`), read to the end.
pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes).unwrap();
    Response::parse(&read_response(&mut stream))
}

/// Reads one response: up to its `Content-Length`, the end of its chunked body, or the end of
/// the connection (a server may keep it open despite `Connection: close`).
fn read_response(stream: &mut TcpStream) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut buf = [0_u8; 16 * 1024];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let body = raw.len() - end - 4;
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            match length {
                Some(n) if body >= n => return raw,
                None if head.contains("transfer-encoding: chunked")
                    && raw.ends_with(b"0\r\n\r\n") =>
                {
                    return raw;
                }
                _ => {}
            }
        }
        match stream.read(&mut buf) {
            Ok(0) => return raw,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) => panic!("reading the response: {e}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header fields, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: String,
}

impl Response {
    fn parse(raw: &[u8]) -> Response {
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let chunked = headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
        let body = if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        };
        Response {
            status,
            headers,
            body,
        }
    }

    /// Every value of a header.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(rest.get(..n).unwrap_or(rest));
        s = rest.get(n + 2..).unwrap_or("");
    }
    out
}

fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

fn token(builder: TokenBuilder) -> String {
    builder.issued_at(now(), 3600).sign_hs256(&TestKeys::new())
}

/// The time each of `n` sequential `GET path` requests takes, with `headers`, and their
/// statuses.
fn timed(addr: SocketAddr, path: &str, headers: &[(&str, &str)], n: usize) -> Vec<(u16, Duration)> {
    (0..n)
        .map(|_| {
            let start = std::time::Instant::now();
            let r = request(addr, "GET", path, headers, b"");
            (r.status, start.elapsed())
        })
        .collect()
}

/// No request path blocks a worker while keys load: with a JWK set endpoint that takes 2 s,
/// 16 requests wait for their keys (ES256, RS256, EdDSA, and a `kid` the set does not have)
/// while `/healthz` and requests whose key is at hand (HS256) each answer within 100 ms; then
/// the 16 get their answers. Returns the slowest of the quick requests.
pub fn check_no_blocking_while_keys_load(binary: &str) -> Duration {
    let jwks = MockJwks::start(&TestKeys::new().jwks_json());
    jwks.set_behaviour(Behaviour::Delay(Duration::from_secs(2)));
    let server = Server::start(binary, &jwks.url());
    let addr = server.addr;
    let keys = TestKeys::new();
    let waiting: Vec<(String, u16)> = (0..16)
        .map(|i| {
            let b = TokenBuilder::new().issued_at(now(), 3600);
            match i % 4 {
                0 => (b.sign_es256(&keys), 200),
                1 => (b.sign_rs256(&keys), 200),
                2 => (b.sign_eddsa(&keys), 200),
                _ => (b.header("kid", "not-published").sign_es256(&keys), 401),
            }
        })
        .collect();
    let threads: Vec<_> = waiting
        .into_iter()
        .map(|(t, expected)| {
            std::thread::spawn(move || {
                let bearer = format!("Bearer {t}");
                let start = std::time::Instant::now();
                let r = request(
                    addr,
                    "GET",
                    "/profile/me",
                    &[("authorization", &bearer)],
                    b"",
                );
                (r.status, expected, start.elapsed())
            })
        })
        .collect();
    // Let the 16 reach the server and start waiting for the fetch.
    std::thread::sleep(Duration::from_millis(300));
    let hs = format!("Bearer {}", token(TokenBuilder::new()));
    let mut quick = timed(addr, "/healthz", &[], 10);
    quick.extend(timed(addr, "/profile/me", &[("authorization", &hs)], 10));
    let waited: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let slowest = quick.iter().map(|(_, d)| *d).max().unwrap_or_default();
    for (status, took) in &quick {
        assert_eq!(*status, 200);
        assert!(
            *took < Duration::from_millis(100),
            "a request that needs no key fetch took {took:?} while keys were loading"
        );
    }
    for (status, expected, took) in &waited {
        assert_eq!(status, expected, "after {took:?}");
        assert!(
            *took >= Duration::from_millis(1500),
            "answered in {took:?}: it did not wait for the fetch"
        );
    }
    assert_eq!(jwks.requests(), 1, "one fetch served all of them");
    slowest
}

/// Starts `binary` and drives every route; panics with the route and the answer on any
/// difference.
pub fn check_every_route(binary: &str) {
    // The JWK set comes from a mock JWKS server through the backend's remote key source.
    let jwks = MockJwks::start(&TestKeys::new().jwks_json());
    // A third-party auth provider, found by OIDC discovery.
    let provider = MockOidc::start();
    let issuers = json!([{ "issuer": provider.issuer(), "audience": [MockOidc::AUDIENCE] }]);
    let server = Server::start_with(
        binary,
        &jwks.url(),
        &[("SUPABASE_THIRD_PARTY_ISSUERS", &issuers.to_string())],
    );
    let keys = TestKeys::new();
    let user = token(TokenBuilder::new());
    let user_es256 = TokenBuilder::new().issued_at(now(), 3600).sign_es256(&keys);
    let user_eddsa = TokenBuilder::new().issued_at(now(), 3600).sign_eddsa(&keys);
    let admin = token(TokenBuilder::new().claim("app_metadata", json!({ "role": "admin" })));
    let user_meta_admin =
        token(TokenBuilder::new().claim("user_metadata", json!({ "role": "admin" })));
    let aal2 = token(TokenBuilder::new().claim("aal", "aal2"));
    let anonymous_aal2 = token(
        TokenBuilder::new()
            .claim("aal", "aal2")
            .claim("is_anonymous", true),
    );
    let expired = TokenBuilder::new()
        .issued_at(now() - 7200, 3600)
        .sign_hs256(&keys);
    let other_sub = "11111111-2222-4333-8444-555555555555";
    let bearer = |t: &str| format!("Bearer {t}");
    let me = json!({ "user_id": TokenBuilder::DEFAULT_SUB, "email": "user@example.com" });

    let r = server.get("/healthz", &[]);
    assert_eq!(r.status, 200, "healthz: {r:?}");

    for t in [&user, &user_es256, &user_eddsa] {
        let r = server.get("/profile/me", &[("Authorization", &bearer(t))]);
        assert_eq!((r.status, r.json()), (200, me.clone()), "profile: {r:?}");
    }

    let r = server.get("/profile/me", &[]);
    assert_eq!(r.status, 401, "profile without token: {r:?}");
    assert_eq!(r.header("www-authenticate"), Some(CHALLENGE));

    let r = server.get(
        "/profile/me",
        &[("Authorization", &bearer(&user)), ("X-User-Id", other_sub)],
    );
    assert_eq!(
        (r.status, r.json()),
        (200, me.clone()),
        "X-User-Id ignored: {r:?}"
    );

    let r = server.get("/profile/me", &[("X-User-Id", other_sub)]);
    assert_eq!(r.status, 401, "X-User-Id alone is no identity: {r:?}");

    let r = server.get("/profile/me", &[("Authorization", &bearer(&expired))]);
    assert_eq!(r.status, 401, "expired: {r:?}");
    assert_eq!(
        r.header("www-authenticate"),
        Some(
            r#"Bearer realm="supagate", error="invalid_token", error_description="token expired", resource_metadata="https://api.example.test/.well-known/oauth-protected-resource""#
        )
    );

    let r = server.get("/admin/stats", &[("Authorization", &bearer(&admin))]);
    assert_eq!(
        (r.status, r.json()),
        (200, json!({ "ok": true })),
        "admin: {r:?}"
    );
    for t in [&user, &user_meta_admin] {
        let r = server.get("/admin/stats", &[("Authorization", &bearer(t))]);
        assert_eq!(r.status, 403, "non-admin: {r:?}");
        assert!(
            r.header("www-authenticate")
                .is_some_and(|v| v.contains(r#"error="insufficient_scope""#)),
            "{r:?}"
        );
    }
    let r = server.get("/admin/stats", &[]);
    assert_eq!(r.status, 401, "admin without token: {r:?}");

    let r = server.get("/billing", &[("Authorization", &bearer(&aal2))]);
    assert_eq!(
        (r.status, r.json()),
        (200, json!({ "ok": true })),
        "billing aal2: {r:?}"
    );
    for t in [&user, &anonymous_aal2] {
        let r = server.get("/billing", &[("Authorization", &bearer(t))]);
        assert_eq!(r.status, 403, "billing refused: {r:?}");
    }

    let r = server.get("/nope", &[("Authorization", &bearer(&user))]);
    assert_eq!(r.status, 404, "unknown route: {r:?}");

    check_caller_routes(&server, &user, &expired);
    check_third_party(&server, &provider);

    // One fetch served every asymmetric token. A fresh backend whose JWKS endpoint fails
    // answers 503 for asymmetric tokens, never 401, and keeps verifying HS256.
    assert_eq!(jwks.requests(), 1);
    drop(server);
    jwks.set_behaviour(supagate_testkit::Behaviour::Status(500));
    let server = Server::start(binary, &jwks.url());
    let r = server.get("/profile/me", &[("Authorization", &bearer(&user_es256))]);
    assert_eq!(r.status, 503, "keys unavailable: {r:?}");
    assert!(r.header("retry-after").is_some(), "{r:?}");
    let r = server.get("/profile/me", &[("Authorization", &bearer(&user))]);
    assert_eq!(
        r.status, 200,
        "HS256 still verifies during a JWKS outage: {r:?}"
    );
}

/// Tokens of the third-party provider named in `SUPABASE_THIRD_PARTY_ISSUERS`, over HTTP.
fn check_third_party(server: &Server, provider: &MockOidc) {
    let bearer = |t: &str| format!("Bearer {t}");
    let theirs = provider.token().sign_provider();
    let r = server.get("/public/whoami", &[("Authorization", &bearer(&theirs))]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.json(),
        json!({ "mode": "user", "user_id": MockOidc::SUB })
    );
    assert_eq!(provider.requests(), 2, "discovery, then the set, once");
    let r = server.get("/oauth/notes", &[("Authorization", &bearer(&theirs))]);
    assert_eq!(
        r.status, 200,
        "a provider's user is the app's own user: {r:?}"
    );
    let r = server.get("/profile/me", &[("Authorization", &bearer(&theirs))]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["user_id"], MockOidc::SUB);
    let keys = TestKeys::new();
    for (what, token) in [
        (
            "wrong audience",
            provider.token().claim("aud", "another-app").sign_provider(),
        ),
        (
            "HS256 claiming the provider",
            provider.token().sign_hs256(&keys),
        ),
        (
            "a project-signed token claiming the provider",
            TokenBuilder::new()
                .issued_at(now(), 3600)
                .claim("iss", provider.issuer())
                .sign_es256(&keys),
        ),
        (
            "an unlisted issuer",
            provider
                .token()
                .claim("iss", "https://other-provider.example.com")
                .sign_provider(),
        ),
        (
            "no role: authenticated",
            provider.token().remove("role").sign_provider(),
        ),
    ] {
        let r = server.get("/public/whoami", &[("Authorization", &bearer(&token))]);
        assert_eq!(r.status, 401, "{what}: {r:?}");
        assert!(
            r.header("www-authenticate")
                .is_some_and(|c| c.contains(r#"error="invalid_token""#)),
            "{what}: {r:?}"
        );
    }
    assert_eq!(provider.requests(), 2, "refusals cost the provider nothing");
}

/// `/public/whoami`, `/client/ping`, `/internal/stats`, `/oauth/notes` and the RFC 9728
/// metadata, over HTTP.
fn check_caller_routes(server: &Server, user: &str, expired: &str) {
    let bearer = |t: &str| format!("Bearer {t}");
    let (p, pw, sk, sa) = (
        TestKeys::PUBLISHABLE_KEY,
        TestKeys::PUBLISHABLE_WEB_KEY,
        TestKeys::SECRET_KEY,
        TestKeys::SECRET_AUTOMATIONS_KEY,
    );
    let check = |path: &str, headers: &[(&str, &str)], status: u16, body: Option<Value>| {
        let r = server.get(path, headers);
        assert_eq!(r.status, status, "{path} {headers:?}: {r:?}");
        if let Some(body) = body {
            assert_eq!(r.json(), body, "{path} {headers:?}");
        }
        r
    };
    let signed_in = json!({ "mode": "user", "user_id": TokenBuilder::DEFAULT_SUB });
    let none = json!({ "mode": "none" });
    // whoami: user, then none.
    check("/public/whoami", &[], 200, Some(none.clone()));
    check(
        "/public/whoami",
        &[("Authorization", &bearer(user))],
        200,
        Some(signed_in.clone()),
    );
    check(
        "/public/whoami",
        &[("Authorization", &bearer(p)), ("apikey", p)],
        200,
        Some(none.clone()),
    );
    let anon = TestKeys::legacy_anon_key();
    check(
        "/public/whoami",
        &[("Authorization", &bearer(&anon)), ("apikey", &anon)],
        200,
        Some(none.clone()),
    );
    check(
        "/public/whoami",
        &[("Authorization", &bearer(user)), ("apikey", p)],
        200,
        Some(signed_in),
    );
    let r = check(
        "/public/whoami",
        &[("Authorization", &bearer(expired))],
        401,
        None,
    );
    assert!(
        r.header("www-authenticate")
            .is_some_and(|v| v.contains("token expired")),
        "{r:?}"
    );
    // ping: the default publishable key only.
    let ping = json!({ "mode": "publishable", "key": "default" });
    check("/client/ping", &[("apikey", p)], 200, Some(ping.clone()));
    check(
        "/client/ping",
        &[("APIKEY", p), ("Origin", "https://app.example.test")],
        200,
        Some(ping),
    );
    check("/client/ping", &[("apikey", pw)], 403, None);
    check("/client/ping", &[("apikey", sk)], 403, None);
    check(
        "/client/ping",
        &[("apikey", "sb_publishable_someoneelses00000")],
        401,
        None,
    );
    let r = check("/client/ping", &[], 401, None);
    assert_eq!(r.header("www-authenticate"), Some(CHALLENGE));
    // stats: any secret key, never from a browser, never from Authorization.
    check(
        "/internal/stats",
        &[("apikey", sk)],
        200,
        Some(json!({ "mode": "secret", "key": "default" })),
    );
    check(
        "/internal/stats",
        &[("apikey", sa)],
        200,
        Some(json!({ "mode": "secret", "key": "automations" })),
    );
    for meta in [
        ("Sec-Fetch-Site", "same-origin"),
        ("Sec-Fetch-Mode", "cors"),
        ("Origin", "https://app.example.test"),
    ] {
        let r = check("/internal/stats", &[("apikey", sk), meta], 403, None);
        assert!(r.header("www-authenticate").is_none(), "{r:?}");
    }
    check(
        "/internal/stats",
        &[("Authorization", &bearer(sk))],
        401,
        None,
    );
    check("/internal/stats", &[("apikey", p)], 403, None);
    check(
        "/internal/stats",
        &[("Authorization", &bearer(user))],
        403,
        None,
    );
    check("/internal/stats", &[], 401, None);
    // oauth/notes: the app's users, and OAuth clients with the scope.
    let client = "9a1b2c3d-0000-4000-8000-00000000c11e";
    let notes = |scope: Option<&str>| {
        let mut b = TokenBuilder::new().claim("client_id", client);
        if let Some(sc) = scope {
            b = b.claim("scope", sc);
        }
        token(b)
    };
    let r = check(
        "/oauth/notes",
        &[("Authorization", &bearer(user))],
        200,
        None,
    );
    assert_eq!(r.json()["client_id"], Value::Null);
    let r = check(
        "/oauth/notes",
        &[("Authorization", &bearer(&notes(Some("openid notes:read"))))],
        200,
        None,
    );
    assert_eq!(r.json()["client_id"], client);
    for t in [notes(None), notes(Some("openid"))] {
        let r = check("/oauth/notes", &[("Authorization", &bearer(&t))], 403, None);
        assert_eq!(
            r.header("www-authenticate"),
            Some(
                r#"Bearer realm="supagate", error="insufficient_scope", error_description="insufficient scope", scope="notes:read""#
            )
        );
    }
    let r = check("/oauth/notes", &[], 401, None);
    assert_eq!(r.header("www-authenticate"), Some(CHALLENGE));
    // The RFC 9728 document, at the path the challenge names.
    let r = check("/.well-known/oauth-protected-resource", &[], 200, None);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let doc = r.json();
    assert_eq!(doc["resource"], PUBLIC_URL);
    assert_eq!(doc["authorization_servers"], json!([TestKeys::ISSUER]));
    assert_eq!(doc["scopes_supported"], json!(["notes:read"]));
    assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
}

/// Runs `binary` with no configuration and checks it stops with a message naming
/// `SUPABASE_URL`.
pub fn check_start_up_error(binary: &str) {
    let out = Command::new(binary)
        .env_remove("SUPABASE_URL")
        .env_remove("SUPABASE_JWT_SECRET")
        .env_remove("SUPABASE_JWKS_URL")
        .env("BIND", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SUPABASE_URL"), "stderr: {stderr}");
}

/// Runs `node <script> <args>` in `interop/node` (after `npm ci` there) and parses its JSON
/// output; panics with its standard error when it fails.
pub fn node(script: &str, args: &[&str]) -> Value {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/node");
    let out = Command::new("node")
        .current_dir(&dir)
        .arg(script)
        .args(args)
        .output()
        .expect("node is installed (SUPAGATE_INTEROP=1)");
    assert!(
        out.status.success(),
        "node {script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The `Cookie` header for cookies a Node script printed as `[{name, wire}]`.
pub fn cookie_header(cookies: &Value) -> String {
    cookies
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{}={}",
                c["name"].as_str().unwrap(),
                c["wire"].as_str().unwrap()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}
