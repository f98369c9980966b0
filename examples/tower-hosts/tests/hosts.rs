//! The same gated tower service hosted by hyper alone and by poem (through
//! `poem::endpoint::TowerCompatExt`), each on 127.0.0.1 port 0, called over real HTTP/1.1: the
//! same decisions whoever hosts it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;

use supagate::auth::Authenticator;
use supagate_testkit::{TestKeys, TokenBuilder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTP/1.1 request over a fresh connection: the status and the body.
async fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    tcp.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: test\r\n{auth}Connection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn auth() -> Authenticator {
    Authenticator::new(TestKeys::new().verifier())
}

/// The cases every host must answer alike.
async fn check(addr: SocketAddr) {
    let keys = TestKeys::new();
    let user = TokenBuilder::now().sign_es256(&keys);
    let (status, body) = get(addr, "/whoami", Some(&user)).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(r#""mode":"user""#) && body.contains(TokenBuilder::DEFAULT_SUB),
        "{body}"
    );
    let (status, body) = get(addr, "/whoami", None).await;
    assert_eq!(
        (status, body.contains(r#""mode":"none""#)),
        (200, true),
        "{body}"
    );
    let (status, body) = get(addr, "/whoami", Some("not.a.token")).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("invalid_token"), "{body}");
    let expired = TokenBuilder::new()
        .issued_at(1_000_000_000, 60)
        .sign_es256(&keys);
    assert_eq!(get(addr, "/whoami", Some(&expired)).await.0, 401);
}

#[tokio::test]
async fn on_hyper_alone() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = tower_hosts::gated::<hyper::body::Incoming>(tower_hosts::gate(auth()).unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let service = hyper_util::service::TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(tcp);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    check(addr).await;
}

#[tokio::test]
async fn inside_poem_through_its_tower_compatibility() {
    use poem::endpoint::TowerCompatExt;
    use poem::listener::{Acceptor, Listener};
    // poem hands a tower service its body as `http_body_util::combinators::BoxBody<Bytes, io::Error>`.
    type PoemBody = http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error>;
    let endpoint = tower_hosts::gated::<PoemBody>(tower_hosts::gate(auth()).unwrap()).compat();
    let app = poem::Route::new().at("/whoami", endpoint);
    let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    check(addr).await;
}
