//! WebSockets (actix-ws) and server-sent events on actix-web bound to the caller's credential,
//! over loopback with a real WebSocket client (tokio-tungstenite) and a raw HTTP/1.1 reader:
//! closed within a second of the token's expiry or the session's revocation, kept open across
//! a refreshed token presented on the socket, closed by a refused one. Real time: the
//! verifier is on the system clock, with no leeway. The same cases as axum's.
#![cfg(feature = "live")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::web::Bytes;
use actix_web::{App, Error, HttpRequest, HttpResponse, HttpServer, web};
use futures_util::{SinkExt, StreamExt};
use supagate_actix::live::{Live, LiveSocket, live_events};
use supagate_actix::{Admit, Require};
use supagate_auth::{
    Authenticator, BoxFuture, SessionEnd, SessionKey, SessionLiveness, SessionSource, SessionState,
    SourceUnavailable,
};
use supagate_policy::{Policy, Requirement};
use supagate_testkit::{TestKeys, TokenBuilder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

/// A session store whose sessions can be revoked, and whose answers can be made slow.
#[derive(Debug, Clone, Default)]
struct Store(Arc<AtomicBool>, Arc<AtomicU64>);

impl SessionSource for Store {
    fn session_state<'a>(
        &'a self,
        _session: SessionKey<'a>,
    ) -> BoxFuture<'a, Result<SessionState, SourceUnavailable>> {
        let revoked = self.0.load(Ordering::SeqCst);
        let delay = Duration::from_millis(self.1.load(Ordering::SeqCst));
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            Ok(if revoked {
                SessionState::Ended(SessionEnd::NotFound)
            } else {
                SessionState::Live { not_after: None }
            })
        })
    }
}

/// Echoes text, answers pings, closes when the client does.
async fn echo(
    req: HttpRequest,
    body: web::Payload,
    Live(watch): Live,
) -> Result<HttpResponse, Error> {
    let (response, session, messages) = actix_ws::handle(&req, body)?;
    actix_web::rt::spawn(async move {
        let mut socket = LiveSocket::new(session, messages, watch);
        while let Some(Ok(msg)) = socket.recv().await {
            let sent = match msg {
                actix_ws::AggregatedMessage::Text(text) => socket.text(text).await,
                actix_ws::AggregatedMessage::Ping(p) => socket.pong(&p).await,
                actix_ws::AggregatedMessage::Close(reason) => {
                    socket.close_with(reason).await;
                    break;
                }
                _ => Ok(()),
            };
            if sent.is_err() {
                break;
            }
        }
    });
    Ok(response)
}

/// The caller extracted before the watch: the watch must still be the user's.
async fn echo_admitted_first(
    supagate_actix::Admitted(_caller): supagate_actix::Admitted,
    req: HttpRequest,
    body: web::Payload,
    live: Live,
) -> Result<HttpResponse, Error> {
    echo(req, body, live).await
}

/// An app that also waits for its own events (every 20 ms) beside the client's messages:
/// `recv` is cancelled again and again, and a presented token is checked on all the same.
async fn echo_busy(
    req: HttpRequest,
    body: web::Payload,
    Live(watch): Live,
) -> Result<HttpResponse, Error> {
    let (response, session, messages) = actix_ws::handle(&req, body)?;
    actix_web::rt::spawn(async move {
        let mut socket = LiveSocket::new(session, messages, watch);
        loop {
            tokio::select! {
                msg = socket.recv() => match msg {
                    Some(Ok(actix_ws::AggregatedMessage::Text(text))) => {
                        if socket.text(text).await.is_err() {
                            break;
                        }
                    }
                    Some(Ok(_)) => {}
                    _ => break,
                },
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    });
    Ok(response)
}

/// 0, 1, 2, … every 100 ms, as whole events.
async fn ticks(Live(watch): Live) -> HttpResponse {
    let ticks = futures_util::stream::unfold(0u64, |n| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Some((
            Ok::<_, Infallible>(Bytes::from(format!("data: {n}\n\n"))),
            n + 1,
        ))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .streaming(live_events(ticks, watch))
}

struct Server {
    addr: SocketAddr,
    keys: TestKeys,
    revoked: Store,
}

fn start() -> Server {
    let keys = TestKeys::new();
    let revoked = Store::default();
    let verifier = keys
        .verifier_builder()
        .leeway(Duration::ZERO)
        .build()
        .unwrap();
    let auth = Authenticator::builder(verifier)
        .session_liveness(
            SessionLiveness::builder(revoked.clone())
                .ttl(Duration::ZERO)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let admins = Policy::require(Requirement::role("admin")).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(auth.clone())
            .service(
                web::resource("/ws")
                    .wrap(Require::new(auth.clone(), Policy::authenticated()))
                    .route(web::get().to(echo)),
            )
            // A policy gate (role admin) around the route's modes gate.
            .service(
                web::scope("/admins")
                    .wrap(Require::new(auth.clone(), admins.clone()))
                    .service(
                        web::resource("/ws")
                            .wrap(Admit::new(auth.clone(), "user".parse().unwrap()))
                            .route(web::get().to(echo)),
                    ),
            )
            .service(
                web::resource("/ws-admitted-first")
                    .wrap(Require::new(auth.clone(), Policy::authenticated()))
                    .route(web::get().to(echo_admitted_first)),
            )
            .route("/ws-busy", web::get().to(echo_busy))
            .route("/events", web::get().to(ticks))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    Server {
        addr,
        keys,
        revoked,
    }
}

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

type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(server: &Server, token: &str) -> Result<Client, tungstenite::Error> {
    connect_to(server, "/ws", token).await
}

async fn connect_to(
    server: &Server,
    path: &str,
    token: &str,
) -> Result<Client, tungstenite::Error> {
    let mut req = format!("ws://{}{path}", server.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(req)
        .await
        .map(|(ws, _)| ws)
}

/// Sends a message every 100 ms and reads the echoes until the server closes: the close
/// frame, or `None` when `until` passes with the socket still open.
async fn echo_until(ws: &mut Client, until: Instant) -> Option<tungstenite::protocol::CloseFrame> {
    let mut n = 0;
    while Instant::now() < until {
        n += 1;
        if ws.send(Message::text(format!("m{n}"))).await.is_err() {
            break;
        }
        let deadline = tokio::time::sleep(Duration::from_millis(100));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => break,
                msg = ws.next() => match msg {
                    Some(Ok(Message::Close(frame))) => return frame,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => panic!("socket error: {e}"),
                    None => panic!("closed without a close frame"),
                },
            }
        }
    }
    None
}

fn presented(token: &str) -> Message {
    Message::text(format!(
        r#"{{"type":"access_token","access_token":"{token}"}}"#
    ))
}

#[actix_web::test]
async fn a_socket_is_closed_with_1008_within_a_second_of_its_tokens_expiry() {
    let server = start();
    let issued = now();
    let token = TokenBuilder::new()
        .issued_at(issued, 2)
        .sign_es256(&server.keys);
    let mut ws = connect(&server, &token).await.unwrap();
    let frame = echo_until(&mut ws, Instant::now() + Duration::from_secs(5))
        .await
        .expect("closed");
    let late = SystemTime::now()
        .duration_since(at(issued + 2))
        .expect("closed before expiry");
    assert_eq!(
        (frame.code, frame.reason.as_str()),
        (CloseCode::Policy, "token expired")
    );
    assert!(
        late <= Duration::from_secs(1),
        "closed {late:?} after expiry"
    );
}

#[actix_web::test]
async fn a_refreshed_token_keeps_the_socket_open_and_another_users_closes_it() {
    let server = start();
    let issued = now();
    let short = TokenBuilder::new()
        .issued_at(issued, 2)
        .sign_es256(&server.keys);
    let mut ws = connect(&server, &short).await.unwrap();
    assert!(
        echo_until(&mut ws, Instant::now() + Duration::from_millis(300))
            .await
            .is_none()
    );
    let fresh = TokenBuilder::new()
        .issued_at(now(), 3600)
        .sign_es256(&server.keys);
    ws.send(presented(&fresh)).await.unwrap();
    // Open well past the first token's expiry; the presented token was never echoed.
    let past = at(issued + 2) + Duration::from_millis(1_500);
    let left = past.duration_since(SystemTime::now()).unwrap_or_default();
    assert!(
        echo_until(&mut ws, Instant::now() + left).await.is_none(),
        "closed although a fresh token was presented"
    );
    let other = TokenBuilder::now()
        .claim("sub", "11111111-2222-4333-8444-555555555555")
        .sign_es256(&server.keys);
    ws.send(presented(&other)).await.unwrap();
    let frame = echo_until(&mut ws, Instant::now() + Duration::from_secs(2))
        .await
        .expect("closed");
    assert_eq!(
        (frame.code, frame.reason.as_str()),
        (CloseCode::Policy, "a token of another user")
    );
}

#[actix_web::test]
async fn a_presented_token_is_never_the_apps() {
    let server = start();
    let token = TokenBuilder::now().sign_es256(&server.keys);
    let mut ws = connect(&server, &token).await.unwrap();
    let fresh = TokenBuilder::new()
        .issued_at(now(), 7200)
        .sign_es256(&server.keys);
    ws.send(presented(&fresh)).await.unwrap();
    ws.send(Message::text("after")).await.unwrap();
    let echoed = tokio::time::timeout(Duration::from_secs(2), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(echoed, Message::text("after"), "the token was echoed");
}

#[actix_web::test]
async fn an_expired_token_presented_on_the_socket_closes_it() {
    let server = start();
    let token = TokenBuilder::now().sign_es256(&server.keys);
    let mut ws = connect(&server, &token).await.unwrap();
    let expired = TokenBuilder::new()
        .issued_at(now() - 100, 50)
        .sign_es256(&server.keys);
    ws.send(presented(&expired)).await.unwrap();
    let frame = echo_until(&mut ws, Instant::now() + Duration::from_secs(2))
        .await
        .expect("closed");
    assert_eq!(
        (frame.code, frame.reason.as_str()),
        (CloseCode::Policy, "token expired")
    );
}

#[actix_web::test]
async fn a_socket_is_closed_within_a_second_of_its_sessions_revocation() {
    let server = start();
    let token = TokenBuilder::now().sign_es256(&server.keys);
    let mut ws = connect(&server, &token).await.unwrap();
    assert!(
        echo_until(&mut ws, Instant::now() + Duration::from_millis(1_200))
            .await
            .is_none()
    );
    server.revoked.0.store(true, Ordering::SeqCst);
    let revoked = Instant::now();
    let frame = echo_until(&mut ws, Instant::now() + Duration::from_secs(3))
        .await
        .expect("closed");
    assert_eq!(
        (frame.code, frame.reason.as_str()),
        (CloseCode::Policy, "session ended")
    );
    assert!(
        revoked.elapsed() <= Duration::from_secs(1),
        "{:?}",
        revoked.elapsed()
    );
    match connect(&server, &token).await {
        Err(tungstenite::Error::Http(res)) => assert_eq!(res.status(), 401),
        other => panic!("upgrade of a revoked session: {other:?}"),
    }
}

#[actix_web::test]
async fn no_token_no_socket() {
    let server = start();
    for path in ["/ws", "/ws-busy"] {
        let req = format!("ws://{}{path}", server.addr)
            .into_client_request()
            .unwrap();
        match tokio_tungstenite::connect_async(req).await {
            Err(tungstenite::Error::Http(res)) => {
                assert_eq!(res.status(), 401, "{path}");
                assert!(res.headers().contains_key("www-authenticate"), "{path}");
            }
            other => panic!("upgrade without a token on {path}: {other:?}"),
        }
    }
}

/// Gates nested (a policy scope around a modes gate): a presented token must pass the outer
/// policy too, as a new request would; a demoted admin is closed.
#[actix_web::test]
async fn a_renewal_passes_every_gate_around_the_socket() {
    let server = start();
    let admin = |life: i64| {
        TokenBuilder::new()
            .issued_at(now(), life)
            .claim(
                "app_metadata",
                serde_json::json!({ "provider": "email", "role": "admin" }),
            )
            .sign_es256(&server.keys)
    };
    let user = TokenBuilder::now().sign_es256(&server.keys);
    match connect_to(&server, "/admins/ws", &user).await {
        Err(tungstenite::Error::Http(res)) => assert_eq!(res.status(), 403),
        other => panic!("a user on the admins' socket: {other:?}"),
    }
    let mut ws = connect_to(&server, "/admins/ws", &admin(3600))
        .await
        .unwrap();
    ws.send(presented(&admin(7200))).await.unwrap();
    assert!(
        echo_until(&mut ws, Instant::now() + Duration::from_millis(1_200))
            .await
            .is_none()
    );
    let demoted = TokenBuilder::new()
        .issued_at(now(), 7200)
        .sign_es256(&server.keys);
    ws.send(presented(&demoted)).await.unwrap();
    let frame = echo_until(&mut ws, Instant::now() + Duration::from_secs(2))
        .await
        .expect("closed");
    assert_eq!(
        (frame.code, frame.reason.as_str()),
        (CloseCode::Policy, "insufficient privileges")
    );
}

/// Tokens presented faster than once a second: closed. A long message is the app's.
#[actix_web::test]
async fn presenting_tokens_in_a_flood_closes_the_socket() {
    let server = start();
    let token = TokenBuilder::now().sign_es256(&server.keys);
    let mut ws = connect(&server, &token).await.unwrap();
    let long = format!(
        r#"{{"type":"access_token","access_token":"{}"}}"#,
        "x".repeat(20_000)
    );
    ws.send(Message::text(long.clone())).await.unwrap();
    let echoed = tokio::time::timeout(Duration::from_secs(2), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        echoed,
        Message::text(long),
        "a long message goes to the app"
    );
    let fresh = TokenBuilder::new()
        .issued_at(now(), 7200)
        .sign_es256(&server.keys);
    ws.send(presented(&fresh)).await.unwrap();
    ws.send(presented(&fresh)).await.unwrap();
    let frame = echo_until(&mut ws, Instant::now() + Duration::from_secs(2))
        .await
        .expect("closed");
    assert_eq!(
        (frame.code, frame.reason.as_str()),
        (CloseCode::Policy, "too many token renewals")
    );
}

/// `recv` cancelled every 20 ms, a session source that answers in 200 ms: the presented
/// token is checked on across the cancelled calls, and the socket outlives the first token.
#[actix_web::test]
async fn a_renewal_survives_a_recv_cancelled_while_it_is_checked() {
    let server = start();
    server.revoked.1.store(200, Ordering::SeqCst);
    let issued = now();
    let short = TokenBuilder::new()
        .issued_at(issued, 3)
        .sign_es256(&server.keys);
    let mut ws = connect_to(&server, "/ws-busy", &short).await.unwrap();
    let fresh = TokenBuilder::new()
        .issued_at(issued, 3600)
        .sign_es256(&server.keys);
    ws.send(presented(&fresh)).await.unwrap();
    let past = at(issued + 3) + Duration::from_millis(1_500);
    let left = past.duration_since(SystemTime::now()).unwrap_or_default();
    assert!(
        echo_until(&mut ws, Instant::now() + left).await.is_none(),
        "closed although a fresh token was presented"
    );
}

/// A session source slower than the token's remaining life: the socket closes at the
/// token's expiry, not when the source answers.
#[actix_web::test]
async fn a_slow_session_source_never_holds_a_socket_past_its_token() {
    let server = start();
    let issued = now();
    let token = TokenBuilder::new()
        .issued_at(issued, 3)
        .sign_es256(&server.keys);
    let mut ws = connect(&server, &token).await.unwrap();
    server.revoked.1.store(8_000, Ordering::SeqCst);
    let frame = echo_until(&mut ws, Instant::now() + Duration::from_secs(6))
        .await
        .expect("closed");
    let late = SystemTime::now()
        .duration_since(at(issued + 3))
        .expect("closed early");
    assert_eq!(
        (frame.code, frame.reason.as_str()),
        (CloseCode::Policy, "token expired")
    );
    assert!(late <= Duration::from_secs(1), "{late:?}");
}

#[actix_web::test]
async fn an_event_stream_ends_within_a_second_of_its_tokens_expiry_with_the_reason() {
    let server = start();
    let issued = now();
    let token = TokenBuilder::new()
        .issued_at(issued, 2)
        .sign_es256(&server.keys);
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(
        format!("GET /events HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let n = tcp.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed before the stream ended");
            seen.extend_from_slice(&buf[..n]);
            if seen.ends_with(b"\r\n0\r\n\r\n") {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream did not end");
    let late = SystemTime::now()
        .duration_since(at(issued + 2))
        .expect("ended before expiry");
    assert!(
        late <= Duration::from_secs(1),
        "ended {late:?} after expiry"
    );
    let text = String::from_utf8_lossy(&seen);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("data: 5\n"), "too few ticks: {text}");
    assert!(text.contains("event: supagate.ended\n"), "{text}");
    assert!(
        text.contains(r#""error_description":"token expired""#),
        "{text}"
    );
    assert!(!text.contains(&token), "the token in the stream");

    // Without a token: the usual 401 before any event.
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET /events HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).await.unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 401"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

/// An `Admitted` extraction before the watch takes the caller out of its admission: the
/// watch is still the user's, and the socket still closes at the token's expiry.
#[actix_web::test]
async fn a_watch_after_the_caller_was_taken_still_ends_with_the_token() {
    let server = start();
    let issued = now();
    let token = TokenBuilder::new()
        .issued_at(issued, 2)
        .sign_es256(&server.keys);
    let mut ws = connect_to(&server, "/ws-admitted-first", &token)
        .await
        .unwrap();
    let frame = echo_until(&mut ws, Instant::now() + Duration::from_secs(5))
        .await
        .expect("closed");
    assert_eq!(
        (frame.code, frame.reason.as_str()),
        (CloseCode::Policy, "token expired")
    );
    let late = SystemTime::now()
        .duration_since(at(issued + 2))
        .expect("closed early");
    assert!(late <= Duration::from_secs(1), "{late:?}");
}

/// Review finding: actix-ws hands fragments over one by one, so a token presented in
/// fragments was never taken. The socket reassembles them: the fragmented token renews the
/// socket past the first token's expiry, and is not the app's.
#[actix_web::test]
async fn a_token_presented_in_fragments_is_taken_too() {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let server = start();
    let issued = now();
    let short = TokenBuilder::new()
        .issued_at(issued, 2)
        .sign_es256(&server.keys);
    let mut ws = connect(&server, &short).await.unwrap();
    let fresh = TokenBuilder::new()
        .issued_at(now(), 7200)
        .sign_es256(&server.keys);
    let text = format!(r#"{{"type":"access_token","access_token":"{fresh}"}}"#);
    let (a, b) = text.as_bytes().split_at(text.len() / 2);
    ws.send(Message::Frame(Frame::message(
        a.to_vec(),
        OpCode::Data(Data::Text),
        false,
    )))
    .await
    .unwrap();
    ws.send(Message::Frame(Frame::message(
        b.to_vec(),
        OpCode::Data(Data::Continue),
        true,
    )))
    .await
    .unwrap();
    ws.send(Message::text("after")).await.unwrap();
    let echoed = tokio::time::timeout(Duration::from_secs(2), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(echoed, Message::text("after"), "the token was the app's");
    let past = at(issued + 2) + Duration::from_millis(1_500);
    let left = past.duration_since(SystemTime::now()).unwrap_or_default();
    assert!(
        echo_until(&mut ws, Instant::now() + left).await.is_none(),
        "closed although a fresh token was presented in fragments"
    );
}
