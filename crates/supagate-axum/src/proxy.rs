//! Handlers for the frontend proxy ([`supagate_proxy::Proxy`]: `forward`, `forward_to`, for
//! a router whose state gives a [`Proxy`], `Proxy: FromRef<S>`) and for the session flows
//! ([`supagate_proxy::Sessions`]: `sign_in`, `callback`, `sign_out`, `start_oauth`, for a state
//! that gives [`Sessions`]).
//!
//! The client address for rate limiting and `X-Forwarded-For` comes from
//! [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo): serve the router with
//! `into_make_service_with_connect_info::<SocketAddr>()`. Without it the peer is unknown and
//! the per-address limit does not apply.
//!
//! ```no_run
//! use std::net::SocketAddr;
//! use axum::Router;
//! use axum::extract::FromRef;
//! use axum::routing::{any, get, post};
//! use supagate_axum::proxy::{callback, forward, forward_to, sign_in, sign_out};
//! use supagate_proxy::{Proxy, Sessions};
//!
//! #[derive(Clone, FromRef)]
//! struct AppState {
//!     proxy: Proxy,
//!     sessions: Sessions,
//! }
//!
//! # async fn run(proxy: supagate_proxy::Proxy) -> std::io::Result<()> {
//! let state = AppState { sessions: proxy.sessions().clone(), proxy };
//! let app = Router::new()
//!     .route("/api/profile", get(forward_to("/profile/me")))
//!     .route("/api/{*path}", any(forward))
//!     .route("/auth/sign-in", post(sign_in))
//!     .route("/auth/callback", get(callback))
//!     .route("/auth/sign-out", post(sign_out))
//!     .with_state(state);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
//! # }
//! ```

use std::future::Future;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum_core::body::Body;
use axum_core::response::Response;
use supagate_proxy::{Proxy, ProxyBody, Sessions};

/// The TCP peer of `req` (from `ConnectInfo`), or `::` when the router was served without it.
pub(crate) fn peer(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED), |c| c.0.ip())
}

fn into_axum(res: http::Response<ProxyBody>) -> Response {
    res.map(Body::new)
}

/// Forwards the request along the proxy's configured routes (`ANY /api/{*path}`).
pub async fn forward(State(proxy): State<Proxy>, req: Request) -> Response {
    let peer = peer(&req);
    into_axum(proxy.forward(req, peer).await)
}

/// The future a [`forward_to`] handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Response> + Send>>;

/// A handler forwarding to the fixed upstream path `upstream_path` (such as `GET
/// /api/profile` to `/profile/me`), keeping the query.
pub fn forward_to(
    upstream_path: &'static str,
) -> impl Fn(State<Proxy>, Request) -> HandlerFuture + Clone + Send + Sync + 'static {
    move |State(proxy): State<Proxy>, req: Request| {
        Box::pin(async move {
            let peer = peer(&req);
            into_axum(proxy.forward_to(req, peer, upstream_path).await)
        })
    }
}

/// `POST /auth/sign-in`: [`Sessions::sign_in`].
pub async fn sign_in(State(sessions): State<Sessions>, req: Request) -> Response {
    let peer = peer(&req);
    into_axum(sessions.sign_in(req, peer).await)
}

/// `GET /auth/callback`: [`Sessions::callback`].
pub async fn callback(State(sessions): State<Sessions>, req: Request) -> Response {
    let peer = peer(&req);
    into_axum(sessions.callback(req, peer).await)
}

/// `POST /auth/sign-out`: [`Sessions::sign_out`].
pub async fn sign_out(State(sessions): State<Sessions>, req: Request) -> Response {
    let peer = peer(&req);
    into_axum(sessions.sign_out(req, peer).await)
}

/// A handler for `GET /auth/oauth/{provider}` that starts an OAuth sign-in
/// ([`Sessions::start_oauth`]) coming back to `callback_url` (the absolute URL of the
/// [`callback`] route).
pub fn start_oauth(
    callback_url: impl Into<String>,
) -> impl Fn(State<Sessions>, Path<String>, Request) -> HandlerFuture + Clone + Send + Sync + 'static
{
    let callback_url: std::sync::Arc<str> = callback_url.into().into();
    move |State(sessions): State<Sessions>, Path(provider): Path<String>, req: Request| {
        let callback_url = callback_url.clone();
        Box::pin(async move {
            let peer = peer(&req);
            into_axum(sessions.start_oauth(req.headers(), peer, &provider, &callback_url))
        })
    }
}
