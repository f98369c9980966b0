//! The tokio-postgres client (`PgRls` on a deadpool-postgres pool) against a real PostgreSQL:
//! the RLS tests of the sqlx client on it (isolation between users, the role clamp and the
//! strict mode, nothing left on a pooled connection, the role's isolation level and access
//! mode, the pre-request function, `request.cookies`), and the pipelined first statement.
#![cfg(feature = "tokio-postgres")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{ALICE, BOB, Env};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use supagate_core::RequestError as _;
use supagate_postgres::tokio_pg::{PgRls, PgScopedTx};
use supagate_postgres::{Access, DbRole, RequestInfo, RlsError};
use tokio_postgres::types::Type;

fn pool(env: &Env, max: usize) -> Pool {
    let config: tokio_postgres::Config = env.pg.url("authenticator").parse().unwrap();
    let manager = Manager::from_config(
        config,
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(max)
        .wait_timeout(Some(std::time::Duration::from_secs(5)))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .unwrap()
}

fn request(method: &str, headers: &[(&'static str, &'static str)]) -> RequestInfo {
    RequestInfo::from_fields(
        method,
        "/notes",
        headers.iter().map(|(n, v)| (*n, v.as_bytes())),
    )
}

async fn bodies(tx: &PgScopedTx) -> Vec<String> {
    tx.query("select body from notes order by id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn setting(tx: &PgScopedTx, name: &str) -> Option<String> {
    tx.query_one("select current_setting($1, true)", &[&name])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_never_see_or_touch_each_others_notes() {
    let env = Env::start();
    let rls = PgRls::builder(pool(&env, 4)).build().await.unwrap();
    let none = RequestInfo::default();
    let (alice, bob) = (env.user(ALICE), env.user(BOB));
    for (who, body, public) in [
        (&alice, "alice private", false),
        (&alice, "alice public", true),
        (&bob, "bob private", false),
    ] {
        let tx = rls.begin(&rls.scope(who), &none).await.unwrap();
        tx.execute(
            "insert into notes (body, public) values ($1, $2)",
            &[&body, &public],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let tx = rls.begin(&rls.scope(&alice), &none).await.unwrap();
    assert_eq!(bodies(&tx).await, ["alice private", "alice public"]);
    tx.commit().await.unwrap();
    let tx = rls.begin(&rls.scope(&bob), &none).await.unwrap();
    assert_eq!(bodies(&tx).await, ["alice public", "bob private"]);
    let changed = tx
        .execute("update notes set body = 'pwned'", &[])
        .await
        .unwrap();
    assert_eq!(changed, 1, "only bob's own note");
    let forged = tx
        .execute(
            "insert into notes (owner, body) values ($1::text::uuid, 'forged')",
            &[&ALICE],
        )
        .await
        .unwrap_err();
    assert!(
        forged.to_string().contains("row-level security")
            || format!("{forged:?}").contains("row-level security"),
        "{forged:?}"
    );
    drop(tx);
    // Signed out: the public notes only, no writes.
    let tx = rls.begin(&rls.anon_scope(), &none).await.unwrap();
    assert_eq!(tx.role(), &DbRole::Anon);
    assert_eq!(bodies(&tx).await, ["alice public"]);
    let denied = tx
        .execute("insert into notes (body) values ('anon')", &[])
        .await
        .unwrap_err();
    assert_eq!(denied.code().map(|c| c.code()), Some("42501"));
    drop(tx);
    let tx = rls.begin(&rls.scope(&alice), &none).await.unwrap();
    assert_eq!(bodies(&tx).await, ["alice private", "alice public"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_never_picks_a_stronger_role_and_the_strict_mode_refuses() {
    let env = Env::start();
    let pool = pool(&env, 2);
    let rls = PgRls::builder(pool.clone()).build().await.unwrap();
    let strict = PgRls::builder(pool)
        .refuse_unsupported_roles(true)
        .build()
        .await
        .unwrap();
    for claimed in ["service_role", "postgres", "x\"; drop table notes; --"] {
        let verified = env.verified(&env.token(BOB).claim("role", claimed));
        let tx = rls
            .begin(&rls.user_scope(&verified), &RequestInfo::default())
            .await
            .unwrap();
        let row = tx
            .query_one("select current_user::text, auth.role()", &[])
            .await
            .unwrap();
        assert_eq!(
            (row.get::<_, String>(0), row.get::<_, Option<String>>(1)),
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

/// A pool of one connection: after a commit, a rollback, a drop, a failed statement and a
/// failed first statement of `begin_query`, the next transaction sees nothing of the last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_left_on_the_connection() {
    let env = Env::start();
    let rls = PgRls::builder(pool(&env, 1)).build().await.unwrap();
    let alice = rls.scope(&env.user(ALICE));
    let info = request("POST", &[("x-tenant", "acme")]);
    let clean = async |rls: &PgRls| {
        // No connection of the pool is left inside a transaction (a dropped one is rolled
        // back in the background: give it a moment).
        let started = std::time::Instant::now();
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
                started.elapsed() < std::time::Duration::from_secs(2),
                "a connection left in a transaction"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // Out of any scope: the login role, no claims.
        let object = rls.pool().get().await.unwrap();
        let row = object
            .query_one(
                "select current_user::text, current_setting('request.jwt.claims', true), \
                 current_setting('request.headers', true)",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), "authenticator");
        assert!(
            row.get::<_, Option<String>>(1)
                .unwrap_or_default()
                .is_empty()
        );
        assert!(
            row.get::<_, Option<String>>(2)
                .unwrap_or_default()
                .is_empty()
        );
    };
    let tx = rls.begin(&alice, &info).await.unwrap();
    assert_eq!(tx.role(), &DbRole::Authenticated);
    assert!(
        setting(&tx, "request.jwt.claims")
            .await
            .unwrap()
            .contains(ALICE)
    );
    tx.commit().await.unwrap();
    clean(&rls).await;
    let tx = rls.begin(&alice, &info).await.unwrap();
    tx.rollback().await.unwrap();
    clean(&rls).await;
    let tx = rls.begin(&alice, &info).await.unwrap();
    drop(tx);
    clean(&rls).await;
    let tx = rls.begin(&alice, &info).await.unwrap();
    assert!(tx.execute("select 1/0", &[]).await.is_err());
    drop(tx);
    clean(&rls).await;
    let err = rls
        .begin_query(&alice, &info, "select 1/0", &[])
        .await
        .unwrap_err();
    assert_eq!(err.status().as_u16(), 400, "{err:?}"); // 22012, the caller's statement
    clean(&rls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_statement_comes_back_with_the_transaction() {
    let env = Env::start();
    env.pg
        .psql(&format!(
            "insert into notes (owner, body, public) values ('{ALICE}', 'mine', false), ('{BOB}', 'his', false)"
        ))
        .unwrap();
    let rls = PgRls::builder(pool(&env, 2)).build().await.unwrap();
    let alice = rls.scope(&env.user(ALICE));
    let (tx, rows) = rls
        .begin_query(
            &alice,
            &RequestInfo::default(),
            "select body from notes where body = any($1) order by id",
            &[(&vec!["mine", "his"], Type::TEXT_ARRAY)],
        )
        .await
        .unwrap();
    let seen: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(seen, ["mine"], "the first statement ran under RLS");
    tx.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_access_pre_request_and_cookies_as_on_sqlx() {
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
               end if; \
             end $$; \
             grant execute on function public.check_request() to anon, authenticated;",
        )
        .unwrap();
    let rls = PgRls::builder(pool(&env, 2))
        .read_only_safe_methods(true)
        .pre_request("public.check_request")
        .request_cookies(true)
        .build()
        .await
        .unwrap();
    let alice = rls.scope(&env.user(ALICE));
    let tx = rls
        .begin(
            &alice,
            &request("GET", &[("cookie", "theme=dark; sb-x-auth-token=secret")]),
        )
        .await
        .unwrap();
    assert_eq!(
        setting(&tx, "transaction_isolation").await.as_deref(),
        Some("repeatable read")
    );
    assert_eq!(
        setting(&tx, "transaction_read_only").await.as_deref(),
        Some("on")
    );
    assert_eq!(
        setting(&tx, "request.cookies").await.as_deref(),
        Some(r#"{"theme":"dark"}"#)
    );
    let write = tx
        .execute("insert into notes (body) values ('x')", &[])
        .await
        .unwrap_err();
    assert_eq!(write.code().map(|c| c.code()), Some("25006"));
    drop(tx);
    let tx = rls
        .begin_with(&alice, &request("GET", &[]), Access::ReadWrite)
        .await
        .unwrap();
    assert_eq!(
        setting(&tx, "transaction_read_only").await.as_deref(),
        Some("off")
    );
    drop(tx);
    for (scope, raise, status) in [
        (&alice, "privilege", 403),
        (&rls.anon_scope(), "privilege", 401),
        (&alice, "slow-down", 429),
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
    let err = PgRls::builder(pool(&env, 1))
        .pre_request("public.missing")
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no such function"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_database_is_503() {
    let mut env = Env::start();
    let rls = PgRls::builder(pool(&env, 1)).build().await.unwrap();
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
    assert!(started.elapsed() < std::time::Duration::from_secs(8));
}

/// Review findings: the caller's first statement was prepared before `BEGIN` and the scope,
/// as the login role with its own search path; and what follows a `BEGIN` that fails would
/// run outside the transaction. Now it is prepared in the transaction, after the scope; a
/// scope that fails writes nothing; a login role that is not confined gets its `BEGIN`
/// awaited first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_statement_is_the_scopes_and_a_failed_scope_writes_nothing() {
    let env = Env::start();
    env.pg
        .psql(
            "create schema api; \
             create table api.items (id bigint generated always as identity primary key, \
                 owner uuid not null default auth.uid(), body text not null); \
             alter table api.items enable row level security; \
             create policy mine on api.items using (owner = auth.uid()) with check (owner = auth.uid()); \
             grant usage on schema api to authenticated; \
             grant select, insert on api.items to authenticated;",
        )
        .unwrap();
    let rls = PgRls::builder(pool(&env, 1))
        .search_path(["api", "public"])
        .build()
        .await
        .unwrap();
    let alice = rls.scope(&env.user(ALICE));
    // `items` resolves in the scope's search path, and the role may read it.
    let (tx, rows) = rls
        .begin_query(
            &alice,
            &RequestInfo::default(),
            "select count(*) from items",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, i64>(0), 0);
    tx.commit().await.unwrap();

    // The scope fails (the login role lost the grant): the pipelined insert is not written.
    env.pg
        .psql("revoke authenticated from authenticator")
        .unwrap();
    let err = rls
        .begin_query(
            &alice,
            &RequestInfo::default(),
            "insert into items (body) values ($1) returning id",
            &[(&"should not exist", Type::TEXT)],
        )
        .await
        .unwrap_err();
    assert_eq!(err.status().as_u16(), 500, "{err:?}");
    env.pg.psql("grant authenticated to authenticator").unwrap();
    assert_eq!(
        env.pg
            .psql("select count(*) from api.items")
            .unwrap()
            .trim(),
        "0"
    );

    // A login role that is not confined (the superuser): `BEGIN` is awaited first, and the
    // transaction is the user's all the same.
    let config: tokio_postgres::Config = env.pg.superuser_url().parse().unwrap();
    let manager = Manager::from_config(
        config,
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let superuser = Pool::builder(manager)
        .max_size(1)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .unwrap();
    let rls = PgRls::builder(superuser)
        .search_path(["api", "public"])
        .build()
        .await
        .unwrap();
    let (tx, rows) = rls
        .begin_query(
            &rls.scope(&env.user(ALICE)),
            &RequestInfo::default(),
            "insert into items (body) values ($1) returning owner::text, current_user::text",
            &[(&"mine", Type::TEXT)],
        )
        .await
        .unwrap();
    assert_eq!(
        (rows[0].get::<_, String>(0), rows[0].get::<_, String>(1)),
        (ALICE.to_owned(), "authenticated".to_owned())
    );
    tx.commit().await.unwrap();
}
