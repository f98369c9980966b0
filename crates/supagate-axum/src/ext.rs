//! The extractors for apps whose router state is not theirs to shape: Loco's `AppContext`,
//! Leptos and Dioxus server functions (extracted with state `()`), a framework's own state.
//! The same rules as [`crate::Authenticated`] and [`crate::Admitted`], with the
//! [`Authenticator`] found in the request's extensions, where `axum::Extension(authenticator)`
//! put it, instead of in router state through `FromRef`.
//!
//! # Examples
//!
//! ```
//! use axum::{Extension, Router, routing::get};
//! use supagate_auth::Authenticator;
//! use supagate_axum::ext::Authenticated;
//!
//! /// A framework's own state, which has no `FromRef` for the authenticator.
//! #[derive(Clone)]
//! struct AppContext {
//!     environment: &'static str,
//! }
//!
//! async fn me(Authenticated(claims): Authenticated) -> String {
//!     claims.sub.to_string()
//! }
//!
//! # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
//! let app: Router = Router::new()
//!     .route("/me", get(me))
//!     .layer(Extension(auth))
//!     .with_state(AppContext { environment: "production" });
//! ```

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use serde::de::DeserializeOwned;
use supagate_auth::{AuthError, Authenticator, Caller, Rejection};

use crate::extract::{AuthRejection, extract};

/// [`crate::Authenticated`], with the [`Authenticator`] from the request's extensions (any
/// router state). `Option<Authenticated<T>>` admits a request without credentials.
///
/// Without an authenticator in the extensions the request is refused with 500 (a set-up
/// error: add `.layer(axum::Extension(authenticator))`), never served unauthenticated.
///
/// # Examples
///
/// See the [module](self).
#[derive(Debug, Clone)]
pub struct Authenticated<T = supagate_jwt::Claims>(pub T);

/// [`crate::Admitted`], with the [`Authenticator`] from the request's extensions (any router
/// state).
///
/// # Examples
///
/// ```
/// use axum::{Extension, Router, routing::get};
/// use supagate_auth::Authenticator;
/// use supagate_axum::AdmitLayer;
/// use supagate_axum::ext::Admitted;
///
/// async fn whoami(Admitted(caller): Admitted) -> &'static str {
///     caller.mode()
/// }
///
/// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
/// let app: Router = Router::new()
///     .route("/whoami", get(whoami).layer(AdmitLayer::new(auth.clone(), "user, none".parse()?)))
///     .layer(Extension(auth));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Admitted<T = supagate_jwt::Claims>(pub Caller<T>);

/// The authenticator a layer put in the request's extensions.
fn authenticator(parts: &Parts) -> Result<Authenticator, AuthRejection> {
    parts
        .extensions
        .get::<Authenticator>()
        .cloned()
        .ok_or_else(|| {
            tracing::error!(
                target: "supagate",
                "no Authenticator in the request's extensions: add `.layer(axum::Extension(authenticator))` to the router"
            );
            AuthRejection(Rejection::without_authenticator(AuthError::Internal {
                what: "no Authenticator in the request's extensions",
            }))
        })
}

impl<S, T> FromRequestParts<S> for Authenticated<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send + 'static,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let auth = authenticator(parts)?;
        match extract(&auth, parts).await {
            Ok(Some(t)) => Ok(Authenticated(t)),
            Ok(None) => Err(AuthRejection::new(&auth, AuthError::MissingCredentials)),
            Err(e) => Err(AuthRejection::new(&auth, e)),
        }
    }
}

impl<S, T> OptionalFromRequestParts<S> for Authenticated<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send + 'static,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let auth = authenticator(parts)?;
        extract(&auth, parts)
            .await
            .map(|t| t.map(Authenticated))
            .map_err(|e| AuthRejection::new(&auth, e))
    }
}

impl<S, T> FromRequestParts<S> for Admitted<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send + 'static,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let auth = authenticator(parts)?;
        let caller = crate::admit::take_caller(parts, &auth).await?;
        caller
            .try_map(|v| v.into_typed::<T>())
            .map(Admitted)
            .map_err(|e| AuthRejection::new(&auth, AuthError::Token(e)))
    }
}

/// [`crate::live::Live`], with the [`Authenticator`] from the request's extensions (any
/// router state): the caller's watch, for a WebSocket or an event stream.
///
/// # Examples
///
/// ```
/// use axum::{Extension, Router, extract::ws::WebSocketUpgrade, response::Response, routing::get};
/// use supagate_auth::Authenticator;
/// use supagate_axum::ext::Live;
/// use supagate_axum::live::LiveSocket;
///
/// async fn feed(upgrade: WebSocketUpgrade, Live(watch): Live) -> Response {
///     upgrade.on_upgrade(move |socket| async move {
///         let mut socket = LiveSocket::new(socket, watch);
///         while let Some(Ok(_)) = socket.recv().await {}
///     })
/// }
///
/// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
/// let app: Router = Router::new().route("/feed", get(feed)).layer(Extension(auth));
/// ```
#[cfg(feature = "live")]
#[cfg_attr(docsrs, doc(cfg(feature = "live")))]
#[derive(Debug, Clone)]
pub struct Live(pub supagate_auth::Watch);

#[cfg(feature = "live")]
impl<S: Send + Sync> FromRequestParts<S> for Live {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let auth = authenticator(parts)?;
        crate::live::watch_of(&auth, parts).await.map(Live)
    }
}
