//! The one place that translates between the `http` crate's types (what supagate decides in)
//! and actix-web's own (what it renders with): the two are different crate versions.

use actix_web::HttpResponse;
use actix_web::body::MessageBody;
use actix_web::http::StatusCode;
use actix_web::http::header as actix_header;

/// `status` as actix's, 500 for one actix does not know.
pub(crate) fn status(status: http::StatusCode) -> StatusCode {
    StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A whole decided response (a refusal, a document) as actix's.
pub(crate) fn response<B: MessageBody + 'static>(res: http::Response<B>) -> HttpResponse {
    let (parts, body) = res.into_parts();
    let mut out = HttpResponse::with_body(status(parts.status), body);
    merge(out.headers_mut(), &parts.headers);
    out.map_into_boxed_body()
}

/// Writes `delta` into actix's map: `Set-Cookie` appended, every other field replaced.
pub(crate) fn merge(into: &mut actix_header::HeaderMap, delta: &http::HeaderMap) {
    for name in delta.keys() {
        let Ok(n) = actix_header::HeaderName::from_bytes(name.as_str().as_bytes()) else {
            continue;
        };
        if name != http::header::SET_COOKIE {
            into.remove(&n);
        }
        for value in delta.get_all(name) {
            if let Ok(mut v) = actix_header::HeaderValue::from_bytes(value.as_bytes()) {
                // A session cookie holds tokens: never logged, never indexed by HPACK.
                v.set_sensitive(value.is_sensitive() || name == http::header::SET_COOKIE);
                into.append(n.clone(), v);
            }
        }
    }
}

/// The fields of actix's map named by `keep` (all of them for `None`) as an `http` map.
#[cfg(feature = "proxy")]
pub(crate) fn http_headers(
    from: &actix_header::HeaderMap,
    keep: Option<&[actix_header::HeaderName]>,
) -> http::HeaderMap {
    let mut out = http::HeaderMap::with_capacity(from.len());
    for (name, value) in from.iter() {
        if keep.is_some_and(|keep| !keep.contains(name)) {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            out.append(n, v);
        }
    }
    out
}

/// actix's method as `http`'s.
#[cfg(feature = "proxy")]
pub(crate) fn http_method(m: &actix_web::http::Method) -> http::Method {
    http::Method::from_bytes(m.as_str().as_bytes()).unwrap_or(http::Method::GET)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_keeps_status_headers_and_body_and_marks_cookies_sensitive() {
        let res = http::Response::builder()
            .status(503)
            .header("retry-after", "1")
            .header("set-cookie", "a=1")
            .header("set-cookie", "b=2")
            .body(b"down".to_vec())
            .unwrap();
        let out = response(res);
        assert_eq!(out.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(out.headers().get("retry-after").unwrap(), "1");
        let cookies: Vec<_> = out.headers().get_all("set-cookie").collect();
        assert_eq!(cookies.len(), 2);
        assert!(cookies.iter().all(|v| v.is_sensitive()));
    }

    #[test]
    fn a_status_is_carried() {
        assert_eq!(
            status(http::StatusCode::IM_A_TEAPOT),
            StatusCode::IM_A_TEAPOT
        );
    }
}
