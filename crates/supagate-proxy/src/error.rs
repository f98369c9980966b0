//! [`ProxyError`]: why the proxy refused to forward a request.

use http::StatusCode;

/// Why a request was not forwarded. Messages never contain a header value, a cookie or a token.
///
/// # Examples
///
/// ```
/// use supagate_proxy::ProxyError;
///
/// assert_eq!(ProxyError::CsrfRejected.status(), http::StatusCode::FORBIDDEN);
/// assert_eq!(ProxyError::BadPath { reason: "dot segment" }.status(), http::StatusCode::BAD_REQUEST);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// An unsafe method without `Sec-Fetch-Site: same-origin` (or `same-site` when allowed) and
    /// without an allowed `Origin`.
    #[error("cross-site request refused")]
    CsrfRejected,
    /// The request target cannot be forwarded: absolute-form, an authority, a dot segment, an
    /// encoded `/`, `\` or `.`, a control character, or a path outside the allowed prefixes.
    #[error("request path refused: {reason}")]
    BadPath {
        /// What was wrong (a constant phrase).
        reason: &'static str,
    },
    /// The path is well formed but no configured prefix allows it.
    #[error("no upstream route for this path")]
    NotForwarded,
    /// A configuration value is unusable (reported at build time).
    #[error("invalid proxy configuration: {what}")]
    InvalidConfig {
        /// Which setting.
        what: &'static str,
    },
}

impl ProxyError {
    /// 403 for CSRF, 400 for a bad path, 404 for an unrouted path, 500 for configuration.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::CsrfRejected => StatusCode::FORBIDDEN,
            ProxyError::BadPath { .. } => StatusCode::BAD_REQUEST,
            ProxyError::NotForwarded => StatusCode::NOT_FOUND,
            ProxyError::InvalidConfig { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}
