//! [`GateLayer`]: a [`Gate`] in front of any tower service on `http` types (feature `tower`):
//! axum routers, tonic servers, hyper services, your own.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::gate::Gate;
use crate::refusal::Refusal;

/// Applies a [`Gate`] to every request before the inner service runs: an admitted request
/// reaches it with its [`Admission`](crate::Admission) in the extensions; a refused one never
/// does and is answered with the authenticator's RFC 6750 refusal. A request whose token
/// needs a key being fetched waits for it without holding the worker; every other decision is
/// made in `call`, without boxing a future.
///
/// The inner service answers `http::Response<ResBody>` for any body that can be made from the
/// refusal's bytes (`ResBody: From<Vec<u8>>`: axum's `Body`, `http_body_util::Full<Bytes>`,
/// `String`…).
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use supagate_auth::tower::GateLayer;
/// use supagate_auth::{Admission, Authenticator, Gate};
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
/// let gate = Gate::modes(auth, "user".parse()?);
/// let service = GateLayer::new(gate).layer(service_fn(|req: http::Request<()>| async move {
///     let admitted = req.extensions().get::<Admission>().is_some();
///     Ok::<_, Infallible>(http::Response::new(format!("admitted: {admitted}").into_bytes()))
/// }));
/// let res = service.oneshot(http::Request::new(())).await?;
/// assert_eq!(res.status(), 401); // no token: the gate answered
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct GateLayer {
    gate: Gate,
}

impl GateLayer {
    /// A layer applying `gate`.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::tower::GateLayer;
    /// use supagate_auth::{Authenticator, Gate};
    /// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
    /// let layer = GateLayer::new(Gate::modes(auth, "user, publishable:*".parse()?));
    /// # let _ = layer;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn new(gate: Gate) -> Self {
        GateLayer { gate }
    }
}

impl<S> Layer<S> for GateLayer {
    type Service = GateService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GateService {
            inner,
            gate: self.gate.clone(),
        }
    }
}

/// The service made by [`GateLayer`].
#[derive(Clone)]
pub struct GateService<S> {
    inner: S,
    gate: Gate,
}

impl<S> fmt::Debug for GateService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GateService")
            .field("gate", &self.gate)
            .finish_non_exhaustive()
    }
}

/// The answer of a future polled again after it completed: a bare 500 rather than a panic.
fn polled_after_completion<ResBody: From<Vec<u8>>>() -> Response<ResBody> {
    let mut res = Response::new(ResBody::from(Vec::new()));
    *res.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    res
}

/// A refusal as a response with `ResBody`.
fn refusal_response<ResBody: From<Vec<u8>>>(refusal: Refusal) -> Response<ResBody> {
    refusal.into_response().map(ResBody::from)
}

impl<S, B, ResBody> Service<Request<B>> for GateService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: 'static,
    B: Send + 'static,
    ResBody: From<Vec<u8>> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = GateFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        match self.gate.decide_now(req.headers()) {
            Some(Ok(admission)) => {
                req.extensions_mut().insert(admission);
                GateFuture {
                    kind: Kind::Inner {
                        future: self.inner.call(req),
                    },
                }
            }
            Some(Err(rejection)) => GateFuture {
                kind: Kind::Refused {
                    response: Some(refusal_response(rejection.into_refusal())),
                },
            },
            None => {
                // The token's key may be on its way (a rotation, the first fetch): wait for it
                // without holding the worker, then decide. The inner service that was made
                // ready goes into the future; a clone takes its place.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let gate = self.gate.clone();
                let future = async move {
                    match gate.decide(req.headers()).await {
                        Ok(admission) => {
                            req.extensions_mut().insert(admission);
                            inner.call(req).await
                        }
                        Err(rejection) => Ok(refusal_response(rejection.into_refusal())),
                    }
                };
                GateFuture {
                    kind: Kind::Waiting {
                        future: Box::pin(future),
                    },
                }
            }
        }
    }
}

type Waiting<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

pin_project_lite::pin_project! {
    /// The response future of [`GateService`]: the inner service's, a refusal ready now, or
    /// (rarely) a boxed wait for a key fetch.
    pub struct GateFuture<F, ResBody, E> {
        #[pin]
        kind: Kind<F, ResBody, E>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<F, ResBody, E> {
        Inner { #[pin] future: F },
        Refused { response: Option<Response<ResBody>> },
        Waiting { future: Waiting<Response<ResBody>, E> },
        Done,
    }
}

impl<F, ResBody, E> fmt::Debug for GateFuture<F, ResBody, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GateFuture").finish_non_exhaustive()
    }
}

impl<F, ResBody, E> Future for GateFuture<F, ResBody, E>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: From<Vec<u8>>,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut kind = self.project().kind;
        match kind.as_mut().project() {
            KindProj::Inner { future } => future.poll(cx),
            KindProj::Waiting { future } => {
                let out = std::task::ready!(future.as_mut().poll(cx));
                // The boxed wait is finished: never poll it again.
                kind.set(Kind::Done);
                Poll::Ready(out)
            }
            KindProj::Refused { response } => match response.take() {
                Some(r) => Poll::Ready(Ok(r)),
                None => Poll::Ready(Ok(polled_after_completion())),
            },
            KindProj::Done => Poll::Ready(Ok(polled_after_completion())),
        }
    }
}
