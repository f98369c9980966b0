//! [`RefreshCoordinator`]: one refresh per refresh token, shared by concurrent requests and
//! reused by requests that arrive moments later with the old cookie.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use supagate_jwt::Token;
use tokio::sync::watch;

/// How long a finished refresh is reused for requests still carrying the old refresh token.
pub(crate) const DEFAULT_REUSE_WINDOW: Duration = Duration::from_secs(10);

/// Default bound on the number of refresh tokens tracked at once.
pub(crate) const DEFAULT_MAX_REFRESHES: usize = 10_000;

/// A keyed 128-bit hash of a refresh token: the token itself is never stored.
type Key = (u64, u64);

struct Entry<R> {
    /// `None` until the refresh finished.
    result: watch::Receiver<Option<Done<R>>>,
    /// When the refresh started: its result is reused until the reuse window has passed
    /// since, whether or not its task has removed the entry yet.
    started: Instant,
    /// Which refresh this is, so that a finished one's task never removes its successor.
    id: u64,
}

/// A finished refresh: its result, and whether later requests may reuse it (`keep`).
struct Done<R> {
    result: Arc<R>,
    reusable: bool,
}

impl<R> Clone for Done<R> {
    fn clone(&self) -> Self {
        Done {
            result: Arc::clone(&self.result),
            reusable: self.reusable,
        }
    }
}

struct Shared<R> {
    entries: Mutex<HashMap<Key, Entry<R>>>,
    reuse: Duration,
    max_entries: usize,
    seeds: (RandomState, RandomState),
    ids: AtomicU64,
}

/// Coordinates refreshes so that a single-use refresh token is sent to the auth server once:
/// concurrent requests with the same refresh token wait for the same call, and requests that
/// arrive within the reuse window after it started get its result instead of sending the (now
/// used) token again and ending the session with `refresh_token_already_used`.
///
/// - **Cancellation-safe**: the refresh runs on a task of its own (`tokio::spawn`), so a
///   client that disconnects while its request performs the refresh cancels only its own wait;
///   the call completes and its result goes to every other waiter and to the next request with
///   the same cookie. A refresh token is never sent twice.
/// - **Bounded**: each entry is removed by its own task once the reuse window has passed (or
///   when the task ends early); at most [`RefreshCoordinator::DEFAULT_MAX_REFRESHES`] tokens are tracked, and
///   beyond that a refresh still runs (on its own task) without being shared.
/// - Keys are keyed 128-bit hashes of the refresh token; the token itself is not stored.
///
/// Failed outcomes are shared and reused the same way (auth-js also caches a failed refresh
/// per token). Needs a Tokio runtime. Cloning gives another handle to the same coordinator.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use supagate_jwt::Token;
/// use supagate_proxy::core::RefreshCoordinator;
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
    shared: Arc<Shared<R>>,
}

impl<R> Clone for RefreshCoordinator<R> {
    fn clone(&self) -> Self {
        RefreshCoordinator {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<R> fmt::Debug for RefreshCoordinator<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshCoordinator")
            .field("entries", &self.len())
            .field("reuse_window", &self.shared.reuse)
            .field("max_entries", &self.shared.max_entries)
            .finish()
    }
}

impl<R: Send + Sync + 'static> Default for RefreshCoordinator<R> {
    fn default() -> Self {
        RefreshCoordinator::new()
    }
}

/// Removes an entry when its task ends, however it ends.
struct Remove<R> {
    shared: Arc<Shared<R>>,
    key: Key,
    id: u64,
}

impl<R> Drop for Remove<R> {
    fn drop(&mut self) {
        let mut entries = self
            .shared
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if entries.get(&self.key).is_some_and(|e| e.id == self.id) {
            entries.remove(&self.key);
        }
    }
}

impl<R> RefreshCoordinator<R> {
    /// Default bound on the number of refresh tokens tracked at once.
    pub const DEFAULT_MAX_REFRESHES: usize = DEFAULT_MAX_REFRESHES;

    /// How long a finished refresh is reused for requests still carrying the old refresh token.
    pub const DEFAULT_REUSE_WINDOW: Duration = DEFAULT_REUSE_WINDOW;

    /// How many refresh tokens are tracked now (running, or finished within the reuse window).
    #[must_use]
    pub fn len(&self) -> usize {
        self.shared
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no refresh token is tracked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<R: Send + Sync + 'static> RefreshCoordinator<R> {
    /// With the [`RefreshCoordinator::DEFAULT_REUSE_WINDOW`] and [`RefreshCoordinator::DEFAULT_MAX_REFRESHES`].
    #[must_use]
    pub fn new() -> Self {
        RefreshCoordinator::with_reuse_window(DEFAULT_REUSE_WINDOW)
    }

    /// Reuses a refresh's result for `window` after it started.
    #[must_use]
    pub fn with_reuse_window(window: Duration) -> Self {
        RefreshCoordinator {
            shared: Arc::new(Shared {
                entries: Mutex::new(HashMap::new()),
                reuse: window,
                max_entries: DEFAULT_MAX_REFRESHES,
                seeds: (RandomState::new(), RandomState::new()),
                ids: AtomicU64::new(0),
            }),
        }
    }

    /// Tracks at most `max` refresh tokens at once (call it before sharing the coordinator).
    /// Default [`RefreshCoordinator::DEFAULT_MAX_REFRESHES`].
    #[must_use]
    pub fn with_max_entries(mut self, max: usize) -> Self {
        if let Some(s) = Arc::get_mut(&mut self.shared) {
            s.max_entries = max;
        }
        self
    }

    /// Runs `refresh` for `refresh_token` on a task of its own unless a refresh for it is
    /// running (then waits for it) or started within the reuse window (then returns its
    /// result). `None` only when the refresh task died without a result (it panicked, or the
    /// runtime is shutting down).
    pub async fn run<F, Fut>(&self, refresh_token: &Token, refresh: F) -> Option<Arc<R>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = R> + Send + 'static,
    {
        self.run_or(refresh_token, || Ok(refresh()), |_| true).await
    }

    /// As [`RefreshCoordinator::run`], but `refresh` may decline to start a call (`Err` with
    /// the result to return, which is neither shared nor kept): for a budget checked only
    /// when a call would really be made. It is called under the coordinator's lock, so it
    /// must not block. A result for which `keep` is false goes to the requests already
    /// waiting but is not reused afterwards (an answer that did not spend the token, such as
    /// a 429).
    pub(crate) async fn run_or<F, Fut, K>(
        &self,
        refresh_token: &Token,
        refresh: F,
        keep: K,
    ) -> Option<Arc<R>>
    where
        F: FnOnce() -> Result<Fut, R>,
        Fut: Future<Output = R> + Send + 'static,
        K: FnOnce(&R) -> bool + Send + 'static,
    {
        let s = &self.shared;
        let token = refresh_token.expose();
        let key = (s.seeds.0.hash_one(token), s.seeds.1.hash_one(token));
        let mut result = {
            let mut entries = s.entries.lock().unwrap_or_else(PoisonError::into_inner);
            // A running refresh is always shared; a finished one only within the window
            // (its task may not have run yet to remove it).
            let live = entries.get(&key).filter(|e| match &*e.result.borrow() {
                None => true,
                Some(done) => done.reusable && e.started.elapsed() < s.reuse,
            });
            if let Some(e) = live {
                e.result.clone()
            } else {
                let call = match refresh() {
                    Ok(call) => call,
                    Err(declined) => return Some(Arc::new(declined)),
                };
                let (tx, rx) = watch::channel(None);
                let started = Instant::now();
                let id = s.ids.fetch_add(1, Ordering::Relaxed);
                // A finished entry past its window is replaced, not added to.
                let tracked = entries.contains_key(&key) || entries.len() < s.max_entries;
                if tracked {
                    entries.insert(
                        key,
                        Entry {
                            result: rx.clone(),
                            started,
                            id,
                        },
                    );
                }
                drop(entries);
                let guard = tracked.then(|| Remove {
                    shared: Arc::clone(s),
                    key,
                    id,
                });
                let reuse = s.reuse;
                tokio::spawn(async move {
                    let out = Arc::new(call.await);
                    let reusable = keep(&out);
                    tx.send_replace(Some(Done {
                        result: out,
                        reusable,
                    }));
                    if guard.is_some() && reusable {
                        // Keep the result for late requests with the old cookie, then let the
                        // guard remove the entry.
                        tokio::time::sleep(reuse.saturating_sub(started.elapsed())).await;
                    }
                    drop(guard);
                });
                rx
            }
        };
        let done = result.wait_for(Option::is_some).await.ok()?;
        done.as_ref().map(|d| Arc::clone(&d.result))
    }
}
