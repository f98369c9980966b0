//! [`AdmitLayer`] and [`Admitted`]: which callers a route admits (auth modes).

use std::fmt;
use std::task::{Context, Poll};

use axum_core::extract::{FromRef, FromRequestParts};
use axum_core::response::Response;
use http::Request;
use http::request::Parts;
use serde::de::DeserializeOwned;
use supagate_auth::{AuthError, AuthModes, Authenticator, Caller};
use supagate_jwt::Verified;
use tower_layer::Layer;
use tower_service::Service;

use crate::extract::{AuthRejection, refusal_response};
use crate::layer::ResponseFuture;

/// A layer that admits a request by the first of its [`AuthModes`] that matches (a signed-in
/// user, a publishable key, a secret key, anyone) before the inner service runs; a refused
/// request never reaches it. The [`Caller`] goes into the request extensions for the
/// [`Admitted`] extractor (and a verified user's token for [`Authenticated`](crate::Authenticated)).
///
/// Use it with `Router::route_layer` (so that unmatched paths still answer 404), or on one
/// route with `MethodRouter::layer`. The rules are [`AuthModes`]'; the refusals are the
/// authenticator's.
///
/// # Examples
///
/// ```
/// use axum::{Json, Router, routing::get};
/// use supagate_auth::{ApiKeys, Authenticator, Caller};
/// use supagate_axum::{AdmitLayer, Admitted};
/// use supagate_testkit::TestKeys;
///
/// async fn whoami(Admitted(caller): Admitted) -> Json<serde_json::Value> {
///     Json(match caller {
///         Caller::User(claims) => serde_json::json!({"mode": "user", "user_id": claims.sub}),
///         other => serde_json::json!({"mode": other.mode()}),
///     })
/// }
///
/// async fn stats(Admitted(caller): Admitted) -> String {
///     format!("called by the {} key", caller.key().unwrap_or_default())
/// }
///
/// let auth = Authenticator::builder(TestKeys::new().verifier())
///     .api_keys(ApiKeys::from_variables(&TestKeys::api_key_variables())?)
///     .build()?;
/// let app: Router = Router::new()
///     .route("/public/whoami", get(whoami).layer(AdmitLayer::new(auth.clone(), "user, none".parse()?)))
///     .route("/internal/stats", get(stats).layer(AdmitLayer::new(auth.clone(), "secret:*".parse()?)))
///     .with_state(auth);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct AdmitLayer {
    auth: Authenticator,
    modes: AuthModes,
}

impl AdmitLayer {
    /// Admits by `modes`, with `auth`'s keys, verifier and refusals.
    #[must_use]
    pub fn new(auth: Authenticator, modes: AuthModes) -> Self {
        AdmitLayer { auth, modes }
    }
}

impl fmt::Debug for AdmitLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdmitLayer")
            .field("modes", &self.modes.to_string())
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for AdmitLayer {
    type Service = AdmitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AdmitService {
            inner,
            auth: self.auth.clone(),
            modes: self.modes.clone(),
        }
    }
}

/// The service made by [`AdmitLayer`].
#[derive(Clone)]
pub struct AdmitService<S> {
    inner: S,
    auth: Authenticator,
    modes: AuthModes,
}

impl<S> fmt::Debug for AdmitService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdmitService")
            .field("modes", &self.modes.to_string())
            .finish_non_exhaustive()
    }
}

/// The admitted caller goes into the extensions as it is (no copy of the claims); the
/// [`Admitted`] extractor takes it out, and [`Authenticated`](crate::Authenticated) reads a
/// user from it.
fn admitted<B>(req: &mut Request<B>, caller: Caller<Verified>) {
    req.extensions_mut().insert(Slot::Admitted(caller));
}

/// Why a second [`Admitted`] in one request is refused.
pub(crate) const TWICE: &str = "Admitted extracted twice in one request";

/// What the layer leaves in the extensions: the admitted caller, until [`Admitted`] takes it
/// out and leaves `Taken` in its place (in place: no allocation), which says whether it was a
/// user (an `Authenticated` extracted later then reads the same token from the request), so
/// that a second `Admitted` is refused instead of deciding again.
// The extension map boxes the slot once; boxing the caller inside it would add the second
// allocation this layout exists to avoid.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub(crate) enum Slot {
    Admitted(Caller<Verified>),
    Taken { user: bool },
}

impl<S, B> Service<Request<B>> for AdmitService<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        match self.auth.admit(req.headers(), &self.modes) {
            Ok(caller) => {
                admitted(&mut req, caller);
                ResponseFuture::inner(self.inner.call(req))
            }
            Err(e) if e.may_settle_async() => {
                // A user token whose key may be on its way: wait for the fetch without holding
                // the worker, then decide (as the policy layer does).
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let (auth, modes) = (self.auth.clone(), self.modes.clone());
                ResponseFuture::waiting(Box::pin(async move {
                    match auth.admit_async(req.headers(), &modes).await {
                        Ok(caller) => {
                            admitted(&mut req, caller);
                            inner.call(req).await
                        }
                        Err(e) => Ok(refusal_response(auth.reject(e).into_refusal())),
                    }
                }))
            }
            Err(e) => ResponseFuture::refused(refusal_response(self.auth.reject(e).into_refusal())),
        }
    }
}

/// Who is calling: the [`Caller`] an [`AdmitLayer`] admitted, with a user's claims as `T`
/// (Supabase's [`supagate_jwt::Claims`] by default, or your own `Deserialize` type).
/// Extract it once per request: it is moved out of the request, not copied, and a second
/// extraction answers 500 ([`AuthError::Internal`]) rather than decide again.
///
/// Without an `AdmitLayer` on the route, the [`Authenticator`] from router state admits the
/// request by its [default modes](supagate_auth::AuthenticatorBuilder::modes) (`user` unless
/// configured), with the same rules and refusals.
///
/// # Examples
///
/// ```
/// use supagate_auth::Caller;
/// use supagate_axum::Admitted;
///
/// async fn ping(Admitted(caller): Admitted) -> String {
///     match caller {
///         Caller::Publishable { key } => format!("hello app {key}"),
///         other => format!("hello {}", other.mode()),
///     }
/// }
/// # let _ = ping;
/// ```
#[derive(Debug, Clone)]
pub struct Admitted<T = supagate_jwt::Claims>(pub Caller<T>);

impl<S, T> FromRequestParts<S> for Admitted<T>
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
    T: DeserializeOwned + Send + 'static,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Authenticator::from_ref(state);
        let caller = take_caller(parts, &auth).await?;
        caller
            .try_map(|v| v.into_typed::<T>())
            .map(Admitted)
            .map_err(|e| AuthRejection::new(&auth, AuthError::Token(e)))
    }
}

/// The caller an [`AdmitLayer`] left in the request, moved out (a second taking is refused),
/// or, without a layer, the request admitted by the authenticator's default modes.
pub(crate) async fn take_caller(
    parts: &mut Parts,
    auth: &Authenticator,
) -> Result<Caller<Verified>, AuthRejection> {
    match parts.extensions.get_mut::<Slot>() {
        Some(Slot::Taken { .. }) => Err(AuthRejection::new(
            auth,
            AuthError::Internal { what: TWICE },
        )),
        Some(slot) => {
            let user = matches!(slot, Slot::Admitted(Caller::User(_)));
            match std::mem::replace(slot, Slot::Taken { user }) {
                Slot::Admitted(c) => Ok(c),
                Slot::Taken { .. } => Err(AuthRejection::new(
                    auth,
                    AuthError::Internal { what: TWICE },
                )),
            }
        }
        None => auth
            .admit_async(&parts.headers, auth.default_modes())
            .await
            .map_err(|e| AuthRejection::new(auth, e)),
    }
}
