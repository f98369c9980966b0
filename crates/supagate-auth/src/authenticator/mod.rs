//! The [`Authenticator`]: where a request's token comes from, and what happens when it is bad.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use supagate_core::RequestError as _;

use http::header::{AUTHORIZATION, COOKIE, ORIGIN};
use http::{HeaderMap, HeaderName};
use supagate_cookie::SessionReader;
use supagate_jwt::{Verified, Verifier};
use supagate_policy::Policy;

use crate::api_keys::{ApiKeyKind, ApiKeys, ct_eq, digest};
use crate::bearer::bearer_token;
use crate::error::AuthError;
use crate::liveness::SessionLiveness;
use crate::modes::{AuthMode, AuthModes, Caller};
use crate::refusal::{Refusal, RefusalBody, Rejection};

mod builder;
mod credentials;
mod headers;
mod refusals;

pub use builder::AuthenticatorBuilder;
use credentials::{Credential, Presented};
pub(crate) use headers::APIKEY;
pub use headers::RequestHeaders;
use headers::{SEC_FETCH_MODE, SEC_FETCH_SITE};
pub(crate) use refusals::log_refusal;

/// The realm used in `WWW-Authenticate` unless configured.
pub(crate) const DEFAULT_REALM: &str = "supagate";

/// The `Retry-After` seconds sent with a 503 while signing keys are unavailable, unless
/// configured.
pub(crate) const DEFAULT_RETRY_AFTER_SECS: u32 = 30;

/// Where the access token comes from.
///
/// # Examples
///
/// ```
/// use supagate_auth::TokenSource;
/// use supagate_cookie::{CookieName, SessionReader};
///
/// let reader = SessionReader::new(CookieName::from_supabase_url("https://abcd.supabase.co")?);
/// let from_cookie = TokenSource::SessionCookie(reader);
/// # let _ = from_cookie;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum TokenSource {
    /// `Authorization: Bearer <token>` (the default). Cookies are ignored.
    #[default]
    AuthorizationHeader,
    /// The Supabase session cookie (`sb-<ref>-auth-token`, chunked or not), read with
    /// `supagate-cookie`. Any `Authorization` field is ignored: on a cookie route a client-sent
    /// header is never trusted.
    SessionCookie(SessionReader),
    /// Either, but not both: a request with a bearer token *and* a session cookie is
    /// `invalid_request` (RFC 6750 §2: one method per request).
    AuthorizationHeaderOrSessionCookie(SessionReader),
}

type BodyFn = dyn Fn(&AuthError) -> RefusalBody + Send + Sync;

struct Inner {
    verifier: Verifier,
    source: TokenSource,
    realm: String,
    retry_after_secs: u32,
    body: Option<Box<BodyFn>>,
    base: Policy,
    /// RFC 9728: the metadata URL named in 401 challenges.
    resource_metadata: Option<String>,
    /// The project's API keys, for the `publishable` and `secret` modes.
    api_keys: ApiKeys,
    /// The SHA-256 and length of the legacy anon key: as a bearer, "no user".
    anon_key: Option<([u8; 32], usize)>,
    /// The modes of extractors that no route-level list overrides.
    modes: AuthModes,
    /// Session liveness, applied to every verified user after the policy.
    liveness: Option<SessionLiveness>,
    /// User and session ids in the `authentication decided` event.
    trace_identities: bool,
}

/// The base policy of every extraction: the Postgres role `authenticated` only, no
/// third-party OAuth client, anonymous users admitted (they are users; [`Policy`]'s own
/// defaults refuse them where a requirement is checked).
fn base_policy() -> Policy {
    Policy::authenticated().allow_anonymous()
}

/// Authenticates requests: finds the token (header or session cookie), verifies it, optionally
/// checks a [`Policy`], and turns every failure into a correct RFC 6750 [`Refusal`].
///
/// This is the framework-free core of the axum and actix-web adapters, so both behave
/// identically. Build it once; it is `Clone` (an `Arc` inside), `Send` and `Sync`.
///
/// # Examples
///
/// ```
/// use supagate_auth::{AuthError, Authenticator};
/// use supagate_jwt::{FixedClock, Hs256Secret, Verifier};
/// use supagate_testkit::{TestKeys, TokenBuilder};
///
/// let verifier = Verifier::from_supabase_url(TestKeys::SUPABASE_URL)
///     .hs256_secret(Hs256Secret::new(TestKeys::HS256_SECRET)?)
///     .clock(FixedClock::new(TokenBuilder::DEFAULT_NOW))
///     .build()?;
/// let auth = Authenticator::new(verifier);
///
/// let token = TokenBuilder::new().sign_hs256(&TestKeys::new());
/// let mut headers = http::HeaderMap::new();
/// headers.insert("authorization", format!("Bearer {token}").parse()?);
/// let claims = auth.authenticate(&headers)?;
/// assert_eq!(claims.sub.to_string(), TokenBuilder::DEFAULT_SUB);
///
/// let err = auth.authenticate(&http::HeaderMap::new()).unwrap_err();
/// assert_eq!(err, AuthError::MissingCredentials);
/// assert_eq!(auth.refusal(&err).www_authenticate().unwrap(), r#"Bearer realm="supagate""#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("verifier", &self.inner.verifier)
            .field("source", &self.inner.source)
            .field("realm", &self.inner.realm)
            .field("retry_after_secs", &self.inner.retry_after_secs)
            .field("custom_body", &self.inner.body.is_some())
            .field("base_policy", &self.inner.base)
            .field("api_keys", &self.inner.api_keys)
            .field("legacy_anon_key", &self.inner.anon_key.is_some())
            .field("modes", &self.inner.modes.to_string())
            .field("session_liveness", &self.inner.liveness)
            .finish()
    }
}

impl From<Verifier> for Authenticator {
    fn from(verifier: Verifier) -> Self {
        Authenticator::new(verifier)
    }
}

impl Authenticator {
    /// The `Retry-After` seconds sent with a 503 while signing keys are unavailable, unless
    /// configured.
    pub const DEFAULT_RETRY_AFTER_SECS: u32 = DEFAULT_RETRY_AFTER_SECS;

    /// The realm used in `WWW-Authenticate` unless configured.
    pub const DEFAULT_REALM: &str = DEFAULT_REALM;

    /// Bearer tokens from the `Authorization` header, realm [`Authenticator::DEFAULT_REALM`], default JSON
    /// bodies.
    #[must_use]
    pub fn new(verifier: Verifier) -> Self {
        Authenticator {
            inner: Arc::new(Inner {
                verifier,
                source: TokenSource::AuthorizationHeader,
                realm: DEFAULT_REALM.to_owned(),
                retry_after_secs: DEFAULT_RETRY_AFTER_SECS,
                body: None,
                base: base_policy(),
                resource_metadata: None,
                api_keys: ApiKeys::default(),
                anon_key: None,
                modes: AuthModes::default(),
                liveness: None,
                trace_identities: false,
            }),
        }
    }

    /// A builder, to choose the token source, realm and refusal body.
    pub fn builder(verifier: Verifier) -> AuthenticatorBuilder {
        AuthenticatorBuilder::new(verifier)
    }

    /// The verifier.
    #[must_use]
    pub fn verifier(&self) -> &Verifier {
        &self.inner.verifier
    }

    /// The token source.
    #[must_use]
    pub fn source(&self) -> &TokenSource {
        &self.inner.source
    }

    /// Verifies the request's token, applies the base policy and returns its Supabase claims:
    /// for code outside any framework that needs a signed-in user now. Never waits (a token
    /// whose key is being fetched is refused with 503 at once). Routes with a role policy or
    /// auth modes, or that may wait, use a [`Gate`](crate::Gate).
    ///
    /// # Errors
    ///
    /// [`AuthError::MissingCredentials`] when the request carries none, otherwise why its
    /// credentials were refused: [`AuthError::Forbidden`] (403) for a token the base policy
    /// refuses (a Postgres role other than `authenticated`, a third-party OAuth client) unless
    /// [`AuthenticatorBuilder::allow_postgres_roles`] or
    /// [`AuthenticatorBuilder::allow_oauth_clients`] admit it.
    pub fn authenticate(
        &self,
        headers: &impl RequestHeaders,
    ) -> Result<supagate_jwt::Claims, AuthError> {
        self.authenticate_verified(headers)?
            .map(Verified::into_claims)
            .ok_or(AuthError::MissingCredentials)
    }

    /// Verifies the request's token keeping its payload ([`Verified`]), and applies the base
    /// policy. `Ok(None)` without credentials. Never waits: a token whose key is being fetched
    /// is refused at once; [`Authenticator::authenticate_verified_async`] waits for it.
    pub(crate) fn authenticate_verified(
        &self,
        headers: &impl RequestHeaders,
    ) -> Result<Option<Verified>, AuthError> {
        let Some(credential) = self.credential(headers)? else {
            return Ok(None);
        };
        let verified = self.inner.verifier.verify_payload(credential.token())?;
        self.inner
            .base
            .check_at(verified.claims(), self.inner.verifier.now())
            .into_result()?;
        self.live_cached(&verified)?;
        Ok(Some(verified))
    }

    /// [`Authenticator::authenticate_verified`] for async code: when the token's key is being
    /// fetched (a rotation, the first fetch of a remote JWK set), waits for that fetch without
    /// blocking the thread. What [`UserLookup::resolve`](crate::UserLookup::resolve) calls.
    pub(crate) async fn authenticate_verified_async<H: RequestHeaders + Sync>(
        &self,
        headers: &H,
    ) -> Result<Option<Verified>, AuthError> {
        let Some(credential) = self.credential(headers)? else {
            return Ok(None);
        };
        let verified = self
            .inner
            .verifier
            .verify_payload_async(credential.token())
            .await?;
        self.inner
            .base
            .check_at(verified.claims(), self.inner.verifier.now())
            .into_result()?;
        self.live(&verified, credential.token()).await?;
        Ok(Some(verified))
    }

    /// Checks verified claims against the base policy every extraction applies (Postgres
    /// role, OAuth client; see [`AuthenticatorBuilder::allow_postgres_roles`]), for code that
    /// verifies a token itself, such as the frontend proxy before it forwards one.
    ///
    /// # Errors
    ///
    /// [`AuthError::Forbidden`] (403) when the base policy refuses.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::Authenticator;
    /// use supagate_testkit::{TestKeys, TokenBuilder};
    ///
    /// let keys = TestKeys::new();
    /// let verifier = keys.verifier_at(TokenBuilder::DEFAULT_NOW);
    /// let auth = Authenticator::new(verifier.clone());
    /// let oauth_app = TokenBuilder::new().claim("client_id", "third-party").sign_es256(&keys);
    /// let claims = verifier.verify(&oauth_app)?;
    /// assert!(auth.check_base_policy(&claims).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check_base_policy(&self, claims: &supagate_jwt::Claims) -> Result<(), AuthError> {
        Ok(self
            .inner
            .base
            .check_at(claims, self.inner.verifier.now())
            .into_result()?)
    }

    /// Authenticates the request and checks `policy` against its claims. `policy` replaces the
    /// base policy here: its own defaults apply (Postgres role `authenticated`, no anonymous
    /// user, no OAuth client), and what it allows is allowed. Never waits (see
    /// [`Authenticator::authorize_async`]).
    ///
    /// # Errors
    ///
    /// As [`Authenticator::authenticate`], and [`AuthError::Forbidden`] when the policy refuses.
    pub(crate) fn authorize(
        &self,
        headers: &impl RequestHeaders,
        policy: &Policy,
    ) -> Result<Verified, AuthError> {
        let credential = self
            .credential(headers)?
            .ok_or(AuthError::MissingCredentials)?;
        let verified = self.inner.verifier.verify_payload(credential.token())?;
        let verdict = policy
            .check_at(verified.claims(), self.inner.verifier.now())
            .into_result();
        if let Err(denial) = verdict {
            crate::observe::authorization(Some(denial.reason()));
            return Err(denial.into());
        }
        let live = self.live_cached(&verified);
        // A liveness answer still to come: decided again, and observed then, asynchronously.
        if !live.as_ref().is_err_and(AuthError::may_settle_async) {
            crate::observe::authorization(None);
        }
        live?;
        Ok(verified)
    }

    /// [`Authenticator::authorize`] for async code, waiting (without blocking) for a key fetch
    /// under way. What [`Gate::decide`](crate::Gate::decide) calls.
    ///
    /// # Errors
    ///
    /// As [`Authenticator::authorize`].
    pub(crate) async fn authorize_async<H: RequestHeaders + Sync>(
        &self,
        headers: &H,
        policy: &Policy,
    ) -> Result<Verified, AuthError> {
        let credential = self
            .credential(headers)?
            .ok_or(AuthError::MissingCredentials)?;
        let verified = self
            .inner
            .verifier
            .verify_payload_async(credential.token())
            .await?;
        let verdict = policy
            .check_at(verified.claims(), self.inner.verifier.now())
            .into_result();
        crate::observe::authorization(verdict.as_ref().err().map(|d| d.reason()));
        verdict?;
        self.live(&verified, credential.token()).await?;
        Ok(verified)
    }

    /// A token presented on its own (a refreshed token on an open connection): verified,
    /// checked against every one of `policies` (the base policy when there is none) and,
    /// with liveness, its session asked about. What [`Watch::renew`](crate::Watch::renew) calls.
    #[cfg(feature = "watch")]
    pub(crate) async fn reverify(
        &self,
        token: &str,
        policies: &[Arc<Policy>],
    ) -> Result<Verified, AuthError> {
        let verified = self.inner.verifier.verify_payload_async(token).await?;
        let now = self.inner.verifier.now();
        if policies.is_empty() {
            self.inner
                .base
                .check_at(verified.claims(), now)
                .into_result()?;
        }
        for policy in policies {
            policy.check_at(verified.claims(), now).into_result()?;
        }
        self.live(&verified, token).await?;
        Ok(verified)
    }

    /// Whether the `authentication decided` event names the user and the session.
    pub(crate) fn traces_identities(&self) -> bool {
        self.inner.trace_identities
    }

    /// Whether any API key (or the legacy anon key) is configured.
    pub(crate) fn has_api_keys(&self) -> bool {
        !self.inner.api_keys.is_empty() || self.inner.anon_key.is_some()
    }

    /// The project's API keys (see [`AuthenticatorBuilder::api_keys`]).
    #[must_use]
    pub fn api_keys(&self) -> &ApiKeys {
        &self.inner.api_keys
    }

    /// The auth modes used where a route names none (see [`AuthenticatorBuilder::modes`]).
    #[must_use]
    pub fn default_modes(&self) -> &AuthModes {
        &self.inner.modes
    }

    /// Who is calling, by the first of `modes` that matches the request (see [`AuthModes`] for
    /// the rules). Never waits: a user token whose key is being fetched is refused at once;
    /// [`Authenticator::admit_async`] waits for it.
    ///
    /// # Errors
    ///
    /// 400 for malformed credentials, 401 ([`AuthError::MissingCredentials`],
    /// [`AuthError::InvalidApiKey`], a bad token) when nothing admitted the request and a
    /// credential is missing or wrong, 403 ([`AuthError::NotAdmitted`],
    /// [`AuthError::SecretKeyFromBrowser`], the base policy) when a good credential is not
    /// admitted.
    ///
    pub(crate) fn admit(
        &self,
        headers: &impl RequestHeaders,
        modes: &AuthModes,
    ) -> Result<Caller<Verified>, AuthError> {
        let presented = self.presented(headers)?;
        let verify = |c: &Credential<'_>| self.inner.verifier.verify_payload(c.token());
        let caller = self.decide(&presented, modes, verify)?;
        if let Caller::User(v) = &caller {
            self.live_cached(v)?;
        }
        Ok(caller)
    }

    /// [`Authenticator::admit`] for async code, waiting (without blocking) for a key fetch under
    /// way. What [`Gate::decide`](crate::Gate::decide) calls.
    ///
    /// # Errors
    ///
    /// As [`Authenticator::admit`].
    pub(crate) async fn admit_async<H: RequestHeaders + Sync>(
        &self,
        headers: &H,
        modes: &AuthModes,
    ) -> Result<Caller<Verified>, AuthError> {
        let presented = self.presented(headers)?;
        // Only a user credential that some mode will look at is verified, and only once: the
        // async verification happens before the (synchronous) decision, which then reuses it.
        let looks_at_user =
            presented.user.is_some() && !Self::decided_before_user(&presented, modes);
        let verified = match (&presented.user, looks_at_user) {
            (Some(c), true) => Some(self.inner.verifier.verify_payload_async(c.token()).await),
            _ => None,
        };
        let mut verified = verified;
        let caller = self.decide(&presented, modes, |_| {
            verified
                .take()
                .unwrap_or(Err(supagate_jwt::Error::KeysUnavailable))
        })?;
        if let (Caller::User(v), Some(c)) = (&caller, &presented.user) {
            self.live(v, c.token()).await?;
        }
        Ok(caller)
    }

    /// The session liveness configured with
    /// [`AuthenticatorBuilder::session_liveness`], if any.
    #[must_use]
    pub fn session_liveness(&self) -> Option<&SessionLiveness> {
        self.inner.liveness.as_ref()
    }

    /// Session liveness from the cache alone (the synchronous paths never wait).
    fn live_cached(&self, verified: &Verified) -> Result<(), AuthError> {
        match &self.inner.liveness {
            None => Ok(()),
            Some(l) => l
                .check_cached(verified.claims(), self.inner.verifier.now())
                .unwrap_or(Err(AuthError::SessionUnchecked)),
        }
    }

    /// Session liveness, asking the source when the cache does not know.
    async fn live(&self, verified: &Verified, token: &str) -> Result<(), AuthError> {
        match &self.inner.liveness {
            None => Ok(()),
            Some(l) => {
                let now = self.inner.verifier.now();
                // A cached answer needs no future; the question to the source is boxed, so that
                // the future of every authentication (moved on each request) stays small.
                match l.check_cached(verified.claims(), now) {
                    Some(answer) => answer,
                    None => Box::pin(l.check(verified.claims(), token, now)).await,
                }
            }
        }
    }

    /// The first mode that admits the request, given how to verify its user credential.
    fn decide(
        &self,
        presented: &Presented<'_>,
        modes: &AuthModes,
        mut verify: impl FnMut(&Credential<'_>) -> Result<Verified, supagate_jwt::Error>,
    ) -> Result<Caller<Verified>, AuthError> {
        // A secret key seen from a browser is refused whatever the route admits.
        if presented.secret.is_some() && presented.browser {
            return Err(AuthError::SecretKeyFromBrowser);
        }
        for mode in modes.modes() {
            match mode {
                AuthMode::User => {
                    if let Some(credential) = &presented.user {
                        let verified = verify(credential)?;
                        self.inner
                            .base
                            .check_at(verified.claims(), self.inner.verifier.now())
                            .into_result()?;
                        return Ok(Caller::User(verified));
                    }
                }
                AuthMode::Publishable(sel) => {
                    if let Some(name) = presented.publishable.as_deref().filter(|n| sel.admits(n)) {
                        return Ok(Caller::Publishable {
                            key: name.to_owned(),
                        });
                    }
                }
                AuthMode::Secret(sel) => {
                    if let Some(name) = presented.secret.as_deref().filter(|n| sel.admits(n)) {
                        return Ok(Caller::Secret {
                            key: name.to_owned(),
                        });
                    }
                }
                AuthMode::None => return Ok(Caller::None),
            }
        }
        // Nothing admitted the request: 403 for a good credential, 401 otherwise. A
        // publishable key is public and proves nothing: where users are admitted and none
        // came, the user credential is what is missing.
        if modes.admits_users() && presented.user.is_none() && presented.publishable.is_some() {
            return Err(AuthError::MissingCredentials);
        }
        if presented.publishable.is_some() || presented.secret.is_some() {
            return Err(AuthError::NotAdmitted {
                what: "this api key is not admitted here",
            });
        }
        if presented.apikey {
            return Err(AuthError::InvalidApiKey);
        }
        if let Some(credential) = &presented.user {
            // `user` is not among the modes (else it decided above).
            verify(credential)?;
            return Err(AuthError::NotAdmitted {
                what: "user tokens are not admitted here",
            });
        }
        Err(AuthError::MissingCredentials)
    }
}
