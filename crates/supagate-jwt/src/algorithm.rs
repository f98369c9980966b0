//! JWS algorithms this crate verifies.

use std::fmt;

/// A JWS signature algorithm that a key can be pinned to.
///
/// Each configured key has exactly one algorithm; a token's `alg` header only selects among
/// keys and is compared against the key's pinned algorithm, never used to choose how to verify.
///
/// # Examples
///
/// ```
/// use supagate_jwt::Algorithm;
///
/// assert_eq!(Algorithm::from_name("ES256"), Some(Algorithm::ES256));
/// assert_eq!(Algorithm::from_name("es256"), None); // names are case-sensitive
/// assert_eq!(Algorithm::from_name("none"), None);
/// assert!(Algorithm::HS256.is_hmac());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(missing_docs)] // the variant names are the JOSE names
pub enum Algorithm {
    HS256,
    HS384,
    HS512,
    ES256,
    ES384,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    EdDSA,
}

impl Algorithm {
    /// Parses a JOSE `alg` name, byte for byte (RFC 7515 §4.1.1: case-sensitive).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Some(match name {
            "HS256" => Algorithm::HS256,
            "HS384" => Algorithm::HS384,
            "HS512" => Algorithm::HS512,
            "ES256" => Algorithm::ES256,
            "ES384" => Algorithm::ES384,
            "RS256" => Algorithm::RS256,
            "RS384" => Algorithm::RS384,
            "RS512" => Algorithm::RS512,
            "PS256" => Algorithm::PS256,
            "PS384" => Algorithm::PS384,
            "PS512" => Algorithm::PS512,
            "EdDSA" => Algorithm::EdDSA,
            _ => return None,
        })
    }

    /// The JOSE name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// Whether this is an HMAC (shared-secret) algorithm.
    #[must_use]
    pub fn is_hmac(self) -> bool {
        matches!(self, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
    }

    /// The smallest HMAC key this crate accepts for the algorithm: the hash output size
    /// (RFC 7518 §3.2). Zero for asymmetric algorithms.
    #[must_use]
    pub fn min_hmac_key_len(self) -> usize {
        match self {
            Algorithm::HS256 => 32,
            Algorithm::HS384 => 48,
            Algorithm::HS512 => 64,
            _ => 0,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Real JOSE algorithm names that this crate recognises but does not implement. A token with
/// one of them is refused as [`Error::UnsupportedAlg`](crate::Error::UnsupportedAlg) so the
/// log says what is going on (Supabase Auth can sign ES512 and RS512).
pub(crate) fn is_known_unsupported(name: &str) -> bool {
    matches!(
        name,
        "ES512" | "ES256K" | "Ed448" | "Ed25519" | "ES521" | "RS1" | "HS1"
    )
}
