//! [`Proxy`]: the frontend proxy as a service on `http` types. It reads the session from the
//! cookies, refreshes it once per refresh token, forwards to the fixed upstream with the
//! verified bearer, and writes the new cookies back.
// Handlers return early with the response to send; boxing it would only add an allocation.
#![allow(clippy::result_large_err, clippy::large_enum_variant)]

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    self, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue,
    LOCATION, SET_COOKIE,
};
use http::uri::{Authority, Scheme};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body::Body;
use http_body_util::BodyExt;
use supagate_auth::{AuthError, Authenticator};
use supagate_cookie::{CookieName, CookieOptions, Session, SessionReader, SessionWriter};
use supagate_jwt::{ConfigError, IntoProject, Origin, SupabaseProject, Token, Verifier, dangerous};

use crate::body::{BoxError, Guarded, ProxyBody, full};
use crate::client::{AuthAnswer, HttpClient, Limits};
use crate::csrf::CsrfGate;
use crate::error::ProxyError;
use crate::headers::{
    HeaderPolicy, Observed, bearer_value, filter_upstream_response_headers, prepare_with_bearer,
};
use crate::path::{Routes, fixed_upstream};
use crate::rate::{AuthCall, Limiter, RateLimit};
use crate::refresh::{AuthEndpoint, LogoutScope, RefreshNeed, RefreshOutcome};
use crate::session_cache::{Hit, SessionCache};
use crate::single_flight::{DEFAULT_REUSE_WINDOW, RefreshCoordinator};

/// The frontend proxy: a cheap-to-clone handle (an `Arc` inside) to share across requests.
///
/// For every forwarded request it:
///
/// 1. applies the per-address rate limit (429), answers CORS preflights from allowed origins
///    only, and refuses cross-site unsafe methods ([`CsrfGate`], 403);
/// 2. validates the target and maps it to the fixed upstream origin ([`Routes`], 400/404);
///    absolute-form targets are refused;
/// 3. reads the `@supabase/ssr` session cookies; if the access token expires within the
///    margin (90 s), refreshes it once per refresh token across concurrent requests
///    ([`RefreshCoordinator`]) exactly as auth-js does ([`AuthEndpoint`]);
/// 4. verifies the access token (signature, `exp`, `aud`, `iss`) before it leaves;
/// 5. forwards with the client's identity headers, hop-by-hop fields and `sb-*` cookies
///    removed and `Authorization: Bearer <token>` set ([`prepare_upstream_headers`](crate::prepare_upstream_headers));
///    redirects are not followed; bodies stream both ways under size and idle limits;
/// 6. passes the response back without `sb-*` `Set-Cookie`s or upstream CORS headers, adding
///    the refreshed session cookies and anti-caching headers when it refreshed.
///
/// Without a session the request is forwarded without credentials (the backend decides),
/// unless [`ProxyBuilder::require_session`] is set. An expired session whose refresh token
/// the auth server refuses is cleared and answered 401; when the auth server is down the
/// cookies stay and the answer is 503 with `Retry-After`.
///
/// # Examples
///
/// ```
/// use supagate_jwt::{Hs256Secret, Verifier};
/// use supagate_proxy::{Proxy, RateLimit};
///
/// let verifier = Verifier::from_supabase_url("https://abcdefghijklmnopqrst.supabase.co")
///     .hs256_secret(Hs256Secret::new("an-example-secret-of-at-least-32-bytes")?)
///     .build()?;
/// let proxy = Proxy::builder(
///     "https://abcdefghijklmnopqrst.supabase.co",
///     "sb_publishable_example",
///     verifier,
/// )
/// .upstream("http://127.0.0.1:8000")
/// .public_origin("https://app.example.com")
/// .route("/api/", "/")
/// .rate_limit(RateLimit::new().per_client_address(600, 60))
/// .build()?;
/// # let _ = proxy;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
}

struct Inner {
    auth: Authenticator,
    endpoint: AuthEndpoint,
    reader: SessionReader,
    writer: SessionWriter,
    coordinator: RefreshCoordinator<AuthAnswer>,
    sessions: Option<SessionCache>,
    margin: i64,
    routes: Option<Routes>,
    csrf: CsrfGate,
    origins: Vec<HeaderValue>,
    public_origin: String,
    headers: HeaderPolicy,
    scheme: Scheme,
    authority: Authority,
    observed: Observed,
    client: HttpClient,
    limiter: Limiter,
    require_session: bool,
    anonymous_navigations: bool,
    logout_scope: LogoutScope,
    trusted_proxies: Vec<IpAddr>,
    /// Keys the per-session refresh budget.
    seed: std::hash::RandomState,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Proxy")
            .field("auth_server", &i.endpoint)
            .field("upstream", &format_args!("{}://{}", i.scheme, i.authority))
            .field("routes", &i.routes)
            .field("public_origin", &i.public_origin)
            .field("cookie", &i.writer.name())
            .field("rate_limits", &i.limiter)
            .field("require_session", &i.require_session)
            .field("trusted_proxies", &i.trusted_proxies)
            .finish_non_exhaustive()
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

/// The last `X-Forwarded-For` entry when `peer` is a trusted proxy, else `peer`.
fn client_address(trusted: &[IpAddr], headers: &HeaderMap, peer: IpAddr) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|last| last.trim().parse().ok())
        .unwrap_or(peer)
}

/// `scheme://host[:port]` through the crate family's one URL parser ([`Origin`]); `internal`
/// allows `http` on any host (the upstream).
fn parse_origin(origin: &str, internal: bool) -> Option<(Scheme, Authority)> {
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

/// A session ready to be forwarded with.
pub(crate) struct Active {
    /// `Bearer <access token>`, sensitive, built once per session.
    pub(crate) bearer: HeaderValue,
    pub(crate) sub: uuid::Uuid,
    /// `Set-Cookie` values of a refreshed session (empty when not refreshed).
    pub(crate) set_cookies: Vec<HeaderValue>,
}

pub(crate) enum Resolved {
    Anonymous,
    Active(Active),
}

/// What a refresh attempt came to.
enum Refreshing {
    Answered(Arc<AuthAnswer>),
    /// The client's auth-call budget is spent: nothing was sent.
    OverBudget(ProxyError),
}

/// The auth server's `Retry-After` in seconds (1 s to 1 h), when it sent a number.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(|s| s.clamp(1, 3600))
}

const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");
const SEC_FETCH_MODE: HeaderName = HeaderName::from_static("sec-fetch-mode");

impl Active {
    fn new(token: &Token, sub: uuid::Uuid, set_cookies: Vec<HeaderValue>) -> Option<Active> {
        Some(Active {
            bearer: bearer_value(token).ok()?,
            sub,
            set_cookies,
        })
    }

    /// The access token (for the sign-out call).
    pub(crate) fn token(&self) -> Token {
        Token::new(
            self.bearer
                .to_str()
                .unwrap_or_default()
                .strip_prefix("Bearer ")
                .unwrap_or_default(),
        )
    }
}

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

    /// Forwards `req` along the configured [`routes`](ProxyBuilder::route). `peer` is the
    /// TCP peer address (for the forwarding headers and the per-address rate limit).
    pub async fn forward<B>(&self, req: Request<B>, peer: IpAddr) -> Response<ProxyBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.forward_inner(req, peer, None).await
    }

    /// Forwards `req` to the fixed `upstream_path` (such as `/profile/me`), keeping the
    /// request's query.
    pub async fn forward_to<B>(
        &self,
        req: Request<B>,
        peer: IpAddr,
        upstream_path: &str,
    ) -> Response<ProxyBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.forward_inner(req, peer, Some(upstream_path)).await
    }

    async fn forward_inner<B>(
        &self,
        req: Request<B>,
        peer: IpAddr,
        fixed: Option<&str>,
    ) -> Response<ProxyBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        match self.try_forward(req, peer, fixed).await {
            Ok(res) | Err(res) => res,
        }
    }

    async fn try_forward<B>(
        &self,
        req: Request<B>,
        peer: IpAddr,
        fixed: Option<&str>,
    ) -> Result<Response<ProxyBody>, Response<ProxyBody>>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let i = &*self.inner;
        let (parts, body) = req.into_parts();
        let peer = self.check_address(&parts.headers, peer)?;
        // TRACE echoes the request (with the bearer we add) back to the page; CONNECT opens a
        // tunnel. Neither is ever forwarded.
        if parts.method == Method::TRACE || parts.method == Method::CONNECT {
            return Err(self.refuse(&ProxyError::MethodNotAllowed));
        }
        let cors_origin = self.cors_origin(&parts.headers);
        if parts.method == Method::OPTIONS
            && parts
                .headers
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
            && parts.headers.contains_key(header::ORIGIN)
        {
            return Ok(self.preflight(cors_origin.as_ref(), &parts.headers));
        }
        i.csrf
            .check(&parts.method, &parts.headers)
            .map_err(|e| self.refuse(&e))?;
        // An absolute-form target (`GET http://evil/ HTTP/1.1`) names another authority.
        if parts.uri.scheme().is_some() || parts.uri.authority().is_some() {
            return Err(self.refuse(&ProxyError::BadPath {
                reason: "absolute-form target",
            }));
        }
        let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let path = match fixed {
            Some(p) => fixed_upstream(p, target),
            None => match &i.routes {
                Some(r) => r.upstream_path(target),
                None => Err(ProxyError::NotForwarded),
            },
        }
        .map_err(|e| self.refuse(&e))?;
        if let Some(len) = content_length(&parts.headers)
            && len > i.client.limits().request_body
        {
            return Err(self.refuse(&ProxyError::BodyTooLarge));
        }
        let navigation = i.anonymous_navigations
            && header_is(&parts.headers, &SEC_FETCH_SITE, "cross-site")
            && header_is(&parts.headers, &SEC_FETCH_MODE, "navigate");
        let resolved = if navigation {
            Resolved::Anonymous
        } else {
            self.session(&parts.headers, peer).await?
        };
        let (bearer, claims, set_cookies) = match resolved {
            Resolved::Anonymous if i.require_session => {
                return Err(self.auth_refusal(&AuthError::MissingCredentials, Vec::new()));
            }
            Resolved::Anonymous => (None, None, Vec::new()),
            Resolved::Active(a) => (Some(a.bearer), Some(a.sub), a.set_cookies),
        };
        if let Some(sub) = &claims {
            i.limiter
                .check_user(sub)
                .map_err(|e| with_cookies(self.refuse(&e), &set_cookies))?;
        }
        let uri: Uri = format!("{}://{}{}", i.scheme, i.authority, path)
            .parse()
            .map_err(|_| {
                self.refuse(&ProxyError::BadPath {
                    reason: "invalid target",
                })
            })?;
        let headers = prepare_with_bearer(
            &parts.headers,
            &i.headers,
            bearer,
            claims.as_ref(),
            &i.observed.with_client(peer),
        );
        let limits = i.client.limits();
        let mut upstream = Request::new(
            Guarded::new(body, limits.request_body, limits.idle_timeout).boxed_unsync(),
        );
        *upstream.method_mut() = parts.method;
        *upstream.uri_mut() = uri;
        *upstream.version_mut() = Version::HTTP_11;
        *upstream.headers_mut() = headers;
        let res = match i.client.upstream(upstream).await {
            Ok(res) => res,
            Err(e) => {
                tracing::warn!(target: "supagate", status = e.status().as_u16(), reason = e.reason(), "upstream call failed");
                return Err(with_cookies(self.refuse(&e), &set_cookies));
            }
        };
        let (mut parts, body) = res.into_parts();
        filter_upstream_response_headers(&mut parts.headers, &i.headers);
        strip_cors(&mut parts.headers);
        if content_length(&parts.headers).is_some_and(|n| n > limits.response_body) {
            return Err(with_cookies(
                self.refuse(&ProxyError::UpstreamUnavailable),
                &set_cookies,
            ));
        }
        parts.version = Version::HTTP_11;
        let mut res = Response::from_parts(
            parts,
            Guarded::new(body, limits.response_body, limits.idle_timeout).boxed_unsync(),
        );
        if let Some(origin) = cors_origin {
            add_cors(res.headers_mut(), origin);
        }
        Ok(with_cookies(res, &set_cookies))
    }

    /// Resolves the session of a request from `client`: none, a verified (possibly just
    /// refreshed) one, or the refusal to send.
    ///
    /// The auth server is called only for a session whose access token is ours: it verifies
    /// with every check but `exp` (a token whose key left the set is refreshed only within the
    /// per-address budget for unverifiable refreshes). Its transient answers (429, 408, 5xx,
    /// no answer) keep the cookies (503 with `Retry-After`); only its definitive answers about
    /// this session end it.
    pub(crate) async fn session(
        &self,
        headers: &HeaderMap,
        client: IpAddr,
    ) -> Result<Resolved, Response<ProxyBody>> {
        let i = &*self.inner;
        let verifier = i.auth.verifier();
        // One clock: the verifier's (`VerifierBuilder::clock`).
        let now = verifier.now();
        let key = i.sessions.as_ref().and_then(|c| c.key(headers, &i.headers));
        if let (Some(cache), Some(key)) = (&i.sessions, key)
            && let Some(hit) = cache.get(key)
        {
            let fresh = hit
                .expires_at
                .is_some_and(|exp| exp > now.saturating_add(i.margin));
            if fresh {
                return Ok(Resolved::Active(Active {
                    bearer: hit.bearer,
                    sub: hit.sub,
                    set_cookies: Vec::new(),
                }));
            }
        }
        let session = match i.reader.read(headers) {
            Ok(Some(s)) => s,
            Ok(None) => return Ok(Resolved::Anonymous),
            // Cookies that cannot be read as one session say nothing about the user's session:
            // a sibling subdomain can set junk (431 when oversized) or a second copy of the
            // session cookie (ambiguous). Clearing would delete the user's own cookies and
            // leave the planted ones, for ever; only a session that was read and refused is
            // cleared. A new sign-in overwrites whatever is unreadable.
            Err(e) => return Err(self.auth_refusal(&AuthError::Session(e), Vec::new())),
        };
        let token = session.access_token().expose();
        let mut need = i.endpoint.needs_refresh(&session, now);
        if need == RefreshNeed::NotYet {
            match verifier.verify_async(token).await {
                Ok(claims) => {
                    self.admit(&claims)?;
                    let active = self.active(session.access_token(), claims.sub, Vec::new())?;
                    if let (Some(cache), Some(key)) = (&i.sessions, key) {
                        let hit = Hit {
                            bearer: active.bearer.clone(),
                            sub: claims.sub,
                            expires_at: session.expires_at(),
                        };
                        cache.insert(key, hit, claims.exp, now);
                    }
                    return Ok(Resolved::Active(active));
                }
                // `expires_at` and the token disagree: trust the token. A key we do not hold
                // (yet, or any more) cannot be checked now: a refresh brings a token signed
                // with the current key.
                Err(supagate_jwt::Error::Expired | supagate_jwt::Error::UnknownKey) => {
                    need = RefreshNeed::Expired;
                }
                Err(e) => return Err(self.token_refusal(e, headers, Vec::new())),
            }
        }
        // Refresh only what could be a real session.
        let call = match dangerous::verify_allowing_expiry(verifier, token).await {
            Ok(claims) => {
                self.admit(&claims)?;
                AuthCall::Session(self.session_key(&claims))
            }
            // Its key was rotated out of the set: possibly a real session, budgeted.
            Err(supagate_jwt::Error::UnknownKey) => AuthCall::Unverifiable,
            Err(e) => return Err(self.token_refusal(e, headers, Vec::new())),
        };
        let answer = match self.refresh(&session, client, call).await {
            Refreshing::Answered(answer) => answer,
            // Over a budget with a token still valid: forward with it, nothing sent.
            Refreshing::OverBudget(_) if need == RefreshNeed::Proactive => {
                Arc::new(AuthAnswer::none())
            }
            // Over a budget otherwise: nothing was sent, the session is untouched.
            Refreshing::OverBudget(e) => return Err(self.refuse(&e)),
        };
        match i
            .endpoint
            .refresh_outcome(need, answer.status, &answer.body)
        {
            RefreshOutcome::Refreshed(new) => {
                // Written whatever happens next: the old refresh token is spent.
                let set_cookies = i.writer.set(&new, headers).unwrap_or_default();
                tracing::debug!(target: "supagate", "session refreshed");
                match verifier.verify_async(new.access_token().expose()).await {
                    Ok(claims) => {
                        if let Err(e) = i.auth.admits(&claims) {
                            return Err(self.auth_refusal(&e, set_cookies));
                        }
                        Ok(Resolved::Active(self.active(
                            new.access_token(),
                            claims.sub,
                            set_cookies,
                        )?))
                    }
                    Err(e) => Err(self.auth_refusal(&AuthError::Token(e), set_cookies)),
                }
            }
            RefreshOutcome::KeepOld => match verifier.verify_async(token).await {
                Ok(claims) => {
                    self.admit(&claims)?;
                    Ok(Resolved::Active(self.active(
                        session.access_token(),
                        claims.sub,
                        Vec::new(),
                    )?))
                }
                Err(e) => Err(self.token_refusal(e, headers, Vec::new())),
            },
            RefreshOutcome::EndSession { code } => {
                tracing::info!(target: "supagate", code = code.as_deref().map(safe_code), "session ended by the auth server");
                let clear = i.writer.clear(headers).unwrap_or_default();
                Err(self.auth_refusal(&AuthError::SessionEnded, clear))
            }
            _ => {
                tracing::warn!(target: "supagate", status = answer.status.map(|s| s.as_u16()), "refresh not possible now; session kept");
                Err(self.unavailable(retry_after(&answer.headers)))
            }
        }
    }

    /// The authenticator's base policy (Postgres role `authenticated`, no third-party OAuth
    /// client): the proxy forwards only what a bare extractor would admit. 403, cookies kept.
    fn admit(&self, claims: &supagate_jwt::Claims) -> Result<(), Response<ProxyBody>> {
        self.inner
            .auth
            .admits(claims)
            .map_err(|e| self.auth_refusal(&e, Vec::new()))
    }

    /// A keyed hash of a verified token's session (`session_id`, else `sub`), for the
    /// per-session refresh budget.
    fn session_key(&self, claims: &supagate_jwt::Claims) -> u64 {
        use std::hash::BuildHasher;
        match &claims.session_id {
            Some(id) => self.inner.seed.hash_one(id.as_str()),
            None => self.inner.seed.hash_one(claims.sub),
        }
    }

    /// 503 `AuthServerUnavailable`, cookies untouched, with the auth server's `Retry-After`
    /// when it sent one.
    pub(crate) fn unavailable(&self, retry_after: Option<u64>) -> Response<ProxyBody> {
        let mut res = self.auth_refusal(&AuthError::AuthServerUnavailable, Vec::new());
        if let Some(secs) = retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }

    /// Spends one auth-server call of `client`'s budget.
    pub(crate) fn check_auth_call(
        &self,
        client: IpAddr,
        call: AuthCall,
    ) -> Result<(), Response<ProxyBody>> {
        self.inner
            .limiter
            .check_auth_call(client, call)
            .map_err(|e| self.refuse(&e))
    }

    fn active(
        &self,
        token: &Token,
        sub: uuid::Uuid,
        set_cookies: Vec<HeaderValue>,
    ) -> Result<Active, Response<ProxyBody>> {
        Active::new(token, sub, set_cookies.clone()).ok_or_else(|| {
            self.auth_refusal(
                &AuthError::Token(supagate_jwt::Error::Malformed),
                set_cookies,
            )
        })
    }

    /// One refresh per refresh token, shared and briefly reused, run on a task of its own so
    /// that a client going away does not cancel it. A call to the auth server spends
    /// `client`'s budget; joining a refresh already under way spends nothing.
    async fn refresh(&self, session: &Session, client: IpAddr, call: AuthCall) -> Refreshing {
        let i = &*self.inner;
        let token = session.refresh_token();
        let mut over_budget = None;
        let answer = i
            .coordinator
            .run_or(
                token,
                || {
                    if let Err(e) = i.limiter.check_auth_call(client, call) {
                        over_budget = Some(e);
                        return Err(AuthAnswer::none());
                    }
                    let http = i.client.clone();
                    let request = i.endpoint.refresh_request(token);
                    Ok(async move {
                        let answer = http.auth_call(request).await;
                        tracing::debug!(
                            target: "supagate",
                            status = answer.status.map(|s| s.as_u16()),
                            "refresh call answered"
                        );
                        answer
                    })
                },
                |answer| {
                    // Rate limited or timed out reading our request: the token was not spent,
                    // and the next request may try again.
                    !matches!(
                        answer.status,
                        Some(StatusCode::TOO_MANY_REQUESTS | StatusCode::REQUEST_TIMEOUT)
                    )
                },
            )
            .await;
        match (over_budget, answer) {
            (Some(e), _) => Refreshing::OverBudget(e),
            (None, Some(answer)) => Refreshing::Answered(answer),
            // The refresh task died without an answer: as if the auth server had not answered.
            (None, None) => Refreshing::Answered(Arc::new(AuthAnswer::none())),
        }
    }

    fn token_refusal(
        &self,
        e: supagate_jwt::Error,
        headers: &HeaderMap,
        set_cookies: Vec<HeaderValue>,
    ) -> Response<ProxyBody> {
        let mut cookies = set_cookies;
        // A token that will never verify (bad signature, wrong audience) makes the session
        // useless: clear it. A transient failure (keys unavailable, a key not fetched yet)
        // keeps it.
        if !matches!(
            e,
            supagate_jwt::Error::KeysUnavailable | supagate_jwt::Error::UnknownKey
        ) {
            cookies.extend(self.inner.writer.clear(headers).unwrap_or_default());
        }
        self.auth_refusal(&AuthError::Token(e), cookies)
    }

    /// The client address of a request from `peer`, applies the per-address rate limit to it
    /// and returns it.
    pub(crate) fn check_address(
        &self,
        headers: &HeaderMap,
        peer: IpAddr,
    ) -> Result<IpAddr, Response<ProxyBody>> {
        let client = client_address(&self.inner.trusted_proxies, headers, peer);
        self.inner
            .limiter
            .check_address(client)
            .map(|()| client)
            .map_err(|e| self.refuse(&e))
    }

    pub(crate) fn check_csrf(
        &self,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<(), Response<ProxyBody>> {
        self.inner
            .csrf
            .check(method, headers)
            .map_err(|e| self.refuse(&e))
    }

    /// The `Origin` of a request when it is an allowed one other than our own (a credentialed
    /// cross-origin request).
    fn cors_origin(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        let mut all = headers.get_all(header::ORIGIN).iter();
        let (Some(origin), None) = (all.next(), all.next()) else {
            return None;
        };
        let ours = self.inner.public_origin.as_bytes();
        (origin.as_bytes() != ours && self.inner.origins.iter().any(|o| o == origin))
            .then(|| origin.clone())
    }

    fn preflight(&self, origin: Option<&HeaderValue>, headers: &HeaderMap) -> Response<ProxyBody> {
        let Some(origin) = origin else {
            return self.refuse(&ProxyError::CorsRejected);
        };
        let mut res = Response::new(full(Bytes::new()));
        *res.status_mut() = StatusCode::NO_CONTENT;
        let h = res.headers_mut();
        add_cors(h, origin.clone());
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE"),
        );
        // Only plain content headers may be requested; identity headers never.
        const ALLOWED: &[&str] = &[
            "content-type",
            "accept",
            "accept-language",
            "content-language",
            "x-requested-with",
            "if-match",
            "if-none-match",
        ];
        let requested: Vec<&str> = headers
            .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|n| ALLOWED.iter().any(|a| a.eq_ignore_ascii_case(n)))
            .collect();
        if !requested.is_empty()
            && let Ok(v) = HeaderValue::from_str(&requested.join(", "))
        {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        res
    }

    /// A refusal of our own, as JSON, never cached.
    pub(crate) fn refuse(&self, e: &ProxyError) -> Response<ProxyBody> {
        tracing::debug!(target: "supagate", status = e.status().as_u16(), reason = e.reason(), "request refused by the proxy");
        let mut res = Response::new(full(e.body()));
        *res.status_mut() = e.status();
        let h = res.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let ProxyError::RateLimited { retry_after_secs } = e {
            h.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        res
    }

    /// An RFC 6750 refusal (401/503) with `set_cookies` attached.
    pub(crate) fn auth_refusal(
        &self,
        e: &AuthError,
        set_cookies: Vec<HeaderValue>,
    ) -> Response<ProxyBody> {
        let res = self.inner.auth.refusal(e).into_response().map(full);
        with_cookies(res, &set_cookies)
    }

    pub(crate) fn inner_parts(&self) -> Parts<'_> {
        let i = &*self.inner;
        Parts {
            endpoint: &i.endpoint,
            writer: &i.writer,
            client: &i.client,
            verifier: i.auth.verifier(),
            logout_scope: i.logout_scope,
        }
    }
}

/// What the session lifecycle handlers use.
pub(crate) struct Parts<'a> {
    pub(crate) endpoint: &'a AuthEndpoint,
    pub(crate) writer: &'a SessionWriter,
    pub(crate) client: &'a HttpClient,
    pub(crate) verifier: &'a Verifier,
    pub(crate) logout_scope: LogoutScope,
}

/// Adds `Set-Cookie` values, and the anti-caching headers `@supabase/ssr` sends with them.
pub(crate) fn with_cookies(
    mut res: Response<ProxyBody>,
    set_cookies: &[HeaderValue],
) -> Response<ProxyBody> {
    if set_cookies.is_empty() {
        return res;
    }
    let h = res.headers_mut();
    for c in set_cookies {
        h.append(SET_COOKIE, c.clone());
    }
    for (name, value) in supagate_cookie::no_cache_headers() {
        h.insert(name, value);
    }
    res
}

/// A redirect (303 See Other) to a local path.
pub(crate) fn see_other(location: &str) -> Response<ProxyBody> {
    let mut res = Response::new(full(Bytes::new()));
    *res.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(LOCATION, v);
    }
    res
}

fn add_cors(h: &mut HeaderMap, origin: HeaderValue) {
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    h.append(header::VARY, HeaderValue::from_static("Origin"));
}

/// The upstream does not decide who may read responses made with the user's cookies.
fn strip_cors(h: &mut HeaderMap) {
    if !h.keys().any(|n| n.as_str().starts_with("access-control-")) {
        return;
    }
    let names: Vec<HeaderName> = h
        .keys()
        .filter(|n| n.as_str().starts_with("access-control-"))
        .cloned()
        .collect();
    for n in names {
        h.remove(n);
    }
}

fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

fn header_is(h: &HeaderMap, name: &HeaderName, value: &str) -> bool {
    h.get(name)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(value.as_bytes()))
}

/// A GoTrue error code for a log line: only `[a-z0-9_]`, at most 64 characters.
pub(crate) fn safe_code(code: &str) -> &str {
    if code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        code
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn forwarded_for_is_read_only_from_trusted_peers() {
        let nginx: IpAddr = "127.0.0.1".parse().unwrap();
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        let trusted = [nginx];
        // Not trusted (or nothing trusted): the peer, whatever the header says.
        assert_eq!(client_address(&[], &xff(&["198.51.100.1"]), nginx), nginx);
        assert_eq!(
            client_address(&trusted, &xff(&["198.51.100.1"]), client),
            client
        );
        // Trusted: the last entry, the one the trusted proxy appended.
        assert_eq!(
            client_address(&trusted, &xff(&["203.0.113.9"]), nginx),
            client
        );
        assert_eq!(
            client_address(&trusted, &xff(&["6.6.6.6, 203.0.113.9"]), nginx),
            client
        );
        assert_eq!(
            client_address(&trusted, &xff(&["6.6.6.6", " 203.0.113.9 "]), nginx),
            client
        );
        let v6: IpAddr = "2001:db8::7".parse().unwrap();
        assert_eq!(client_address(&trusted, &xff(&["2001:db8::7"]), nginx), v6);
        // Missing or garbage: the peer.
        assert_eq!(client_address(&trusted, &HeaderMap::new(), nginx), nginx);
        assert_eq!(
            client_address(&trusted, &xff(&["203.0.113.9, unknown"]), nginx),
            nginx
        );
        assert_eq!(
            client_address(&trusted, &xff(&["203.0.113.9:443"]), nginx),
            nginx
        );
    }
}
