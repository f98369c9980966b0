//! Operations that skip checks a Supabase access token needs. Each one says what it skips.

use crate::error::Error;
use crate::verifier::Verifier;

/// Checks a compact JWS against the verifier's keys — length, structure, header allow-list,
/// key selection with the pinned algorithm, signature, strict base64url payload — and returns
/// the decoded payload **without looking at any claim**.
///
/// # Security
///
/// This is a JWS check, not a JWT validation: expired tokens, tokens for another audience or
/// issuer, and API keys all pass. It exists for JWS-level conformance vectors (Wycheproof) and
/// for payloads that are not JWT claims. For access tokens use [`Verifier::verify`].
///
/// # Examples
///
/// ```
/// use supagate_jwt::{Hs256Secret, Verifier, dangerous};
/// use supagate_testkit::{TestKeys, TokenBuilder};
///
/// let verifier = Verifier::builder().hs256_secret(Hs256Secret::new(TestKeys::HS256_SECRET)?).build()?;
/// // An expired token still has a valid signature:
/// let token = TokenBuilder::new().exp(1).iat(0).sign_hs256(&TestKeys::new());
/// assert!(verifier.verify(&token).is_err());
/// assert!(dangerous::verify_signature_only(&verifier, &token).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// Every [`Error`] of the signature stage: [`Error::TooLong`], [`Error::Malformed`],
/// [`Error::HeaderNotAllowed`], [`Error::TypeNotAllowed`], [`Error::AlgNotAllowed`],
/// [`Error::UnsupportedAlg`], [`Error::UnknownKey`], [`Error::BadSignature`],
/// [`Error::KeysUnavailable`].
pub fn verify_signature_only(verifier: &Verifier, token: &str) -> Result<Vec<u8>, Error> {
    verifier.verify_signature(token)
}
