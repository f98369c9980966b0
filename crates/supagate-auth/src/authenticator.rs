//! The [`Authenticator`]: where a request's token comes from, and what happens when it is bad.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use supagate_core::RequestError as _;

use http::header::{AUTHORIZATION, COOKIE, ORIGIN};
use http::{HeaderMap, HeaderName};
use serde::de::DeserializeOwned;
use supagate_cookie::SessionReader;
use supagate_jwt::{Verified, Verifier};
use supagate_policy::Policy;

use crate::api_keys::{ApiKeyKind, ApiKeys, ct_eq, digest};
use crate::bearer::bearer_token;
use crate::error::AuthError;
use crate::liveness::SessionLiveness;
use crate::modes::{AuthMode, AuthModes, Caller};
use crate::refusal::{Refusal, RefusalBody, Rejection};

/// The realm used in `WWW-Authenticate` unless configured.
pub(crate) const DEFAULT_REALM: &str = "supagate";

/// The `Retry-After` seconds sent with a 503 while signing keys are unavailable, unless
/// configured.
pub(crate) const DEFAULT_RETRY_AFTER_SECS: u32 = 30;

/// Read access to a request's header fields, whatever the framework's header type.
/// Implemented for [`http::HeaderMap`]; the actix adapter implements it for its own map.
pub trait RequestHeaders {
    /// Every `Authorization` field value, in order.
    fn authorization(&self) -> impl Iterator<Item = &[u8]>;
    /// Every `Cookie` field value, in order.
    fn cookie(&self) -> impl Iterator<Item = &[u8]>;
    /// Every value of the field `name` (lowercase, as [`HeaderName`] keeps it), in order:
    /// `apikey` and the browser fetch metadata the auth modes read.
    fn values(&self, name: &HeaderName) -> impl Iterator<Item = &[u8]>;
}

impl RequestHeaders for HeaderMap {
    fn authorization(&self) -> impl Iterator<Item = &[u8]> {
        self.get_all(AUTHORIZATION).iter().map(|v| v.as_bytes())
    }

    fn cookie(&self) -> impl Iterator<Item = &[u8]> {
        self.get_all(COOKIE).iter().map(|v| v.as_bytes())
    }

    fn values(&self, name: &HeaderName) -> impl Iterator<Item = &[u8]> {
        self.get_all(name).iter().map(|v| v.as_bytes())
    }
}

/// The `apikey` field Supabase clients send their API key in.
pub(crate) static APIKEY: HeaderName = HeaderName::from_static("apikey");
static SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");
static SEC_FETCH_MODE: HeaderName = HeaderName::from_static("sec-fetch-mode");

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
}

/// The base policy of every extraction: the Postgres role `authenticated` only, no
/// third-party OAuth client, anonymous users admitted (they are users; [`Policy`]'s own
/// defaults refuse them where a requirement is checked).
fn base_policy() -> Policy {
    Policy::authenticated().allow_anonymous()
}

/// A token's text, borrowed from the request or owned by the session read from its cookies.
enum Credential<'h> {
    Header(&'h str),
    Cookie(supagate_cookie::Session),
}

impl Credential<'_> {
    fn token(&self) -> &str {
        match self {
            Credential::Header(t) => t,
            Credential::Cookie(s) => s.access_token().expose(),
        }
    }
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
            }),
        }
    }

    /// A builder, to choose the token source, realm and refusal body.
    pub fn builder(verifier: Verifier) -> AuthenticatorBuilder {
        AuthenticatorBuilder {
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
        }
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

    /// Verifies the request's token and returns its Supabase claims.
    ///
    /// # Errors
    ///
    /// [`AuthError::MissingCredentials`] when the request carries none, otherwise why its
    /// credentials were refused.
    pub fn authenticate(
        &self,
        headers: &impl RequestHeaders,
    ) -> Result<supagate_jwt::Claims, AuthError> {
        self.authenticate_optional(headers)?
            .ok_or(AuthError::MissingCredentials)
    }

    /// Like [`Authenticator::authenticate_optional`], into your own claim type (the registered
    /// claims are validated first and the base policy applied, as for every extraction):
    /// `Ok(None)` when the request carries no credentials.
    ///
    /// # Errors
    ///
    /// Why the credentials were refused (never [`AuthError::MissingCredentials`]).
    pub fn authenticate_as<T: DeserializeOwned + 'static>(
        &self,
        headers: &impl RequestHeaders,
    ) -> Result<Option<T>, AuthError> {
        self.authenticate_verified(headers)?
            .map(|v| v.into_typed::<T>().map_err(AuthError::Token))
            .transpose()
    }

    /// `Ok(None)` when the request carries no credentials (anonymous access), the claims when
    /// it carries good ones that pass the base policy, and an error otherwise.
    ///
    /// # Errors
    ///
    /// Why the credentials were refused (never [`AuthError::MissingCredentials`]):
    /// [`AuthError::Forbidden`] (403) for a token the base policy refuses (a Postgres role other
    /// than `authenticated`, a third-party OAuth client) unless
    /// [`AuthenticatorBuilder::allow_postgres_roles`] or
    /// [`AuthenticatorBuilder::allow_oauth_clients`] admit it.
    pub fn authenticate_optional(
        &self,
        headers: &impl RequestHeaders,
    ) -> Result<Option<supagate_jwt::Claims>, AuthError> {
        self.authenticate_verified(headers)
            .map(|v| v.map(Verified::into_claims))
    }

    /// Verifies the request's token keeping its payload ([`Verified`]), and applies the base
    /// policy. `Ok(None)` without credentials. Never waits: a token whose key is being fetched
    /// is refused at once; [`Authenticator::authenticate_verified_async`] waits for it.
    ///
    /// # Errors
    ///
    /// As [`Authenticator::authenticate_optional`].
    pub fn authenticate_verified(
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
    /// blocking the thread. What the framework adapters call.
    ///
    /// # Errors
    ///
    /// As [`Authenticator::authenticate_optional`].
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_core::RequestError as _;
    /// use supagate_auth::Authenticator;
    /// use supagate_testkit::{TestKeys, TokenBuilder};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let keys = TestKeys::new();
    /// let auth = Authenticator::new(keys.verifier_at(TokenBuilder::DEFAULT_NOW));
    /// let mut headers = http::HeaderMap::new();
    /// let bearer = format!("Bearer {}", TokenBuilder::new().sign_es256(&keys));
    /// headers.insert("authorization", bearer.parse()?);
    /// let verified = auth.authenticate_verified_async(&headers).await?.unwrap();
    /// assert_eq!(verified.claims().sub.to_string(), TokenBuilder::DEFAULT_SUB);
    ///
    /// // The service_role key is not a user: refused (403) unless allowed.
    /// let service = TokenBuilder::new().claim("role", "service_role").sign_es256(&keys);
    /// headers.insert("authorization", format!("Bearer {service}").parse()?);
    /// let err = auth.authenticate_verified_async(&headers).await.unwrap_err();
    /// assert_eq!(err.status(), http::StatusCode::FORBIDDEN);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn authenticate_verified_async<H: RequestHeaders + Sync>(
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
    pub fn authorize(
        &self,
        headers: &impl RequestHeaders,
        policy: &Policy,
    ) -> Result<Verified, AuthError> {
        let credential = self
            .credential(headers)?
            .ok_or(AuthError::MissingCredentials)?;
        let verified = self.inner.verifier.verify_payload(credential.token())?;
        policy
            .check_at(verified.claims(), self.inner.verifier.now())
            .into_result()?;
        self.live_cached(&verified)?;
        Ok(verified)
    }

    /// [`Authenticator::authorize`] for async code, waiting (without blocking) for a key fetch
    /// under way. What the policy layer and middleware call.
    ///
    /// # Errors
    ///
    /// As [`Authenticator::authorize`].
    pub async fn authorize_async<H: RequestHeaders + Sync>(
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
        policy
            .check_at(verified.claims(), self.inner.verifier.now())
            .into_result()?;
        self.live(&verified, credential.token()).await?;
        Ok(verified)
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
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::{ApiKeys, AuthError, Authenticator, AuthModes, Caller};
    /// use supagate_testkit::{TestKeys, TokenBuilder};
    ///
    /// let keys = TestKeys::new();
    /// let auth = Authenticator::builder(keys.verifier_at(TokenBuilder::DEFAULT_NOW))
    ///     .api_keys(ApiKeys::from_lookup(TestKeys::api_key_env)?)
    ///     .build()?;
    /// let whoami: AuthModes = "user, none".parse()?;
    ///
    /// let mut headers = http::HeaderMap::new();
    /// assert!(matches!(auth.admit(&headers, &whoami)?, Caller::None));
    ///
    /// headers.insert("authorization", format!("Bearer {}", TokenBuilder::new().sign_es256(&keys)).parse()?);
    /// assert_eq!(auth.admit(&headers, &whoami)?.mode(), "user");
    ///
    /// // A bad token is refused, never downgraded to `none`.
    /// let expired = TokenBuilder::new().exp(TokenBuilder::DEFAULT_NOW - 3600).sign_es256(&keys);
    /// headers.insert("authorization", format!("Bearer {expired}").parse()?);
    /// let err = auth.admit(&headers, &whoami).unwrap_err();
    /// assert_eq!(err, AuthError::Token(supagate_jwt::Error::Expired));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn admit(
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
    /// way. What the adapters' admit layer and middleware call.
    ///
    /// # Errors
    ///
    /// As [`Authenticator::admit`].
    pub async fn admit_async<H: RequestHeaders + Sync>(
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
                l.check(verified.claims(), token, self.inner.verifier.now())
                    .await
            }
        }
    }

    /// Whether a mode before `user` (or any mode, when `user` is not listed) admits the
    /// request, or it is refused before any mode is tried: then the user credential is not
    /// looked at, and need not be verified.
    fn decided_before_user(presented: &Presented<'_>, modes: &AuthModes) -> bool {
        if presented.secret.is_some() && presented.browser {
            return true;
        }
        for m in modes.modes() {
            let admits = match m {
                AuthMode::User => return false,
                AuthMode::None => true,
                AuthMode::Publishable(sel) => presented
                    .publishable
                    .as_deref()
                    .is_some_and(|n| sel.admits(n)),
                AuthMode::Secret(sel) => presented.secret.as_deref().is_some_and(|n| sel.admits(n)),
            };
            if admits {
                return true;
            }
        }
        // Nothing admits it: a good API key decides the refusal (403) before the user token.
        presented.publishable.is_some() || presented.secret.is_some() || presented.apikey
    }

    /// The request's credentials, unverified: the user's token (unless it is an API key sent
    /// as the bearer), the `apikey` value and whether browser fetch metadata is present.
    fn presented<'h, H: RequestHeaders>(&self, headers: &'h H) -> Result<Presented<'h>, AuthError> {
        let mut fields = headers.values(&APIKEY);
        let apikey = match (fields.next(), fields.next()) {
            (None, _) => None,
            (Some(_), Some(_)) => {
                return Err(AuthError::InvalidRequest {
                    reason: "several apikey fields",
                });
            }
            (Some(v), None) => Some(v).filter(|v| !v.is_empty()),
        };
        let key_digest = apikey.map(digest);
        let user = self.credential(headers)?;

        let publishable = key_digest.and_then(|d| {
            self.inner
                .api_keys
                .identify_digest(ApiKeyKind::Publishable, &d)
                .map(str::to_owned)
        });
        let secret = key_digest.and_then(|d| {
            self.inner
                .api_keys
                .identify_digest(ApiKeyKind::Secret, &d)
                .map(str::to_owned)
        });
        // Fetch metadata matters only with a secret key: looked up only then.
        let browser = secret.is_some()
            && [&SEC_FETCH_SITE, &SEC_FETCH_MODE, &ORIGIN]
                .iter()
                .any(|n| headers.values(n).next().is_some());
        Ok(Presented {
            user,
            apikey: apikey.is_some(),
            publishable,
            secret,
            browser,
        })
    }

    /// `Bearer <value>` that is no user token: the request's own `apikey`, a configured
    /// publishable key, or the legacy anon key.
    fn is_api_key_bearer(&self, token: &[u8], apikey: Option<&[u8]>) -> bool {
        // The request's own `apikey` counts only when it is an `sb_` key: a JWT sent in both
        // fields (an expired token, a `service_role` key) is still verified as a token, so
        // copying a bad token into `apikey` cannot turn it into "no user".
        if token.starts_with(b"sb_") && apikey.is_some_and(|k| k == token) {
            return true;
        }
        // Hash only what could be a key: a publishable key has its prefix, and the anon key
        // (public too) its length; a user's token is neither, so it costs two comparisons.
        if token.starts_with(ApiKeyKind::Publishable.prefix().as_bytes()) {
            return self
                .inner
                .api_keys
                .identify_digest(ApiKeyKind::Publishable, &digest(token))
                .is_some();
        }
        self.inner
            .anon_key
            .as_ref()
            .is_some_and(|(a, len)| *len == token.len() && ct_eq(a, &digest(token)))
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

    /// The refusal for `err`: status, `WWW-Authenticate` (with this realm), `Retry-After` on
    /// 503, and the configured body. Emits a `tracing` event (target `supagate`) with the
    /// reason code and status, never the token.
    #[must_use]
    pub fn refusal(&self, err: &AuthError) -> Refusal {
        log_refusal(err);
        let body = match &self.inner.body {
            Some(f) => f(err),
            None => RefusalBody::default_for(err),
        };
        Refusal::new(
            err,
            &self.inner.realm,
            self.inner.retry_after_secs,
            body,
            self.inner.resource_metadata.as_deref(),
        )
    }

    /// [`Authenticator::refusal`] together with the error, for a framework rejection type.
    #[must_use]
    pub fn reject(&self, err: AuthError) -> Rejection {
        let refusal = self.refusal(&err);
        Rejection::new(err, refusal)
    }

    /// The request's credential from the configured source, unverified.
    fn credential<'h, H: RequestHeaders>(
        &self,
        headers: &'h H,
    ) -> Result<Option<Credential<'h>>, AuthError> {
        // `Bearer <an API key>` is what a signed-out supabase-js sends: no user.
        let user_bearer = |headers: &'h H| -> Result<Option<&'h str>, AuthError> {
            Ok(bearer_token(headers.authorization())?.filter(|token| {
                let mut keys = headers.values(&APIKEY);
                let apikey = match (keys.next(), keys.next()) {
                    (Some(k), None) => Some(k),
                    _ => None,
                };
                !self.is_api_key_bearer(token.as_bytes(), apikey)
            }))
        };
        match &self.inner.source {
            TokenSource::AuthorizationHeader => Ok(user_bearer(headers)?.map(Credential::Header)),
            TokenSource::SessionCookie(reader) => {
                Ok(read_session(reader, headers)?.map(Credential::Cookie))
            }
            TokenSource::AuthorizationHeaderOrSessionCookie(reader) => {
                let bearer = user_bearer(headers)?;
                let session = read_session(reader, headers)?;
                match (bearer, session) {
                    (Some(_), Some(_)) => Err(AuthError::InvalidRequest {
                        reason: "token in both header and cookie",
                    }),
                    (Some(token), None) => Ok(Some(Credential::Header(token))),
                    (None, Some(session)) => Ok(Some(Credential::Cookie(session))),
                    (None, None) => Ok(None),
                }
            }
        }
    }
}

/// What a request presented, before any verification.
struct Presented<'h> {
    /// The user's token, unless the bearer is an API key.
    user: Option<Credential<'h>>,
    /// Whether an `apikey` was sent at all.
    apikey: bool,
    /// The name of the publishable key it is, if it is one.
    publishable: Option<String>,
    /// The name of the secret key it is, if it is one.
    secret: Option<String>,
    /// Whether browser fetch metadata came with it.
    browser: bool,
}

fn read_session(
    reader: &SessionReader,
    headers: &impl RequestHeaders,
) -> Result<Option<supagate_cookie::Session>, AuthError> {
    let fields: Vec<&[u8]> = headers.cookie().collect();
    if fields.is_empty() {
        return Ok(None);
    }
    Ok(reader.read_fields(&fields)?)
}

pub(crate) fn log_refusal(err: &AuthError) {
    static UNSUPPORTED_ALG_WARNED: AtomicBool = AtomicBool::new(false);
    let status = err.status().as_u16();
    let reason = err.reason();
    match err {
        AuthError::MissingCredentials => {
            tracing::trace!(target: "supagate", status, reason, "request refused");
        }
        AuthError::Internal { what } => {
            tracing::error!(target: "supagate", status, reason, what, "request refused");
        }
        AuthError::Token(supagate_jwt::Error::KeysUnavailable)
        | AuthError::AuthServerUnavailable => {
            tracing::warn!(target: "supagate", status, reason, "request refused");
        }
        AuthError::Token(supagate_jwt::Error::UnsupportedAlg)
            if !UNSUPPORTED_ALG_WARNED.swap(true, Ordering::Relaxed) =>
        {
            tracing::warn!(
                target: "supagate",
                status,
                reason,
                "a token used a JOSE algorithm supagate does not implement (such as ES512); \
                 it was refused (logged once)"
            );
        }
        _ => tracing::debug!(target: "supagate", status, reason, "request refused"),
    }
}

/// Builds an [`Authenticator`]. Every setter documents its default.
#[must_use]
pub struct AuthenticatorBuilder {
    verifier: Verifier,
    source: TokenSource,
    realm: String,
    retry_after_secs: u32,
    body: Option<Box<BodyFn>>,
    base: Policy,
    resource_metadata: Option<String>,
    api_keys: ApiKeys,
    anon_key: Option<([u8; 32], usize)>,
    modes: AuthModes,
    liveness: Option<SessionLiveness>,
}

impl fmt::Debug for AuthenticatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticatorBuilder")
            .field("source", &self.source)
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

impl AuthenticatorBuilder {
    /// Where the token comes from. Default: [`TokenSource::AuthorizationHeader`].
    pub fn token_source(mut self, source: TokenSource) -> Self {
        self.source = source;
        self
    }

    /// Shorthand for `token_source(TokenSource::SessionCookie(reader))`.
    pub fn session_cookie(self, reader: SessionReader) -> Self {
        self.token_source(TokenSource::SessionCookie(reader))
    }

    /// The `realm` of the `WWW-Authenticate` challenge. Default: [`Authenticator::DEFAULT_REALM`]. Visible
    /// ASCII without `"` or `\`, checked by [`AuthenticatorBuilder::build`].
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// The `Retry-After` seconds on 503 (signing keys unavailable). Default:
    /// [`Authenticator::DEFAULT_RETRY_AFTER_SECS`].
    pub fn retry_after_secs(mut self, secs: u32) -> Self {
        self.retry_after_secs = secs;
        self
    }

    /// Replaces the body of every refusal. The status, `WWW-Authenticate` and `Retry-After`
    /// still come from the error. Default: [`RefusalBody::default_for`].
    ///
    /// ```
    /// use supagate_core::RequestError as _;
    /// # use supagate_auth::{Authenticator, RefusalBody};
    /// # use supagate_jwt::{Hs256Secret, Verifier};
    /// # let verifier = Verifier::builder()
    /// #     .hs256_secret(Hs256Secret::new("an-example-secret-of-at-least-32-bytes")?)
    /// #     .build()?;
    /// let auth = Authenticator::builder(verifier)
    ///     .error_body(|err| RefusalBody::json(&serde_json::json!({
    ///         "code": err.status().as_u16(),
    ///         "message": err.description(),
    ///     })))
    ///     .build()?;
    /// # let _ = auth;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn error_body<F>(mut self, f: F) -> Self
    where
        F: Fn(&AuthError) -> RefusalBody + Send + Sync + 'static,
    {
        self.body = Some(Box::new(f));
        self
    }
    /// Also admits tokens whose Postgres role (the top-level `role` claim) is one of `roles`,
    /// in every extraction. Default: only `authenticated`; `service_role` (the secret API key
    /// and server-side tokens) and `anon` (the public API key) are refused with 403, because
    /// neither is a signed-in user.
    ///
    /// This only widens the base policy of the extractors; a [`Policy`] given to
    /// [`Authenticator::authorize`] (the policy layer or middleware) decides for its routes.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::Authenticator;
    /// use supagate_testkit::{TestKeys, TokenBuilder};
    ///
    /// let keys = TestKeys::new();
    /// let auth = Authenticator::builder(keys.verifier_at(TokenBuilder::DEFAULT_NOW))
    ///     .allow_postgres_roles(["service_role"])
    ///     .build()?;
    /// let mut headers = http::HeaderMap::new();
    /// let service = TokenBuilder::new().claim("role", "service_role").sign_es256(&keys);
    /// headers.insert("authorization", format!("Bearer {service}").parse()?);
    /// assert!(auth.authenticate(&headers).is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn allow_postgres_roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.base = self.base.allow_postgres_roles(roles);
        self
    }

    /// Also admits access tokens that Supabase Auth issued to these third-party OAuth clients
    /// (a `client_id` claim), in every extraction. Default: none; such tokens are 403, because
    /// a third-party app acting for a user should not reach routes written for the user's own
    /// sessions unless you say so.
    pub fn allow_oauth_clients<I, S>(mut self, client_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.base = self.base.allow_oauth_clients(client_ids);
        self
    }

    /// Admits access tokens of any third-party OAuth client in every extraction. Default: none.
    pub fn allow_any_oauth_client(mut self) -> Self {
        self.base = self.base.allow_any_oauth_client();
        self
    }

    /// Names `resource`'s RFC 9728 metadata in every 401 challenge
    /// (`resource_metadata="https://…/.well-known/oauth-protected-resource…"`), so that an
    /// OAuth client (an MCP client) that gets a 401 finds the authorization server. Serve
    /// [`ProtectedResource::response`](crate::ProtectedResource::response) at its
    /// [`metadata_path`](crate::ProtectedResource::metadata_path). Default: not named.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::{AuthError, Authenticator, ProtectedResource};
    /// use supagate_jwt::Origin;
    /// use supagate_testkit::{TestKeys, TokenBuilder};
    ///
    /// let api = ProtectedResource::new(Origin::parse("https://api.example.com")?, "/", TestKeys::SUPABASE_URL)?;
    /// let auth = Authenticator::builder(TestKeys::new().verifier_at(TokenBuilder::DEFAULT_NOW))
    ///     .protected_resource(&api)
    ///     .build()?;
    /// let refusal = auth.refusal(&AuthError::MissingCredentials);
    /// assert_eq!(
    ///     refusal.www_authenticate().unwrap(),
    ///     r#"Bearer realm="supagate", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource""#
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn protected_resource(mut self, resource: &crate::ProtectedResource) -> Self {
        self.resource_metadata = Some(resource.metadata_url());
        self
    }

    /// The project's API keys, for the `publishable` and `secret` [auth modes](AuthModes), and
    /// so that a signed-out supabase-js, which sends its publishable key as the bearer token,
    /// is "no user" rather than a bad token. Default: none (those modes match nothing).
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::{ApiKeys, Authenticator, Caller};
    /// use supagate_testkit::{TestKeys, TokenBuilder};
    ///
    /// let keys = ApiKeys::from_lookup(TestKeys::api_key_env)?;
    /// let auth = Authenticator::builder(TestKeys::new().verifier_at(TokenBuilder::DEFAULT_NOW))
    ///     .api_keys(keys)
    ///     .build()?;
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("apikey", TestKeys::PUBLISHABLE_KEY.parse()?);
    /// headers.insert("authorization", format!("Bearer {}", TestKeys::PUBLISHABLE_KEY).parse()?);
    /// let caller = auth.admit(&headers, &"user, publishable".parse()?)?;
    /// assert_eq!(caller.key(), Some("default"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn api_keys(mut self, keys: ApiKeys) -> Self {
        self.api_keys = keys;
        self
    }

    /// The project's legacy anon key (the `anon` JWT, `SUPABASE_ANON_KEY`): sent as the bearer
    /// token it means "no user", as a signed-out supabase-js on a legacy key sends it. Only
    /// its SHA-256 is kept. Default: none (the anon JWT as a bearer is then verified, and its
    /// Postgres role `anon` refused with 403 where users are asked for).
    pub fn legacy_anon_key(mut self, key: impl AsRef<[u8]>) -> Self {
        let key = key.as_ref();
        self.anon_key = Some((digest(key), key.len()));
        self
    }

    /// The auth modes of the extractors where no route names its own (the adapters' admit
    /// layer and middleware do). Default: [`AuthModes::user`].
    pub fn modes(mut self, modes: AuthModes) -> Self {
        self.modes = modes;
        self
    }

    /// Refuses verified users whose session is over (signed out, revoked, past `not_after`,
    /// banned or deleted user), asking `liveness`'s source: applied by every extractor, layer
    /// and middleware after the policy. Off by default: a verified token is then accepted
    /// until its `exp`.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::{Authenticator, BoxFuture, SessionKey, SessionLiveness, SessionSource, SessionState, SourceUnavailable};
    /// use supagate_testkit::TestKeys;
    ///
    /// # #[derive(Debug)] struct AlwaysLive;
    /// # impl SessionSource for AlwaysLive {
    /// #     fn session_state<'a>(&'a self, _: SessionKey<'a>) -> BoxFuture<'a, Result<SessionState, SourceUnavailable>> {
    /// #         Box::pin(async { Ok(SessionState::Live { not_after: None }) })
    /// #     }
    /// # }
    /// let auth = Authenticator::builder(TestKeys::new().verifier())
    ///     .session_liveness(SessionLiveness::builder(AlwaysLive).build()?)
    ///     .build()?;
    /// assert!(auth.session_liveness().is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn session_liveness(mut self, liveness: SessionLiveness) -> Self {
        self.liveness = Some(liveness);
        self
    }

    /// Builds the authenticator.
    ///
    /// # Errors
    ///
    /// [`AuthConfigError`](crate::AuthConfigError) for an empty realm or one with characters
    /// that cannot appear in a quoted string.
    pub fn build(self) -> Result<Authenticator, crate::AuthConfigError> {
        let realm_ok = !self.realm.is_empty()
            && self
                .realm
                .bytes()
                .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
        if !realm_ok {
            return Err(crate::AuthConfigError {
                what: "realm must be non-empty visible ascii without quotes or backslashes",
            });
        }
        Ok(Authenticator {
            inner: Arc::new(Inner {
                verifier: self.verifier,
                source: self.source,
                realm: self.realm,
                retry_after_secs: self.retry_after_secs,
                body: self.body,
                base: self.base,
                resource_metadata: self.resource_metadata,
                api_keys: self.api_keys,
                anon_key: self.anon_key,
                modes: self.modes,
                liveness: self.liveness,
            }),
        })
    }
}
