//! Refusals: the status, challenge and body of a rejected request.

use std::fmt;
use supagate_core::RequestError as _;

use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderName, HeaderValue, StatusCode};
use serde::Serialize;

use crate::error::AuthError;

/// The body of a refusal. The default is JSON,
/// `{"error":"invalid_token","error_description":"token expired"}`; replace it with
/// [`AuthenticatorBuilder::error_body`](crate::AuthenticatorBuilder::error_body).
///
/// # Examples
///
/// ```
/// use supagate_auth::RefusalBody;
///
/// let body = RefusalBody::json(&serde_json::json!({ "message": "sign in first" }));
/// assert_eq!(body.content_type(), "application/json");
/// assert_eq!(body.bytes(), br#"{"message":"sign in first"}"#);
///
/// let text = RefusalBody::text("sign in first");
/// assert_eq!(text.content_type(), "text/plain; charset=utf-8");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RefusalBody {
    content_type: HeaderValue,
    bytes: Vec<u8>,
}

impl RefusalBody {
    /// A body with the given `Content-Type`.
    #[must_use]
    pub fn new(content_type: HeaderValue, bytes: impl Into<Vec<u8>>) -> Self {
        RefusalBody {
            content_type,
            bytes: bytes.into(),
        }
    }

    /// A JSON body (`application/json`). A value that fails to serialize gives `{}`.
    #[must_use]
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Self {
        let bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        RefusalBody::new(HeaderValue::from_static("application/json"), bytes)
    }

    /// A plain-text body (`text/plain; charset=utf-8`).
    #[must_use]
    pub fn text(text: impl Into<String>) -> Self {
        RefusalBody::new(
            HeaderValue::from_static("text/plain; charset=utf-8"),
            text.into().into_bytes(),
        )
    }

    /// An empty body (no `Content-Type` is sent).
    #[must_use]
    pub fn empty() -> Self {
        RefusalBody::new(HeaderValue::from_static(""), Vec::new())
    }

    /// The default body for `err`: `{"error": <code>, "error_description": <description>}`.
    #[must_use]
    pub fn default_for(err: &AuthError) -> Self {
        RefusalBody::new(
            HeaderValue::from_static("application/json"),
            supagate_core::refusal_body(err),
        )
    }

    /// The `Content-Type`.
    #[must_use]
    pub fn content_type(&self) -> &HeaderValue {
        &self.content_type
    }

    /// The bytes.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for RefusalBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefusalBody")
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// A complete refusal, ready for any framework: status, headers and body. Made by
/// [`Authenticator::refusal`](crate::Authenticator::refusal); the adapters only copy it into
/// their response type.
///
/// The status and the `WWW-Authenticate` challenge always come from the error; a custom body
/// cannot change them.
///
/// # Examples
///
/// ```
/// use supagate_auth::{AuthError, Authenticator};
/// # use supagate_jwt::{Hs256Secret, Verifier};
/// # let verifier = Verifier::builder()
/// #     .hs256_secret(Hs256Secret::new("an-example-secret-of-at-least-32-bytes")?)
/// #     .build()?;
///
/// let auth = Authenticator::new(verifier);
/// let refusal = auth.refusal(&AuthError::Token(supagate_jwt::Error::Expired));
/// assert_eq!(refusal.status(), http::StatusCode::UNAUTHORIZED);
/// assert_eq!(
///     refusal.www_authenticate().unwrap(),
///     r#"Bearer realm="supagate", error="invalid_token", error_description="token expired""#,
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Refusal {
    status: StatusCode,
    www_authenticate: Option<HeaderValue>,
    retry_after: Option<HeaderValue>,
    body: RefusalBody,
}

impl Refusal {
    /// The refusal for `err` with the default realm and body, for the rare place where no
    /// [`Authenticator`](crate::Authenticator) is at hand (an adapter that finds none
    /// registered answers [`AuthError::Internal`] this way).
    #[must_use]
    pub fn for_error(err: &AuthError) -> Self {
        crate::authenticator::log_refusal(err);
        Refusal::new(
            err,
            crate::authenticator::DEFAULT_REALM,
            crate::authenticator::DEFAULT_RETRY_AFTER_SECS,
            RefusalBody::default_for(err),
            None,
        )
    }

    pub(crate) fn new(
        err: &AuthError,
        realm: &str,
        retry_after_secs: u32,
        body: RefusalBody,
        resource_metadata: Option<&str>,
    ) -> Self {
        let status = err.status();
        let www_authenticate = err.has_challenge().then(|| {
            let mut v = format!("Bearer realm=\"{realm}\"");
            if let Some(code) = err.error_code() {
                v.push_str(", error=\"");
                v.push_str(code);
                v.push_str("\", error_description=\"");
                v.push_str(err.description());
                v.push('"');
            }
            // RFC 6750 3: the scopes a policy asked for and the token lacks (scope tokens,
            // checked when the policy was built).
            if let AuthError::Forbidden(denial) = err
                && let Some(scope) = denial.scope()
            {
                v.push_str(", scope=\"");
                v.push_str(scope);
                v.push('"');
            }
            // RFC 9728 5.1: where an OAuth client finds the authorization server, on 401s (a
            // URL built from an `Origin` and a checked path).
            if status == StatusCode::UNAUTHORIZED
                && let Some(url) = resource_metadata
            {
                v.push_str(", resource_metadata=\"");
                v.push_str(url);
                v.push('"');
            }
            // The realm is checked at build time and the rest are our own constants.
            HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
        });
        let retry_after =
            supagate_core::retry_after(err, Some(retry_after_secs)).map(HeaderValue::from);
        Refusal {
            status,
            www_authenticate,
            retry_after,
            body,
        }
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `WWW-Authenticate` value, on 400, 401 and 403.
    #[must_use]
    pub fn www_authenticate(&self) -> Option<&HeaderValue> {
        self.www_authenticate.as_ref()
    }

    /// The `Retry-After` value (seconds), on 503.
    #[must_use]
    pub fn retry_after(&self) -> Option<&HeaderValue> {
        self.retry_after.as_ref()
    }

    /// The body.
    #[must_use]
    pub fn body(&self) -> &RefusalBody {
        &self.body
    }

    /// Every header to send: `WWW-Authenticate`, `Retry-After`, `Content-Type` (when the body
    /// has one) and `Cache-Control: no-store`.
    pub fn headers(&self) -> impl Iterator<Item = (HeaderName, HeaderValue)> + '_ {
        let content_type = (!self.body.content_type.is_empty())
            .then(|| (CONTENT_TYPE, self.body.content_type.clone()));
        self.www_authenticate
            .iter()
            .map(|v| (WWW_AUTHENTICATE, v.clone()))
            .chain(self.retry_after.iter().map(|v| (RETRY_AFTER, v.clone())))
            .chain(content_type)
            .chain(std::iter::once((
                http::header::CACHE_CONTROL,
                HeaderValue::from_static("no-store"),
            )))
    }

    /// The body bytes, by value.
    #[must_use]
    pub fn into_body(self) -> Vec<u8> {
        self.body.bytes
    }

    /// An `http::Response` with this status, headers and body.
    #[must_use]
    pub fn into_response(self) -> http::Response<Vec<u8>> {
        let mut res = http::Response::new(Vec::new());
        *res.status_mut() = self.status;
        for (name, value) in self.headers() {
            res.headers_mut().insert(name, value);
        }
        *res.body_mut() = self.into_body();
        res
    }
}

/// A refused request: the [`AuthError`] (for logs and metrics) and the [`Refusal`] to send.
/// Made by [`Authenticator::reject`](crate::Authenticator::reject); the adapters wrap it in
/// their framework's rejection type.
///
/// Its `Debug` shows the error and status, never a token.
///
/// # Examples
///
/// ```
/// use supagate_auth::{AuthError, Authenticator};
/// # use supagate_jwt::{Hs256Secret, Verifier};
/// # let verifier = Verifier::builder()
/// #     .hs256_secret(Hs256Secret::new("an-example-secret-of-at-least-32-bytes")?)
/// #     .build()?;
/// let auth = Authenticator::new(verifier);
/// let rejection = auth.reject(AuthError::MissingCredentials);
/// assert_eq!(rejection.refusal().status(), http::StatusCode::UNAUTHORIZED);
/// assert_eq!(rejection.to_string(), "no credentials");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Rejection(Box<Rejected>);

struct Rejected {
    error: AuthError,
    refusal: Refusal,
}

impl Rejection {
    pub(crate) fn new(error: AuthError, refusal: Refusal) -> Self {
        Rejection(Box::new(Rejected { error, refusal }))
    }

    /// The rejection of `error` with the default realm and body, for an adapter that finds
    /// no [`Authenticator`](crate::Authenticator) registered (see [`Refusal::for_error`]).
    #[must_use]
    pub fn without_authenticator(error: AuthError) -> Self {
        let refusal = Refusal::for_error(&error);
        Rejection::new(error, refusal)
    }

    /// The error.
    #[must_use]
    pub fn error(&self) -> &AuthError {
        &self.0.error
    }

    /// The refusal that will be sent.
    #[must_use]
    pub fn refusal(&self) -> &Refusal {
        &self.0.refusal
    }

    /// The refusal, by value.
    #[must_use]
    pub fn into_refusal(self) -> Refusal {
        self.0.refusal
    }
}

impl fmt::Debug for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejection")
            .field("error", &self.0.error)
            .field("status", &self.0.refusal.status())
            .finish()
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.error, f)
    }
}

impl std::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0.error)
    }
}
