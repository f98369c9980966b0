//! Session liveness: a verified access token is not a live session. After a sign-out (any
//! scope), a password change or an admin revoking a user, Supabase Auth deletes the rows of
//! `auth.sessions`, but the access token stays valid until its `exp`. [`SessionLiveness`]
//! asks a [`SessionSource`] (the database's `auth.sessions`, or the auth server's
//! `GET /auth/v1/user`) whether the token's `session_id` is still live, caches the answer per
//! session for a short time, asks once per session however many requests wait, stays within a
//! bound, and fails closed.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use supagate_jwt::{Claims, IssuedBy};
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::AuthError;
use crate::error::AuthConfigError;

/// A boxed, sendable future: what [`SessionSource::session_state`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The session a source is asked about: ids from a verified token, and the token itself (for a
/// source that asks the auth server on the user's behalf).
///
/// `Debug` never prints the token.
///
/// # Examples
///
/// ```
/// use supagate_auth::SessionKey;
/// use uuid::Uuid;
///
/// let key = SessionKey::new(Uuid::nil(), Uuid::max(), "eyJ...");
/// assert_eq!(key.session_id(), Uuid::nil());
/// assert!(!format!("{key:?}").contains("eyJ"));
/// ```
#[derive(Clone, Copy)]
pub struct SessionKey<'a> {
    session_id: Uuid,
    user_id: Uuid,
    token: &'a str,
    client: Option<std::net::IpAddr>,
}

impl<'a> SessionKey<'a> {
    /// The session `session_id` of user `user_id`, presented with `token`.
    #[must_use]
    pub fn new(session_id: Uuid, user_id: Uuid, token: &'a str) -> Self {
        SessionKey {
            session_id,
            user_id,
            token,
            client: None,
        }
    }

    /// The same question, asked for the client at `client` (a source that calls the auth
    /// server may send it as `Sb-Forwarded-For`).
    #[must_use]
    pub fn with_client(mut self, client: std::net::IpAddr) -> Self {
        self.client = Some(client);
        self
    }

    /// The client the question is asked for, when the caller knows it.
    #[must_use]
    pub fn client(&self) -> Option<std::net::IpAddr> {
        self.client
    }

    /// The token's `session_id`: the `auth.sessions` row.
    #[must_use]
    pub fn session_id(&self) -> Uuid {
        self.session_id
    }

    /// The token's `sub`: the `auth.users` row.
    #[must_use]
    pub fn user_id(&self) -> Uuid {
        self.user_id
    }

    /// The verified access token, for a source that asks the auth server.
    #[must_use]
    pub fn token(&self) -> &'a str {
        self.token
    }
}

impl fmt::Debug for SessionKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKey")
            .field("session_id", &self.session_id)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// What a source knows about a session.
///
/// # Examples
///
/// ```
/// use supagate_auth::{SessionEnd, SessionState};
///
/// let ended = SessionState::Ended(SessionEnd::NotFound);
/// assert_eq!(SessionEnd::NotFound.code(), "session_not_found");
/// assert_ne!(ended, SessionState::Live { not_after: None });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionState {
    /// The session exists and its user may sign in.
    Live {
        /// When a time-boxed session ends (`auth.sessions.not_after`), seconds since the Unix
        /// epoch. Checked on every request against the verifier's clock, cached or not.
        not_after: Option<i64>,
    },
    /// The session is over.
    Ended(SessionEnd),
    /// The source refused the token it was asked with (the auth server's `bad_jwt`: expired
    /// by its clock, which allows no leeway, or a key it no longer accepts). A verdict about
    /// that token, never about its session: the request is refused
    /// ([`AuthError::TokenRefused`]), and the session's other tokens are asked about on their
    /// own.
    TokenRefused,
}

/// Why a session is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionEnd {
    /// No `auth.sessions` row: signed out, revoked, or cleaned up.
    NotFound,
    /// `not_after` has passed (a time-boxed or inactivity-limited session).
    Expired,
    /// The user is banned (`auth.users.banned_until` in the future).
    UserBanned,
    /// The user is deleted (no `auth.users` row, or a soft-deleted one).
    UserDeleted,
    /// The row belongs to another user than the token's `sub`.
    UserMismatch,
}

impl SessionEnd {
    /// The stable code: `session_not_found`, `session_expired`, `user_banned`,
    /// `user_not_found`, `session_user_mismatch`.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            SessionEnd::NotFound => "session_not_found",
            SessionEnd::Expired => "session_expired",
            SessionEnd::UserBanned => "user_banned",
            SessionEnd::UserDeleted => "user_not_found",
            SessionEnd::UserMismatch => "session_user_mismatch",
        }
    }
}

/// A source could not answer (down, too slow, an answer it could not read). `what` is a short
/// phrase for logs, never a token or a connection string.
///
/// # Examples
///
/// ```
/// let e = supagate_auth::SourceUnavailable::new("database unreachable");
/// assert_eq!(e.to_string(), "session source unavailable: database unreachable");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("session source unavailable: {what}")]
pub struct SourceUnavailable {
    /// What went wrong.
    pub what: &'static str,
}

impl SourceUnavailable {
    /// `what` went wrong.
    #[must_use]
    pub fn new(what: &'static str) -> Self {
        SourceUnavailable { what }
    }
}

/// Where [`SessionLiveness`] asks: `supagate_postgres::DbSessions` (a privileged pool reading
/// `auth.sessions` and `auth.users`) or `supagate_proxy::AuthServerSessions`
/// (`GET /auth/v1/user`). Implement it for another store.
///
/// # Examples
///
/// ```
/// use supagate_auth::{BoxFuture, SessionKey, SessionSource, SessionState, SourceUnavailable};
///
/// /// Every session is live: for a test.
/// #[derive(Debug)]
/// struct AlwaysLive;
///
/// impl SessionSource for AlwaysLive {
///     fn session_state<'a>(
///         &'a self,
///         _session: SessionKey<'a>,
///     ) -> BoxFuture<'a, Result<SessionState, SourceUnavailable>> {
///         Box::pin(async { Ok(SessionState::Live { not_after: None }) })
///     }
/// }
/// ```
pub trait SessionSource: Send + Sync + fmt::Debug + 'static {
    /// What the source knows about `session`. Must not take longer than the source's own
    /// timeout: a slow answer holds every request of that session.
    fn session_state<'a>(
        &'a self,
        session: SessionKey<'a>,
    ) -> BoxFuture<'a, Result<SessionState, SourceUnavailable>>;
}

/// Default time an answer is reused: 30 s.
pub(crate) const DEFAULT_LIVENESS_TTL: Duration = Duration::from_secs(30);
/// Longest time an answer may be reused: 5 minutes.
pub(crate) const MAX_LIVENESS_TTL: Duration = Duration::from_secs(300);
/// Default number of sessions remembered: 100 000.
pub(crate) const DEFAULT_LIVENESS_CAPACITY: usize = 100_000;
/// How long a failure to ask the source is remembered for one session, so that a flood of
/// requests on a dead store costs one attempt per session per second.
const FAILURE_TTL_SECS: i64 = 1;

type Answer = Result<SessionState, SourceUnavailable>;

#[derive(Debug, Clone)]
struct Cached {
    user: Uuid,
    answer: Answer,
    until: i64,
    /// The `exp` of the token the source was asked with: a
    /// [`SessionState::TokenRefused`] answer holds only for tokens that expire no later.
    exp: i64,
}

struct Inner {
    source: Arc<dyn SessionSource>,
    ttl_secs: i64,
    capacity: usize,
    fail_open: bool,
    cache: Mutex<HashMap<Uuid, Cached>>,
    /// Questions under way, per session and token `exp` (two tokens of one session may get
    /// different answers about themselves).
    inflight: Mutex<HashMap<FlightKey, Flight>>,
    calls: AtomicU64,
    #[cfg(feature = "watch")]
    /// The last answer per session and token `exp`, for [`SessionLiveness::check_watched`]:
    /// however many open connections watch one session, and whatever the TTL (zero caches
    /// nothing), it is asked about at most once per watch interval. Bounded by `capacity`.
    recent: Mutex<HashMap<(Uuid, i64), Recent>>,
    /// Bumped (under the cache lock) by every invalidation: an answer asked for before one is
    /// not cached, so it cannot overwrite a sign-out that happened while it was on its way.
    epoch: AtomicU64,
    /// Off while the notifications that would tell of a session's end are not heard
    /// ([`SessionLiveness::pause_cache`]): no "live" answer is then kept or served from memory.
    trusting: AtomicBool,
}

/// How long a watch's answer is kept at most (the longest TTL): longer, no watch reuses it.
#[cfg(feature = "watch")]
const RECENT_KEPT: Duration = MAX_LIVENESS_TTL;

/// An answer as the watches reuse it: when it came (tokio's clock, which tests can pause),
/// for which user.
#[cfg(feature = "watch")]
#[derive(Clone)]
struct Recent {
    at: tokio::time::Instant,
    user: Uuid,
    answer: Answer,
}

/// One question under way: the user it is asked for, and its answer once there.
type Flight = Arc<OnceCell<(Uuid, Answer)>>;

/// A question under way is shared by the requests of one session and token `exp` that come
/// before the next invalidation: one that comes after a sign-out (or a pause) never takes an
/// answer asked for before it.
type FlightKey = (Uuid, i64, u64);

/// Removes a question from the in-flight map when its last waiter is done with it, answered
/// or not (a lone request cancelled halfway leaves nothing behind).
struct Landing<'a> {
    inflight: &'a Mutex<HashMap<FlightKey, Flight>>,
    session: FlightKey,
    cell: Flight,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        let mut inflight = lock(self.inflight);
        let ours = inflight
            .get(&self.session)
            .is_some_and(|c| Arc::ptr_eq(c, &self.cell));
        // Two references: the map's and ours. More means another request waits on it.
        if ours && (self.cell.initialized() || Arc::strong_count(&self.cell) <= 2) {
            inflight.remove(&self.session);
        }
    }
}

/// Refuses a token whose session is over: no `auth.sessions` row for its `session_id`, a
/// `not_after` in the past, a banned or deleted user. Give it to
/// [`AuthenticatorBuilder::session_liveness`](crate::AuthenticatorBuilder::session_liveness):
/// every extractor, layer and middleware then applies it after verification.
///
/// - Answers are cached per session for [`ttl`](SessionLivenessBuilder::ttl) (30 s by default):
///   a sign-out elsewhere takes effect within that time;
///   [`invalidate_session`](SessionLiveness::invalidate_session) ends one at once (the proxy
///   calls it on sign-out when its authenticator has this liveness check).
/// - One question per session at a time: concurrent requests of one session wait for the same
///   answer; a request cancelled halfway leaves the question to the next waiter.
/// - At most [`capacity`](SessionLivenessBuilder::capacity) sessions are remembered.
/// - When the source cannot answer, requests get 503
///   ([`AuthError::SessionStoreUnavailable`]) unless
///   [`allow_when_unavailable`](SessionLivenessBuilder::allow_when_unavailable) is set.
/// - Tokens of third-party issuers are not checked (their sessions are the provider's); a
///   project token without `session_id` is refused.
///
/// Cheap to clone (shared cache).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use supagate_auth::{BoxFuture, SessionKey, SessionLiveness, SessionSource, SessionState, SourceUnavailable};
///
/// # #[derive(Debug)] struct AlwaysLive;
/// # impl SessionSource for AlwaysLive {
/// #     fn session_state<'a>(&'a self, _: SessionKey<'a>) -> BoxFuture<'a, Result<SessionState, SourceUnavailable>> {
/// #         Box::pin(async { Ok(SessionState::Live { not_after: None }) })
/// #     }
/// # }
/// let live = SessionLiveness::builder(AlwaysLive).ttl(Duration::from_secs(10)).build()?;
/// assert_eq!(live.ttl(), Duration::from_secs(10));
/// assert_eq!(live.source_calls(), 0);
/// # Ok::<(), supagate_auth::AuthConfigError>(())
/// ```
#[derive(Clone)]
pub struct SessionLiveness {
    inner: Arc<Inner>,
}

impl fmt::Debug for SessionLiveness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionLiveness")
            .field("source", &self.inner.source)
            .field("ttl_secs", &self.inner.ttl_secs)
            .field("capacity", &self.inner.capacity)
            .field("fail_open", &self.inner.fail_open)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SessionLiveness {
    /// Default number of sessions remembered: 100 000.
    pub const DEFAULT_CAPACITY: usize = DEFAULT_LIVENESS_CAPACITY;

    /// Longest time an answer may be reused: 5 minutes.
    pub const MAX_TTL: Duration = MAX_LIVENESS_TTL;

    /// Default time an answer is reused: 30 s.
    pub const DEFAULT_TTL: Duration = DEFAULT_LIVENESS_TTL;

    /// A builder over `source`, with the defaults: 30 s, 100 000 sessions, fail closed.
    pub fn builder(source: impl SessionSource) -> SessionLivenessBuilder {
        SessionLivenessBuilder {
            source: Arc::new(source),
            ttl: DEFAULT_LIVENESS_TTL,
            capacity: DEFAULT_LIVENESS_CAPACITY,
            fail_open: false,
        }
    }

    /// How long an answer is reused.
    #[must_use]
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.inner.ttl_secs.unsigned_abs())
    }

    /// How many times the source was asked (for tests and metrics).
    #[must_use]
    pub fn source_calls(&self) -> u64 {
        self.inner.calls.load(Ordering::Relaxed)
    }

    /// How many questions are under way now (for tests: a request cancelled halfway leaves
    /// none behind).
    #[must_use]
    pub fn in_flight(&self) -> usize {
        lock(&self.inner.inflight).len()
    }

    /// How many sessions are remembered now.
    #[must_use]
    pub fn cached(&self) -> usize {
        lock(&self.inner.cache).len()
    }

    /// Ends the session `session_id` of `user_id` here at once, whatever the source says,
    /// for the longest ttl ([`SessionLiveness::MAX_TTL`]) from `now` (the verifier's clock): what the
    /// proxy calls when it signs a session out. A value that is not a UUID is ignored.
    pub fn invalidate_session(&self, session_id: &str, user_id: Uuid, now: i64) {
        let Ok(id) = Uuid::parse_str(session_id) else {
            return;
        };
        let ended = Ok(SessionState::Ended(SessionEnd::NotFound));
        let max = i64::try_from(MAX_LIVENESS_TTL.as_secs()).unwrap_or(i64::MAX);
        let mut cache = lock(&self.inner.cache);
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        self.insert(&mut cache, id, user_id, &ended, now, max, i64::MAX);
        #[cfg(feature = "watch")]
        lock(&self.inner.recent).retain(|(session, _), _| *session != id);
    }

    /// Forgets every cached answer for the user `user_id`, so that each of their sessions is
    /// asked about again on its next request: after a global sign-out or a password change.
    pub fn invalidate_user(&self, user_id: Uuid) {
        let mut cache = lock(&self.inner.cache);
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        cache.retain(|_, c| c.user != user_id);
        #[cfg(feature = "watch")]
        lock(&self.inner.recent).retain(|_, r| r.user != user_id);
    }

    /// Forgets what is known about the session `session`, so that its next request asks the
    /// source: what a notification of a change to its `auth.sessions` row calls (a sign-out on
    /// another instance, a new `not_after`). Unlike [`invalidate_session`](Self::invalidate_session)
    /// it decides nothing about the session.
    ///
    /// # Examples
    ///
    /// ```
    /// # use supagate_auth::{BoxFuture, SessionKey, SessionLiveness, SessionSource, SessionState, SourceUnavailable};
    /// # #[derive(Debug)] struct AlwaysLive;
    /// # impl SessionSource for AlwaysLive {
    /// #     fn session_state<'a>(&'a self, _: SessionKey<'a>) -> BoxFuture<'a, Result<SessionState, SourceUnavailable>> {
    /// #         Box::pin(async { Ok(SessionState::Live { not_after: None }) })
    /// #     }
    /// # }
    /// let live = SessionLiveness::builder(AlwaysLive).build()?;
    /// live.forget_session(uuid::Uuid::nil());
    /// assert_eq!(live.cached(), 0);
    /// # Ok::<(), supagate_auth::AuthConfigError>(())
    /// ```
    pub fn forget_session(&self, session: Uuid) {
        let mut cache = lock(&self.inner.cache);
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        cache.remove(&session);
        #[cfg(feature = "watch")]
        lock(&self.inner.recent).retain(|(s, _), _| *s != session);
    }

    /// Forgets every cached answer: every session is asked about again.
    pub fn forget_all(&self) {
        let mut cache = lock(&self.inner.cache);
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        cache.clear();
        #[cfg(feature = "watch")]
        lock(&self.inner.recent).clear();
    }

    /// Stops serving "live" from memory, and forgets every "live" answer: while the
    /// notifications that tell of sessions ending elsewhere are not heard (the listening
    /// connection is down), such an answer may be stale, so every request asks the source
    /// (answers that a session ended are kept: they only refuse). Until
    /// [`resume_cache`](Self::resume_cache). One caller pauses and resumes a liveness: one
    /// listener per `SessionLiveness`.
    pub fn pause_cache(&self) {
        self.inner.trusting.store(false, Ordering::SeqCst);
        self.forget_live();
    }

    /// Caches "live" again, from a clean slate: no "live" answer from before or during the
    /// pause is kept (the questions still on their way were asked before now, and are neither
    /// cached nor shared with later requests).
    pub fn resume_cache(&self) {
        self.forget_live();
        self.inner.trusting.store(true, Ordering::SeqCst);
    }

    /// Forgets the "live" answers, and every answer a question under way will bring.
    fn forget_live(&self) {
        let mut cache = lock(&self.inner.cache);
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        cache.retain(|_, c| !matches!(c.answer, Ok(SessionState::Live { .. })));
        #[cfg(feature = "watch")]
        lock(&self.inner.recent).retain(|_, r| !matches!(r.answer, Ok(SessionState::Live { .. })));
    }

    /// Whether the cache is paused ([`pause_cache`](Self::pause_cache)).
    #[must_use]
    pub fn cache_paused(&self) -> bool {
        !self.inner.trusting.load(Ordering::SeqCst)
    }

    /// Whether `answer` may be served from memory now.
    fn servable(&self, answer: &Answer) -> bool {
        self.inner.trusting.load(Ordering::SeqCst)
            || !matches!(answer, Ok(SessionState::Live { .. }))
    }

    /// The decision for verified `claims` from the cache alone: `None` when the source must
    /// be asked.
    #[must_use]
    pub fn check_cached(&self, claims: &Claims, now: i64) -> Option<Result<(), AuthError>> {
        let (session, user) = match key_of(claims) {
            Ok(Some(k)) => k,
            Ok(None) => return Some(Ok(())),
            Err(e) => return Some(Err(e)),
        };
        let cache = lock(&self.inner.cache);
        let c = cache
            .get(&session)
            .filter(|c| c.until > now && self.servable(&c.answer))?;
        if matches!(c.answer, Ok(SessionState::TokenRefused)) && claims.exp > c.exp {
            // Refused a token that expired earlier: this one is asked about.
            return None;
        }
        Some(self.verdict(c.user, user, &c.answer, now, "cache"))
    }

    /// The decision for verified `claims` presented with `token`: from the cache, or by asking
    /// the source (once per session, however many requests wait).
    ///
    /// # Errors
    ///
    /// [`AuthError::SessionRevoked`] when the session is over,
    /// [`AuthError::SessionStoreUnavailable`] when the source cannot answer (and the
    /// liveness fails closed).
    pub async fn check(&self, claims: &Claims, token: &str, now: i64) -> Result<(), AuthError> {
        self.check_inner(claims, token, now, None, false).await
    }

    /// [`SessionLiveness::check`] for a request from the client at `client`, which a source
    /// that calls the auth server passes on as `Sb-Forwarded-For` (when it has a secret key):
    /// what the proxy's page sessions call.
    ///
    /// # Errors
    ///
    /// As [`SessionLiveness::check`].
    pub async fn check_for(
        &self,
        claims: &Claims,
        token: &str,
        now: i64,
        client: std::net::IpAddr,
    ) -> Result<(), AuthError> {
        self.check_inner(claims, token, now, Some(client), false)
            .await
    }

    /// [`SessionLiveness::check`] for an open connection that asks again and again (a
    /// [`Watch`](crate::Watch)): an answer younger than `max_age` for the same session and
    /// token is reused, so that many connections of one session, or a TTL of zero, cost one
    /// question per `max_age`. An invalidation is seen at once.
    #[cfg(feature = "watch")]
    pub(crate) async fn check_watched(
        &self,
        claims: &Claims,
        token: &str,
        now: i64,
        max_age: Duration,
    ) -> Result<(), AuthError> {
        if let Some(cached) = self.check_cached(claims, now) {
            return cached;
        }
        let Ok(Some((session, user))) = key_of(claims) else {
            return Ok(());
        };
        let recent = lock(&self.inner.recent)
            .get(&(session, claims.exp))
            .filter(|r| r.at.elapsed() < max_age && self.servable(&r.answer))
            .cloned();
        if let Some(r) = recent {
            return self.verdict(r.user, user, &r.answer, now, "cache");
        }
        self.check_inner(claims, token, now, None, true).await
    }

    async fn check_inner(
        &self,
        claims: &Claims,
        token: &str,
        now: i64,
        client: Option<std::net::IpAddr>,
        watched: bool,
    ) -> Result<(), AuthError> {
        // Read before the cache: an invalidation between the two makes the answer below
        // uncacheable, so that it never overwrites the invalidation.
        let epoch = self.inner.epoch.load(Ordering::SeqCst);
        if let Some(cached) = self.check_cached(claims, now) {
            return cached;
        }
        let Ok(Some((session, user))) = key_of(claims) else {
            return Ok(());
        };
        let key = (session, claims.exp, epoch);
        let landing = Landing {
            inflight: &self.inner.inflight,
            session: key,
            cell: Arc::clone(lock(&self.inner.inflight).entry(key).or_default()),
        };
        let mut asked = false;
        let (asked_for, answer) = landing
            .cell
            .get_or_init(|| {
                asked = true;
                async {
                    self.inner.calls.fetch_add(1, Ordering::Relaxed);
                    let mut key = SessionKey::new(session, user, token);
                    key.client = client;
                    let answer = self.inner.source.session_state(key).await;
                    self.remember(session, user, &answer, now, epoch, claims.exp);
                    #[cfg(not(feature = "watch"))]
                    let _ = watched;
                    #[cfg(feature = "watch")]
                    if watched {
                        self.remember_recent((session, claims.exp), user, &answer, epoch);
                    }
                    (user, answer)
                }
            })
            .await
            .clone();
        drop(landing);
        let source = if asked { "source" } else { "shared" };
        self.verdict(asked_for, user, &answer, now, source)
    }

    /// Keeps a watch's answer for the next watches (unless an invalidation came meanwhile),
    /// within the capacity: full, the oldest half goes.
    #[cfg(feature = "watch")]
    fn remember_recent(&self, key: (Uuid, i64), user: Uuid, answer: &Answer, epoch: u64) {
        let cache = lock(&self.inner.cache);
        if self.inner.epoch.load(Ordering::SeqCst) != epoch || !self.servable(answer) {
            return;
        }
        let mut recent = lock(&self.inner.recent);
        drop(cache);
        // An answer older than the longest TTL is of no use to any watch (a watch reuses one
        // only within its interval, the TTL at most): swept whenever the map has doubled, so
        // that it does not keep what closed connections left behind.
        if recent.len() >= 1024 && recent.len().is_power_of_two() {
            recent.retain(|_, r| r.at.elapsed() < RECENT_KEPT);
        }
        if recent.len() >= self.inner.capacity && !recent.contains_key(&key) {
            let mut ages: Vec<tokio::time::Instant> = recent.values().map(|r| r.at).collect();
            ages.sort_unstable();
            let cut = ages.get(ages.len() / 2).copied();
            recent.retain(|_, r| cut.is_some_and(|c| r.at > c));
        }
        recent.insert(
            key,
            Recent {
                at: tokio::time::Instant::now(),
                user,
                answer: answer.clone(),
            },
        );
    }

    fn remember(&self, session: Uuid, user: Uuid, answer: &Answer, now: i64, epoch: u64, exp: i64) {
        let ttl = match answer {
            Ok(_) => self.inner.ttl_secs,
            Err(_) => FAILURE_TTL_SECS,
        };
        let mut cache = lock(&self.inner.cache);
        if ttl > 0 && self.inner.epoch.load(Ordering::SeqCst) == epoch && self.servable(answer) {
            // A refusal of one token never replaces what is known about the session (live or
            // ended), nor the refusal of a token that expires later; it does replace the
            // refusal of an earlier one, so that the newest refused token is not asked about
            // on every request.
            if matches!(answer, Ok(SessionState::TokenRefused))
                && cache.get(&session).is_some_and(|c| {
                    c.until > now
                        && match c.answer {
                            Ok(SessionState::TokenRefused) => c.exp >= exp,
                            Ok(_) => true,
                            Err(_) => false,
                        }
                })
            {
                return;
            }
            self.insert(&mut cache, session, user, answer, now, ttl, exp);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn insert(
        &self,
        cache: &mut HashMap<Uuid, Cached>,
        session: Uuid,
        user: Uuid,
        answer: &Answer,
        now: i64,
        ttl: i64,
        exp: i64,
    ) {
        if cache.len() >= self.inner.capacity && !cache.contains_key(&session) {
            cache.retain(|_, c| c.until > now);
            if cache.len() >= self.inner.capacity {
                // Still full of live entries: drop a tenth, whichever they are (each is only
                // a question to ask again).
                let drop = (self.inner.capacity / 10).max(1);
                let victims: Vec<Uuid> = cache.keys().take(drop).copied().collect();
                for v in victims {
                    cache.remove(&v);
                }
            }
        }
        cache.insert(
            session,
            Cached {
                user,
                answer: answer.clone(),
                until: now.saturating_add(ttl),
                exp,
            },
        );
    }

    /// The decision on `answer` (from `source`: `cache`, `source`, or `shared` for a waiter of
    /// another request's question), observed.
    fn verdict(
        &self,
        row_user: Uuid,
        user: Uuid,
        answer: &Answer,
        now: i64,
        source: &'static str,
    ) -> Result<(), AuthError> {
        let verdict = self.decide(row_user, user, answer, now);
        let result = match (&verdict, answer) {
            (_, Err(_)) => "unavailable",
            (Ok(()), _) => "live",
            (Err(AuthError::TokenRefused), _) => "refused",
            (Err(_), _) => "ended",
        };
        crate::observe::liveness(source, result);
        verdict
    }

    fn decide(
        &self,
        row_user: Uuid,
        user: Uuid,
        answer: &Answer,
        now: i64,
    ) -> Result<(), AuthError> {
        let end = match answer {
            Ok(_) if row_user != user => SessionEnd::UserMismatch,
            Ok(SessionState::Live { not_after }) => match not_after {
                Some(t) if *t <= now => SessionEnd::Expired,
                _ => return Ok(()),
            },
            Ok(SessionState::Ended(end)) => *end,
            Ok(SessionState::TokenRefused) => return Err(AuthError::TokenRefused),
            Err(e) if self.inner.fail_open => {
                tracing::warn!(
                    target: "supagate",
                    what = e.what,
                    "session liveness source unavailable; admitting (allow_when_unavailable)"
                );
                return Ok(());
            }
            Err(e) => {
                tracing::warn!(target: "supagate", what = e.what, "session liveness source unavailable");
                return Err(AuthError::SessionStoreUnavailable);
            }
        };
        Err(AuthError::SessionRevoked { reason: end.code() })
    }
}

/// The session and user of verified claims: `None` for tokens liveness does not apply to
/// (third-party issuers).
fn key_of(claims: &Claims) -> Result<Option<(Uuid, Uuid)>, AuthError> {
    if claims.issued_by == IssuedBy::ThirdParty {
        return Ok(None);
    }
    let no_session = AuthError::SessionRevoked {
        reason: "no_session_id",
    };
    let session = claims
        .session_id
        .as_deref()
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or(no_session.clone())?;
    let user = claims.sub.as_uuid().ok_or(no_session)?;
    Ok(Some((session, user)))
}

/// Builds a [`SessionLiveness`]. Every setter documents its default.
#[must_use]
pub struct SessionLivenessBuilder {
    source: Arc<dyn SessionSource>,
    ttl: Duration,
    capacity: usize,
    fail_open: bool,
}

impl fmt::Debug for SessionLivenessBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionLivenessBuilder")
            .field("source", &self.source)
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .field("fail_open", &self.fail_open)
            .finish()
    }
}

impl SessionLivenessBuilder {
    /// How long an answer is reused, in whole seconds: 30 s by default, at most 5 minutes;
    /// zero asks the source on every request (still once per session at a time).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How many sessions are remembered: 100 000 by default (about 10 MB).
    pub fn capacity(mut self, sessions: usize) -> Self {
        self.capacity = sessions;
        self
    }

    /// Admit requests while the source cannot answer (logged at `warn`), instead of the
    /// default 503: for a service where availability matters more than cutting a revoked
    /// session off before its token expires.
    pub fn allow_when_unavailable(mut self, yes: bool) -> Self {
        self.fail_open = yes;
        self
    }

    /// The liveness check.
    ///
    /// # Errors
    ///
    /// [`AuthConfigError`] for a ttl over 5 minutes or a capacity of zero.
    pub fn build(self) -> Result<SessionLiveness, AuthConfigError> {
        if self.ttl > MAX_LIVENESS_TTL {
            return Err(AuthConfigError {
                what: "session liveness ttl must be at most 5 minutes",
            });
        }
        if self.capacity == 0 {
            return Err(AuthConfigError {
                what: "session liveness capacity must be at least 1",
            });
        }
        Ok(SessionLiveness {
            inner: Arc::new(Inner {
                source: self.source,
                ttl_secs: i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX),
                capacity: self.capacity,
                fail_open: self.fail_open,
                cache: Mutex::new(HashMap::new()),
                inflight: Mutex::new(HashMap::new()),
                calls: AtomicU64::new(0),
                #[cfg(feature = "watch")]
                recent: Mutex::new(HashMap::new()),
                epoch: AtomicU64::new(0),
                trusting: AtomicBool::new(true),
            }),
        })
    }
}
