//! A refusal as a gRPC status: rendered once by the authenticator, translated here.

use http::StatusCode;
use supagate_auth::Rejection;
use supagate_core::RequestError as _;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

/// The gRPC code of a refusal's HTTP status, by meaning: the inverse of the HTTP mapping of
/// `google.rpc.Code` (what grpc-gateway and Google's APIs use): 400 `InvalidArgument`, 401
/// `Unauthenticated`, 403 `PermissionDenied`, 429 `ResourceExhausted`, 503 `Unavailable`,
/// 500 `Internal`; 431 (metadata too large to read) `InvalidArgument`; anything else
/// `Unknown`.
///
/// # Examples
///
/// ```
/// use http::StatusCode;
/// use tonic::Code;
///
/// assert_eq!(supagate_tonic::code_for(StatusCode::UNAUTHORIZED), Code::Unauthenticated);
/// assert_eq!(supagate_tonic::code_for(StatusCode::FORBIDDEN), Code::PermissionDenied);
/// assert_eq!(supagate_tonic::code_for(StatusCode::SERVICE_UNAVAILABLE), Code::Unavailable);
/// ```
#[must_use]
pub fn code_for(status: StatusCode) -> Code {
    match status {
        StatusCode::BAD_REQUEST | StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            Code::InvalidArgument
        }
        StatusCode::UNAUTHORIZED => Code::Unauthenticated,
        StatusCode::FORBIDDEN => Code::PermissionDenied,
        StatusCode::TOO_MANY_REQUESTS => Code::ResourceExhausted,
        StatusCode::SERVICE_UNAVAILABLE => Code::Unavailable,
        StatusCode::INTERNAL_SERVER_ERROR => Code::Internal,
        _ => Code::Unknown,
    }
}

/// The gRPC status of a refusal: the code of its HTTP status ([`code_for`]), the error's
/// client-safe description as the message (never a token, a key or a cookie: the same text as
/// `error_description` over HTTP), and the refusal's `www-authenticate` challenge and
/// `retry-after` as metadata, as the HTTP adapters send them as headers.
///
/// # Examples
///
/// ```
/// use supagate_auth::Authenticator;
/// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
/// let status = supagate_tonic::status(&auth.reject(supagate_auth::AuthError::MissingCredentials));
/// assert_eq!(status.code(), tonic::Code::Unauthenticated);
/// assert_eq!(status.message(), "authentication required");
/// assert_eq!(status.metadata().get("www-authenticate").unwrap(), r#"Bearer realm="supagate""#);
/// ```
#[must_use]
pub fn status(rejection: &Rejection) -> Status {
    let refusal = rejection.refusal();
    let mut metadata = MetadataMap::new();
    let copy = |value: &http::HeaderValue| MetadataValue::try_from(value.as_bytes()).ok();
    if let Some(v) = refusal.www_authenticate().and_then(copy) {
        metadata.insert("www-authenticate", v);
    }
    if let Some(v) = refusal.retry_after().and_then(copy) {
        metadata.insert("retry-after", v);
    }
    Status::with_metadata(
        code_for(refusal.status()),
        rejection.error().description(),
        metadata,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use supagate_auth::{AuthError, Authenticator};
    use supagate_testkit::TestKeys;

    #[test]
    fn every_refusal_status_has_its_code_and_no_token_in_the_message() {
        let auth = Authenticator::new(TestKeys::new().verifier());
        let cases = [
            (AuthError::MissingCredentials, Code::Unauthenticated),
            (
                AuthError::InvalidRequest {
                    reason: "several apikey fields",
                },
                Code::InvalidArgument,
            ),
            (AuthError::SessionStoreUnavailable, Code::Unavailable),
            (AuthError::Internal { what: "twice" }, Code::Internal),
            (
                AuthError::Token(supagate_jwt::Error::KeysUnavailable),
                Code::Unavailable,
            ),
        ];
        for (err, code) in cases {
            let s = status(&auth.reject(err));
            assert_eq!(s.code(), code, "{s:?}");
            assert_eq!(
                s.metadata().get("retry-after").is_some(),
                code == Code::Unavailable,
                "{s:?}"
            );
        }
    }

    #[test]
    fn the_codes_follow_grpcs_http_mapping() {
        assert_eq!(code_for(StatusCode::BAD_REQUEST), Code::InvalidArgument);
        assert_eq!(
            code_for(StatusCode::TOO_MANY_REQUESTS),
            Code::ResourceExhausted
        );
        assert_eq!(code_for(StatusCode::IM_A_TEAPOT), Code::Unknown);
    }
}
