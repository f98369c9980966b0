//! Crypto backends and prepared keys.
//!
//! Keys are prepared once, at load time, for one backend and one algorithm: an HMAC key is
//! scheduled once, and a public key is parsed and validated (curve point, RSA structure) once.
//! Request-time work is only the signature check itself.
//!
//! The backend is chosen explicitly, never through `jsonwebtoken`'s process-wide provider, so
//! enabling both backend features (Cargo feature unification) or neither can never panic at
//! run time: with both, AWS-LC is preferred unless the builder asks otherwise; with neither,
//! `build()` returns [`ConfigError::NoCryptoBackend`].

use std::fmt;

use crate::algorithm::Algorithm;
use crate::error::ConfigError;

/// The crypto implementation that checks signatures.
///
/// # Examples
///
/// ```
/// use supagate_jwt::CryptoBackend;
///
/// // With default features the preferred backend is AWS-LC.
/// let preferred = CryptoBackend::preferred().expect("a backend feature is enabled");
/// assert!(preferred.is_compiled());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CryptoBackend {
    /// [`aws-lc-rs`](https://docs.rs/aws-lc-rs), feature `aws_lc_rs` (the default). About 4–7×
    /// faster than RustCrypto for ES256 and RS256.
    AwsLc,
    /// The pure-Rust RustCrypto crates through `jsonwebtoken`, feature `rust_crypto`.
    RustCrypto,
}

impl CryptoBackend {
    /// The backend used when the builder does not name one: AWS-LC when compiled in, otherwise
    /// RustCrypto, otherwise `None`.
    #[must_use]
    pub fn preferred() -> Option<CryptoBackend> {
        if CryptoBackend::AwsLc.is_compiled() {
            Some(CryptoBackend::AwsLc)
        } else if CryptoBackend::RustCrypto.is_compiled() {
            Some(CryptoBackend::RustCrypto)
        } else {
            None
        }
    }

    /// Every backend compiled into this build, preferred first.
    #[must_use]
    pub fn compiled() -> Vec<CryptoBackend> {
        [CryptoBackend::AwsLc, CryptoBackend::RustCrypto]
            .into_iter()
            .filter(|b| b.is_compiled())
            .collect()
    }

    /// Whether this backend's feature is enabled.
    #[must_use]
    pub fn is_compiled(self) -> bool {
        match self {
            CryptoBackend::AwsLc => cfg!(feature = "aws_lc_rs"),
            CryptoBackend::RustCrypto => cfg!(feature = "rust_crypto"),
        }
    }

    /// The Cargo feature that enables this backend.
    #[must_use]
    pub fn feature(self) -> &'static str {
        match self {
            CryptoBackend::AwsLc => "aws_lc_rs",
            CryptoBackend::RustCrypto => "rust_crypto",
        }
    }

    pub(crate) fn check(self) -> Result<CryptoBackend, ConfigError> {
        if self.is_compiled() {
            Ok(self)
        } else {
            Err(ConfigError::BackendNotCompiled {
                backend: self.feature(),
            })
        }
    }
}

impl fmt::Display for CryptoBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.feature())
    }
}

/// An HMAC key, scheduled once.
pub(crate) enum HmacKey {
    #[cfg(feature = "aws_lc_rs")]
    AwsLc(Box<aws_lc_rs::hmac::Key>),
    #[cfg(feature = "rust_crypto")]
    Rc256(hmac::Hmac<sha2::Sha256>),
    #[cfg(feature = "rust_crypto")]
    Rc384(hmac::Hmac<sha2::Sha384>),
    #[cfg(feature = "rust_crypto")]
    Rc512(hmac::Hmac<sha2::Sha512>),
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacKey(<redacted>)")
    }
}

impl HmacKey {
    /// Prepares `secret` for `alg` (an HMAC algorithm) on `backend`.
    pub(crate) fn new(
        backend: CryptoBackend,
        alg: Algorithm,
        secret: &[u8],
    ) -> Result<Self, ConfigError> {
        let _ = (alg, secret);
        match backend {
            #[cfg(feature = "aws_lc_rs")]
            CryptoBackend::AwsLc => {
                use aws_lc_rs::hmac;
                let algorithm = match alg {
                    Algorithm::HS384 => hmac::HMAC_SHA384,
                    Algorithm::HS512 => hmac::HMAC_SHA512,
                    _ => hmac::HMAC_SHA256,
                };
                Ok(HmacKey::AwsLc(Box::new(hmac::Key::new(algorithm, secret))))
            }
            #[cfg(feature = "rust_crypto")]
            CryptoBackend::RustCrypto => {
                use hmac::Mac;
                // `new_from_slice` accepts any key length for HMAC; the error arm is unreachable
                // but handled rather than unwrapped.
                let bad = |_| ConfigError::SecretTooShort {
                    min: alg.min_hmac_key_len(),
                };
                Ok(match alg {
                    Algorithm::HS384 => HmacKey::Rc384(
                        hmac::Hmac::<sha2::Sha384>::new_from_slice(secret).map_err(bad)?,
                    ),
                    Algorithm::HS512 => HmacKey::Rc512(
                        hmac::Hmac::<sha2::Sha512>::new_from_slice(secret).map_err(bad)?,
                    ),
                    _ => HmacKey::Rc256(
                        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).map_err(bad)?,
                    ),
                })
            }
            #[allow(unreachable_patterns)]
            other => Err(ConfigError::BackendNotCompiled {
                backend: other.feature(),
            }),
        }
    }

    /// Constant-time check of `tag` over `message`.
    pub(crate) fn verify(&self, message: &[u8], tag: &[u8]) -> bool {
        let _ = (message, tag);
        match self {
            #[cfg(feature = "aws_lc_rs")]
            HmacKey::AwsLc(key) => aws_lc_rs::hmac::verify(key, message, tag).is_ok(),
            #[cfg(feature = "rust_crypto")]
            HmacKey::Rc256(mac) => rc_verify(mac, message, tag),
            #[cfg(feature = "rust_crypto")]
            HmacKey::Rc384(mac) => rc_verify(mac, message, tag),
            #[cfg(feature = "rust_crypto")]
            HmacKey::Rc512(mac) => rc_verify(mac, message, tag),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }
}

#[cfg(feature = "rust_crypto")]
fn rc_verify<M: hmac::Mac + Clone>(mac: &M, message: &[u8], tag: &[u8]) -> bool {
    let mut mac = mac.clone();
    mac.update(message);
    // `verify_slice` compares in constant time and rejects a tag of the wrong length.
    mac.verify_slice(tag).is_ok()
}

/// Validated public key material, independent of the backend.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) enum Material {
    /// RSA modulus and exponent, big-endian, no leading zero octets.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// Uncompressed SEC1 point `04 || x || y` on P-256 or P-384.
    Ec { point: Vec<u8> },
    /// An Ed25519 public key (32 bytes).
    Ed25519 { x: Vec<u8> },
}

impl fmt::Debug for Material {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Public keys are not secret, but there is nothing useful in printing them either.
        match self {
            Material::Rsa { n, .. } => write!(f, "Rsa({} bits)", n.len() * 8),
            Material::Ec { point } => write!(f, "Ec({} bytes)", point.len()),
            Material::Ed25519 { .. } => f.write_str("Ed25519"),
        }
    }
}

/// A public key prepared for one algorithm on one backend.
pub(crate) enum PublicKey {
    #[cfg(feature = "aws_lc_rs")]
    AwsLc(aws_lc_rs::signature::ParsedPublicKey),
    #[cfg(feature = "rust_crypto")]
    RustCrypto(jsonwebtoken::DecodingKey, jsonwebtoken::Algorithm),
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PublicKey")
    }
}

impl PublicKey {
    /// Parses and validates `material` for `alg` on `backend`. `None` when the backend rejects
    /// the key (an EC point off the curve, an RSA key that fails its structural checks).
    pub(crate) fn new(backend: CryptoBackend, alg: Algorithm, material: &Material) -> Option<Self> {
        let _ = (alg, material);
        match backend {
            #[cfg(feature = "aws_lc_rs")]
            CryptoBackend::AwsLc => {
                use aws_lc_rs::signature as sig;
                let algorithm: &'static dyn sig::VerificationAlgorithm = match alg {
                    Algorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
                    Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
                    Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
                    Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
                    Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
                    Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
                    Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
                    Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
                    Algorithm::EdDSA => &sig::ED25519,
                    Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => return None,
                };
                let bytes = match material {
                    Material::Rsa { n, e } => rsa_public_key_der(n, e)?,
                    Material::Ec { point } => point.clone(),
                    Material::Ed25519 { x } => x.clone(),
                };
                sig::ParsedPublicKey::new(algorithm, bytes)
                    .ok()
                    .map(PublicKey::AwsLc)
            }
            #[cfg(feature = "rust_crypto")]
            CryptoBackend::RustCrypto => {
                use jsonwebtoken::{Algorithm as J, DecodingKey};
                let (jalg, key) = match (alg, material) {
                    (Algorithm::ES256, Material::Ec { point }) => {
                        p256::PublicKey::from_sec1_bytes(point).ok()?;
                        (J::ES256, DecodingKey::from_ec_der(point))
                    }
                    (Algorithm::ES384, Material::Ec { point }) => {
                        p384::PublicKey::from_sec1_bytes(point).ok()?;
                        (J::ES384, DecodingKey::from_ec_der(point))
                    }
                    (Algorithm::EdDSA, Material::Ed25519 { x }) => {
                        let bytes: [u8; 32] = x.as_slice().try_into().ok()?;
                        ed25519_dalek::VerifyingKey::from_bytes(&bytes).ok()?;
                        (J::EdDSA, DecodingKey::from_ed_der(x))
                    }
                    (rsa_alg, Material::Rsa { n, e }) => {
                        let jalg = match rsa_alg {
                            Algorithm::RS256 => J::RS256,
                            Algorithm::RS384 => J::RS384,
                            Algorithm::RS512 => J::RS512,
                            Algorithm::PS256 => J::PS256,
                            Algorithm::PS384 => J::PS384,
                            Algorithm::PS512 => J::PS512,
                            _ => return None,
                        };
                        (jalg, DecodingKey::from_rsa_raw_components(n, e))
                    }
                    _ => return None,
                };
                let key = PublicKey::RustCrypto(key, jalg);
                // Build the verifier once now, so a key the backend cannot use is refused at
                // load time rather than at the first request.
                key.rc_verifier().map(|_| key)
            }
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    #[cfg(feature = "rust_crypto")]
    fn rc_verifier(&self) -> Option<Box<dyn jsonwebtoken::crypto::JwtVerifier>> {
        match self {
            PublicKey::RustCrypto(key, alg) => {
                (jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.verifier_factory)(alg, key)
                    .ok()
            }
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// Checks `signature` over `message`.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let _ = (message, signature);
        // Without a backend the enum has no variants and no value of it can exist.
        #[cfg(not(any(feature = "aws_lc_rs", feature = "rust_crypto")))]
        return false;
        #[cfg(any(feature = "aws_lc_rs", feature = "rust_crypto"))]
        match self {
            #[cfg(feature = "aws_lc_rs")]
            PublicKey::AwsLc(key) => key.verify_sig(message, signature).is_ok(),
            #[cfg(feature = "rust_crypto")]
            PublicKey::RustCrypto(..) => match self.rc_verifier() {
                Some(v) => v.verify(message, &signature.to_vec()).is_ok(),
                None => false,
            },
        }
    }
}

#[cfg(feature = "aws_lc_rs")]
/// DER `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` (RFC 8017).
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Option<Vec<u8>> {
    fn integer(out: &mut Vec<u8>, bytes: &[u8]) -> Option<()> {
        let pad = bytes.first().is_some_and(|b| b & 0x80 != 0);
        let len = bytes.len().checked_add(usize::from(pad))?;
        out.push(0x02);
        length(out, len)?;
        if pad {
            out.push(0);
        }
        out.extend_from_slice(bytes);
        Some(())
    }
    fn length(out: &mut Vec<u8>, len: usize) -> Option<()> {
        if len < 0x80 {
            out.push(u8::try_from(len).ok()?);
        } else if len <= 0xff {
            out.extend_from_slice(&[0x81, u8::try_from(len).ok()?]);
        } else {
            let len = u16::try_from(len).ok()?;
            out.push(0x82);
            out.extend_from_slice(&len.to_be_bytes());
        }
        Some(())
    }
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    integer(&mut body, n)?;
    integer(&mut body, e)?;
    let mut out = Vec::with_capacity(body.len() + 4);
    out.push(0x30);
    length(&mut out, body.len())?;
    out.extend_from_slice(&body);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "aws_lc_rs")]
    fn der_of_small_key_is_well_formed() {
        let der = rsa_public_key_der(&[0x80, 0x01], &[0x01, 0x00, 0x01]).unwrap();
        assert_eq!(
            der,
            vec![
                0x30, 0x0a, 0x02, 0x03, 0x00, 0x80, 0x01, 0x02, 0x03, 0x01, 0x00, 0x01
            ]
        );
    }

    #[test]
    fn preferred_backend_is_compiled() {
        if let Some(b) = CryptoBackend::preferred() {
            assert!(b.is_compiled());
            assert_eq!(CryptoBackend::compiled().first(), Some(&b));
        }
    }
}
