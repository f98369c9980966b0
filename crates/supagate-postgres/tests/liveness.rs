//! Session liveness from `auth.sessions` on a real PostgreSQL: sign-outs of every scope, a
//! time-boxed session, a banned user, a flood, and the database down.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;
use std::time::Duration;
use supagate_core::RequestError as _;

use common::{ALICE, BOB, Env};
use supagate_auth::{AuthError, Authenticator, Gate, SessionLiveness};
use supagate_jwt::Clock as _;
use supagate_postgres::DbSessions;
use supagate_testkit::TokenBuilder;
use uuid::Uuid;

/// A new session id (version-4 shaped, unique in this process).
fn fresh() -> Uuid {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Uuid::from_u128(0x5e55_0000_0000_4000_8000_0000_0000_0000 | u128::from(n))
}

fn headers(token: &str) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert("authorization", format!("Bearer {token}").parse().unwrap());
    h
}

struct Live {
    env: Env,
    auth: Authenticator,
    liveness: SessionLiveness,
}

impl Live {
    async fn start(ttl: u64, fail_open: bool) -> Live {
        let env = Env::start();
        let liveness = SessionLiveness::builder(
            DbSessions::new(env.admin_pool().await).timeout(Duration::from_secs(1)),
        )
        .ttl(Duration::from_secs(ttl))
        .allow_when_unavailable(fail_open)
        .build()
        .unwrap();
        let auth = Authenticator::builder(env.verifier.clone())
            .session_liveness(liveness.clone())
            .build()
            .unwrap();
        Live {
            env,
            auth,
            liveness,
        }
    }

    fn token(&self, user: &str, session: Uuid) -> String {
        self.env
            .token(user)
            .claim("session_id", session.to_string())
            .sign_es256(&self.env.keys)
    }

    async fn check(&self, token: &str) -> Result<(), AuthError> {
        user_gate(&self.auth)
            .decide(&headers(token))
            .await
            .map(|_| ())
            .map_err(|r| r.error().clone())
    }
}

/// What a route admitting signed-in users applies.
fn user_gate(auth: &Authenticator) -> Gate {
    Gate::modes(auth.clone(), "user".parse().unwrap())
}

fn revoked(reason: &'static str) -> Result<(), AuthError> {
    Err(AuthError::SessionRevoked { reason })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_out_of_each_scope_ends_the_token_within_the_cache_time() {
    let live = Live::start(30, false).await;
    let env = &live.env;
    let [a1, a2, a3] = [fresh(), fresh(), fresh()];
    for s in [a1, a2, a3] {
        env.add_session(ALICE, s, "null");
    }
    let b1 = fresh();
    env.add_session(BOB, b1, "null");
    let (t1, t2, t3, tb) = (
        live.token(ALICE, a1),
        live.token(ALICE, a2),
        live.token(ALICE, a3),
        live.token(BOB, b1),
    );
    for t in [&t1, &t2, &t3, &tb] {
        live.check(t).await.unwrap();
    }
    assert_eq!(live.liveness.source_calls(), 4);

    // scope=local on a1: GoTrue deletes that row.
    env.pg
        .psql(&format!("delete from auth.sessions where id = '{a1}'"))
        .unwrap();
    live.check(&t1).await.unwrap(); // cached: still live, within the cache time
    env.clock.advance(31);
    assert_eq!(live.check(&t1).await, revoked("session_not_found"));
    live.check(&t2).await.unwrap();

    // scope=others from a2: every other session of the user goes.
    env.pg
        .psql(&format!(
            "delete from auth.sessions where user_id = '{ALICE}' and id <> '{a2}'"
        ))
        .unwrap();
    env.clock.advance(31);
    live.check(&t2).await.unwrap();
    assert_eq!(live.check(&t3).await, revoked("session_not_found"));

    // scope=global: all of them.
    env.pg
        .psql(&format!(
            "delete from auth.sessions where user_id = '{ALICE}'"
        ))
        .unwrap();
    env.clock.advance(31);
    assert_eq!(live.check(&t2).await, revoked("session_not_found"));
    // Bob is untouched, and the old tokens are still otherwise valid (not expired).
    live.check(&tb).await.unwrap();
    env.verifier.verify(&t2).unwrap();

    // A sign-out seen locally (the proxy calls this) ends it at once, cache or not.
    live.liveness.invalidate_session(
        &b1.to_string(),
        Uuid::parse_str(BOB).unwrap(),
        env.clock.now(),
    );
    assert_eq!(live.check(&tb).await, revoked("session_not_found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_after_banned_deleted_and_foreign_sessions_are_refused() {
    let live = Live::start(30, false).await;
    let env = &live.env;
    let now = TokenBuilder::DEFAULT_NOW;

    // Time-boxed: not_after in the past (GoTrue deletes such rows only a day later).
    let past = fresh();
    env.add_session(ALICE, past, &format!("to_timestamp({})", now - 60));
    assert_eq!(
        live.check(&live.token(ALICE, past)).await,
        revoked("session_expired")
    );

    // not_after ahead: live now, refused once the clock passes it, even while cached.
    let boxed = fresh();
    env.add_session(ALICE, boxed, &format!("to_timestamp({})", now + 10));
    let t = live.token(ALICE, boxed);
    live.check(&t).await.unwrap();
    env.clock.advance(11);
    assert_eq!(live.check(&t).await, revoked("session_expired"));
    let calls = live.liveness.source_calls();

    // Banned (banned_until ahead of the database's clock) and soft-deleted users.
    let banned = fresh();
    env.add_session(BOB, banned, "null");
    env.pg
        .psql(&format!(
            "update auth.users set banned_until = now() + interval '1 day' where id = '{BOB}'"
        ))
        .unwrap();
    assert_eq!(
        live.check(&live.token(BOB, banned)).await,
        revoked("user_banned")
    );
    let carol = "0c0c0000-0000-4000-8000-000000000003";
    let deleted = fresh();
    env.add_session(carol, deleted, "null");
    env.pg
        .psql(&format!(
            "update auth.users set deleted_at = now() where id = '{carol}'"
        ))
        .unwrap();
    assert_eq!(
        live.check(&live.token(carol, deleted)).await,
        revoked("user_not_found")
    );

    // A session row of another user: a token naming Bob's session for Alice is refused.
    let bobs = fresh();
    env.add_session(BOB, bobs, "null");
    assert_eq!(
        live.check(&live.token(ALICE, bobs)).await,
        revoked("session_user_mismatch")
    );
    // No session_id at all, or one that is not a UUID.
    let none = env.token(ALICE).remove("session_id").sign_es256(&env.keys);
    assert_eq!(live.check(&none).await, revoked("no_session_id"));
    let odd = env
        .token(ALICE)
        .claim("session_id", "'; delete from auth.sessions; --")
        .sign_es256(&env.keys);
    assert_eq!(live.check(&odd).await, revoked("no_session_id"));
    assert_eq!(
        live.liveness.source_calls(),
        calls + 3,
        "no question for those"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_requests_ask_once_and_the_cache_is_bounded() {
    let env = Env::start();
    let liveness = SessionLiveness::builder(DbSessions::new(env.admin_pool().await))
        .capacity(8)
        .build()
        .unwrap();
    let auth = Arc::new(
        Authenticator::builder(env.verifier.clone())
            .session_liveness(liveness.clone())
            .build()
            .unwrap(),
    );
    let session = fresh();
    env.add_session(ALICE, session, "null");
    let token = env
        .token(ALICE)
        .claim("session_id", session.to_string())
        .sign_es256(&env.keys);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (auth, token) = (Arc::clone(&auth), token.clone());
        tasks.push(tokio::spawn(async move {
            user_gate(&auth).decide(&headers(&token)).await.map(|_| ())
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(liveness.source_calls(), 1);
    // The synchronous path answers from the cache now.
    user_gate(&auth)
        .decide_now(&headers(&token))
        .expect("answered from the cache")
        .unwrap();

    // Many sessions: the cache never holds more than its capacity.
    for _ in 0..40 {
        let s = fresh();
        env.add_session(ALICE, s, "null");
        let t = env
            .token(ALICE)
            .claim("session_id", s.to_string())
            .sign_es256(&env.keys);
        user_gate(&auth).decide(&headers(&t)).await.unwrap();
        assert!(liveness.cached() <= 8, "{}", liveness.cached());
    }
    // A fresh session on the synchronous path is not waited for: the gate says it must wait,
    // and the adapters go async.
    let s = fresh();
    let t = env
        .token(ALICE)
        .claim("session_id", s.to_string())
        .sign_es256(&env.keys);
    assert!(user_gate(&auth).decide_now(&headers(&t)).is_none());
    // The synchronous `authenticate` cannot say "wait": it answers 503 `session_unchecked`.
    assert_eq!(
        auth.authenticate(&headers(&t)).unwrap_err(),
        AuthError::SessionUnchecked
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_down_is_503_unless_the_named_opt_out_is_set() {
    for fail_open in [false, true] {
        let mut live = Live::start(30, fail_open).await;
        let session = fresh();
        live.env.add_session(ALICE, session, "null");
        let token = live.token(ALICE, session);
        live.env.pg.stop();
        let started = std::time::Instant::now();
        let answer = live.check(&token).await;
        assert!(started.elapsed() < Duration::from_secs(5), "bounded");
        if fail_open {
            answer.unwrap();
        } else {
            let err = answer.unwrap_err();
            assert_eq!(err, AuthError::SessionStoreUnavailable);
            assert_eq!(err.status(), http::StatusCode::SERVICE_UNAVAILABLE);
            // A flood on the dead store: the failure is remembered for a second per session.
            let calls = live.liveness.source_calls();
            for _ in 0..20 {
                assert_eq!(
                    live.check(&token).await,
                    Err(AuthError::SessionStoreUnavailable)
                );
            }
            assert_eq!(live.liveness.source_calls(), calls);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_request_leaves_the_question_to_the_next() {
    let live = Live::start(30, false).await;
    let session = fresh();
    live.env.add_session(ALICE, session, "null");
    let token = live.token(ALICE, session);
    // Hold the row so the question waits, cancel the first request halfway.
    let admin = live.env.admin_pool().await;
    let mut lock = admin.begin().await.unwrap();
    sqlx::query("lock table auth.sessions in access exclusive mode")
        .execute(&mut *lock)
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_millis(200), live.check(&token)).await;
    assert!(
        first.is_err(),
        "the first request was cancelled while waiting"
    );
    assert_eq!(
        live.liveness.in_flight(),
        0,
        "a lone cancelled question leaves nothing"
    );
    lock.rollback().await.unwrap();
    live.check(&token).await.unwrap();
    assert_eq!(live.liveness.in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_on_its_way_never_overwrites_a_sign_out() {
    let live = Live::start(30, false).await;
    let session = fresh();
    live.env.add_session(ALICE, session, "null");
    let token = live.token(ALICE, session);
    let admin = live.env.admin_pool().await;
    let mut lock = admin.begin().await.unwrap();
    sqlx::query("lock table auth.sessions in access exclusive mode")
        .execute(&mut *lock)
        .await
        .unwrap();
    // The question is asked (and held by the lock); meanwhile the proxy signs the session out
    // locally; then the database answers "live" (the row is still there).
    let (asked, ()) = tokio::join!(live.check(&token), async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        live.liveness.invalidate_session(
            &session.to_string(),
            Uuid::parse_str(ALICE).unwrap(),
            live.env.clock.now(),
        );
        lock.rollback().await.unwrap();
    });
    asked.unwrap(); // that request asked before the sign-out
    assert_eq!(live.check(&token).await, revoked("session_not_found"));
    // The same with a user-wide invalidation: the late answer is not cached; asked again.
    let other = fresh();
    live.env.add_session(ALICE, other, "null");
    let token = live.token(ALICE, other);
    let mut lock = admin.begin().await.unwrap();
    sqlx::query("lock table auth.sessions in access exclusive mode")
        .execute(&mut *lock)
        .await
        .unwrap();
    let calls = live.liveness.source_calls();
    let (asked, ()) = tokio::join!(live.check(&token), async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        live.liveness
            .invalidate_user(Uuid::parse_str(ALICE).unwrap());
        sqlx::query(&format!("delete from auth.sessions where id = '{other}'"))
            .execute(&mut *lock)
            .await
            .unwrap();
        lock.commit().await.unwrap();
    });
    // Asked before the delete committed: that one request may pass; nothing is kept.
    let _ = asked;
    assert_eq!(live.check(&token).await, revoked("session_not_found"));
    assert_eq!(live.liveness.source_calls(), calls + 2);
}
