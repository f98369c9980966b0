//! Errors: [`RlsConfigError`] at start-up, [`RlsError`] at request time.

use http::StatusCode;

/// A start-up mistake: reported by [`RlsBuilder::build`](crate::RlsBuilder::build), never at
/// request time.
///
/// # Examples
///
/// ```
/// let e = supagate_postgres::RlsConfigError::InvalidRole { role: "postgres".into(), problem: "is a superuser" };
/// assert_eq!(e.to_string(), "role `postgres` cannot be a request role: is a superuser");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RlsConfigError {
    /// A role that may not be a request role: missing, a superuser, not granted to the login
    /// role, or not a plain identifier.
    #[error("role `{role}` cannot be a request role: {problem}")]
    InvalidRole {
        /// The role's name.
        role: String,
        /// Why.
        problem: &'static str,
    },
    /// A search-path entry that is not a plain identifier.
    #[error("search path entry `{0}` must be 1 to 63 of a-z 0-9 _ (starting with a letter or _)")]
    InvalidSearchPath(String),
    /// The database could not be asked about the roles.
    #[error("could not read the roles' settings: {0}")]
    Database(#[source] sqlx::Error),
}

/// Why a user-scoped transaction could not begin or be applied. Never contains claim values
/// or a connection string; answer it with its [`status`](RlsError::status) (503 when the
/// database is unreachable, 500 otherwise).
///
/// # Examples
///
/// ```
/// use supagate_postgres::RlsError;
///
/// let e = RlsError::Unavailable;
/// assert_eq!(e.status(), http::StatusCode::SERVICE_UNAVAILABLE);
/// assert_eq!(e.reason(), "database_unavailable");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RlsError {
    /// No connection could be had in time (pool timeout, connection refused, closed pool).
    #[error("database unavailable")]
    Unavailable,
    /// The database refused the scope or a statement (logged; never the client's fault).
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// A [`Scope`](crate::Scope) made by another [`Rls`](crate::Rls), naming a role this one
    /// did not check at start-up (a programming error; 500).
    #[error("the scope's role was not configured on this Rls")]
    ForeignScope,
}

impl From<sqlx::Error> for RlsError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => RlsError::Unavailable,
            // Connection failures (08), insufficient resources (53: too many connections, out
            // of memory or disk), the server shutting down or in recovery (57P01 to 57P03).
            sqlx::Error::Database(db)
                if db.code().is_some_and(|c| {
                    c.starts_with("08")
                        || c.starts_with("53")
                        || matches!(&*c, "57P01" | "57P02" | "57P03")
                }) =>
            {
                RlsError::Unavailable
            }
            other => RlsError::Database(other),
        }
    }
}

impl RlsError {
    /// 503 for [`RlsError::Unavailable`], 500 otherwise.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            RlsError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            RlsError::Database(_) | RlsError::ForeignScope => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// None: these are not RFC 6750 errors.
    #[must_use]
    pub fn error_code(&self) -> Option<&'static str> {
        None
    }

    /// A short description that is safe to send.
    #[must_use]
    pub fn description(&self) -> &'static str {
        match self {
            RlsError::Unavailable => "database unavailable",
            RlsError::Database(_) | RlsError::ForeignScope => "internal server error",
        }
    }

    /// The response for it, the same on every adapter: the status, `Retry-After: 1` on 503,
    /// `Cache-Control: no-store`, and a JSON body `{"error": …, "error_description": …}` with
    /// nothing of the database's own message.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = supagate_postgres::RlsError::Unavailable.to_response();
    /// assert_eq!(r.status(), 503);
    /// assert_eq!(r.headers()["retry-after"], "1");
    /// assert_eq!(r.body(), br#"{"error":"temporarily_unavailable","error_description":"database unavailable"}"#);
    /// ```
    #[must_use]
    pub fn to_response(&self) -> http::Response<Vec<u8>> {
        let code = match self {
            RlsError::Unavailable => "temporarily_unavailable",
            RlsError::Database(_) | RlsError::ForeignScope => "server_error",
        };
        let body = serde_json::json!({"error": code, "error_description": self.description()});
        let mut r = http::Response::new(body.to_string().into_bytes());
        *r.status_mut() = self.status();
        let h = r.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        h.insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        );
        if matches!(self, RlsError::Unavailable) {
            h.insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("1"),
            );
        }
        r
    }

    /// A stable reason code for logs and metrics.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            RlsError::Unavailable => "database_unavailable",
            RlsError::Database(_) => "database_error",
            RlsError::ForeignScope => "foreign_scope",
        }
    }
}

impl supagate_jwt::RequestError for RlsError {
    fn status(&self) -> StatusCode {
        RlsError::status(self)
    }
    fn error_code(&self) -> Option<&'static str> {
        RlsError::error_code(self)
    }
    fn description(&self) -> &'static str {
        RlsError::description(self)
    }
    fn reason(&self) -> &'static str {
        RlsError::reason(self)
    }
}
