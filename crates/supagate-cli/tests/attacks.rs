//! The command against hostile inputs and dependencies: a key-set endpoint and a database that
//! accept a connection and never answer (the command ends, in bounded time, with the right
//! verdict), a key set too large to read, a cookie of more chunks than a session has, a
//! `Cookie:` prefix in any case. Each is bounded: nothing here waits more than the command's
//! own timeouts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_json::Value;
use supagate_testkit::{MockJwks, TestKeys, TokenBuilder};

/// A port that completes TCP handshakes (the kernel does, from the backlog) and never
/// answers: a hung dependency.
fn silent() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

fn env(pairs: &[(&str, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

#[test]
fn a_hung_key_set_endpoint_is_a_503_in_bounded_time() {
    let (_hold, port) = silent();
    let vars = env(&[
        ("SUPABASE_URL", TestKeys::SUPABASE_URL.to_owned()),
        (
            "SUPABASE_JWKS_URL",
            format!("http://127.0.0.1:{port}/jwks.json"),
        ),
    ]);
    let token = TokenBuilder::now().sign_es256(&TestKeys::new());
    let started = Instant::now();
    let ran = common::run(&["inspect", "--json"], &token, &vars);
    let took = started.elapsed();
    assert!(ran.err.is_empty(), "{}", ran.err);
    let r: Value = serde_json::from_str(&ran.out).unwrap();
    assert_eq!(
        (ran.code, r["reason"].as_str()),
        (1, Some("keys_unavailable")),
        "{r:#}"
    );
    assert_eq!(r["status"], 503);
    assert!(took < Duration::from_secs(20), "inspect waited {took:?}");

    let started = Instant::now();
    let ran = common::run(&["doctor", "--json"], "", &vars);
    let took = started.elapsed();
    assert!(ran.err.is_empty(), "{}", ran.err);
    let r: Value = serde_json::from_str(&ran.out).unwrap();
    assert_eq!(ran.code, 1);
    let jwks = common::check(&r, "jwks");
    assert_eq!(jwks["status"], "fail", "{r:#}");
    assert!(took < Duration::from_secs(20), "doctor waited {took:?}");
}

#[test]
fn a_hung_database_is_reported_in_bounded_time() {
    let (_hold, port) = silent();
    let vars = env(&[
        ("SUPABASE_URL", TestKeys::SUPABASE_URL.to_owned()),
        ("SUPABASE_JWKS", TestKeys::new().jwks_json()),
        (
            "DATABASE_URL",
            format!("postgres://app:hunter2@127.0.0.1:{port}/db"),
        ),
    ]);
    let started = Instant::now();
    let ran = common::run(&["doctor", "--json"], "", &vars);
    let took = started.elapsed();
    assert_eq!(ran.code, 1);
    assert!(!ran.out.contains("hunter2"));
    let r: Value = serde_json::from_str(&ran.out).unwrap();
    let db = common::check(&r, "DATABASE_URL");
    assert_eq!(db["status"], "fail", "{r:#}");
    assert!(
        db["message"].as_str().unwrap().contains("no answer"),
        "{db}"
    );
    assert!(took < Duration::from_secs(20), "doctor waited {took:?}");
}

#[test]
fn a_key_set_too_large_to_read_is_refused_not_buffered() {
    // Past the library's bound on a key set's body.
    let huge = format!(r#"{{"keys":[],"pad":"{}"}}"#, "x".repeat(4 * 1024 * 1024));
    let mock = MockJwks::start(&huge);
    let vars = env(&[
        ("SUPABASE_URL", TestKeys::SUPABASE_URL.to_owned()),
        ("SUPABASE_JWKS_URL", mock.url()),
    ]);
    let ran = common::run(&["doctor", "--json"], "", &vars);
    let r: Value = serde_json::from_str(&ran.out).unwrap();
    let jwks = common::check(&r, "jwks");
    assert_eq!(jwks["status"], "fail", "{r:#}");
    let token = TokenBuilder::now().sign_es256(&TestKeys::new());
    let ran = common::run(&["inspect", "--json"], &token, &vars);
    let r: Value = serde_json::from_str(&ran.out).unwrap();
    assert_eq!(r["reason"], "keys_unavailable", "{r:#}");
}

#[test]
fn a_cookie_of_more_chunks_than_a_session_has_is_the_librarys_refusal() {
    let header: Vec<String> = (0..40)
        .map(|i| format!("sb-abcdefghijklmnopqrst-auth-token.{i}=base64-eyJh"))
        .collect();
    let ran = common::run(&["cookie", "--json"], header.join("; "), &[]);
    assert_eq!(ran.code, 1, "{}", ran.out);
    let r: Value = serde_json::from_str(&ran.out).unwrap();
    assert_eq!(
        r["sessions"][0]["reason"], "session_too_many_chunks",
        "{r:#}"
    );
    // A `Cookie:` name in any case, the value on the same line.
    let ran = common::run(
        &["cookie", "--json"],
        "COOKIE: sb-abc-auth-token=base64-!!!",
        &[],
    );
    let r: Value = serde_json::from_str(&ran.out).unwrap();
    assert_eq!(r["sessions"][0]["name"], "sb-abc-auth-token", "{r:#}");
}
