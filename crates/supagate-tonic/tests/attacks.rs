//! Attacks on the tonic adapter without a network: streams that never wait, a service's own
//! trailers, client streams after the end, method rules that could fail open, futures polled
//! after they completed. Real time where a token expires (the system clock, no leeway).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::StreamExt as _;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use supagate_auth::{Authenticator, Gate, Watch};
use supagate_testkit::{TestKeys, TokenBuilder};
use supagate_tonic::{GateLayer, Watched};
use tonic::body::Body;
use tower::{Layer, Service, ServiceExt, service_fn};

fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

fn at(unix: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(unix).unwrap())
}

struct Setup {
    auth: Authenticator,
    keys: TestKeys,
}

fn setup() -> Setup {
    let keys = TestKeys::new();
    let verifier = keys
        .verifier_builder()
        .leeway(Duration::ZERO)
        .build()
        .unwrap();
    Setup {
        auth: Authenticator::new(verifier),
        keys,
    }
}

fn headers(token: &str) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert("authorization", format!("Bearer {token}").parse().unwrap());
    h
}

/// The watch of `token`, admitted by `admit` (which may be more lenient than `s.auth`, to
/// build a watch of a token that is over already).
async fn watch_via(s: &Setup, admit: &Authenticator, token: &str) -> Watch {
    let h = headers(token);
    let admission = Gate::modes(admit.clone(), "user".parse().unwrap())
        .decide(&h)
        .await
        .unwrap();
    Watch::of(&s.auth, &admission, &h)
}

/// A stream whose next message is always ready (an export to a slow reader): it never waits,
/// so a watch armed only on a wait would never be; it ends on time all the same, and no
/// message goes after its end.
#[tokio::test]
async fn a_stream_that_never_waits_ends_on_time() {
    let s = setup();
    let issued = now();
    let token = TokenBuilder::new().issued_at(issued, 2).sign_es256(&s.keys);
    let always = StreamBody::new(futures_util::stream::repeat_with(|| {
        Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"row")))
    }));
    let mut body = Watched::new(always, watch_via(&s, &s.auth, &token).await);
    let mut rows = 0u32;
    let trailers = loop {
        let frame = tokio::time::timeout(Duration::from_secs(4), body.frame())
            .await
            .expect("a frame")
            .expect("not the end before the trailers")
            .unwrap();
        match frame.into_data() {
            Ok(_) => rows += 1,
            Err(frame) => break frame.into_trailers().unwrap(),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let late = SystemTime::now()
        .duration_since(at(issued + 2))
        .expect("ended early");
    assert_eq!(trailers["grpc-status"], "16");
    assert_eq!(trailers["grpc-message"], "token%20expired");
    assert!(
        late <= Duration::from_secs(1),
        "ended {late:?} after expiry"
    );
    assert!(rows >= 5, "{rows} rows");
    assert!(body.frame().await.is_none(), "a frame after the end");
    assert!(
        body.frame().await.is_none(),
        "polled again: still the end, no panic"
    );
}

/// The service's own trailers end the stream: nothing follows them (a consumer that reads to
/// the end never sees `grpc-status` twice), even when the watch ends right after.
#[tokio::test]
async fn the_services_trailers_are_the_last_frame() {
    let s = setup();
    let issued = now();
    let token = TokenBuilder::new().issued_at(issued, 1).sign_es256(&s.keys);
    let mut ok = http::HeaderMap::new();
    ok.insert("grpc-status", "0".parse().unwrap());
    let frames = futures_util::stream::iter([
        Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"answer"))),
        Ok(Frame::trailers(ok)),
    ])
    .chain(futures_util::stream::pending());
    let mut body = Watched::new(
        StreamBody::new(frames),
        watch_via(&s, &s.auth, &token).await,
    );
    assert!(body.frame().await.unwrap().unwrap().is_data());
    let trailers = body
        .frame()
        .await
        .unwrap()
        .unwrap()
        .into_trailers()
        .unwrap();
    assert_eq!(trailers["grpc-status"], "0");
    // Past the token's end: the body is over, no second trailers.
    tokio::time::sleep(
        at(issued + 1)
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            + Duration::from_millis(200),
    )
    .await;
    let after = tokio::time::timeout(Duration::from_millis(500), body.frame()).await;
    assert!(matches!(after, Ok(None)), "{after:?}");
}

/// A stream of a token that is over before its first message: the first message, ready at
/// once, is indistinguishable from a unary answer and goes; nothing after it.
#[tokio::test]
async fn a_stream_of_a_token_over_already_sends_one_message_at_most() {
    let s = setup();
    let token = TokenBuilder::new()
        .issued_at(now() - 10, 9)
        .sign_es256(&s.keys);
    // Admitted by a verifier with the default 30 s leeway; watched by one with none.
    let watch = watch_via(&s, &Authenticator::new(s.keys.verifier()), &token).await;
    assert!(watch.expired());
    let always = StreamBody::new(futures_util::stream::repeat_with(|| {
        Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"row")))
    }));
    let mut body = Watched::new(always, watch);
    assert!(body.frame().await.unwrap().unwrap().is_data());
    let end = body.frame().await.unwrap().unwrap();
    assert_eq!(end.into_trailers().unwrap()["grpc-status"], "16");
    assert!(body.frame().await.is_none());
}

/// A stream that waits for its first message while its token ends: it ends on time, before
/// any message.
#[tokio::test]
async fn a_stream_waiting_for_its_first_message_ends_on_time() {
    let s = setup();
    let issued = now();
    let token = TokenBuilder::new().issued_at(issued, 1).sign_es256(&s.keys);
    let never = StreamBody::new(futures_util::stream::pending::<
        Result<Frame<Bytes>, Infallible>,
    >());
    let mut body = Watched::new(never, watch_via(&s, &s.auth, &token).await);
    let end = tokio::time::timeout(Duration::from_secs(3), body.frame())
        .await
        .expect("ended")
        .unwrap()
        .unwrap();
    assert_eq!(end.into_trailers().unwrap()["grpc-status"], "16");
    let late = SystemTime::now()
        .duration_since(at(issued + 1))
        .expect("ended early");
    assert!(late <= Duration::from_secs(1), "{late:?}");
}

/// A unary answer ready after the token expired (a slow handler): it is the answer of an
/// admitted call and goes whole, as an HTTP answer would.
#[tokio::test]
async fn a_unary_answer_after_the_expiry_goes_whole() {
    let s = setup();
    let token = TokenBuilder::new()
        .issued_at(now() - 10, 9)
        .sign_es256(&s.keys);
    let watch = watch_via(&s, &Authenticator::new(s.keys.verifier()), &token).await;
    assert!(watch.expired());
    let mut ok = http::HeaderMap::new();
    ok.insert("grpc-status", "0".parse().unwrap());
    let unary = StreamBody::new(futures_util::stream::iter([
        Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"answer"))),
        Ok(Frame::trailers(ok)),
    ]));
    let collected = Watched::new(unary, watch).collect().await.unwrap();
    assert_eq!(collected.trailers().unwrap()["grpc-status"], "0");
    assert_eq!(collected.to_bytes(), Bytes::from_static(b"answer"));
}

/// A client stream (the request side): after the end the service reads `Unauthenticated`,
/// never a message the client sent after it.
#[tokio::test]
async fn a_client_stream_ends_for_the_service_with_the_token() {
    let s = setup();
    let issued = now();
    let token = TokenBuilder::new().issued_at(issued, 2).sign_es256(&s.keys);
    let gate = Gate::modes(s.auth.clone(), "user".parse().unwrap());
    let service = GateLayer::new(gate).layer(service_fn(|req: http::Request<Body>| async move {
        // The service reads the whole client stream, as a handler would.
        let mut body = req.into_body();
        let mut messages = 0u32;
        let end = loop {
            match body.frame().await {
                Some(Ok(f)) if f.is_data() => messages += 1,
                Some(Ok(_)) => {}
                Some(Err(status)) => break status,
                None => break tonic::Status::ok("client finished"),
            }
        };
        let seen_at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let text = format!(
            "{messages} {} {} {}",
            end.code() as i32,
            seen_at.as_millis(),
            end.message()
        );
        Ok::<_, Infallible>(http::Response::new(Body::new(http_body_util::Full::new(
            Bytes::from(text),
        ))))
    }));
    // The client sends a message every 50 ms, for ever.
    let client = StreamBody::new(futures_util::stream::unfold((), |()| async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Some((
            Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"m"))),
            (),
        ))
    }));
    let mut req = http::Request::builder()
        .method("POST")
        .uri("/notes.Notes/Upload")
        .body(Body::new(client))
        .unwrap();
    *req.headers_mut() = headers(&token);
    let res = tokio::time::timeout(Duration::from_secs(4), service.oneshot(req))
        .await
        .expect("the service finished")
        .unwrap();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let parts: Vec<&str> = text.splitn(4, ' ').collect();
    let messages: u32 = parts[0].parse().unwrap();
    assert_eq!(parts[1], "16", "{text}");
    assert_eq!(parts[3], "token expired", "{text}");
    let ended = UNIX_EPOCH + Duration::from_millis(parts[2].parse().unwrap());
    let late = ended.duration_since(at(issued + 2)).expect("ended early");
    assert!(late <= Duration::from_secs(1), "{late:?}");
    assert!(messages >= 5, "{messages}");
}

/// Method rules that could never match are refused when the layer is built, rather than
/// leaving the method under the service's gate; a path rule wins over a name rule.
#[tokio::test]
async fn method_rules_never_fail_open() {
    let s = setup();
    let user = Gate::modes(s.auth.clone(), "user".parse().unwrap());
    let layer = || GateLayer::new(user.clone());
    for bad in [
        "notes.Notes.DeleteNote",
        "notes.Notes/DeleteNote",
        "/notes.Notes",
        "/notes.Notes/",
        "//DeleteNote",
        "Delete Note",
        "",
        "/notes.Notes/Delete/Note",
    ] {
        assert!(layer().public(bad).is_err(), "{bad:?} accepted");
    }
    assert!(
        layer().public("Ping").unwrap().public("Ping").is_err(),
        "named twice"
    );
    // A public name, but the whole path of one service gated: the path wins.
    let service = layer()
        .public("Ping")
        .unwrap()
        .method("/billing.Billing/Ping", user.clone())
        .unwrap()
        .layer(service_fn(|_req: http::Request<Body>| async {
            Ok::<_, Infallible>(http::Response::new(Body::empty()))
        }));
    let call = |path: &'static str| {
        let svc = service.clone();
        async move {
            let req = http::Request::builder()
                .uri(path)
                .body(Body::empty())
                .unwrap();
            let res = svc.oneshot(req).await.unwrap();
            res.headers()
                .get("grpc-status")
                .map(|v| v.to_str().unwrap().to_owned())
        }
    };
    assert_eq!(call("/notes.Notes/Ping").await, None);
    assert_eq!(call("/billing.Billing/Ping").await.as_deref(), Some("16"));
    assert_eq!(
        call("/notes.Notes/ping").await.as_deref(),
        Some("16"),
        "names are exact"
    );
    assert_eq!(call("/notes.Notes/Ping/").await.as_deref(), Some("16"));
}

/// A response future polled after it completed answers `Internal`, never a panic (a refusal,
/// and an admitted call).
#[tokio::test]
async fn a_future_polled_after_it_completed_is_internal() {
    let s = setup();
    let gate = Gate::modes(s.auth.clone(), "user".parse().unwrap());
    let mut service = GateLayer::new(gate).layer(service_fn(|_req: http::Request<Body>| async {
        Ok::<_, Infallible>(http::Response::new(Body::empty()))
    }));
    let token = TokenBuilder::now().sign_es256(&s.keys);
    for h in [http::HeaderMap::new(), headers(&token)] {
        let mut req = http::Request::builder()
            .uri("/notes.Notes/Me")
            .body(Body::empty())
            .unwrap();
        *req.headers_mut() = h;
        let ready = ServiceExt::<http::Request<Body>>::ready(&mut service)
            .await
            .unwrap();
        let mut fut = Box::pin(ready.call(req));
        let first = std::future::poll_fn(|cx| fut.as_mut().poll(cx))
            .await
            .unwrap();
        let again = std::future::poll_fn(|cx| fut.as_mut().poll(cx))
            .await
            .unwrap();
        assert_ne!(
            first.headers().get("grpc-status").map(|v| v.as_bytes()),
            Some(&b"13"[..])
        );
        assert_eq!(again.headers()["grpc-status"], "13");
    }
}
