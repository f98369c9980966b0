//! One gate on a plain `tower::Service` on `http` types, with no web framework: what a poem
//! app (through its tower compatibility) or a hyper server puts behind supagate. The service answers who the gate admitted; the tests host it on hyper
//! alone and inside poem.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use supagate::auth::tower::{GateLayer, GateService};
use supagate::auth::{Admission, Authenticator, Gate};
use tower::util::ServiceFn;
use tower::{Layer, service_fn};

/// The answer type: a full body, as hyper and poem's compatibility take it.
pub type Answer = http::Response<Full<Bytes>>;

/// The ungated service: it answers `{"mode": …, "user": …}` from the request's admission.
pub type Whoami<B> =
    ServiceFn<fn(http::Request<B>) -> std::future::Ready<Result<Answer, Infallible>>>;

fn whoami<B>(req: http::Request<B>) -> std::future::Ready<Result<Answer, Infallible>> {
    let admitted = req
        .extensions()
        .get::<Admission>()
        .and_then(Admission::caller);
    let body = serde_json::json!({
        "mode": admitted.map(|c| c.mode()),
        "user": admitted.and_then(|c| c.user()).map(|v| v.claims().sub.to_string()),
    });
    let mut res = http::Response::new(Full::new(Bytes::from(body.to_string())));
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    std::future::ready(Ok(res))
}

/// The service behind `gate`: a signed-in user, an API key or anyone, as its modes say.
#[must_use]
pub fn gated<B: 'static>(gate: Gate) -> GateService<Whoami<B>> {
    GateLayer::new(gate).layer(service_fn(whoami as fn(_) -> _))
}

/// The gate the hosts share: `user, none` (a signed-in user, else anyone; a bad token is
/// still refused).
///
/// # Errors
///
/// Never for this list; the type is the parser's.
pub fn gate(auth: Authenticator) -> Result<Gate, supagate::auth::AuthModeError> {
    Ok(Gate::modes(auth, "user, none".parse()?))
}
