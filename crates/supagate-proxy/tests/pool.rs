//! The proxy's own connection pool to its upstream, attacked: connections reused only when
//! safe (a response read to its end), never one cut halfway, closed by the upstream, answered
//! with `Connection: close`, or left behind by a timed-out or cancelled call; concurrent calls
//! each get their own answer; `Host` is the upstream's.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use supagate_auth::Authenticator;
use supagate_jwt::Verifier;
use supagate_proxy::{Limits, Proxy, ProxyBody, Sessions};
use supagate_testkit::{MockAuth, TestKeys};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Answer = Result<Response<http_body_util::combinators::BoxBody<Bytes, Infallible>>, Infallible>;

/// An upstream that numbers its connections and each connection's requests, and answers
/// `{"conn", "n", "path", "host", "body"}`. `/close` answers with `Connection: close`,
/// `/stream` with a body in ten pieces 50 ms apart (`stream-<conn>-<i>;`), `/slow` after two seconds, `/empty` 204.
async fn upstream() -> (SocketAddr, Arc<AtomicUsize>) {
    listen(|stream, conn| async move {
        let n = Arc::new(AtomicUsize::new(0));
        serve(stream, move |req| {
            let n = n.fetch_add(1, Ordering::SeqCst) + 1;
            answer(req, conn, n)
        })
        .await;
    })
    .await
}

/// Listens on a new loopback port (see [`listen_on`]).
async fn listen<F, Fut>(each: F) -> (SocketAddr, Arc<AtomicUsize>)
where
    F: Fn(TcpStream, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (addr, listen_on(listener, each))
}

/// Runs `each(stream, conn)` on a task per accepted connection, numbered from 1; the count
/// of connections accepted so far is returned.
fn listen_on<F, Fut>(listener: tokio::net::TcpListener, each: F) -> Arc<AtomicUsize>
where
    F: Fn(TcpStream, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let conns = Arc::new(AtomicUsize::new(0));
    let count = conns.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let conn = count.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::spawn(each(stream, conn));
        }
    });
    conns
}

/// Serves one connection with hyper's HTTP/1 server.
async fn serve<F, Fut, B>(stream: TcpStream, f: F)
where
    F: Fn(Request<Incoming>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service_fn(f))
        .await;
}

/// Reads into `buf` until it holds a whole request head; the head is taken off `buf`.
/// `false` when the connection ended first.
async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            return true;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    }
}

async fn answer(req: Request<Incoming>, conn: usize, n: usize) -> Answer {
    let path = req.uri().path().to_owned();
    let host = req
        .headers()
        .get("host")
        .map(|h| h.to_str().unwrap().to_owned());
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let text = json!({
        "conn": conn, "n": n, "path": path, "host": host,
        "body": String::from_utf8_lossy(&body),
    })
    .to_string();
    let full = |s: String| Full::new(Bytes::from(s)).boxed();
    Ok(match path.as_str() {
        "/close" => Response::builder()
            .header("connection", "close")
            .body(full(text))
            .unwrap(),
        "/empty" => Response::builder()
            .status(StatusCode::NO_CONTENT)
            .body(full(String::new()))
            .unwrap(),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Response::new(full(text))
        }
        "/stream" => {
            let pieces = (0..10).map(|i| format!("stream-{conn}-{i};")).collect();
            Response::new(Pieces::new(pieces, Duration::from_millis(50)).boxed())
        }
        _ => Response::new(full(text)),
    })
}

/// A body of `pieces`, `gap` apart (a chunked body: no length known).
struct Pieces(tokio::sync::mpsc::Receiver<Bytes>);

impl Pieces {
    fn new(pieces: Vec<String>, gap: Duration) -> Self {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(async move {
            for piece in pieces {
                if tx.send(Bytes::from(piece)).await.is_err() {
                    return;
                }
                tokio::time::sleep(gap).await;
            }
        });
        Pieces(rx)
    }
}

impl http_body::Body for Pieces {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|piece| piece.map(|b| Ok(Frame::data(b))))
    }
}

/// A raw upstream that answers one request per connection with a complete keep-alive response
/// (no `Connection: close`) and then closes the socket 20 ms later, as a server whose
/// keep-alive timeout is short does.
async fn closing_upstream() -> (SocketAddr, Arc<AtomicUsize>) {
    listen(|mut stream, conn| async move {
        if !read_head(&mut stream, &mut Vec::new()).await {
            return;
        }
        let body = json!({"conn": conn, "n": 1}).to_string();
        let out = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(out.as_bytes()).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    })
    .await
}

fn proxy_to(addr: SocketAddr, auth: &MockAuth, limits: Limits) -> Proxy {
    let verifier = Verifier::from_supabase_url(auth.url())
        .jwk_set(TestKeys::new().jwk_set())
        .build()
        .unwrap();
    let sessions = Sessions::builder(auth.url(), "anon-key", Authenticator::new(verifier))
        .public_origin("https://app.example.com")
        .build()
        .unwrap();
    Proxy::builder(sessions)
        .upstream(format!("http://{addr}"))
        .route("/api/", "/")
        .limits(limits)
        .build()
        .unwrap()
}

fn peer() -> IpAddr {
    "198.51.100.7".parse().unwrap()
}

fn get(target: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(Method::GET)
        .uri(target)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

async fn read(res: Response<ProxyBody>) -> (StatusCode, Value) {
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn call(proxy: &Proxy, target: &str) -> (StatusCode, Value) {
    read(proxy.forward(get(target), peer()).await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_calls_share_one_connection_with_the_upstreams_host() {
    let (addr, conns) = upstream().await;
    let auth = MockAuth::start();
    let proxy = proxy_to(addr, &auth, Limits::default());
    for i in 1..=20 {
        let (status, v) = call(&proxy, &format!("/api/echo/{i}")).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["path"], format!("/echo/{i}"));
        assert_eq!(v["conn"], 1, "{v}");
        assert_eq!(v["n"], i);
        assert_eq!(v["host"], addr.to_string());
    }
    // A body-less answer (204) gives its connection back as well.
    for _ in 0..5 {
        let res = proxy.forward(get("/api/empty"), peer()).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
    assert_eq!(call(&proxy, "/api/echo/last").await.1["conn"], 1);
    assert_eq!(conns.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_each_get_their_own_answer() {
    let (addr, conns) = upstream().await;
    let auth = MockAuth::start();
    let proxy = proxy_to(addr, &auth, Limits::default());
    for round in 0..3 {
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let proxy = proxy.clone();
                tokio::spawn(async move {
                    let mut req = get(&format!("/api/echo/{round}-{i}"));
                    *req.method_mut() = Method::POST;
                    *req.body_mut() = Full::new(Bytes::from(format!("body-{round}-{i}")));
                    req.headers_mut()
                        .insert("sec-fetch-site", "same-origin".parse().unwrap());
                    let (status, v) = read(proxy.forward(req, peer()).await).await;
                    assert_eq!(status, StatusCode::OK, "{v}");
                    assert_eq!(v["path"], format!("/echo/{round}-{i}"));
                    assert_eq!(v["body"], format!("body-{round}-{i}"));
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    }
    // At most one connection per call in flight, and the later rounds reused them.
    let opened = conns.load(Ordering::SeqCst);
    assert!((1..=64).contains(&opened), "{opened} connections");
}

/// Five calls of `target`, `pause` apart: each answered, on a connection of its own.
async fn each_on_a_new_connection(
    upstream: (SocketAddr, Arc<AtomicUsize>),
    target: &str,
    pause: Duration,
) {
    let (addr, conns) = upstream;
    let auth = MockAuth::start();
    let proxy = proxy_to(addr, &auth, Limits::default());
    for i in 1..=5 {
        let (status, v) = call(&proxy, target).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["conn"], i);
        assert_eq!(v["n"], 1);
        tokio::time::sleep(pause).await;
    }
    assert_eq!(conns.load(Ordering::SeqCst), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_upstream_closed_while_idle_is_not_used() {
    each_on_a_new_connection(
        closing_upstream().await,
        "/api/x",
        Duration::from_millis(100),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_close_answer_is_not_reused() {
    each_on_a_new_connection(upstream().await, "/api/close", Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_dropped_halfway_takes_its_connection_with_it() {
    let (addr, conns) = upstream().await;
    let auth = MockAuth::start();
    let proxy = proxy_to(addr, &auth, Limits::default());
    let res = proxy.forward(get("/api/stream"), peer()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let mut body = res.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, "stream-1-0;");
    drop(body);
    // The next call never sees the rest of the stream: a connection of its own.
    let (status, v) = call(&proxy, "/api/after").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["path"], "/after");
    assert_eq!(v["conn"], 2);
    // A stream read to its end does give its connection back.
    let res = proxy.forward(get("/api/stream"), peer()).await;
    let all = res.into_body().collect().await.unwrap().to_bytes();
    assert!(all.ends_with(b"stream-2-9;"), "{all:?}");
    assert_eq!(call(&proxy, "/api/again").await.1["conn"], 2);
    assert_eq!(conns.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_or_cancelled_call_leaves_no_connection_behind() {
    let (addr, conns) = upstream().await;
    let auth = MockAuth::start();
    let mut limits = Limits::default();
    limits.upstream_timeout = Duration::from_millis(300);
    let proxy = proxy_to(addr, &auth, limits);
    let res = proxy.forward(get("/api/slow"), peer()).await;
    assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
    let (status, v) = call(&proxy, "/api/after-timeout").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["path"], "/after-timeout");
    assert_eq!(v["conn"], 2);
    // The caller gives up while the upstream is still answering.
    let cancelled = tokio::time::timeout(
        Duration::from_millis(100),
        proxy.forward(get("/api/slow"), peer()),
    )
    .await;
    assert!(cancelled.is_err());
    let (status, v) = call(&proxy, "/api/after-cancel").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["path"], "/after-cancel");
    assert_eq!(v["conn"], 3);
    assert_eq!(conns.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_upstream_is_502_and_a_revived_one_is_used_again() {
    // A port with nothing listening, then a listener on it.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let auth = MockAuth::start();
    let proxy = proxy_to(addr, &auth, Limits::default());
    let (status, _) = call(&proxy, "/api/x").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    let Ok(listener) = tokio::net::TcpListener::bind(addr).await else {
        return; // the port was taken meanwhile: nothing to assert
    };
    listen_on(listener, |stream, _| serve(stream, |req| answer(req, 7, 1)));
    let (status, v) = call(&proxy, "/api/x").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["conn"], 7);
}

/// A raw upstream whose first answer on each connection carries a second, unasked-for response
/// right behind it (`smuggled`), then answers each later request with `{"conn", "n"}`.
async fn smuggling_upstream() -> (SocketAddr, Arc<AtomicUsize>) {
    listen(|mut stream, conn| async move {
        let mut buf = Vec::new();
        let mut n = 0;
        while read_head(&mut stream, &mut buf).await {
            n += 1;
            let body = json!({"conn": conn, "n": n}).to_string();
            let mut out = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            if n == 1 {
                let evil = json!({"smuggled": true}).to_string();
                out.push_str(&format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{evil}",
                    evil.len()
                ));
            }
            if stream.write_all(out.as_bytes()).await.is_err() {
                return;
            }
        }
    })
    .await
}

/// Bytes an upstream sends together with its answer are never taken as the answer to the
/// next call (another user's, perhaps) on that connection: hyper finds them buffered and
/// closes it. (Bytes that arrive only after the next request went out are HTTP/1's own
/// exposure to a broken upstream, the same for any client.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_beyond_an_answer_never_answer_the_next_call() {
    let (addr, _conns) = smuggling_upstream().await;
    let auth = MockAuth::start();
    let proxy = proxy_to(addr, &auth, Limits::default());
    for _ in 0..5 {
        let (status, v) = call(&proxy, "/api/x").await;
        assert_ne!(v["smuggled"], true, "{status} {v}");
        assert!(
            status == StatusCode::OK || status == StatusCode::BAD_GATEWAY,
            "{status} {v}"
        );
    }
}

/// The upstream answers an upload before reading it (`/early`): the connection goes back to
/// the pool while the upload is still going out, and the next call neither waits for that
/// upload nor gets its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_answer_to_an_upload_still_going_out_does_not_hold_the_next_call() {
    let (addr, _) = listen(|stream, conn| {
        serve(stream, move |req: Request<Incoming>| async move {
            let path = req.uri().path().to_owned();
            let text = json!({"conn": conn, "path": path}).to_string();
            if path != "/early" {
                let _ = req.into_body().collect().await;
            }
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text))))
        })
    })
    .await;
    let auth = MockAuth::start();
    let proxy = proxy_to(addr, &auth, Limits::default());
    let mut upload = Request::builder()
        .method(Method::POST)
        .uri("/api/early")
        .header("sec-fetch-site", "same-origin")
        .body(Pieces::new(
            vec!["first-piece;".into(), "last-piece".into()],
            Duration::from_secs(3),
        ))
        .unwrap();
    upload
        .headers_mut()
        .insert("content-type", "text/plain".parse().unwrap());
    let (status, v) = read(proxy.forward(upload, peer()).await).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["path"], "/early");
    let started = std::time::Instant::now();
    let (status, v) = call(&proxy, "/api/next").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["path"], "/next");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

/// A request the upstream took (read its head) and then hung up on is 502, never sent again,
/// on a reused connection as on a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_upstream_took_is_never_sent_twice() {
    let heads = Arc::new(AtomicUsize::new(0));
    let seen = heads.clone();
    let (addr, _) = listen(move |mut stream, _| {
        let seen = seen.clone();
        async move {
            let mut buf = Vec::new();
            // The first request on each connection is answered, keep-alive; the second is
            // read, then the connection is dropped.
            for n in 1..=2 {
                if !read_head(&mut stream, &mut buf).await {
                    return;
                }
                seen.fetch_add(1, Ordering::SeqCst);
                if n == 1 {
                    let _ = stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                        .await;
                }
            }
        }
    })
    .await;
    let auth = MockAuth::start();
    let proxy = proxy_to(addr, &auth, Limits::default());
    let post = || {
        Request::builder()
            .method(Method::POST)
            .uri("/api/pay")
            .header("sec-fetch-site", "same-origin")
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    assert_eq!(
        read(proxy.forward(post(), peer()).await).await.0,
        StatusCode::OK
    );
    assert_eq!(
        read(proxy.forward(post(), peer()).await).await.0,
        StatusCode::BAD_GATEWAY
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        heads.load(Ordering::SeqCst),
        2,
        "each request reached it once"
    );
}

/// The caller gives up while its upload is still going out (the upstream is reading it): the
/// connection goes with the call, and the next call is answered on a new one, in full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_cancelled_halfway_through_its_upload_leaves_no_connection_behind() {
    let (addr, conns) = upstream().await;
    let auth = MockAuth::start();
    let proxy = proxy_to(addr, &auth, Limits::default());
    let upload = Request::builder()
        .method(Method::POST)
        .uri("/api/upload")
        .header("sec-fetch-site", "same-origin")
        .body(Pieces::new(
            vec!["first-piece;".into(), "last-piece".into()],
            Duration::from_secs(3),
        ))
        .unwrap();
    let cancelled =
        tokio::time::timeout(Duration::from_millis(200), proxy.forward(upload, peer())).await;
    assert!(
        cancelled.is_err(),
        "the upstream answers only after the whole upload"
    );
    let (status, v) = call(&proxy, "/api/next").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["path"], "/next");
    assert_eq!(v["body"], "");
    assert_eq!(v["conn"], 2);
    assert_eq!(conns.load(Ordering::SeqCst), 2);
}

/// Two proxy instances on one upstream, calling at once: each keeps its own connections, and
/// every call gets its own answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_calling_at_once_keep_their_own_connections() {
    let (addr, conns) = upstream().await;
    let auth = MockAuth::start();
    let proxies = [
        proxy_to(addr, &auth, Limits::default()),
        proxy_to(addr, &auth, Limits::default()),
    ];
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let proxy = proxies[i % 2].clone();
            tokio::spawn(async move {
                let (status, v) = call(&proxy, &format!("/api/echo/{i}")).await;
                assert_eq!(status, StatusCode::OK, "{v}");
                assert_eq!(v["path"], format!("/echo/{i}"));
                v["conn"].as_u64().unwrap()
            })
        })
        .collect();
    let mut by_instance = [
        std::collections::BTreeSet::new(),
        std::collections::BTreeSet::new(),
    ];
    for (i, t) in tasks.into_iter().enumerate() {
        by_instance[i % 2].insert(t.await.unwrap());
    }
    assert!(
        by_instance[0].is_disjoint(&by_instance[1]),
        "a connection shared by two instances: {by_instance:?}"
    );
    assert!(conns.load(Ordering::SeqCst) >= 2);
}
