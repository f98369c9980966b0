//! Sessions for the app's own pages (server-rendered HTML, form posts): the same session
//! pipeline as forwarding (cookie reading, refresh single-flight, verification, base policy,
//! liveness), decided once per request into a [`PageSession`].
#![allow(clippy::result_large_err)]

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode, Uri};
use supagate_auth::AuthError;

use super::lifecycle::local_path;
use super::{Active, Resolved, Sessions};
use crate::body::ProxyBody;
use crate::decision::{Answer, CookieDelta, Refused, Why, answer_response};
use crate::proxy::{BackendClient, Proxy};

/// The signed-in user of a page request: the verified claims of the session's access token,
/// and the token itself for [`BackendClient`] calls (never shown: `Debug` prints the user id
/// only).
///
/// Made by [`Sessions::page_session`]; the adapters' page extractors hand it to handlers.
///
/// # Examples
///
/// ```
/// use supagate_proxy::SessionUser;
///
/// fn greeting(user: &SessionUser) -> String {
///     match user.app_role() {
///         Some(role) => format!("{} ({role})", user.email().unwrap_or("no email")),
///         None => user.email().unwrap_or("no email").to_owned(),
///     }
/// }
/// # let _ = greeting;
/// ```
#[derive(Clone)]
pub struct SessionUser {
    pub(crate) id: uuid::Uuid,
    claims: Arc<supagate_jwt::Claims>,
    /// `Bearer <access token>`, sensitive.
    pub(crate) bearer: HeaderValue,
}

impl fmt::Debug for SessionUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionUser")
            .field("id", &self.id)
            .field("expires_at", &self.claims.exp)
            .finish_non_exhaustive()
    }
}

impl SessionUser {
    /// The user's id (`sub`, a UUID for every Supabase Auth user).
    #[must_use]
    pub fn id(&self) -> uuid::Uuid {
        self.id
    }

    /// The user's email, when the token carries one.
    #[must_use]
    pub fn email(&self) -> Option<&str> {
        self.claims.email.as_deref()
    }

    /// The app role, `app_metadata.role` when it is a string (never the top-level `role`
    /// claim, which is the Postgres role).
    #[must_use]
    pub fn app_role(&self) -> Option<&str> {
        self.claims.app_metadata.get("role")?.as_str()
    }

    /// Whether this is an anonymous sign-in (`is_anonymous`).
    #[must_use]
    pub fn is_anonymous(&self) -> bool {
        self.claims.is_anonymous
    }

    /// Every verified claim of the access token.
    #[must_use]
    pub fn claims(&self) -> &supagate_jwt::Claims {
        &self.claims
    }

    /// When the access token expires (Unix seconds).
    #[must_use]
    pub fn expires_at(&self) -> i64 {
        self.claims.exp
    }
}

/// What [`Sessions::page_session`] decided for one page request: the signed-in user (or none)
/// and the cookie changes the response must carry, or a refusal that answers instead of the
/// page.
///
/// [`PageSession::into_parts`] splits it for a middleware: the [`PageContext`] goes to the
/// handler (request extensions), the [`PageCookies`] onto whatever response comes back.
#[must_use = "a page session carries cookie changes that must reach the response"]
pub struct PageSession {
    context: PageContext,
    refusal: Option<Refused>,
    cookies: CookieDelta,
}

impl fmt::Debug for PageSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PageSession")
            .field("user", &self.context.user)
            .field("refused", &self.refusal.as_ref().map(Refused::status))
            .field("sets_cookies", &!self.cookies.is_empty())
            .finish()
    }
}

impl PageSession {
    /// The signed-in user, if any.
    #[must_use]
    pub fn user(&self) -> Option<&SessionUser> {
        self.context.user.as_ref()
    }

    /// Gives the page's context `proxy`'s upstream as its [backend](PageContext::backend): a
    /// proxy built on these sessions (the page layers' `with_backend(proxy)` take both from
    /// the proxy).
    ///
    /// # Examples
    ///
    /// ```
    /// # async fn page(proxy: supagate_proxy::Proxy, req: http::Request<()>) {
    /// let peer = std::net::IpAddr::from([127, 0, 0, 1]);
    /// let session = proxy.sessions().page_session(req.method(), req.headers(), peer).await;
    /// if let Ok((context, _cookies)) = session.with_backend(&proxy).into_parts() {
    ///     assert!(context.backend().is_some());
    /// }
    /// # }
    /// ```
    pub fn with_backend(mut self, proxy: &Proxy) -> Self {
        self.context.proxy = Some(proxy.clone());
        self
    }

    /// The answer instead of the page, when the request is refused: 403 for a cross-site
    /// form post (the CSRF gate), 429 over a rate limit, 503 with `Retry-After` while the
    /// auth server (or the session store) cannot settle an expired session, 403 for a session
    /// the base policy refuses. `None` when the page runs.
    #[must_use]
    pub fn refusal_status(&self) -> Option<StatusCode> {
        self.refusal.as_ref().map(Refused::status)
    }

    /// The handler's context and the cookies for its response, or the rendered refusal (with
    /// its own cookie changes) when the page must not run.
    ///
    /// # Errors
    ///
    /// The refusal's response, as [`PageSession::refusal_status`] describes.
    pub fn into_parts(self) -> Result<(PageContext, PageCookies), Response<ProxyBody>> {
        let PageSession {
            context,
            refusal,
            cookies,
        } = self;
        if let Some(r) = refusal {
            return Err(context.sessions.render(Err(r.with_cookies(cookies))));
        }
        let signed_in = context.user.is_some();
        let sessions = context.sessions.clone();
        Ok((
            context,
            PageCookies {
                cookies,
                signed_in,
                sessions,
            },
        ))
    }
}

/// The page request's session as its handler sees it: the signed-in user, the sign-in
/// redirect for a protected page, and, when the pages were given a [`Proxy`], the
/// [`BackendClient`]. Cheap to clone (the adapters keep it in the request extensions).
#[derive(Clone)]
pub struct PageContext {
    sessions: Sessions,
    client: IpAddr,
    user: Option<SessionUser>,
    /// The proxy whose upstream [`PageContext::backend`] calls, when there is one.
    proxy: Option<Proxy>,
}

impl fmt::Debug for PageContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PageContext")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl PageContext {
    /// The signed-in user, if any.
    #[must_use]
    pub fn user(&self) -> Option<&SessionUser> {
        self.user.as_ref()
    }

    /// The backend, called from the server on the user's behalf: `None` for pages whose
    /// session was resolved without a [`Proxy`] (a pages-only app has no backend).
    #[must_use]
    pub fn backend(&self) -> Option<BackendClient> {
        self.proxy.as_ref().map(|p| p.backend(self.client))
    }

    /// The answer of a protected page without a signed-in user: for a browser asking for HTML
    /// (`Accept: text/html`), 303 See Other to the [sign-in page](crate::SessionsBuilder::sign_in_page)
    /// with this page as `next` (GET and HEAD only, and only a local path); otherwise 401
    /// with the RFC 6750 challenge. Both carry `Vary: Accept` and `Cache-Control: no-store`.
    #[must_use]
    pub fn sign_in_required(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Response<ProxyBody> {
        let mut res = if accepts_html(headers) {
            let page = self.sessions.inner.sign_in_page.as_str();
            let mut location = page.to_owned();
            if let Some(here) = uri.path_and_query().map(|p| p.as_str())
                && (method == Method::GET || method == Method::HEAD)
                && local_path(here).is_ok()
                && here.split('?').next() != Some(page)
            {
                location.push_str("?next=");
                location.extend(form_urlencoded::byte_serialize(here.as_bytes()));
            }
            answer_response(Answer::SeeOther(location))
        } else {
            self.sessions
                .render(Err(Refused::from(AuthError::MissingCredentials)))
        };
        let h = res.headers_mut();
        h.append(header::VARY, HeaderValue::from_static("accept"));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        res
    }
}

/// The cookie changes of a page request, for the response its handler returns.
#[must_use = "the cookies of a refreshed or ended session must reach the response"]
pub struct PageCookies {
    cookies: CookieDelta,
    signed_in: bool,
    sessions: Sessions,
}

impl fmt::Debug for PageCookies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PageCookies")
            .field("sets_cookies", &!self.cookies.is_empty())
            .field("signed_in", &self.signed_in)
            .finish()
    }
}

impl PageCookies {
    /// Writes the changes into the response's headers: the refreshed session's cookies (or
    /// the deletions of an ended one) with the anti-caching headers `@supabase/ssr` sends.
    /// A page rendered for a signed-in user that set no `Cache-Control` of its own gets
    /// `Cache-Control: private, no-store`: no shared cache keeps one user's page for
    /// another.
    ///
    /// A response that already sets the session cookie (or a chunk of it) itself (the
    /// sign-in or sign-out handler mounted under the layer) keeps it: the layer's
    /// changes, decided for the session the request came with, are not added after it. Other
    /// cookies of the family a handler sets (the PKCE verifier of
    /// [`Sessions::start_oauth`]) go out beside the layer's: a refreshed
    /// session's refresh token is already spent, so its new cookies must reach the browser.
    pub fn apply(self, headers: &mut HeaderMap) {
        let name = self.sessions.inner.writer.name();
        let handler_set_session = headers.get_all(header::SET_COOKIE).iter().any(|v| {
            let cookie = v
                .as_bytes()
                .split(|&b| b == b'=')
                .next()
                .unwrap_or_default();
            name.holds_session(cookie.trim_ascii())
        });
        if handler_set_session {
            if !headers.contains_key(header::CACHE_CONTROL) {
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            }
            return;
        }
        self.cookies.apply(headers);
        if self.signed_in && !headers.contains_key(header::CACHE_CONTROL) {
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            );
        }
    }

    /// Whether there is anything to write besides `Cache-Control`.
    #[must_use]
    pub fn sets_cookies(&self) -> bool {
        !self.cookies.is_empty()
    }
}

/// Whether `Accept` names HTML (`text/html` or `application/xhtml+xml`, not with `q=0`).
pub(crate) fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or_default().trim();
            let html = media.eq_ignore_ascii_case("text/html")
                || media.eq_ignore_ascii_case("application/xhtml+xml");
            let refused = parts.any(|p| {
                let p = p.trim();
                p.get(..2).is_some_and(|k| k.eq_ignore_ascii_case("q="))
                    && p.get(2..)
                        .and_then(|q| q.trim().parse::<f32>().ok())
                        .is_some_and(|q| q <= 0.0)
            });
            html && !refused
        })
}

impl Sessions {
    /// Decides the session of a request for one of the app's own pages (or form posts):
    ///
    /// 1. the per-address rate limit (429) and, for unsafe methods, the CSRF gate (403), as
    ///    for forwarded requests;
    /// 2. the session from the cookies, refreshed once per refresh token when it expires
    ///    within the margin (concurrent page loads share one refresh), verified, admitted by
    ///    the base policy, and checked against the session liveness when one is configured;
    /// 3. the outcome: a [`SessionUser`]; none (no session, or a session that can never be
    ///    used again: ended by the auth server, forged, unreadable, revoked; ended and forged
    ///    ones are cleared, without an auth-server call for a forged one); or a refusal that
    ///    answers instead of the page (503 while the auth server cannot refresh an expired
    ///    session, cookies kept; 429; 403).
    ///
    /// `peer` is the TCP peer address. The adapters' page layers call this and then
    /// [`PageSession::into_parts`]. The context has no [backend](PageContext::backend) until
    /// [`PageSession::with_backend`] gives it one.
    ///
    /// # Examples
    ///
    /// ```
    /// # async fn page(sessions: supagate_proxy::Sessions, req: http::Request<()>) {
    /// let peer = std::net::IpAddr::from([127, 0, 0, 1]);
    /// let session = sessions.page_session(req.method(), req.headers(), peer).await;
    /// match session.into_parts() {
    ///     Ok((context, cookies)) => {
    ///         let mut res = http::Response::new(match context.user() {
    ///             Some(user) => format!("hello {}", user.email().unwrap_or("you")),
    ///             None => "hello stranger".to_owned(),
    ///         });
    ///         cookies.apply(res.headers_mut());
    ///     }
    ///     Err(refusal) => { let _ = refusal; }
    /// }
    /// # }
    /// ```
    pub async fn page_session(
        &self,
        method: &Method,
        headers: &HeaderMap,
        peer: IpAddr,
    ) -> PageSession {
        let mut page = PageSession {
            context: PageContext {
                sessions: self.clone(),
                client: peer,
                user: None,
                proxy: None,
            },
            refusal: None,
            cookies: CookieDelta::none(),
        };
        let client = match self.check_address(headers, peer) {
            Ok(c) => c,
            Err(r) => {
                page.refusal = Some(r);
                return page;
            }
        };
        page.context.client = client;
        if let Err(r) = self.check_csrf(method, headers) {
            page.refusal = Some(r);
            return page;
        }
        let mut force = false;
        loop {
            match self.resolve(headers, client, force).await {
                Ok(Resolved::Anonymous) => {}
                Ok(Resolved::Active(active)) => match self.live(&active, client).await {
                    Ok(()) => {
                        page.context.user = Some(SessionUser {
                            id: active.sub,
                            claims: active.claims,
                            bearer: active.bearer,
                        });
                        page.cookies = active.cookies;
                    }
                    // The auth server refused this access token (no leeway on `exp`, and its
                    // clock may be ahead of ours): about the token, not the session. Refresh
                    // it once and ask again; a refreshed session's cookies come again from
                    // the single-flight's answer.
                    Err(AuthError::TokenRefused) if !force => {
                        tracing::info!(target: "supagate", "the auth server refused a page session's access token; refreshing it");
                        force = true;
                        continue;
                    }
                    Err(AuthError::SessionRevoked { reason }) => {
                        tracing::info!(target: "supagate", reason, "page session revoked; cookies cleared");
                        let clear =
                            CookieDelta::of(self.inner.writer.clear(headers).unwrap_or_default());
                        page.cookies = active.cookies.then(clear);
                    }
                    Err(e) => page.refusal = Some(Refused::from(e).with_cookies(active.cookies)),
                },
                // A session that can never be used again is no session: the page runs for a
                // signed-out visitor, with whatever deletion the pipeline decided.
                Err(r) if no_usable_session(&r) => {
                    tracing::debug!(target: "supagate", status = r.status().as_u16(), "page session not usable; treated as signed out");
                    page.cookies = r.cookies;
                }
                Err(r) => page.refusal = Some(r),
            }
            return page;
        }
    }

    /// The session liveness check of the app's authenticator, when it has one.
    async fn live(&self, active: &Active, client: IpAddr) -> Result<(), AuthError> {
        let Some(live) = self.inner.auth.session_liveness() else {
            return Ok(());
        };
        let now = self.inner.auth.verifier().now();
        live.check_for(&active.claims, active.token().expose(), now, client)
            .await
    }
}

/// Refusals that mean "there is no session to use" rather than "not now": unreadable
/// cookies (400, 431) and tokens or sessions refused for good (401).
fn no_usable_session(r: &Refused) -> bool {
    matches!(r.why, Why::Auth(_))
        && matches!(
            r.status(),
            StatusCode::BAD_REQUEST
                | StatusCode::UNAUTHORIZED
                | StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn html_is_what_a_browser_navigation_accepts() {
        assert!(accepts_html(&accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(accepts_html(&accept("TEXT/HTML")));
        assert!(accepts_html(&accept("application/xhtml+xml; q=0.5")));
        assert!(!accepts_html(&accept("*/*")));
        assert!(!accepts_html(&accept("application/json")));
        assert!(!accepts_html(&accept("text/html;q=0, application/json")));
        assert!(!accepts_html(&accept("text/htmlx")));
        assert!(!accepts_html(&HeaderMap::new()));
    }
}
