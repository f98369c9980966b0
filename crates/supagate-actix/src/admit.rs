//! [`Admit`] and [`Admitted`]: which callers a route admits (auth modes).

use std::fmt;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::{Error, FromRequest, HttpMessage, HttpRequest, ResponseError};
use serde::de::DeserializeOwned;
use supagate_auth::{AuthError, AuthModes, Authenticator, Caller, Rejection};
use supagate_jwt::Verified;

use crate::extract::{ActixHeaders, AuthRejection, authenticator};

/// Middleware that admits a request by the first of its [`AuthModes`] that matches (a
/// signed-in user, a publishable key, a secret key, anyone) before the wrapped service runs; a
/// refused request never reaches it. The [`Caller`] goes into the request extensions for the
/// [`Admitted`] extractor (and a verified user's token for [`Authenticated`](crate::Authenticated)).
///
/// The rules are [`AuthModes`]'; the refusals are the authenticator's, the same as the axum
/// adapter's `AdmitLayer`.
///
/// # Examples
///
/// ```
/// use actix_web::{App, HttpResponse, web};
/// use supagate_auth::{ApiKeys, Authenticator, Caller};
/// use supagate_actix::{Admit, Admitted};
/// use supagate_testkit::TestKeys;
///
/// async fn whoami(Admitted(caller): Admitted) -> HttpResponse {
///     HttpResponse::Ok().json(match caller {
///         Caller::User(claims) => serde_json::json!({"mode": "user", "user_id": claims.sub}),
///         other => serde_json::json!({"mode": other.mode()}),
///     })
/// }
///
/// let auth = Authenticator::builder(TestKeys::new().verifier())
///     .api_keys(ApiKeys::from_variables(&TestKeys::api_key_variables())?)
///     .build()?;
/// let app = App::new().app_data(auth.clone()).service(
///     web::resource("/public/whoami")
///         .wrap(Admit::new(auth, "user, none".parse()?))
///         .route(web::get().to(whoami)),
/// );
/// # let _ = app;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Admit {
    auth: Authenticator,
    modes: AuthModes,
}

impl Admit {
    /// Admits by `modes`, with `auth`'s keys, verifier and refusals.
    #[must_use]
    pub fn new(auth: Authenticator, modes: AuthModes) -> Self {
        Admit { auth, modes }
    }
}

impl fmt::Debug for Admit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admit")
            .field("modes", &self.modes.to_string())
            .finish_non_exhaustive()
    }
}

impl<S, B> Transform<S, ServiceRequest> for Admit
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = AdmitMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(AdmitMiddleware {
            service: Rc::new(service),
            auth: self.auth.clone(),
            modes: self.modes.clone(),
        }))
    }
}

/// The service made by [`Admit`].
pub struct AdmitMiddleware<S> {
    service: Rc<S>,
    auth: Authenticator,
    modes: AuthModes,
}

impl<S> fmt::Debug for AdmitMiddleware<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdmitMiddleware")
            .field("modes", &self.modes.to_string())
            .finish_non_exhaustive()
    }
}

pub(crate) type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

impl<S, B> Service<ServiceRequest> for AdmitMiddleware<S>
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
        let auth = self.auth.clone();
        let modes = self.modes.clone();
        Box::pin(async move {
            let decision = auth.admit_async(&ActixHeaders(req.headers()), &modes).await;
            match decision {
                Ok(caller) => {
                    // As it is (no copy of the claims): `Admitted` takes it out, and
                    // `Authenticated` reads a user from it.
                    req.extensions_mut().insert(Slot::Admitted(caller));
                    let res = service.call(req).await?;
                    Ok(res.map_into_left_body())
                }
                Err(e) => {
                    let response = AuthRejection::new(&auth, e).error_response();
                    Ok(req.into_response(response).map_into_right_body())
                }
            }
        })
    }
}

/// What the middleware leaves in the extensions: the admitted caller, until [`Admitted`]
/// takes it out and leaves `Taken` in its place (in place: no allocation), which says whether
/// it was a user (an `Authenticated` extracted later then reads the same token from the
/// request), so that a second `Admitted` is refused instead of deciding again.
// The extension map boxes the slot once; boxing the caller inside it would add the second
// allocation this layout exists to avoid.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub(crate) enum Slot {
    Admitted(Caller<Verified>),
    Taken { user: bool },
}

/// Who is calling: the [`Caller`] the [`Admit`] middleware admitted, with a user's claims as
/// `T` (Supabase's [`supagate_jwt::Claims`] by default, or your own `Deserialize` type).
/// Extract it once per request: it is moved out of the request, not copied, and a second
/// extraction answers 500 ([`AuthError::Internal`]) rather than decide again.
///
/// Without `Admit` on the route, the [`Authenticator`] from `App::app_data` admits the request
/// by its [default modes](supagate_auth::AuthenticatorBuilder::modes) (`user` unless
/// configured), with the same rules and refusals.
///
/// # Examples
///
/// ```
/// use supagate_auth::Caller;
/// use supagate_actix::Admitted;
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

impl<T: DeserializeOwned + 'static> FromRequest for Admitted<T> {
    type Error = AuthRejection;
    type Future = LocalBoxFuture<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let Some(auth) = authenticator(&req) else {
                return Err(AuthRejection(Rejection::without_authenticator(
                    AuthError::Internal {
                        what: "no supagate Authenticator registered with App::app_data",
                    },
                )));
            };
            let caller = take_caller(&req, &auth).await?;
            caller
                .try_map(|v| v.into_typed::<T>())
                .map(Admitted)
                .map_err(|e| AuthRejection::new(&auth, AuthError::Token(e)))
        })
    }
}

/// The caller the [`Admit`] middleware left in the request, moved out (a second taking is
/// refused), or, without it, the request admitted by the authenticator's default modes.
pub(crate) async fn take_caller(
    req: &HttpRequest,
    auth: &Authenticator,
) -> Result<Caller<Verified>, AuthRejection> {
    let twice = || {
        AuthRejection::new(
            auth,
            AuthError::Internal {
                what: "Admitted extracted twice in one request",
            },
        )
    };
    let admitted = match req.extensions_mut().get_mut::<Slot>() {
        Some(Slot::Taken { .. }) => return Err(twice()),
        Some(slot) => {
            let user = matches!(slot, Slot::Admitted(Caller::User(_)));
            match std::mem::replace(slot, Slot::Taken { user }) {
                Slot::Admitted(c) => Some(c),
                Slot::Taken { .. } => return Err(twice()),
            }
        }
        None => None,
    };
    match admitted {
        Some(c) => Ok(c),
        None => auth
            .admit_async(&ActixHeaders(req.headers()), auth.default_modes())
            .await
            .map_err(|e| AuthRejection::new(auth, e)),
    }
}
