//! [`ProxyBuilder`]: the proxy's forwarding configuration, checked once by `build()`.

use super::*;
use crate::error::ProxyConfigError;

impl Proxy {
    /// Starts configuring a proxy that forwards with `sessions` (the cookies, refresh, CSRF
    /// gate, rate limits and the app's authenticator all come from there).
    ///
    /// # Examples
    ///
    /// ```
    /// # use supagate_auth::Authenticator;
    /// # use supagate_jwt::{Hs256Secret, Verifier};
    /// use supagate_proxy::{Proxy, Sessions};
    /// # let verifier = Verifier::builder()
    /// #     .hs256_secret(Hs256Secret::new("an-example-secret-of-at-least-32-bytes")?)
    /// #     .build()?;
    /// # let sessions = Sessions::builder("https://abcdefghijklmnopqrst.supabase.co", "anon", Authenticator::new(verifier))
    /// #     .public_origin("https://app.example.com")
    /// #     .build()?;
    /// let proxy = Proxy::builder(sessions)
    ///     .upstream("http://127.0.0.1:8000")
    ///     .route("/api/", "/")
    ///     .build()?;
    /// # let _ = proxy;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn builder(sessions: Sessions) -> ProxyBuilder {
        ProxyBuilder {
            sessions,
            upstream: None,
            routes: Vec::new(),
            headers: HeaderPolicy::default(),
            limits: Limits::default(),
            behaviour: Behaviour::default(),
        }
    }
}

/// Configures a [`Proxy`]; made by [`Proxy::builder`]. The setters only record (any order;
/// the last call wins, `route` adds up); [`build`](ProxyBuilder::build) checks everything once.
pub struct ProxyBuilder {
    sessions: Sessions,
    upstream: Option<String>,
    routes: Vec<(String, String)>,
    headers: HeaderPolicy,
    limits: Limits,
    behaviour: Behaviour,
}

/// The settings the built proxy reads per request exactly as configured (not derived).
#[derive(Debug, Clone, Default)]
pub(super) struct Behaviour {
    pub(super) require_session: bool,
    pub(super) anonymous_navigations: bool,
}

impl fmt::Debug for ProxyBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyBuilder")
            .field("upstream", &self.upstream)
            .field("routes", &self.routes)
            .field("behaviour", &self.behaviour)
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

    /// Which client headers are removed, and whether `X-User-Id` is added. The session
    /// cookie of the [`Sessions`] is always among the cookies removed.
    #[must_use]
    pub fn header_policy(mut self, policy: HeaderPolicy) -> Self {
        self.headers = policy;
        self
    }

    /// Size and time limits of the upstream calls (`connect_timeout`, `upstream_timeout`,
    /// `idle_timeout`, `request_body`, `response_body`). Default: [`Limits::default`].
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Answers 401 (bare `Bearer` challenge) instead of forwarding requests without a session.
    /// Default: off.
    #[must_use]
    pub fn require_session(mut self, yes: bool) -> Self {
        self.behaviour.require_session = yes;
        self
    }

    /// Forwards top-level cross-site navigations (`Sec-Fetch-Site: cross-site` with
    /// `Sec-Fetch-Mode: navigate`, which `SameSite=Lax` cookies accompany) without the bearer,
    /// so a link on another site cannot make a GET with the user's identity. Default: off (GET
    /// must be safe anyway).
    #[must_use]
    pub fn anonymous_cross_site_navigations(mut self, yes: bool) -> Self {
        self.behaviour.anonymous_navigations = yes;
        self
    }

    /// Builds the proxy.
    ///
    /// # Errors
    ///
    /// [`ProxyConfigError`](crate::ProxyConfigError) naming the unusable setting.
    pub fn build(self) -> Result<Proxy, ProxyConfigError> {
        let c = self;
        let s = &c.sessions.inner;
        let headers = c.headers.session_cookie(s.writer.name().clone());
        let (scheme, authority) = parse_origin(c.upstream.as_deref().ok_or(ProxyConfigError {
            what: "upstream origin is required",
        })?)
        .ok_or(ProxyConfigError {
            what: "upstream must be http(s)://host[:port] without a path",
        })?;
        let observed = Observed::new(
            IpAddr::from([0, 0, 0, 0]),
            s.public_authority.as_str(),
            s.public_scheme == Scheme::HTTPS,
        )?;
        let routes = if c.routes.is_empty() {
            None
        } else {
            Some(Routes::new(c.routes)?)
        };
        let upstream = Upstream::new(&scheme, &authority, Arc::new(c.limits))?;
        Ok(Proxy {
            inner: Arc::new(Inner {
                sessions: c.sessions,
                routes,
                headers,
                scheme,
                authority,
                observed,
                upstream,
                behaviour: c.behaviour,
            }),
        })
    }
}

/// `scheme://host[:port]` through the crate family's one URL parser
/// ([`Origin`](supagate_jwt::Origin)), `http` allowed on any host (the upstream).
fn parse_origin(origin: &str) -> Option<(Scheme, Authority)> {
    let origin = supagate_jwt::Origin::parse_internal(origin.trim_end_matches('/')).ok()?;
    let scheme = if origin.is_https() {
        Scheme::HTTPS
    } else {
        Scheme::HTTP
    };
    Some((scheme, origin.authority().parse().ok()?))
}
