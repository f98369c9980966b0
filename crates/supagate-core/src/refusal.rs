//! The one renderer of a refusal: the JSON body every request error of the family answers
//! with, and the one `Retry-After` rule.

use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, StatusCode};

use crate::RequestError;

/// The JSON body of a refusal: `{"error": <body_code>, "error_description": <description>}`,
/// the description followed by `": "` and the error's [`detail`](RequestError::detail) when
/// it has one. Nothing else of the error (never a token, a value, a database message).
///
/// # Examples
///
/// ```
/// use supagate_core::{RequestError, refusal_body};
/// # use http::StatusCode;
/// # #[derive(Debug)] struct Expired;
/// # impl std::fmt::Display for Expired {
/// #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("expired") }
/// # }
/// # impl RequestError for Expired {
/// #     fn status(&self) -> StatusCode { StatusCode::UNAUTHORIZED }
/// #     fn error_code(&self) -> Option<&'static str> { Some("invalid_token") }
/// #     fn description(&self) -> &'static str { "token expired" }
/// #     fn reason(&self) -> &'static str { "expired" }
/// # }
///
/// assert_eq!(
///     refusal_body(&Expired),
///     br#"{"error":"invalid_token","error_description":"token expired"}"#
/// );
/// ```
#[must_use]
pub fn refusal_body<E: RequestError + ?Sized>(err: &E) -> Vec<u8> {
    let mut out = String::with_capacity(64);
    out.push_str("{\"error\":");
    push_json_string(&mut out, err.body_code());
    out.push_str(",\"error_description\":");
    match err.detail() {
        Some(detail) => push_json_string(&mut out, &format!("{}: {detail}", err.description())),
        None => push_json_string(&mut out, err.description()),
    }
    out.push('}');
    out.into_bytes()
}

/// The one `Retry-After` rule of the family, in seconds: the error's own
/// [`retry_after`](RequestError::retry_after) when it knows one (a rate limit, a database
/// that is restarting), otherwise `default_secs` on a 503 when the caller has one (the
/// authenticator's configured wait), otherwise none.
///
/// # Examples
///
/// ```
/// use supagate_core::{RequestError, retry_after};
/// # use http::StatusCode;
/// # #[derive(Debug)] struct Down;
/// # impl std::fmt::Display for Down {
/// #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("down") }
/// # }
/// # impl RequestError for Down {
/// #     fn status(&self) -> StatusCode { StatusCode::SERVICE_UNAVAILABLE }
/// #     fn error_code(&self) -> Option<&'static str> { None }
/// #     fn description(&self) -> &'static str { "down" }
/// #     fn reason(&self) -> &'static str { "down" }
/// # }
///
/// assert_eq!(retry_after(&Down, Some(30)), Some(30));
/// assert_eq!(retry_after(&Down, None), None);
/// ```
#[must_use]
pub fn retry_after<E: RequestError + ?Sized>(err: &E, default_secs: Option<u32>) -> Option<u64> {
    err.retry_after().or_else(|| {
        default_secs
            .filter(|_| err.status() == StatusCode::SERVICE_UNAVAILABLE)
            .map(u64::from)
    })
}

/// The complete refusal for a request error that carries no bearer challenge: its status,
/// `Content-Type: application/json`, `Cache-Control: no-store`, `Retry-After` by
/// [`retry_after`], and [`refusal_body`]. (Refusals with a `WWW-Authenticate` challenge are
/// `supagate_auth::Refusal`s, which use the same body and rule.)
///
/// # Examples
///
/// ```
/// use supagate_core::{RequestError, refusal_response};
/// # use http::StatusCode;
/// # #[derive(Debug)] struct Down;
/// # impl std::fmt::Display for Down {
/// #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("down") }
/// # }
/// # impl RequestError for Down {
/// #     fn status(&self) -> StatusCode { StatusCode::SERVICE_UNAVAILABLE }
/// #     fn error_code(&self) -> Option<&'static str> { None }
/// #     fn description(&self) -> &'static str { "database unavailable" }
/// #     fn reason(&self) -> &'static str { "down" }
/// # }
///
/// let r = refusal_response(&Down, Some(1));
/// assert_eq!(r.status(), 503);
/// assert_eq!(r.headers()["retry-after"], "1");
/// assert_eq!(r.headers()["cache-control"], "no-store");
/// assert_eq!(r.body(), br#"{"error":"temporarily_unavailable","error_description":"database unavailable"}"#);
/// ```
#[must_use]
pub fn refusal_response<E: RequestError + ?Sized>(
    err: &E,
    default_retry_after_secs: Option<u32>,
) -> http::Response<Vec<u8>> {
    let mut res = http::Response::new(refusal_body(err));
    *res.status_mut() = err.status();
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(secs) = retry_after(err, default_retry_after_secs) {
        h.insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    res
}

/// Appends `s` as a JSON string literal.
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use super::*;

    #[derive(Debug)]
    struct E {
        status: StatusCode,
        detail: Option<&'static str>,
        wait: Option<u64>,
    }
    impl fmt::Display for E {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("e")
        }
    }
    impl RequestError for E {
        fn status(&self) -> StatusCode {
            self.status
        }
        fn error_code(&self) -> Option<&'static str> {
            None
        }
        fn description(&self) -> &'static str {
            "a \"quoted\"\\ line\n\u{1}"
        }
        fn reason(&self) -> &'static str {
            "e"
        }
        fn detail(&self) -> Option<&'static str> {
            self.detail
        }
        fn retry_after(&self) -> Option<u64> {
            self.wait
        }
    }

    fn e(status: u16, detail: Option<&'static str>, wait: Option<u64>) -> E {
        E {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT),
            detail,
            wait,
        }
    }

    #[test]
    fn the_body_is_valid_json_whatever_the_words() {
        let body =
            String::from_utf8(refusal_body(&e(400, Some("dot segment"), None))).unwrap_or_default();
        assert_eq!(
            body,
            r#"{"error":"invalid_request","error_description":"a \"quoted\"\\ line\n\u0001: dot segment"}"#
        );
    }

    #[test]
    fn one_retry_after_rule() {
        assert_eq!(retry_after(&e(503, None, None), Some(30)), Some(30));
        assert_eq!(retry_after(&e(503, None, None), None), None);
        assert_eq!(retry_after(&e(503, None, Some(1)), Some(30)), Some(1));
        assert_eq!(retry_after(&e(429, None, Some(7)), Some(30)), Some(7));
        assert_eq!(retry_after(&e(401, None, None), Some(30)), None);
        assert_eq!(retry_after(&e(500, None, None), Some(30)), None);
        let r = refusal_response(&e(429, None, Some(7)), Some(30));
        assert_eq!(r.headers()[RETRY_AFTER], "7");
        assert!(
            refusal_response(&e(401, None, None), Some(30))
                .headers()
                .get(RETRY_AFTER)
                .is_none()
        );
    }
}
