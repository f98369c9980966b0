//! The session for the app's own pages (the Rust counterpart of `@supabase/ssr`'s middleware and
//! server components): [`SessionLayer`] resolves the signed-in user of every request it
//! covers through the app's [`Sessions`] ([`Sessions::page_session`]: the same cookies,
//! refresh single-flight, verification, CSRF gate and authenticator as forwarded calls and
//! the app's own extractors) and writes refreshed or cleared cookies onto whatever the handler
//! returns (HTML, a redirect, JSON, a stream); the extractors hand the result to handlers. No
//! backend is needed: a pages-only app gives the layer its `Sessions` alone.
//!
//! - [`User`]: a protected page. Without a signed-in user the handler does not run: a browser
//!   asking for HTML is sent (303) to the [sign-in page](supagate_proxy::SessionsBuilder::sign_in_page)
//!   with this page as `next`; anything else gets 401.
//! - `Option<User>`: a public page; `None` when signed out.
//! - [`BackendClient`]: calls to the backend from the server, with the user's bearer (a layer
//!   made with [`SessionLayer::with_backend`]).
//!
//! The layer answers by itself, without running the handler, only when the request must not
//! run at all: a cross-site form post (403), a rate limit (429), an expired session the auth
//! server cannot refresh now (503 with `Retry-After`, cookies kept).
//!
//! The sign-in and sign-out handlers (`supagate_axum::proxy`) take `State<Sessions>`, the
//! forwarding ones `State<Proxy>`: combine them with the app's own state through
//! [`FromRef`](axum::extract::FromRef).
//!
//! ```no_run
//! use supagate_core::RequestError as _;
//! use std::net::SocketAddr;
//! use axum::Router;
//! use axum::extract::{FromRef, State};
//! use axum::response::{Html, IntoResponse, Redirect};
//! use axum::routing::{get, post};
//! use supagate_axum::pages::{BackendClient, SessionLayer, User};
//! use supagate_axum::proxy::{sign_in, sign_out};
//! use supagate_proxy::{Proxy, Sessions};
//!
//! #[derive(Clone, FromRef)]
//! struct AppState {
//!     sessions: Sessions,
//!     greeting: &'static str,
//! }
//!
//! async fn home(State(greeting): State<&'static str>, user: Option<User>) -> Html<String> {
//!     match user {
//!         Some(user) => Html(format!("{greeting}, {}", user.email().unwrap_or("you"))),
//!         None => Html(format!("{greeting}! <a href=\"/sign-in\">Sign in</a>")),
//!     }
//! }
//!
//! async fn dashboard(user: User, backend: BackendClient) -> impl IntoResponse {
//!     match backend.get(&user, "/profile/me").await {
//!         Ok(profile) => Html(String::from_utf8_lossy(profile.body()).into_owned()).into_response(),
//!         Err(e) => (e.status(), "the backend is unavailable").into_response(),
//!     }
//! }
//!
//! # async fn run(proxy: Proxy) -> std::io::Result<()> {
//! let state = AppState { sessions: proxy.sessions().clone(), greeting: "Hello" };
//! let app = Router::new()
//!     .route("/", get(home))
//!     .route("/dashboard", get(dashboard))
//!     .route("/sign-in", get(|| async { Html("<form method=post action=/auth/sign-in>…</form>") }))
//!     // The layer covers the routes above it: the pages, not the proxy's own routes.
//!     .layer(SessionLayer::with_backend(proxy))
//!     .route("/auth/sign-in", post(sign_in))
//!     .route("/auth/sign-out", post(sign_out))
//!     .with_state(state);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum_core::body::Body;
use axum_core::extract::{FromRequestParts, OptionalFromRequestParts, Request};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::{StatusCode, Uri};
use supagate_proxy::{PageContext, Proxy, SessionUser, Sessions};
use tower_layer::Layer;
use tower_service::Service;

/// Resolves the page session of every request it wraps; see [the module](self).
///
/// Serve the router with `into_make_service_with_connect_info::<SocketAddr>()`: the peer
/// address is the client address of the rate limits and the refresh budget.
#[derive(Clone)]
pub struct SessionLayer {
    sessions: Sessions,
    backend: Option<Proxy>,
}

impl SessionLayer {
    /// A layer on the app's `sessions`, for pages that call no backend.
    ///
    /// # Examples
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use supagate_axum::pages::{SessionLayer, User};
    /// # fn app(sessions: supagate_proxy::Sessions) -> Router {
    /// Router::new()
    ///     .route("/me", get(|user: User| async move { user.id().to_string() }))
    ///     .layer(SessionLayer::new(sessions))
    /// # }
    /// ```
    #[must_use]
    pub fn new(sessions: Sessions) -> Self {
        SessionLayer {
            sessions,
            backend: None,
        }
    }

    /// A layer on `proxy`'s sessions whose pages call its upstream ([`BackendClient`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use supagate_axum::pages::{BackendClient, SessionLayer, User};
    /// # fn app(proxy: supagate_proxy::Proxy) -> Router {
    /// Router::new()
    ///     .route("/me", get(|user: User, backend: BackendClient| async move {
    ///         match backend.get(&user, "/profile/me").await {
    ///             Ok(profile) => String::from_utf8_lossy(profile.body()).into_owned(),
    ///             Err(_) => "the backend is unavailable".to_owned(),
    ///         }
    ///     }))
    ///     .layer(SessionLayer::with_backend(proxy))
    /// # }
    /// ```
    #[must_use]
    pub fn with_backend(proxy: Proxy) -> Self {
        SessionLayer {
            sessions: proxy.sessions().clone(),
            backend: Some(proxy),
        }
    }
}

impl fmt::Debug for SessionLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionLayer")
            .field("sessions", &self.sessions)
            .field("backend", &self.backend.is_some())
            .finish()
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`SessionLayer`].
#[derive(Clone)]
pub struct SessionService<S> {
    inner: S,
    layer: SessionLayer,
}

impl<S> fmt::Debug for SessionService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionService").finish_non_exhaustive()
    }
}

/// The request target as the layer saw it (before any `nest` stripped a prefix), for `next`.
#[derive(Clone)]
struct PageUri(Uri);

/// The response future of [`SessionService`].
pub type PageFuture<E> = Pin<Box<dyn Future<Output = Result<Response, E>> + Send>>;

impl<S> Service<Request> for SessionService<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = PageFuture<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        // The service made ready goes into the future; a clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let peer = crate::proxy::peer(&req);
            let mut session = layer
                .sessions
                .page_session(req.method(), req.headers(), peer)
                .await;
            if let Some(proxy) = &layer.backend {
                session = session.with_backend(proxy);
            }
            match session.into_parts() {
                Err(refusal) => Ok(refusal.map(Body::new)),
                Ok((context, cookies)) => {
                    let uri = PageUri(req.uri().clone());
                    req.extensions_mut().insert(uri);
                    req.extensions_mut().insert(context);
                    let mut res = inner.call(req).await?;
                    cookies.apply(res.headers_mut());
                    Ok(res)
                }
            }
        })
    }
}

/// The signed-in user of a page: extracting `User` makes the page protected, `Option<User>`
/// public. Derefs to [`SessionUser`] (`user.email()`, `user.app_role()`, `user.claims()`).
///
/// Needs a [`SessionLayer`] around the route (otherwise 500).
///
/// # Examples
///
/// ```
/// use supagate_axum::pages::User;
///
/// async fn dashboard(user: User) -> String {
///     format!("{} ({})", user.email().unwrap_or("?"), user.app_role().unwrap_or("member"))
/// }
///
/// async fn home(user: Option<User>) -> &'static str {
///     if user.is_some() { "welcome back" } else { "welcome" }
/// }
/// # let _ = (dashboard, home);
/// ```
#[derive(Debug, Clone)]
pub struct User(pub SessionUser);

impl Deref for User {
    type Target = SessionUser;

    fn deref(&self) -> &SessionUser {
        &self.0
    }
}

/// Why a page extractor did not run the handler: the sign-in redirect (or 401), or a missing
/// [`SessionLayer`] (or, for [`BackendClient`], a layer without a backend): 500.
pub struct PageRejection(Box<Response>);

impl fmt::Debug for PageRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PageRejection")
            .field(&self.0.status())
            .finish()
    }
}

impl IntoResponse for PageRejection {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// A 500 for a route wired without what its extractor needs (a developer's mistake).
fn miswired(what: &'static str) -> PageRejection {
    let mut res = Response::new(Body::from(what));
    *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    PageRejection(Box::new(res))
}

fn context(parts: &Parts) -> Result<&PageContext, PageRejection> {
    parts
        .extensions
        .get::<PageContext>()
        .ok_or_else(|| miswired("page session layer missing"))
}

impl<S: Send + Sync> FromRequestParts<S> for User {
    type Rejection = PageRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let cx = context(parts)?;
        match cx.user() {
            Some(user) => Ok(User(user.clone())),
            None => {
                let uri = parts
                    .extensions
                    .get::<PageUri>()
                    .map_or(&parts.uri, |u| &u.0);
                let res = cx.sign_in_required(&parts.method, uri, &parts.headers);
                Err(PageRejection(Box::new(res.map(Body::new))))
            }
        }
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for User {
    type Rejection = PageRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(context(parts)?.user().cloned().map(User))
    }
}

/// The backend, called from a page handler on the user's behalf: derefs to
/// [`supagate_proxy::BackendClient`] (`backend.get(&user, "/profile/me")`,
/// `backend.post_json(&user, "/notes", &note)`).
///
/// Needs a [`SessionLayer::with_backend`] around the route (otherwise 500).
///
/// # Examples
///
/// ```
/// use supagate_core::RequestError as _;
/// use axum::http::StatusCode;
/// use supagate_axum::pages::{BackendClient, User};
///
/// async fn profile(user: User, backend: BackendClient) -> Result<String, StatusCode> {
///     let res = backend.get(&user, "/profile/me").await.map_err(|e| e.status())?;
///     Ok(String::from_utf8_lossy(res.body()).into_owned())
/// }
/// # let _ = profile;
/// ```
#[derive(Debug, Clone)]
pub struct BackendClient(pub supagate_proxy::BackendClient);

impl Deref for BackendClient {
    type Target = supagate_proxy::BackendClient;

    fn deref(&self) -> &supagate_proxy::BackendClient {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for BackendClient {
    type Rejection = PageRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        context(parts)?.backend().map(BackendClient).ok_or_else(|| {
            miswired("no backend for pages: make the page layer with_backend(proxy)")
        })
    }
}
