//! Operations that skip checks a Supabase access token needs. Each one says what it skips.

use crate::claims::Claims;
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

/// Verifies an access token with every check of [`Verifier::verify`] except one: `exp` may be
/// in the past. Signature, header rules, `iss`, `aud`, `sub`, `iat` and the lifetime bound all
/// apply. Waits, like [`Verifier::verify_async`], for a key fetch under way.
///
/// # Security
///
/// The token may have expired long ago: never treat the result as a live credential. It exists
/// to decide whether a session is worth refreshing: the frontend proxy calls the auth server
/// only for sessions whose access token passes this, so forged cookies cost nothing upstream
/// (a token naming a `kid` the key set does not have is refused here with
/// [`Error::UnknownKey`] before any signature check; the proxy refreshes those only within a
/// small budget).
///
/// # Examples
///
/// ```
/// use supagate_jwt::{Error, FixedClock, Hs256Secret, Verifier, dangerous};
/// use supagate_testkit::{TestKeys, TokenBuilder};
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let verifier = Verifier::from_supabase_url(TestKeys::SUPABASE_URL)
///     .hs256_secret(Hs256Secret::new(TestKeys::HS256_SECRET)?)
///     .clock(FixedClock::new(TokenBuilder::DEFAULT_NOW + 7200))
///     .build()?;
/// let expired = TokenBuilder::new().sign_hs256(&TestKeys::new());
/// assert_eq!(verifier.verify(&expired).unwrap_err(), Error::Expired);
/// assert!(dangerous::verify_allowing_expiry(&verifier, &expired).await.is_ok());
///
/// // A forged signature is still refused.
/// let forged = format!("{}x", &expired[..expired.len() - 1]);
/// assert!(dangerous::verify_allowing_expiry(&verifier, &forged).await.is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// Every [`Error`] of [`Verifier::verify`] except [`Error::Expired`].
pub async fn verify_allowing_expiry(verifier: &Verifier, token: &str) -> Result<Claims, Error> {
    verifier
        .settle(token, || verifier.verify_allowing_expiry(token))
        .await
}
