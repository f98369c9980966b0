//! [`Proxy`]: the frontend proxy as a service on `http` types. It resolves the request's
//! session through its [`Sessions`] (the cookies read, refreshed once per refresh token,
//! verified), forwards to the fixed upstream with the verified bearer, and writes the new
//! cookies back.
// Refusals carry their error and cookie delta by value; boxing them would only add an
// allocation to every refused request.
#![allow(clippy::result_large_err, clippy::large_enum_variant)]

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use supagate_core::RequestError as _;

use bytes::Bytes;
use http::header::{self, CONTENT_LENGTH, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, Scheme};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body::Body;
use http_body_util::BodyExt;
use supagate_auth::AuthError;

use crate::body::{BoxError, Guarded, ProxyBody, full};
use crate::client::Limits;
use crate::decision::{Answer, CookieDelta, Decided, Refused};
use crate::error::ProxyError;
use crate::headers::{HeaderPolicy, Observed, filter_upstream_response_headers, prepare_in_place};
use crate::path::{Routes, fixed_upstream};
use crate::pool::{Pooled, Upstream};
use crate::sessions::{Resolved, Sessions};

mod backend;
mod builder;
mod cors;

pub use backend::{BackendClient, BackendResponse};
pub use builder::ProxyBuilder;
use cors::{add_cors, strip_cors};

/// The frontend proxy: a cheap-to-clone handle (an `Arc` inside) to share across requests.
///
/// For every forwarded request it:
///
/// 1. applies its [`Sessions`]' per-address rate limit (429), answers CORS preflights from
///    allowed origins only, and refuses cross-site unsafe methods
///    ([`CsrfGate`](crate::core::CsrfGate), 403);
/// 2. validates the target and maps it to the fixed upstream origin ([`Routes`], 400/404);
///    absolute-form targets are refused;
/// 3. resolves the session through its [`Sessions`]: the `@supabase/ssr` session cookies
///    read; if the access token expires within the margin (90 s), refreshed once per refresh
///    token across concurrent requests exactly as auth-js does; the access token verified
///    (signature, `exp`, `aud`, `iss`) and admitted by the app's base policy before it leaves;
/// 4. applies the per-user rate limit;
/// 5. forwards with the client's identity headers, hop-by-hop fields and `sb-*` cookies
///    removed and `Authorization: Bearer <token>` set ([`prepare_upstream_headers`](crate::core::prepare_upstream_headers));
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
/// use supagate_auth::Authenticator;
/// use supagate_jwt::{Hs256Secret, Verifier};
/// use supagate_proxy::{Proxy, RateLimit, Sessions};
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
/// .rate_limit(RateLimit::new().per_client_address(600, 60))
/// .build()?;
/// let proxy = Proxy::builder(sessions)
///     .upstream("http://127.0.0.1:8000")
///     .route("/api/", "/")
///     .build()?;
/// # let _ = proxy;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
}

struct Inner {
    sessions: Sessions,
    routes: Option<Routes>,
    headers: HeaderPolicy,
    scheme: Scheme,
    authority: Authority,
    observed: Observed,
    upstream: Upstream,
    behaviour: builder::Behaviour,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Proxy")
            .field("upstream", &format_args!("{}://{}", i.scheme, i.authority))
            .field("routes", &i.routes)
            .field("sessions", &i.sessions)
            .field("require_session", &i.behaviour.require_session)
            .finish_non_exhaustive()
    }
}

const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");
const SEC_FETCH_MODE: HeaderName = HeaderName::from_static("sec-fetch-mode");

impl Proxy {
    /// The sessions this proxy resolves requests with.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(proxy: supagate_proxy::Proxy) {
    /// let sessions = proxy.sessions().clone(); // for the page layer and the sign-in routes
    /// # let _ = sessions;
    /// # }
    /// ```
    #[must_use]
    pub fn sessions(&self) -> &Sessions {
        &self.inner.sessions
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
        self.render(self.try_forward(req, peer, fixed).await)
    }

    /// Decides what to do with a forwarded request; nothing here renders a response.
    async fn try_forward<B>(
        &self,
        req: Request<B>,
        peer: IpAddr,
        fixed: Option<&str>,
    ) -> Result<Decided, Refused>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let i = &*self.inner;
        let sessions = &i.sessions;
        let (parts, body) = req.into_parts();
        let peer = sessions.check_address(&parts.headers, peer)?;
        // TRACE echoes the request (with the bearer we add) back to the page; CONNECT opens a
        // tunnel. Neither is ever forwarded.
        if parts.method == Method::TRACE || parts.method == Method::CONNECT {
            return Err(ProxyError::MethodNotAllowed.into());
        }
        let cors_origin = self.cors_origin(&parts.headers);
        if parts.method == Method::OPTIONS
            && parts
                .headers
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
            && parts.headers.contains_key(header::ORIGIN)
        {
            let headers = self.preflight(cors_origin.as_ref(), &parts.headers)?;
            return Ok(Decided::new(
                Answer::Preflight(headers),
                CookieDelta::none(),
            ));
        }
        sessions.check_csrf(&parts.method, &parts.headers)?;
        // An absolute-form target (`GET http://evil/ HTTP/1.1`) names another authority.
        if parts.uri.scheme().is_some() || parts.uri.authority().is_some() {
            return Err(ProxyError::BadPath {
                reason: "absolute-form target",
            }
            .into());
        }
        let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let path = match fixed {
            Some(p) => fixed_upstream(p, target),
            None => match &i.routes {
                Some(r) => r.upstream_path(target),
                None => Err(ProxyError::NotForwarded),
            },
        }?;
        if let Some(len) = content_length(&parts.headers)
            && len > i.upstream.limits().request_body
        {
            return Err(ProxyError::BodyTooLarge.into());
        }
        let navigation = i.behaviour.anonymous_navigations
            && header_is(&parts.headers, &SEC_FETCH_SITE, "cross-site")
            && header_is(&parts.headers, &SEC_FETCH_MODE, "navigate");
        let resolved = if navigation {
            Resolved::Anonymous
        } else {
            sessions.session(&parts.headers, peer).await?
        };
        let (bearer, claims, delta) = match resolved {
            Resolved::Anonymous if i.behaviour.require_session => {
                return Err(AuthError::MissingCredentials.into());
            }
            Resolved::Anonymous => (None, None, CookieDelta::none()),
            Resolved::Active(a) => (Some(a.bearer), Some(a.sub), a.cookies),
        };
        // Decided: from here every outcome, forwarded or refused, carries the session's cookie
        // delta (a refreshed session's new cookies).
        // One await: the request and the response are made around it, synchronously, so
        // no nested future is moved in between.
        let sent = match self.upstream_request(parts, body, path, bearer, claims, peer) {
            Ok(req) => i.upstream.send(req).await.inspect_err(|e| {
                tracing::warn!(target: "supagate", status = e.status().as_u16(), reason = e.reason(), "upstream call failed");
            }),
            Err(e) => Err(e),
        };
        match sent.and_then(|res| self.upstream_response(res, cors_origin)) {
            Ok(res) => Ok(Decided::new(Answer::Upstream(res), delta)),
            Err(e) => Err(Refused::from(e).with_cookies(delta)),
        }
    }

    /// The upstream request of a forwarded one whose session is settled: the per-user budget
    /// spent, the target, the headers, the bounded body.
    fn upstream_request<B>(
        &self,
        mut parts: http::request::Parts,
        body: B,
        path: String,
        bearer: Option<HeaderValue>,
        claims: Option<uuid::Uuid>,
        peer: IpAddr,
    ) -> Result<Request<ProxyBody>, ProxyError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let i = &*self.inner;
        if let Some(sub) = &claims {
            i.sessions.inner.limiter.check_user(sub)?;
        }
        let uri = self.upstream_uri(path)?;
        prepare_in_place(
            &mut parts.headers,
            &i.headers,
            bearer,
            claims.as_ref(),
            &i.observed.with_client(peer),
        );
        let limits = i.upstream.limits();
        let mut upstream = Request::new(
            Guarded::new(body, limits.request_body, limits.idle_timeout).boxed_unsync(),
        );
        *upstream.method_mut() = parts.method;
        *upstream.uri_mut() = uri;
        *upstream.version_mut() = Version::HTTP_11;
        *upstream.headers_mut() = parts.headers;
        Ok(upstream)
    }

    /// The upstream target of a checked `path` (and query), in origin form (`/path?query`):
    /// the pool dials the origin parsed at start-up and sets `Host`, so only the path is
    /// parsed here.
    pub(crate) fn upstream_uri(&self, path: String) -> Result<Uri, ProxyError> {
        let invalid = || ProxyError::BadPath {
            reason: "invalid target",
        };
        // The whole URI within `http`'s limit, as when it was printed and parsed whole.
        let (scheme, authority) = (&self.inner.scheme, &self.inner.authority);
        if !path.starts_with('/')
            || scheme.as_str().len() + 3 + authority.as_str().len() + path.len() > MAX_URI_LEN
        {
            return Err(invalid());
        }
        Uri::from_maybe_shared(Bytes::from(path)).map_err(|_| invalid())
    }

    /// The upstream's response as the client gets it: hop-by-hop fields and planted auth
    /// cookies removed, CORS the proxy's own, the body bounded.
    fn upstream_response(
        &self,
        res: Response<Pooled>,
        cors_origin: Option<HeaderValue>,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let i = &*self.inner;
        let limits = i.upstream.limits();
        let (mut parts, body) = res.into_parts();
        filter_upstream_response_headers(&mut parts.headers, &i.headers);
        strip_cors(&mut parts.headers);
        if content_length(&parts.headers).is_some_and(|n| n > limits.response_body) {
            return Err(ProxyError::UpstreamUnavailable);
        }
        parts.version = Version::HTTP_11;
        let mut res = Response::from_parts(
            parts,
            Guarded::new(body, limits.response_body, limits.idle_timeout).boxed_unsync(),
        );
        if let Some(origin) = cors_origin {
            add_cors(res.headers_mut(), origin);
        }
        Ok(res)
    }

    /// Renders a decision through the sessions' one renderer.
    pub(crate) fn render(&self, decision: Result<Decided, Refused>) -> Response<ProxyBody> {
        self.inner.sessions.render(decision)
    }
}

/// The longest URI the `http` crate parses (`u16::MAX - 1` bytes).
const MAX_URI_LEN: usize = u16::MAX as usize - 1;

fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

fn header_is(h: &HeaderMap, name: &HeaderName, value: &str) -> bool {
    h.get(name)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(value.as_bytes()))
}
