//! [`RequireLayer`]: a route layer that enforces a role policy.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::response::Response;
use http::Request;
use supagate_auth::Authenticator;
use supagate_policy::Policy;
use tower_layer::Layer;
use tower_service::Service;

use crate::extract::refusal_response;

/// A layer that verifies the request's token and checks a [`Policy`] before the inner service
/// runs; a refused request never reaches it. The verified token is put in the request
/// extensions, where the [`Authenticated`](crate::Authenticated) extractor picks it up without verifying
/// again.
///
/// Use it with `Router::route_layer` so that unmatched paths still answer 404.
///
/// # Examples
///
/// ```
/// use axum::{Router, routing::get};
/// use supagate_auth::Authenticator;
/// use supagate_axum::{Authenticated, RequireLayer};
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
/// let app: Router = Router::new()
///     .route("/admin/stats", get(stats))
///     .route_layer(RequireLayer::new(auth.clone(), admins))
///     .with_state(auth);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct RequireLayer {
    auth: Authenticator,
    policy: Arc<Policy>,
}

impl RequireLayer {
    /// Enforces `policy`, reading and verifying tokens with `auth`.
    #[must_use]
    pub fn new(auth: Authenticator, policy: Policy) -> Self {
        RequireLayer {
            auth,
            policy: Arc::new(policy),
        }
    }
}

impl fmt::Debug for RequireLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireLayer")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for RequireLayer {
    type Service = RequireService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireService {
            inner,
            auth: self.auth.clone(),
            policy: Arc::clone(&self.policy),
        }
    }
}

/// The service made by [`RequireLayer`].
#[derive(Clone)]
pub struct RequireService<S> {
    inner: S,
    auth: Authenticator,
    policy: Arc<Policy>,
}

impl<S> fmt::Debug for RequireService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireService")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<Request<B>> for RequireService<S>
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
        match self.auth.authorize(req.headers(), &self.policy) {
            Ok(verified) => {
                req.extensions_mut().insert(verified);
                ResponseFuture {
                    kind: Kind::Inner {
                        future: self.inner.call(req),
                    },
                }
            }
            Err(e) if e.may_settle_async() => {
                // The key may be on its way (a rotation, the first fetch): wait for the fetch
                // without holding the worker, then decide. The inner service that was made
                // ready goes into the future; a clone takes its place.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let (auth, policy) = (self.auth.clone(), Arc::clone(&self.policy));
                let future = async move {
                    match auth.authorize_async(req.headers(), &policy).await {
                        Ok(verified) => {
                            req.extensions_mut().insert(verified);
                            inner.call(req).await
                        }
                        Err(e) => Ok(refusal_response(auth.reject(e).into_refusal())),
                    }
                };
                ResponseFuture {
                    kind: Kind::Waiting {
                        future: Box::pin(future),
                    },
                }
            }
            Err(e) => {
                let refusal = self.auth.reject(e).into_refusal();
                ResponseFuture {
                    kind: Kind::Refused {
                        response: Some(refusal_response(refusal)),
                    },
                }
            }
        }
    }
}

type Waiting<E> = Pin<Box<dyn Future<Output = Result<Response, E>> + Send>>;

pin_project_lite::pin_project! {
    /// The response future of [`RequireService`] and [`AdmitService`](crate::AdmitService).
    pub struct ResponseFuture<F, E> {
        #[pin]
        kind: Kind<F, E>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<F, E> {
        Inner { #[pin] future: F },
        Refused { response: Option<Response> },
        Waiting { future: Waiting<E> },
    }
}

impl<F, E> ResponseFuture<F, E> {
    pub(crate) fn inner(future: F) -> Self {
        ResponseFuture {
            kind: Kind::Inner { future },
        }
    }

    pub(crate) fn waiting(future: Waiting<E>) -> Self {
        ResponseFuture {
            kind: Kind::Waiting { future },
        }
    }

    pub(crate) fn refused(response: Response) -> Self {
        ResponseFuture {
            kind: Kind::Refused {
                response: Some(response),
            },
        }
    }
}

impl<F, E> fmt::Debug for ResponseFuture<F, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, E> Future for ResponseFuture<F, E>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future.poll(cx),
            KindProj::Waiting { future } => future.as_mut().poll(cx),
            KindProj::Refused { response } => match response.take() {
                Some(r) => Poll::Ready(Ok(r)),
                // Polled again after completion: answer a bare 500 rather than panic.
                None => {
                    let mut res = Response::new(axum_core::body::Body::empty());
                    *res.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                    Poll::Ready(Ok(res))
                }
            },
        }
    }
}
