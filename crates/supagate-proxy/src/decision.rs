//! Decide first, render once. Every pipeline of the proxy (forwarding, the session, sign-in,
//! the PKCE callback, sign-out) returns a [`Decided`] answer or a [`Refused`] one, each
//! carrying the [`CookieDelta`] it caused; `Proxy::render` is the one place that turns either
//! into a response and attaches the delta. No return path can drop a refreshed session's
//! cookies: they travel inside the value that is returned.

use bytes::Bytes;
use http::header::{self, CONTENT_TYPE, HeaderMap, HeaderValue, SET_COOKIE};
use http::{Response, StatusCode};
use supagate_auth::AuthError;
use supagate_core::RequestError as _;

use crate::body::ProxyBody;
use crate::error::ProxyError;

/// The cookie changes of one request: `Set-Cookie` values (new session cookies, deletions),
/// in the order they are written.
#[derive(Debug, Default, Clone)]
pub(crate) struct CookieDelta(Vec<HeaderValue>);

impl CookieDelta {
    /// No change.
    pub(crate) fn none() -> Self {
        CookieDelta(Vec::new())
    }

    /// The `Set-Cookie` values a cookie writer produced.
    pub(crate) fn of(values: Vec<HeaderValue>) -> Self {
        CookieDelta(values)
    }

    /// This delta followed by `later`.
    pub(crate) fn then(mut self, later: CookieDelta) -> Self {
        self.0.extend(later.0);
        self
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    #[cfg(test)]
    pub(crate) fn values(&self) -> &[HeaderValue] {
        &self.0
    }

    /// Writes the delta into `headers`: each `Set-Cookie`, and with them the anti-caching
    /// headers `@supabase/ssr` sends, so that no shared cache stores a response that sets a
    /// session. Nothing at all for an empty delta.
    pub(crate) fn apply(self, headers: &mut HeaderMap) {
        if self.0.is_empty() {
            return;
        }
        for c in self.0 {
            headers.append(SET_COOKIE, c);
        }
        for (name, value) in supagate_cookie::no_cache_headers() {
            headers.insert(name, value);
        }
    }
}

/// What was decided for a request that is answered (not refused), with its cookie delta.
pub(crate) struct Decided {
    pub(crate) answer: Answer,
    pub(crate) cookies: CookieDelta,
}

/// The kinds of answer the proxy gives.
pub(crate) enum Answer {
    /// The upstream's response, already filtered (its `sb-*` cookies and CORS headers
    /// removed), passed back as it streams.
    Upstream(Response<ProxyBody>),
    /// A CORS preflight answered here: 204 with these headers.
    Preflight(HeaderMap),
    /// 303 See Other to a local path, or to the auth server's authorize URL.
    SeeOther(String),
    /// 200 with a JSON body of ours.
    Json(serde_json::Value),
    /// 204.
    NoContent,
}

impl Decided {
    pub(crate) fn new(answer: Answer, cookies: CookieDelta) -> Self {
        Decided { answer, cookies }
    }
}

/// Why a request is refused, before rendering.
#[derive(Debug)]
pub(crate) enum Why {
    /// A refusal of the proxy's own, rendered as its JSON body.
    Proxy(ProxyError),
    /// A credentials refusal, rendered as the authenticator's RFC 6750 answer.
    Auth(AuthError),
}

/// A refusal with the cookie delta that goes with it (a session refreshed before the refusal
/// must still be stored; an ended one is cleared) and the auth server's `Retry-After`.
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) why: Why,
    pub(crate) cookies: CookieDelta,
    pub(crate) retry_after: Option<u64>,
}

impl Refused {
    /// Adds `later` to the refusal's delta.
    pub(crate) fn with_cookies(mut self, later: CookieDelta) -> Self {
        self.cookies = self.cookies.then(later);
        self
    }

    /// Sets `Retry-After` (seconds), when there is one.
    pub(crate) fn retry_after(mut self, secs: Option<u64>) -> Self {
        if secs.is_some() {
            self.retry_after = secs;
        }
        self
    }

    /// The status it will be rendered with.
    pub(crate) fn status(&self) -> StatusCode {
        match &self.why {
            Why::Proxy(e) => e.status(),
            Why::Auth(e) => supagate_jwt::RequestError::status(e),
        }
    }
}

impl From<ProxyError> for Refused {
    fn from(e: ProxyError) -> Self {
        let retry_after = match &e {
            ProxyError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        };
        Refused {
            why: Why::Proxy(e),
            cookies: CookieDelta::none(),
            retry_after,
        }
    }
}

impl From<AuthError> for Refused {
    fn from(e: AuthError) -> Self {
        Refused {
            why: Why::Auth(e),
            cookies: CookieDelta::none(),
            retry_after: None,
        }
    }
}

/// The proxy's own refusal body: JSON, never cached.
pub(crate) fn proxy_refusal(e: &ProxyError) -> Response<ProxyBody> {
    supagate_core::refusal_response(
        e,
        Some(supagate_auth::Authenticator::DEFAULT_RETRY_AFTER_SECS),
    )
    .map(crate::body::full)
}

/// The body-less or JSON answers of ours.
pub(crate) fn answer_response(answer: Answer) -> Response<ProxyBody> {
    match answer {
        Answer::Upstream(res) => res,
        Answer::Preflight(headers) => {
            let mut res = Response::new(crate::body::full(Bytes::new()));
            *res.status_mut() = StatusCode::NO_CONTENT;
            *res.headers_mut() = headers;
            res
        }
        Answer::SeeOther(location) => {
            let mut res = Response::new(crate::body::full(Bytes::new()));
            *res.status_mut() = StatusCode::SEE_OTHER;
            if let Ok(v) = HeaderValue::from_str(&location) {
                res.headers_mut().insert(header::LOCATION, v);
            }
            res
        }
        Answer::Json(value) => {
            let mut res = Response::new(crate::body::full(value.to_string()));
            res.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            res
        }
        Answer::NoContent => {
            let mut res = Response::new(crate::body::full(Bytes::new()));
            *res.status_mut() = StatusCode::NO_CONTENT;
            res
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_delta_writes_nothing_and_a_delta_adds_no_cache() {
        let mut h = HeaderMap::new();
        CookieDelta::none().apply(&mut h);
        assert!(h.is_empty());
        let delta =
            CookieDelta::of(vec![HeaderValue::from_static("a=1")]).then(CookieDelta::of(vec![
                HeaderValue::from_static("b=; Max-Age=0"),
            ]));
        assert_eq!(delta.values().len(), 2);
        delta.apply(&mut h);
        let cookies: Vec<_> = h.get_all(SET_COOKIE).iter().collect();
        assert_eq!(cookies, ["a=1", "b=; Max-Age=0"]);
        assert!(h.contains_key(header::CACHE_CONTROL));
    }

    #[test]
    fn refusals_keep_their_delta_and_retry_after() {
        let r = Refused::from(AuthError::AuthServerUnavailable)
            .with_cookies(CookieDelta::of(vec![HeaderValue::from_static("a=1")]))
            .retry_after(Some(7));
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.retry_after, Some(7));
        assert!(!r.cookies.is_empty());
        let r = Refused::from(ProxyError::RateLimited {
            retry_after_secs: 3,
        })
        .retry_after(None);
        assert_eq!(r.retry_after, Some(3));
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    }
}
