//! The verifier: built once at start-up, shared by every request.
//!
//! Split by role: [`Verifier`] and its verification stages here, the token it returns in
//! `verified.rs`, its builder and start-up checks in `builder.rs`, and key selection (which
//! key a token may be verified with) in `select.rs`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;

use crate::algorithm::{Algorithm, is_known_unsupported};
use crate::cache::{Entry, TokenCache, TokenCacheConfig};
use crate::claims::{self, Claims, IssuedBy, Registered};
use crate::crypto::CryptoBackend;
use crate::error::{ConfigError, Error};
use crate::header;
use crate::keys::{
    Hs256Secret, JwkSet, KeySource, PreparedHmac, PreparedKeys, RejectedKey, prepare_hmac,
};
use crate::third_party::ThirdPartyIssuer;
use supagate_core::{Clock, SystemClock};
use supagate_core::{IntoProject, SupabaseProject};

mod builder;
mod select;
mod verified;

pub use builder::VerifierBuilder;
pub(crate) use builder::check_third_party;
use select::{Selected, algorithm, issued_by, select_hmac, select_public, select_third_party};
pub use verified::Verified;

/// Default leeway for `exp`, `nbf` and `iat`.
pub(crate) const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// Largest leeway the builder accepts.
pub(crate) const MAX_LEEWAY: Duration = Duration::from_secs(300);
/// Default maximum token lifetime (`exp - iat` and `exp - now`).
pub(crate) const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// Largest maximum token lifetime the builder accepts.
pub(crate) const MAX_MAX_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
/// Default maximum token length in bytes, checked before any decoding: 48 KiB, so that every
/// session the `supagate-cookie` reader accepts (at most 64 KiB of `Cookie` header, so at
/// most 48 KiB of session JSON) verifies.
/// Supabase issues access tokens over 8 KiB when `user_metadata` is large (OAuth providers fill
/// it).
pub(crate) const DEFAULT_MAX_TOKEN_LEN: usize = 48 * 1024;
/// Smallest and largest maximum token length the builder accepts.
pub(crate) const TOKEN_LEN_RANGE: (usize, usize) = (1024, 64 * 1024);
/// The audience Supabase Auth writes into user access tokens.
pub(crate) const DEFAULT_AUDIENCE: &str = "authenticated";

enum Keys {
    Static(Arc<PreparedKeys>),
    Source(Arc<dyn KeySource>),
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Keys::Static(set) => f
                .debug_list()
                .entries(set.keys().map(|(kid, alg)| format!("{kid} ({alg})")))
                .finish(),
            Keys::Source(src) => write!(f, "{src:?}"),
        }
    }
}

impl Keys {
    fn current(&self) -> Result<Arc<PreparedKeys>, Error> {
        match self {
            Keys::Static(set) => Ok(Arc::clone(set)),
            Keys::Source(src) => src.current(),
        }
    }
}

/// Verifies Supabase access tokens.
///
/// Build it once at start-up with [`Verifier::builder`] (or [`Verifier::from_supabase_url`]),
/// then share it: it is `Clone` (an `Arc` inside), `Send` and `Sync`.
///
/// A token is accepted only when all of this holds:
///
/// - it is at most [`Verifier::DEFAULT_MAX_TOKEN_LEN`] bytes (checked before any decoding), a compact JWS
///   of three strict base64url segments;
/// - its header has only `alg`, `kid` and `typ` (absent or `JWT`), each once;
/// - a configured key matches: HS256 tokens only the HMAC secret(s), asymmetric tokens only
///   the JWK with the same `kid`, whose pinned algorithm must equal `alg` (the algorithm never
///   comes from the token);
/// - the signature verifies over the raw segments;
/// - the claims are a JSON object with no duplicate names, every claim of the right JSON type;
/// - `exp` is after now minus the leeway (rejected at equality), `iat` is present and not
///   after now plus the leeway, `nbf` (when present) not after now plus the leeway, and the
///   lifetime within the maximum;
/// - `aud` contains an accepted audience (`authenticated` by default), `iss` equals the
///   configured issuer (when one is configured), `sub` is a UUID.
///
/// An asymmetric token whose `iss` names a [`ThirdPartyIssuer`] added with
/// [`VerifierBuilder::third_party_issuer`] is checked against that issuer's keys, audiences and
/// required `role` instead, never against the project's keys; an HMAC token naming one is
/// refused.
///
/// The anon and service_role API keys (no `aud`, no `sub`) and Supabase OIDC ID tokens
/// (`aud` = an OAuth client id) fail these checks.
///
/// # Examples
///
/// ```
/// use supagate_jwt::RequestError as _;
/// use supagate_jwt::{FixedClock, Hs256Secret, Verifier};
/// use supagate_testkit::{TestKeys, TokenBuilder};
///
/// let verifier = Verifier::from_supabase_url(TestKeys::SUPABASE_URL)
///     .hs256_secret(Hs256Secret::new(TestKeys::HS256_SECRET)?)
///     .clock(FixedClock::new(TokenBuilder::DEFAULT_NOW))
///     .build()?;
///
/// let token = TokenBuilder::new().sign_hs256(&TestKeys::new());
/// let claims = verifier.verify(&token)?;
/// assert_eq!(claims.sub.to_string(), TokenBuilder::DEFAULT_SUB);
///
/// let err = verifier.verify("not-a-token").unwrap_err();
/// assert_eq!(err.status(), http::StatusCode::UNAUTHORIZED);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    project: Option<SupabaseProject>,
    cache: Option<TokenCache>,
    hmac: Vec<PreparedHmac>,
    keys: Keys,
    issuer: Option<String>,
    audiences: Vec<String>,
    single_audience: bool,
    leeway: i64,
    max_lifetime: i64,
    max_token_len: usize,
    clock: Arc<dyn Clock>,
    backend: CryptoBackend,
    rejected: Vec<RejectedKey>,
    third_party: Vec<ThirdParty>,
}

/// A [`ThirdPartyIssuer`] checked and prepared.
struct ThirdParty {
    issuer: String,
    audiences: Vec<String>,
    keys: Keys,
    role: String,
}

impl fmt::Debug for ThirdParty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThirdParty")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("role", &self.role)
            .field("keys", &self.keys)
            .finish()
    }
}

/// What the signature stage found: the decoded payload, the asymmetric key that verified it
/// (when asked for), and the third-party issuer whose keys were used (`None`: the project's).
struct Signed {
    payload: Vec<u8>,
    key: Option<KeyId>,
    from: Option<usize>,
    /// The algorithm of the key that verified it (the header's, which had to equal it).
    alg: Algorithm,
}

/// The only claim read before the signature check, and only for asymmetric tokens when
/// third-party issuers are configured: it picks whose keys to verify with.
#[derive(serde::Deserialize)]
struct PeekIssuer<'a> {
    #[serde(borrow, default)]
    iss: Option<std::borrow::Cow<'a, str>>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Verifier")
            .field("backend", &i.backend)
            .field(
                "hmac_keys",
                &i.hmac
                    .iter()
                    .map(|k| (k.kid.as_deref(), k.alg))
                    .collect::<Vec<_>>(),
            )
            .field("keys", &i.keys)
            .field("issuer", &i.issuer)
            .field("audiences", &i.audiences)
            .field("leeway_secs", &i.leeway)
            .field("max_lifetime_secs", &i.max_lifetime)
            .field("max_token_len", &i.max_token_len)
            .field("third_party", &i.third_party)
            .finish_non_exhaustive()
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// `kid` and fingerprint of the asymmetric key that verified a token.
pub(crate) type KeyId = (Box<str>, u64);

impl Verifier {
    /// Default clock-skew leeway for `exp`, `nbf` and `iat`: 30 s.
    pub const DEFAULT_LEEWAY: Duration = DEFAULT_LEEWAY;
    /// Largest leeway the builder accepts: 5 minutes.
    pub const MAX_LEEWAY: Duration = MAX_LEEWAY;
    /// Default maximum token lifetime (`exp - iat`): 7 days.
    pub const DEFAULT_MAX_LIFETIME: Duration = DEFAULT_MAX_LIFETIME;
    /// Largest maximum lifetime the builder accepts: 30 days.
    pub const MAX_MAX_LIFETIME: Duration = MAX_MAX_LIFETIME;
    /// Default maximum token length in bytes (48 KiB), checked before any decoding.
    pub const DEFAULT_MAX_TOKEN_LEN: usize = DEFAULT_MAX_TOKEN_LEN;
    /// Smallest and largest maximum token length the builder accepts.
    pub const TOKEN_LEN_RANGE: (usize, usize) = TOKEN_LEN_RANGE;
    /// The audience Supabase Auth writes into user access tokens: `authenticated`.
    pub const DEFAULT_AUDIENCE: &'static str = DEFAULT_AUDIENCE;

    /// A builder with the defaults: audience `authenticated`, leeway 30 s, maximum lifetime
    /// 7 days, maximum token length 48 KiB, system clock, preferred backend, no issuer check
    /// until [`VerifierBuilder::issuer`] or [`VerifierBuilder::supabase_url`] is set.
    pub fn builder() -> VerifierBuilder {
        VerifierBuilder::default()
    }

    /// A builder for a Supabase project: issuer `<url>/auth/v1`, audience `authenticated`.
    /// Add the keys (an HS256 secret, a JWK set, or both) and call `build()`.
    pub fn from_supabase_url(project: impl IntoProject) -> VerifierBuilder {
        VerifierBuilder::default().supabase_url(project)
    }

    /// The project given to [`VerifierBuilder::supabase_url`], if any.
    #[must_use]
    pub fn project(&self) -> Option<&SupabaseProject> {
        self.inner.project.as_ref()
    }

    /// The current time of this verifier's [`Clock`], in Unix seconds: the time every other
    /// check of the crate family uses (the policy's `RecentSignIn`, the proxy's refresh
    /// margin), so that one pinned clock pins them all.
    #[must_use]
    pub fn now(&self) -> i64 {
        self.inner.clock.now()
    }

    /// The clock-skew leeway this verifier allows on `exp`, `nbf` and `iat`: a token is
    /// refused from `exp + leeway` on. What a watch on a long-lived connection waits for.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use supagate_jwt::Verifier;
    ///
    /// let verifier = Verifier::builder().hs256_secret(supagate_jwt::Hs256Secret::new("a-test-secret-at-least-32-bytes-long!")?)
    ///     .leeway(Duration::from_secs(5))
    ///     .build()?;
    /// assert_eq!(verifier.leeway(), Duration::from_secs(5));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn leeway(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::try_from(self.inner.leeway).unwrap_or(0))
    }

    /// A handle on this verifier's clock, for components that keep their own copy.
    #[must_use]
    pub fn clock(&self) -> Arc<dyn Clock> {
        Arc::clone(&self.inner.clock)
    }

    /// The crypto backend in use.
    #[must_use]
    pub fn backend(&self) -> CryptoBackend {
        self.inner.backend
    }

    /// The issuer `iss` must equal, when one is configured.
    #[must_use]
    pub fn issuer(&self) -> Option<&str> {
        self.inner.issuer.as_deref()
    }

    /// The third-party issuers whose tokens are accepted, in the order they were added.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_jwt::ThirdPartyIssuer;
    /// use supagate_testkit::{MockOidc, TestKeys};
    ///
    /// let verifier = TestKeys::new()
    ///     .verifier_builder()
    ///     .third_party_issuer(
    ///         ThirdPartyIssuer::new("https://clerk.example.com")
    ///             .audience("my-app")
    ///             .jwk_set(MockOidc::jwk_set()),
    ///     )
    ///     .build()?;
    /// assert_eq!(verifier.third_party_issuers().collect::<Vec<_>>(), ["https://clerk.example.com"]);
    /// # Ok::<(), supagate_jwt::ConfigError>(())
    /// ```
    pub fn third_party_issuers(&self) -> impl Iterator<Item = &str> {
        self.inner.third_party.iter().map(|t| t.issuer.as_str())
    }

    /// Whether `token` would be checked against a third-party issuer's keys: an asymmetric
    /// token whose (unverified) `iss` names one. Says nothing about whether it verifies: for
    /// decisions that must not depend on a token being the project's own before it is
    /// verified (the frontend proxy refreshes only sessions of the project, and a third-party
    /// token with a `kid` nobody knows is none).
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_jwt::ThirdPartyIssuer;
    /// use supagate_testkit::{MockOidc, TestKeys, TokenBuilder};
    ///
    /// let verifier = TestKeys::new()
    ///     .verifier_builder()
    ///     .third_party_issuer(
    ///         ThirdPartyIssuer::new("https://clerk.example.com")
    ///             .audience("my-app")
    ///             .jwk_set(MockOidc::jwk_set()),
    ///     )
    ///     .build()?;
    /// let theirs = TokenBuilder::third_party("https://clerk.example.com").sign_provider();
    /// assert!(verifier.names_third_party_issuer(&theirs));
    /// assert!(!verifier.names_third_party_issuer(&TokenBuilder::new().sign_es256(&TestKeys::new())));
    /// # Ok::<(), supagate_jwt::ConfigError>(())
    /// ```
    #[must_use]
    pub fn names_third_party_issuer(&self, token: &str) -> bool {
        token.len() <= self.inner.max_token_len && self.third_party_route(token).is_some()
    }

    /// Keys that were left out of the static key sets, with the reason. Log these at start-up.
    #[must_use]
    pub fn rejected_keys(&self) -> &[RejectedKey] {
        &self.inner.rejected
    }

    /// Verifies `token` and returns its Supabase claims.
    ///
    /// # Errors
    ///
    /// An [`Error`] saying why the token was refused; [`Error::status`](supagate_core::RequestError::status) gives the HTTP status.
    pub fn verify(&self, token: &str) -> Result<Claims, Error> {
        if let Some(cache) = &self.inner.cache {
            if let Some(entry) = self.cached(token) {
                return Ok(Claims::clone(&entry.claims));
            }
            return self
                .verify_and_cache(token, cache)
                .map(Verified::into_claims);
        }
        let signed = self.verify_signature_kid(token, false)?;
        self.claims_of(&signed, false)
    }

    /// Verifies `token` like [`Verifier::verify`], then deserializes the payload into your own
    /// type. The registered claims are checked first, with the same rules; your type only
    /// decides what else to read.
    ///
    /// # Errors
    ///
    /// As [`Verifier::verify`], and [`Error::MalformedClaims`] when the payload does not
    /// deserialize into `T`.
    pub fn verify_as<T: DeserializeOwned>(&self, token: &str) -> Result<T, Error> {
        if self.inner.cache.is_some() {
            return self.verify_payload(token)?.deserialize();
        }
        let signed = self.verify_signature_kid(token, false)?;
        claims::check_registered(
            &signed.payload,
            |registered| self.validate_with(registered, false, signed.from),
            issued_by(signed.from),
        )?;
        serde_json::from_slice(&signed.payload).map_err(|_| Error::MalformedClaims)
    }

    /// Verifies `token` like [`Verifier::verify`] and keeps the verified payload, so one
    /// verification can serve both the Supabase [`Claims`] (for a role policy) and your own
    /// claim type ([`Verified::deserialize`]). The framework adapters use it when a policy layer
    /// runs before a handler that asks for its own type.
    ///
    /// # Errors
    ///
    /// As [`Verifier::verify`].
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_jwt::{FixedClock, Hs256Secret, Verifier};
    /// use supagate_testkit::{TestKeys, TokenBuilder};
    ///
    /// let verifier = Verifier::from_supabase_url(TestKeys::SUPABASE_URL)
    ///     .hs256_secret(Hs256Secret::new(TestKeys::HS256_SECRET)?)
    ///     .clock(FixedClock::new(TokenBuilder::DEFAULT_NOW))
    ///     .build()?;
    /// let token = TokenBuilder::new().sign_hs256(&TestKeys::new());
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Mine {
    ///     sub: String,
    /// }
    ///
    /// let verified = verifier.verify_payload(&token)?;
    /// let mine: Mine = verified.deserialize()?;
    /// assert_eq!(mine.sub, verified.claims().sub.to_string());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify_payload(&self, token: &str) -> Result<Verified, Error> {
        if let Some(cache) = &self.inner.cache {
            if let Some(entry) = self.cached(token) {
                return Ok(Verified {
                    // Shared with the cache entry: a hit copies no claim.
                    claims: Arc::clone(&entry.claims),
                    payload: Arc::clone(&entry.payload),
                    alg: entry.alg,
                });
            }
            return self.verify_and_cache(token, cache);
        }
        let signed = self.verify_signature_kid(token, false)?;
        let claims = self.claims_of(&signed, false)?;
        Ok(Verified {
            claims: Arc::new(claims),
            payload: signed.payload.into(),
            alg: signed.alg,
        })
    }

    /// As [`Verifier::verify`], but when the answer depends on a key fetch that is under way
    /// (the first fetch of a `RemoteJwks`, feature `remote_jwks`; a `kid` the cached set does not
    /// have yet, the refetch after `invalidate`), waits for that fetch asynchronously and
    /// verifies once more. It never blocks a thread, and never waits when the keys are at hand
    /// or the key source is static: then it is [`Verifier::verify`]. This is what the framework
    /// adapters and the proxy call.
    ///
    /// # Errors
    ///
    /// As [`Verifier::verify`].
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_jwt::{FixedClock, Hs256Secret, Verifier};
    /// use supagate_testkit::{TestKeys, TokenBuilder};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let verifier = Verifier::from_supabase_url(TestKeys::SUPABASE_URL)
    ///     .hs256_secret(Hs256Secret::new(TestKeys::HS256_SECRET)?)
    ///     .clock(FixedClock::new(TokenBuilder::DEFAULT_NOW))
    ///     .build()?;
    /// let token = TokenBuilder::new().sign_hs256(&TestKeys::new());
    /// let claims = verifier.verify_async(&token).await?;
    /// assert_eq!(claims.sub.to_string(), TokenBuilder::DEFAULT_SUB);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn verify_async(&self, token: &str) -> Result<Claims, Error> {
        self.settle(token, || self.verify(token)).await
    }

    /// [`Verifier::verify_payload`] with the waiting of [`Verifier::verify_async`].
    ///
    /// # Errors
    ///
    /// As [`Verifier::verify`].
    pub async fn verify_payload_async(&self, token: &str) -> Result<Verified, Error> {
        self.settle(token, || self.verify_payload(token)).await
    }

    /// Runs `attempt` on `token`; when it failed for want of keys that a fetch in flight may
    /// bring (of the key source this token's issuer uses), waits for the fetch and runs it
    /// once more.
    pub(crate) async fn settle<R>(
        &self,
        token: &str,
        attempt: impl Fn() -> Result<R, Error>,
    ) -> Result<R, Error> {
        let inner = &*self.inner;
        if inner.third_party.is_empty() && matches!(inner.keys, Keys::Static(_)) {
            return attempt();
        }
        // Generations first (the fetch may finish while `attempt` runs), then, only on a
        // failure that a fetch may cure, find whose source this token used (the project's
        // whenever no third-party issuer is configured; no allocation then).
        let generation = |keys: &Keys| match keys {
            Keys::Source(src) => src.generation(),
            Keys::Static(_) => 0,
        };
        let project_before = generation(&inner.keys);
        let before: Vec<u64> = inner
            .third_party
            .iter()
            .map(|t| generation(&t.keys))
            .collect();
        match attempt() {
            Err(e @ (Error::KeysUnavailable | Error::UnknownKey)) => {
                let (keys, before) = match self.third_party_route(token) {
                    Some(i) => match (inner.third_party.get(i), before.get(i)) {
                        (Some(t), Some(b)) => (&t.keys, *b),
                        _ => return Err(e),
                    },
                    None => (&inner.keys, project_before),
                };
                let Keys::Source(src) = keys else {
                    return Err(e);
                };
                // Boxed: the wait is rare, and its state would otherwise make the future of
                // every verification (moved on each request) as large as its own.
                if Box::pin(src.wait_past(before)).await {
                    attempt()
                } else {
                    Err(e)
                }
            }
            r => r,
        }
    }

    /// Full verification except that `exp` may be in the past (see
    /// [`dangerous::verify_allowing_expiry`](crate::dangerous::verify_allowing_expiry)).
    pub(crate) fn verify_allowing_expiry(&self, token: &str) -> Result<Claims, Error> {
        let signed = self.verify_signature_kid(token, false)?;
        self.claims_of(&signed, true)
    }

    /// Parses and validates the claims of a token whose signature verified.
    fn claims_of(&self, signed: &Signed, allow_expired: bool) -> Result<Claims, Error> {
        claims::parse_claims(
            &signed.payload,
            |registered| self.validate_with(registered, allow_expired, signed.from),
            issued_by(signed.from),
        )
    }

    /// Checks size, structure, header, key and signature; returns the decoded payload.
    pub(crate) fn verify_signature(&self, token: &str) -> Result<Vec<u8>, Error> {
        self.verify_signature_kid(token, false).map(|s| s.payload)
    }

    /// Whose keys `token` is checked against, by the rule of the signature stage ([`route`]).
    ///
    /// [`route`]: Verifier::route
    fn third_party_route(&self, token: &str) -> Option<usize> {
        if self.inner.third_party.is_empty() {
            return None;
        }
        let mut segments = token.split('.');
        let header = URL_SAFE_NO_PAD.decode(segments.next()?).ok()?;
        let header = header::parse(&header).ok()?;
        self.route(&header, segments.next()?).ok()?.0
    }

    /// Whose keys verify a token with this header and payload segment: a third-party issuer's
    /// (its index) only for an asymmetric token whose `iss` names it, the project's (`None`)
    /// otherwise. Only then, with third-party issuers configured, is the payload decoded
    /// before the signature check, and then read only for `iss`; the decoded payload comes
    /// back to be reused. An HMAC token is never a third party's: it goes to the project's
    /// secret, and is refused after it if its `iss` names a third party. An unknown `alg` is
    /// refused by the project's key selection.
    fn route(
        &self,
        header: &header::Header<'_>,
        payload_b64: &str,
    ) -> Result<(Option<usize>, Option<Vec<u8>>), Error> {
        let third_party = &self.inner.third_party;
        if third_party.is_empty()
            || Algorithm::from_name(&header.alg).is_none_or(Algorithm::is_hmac)
        {
            return Ok((None, None));
        }
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| Error::Malformed)?;
        // A payload whose `iss` cannot be read goes to the project's keys; the full parse
        // refuses it later.
        let from = serde_json::from_slice::<PeekIssuer<'_>>(&payload)
            .ok()
            .and_then(|p| p.iss)
            .and_then(|iss| third_party.iter().position(|t| t.issuer == *iss));
        Ok((from, Some(payload)))
    }

    /// Checks size, structure, header, key and signature; with `want_kid`, also returns the
    /// `kid` and fingerprint of the asymmetric key that verified the token (for the token
    /// cache).
    fn verify_signature_kid(&self, token: &str, want_kid: bool) -> Result<Signed, Error> {
        let inner = &*self.inner;
        if token.len() > inner.max_token_len {
            return Err(Error::TooLong);
        }
        let (signing_input, signature_b64) = token.rsplit_once('.').ok_or(Error::Malformed)?;
        let (header_b64, payload_b64) = signing_input.split_once('.').ok_or(Error::Malformed)?;
        // An empty payload is a valid JWS (RFC 7515); as JWT claims it fails later.
        if header_b64.is_empty() || payload_b64.contains('.') {
            return Err(Error::Malformed);
        }
        let header_bytes = URL_SAFE_NO_PAD
            .decode(header_b64)
            .map_err(|_| Error::Malformed)?;
        let header = header::parse(&header_bytes)?;
        let (from, early) = self.route(&header, payload_b64)?;
        let selected = match from.and_then(|i| inner.third_party.get(i)) {
            Some(tp) => select_third_party(tp, &header)?,
            None => self.select(&header)?,
        };
        if signature_b64.is_empty() {
            return Err(Error::BadSignature);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature_b64)
            .map_err(|_| Error::Malformed)?;
        let ok = match &selected {
            Selected::Hmac(k) => k.key.verify(signing_input.as_bytes(), &signature),
            Selected::Public(set, i) => set
                .key_at(*i)
                .is_some_and(|k| k.key.verify(signing_input.as_bytes(), &signature)),
        };
        if !ok {
            return Err(Error::BadSignature);
        }
        // Selection compared the header's `alg` with the key's pinned algorithm: they are equal.
        let alg = algorithm(&header)?;
        let kid = match &selected {
            Selected::Public(set, i) if want_kid => set
                .key_at(*i)
                .map(|k| (k.kid.as_str().into(), k.fingerprint)),
            _ => None,
        };
        let payload = match early {
            Some(payload) => payload,
            None => URL_SAFE_NO_PAD
                .decode(payload_b64)
                .map_err(|_| Error::Malformed)?,
        };
        Ok(Signed {
            payload,
            key: kid,
            from,
            alg,
        })
    }

    /// A live cache entry for this token whose verifying key is still configured: the same
    /// `kid` with the same key material (a key replaced under its `kid` invalidates it).
    fn cached(&self, token: &str) -> Option<Arc<Entry>> {
        let cache = self.inner.cache.as_ref()?;
        let entry = cache.get(token, self.inner.clock.now())?;
        if let Some((kid, fingerprint)) = &entry.key {
            let keys = match entry.third_party {
                None => &self.inner.keys,
                Some(i) => &self.inner.third_party.get(i)?.keys,
            };
            let present = keys
                .current()
                .is_ok_and(|set| set.find(kid).is_some_and(|k| k.fingerprint == *fingerprint));
            if !present {
                cache.remove(token);
                return None;
            }
        }
        Some(entry)
    }

    /// Full verification that fills the cache (only called when a cache is configured).
    fn verify_and_cache(&self, token: &str, cache: &TokenCache) -> Result<Verified, Error> {
        let signed = self.verify_signature_kid(token, true)?;
        let claims = Arc::new(self.claims_of(&signed, false)?);
        let payload: Arc<[u8]> = signed.payload.into();
        cache.insert(
            token,
            Entry {
                claims: Arc::clone(&claims),
                payload: Arc::clone(&payload),
                key: signed.key,
                third_party: signed.from,
                alg: signed.alg,
                until: claims.exp,
                from: claims
                    .iat
                    .max(claims.nbf.unwrap_or(i64::MIN))
                    .saturating_sub(self.inner.leeway),
            },
            self.inner.clock.now(),
        );
        Ok(Verified {
            claims,
            payload,
            alg: signed.alg,
        })
    }

    fn select(&self, header: &header::Header<'_>) -> Result<Selected<'_>, Error> {
        let inner = &*self.inner;
        let alg = algorithm(header)?;
        let kid = header.kid.as_deref();
        if alg.is_hmac() {
            // A kid that names an asymmetric key, on an HMAC token, is an algorithm-confusion
            // attempt (the attacker MACs with the public key bytes).
            // Only a token that names a `kid` consults the key set, so an HS256-only project
            // never triggers (or waits for) a JWK set fetch.
            if let Some(kid) = kid
                && let Ok(set) = inner.keys.current()
                && set.find(kid).is_some()
            {
                return Err(Error::AlgNotAllowed);
            }
            return select_hmac(&inner.hmac, alg, kid);
        }
        select_public(&inner.keys, alg, kid)
    }

    /// Every claim check; with `allow_expired`, all but `exp` against now. `from` is the
    /// third-party issuer whose keys verified the token (`None`: the project's).
    fn validate_with(
        &self,
        reg: &Registered,
        allow_expired: bool,
        from: Option<usize>,
    ) -> Result<(), Error> {
        let inner = &*self.inner;
        let third_party = match from {
            None => None,
            Some(i) => Some(inner.third_party.get(i).ok_or(Error::IssuerMismatch)?),
        };
        // An HMAC token (the only kind the project's keys verify when its `iss` names a third
        // party) claiming a third-party issuer: refused before any other claim is looked at.
        if third_party.is_none()
            && let Some(iss) = &reg.iss
            && inner.third_party.iter().any(|t| t.issuer == *iss)
        {
            return Err(Error::AlgNotAllowed);
        }
        let now = inner.clock.now();
        let leeway = inner.leeway;
        if !allow_expired && reg.exp <= now.saturating_sub(leeway) {
            return Err(Error::Expired);
        }
        if reg.nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
            return Err(Error::NotYetValid);
        }
        if reg.iat > now.saturating_add(leeway) {
            return Err(Error::IssuedInFuture);
        }
        if reg.exp.saturating_sub(reg.iat) > inner.max_lifetime
            || reg.exp.saturating_sub(now) > inner.max_lifetime
        {
            return Err(Error::LifetimeTooLong);
        }
        let aud = reg
            .aud
            .as_ref()
            .ok_or(Error::MissingClaim { claim: "aud" })?;
        let audiences = third_party.map_or(&inner.audiences, |t| &t.audiences);
        let accepted = if inner.single_audience {
            aud.as_single()
                .is_some_and(|a| audiences.iter().any(|x| x == a))
        } else {
            aud.iter().any(|a| audiences.iter().any(|x| x == a))
        };
        if !accepted {
            return Err(Error::AudienceMismatch);
        }
        if let Some(t) = third_party {
            if reg.iss.as_deref() != Some(t.issuer.as_str()) {
                return Err(Error::IssuerMismatch);
            }
            return match &reg.role {
                None => Err(Error::MissingClaim { claim: "role" }),
                Some(role) if *role != t.role => Err(Error::RoleMismatch),
                Some(_) => Ok(()),
            };
        }
        if let Some(expected) = &inner.issuer {
            match &reg.iss {
                None => return Err(Error::MissingClaim { claim: "iss" }),
                Some(iss) if iss != expected => return Err(Error::IssuerMismatch),
                Some(_) => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_is_send_sync_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<Verifier>();
    }
}
