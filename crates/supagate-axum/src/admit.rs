//! [`AdmitLayer`] and [`Admitted`]: which callers a route admits (auth modes).

use std::fmt;

use axum_core::extract::{FromRef, FromRequestParts};
use http::request::Parts;
use serde::de::DeserializeOwned;
use supagate_auth::tower::{GateLayer, GateService};
use supagate_auth::{Admission, AuthError, AuthModes, Authenticator, Caller, Gate};
use supagate_jwt::Verified;
use tower_layer::Layer;

use crate::extract::AuthRejection;

/// A layer that admits a request by the first of its [`AuthModes`] that matches (a signed-in
/// user, a publishable key, a secret key, anyone) before the inner service runs; a refused
/// request never reaches it: a [`Gate::modes`] applied by the generic [`GateLayer`]. The
/// [`Caller`] goes into the request extensions ([`Admission`]) for the [`Admitted`] extractor
/// (and a verified user's token for [`Authenticated`](crate::Authenticated)).
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
pub struct AdmitLayer(GateLayer);

impl AdmitLayer {
    /// Admits by `modes`, with `auth`'s keys, verifier and refusals.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::Authenticator;
    /// use supagate_axum::AdmitLayer;
    /// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
    /// let public = AdmitLayer::new(auth, "user, none".parse()?);
    /// # let _ = public;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn new(auth: Authenticator, modes: AuthModes) -> Self {
        AdmitLayer(GateLayer::new(Gate::modes(auth, modes)))
    }
}

impl fmt::Debug for AdmitLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AdmitLayer").field(&self.0).finish()
    }
}

impl<S> Layer<S> for AdmitLayer {
    type Service = GateService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        self.0.layer(inner)
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

/// The caller a gate admitted, moved out of the request (a second taking is refused), or,
/// without a gate, the request admitted by the authenticator's default modes: the rules of
/// [`Admission`].
pub(crate) async fn take_caller(
    parts: &mut Parts,
    auth: &Authenticator,
) -> Result<Caller<Verified>, AuthRejection> {
    Admission::take_caller(parts.extensions.get_mut::<Admission>())
        .resolve(auth, &parts.headers)
        .await
        .map_err(|e| AuthRejection::new(auth, e))
}
