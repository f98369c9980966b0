//! The `notes.Notes` service over loopback with a tonic client: the gate of each method, the
//! refusals as gRPC statuses, and server streams that end with their token's expiry or their
//! session's revocation (real time: the verifier is on the system clock, with no leeway).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use backend_grpc::{Empty, NoteId, NotesClient};
use supagate::auth::{
    Authenticator, BoxFuture, SessionEnd, SessionKey, SessionLiveness, SessionSource, SessionState,
    SourceUnavailable,
};
use supagate_testkit::{TestKeys, TokenBuilder};
use tonic::transport::Channel;
use tonic::{Code, Request};

/// A session store whose sessions can be revoked, counting the questions it gets.
#[derive(Debug, Default)]
struct Store {
    revoked: AtomicBool,
    asked: AtomicUsize,
}

#[derive(Debug, Clone, Default)]
struct Shared(Arc<Store>);

impl SessionSource for Shared {
    fn session_state<'a>(
        &'a self,
        _session: SessionKey<'a>,
    ) -> BoxFuture<'a, Result<SessionState, SourceUnavailable>> {
        self.0.asked.fetch_add(1, Ordering::SeqCst);
        let revoked = self.0.revoked.load(Ordering::SeqCst);
        Box::pin(async move {
            Ok(if revoked {
                SessionState::Ended(SessionEnd::NotFound)
            } else {
                SessionState::Live { not_after: None }
            })
        })
    }
}

struct Server {
    addr: SocketAddr,
    store: Shared,
    keys: TestKeys,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Server {
    /// The service on 127.0.0.1, port 0, with session liveness asked on every check (TTL 0),
    /// until the returned value is dropped.
    async fn start() -> Server {
        let keys = TestKeys::new();
        let store = Shared::default();
        let verifier = keys
            .verifier_builder()
            .leeway(Duration::ZERO)
            .build()
            .unwrap();
        let liveness = SessionLiveness::builder(store.clone())
            .ttl(Duration::ZERO)
            .build()
            .unwrap();
        let auth = Authenticator::builder(verifier)
            .session_liveness(liveness)
            .build()
            .unwrap();
        let service = backend_grpc::service(auth).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    async {
                        let _ = stopped.await;
                    },
                ),
        );
        Server {
            addr,
            store,
            keys,
            _stop: stop,
        }
    }

    async fn client(&self) -> NotesClient<Channel> {
        NotesClient::connect(format!("http://{}", self.addr))
            .await
            .unwrap()
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

fn with_token<T>(msg: T, token: &str) -> Request<T> {
    let mut req = Request::new(msg);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

#[tokio::test]
async fn each_method_has_its_gate_and_refusals_are_grpc_statuses() {
    let server = Server::start().await;
    let mut client = server.client().await;
    let user = TokenBuilder::now().sign_es256(&server.keys);
    let admin = TokenBuilder::now()
        .claim(
            "app_metadata",
            serde_json::json!({ "provider": "email", "role": "admin" }),
        )
        .sign_es256(&server.keys);

    // Public: no token needed.
    let pong = client.ping(Request::new(Empty {})).await.unwrap();
    assert_eq!(pong.into_inner().message, "pong");

    // The service's gate: no token is Unauthenticated with the RFC 6750 challenge.
    let refused = client.me(Request::new(Empty {})).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(refused.message(), "authentication required");
    assert_eq!(
        refused.metadata().get("www-authenticate").unwrap(),
        r#"Bearer realm="supagate""#
    );
    let me = client.me(with_token(Empty {}, &user)).await.unwrap();
    assert_eq!(me.into_inner().user_id, TokenBuilder::DEFAULT_SUB);

    // A forged token: refused, and its text is nowhere in the status.
    let forged = format!("{}x", &user[..user.len() - 1]);
    let refused = client.me(with_token(Empty {}, &forged)).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(refused.message(), "invalid token");
    let shown = format!("{refused:?}");
    let signature = forged.rsplit('.').next().unwrap();
    let claims = forged.split('.').nth(1).unwrap();
    assert!(
        !shown.contains(signature) && !shown.contains(claims),
        "{shown}"
    );

    // The admin policy of one method: a user is PermissionDenied, an admin passes.
    let denied = client
        .delete_note(with_token(NoteId { id: 7 }, &user))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert!(
        denied
            .metadata()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    client
        .delete_note(with_token(NoteId { id: 7 }, &admin))
        .await
        .unwrap();

    // `user, none`: anyone, or the user when a token is sent.
    let anyone = client.whoami(Request::new(Empty {})).await.unwrap();
    assert_eq!(anyone.into_inner().mode, "none");
    let known = client
        .whoami(with_token(Empty {}, &user))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (known.mode.as_str(), known.user_id.as_deref()),
        ("user", Some(TokenBuilder::DEFAULT_SUB))
    );

    // A stream without a token never starts.
    let refused = client.ticks(Request::new(Empty {})).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn a_stream_ends_with_unauthenticated_within_a_second_of_its_tokens_expiry() {
    let server = Server::start().await;
    let mut client = server.client().await;
    let issued = now();
    let token = TokenBuilder::new()
        .issued_at(issued, 2)
        .sign_es256(&server.keys);
    let expiry = UNIX_EPOCH + Duration::from_secs(u64::try_from(issued + 2).unwrap());
    let mut stream = client
        .ticks(with_token(Empty {}, &token))
        .await
        .unwrap()
        .into_inner();
    let mut ticks = 0;
    let ended = loop {
        match stream.message().await {
            Ok(Some(_)) => ticks += 1,
            Ok(None) => panic!("the stream ended without a status after {ticks} ticks"),
            Err(status) => break status,
        }
    };
    let late = SystemTime::now()
        .duration_since(expiry)
        .expect("ended before the token expired");
    assert_eq!(ended.code(), Code::Unauthenticated, "{ended:?}");
    assert_eq!(ended.message(), "token expired");
    assert!(
        late <= Duration::from_secs(1),
        "ended {late:?} after expiry"
    );
    assert!(ticks >= 5, "only {ticks} ticks before the end");
}

#[tokio::test]
async fn a_stream_ends_within_a_second_of_its_sessions_revocation_and_not_before() {
    let server = Server::start().await;
    let mut client = server.client().await;
    let token = TokenBuilder::now().sign_es256(&server.keys);
    let mut stream = client
        .ticks(with_token(Empty {}, &token))
        .await
        .unwrap()
        .into_inner();
    // A live session streams on across several liveness checks.
    let started = Instant::now();
    for _ in 0..15 {
        stream.message().await.unwrap().unwrap();
    }
    assert!(started.elapsed() >= Duration::from_millis(1_300));
    // Asked on admission and about every 400 ms since (TTL zero), not on every message.
    let asked = server.store.0.asked.load(Ordering::SeqCst);
    assert!((3..=8).contains(&asked), "liveness asked {asked} times");

    server.store.0.revoked.store(true, Ordering::SeqCst);
    let revoked = Instant::now();
    let ended = loop {
        match stream.message().await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the stream ended without a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(ended.code(), Code::Unauthenticated, "{ended:?}");
    assert_eq!(ended.message(), "session ended");
    assert!(
        revoked.elapsed() <= Duration::from_secs(1),
        "ended {:?} after the revocation",
        revoked.elapsed()
    );
    // A revoked session cannot open a new stream either.
    let refused = client
        .ticks(with_token(Empty {}, &token))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
}
