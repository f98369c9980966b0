//! The session for the app's own pages, as `supagate_axum::pages` gives it on axum and with
//! the same behaviour: [`SessionMiddleware`] resolves the signed-in user of every request it
//! wraps through the app's [`Sessions`] ([`Sessions::page_session`]: the same cookies,
//! refresh single-flight, verification, CSRF gate and authenticator as forwarded calls) and
//! writes refreshed or cleared cookies onto whatever the handler returns. No backend is
//! needed: a pages-only app gives the middleware its `Sessions` alone.
//!
//! - [`User`]: a protected page. Without a signed-in user the handler does not run: a browser
//!   asking for HTML is sent (303) to the [sign-in page](supagate_proxy::SessionsBuilder::sign_in_page)
//!   with this page as `next`; anything else gets 401.
//! - `Option<User>`: a public page; `None` when signed out. (Unlike `Option<Authenticated>`,
//!   this is safe: every refusal that matters was answered by the middleware already. Without
//!   the middleware, though, actix-web turns the extractor's 500 into `None` too: a page
//!   outside it always looks signed out.)
//! - [`BackendClient`]: calls to the backend from the server, with the user's bearer (a
//!   middleware made with [`SessionMiddleware::with_backend`]).
//!
//! ```
//! use actix_web::{App, HttpResponse, web};
//! use supagate_actix::pages::{BackendClient, SessionMiddleware, User};
//!
//! async fn home(user: Option<User>) -> HttpResponse {
//!     match user {
//!         Some(user) => HttpResponse::Ok().body(format!("hello {}", user.email().unwrap_or("you"))),
//!         None => HttpResponse::Ok().body("hello stranger"),
//!     }
//! }
//!
//! async fn dashboard(user: User, backend: BackendClient) -> HttpResponse {
//!     match backend.get(&user, "/profile/me").await {
//!         Ok(profile) => HttpResponse::Ok().body(profile.body().clone()),
//!         Err(_) => HttpResponse::BadGateway().finish(),
//!     }
//! }
//!
//! # fn app(proxy: supagate_proxy::Proxy) {
//! let app = App::new()
//!     .wrap(SessionMiddleware::with_backend(proxy))
//!     .route("/", web::get().to(home))
//!     .route("/dashboard", web::get().to(dashboard));
//! # let _ = app;
//! # }
//! ```

use std::fmt;
use std::future::{Future, Ready, ready};
use std::net::{IpAddr, Ipv6Addr};
use std::ops::Deref;
use std::pin::Pin;
use std::rc::Rc;

use crate::convert;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header as actix_header;
use actix_web::{Error, FromRequest, HttpMessage, HttpRequest, HttpResponse};
use http_body_util::BodyExt;
use supagate_proxy::{PageContext, Proxy, ProxyBody, SessionUser, Sessions};

type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// Resolves the page session of every request it wraps; see [the module](self).
#[derive(Clone)]
pub struct SessionMiddleware {
    sessions: Sessions,
    backend: Option<Proxy>,
}

impl SessionMiddleware {
    /// Middleware on the app's `sessions`, for pages that call no backend.
    ///
    /// # Examples
    ///
    /// ```
    /// use actix_web::{App, web};
    /// use supagate_actix::pages::{SessionMiddleware, User};
    /// # fn app(sessions: supagate_proxy::Sessions) {
    /// let app = App::new()
    ///     .wrap(SessionMiddleware::new(sessions))
    ///     .route("/me", web::get().to(|user: User| async move { user.id().to_string() }));
    /// # let _ = app;
    /// # }
    /// ```
    #[must_use]
    pub fn new(sessions: Sessions) -> Self {
        SessionMiddleware {
            sessions,
            backend: None,
        }
    }

    /// Middleware on `proxy`'s sessions whose pages call its upstream ([`BackendClient`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use actix_web::{App, web};
    /// use supagate_actix::pages::{SessionMiddleware, User};
    /// # fn app(proxy: supagate_proxy::Proxy) {
    /// let app = App::new()
    ///     .wrap(SessionMiddleware::with_backend(proxy))
    ///     .route("/me", web::get().to(|user: User| async move { user.id().to_string() }));
    /// # let _ = app;
    /// # }
    /// ```
    #[must_use]
    pub fn with_backend(proxy: Proxy) -> Self {
        SessionMiddleware {
            sessions: proxy.sessions().clone(),
            backend: Some(proxy),
        }
    }
}

impl fmt::Debug for SessionMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionMiddleware")
            .field("sessions", &self.sessions)
            .field("backend", &self.backend.is_some())
            .finish()
    }
}

impl<S, B> Transform<S, ServiceRequest> for SessionMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = SessionMiddlewareService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(SessionMiddlewareService {
            service: Rc::new(service),
            middleware: self.clone(),
        }))
    }
}

/// The service made by [`SessionMiddleware`].
pub struct SessionMiddlewareService<S> {
    service: Rc<S>,
    middleware: SessionMiddleware,
}

impl<S> fmt::Debug for SessionMiddlewareService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionMiddlewareService")
            .finish_non_exhaustive()
    }
}

/// The request target as the middleware saw it (before a scope), for `next`.
#[derive(Clone)]
struct PageUri(http::Uri);

impl<S, B> Service<ServiceRequest> for SessionMiddlewareService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let middleware = self.middleware.clone();
        Box::pin(async move {
            let headers = convert::http_headers(req.headers(), None);
            let method = convert::http_method(req.method());
            let peer = req
                .peer_addr()
                .map_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED), |a| a.ip());
            let mut session = middleware
                .sessions
                .page_session(&method, &headers, peer)
                .await;
            if let Some(proxy) = &middleware.backend {
                session = session.with_backend(proxy);
            }
            match session.into_parts() {
                Err(refusal) => {
                    let response = actix_response(refusal).await;
                    Ok(req.into_response(response).map_into_right_body())
                }
                Ok((context, cookies)) => {
                    if let Ok(uri) = req.uri().to_string().parse::<http::Uri>() {
                        req.extensions_mut().insert(PageUri(uri));
                    }
                    req.extensions_mut().insert(context);
                    let mut res = service.call(req).await?;
                    let mut delta = convert::http_headers(
                        res.headers(),
                        Some(&[actix_header::CACHE_CONTROL, actix_header::SET_COOKIE]),
                    );
                    // The handler's own Cache-Control and Set-Cookie lines go into `delta`
                    // (the page cookies decide with them), then all of it back.
                    cookies.apply(&mut delta);
                    let headers = res.headers_mut();
                    headers.remove(actix_header::SET_COOKIE);
                    convert::merge(headers, &delta);
                    Ok(res.map_into_left_body())
                }
            }
        })
    }
}

/// One of the proxy's own answers (small, whole bodies) as an actix response.
async fn actix_response(res: http::Response<ProxyBody>) -> HttpResponse {
    let (parts, body) = res.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    convert::response(http::Response::from_parts(parts, bytes))
}

/// The signed-in user of a page: extracting `User` makes the page protected, `Option<User>`
/// public. Derefs to [`SessionUser`] (`user.email()`, `user.app_role()`, `user.claims()`).
///
/// Needs a [`SessionMiddleware`] around the route (otherwise 500).
///
/// # Examples
///
/// ```
/// use supagate_actix::pages::User;
///
/// async fn dashboard(user: User) -> String {
///     format!("{} ({})", user.email().unwrap_or("?"), user.app_role().unwrap_or("member"))
/// }
/// # let _ = dashboard;
/// ```
#[derive(Debug, Clone)]
pub struct User(pub SessionUser);

impl Deref for User {
    type Target = SessionUser;

    fn deref(&self) -> &SessionUser {
        &self.0
    }
}

fn missing_middleware() -> Error {
    actix_web::error::ErrorInternalServerError("page session middleware missing")
}

impl FromRequest for User {
    type Error = Error;
    type Future = LocalBoxFuture<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let cx = req.extensions().get::<PageContext>().cloned();
        let uri = req.extensions().get::<PageUri>().map(|u| u.0.clone());
        let (method, headers) = (
            convert::http_method(req.method()),
            convert::http_headers(req.headers(), None),
        );
        Box::pin(async move {
            let cx = cx.ok_or_else(missing_middleware)?;
            if let Some(user) = cx.user() {
                return Ok(User(user.clone()));
            }
            let uri = uri.unwrap_or_default();
            let res = actix_response(cx.sign_in_required(&method, &uri, &headers)).await;
            Err(actix_web::error::InternalError::from_response("sign-in required", res).into())
        })
    }
}

/// The backend, called from a page handler on the user's behalf: derefs to
/// [`supagate_proxy::BackendClient`] (`backend.get(&user, "/profile/me")`).
///
/// Needs a [`SessionMiddleware::with_backend`] around the route (otherwise 500).
///
/// # Examples
///
/// ```
/// use actix_web::HttpResponse;
/// use supagate_actix::pages::{BackendClient, User};
///
/// async fn profile(user: User, backend: BackendClient) -> HttpResponse {
///     match backend.get(&user, "/profile/me").await {
///         Ok(res) => HttpResponse::Ok().body(res.body().clone()),
///         Err(_) => HttpResponse::BadGateway().finish(),
///     }
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

impl FromRequest for BackendClient {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match req.extensions().get::<PageContext>() {
            None => Err(missing_middleware()),
            Some(cx) => cx.backend().map(BackendClient).ok_or_else(|| {
                actix_web::error::ErrorInternalServerError(
                    "no backend for pages: make the page layer with_backend(proxy)",
                )
            }),
        })
    }
}
