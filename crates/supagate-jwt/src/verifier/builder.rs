//! [`VerifierBuilder`]: the verifier's configuration and every start-up check.

use super::*;

/// Builds a [`Verifier`]. Setters never fail; [`VerifierBuilder::build`] checks everything.
#[must_use]
pub struct VerifierBuilder {
    token_cache: Option<TokenCacheConfig>,
    hs256: Vec<Hs256Secret>,
    jwks: Vec<JwkSet>,
    source: Option<Arc<dyn KeySource>>,
    supabase_url: Option<Result<SupabaseProject, ConfigError>>,
    issuer: Option<String>,
    audiences: Vec<String>,
    single_audience: bool,
    leeway: Duration,
    max_lifetime: Duration,
    max_token_len: usize,
    clock: Arc<dyn Clock>,
    backend: Option<CryptoBackend>,
    third_party: Vec<ThirdPartyIssuer>,
}

impl fmt::Debug for VerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierBuilder")
            .field("hs256_secrets", &self.hs256.len())
            .field("jwk_sets", &self.jwks.len())
            .field("key_source", &self.source)
            .field("supabase_url", &self.supabase_url)
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("leeway", &self.leeway)
            .field("max_lifetime", &self.max_lifetime)
            .field("max_token_len", &self.max_token_len)
            .field("backend", &self.backend)
            .field("third_party", &self.third_party)
            .finish_non_exhaustive()
    }
}

impl Default for VerifierBuilder {
    fn default() -> Self {
        VerifierBuilder {
            token_cache: Some(TokenCacheConfig::default()),
            hs256: Vec::new(),
            jwks: Vec::new(),
            source: None,
            supabase_url: None,
            issuer: None,
            audiences: vec![DEFAULT_AUDIENCE.to_owned()],
            single_audience: false,
            leeway: DEFAULT_LEEWAY,
            max_lifetime: DEFAULT_MAX_LIFETIME,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            clock: Arc::new(SystemClock),
            backend: None,
            third_party: Vec::new(),
        }
    }
}

impl VerifierBuilder {
    /// Adds the project's legacy JWT secret (HS256). Can be combined with JWK sets: a project
    /// migrating to asymmetric keys verifies both kinds, with no confusion between them.
    pub fn hs256_secret(mut self, secret: Hs256Secret) -> Self {
        self.hs256.push(secret);
        self
    }

    /// Adds a static JWK set (for example Supabase's published `jwks.json`, or symmetric keys
    /// from [`JwkSet::from_secret_json`]). Several sets are merged; a `kid` that then appears
    /// twice is dropped.
    pub fn jwk_set(mut self, set: JwkSet) -> Self {
        self.jwks.push(set);
        self
    }

    /// Takes asymmetric keys from a [`KeySource`] (a remote JWKS, say) instead of static JWK
    /// sets. Symmetric keys from [`VerifierBuilder::hs256_secret`] still apply.
    pub fn key_source(mut self, source: impl KeySource) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// Sets the project: the issuer becomes `<url>/auth/v1`. Takes a [`SupabaseProject`] or a
    /// URL string, parsed with [`SupabaseProject::parse`] (`https`, or `http` on a loopback
    /// host; no path); a bad URL is reported by `build()`.
    pub fn supabase_url(mut self, project: impl IntoProject) -> Self {
        self.supabase_url = Some(project.into_project().map_err(ConfigError::from));
        self
    }

    /// Requires `iss` to equal `issuer` exactly (no prefix, suffix or case folding). Default:
    /// the issuer derived from [`VerifierBuilder::supabase_url`], or no issuer check when
    /// neither is set. Takes precedence over the URL.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Accepts exactly this audience. Default: `authenticated`.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences = vec![audience.into()];
        self
    }

    /// Accepts any of these audiences. Default: `authenticated`.
    pub fn audiences<I, S>(mut self, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.audiences = audiences.into_iter().map(Into::into).collect();
        self
    }

    /// When `true`, `aud` must hold exactly one value (an accepted one); an array that also
    /// names other audiences is refused. Default: `false` (RFC 7519: any value may match).
    pub fn require_single_audience(mut self, yes: bool) -> Self {
        self.single_audience = yes;
        self
    }

    /// Clock-skew allowance for `exp`, `nbf` and `iat`. Default: 30 s; at most 300 s.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Largest accepted `exp - iat` and `exp - now`. Default: 7 days; at most 30 days. This is
    /// what refuses ten-year API keys presented as bearer tokens.
    pub fn max_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_lifetime = lifetime;
        self
    }

    /// Longest accepted token in bytes, checked before any decoding. Default:
    /// [`Verifier::DEFAULT_MAX_TOKEN_LEN`] (48 KiB); between 1 KiB and 64 KiB.
    pub fn max_token_length(mut self, bytes: usize) -> Self {
        self.max_token_len = bytes;
        self
    }

    /// The clock. Default: [`SystemClock`].
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Configures the verified-token cache: a token that verified is accepted again without
    /// signature or claim work until `min(exp, ttl)` (60 s by default), keyed on the whole
    /// token, and dropped as soon as the asymmetric key that verified it leaves the key set
    /// (for example after `RemoteJwks::invalidate`, feature `remote_jwks`, or a rotation). Bounded
    /// by entry count and bytes. Default: on, with [`TokenCacheConfig::default`] (10,000
    /// tokens, 16 MiB, 60 s); [`VerifierBuilder::no_token_cache`] turns it off.
    ///
    /// Asymmetric verification costs tens of microseconds and a client sends the same access
    /// token for up to an hour; a hit costs a hash, a comparison and a clone of the claims.
    /// Only tokens that verified are kept, so a flood of forged tokens never enters it.
    pub fn token_cache(mut self, config: TokenCacheConfig) -> Self {
        self.token_cache = Some(config);
        self
    }

    /// Turns the verified-token cache off: every call verifies the signature and the claims
    /// again (the 0.1 behaviour). For measurements, or a process that sees each token once.
    pub fn no_token_cache(mut self) -> Self {
        self.token_cache = None;
        self
    }

    /// The crypto backend. Default: [`CryptoBackend::preferred`] (AWS-LC when compiled in).
    pub fn backend(mut self, backend: CryptoBackend) -> Self {
        self.backend = Some(backend);
        self
    }

    /// Also accepts tokens of a third-party issuer (Supabase's third-party auth: Clerk,
    /// Firebase Auth, Auth0, AWS Cognito, WorkOS), each with its own audiences and keys; see
    /// [`ThirdPartyIssuer`] for the rules its tokens meet. A token's `iss` picks the issuer
    /// whose keys verify it; a token naming none of them is verified as the project's own.
    /// Call once per issuer.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_jwt::{Error, FixedClock, ThirdPartyIssuer};
    /// use supagate_testkit::{MockOidc, TestKeys, TokenBuilder};
    ///
    /// let verifier = TestKeys::new()
    ///     .verifier_builder()
    ///     .third_party_issuer(
    ///         ThirdPartyIssuer::new("https://clerk.example.com")
    ///             .audience(MockOidc::AUDIENCE)
    ///             .jwk_set(MockOidc::jwk_set()),
    ///     )
    ///     .clock(FixedClock::new(TokenBuilder::DEFAULT_NOW))
    ///     .build()?;
    ///
    /// // An HS256 token claiming that issuer is refused, even signed with the project's own
    /// // secret and carrying a UUID `sub`.
    /// let confused = TokenBuilder::third_party("https://clerk.example.com")
    ///     .claim("sub", TokenBuilder::DEFAULT_SUB)
    ///     .sign_hs256(&TestKeys::new());
    /// assert_eq!(verifier.verify(&confused).unwrap_err(), Error::AlgNotAllowed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn third_party_issuer(mut self, issuer: ThirdPartyIssuer) -> Self {
        self.third_party.push(issuer);
        self
    }

    /// Checks the configuration, prepares every key and builds the verifier.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for a missing or unusable crypto backend, no key at all, a leeway,
    /// lifetime or length out of range, an empty audience, or a malformed issuer or URL.
    pub fn build(self) -> Result<Verifier, ConfigError> {
        let backend = match self.backend {
            Some(b) => b.check()?,
            None => CryptoBackend::preferred().ok_or(ConfigError::NoCryptoBackend)?,
        };
        if self.leeway > MAX_LEEWAY {
            return Err(ConfigError::LeewayTooLarge {
                max: MAX_LEEWAY.as_secs(),
            });
        }
        if self.max_lifetime.is_zero() || self.max_lifetime > MAX_MAX_LIFETIME {
            return Err(ConfigError::LifetimeOutOfRange {
                max: MAX_MAX_LIFETIME.as_secs(),
            });
        }
        let (min, max) = TOKEN_LEN_RANGE;
        if !(min..=max).contains(&self.max_token_len) {
            return Err(ConfigError::TokenLengthOutOfRange { min, max });
        }
        if self.audiences.is_empty() || self.audiences.iter().any(String::is_empty) {
            return Err(ConfigError::InvalidAudience);
        }
        let project = self.supabase_url.transpose()?;
        let issuer = match (self.issuer, &project) {
            (Some(iss), _) => {
                if iss.is_empty() || iss.trim() != iss {
                    return Err(ConfigError::InvalidIssuer);
                }
                Some(iss)
            }
            (None, Some(project)) => Some(project.issuer().to_owned()),
            (None, None) => None,
        };

        let mut all = JwkSet::empty();
        for secret in &self.hs256 {
            all.push_hmac(secret);
        }
        for set in &self.jwks {
            all.merge(set);
        }
        let hmac = prepare_hmac(&all, backend)?;
        let keys = match self.source {
            Some(src) => Keys::Source(src),
            None => Keys::Static(Arc::new(PreparedKeys::prepare(&all, backend))),
        };
        let mut rejected = match &keys {
            Keys::Static(set) => set.rejected().to_vec(),
            Keys::Source(_) => all.rejected().to_vec(),
        };
        let third_party =
            prepare_third_party(self.third_party, issuer.as_deref(), backend, &self.clock)?;
        for tp in &third_party {
            if let Keys::Static(set) = &tp.keys {
                rejected.extend_from_slice(set.rejected());
            }
        }
        if let Keys::Static(set) = &keys
            && hmac.is_empty()
            && set.is_empty()
            && self.jwks.is_empty()
            && third_party.is_empty()
        {
            return Err(ConfigError::NoKeys);
        }
        // Sets that held keys, none of which is left once merged and prepared (a point off
        // its curve, the same `kid` in two sets), and nothing else to verify with: every
        // token would be refused. `JwkSet::empty()` on purpose holds none and passes.
        let supplied: usize = self.jwks.iter().map(|s| s.len() + s.rejected().len()).sum();
        if let Keys::Static(set) = &keys
            && hmac.is_empty()
            && set.is_empty()
            && supplied > 0
            && third_party.is_empty()
        {
            return Err(ConfigError::NoUsableKey {
                left_out: rejected.len(),
                first: rejected.first().map(|r| r.reason),
            });
        }

        Ok(Verifier {
            inner: Arc::new(Inner {
                project,
                cache: self.token_cache.map(TokenCache::new),
                hmac,
                keys,
                issuer,
                audiences: self.audiences,
                single_audience: self.single_audience,
                leeway: secs(self.leeway),
                max_lifetime: secs(self.max_lifetime),
                max_token_len: self.max_token_len,
                clock: self.clock,
                backend,
                rejected,
                third_party,
            }),
        })
    }
}

/// The checks of [`VerifierBuilder::build`] for third-party issuers alone (for start-up errors
/// that name the variable they came from).
pub(crate) fn check_third_party(
    issuers: Vec<ThirdPartyIssuer>,
    project_issuer: Option<&str>,
    backend: CryptoBackend,
) -> Result<(), ConfigError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    prepare_third_party(issuers, project_issuer, backend, &clock).map(|_| ())
}

/// Checks every third-party issuer and prepares its keys.
fn prepare_third_party(
    issuers: Vec<ThirdPartyIssuer>,
    project_issuer: Option<&str>,
    backend: CryptoBackend,
    clock: &Arc<dyn Clock>,
) -> Result<Vec<ThirdParty>, ConfigError> {
    let mut out: Vec<ThirdParty> = Vec::with_capacity(issuers.len());
    for (index, tp) in issuers.into_iter().enumerate() {
        let bad = |problem: &'static str| ConfigError::InvalidThirdPartyIssuer { index, problem };
        if tp.issuer.trim() != tp.issuer || !supagate_core::is_fetch_url(&tp.issuer) {
            return Err(bad(
                "the issuer must be an https URL (http only on a loopback host) without credentials, query or fragment",
            ));
        }
        if project_issuer == Some(tp.issuer.as_str()) {
            return Err(bad("the issuer is the Supabase project's own"));
        }
        if out.iter().any(|t| t.issuer == tp.issuer) {
            return Err(bad("the issuer is listed twice"));
        }
        if tp.audiences.is_empty() || tp.audiences.iter().any(String::is_empty) {
            return Err(bad("it needs at least one audience, and none may be empty"));
        }
        if !matches!(tp.role.as_str(), "authenticated" | "anon") {
            return Err(bad("the required role must be `authenticated` or `anon`"));
        }
        let source = if tp.discover {
            Some(discovered(&tp.issuer, backend, clock))
        } else {
            tp.source
        };
        let keys = match source {
            Some(_) if !tp.jwks.is_empty() => {
                return Err(bad("give a key source or JWK sets, not both"));
            }
            Some(Err(ConfigError::NoCryptoBackend)) => return Err(ConfigError::NoCryptoBackend),
            Some(Err(_)) => {
                return Err(bad(
                    "its discovery URL must be https (or http on a loopback host) without credentials, query or fragment",
                ));
            }
            Some(Ok(src)) => Keys::Source(src),
            None => {
                let mut all = JwkSet::empty();
                for set in &tp.jwks {
                    all.merge(set);
                }
                if all.has_hmac() {
                    return Err(bad(
                        "symmetric (oct) keys are never accepted from a third-party issuer",
                    ));
                }
                let set = PreparedKeys::prepare(&all, backend);
                if set.is_empty() {
                    return Err(bad("it has no usable key"));
                }
                Keys::Static(Arc::new(set))
            }
        };
        out.push(ThirdParty {
            issuer: tp.issuer,
            audiences: tp.audiences,
            keys,
            role: tp.role,
        });
    }
    Ok(out)
}

/// The key source of [`ThirdPartyIssuer::discover`], with the verifier's backend and clock.
#[cfg(feature = "remote_jwks")]
fn discovered(
    issuer: &str,
    backend: CryptoBackend,
    clock: &Arc<dyn Clock>,
) -> Result<Arc<dyn KeySource>, ConfigError> {
    crate::RemoteJwks::discover(issuer)
        .backend(backend)
        .clock(SharedClock(Arc::clone(clock)))
        .build()
        .map(|s| Arc::new(s) as Arc<dyn KeySource>)
}

#[cfg(not(feature = "remote_jwks"))]
fn discovered(
    _issuer: &str,
    _backend: CryptoBackend,
    _clock: &Arc<dyn Clock>,
) -> Result<Arc<dyn KeySource>, ConfigError> {
    // `discover` exists only with the feature.
    Err(ConfigError::InvalidJwksUrl)
}

/// The verifier's clock handed to a key source it builds.
#[cfg(feature = "remote_jwks")]
#[derive(Debug)]
struct SharedClock(Arc<dyn Clock>);

#[cfg(feature = "remote_jwks")]
impl Clock for SharedClock {
    fn now(&self) -> i64 {
        self.0.now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(not(any(feature = "aws_lc_rs", feature = "rust_crypto")))]
    fn no_backend_is_a_config_error_not_a_panic() {
        let r = Verifier::builder()
            .hs256_secret(Hs256Secret::new([1u8; 32]).unwrap())
            .build();
        assert!(matches!(r, Err(ConfigError::NoCryptoBackend)));
        assert_eq!(CryptoBackend::preferred(), None);
        assert!(CryptoBackend::compiled().is_empty());
        let r = Verifier::builder()
            .hs256_secret(Hs256Secret::new([1u8; 32]).unwrap())
            .backend(CryptoBackend::AwsLc)
            .build();
        assert!(matches!(
            r,
            Err(ConfigError::BackendNotCompiled {
                backend: "aws_lc_rs"
            })
        ));
    }

    #[test]
    #[cfg(any(feature = "aws_lc_rs", feature = "rust_crypto"))]
    fn builder_limits() {
        let s = || Hs256Secret::new([1u8; 32]).unwrap();
        let b = || Verifier::builder().hs256_secret(s());
        assert!(b().build().is_ok());
        assert!(matches!(
            b().leeway(Duration::from_secs(301)).build(),
            Err(ConfigError::LeewayTooLarge { max: 300 })
        ));
        assert!(b().leeway(Duration::from_secs(u64::MAX)).build().is_err());
        assert!(b().max_token_lifetime(Duration::ZERO).build().is_err());
        assert!(
            b().max_token_lifetime(Duration::from_secs(31 * 86400))
                .build()
                .is_err()
        );
        assert!(b().max_token_length(100).build().is_err());
        assert!(b().max_token_length(1 << 20).build().is_err());
        assert!(b().audiences(Vec::<String>::new()).build().is_err());
        assert!(b().audience("").build().is_err());
        assert!(b().issuer(" x").build().is_err());
        assert!(matches!(
            Verifier::builder().build(),
            Err(ConfigError::NoKeys)
        ));
    }
}
