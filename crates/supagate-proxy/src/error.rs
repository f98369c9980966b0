//! [`ProxyError`]: why the proxy refused to forward a request, or could not.

use http::StatusCode;

/// Why a request was not forwarded, or why a sign-in did not succeed. Messages never contain a
/// header value, a cookie, a token or text from the auth server.
///
/// Refusals about the session itself (no session, expired, refresh token refused, auth server
/// down) are [`supagate_auth::AuthError`]s, answered with an RFC 6750 challenge.
///
/// | variant | status | `error` in the JSON body |
/// |---|---|---|
/// | [`CsrfRejected`](ProxyError::CsrfRejected) | 403 | `csrf_rejected` |
/// | [`CorsRejected`](ProxyError::CorsRejected) | 403 | `cors_rejected` |
/// | [`BadPath`](ProxyError::BadPath) | 400 | `invalid_path` |
/// | [`NotForwarded`](ProxyError::NotForwarded) | 404 | `not_found` |
/// | [`MethodNotAllowed`](ProxyError::MethodNotAllowed) | 405 | `method_not_allowed` |
/// | [`BadForm`](ProxyError::BadForm) | 400 | `invalid_request` |
/// | [`SignInRefused`](ProxyError::SignInRefused) | 400, 401, 403 | the auth server's code, if known |
/// | [`RateLimited`](ProxyError::RateLimited) | 429 (+ `Retry-After`) | `rate_limited` |
/// | [`BodyTooLarge`](ProxyError::BodyTooLarge) | 413 | `body_too_large` |
/// | [`UpstreamUnavailable`](ProxyError::UpstreamUnavailable) | 502 | `bad_gateway` |
/// | [`UpstreamTimeout`](ProxyError::UpstreamTimeout) | 504 | `gateway_timeout` |
/// | [`Internal`](ProxyError::Internal) | 500 | `server_error` |
///
/// # Examples
///
/// ```
/// use supagate_core::RequestError as _;
/// use supagate_proxy::ProxyError;
///
/// assert_eq!(ProxyError::CsrfRejected.status(), http::StatusCode::FORBIDDEN);
/// assert_eq!(ProxyError::BadPath { reason: "dot segment" }.status(), http::StatusCode::BAD_REQUEST);
/// assert_eq!(ProxyError::RateLimited { retry_after_secs: 3 }.body_code(), "rate_limited");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// An unsafe method without `Sec-Fetch-Site: same-origin` (or `same-site` when allowed) and
    /// without an allowed `Origin`.
    #[error("cross-site request refused")]
    CsrfRejected,
    /// A CORS preflight from an origin outside the allow-list.
    #[error("cross-origin request refused")]
    CorsRejected,
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
    /// A method the proxy never forwards (`TRACE`, `CONNECT`: a `TRACE` echo would hand the
    /// bearer to the page), or the wrong method for a sign-in or sign-out endpoint.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A sign-in or callback request is malformed (no email, no code, no PKCE verifier, ...).
    #[error("invalid request: {reason}")]
    BadForm {
        /// What was wrong (a constant phrase).
        reason: &'static str,
    },
    /// The auth server refused a sign-in or a code exchange.
    #[error("sign-in refused: {code}")]
    SignInRefused {
        /// 401 for bad credentials, 403 for a banned or unconfirmed user, 400 otherwise.
        status: StatusCode,
        /// GoTrue's error code when it is one we know (`invalid_credentials`,
        /// `email_not_confirmed`, `bad_code_verifier`, ...), else `sign_in_failed`.
        code: &'static str,
    },
    /// Too many requests from this client address or user.
    #[error("rate limited")]
    RateLimited {
        /// Seconds until a request will be allowed again (at least 1).
        retry_after_secs: u64,
    },
    /// The request body is larger than the configured limit.
    #[error("request body too large")]
    BodyTooLarge,
    /// The upstream (or the auth server during sign-in) could not be reached, or sent an
    /// unusable response.
    #[error("upstream unavailable")]
    UpstreamUnavailable,
    /// The upstream did not send its response headers in time.
    #[error("upstream timed out")]
    UpstreamTimeout,
    /// A fault of the proxy's own while answering (a `Set-Cookie` that cannot be built, no
    /// randomness for a PKCE verifier). Start-up mistakes are [`ProxyConfigError`]s from
    /// `ProxyBuilder::build` and the constructors of its parts, never this.
    #[error("internal proxy error: {what}")]
    Internal {
        /// What failed (for logs; never sent to the client).
        what: &'static str,
    },
}

impl ProxyError {
    /// The response body: `{"error": <code>, "error_description": <message>}`, by the one
    /// renderer of the family ([`supagate_core::refusal_body`]): the description and its
    /// constant detail (`request path refused: dot segment`), never an internal detail.
    #[must_use]
    pub fn body(&self) -> Vec<u8> {
        supagate_core::refusal_body(self)
    }
}

impl supagate_core::RequestError for ProxyError {
    /// The HTTP status to answer with (see the table on [`ProxyError`]).
    fn status(&self) -> StatusCode {
        match self {
            ProxyError::CsrfRejected | ProxyError::CorsRejected => StatusCode::FORBIDDEN,
            ProxyError::BadPath { .. } | ProxyError::BadForm { .. } => StatusCode::BAD_REQUEST,
            ProxyError::NotForwarded => StatusCode::NOT_FOUND,
            ProxyError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProxyError::SignInRefused { status, .. } => *status,
            ProxyError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ProxyError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::UpstreamUnavailable => StatusCode::BAD_GATEWAY,
            ProxyError::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    /// No RFC 6750 code: the proxy's own refusals carry no bearer challenge (the session's
    /// are [`supagate_auth::AuthError`]s, which do). Always `None`; here so that every
    /// request-time error has the same accessors ([`supagate_core::RequestError`]).
    fn error_code(&self) -> Option<&'static str> {
        None
    }
    /// A short description that is safe to send to the client.
    fn description(&self) -> &'static str {
        match self {
            ProxyError::CsrfRejected => "cross-site request refused",
            ProxyError::CorsRejected => "cross-origin request refused",
            ProxyError::BadPath { .. } => "request path refused",
            ProxyError::NotForwarded => "no upstream route for this path",
            ProxyError::MethodNotAllowed => "method not allowed",
            ProxyError::BadForm { .. } => "invalid request",
            ProxyError::SignInRefused { .. } => "sign-in refused",
            ProxyError::RateLimited { .. } => "rate limited",
            ProxyError::BodyTooLarge => "request body too large",
            ProxyError::UpstreamUnavailable => "upstream unavailable",
            ProxyError::UpstreamTimeout => "upstream timed out",
            ProxyError::Internal { .. } => "internal server error",
        }
    }
    /// A stable, machine-readable reason for logs and metrics.
    fn reason(&self) -> &'static str {
        match self {
            ProxyError::SignInRefused { .. } => "sign_in_refused",
            ProxyError::Internal { .. } => "internal_error",
            other => other.body_code(),
        }
    }
    /// The `error` member of the JSON body (see the table above); what
    /// `supagate_auth::AuthError`'s [`body_code`](supagate_core::RequestError::body_code) is for the session's refusals.
    fn body_code(&self) -> &'static str {
        match self {
            ProxyError::CsrfRejected => "csrf_rejected",
            ProxyError::CorsRejected => "cors_rejected",
            ProxyError::BadPath { .. } => "invalid_path",
            ProxyError::NotForwarded => "not_found",
            ProxyError::MethodNotAllowed => "method_not_allowed",
            ProxyError::BadForm { .. } => "invalid_request",
            ProxyError::SignInRefused { code, .. } => code,
            ProxyError::RateLimited { .. } => "rate_limited",
            ProxyError::BodyTooLarge => "body_too_large",
            ProxyError::UpstreamUnavailable => "bad_gateway",
            ProxyError::UpstreamTimeout => "gateway_timeout",
            ProxyError::Internal { .. } => "server_error",
        }
    }
    /// The constant phrase of a refused path or form, or the auth server's code of a refused
    /// sign-in.
    fn detail(&self) -> Option<&'static str> {
        match self {
            ProxyError::BadPath { reason } | ProxyError::BadForm { reason } => Some(reason),
            ProxyError::SignInRefused { code, .. } => Some(code),
            _ => None,
        }
    }
    /// A rate limit's wait.
    fn retry_after(&self) -> Option<u64> {
        match self {
            ProxyError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }
}

/// A start-up mistake in the configuration of [`Sessions`](crate::Sessions) or a proxy:
/// returned by `SessionsBuilder::build`, `ProxyBuilder::build` (and the constructors of their
/// parts), never at request time.
///
/// # Examples
///
/// ```
/// use supagate_auth::Authenticator;
/// use supagate_proxy::Sessions;
/// use supagate_testkit::TestKeys;
///
/// let auth = Authenticator::new(TestKeys::new().verifier());
/// let err = Sessions::builder("http://evil.example", "anon", auth)
///     .public_origin("https://app.example.com")
///     .build()
///     .unwrap_err();
/// assert!(err.to_string().contains("supabase url"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid proxy configuration: {what}")]
pub struct ProxyConfigError {
    /// Which setting, and why.
    pub what: &'static str,
}

/// GoTrue error codes a sign-in or code exchange may answer with, mapped to our status. Any
/// other code becomes `sign_in_failed` (400): the auth server's text is never echoed.
#[cfg(feature = "client")]
pub(crate) fn sign_in_refusal(code: Option<&str>, status: u16) -> ProxyError {
    const KNOWN: &[(&str, StatusCode)] = &[
        ("invalid_credentials", StatusCode::UNAUTHORIZED),
        ("invalid_grant", StatusCode::UNAUTHORIZED),
        ("email_not_confirmed", StatusCode::FORBIDDEN),
        ("phone_not_confirmed", StatusCode::FORBIDDEN),
        ("user_banned", StatusCode::FORBIDDEN),
        ("bad_code_verifier", StatusCode::BAD_REQUEST),
        ("flow_state_not_found", StatusCode::BAD_REQUEST),
        ("flow_state_expired", StatusCode::BAD_REQUEST),
        ("validation_failed", StatusCode::BAD_REQUEST),
        ("otp_expired", StatusCode::BAD_REQUEST),
    ];
    if let Some(code) = code
        && let Some((known, st)) = KNOWN.iter().find(|(k, _)| *k == code)
    {
        return ProxyError::SignInRefused {
            status: *st,
            code: known,
        };
    }
    ProxyError::SignInRefused {
        status: if status == 401 || status == 403 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        },
        code: "sign_in_failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use supagate_core::RequestError as _;

    #[test]
    fn every_body_is_the_code_and_the_display_text_as_before_the_one_renderer() {
        // The words each refusal sent before `supagate_core::refusal_body`: its `Display`
        // (description and constant detail) under its body code; an internal fault says only
        // "internal server error".
        let all = [
            ProxyError::CsrfRejected,
            ProxyError::CorsRejected,
            ProxyError::BadPath {
                reason: "dot segment",
            },
            ProxyError::NotForwarded,
            ProxyError::MethodNotAllowed,
            ProxyError::BadForm { reason: "no email" },
            ProxyError::SignInRefused {
                status: StatusCode::UNAUTHORIZED,
                code: "invalid_credentials",
            },
            ProxyError::RateLimited {
                retry_after_secs: 3,
            },
            ProxyError::BodyTooLarge,
            ProxyError::UpstreamUnavailable,
            ProxyError::UpstreamTimeout,
            ProxyError::Internal {
                what: "pkce cookie",
            },
        ];
        for e in all {
            let words = match &e {
                ProxyError::Internal { .. } => "internal server error".to_owned(),
                other => other.to_string(),
            };
            let want = serde_json::json!({ "error": e.body_code(), "error_description": words });
            let got: serde_json::Value =
                serde_json::from_slice(&e.body()).unwrap_or(serde_json::Value::Null);
            assert_eq!(got, want, "{e:?}");
        }
    }

    #[test]
    fn an_internal_detail_never_reaches_the_client() {
        let e = ProxyError::Internal {
            what: "pkce cookie",
        };
        let body = String::from_utf8(e.body()).unwrap_or_default();
        assert!(!body.contains("pkce"), "{body}");
        assert!(body.contains("internal server error"), "{body}");
        // Other refusals keep their constant detail.
        let body = String::from_utf8(
            ProxyError::BadPath {
                reason: "dot segment",
            }
            .body(),
        )
        .unwrap_or_default();
        assert!(body.contains("dot segment"), "{body}");
    }
}
