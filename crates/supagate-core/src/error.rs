//! The two error shapes of the crate family: [`RequestError`], what every request-time error
//! answers, and [`EnvError`] (with [`UrlError`]), start-up errors that never reach a client.

use std::fmt;

use http::StatusCode;

/// The accessors every request-time error of the crate family has, with one meaning:
/// `supagate_jwt::Error`, `CookieError`, `Denial`, `AuthError` (the aggregate, which delegates
/// to the error it wraps), `ProxyError` and `RlsError`. Start-up errors (`ConfigError`,
/// `PolicyError`, `AuthConfigError`, `ProxyConfigError`, [`EnvError`], [`UrlError`]) are separate
/// types: they never reach a client.
///
/// This trait is the one place the accessors live: import it (or `supagate::RequestError`) to
/// call `status()`, `reason()` and the rest on any of those errors.
///
/// # Examples
///
/// ```
/// use http::StatusCode;
/// use supagate_core::RequestError;
///
/// #[derive(Debug)]
/// struct Closed;
/// impl std::fmt::Display for Closed {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("closed for maintenance")
///     }
/// }
/// impl RequestError for Closed {
///     fn status(&self) -> StatusCode { StatusCode::SERVICE_UNAVAILABLE }
///     fn error_code(&self) -> Option<&'static str> { None }
///     fn description(&self) -> &'static str { "closed for maintenance" }
///     fn reason(&self) -> &'static str { "maintenance" }
/// }
///
/// fn log_line(e: &dyn RequestError) -> String {
///     format!("{} {} {}", e.status().as_u16(), e.reason(), e.body_code())
/// }
/// assert_eq!(log_line(&Closed), "503 maintenance temporarily_unavailable");
/// ```
pub trait RequestError: fmt::Display + fmt::Debug {
    /// The HTTP status to answer with.
    fn status(&self) -> StatusCode;
    /// The RFC 6750 `error` code of the `WWW-Authenticate: Bearer` challenge, or `None` when
    /// the answer carries no code (missing credentials, a failure of the server's).
    fn error_code(&self) -> Option<&'static str>;
    /// A short description that is safe to send to the client (`error_description`).
    fn description(&self) -> &'static str;
    /// A stable, machine-readable reason for logs and metrics (never sent to the client by
    /// default).
    fn reason(&self) -> &'static str;
    /// The `error` member of a JSON refusal body. By default the RFC 6750 code where there is
    /// one, otherwise a code for the status: `unauthorized` (401), `temporarily_unavailable`
    /// (503), `request_header_fields_too_large` (431), `invalid_request` (another 4xx),
    /// `server_error` (anything else).
    fn body_code(&self) -> &'static str {
        if let Some(code) = self.error_code() {
            return code;
        }
        match self.status() {
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::SERVICE_UNAVAILABLE => "temporarily_unavailable",
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "request_header_fields_too_large",
            s if s.is_client_error() => "invalid_request",
            _ => "server_error",
        }
    }
    /// A constant phrase that refines [`description`](RequestError::description) for the
    /// client (`"dot segment"` for a refused path), or `None`. Never a value from the request.
    fn detail(&self) -> Option<&'static str> {
        None
    }
    /// Seconds the client should wait before trying again when the error itself knows (a rate
    /// limit, a database that is restarting), or `None`. See [`retry_after`](crate::retry_after)
    /// for the one rule every refusal follows.
    fn retry_after(&self) -> Option<u64> {
        None
    }
}

/// A URL the crate family was configured with breaks its rules (see
/// [`SupabaseProject`](crate::SupabaseProject) and [`Origin`](crate::Origin)). A start-up error.
///
/// # Examples
///
/// ```
/// use supagate_core::{Origin, SupabaseProject, UrlError};
///
/// assert_eq!(SupabaseProject::parse("http://example.com"), Err(UrlError::InvalidSupabaseUrl));
/// assert_eq!(Origin::parse("*"), Err(UrlError::InvalidOrigin));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// The Supabase project URL is not `https://<host>[:port]` (or `http://` on a loopback
    /// host), or has userinfo, a path, a query or a fragment.
    #[error(
        "supabase url must be https://<host>[:port] with no path, query or userinfo (http only on localhost, 127.0.0.0/8 or [::1])"
    )]
    InvalidSupabaseUrl,
    /// An allowed origin is not `https://<host>[:port]` (or `http://` on a loopback host), or
    /// is `*`, `null` or has a path.
    #[error("allowed origin must be scheme://host[:port], https unless on a loopback host")]
    InvalidOrigin,
}

/// A configuration variable that is missing or unusable: names the variable, says what is
/// wrong and how to fix it. A start-up error: it never reaches a client.
///
/// # Examples
///
/// ```
/// use supagate_core::EnvError;
///
/// let e = EnvError::new("SUPABASE_SECRET_KEY", "not an sb_secret_ key", "copy it from the dashboard");
/// assert_eq!(e.variable(), "SUPABASE_SECRET_KEY");
/// assert_eq!(e.to_string(), "SUPABASE_SECRET_KEY: not an sb_secret_ key; copy it from the dashboard");
/// ```
///
/// Its `Debug` is its message, so that a `main` that returns it with `?` prints the variable
/// and the fix (`Error: SUPABASE_URL: not set; …`), not the struct's fields.
#[derive(Clone, PartialEq, Eq)]
pub struct EnvError {
    variable: &'static str,
    problem: String,
    fix: &'static str,
}

impl EnvError {
    /// An error about `variable`: what is wrong with it (`problem`, never the value of a
    /// secret) and how to fix it, so every start-up message of the family has one shape.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = supagate_core::EnvError::new("SUPABASE_URL", "is not set", "set it to the project URL");
    /// assert_eq!(e.variable(), "SUPABASE_URL");
    /// ```
    #[must_use]
    pub fn new(variable: &'static str, problem: impl fmt::Display, fix: &'static str) -> Self {
        EnvError {
            variable,
            problem: problem.to_string(),
            fix,
        }
    }

    /// The variable at fault.
    ///
    /// # Examples
    ///
    /// ```
    /// let e = supagate_core::EnvError::new("DATABASE_URL", "is not set", "set it");
    /// assert_eq!(e.variable(), "DATABASE_URL");
    /// ```
    #[must_use]
    pub fn variable(&self) -> &'static str {
        self.variable
    }
}

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}; {}", self.variable, self.problem, self.fix)
    }
}

impl fmt::Debug for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for EnvError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `fn main() -> Result<(), Box<dyn Error>>` prints when it returns the error: the
    /// variable, the problem and the fix.
    #[test]
    fn main_prints_the_variable_and_the_fix() {
        let e = EnvError::new("SUPABASE_URL", "not set", "set it to your project's URL");
        let boxed: Box<dyn std::error::Error> = Box::new(e.clone());
        assert_eq!(
            format!("Error: {boxed:?}"),
            "Error: SUPABASE_URL: not set; set it to your project's URL"
        );
    }

    #[derive(Debug)]
    struct E(StatusCode, Option<&'static str>);
    impl fmt::Display for E {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("e")
        }
    }
    impl RequestError for E {
        fn status(&self) -> StatusCode {
            self.0
        }
        fn error_code(&self) -> Option<&'static str> {
            self.1
        }
        fn description(&self) -> &'static str {
            "e"
        }
        fn reason(&self) -> &'static str {
            "e"
        }
    }

    #[test]
    fn body_code_defaults_to_the_challenge_code_then_the_status() {
        let code = |s: u16, c| E(StatusCode::from_u16(s).unwrap(), c).body_code();
        assert_eq!(code(401, Some("invalid_token")), "invalid_token");
        assert_eq!(code(401, None), "unauthorized");
        assert_eq!(code(503, None), "temporarily_unavailable");
        assert_eq!(code(431, None), "request_header_fields_too_large");
        assert_eq!(code(400, None), "invalid_request");
        assert_eq!(code(409, None), "invalid_request");
        assert_eq!(code(500, None), "server_error");
        assert_eq!(code(502, None), "server_error");
    }

    #[test]
    fn env_error_names_the_variable_and_the_fix() {
        let e = EnvError::new("X", "is bad", "fix it");
        assert_eq!(e.to_string(), "X: is bad; fix it");
    }
}
