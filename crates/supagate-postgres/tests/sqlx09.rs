//! The sqlx 0.9 client (`supagate_postgres::sqlx09`) against a real PostgreSQL: the RLS tests
//! of the sqlx 0.8 and tokio-postgres clients on it (isolation between users, the role clamp
//! and the strict mode, nothing left on a pooled connection, the role's isolation level and
//! access mode, the pre-request function, `request.cookies`, a dead database), and the app's
//! own statements' errors sorted by SQLSTATE as on sqlx 0.8.
#![cfg(feature = "sqlx09")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::{ALICE, BOB, Env, PRE_REQUEST};
use sqlx09::PgPool;
use sqlx09::postgres::PgPoolOptions;
use supagate_core::RequestError as _;
use supagate_postgres::sqlx09::{Rls, ScopedTx};
use supagate_postgres::{Access, DbRole, RequestInfo, RlsError};

async fn pool(env: &Env, max: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&env.pg.url("authenticator"))
        .await
        .expect("authenticator connects")
}

fn request(method: &str, headers: &[(&'static str, &'static str)]) -> RequestInfo {
    RequestInfo::from_fields(
        method,
        "/notes",
        headers.iter().map(|(n, v)| (*n, v.as_bytes())),
    )
}

async fn bodies(tx: &mut ScopedTx) -> Vec<String> {
    sqlx09::query_scalar("select body from notes order by id")
        .fetch_all(&mut **tx)
        .await
        .unwrap()
}

async fn setting(tx: &mut ScopedTx, name: &str) -> Option<String> {
    sqlx09::query_scalar("select current_setting($1, true)")
        .bind(name)
        .fetch_one(&mut **tx)
        .await
        .unwrap()
}

/// The app's own statement in the scoped transaction, its error sorted as `RlsError`.
async fn run(tx: &mut ScopedTx, sql: &'static str) -> Result<u64, RlsError> {
    sqlx09::query(sql)
        .execute(&mut **tx)
        .await
        .map(|r| r.rows_affected())
        .map_err(RlsError::from)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_never_see_or_touch_each_others_notes() {
    let env = Env::start();
    let rls = Rls::builder(pool(&env, 4).await).build().await.unwrap();
    let none = RequestInfo::default();
    let (alice, bob) = (env.user(ALICE), env.user(BOB));
    for (who, body, public) in [
        (&alice, "alice private", false),
        (&alice, "alice public", true),
        (&bob, "bob private", false),
    ] {
        let mut tx = rls.begin(&rls.scope(who), &none).await.unwrap();
        sqlx09::query("insert into notes (body, public) values ($1, $2)")
            .bind(body)
            .bind(public)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let mut tx = rls.begin(&rls.scope(&alice), &none).await.unwrap();
    assert_eq!(bodies(&mut tx).await, ["alice private", "alice public"]);
    tx.commit().await.unwrap();
    let mut tx = rls.begin(&rls.scope(&bob), &none).await.unwrap();
    assert_eq!(bodies(&mut tx).await, ["alice public", "bob private"]);
    assert_eq!(
        run(&mut tx, "update notes set body = 'pwned'")
            .await
            .unwrap(),
        1,
        "only bob's own note"
    );
    let forged = sqlx09::query("insert into notes (owner, body) values ($1::text::uuid, 'forged')")
        .bind(ALICE)
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(
        forged.to_string().contains("row-level security"),
        "{forged}"
    );
    drop(tx);
    // Signed out: the public notes only, no writes (42501, 403 to the client).
    let mut tx = rls.begin(&rls.anon_scope(), &none).await.unwrap();
    assert_eq!(tx.role(), &DbRole::Anon);
    assert_eq!(bodies(&mut tx).await, ["alice public"]);
    let denied = run(&mut tx, "insert into notes (body) values ('anon')")
        .await
        .unwrap_err();
    assert_eq!(denied.status().as_u16(), 403, "{denied:?}");
    assert_eq!(denied.sqlstate().as_deref(), Some("42501"));
    drop(tx);
    let mut tx = rls.begin(&rls.scope(&alice), &none).await.unwrap();
    assert_eq!(bodies(&mut tx).await, ["alice private", "alice public"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_never_picks_a_stronger_role_and_the_strict_mode_refuses() {
    let env = Env::start();
    let pool = pool(&env, 2).await;
    let rls = Rls::builder(pool.clone()).build().await.unwrap();
    let strict = Rls::builder(pool.clone())
        .refuse_unsupported_roles(true)
        .build()
        .await
        .unwrap();
    // Both connections busy: a refusal of the strict mode must not wait for one.
    let held = (pool.acquire().await.unwrap(), pool.acquire().await.unwrap());
    for claimed in ["service_role", "postgres"] {
        let verified = env.verified(&env.token(BOB).claim("role", claimed));
        let started = Instant::now();
        let err = strict
            .begin(&strict.user_scope(&verified), &RequestInfo::default())
            .await
            .unwrap_err();
        assert!(matches!(err, RlsError::UnsupportedRole), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    drop(held);
    for claimed in ["service_role", "postgres", "x\"; drop table notes; --"] {
        let verified = env.verified(&env.token(BOB).claim("role", claimed));
        let mut tx = rls
            .begin(&rls.user_scope(&verified), &RequestInfo::default())
            .await
            .unwrap();
        let row: (String, Option<String>) =
            sqlx09::query_as("select current_user::text, auth.role()")
                .fetch_one(&mut *tx)
                .await
                .unwrap();
        assert_eq!(
            row,
            ("authenticated".into(), Some("authenticated".into())),
            "{claimed}"
        );
        drop(tx);
        let err = strict
            .begin(&strict.user_scope(&verified), &RequestInfo::default())
            .await
            .unwrap_err();
        assert!(matches!(err, RlsError::UnsupportedRole), "{err:?}");
    }
}

/// A pool of one connection: after a commit, a rollback, a drop and a failed statement, the
/// next transaction sees nothing of the last: no connection left in a transaction, the login
/// role, no claims, headers or role settings, and the next caller (signed out) sees nothing
/// of Alice's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_left_on_the_connection() {
    let env = Env::start();
    env.pg
        .psql(&format!(
            "insert into notes (owner, body, public) values ('{ALICE}', 'alice private', false)"
        ))
        .unwrap();
    let rls = Rls::builder(pool(&env, 1).await)
        .search_path(["public", "auth"])
        .build()
        .await
        .unwrap();
    let alice = rls.scope(&env.user(ALICE));
    let info = request("POST", &[("x-tenant", "acme \" quoted\u{e9}")]);
    let clean = async |rls: &Rls| {
        // No connection of the pool is left inside a transaction.
        let started = Instant::now();
        loop {
            let open = env
                .pg
                .psql(
                    "select count(*) from pg_stat_activity where usename = 'authenticator' \
                     and state like 'idle in transaction%'",
                )
                .unwrap();
            if open.trim() == "0" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "a connection left in a transaction"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Out of any scope: the login role, no claims, no headers, its own timeout and path.
        let row: (String, Option<String>, Option<String>, String, String) = sqlx09::query_as(
            "select current_user::text, current_setting('request.jwt.claims', true), \
             current_setting('request.headers', true), current_setting('statement_timeout'), \
             current_setting('search_path')",
        )
        .fetch_one(rls.pool())
        .await
        .unwrap();
        assert_eq!(row.0, "authenticator");
        assert!(row.1.unwrap_or_default().is_empty());
        assert!(row.2.unwrap_or_default().is_empty());
        assert_eq!(row.3, "0");
        assert!(!row.4.contains("auth"), "{}", row.4);
        // The login role itself may not read the notes.
        assert!(
            sqlx09::query("select body from notes")
                .fetch_all(rls.pool())
                .await
                .is_err()
        );
        // The next caller, signed out, sees nothing of Alice's.
        let mut tx = rls
            .begin(&rls.anon_scope(), &RequestInfo::default())
            .await
            .unwrap();
        assert!(bodies(&mut tx).await.is_empty());
        assert_eq!(
            setting(&mut tx, "request.jwt.claims").await.as_deref(),
            Some(r#"{"role":"anon"}"#)
        );
        drop(tx);
    };
    let mut tx = rls.begin(&alice, &info).await.unwrap();
    assert_eq!(tx.role(), &DbRole::Authenticated);
    assert_eq!(bodies(&mut tx).await, ["alice private"]);
    let claims = setting(&mut tx, "request.jwt.claims").await.unwrap();
    let claims: serde_json::Value = serde_json::from_str(&claims).unwrap();
    assert_eq!(claims["sub"], ALICE);
    assert_eq!(claims["role"], "authenticated");
    let headers = setting(&mut tx, "request.headers").await.unwrap();
    let headers: serde_json::Value = serde_json::from_str(&headers).unwrap();
    assert_eq!(headers["x-tenant"], "acme \" quoted\u{e9}");
    assert_eq!(
        setting(&mut tx, "statement_timeout").await.as_deref(),
        Some("8s")
    );
    assert_eq!(
        setting(&mut tx, "search_path").await.as_deref(),
        Some("\"public\", \"auth\"")
    );
    tx.commit().await.unwrap();
    clean(&rls).await;
    let tx = rls.begin(&alice, &info).await.unwrap();
    tx.rollback().await.unwrap();
    clean(&rls).await;
    let tx = rls.begin(&alice, &info).await.unwrap();
    drop(tx);
    clean(&rls).await;
    let mut tx = rls.begin(&alice, &info).await.unwrap();
    let err = run(&mut tx, "select 1/0").await.unwrap_err();
    assert_eq!(err.status().as_u16(), 400, "{err:?}"); // 22012: the caller's statement
    drop(tx);
    clean(&rls).await;
    // A transaction begun by the app, scoped with `apply`.
    let mut tx = rls.pool().begin().await.unwrap();
    rls.apply(&mut tx, &alice, &info).await.unwrap();
    let seen: Vec<String> = sqlx09::query_scalar("select body from notes")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(seen, ["alice private"]);
    drop(tx);
    clean(&rls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_access_and_cookies_as_on_sqlx_08() {
    let env = Env::start();
    env.pg
        .psql(
            "alter role authenticated set default_transaction_isolation = 'repeatable read'; \
             alter role anon set default_transaction_read_only = on;",
        )
        .unwrap();
    let rls = Rls::builder(pool(&env, 2).await)
        .read_only_safe_methods(true)
        .request_cookies(true)
        .build()
        .await
        .unwrap();
    let alice = rls.scope(&env.user(ALICE));
    let mut tx = rls
        .begin(
            &alice,
            &request("GET", &[("cookie", "theme=dark; sb-x-auth-token=secret")]),
        )
        .await
        .unwrap();
    assert_eq!(
        setting(&mut tx, "transaction_isolation").await.as_deref(),
        Some("repeatable read")
    );
    assert_eq!(
        setting(&mut tx, "transaction_read_only").await.as_deref(),
        Some("on")
    );
    assert_eq!(
        setting(&mut tx, "request.cookies").await.as_deref(),
        Some(r#"{"theme":"dark"}"#)
    );
    let write = run(&mut tx, "insert into notes (body) values ('x')")
        .await
        .unwrap_err();
    assert_eq!(write.status().as_u16(), 405, "{write:?}"); // 25006
    drop(tx);
    let mut tx = rls
        .begin_with(&alice, &request("GET", &[]), Access::ReadWrite)
        .await
        .unwrap();
    assert_eq!(
        setting(&mut tx, "transaction_read_only").await.as_deref(),
        Some("off")
    );
    drop(tx);
    // A role that insists on read-only stays so whatever the method or the caller's choice.
    let mut tx = rls
        .begin_with(&rls.anon_scope(), &request("POST", &[]), Access::ReadWrite)
        .await
        .unwrap();
    assert_eq!(
        setting(&mut tx, "transaction_read_only").await.as_deref(),
        Some("on")
    );
    drop(tx);
    // `request.cookies` is opt-in.
    let plain = Rls::builder(pool(&env, 1).await).build().await.unwrap();
    let mut tx = plain
        .begin(&alice, &request("POST", &[("cookie", "theme=dark")]))
        .await
        .unwrap();
    assert_eq!(
        setting(&mut tx, "request.cookies").await.as_deref(),
        Some("{}")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pre_request_function_maps_its_errors_as_postgrest_does() {
    let env = Env::start();
    env.pg.psql(PRE_REQUEST).unwrap();
    let rls = Rls::builder(pool(&env, 2).await)
        .pre_request("public.check_request")
        .read_only_safe_methods(true)
        .build()
        .await
        .unwrap();
    let alice = rls.scope(&env.user(ALICE));
    let anon = rls.anon_scope();
    let mut tx = rls
        .begin(&alice, &request("GET", &[("x-tenant", "acme")]))
        .await
        .unwrap();
    assert_eq!(
        setting(&mut tx, "app.seen").await.as_deref(),
        Some(format!("authenticated {ALICE} GET /notes acme").as_str())
    );
    drop(tx);
    for (raise, status_user, status_anon) in [
        ("banned", 403, 403),
        ("slow-down", 429, 429),
        ("exception", 400, 400),
        ("privilege", 403, 401),
        ("unique", 409, 409),
        ("internal", 500, 500),
    ] {
        for (scope, want) in [(&alice, status_user), (&anon, status_anon)] {
            let err = rls
                .begin(scope, &request("POST", &[("x-raise", raise)]))
                .await
                .unwrap_err();
            assert_eq!(err.status().as_u16(), want, "{raise}: {err:?}");
            let res = err.to_response();
            assert_eq!(res.status().as_u16(), want);
            let body = String::from_utf8(res.body().clone()).unwrap();
            assert!(
                !body.contains("banned") && !body.contains("tenant") && !body.contains("for you"),
                "the database's message is never sent: {body}"
            );
            if want == 401 {
                assert_eq!(res.headers()["www-authenticate"], "Bearer");
            }
        }
    }
    // A GET's transaction is read-only for the function too: its write fails (25006, 405).
    let err = rls
        .begin(&alice, &request("GET", &[("x-write", "yes")]))
        .await
        .unwrap_err();
    assert_eq!(
        err.status(),
        http::StatusCode::METHOD_NOT_ALLOWED,
        "{err:?}"
    );
    let tx = rls
        .begin(&alice, &request("POST", &[("x-write", "yes")]))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // Checked at start-up on this client too: a missing function, one the request roles may
    // not call.
    env.pg
        .psql(
            "create function public.no_grant() returns void language sql as 'select'; \
             revoke execute on function public.no_grant() from public",
        )
        .unwrap();
    for (name, problem) in [
        ("public.missing", "no such function"),
        ("public.no_grant", "may not call it"),
    ] {
        let err = Rls::builder(pool(&env, 1).await)
            .pre_request(name)
            .build()
            .await
            .unwrap_err();
        assert!(err.to_string().contains(problem), "{name}: {err}");
    }
}

/// The scope's values are the service's own: the database refusing the scope statement (the
/// login role lost a grant) is the service's 500, never the caller's 403.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scope_the_database_refuses_is_the_services_500() {
    let env = Env::start();
    let rls = Rls::builder(pool(&env, 2).await).build().await.unwrap();
    env.pg
        .psql("revoke authenticated from authenticator")
        .unwrap();
    let err = rls
        .begin(&rls.scope(&env.user(ALICE)), &RequestInfo::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, RlsError::Driver { status: None, .. }),
        "{err:?}"
    );
    assert_eq!(err.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(err.sqlstate().as_deref(), Some("42501"));
}

/// Conflicts and bad values of the app's own statements answer as on sqlx 0.8: 409 for a
/// unique violation, 400 for a check, never a 500 for the client's doing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apps_own_errors_are_sorted_by_sqlstate() {
    let env = Env::start();
    env.pg
        .psql(
            "create table public.tags (name text primary key check (length(name) < 10)); \
             grant select, insert on public.tags to authenticated;",
        )
        .unwrap();
    let rls = Rls::builder(pool(&env, 1).await).build().await.unwrap();
    let alice = rls.scope(&env.user(ALICE));
    let mut tx = rls.begin(&alice, &RequestInfo::default()).await.unwrap();
    run(&mut tx, "insert into tags values ('a')").await.unwrap();
    tx.commit().await.unwrap();
    for (sql, status, sqlstate) in [
        ("insert into tags values ('a')", 409, "23505"),
        ("insert into tags values ('far too long')", 400, "23514"),
        ("select * from no_such_table", 500, "42P01"),
    ] {
        let mut tx = rls.begin(&alice, &RequestInfo::default()).await.unwrap();
        let err = run(&mut tx, sql).await.unwrap_err();
        assert_eq!(err.status().as_u16(), status, "{sql}: {err:?}");
        assert_eq!(err.sqlstate().as_deref(), Some(sqlstate), "{sql}");
    }
}

/// A request cancelled halfway (its `begin` dropped after 1 to 39 polls, from taking the
/// connection to the scope statement) never hands the next request a connection inside
/// a transaction or with the last caller's role and claims.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_begin_cancelled_halfway_leaves_nothing() {
    let env = Env::start();
    let rls = Rls::builder(pool(&env, 1).await).build().await.unwrap();
    let alice = rls.scope(&env.user(ALICE));
    let info = request("POST", &[("x-tenant", "acme")]);
    let mut cut = 0;
    // Polled `polls` times, the runtime let run in between, then dropped: no timer, so the
    // cut points do not depend on the host's speed (the first poll always waits on I/O).
    for polls in 1..40 {
        // Its own block: the cut `begin` is dropped before the next caller asks.
        let done = {
            let mut begin = std::pin::pin!(rls.begin(&alice, &info));
            let mut done = false;
            for _ in 0..polls {
                std::future::poll_fn(|cx| {
                    done |= begin.as_mut().poll(cx).is_ready();
                    std::task::Poll::Ready(())
                })
                .await;
                if done {
                    break;
                }
                tokio::task::yield_now().await;
            }
            done
        };
        cut += usize::from(!done);
        // The next caller, signed out, on the pool's one connection.
        let mut tx = rls
            .begin(&rls.anon_scope(), &RequestInfo::default())
            .await
            .unwrap();
        let row: (String, Option<String>, Option<String>) = sqlx09::query_as(
            "select current_user::text, current_setting('request.jwt.claims', true), \
             current_setting('request.headers', true)",
        )
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        assert_eq!(row.0, "anon", "after a cut at poll {polls}");
        assert_eq!(row.1.as_deref(), Some(r#"{"role":"anon"}"#));
        assert_eq!(row.2.as_deref(), Some("{}"));
        tx.rollback().await.unwrap();
    }
    assert!(cut > 0, "no begin was cut: the test did not test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_database_is_503() {
    let mut env = Env::start();
    let rls = Rls::builder(pool(&env, 1).await).build().await.unwrap();
    drop(
        rls.begin(&rls.anon_scope(), &RequestInfo::default())
            .await
            .unwrap(),
    );
    env.pg.stop();
    let started = std::time::Instant::now();
    let err = rls
        .begin(&rls.anon_scope(), &RequestInfo::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.status(),
        http::StatusCode::SERVICE_UNAVAILABLE,
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(8));
}
