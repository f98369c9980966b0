//! [`ProxyBuilder`]: the proxy's configuration, checked once by `build()`.

use super::*;

impl Proxy {
    /// Starts configuring a proxy for the project at `supabase_url` with its anon or
    /// publishable key (sent to the auth server as `apikey`), verifying access tokens with
    /// `verifier`.
    #[must_use]
    pub fn builder(
        project: impl IntoProject,
        api_key: impl Into<String>,
        verifier: Verifier,
    ) -> ProxyBuilder {
        ProxyBuilder {
            supabase_url: project.into_project(),
            api_key: api_key.into(),
            verifier,
            upstream: None,
            routes: Vec::new(),
            public_origin: None,
            origins: Vec::new(),
            same_site: false,
            cookie_name: None,
            cookie_options: CookieOptions::default(),
            headers: HeaderPolicy::default(),
            limits: Limits::default(),
            rate: RateLimit::default(),
            margin: None,
            reuse_window: DEFAULT_REUSE_WINDOW,
            session_cache: Duration::from_secs(60),
            require_session: false,
            anonymous_navigations: false,
            logout_scope: LogoutScope::default(),
            trusted_proxies: Vec::new(),
        }
    }
}

/// Configures a [`Proxy`]; made by [`Proxy::builder`].
pub struct ProxyBuilder {
    supabase_url: Result<SupabaseProject, ConfigError>,
    api_key: String,
    verifier: Verifier,
    upstream: Option<String>,
    routes: Vec<(String, String)>,
    public_origin: Option<String>,
    origins: Vec<String>,
    same_site: bool,
    cookie_name: Option<CookieName>,
    cookie_options: CookieOptions,
    headers: HeaderPolicy,
    limits: Limits,
    rate: RateLimit,
    margin: Option<Duration>,
    reuse_window: Duration,
    session_cache: Duration,
    require_session: bool,
    anonymous_navigations: bool,
    logout_scope: LogoutScope,
    trusted_proxies: Vec<IpAddr>,
}

impl fmt::Debug for ProxyBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyBuilder")
            .field("supabase_url", &self.supabase_url)
            .field("upstream", &self.upstream)
            .field("routes", &self.routes)
            .field("public_origin", &self.public_origin)
            .finish_non_exhaustive()
    }
}

impl ProxyBuilder {
    /// The backend origin, `http(s)://host[:port]` without a path. Required.
    #[must_use]
    pub fn upstream(mut self, origin: impl Into<String>) -> Self {
        self.upstream = Some(origin.into());
        self
    }

    /// Forwards requests under `incoming` (such as `/api/`) to `upstream` (such as `/`) on the
    /// upstream origin; see [`Routes`]. Needed for [`Proxy::forward`];
    /// [`Proxy::forward_to`] names its upstream path itself.
    #[must_use]
    pub fn route(mut self, incoming: impl Into<String>, upstream: impl Into<String>) -> Self {
        self.routes.push((incoming.into(), upstream.into()));
        self
    }

    /// The origin browsers use to reach the proxy (`https://app.example.com`): the forwarding
    /// headers' host and protocol, and an allowed origin for CSRF. Required.
    #[must_use]
    pub fn public_origin(mut self, origin: impl Into<String>) -> Self {
        self.public_origin = Some(origin.into());
        self
    }

    /// Other origins allowed to make unsafe requests (CSRF) and credentialed cross-origin
    /// requests (CORS, exact match, never reflected). Default: only the public origin.
    #[must_use]
    pub fn allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.origins.extend(origins.into_iter().map(Into::into));
        self
    }

    /// Also accepts `Sec-Fetch-Site: same-site` for unsafe methods (sibling subdomains).
    /// Default: off.
    #[must_use]
    pub fn allow_same_site(mut self, yes: bool) -> Self {
        self.same_site = yes;
        self
    }

    /// The session cookie name. Default: `sb-<project-ref>-auth-token` from the Supabase URL,
    /// as `@supabase/ssr` names it.
    #[must_use]
    pub fn cookie_name(mut self, name: CookieName) -> Self {
        self.cookie_name = Some(name);
        self
    }

    /// Attributes of the cookies the proxy writes. Default: `Path=/; HttpOnly; Secure;
    /// SameSite=Lax`, 400 days.
    #[must_use]
    pub fn cookie_options(mut self, options: CookieOptions) -> Self {
        self.cookie_options = options;
        self
    }

    /// Which client headers are removed, and whether `X-User-Id` is added.
    #[must_use]
    pub fn header_policy(mut self, policy: HeaderPolicy) -> Self {
        self.headers = policy;
        self
    }

    /// Size and time limits. Default: [`Limits::default`].
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Rate limits. Default: none.
    #[must_use]
    pub fn rate_limit(mut self, rate: RateLimit) -> Self {
        self.rate = rate;
        self
    }

    /// The addresses of reverse proxies in front of this one (such as nginx on loopback)
    /// whose `X-Forwarded-For` is believed. Default: none, and the client address is the TCP
    /// peer.
    ///
    /// When a request's TCP peer is one of `addresses`, its client address (for the
    /// per-address rate limit and the forwarding headers sent upstream) is the **last** entry
    /// of its `X-Forwarded-For`: the address that proxy saw. Earlier entries are whatever the
    /// client sent and are ignored; a missing or unparsable value falls back to the peer.
    /// Requests from any other peer never have their `X-Forwarded-For` read. Configure the
    /// proxy in front to set the header (nginx: `proxy_set_header X-Forwarded-For
    /// $remote_addr;`), and never list an address untrusted clients can connect from.
    ///
    /// # Examples
    ///
    /// ```
    /// # use supagate_jwt::{Hs256Secret, Verifier};
    /// # use supagate_proxy::Proxy;
    /// # let verifier = Verifier::builder()
    /// #     .hs256_secret(Hs256Secret::new("an-example-secret-of-at-least-32-bytes")?)
    /// #     .build()?;
    /// use std::net::{IpAddr, Ipv4Addr};
    ///
    /// let proxy = Proxy::builder("https://abcdefghijklmnopqrst.supabase.co", "anon", verifier)
    ///     .upstream("http://127.0.0.1:8000")
    ///     .public_origin("https://app.example.com")
    ///     .trusted_proxies([IpAddr::V4(Ipv4Addr::LOCALHOST)]) // nginx on the same host
    ///     .build()?;
    /// # let _ = proxy;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn trusted_proxies(mut self, addresses: impl IntoIterator<Item = IpAddr>) -> Self {
        self.trusted_proxies = addresses.into_iter().collect();
        self
    }

    /// Refreshes sessions expiring within `margin`. Default 90 s (auth-js).
    #[must_use]
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.margin = Some(margin);
        self
    }

    /// How long a finished refresh is reused for requests still carrying the old cookie.
    /// Default 10 s.
    #[must_use]
    pub fn reuse_window(mut self, window: Duration) -> Self {
        self.reuse_window = window;
        self
    }

    /// Remembers, for up to `ttl` (and never past the token's `exp`), which session an exact
    /// `Cookie` header resolved to, so that repeated requests skip decoding and verifying it.
    /// Only sessions that needed no refresh are kept, and a hit is re-checked against the
    /// refresh margin. The cost: a key removed from the JWK set keeps working at the proxy for
    /// up to `ttl` (the backend, which verifies again, is not affected). Default 60 s;
    /// `Duration::ZERO` turns it off.
    #[must_use]
    pub fn session_cache(mut self, ttl: Duration) -> Self {
        self.session_cache = ttl;
        self
    }

    /// Answers 401 (bare `Bearer` challenge) instead of forwarding requests without a session.
    /// Default: off.
    #[must_use]
    pub fn require_session(mut self, yes: bool) -> Self {
        self.require_session = yes;
        self
    }

    /// Forwards top-level cross-site navigations (`Sec-Fetch-Site: cross-site` with
    /// `Sec-Fetch-Mode: navigate`, which `SameSite=Lax` cookies accompany) without the bearer,
    /// so a link on another site cannot make a GET with the user's identity. Default: off (GET
    /// must be safe anyway).
    #[must_use]
    pub fn anonymous_cross_site_navigations(mut self, yes: bool) -> Self {
        self.anonymous_navigations = yes;
        self
    }

    /// The scope of sign-out. Default: [`LogoutScope::Global`], as auth-js.
    #[must_use]
    pub fn logout_scope(mut self, scope: LogoutScope) -> Self {
        self.logout_scope = scope;
        self
    }

    /// Builds the proxy.
    ///
    /// # Errors
    ///
    /// [`ProxyConfigError`](crate::ProxyConfigError) naming the unusable setting.
    pub fn build(self) -> Result<Proxy, crate::ProxyConfigError> {
        let project = self.supabase_url.map_err(|_| ProxyError::InvalidConfig {
            what: "supabase url must be https://<host>",
        })?;
        let mut endpoint = AuthEndpoint::new(&project, &self.api_key)?;
        let margin = self
            .margin
            .unwrap_or(crate::refresh::DEFAULT_REFRESH_MARGIN);
        endpoint = endpoint.with_margin(margin);
        let name = match self.cookie_name {
            Some(n) => n,
            None => CookieName::for_project(&project).map_err(|_| ProxyError::InvalidConfig {
                what: "cannot derive the cookie name from the supabase url",
            })?,
        };
        let headers = self.headers.session_cookie(name.clone());
        let writer = SessionWriter::new(name.clone(), self.cookie_options).map_err(|_| {
            ProxyError::InvalidConfig {
                what: "cookie options",
            }
        })?;
        let (scheme, authority) = parse_origin(
            self.upstream.as_deref().ok_or(ProxyError::InvalidConfig {
                what: "upstream origin is required",
            })?,
            true,
        )
        .ok_or(ProxyError::InvalidConfig {
            what: "upstream must be http(s)://host[:port] without a path",
        })?;
        let public = self.public_origin.ok_or(ProxyError::InvalidConfig {
            what: "public origin is required",
        })?;
        let public = Origin::parse(public.trim_end_matches('/'))
            .map_err(|_| ProxyError::InvalidConfig {
                what: "public origin must be https://host[:port] (http only on a loopback host)",
            })?
            .as_str()
            .to_owned();
        let (public_scheme, public_authority) =
            parse_origin(&public, false).ok_or(ProxyError::InvalidConfig {
                what: "public origin must be https://host[:port] (http only on a loopback host)",
            })?;
        let observed = Observed::new(
            IpAddr::from([0, 0, 0, 0]),
            public_authority.as_str(),
            public_scheme == Scheme::HTTPS,
        )?;
        let mut origins = vec![public.clone()];
        for o in self.origins {
            let o = Origin::parse(o.trim_end_matches('/'))
                .map_err(|_| ProxyError::InvalidConfig {
                    what: "allowed origins must be scheme://host[:port] (https unless on a loopback host)",
                })?
                .as_str()
                .to_owned();
            if !origins.contains(&o) {
                origins.push(o);
            }
        }
        let csrf = CsrfGate::new(origins.iter().cloned())?.allow_same_site(self.same_site);
        let origin_values = origins
            .iter()
            .map(|o| HeaderValue::from_str(o))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| ProxyError::InvalidConfig {
                what: "allowed origins",
            })?;
        let routes = if self.routes.is_empty() {
            None
        } else {
            Some(Routes::new(self.routes)?)
        };
        let limits = Arc::new(self.limits);
        let client = HttpClient::new(limits)?;
        Ok(Proxy {
            inner: Arc::new(Inner {
                auth: Authenticator::new(self.verifier),
                endpoint,
                reader: SessionReader::new(name),
                writer,
                coordinator: RefreshCoordinator::with_reuse_window(self.reuse_window),
                sessions: SessionCache::new(self.session_cache),
                margin: i64::try_from(margin.as_secs()).unwrap_or(i64::MAX),
                routes,
                csrf,
                origins: origin_values,
                public_origin: public,
                headers,
                scheme,
                authority,
                observed,
                client,
                limiter: Limiter::new(self.rate),
                require_session: self.require_session,
                anonymous_navigations: self.anonymous_navigations,
                logout_scope: self.logout_scope,
                trusted_proxies: self.trusted_proxies,
                seed: std::hash::RandomState::new(),
            }),
        })
    }
}

/// `scheme://host[:port]` through the crate family's one URL parser ([`Origin`]); `internal`
/// allows `http` on any host (the upstream).
pub(super) fn parse_origin(origin: &str, internal: bool) -> Option<(Scheme, Authority)> {
    let origin = origin.trim_end_matches('/');
    let origin = if internal {
        Origin::parse_internal(origin)
    } else {
        Origin::parse(origin)
    }
    .ok()?;
    let scheme = if origin.is_https() {
        Scheme::HTTPS
    } else {
        Scheme::HTTP
    };
    Some((scheme, origin.authority().parse().ok()?))
}
