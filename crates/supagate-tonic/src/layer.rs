//! [`GateLayer`]: gates in front of a tonic service, per service and per method.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body as HttpBody;
use supagate_auth::{Admission, Caller, Gate, Rejection, Watch};
use tonic::body::Body;
use tonic::server::NamedService;
use tower_layer::Layer;
use tower_service::Service;

use crate::body::{Watched, WatchedRequest};
use crate::status::status;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Gates in front of a tonic service: the bearer (and `apikey`) are read from the request
/// metadata, a refused call never reaches the service and gets the refusal's status
/// ([`status`](crate::status): `Unauthenticated`, `PermissionDenied`, `Unavailable` with
/// `retry-after` metadata, the reason as the message), and an admitted one reaches it with
/// its [`Admission`] in the request's extensions, which [`user`](crate::user) and
/// [`caller`](crate::caller) read.
///
/// One gate serves every method of the service unless a method has its own
/// ([`GateLayer::method`]) or is public ([`GateLayer::public`]). An admitted user's response
/// is [`Watched`]: a server stream ends with `Unauthenticated` when the token expires or the
/// session is revoked, rather than streaming on.
///
/// The service keeps its [`NamedService`] name, so the layered service goes to tonic's
/// `Server::add_service` as the service itself did.
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use supagate_auth::{Authenticator, Gate};
/// use supagate_policy::{Policy, Requirement};
/// use supagate_tonic::GateLayer;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
/// let admins = Policy::require(Requirement::role("admin"))?;
/// let layer = GateLayer::new(Gate::modes(auth.clone(), "user".parse()?))
///     .method("DeleteNote", Gate::policy(auth.clone(), admins))?
///     .public("/notes.Notes/Ping")?;
/// let service = layer.layer(service_fn(|_req: http::Request<tonic::body::Body>| async {
///     Ok::<_, Infallible>(http::Response::new(tonic::body::Body::empty()))
/// }));
/// let call = |path: &str| http::Request::builder().uri(path).body(tonic::body::Body::empty());
/// let refused = service.clone().oneshot(call("/notes.Notes/ListNotes")?).await?;
/// assert_eq!(refused.headers()["grpc-status"], "16"); // Unauthenticated: no token
/// let public = service.oneshot(call("/notes.Notes/Ping")?).await?;
/// assert!(public.headers().get("grpc-status").is_none()); // the service answered
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct GateLayer {
    rules: Arc<Rules>,
}

#[derive(Clone)]
struct Rules {
    every: Gate,
    /// Per-method exceptions: the method's name (or its whole path) and its own gate, `None`
    /// when it is public.
    methods: Vec<(Box<str>, Option<Gate>)>,
}

impl fmt::Debug for GateLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let methods: Vec<(&str, bool)> = self
            .rules
            .methods
            .iter()
            .map(|(m, g)| (&**m, g.is_some()))
            .collect();
        f.debug_struct("GateLayer")
            .field("every", &self.rules.every)
            .field("methods (gated)", &methods)
            .finish()
    }
}

impl Rules {
    /// The gate of a call to `path` (`/package.Service/Method`): `None` when public. A rule
    /// for the whole path wins over one for the method's name.
    fn gate(&self, path: &str) -> Option<&Gate> {
        let rule = |matches: &dyn Fn(&str) -> bool| {
            self.methods
                .iter()
                .find(|(name, _)| matches(name))
                .map(|(_, gate)| gate.as_ref())
        };
        if let Some(gate) = rule(&|name| name.starts_with('/') && name == path) {
            return gate;
        }
        let method = path.rsplit_once('/').map_or(path, |(_, m)| m);
        rule(&|name| !name.starts_with('/') && name == method).unwrap_or(Some(&self.every))
    }
}

/// A method rule [`GateLayer`] refuses: a name in neither accepted shape, or one named twice.
/// A rule that could never match would leave its method under the service's gate, silently.
///
/// # Examples
///
/// ```
/// use supagate_auth::{Authenticator, Gate};
/// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
/// let layer = supagate_tonic::GateLayer::new(Gate::modes(auth, "user".parse()?));
/// let err = layer.public("notes.Notes.Ping").unwrap_err(); // a descriptor name, not a path
/// assert!(err.to_string().contains("notes.Notes.Ping"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodRuleError {
    name: String,
    why: &'static str,
}

impl fmt::Display for MethodRuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "gRPC method rule {:?}: {}", self.name, self.why)
    }
}

impl std::error::Error for MethodRuleError {}

/// Whether `name` is a method's name (`DeleteNote`) or a call's whole path
/// (`/notes.Notes/DeleteNote`).
fn well_formed(name: &str) -> bool {
    let ident = |s: &str, dots: bool| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || (dots && b == b'.'))
    };
    match name.strip_prefix('/') {
        None => ident(name, false),
        Some(rest) => rest
            .split_once('/')
            .is_some_and(|(service, method)| ident(service, true) && ident(method, false)),
    }
}

impl GateLayer {
    /// `gate` in front of every method.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::{Authenticator, Gate};
    /// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
    /// let layer = supagate_tonic::GateLayer::new(Gate::modes(auth, "user, publishable:*".parse()?));
    /// # let _ = layer;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn new(gate: Gate) -> Self {
        GateLayer {
            rules: Arc::new(Rules {
                every: gate,
                methods: Vec::new(),
            }),
        }
    }

    /// `gate` in front of `method` instead: a method's name (`"DeleteNote"`, in whichever
    /// service the layer is in front of) or a call's whole path
    /// (`"/notes.Notes/DeleteNote"`, which wins over a name; use paths when one layer is in
    /// front of several services).
    ///
    /// # Errors
    ///
    /// [`MethodRuleError`] for a name in neither shape, or one that has a rule already.
    ///
    /// # Examples
    ///
    /// See [`GateLayer`].
    pub fn method(self, method: &str, gate: Gate) -> Result<Self, MethodRuleError> {
        self.with(method, Some(gate))
    }

    /// No gate in front of `method` (a health check, a public listing): its calls reach the
    /// service undecided, where [`user`](crate::user) and [`caller`](crate::caller) decide by
    /// the authenticator's defaults, and nothing ends its streams. Names as in
    /// [`GateLayer::method`].
    ///
    /// # Errors
    ///
    /// As [`GateLayer::method`].
    ///
    /// # Examples
    ///
    /// See [`GateLayer`].
    pub fn public(self, method: &str) -> Result<Self, MethodRuleError> {
        self.with(method, None)
    }

    fn with(self, method: &str, gate: Option<Gate>) -> Result<Self, MethodRuleError> {
        let refuse = |why| MethodRuleError {
            name: method.to_owned(),
            why,
        };
        if !well_formed(method) {
            return Err(refuse(
                "neither a method's name (DeleteNote) nor a call's path (/notes.Notes/DeleteNote)",
            ));
        }
        if self.rules.methods.iter().any(|(name, _)| **name == *method) {
            return Err(refuse("named twice"));
        }
        let mut rules = Arc::unwrap_or_clone(self.rules);
        rules.methods.push((method.into(), gate));
        Ok(GateLayer {
            rules: Arc::new(rules),
        })
    }
}

impl<S> Layer<S> for GateLayer {
    type Service = GateService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GateService {
            inner,
            rules: Arc::clone(&self.rules),
        }
    }
}

/// The service made by [`GateLayer`]: tonic's `Service<Request<Body>>` with the inner
/// service's [`NamedService`] name.
#[derive(Clone)]
pub struct GateService<S> {
    inner: S,
    rules: Arc<Rules>,
}

impl<S> fmt::Debug for GateService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GateService").finish_non_exhaustive()
    }
}

impl<S: NamedService> NamedService for GateService<S> {
    const NAME: &'static str = S::NAME;
}

/// A refused call's response: the status in the headers of an otherwise empty response
/// (gRPC's trailers-only form).
fn refused(rejection: &Rejection) -> Response<Body> {
    status(rejection).into_http()
}

/// The watch of an admitted user's credential; `None` for a key or anyone.
fn watch_of(gate: &Gate, admission: &Admission, headers: &http::HeaderMap) -> Option<Watch> {
    matches!(admission.caller(), Some(Caller::User(_)))
        .then(|| Watch::of(gate.authenticator(), admission, headers))
}

/// The request with its body bound to the caller's credential when it is a user's (a client
/// or bidirectional stream ends with it), as tonic's body.
fn bound<B>(req: Request<B>, watch: Option<&Watch>) -> Request<Body>
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    match watch {
        Some(watch) => req.map(|b| Body::new(WatchedRequest::new(b, watch.clone()))),
        None => req.map(Body::new),
    }
}

impl<S, B, RB> Service<Request<B>> for GateService<S>
where
    S: Service<Request<Body>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: 'static,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    RB: HttpBody<Data = Bytes> + Send + 'static,
    RB::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = GateFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let Some(gate) = self.rules.gate(req.uri().path()) else {
            return GateFuture::inner(self.inner.call(bound(req, None)), None);
        };
        match gate.decide_now(req.headers()) {
            Some(Ok(admission)) => {
                let watch = watch_of(gate, &admission, req.headers());
                admission.insert_into(req.extensions_mut());
                GateFuture::inner(self.inner.call(bound(req, watch.as_ref())), watch)
            }
            Some(Err(rejection)) => GateFuture {
                kind: Kind::Refused {
                    response: Some(refused(&rejection)),
                },
            },
            None => {
                // The token's key (or its session's liveness) is on its way: wait for it
                // without holding the worker. The inner service made ready goes into the
                // future; a clone takes its place.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let gate = gate.clone();
                let future = async move {
                    match gate.decide(req.headers()).await {
                        Ok(admission) => {
                            let watch = watch_of(&gate, &admission, req.headers());
                            admission.insert_into(req.extensions_mut());
                            let req = bound(req, watch.as_ref());
                            inner.call(req).await.map(|res| answer(res, watch))
                        }
                        Err(rejection) => Ok(refused(&rejection)),
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

/// The service's response as tonic's body, bound to the caller's credential when it is a
/// user's.
fn answer<RB>(res: Response<RB>, watch: Option<Watch>) -> Response<Body>
where
    RB: HttpBody<Data = Bytes> + Send + 'static,
    RB::Error: Into<BoxError>,
{
    match watch {
        Some(watch) => res.map(|b| Body::new(Watched::new(b, watch))),
        None => res.map(Body::new),
    }
}

type Waiting<E> = Pin<Box<dyn Future<Output = Result<Response<Body>, E>> + Send>>;

pin_project_lite::pin_project! {
    /// The response future of [`GateService`]: the service's own, a refusal ready now, or
    /// (rarely) a boxed wait for a key fetch or a liveness answer.
    pub struct GateFuture<F, E> {
        #[pin]
        kind: Kind<F, E>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<F, E> {
        Inner { #[pin] future: F, watch: Option<Watch> },
        Refused { response: Option<Response<Body>> },
        Waiting { future: Waiting<E> },
        Done,
    }
}

impl<F, E> GateFuture<F, E> {
    fn inner(future: F, watch: Option<Watch>) -> Self {
        GateFuture {
            kind: Kind::Inner { future, watch },
        }
    }
}

impl<F, E> fmt::Debug for GateFuture<F, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GateFuture").finish_non_exhaustive()
    }
}

/// The answer of a future polled again after it completed: `Internal`, never a panic.
fn polled_after_completion() -> Response<Body> {
    tonic::Status::internal("internal server error").into_http()
}

impl<F, RB, E> Future for GateFuture<F, E>
where
    F: Future<Output = Result<Response<RB>, E>>,
    RB: HttpBody<Data = Bytes> + Send + 'static,
    RB::Error: Into<BoxError>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut kind = self.project().kind;
        match kind.as_mut().project() {
            KindProj::Inner { future, watch } => {
                let out = std::task::ready!(future.poll(cx));
                let watch = watch.take();
                kind.set(Kind::Done);
                Poll::Ready(out.map(|res| answer(res, watch)))
            }
            KindProj::Waiting { future } => {
                let out = std::task::ready!(future.as_mut().poll(cx));
                kind.set(Kind::Done);
                Poll::Ready(out)
            }
            KindProj::Refused { response } => {
                Poll::Ready(Ok(response.take().unwrap_or_else(polled_after_completion)))
            }
            KindProj::Done => Poll::Ready(Ok(polled_after_completion())),
        }
    }
}
