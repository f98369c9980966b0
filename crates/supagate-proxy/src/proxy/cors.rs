//! CORS beside CSRF: the gate for unsafe methods, preflights from allowed origins, and the
//! CORS headers of forwarded responses.

use super::*;

impl Proxy {
    /// The `Origin` of a request when it is an allowed one other than our own (a credentialed
    /// cross-origin request).
    pub(super) fn cors_origin(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        let mut all = headers.get_all(header::ORIGIN).iter();
        let (Some(origin), None) = (all.next(), all.next()) else {
            return None;
        };
        let s = &self.inner.sessions.inner;
        let ours = s.public_origin.as_bytes();
        (origin.as_bytes() != ours && s.origins.iter().any(|o| o == origin)).then(|| origin.clone())
    }

    /// The headers of the 204 answering a preflight from an allowed origin.
    pub(super) fn preflight(
        &self,
        origin: Option<&HeaderValue>,
        headers: &HeaderMap,
    ) -> Result<HeaderMap, Refused> {
        let Some(origin) = origin else {
            return Err(ProxyError::CorsRejected.into());
        };
        let mut out = HeaderMap::new();
        let h = &mut out;
        add_cors(h, origin.clone());
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE"),
        );
        // Only plain content headers may be requested; identity headers never.
        const ALLOWED: &[&str] = &[
            "content-type",
            "accept",
            "accept-language",
            "content-language",
            "x-requested-with",
            "if-match",
            "if-none-match",
        ];
        let requested: Vec<&str> = headers
            .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|n| ALLOWED.iter().any(|a| a.eq_ignore_ascii_case(n)))
            .collect();
        if !requested.is_empty()
            && let Ok(v) = HeaderValue::from_str(&requested.join(", "))
        {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        Ok(out)
    }
}

pub(super) fn add_cors(h: &mut HeaderMap, origin: HeaderValue) {
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    h.append(header::VARY, HeaderValue::from_static("Origin"));
}

/// The upstream does not decide who may read responses made with the user's cookies.
pub(super) fn strip_cors(h: &mut HeaderMap) {
    if !h.keys().any(|n| n.as_str().starts_with("access-control-")) {
        return;
    }
    let names: Vec<HeaderName> = h
        .keys()
        .filter(|n| n.as_str().starts_with("access-control-"))
        .cloned()
        .collect();
    for n in names {
        h.remove(n);
    }
}
