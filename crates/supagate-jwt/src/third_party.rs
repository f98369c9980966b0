//! [`ThirdPartyIssuer`]: an OpenID Connect provider whose tokens the project accepts beside its
//! own (Supabase's "third-party auth": Clerk, Firebase Auth, Auth0, AWS Cognito, WorkOS).

use std::fmt;
use std::sync::Arc;

use crate::error::ConfigError;
use crate::keys::{JwkSet, KeySource};

/// The `role` claim Supabase requires of third-party tokens.
pub(crate) const DEFAULT_THIRD_PARTY_ROLE: &str = "authenticated";

/// A token issuer the verifier trusts beside the Supabase project, added with
/// [`VerifierBuilder::third_party_issuer`](crate::VerifierBuilder::third_party_issuer).
///
/// Its tokens are held to the same rules as the project's own (header allow-list, pinned
/// algorithm per key, `exp`, `iat`, lifetime, strict claim types), and to these:
///
/// - the token's `iss` equals [`ThirdPartyIssuer::issuer`] exactly, and only then are this
///   issuer's keys consulted: a token never selects the keys of another issuer, and an
///   asymmetric token whose `iss` names this issuer is never checked against the project's
///   keys;
/// - asymmetric algorithms only, with a `kid`: an `HS256` token naming this issuer is refused
///   (a provider's tokens are never signed with a secret the backend holds; such a token is
///   checked against the project's secret, so that the project's own HS256 tokens pay nothing
///   for third-party issuers, and refused after it even when that secret signed it);
/// - `aud` contains one of its audiences (required: there is no default);
/// - the top-level `role` claim equals [`ThirdPartyIssuer::role`] (`authenticated` by
///   default; Supabase asks each provider to add it);
/// - `sub` is the provider's user id: 1 to 255 bytes of visible ASCII (no space, no control,
///   line-separator, bidi or zero-width character), not necessarily a UUID, so
///   [`Claims::sub`](crate::Claims::sub) is a [`Subject`](crate::Subject), and
///   [`Claims::issued_by`](crate::Claims::issued_by) says
///   [`IssuedBy::ThirdParty`](crate::IssuedBy::ThirdParty).
///
/// # Security
///
/// A provider's user ids are not Supabase's: some are UUIDs (Cognito), and some providers let
/// the application choose them (Firebase custom tokens). Key anything stored per user by
/// issuer and `sub` together ([`Claims::iss`](crate::Claims::iss) or `issued_by`, then
/// `sub`), never by `sub` alone, or a provider account whose id equals a Supabase user's UUID
/// reads that user's rows. Likewise every claim of a provider's token besides the ones
/// checked here (`app_metadata`, `aal`, `amr`, `email`) is what the provider, or a template
/// configured in it, wrote: role policies refuse third-party tokens' app roles, `aal` and
/// `amr` unless told to trust them (`PolicyBuilder::trust_third_party_claims` in
/// `supagate-policy`).
///
/// The keys come from a static [`JwkSet`], any [`KeySource`], or (feature `remote_jwks`)
/// OpenID Connect discovery at `<issuer>/.well-known/openid-configuration`
/// (`ThirdPartyIssuer::discover`), with the caching, cooldown and staleness rules of
/// `RemoteJwks`.
///
/// # Examples
///
/// ```
/// use supagate_jwt::{FixedClock, JwkSet, ThirdPartyIssuer, Verifier};
/// use supagate_testkit::{MockOidc, TestKeys, TokenBuilder};
///
/// // A provider's published keys, given inline here (`discover` fetches them instead).
/// let provider = ThirdPartyIssuer::new("https://clerk.example.com")
///     .audience("my-app")
///     .jwk_set(JwkSet::from_json(&MockOidc::jwks_json())?);
/// let verifier = TestKeys::new()
///     .verifier_builder()
///     .third_party_issuer(provider)
///     .clock(FixedClock::new(TokenBuilder::DEFAULT_NOW))
///     .build()?;
///
/// let token = TokenBuilder::third_party("https://clerk.example.com")
///     .claim("sub", "user_2x7Qb")
///     .claim("aud", "my-app")
///     .sign_provider();
/// let claims = verifier.verify(&token)?;
/// assert_eq!(claims.sub.to_string(), "user_2x7Qb");
/// assert_eq!(claims.issued_by, supagate_jwt::IssuedBy::ThirdParty);
///
/// // The project's own tokens still verify; a provider token for another audience does not.
/// assert!(verifier.verify(&TokenBuilder::new().sign_es256(&TestKeys::new())).is_ok());
/// let other = TokenBuilder::third_party("https://clerk.example.com").sign_provider();
/// assert_eq!(verifier.verify(&other).unwrap_err(), supagate_jwt::Error::AudienceMismatch);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct ThirdPartyIssuer {
    pub(crate) issuer: String,
    pub(crate) audiences: Vec<String>,
    pub(crate) jwks: Vec<JwkSet>,
    pub(crate) source: Option<Result<Arc<dyn KeySource>, ConfigError>>,
    /// Keys by discovery, built by `VerifierBuilder::build` with the verifier's backend and
    /// clock.
    pub(crate) discover: bool,
    pub(crate) role: String,
}

impl fmt::Debug for ThirdPartyIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThirdPartyIssuer")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("role", &self.role)
            .field("jwk_sets", &self.jwks.len())
            .field("key_source", &self.source.as_ref().map(|s| s.is_ok()))
            .field("discover", &self.discover)
            .finish()
    }
}

impl ThirdPartyIssuer {
    /// An issuer whose tokens carry exactly `issuer` as `iss` (`https`, or `http` on a
    /// loopback host). Add its audiences and its keys; [`VerifierBuilder::build`] checks all
    /// of it.
    ///
    /// [`VerifierBuilder::build`]: crate::VerifierBuilder::build
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_jwt::ThirdPartyIssuer;
    ///
    /// let firebase = ThirdPartyIssuer::new("https://securetoken.google.com/my-project")
    ///     .audience("my-project");
    /// assert_eq!(firebase.issuer(), "https://securetoken.google.com/my-project");
    /// assert_eq!(firebase.required_role(), "authenticated");
    /// ```
    pub fn new(issuer: impl Into<String>) -> Self {
        ThirdPartyIssuer {
            issuer: issuer.into(),
            audiences: Vec::new(),
            jwks: Vec::new(),
            source: None,
            discover: false,
            role: DEFAULT_THIRD_PARTY_ROLE.to_owned(),
        }
    }

    /// An issuer whose keys are found by OpenID Connect discovery: the document at
    /// `<issuer>/.well-known/openid-configuration` must name `issuer` exactly, and its
    /// `jwks_uri` is followed as a `RemoteJwks` with the default settings and the verifier's
    /// crypto backend and clock, made when the verifier is built (for other settings, or to
    /// share one source between verifiers, build a `RemoteJwks::discover` yourself and pass
    /// it to [`ThirdPartyIssuer::key_source`]). Nothing is fetched until the first token of
    /// this issuer arrives; a bad issuer URL is reported by `build()`. A verification waiting
    /// for these keys waits for the discovery document and then the set: up to twice the
    /// fetch timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_jwt::{ThirdPartyIssuer, Verifier};
    /// use supagate_testkit::TestKeys;
    ///
    /// let clerk = ThirdPartyIssuer::discover("https://clerk.example.com").audience("my-app");
    /// let verifier = TestKeys::new().verifier_builder().third_party_issuer(clerk).build()?;
    /// # let _ = verifier;
    /// # Ok::<(), supagate_jwt::ConfigError>(())
    /// ```
    #[cfg(feature = "remote_jwks")]
    #[cfg_attr(docsrs, doc(cfg(feature = "remote_jwks")))]
    pub fn discover(issuer: impl Into<String>) -> Self {
        ThirdPartyIssuer {
            discover: true,
            ..ThirdPartyIssuer::new(issuer)
        }
    }

    /// Accepts exactly this audience (replacing any set before).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences = vec![audience.into()];
        self
    }

    /// Accepts any of these audiences (replacing any set before).
    pub fn audiences<I, S>(mut self, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.audiences = audiences.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a static set of the issuer's public keys (several are merged).
    pub fn jwk_set(mut self, set: JwkSet) -> Self {
        self.jwks.push(set);
        self
    }

    /// Takes the issuer's keys from a [`KeySource`] (a `RemoteJwks`, say) instead of static
    /// sets.
    pub fn key_source(mut self, source: impl KeySource) -> Self {
        self.source = Some(Ok(Arc::new(source)));
        self.discover = false;
        self
    }

    /// The `role` claim every token of this issuer must carry: `authenticated` (the default)
    /// or `anon`. Any other value is refused by `build()`: the top-level `role` is the
    /// Postgres role, and a provider must never be able to pick a privileged one.
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.role = role.into();
        self
    }

    /// The issuer string tokens must carry as `iss`.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The accepted audiences.
    #[must_use]
    pub fn accepted_audiences(&self) -> &[String] {
        &self.audiences
    }

    /// The required `role` claim.
    #[must_use]
    pub fn required_role(&self) -> &str {
        &self.role
    }
}
