//! `TestPostgres` cleans up after itself: dropped, and also when the test process is killed
//! (its watchdog stops the cluster and removes the directory).
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use supagate_testkit::TestPostgres;

fn listening(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

fn gone_within(port: u16, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if !listening(port) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Run by the test below in a child process: starts a cluster, says where, and waits to be
/// killed.
#[test]
fn child_holding_a_cluster() {
    if std::env::var("SUPAGATE_PG_CHILD").as_deref() != Ok("1") {
        return;
    }
    let pg = TestPostgres::start().unwrap();
    println!("port={}", pg.port());
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn dropped_or_killed_the_cluster_goes() {
    let pg = TestPostgres::start().unwrap();
    let port = pg.port();
    assert!(listening(port));
    // Over TCP, nobody logs in without the cluster's password (another local user cannot).
    for user in ["postgres", "authenticator"] {
        let out = Command::new("psql")
            .args(["-w", "-X", "-c", "select 1"])
            .arg(format!("postgres://{user}@127.0.0.1:{port}/postgres"))
            .env_remove("PGPASSWORD")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{user} logged in without a password");
    }
    assert!(pg.psql("select 1").is_ok());
    drop(pg);
    assert!(
        gone_within(port, Duration::from_secs(5)),
        "dropped: stopped"
    );

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["child_holding_a_cluster", "--exact", "--nocapture"])
        .env("SUPAGATE_PG_CHILD", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut port = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        if let Some(p) = line.unwrap().strip_prefix("port=") {
            port = Some(p.trim().parse::<u16>().unwrap());
            break;
        }
    }
    let port = port.expect("the child started a cluster");
    assert!(listening(port));
    child.kill().unwrap(); // SIGKILL: no destructor runs
    let _ = child.wait();
    assert!(
        gone_within(port, Duration::from_secs(10)),
        "killed: the watchdog stopped the cluster"
    );
}
