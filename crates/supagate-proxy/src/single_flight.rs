//! [`RefreshCoordinator`]: one refresh per refresh token, shared by concurrent requests and
//! reused by requests that arrive moments later with the old cookie.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use supagate_jwt::Token;
use tokio::sync::OnceCell;

/// How long a finished refresh is reused for requests still carrying the old refresh token.
pub const DEFAULT_REUSE_WINDOW: Duration = Duration::from_secs(10);

type Cell<R> = Arc<OnceCell<Arc<R>>>;

/// Coordinates refreshes so that a single-use refresh token is sent to the auth server once:
/// concurrent requests with the same refresh token wait for the same call, and requests that
/// arrive within the reuse window after it finished get its result instead of sending the
/// (now used) token again and ending the session with `refresh_token_already_used`.
///
/// Failed outcomes are shared and reused the same way (auth-js also caches a failed refresh per
/// token, for 60 s). Runtime-agnostic (it only uses `tokio::sync`). Keys are keyed hashes of the refresh token;
/// the token itself is not stored. If the request doing the refresh is cancelled, the next
/// waiter takes it over.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use supagate_jwt::Token;
/// use supagate_proxy::RefreshCoordinator;
///
/// let coordinator = RefreshCoordinator::<String>::new();
/// let token = Token::new("refresh-token-0123");
/// let a = coordinator.run(&token, || async { "new session".to_owned() }).await;
/// // Moments later, the same (already used) refresh token: the result is reused.
/// let b = coordinator.run(&token, || async { unreachable!("not sent twice") }).await;
/// assert_eq!(a, b);
/// # });
/// ```
pub struct RefreshCoordinator<R> {
    entries: Mutex<HashMap<u64, (Instant, Cell<R>)>>,
    reuse: Duration,
    seed: std::hash::RandomState,
}

impl<R> fmt::Debug for RefreshCoordinator<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("RefreshCoordinator")
            .field("entries", &n)
            .field("reuse_window", &self.reuse)
            .finish()
    }
}

impl<R> Default for RefreshCoordinator<R> {
    fn default() -> Self {
        RefreshCoordinator::new()
    }
}

impl<R> RefreshCoordinator<R> {
    /// With the [`DEFAULT_REUSE_WINDOW`].
    #[must_use]
    pub fn new() -> Self {
        RefreshCoordinator::with_reuse_window(DEFAULT_REUSE_WINDOW)
    }

    /// Reuses a finished refresh for `window` after it started.
    #[must_use]
    pub fn with_reuse_window(window: Duration) -> Self {
        RefreshCoordinator {
            entries: Mutex::new(HashMap::new()),
            reuse: window,
            seed: std::hash::RandomState::new(),
        }
    }

    /// Runs `refresh` for `refresh_token` unless a refresh for it is running (then waits for
    /// it) or finished within the reuse window (then returns its result).
    pub async fn run<F, Fut>(&self, refresh_token: &Token, refresh: F) -> Arc<R>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = R>,
    {
        let key = self.seed.hash_one(refresh_token.expose());
        let cell = {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            entries.retain(|_, (started, cell)| {
                now.duration_since(*started) < self.reuse || !cell.initialized()
            });
            Arc::clone(
                &entries
                    .entry(key)
                    .or_insert_with(|| (now, Arc::new(OnceCell::new())))
                    .1,
            )
        };
        Arc::clone(
            cell.get_or_init(|| async { Arc::new(refresh().await) })
                .await,
        )
    }
}
