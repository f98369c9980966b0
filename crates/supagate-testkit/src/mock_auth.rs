//! [`MockAuth`]: a loopback Supabase Auth (GoTrue) server for tests: the token endpoint
//! (password, refresh_token with rotation and reuse detection, pkce), logout, user, authorize
//! and the JWKS, with fault injection and a log of what it received. As strict as the real
//! server where a kinder mock would hide bugs: GoTrue's refresh-token formats (12-character v1
//! tokens, v2 tokens with their checksum, HMAC and counter) and its format check, the
//! per-address limit of the token endpoint (`Sb-Forwarded-For` with a secret key), no leeway
//! on `exp` for `GET /user` and `POST /logout`, the gateway's `apikey` check.
// `serde_json::Value` indexing: reads of missing members give `Null`; the one write is to an
// object this module built.
#![allow(clippy::indexing_slicing)]

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac as _;
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::{TestKeys, TokenBuilder};

/// How a refresh token that was already used is treated (GoTrue's
/// `SECURITY_REFRESH_TOKEN_ROTATION_ENABLED` / `REUSE_INTERVAL`).
///
/// With [`RefreshFormat::V2`] tokens both are GoTrue's rules exactly: the token just before
/// the session's current one is always accepted ("fail-to-save": the session's current token
/// again, not rotated), an older one within the interval too, and any other reuse logs the
/// session out (400 `refresh_token_already_used`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rotation {
    /// Reuse interval 0. With v1 tokens stricter than GoTrue: any second use ends the session
    /// (GoTrue would hand the parent of the current token the current one again), so a client
    /// that refreshes twice is caught. The default.
    Strict,
    /// A second use within the interval gets the session's current token again (concurrent
    /// refreshes converge), and the parent of the current token always does (GoTrue's v1
    /// rule); any other reuse ends the session as with `Strict`.
    ReuseInterval(Duration),
}

/// Which refresh tokens the mock issues (GoTrue's `REFRESH_TOKEN_ALGORITHM_VERSION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RefreshFormat {
    /// v1: 12 characters of lowercase base32 (`[a-z2-7]`), one row each. The default.
    #[default]
    Legacy,
    /// v2: base64url of `[0x00][session id, 16 bytes][uvarint counter][HMAC-SHA-256 of
    /// the above with the session's key, 16 bytes][SHA-256 of everything before, 4 bytes]`.
    V2,
}

/// The auth server's rate limit of the token endpoint (every grant in one bucket), per client
/// address: GoTrue's `RATE_LIMIT_TOKEN_REFRESH`, a token bucket refilled at `per_five_minutes`
/// over 5 minutes, holding at most `burst`. The address is `Sb-Forwarded-For` on a request
/// made with a secret key, else the TCP peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenLimit {
    /// Requests per 5 minutes.
    pub per_five_minutes: u32,
    /// Most requests at once.
    pub burst: u32,
}

impl TokenLimit {
    /// The auth server's default: 150 per 5 minutes, bursts of 30.
    pub const DEFAULT: TokenLimit = TokenLimit {
        per_five_minutes: 150,
        burst: 30,
    };

    /// `per_five_minutes` requests per 5 minutes, `burst` at once.
    #[must_use]
    pub fn new(per_five_minutes: u32, burst: u32) -> Self {
        TokenLimit {
            per_five_minutes,
            burst,
        }
    }
}

impl Default for TokenLimit {
    fn default() -> Self {
        TokenLimit::DEFAULT
    }
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
    /// The status the mock answered (0 until it answered, or when it hung up).
    pub status: u16,
    /// The address the auth server's rate limit counted it against (for the token
    /// endpoint): `Sb-Forwarded-For` with a secret key, else the TCP peer.
    pub limited_as: Option<String>,
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
    /// The token this one was issued in exchange for.
    parent: Option<String>,
}

#[derive(Debug)]
struct SessionRow {
    user: usize,
    active: bool,
    /// The session's current v1 token.
    current: String,
    /// The format of the session's refresh tokens.
    format: RefreshFormat,
    /// v2: the counter of the current token, the session's HMAC key, the last refresh.
    counter: u64,
    key: [u8; 32],
    refreshed_at: Instant,
}

/// A token bucket of the token endpoint's limit.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
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
    format: RefreshFormat,
    limit: Option<TokenLimit>,
    buckets: HashMap<String, Bucket>,
    forwarded_for: bool,
    /// How many requests the per-address limit refused.
    limited: usize,
    /// Seeds the sessions' v2 HMAC keys.
    seed: [u8; 32],
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
        let mut seed = [0u8; 32];
        for (i, chunk) in seed.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&RandomState::new().hash_one(i).to_le_bytes());
        }
        let state = Arc::new(Mutex::new(State {
            access_ttl: 3600,
            rotation: Some(Rotation::Strict),
            limit: Some(TokenLimit::DEFAULT),
            forwarded_for: true,
            seed,
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

    /// Which refresh tokens sessions made from now on get. Default: [`RefreshFormat::Legacy`].
    pub fn set_refresh_format(&self, format: RefreshFormat) {
        self.lock().format = format;
    }

    /// The token endpoint's per-address limit; `None` turns it off (a self-hosted GoTrue
    /// without `RATE_LIMIT_HEADER`). Default: [`TokenLimit::DEFAULT`], as the hosted auth
    /// server. Set it before the requests: buckets already started keep their level.
    pub fn set_token_limit(&self, limit: Option<TokenLimit>) {
        let mut s = self.lock();
        s.limit = limit;
        s.buckets.clear();
    }

    /// Whether `Sb-Forwarded-For` on a request made with a secret key names the address the
    /// limit counts (the project setting `security_sb_forwarded_for_enabled`). Default: on.
    pub fn set_forwarded_for(&self, enabled: bool) {
        self.lock().forwarded_for = enabled;
    }

    /// The project's secret key, which the mock's gateway accepts and which makes it believe
    /// `Sb-Forwarded-For`: [`TestKeys::SECRET_KEY`].
    #[must_use]
    pub fn secret_key(&self) -> &'static str {
        TestKeys::SECRET_KEY
    }

    /// The project's publishable key: [`TestKeys::PUBLISHABLE_KEY`].
    #[must_use]
    pub fn publishable_key(&self) -> &'static str {
        TestKeys::PUBLISHABLE_KEY
    }

    /// How many token-endpoint requests the per-address limit refused (429
    /// `over_request_rate_limit` from the limit, not from an injected fault).
    #[must_use]
    pub fn rate_limited(&self) -> usize {
        self.lock().limited
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

/// The session JSON the token endpoint answers, with a new access token for `session` and
/// `refresh` as its refresh token.
fn session_answer(
    s: &State,
    user: usize,
    issuer: &str,
    session: &str,
    refresh: String,
    ttl: i64,
) -> Value {
    let Some(u) = s.users.get(user) else {
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
        "user": user_json(u),
    })
}

/// A new v1 refresh token of `session` (12 characters of lowercase base32, as GoTrue's
/// `SecureAlphanumeric(12)`), child of `parent`, now the session's current one.
fn new_v1(s: &mut State, session: &str, user: usize, parent: Option<String>) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let token = loop {
        s.counter += 1;
        let mut h = sha2::Sha256::new();
        h.update(s.seed);
        h.update(s.counter.to_le_bytes());
        let digest = h.finalize();
        let t: String = digest
            .iter()
            .take(12)
            .map(|b| char::from(ALPHABET[usize::from(b % 32)]))
            .collect();
        if !s.tokens.contains_key(&t) {
            break t;
        }
    };
    s.tokens.insert(
        token.clone(),
        RefreshToken {
            session: session.to_owned(),
            user,
            used_at: None,
            parent,
        },
    );
    if let Some(row) = s.sessions.get_mut(session) {
        row.current.clone_from(&token);
    }
    token
}

/// `counter` as an unsigned LEB128 varint (Go's `binary.AppendUvarint`).
fn uvarint(mut counter: u64, out: &mut Vec<u8>) {
    while counter >= 0x80 {
        out.push((counter as u8) | 0x80);
        counter >>= 7;
    }
    out.push(counter as u8);
}

/// GoTrue's v2 refresh token for `session` at `counter`, signed with the session's key.
fn v2_token(session: &str, counter: u64, key: &[u8; 32]) -> String {
    let id = uuid_bytes(session).unwrap_or([0; 16]);
    let mut bytes = vec![0u8];
    bytes.extend_from_slice(&id);
    uvarint(counter, &mut bytes);
    bytes.extend_from_slice(&v2_signature(key, &bytes));
    let sum = sha2::Sha256::digest(&bytes);
    bytes.extend_from_slice(sum.get(..4).unwrap_or_default());
    URL_SAFE_NO_PAD.encode(bytes)
}

fn v2_signature(key: &[u8; 32], signed: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    if let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(key) {
        mac.update(signed);
        let full = mac.finalize().into_bytes();
        out.copy_from_slice(full.get(..16).unwrap_or(&[0; 16]));
    }
    out
}

/// A parsed v2 token: session id (hyphenated), counter, and whether the signature is the
/// session key's (checked by the caller, who has the key).
struct V2 {
    session: String,
    counter: u64,
    signed: Vec<u8>,
    signature: [u8; 16],
}

/// GoTrue's `ParseRefreshToken`: base64url without padding, at least 38 bytes, version 0,
/// the checksum, a well-formed counter, exactly 16 signature bytes after it.
fn parse_v2(token: &str) -> Option<V2> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    if bytes.len() < 38 || bytes.first() != Some(&0) {
        return None;
    }
    let (body, sum) = bytes.split_at(bytes.len() - 4);
    if sha2::Sha256::digest(body).get(..4)? != sum {
        return None;
    }
    let id: [u8; 16] = body.get(1..17)?.try_into().ok()?;
    let mut counter = 0u64;
    let mut at = 17;
    let mut shift = 0;
    loop {
        let b = *body.get(at)?;
        at += 1;
        if shift > 63 {
            return None;
        }
        counter |= u64::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            break;
        }
    }
    let signature: [u8; 16] = body.get(at..)?.try_into().ok()?;
    Some(V2 {
        session: uuid_text(&id),
        counter,
        signed: body.get(..at)?.to_vec(),
        signature,
    })
}

fn uuid_bytes(id: &str) -> Option<[u8; 16]> {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    (hex.len() == 32).then_some(out)
}

fn uuid_text(b: &[u8; 16]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Constant-time enough for a mock; the point is the check, not its timing.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn new_session(s: &mut State, user: usize, issuer: &str, ttl: Option<i64>) -> Value {
    s.counter += 1;
    let session = format!("5e7c1a2b-3d4f-4a6b-8c9d-{:012x}", s.counter);
    let mut h = sha2::Sha256::new();
    h.update(s.seed);
    h.update(session.as_bytes());
    let key: [u8; 32] = h.finalize().into();
    s.sessions.insert(
        session.clone(),
        SessionRow {
            user,
            active: true,
            current: String::new(),
            format: s.format,
            counter: 0,
            key,
            refreshed_at: Instant::now(),
        },
    );
    let refresh = match s.format {
        RefreshFormat::Legacy => new_v1(s, &session, user, None),
        RefreshFormat::V2 => v2_token(&session, 0, &key),
    };
    session_answer(
        s,
        user,
        issuer,
        &session,
        refresh,
        ttl.unwrap_or(s.access_ttl),
    )
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

/// GoTrue's `requireAuthentication`: the bearer (`(?i)^bearer (\S+)$`, else 401
/// `no_authorization`), its signature (the mock's ES256 key) and `exp` with **no leeway**
/// (`now >= exp` is expired; golang-jwt), else 403 `bad_jwt`. The claims when it passes.
fn authenticate(headers: &[(String, String)]) -> Result<Value, Answer> {
    let no_auth = || {
        error(
            401,
            "no_authorization",
            "This endpoint requires a valid Bearer token",
        )
    };
    let auth = headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .map(|(_, v)| v.as_str())
        .ok_or_else(no_auth)?;
    let token = auth
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("bearer "))
        .and_then(|_| auth.get(7..))
        .filter(|t| !t.is_empty() && !t.bytes().any(|b| b.is_ascii_whitespace()))
        .ok_or_else(no_auth)?;
    let bad = |why: &str| {
        error(
            403,
            "bad_jwt",
            &format!("invalid JWT: unable to parse or verify signature, {why}"),
        )
    };
    let claims = verify_es256(token)
        .ok_or_else(|| bad("token signature is invalid: signature is invalid"))?;
    if let Some(exp) = claims.get("exp") {
        let exp = exp
            .as_f64()
            .ok_or_else(|| bad("token has invalid claims"))?;
        if unix_now() as f64 >= exp {
            return Err(bad("token has invalid claims: token is expired"));
        }
    }
    Ok(claims)
}

/// The payload of an ES256 token signed with the mock's key: checked here independently of
/// supagate-jwt (jsonwebtoken's pure-Rust verifier, named explicitly as the signer is).
fn verify_es256(token: &str) -> Option<Value> {
    let (input, signature) = token.rsplit_once('.')?;
    let (header, payload) = input.split_once('.')?;
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    if header["alg"] != "ES256" {
        return None;
    }
    let key = jsonwebtoken::DecodingKey::from_ec_components(crate::ES256_X, crate::ES256_Y).ok()?;
    let provider = &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
    let verifier = (provider.verifier_factory)(&jsonwebtoken::Algorithm::ES256, &key).ok()?;
    verifier
        .verify(input.as_bytes(), &URL_SAFE_NO_PAD.decode(signature).ok()?)
        .ok()?;
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

fn not_valid() -> Answer {
    error(400, "validation_failed", "Refresh token is not valid")
}

/// The reuse interval of the rotation setting.
fn reuse_interval(s: &State) -> Duration {
    match s.rotation {
        Some(Rotation::ReuseInterval(d)) => d,
        _ => Duration::ZERO,
    }
}

/// `grant_type=refresh_token`, as GoTrue's `RefreshTokenGrant`: the format check first (fewer
/// than 12 characters, or 12 that are not `[a-z0-9]`, or any other length that does not parse
/// as a v2 token: 400 `validation_failed`), then v1 rows or v2 counters.
fn refresh(s: &mut State, issuer: &str, token: Option<String>) -> Answer {
    let Some(rt) = token else {
        return not_valid();
    };
    match rt.len() {
        0..=11 => not_valid(),
        12 if !rt
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) =>
        {
            not_valid()
        }
        12 => refresh_v1(s, issuer, &rt),
        _ => match parse_v2(&rt) {
            Some(v2) => refresh_v2(s, issuer, &v2),
            None => not_valid(),
        },
    }
}

fn refresh_v1(s: &mut State, issuer: &str, rt: &str) -> Answer {
    let Some(tok) = s.tokens.get(rt) else {
        return error(
            400,
            "refresh_token_not_found",
            "Invalid Refresh Token: Refresh Token Not Found",
        );
    };
    let (session, user, used_at) = (tok.session.clone(), tok.user, tok.used_at);
    let Some(row) = s.sessions.get(&session).filter(|r| r.active) else {
        return error(
            400,
            "session_not_found",
            "Invalid Refresh Token: No Valid Session Found",
        );
    };
    let current = row.current.clone();
    let Some(at) = used_at else {
        if let Some(t) = s.tokens.get_mut(rt) {
            t.used_at = Some(Instant::now());
        }
        let next = new_v1(s, &session, user, Some(rt.to_owned()));
        return json_answer(
            200,
            &session_answer(s, user, issuer, &session, next, s.access_ttl),
        );
    };
    // Reused. GoTrue hands the parent of the current token the current one again (the client
    // failed to save it), and so does a reuse within the interval; `Strict` is stricter.
    let parent_of_current = s
        .tokens
        .get(&current)
        .is_some_and(|c| c.parent.as_deref() == Some(rt));
    let lenient = matches!(s.rotation, Some(Rotation::ReuseInterval(_)));
    if lenient && (parent_of_current || at.elapsed() < reuse_interval(s)) {
        return json_answer(
            200,
            &session_answer(s, user, issuer, &session, current, s.access_ttl),
        );
    }
    if let Some(row) = s.sessions.get_mut(&session) {
        row.active = false;
    }
    error(
        400,
        "refresh_token_already_used",
        "Invalid Refresh Token: Already Used",
    )
}

fn refresh_v2(s: &mut State, issuer: &str, token: &V2) -> Answer {
    let not_found = || {
        error(
            400,
            "refresh_token_not_found",
            "Invalid Refresh Token: Refresh Token Not Found",
        )
    };
    let interval = reuse_interval(s);
    let Some(row) = s.sessions.get_mut(&token.session).filter(|r| r.active) else {
        return not_found();
    };
    if row.format != RefreshFormat::V2
        || !same(&v2_signature(&row.key, &token.signed), &token.signature)
    {
        return not_found();
    }
    let (user, session) = (row.user, token.session.clone());
    let next = match row.counter.checked_sub(token.counter) {
        None => {
            return error(
                400,
                "validation_failed",
                "Invalid Refresh Token: Not Issued By This Server",
            );
        }
        Some(0) => {
            row.counter += 1;
            row.refreshed_at = Instant::now();
            v2_token(&session, row.counter, &row.key)
        }
        // Fail-to-save (one behind: always), or a concurrent refresh within the interval: the
        // current token again, not rotated.
        Some(diff) if diff == 1 || row.refreshed_at.elapsed() < interval => {
            row.refreshed_at = Instant::now();
            v2_token(&session, row.counter, &row.key)
        }
        Some(_) => {
            row.active = false;
            return error(
                400,
                "refresh_token_already_used",
                "Invalid Refresh Token: Already Used",
            );
        }
    };
    json_answer(
        200,
        &session_answer(s, user, issuer, &session, next, s.access_ttl),
    )
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
        Some(Endpoint::Refresh) => refresh(s, issuer, field("refresh_token")),
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
            let claims = match authenticate(&req.headers) {
                Ok(c) => c,
                Err(answer) => return answer,
            };
            let sid = claims["session_id"].as_str().unwrap_or("").to_owned();
            let Some(user) = s.sessions.get(&sid).filter(|r| r.active).map(|r| r.user) else {
                return error(
                    403,
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
            let claims = match authenticate(&req.headers) {
                Ok(c) => c,
                Err(answer) => return answer,
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
            status: 0,
            limited_as: None,
        },
        query,
    ))
}

/// The API gateway in front of the auth server: `apikey` is required on the API endpoints
/// (the JWKS and the browser-facing authorize endpoint excepted); an `sb_secret_` or
/// `sb_publishable_` key must be one of the project's; a secret key is refused from a browser
/// (`User-Agent: Mozilla/…`), as Supabase's gateway refuses it.
fn gateway(endpoint: Option<Endpoint>, req: &Recorded) -> Option<Answer> {
    if matches!(endpoint, None | Some(Endpoint::Jwks | Endpoint::Authorize)) {
        return None;
    }
    let refuse = |message: &str| json_answer(401, &json!({ "message": message }));
    let Some(key) = req.header("apikey") else {
        return Some(refuse("No API key found in request"));
    };
    let secret = [TestKeys::SECRET_KEY, TestKeys::SECRET_AUTOMATIONS_KEY].contains(&key);
    let publishable = [TestKeys::PUBLISHABLE_KEY, TestKeys::PUBLISHABLE_WEB_KEY].contains(&key);
    if (key.starts_with("sb_secret_") && !secret)
        || (key.starts_with("sb_publishable_") && !publishable)
    {
        return Some(refuse("Invalid API key"));
    }
    let browser = req
        .header("user-agent")
        .is_some_and(|ua| ua.starts_with("Mozilla/"));
    if secret && browser {
        return Some(refuse("Forbidden use of secret API key in browser"));
    }
    None
}

/// The address the token endpoint's limit counts a request against: `Sb-Forwarded-For` (its
/// first entry, an IP address without a port) on a request made with a secret key when the
/// project allows it, else the TCP peer. An unusable header is ignored, as GoTrue does.
fn limit_key(s: &State, req: &Recorded, peer: IpAddr) -> String {
    let secret = req
        .header("apikey")
        .is_some_and(|k| [TestKeys::SECRET_KEY, TestKeys::SECRET_AUTOMATIONS_KEY].contains(&k));
    if s.forwarded_for && secret {
        let forwarded = req
            .header("sb-forwarded-for")
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok());
        if let Some(ip) = forwarded {
            return ip.to_string();
        }
    }
    peer.to_string()
}

/// Takes one request from `key`'s bucket; `false` when it is empty.
fn take(s: &mut State, key: &str) -> bool {
    let Some(limit) = s.limit else {
        return true;
    };
    let rate = f64::from(limit.per_five_minutes) / 300.0;
    let burst = f64::from(limit.burst);
    let now = Instant::now();
    let b = s.buckets.entry(key.to_owned()).or_insert(Bucket {
        tokens: burst,
        at: now,
    });
    b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(burst);
    b.at = now;
    if b.tokens >= 1.0 {
        b.tokens -= 1.0;
        true
    } else {
        false
    }
}

fn serve(mut stream: TcpStream, state: &Mutex<State>, issuer: &str) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let peer = stream
        .peer_addr()
        .map_or(IpAddr::from([127, 0, 0, 1]), |a| a.ip());
    let Some((mut req, query)) = read_request(&mut stream) else {
        return;
    };
    let path = req.target.split('?').next().unwrap_or("").to_owned();
    let endpoint = endpoint_of(&req.method, &path, &query);
    req.endpoint = endpoint;
    let token_endpoint = matches!(
        endpoint,
        Some(Endpoint::Password | Endpoint::Refresh | Endpoint::Pkce)
    );
    let (index, refused, fault) = {
        let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
        if token_endpoint {
            req.limited_as = Some(limit_key(&s, &req, peer));
        }
        let index = s.log.len();
        s.log.push(req.clone());
        let refused = gateway(endpoint, &req).or_else(|| {
            let key = req.limited_as.as_deref()?;
            (!take(&mut s, key)).then(|| {
                s.limited += 1;
                error(429, "over_request_rate_limit", "Request rate limit reached")
            })
        });
        let mut fault = None;
        if refused.is_none()
            && let Some(e) = endpoint
            && let Some(slot) = s.faults.iter_mut().find(|(fe, _, n)| *fe == e && *n > 0)
        {
            slot.2 -= 1;
            fault = Some(slot.1.clone());
        }
        s.faults.retain(|(_, _, n)| *n > 0);
        (index, refused, fault)
    };
    let answer = match (refused, fault) {
        (Some(answer), _) => answer,
        (None, fault) => match fault {
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
        },
    };
    if let Some(r) = state
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .log
        .get_mut(index)
    {
        r.status = answer.status;
    }
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
