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

use std::time::Duration;

use common::{ALICE, BOB, Env};
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
    let strict = Rls::builder(pool)
        .refuse_unsupported_roles(true)
        .build()
        .await
        .unwrap();
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
/// next transaction sees nothing of the last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_left_on_the_connection() {
    let env = Env::start();
    let rls = Rls::builder(pool(&env, 1).await).build().await.unwrap();
    let alice = rls.scope(&env.user(ALICE));
    let info = request("POST", &[("x-tenant", "acme")]);
    let clean = async |rls: &Rls| {
        // Out of any scope: the login role, no claims, no headers (a dropped transaction is
        // rolled back when its connection goes back to the pool, before anyone else has it).
        let row: (String, Option<String>, Option<String>) = sqlx09::query_as(
            "select current_user::text, current_setting('request.jwt.claims', true), \
             current_setting('request.headers', true)",
        )
        .fetch_one(rls.pool())
        .await
        .unwrap();
        assert_eq!(row.0, "authenticator");
        assert!(row.1.unwrap_or_default().is_empty());
        assert!(row.2.unwrap_or_default().is_empty());
    };
    let mut tx = rls.begin(&alice, &info).await.unwrap();
    assert_eq!(tx.role(), &DbRole::Authenticated);
    assert!(
        setting(&mut tx, "request.jwt.claims")
            .await
            .unwrap()
            .contains(ALICE)
    );
    assert_eq!(
        setting(&mut tx, "request.headers").await.as_deref(),
        Some(r#"{"x-tenant":"acme"}"#)
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_access_pre_request_and_cookies_as_on_sqlx_08() {
    let env = Env::start();
    env.pg
        .psql(
            "alter role authenticated set default_transaction_isolation = 'repeatable read'; \
             create function public.check_request() returns void language plpgsql as $$ \
             begin \
               if current_setting('request.headers')::json->>'x-raise' = 'privilege' then \
                 raise sqlstate '42501'; \
               elsif current_setting('request.headers')::json->>'x-raise' = 'slow-down' then \
                 raise sqlstate 'PT429'; \
               elsif current_setting('request.headers')::json->>'x-raise' = 'banned' then \
                 raise exception 'banned'; \
               end if; \
             end $$; \
             grant execute on function public.check_request() to anon, authenticated;",
        )
        .unwrap();
    let rls = Rls::builder(pool(&env, 2).await)
        .read_only_safe_methods(true)
        .pre_request("public.check_request")
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
    for (scope, raise, status) in [
        (&alice, "privilege", 403),
        (&rls.anon_scope(), "privilege", 401),
        (&alice, "slow-down", 429),
        (&alice, "banned", 400),
    ] {
        let err = rls
            .begin(scope, &request("POST", &[("x-raise", raise)]))
            .await
            .unwrap_err();
        assert_eq!(err.status().as_u16(), status, "{raise}: {err:?}");
        let res = err.to_response();
        assert_eq!(res.status().as_u16(), status);
        if status == 401 {
            assert_eq!(res.headers()["www-authenticate"], "Bearer");
        }
    }
    // A missing function stops start-up, on this client too.
    let err = Rls::builder(pool(&env, 1).await)
        .pre_request("public.missing")
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no such function"), "{err}");
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
