//! [`SessionNotifications`]: sign-out everywhere, through `LISTEN` / `NOTIFY`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};
use supagate_auth::SessionLiveness;
use uuid::Uuid;

/// The channel the [migration](SESSION_NOTIFY_MIGRATION)'s triggers notify: the payload is a
/// session id, `user:<id>` for a change to a user, or `all` (the table emptied).
pub const SESSION_CHANNEL: &str = "supagate_sessions";

/// The migration that installs the triggers: on `auth.sessions` (a row deleted, its
/// `not_after` changed) and `auth.users` (banned, soft-deleted, deleted). Run it once as a
/// role that owns both tables (`postgres` on Supabase); it is idempotent.
///
/// # Examples
///
/// ```
/// assert!(supagate_postgres::SESSION_NOTIFY_MIGRATION.contains("after delete on auth.sessions"));
/// ```
pub const SESSION_NOTIFY_MIGRATION: &str = include_str!("../migrations/session_notify.sql");

/// What the listening task shares with its handle.
#[derive(Default)]
struct State {
    listening: AtomicBool,
    connections: AtomicU64,
}

/// Sign-out everywhere: one connection per process `LISTEN`s on [`SESSION_CHANNEL`], and each
/// notification of the [migration](SESSION_NOTIFY_MIGRATION)'s triggers makes the session
/// liveness cache forget that session (or every session of that user), so that an instance
/// that did not handle a sign-out sees it at its next request instead of when its cached
/// answer expires.
///
/// The cache is never trusted across a gap: until the first `LISTEN` succeeds, and from the
/// moment the listening connection is found lost until it listens again, the liveness cache
/// serves no "live" answer ([`SessionLiveness::pause_cache`]): every signed-in request asks
/// the database. The loss is found when the connection reports it (at once for a terminated
/// backend or a restarted server), or when a heartbeat sent through the pool every
/// [`heartbeat`](SessionNotificationsBuilder::heartbeat) is not heard back within another (a
/// connection that died without a word: within three heartbeats, 6 s by default). It
/// reconnects by itself (after 0.25 s, doubling up to 5 s), and starts from an empty cache, so
/// a sign-out whose notification was lost with the connection is seen from the first request
/// after the loss is found.
///
/// One per [`SessionLiveness`]. It needs a session-mode connection: a transaction-mode pooler
/// (Supavisor on port 6543, PgBouncer in transaction mode) cannot hold a `LISTEN`, and the
/// cache then stays paused. Stops when dropped.
///
/// # Examples
///
/// ```no_run
/// use supagate_auth::SessionLiveness;
/// use supagate_postgres::{DbSessions, SessionNotifications};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let privileged = sqlx::PgPool::connect("postgres://postgres@127.0.0.1/postgres").await?;
/// let liveness = SessionLiveness::builder(DbSessions::new(privileged.clone())).build()?;
/// let notifications = SessionNotifications::builder(privileged, liveness.clone()).spawn();
/// // … build the authenticator with `liveness`; keep `notifications` alive.
/// # let _ = notifications; Ok(()) }
/// ```
pub struct SessionNotifications {
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl fmt::Debug for SessionNotifications {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionNotifications")
            .field("listening", &self.listening())
            .field("connections", &self.connections())
            .finish()
    }
}

impl Drop for SessionNotifications {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SessionNotifications {
    /// Listens through a connection made with `pool`'s options (any role may `LISTEN`; its
    /// `application_name` is [`APPLICATION_NAME`](Self::APPLICATION_NAME)), sends its
    /// heartbeats through `pool`, and tells `liveness`.
    pub fn builder(pool: PgPool, liveness: SessionLiveness) -> SessionNotificationsBuilder {
        SessionNotificationsBuilder {
            pool,
            liveness,
            heartbeat: Self::DEFAULT_HEARTBEAT,
        }
    }

    /// The listening connection's `application_name`.
    pub const APPLICATION_NAME: &'static str = "supagate-notify";

    /// Default time between heartbeats, and the longest wait for one to come back: 2 s.
    pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(2);

    /// Whether the triggers of [`SESSION_NOTIFY_MIGRATION`] are installed in the database of
    /// `pool`: without them nothing is ever notified, and the cache is the plain TTL cache.
    ///
    /// # Errors
    ///
    /// What the database answered.
    pub async fn installed(pool: &PgPool) -> Result<bool, sqlx::Error> {
        let n: i64 = sqlx::query_scalar(crate::sql::NOTIFY_TRIGGERS)
            .fetch_one(pool)
            .await?;
        Ok(n == 5)
    }

    /// Whether it is listening now (the cache is trusted).
    #[must_use]
    pub fn listening(&self) -> bool {
        self.state.listening.load(Ordering::SeqCst)
    }

    /// How many times it has begun to listen (1 once connected, more after reconnections).
    #[must_use]
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::SeqCst)
    }
}

/// Builds [`SessionNotifications`].
#[must_use]
pub struct SessionNotificationsBuilder {
    pool: PgPool,
    liveness: SessionLiveness,
    heartbeat: Duration,
}

impl fmt::Debug for SessionNotificationsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionNotificationsBuilder")
            .field("heartbeat", &self.heartbeat)
            .finish_non_exhaustive()
    }
}

impl SessionNotificationsBuilder {
    /// Time between heartbeats, and the longest wait for one to come back before the
    /// connection is taken for lost (a connection that died without a word: a network
    /// partition, a host gone). At least 100 ms. Default:
    /// [`SessionNotifications::DEFAULT_HEARTBEAT`].
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every.max(Duration::from_millis(100));
        self
    }

    /// Starts listening, on the current tokio runtime (the cache is paused until the first
    /// `LISTEN` succeeds).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn spawn(self) -> SessionNotifications {
        let state = Arc::new(State::default());
        self.liveness.pause_cache();
        let task = tokio::spawn(run(self, Arc::clone(&state)));
        SessionNotifications { state, task }
    }
}

/// The heartbeat the supervisor waits for (an unguessable nonce per beat, so that a payload
/// another database role sends can neither answer a beat ahead of time nor for ever), and
/// how the receiver tells it the beat came back.
#[derive(Default)]
struct Beat {
    expected: std::sync::Mutex<String>,
    heard: tokio::sync::Notify,
}

/// A random 64-bit number (std's hasher keys are random per process and per `RandomState`).
fn nonce() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    );
    h.finish()
}

/// Aborts the receiving task when the supervisor is done with it (returns, or is dropped
/// with the handle).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Connects, listens, and supervises, for ever.
async fn run(b: SessionNotificationsBuilder, state: Arc<State>) {
    const FIRST_RETRY: Duration = Duration::from_millis(250);
    const LAST_RETRY: Duration = Duration::from_secs(5);
    // Tells this process's heartbeats from the others' on the shared channel.
    let me = format!("{}-{:016x}", std::process::id(), nonce());
    let options = b
        .pool
        .connect_options()
        .as_ref()
        .clone()
        .application_name(SessionNotifications::APPLICATION_NAME);
    let mut retry = FIRST_RETRY;
    loop {
        let listen_pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(b.heartbeat.max(Duration::from_secs(2)))
            .connect_lazy_with(options.clone());
        let listener = tokio::time::timeout(b.heartbeat.max(Duration::from_secs(2)), async {
            let mut listener = PgListener::connect_with(&listen_pool).await?;
            // A lost connection is reported at once, never replaced in silence (a reconnection
            // inside `try_recv` would leave the cache trusted while it waits).
            listener.eager_reconnect(false);
            listener.listen(SESSION_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        })
        .await;
        match listener {
            Ok(Ok(listener)) => {
                retry = FIRST_RETRY;
                // Listening: notifications from now on are heard; nothing from before is kept.
                b.liveness.resume_cache();
                state.listening.store(true, Ordering::SeqCst);
                state.connections.fetch_add(1, Ordering::SeqCst);
                tracing::info!(target: "supagate", "listening for session changes");
                let why = supervise(&b, listener, &me).await;
                state.listening.store(false, Ordering::SeqCst);
                b.liveness.pause_cache();
                tracing::warn!(target: "supagate", why, "session notifications lost: the liveness cache is paused until they are back");
            }
            Ok(Err(e)) => {
                tracing::warn!(target: "supagate", error = %e, "could not listen for session changes");
            }
            Err(_) => {
                tracing::warn!(target: "supagate", "could not listen for session changes: timed out");
            }
        }
        // A connection that died without a word may not close cleanly: never wait on it.
        let _ = tokio::time::timeout(Duration::from_secs(1), listen_pool.close()).await;
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(LAST_RETRY);
    }
}

/// Receives until the connection is lost; says why.
async fn supervise(
    b: &SessionNotificationsBuilder,
    mut listener: PgListener,
    me: &str,
) -> &'static str {
    let beat = Arc::new(Beat::default());
    let liveness = b.liveness.clone();
    let expecting = Arc::clone(&beat);
    let prefix = format!("heartbeat:{me}:");
    let mut receiver = AbortOnDrop(tokio::spawn(async move {
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => handle(&liveness, n.payload(), &prefix, &expecting),
                Ok(None) | Err(_) => {
                    // Paused here, before the supervisor hears of it: not a moment of trust
                    // on a connection known lost.
                    liveness.pause_cache();
                    return;
                }
            }
        }
    }));
    loop {
        tokio::select! {
            _ = &mut receiver.0 => return "the listening connection closed",
            () = tokio::time::sleep(b.heartbeat) => {}
        }
        let payload = format!("heartbeat:{me}:{:016x}", nonce());
        let heard = beat.heard.notified();
        tokio::pin!(heard);
        heard.as_mut().enable();
        *beat
            .expected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = payload.clone();
        let sent = tokio::time::timeout(
            b.heartbeat,
            sqlx::query("select pg_notify($1, $2)")
                .bind(SESSION_CHANNEL)
                .bind(&payload)
                .execute(&b.pool),
        )
        .await;
        if !matches!(sent, Ok(Ok(_))) {
            return "a heartbeat could not be sent";
        }
        let back = tokio::select! {
            _ = &mut receiver.0 => return "the listening connection closed",
            back = tokio::time::timeout(b.heartbeat, heard) => back,
        };
        if back.is_err() {
            return "a heartbeat did not come back";
        }
    }
}

/// One notification: a session, a user, this process's heartbeat, another's (ignored), or
/// anything else (everything is forgotten: the safe reading of what is not understood).
fn handle(liveness: &SessionLiveness, payload: &str, mine: &str, beat: &Beat) {
    if payload.starts_with(mine) {
        let expected = beat
            .expected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *expected == payload {
            // Wakes the beat waiting now (registered before it was sent); stores nothing for
            // a later one.
            beat.heard.notify_waiters();
        }
    } else if payload.starts_with("heartbeat:") {
        // Another process's.
    } else if payload == "all" {
        liveness.forget_all();
    } else if let Some(user) = payload.strip_prefix("user:") {
        match Uuid::parse_str(user) {
            Ok(user) => liveness.invalidate_user(user),
            Err(_) => liveness.forget_all(),
        }
    } else {
        match Uuid::parse_str(payload) {
            Ok(session) => liveness.forget_session(session),
            Err(_) => liveness.forget_all(),
        }
    }
}
