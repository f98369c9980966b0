//! Sign-out everywhere on a real PostgreSQL: two instances, each with its own liveness cache
//! (TTL 30 s, on a clock that never moves: nothing expires by itself) and its own listening
//! connection. A session deleted, a `not_after` moved, a user banned: both refuse at once. The
//! listening connection killed: no cached "live" answer is served until it listens again, and
//! it does so by itself.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::{ALICE, BOB, Env};
use supagate_auth::{AuthError, Authenticator, Gate, SessionLiveness};
use supagate_postgres::{DbSessions, SESSION_NOTIFY_MIGRATION, SessionNotifications};
use uuid::Uuid;

struct Instance {
    auth: Authenticator,
    liveness: SessionLiveness,
    notifications: SessionNotifications,
}

async fn instance(env: &Env, listen_with: sqlx::PgPool) -> Instance {
    let liveness = SessionLiveness::builder(
        DbSessions::new(env.admin_pool().await).timeout(Duration::from_secs(2)),
    )
    .ttl(Duration::from_secs(30))
    .build()
    .unwrap();
    let auth = Authenticator::builder(env.verifier.clone())
        .session_liveness(liveness.clone())
        .build()
        .unwrap();
    let notifications = SessionNotifications::builder(listen_with, liveness.clone())
        .heartbeat(Duration::from_millis(300))
        .spawn();
    Instance {
        auth,
        liveness,
        notifications,
    }
}

async fn check(i: &Instance, token: &str) -> Result<(), AuthError> {
    let mut h = http::HeaderMap::new();
    h.insert("authorization", format!("Bearer {token}").parse().unwrap());
    Gate::modes(i.auth.clone(), "user".parse().unwrap())
        .decide(&h)
        .await
        .map(|_| ())
        .map_err(|r| r.error().clone())
}

async fn until(what: &str, within: Duration, mut f: impl AsyncFnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f().await {
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    start.elapsed()
}

fn token(env: &Env, user: &str, session: Uuid) -> String {
    env.token(user)
        .claim("session_id", session.to_string())
        .sign_es256(&env.keys)
}

fn revoked(r: &Result<(), AuthError>) -> bool {
    matches!(r, Err(AuthError::SessionRevoked { .. }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_instance_sees_a_sign_out_at_once() {
    let env = Env::start();
    env.pg.psql(SESSION_NOTIFY_MIGRATION).unwrap();
    // Idempotent: applied twice, one trigger of each.
    env.pg.psql(SESSION_NOTIFY_MIGRATION).unwrap();
    let a = instance(&env, env.pool(2).await).await;
    let b = instance(&env, env.pool(2).await).await;
    for i in [&a, &b] {
        until("listening", Duration::from_secs(5), async || {
            i.notifications.listening()
        })
        .await;
    }
    // A third instance without the listener: what the cache did before.
    let deaf = {
        let liveness = SessionLiveness::builder(DbSessions::new(env.admin_pool().await))
            .ttl(Duration::from_secs(30))
            .build()
            .unwrap();
        Authenticator::builder(env.verifier.clone())
            .session_liveness(liveness)
            .build()
            .unwrap()
    };
    let check_deaf = async |t: &str| {
        let mut h = http::HeaderMap::new();
        h.insert("authorization", format!("Bearer {t}").parse().unwrap());
        Gate::modes(deaf.clone(), "user".parse().unwrap())
            .decide(&h)
            .await
            .map(|_| ())
    };

    let mut worst = Duration::ZERO;
    for n in 0..20u128 {
        let session = Uuid::from_u128(0x5e55_0000_0000_4000_8000_0000_0000_0100 + n);
        env.add_session(ALICE, session, "null");
        let t = token(&env, ALICE, session);
        for i in [&a, &b] {
            check(i, &t).await.unwrap(); // cached: live for 30 s
        }
        check_deaf(&t).await.unwrap();
        env.pg
            .psql(&format!("delete from auth.sessions where id = '{session}'"))
            .unwrap();
        let mut took = Duration::ZERO;
        for i in [&a, &b] {
            took = took.max(
                until("the sign-out seen", Duration::from_secs(1), async || {
                    revoked(&check(i, &t).await)
                })
                .await,
            );
        }
        worst = worst.max(took);
        // Without the listener, the cached answer still says live.
        assert!(check_deaf(&t).await.is_ok());
    }
    eprintln!("slowest of 20 sign-outs seen by both instances: {worst:?}");

    // A moved not_after and a banned user: the same.
    let session = Uuid::from_u128(0x5e55_0000_0000_4000_8000_0000_0000_0200);
    env.add_session(BOB, session, "null");
    let t = token(&env, BOB, session);
    check(&a, &t).await.unwrap();
    env.pg
        .psql(&format!(
            "update auth.sessions set not_after = now() - interval '1 hour' where id = '{session}'"
        ))
        .unwrap();
    until("a moved not_after", Duration::from_secs(1), async || {
        check(&a, &t).await.is_err()
    })
    .await;
    let other = Uuid::from_u128(0x5e55_0000_0000_4000_8000_0000_0000_0201);
    env.add_session(BOB, other, "null");
    let t = token(&env, BOB, other);
    check(&b, &t).await.unwrap();
    env.pg
        .psql(&format!(
            "update auth.users set banned_until = now() + interval '1 day' where id = '{BOB}'"
        ))
        .unwrap();
    until("a ban", Duration::from_secs(1), async || {
        revoked(&check(&b, &t).await)
    })
    .await;
    assert_eq!(a.notifications.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cached_answer_is_served_while_the_listener_is_down() {
    let env = Env::start();
    env.pg.psql(SESSION_NOTIFY_MIGRATION).unwrap();
    // The listener logs in as `authenticator`, which the test can lock out.
    let a = instance(&env, env.pool(2).await).await;
    until("listening", Duration::from_secs(5), async || {
        a.notifications.listening()
    })
    .await;
    let session = Uuid::from_u128(0x5e55_0000_0000_4000_8000_0000_0000_0300);
    env.add_session(ALICE, session, "null");
    let t = token(&env, ALICE, session);
    check(&a, &t).await.unwrap();
    assert_eq!(a.liveness.cached(), 1);

    // The listening connection killed, and kept from coming back.
    env.pg
        .psql(
            "alter role authenticator nologin; \
             select pg_terminate_backend(pid) from pg_stat_activity \
             where application_name = 'supagate-notify'",
        )
        .unwrap();
    let noticed = until("the loss noticed", Duration::from_secs(2), async || {
        !a.notifications.listening()
    })
    .await;
    eprintln!("the loss noticed after {noticed:?}");
    assert!(a.liveness.cache_paused());
    // Every request asks the database: nothing "live" is kept.
    check(&a, &t).await.unwrap();
    check(&a, &t).await.unwrap();
    // Only the answer that the first session ended stays (it only refuses).
    assert_eq!(a.liveness.cached(), 0, "a live answer kept during the gap");
    // A session deleted during the gap (its notification heard by nobody) is refused at once.
    env.pg
        .psql(&format!("delete from auth.sessions where id = '{session}'"))
        .unwrap();
    assert!(revoked(&check(&a, &t).await));

    // Let it back in: it listens again by itself, and caches again from a clean slate.
    let other = Uuid::from_u128(0x5e55_0000_0000_4000_8000_0000_0000_0301);
    env.add_session(ALICE, other, "null");
    let t = token(&env, ALICE, other);
    check(&a, &t).await.unwrap();
    env.pg.psql("alter role authenticator login").unwrap();
    let back = until("listening again", Duration::from_secs(20), async || {
        a.notifications.listening()
    })
    .await;
    eprintln!("listening again {back:?} after the role could log in");
    assert_eq!(a.notifications.connections(), 2);
    assert!(!a.liveness.cache_paused());
    // The deleted session's "ended" answer is kept; the live one from the gap is not: the
    // next request asks.
    assert_eq!(
        a.liveness.cached(),
        1,
        "a live answer from the gap survived it"
    );
    let asked = a.liveness.source_calls();
    check(&a, &t).await.unwrap();
    assert_eq!(a.liveness.source_calls(), asked + 1);
    assert_eq!(a.liveness.cached(), 2);
    check(&a, &t).await.unwrap();
    assert_eq!(a.liveness.source_calls(), asked + 1, "cached again");
    env.pg
        .psql(&format!("delete from auth.sessions where id = '{other}'"))
        .unwrap();
    until(
        "a sign-out after the gap",
        Duration::from_secs(1),
        async || revoked(&check(&a, &t).await),
    )
    .await;
}

/// Review findings: the migration dropped and re-created its triggers, which only the tables'
/// owner may do (on Supabase `postgres` is not the owner of `auth.*`), so a second run
/// failed; a `TRUNCATE` notified nobody; a dropped listener kept its connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_migration_runs_twice_as_a_non_owner_and_a_truncate_forgets_everything() {
    let env = Env::start();
    // The cluster's password, for the new role to log in over TCP.
    let url = env.pg.url("authenticator");
    let password = url
        .split_once("authenticator:")
        .and_then(|(_, rest)| rest.split_once('@'))
        .map(|(pw, _)| pw.to_owned())
        .unwrap_or_default();
    env.pg
        .psql(&format!(
            "create role dashboard login password '{password}'; \
             grant usage on schema auth to dashboard; \
             grant trigger on auth.sessions, auth.users to dashboard; \
             grant create on database postgres to dashboard"
        ))
        .unwrap();
    let dashboard = sqlx::PgPool::connect(&env.pg.url("dashboard"))
        .await
        .unwrap();
    assert!(!SessionNotifications::installed(&dashboard).await.unwrap());
    for _ in 0..2 {
        sqlx::raw_sql(SESSION_NOTIFY_MIGRATION)
            .execute(&dashboard)
            .await
            .unwrap();
    }
    assert!(SessionNotifications::installed(&dashboard).await.unwrap());

    let a = instance(&env, env.pool(2).await).await;
    until("listening", Duration::from_secs(5), async || {
        a.notifications.listening()
    })
    .await;
    let session = Uuid::from_u128(0x5e55_0000_0000_4000_8000_0000_0000_0400);
    env.add_session(ALICE, session, "null");
    let t = token(&env, ALICE, session);
    check(&a, &t).await.unwrap();
    env.pg.psql("truncate auth.sessions").unwrap();
    until("a truncate seen", Duration::from_secs(1), async || {
        revoked(&check(&a, &t).await)
    })
    .await;

    // Dropped: its connection goes too.
    let count = || {
        env.pg
            .psql(
                "select count(*) from pg_stat_activity where application_name = 'supagate-notify'",
            )
            .unwrap()
            .trim()
            .to_owned()
    };
    assert_eq!(count(), "1");
    drop(a);
    until(
        "the connection closed",
        Duration::from_secs(3),
        async || count() == "0",
    )
    .await;
}
