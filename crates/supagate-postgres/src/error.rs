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
    /// A pre-request function that is not `schema.name` of plain identifiers, or that does
    /// not exist (without arguments).
    #[error("pre-request function `{function}`: {problem}")]
    InvalidPreRequest {
        /// The name as given (at most 128 characters of it).
        function: String,
        /// Why.
        problem: &'static str,
    },
    /// A search-path entry that is not a plain identifier.
    #[error("search path entry `{0}` must be 1 to 63 of a-z 0-9 _ (starting with a letter or _)")]
    InvalidSearchPath(String),
    /// The database could not be asked about the roles.
    #[error("could not read the roles' settings: {0}")]
    Database(#[source] sqlx::Error),
    /// The database could not be asked about the roles, through another client than sqlx
    /// (tokio-postgres).
    #[error("could not read the roles' settings: {0}")]
    Driver(#[source] BoxError),
}

/// An error of a client other than sqlx.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a user-scoped transaction, or a statement in it, failed. Never contains claim values
/// or a connection string; answer it with its [`status`](supagate_core::RequestError::status) or
/// [`to_response`](RlsError::to_response). `From<sqlx::Error>` sorts a database error by its
/// SQLSTATE, as PostgREST does, so an app can answer every error of its own queries with it
/// too:
///
/// | SQLSTATE | status | variant |
/// |---|---|---|
/// | class 08 (connection), 53 but 53400 (resources), 57P01 to 57P03 (shutting down, in recovery), a pool timeout, I/O | 503 + `Retry-After: 1` | [`Unavailable`](RlsError::Unavailable) |
/// | class 22 (data exception: a NUL character, an invalid value), class 23 but the two below (check, not-null), P0001 (`raise exception`) | 400 | [`Refused`](RlsError::Refused) |
/// | 23503 (foreign key), 23505 (unique) | 409 | `Refused` |
/// | 42501 (insufficient privilege: a policy or grant refused), class 0L, 0P, 28 | 403 (from the [pre-request function](crate::RlsBuilder::pre_request), 42501 is 401 for a signed-out caller, as in PostgREST) | `Refused` |
/// | 25006 (a write in a read-only transaction) | 405 | `Refused` |
/// | `PTnnn` (a function's explicit status, PostgREST's convention), nnn in 400 to 599 | nnn | `Refused` |
/// | anything else (a syntax error in the app's SQL, an internal error) | 500 | [`Database`](RlsError::Database) |
///
/// Unlike PostgREST, whose SQL comes from the request's URL, the rest of class 42 (syntax,
/// undefined table or column) is the app's own SQL and answers 500. The errors of
/// [`Rls::begin`](crate::Rls::begin) and [`Rls::apply`](crate::Rls::apply) themselves (taking a
/// connection, the scope statement) are never a client's: a wrong pool password (28P01) or a
/// revoked grant (42501) there is [`Database`](RlsError::Database), 500.
///
/// # Examples
///
/// ```
/// use supagate_core::RequestError as _;
/// use supagate_postgres::RlsError;
///
/// let e = RlsError::Unavailable;
/// assert_eq!(e.status(), http::StatusCode::SERVICE_UNAVAILABLE);
/// assert_eq!(e.reason(), "database_unavailable");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RlsError {
    /// No connection could be had in time (pool timeout, connection refused, closed pool), or
    /// the server is shutting down, out of resources, or in recovery.
    #[error("database unavailable")]
    Unavailable,
    /// The database refused a statement because of what the request sent or may do (see the
    /// table above): a client error, never logged as a fault of the service.
    #[error("statement refused by the database ({status})")]
    Refused {
        /// The answer's status (400, 403, 405, 409, or a `PTnnn` function's own).
        status: StatusCode,
        /// The database's error, for the service's own logs (its message may quote the
        /// request's values: never send it).
        #[source]
        source: sqlx::Error,
    },
    /// The database refused the scope or a statement for a reason of the service's own
    /// (logged; never the client's fault).
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// A [`Scope`](crate::Scope) made by another [`Rls`](crate::Rls), naming a role this one
    /// did not check at start-up (a programming error; 500).
    #[error("the scope's role was not configured on this Rls")]
    ForeignScope,
    /// An error of another client than sqlx 0.8 (tokio-postgres), sorted by the same table:
    /// `status` is the client's error when the request is at fault, `None` for the service's
    /// own (500).
    #[error("database error: {source}")]
    Driver {
        /// The status of a client error (`Some`), or `None` for the service's fault.
        status: Option<StatusCode>,
        /// The SQLSTATE, when the database sent one.
        sqlstate: Option<String>,
        /// The client's error, for the service's own logs (never sent).
        #[source]
        source: BoxError,
    },
    /// A token whose `role` claim the strict mode refuses
    /// ([`RlsBuilder::refuse_unsupported_roles`](crate::RlsBuilder::refuse_unsupported_roles)):
    /// 403.
    #[error("the token's role is not supported")]
    UnsupportedRole,
}

impl From<sqlx::Error> for RlsError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => RlsError::Unavailable,
            sqlx::Error::Database(ref db) => match db.code().as_deref().map(sqlstate_status) {
                Some(Sqlstate::Unavailable) => RlsError::Unavailable,
                Some(Sqlstate::Client(status)) => RlsError::Refused { status, source: e },
                _ => RlsError::Database(e),
            },
            other => RlsError::Database(other),
        }
    }
}

impl RlsError {
    /// A client's error by its SQLSTATE (`None`: no answer from the database, the connection
    /// is the problem when `unavailable`), as [`From<sqlx::Error>`] sorts sqlx's.
    #[cfg_attr(
        not(any(feature = "tokio-postgres", feature = "sqlx09")),
        allow(dead_code)
    )]
    pub(crate) fn of_driver(
        sqlstate: Option<&str>,
        unavailable: bool,
        source: BoxError,
    ) -> RlsError {
        match sqlstate {
            Some(code) => match sqlstate_status(code) {
                Sqlstate::Unavailable => RlsError::Unavailable,
                Sqlstate::Client(status) => RlsError::Driver {
                    status: Some(status),
                    sqlstate: Some(code.to_owned()),
                    source,
                },
                Sqlstate::Service => RlsError::Driver {
                    status: None,
                    sqlstate: Some(code.to_owned()),
                    source,
                },
            },
            None if unavailable => RlsError::Unavailable,
            None => RlsError::Driver {
                status: None,
                sqlstate: None,
                source,
            },
        }
    }

    /// Logs an error of a scoped transaction's start, the same for every client: a fault of
    /// the service at `error`, a refusal at `info`, an unavailable database at `warn`.
    pub(crate) fn logged(self) -> RlsError {
        use supagate_core::RequestError as _;
        let e = &self;
        match e {
            RlsError::Unavailable => {
                tracing::warn!(target: "supagate", reason = e.reason(), "database unavailable");
            }
            RlsError::Refused { status, .. } => {
                tracing::info!(target: "supagate", reason = e.reason(), status = status.as_u16(), "the database refused the request");
            }
            RlsError::Database(db) => {
                tracing::error!(target: "supagate", reason = e.reason(), error = %db, "could not begin a scoped transaction");
            }
            RlsError::Driver {
                status: None,
                sqlstate,
                source,
            } => {
                tracing::error!(target: "supagate", reason = e.reason(), sqlstate = sqlstate.as_deref(), error = %source, "could not begin a scoped transaction");
            }
            RlsError::Driver {
                status: Some(status),
                ..
            } => {
                tracing::info!(target: "supagate", reason = e.reason(), status = status.as_u16(), "the database refused the request");
            }
            RlsError::ForeignScope => {
                tracing::error!(target: "supagate", reason = e.reason(), "a scope made by another Rls");
            }
            RlsError::UnsupportedRole => {
                tracing::debug!(target: "supagate", reason = e.reason(), "a token's role is not supported");
            }
        }
        self
    }

    /// An error of the pre-request function: the table's, but 42501 is 401 for a caller who
    /// is not signed in (PostgREST: a refusal of the anonymous role asks for credentials).
    pub(crate) fn of_pre_request(e: sqlx::Error, signed_in: bool) -> RlsError {
        RlsError::from(e).into_pre_request(signed_in)
    }

    /// A pre-request function's error: 42501 is 401 for a caller who is not signed in.
    pub(crate) fn into_pre_request(self, signed_in: bool) -> RlsError {
        let is_42501 = self.sqlstate().as_deref() == Some("42501");
        match self {
            RlsError::Refused { status, source }
                if !signed_in && status == StatusCode::FORBIDDEN && is_42501 =>
            {
                RlsError::Refused {
                    status: StatusCode::UNAUTHORIZED,
                    source,
                }
            }
            RlsError::Driver {
                status: Some(StatusCode::FORBIDDEN),
                sqlstate,
                source,
            } if !signed_in && is_42501 => RlsError::Driver {
                status: Some(StatusCode::UNAUTHORIZED),
                sqlstate,
                source,
            },
            other => other,
        }
    }

    /// An error of the service's own statements made of a client's: never the client's.
    #[cfg_attr(
        not(any(feature = "tokio-postgres", feature = "sqlx09")),
        allow(dead_code)
    )]
    pub(crate) fn into_service(self) -> RlsError {
        match self {
            RlsError::Refused { source, .. } => RlsError::Database(source),
            RlsError::Driver {
                sqlstate, source, ..
            } => RlsError::Driver {
                status: None,
                sqlstate,
                source,
            },
            other => other,
        }
    }

    /// An error of the service's own statements (taking a connection, the scope statement):
    /// unavailable, or the service's fault (500), never a client error whatever the SQLSTATE
    /// (class 28 is a wrong password of the pool, 42501 a revoked grant, not the caller's).
    pub(crate) fn of_service(e: sqlx::Error) -> RlsError {
        match RlsError::from(e) {
            RlsError::Refused { source, .. } => RlsError::Database(source),
            other => other,
        }
    }
}

/// The body code and description of a [`RlsError::Refused`] with `status`.
fn refused_words(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => (
            "invalid_input",
            "the database refused a value of the request",
        ),
        401 => ("unauthorized", "sign in to do this"),
        403 => ("forbidden", "not allowed"),
        405 => ("read_only", "not allowed in a read-only transaction"),
        409 => ("conflict", "conflicts with existing data"),
        _ => ("refused", "refused by the database"),
    }
}

/// What a SQLSTATE says about whose fault an error is.
#[derive(Debug, PartialEq, Eq)]
enum Sqlstate {
    /// The database cannot serve now: 503.
    Unavailable,
    /// The request's values or rights: this status.
    Client(StatusCode),
    /// The service's own (its SQL, the server): 500.
    Service,
}

/// PostgREST's mapping of SQLSTATEs to statuses (`Error.hs`, `pgErrorStatus`), for errors in
/// SQL the app wrote rather than SQL made from a URL: see the table on [`RlsError`].
fn sqlstate_status(code: &str) -> Sqlstate {
    let status = |n| StatusCode::from_u16(n).map_or(Sqlstate::Service, Sqlstate::Client);
    let class = code.get(..2).unwrap_or_default();
    match code {
        "53400" => Sqlstate::Service,
        "57P01" | "57P02" | "57P03" => Sqlstate::Unavailable,
        "23503" | "23505" => status(409),
        "25006" => status(405),
        "42501" => status(403),
        "P0001" => status(400),
        _ if class == "08" || class == "53" => Sqlstate::Unavailable,
        _ if matches!(class, "22" | "23") => status(400),
        _ if matches!(class, "0L" | "0P" | "28") => status(403),
        _ if class == "PT" => match code.get(2..).and_then(|n| n.parse::<u16>().ok()) {
            Some(n @ 400..=599) => status(n),
            _ => Sqlstate::Service,
        },
        _ => Sqlstate::Service,
    }
}

impl RlsError {
    /// The SQLSTATE of a database error (`23505`, `42501`, …), if it is one: for an app
    /// that tells its own constraint violations apart.
    #[must_use]
    pub fn sqlstate(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            RlsError::Refused { source, .. } | RlsError::Database(source) => {
                source.as_database_error().and_then(|d| d.code())
            }
            RlsError::Driver { sqlstate, .. } => {
                sqlstate.as_deref().map(std::borrow::Cow::Borrowed)
            }
            RlsError::Unavailable | RlsError::ForeignScope | RlsError::UnsupportedRole => None,
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
        // The wait is the error's own (`Unavailable`); a function's PT503 carries none.
        let mut res = supagate_core::refusal_response(self, None);
        if res.status() == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3: a 401 names its scheme; no error code, since no token was sent.
            res.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            );
        }
        res
    }
}

impl supagate_core::RequestError for RlsError {
    /// 503 for [`RlsError::Unavailable`], the client error's own for
    /// [`RlsError::Refused`], 500 otherwise.
    fn status(&self) -> StatusCode {
        match self {
            RlsError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            RlsError::Refused { status, .. }
            | RlsError::Driver {
                status: Some(status),
                ..
            } => *status,
            RlsError::UnsupportedRole => StatusCode::FORBIDDEN,
            RlsError::Driver { status: None, .. } => StatusCode::INTERNAL_SERVER_ERROR,
            RlsError::Database(_) | RlsError::ForeignScope => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    /// None: these are not RFC 6750 errors.
    fn error_code(&self) -> Option<&'static str> {
        None
    }
    /// A short description that is safe to send.
    fn description(&self) -> &'static str {
        match self {
            RlsError::Unavailable => "database unavailable",
            RlsError::Refused { status, .. }
            | RlsError::Driver {
                status: Some(status),
                ..
            } => refused_words(*status).1,
            RlsError::UnsupportedRole => "the token's role is not supported",
            RlsError::Driver { status: None, .. } => "internal server error",
            RlsError::Database(_) | RlsError::ForeignScope => "internal server error",
        }
    }
    /// A stable reason code for logs and metrics.
    fn reason(&self) -> &'static str {
        match self {
            RlsError::Unavailable => "database_unavailable",
            RlsError::Refused { .. }
            | RlsError::Driver {
                status: Some(_), ..
            } => "database_refused",
            RlsError::Database(_) | RlsError::Driver { status: None, .. } => "database_error",
            RlsError::ForeignScope => "foreign_scope",
            RlsError::UnsupportedRole => "unsupported_role",
        }
    }
    /// The `error` of the JSON body: `temporarily_unavailable`, `invalid_input` (400),
    /// `forbidden` (403), `read_only` (405), `conflict` (409), `refused` (another
    /// `PTnnn` status), `server_error`.
    fn body_code(&self) -> &'static str {
        match self {
            RlsError::Unavailable => "temporarily_unavailable",
            RlsError::Refused { status, .. }
            | RlsError::Driver {
                status: Some(status),
                ..
            } => refused_words(*status).0,
            RlsError::UnsupportedRole => "forbidden",
            RlsError::Driver { status: None, .. } => "server_error",
            RlsError::Database(_) | RlsError::ForeignScope => "server_error",
        }
    }
    /// One second for an unavailable database (a pool timeout or a restart passes quickly).
    fn retry_after(&self) -> Option<u64> {
        matches!(self, RlsError::Unavailable).then_some(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_map_as_postgrest_maps_them() {
        let client = |n| Sqlstate::Client(StatusCode::from_u16(n).unwrap());
        for (code, want) in [
            ("08006", Sqlstate::Unavailable),
            ("53300", Sqlstate::Unavailable),
            ("53400", Sqlstate::Service),
            ("57P01", Sqlstate::Unavailable),
            ("57P03", Sqlstate::Unavailable),
            ("57014", Sqlstate::Service),
            ("22P05", client(400)),
            ("22021", client(400)),
            ("22001", client(400)),
            ("23514", client(400)),
            ("23502", client(400)),
            ("23503", client(409)),
            ("23505", client(409)),
            ("P0001", client(400)),
            ("P0002", Sqlstate::Service),
            ("42501", client(403)),
            ("28000", client(403)),
            ("0P000", client(403)),
            ("25006", client(405)),
            ("PT418", client(418)),
            ("PT200", Sqlstate::Service),
            ("PTabc", Sqlstate::Service),
            ("42601", Sqlstate::Service),
            ("42P01", Sqlstate::Service),
            ("XX000", Sqlstate::Service),
            ("", Sqlstate::Service),
            ("2", Sqlstate::Service),
        ] {
            assert_eq!(sqlstate_status(code), want, "{code}");
        }
    }

    #[test]
    fn only_an_unavailable_database_says_when_to_retry() {
        let r = RlsError::Unavailable.to_response();
        assert_eq!(r.headers()[http::header::RETRY_AFTER], "1");
        // A function's own PT503 is its answer, with no wait the service made up.
        let pt503 = RlsError::Refused {
            status: StatusCode::SERVICE_UNAVAILABLE,
            source: sqlx::Error::PoolClosed,
        };
        let r = pt503.to_response();
        assert_eq!(r.status(), 503);
        assert!(r.headers().get(http::header::RETRY_AFTER).is_none());
        assert_eq!(r.headers()[http::header::CACHE_CONTROL], "no-store");
    }
}
