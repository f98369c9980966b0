//! [`Sessions`]: the user's Supabase session as a component of its own. It resolves a
//! request's session from the `@supabase/ssr` cookies (read, verify, refresh once per refresh
//! token, cache), runs the sign-in / OAuth callback / sign-out flows, guards cookie-authenticated
//! writes against CSRF, spends the auth-call budgets, and decides the cookie changes of a
//! response. The page layers need nothing else; the [`Proxy`](crate::Proxy) forwards with it.
// Refusals carry their error and cookie delta by value; boxing them would only add an
// allocation to every refused request.
#![allow(clippy::result_large_err, clippy::large_enum_variant)]

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use supagate_core::RequestError as _;

use http::header::{self, HeaderMap, HeaderValue};
use http::uri::{Authority, Scheme};
use http::{Method, Response};
use supagate_auth::Authenticator;
use supagate_cookie::{CookieScope, SessionReader, SessionWriter};

use crate::body::{ProxyBody, full};
use crate::client::{AuthAnswer, HttpClient};
use crate::csrf::CsrfGate;
use crate::decision::{Decided, Refused, Why, answer_response, proxy_refusal};
use crate::headers::HeaderPolicy;
use crate::rate::Limiter;
use crate::refresh::{AuthEndpoint, LogoutScope};
use crate::session_cache::SessionCache;
use crate::single_flight::RefreshCoordinator;

mod builder;
pub(crate) mod lifecycle;
mod pages;
mod resolve;

pub use builder::SessionsBuilder;
pub(crate) use pages::accepts_html;
pub use pages::{PageContext, PageCookies, PageSession, SessionUser};
pub(crate) use resolve::{Active, Resolved};

/// The session component: a cheap-to-clone handle (an `Arc` inside) to share across requests.
///
/// Built from the app's own [`Authenticator`] ([`Sessions::builder`]), so that the base
/// policy, realm and refusal body that the app's extractors apply are the ones its pages and
/// its proxy apply, and its session liveness the one its pages apply (a forwarded call is
/// checked by the backend that serves it): there is one cookie-to-user pipeline. A cookie session
/// is always a first-party user session besides: a token the app's base policy allows for its
/// API (`allow_oauth_clients`, `allow_postgres_roles`) is still refused (403) as a session,
/// so a third-party OAuth client cannot drive the app's pages and forms with its token.
///
/// Build one per app and share it (the pages, the sign-in routes and the proxy): the rate
/// limits, the refresh single-flight and the session cache live in it, and two copies would
/// each keep their own.
///
/// What it owns:
///
/// - resolving a request's session ([`Sessions::page_session`], and the
///   [`Proxy`](crate::Proxy) for forwarded calls): the session cookies read (chunks, `base64-`,
///   tokens-only), the access token verified, refreshed once per refresh token across
///   concurrent requests when it expires within the margin (90 s), the exact cookie jar cached;
/// - the flows that write or clear the cookies: [`Sessions::sign_in`],
///   [`Sessions::callback`], [`Sessions::start_oauth`], [`Sessions::sign_out`];
/// - the CSRF gate of cookie-authenticated writes, the per-address rate limit and the
///   auth-call budgets ([`RateLimit`](crate::RateLimit)): one budget per client, whichever
///   door (page, form, forwarded call) it comes through;
/// - the cookie changes of every response, decided with the answer.
///
/// # Examples
///
/// A pages-only app (no backend to forward to):
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
/// .build()?;
/// # let _ = sessions;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Sessions {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// The app's authenticator: verifier, base policy, refusal rendering, liveness.
    pub(crate) auth: Authenticator,
    /// What every cookie session must be whatever the app's base policy allows for its API:
    /// a first-party user session (Postgres role `authenticated`, no OAuth client).
    pub(crate) first_party: supagate_policy::Policy,
    pub(crate) endpoint: AuthEndpoint,
    pub(crate) reader: SessionReader,
    pub(crate) writer: SessionWriter,
    /// Where a sibling host can plant copies of the session cookie
    /// ([`CookieScope::parent_domains`] of the public host).
    pub(crate) sibling_scopes: Vec<CookieScope>,
    pub(crate) coordinator: RefreshCoordinator<AuthAnswer>,
    pub(crate) cache: Option<SessionCache>,
    /// Names the session cookie family (the cache's key).
    pub(crate) family: HeaderPolicy,
    pub(crate) margin: i64,
    pub(crate) csrf: CsrfGate,
    /// Every allowed origin (the public one first), as header values.
    pub(crate) origins: Vec<HeaderValue>,
    pub(crate) public_origin: String,
    pub(crate) public_scheme: Scheme,
    pub(crate) public_authority: Authority,
    /// The auth server's client (auth calls only).
    pub(crate) client: HttpClient,
    pub(crate) limiter: Limiter,
    pub(crate) trusted_proxies: Vec<IpAddr>,
    pub(crate) logout_scope: LogoutScope,
    /// Where protected pages send a browser without a session.
    pub(crate) sign_in_page: String,
    /// Keys the per-session refresh budget.
    pub(crate) seed: std::hash::RandomState,
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Sessions")
            .field("auth_server", &i.endpoint)
            .field("public_origin", &i.public_origin)
            .field("cookie", &i.writer.name())
            .field("rate_limits", &i.limiter)
            .field("trusted_proxies", &i.trusted_proxies)
            .field("sign_in_page", &i.sign_in_page)
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

impl Sessions {
    /// The app's authenticator these sessions verify and admit with.
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
    /// let auth = Authenticator::builder(verifier).realm("example").build()?;
    /// let sessions = Sessions::builder("https://abcdefghijklmnopqrst.supabase.co", "anon", auth)
    ///     .public_origin("https://app.example.com")
    ///     .build()?;
    /// assert!(sessions.authenticator().session_liveness().is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn authenticator(&self) -> &Authenticator {
        &self.inner.auth
    }

    /// The client address of a request from `peer`, applies the per-address rate limit to it
    /// and returns it.
    pub(crate) fn check_address(
        &self,
        headers: &HeaderMap,
        peer: IpAddr,
    ) -> Result<IpAddr, Refused> {
        let client = client_address(&self.inner.trusted_proxies, headers, peer);
        self.inner.limiter.check_address(client)?;
        Ok(client)
    }

    /// The CSRF gate of cookie-authenticated writes.
    pub(crate) fn check_csrf(&self, method: &Method, headers: &HeaderMap) -> Result<(), Refused> {
        Ok(self.inner.csrf.check(method, headers)?)
    }

    /// The one place a decision becomes a response: the answer or the refusal, then its
    /// cookie delta (with the anti-caching headers when it sets anything).
    pub(crate) fn render(&self, decision: Result<Decided, Refused>) -> Response<ProxyBody> {
        let (mut res, cookies) = match decision {
            Ok(d) => (answer_response(d.answer), d.cookies),
            Err(r) => {
                let mut res = match &r.why {
                    Why::Proxy(e) => {
                        tracing::debug!(target: "supagate", status = e.status().as_u16(), reason = e.reason(), "request refused");
                        proxy_refusal(e)
                    }
                    // RFC 6750 (401/403/503, `WWW-Authenticate`), as the app's extractors
                    // answer: the same authenticator renders it.
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

    #[test]
    fn log_codes_are_short_and_plain() {
        assert_eq!(
            safe_code("refresh_token_not_found"),
            "refresh_token_not_found"
        );
        assert_eq!(safe_code("Bad Code"), "other");
        assert_eq!(safe_code(&"a".repeat(65)), "other");
    }
}
