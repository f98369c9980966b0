//! Errors of the cookie reader and writer.

use http::StatusCode;

/// Why a session could not be read from, or written to, cookies.
///
/// Messages never contain a cookie value or a token.
///
/// # Examples
///
/// ```
/// use supagate_core::RequestError as _;
/// use supagate_cookie::CookieError;
///
/// let e = CookieError::Ambiguous;
/// assert_eq!(e.status(), http::StatusCode::UNAUTHORIZED);
/// assert_eq!(e.error_code(), Some("invalid_token"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CookieError {
    /// The `Cookie` fields together exceed the configured byte limit; refused before decoding.
    #[error("cookie header exceeds the configured size limit")]
    TooLarge,
    /// More session chunks than the configured limit.
    #[error("too many session cookie chunks")]
    TooManyChunks,
    /// The session cookie is present more than once, or an unchunked session cookie is present
    /// next to chunks: a sibling subdomain may have planted one, so neither is trusted.
    #[error("session cookies are ambiguous (duplicate name, or unchunked and chunked together)")]
    Ambiguous,
    /// The joined value is not valid `base64-` base64url, percent-encoding or UTF-8.
    #[error("session cookie is not validly encoded")]
    BadEncoding,
    /// The decoded value is not JSON, or exceeds the JSON size or depth limits.
    #[error("session cookie is not valid json within the limits")]
    BadJson,
    /// The JSON is not a session: not an object, or `access_token`, `refresh_token` or
    /// `expires_at` missing or of the wrong type (this includes the legacy auth-helpers array).
    #[error("session cookie does not hold a session")]
    NotASession,
    /// A `Set-Cookie` value could not be built (a scope whose domain or path is not a plain
    /// attribute value; never for a writer's own validated options). A fault of the server's.
    #[error("the session could not be written as a cookie: {what}")]
    Unwritable {
        /// What could not be written.
        what: &'static str,
    },
}

/// A configuration value (cookie name, domain, path) would produce an unsafe `Set-Cookie`:
/// returned by [`CookieName`](crate::CookieName)'s constructors and
/// [`SessionWriter::new`](crate::SessionWriter::new), at start-up, never at request time.
///
/// # Examples
///
/// ```
/// use supagate_cookie::{CookieConfigError, CookieName};
///
/// assert_eq!(CookieName::custom("a b"), Err(CookieConfigError { what: "cookie name" }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cookie configuration: {what}")]
pub struct CookieConfigError {
    /// Which setting, and why.
    pub what: &'static str,
}

impl supagate_core::RequestError for CookieError {
    /// The HTTP status to answer with when the session was required: 431 for an oversized
    /// header, 401 for every unusable session (the user must sign in again), 500 when a cookie
    /// could not be written.
    fn status(&self) -> StatusCode {
        match self {
            CookieError::TooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            CookieError::Unwritable { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNAUTHORIZED,
        }
    }
    /// The RFC 6750 error code, where the failure can reach a client as a bearer challenge.
    fn error_code(&self) -> Option<&'static str> {
        match self {
            CookieError::TooLarge | CookieError::Unwritable { .. } => None,
            _ => Some("invalid_token"),
        }
    }
    /// A short description that is safe to send to the client.
    fn description(&self) -> &'static str {
        match self {
            CookieError::TooLarge => "cookie header too large",
            CookieError::Unwritable { .. } => "internal server error",
            _ => "invalid session",
        }
    }
    /// A stable, machine-readable reason for logs and metrics.
    fn reason(&self) -> &'static str {
        match self {
            CookieError::TooLarge => "session_too_large",
            CookieError::TooManyChunks => "session_too_many_chunks",
            CookieError::Ambiguous => "session_ambiguous",
            CookieError::BadEncoding => "session_bad_encoding",
            CookieError::BadJson => "session_bad_json",
            CookieError::NotASession => "session_not_a_session",
            CookieError::Unwritable { .. } => "cookie_unwritable",
        }
    }
}
