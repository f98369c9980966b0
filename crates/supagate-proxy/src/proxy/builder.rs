//! [`ProxyBuilder`]: the proxy's configuration, checked once by `build()`.

use super::*;
use crate::error::ProxyConfigError;

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
            config: Config {
                project: project.into_project(),
                api_key: api_key.into(),
                verifier,
                upstream: None,
                routes: Vec::new(),
                public_origin: None,
                origins: Vec::new(),
                same_site: false,
                cookie_name: None,
                cookie_options: CookieOptions::default(),
                tokens_only: false,
                headers: HeaderPolicy::default(),
                limits: Limits::default(),
                rate: RateLimit::default(),
                margin: crate::refresh::DEFAULT_REFRESH_MARGIN,
                reuse_window: DEFAULT_REUSE_WINDOW,
                session_cache: Duration::from_secs(60),
                behaviour: Behaviour::default(),
                liveness: None,
                secret_key: None,
            },
        }
    }
}

/// Configures a [`Proxy`]; made by [`Proxy::builder`]. The setters only record (any order;
/// the last call wins, `route` and `allowed_origins` add up); [`build`](ProxyBuilder::build)
/// checks everything once.
pub struct ProxyBuilder {
    config: Config,
}

/// Everything the builder records, as given: the one private configuration. `build` turns the
/// textual parts into parsed values and keeps [`Behaviour`] as it is.
struct Config {
    project: Result<SupabaseProject, supagate_jwt::UrlError>,
    api_key: String,
    verifier: Verifier,
    upstream: Option<String>,
    routes: Vec<(String, String)>,
    public_origin: Option<String>,
    origins: Vec<String>,
    same_site: bool,
    cookie_name: Option<CookieName>,
    cookie_options: CookieOptions,
    tokens_only: bool,
    headers: HeaderPolicy,
    limits: Limits,
    rate: RateLimit,
    margin: Duration,
    reuse_window: Duration,
    session_cache: Duration,
    behaviour: Behaviour,
    liveness: Option<supagate_auth::SessionLiveness>,
    secret_key: Option<supagate_auth::SecretKey>,
}

/// The settings the built proxy reads per request exactly as configured (not derived).
#[derive(Debug, Clone, Default)]
pub(super) struct Behaviour {
    pub(super) require_session: bool,
    pub(super) anonymous_navigations: bool,
    pub(super) logout_scope: LogoutScope,
    pub(super) trusted_proxies: Vec<IpAddr>,
    /// Where protected pages send a browser without a session (checked by `build`).
    pub(super) sign_in_page: Option<String>,
}

impl fmt::Debug for ProxyBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("ProxyBuilder")
            .field("supabase_url", &c.project)
            .field("upstream", &c.upstream)
            .field("routes", &c.routes)
            .field("public_origin", &c.public_origin)
            .field("behaviour", &c.behaviour)
            .finish_non_exhaustive()
    }
}

impl ProxyBuilder {
    /// The backend origin, `http(s)://host[:port]` without a path. Required.
    #[must_use]
    pub fn upstream(mut self, origin: impl Into<String>) -> Self {
        self.config.upstream = Some(origin.into());
        self
    }

    /// Forwards requests under `incoming` (such as `/api/`) to `upstream` (such as `/`) on the
    /// upstream origin; see [`Routes`]. Needed for [`Proxy::forward`];
    /// [`Proxy::forward_to`] names its upstream path itself.
    #[must_use]
    pub fn route(mut self, incoming: impl Into<String>, upstream: impl Into<String>) -> Self {
        self.config.routes.push((incoming.into(), upstream.into()));
        self
    }

    /// The origin browsers use to reach the proxy (`https://app.example.com`): the forwarding
    /// headers' host and protocol, and an allowed origin for CSRF. Required.
    #[must_use]
    pub fn public_origin(mut self, origin: impl Into<String>) -> Self {
        self.config.public_origin = Some(origin.into());
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
        self.config
            .origins
            .extend(origins.into_iter().map(Into::into));
        self
    }

    /// Also accepts `Sec-Fetch-Site: same-site` for unsafe methods (sibling subdomains).
    /// Default: off.
    #[must_use]
    pub fn allow_same_site(mut self, yes: bool) -> Self {
        self.config.same_site = yes;
        self
    }

    /// The session cookie name. Default: `sb-<project-ref>-auth-token` from the Supabase URL,
    /// as `@supabase/ssr` names it.
    #[must_use]
    pub fn cookie_name(mut self, name: CookieName) -> Self {
        self.config.cookie_name = Some(name);
        self
    }

    /// Attributes of the cookies the proxy writes. Default: `Path=/; HttpOnly; Secure;
    /// SameSite=Lax`, 400 days.
    #[must_use]
    pub fn cookie_options(mut self, options: CookieOptions) -> Self {
        self.config.cookie_options = options;
        self
    }

    /// Writes sessions as `@supabase/ssr`'s `cookies.encode: "tokens-only"` does: without the
    /// `user` object (about half the cookie; a session with a large access token needs fewer
    /// chunks). The user of a page comes from the verified access token either way. Default:
    /// off (the whole session, as `@supabase/ssr` writes by default); cookies of either kind
    /// are read.
    #[must_use]
    pub fn tokens_only_cookies(mut self, yes: bool) -> Self {
        self.config.tokens_only = yes;
        self
    }

    /// Which client headers are removed, and whether `X-User-Id` is added.
    #[must_use]
    pub fn header_policy(mut self, policy: HeaderPolicy) -> Self {
        self.config.headers = policy;
        self
    }

    /// Size and time limits. Default: [`Limits::default`].
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.config.limits = limits;
        self
    }

    /// Rate limits. Default: none.
    #[must_use]
    pub fn rate_limit(mut self, rate: RateLimit) -> Self {
        self.config.rate = rate;
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
        self.config.behaviour.trusted_proxies = addresses.into_iter().collect();
        self
    }

    /// Refreshes sessions expiring within `margin`. Default 90 s (auth-js).
    #[must_use]
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.config.margin = margin;
        self
    }

    /// How long a finished refresh is reused for requests still carrying the old cookie.
    /// Default 10 s.
    #[must_use]
    pub fn reuse_window(mut self, window: Duration) -> Self {
        self.config.reuse_window = window;
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
        self.config.session_cache = ttl;
        self
    }

    /// Answers 401 (bare `Bearer` challenge) instead of forwarding requests without a session.
    /// Default: off.
    #[must_use]
    pub fn require_session(mut self, yes: bool) -> Self {
        self.config.behaviour.require_session = yes;
        self
    }

    /// Forwards top-level cross-site navigations (`Sec-Fetch-Site: cross-site` with
    /// `Sec-Fetch-Mode: navigate`, which `SameSite=Lax` cookies accompany) without the bearer,
    /// so a link on another site cannot make a GET with the user's identity. Default: off (GET
    /// must be safe anyway).
    #[must_use]
    pub fn anonymous_cross_site_navigations(mut self, yes: bool) -> Self {
        self.config.behaviour.anonymous_navigations = yes;
        self
    }

    /// The scope of sign-out. Default: [`LogoutScope::Global`], as auth-js.
    #[must_use]
    pub fn logout_scope(mut self, scope: LogoutScope) -> Self {
        self.config.behaviour.logout_scope = scope;
        self
    }

    /// The sign-in page that protected pages redirect a browser without a session to, with
    /// the page it asked for as `next` (`/sign-in?next=%2Fdashboard`): a local path (no
    /// scheme, no authority, no `..`). Default: `/sign-in`. See
    /// [`Proxy::page_session`](crate::Proxy::page_session).
    #[must_use]
    pub fn sign_in_page(mut self, path: impl Into<String>) -> Self {
        self.config.behaviour.sign_in_page = Some(path.into());
        self
    }

    /// The session liveness check of an app that is its own backend (its handlers use an
    /// authenticator with the same [`SessionLiveness`](supagate_auth::SessionLiveness)): a
    /// sign-out through this proxy then ends the session there at once (and, for a `global` or
    /// `others` sign-out, the user's other sessions are asked about again), instead of within
    /// the check's ttl. Default: none.
    #[must_use]
    pub fn session_liveness(mut self, liveness: supagate_auth::SessionLiveness) -> Self {
        self.config.liveness = Some(liveness);
        self
    }

    /// A secret key of the project: every call the proxy makes to the auth server for a
    /// client (refresh, sign-in, code exchange, sign-out) is then sent with it as `apikey`
    /// and with `Sb-Forwarded-For: <the client address>` (the address the proxy determines,
    /// through [`trusted_proxies`](ProxyBuilder::trusted_proxies)), so that the auth server
    /// rate-limits each client instead of this proxy's one address (150 token requests per 5
    /// minutes by default: about 1,800 active users per address with one-hour tokens). The
    /// project must have IP address forwarding enabled (Authentication > Rate Limits). The key
    /// goes to the auth server only: never to a browser, the backend or a log line; a client's
    /// own `Sb-Forwarded-For` is never forwarded anywhere. Default: none.
    ///
    /// # Security
    ///
    /// A call made with a secret key is an admin call to the auth server: Supabase's gateway
    /// turns the key into a `service_role` token, and the auth server then skips its CAPTCHA
    /// check (and any other check it waives for admins) for the sign-ins this proxy makes. So
    /// with a secret key the proxy's own per-address budget of auth calls is always on
    /// ([`RateLimit::auth_calls_per_client_address`]; 30 a minute, bursts of 10, unless you
    /// set another); a project that relies on the auth server's CAPTCHA against credential
    /// stuffing should put its own bot protection in front of the sign-in route, or not give
    /// the proxy a secret key.
    ///
    /// # Examples
    ///
    /// ```
    /// # use supagate_jwt::{Hs256Secret, Verifier};
    /// # use supagate_proxy::Proxy;
    /// # let verifier = Verifier::builder()
    /// #     .hs256_secret(Hs256Secret::new("an-example-secret-of-at-least-32-bytes")?)
    /// #     .build()?;
    /// use supagate_auth::SecretKey;
    ///
    /// let proxy = Proxy::builder("https://abcdefghijklmnopqrst.supabase.co", "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH", verifier)
    ///     .secret_key(SecretKey::parse("sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz")?)
    ///     .upstream("http://127.0.0.1:8000")
    ///     .public_origin("https://app.example.com")
    ///     .build()?;
    /// assert!(!format!("{proxy:?}").contains("N7UND0"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn secret_key(mut self, key: supagate_auth::SecretKey) -> Self {
        self.config.secret_key = Some(key);
        self
    }

    /// Builds the proxy.
    ///
    /// # Errors
    ///
    /// [`ProxyConfigError`](crate::ProxyConfigError) naming the unusable setting.
    pub fn build(self) -> Result<Proxy, ProxyConfigError> {
        let mut c = self.config;
        let sign_in = c
            .behaviour
            .sign_in_page
            .get_or_insert_with(|| "/sign-in".to_owned());
        if crate::lifecycle::local_path(sign_in).is_err() || sign_in.contains(['?', '#']) {
            return Err(ProxyConfigError {
                what: "the sign-in page must be a local path without a query",
            });
        }
        let project = c.project.map_err(|_| ProxyConfigError {
            what: "supabase url must be https://<host>",
        })?;
        let margin = c.margin;
        if supagate_auth::is_secret_key(&c.api_key) {
            return Err(ProxyConfigError {
                what: "the api key is a secret key: give the publishable (or anon) key, and a secret key only to secret_key()",
            });
        }
        let mut endpoint = AuthEndpoint::new(&project, &c.api_key)?.with_margin(margin);
        if let Some(secret) = &c.secret_key {
            endpoint = endpoint.with_secret_key(secret);
        }
        let name = match c.cookie_name {
            Some(n) => n,
            None => CookieName::for_project(&project).map_err(|_| ProxyConfigError {
                what: "cannot derive the cookie name from the supabase url",
            })?,
        };
        let headers = c.headers.session_cookie(name.clone());
        let writer = SessionWriter::new(name.clone(), c.cookie_options)
            .map_err(|_| ProxyConfigError {
                what: "cookie options",
            })?
            .with_tokens_only(c.tokens_only);
        let (scheme, authority) = parse_origin(
            c.upstream.as_deref().ok_or(ProxyConfigError {
                what: "upstream origin is required",
            })?,
            true,
        )
        .ok_or(ProxyConfigError {
            what: "upstream must be http(s)://host[:port] without a path",
        })?;
        let public = c.public_origin.ok_or(ProxyConfigError {
            what: "public origin is required",
        })?;
        let public = Origin::parse(public.trim_end_matches('/'))
            .map_err(|_| ProxyConfigError {
                what: "public origin must be https://host[:port] (http only on a loopback host)",
            })?
            .as_str()
            .to_owned();
        let (public_scheme, public_authority) =
            parse_origin(&public, false).ok_or(ProxyConfigError {
                what: "public origin must be https://host[:port] (http only on a loopback host)",
            })?;
        let observed = Observed::new(
            IpAddr::from([0, 0, 0, 0]),
            public_authority.as_str(),
            public_scheme == Scheme::HTTPS,
        )?;
        let mut origins = vec![public.clone()];
        for o in c.origins {
            let o = Origin::parse(o.trim_end_matches('/'))
                .map_err(|_| ProxyConfigError {
                    what: "allowed origins must be scheme://host[:port] (https unless on a loopback host)",
                })?
                .as_str()
                .to_owned();
            if !origins.contains(&o) {
                origins.push(o);
            }
        }
        let csrf = CsrfGate::new(origins.iter().cloned())?.allow_same_site(c.same_site);
        let origin_values = origins
            .iter()
            .map(|o| HeaderValue::from_str(o))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| ProxyConfigError {
                what: "allowed origins",
            })?;
        let routes = if c.routes.is_empty() {
            None
        } else {
            Some(Routes::new(c.routes)?)
        };
        let limits = Arc::new(c.limits);
        let client = HttpClient::new(limits)?;
        Ok(Proxy {
            inner: Arc::new(Inner {
                auth: match c.liveness {
                    None => Authenticator::new(c.verifier),
                    Some(l) => Authenticator::builder(c.verifier)
                        .session_liveness(l)
                        .build()
                        .map_err(|_| ProxyConfigError {
                            what: "session liveness",
                        })?,
                },
                endpoint,
                reader: SessionReader::new(name),
                writer,
                sibling_scopes: CookieScope::parent_domains(public_authority.as_str()),
                coordinator: RefreshCoordinator::with_reuse_window(c.reuse_window),
                sessions: SessionCache::new(c.session_cache),
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
                limiter: Limiter::new(if c.secret_key.is_some() {
                    c.rate.with_auth_calls_or_default()
                } else {
                    c.rate
                }),
                behaviour: c.behaviour,
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
