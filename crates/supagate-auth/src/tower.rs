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
                admission.insert_into(req.extensions_mut());
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
                            admission.insert_into(req.extensions_mut());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Authenticator;
    use std::convert::Infallible;
    use std::sync::Arc;
    use supagate_jwt::{Error as JwtError, KeySource, PreparedKeys, Verifier};
    use supagate_testkit::{TestKeys, TokenBuilder};

    /// A key source that never has keys: the gate must wait (off the worker), then refuse.
    #[derive(Debug)]
    struct KeysDown;

    impl KeySource for KeysDown {
        fn current(&self) -> Result<Arc<PreparedKeys>, JwtError> {
            Err(JwtError::KeysUnavailable)
        }
    }

    type Inner = tower::util::BoxCloneService<Request<()>, Response<Vec<u8>>, Infallible>;

    fn service(gate: Gate) -> GateService<Inner> {
        let inner = tower::service_fn(|_req: Request<()>| async {
            Ok::<_, Infallible>(Response::new(b"ran".to_vec()))
        });
        GateLayer::new(gate).layer(Inner::new(inner))
    }

    fn request(token: &str) -> Request<()> {
        let mut req = Request::new(());
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        req
    }

    /// Polls `fut` to completion, then once more: a future polled after it completed must
    /// answer a bare 500, never panic (nor poll a finished async block again).
    fn twice<F>(fut: F) -> (u16, u16)
    where
        F: Future<Output = Result<Response<Vec<u8>>, Infallible>>,
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut fut = Box::pin(fut);
        let first = rt.block_on(std::future::poll_fn(|cx| fut.as_mut().poll(cx)));
        let again = rt.block_on(std::future::poll_fn(|cx| fut.as_mut().poll(cx)));
        let status = |r: Result<Response<Vec<u8>>, Infallible>| match r {
            Ok(res) => res.status().as_u16(),
            Err(never) => match never {},
        };
        (status(first), status(again))
    }

    #[test]
    fn a_refusal_polled_again_answers_500() {
        let auth = Authenticator::new(TestKeys::new().verifier_at(TokenBuilder::DEFAULT_NOW));
        let mut svc = service(Gate::modes(auth, "user".parse().unwrap()));
        assert_eq!(twice(svc.call(request("not.a.token"))), (401, 500));
    }

    #[test]
    fn a_finished_wait_polled_again_answers_500() {
        // The token needs a key the source cannot give now: `decide_now` says wait, the boxed
        // wait refuses 503, and the finished wait is never polled again.
        let verifier = Verifier::from_supabase_url(TestKeys::SUPABASE_URL)
            .key_source(KeysDown)
            .build()
            .unwrap();
        let auth = Authenticator::new(verifier);
        let gate = Gate::modes(auth, "user".parse().unwrap());
        let token = TokenBuilder::now().sign_es256(&TestKeys::new());
        assert!(
            gate.decide_now(&request(&token).headers().clone())
                .is_none()
        );
        let mut svc = service(gate);
        assert_eq!(twice(svc.call(request(&token))), (503, 500));
    }

    #[test]
    fn an_admitted_request_reaches_the_service_with_its_admission() {
        let keys = TestKeys::new();
        let auth = Authenticator::new(keys.verifier_at(TokenBuilder::DEFAULT_NOW));
        let inner = tower::service_fn(|req: Request<()>| async move {
            let mode = req
                .extensions()
                .get::<crate::Admission>()
                .and_then(|a| a.caller().map(|c| c.mode()))
                .unwrap_or("missing");
            Ok::<_, Infallible>(Response::new(mode.as_bytes().to_vec()))
        });
        let mut svc = GateLayer::new(Gate::modes(auth, "user".parse().unwrap())).layer(inner);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let res = rt
            .block_on(svc.call(request(&TokenBuilder::new().sign_es256(&keys))))
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.body(), b"user");
    }
}
