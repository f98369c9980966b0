//! [`DbSessions`]: session liveness from `auth.sessions`.

use std::fmt;
use std::time::Duration;

use sqlx::PgPool;
use supagate_auth::{
    BoxFuture, SessionEnd, SessionKey, SessionSource, SessionState, SourceUnavailable,
};
use uuid::Uuid;

use crate::sql;

/// Default bound on one question to the database: 2 s.
pub(crate) const DEFAULT_SESSION_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// A [`SessionSource`] that reads `auth.sessions` and `auth.users` through a privileged pool
/// (a role with `SELECT` on both: `postgres`, or a dedicated role; not `authenticator`, which
/// Supabase does not let read the `auth` schema). One indexed lookup per question:
///
/// - no row for the token's `session_id`: ended (`session_not_found`), as after any
///   sign-out, a password change or an admin revoking the user;
/// - a row of another user: ended;
/// - `not_after` is returned, and checked on every request against the verifier's clock
///   (Supabase deletes time-boxed sessions only about a day after they end);
/// - a missing, soft-deleted or banned user: ended.
///
/// # Examples
///
/// ```no_run
/// use supagate_auth::SessionLiveness;
/// use supagate_postgres::DbSessions;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let privileged = sqlx::PgPool::connect("postgres://postgres@127.0.0.1/postgres").await?;
/// let liveness = SessionLiveness::builder(DbSessions::new(privileged)).build()?;
/// # let _ = liveness; Ok(()) }
/// ```
#[derive(Clone)]
pub struct DbSessions {
    pool: PgPool,
    timeout: Duration,
}

impl fmt::Debug for DbSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbSessions")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl DbSessions {
    /// Default bound on one question to the database: 2 s.
    pub const DEFAULT_QUERY_TIMEOUT: Duration = DEFAULT_SESSION_QUERY_TIMEOUT;

    /// Reads through `pool`, each question bounded by [`DbSessions::DEFAULT_QUERY_TIMEOUT`].
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        DbSessions {
            pool,
            timeout: DEFAULT_SESSION_QUERY_TIMEOUT,
        }
    }

    /// Bounds each question (connection included): slower is "unavailable".
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Checks at start-up that the pool may read what every question reads (`auth.sessions`
    /// and `auth.users`): a pool without the grant (Supabase's `authenticator`) would make
    /// every signed-in request a 503.
    ///
    /// # Errors
    ///
    /// What the database answered, for a message at start-up.
    pub async fn probe(&self) -> Result<(), sqlx::Error> {
        sqlx::query(sql::SESSION_PROBE).execute(&self.pool).await?;
        Ok(())
    }

    async fn ask(&self, session: Uuid, user: Uuid) -> Result<SessionState, SourceUnavailable> {
        type Row = (Uuid, Option<f64>, bool, bool, bool);
        let query = sqlx::query_as::<_, Row>(sql::SESSION_STATE)
            .bind(session)
            .fetch_optional(&self.pool);
        let row = match tokio::time::timeout(self.timeout, query).await {
            Err(_) => return Err(SourceUnavailable::new("auth.sessions query timed out")),
            Ok(Err(e)) => {
                tracing::warn!(target: "supagate", error = %e, "auth.sessions query failed");
                return Err(SourceUnavailable::new("auth.sessions query failed"));
            }
            Ok(Ok(row)) => row,
        };
        let Some((owner, not_after, user_exists, deleted, banned)) = row else {
            return Ok(SessionState::Ended(SessionEnd::NotFound));
        };
        Ok(if owner != user {
            SessionState::Ended(SessionEnd::UserMismatch)
        } else if !user_exists || deleted {
            SessionState::Ended(SessionEnd::UserDeleted)
        } else if banned {
            SessionState::Ended(SessionEnd::UserBanned)
        } else {
            #[allow(clippy::cast_possible_truncation)]
            let not_after = not_after.map(|t| t.floor() as i64);
            SessionState::Live { not_after }
        })
    }
}

impl SessionSource for DbSessions {
    fn session_state<'a>(
        &'a self,
        session: SessionKey<'a>,
    ) -> BoxFuture<'a, Result<SessionState, SourceUnavailable>> {
        Box::pin(self.ask(session.session_id(), session.user_id()))
    }
}
