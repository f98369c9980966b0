//! [`Config`]: every configuration variable the library knows, read once, in one place.

use std::fmt;
#[cfg(feature = "proxy")]
use std::net::IpAddr;
#[cfg(any(feature = "proxy", feature = "postgres"))]
use std::time::Duration;

use supagate_auth::{ApiKeyKind, ApiKeys, AuthServerKeys, Authenticator, AuthenticatorBuilder};
use supagate_core::{EnvError, SupabaseProject, Variables};
use supagate_jwt::{SupabaseConfig, Verifier};

/// Every variable the library reads, with what it means. Supabase's own names where it has
/// one (its CLI, its hosting, `@supabase/server`); the application's variables (`BIND`, say)
/// are read through [`Config::variables`], from the same snapshot.
///
/// | variable | read by | meaning |
/// |---|---|---|
/// | `SUPABASE_URL` | always, required | the project URL; tokens must have `iss = <url>/auth/v1` |
/// | `SUPABASE_JWT_SECRET` | always | the legacy HS256 secret (at least 32 bytes) |
/// | `SUPABASE_JWKS` | always | the JWK set inline (nothing is fetched) |
/// | `SUPABASE_JWKS_URL` | always | the JWK set to follow (`file://` reads a saved set); default the project's |
/// | `SUPABASE_THIRD_PARTY_ISSUERS` | always | third-party auth providers whose tokens are accepted too |
/// | `SUPAGATE_TOKEN_CACHE` | always | `0` turns the verified-token cache off |
/// | `SUPABASE_PUBLISHABLE_KEYS`, `SUPABASE_PUBLISHABLE_KEY` | always | the publishable key(s): the `publishable` auth mode, and the proxy's `apikey` |
/// | `SUPABASE_SECRET_KEYS`, `SUPABASE_SECRET_KEY` | always | the secret key(s): the `secret` auth mode, and `Sb-Forwarded-For` from the proxy |
/// | `SUPABASE_ANON_KEY` | always | the legacy anon key (deprecated): "no user" as a bearer, the publishable key's stand-in |
/// | `API_URL` | `proxy` | the backend origin the proxy forwards to |
/// | `PUBLIC_ORIGIN` | `proxy` | the origin browsers use |
/// | `ALLOWED_ORIGINS` | `proxy` | other origins allowed to post and read with credentials, comma-separated |
/// | `TRUSTED_PROXIES` | `proxy` | reverse proxies in front, comma-separated addresses |
/// | `COOKIE_ENCODE` | `proxy` | `user-and-tokens` (default) or `tokens-only` |
/// | `REFRESH_MARGIN_SECS` | `proxy` | refresh sessions expiring within (default 90) |
/// | `RATE_LIMIT_PER_MINUTE`, `RATE_LIMIT_BURST` | `proxy` | per client address (default 1200 / 200; half per user; `0` off) |
/// | `AUTH_CALLS_PER_MINUTE`, `AUTH_CALLS_BURST` | `proxy` | auth-server calls per client address (default 30 / 10) |
/// | `DATABASE_URL` | `postgres` | the database of the user-scoped transactions |
/// | `DATABASE_POOL_SIZE` | `postgres` | connections (1 to 1000, default 10) |
/// | `SESSION_CHECK` | `postgres` | session liveness: `db` (default), `auth` or `off` |
/// | `SESSION_DATABASE_URL` | `postgres` | a role that may read `auth.sessions`, for `SESSION_CHECK=db` |
/// | `SESSION_TTL_SECS` | `postgres` | how long a liveness answer is reused (0 to 300, default 30) |
/// | `SESSION_NOTIFY` | `postgres` | `1`: listen for the sign-out triggers (default `0`) |
/// | `PRE_REQUEST` | `postgres` | a function (`schema.name`) called in every scoped transaction |
///
/// # Examples
///
/// ```
/// assert!(supagate::config::VARIABLES.contains(&"SUPABASE_URL"));
/// ```
pub const VARIABLES: &[&str] = &[
    "SUPABASE_URL",
    "SUPABASE_JWT_SECRET",
    "SUPABASE_JWKS",
    "SUPABASE_JWKS_URL",
    "SUPABASE_THIRD_PARTY_ISSUERS",
    "SUPAGATE_TOKEN_CACHE",
    "SUPABASE_PUBLISHABLE_KEYS",
    "SUPABASE_PUBLISHABLE_KEY",
    "SUPABASE_SECRET_KEYS",
    "SUPABASE_SECRET_KEY",
    "SUPABASE_ANON_KEY",
    "API_URL",
    "PUBLIC_ORIGIN",
    "ALLOWED_ORIGINS",
    "TRUSTED_PROXIES",
    "COOKIE_ENCODE",
    "REFRESH_MARGIN_SECS",
    "RATE_LIMIT_PER_MINUTE",
    "RATE_LIMIT_BURST",
    "AUTH_CALLS_PER_MINUTE",
    "AUTH_CALLS_BURST",
    "DATABASE_URL",
    "DATABASE_POOL_SIZE",
    "SESSION_CHECK",
    "SESSION_DATABASE_URL",
    "SESSION_TTL_SECS",
    "SESSION_NOTIFY",
    "PRE_REQUEST",
];

/// The configuration of a service, from its variables ([`VARIABLES`]): the project and its
/// verification keys, the API keys, the auth server's keys, and (behind their features) the
/// proxy's and the database's settings. The variables every service reads are checked by
/// [`Config::from_variables`]; the proxy's and the database's when a service asks for them
/// (`Config::proxy`, `Config::database`, behind their features), so a backend never fails on a proxy setting it
/// does not use. A mistake stops the start with an [`EnvError`] that names the variable and
/// the fix.
///
/// # Examples
///
/// ```
/// use supagate::{Config, Variables};
///
/// let config = Config::from_variables(Variables::from_pairs([
///     ("SUPABASE_URL", "https://abcdefghijklmnopqrst.supabase.co"),
///     ("SUPABASE_JWT_SECRET", "an-example-secret-of-at-least-32-bytes"),
///     ("SUPABASE_PUBLISHABLE_KEY", "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH"),
/// ]))?;
/// let auth = config.authenticator()?.build()?;
/// assert_eq!(config.project().issuer(), "https://abcdefghijklmnopqrst.supabase.co/auth/v1");
/// # let _ = auth;
///
/// let err = Config::from_variables(Variables::from_pairs([("SUPABASE_URL", "http://example.com")]))
///     .unwrap_err();
/// assert_eq!(err.variable(), "SUPABASE_URL");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Config {
    vars: Variables,
    supabase: SupabaseConfig,
    api_keys: ApiKeys,
    server_keys: AuthServerKeys,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Config");
        d.field("project", self.project())
            .field("keys", &self.describe())
            .field("variables", &self.vars);
        d.finish_non_exhaustive()
    }
}

impl Config {
    /// Reads the process environment, once ([`Variables::from_env`]).
    ///
    /// # Errors
    ///
    /// An [`EnvError`] naming the variable and the fix.
    ///
    /// # Examples
    ///
    /// ```
    /// // In a service's `main`: every variable of the library, read once.
    /// match supagate::Config::from_env() {
    ///     Ok(config) => println!("keys: {}", config.describe()),
    ///     Err(e) => eprintln!("configuration error: {e}"), // names the variable and the fix
    /// }
    /// ```
    pub fn from_env() -> Result<Config, EnvError> {
        Config::from_variables(Variables::from_env())
    }

    /// Reads `vars`.
    ///
    /// # Errors
    ///
    /// An [`EnvError`] naming the variable and the fix.
    pub fn from_variables(vars: Variables) -> Result<Config, EnvError> {
        let supabase = SupabaseConfig::from_variables(&vars)?;
        // The auth server's keys first: a key of the wrong kind gets its clearest message.
        let server_keys = AuthServerKeys::from_variables(&vars)?;
        let api_keys = ApiKeys::from_variables(&vars)?;
        // The legacy anon key means "no user" as a bearer: it must be the anon key, whether or
        // not a publishable key stands before it (never a `service_role` JWT).
        if let Some(anon) = vars.get("SUPABASE_ANON_KEY") {
            supagate_auth::PublishableKey::parse(&anon).map_err(|e| {
                EnvError::new(
                    "SUPABASE_ANON_KEY",
                    e,
                    "set it to the project's legacy anon key, or unset it",
                )
            })?;
        }
        Ok(Config {
            vars,
            supabase,
            api_keys,
            server_keys,
        })
    }

    /// The variables read, for the application's own (`BIND`, say): one source for all.
    ///
    /// # Examples
    ///
    /// ```
    /// # use supagate::{Config, Variables};
    /// # let vars = Variables::from_pairs([
    /// #     ("SUPABASE_URL", "http://127.0.0.1:54321"),
    /// #     ("SUPABASE_JWT_SECRET", "super-secret-jwt-token-with-at-least-32-characters-long"),
    /// #     ("SUPABASE_PUBLISHABLE_KEY", "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH"),
    /// #     ("BIND", "127.0.0.1:8000"),
    /// # ]);
    /// let config = Config::from_variables(vars)?;
    /// let bind = config.variables().get("BIND").unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    /// assert_eq!(bind, "127.0.0.1:8000");
    /// # Ok::<(), supagate::EnvError>(())
    /// ```
    #[must_use]
    pub fn variables(&self) -> &Variables {
        &self.vars
    }

    /// The project.
    ///
    /// # Examples
    ///
    /// ```
    /// # use supagate::{Config, Variables};
    /// # let vars = Variables::from_pairs([
    /// #     ("SUPABASE_URL", "http://127.0.0.1:54321"),
    /// #     ("SUPABASE_JWT_SECRET", "super-secret-jwt-token-with-at-least-32-characters-long"),
    /// #     ("SUPABASE_PUBLISHABLE_KEY", "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH"),
    /// #     ("BIND", "127.0.0.1:8000"),
    /// # ]);
    /// let config = Config::from_variables(vars)?;
    /// assert!(config.project().is_local());
    /// # Ok::<(), supagate::EnvError>(())
    /// ```
    #[must_use]
    pub fn project(&self) -> &SupabaseProject {
        self.supabase.project()
    }

    /// The verification keys' configuration (for [`SupabaseConfig::rejected_keys`] and
    /// [`SupabaseConfig::verifier_builder`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # use supagate::{Config, Variables};
    /// # let vars = Variables::from_pairs([
    /// #     ("SUPABASE_URL", "http://127.0.0.1:54321"),
    /// #     ("SUPABASE_JWT_SECRET", "super-secret-jwt-token-with-at-least-32-characters-long"),
    /// #     ("SUPABASE_PUBLISHABLE_KEY", "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH"),
    /// #     ("BIND", "127.0.0.1:8000"),
    /// # ]);
    /// let config = Config::from_variables(vars)?;
    /// assert!(config.supabase().rejected_keys().is_empty());
    /// # Ok::<(), supagate::EnvError>(())
    /// ```
    #[must_use]
    pub fn supabase(&self) -> &SupabaseConfig {
        &self.supabase
    }

    /// The verifier.
    ///
    /// # Errors
    ///
    /// An [`EnvError`] naming the variable whose keys the verifier refused.
    ///
    /// # Examples
    ///
    /// ```
    /// # use supagate::{Config, Variables};
    /// # let vars = Variables::from_pairs([
    /// #     ("SUPABASE_URL", "http://127.0.0.1:54321"),
    /// #     ("SUPABASE_JWT_SECRET", "super-secret-jwt-token-with-at-least-32-characters-long"),
    /// #     ("SUPABASE_PUBLISHABLE_KEY", "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH"),
    /// #     ("BIND", "127.0.0.1:8000"),
    /// # ]);
    /// let config = Config::from_variables(vars)?;
    /// let verifier = config.verifier()?;
    /// assert!(verifier.verify("not-a-token").is_err());
    /// # Ok::<(), supagate::EnvError>(())
    /// ```
    pub fn verifier(&self) -> Result<Verifier, EnvError> {
        self.supabase.verifier()
    }

    /// The API keys (`publishable` and `secret` auth modes).
    ///
    /// # Examples
    ///
    /// ```
    /// # use supagate::{Config, Variables};
    /// # let vars = Variables::from_pairs([
    /// #     ("SUPABASE_URL", "http://127.0.0.1:54321"),
    /// #     ("SUPABASE_JWT_SECRET", "super-secret-jwt-token-with-at-least-32-characters-long"),
    /// #     ("SUPABASE_PUBLISHABLE_KEY", "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH"),
    /// #     ("BIND", "127.0.0.1:8000"),
    /// # ]);
    /// let config = Config::from_variables(vars)?;
    /// use supagate::auth::ApiKeyKind;
    /// assert_eq!(config.api_keys().names(ApiKeyKind::Publishable).collect::<Vec<_>>(), ["default"]);
    /// # Ok::<(), supagate::EnvError>(())
    /// ```
    #[must_use]
    pub fn api_keys(&self) -> &ApiKeys {
        &self.api_keys
    }

    /// The keys the service calls the auth server with.
    ///
    /// # Examples
    ///
    /// ```
    /// # use supagate::{Config, Variables};
    /// # let vars = Variables::from_pairs([
    /// #     ("SUPABASE_URL", "http://127.0.0.1:54321"),
    /// #     ("SUPABASE_JWT_SECRET", "super-secret-jwt-token-with-at-least-32-characters-long"),
    /// #     ("SUPABASE_PUBLISHABLE_KEY", "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH"),
    /// #     ("BIND", "127.0.0.1:8000"),
    /// # ]);
    /// let config = Config::from_variables(vars)?;
    /// assert!(config.auth_server_keys().publishable().is_some());
    /// assert!(config.auth_server_keys().secret().is_none());
    /// # Ok::<(), supagate::EnvError>(())
    /// ```
    #[must_use]
    pub fn auth_server_keys(&self) -> &AuthServerKeys {
        &self.server_keys
    }

    /// An authenticator builder with the verifier, the API keys and the legacy anon key (a
    /// bearer that means "no user"); add a token source, modes or liveness, then `build()`.
    ///
    /// # Errors
    ///
    /// As [`Config::verifier`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use supagate::{Config, Variables};
    /// # let vars = Variables::from_pairs([
    /// #     ("SUPABASE_URL", "http://127.0.0.1:54321"),
    /// #     ("SUPABASE_JWT_SECRET", "super-secret-jwt-token-with-at-least-32-characters-long"),
    /// #     ("SUPABASE_PUBLISHABLE_KEY", "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH"),
    /// #     ("BIND", "127.0.0.1:8000"),
    /// # ]);
    /// let config = Config::from_variables(vars)?;
    /// let auth = config.authenticator()?.realm("my-api").build()?;
    /// # let _ = auth;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn authenticator(&self) -> Result<AuthenticatorBuilder, EnvError> {
        let mut b = Authenticator::builder(self.verifier()?).api_keys(self.api_keys.clone());
        if let Some(anon) = self.vars.get("SUPABASE_ANON_KEY") {
            b = b.legacy_anon_key(anon.trim());
        }
        Ok(b)
    }

    /// What keys are configured, for a start-up banner: no secret, no key material, key
    /// names only.
    ///
    /// # Examples
    ///
    /// ```
    /// # use supagate::{Config, Variables};
    /// # let vars = Variables::from_pairs([
    /// #     ("SUPABASE_URL", "http://127.0.0.1:54321"),
    /// #     ("SUPABASE_JWT_SECRET", "super-secret-jwt-token-with-at-least-32-characters-long"),
    /// #     ("SUPABASE_PUBLISHABLE_KEY", "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH"),
    /// #     ("BIND", "127.0.0.1:8000"),
    /// # ]);
    /// let config = Config::from_variables(vars)?;
    /// let banner = config.describe();
    /// assert!(banner.contains("HS256 secret") && !banner.contains("super-secret"));
    /// # Ok::<(), supagate::EnvError>(())
    /// ```
    #[must_use]
    pub fn describe(&self) -> String {
        let mut keys = self.supabase.describe_keys();
        for kind in [ApiKeyKind::Publishable, ApiKeyKind::Secret] {
            let names: Vec<&str> = self.api_keys.names(kind).collect();
            if !names.is_empty() {
                keys.push_str(&format!(", {} keys {}", kind.as_str(), names.join(" ")));
            }
        }
        keys
    }

    /// The proxy's settings, read and checked now.
    ///
    /// # Errors
    ///
    /// An [`EnvError`] naming the variable.
    ///
    /// # Examples
    ///
    /// ```
    /// # use supagate::{Config, Variables};
    /// # let vars = Variables::from_pairs([
    /// #     ("SUPABASE_URL", "http://127.0.0.1:54321"),
    /// #     ("SUPABASE_JWT_SECRET", "super-secret-jwt-token-with-at-least-32-characters-long"),
    /// #     ("SUPABASE_PUBLISHABLE_KEY", "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH"),
    /// #     ("BIND", "127.0.0.1:8000"),
    /// # ]);
    /// let config = Config::from_variables(vars)?;
    /// assert_eq!(config.proxy()?.auth_calls_per_minute, 30);
    /// # Ok::<(), supagate::EnvError>(())
    /// ```
    #[cfg(feature = "proxy")]
    #[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
    pub fn proxy(&self) -> Result<ProxySettings, EnvError> {
        ProxySettings::from_variables(&self.vars)
    }

    /// A sessions builder with every session setting of [`ProxySettings`] (public and allowed
    /// origins, trusted proxies, refresh margin, cookie encoding, rate limits), the publishable
    /// key as its `apikey` and, when set, the secret key, on the app's `authenticator` (usually
    /// [`Config::authenticator`], built with the app's own policy and liveness); then
    /// `build()`.
    ///
    /// # Errors
    ///
    /// An [`EnvError`] for `SUPABASE_PUBLISHABLE_KEY` or `PUBLIC_ORIGIN` when unset.
    ///
    /// # Examples
    ///
    /// ```
    /// # use supagate::{Config, Variables};
    /// let config = Config::from_variables(Variables::from_pairs([
    ///     ("SUPABASE_URL", "http://127.0.0.1:54321"),
    ///     ("SUPABASE_JWT_SECRET", "super-secret-jwt-token-with-at-least-32-characters-long"),
    ///     ("SUPABASE_PUBLISHABLE_KEY", "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH"),
    ///     ("PUBLIC_ORIGIN", "http://127.0.0.1:3000"),
    /// ]))?;
    /// let auth = config.authenticator()?.build()?;
    /// let sessions = config.sessions_builder(auth)?.build()?;
    /// # let _ = sessions;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "proxy")]
    #[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
    pub fn sessions_builder(
        &self,
        authenticator: Authenticator,
    ) -> Result<supagate_proxy::SessionsBuilder, EnvError> {
        let p = &self.proxy()?;
        let key = self.server_keys.publishable().ok_or_else(|| {
            EnvError::new(
                "SUPABASE_PUBLISHABLE_KEY",
                "not set: the auth server is called with it",
                "set it to the project's publishable key (Dashboard: Project Settings > API Keys)",
            )
        })?;
        let public = p.public_origin.as_deref().ok_or_else(|| {
            EnvError::new(
                "PUBLIC_ORIGIN",
                "not set",
                "set it to the origin browsers use, e.g. https://app.example.com",
            )
        })?;
        let mut b = supagate_proxy::Sessions::builder(self.project(), key.expose(), authenticator)
            .public_origin(public)
            .allowed_origins(p.allowed_origins.iter().cloned())
            .trusted_proxies(p.trusted_proxies.iter().copied())
            .refresh_margin(p.refresh_margin)
            .tokens_only_cookies(p.tokens_only)
            .rate_limit(
                supagate_proxy::RateLimit::new()
                    .per_client_address(p.rate_per_minute, p.rate_burst)
                    .per_user(p.rate_per_minute / 2, p.rate_burst / 2)
                    .auth_calls_per_client_address(p.auth_calls_per_minute, p.auth_calls_burst),
            );
        if let Some(secret) = self.server_keys.secret() {
            b = b.secret_key(secret.clone());
        }
        Ok(b)
    }

    /// A proxy builder forwarding to `API_URL` with `sessions`; add routes, then `build()`.
    ///
    /// # Errors
    ///
    /// An [`EnvError`] for `API_URL` when unset.
    ///
    /// # Examples
    ///
    /// ```
    /// # use supagate::{Config, Variables};
    /// let config = Config::from_variables(Variables::from_pairs([
    ///     ("SUPABASE_URL", "http://127.0.0.1:54321"),
    ///     ("SUPABASE_JWT_SECRET", "super-secret-jwt-token-with-at-least-32-characters-long"),
    ///     ("SUPABASE_PUBLISHABLE_KEY", "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH"),
    ///     ("API_URL", "http://127.0.0.1:8000"),
    ///     ("PUBLIC_ORIGIN", "http://127.0.0.1:3000"),
    /// ]))?;
    /// let sessions = config.sessions_builder(config.authenticator()?.build()?)?.build()?;
    /// let proxy = config.proxy_builder(sessions)?.route("/api/", "/").build()?;
    /// # let _ = proxy;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "proxy")]
    #[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
    pub fn proxy_builder(
        &self,
        sessions: supagate_proxy::Sessions,
    ) -> Result<supagate_proxy::ProxyBuilder, EnvError> {
        let p = &self.proxy()?;
        let upstream = p.upstream.as_deref().ok_or_else(|| {
            EnvError::new(
                "API_URL",
                "not set",
                "set it to the backend's origin, e.g. http://127.0.0.1:8000",
            )
        })?;
        Ok(supagate_proxy::Proxy::builder(sessions).upstream(upstream))
    }

    /// The database's settings, read and checked now; `None` when `DATABASE_URL` is unset.
    ///
    /// # Errors
    ///
    /// An [`EnvError`] naming the variable.
    ///
    /// # Examples
    ///
    /// ```
    /// # use supagate::{Config, Variables};
    /// # let vars = Variables::from_pairs([
    /// #     ("SUPABASE_URL", "http://127.0.0.1:54321"),
    /// #     ("SUPABASE_JWT_SECRET", "super-secret-jwt-token-with-at-least-32-characters-long"),
    /// #     ("SUPABASE_PUBLISHABLE_KEY", "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH"),
    /// #     ("BIND", "127.0.0.1:8000"),
    /// # ]);
    /// let config = Config::from_variables(vars)?;
    /// assert!(config.database()?.is_none()); // no DATABASE_URL
    /// # Ok::<(), supagate::EnvError>(())
    /// ```
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    pub fn database(&self) -> Result<Option<DatabaseSettings>, EnvError> {
        DatabaseSettings::from_variables(&self.vars)
    }
}

/// A number variable: its default when unset, else a `u32` within `range`.
#[cfg(any(feature = "proxy", feature = "postgres"))]
fn number(
    vars: &Variables,
    name: &'static str,
    default: u32,
    range: std::ops::RangeInclusive<u32>,
    fix: &'static str,
) -> Result<u32, EnvError> {
    match vars.get(name) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<u32>() {
            Ok(n) if range.contains(&n) => Ok(n),
            Ok(n) => Err(EnvError::new(name, format!("{n} is out of range"), fix)),
            Err(_) => Err(EnvError::new(
                name,
                format!("`{}` is not a whole number", v.trim()),
                fix,
            )),
        },
    }
}

/// A comma-separated list, blank entries left out.
#[cfg(feature = "proxy")]
fn list(vars: &Variables, name: &str) -> Vec<String> {
    vars.get(name)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The settings of the sessions and the proxy (feature `proxy`), read by [`Config`];
/// [`Config::sessions_builder`] and [`Config::proxy_builder`] apply them.
///
/// # Examples
///
/// ```
/// use supagate::{Config, Variables};
///
/// let vars = Variables::from_pairs([
///     ("SUPABASE_URL", "http://127.0.0.1:54321"),
///     ("SUPABASE_JWT_SECRET", "super-secret-jwt-token-with-at-least-32-characters-long"),
///     ("TRUSTED_PROXIES", "127.0.0.1, ::1"),
///     ("COOKIE_ENCODE", "tokens-only"),
/// ]);
/// let proxy = Config::from_variables(vars)?.proxy()?;
/// assert_eq!(proxy.trusted_proxies.len(), 2);
/// assert!(proxy.tokens_only);
/// assert_eq!(proxy.rate_per_minute, 1200);
/// # Ok::<(), supagate::EnvError>(())
/// ```
#[cfg(feature = "proxy")]
#[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxySettings {
    /// `API_URL`: the backend origin.
    pub upstream: Option<String>,
    /// `PUBLIC_ORIGIN`: the origin browsers use.
    pub public_origin: Option<String>,
    /// `ALLOWED_ORIGINS`.
    pub allowed_origins: Vec<String>,
    /// `TRUSTED_PROXIES`.
    pub trusted_proxies: Vec<IpAddr>,
    /// `RATE_LIMIT_PER_MINUTE` (default 1200; `0` off).
    pub rate_per_minute: u32,
    /// `RATE_LIMIT_BURST` (default 200).
    pub rate_burst: u32,
    /// `AUTH_CALLS_PER_MINUTE` (default 30).
    pub auth_calls_per_minute: u32,
    /// `AUTH_CALLS_BURST` (default 10).
    pub auth_calls_burst: u32,
    /// `REFRESH_MARGIN_SECS` (default 90 s, auth-js's).
    pub refresh_margin: Duration,
    /// `COOKIE_ENCODE=tokens-only`.
    pub tokens_only: bool,
}

#[cfg(feature = "proxy")]
impl ProxySettings {
    fn from_variables(vars: &Variables) -> Result<ProxySettings, EnvError> {
        const RATE_FIX: &str = "set it to a whole number of requests (0 turns the limit off)";
        let trusted_proxies = list(vars, "TRUSTED_PROXIES")
            .iter()
            .map(|a| {
                a.parse::<IpAddr>().map_err(|_| {
                    EnvError::new(
                        "TRUSTED_PROXIES",
                        format!("`{a}` is not an IP address"),
                        "list the addresses of the reverse proxies in front, comma-separated",
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let tokens_only = match vars.get("COOKIE_ENCODE").as_deref().map(str::trim) {
            None | Some("user-and-tokens") => false,
            Some("tokens-only") => true,
            Some(other) => {
                return Err(EnvError::new(
                    "COOKIE_ENCODE",
                    format!("`{other}` is not user-and-tokens or tokens-only"),
                    "set it to user-and-tokens (the default) or tokens-only",
                ));
            }
        };
        let margin = number(
            vars,
            "REFRESH_MARGIN_SECS",
            90,
            0..=3600,
            "set it to seconds, 0 to 3600",
        )?;
        Ok(ProxySettings {
            upstream: vars.get("API_URL").map(|v| v.trim().to_owned()),
            public_origin: vars.get("PUBLIC_ORIGIN").map(|v| v.trim().to_owned()),
            allowed_origins: list(vars, "ALLOWED_ORIGINS"),
            trusted_proxies,
            rate_per_minute: number(vars, "RATE_LIMIT_PER_MINUTE", 1200, 0..=u32::MAX, RATE_FIX)?,
            rate_burst: number(vars, "RATE_LIMIT_BURST", 200, 0..=u32::MAX, RATE_FIX)?,
            auth_calls_per_minute: number(
                vars,
                "AUTH_CALLS_PER_MINUTE",
                30,
                0..=u32::MAX,
                RATE_FIX,
            )?,
            auth_calls_burst: number(vars, "AUTH_CALLS_BURST", 10, 0..=u32::MAX, RATE_FIX)?,
            refresh_margin: Duration::from_secs(u64::from(margin)),
            tokens_only,
        })
    }
}

/// How a backend checks that a token's session still exists (`SESSION_CHECK`).
///
/// # Examples
///
/// ```
/// use supagate::config::SessionCheck;
///
/// assert_eq!(SessionCheck::parse(None), Ok(SessionCheck::Db));
/// assert_eq!(SessionCheck::parse(Some("auth")), Ok(SessionCheck::Auth));
/// assert!(SessionCheck::parse(Some("sometimes")).is_err());
/// ```
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCheck {
    /// `db` (the default): `auth.sessions` and `auth.users` in the database.
    Db,
    /// `auth`: the auth server's `GET /auth/v1/user`.
    Auth,
    /// `off`: tokens are accepted until `exp`.
    Off,
}

#[cfg(feature = "postgres")]
impl SessionCheck {
    /// From the value of `SESSION_CHECK`.
    ///
    /// # Errors
    ///
    /// An [`EnvError`] for anything but `db`, `auth`, `off` or nothing.
    pub fn parse(value: Option<&str>) -> Result<SessionCheck, EnvError> {
        match value.map(str::trim) {
            None | Some("" | "db") => Ok(SessionCheck::Db),
            Some("auth") => Ok(SessionCheck::Auth),
            Some("off") => Ok(SessionCheck::Off),
            Some(other) => Err(EnvError::new(
                "SESSION_CHECK",
                format!("`{other}` is not db, auth or off"),
                "set it to db (auth.sessions), auth (the auth server) or off",
            )),
        }
    }
}

/// A database URL: it holds a password, so `Debug` shows none of it.
///
/// # Examples
///
/// ```
/// use supagate::config::DatabaseUrl;
///
/// let url = DatabaseUrl::new("postgres://authenticator:pw@db:5432/postgres");
/// assert_eq!(format!("{url:?}"), "DatabaseUrl(<redacted>)");
/// assert!(url.expose().starts_with("postgres://"));
/// ```
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(zeroize::Zeroizing<String>);

#[cfg(feature = "postgres")]
impl DatabaseUrl {
    /// Wraps a URL.
    ///
    /// # Examples
    ///
    /// ```
    /// let url = supagate::config::DatabaseUrl::new("postgres://postgres:pw@127.0.0.1:54322/postgres");
    /// assert!(!format!("{url:?}").contains("pw"));
    /// ```
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        DatabaseUrl(zeroize::Zeroizing::new(url.into()))
    }

    /// The URL, to connect with. Never log it.
    ///
    /// # Examples
    ///
    /// ```
    /// let url = supagate::config::DatabaseUrl::new("postgres://postgres@127.0.0.1:54322/postgres");
    /// assert_eq!(url.expose(), "postgres://postgres@127.0.0.1:54322/postgres");
    /// ```
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(feature = "postgres")]
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DatabaseUrl(<redacted>)")
    }
}

/// The database's settings (feature `postgres`), when `DATABASE_URL` is set.
///
/// # Examples
///
/// ```
/// use supagate::{Config, Variables};
/// use supagate::config::SessionCheck;
///
/// let config = Config::from_variables(Variables::from_pairs([
///     ("SUPABASE_URL", "http://127.0.0.1:54321"),
///     ("SUPABASE_JWT_SECRET", "super-secret-jwt-token-with-at-least-32-characters-long"),
///     ("DATABASE_URL", "postgres://authenticator:pw@127.0.0.1:54322/postgres"),
///     ("SESSION_CHECK", "off"),
/// ]))?;
/// let db = config.database()?.expect("DATABASE_URL is set");
/// assert_eq!((db.pool_size, db.session_check), (10, SessionCheck::Off));
/// # Ok::<(), supagate::EnvError>(())
/// ```
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DatabaseSettings {
    /// `DATABASE_URL`: a role that may become `anon` and `authenticated` (Supabase's
    /// `authenticator`, or `postgres`).
    pub url: DatabaseUrl,
    /// `DATABASE_POOL_SIZE` (1 to 1000, default 10).
    pub pool_size: u32,
    /// `SESSION_CHECK` (default `db`).
    pub session_check: SessionCheck,
    /// `SESSION_DATABASE_URL`: a role that may read `auth.sessions` (default: `url`).
    pub session_url: Option<DatabaseUrl>,
    /// `SESSION_TTL_SECS` (0 to 300 s, default 30 s).
    pub session_ttl: Duration,
    /// `SESSION_NOTIFY` (`1` or `0`, default `0`): listen for the sign-out triggers of
    /// [`SESSION_NOTIFY_MIGRATION`](crate::postgres::SESSION_NOTIFY_MIGRATION), so that a
    /// sign-out anywhere is seen here at once
    /// ([`SessionNotifications`](crate::postgres::SessionNotifications)).
    pub session_notify: bool,
    /// `PRE_REQUEST`: a function (`schema.name`) called in every scoped transaction
    /// ([`RlsBuilder::pre_request`](crate::postgres::RlsBuilder::pre_request)).
    pub pre_request: Option<String>,
}

#[cfg(feature = "postgres")]
impl DatabaseSettings {
    fn from_variables(vars: &Variables) -> Result<Option<DatabaseSettings>, EnvError> {
        let Some(url) = vars.get("DATABASE_URL") else {
            return Ok(None);
        };
        let ttl = number(
            vars,
            "SESSION_TTL_SECS",
            30,
            0..=300,
            "set it to seconds, 0 to 300",
        )?;
        Ok(Some(DatabaseSettings {
            url: DatabaseUrl::new(url.trim()),
            pool_size: number(
                vars,
                "DATABASE_POOL_SIZE",
                10,
                1..=1000,
                "set it to 1 to 1000",
            )?,
            session_check: SessionCheck::parse(vars.get("SESSION_CHECK").as_deref())?,
            session_url: vars
                .get("SESSION_DATABASE_URL")
                .map(|u| DatabaseUrl::new(u.trim())),
            session_ttl: Duration::from_secs(u64::from(ttl)),
            session_notify: match vars.get("SESSION_NOTIFY").as_deref().map(str::trim) {
                None | Some("" | "0" | "off" | "false") => false,
                Some("1" | "on" | "true") => true,
                Some(other) => {
                    return Err(EnvError::new(
                        "SESSION_NOTIFY",
                        format!("`{other}` is not 1 or 0"),
                        "set it to 1 to listen for sign-outs (with the session_notify migration applied), or 0",
                    ));
                }
            },
            pre_request: vars
                .get("PRE_REQUEST")
                .map(|f| f.trim().to_owned())
                .filter(|f| !f.is_empty()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: [(&str, &str); 2] = [
        ("SUPABASE_URL", "http://127.0.0.1:54321"),
        (
            "SUPABASE_JWT_SECRET",
            "super-secret-jwt-token-with-at-least-32-characters-long",
        ),
    ];

    fn config(extra: &[(&'static str, &'static str)]) -> Result<Config, EnvError> {
        Config::from_variables(Variables::from_pairs(LOCAL.iter().chain(extra).copied()))
    }

    #[test]
    fn every_error_names_its_variable() {
        for (name, value) in [
            (
                "SUPABASE_PUBLISHABLE_KEY",
                "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz",
            ),
            (
                "SUPABASE_SECRET_KEY",
                "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH",
            ),
            ("SUPABASE_SECRET_KEYS", "[1]"),
            ("SUPAGATE_TOKEN_CACHE", "yes"),
            // A secret key as the legacy anon key, even behind a publishable key.
            (
                "SUPABASE_ANON_KEY",
                "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz",
            ),
        ] {
            let e = config(&[
                (
                    "SUPABASE_PUBLISHABLE_KEYS",
                    r#"{"web":"sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH"}"#,
                ),
                (name, value),
            ])
            .unwrap_err();
            assert_eq!(e.variable(), name, "{e}");
            assert!(!e.to_string().contains("N7UND0"), "{e}");
        }
    }

    #[test]
    #[cfg(feature = "proxy")]
    fn the_proxy_settings_are_checked_when_asked_for() {
        for (name, value, words) in [
            (
                "TRUSTED_PROXIES",
                "127.0.0.1,nginx",
                "`nginx` is not an IP address",
            ),
            ("COOKIE_ENCODE", "cookies", "`cookies` is not"),
            ("RATE_LIMIT_PER_MINUTE", "-1", "`-1` is not a whole number"),
            ("REFRESH_MARGIN_SECS", "86400", "86400 is out of range"),
        ] {
            // A backend that never asks starts.
            let c = config(&[(name, value)]).unwrap_or_else(|e| panic!("{e}"));
            let e = c.proxy().unwrap_err();
            assert_eq!(e.variable(), name, "{e}");
            assert!(e.to_string().contains(words), "{e}");
            let auth = c.authenticator().unwrap().build().unwrap();
            assert_eq!(
                c.sessions_builder(auth).map(|_| ()).unwrap_err().variable(),
                name
            );
        }
    }

    #[test]
    fn debug_shows_no_secret() {
        let c = config(&[(
            "SUPABASE_SECRET_KEY",
            "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz",
        )])
        .unwrap_or_else(|e| panic!("{e}"));
        let shown = format!("{c:?}");
        assert!(!shown.contains("N7UND0"), "{shown}");
        assert!(!shown.contains("super-secret-jwt-token"), "{shown}");
    }

    #[test]
    #[cfg(feature = "proxy")]
    fn a_proxy_needs_its_key_backend_and_origin() {
        let auth = |c: &Config| c.authenticator().unwrap().build().unwrap();
        let c = config(&[]).unwrap_or_else(|e| panic!("{e}"));
        let e = c.sessions_builder(auth(&c)).map(|_| ()).unwrap_err();
        assert_eq!(e.variable(), "SUPABASE_PUBLISHABLE_KEY");
        let key = (
            "SUPABASE_PUBLISHABLE_KEY",
            "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH",
        );
        let c = config(&[key]).unwrap_or_else(|e| panic!("{e}"));
        let e = c.sessions_builder(auth(&c)).map(|_| ()).unwrap_err();
        assert_eq!(e.variable(), "PUBLIC_ORIGIN");
        // A pages-only app needs no backend.
        let c = config(&[key, ("PUBLIC_ORIGIN", "http://127.0.0.1:3000")])
            .unwrap_or_else(|e| panic!("{e}"));
        let sessions = c.sessions_builder(auth(&c)).unwrap().build().unwrap();
        let e = c.proxy_builder(sessions.clone()).map(|_| ()).unwrap_err();
        assert_eq!(e.variable(), "API_URL");
        let c = config(&[
            key,
            ("API_URL", "http://127.0.0.1:8000"),
            ("PUBLIC_ORIGIN", "http://127.0.0.1:3000"),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(c.proxy_builder(sessions).is_ok_and(|b| b.build().is_ok()));
    }

    #[test]
    #[cfg(feature = "postgres")]
    fn database_settings_are_checked_and_redacted() {
        assert!(config(&[]).is_ok_and(|c| c.database().is_ok_and(|d| d.is_none())));
        for (name, value) in [
            ("DATABASE_POOL_SIZE", "0"),
            ("SESSION_TTL_SECS", "301"),
            ("SESSION_CHECK", "maybe"),
            ("SESSION_NOTIFY", "sometimes"),
        ] {
            let c = config(&[("DATABASE_URL", "postgres://u:pw@h/db"), (name, value)])
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(c.database().unwrap_err().variable(), name);
        }
        let c = config(&[("DATABASE_URL", "postgres://u:hunter2@h/db")])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{:?}", c.database()).contains("hunter2"));
        let c = config(&[
            ("DATABASE_URL", "postgres://u:pw@h/db"),
            ("SESSION_NOTIFY", "1"),
            ("PRE_REQUEST", " public.check "),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let db = c
            .database()
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!());
        assert!(db.session_notify);
        assert_eq!(db.pre_request.as_deref(), Some("public.check"));
    }
}
