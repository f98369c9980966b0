//! [`Proxy`]: the frontend proxy as a service on `http` types. It reads the session from the
//! cookies, refreshes it once per refresh token, forwards to the fixed upstream with the
//! verified bearer, and writes the new cookies back.
// Refusals carry their error and cookie delta by value; boxing them would only add an
// allocation to every refused request.
#![allow(clippy::result_large_err, clippy::large_enum_variant)]

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use supagate_core::RequestError as _;

use bytes::Bytes;
use http::header::{self, CONTENT_LENGTH, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, Scheme};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body::Body;
use http_body_util::BodyExt;
use supagate_auth::{AuthError, Authenticator};
use supagate_cookie::{
    CookieName, CookieOptions, CookieScope, Session, SessionReader, SessionWriter,
};
use supagate_jwt::{IntoProject, Origin, SupabaseProject, Token, Verifier, dangerous};

use crate::body::{BoxError, Guarded, ProxyBody, full};
use crate::client::{AuthAnswer, HttpClient, Limits};
use crate::csrf::CsrfGate;
use crate::decision::{Answer, CookieDelta, Decided, Refused, Why, answer_response, proxy_refusal};
use crate::error::ProxyError;
use crate::headers::{
    HeaderPolicy, Observed, bearer_value, filter_upstream_response_headers, prepare_with_bearer,
};
use crate::path::{Routes, fixed_upstream};
use crate::rate::{AuthCall, Limiter, RateLimit};
use crate::refresh::{AuthEndpoint, LogoutScope, RefreshNeed, RefreshOutcome};
use crate::session_cache::{Hit, SessionCache};
use crate::single_flight::{DEFAULT_REUSE_WINDOW, RefreshCoordinator};

mod builder;
mod cors;
mod pages;
mod session;

pub use builder::ProxyBuilder;
use cors::{add_cors, strip_cors};
pub(crate) use pages::accepts_html;
pub use pages::{
    BackendClient, BackendResponse, PageContext, PageCookies, PageSession, SessionUser,
};
pub(crate) use session::{Active, Resolved};

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
    /// Where a sibling host can plant copies of the session cookie
    /// ([`CookieScope::parent_domains`] of the public host).
    sibling_scopes: Vec<CookieScope>,
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
    behaviour: builder::Behaviour,
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
            .field("require_session", &i.behaviour.require_session)
            .field("trusted_proxies", &i.behaviour.trusted_proxies)
            .finish_non_exhaustive()
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

const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");
const SEC_FETCH_MODE: HeaderName = HeaderName::from_static("sec-fetch-mode");

impl Proxy {
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
        let (parts, body) = req.into_parts();
        let peer = self.check_address(&parts.headers, peer)?;
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
        i.csrf.check(&parts.method, &parts.headers)?;
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
            && len > i.client.limits().request_body
        {
            return Err(ProxyError::BodyTooLarge.into());
        }
        let navigation = i.behaviour.anonymous_navigations
            && header_is(&parts.headers, &SEC_FETCH_SITE, "cross-site")
            && header_is(&parts.headers, &SEC_FETCH_MODE, "navigate");
        let resolved = if navigation {
            Resolved::Anonymous
        } else {
            self.session(&parts.headers, peer).await?
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
        match self
            .send(parts, body, &path, bearer, claims, peer, cors_origin)
            .await
        {
            Ok(res) => Ok(Decided::new(Answer::Upstream(res), delta)),
            Err(e) => Err(Refused::from(e).with_cookies(delta)),
        }
    }

    /// Forwards a request whose session is settled; a refusal is returned, not rendered.
    #[allow(clippy::too_many_arguments)]
    async fn send<B>(
        &self,
        parts: http::request::Parts,
        body: B,
        path: &str,
        bearer: Option<HeaderValue>,
        claims: Option<uuid::Uuid>,
        peer: IpAddr,
        cors_origin: Option<HeaderValue>,
    ) -> Result<Response<ProxyBody>, ProxyError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let i = &*self.inner;
        if let Some(sub) = &claims {
            i.limiter.check_user(sub)?;
        }
        let uri: Uri = format!("{}://{}{}", i.scheme, i.authority, path)
            .parse()
            .map_err(|_| ProxyError::BadPath {
                reason: "invalid target",
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
        let res = i.client.upstream(upstream).await.inspect_err(|e| {
            tracing::warn!(target: "supagate", status = e.status().as_u16(), reason = e.reason(), "upstream call failed");
        })?;
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

    /// The client address of a request from `peer`, applies the per-address rate limit to it
    /// and returns it.
    pub(crate) fn check_address(
        &self,
        headers: &HeaderMap,
        peer: IpAddr,
    ) -> Result<IpAddr, Refused> {
        let client = client_address(&self.inner.behaviour.trusted_proxies, headers, peer);
        self.inner.limiter.check_address(client)?;
        Ok(client)
    }

    /// The one place a decision becomes a response: the answer or the refusal, then its
    /// cookie delta (with the anti-caching headers when it sets anything).
    pub(crate) fn render(&self, decision: Result<Decided, Refused>) -> Response<ProxyBody> {
        let (mut res, cookies) = match decision {
            Ok(d) => (answer_response(d.answer), d.cookies),
            Err(r) => {
                let mut res = match &r.why {
                    Why::Proxy(e) => {
                        tracing::debug!(target: "supagate", status = e.status().as_u16(), reason = e.reason(), "request refused by the proxy");
                        proxy_refusal(e)
                    }
                    // RFC 6750 (401/403/503, `WWW-Authenticate`), as the extractors answer.
                    Why::Auth(e) => self.inner.auth.refusal(e).into_response().map(full),
                };
                if let Some(secs) = r.retry_after {
                    res.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                }
                (res, r.cookies)
            }
        };
        cookies.apply(res.headers_mut());
        res
    }

    pub(crate) fn inner_parts(&self) -> Parts<'_> {
        let i = &*self.inner;
        Parts {
            endpoint: &i.endpoint,
            writer: &i.writer,
            client: &i.client,
            verifier: i.auth.verifier(),
            logout_scope: i.behaviour.logout_scope,
            liveness: i.auth.session_liveness(),
            sign_in_page: i.behaviour.sign_in_page.as_deref().unwrap_or("/sign-in"),
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
    /// The authenticator's session liveness, told about sign-outs.
    pub(crate) liveness: Option<&'a supagate_auth::SessionLiveness>,
    /// Where a refused HTML sign-in form goes back to.
    pub(crate) sign_in_page: &'a str,
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
