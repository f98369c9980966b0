//! [`AuthError`]: why a request was refused.

use http::StatusCode;
use supagate_cookie::CookieError;
use supagate_core::RequestError as _;
use supagate_policy::Denial;

/// Why a request was refused, whichever way its credentials came.
///
/// Each variant maps to an HTTP status ([`AuthError::status`]) and, where RFC 6750 defines one,
/// a `WWW-Authenticate` error code ([`AuthError::error_code`]):
///
/// | variant | status | `error` |
/// |---|---|---|
/// | [`MissingCredentials`](AuthError::MissingCredentials) | 401 | none (a bare challenge) |
/// | [`InvalidRequest`](AuthError::InvalidRequest) | 400 | `invalid_request` |
/// | [`Token`](AuthError::Token) | 401 (503 while keys are unavailable) | `invalid_token` |
/// | [`Session`](AuthError::Session) | 401 (431 when oversized) | `invalid_token` |
/// | [`Forbidden`](AuthError::Forbidden) | 403 | `insufficient_scope` |
/// | [`SessionEnded`](AuthError::SessionEnded) | 401 | `invalid_token` |
/// | [`InvalidApiKey`](AuthError::InvalidApiKey) | 401 | none (a bare challenge) |
/// | [`NotAdmitted`](AuthError::NotAdmitted) | 403 | none (no challenge) |
/// | [`SecretKeyFromBrowser`](AuthError::SecretKeyFromBrowser) | 403 | none (no challenge) |
/// | [`AuthServerUnavailable`](AuthError::AuthServerUnavailable) | 503 | none |
/// | [`SessionRevoked`](AuthError::SessionRevoked) | 401 | `invalid_token` |
/// | [`TokenRefused`](AuthError::TokenRefused) | 401 | `invalid_token` |
/// | [`SessionStoreUnavailable`](AuthError::SessionStoreUnavailable) | 503 | none |
/// | [`SessionUnchecked`](AuthError::SessionUnchecked) | 503 | none |
/// | [`Internal`](AuthError::Internal) | 500 | none |
///
/// Messages and descriptions never contain a token, a cookie value or a claim value.
///
/// # Examples
///
/// ```
/// use supagate_core::RequestError as _;
/// use supagate_auth::AuthError;
///
/// let err = AuthError::Token(supagate_jwt::Error::Expired);
/// assert_eq!(err.status(), http::StatusCode::UNAUTHORIZED);
/// assert_eq!(err.error_code(), Some("invalid_token"));
/// assert_eq!(err.description(), "token expired");
/// assert_eq!(err.reason(), "expired");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No credentials: no `Authorization` field (or one with another scheme, such as `Basic`),
    /// and no session cookie where cookies are a source.
    #[error("no credentials")]
    MissingCredentials,
    /// The credentials are malformed at the HTTP level: several `Authorization` fields, several
    /// credentials in one, an empty bearer token, bytes outside visible ASCII, or a token in
    /// both the header and the session cookie.
    #[error("invalid request: {reason}")]
    InvalidRequest {
        /// What was wrong, a short lowercase phrase that is safe to show.
        reason: &'static str,
    },
    /// The token was refused by the verifier.
    #[error("token refused: {0}")]
    Token(#[source] supagate_jwt::Error),
    /// The session cookie could not be read.
    #[error("session cookie refused: {0}")]
    Session(#[source] CookieError),
    /// The token is valid but the policy refuses it.
    #[error("forbidden: {0}")]
    Forbidden(#[source] Denial),
    /// The auth server refused the session's refresh token (`refresh_token_already_used`,
    /// `session_not_found`, ...) and its access token has expired: the session is over and its
    /// cookies are cleared.
    #[error("session ended")]
    SessionEnded,
    /// The session had to be refreshed but the auth server did not answer usefully (5xx, a
    /// timeout, a connection error): try again later; the cookies are kept.
    #[error("auth server unavailable")]
    AuthServerUnavailable,
    /// The request's `apikey` is none of the project's keys, and no auth mode of the route
    /// admitted it otherwise.
    #[error("invalid api key")]
    InvalidApiKey,
    /// The credential is good (a verified user, a configured key) but none of the route's
    /// auth modes admits it: a publishable key on a `secret` route, the `web` key where only
    /// `default` is listed, a user token on a service route.
    #[error("not admitted: {what}")]
    NotAdmitted {
        /// Which credential was not admitted, a short lowercase phrase that is safe to show.
        what: &'static str,
    },
    /// A configured secret key on a request with browser fetch metadata (`Sec-Fetch-Site`,
    /// `Sec-Fetch-Mode` or `Origin`): secret keys never belong in a browser, and Supabase's
    /// own gateway refuses them there. Rotate a key that was seen this way.
    #[error("secret api key used from a browser")]
    SecretKeyFromBrowser,
    /// The token is valid but its session is over: [session liveness](crate::SessionLiveness)
    /// found no row for its `session_id` (a sign-out of any scope, a password change, an admin
    /// revoking the user), or the session's `not_after` has passed, or its user is banned or
    /// deleted. The access token stays cryptographically valid until `exp`; this is the check
    /// that ends it at once.
    #[error("session revoked: {reason}")]
    SessionRevoked {
        /// Why, a stable code that is safe to show: `session_not_found`, `session_expired`,
        /// `user_banned`, `user_not_found`, `no_session_id`.
        reason: &'static str,
    },
    /// The token verified here, but the session liveness source refused it: the auth
    /// server's `bad_jwt` from `GET /auth/v1/user`, which allows no leeway on `exp` where the
    /// verifier allows 30 s (or no longer accepts the key). About this token only: the
    /// session may be live, and its cookies are kept; refresh and try again.
    #[error("token refused by the auth server")]
    TokenRefused,
    /// [Session liveness](crate::SessionLiveness) could not ask its source (the database or
    /// the auth server is down or too slow), and it fails closed, as it does unless
    /// [`SessionLivenessBuilder::allow_when_unavailable`](crate::SessionLivenessBuilder::allow_when_unavailable)
    /// says otherwise.
    #[error("session store unavailable")]
    SessionStoreUnavailable,
    /// A synchronous decision ([`Authenticator::authenticate`](crate::Authenticator::authenticate))
    /// found a session whose liveness is not cached yet: it never waits and never asks, so it
    /// refuses ([`Gate::decide_now`](crate::Gate::decide_now) says "wait" instead);
    /// [`Gate::decide`](crate::Gate::decide), which every adapter falls back to, asks the source
    /// and fills the cache. Code that calls only `authenticate` gets this for every session:
    /// with session liveness, use a gate.
    #[error("session liveness not checked yet")]
    SessionUnchecked,
    /// A fault of the server's own while answering: an extractor with no authenticator
    /// registered with the framework, a route decided twice, a cookie that cannot be written.
    /// Never the client's fault; details only in logs. (Start-up mistakes are
    /// `AuthConfigError`s from the builders, never this.)
    #[error("internal authentication error: {what}")]
    Internal {
        /// What failed.
        what: &'static str,
    },
}

impl From<supagate_jwt::Error> for AuthError {
    fn from(e: supagate_jwt::Error) -> Self {
        AuthError::Token(e)
    }
}

impl From<CookieError> for AuthError {
    fn from(e: CookieError) -> Self {
        AuthError::Session(e)
    }
}

impl From<Denial> for AuthError {
    fn from(d: Denial) -> Self {
        AuthError::Forbidden(d)
    }
}

/// A start-up mistake in [`crate::AuthenticatorBuilder`]: reported by `build()`, never at
/// request time (request-time errors are [`AuthError`]s).
///
/// # Examples
///
/// ```
/// use supagate_auth::Authenticator;
/// use supagate_testkit::TestKeys;
///
/// let err = Authenticator::builder(TestKeys::new().verifier()).realm("").build().unwrap_err();
/// assert!(err.to_string().starts_with("invalid authenticator configuration: realm"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid authenticator configuration: {what}")]
pub struct AuthConfigError {
    /// Which setting, and why.
    pub what: &'static str,
}

impl supagate_core::RequestError for AuthError {
    /// The HTTP status to answer with.
    fn status(&self) -> StatusCode {
        match self {
            AuthError::MissingCredentials => StatusCode::UNAUTHORIZED,
            AuthError::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            AuthError::Token(e) => e.status(),
            AuthError::Session(e) => e.status(),
            AuthError::Forbidden(d) => d.status(),
            AuthError::SessionEnded | AuthError::InvalidApiKey => StatusCode::UNAUTHORIZED,
            AuthError::NotAdmitted { .. } | AuthError::SecretKeyFromBrowser => {
                StatusCode::FORBIDDEN
            }
            AuthError::SessionRevoked { .. } | AuthError::TokenRefused => StatusCode::UNAUTHORIZED,
            AuthError::AuthServerUnavailable
            | AuthError::SessionStoreUnavailable
            | AuthError::SessionUnchecked => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    /// The RFC 6750 `error` code for the `WWW-Authenticate` challenge, or `None` when the
    /// challenge carries no code (missing credentials) or there is no challenge at all (431,
    /// 500, 503).
    fn error_code(&self) -> Option<&'static str> {
        match self {
            AuthError::MissingCredentials
            | AuthError::Internal { .. }
            | AuthError::AuthServerUnavailable
            | AuthError::SessionStoreUnavailable
            | AuthError::SessionUnchecked
            | AuthError::InvalidApiKey
            | AuthError::NotAdmitted { .. }
            | AuthError::SecretKeyFromBrowser => None,
            AuthError::SessionEnded
            | AuthError::SessionRevoked { .. }
            | AuthError::TokenRefused => Some("invalid_token"),
            AuthError::InvalidRequest { .. } => Some("invalid_request"),
            AuthError::Token(e) => e.error_code(),
            AuthError::Session(e) => e.error_code(),
            AuthError::Forbidden(d) => d.error_code(),
        }
    }
    /// A short description that is safe to send to the client (`error_description`).
    fn description(&self) -> &'static str {
        match self {
            AuthError::MissingCredentials => "authentication required",
            AuthError::InvalidRequest { reason } => reason,
            AuthError::Token(e) => e.description(),
            AuthError::Session(e) => e.description(),
            AuthError::Forbidden(d) => d.description(),
            AuthError::SessionEnded | AuthError::SessionRevoked { .. } => "session ended",
            AuthError::TokenRefused => "token refused by the auth server; refresh the session",
            AuthError::SessionStoreUnavailable => "session store unavailable",
            AuthError::SessionUnchecked => "session not checked yet",
            AuthError::InvalidApiKey => "invalid api key",
            AuthError::NotAdmitted { what } => what,
            AuthError::SecretKeyFromBrowser => "secret api key used from a browser",
            AuthError::AuthServerUnavailable => "auth server unavailable",
            AuthError::Internal { .. } => "internal server error",
        }
    }
    /// A stable, machine-readable reason code for logs and metrics.
    fn reason(&self) -> &'static str {
        match self {
            AuthError::MissingCredentials => "missing_credentials",
            AuthError::InvalidRequest { .. } => "invalid_request",
            AuthError::Token(e) => e.reason(),
            AuthError::Session(e) => e.reason(),
            AuthError::Forbidden(d) => d.reason(),
            AuthError::SessionEnded => "session_ended",
            AuthError::SessionRevoked { .. } => "session_revoked",
            AuthError::TokenRefused => "token_refused_by_auth_server",
            AuthError::SessionStoreUnavailable => "session_store_unavailable",
            AuthError::SessionUnchecked => "session_unchecked",
            AuthError::InvalidApiKey => "invalid_api_key",
            AuthError::NotAdmitted { .. } => "not_admitted",
            AuthError::SecretKeyFromBrowser => "secret_key_in_browser",
            AuthError::AuthServerUnavailable => "auth_server_unavailable",
            AuthError::Internal { .. } => "internal_error",
        }
    }
    /// The `error` member of the default JSON body: the RFC 6750 code where there is one,
    /// otherwise a code for the status (`unauthorized`, `temporarily_unavailable`,
    /// `request_header_fields_too_large`, `server_error`).
    fn body_code(&self) -> &'static str {
        if let Some(code) = self.error_code() {
            return code;
        }
        match self {
            AuthError::InvalidApiKey => return "invalid_api_key",
            AuthError::NotAdmitted { .. } | AuthError::SecretKeyFromBrowser => return "forbidden",
            _ => {}
        }
        match self.status() {
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::SERVICE_UNAVAILABLE => "temporarily_unavailable",
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "request_header_fields_too_large",
            _ => "server_error",
        }
    }
    /// The wrapped error's.
    fn detail(&self) -> Option<&'static str> {
        match self {
            AuthError::Token(e) => e.detail(),
            AuthError::Session(e) => e.detail(),
            AuthError::Forbidden(d) => d.detail(),
            _ => None,
        }
    }
    /// The wrapped error's.
    fn retry_after(&self) -> Option<u64> {
        match self {
            AuthError::Token(e) => e.retry_after(),
            AuthError::Session(e) => e.retry_after(),
            AuthError::Forbidden(d) => d.retry_after(),
            _ => None,
        }
    }
}

impl AuthError {
    /// Whether an `_async` entry point of the [`Authenticator`](crate::Authenticator) may
    /// decide otherwise than the synchronous one that returned this: a key fetch under way may
    /// bring the token's key, or a session liveness answer was not cached yet. The one place
    /// this rule is kept: an adapter that tries the synchronous path first (a tower layer, to
    /// answer without a future on the common path) asks this before it waits.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::AuthError;
    ///
    /// assert!(AuthError::Token(supagate_jwt::Error::KeysUnavailable).may_settle_async());
    /// assert!(AuthError::SessionUnchecked.may_settle_async());
    /// assert!(!AuthError::Token(supagate_jwt::Error::Expired).may_settle_async());
    /// assert!(!AuthError::MissingCredentials.may_settle_async());
    /// ```
    #[must_use]
    pub fn may_settle_async(&self) -> bool {
        matches!(
            self,
            AuthError::Token(
                supagate_jwt::Error::KeysUnavailable | supagate_jwt::Error::UnknownKey
            ) | AuthError::SessionUnchecked
        )
    }

    /// Whether the response carries a `WWW-Authenticate: Bearer` challenge: every 400 and 401
    /// does, and a 403 from a policy (`insufficient_scope`); the API-key 403s, 431, 500 and
    /// 503 do not.
    #[must_use]
    pub fn has_challenge(&self) -> bool {
        match self {
            AuthError::NotAdmitted { .. } | AuthError::SecretKeyFromBrowser => false,
            _ => matches!(
                self.status(),
                StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping() {
        let cases: Vec<(AuthError, u16, Option<&str>, bool)> = vec![
            (AuthError::MissingCredentials, 401, None, true),
            (
                AuthError::InvalidRequest { reason: "x" },
                400,
                Some("invalid_request"),
                true,
            ),
            (
                AuthError::Token(supagate_jwt::Error::BadSignature),
                401,
                Some("invalid_token"),
                true,
            ),
            (
                AuthError::Token(supagate_jwt::Error::KeysUnavailable),
                503,
                None,
                false,
            ),
            (AuthError::Session(CookieError::TooLarge), 431, None, false),
            (
                AuthError::Session(CookieError::Ambiguous),
                401,
                Some("invalid_token"),
                true,
            ),
            (AuthError::Internal { what: "x" }, 500, None, false),
            (AuthError::SessionEnded, 401, Some("invalid_token"), true),
            (AuthError::AuthServerUnavailable, 503, None, false),
            (
                AuthError::SessionRevoked {
                    reason: "session_not_found",
                },
                401,
                Some("invalid_token"),
                true,
            ),
            (AuthError::SessionStoreUnavailable, 503, None, false),
            (AuthError::SessionUnchecked, 503, None, false),
            (AuthError::InvalidApiKey, 401, None, true),
            (AuthError::NotAdmitted { what: "x" }, 403, None, false),
            (AuthError::SecretKeyFromBrowser, 403, None, false),
        ];
        for (e, status, code, challenge) in cases {
            assert_eq!(e.status().as_u16(), status, "{e}");
            assert_eq!(e.error_code(), code, "{e}");
            assert_eq!(e.has_challenge(), challenge, "{e}");
        }
    }
}
