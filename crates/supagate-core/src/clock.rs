//! [`Clock`]: the one source of time of the crate family. The verifier reads it for `exp`,
//! `nbf` and `iat`; the policy's `RecentSignIn` and the proxy's refresh decisions read the
//! verifier's clock (`supagate_jwt::Verifier::now`), so a test that pins one pins them all.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time, injected so that tests (and replays of recorded tokens) can
/// pin it.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Seconds since the Unix epoch.
    fn now(&self) -> i64;
}

/// The system clock. A clock set before 1970 reads as 0, so every token is expired rather
/// than anything panicking.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that stands still until moved. Clones share the same time, so a test can keep a
/// handle and advance the clock of a verifier it already built.
///
/// # Examples
///
/// ```
/// use supagate_core::{Clock, FixedClock};
///
/// let clock = FixedClock::new(1_798_761_600);
/// let handle = clock.clone();
/// handle.advance(3600);
/// assert_eq!(clock.now(), 1_798_765_200);
/// ```
#[derive(Debug, Clone)]
pub struct FixedClock(Arc<AtomicI64>);

impl FixedClock {
    /// A clock reading `unix_seconds`.
    #[must_use]
    pub fn new(unix_seconds: i64) -> Self {
        FixedClock(Arc::new(AtomicI64::new(unix_seconds)))
    }

    /// Sets the time.
    pub fn set(&self, unix_seconds: i64) {
        self.0.store(unix_seconds, Ordering::SeqCst);
    }

    /// Moves the time by `seconds` (negative moves back).
    pub fn advance(&self, seconds: i64) {
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
                Some(t.saturating_add(seconds))
            });
    }
}

impl Clock for FixedClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
