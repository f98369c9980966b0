//! The gate middleware: [`GateMiddleware`] applies any [`Gate`]; [`Require`] (a role policy)
//! and [`Admit`] (auth modes) are its two common uses.

use std::fmt;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::{Error, HttpMessage, ResponseError};
use supagate_auth::{AuthModes, Authenticator, Gate};
use supagate_policy::Policy;

use crate::extract::{ActixHeaders, AuthRejection};

/// Applies a [`Gate`] before the wrapped service runs: an admitted request reaches it with its
/// [`Admission`](supagate_auth::Admission) in the extensions; a refused one never does and is answered with the
/// authenticator's RFC 6750 refusal. A token whose key is being fetched waits for it without
/// blocking the worker. The same decision as the tower `GateLayer` of the axum adapter.
///
/// # Examples
///
/// ```
/// use actix_web::{App, web};
/// use supagate_actix::{Admitted, GateMiddleware};
/// use supagate_auth::{Authenticator, Gate};
/// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
///
/// async fn ping(Admitted(caller): Admitted) -> String {
///     caller.mode().to_owned()
/// }
///
/// let app = App::new().app_data(auth.clone()).service(
///     web::resource("/ping")
///         .wrap(GateMiddleware::new(Gate::modes(auth, "user, none".parse()?)))
///         .route(web::get().to(ping)),
/// );
/// # let _ = app;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct GateMiddleware {
    gate: Gate,
}

impl GateMiddleware {
    /// Middleware applying `gate`.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_actix::GateMiddleware;
    /// use supagate_auth::{Authenticator, Gate};
    /// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
    /// let keys_only = GateMiddleware::new(Gate::modes(auth, "secret:*".parse()?));
    /// # let _ = keys_only;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn new(gate: Gate) -> Self {
        GateMiddleware { gate }
    }
}

/// Middleware that verifies the request's token and checks a [`Policy`] before the wrapped
/// service runs; a refused request never reaches it: a [`Gate::policy`] applied by the one
/// gate middleware ([`GateMiddleware`]). The admitted user goes into the request extensions
/// ([`Admission`](supagate_auth::Admission)), where the [`Authenticated`](crate::Authenticated) and
/// [`Admitted`](crate::Admitted) extractors pick it up without verifying again.
///
/// # Examples
///
/// ```
/// use actix_web::{App, web};
/// use supagate_auth::Authenticator;
/// use supagate_actix::{Authenticated, Require};
/// use supagate_jwt::{Hs256Secret, Verifier};
/// use supagate_policy::{Policy, Requirement};
///
/// async fn stats(Authenticated(claims): Authenticated) -> String {
///     format!("hello admin {}", claims.sub)
/// }
///
/// let verifier = Verifier::from_supabase_url("https://abcdefghijklmnopqrst.supabase.co")
///     .hs256_secret(Hs256Secret::new("an-example-secret-of-at-least-32-bytes")?)
///     .build()?;
/// let auth = Authenticator::new(verifier);
/// let admins = Policy::require(Requirement::role("admin"))?; // app_metadata.role
///
/// let app = App::new().app_data(auth.clone()).service(
///     web::resource("/admin/stats")
///         .wrap(Require::new(auth, admins))
///         .route(web::get().to(stats)),
/// );
/// # let _ = app;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Require(GateMiddleware);

impl Require {
    /// Enforces `policy`, reading and verifying tokens with `auth`.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_actix::Require;
    /// use supagate_auth::Authenticator;
    /// use supagate_policy::{Policy, Requirement};
    /// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
    /// let admins = Require::new(auth, Policy::require(Requirement::role("admin"))?);
    /// # let _ = admins;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn new(auth: Authenticator, policy: Policy) -> Self {
        Require(GateMiddleware::new(Gate::policy(auth, policy)))
    }
}

/// Middleware that admits a request by the first of its [`AuthModes`] that matches (a
/// signed-in user, a publishable key, a secret key, anyone) before the wrapped service runs; a
/// refused request never reaches it: a [`Gate::modes`] applied by the one gate middleware
/// ([`GateMiddleware`]). The [`Caller`](supagate_auth::Caller) goes into the request extensions
/// ([`Admission`](supagate_auth::Admission)) for the [`Admitted`](crate::Admitted) extractor (and a verified user's token
/// for [`Authenticated`](crate::Authenticated)).
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
#[derive(Clone, Debug)]
pub struct Admit(GateMiddleware);

impl Admit {
    /// Admits by `modes`, with `auth`'s keys, verifier and refusals.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_actix::Admit;
    /// use supagate_auth::Authenticator;
    /// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
    /// let public = Admit::new(auth, "user, none".parse()?);
    /// # let _ = public;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn new(auth: Authenticator, modes: AuthModes) -> Self {
        Admit(GateMiddleware::new(Gate::modes(auth, modes)))
    }
}

/// The gate middleware under each of its names: one `Transform`, made once per name.
macro_rules! gate_transform {
    ($name:ident $(. $field:tt)+) => {
        impl<S, B> Transform<S, ServiceRequest> for $name
        where
            S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
            B: MessageBody + 'static,
        {
            type Response = ServiceResponse<EitherBody<B>>;
            type Error = Error;
            type Transform = GateMiddlewareService<S>;
            type InitError = ();
            type Future = Ready<Result<Self::Transform, Self::InitError>>;

            fn new_transform(&self, service: S) -> Self::Future {
                ready(Ok(GateMiddlewareService {
                    service: Rc::new(service),
                    gate: self$(.$field)+.clone(),
                }))
            }
        }
    };
}

gate_transform!(GateMiddleware.gate);
gate_transform!(Require.0.gate);
gate_transform!(Admit.0.gate);

/// The service made by [`GateMiddleware`] (and [`Require`], [`Admit`]).
pub struct GateMiddlewareService<S> {
    service: Rc<S>,
    gate: Gate,
}

impl<S> fmt::Debug for GateMiddlewareService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GateMiddlewareService")
            .field("gate", &self.gate)
            .finish_non_exhaustive()
    }
}

pub(crate) type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

impl<S, B> Service<ServiceRequest> for GateMiddlewareService<S>
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
        let gate = self.gate.clone();
        Box::pin(async move {
            // Decided at once unless a key fetch is under way, which is awaited without
            // blocking the worker.
            match gate.decide(&ActixHeaders(req.headers())).await {
                Ok(mut admission) => {
                    // An inner gate's admission replaces an outer one's, keeping its policies.
                    if let Some(outer) = req.extensions().get::<supagate_auth::Admission>() {
                        admission.inherit(outer);
                    }
                    req.extensions_mut().insert(admission);
                    let res = service.call(req).await?;
                    Ok(res.map_into_left_body())
                }
                Err(rejection) => {
                    let response = AuthRejection(rejection).error_response();
                    Ok(req.into_response(response).map_into_right_body())
                }
            }
        })
    }
}
