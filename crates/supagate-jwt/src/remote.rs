//! [`RemoteJwks`]: the project's published JWK set, fetched, cached and refreshed so that key
//! rotation is a non-event.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};
use std::time::Duration;

use crate::crypto::Backend;
use crate::error::{ConfigError, Error};
use crate::keys::{JwkSet, KeySet, KeySource};
use crate::verifier::{Clock, SystemClock};

/// Default cache lifetime of a fetched set (shortened by a smaller `Cache-Control: max-age`).
pub const DEFAULT_JWKS_TTL: Duration = Duration::from_secs(600);
/// Default minimum time between two fetches triggered by unknown `kid`s or failures.
pub const DEFAULT_JWKS_COOLDOWN: Duration = Duration::from_secs(30);
/// Default time a set stays usable past its expiry while refreshes fail.
pub const DEFAULT_JWKS_MAX_STALE: Duration = Duration::from_secs(600);
/// Default connect and total timeout of one fetch.
pub const DEFAULT_JWKS_TIMEOUT: Duration = Duration::from_secs(5);
/// Default largest accepted response body.
pub const DEFAULT_JWKS_MAX_BODY: usize = 64 * 1024;
/// How long before expiry a background refresh starts.
const REFRESH_AHEAD_SECS: i64 = 60;

/// What one fetch returned.
#[derive(Debug)]
struct Fetched {
    body: Vec<u8>,
    max_age: Option<u64>,
}

/// Why a fetch failed (logged by nothing here: the verifier only ever sees
/// [`Error::KeysUnavailable`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FetchError {
    Transport,
    Status,
    TooLarge,
    Invalid,
}

#[derive(Debug, Default)]
struct State {
    keys: Option<Arc<KeySet>>,
    /// When the cached set expires (clock seconds).
    expires_at: i64,
}

#[derive(Debug, Default)]
struct Flight {
    in_flight: bool,
    last_attempt: Option<i64>,
    generation: u64,
    fetches: u64,
    last_error: Option<FetchError>,
}

struct Shared {
    url: String,
    ttl: i64,
    cooldown: i64,
    max_stale: i64,
    wait: Duration,
    max_body: usize,
    backend: Backend,
    clock: Arc<dyn Clock>,
    agent: ureq::Agent,
    state: RwLock<State>,
    flight: Mutex<Flight>,
    done: Condvar,
}

/// A [`KeySource`] that follows the JWK set Supabase publishes at
/// `<url>/auth/v1/.well-known/jwks.json`.
///
/// - **Fetching**: the URL comes from configuration only (https, or plain http to a loopback
///   host for tests), never from a token; no redirects, no proxy; connect and total timeouts
///   (5 s); a body cap (64 KiB) and the key policy of [`JwkSet::from_json`] (at most
///   [`MAX_JWKS_KEYS`](crate::MAX_JWKS_KEYS) keys). An empty set is valid (an HS256-only project).
/// - **Caching**: a set lives 10 minutes, or less when the response says
///   `Cache-Control: max-age`; a minute before expiry a background refresh starts. Verification
///   reads the current set without ever waiting on the network.
/// - **Rotation**: a token whose `kid` is unknown triggers at most one fetch per cooldown
///   (30 s); concurrent requests share that fetch (single-flight) and wait for it at most the
///   fetch timeout.
/// - **Start-up**: the first verification waits (bounded) for the first fetch; or call
///   [`RemoteJwks::refresh_now`] at start-up.
/// - **Outages**: a failed fetch keeps the last good set for up to 10 minutes past its expiry;
///   after that, and before the first successful fetch, verification answers
///   [`Error::KeysUnavailable`] (503), never 401 and never acceptance.
/// - [`RemoteJwks::invalidate`] drops the set at once (emergency revocation) and refetches.
///
/// Fetches run on their own thread; the blocking wait of an unknown-`kid` request is bounded by
/// the fetch timeout.
///
/// # Examples
///
/// ```no_run
/// use supagate_jwt::{RemoteJwks, Verifier};
///
/// let url = "https://abcdefghijklmnopqrst.supabase.co";
/// let jwks = RemoteJwks::builder(format!("{url}/auth/v1/.well-known/jwks.json")).build()?;
/// jwks.refresh_now()?; // optional: fail start-up if the keys cannot be fetched
/// let verifier = Verifier::from_supabase_url(url).key_source(jwks).build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct RemoteJwks {
    shared: Arc<Shared>,
}

impl fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &*self.shared;
        let keys = s
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys
            .as_ref()
            .map(|k| k.len());
        f.debug_struct("RemoteJwks")
            .field("url", &s.url)
            .field("ttl_secs", &s.ttl)
            .field("cooldown_secs", &s.cooldown)
            .field("max_stale_secs", &s.max_stale)
            .field("keys", &keys)
            .finish_non_exhaustive()
    }
}

impl RemoteJwks {
    /// A builder for the set at `url`.
    pub fn builder(url: impl Into<String>) -> RemoteJwksBuilder {
        RemoteJwksBuilder {
            url: url.into(),
            ttl: DEFAULT_JWKS_TTL,
            cooldown: DEFAULT_JWKS_COOLDOWN,
            max_stale: DEFAULT_JWKS_MAX_STALE,
            timeout: DEFAULT_JWKS_TIMEOUT,
            max_body: DEFAULT_JWKS_MAX_BODY,
            backend: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// Fetches now, ignoring the cooldown, and waits for the result: for start-up, so that a
    /// service does not come up without keys.
    ///
    /// # Errors
    ///
    /// [`Error::KeysUnavailable`] when the fetch failed or timed out.
    pub fn refresh_now(&self) -> Result<(), Error> {
        let s = &self.shared;
        let generation = s.start_fetch(true);
        s.wait_for(generation);
        let flight = s.flight.lock().unwrap_or_else(PoisonError::into_inner);
        match (flight.in_flight, flight.last_error) {
            (false, None) => Ok(()),
            _ => Err(Error::KeysUnavailable),
        }
    }

    /// Drops the cached set at once, so that no key in it verifies anything more, and starts a
    /// fetch ignoring the cooldown. Until that fetch succeeds, asymmetric tokens get
    /// [`Error::KeysUnavailable`].
    pub fn invalidate(&self) {
        let s = &self.shared;
        s.state.write().unwrap_or_else(PoisonError::into_inner).keys = None;
        let _ = s.start_fetch(true);
    }

    /// How many fetches were started since this source was built (for tests and metrics).
    #[must_use]
    pub fn fetch_count(&self) -> u64 {
        self.shared
            .flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .fetches
    }
}

impl KeySource for RemoteJwks {
    fn current(&self) -> Result<Arc<KeySet>, Error> {
        let s = &self.shared;
        let now = s.clock.now();
        let (keys, expires_at) = {
            let st = s.state.read().unwrap_or_else(PoisonError::into_inner);
            (st.keys.clone(), st.expires_at)
        };
        let Some(keys) = keys else {
            // Nothing to verify with: wait (bounded) for the first fetch, or for the refetch
            // after `invalidate`, rather than refusing.
            s.wait_for(s.start_fetch(false));
            let st = s.state.read().unwrap_or_else(PoisonError::into_inner);
            return st.keys.clone().ok_or(Error::KeysUnavailable);
        };
        if now >= expires_at.saturating_sub(REFRESH_AHEAD_SECS) {
            let _ = s.start_fetch(false);
        }
        if now >= expires_at.saturating_add(s.max_stale) {
            return Err(Error::KeysUnavailable);
        }
        Ok(keys)
    }

    fn unknown_kid(&self, kid: &str) -> Option<Arc<KeySet>> {
        let s = &self.shared;
        let generation = s.start_fetch(false)?;
        s.wait_for(Some(generation));
        let keys = s
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys
            .clone()?;
        keys.find(kid).is_some().then_some(keys)
    }
}

impl Shared {
    /// Starts a fetch unless one is in flight (then its generation is returned, to wait for)
    /// or the cooldown since the last attempt has not passed (`None`, unless `force`).
    fn start_fetch(self: &Arc<Self>, force: bool) -> Option<u64> {
        let now = self.clock.now();
        let mut flight = self.flight.lock().unwrap_or_else(PoisonError::into_inner);
        if flight.in_flight {
            return Some(flight.generation);
        }
        if !force
            && flight
                .last_attempt
                .is_some_and(|t| now < t.saturating_add(self.cooldown))
        {
            return None;
        }
        flight.in_flight = true;
        flight.last_attempt = Some(now);
        flight.fetches += 1;
        let generation = flight.generation;
        drop(flight);
        let shared = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("supagate-jwks".into())
            .spawn(move || shared.run_fetch());
        if spawned.is_err() {
            self.finish(Err(FetchError::Transport));
        }
        Some(generation)
    }

    fn run_fetch(&self) {
        let result = self.fetch().and_then(|f| {
            let json = std::str::from_utf8(&f.body).map_err(|_| FetchError::Invalid)?;
            let set = JwkSet::from_json(json).map_err(|_| FetchError::Invalid)?;
            Ok((KeySet::prepare(&set, self.backend), f.max_age))
        });
        self.finish(result);
    }

    fn finish(&self, result: Result<(KeySet, Option<u64>), FetchError>) {
        let mut error = None;
        match result {
            Ok((keys, max_age)) => {
                let ttl = max_age
                    .map_or(self.ttl, |m| i64::try_from(m).unwrap_or(i64::MAX))
                    .min(self.ttl);
                let mut st = self.state.write().unwrap_or_else(PoisonError::into_inner);
                st.keys = Some(Arc::new(keys));
                st.expires_at = self.clock.now().saturating_add(ttl);
            }
            Err(e) => error = Some(e),
        }
        let mut flight = self.flight.lock().unwrap_or_else(PoisonError::into_inner);
        flight.in_flight = false;
        flight.generation += 1;
        flight.last_error = error;
        drop(flight);
        self.done.notify_all();
    }

    /// Waits (at most the fetch timeout plus a second) until `generation` has completed.
    fn wait_for(&self, generation: Option<u64>) {
        let Some(generation) = generation else { return };
        let flight = self.flight.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = self
            .done
            .wait_timeout_while(flight, self.wait, |f| {
                f.in_flight && f.generation == generation
            })
            .unwrap_or_else(PoisonError::into_inner);
    }

    fn fetch(&self) -> Result<Fetched, FetchError> {
        let mut res = self
            .agent
            .get(&self.url)
            .header("accept", "application/json")
            .call()
            .map_err(|_| FetchError::Transport)?;
        if res.status() != 200 {
            return Err(FetchError::Status);
        }
        let max_age = res
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_max_age);
        let limit = u64::try_from(self.max_body).unwrap_or(u64::MAX);
        let body = res
            .body_mut()
            .with_config()
            .limit(limit.saturating_add(1))
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => FetchError::TooLarge,
                _ => FetchError::Transport,
            })?;
        if body.len() > self.max_body {
            return Err(FetchError::TooLarge);
        }
        Ok(Fetched { body, max_age })
    }
}

/// `max-age=N` from a `Cache-Control` value (`no-store`/`no-cache` count as 0).
fn parse_max_age(value: &str) -> Option<u64> {
    let mut out = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(0);
        }
        if let Some(n) = lower.strip_prefix("max-age=") {
            out = n.trim_matches('"').parse().ok();
        }
    }
    out
}

/// Builds a [`RemoteJwks`]. Every setter documents its default.
#[must_use]
pub struct RemoteJwksBuilder {
    url: String,
    ttl: Duration,
    cooldown: Duration,
    max_stale: Duration,
    timeout: Duration,
    max_body: usize,
    backend: Option<Backend>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for RemoteJwksBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJwksBuilder")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl RemoteJwksBuilder {
    /// Cache lifetime of a fetched set. Default: [`DEFAULT_JWKS_TTL`] (10 minutes, Supabase's
    /// guidance); a shorter `Cache-Control: max-age` wins.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Minimum time between fetches triggered by unknown `kid`s, expiry or failures. Default:
    /// [`DEFAULT_JWKS_COOLDOWN`].
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// How long past its expiry the last good set is still used while fetches fail. Default:
    /// [`DEFAULT_JWKS_MAX_STALE`].
    pub fn max_stale(mut self, max_stale: Duration) -> Self {
        self.max_stale = max_stale;
        self
    }

    /// Connect and total timeout of one fetch, and the bound on how long an unknown-`kid`
    /// request waits for it. Default: [`DEFAULT_JWKS_TIMEOUT`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Largest response body accepted. Default: [`DEFAULT_JWKS_MAX_BODY`].
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// The crypto backend for the fetched keys. Default: [`Backend::preferred`]. Use the same
    /// backend as the verifier.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = Some(backend);
        self
    }

    /// The clock for TTL, cooldown and staleness. Default: the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Builds the source. Nothing is fetched yet: the first verification starts a fetch, or
    /// call [`RemoteJwks::refresh_now`].
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidJwksUrl`] for a URL that is not https (or http to a loopback
    /// host), or that carries credentials, a query or a fragment;
    /// [`ConfigError::NoCryptoBackend`] without a backend.
    pub fn build(self) -> Result<RemoteJwks, ConfigError> {
        check_url(&self.url)?;
        let backend = match self.backend.or_else(Backend::preferred) {
            Some(b) => b,
            None => {
                return Err(ConfigError::NoCryptoBackend);
            }
        };
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .build();
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(self.timeout))
            .timeout_connect(Some(self.timeout))
            .max_redirects(0)
            .http_status_as_error(false)
            .proxy(None)
            .tls_config(tls)
            .user_agent(concat!("supagate-jwt/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Ok(RemoteJwks {
            shared: Arc::new(Shared {
                url: self.url,
                ttl: secs(self.ttl),
                cooldown: secs(self.cooldown),
                max_stale: secs(self.max_stale),
                wait: self.timeout.saturating_add(Duration::from_secs(1)),
                max_body: self.max_body,
                backend,
                clock: self.clock,
                agent,
                state: RwLock::new(State::default()),
                flight: Mutex::new(Flight::default()),
                done: Condvar::new(),
            }),
        })
    }
}

fn check_url(url: &str) -> Result<(), ConfigError> {
    let bad = || ConfigError::InvalidJwksUrl;
    let uri: http::Uri = url.parse().map_err(|_| bad())?;
    let authority = uri.authority().ok_or_else(bad)?;
    if authority.as_str().contains('@') || uri.query().is_some() || url.contains('#') {
        return Err(bad());
    }
    let host = authority.host();
    let loopback = host == "localhost"
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback());
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if loopback => Ok(()),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        for ok in [
            "https://abc.supabase.co/auth/v1/.well-known/jwks.json",
            "http://127.0.0.1:9999/jwks",
            "http://localhost/jwks",
            "http://[::1]:80/jwks",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://abc.supabase.co/jwks",
            "ftp://abc.supabase.co/jwks",
            "https://user:pw@abc.supabase.co/jwks",
            "https://abc.supabase.co/jwks?x=1",
            "https://abc.supabase.co/jwks#f",
            "/jwks",
            "",
            "http://127.0.0.1.evil.example/jwks",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn max_age() {
        assert_eq!(parse_max_age("public, max-age=300"), Some(300));
        assert_eq!(parse_max_age("max-age=\"60\""), Some(60));
        assert_eq!(parse_max_age("no-store"), Some(0));
        assert_eq!(parse_max_age("public"), None);
        assert_eq!(parse_max_age("max-age=abc"), None);
    }
}
