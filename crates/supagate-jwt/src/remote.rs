//! [`RemoteJwks`]: the project's published JWK set, fetched, cached and refreshed so that key
//! rotation is a non-event.
//!
//! Nothing here blocks a caller: fetches run on a background thread with its own small Tokio
//! runtime (hyper + rustls), verification reads the cached set, and a request that needs a
//! fetch's result waits for it asynchronously ([`KeySource::wait_past`]).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::{mpsc, watch};

use crate::crypto::CryptoBackend;
use crate::error::{ConfigError, Error};
use crate::keys::{JwkSet, KeySource, PreparedKeys};
use supagate_core::{Clock, SystemClock};

/// Default cache lifetime of a fetched set (shortened by a smaller `Cache-Control: max-age`).
pub(crate) const DEFAULT_JWKS_TTL: Duration = Duration::from_secs(600);
/// Default minimum time between two fetches triggered by unknown `kid`s or failures.
pub(crate) const DEFAULT_JWKS_COOLDOWN: Duration = Duration::from_secs(30);
/// Default time a set stays usable past its expiry while refreshes fail.
pub(crate) const DEFAULT_JWKS_MAX_STALE: Duration = Duration::from_secs(600);
/// Default connect and total timeout of one fetch.
pub(crate) const DEFAULT_JWKS_TIMEOUT: Duration = Duration::from_secs(5);
/// Default largest accepted response body.
pub(crate) const DEFAULT_JWKS_MAX_BODY: usize = 64 * 1024;
/// How long before expiry a background refresh starts.
const REFRESH_AHEAD_SECS: i64 = 60;

/// What one fetch returned.
#[derive(Debug)]
struct Fetched {
    body: Bytes,
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
    keys: Option<Arc<PreparedKeys>>,
    /// When the cached set expires (clock seconds).
    expires_at: i64,
}

#[derive(Debug, Default)]
struct Flight {
    in_flight: bool,
    last_attempt: Option<i64>,
    fetches: u64,
    last_error: Option<FetchError>,
}

#[derive(Debug)]
struct Discovery {
    issuer: String,
    jwks_uri: Mutex<Option<http::Uri>>,
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

struct Shared {
    /// The JWK set's URL, or with `discovery` the OpenID configuration's.
    url: http::Uri,
    /// OIDC discovery: the issuer the configuration document must name, and the `jwks_uri` it
    /// gave (found again after a failed set fetch).
    discovery: Option<Discovery>,
    ttl: i64,
    cooldown: i64,
    max_stale: i64,
    timeout: Duration,
    max_body: usize,
    backend: CryptoBackend,
    clock: Arc<dyn Clock>,
    state: RwLock<State>,
    flight: Mutex<Flight>,
    /// How many fetches have finished; bumped under the `flight` lock.
    finished: watch::Sender<u64>,
    /// The background fetcher, started by the first fetch. Dropping it (with the last
    /// [`RemoteJwks`]) ends the thread.
    worker: Mutex<Option<mpsc::UnboundedSender<()>>>,
}

/// A [`KeySource`] that follows the JWK set Supabase publishes at
/// `<url>/auth/v1/.well-known/jwks.json`.
///
/// - **Fetching**: the URL comes from configuration only (https, or plain http to a loopback
///   host for tests), never from a token; no redirects, no proxy; connect and total timeouts
///   (5 s); a body cap (64 KiB) and the key policy of [`JwkSet::from_json`] (at most
///   [`JwkSet::MAX_KEYS`](crate::JwkSet::MAX_KEYS) keys). An empty set is valid (an HS256-only project).
/// - **Never blocking**: fetches run on a background thread of their own (one per source, a
///   single-threaded Tokio runtime, hyper + rustls); verification reads the cached set and
///   never waits on the network. [`Verifier::verify`](crate::Verifier::verify) answers at once
///   ([`Error::KeysUnavailable`] before the first fetch, [`Error::UnknownKey`] for a `kid` not
///   yet fetched) and lets the fetch run; [`Verifier::verify_async`](crate::Verifier::verify_async),
///   which the adapters and the proxy use, waits for that fetch asynchronously, without holding
///   a worker thread.
/// - **Caching**: a set lives 10 minutes, or less when the response says
///   `Cache-Control: max-age`; a minute before expiry a background refresh starts.
/// - **Rotation**: a token whose `kid` is unknown triggers at most one fetch per cooldown
///   (30 s); concurrent requests share that fetch (single-flight).
/// - **Start-up**: `RemoteJwks::refresh_now().await` fetches and reports failure, so that a
///   service does not come up without keys.
/// - **Outages**: a failed fetch keeps the last good set for up to 10 minutes past its expiry;
///   after that, and before the first successful fetch, verification answers
///   [`Error::KeysUnavailable`] (503), never 401 and never acceptance. While the latest fetch
///   has failed, a token whose `kid` the kept set lacks is also [`Error::KeysUnavailable`]:
///   it may be signed by a key promoted since, and only a successful fetch that does not
///   have it makes it [`Error::UnknownKey`] (401).
/// - [`RemoteJwks::invalidate`] drops the set at once (emergency revocation) and refetches.
///
/// # Examples
///
/// ```no_run
/// use supagate_jwt::{RemoteJwks, Verifier};
///
/// # async fn start() -> Result<(), Box<dyn std::error::Error>> {
/// let url = "https://abcdefghijklmnopqrst.supabase.co";
/// let jwks = RemoteJwks::builder(format!("{url}/auth/v1/.well-known/jwks.json")).build()?;
/// jwks.refresh_now().await?; // optional: fail start-up if the keys cannot be fetched
/// let verifier = Verifier::from_supabase_url(url).key_source(jwks).build()?;
/// # let _ = verifier;
/// # Ok(())
/// # }
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
    /// How long a fetched set is used before it is fetched again, unless the response's
    /// `Cache-Control: max-age` says otherwise: 10 minutes, as GoTrue's `max-age=600`.
    pub const DEFAULT_TTL: Duration = DEFAULT_JWKS_TTL;
    /// Shortest time between two fetches triggered by unknown `kid`s.
    pub const DEFAULT_COOLDOWN: Duration = DEFAULT_JWKS_COOLDOWN;
    /// How long past its TTL a set is still used while the endpoint fails.
    pub const DEFAULT_MAX_STALE: Duration = DEFAULT_JWKS_MAX_STALE;
    /// Time allowed for one fetch.
    pub const DEFAULT_TIMEOUT: Duration = DEFAULT_JWKS_TIMEOUT;
    /// Largest JWK set document accepted, in bytes.
    pub const DEFAULT_MAX_BODY: usize = DEFAULT_JWKS_MAX_BODY;

    /// A builder for the project's own published set, [`SupabaseProject::jwks_url`].
    ///
    /// [`SupabaseProject::jwks_url`]: crate::SupabaseProject::jwks_url
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_jwt::{RemoteJwks, SupabaseProject};
    ///
    /// let project = SupabaseProject::parse("https://abcdefghijklmnopqrst.supabase.co")?;
    /// let jwks = RemoteJwks::for_project(&project).build()?;
    /// # Ok::<(), supagate_jwt::ConfigError>(())
    /// ```
    pub fn for_project(project: &crate::SupabaseProject) -> RemoteJwksBuilder {
        RemoteJwks::builder(project.jwks_url())
    }

    /// A builder for the set at `url` (`https`, or `http` on a loopback host; no userinfo,
    /// query or fragment).
    pub fn builder(url: impl Into<String>) -> RemoteJwksBuilder {
        RemoteJwksBuilder {
            url: url.into(),
            discovery: None,
            ttl: DEFAULT_JWKS_TTL,
            cooldown: DEFAULT_JWKS_COOLDOWN,
            max_stale: DEFAULT_JWKS_MAX_STALE,
            timeout: DEFAULT_JWKS_TIMEOUT,
            max_body: DEFAULT_JWKS_MAX_BODY,
            backend: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// A builder for the JWK set of an OpenID Connect provider found by discovery: the
    /// configuration document at `<issuer>/.well-known/openid-configuration` must name this
    /// `issuer` exactly, and its `jwks_uri` (`https`, or `http` on loopback) is where the set
    /// is fetched from, with the same caching, cooldown and staleness rules. The `jwks_uri` is
    /// kept until a set fetch fails, then discovered again. For third-party auth providers
    /// (Clerk, Firebase Auth, Auth0, Cognito, WorkOS).
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_jwt::RemoteJwks;
    ///
    /// let clerk = RemoteJwks::discover("https://clerk.example.com").build()?;
    /// # let _ = clerk;
    /// assert!(RemoteJwks::discover("http://clerk.example.com").build().is_err());
    /// # Ok::<(), supagate_jwt::ConfigError>(())
    /// ```
    pub fn discover(issuer: impl Into<String>) -> RemoteJwksBuilder {
        let issuer = issuer.into();
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let mut builder = RemoteJwks::builder(url);
        builder.discovery = Some(issuer);
        builder
    }

    /// Fetches now, ignoring the cooldown, and waits (asynchronously, at most the fetch
    /// timeout) for the result: for start-up, so that a service does not come up without
    /// keys. Runs on any executor; the fetch itself runs on the source's own thread.
    ///
    /// # Errors
    ///
    /// [`Error::KeysUnavailable`] when the fetch failed or timed out.
    pub async fn refresh_now(&self) -> Result<(), Error> {
        let s = &self.shared;
        let before = *s.finished.borrow();
        s.start_fetch(true);
        s.wait_past(before).await;
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
        s.start_fetch(true);
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
    fn current(&self) -> Result<Arc<PreparedKeys>, Error> {
        let s = &self.shared;
        let now = s.clock.now();
        let (keys, expires_at) = {
            let st = s.state.read().unwrap_or_else(PoisonError::into_inner);
            (st.keys.clone(), st.expires_at)
        };
        let Some(keys) = keys else {
            // Nothing to verify with yet (first use, or after `invalidate`): start the fetch
            // and answer at once; an async caller waits for it through `wait_past`.
            s.start_fetch(false);
            return Err(Error::KeysUnavailable);
        };
        if now >= expires_at.saturating_sub(REFRESH_AHEAD_SECS) {
            s.start_fetch(false);
        }
        if now >= expires_at.saturating_add(s.max_stale) {
            return Err(Error::KeysUnavailable);
        }
        Ok(keys)
    }

    fn unknown_kid(&self, kid: &str) -> Option<Arc<PreparedKeys>> {
        let _ = kid;
        // A rotation may have published it: fetch (at most once per cooldown), never wait.
        self.shared.start_fetch(false);
        None
    }

    fn generation(&self) -> u64 {
        *self.shared.finished.borrow()
    }

    fn wait_past(&self, generation: u64) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        Box::pin(self.shared.wait_past(generation))
    }

    fn fetch_failing(&self) -> bool {
        self.shared
            .flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last_error
            .is_some()
    }
}

impl Shared {
    /// Starts a fetch unless one is in flight or the cooldown since the last attempt has not
    /// passed (unless `force`). Never waits.
    fn start_fetch(self: &Arc<Self>, force: bool) {
        let now = self.clock.now();
        let mut flight = self.flight.lock().unwrap_or_else(PoisonError::into_inner);
        if flight.in_flight {
            return;
        }
        if !force
            && flight
                .last_attempt
                .is_some_and(|t| now < t.saturating_add(self.cooldown))
        {
            return;
        }
        flight.in_flight = true;
        flight.last_attempt = Some(now);
        flight.fetches += 1;
        drop(flight);
        if !self.signal_worker() {
            self.finish(Err(FetchError::Transport));
        }
    }

    /// Wakes the background fetcher, starting its thread the first time.
    fn signal_worker(self: &Arc<Self>) -> bool {
        let mut worker = self.worker.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(tx) = worker.as_ref()
            && tx.send(()).is_ok()
        {
            return true;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let weak = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("supagate-jwks".into())
            .spawn(move || fetcher(weak, rx));
        if spawned.is_err() || tx.send(()).is_err() {
            *worker = None;
            return false;
        }
        *worker = Some(tx);
        true
    }

    /// Resolves once a fetch finished after `generation` (`true`), or at once with `false` when
    /// none is in flight and none finished since.
    async fn wait_past(&self, generation: u64) -> bool {
        let mut rx = self.finished.subscribe();
        {
            let flight = self.flight.lock().unwrap_or_else(PoisonError::into_inner);
            if *rx.borrow_and_update() > generation {
                return true;
            }
            if !flight.in_flight {
                return false;
            }
        }
        // The fetch in flight always finishes (its own timeout, a guard if it dies), and bumps
        // the counter under the lock checked above, so this cannot miss it.
        rx.wait_for(|g| *g > generation).await.is_ok()
    }

    fn finish(&self, result: Result<(PreparedKeys, Option<u64>), FetchError>) {
        let mut error = None;
        #[cfg(feature = "metrics")]
        {
            use supagate_core::observe as names;
            let fetched = if result.is_ok() { "success" } else { "failure" };
            metrics::counter!(names::JWKS_FETCHES, names::RESULT => fetched).increment(1);
            if let Ok((keys, _)) = &result {
                #[allow(clippy::cast_precision_loss)]
                metrics::gauge!(names::JWKS_KEYS).set(keys.len() as f64);
            }
        }
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
        flight.last_error = error;
        self.finished.send_modify(|g| *g += 1);
        drop(flight);
    }

    /// Fetches the JWK set: from `url`, or through OIDC discovery (the configuration document
    /// at `url` names the set's `jwks_uri`, kept until a set fetch fails).
    async fn fetch(&self, client: &HttpsClient) -> Result<Fetched, FetchError> {
        let Some(discovery) = &self.discovery else {
            return self.get(client, self.url.clone()).await;
        };
        let known = discovery
            .jwks_uri
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let jwks_uri = match known {
            Some(u) => u,
            None => {
                let doc = self.get(client, self.url.clone()).await?;
                let uri = jwks_uri_of(&doc.body, &discovery.issuer)?;
                *discovery
                    .jwks_uri
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(uri.clone());
                uri
            }
        };
        let fetched = self.get(client, jwks_uri).await;
        if fetched.is_err() {
            // The provider may have moved its keys: discover again next time.
            *discovery
                .jwks_uri
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = None;
        }
        fetched
    }

    async fn get(&self, client: &HttpsClient, uri: http::Uri) -> Result<Fetched, FetchError> {
        let req = http::Request::builder()
            .method(http::Method::GET)
            .uri(uri)
            .header(http::header::ACCEPT, "application/json")
            .header(
                http::header::USER_AGENT,
                concat!("supagate-jwt/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::<Bytes>::new())
            .map_err(|_| FetchError::Transport)?;
        let call = async {
            let res = client
                .request(req)
                .await
                .map_err(|_| FetchError::Transport)?;
            if res.status() != http::StatusCode::OK {
                return Err(FetchError::Status);
            }
            let max_age = res
                .headers()
                .get(http::header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_max_age);
            let declared = res
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok());
            if declared.is_some_and(|n| n > self.max_body) {
                return Err(FetchError::TooLarge);
            }
            let body = Limited::new(res.into_body(), self.max_body)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        FetchError::TooLarge
                    } else {
                        FetchError::Transport
                    }
                })?
                .to_bytes();
            Ok(Fetched { body, max_age })
        };
        tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or(Err(FetchError::Transport))
    }

    fn parse(
        &self,
        fetched: Result<Fetched, FetchError>,
    ) -> Result<(PreparedKeys, Option<u64>), FetchError> {
        let f = fetched?;
        let json = std::str::from_utf8(&f.body).map_err(|_| FetchError::Invalid)?;
        let set = JwkSet::from_published_json(json).map_err(|_| FetchError::Invalid)?;
        Ok((PreparedKeys::prepare(&set, self.backend), f.max_age))
    }
}

/// The `jwks_uri` of an OpenID configuration document, which must name `issuer` exactly (OIDC
/// Discovery 4.3) and a URL a set may be fetched from (`https`, or `http` on loopback).
fn jwks_uri_of(body: &[u8], issuer: &str) -> Result<http::Uri, FetchError> {
    #[derive(serde::Deserialize)]
    struct Configuration {
        issuer: String,
        jwks_uri: String,
    }
    let doc: Configuration = serde_json::from_slice(body).map_err(|_| FetchError::Invalid)?;
    if doc.issuer != issuer || !supagate_core::is_fetch_url(&doc.jwks_uri) {
        return Err(FetchError::Invalid);
    }
    doc.jwks_uri.parse().map_err(|_| FetchError::Invalid)
}

/// Ends the flight with a failure if a fetch is dropped before it finished (a panic, the
/// runtime shutting down), so that no waiter waits for ever.
struct FinishGuard<'a>(Option<&'a Shared>);

impl Drop for FinishGuard<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            s.finish(Err(FetchError::Transport));
        }
    }
}

/// The background fetcher: one thread per source with a single-threaded runtime, alive while
/// the source is.
fn fetcher(shared: Weak<Shared>, mut wake: mpsc::UnboundedReceiver<()>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let Ok(runtime) = runtime else {
        // No runtime: fail the flight that woke us (and every later one, as the channel closes).
        if let Some(s) = shared.upgrade() {
            s.finish(Err(FetchError::Transport));
        }
        return;
    };
    runtime.block_on(async move {
        let mut client: Option<HttpsClient> = None;
        while wake.recv().await.is_some() {
            let Some(s) = shared.upgrade() else { return };
            let mut guard = FinishGuard(Some(&s));
            let c = match &client {
                Some(c) => c,
                None => match https_client(s.timeout) {
                    Some(c) => client.insert(c),
                    None => continue,
                },
            };
            let result = s.parse(s.fetch(c).await);
            guard.0 = None;
            s.finish(result);
        }
    });
}

fn https_client(timeout: Duration) -> Option<HttpsClient> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(timeout));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Some(
        Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1)
            .build(connector),
    )
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
    discovery: Option<String>,
    ttl: Duration,
    cooldown: Duration,
    max_stale: Duration,
    timeout: Duration,
    max_body: usize,
    backend: Option<CryptoBackend>,
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
    /// Cache lifetime of a fetched set. Default: [`RemoteJwks::DEFAULT_TTL`] (10 minutes, Supabase's
    /// guidance); a shorter `Cache-Control: max-age` wins.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Minimum time between fetches triggered by unknown `kid`s, expiry or failures. Default:
    /// [`RemoteJwks::DEFAULT_COOLDOWN`].
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// How long past its expiry the last good set is still used while fetches fail. Default:
    /// [`RemoteJwks::DEFAULT_MAX_STALE`].
    pub fn max_stale(mut self, max_stale: Duration) -> Self {
        self.max_stale = max_stale;
        self
    }

    /// Connect and total timeout of one fetch, and so the bound on how long an async
    /// verification waits for it. Default: [`RemoteJwks::DEFAULT_TIMEOUT`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Largest response body accepted. Default: [`RemoteJwks::DEFAULT_MAX_BODY`].
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// The crypto backend for the fetched keys. Default: [`CryptoBackend::preferred`]. Use the same
    /// backend as the verifier.
    pub fn backend(mut self, backend: CryptoBackend) -> Self {
        self.backend = Some(backend);
        self
    }

    /// The clock for TTL, cooldown and staleness. Default: the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Builds the source. Nothing is fetched yet: the first verification starts a fetch, or
    /// await [`RemoteJwks::refresh_now`].
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidJwksUrl`] for a URL that is not https (or http to a loopback
    /// host), or that carries credentials, a query or a fragment;
    /// [`ConfigError::NoCryptoBackend`] without a backend.
    pub fn build(self) -> Result<RemoteJwks, ConfigError> {
        check_url(&self.url)?;
        let backend = match self.backend.or_else(CryptoBackend::preferred) {
            Some(b) => b,
            None => {
                return Err(ConfigError::NoCryptoBackend);
            }
        };
        let url: http::Uri = self.url.parse().map_err(|_| ConfigError::InvalidJwksUrl)?;
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        Ok(RemoteJwks {
            shared: Arc::new(Shared {
                url,
                discovery: self.discovery.map(|issuer| Discovery {
                    issuer,
                    jwks_uri: Mutex::new(None),
                }),
                ttl: secs(self.ttl),
                cooldown: secs(self.cooldown),
                max_stale: secs(self.max_stale),
                timeout: self.timeout,
                max_body: self.max_body,
                backend,
                clock: self.clock,
                state: RwLock::new(State::default()),
                flight: Mutex::new(Flight::default()),
                finished: watch::Sender::new(0),
                worker: Mutex::new(None),
            }),
        })
    }
}

fn check_url(url: &str) -> Result<(), ConfigError> {
    if supagate_core::is_fetch_url(url) {
        Ok(())
    } else {
        Err(ConfigError::InvalidJwksUrl)
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
            // The system resolver sends `*.localhost` to DNS: no plain http there.
            "http://jwks.localhost/jwks",
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
