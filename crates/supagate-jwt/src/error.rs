//! Errors: [`Error`] for request-time verification, [`ConfigError`] for start-up.
//!
//! Two enums rather than one: a configuration problem can never reach a client, and a
//! verification failure can never be a configuration problem, so keeping them apart makes the
//! HTTP mapping of [`Error`] total and lets `build()` and `verify()` say exactly what they can
//! fail with.

use std::fmt;

use http::StatusCode;

/// Why a token was refused.
///
/// Every variant maps to an HTTP status ([`Error::status`](supagate_core::RequestError::status)) and, where RFC 6750 defines one, an
/// error code ([`Error::error_code`](supagate_core::RequestError::error_code)). Messages name claims and header members but never contain
/// a token, a key or a claim value, so they are safe to log. What a client should see is
/// [`Error::description`](supagate_core::RequestError::description), which is deliberately generic.
///
/// # Examples
///
/// ```
/// use supagate_jwt::RequestError as _;
/// use supagate_jwt::Error;
///
/// let err = Error::Expired;
/// assert_eq!(err.status(), http::StatusCode::UNAUTHORIZED);
/// assert_eq!(err.error_code(), Some("invalid_token"));
/// assert_eq!(err.description(), "token expired");
/// assert_eq!(err.reason(), "expired");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The token is longer than the configured maximum; it was refused before any decoding.
    #[error("token is longer than the configured maximum")]
    TooLong,
    /// The token is not a compact JWS: wrong segment count, bad base64url, or a header that is
    /// not a JSON object.
    #[error("token is not a well-formed compact JWS")]
    Malformed,
    /// The header carries a member outside the allow-list (`alg`, `kid`, `typ`), such as
    /// `crit`, `jku`, `jwk`, `x5u`, `cty`, `enc`, `zip` or `b64`.
    #[error("token header member `{member}` is not allowed")]
    HeaderNotAllowed {
        /// The member name when it is a known JOSE name, otherwise `"unknown"`.
        member: &'static str,
    },
    /// The `typ` header is present and is not `JWT`.
    #[error("token type is not JWT")]
    TypeNotAllowed,
    /// The `alg` header names `none`, an algorithm that is not pinned to the selected key, or
    /// a key of another family (algorithm confusion).
    #[error("token algorithm is not allowed")]
    AlgNotAllowed,
    /// The `alg` header names a real JOSE algorithm that this crate does not implement
    /// (for example `ES512` or `ES256K`).
    #[error("token algorithm is not supported")]
    UnsupportedAlg,
    /// No configured key matches the token's `kid` and algorithm.
    #[error("no configured key matches the token")]
    UnknownKey,
    /// The signature does not verify.
    #[error("token signature is invalid")]
    BadSignature,
    /// The payload is not a JSON object, or a claim appears twice.
    #[error("token claims are not a valid JSON object")]
    MalformedClaims,
    /// A required claim is absent (or `null`).
    #[error("required claim `{claim}` is missing")]
    MissingClaim {
        /// The claim name.
        claim: &'static str,
    },
    /// A claim has the wrong JSON type or an invalid format.
    #[error("claim `{claim}` has an invalid type or format")]
    InvalidClaim {
        /// The claim name.
        claim: &'static str,
    },
    /// `exp` is at or before the current time minus the leeway.
    #[error("token has expired")]
    Expired,
    /// `nbf` is after the current time plus the leeway.
    #[error("token is not valid yet")]
    NotYetValid,
    /// `iat` is after the current time plus the leeway.
    #[error("token was issued in the future")]
    IssuedInFuture,
    /// `exp - iat` or `exp - now` exceeds the configured maximum lifetime.
    #[error("token lifetime exceeds the configured maximum")]
    LifetimeTooLong,
    /// `aud` does not contain an accepted audience.
    #[error("token audience is not accepted")]
    AudienceMismatch,
    /// `iss` is not the configured issuer.
    #[error("token issuer is not accepted")]
    IssuerMismatch,
    /// A third-party issuer's token does not carry the `role` claim its issuer requires
    /// (`authenticated` by default, as Supabase requires of third-party auth providers).
    #[error("token role is not the one its issuer must write")]
    RoleMismatch,
    /// The signing keys could not be obtained (a remote key source that has never loaded, or
    /// whose keys are stale past the allowed window). Answer 503, never 401, never accept.
    #[error("signing keys are unavailable")]
    KeysUnavailable,
}

impl supagate_core::RequestError for Error {
    /// The HTTP status a server should answer with: 401 for every token problem, 503 for
    /// [`Error::KeysUnavailable`].
    fn status(&self) -> StatusCode {
        match self {
            Error::KeysUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        }
    }
    /// The RFC 6750 `error` code for the `WWW-Authenticate` challenge: `invalid_token`, or
    /// `None` when the failure is the server's (503).
    fn error_code(&self) -> Option<&'static str> {
        match self {
            Error::KeysUnavailable => None,
            _ => Some("invalid_token"),
        }
    }
    /// A short description that is safe to send to the client (`error_description`). It is
    /// deliberately generic: the detail is in [`Error::reason`](supagate_core::RequestError::reason) and the `Display` text, for logs.
    fn description(&self) -> &'static str {
        match self {
            Error::Expired => "token expired",
            Error::KeysUnavailable => "signing keys unavailable",
            _ => "invalid token",
        }
    }
    /// A stable, machine-readable reason code for logs and metrics.
    fn reason(&self) -> &'static str {
        match self {
            Error::TooLong => "too_long",
            Error::Malformed => "malformed",
            Error::HeaderNotAllowed { .. } => "header_not_allowed",
            Error::TypeNotAllowed => "typ_not_allowed",
            Error::AlgNotAllowed => "alg_not_allowed",
            Error::UnsupportedAlg => "unsupported_alg",
            Error::UnknownKey => "unknown_key",
            Error::BadSignature => "bad_signature",
            Error::MalformedClaims => "malformed_claims",
            Error::MissingClaim { .. } => "missing_claim",
            Error::InvalidClaim { .. } => "invalid_claim",
            Error::Expired => "expired",
            Error::NotYetValid => "not_yet_valid",
            Error::IssuedInFuture => "issued_in_future",
            Error::LifetimeTooLong => "lifetime_too_long",
            Error::AudienceMismatch => "audience_mismatch",
            Error::IssuerMismatch => "issuer_mismatch",
            Error::RoleMismatch => "role_mismatch",
            Error::KeysUnavailable => "keys_unavailable",
        }
    }
}

/// Why a [`Verifier`](crate::Verifier) or a key set could not be built.
///
/// These happen at start-up and never reach a client. Messages never contain a secret or key
/// material.
///
/// # Examples
///
/// ```
/// use supagate_jwt::{ConfigError, Hs256Secret};
///
/// let err = Hs256Secret::new("too-short").unwrap_err();
/// assert!(matches!(err, ConfigError::SecretTooShort { min: 32 }));
/// ```
///
/// Its `Debug` is its message, so that a `main` that returns it with `?` prints what is wrong
/// (`Error: hmac secret must be at least 32 bytes…`), not a variant's name.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Neither the `aws_lc_rs` nor the `rust_crypto` feature is enabled.
    #[error("no crypto backend: enable the `aws_lc_rs` or `rust_crypto` feature of supagate-jwt")]
    NoCryptoBackend,
    /// The JWKS URL is not `https://` (or `http://` to a loopback host), or carries
    /// credentials, a query or a fragment.
    #[error(
        "the jwks url must be https (or http to a loopback host) without credentials, query or fragment"
    )]
    InvalidJwksUrl,
    /// The requested backend was not compiled in.
    #[error("the `{backend}` crypto backend is not compiled in; enable its feature")]
    BackendNotCompiled {
        /// The feature name of the backend.
        backend: &'static str,
    },
    /// An HMAC secret is shorter than its algorithm requires.
    #[error("hmac secret must be at least {min} bytes")]
    SecretTooShort {
        /// The minimum length in bytes.
        min: usize,
    },
    /// The verifier has no key at all: configure an HS256 secret, a JWK set, or a key source.
    #[error("no verification key configured")]
    NoKeys,
    /// The leeway is above the hard cap.
    #[error("leeway must be at most {max} seconds")]
    LeewayTooLarge {
        /// The cap in seconds.
        max: u64,
    },
    /// The maximum token lifetime is zero or above the hard cap.
    #[error("maximum token lifetime must be between 1 second and {max} seconds")]
    LifetimeOutOfRange {
        /// The cap in seconds.
        max: u64,
    },
    /// The maximum token length is outside the allowed range.
    #[error("maximum token length must be between {min} and {max} bytes")]
    TokenLengthOutOfRange {
        /// The smallest allowed maximum.
        min: usize,
        /// The largest allowed maximum.
        max: usize,
    },
    /// The audience list is empty or contains an empty string.
    #[error("audience must be a non-empty list of non-empty strings")]
    InvalidAudience,
    /// The issuer is empty or has surrounding whitespace.
    #[error("issuer must be a non-empty string without surrounding whitespace")]
    InvalidIssuer,
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
    /// A JWK set document is JSON, but not of the form `{"keys": [...]}`.
    #[error("jwk set is not a json object with a `keys` array")]
    InvalidJwkSet,
    /// A JWK set document is not JSON at all; where the parser stopped.
    #[error("jwk set is not json (line {line}, column {column})")]
    JwkSetNotJson {
        /// The line, from 1.
        line: usize,
        /// The byte column, from 1 (0 at the start of a line: the end of a document that
        /// ends with a newline, or of an empty one).
        column: usize,
    },
    /// A JWK set whose every key was left out, or none at all: no token could ever be
    /// verified with it. A project that signs with the legacy secret only publishes an empty
    /// set; configure no set then (or `JwkSet::empty()` on purpose).
    #[error("{}", no_usable_key(*left_out, *first))]
    NoUsableKey {
        /// How many keys were left out.
        left_out: usize,
        /// Why the first of them was.
        first: Option<crate::KeyRejection>,
    },
    /// A JWK set has more keys than allowed.
    #[error("jwk set has more than {max} keys")]
    TooManyKeys {
        /// The cap.
        max: usize,
    },
    /// A published (public) JWK set contains a symmetric `oct` key. Symmetric secrets are never
    /// published, so the whole set is refused.
    #[error("a public jwk set must not contain symmetric (oct) keys")]
    SymmetricKeyInPublicSet,
    /// An HMAC key set contains an asymmetric key.
    #[error("an hmac key set must contain only oct keys")]
    AsymmetricKeyInHmacSet,
    /// Two different HMAC secrets without a `kid` for one algorithm, such as
    /// `SUPABASE_JWT_SECRET` beside a kid-less `oct` key of `SUPABASE_JWKS` holding another
    /// secret: a token without `kid` could not be attributed to either. The same secret twice
    /// is kept once.
    #[error(
        "two different hmac secrets without a kid for the same algorithm; keep one, or give the other a kid"
    )]
    AmbiguousHmacKeys,
    /// A [`ThirdPartyIssuer`](crate::ThirdPartyIssuer) is unusable: `index` is its position in
    /// the order they were added (from 0), `problem` says what is wrong. The message never
    /// holds the issuer string: the position says which entry of a long list is at fault,
    /// whatever was pasted into it.
    #[error("third-party issuer #{index}: {problem}")]
    InvalidThirdPartyIssuer {
        /// Position of the issuer, from 0, in the order they were added.
        index: usize,
        /// What is wrong.
        problem: &'static str,
    },
}

impl From<supagate_core::UrlError> for ConfigError {
    fn from(e: supagate_core::UrlError) -> Self {
        match e {
            supagate_core::UrlError::InvalidOrigin => ConfigError::InvalidOrigin,
            _ => ConfigError::InvalidSupabaseUrl,
        }
    }
}

/// The message of [`ConfigError::NoUsableKey`].
fn no_usable_key(left_out: usize, first: Option<crate::KeyRejection>) -> String {
    match (left_out, first) {
        (0, _) | (_, None) => "no usable key in the jwk set: it has no keys".to_owned(),
        (1, Some(why)) => format!("no usable key in the jwk set: its one key was left out ({why})"),
        (n, Some(why)) => {
            format!("no usable key in the jwk set: all {n} keys were left out (the first: {why})")
        }
    }
}

impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `fn main() -> Result<(), Box<dyn Error>>` prints when it returns the error: its
    /// message, not the variant.
    #[test]
    fn main_prints_the_message() {
        for (e, words) in [
            (ConfigError::SecretTooShort { min: 32 }, "at least 32"),
            (ConfigError::InvalidJwkSet, "`keys` array"),
            (ConfigError::InvalidSupabaseUrl, "https://<host>"),
            (
                ConfigError::NoUsableKey {
                    left_out: 2,
                    first: Some(crate::KeyRejection::WrongUse),
                },
                "all 2 keys were left out (the first: key use is not sig)",
            ),
        ] {
            let boxed: Box<dyn std::error::Error> = Box::new(e.clone());
            let printed = format!("Error: {boxed:?}");
            assert!(printed.contains(words), "{printed}");
            assert!(!printed.contains("SecretTooShort {"), "{printed}");
            assert_eq!(format!("{e:?}"), e.to_string());
        }
    }
}
