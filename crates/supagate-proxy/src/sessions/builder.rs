//! [`SessionsBuilder`]: the session component's configuration, checked once by `build()`.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::header::HeaderValue;
use http::uri::Scheme;
use supagate_auth::Authenticator;
use supagate_cookie::{CookieName, CookieOptions, CookieScope, SessionReader, SessionWriter};
use supagate_jwt::{IntoProject, Origin, SupabaseProject};

use super::{Inner, Sessions};
use crate::client::{HttpClient, Limits};
use crate::csrf::CsrfGate;
use crate::error::ProxyConfigError;
use crate::headers::HeaderPolicy;
use crate::rate::{Limiter, RateLimit};
use crate::refresh::{AuthEndpoint, LogoutScope};
use crate::session_cache::SessionCache;
use crate::single_flight::{DEFAULT_REUSE_WINDOW, RefreshCoordinator};

impl Sessions {
    /// The sign-in page protected pages send a browser to when no sign-in page is set.
    pub const DEFAULT_SIGN_IN_PAGE: &'static str = "/sign-in";

    /// How long a resolved session is remembered by default
    /// ([`SessionsBuilder::session_cache`]).
    pub const DEFAULT_SESSION_CACHE: Duration = Duration::from_secs(60);

    /// Starts configuring the sessions of the project at `supabase_url`, calling its auth
    /// server with its anon or publishable key (`apikey`), and verifying and admitting every
    /// session with the app's `authenticator` (its verifier, base policy, realm, refusal
    /// body and session liveness).
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::Authenticator;
    /// use supagate_jwt::{Hs256Secret, Verifier};
    /// use supagate_proxy::Sessions;
    ///
    /// let verifier = Verifier::from_supabase_url("https://abcdefghijklmnopqrst.supabase.co")
    ///     .hs256_secret(Hs256Secret::new("an-example-secret-of-at-least-32-bytes")?)
    ///     .build()?;
    /// let sessions = Sessions::builder(
    ///     "https://abcdefghijklmnopqrst.supabase.co",
    ///     "sb_publishable_example",
    ///     Authenticator::new(verifier),
    /// )
    /// .public_origin("https://app.example.com")
    /// .sign_in_page("/login")
    /// .build()?;
    /// # let _ = sessions;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn builder(
        project: impl IntoProject,
        api_key: impl Into<String>,
        authenticator: Authenticator,
    ) -> SessionsBuilder {
        SessionsBuilder {
            project: project.into_project(),
            api_key: api_key.into(),
            auth: authenticator,
            public_origin: None,
            origins: Vec::new(),
            same_site: false,
            cookie_name: None,
            cookie_options: CookieOptions::default(),
            tokens_only: false,
            limits: Limits::default(),
            rate: RateLimit::default(),
            margin: crate::refresh::DEFAULT_REFRESH_MARGIN,
            reuse_window: DEFAULT_REUSE_WINDOW,
            session_cache: Sessions::DEFAULT_SESSION_CACHE,
            trusted_proxies: Vec::new(),
            logout_scope: LogoutScope::default(),
            sign_in_page: None,
            secret_key: None,
        }
    }
}

/// Configures [`Sessions`]; made by [`Sessions::builder`]. The setters only record (any
/// order; the last call wins, `allowed_origins` adds up); [`build`](SessionsBuilder::build)
/// checks everything once.
pub struct SessionsBuilder {
    project: Result<SupabaseProject, supagate_jwt::UrlError>,
    api_key: String,
    auth: Authenticator,
    public_origin: Option<String>,
    origins: Vec<String>,
    same_site: bool,
    cookie_name: Option<CookieName>,
    cookie_options: CookieOptions,
    tokens_only: bool,
    limits: Limits,
    rate: RateLimit,
    margin: Duration,
    reuse_window: Duration,
    session_cache: Duration,
    trusted_proxies: Vec<IpAddr>,
    logout_scope: LogoutScope,
    sign_in_page: Option<String>,
    secret_key: Option<supagate_auth::SecretKey>,
}

impl fmt::Debug for SessionsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionsBuilder")
            .field("supabase_url", &self.project)
            .field("public_origin", &self.public_origin)
            .field("allowed_origins", &self.origins)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("sign_in_page", &self.sign_in_page)
            .finish_non_exhaustive()
    }
}

impl SessionsBuilder {
    /// The origin browsers use to reach the app (`https://app.example.com`): an allowed
    /// origin for CSRF, the host whose parent domains a sibling could plant cookies at, and
    /// (for the [`Proxy`](crate::Proxy)) the forwarding headers' host and protocol. Required.
    #[must_use]
    pub fn public_origin(mut self, origin: impl Into<String>) -> Self {
        self.public_origin = Some(origin.into());
        self
    }

    /// Other origins allowed to make unsafe requests (CSRF) and, through the proxy,
    /// credentialed cross-origin requests (CORS, exact match, never reflected). Default: only
    /// the public origin.
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

    /// Attributes of the cookies written. Default: `Path=/; HttpOnly; Secure; SameSite=Lax`,
    /// 400 days.
    #[must_use]
    pub fn cookie_options(mut self, options: CookieOptions) -> Self {
        self.cookie_options = options;
        self
    }

    /// Writes sessions as `@supabase/ssr`'s `cookies.encode: "tokens-only"` does: without the
    /// `user` object (about half the cookie; a session with a large access token needs fewer
    /// chunks). The user of a page comes from the verified access token either way. Default:
    /// off (the whole session, as `@supabase/ssr` writes by default); cookies of either kind
    /// are read.
    #[must_use]
    pub fn tokens_only_cookies(mut self, yes: bool) -> Self {
        self.tokens_only = yes;
        self
    }

    /// Limits of the calls to the auth server (`connect_timeout`, `auth_timeout`,
    /// `auth_response_body`) and of the sign-in form (`form_body`). Default:
    /// [`Limits::default`].
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Rate limits: per client address (every request whose session is resolved: pages,
    /// forms, forwarded calls), per user, and the auth-call budgets. Default: none.
    #[must_use]
    pub fn rate_limit(mut self, rate: RateLimit) -> Self {
        self.rate = rate;
        self
    }

    /// The addresses of reverse proxies in front of this service (such as nginx on loopback)
    /// whose `X-Forwarded-For` is believed. Default: none, and the client address is the TCP
    /// peer.
    ///
    /// When a request's TCP peer is one of `addresses`, its client address (for the rate
    /// limits, the auth server's `Sb-Forwarded-For` and the proxy's forwarding headers) is
    /// the **last** entry of its `X-Forwarded-For`: the address that proxy saw. Earlier
    /// entries are whatever the client sent and are ignored; a missing or unparsable value
    /// falls back to the peer. Requests from any other peer never have their
    /// `X-Forwarded-For` read. Configure the proxy in front to set the header (nginx:
    /// `proxy_set_header X-Forwarded-For $remote_addr;`), and never list an address
    /// untrusted clients can connect from.
    ///
    /// # Examples
    ///
    /// ```
    /// # use supagate_auth::Authenticator;
    /// # use supagate_jwt::{Hs256Secret, Verifier};
    /// # use supagate_proxy::Sessions;
    /// # let verifier = Verifier::builder()
    /// #     .hs256_secret(Hs256Secret::new("an-example-secret-of-at-least-32-bytes")?)
    /// #     .build()?;
    /// use std::net::{IpAddr, Ipv4Addr};
    ///
    /// let sessions = Sessions::builder("https://abcdefghijklmnopqrst.supabase.co", "anon", Authenticator::new(verifier))
    ///     .public_origin("https://app.example.com")
    ///     .trusted_proxies([IpAddr::V4(Ipv4Addr::LOCALHOST)]) // nginx on the same host
    ///     .build()?;
    /// # let _ = sessions;
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
        self.margin = margin;
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
    /// session cookie jar resolved to, so that repeated requests skip decoding and verifying
    /// it. Only sessions that needed no refresh are kept, and a hit is re-checked against the
    /// refresh margin. The cost: a key removed from the JWK set keeps working here for up to
    /// `ttl` (a backend, which verifies again, is not affected). Default 60 s
    /// ([`Sessions::DEFAULT_SESSION_CACHE`]); `Duration::ZERO` turns it off.
    #[must_use]
    pub fn session_cache(mut self, ttl: Duration) -> Self {
        self.session_cache = ttl;
        self
    }

    /// The scope of sign-out. Default: [`LogoutScope::Global`], as auth-js.
    #[must_use]
    pub fn logout_scope(mut self, scope: LogoutScope) -> Self {
        self.logout_scope = scope;
        self
    }

    /// The sign-in page that protected pages redirect a browser without a session to, with
    /// the page it asked for as `next` (`/sign-in?next=%2Fdashboard`): a local path (no
    /// scheme, no authority, no `..`). Default: [`Sessions::DEFAULT_SIGN_IN_PAGE`].
    #[must_use]
    pub fn sign_in_page(mut self, path: impl Into<String>) -> Self {
        self.sign_in_page = Some(path.into());
        self
    }

    /// A secret key of the project: every call made to the auth server for a client
    /// (refresh, sign-in, code exchange, sign-out) is then sent with it as `apikey` and with
    /// `Sb-Forwarded-For: <the client address>` (the address determined through
    /// [`trusted_proxies`](SessionsBuilder::trusted_proxies)), so that the auth server
    /// rate-limits each client instead of this service's one address (150 token requests per
    /// 5 minutes by default: about 1,800 active users per address with one-hour tokens). The
    /// project must have IP address forwarding enabled (Authentication > Rate Limits). The key
    /// goes to the auth server only: never to a browser, a backend or a log line; a client's
    /// own `Sb-Forwarded-For` is never forwarded anywhere. Default: none.
    ///
    /// # Security
    ///
    /// A call made with a secret key is an admin call to the auth server: Supabase's gateway
    /// turns the key into a `service_role` token, and the auth server then skips its CAPTCHA
    /// check (and any other check it waives for admins) for the sign-ins made here. So with a
    /// secret key the per-address budget of auth calls is always on
    /// ([`RateLimit::auth_calls_per_client_address`]; 30 a minute, bursts of 10, unless you
    /// set another); a project that relies on the auth server's CAPTCHA against credential
    /// stuffing should put its own bot protection in front of the sign-in route, or not give
    /// a secret key here.
    ///
    /// # Examples
    ///
    /// ```
    /// # use supagate_auth::Authenticator;
    /// # use supagate_jwt::{Hs256Secret, Verifier};
    /// # use supagate_proxy::Sessions;
    /// # let verifier = Verifier::builder()
    /// #     .hs256_secret(Hs256Secret::new("an-example-secret-of-at-least-32-bytes")?)
    /// #     .build()?;
    /// use supagate_auth::SecretKey;
    ///
    /// let sessions = Sessions::builder("https://abcdefghijklmnopqrst.supabase.co", "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH", Authenticator::new(verifier))
    ///     .secret_key(SecretKey::parse("sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz")?)
    ///     .public_origin("https://app.example.com")
    ///     .build()?;
    /// assert!(!format!("{sessions:?}").contains("N7UND0"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn secret_key(mut self, key: supagate_auth::SecretKey) -> Self {
        self.secret_key = Some(key);
        self
    }

    /// Builds the sessions.
    ///
    /// # Errors
    ///
    /// [`ProxyConfigError`] naming the unusable setting.
    pub fn build(self) -> Result<Sessions, ProxyConfigError> {
        let c = self;
        let sign_in_page = c
            .sign_in_page
            .unwrap_or_else(|| Sessions::DEFAULT_SIGN_IN_PAGE.to_owned());
        if super::lifecycle::local_path(&sign_in_page).is_err() || sign_in_page.contains(['?', '#'])
        {
            return Err(ProxyConfigError {
                what: "the sign-in page must be a local path without a query",
            });
        }
        let project = c.project.map_err(|_| ProxyConfigError {
            what: "supabase url must be https://<host>",
        })?;
        if supagate_auth::is_secret_key(&c.api_key) {
            return Err(ProxyConfigError {
                what: "the api key is a secret key: give the publishable (or anon) key, and a secret key only to secret_key()",
            });
        }
        let mut endpoint = AuthEndpoint::new(&project, &c.api_key)?.with_margin(c.margin);
        if let Some(secret) = &c.secret_key {
            endpoint = endpoint.with_secret_key(secret);
        }
        let name = match c.cookie_name {
            Some(n) => n,
            None => CookieName::for_project(&project).map_err(|_| ProxyConfigError {
                what: "cannot derive the cookie name from the supabase url",
            })?,
        };
        let writer = SessionWriter::new(name.clone(), c.cookie_options)
            .map_err(|_| ProxyConfigError {
                what: "cookie options",
            })?
            .with_tokens_only(c.tokens_only);
        let public = c.public_origin.ok_or(ProxyConfigError {
            what: "public origin is required",
        })?;
        let public_origin =
            Origin::parse(public.trim_end_matches('/')).map_err(|_| ProxyConfigError {
                what: "public origin must be https://host[:port] (http only on a loopback host)",
            })?;
        let public_scheme = if public_origin.is_https() {
            Scheme::HTTPS
        } else {
            Scheme::HTTP
        };
        let public_authority = public_origin
            .authority()
            .parse()
            .map_err(|_| ProxyConfigError {
                what: "public origin must be https://host[:port] (http only on a loopback host)",
            })?;
        let public = public_origin.as_str().to_owned();
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
        let client = HttpClient::new(Arc::new(c.limits))?;
        Ok(Sessions {
            inner: Arc::new(Inner {
                auth: c.auth,
                first_party: supagate_policy::Policy::authenticated().allow_anonymous(),
                endpoint,
                reader: SessionReader::new(name.clone()),
                writer,
                sibling_scopes: CookieScope::parent_domains(public_origin.authority()),
                coordinator: RefreshCoordinator::with_reuse_window(c.reuse_window),
                cache: SessionCache::new(c.session_cache),
                family: HeaderPolicy::default().session_cookie(name),
                margin: i64::try_from(c.margin.as_secs()).unwrap_or(i64::MAX),
                csrf,
                origins: origin_values,
                public_origin: public,
                public_scheme,
                public_authority,
                client,
                limiter: Limiter::new(if c.secret_key.is_some() {
                    c.rate.with_auth_calls_or_default()
                } else {
                    c.rate
                }),
                trusted_proxies: c.trusted_proxies,
                logout_scope: c.logout_scope,
                sign_in_page,
                seed: std::hash::RandomState::new(),
            }),
        })
    }
}
