//! [`Require`]: middleware that enforces a role policy.

use std::fmt;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::{Error, HttpMessage, ResponseError};
use supagate_auth::Authenticator;
use supagate_policy::Policy;

use crate::extract::{ActixHeaders, AuthRejection};

/// Middleware that verifies the request's token and checks a [`Policy`] before the wrapped
/// service runs; a refused request never reaches it. The verified token is put in the request
/// extensions, where the [`Authenticated`](crate::Authenticated) extractor picks it up without verifying
/// again.
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
#[derive(Clone)]
pub struct Require {
    auth: Authenticator,
    policy: Rc<Policy>,
}

impl Require {
    /// Enforces `policy`, reading and verifying tokens with `auth`.
    #[must_use]
    pub fn new(auth: Authenticator, policy: Policy) -> Self {
        Require {
            auth,
            policy: Rc::new(policy),
        }
    }
}

impl fmt::Debug for Require {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Require")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<S, B> Transform<S, ServiceRequest> for Require
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = RequireMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequireMiddleware {
            service: Rc::new(service),
            auth: self.auth.clone(),
            policy: Rc::clone(&self.policy),
        }))
    }
}

/// The service made by [`Require`].
pub struct RequireMiddleware<S> {
    service: Rc<S>,
    auth: Authenticator,
    policy: Rc<Policy>,
}

impl<S> fmt::Debug for RequireMiddleware<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireMiddleware")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

impl<S, B> Service<ServiceRequest> for RequireMiddleware<S>
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
        let policy = Rc::clone(&self.policy);
        Box::pin(async move {
            // Waits (without blocking the worker) for a key fetch under way, if the token
            // needs one; otherwise answers at once.
            let decision = auth
                .authorize_async(&ActixHeaders(req.headers()), &policy)
                .await;
            match decision {
                Ok(verified) => {
                    req.extensions_mut().insert(verified);
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
