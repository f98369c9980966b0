//! [`AuthenticatorBuilder`]: every setting of an [`Authenticator`], checked by `build()`.

use super::*;

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
    trace_identities: bool,
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
    /// The defaults every setter documents.
    pub(super) fn new(verifier: Verifier) -> Self {
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
            trace_identities: false,
        }
    }

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
    /// This only widens the base policy of the extractors; a [`Policy`] given to a
    /// [`Gate::policy`](crate::Gate::policy) (the policy layer or middleware) decides for its
    /// routes. Cookie sessions of `supagate-proxy` stay first-party user sessions whatever is
    /// allowed here.
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
    /// use supagate_auth::{ApiKeys, Authenticator, Gate};
    /// use supagate_testkit::{TestKeys, TokenBuilder};
    ///
    /// let keys = ApiKeys::from_variables(&TestKeys::api_key_variables())?;
    /// let auth = Authenticator::builder(TestKeys::new().verifier_at(TokenBuilder::DEFAULT_NOW))
    ///     .api_keys(keys)
    ///     .build()?;
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("apikey", TestKeys::PUBLISHABLE_KEY.parse()?);
    /// headers.insert("authorization", format!("Bearer {}", TestKeys::PUBLISHABLE_KEY).parse()?);
    /// let gate = Gate::modes(auth, "user, publishable".parse()?);
    /// let admission = gate.decide_now(&headers).expect("decided now")?;
    /// assert_eq!(admission.caller().and_then(|c| c.key()), Some("default"));
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

    /// Adds the user id (`sub`) and the session id to the `authentication decided` tracing
    /// event (off by default: they identify people; the event carries the outcome, the mode
    /// and the issuer's host otherwise). Tokens, keys, cookies and emails are never logged,
    /// whatever this says.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::Authenticator;
    /// use supagate_testkit::TestKeys;
    ///
    /// let auth = Authenticator::builder(TestKeys::new().verifier()).trace_identities(true).build()?;
    /// # let _ = auth;
    /// # Ok::<(), supagate_auth::AuthConfigError>(())
    /// ```
    pub fn trace_identities(mut self, yes: bool) -> Self {
        self.trace_identities = yes;
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
                trace_identities: self.trace_identities,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use supagate_testkit::{TestKeys, TokenBuilder};

    use super::*;

    fn builder() -> AuthenticatorBuilder {
        Authenticator::builder(TestKeys::new().verifier_at(TokenBuilder::DEFAULT_NOW))
    }

    #[test]
    fn the_realm_must_fit_a_quoted_string() {
        assert!(builder().build().is_ok());
        assert!(builder().realm("my api").build().is_ok());
        for bad in ["", "a\"b", "a\\b", "tab\there", "é", "line\nbreak"] {
            assert!(builder().realm(bad).build().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let auth = builder().build().unwrap_or_else(|_| unreachable!());
        assert!(matches!(auth.source(), TokenSource::AuthorizationHeader));
        assert!(auth.session_liveness().is_none());
        let refusal = auth.refusal(&AuthError::MissingCredentials);
        assert_eq!(
            refusal.www_authenticate().map(|v| v.as_bytes()),
            Some(&b"Bearer realm=\"supagate\""[..])
        );
        let down = auth.refusal(&AuthError::AuthServerUnavailable);
        assert_eq!(
            down.retry_after().map(|v| v.as_bytes()),
            Some(
                Authenticator::DEFAULT_RETRY_AFTER_SECS
                    .to_string()
                    .as_bytes()
            )
        );
    }
}
