//! [`MockAuth`]: a loopback Supabase Auth (GoTrue) server for tests: the token endpoint
//! (password, refresh_token with rotation and reuse detection, pkce), logout, user, authorize
//! and the JWKS, with fault injection and a log of what it received.
// `serde_json::Value` indexing: reads of missing members give `Null`; the one write is to an
// object this module built.
#![allow(clippy::indexing_slicing)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::{TestKeys, TokenBuilder};

/// How a refresh token that was already used is treated (GoTrue's
/// `SECURITY_REFRESH_TOKEN_ROTATION_ENABLED` / `REUSE_INTERVAL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rotation {
    /// Any second use ends the session: 400 `refresh_token_already_used` (reuse interval 0).
    /// The default: a client that refreshes twice is caught.
    Strict,
    /// A second use within the interval gets the session's current token again (concurrent
    /// refreshes converge); later, the session ends as with `Strict`.
    ReuseInterval(Duration),
}

/// A fault for the next requests to an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer this status with GoTrue's error body `{"code": <code>, "message": …}` (and
    /// `x-sb-error-code`), as API version 2024-01-01 shapes it.
    Error {
        /// The HTTP status.
        status: u16,
        /// The `error_code`.
        code: String,
    },
    /// Wait, then answer normally.
    Delay(Duration),
    /// Close the connection without answering.
    Hangup,
    /// 200 with a body that is not JSON.
    Garbage,
    /// 429 `over_request_rate_limit`, as GoTrue answers when its per-address limit trips,
    /// with `Retry-After` when given.
    RateLimited {
        /// The `Retry-After` seconds, if any.
        retry_after_secs: Option<u64>,
    },
}

impl Fault {
    /// A GoTrue error answer.
    #[must_use]
    pub fn error(status: u16, code: &str) -> Fault {
        Fault::Error {
            status,
            code: code.to_owned(),
        }
    }
}

/// An endpoint of the mock, for fault injection and counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `POST /auth/v1/token?grant_type=password`.
    Password,
    /// `POST /auth/v1/token?grant_type=refresh_token`.
    Refresh,
    /// `POST /auth/v1/token?grant_type=pkce`.
    Pkce,
    /// `POST /auth/v1/logout`.
    Logout,
    /// `GET /auth/v1/user`.
    User,
    /// `GET /auth/v1/authorize`.
    Authorize,
    /// `GET /auth/v1/.well-known/jwks.json`.
    Jwks,
}

/// A request the mock received (the body verbatim: tests may compare it).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Recorded {
    /// Which endpoint, if it was one.
    pub endpoint: Option<Endpoint>,
    /// The method.
    pub method: String,
    /// The request target (path and query).
    pub target: String,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Recorded {
    /// The first value of a header.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
struct User {
    id: String,
    email: String,
    password: String,
    app_metadata: Value,
    /// Extra `user_metadata` members (an OAuth provider's profile, say).
    user_metadata: serde_json::Map<String, Value>,
}

impl User {
    fn metadata(&self, email_verified: bool) -> Value {
        let mut m = self.user_metadata.clone();
        m.insert("email".into(), Value::from(self.email.as_str()));
        if email_verified {
            m.insert("email_verified".into(), Value::Bool(true));
        }
        m.insert("sub".into(), Value::from(self.id.as_str()));
        Value::Object(m)
    }
}

#[derive(Debug)]
struct RefreshToken {
    session: String,
    user: usize,
    used_at: Option<Instant>,
}

#[derive(Debug)]
struct SessionRow {
    user: usize,
    active: bool,
    current: String,
}

#[derive(Debug, Default)]
struct State {
    users: Vec<User>,
    tokens: HashMap<String, RefreshToken>,
    sessions: HashMap<String, SessionRow>,
    codes: HashMap<String, (usize, String)>,
    faults: Vec<(Endpoint, Fault, usize)>,
    log: Vec<Recorded>,
    counter: u64,
    access_ttl: i64,
    rotation: Option<Rotation>,
}

/// A Supabase Auth server on `127.0.0.1` (port 0), stopped on drop. Access tokens are ES256
/// with [`TestKeys`], issued by `<url>/auth/v1` at the real time; the JWKS is served at
/// `<url>/auth/v1/.well-known/jwks.json`, so a verifier built from [`MockAuth::url`] as the
/// Supabase URL accepts them.
///
/// # Examples
///
/// ```
/// use supagate_testkit::{Endpoint, Fault, MockAuth};
///
/// let auth = MockAuth::start();
/// auth.add_user("alice@example.com", "correct horse", serde_json::json!({"role": "admin"}));
/// let session = auth.session_json("alice@example.com", 3600);
/// assert!(session.contains("\"refresh_token\""));
/// auth.inject(Endpoint::Refresh, Fault::error(503, "unexpected_failure"), 1);
/// assert_eq!(auth.count(Endpoint::Refresh), 0);
/// ```
#[derive(Debug)]
pub struct MockAuth {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Default for MockAuth {
    fn default() -> Self {
        MockAuth::start()
    }
}

impl MockAuth {
    /// Starts a server with [`Rotation::Strict`] and one-hour access tokens.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound (a test environment problem).
    #[must_use]
    #[allow(clippy::expect_used)]
    pub fn start() -> MockAuth {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(Mutex::new(State {
            access_ttl: 3600,
            rotation: Some(Rotation::Strict),
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            let issuer = format!("http://{addr}/auth/v1");
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (state, issuer) = (state.clone(), issuer.clone());
                    std::thread::spawn(move || serve(stream, &state, &issuer));
                }
            })
        };
        MockAuth {
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// The project URL (`http://127.0.0.1:<port>`), to use as `SUPABASE_URL`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The issuer of its tokens (`<url>/auth/v1`).
    #[must_use]
    pub fn issuer(&self) -> String {
        format!("{}/auth/v1", self.url())
    }

    /// The JWKS URL.
    #[must_use]
    pub fn jwks_url(&self) -> String {
        format!("{}/auth/v1/.well-known/jwks.json", self.url())
    }

    /// Sets the reuse policy for refresh tokens.
    pub fn set_rotation(&self, rotation: Rotation) {
        self.lock().rotation = Some(rotation);
    }

    /// Sets the lifetime of the access tokens it issues.
    pub fn set_access_ttl(&self, seconds: i64) {
        self.lock().access_ttl = seconds;
    }

    /// Adds a user; returns its id.
    pub fn add_user(&self, email: &str, password: &str, app_metadata: Value) -> String {
        let mut s = self.lock();
        s.counter += 1;
        let id = format!("0b6a9c1e-2f3d-4c5b-8e7f-{:012x}", s.counter);
        s.users.push(User {
            id: id.clone(),
            email: email.to_owned(),
            password: password.to_owned(),
            app_metadata,
            user_metadata: serde_json::Map::new(),
        });
        id
    }

    /// Adds members to a user's `user_metadata`, which its next tokens carry: a large value
    /// makes large access tokens, as OAuth providers' profiles do.
    ///
    /// # Panics
    ///
    /// If the user does not exist.
    pub fn set_user_metadata(&self, email: &str, metadata: Value) {
        let mut s = self.lock();
        let user = user_index(&s, email);
        if let (Some(u), Value::Object(m)) = (s.users.get_mut(user), metadata) {
            u.user_metadata.extend(m);
        }
    }

    /// Signs `email` in directly (no request) and returns the session JSON, as the token
    /// endpoint would answer it, with an access token expiring in `expires_in` seconds
    /// (negative: already expired).
    ///
    /// # Panics
    ///
    /// If the user does not exist.
    #[must_use]
    pub fn session_json(&self, email: &str, expires_in: i64) -> String {
        let mut s = self.lock();
        let user = user_index(&s, email);
        new_session(&mut s, user, &self.issuer(), Some(expires_in)).to_string()
    }

    /// A PKCE authorization code for `email`, bound to `code_challenge` (S256), as if the user
    /// had completed an OAuth or magic-link flow.
    ///
    /// # Panics
    ///
    /// If the user does not exist.
    #[must_use]
    pub fn authorize_code(&self, email: &str, code_challenge: &str) -> String {
        let mut s = self.lock();
        let user = user_index(&s, email);
        issue_code(&mut s, user, code_challenge)
    }

    /// Makes the next `times` requests to `endpoint` fail with `fault`.
    pub fn inject(&self, endpoint: Endpoint, fault: Fault, times: usize) {
        self.lock().faults.push((endpoint, fault, times));
    }

    /// How many requests `endpoint` received.
    #[must_use]
    pub fn count(&self, endpoint: Endpoint) -> usize {
        self.lock()
            .log
            .iter()
            .filter(|r| r.endpoint == Some(endpoint))
            .count()
    }

    /// Every request received, in order.
    #[must_use]
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().log.clone()
    }

    /// How many sessions are still active (not signed out, not ended by token reuse).
    #[must_use]
    pub fn active_sessions(&self) -> usize {
        self.lock().sessions.values().filter(|s| s.active).count()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for MockAuth {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[allow(clippy::expect_used)]
fn user_index(s: &State, email: &str) -> usize {
    s.users
        .iter()
        .position(|u| u.email == email)
        .expect("add_user first")
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

fn user_json(u: &User) -> Value {
    json!({
        "id": u.id, "aud": "authenticated", "role": "authenticated", "email": u.email,
        "phone": "", "app_metadata": u.app_metadata,
        "user_metadata": u.metadata(true),
        "identities": [], "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z", "is_anonymous": false
    })
}

fn issue_code(s: &mut State, user: usize, challenge: &str) -> String {
    s.counter += 1;
    let code = format!("{:08x}-c0de-4c0d-8e00-{:012x}", s.counter, s.counter);
    s.codes.insert(code.clone(), (user, challenge.to_owned()));
    code
}

/// A new session (or, with `session` given, the next token of an existing one).
fn mint(s: &mut State, user: usize, issuer: &str, session: &str, ttl: i64) -> Value {
    s.counter += 1;
    let refresh = format!("mockrefresh{:012}", s.counter);
    s.tokens.insert(
        refresh.clone(),
        RefreshToken {
            session: session.to_owned(),
            user,
            used_at: None,
        },
    );
    if let Some(row) = s.sessions.get_mut(session) {
        row.current = refresh.clone();
    }
    let Some(u) = s.users.get(user).cloned() else {
        return Value::Null;
    };
    let now = unix_now();
    let access = TokenBuilder::new()
        .issued_at(now, ttl)
        .claim("iss", issuer)
        .claim("sub", u.id.as_str())
        .claim("email", u.email.as_str())
        .claim("app_metadata", u.app_metadata.clone())
        .claim("user_metadata", u.metadata(false))
        .claim("session_id", session)
        .sign_es256(&TestKeys::new());
    json!({
        "access_token": access,
        "token_type": "bearer",
        "expires_in": ttl,
        "expires_at": now + ttl,
        "refresh_token": refresh,
        "user": user_json(&u),
    })
}

fn new_session(s: &mut State, user: usize, issuer: &str, ttl: Option<i64>) -> Value {
    s.counter += 1;
    let session = format!("5e7c1a2b-3d4f-4a6b-8c9d-{:012x}", s.counter);
    s.sessions.insert(
        session.clone(),
        SessionRow {
            user,
            active: true,
            current: String::new(),
        },
    );
    let ttl = ttl.unwrap_or(s.access_ttl);
    mint(s, user, issuer, &session, ttl)
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

fn json_answer(status: u16, body: &Value) -> Answer {
    Answer {
        status,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.to_string(),
    }
}

fn error(status: u16, code: &str, message: &str) -> Answer {
    let mut a = json_answer(status, &json!({"code": code, "message": message}));
    a.headers.push(("x-sb-error-code".into(), code.to_owned()));
    a
}

fn endpoint_of(method: &str, path: &str, query: &str) -> Option<Endpoint> {
    let grant = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("grant_type="));
    match (method, path) {
        ("POST", "/auth/v1/token") => match grant {
            Some("password") => Some(Endpoint::Password),
            Some("refresh_token") => Some(Endpoint::Refresh),
            Some("pkce") => Some(Endpoint::Pkce),
            _ => None,
        },
        ("POST", "/auth/v1/logout") => Some(Endpoint::Logout),
        ("GET", "/auth/v1/user") => Some(Endpoint::User),
        ("GET", "/auth/v1/authorize") => Some(Endpoint::Authorize),
        ("GET", "/auth/v1/.well-known/jwks.json") => Some(Endpoint::Jwks),
        _ => None,
    }
}

/// The `session_id` and `sub` of a bearer token (the mock trusts its own tokens' payloads;
/// signatures are checked by the code under test, not here).
fn bearer_claims(headers: &[(String, String)]) -> Option<Value> {
    let auth = headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .map(|(_, v)| v.as_str())?;
    let token = auth.strip_prefix("Bearer ")?;
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let Some(h) = bytes.get(i + 1..i + 3)
            && let Ok(n) = u8::from_str_radix(std::str::from_utf8(h).unwrap_or("zz"), 16)
        {
            out.push(n);
            i += 3;
            continue;
        }
        out.push(if b == b'+' { b' ' } else { b });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn handle(
    s: &mut State,
    issuer: &str,
    endpoint: Option<Endpoint>,
    query: &str,
    req: &Recorded,
) -> Answer {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let field = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    match endpoint {
        Some(Endpoint::Jwks) => json_answer(
            200,
            &serde_json::from_str(&TestKeys::new().jwks_json()).unwrap_or(Value::Null),
        ),
        Some(Endpoint::Password) => {
            let (email, password) = (field("email"), field("password"));
            match s.users.iter().position(|u| {
                Some(&u.email) == email.as_ref() && Some(&u.password) == password.as_ref()
            }) {
                Some(user) => json_answer(200, &new_session(s, user, issuer, None)),
                None => error(400, "invalid_credentials", "Invalid login credentials"),
            }
        }
        Some(Endpoint::Refresh) => {
            let Some(rt) = field("refresh_token") else {
                return error(400, "validation_failed", "Refresh token is not valid");
            };
            let Some(tok) = s.tokens.get(&rt) else {
                return error(
                    400,
                    "refresh_token_not_found",
                    "Invalid Refresh Token: Refresh Token Not Found",
                );
            };
            let (session, user, used_at) = (tok.session.clone(), tok.user, tok.used_at);
            let active = s.sessions.get(&session).is_some_and(|r| r.active);
            if !active {
                return error(
                    400,
                    "session_not_found",
                    "Invalid Refresh Token: No Valid Session Found",
                );
            }
            match used_at {
                None => {
                    if let Some(t) = s.tokens.get_mut(&rt) {
                        t.used_at = Some(Instant::now());
                    }
                    let ttl = s.access_ttl;
                    json_answer(200, &mint(s, user, issuer, &session, ttl))
                }
                Some(at) => {
                    let within =
                        matches!(s.rotation, Some(Rotation::ReuseInterval(d)) if at.elapsed() < d);
                    if within {
                        // Converge on the session's current token: mint an access token for
                        // it without rotating again.
                        let current = s
                            .sessions
                            .get(&session)
                            .map(|r| r.current.clone())
                            .unwrap_or_default();
                        let ttl = s.access_ttl;
                        let mut v = mint(s, user, issuer, &session, ttl);
                        if let Some(t) = s.tokens.remove(v["refresh_token"].as_str().unwrap_or(""))
                        {
                            drop(t);
                        }
                        if let Some(row) = s.sessions.get_mut(&session) {
                            row.current.clone_from(&current);
                        }
                        v["refresh_token"] = Value::String(current);
                        json_answer(200, &v)
                    } else {
                        if let Some(row) = s.sessions.get_mut(&session) {
                            row.active = false;
                        }
                        error(
                            400,
                            "refresh_token_already_used",
                            "Invalid Refresh Token: Already Used",
                        )
                    }
                }
            }
        }
        Some(Endpoint::Pkce) => {
            let (Some(code), Some(verifier)) = (field("auth_code"), field("code_verifier")) else {
                return error(
                    400,
                    "validation_failed",
                    "invalid request: both auth code and code verifier should be non-empty",
                );
            };
            let Some((user, challenge)) = s.codes.get(&code).cloned() else {
                return error(
                    404,
                    "flow_state_not_found",
                    "invalid flow state, no valid flow state found",
                );
            };
            let computed = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
            if computed != challenge {
                return error(
                    400,
                    "bad_code_verifier",
                    "code challenge does not match previously saved code verifier",
                );
            }
            s.codes.remove(&code);
            json_answer(200, &new_session(s, user, issuer, None))
        }
        Some(Endpoint::Logout) => {
            let Some(claims) = bearer_claims(&req.headers) else {
                return error(
                    401,
                    "no_authorization",
                    "This endpoint requires a valid Bearer token",
                );
            };
            let sid = claims["session_id"].as_str().unwrap_or("").to_owned();
            let Some(user) = s.sessions.get(&sid).map(|r| r.user) else {
                return error(
                    404,
                    "session_not_found",
                    "Session from session_id claim in JWT does not exist",
                );
            };
            let scope = query_param(query, "scope").unwrap_or_else(|| "global".into());
            for (id, row) in &mut s.sessions {
                let same = *id == sid;
                let hit = match scope.as_str() {
                    "local" => same,
                    "others" => row.user == user && !same,
                    _ => row.user == user,
                };
                if hit {
                    row.active = false;
                }
            }
            Answer {
                status: 204,
                headers: Vec::new(),
                body: String::new(),
            }
        }
        Some(Endpoint::User) => {
            let Some(claims) = bearer_claims(&req.headers) else {
                return error(
                    401,
                    "no_authorization",
                    "This endpoint requires a valid Bearer token",
                );
            };
            let sid = claims["session_id"].as_str().unwrap_or("");
            match s.sessions.get(sid) {
                Some(row) if row.active => match s.users.get(row.user) {
                    Some(u) => json_answer(200, &user_json(u)),
                    None => error(403, "user_not_found", "User not found"),
                },
                _ => error(
                    403,
                    "session_not_found",
                    "Session from session_id claim in JWT does not exist",
                ),
            }
        }
        Some(Endpoint::Authorize) => {
            // The provider step is skipped: the first user "consents" at once.
            let (Some(redirect), Some(challenge)) = (
                query_param(query, "redirect_to"),
                query_param(query, "code_challenge"),
            ) else {
                return error(
                    400,
                    "validation_failed",
                    "redirect_to and code_challenge are required",
                );
            };
            if s.users.is_empty() {
                return error(400, "validation_failed", "no user");
            }
            let code = issue_code(s, 0, &challenge);
            let sep = if redirect.contains('?') { '&' } else { '?' };
            Answer {
                status: 302,
                headers: vec![("Location".into(), format!("{redirect}{sep}code={code}"))],
                body: String::new(),
            }
        }
        None => error(404, "not_found", "no such endpoint"),
    }
}

fn read_request(stream: &mut TcpStream) -> Option<(Recorded, String)> {
    let mut buf = [0_u8; 8192];
    let mut data = Vec::new();
    let head_end = loop {
        if let Some(p) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        if data.len() > 64 * 1024 {
            return None;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(buf.get(..n)?),
        }
    };
    let head = String::from_utf8_lossy(data.get(..head_end)?).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let target = first.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = data.get(head_end + 4..)?.to_vec();
    while body.len() < len.min(1024 * 1024) {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => body.extend_from_slice(buf.get(..n)?),
        }
    }
    let query = target
        .split_once('?')
        .map(|(_, q)| q.to_owned())
        .unwrap_or_default();
    Some((
        Recorded {
            endpoint: None,
            method,
            target,
            headers,
            body,
        },
        query,
    ))
}

fn serve(mut stream: TcpStream, state: &Mutex<State>, issuer: &str) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Some((mut req, query)) = read_request(&mut stream) else {
        return;
    };
    let path = req.target.split('?').next().unwrap_or("").to_owned();
    let endpoint = endpoint_of(&req.method, &path, &query);
    req.endpoint = endpoint;
    let fault = {
        let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
        s.log.push(req.clone());
        let mut fault = None;
        if let Some(e) = endpoint
            && let Some(slot) = s.faults.iter_mut().find(|(fe, _, n)| *fe == e && *n > 0)
        {
            slot.2 -= 1;
            fault = Some(slot.1.clone());
        }
        s.faults.retain(|(_, _, n)| *n > 0);
        fault
    };
    let answer = match fault {
        Some(Fault::Hangup) => return,
        Some(Fault::Error { status, code }) => error(status, &code, "injected fault"),
        Some(Fault::RateLimited { retry_after_secs }) => {
            let mut a = error(429, "over_request_rate_limit", "rate limit exceeded");
            if let Some(secs) = retry_after_secs {
                a.headers.push(("Retry-After".into(), secs.to_string()));
            }
            a
        }
        Some(Fault::Garbage) => Answer {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: "<html>not json</html>".into(),
        },
        Some(Fault::Delay(d)) => {
            std::thread::sleep(d);
            let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
            handle(&mut s, issuer, endpoint, &query, &req)
        }
        None => {
            let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
            handle(&mut s, issuer, endpoint, &query, &req)
        }
    };
    let mut out = format!("HTTP/1.1 {} Mock\r\n", answer.status);
    for (n, v) in &answer.headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{}",
        answer.body.len(),
        answer.body
    ));
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.flush();
}
