//! PostgREST parity against a real PostgreSQL: the role's isolation level, read-only
//! transactions, `request.cookies`, the pre-request function and its error mapping, and the
//! strict mode for token roles.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::{ALICE, BOB, Env, PRE_REQUEST};
use supagate_auth::Caller;
use supagate_core::RequestError as _;
use supagate_postgres::{Access, DbRole, RequestInfo, Rls, RlsConfigError, RlsError};

fn request(method: &str, headers: &[(&'static str, &'static str)]) -> RequestInfo {
    RequestInfo::from_fields(
        method,
        "/notes",
        headers.iter().map(|(n, v)| (*n, v.as_bytes())),
    )
}

async fn setting(tx: &mut supagate_postgres::ScopedTx, name: &str) -> String {
    sqlx::query_scalar("select current_setting($1, true)")
        .bind(name)
        .fetch_one(&mut **tx)
        .await
        .unwrap()
}

async fn insert(tx: &mut supagate_postgres::ScopedTx) -> Result<(), RlsError> {
    sqlx::query("insert into notes (body) values ('x')")
        .execute(&mut **tx)
        .await
        .map(|_| ())
        .map_err(RlsError::from)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_begins_at_its_roles_isolation_level() {
    let env = Env::start();
    env.pg
        .psql(
            "alter role authenticated set default_transaction_isolation = 'serializable'; \
             alter role anon set default_transaction_isolation = 'repeatable read'",
        )
        .unwrap();
    let rls = Rls::builder(env.pool(2).await).build().await.unwrap();
    for (caller, level) in [
        (env.user(ALICE), "serializable"),
        (Caller::None, "repeatable read"),
    ] {
        let mut tx = rls
            .begin(&rls.scope(&caller), &RequestInfo::default())
            .await
            .unwrap();
        assert_eq!(setting(&mut tx, "transaction_isolation").await, level);
        tx.commit().await.unwrap();
    }
    // A database-specific setting wins over the role's global one.
    env.pg
        .psql("alter role authenticated in database postgres set default_transaction_isolation = 'read committed'")
        .unwrap();
    let rls = Rls::builder(env.pool(2).await).build().await.unwrap();
    let mut tx = rls
        .begin(&rls.scope(&env.user(ALICE)), &RequestInfo::default())
        .await
        .unwrap();
    assert_eq!(
        setting(&mut tx, "transaction_isolation").await,
        "read committed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_run_read_only_when_asked_and_the_role_can_insist() {
    let env = Env::start();
    let pool = env.pool(2).await;
    let alice = env.user(ALICE);

    // Off (the default): a GET may write.
    let rls = Rls::builder(pool.clone()).build().await.unwrap();
    let mut tx = rls
        .begin(&rls.scope(&alice), &request("GET", &[]))
        .await
        .unwrap();
    assert_eq!(setting(&mut tx, "transaction_read_only").await, "off");
    insert(&mut tx).await.unwrap();
    drop(tx);

    // On: GET and HEAD read only (a write is 25006, 405), POST writes.
    let rls = Rls::builder(pool.clone())
        .read_only_safe_methods(true)
        .build()
        .await
        .unwrap();
    for method in ["GET", "HEAD"] {
        let mut tx = rls
            .begin(&rls.scope(&alice), &request(method, &[]))
            .await
            .unwrap();
        assert_eq!(setting(&mut tx, "transaction_read_only").await, "on");
        let err = insert(&mut tx).await.unwrap_err();
        assert_eq!(err.sqlstate().as_deref(), Some("25006"));
        assert_eq!(err.status(), http::StatusCode::METHOD_NOT_ALLOWED);
    }
    let mut tx = rls
        .begin(&rls.scope(&alice), &request("POST", &[]))
        .await
        .unwrap();
    insert(&mut tx).await.unwrap();
    drop(tx);
    // Chosen by the caller.
    let mut tx = rls
        .begin_with(&rls.scope(&alice), &request("POST", &[]), Access::ReadOnly)
        .await
        .unwrap();
    assert!(insert(&mut tx).await.is_err());
    drop(tx);

    // A role whose transactions are read-only stays so, whatever the method.
    env.pg
        .psql("alter role anon set default_transaction_read_only = on")
        .unwrap();
    let rls = Rls::builder(pool).build().await.unwrap();
    let mut tx = rls
        .begin_with(&rls.anon_scope(), &request("POST", &[]), Access::ReadWrite)
        .await
        .unwrap();
    assert_eq!(setting(&mut tx, "transaction_read_only").await, "on");
    drop(tx);
    let mut tx = rls
        .begin(&rls.scope(&alice), &request("POST", &[]))
        .await
        .unwrap();
    assert_eq!(setting(&mut tx, "transaction_read_only").await, "off");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_cookies_are_opt_in_and_never_the_sessions() {
    let env = Env::start();
    let pool = env.pool(2).await;
    let info = request(
        "GET",
        &[
            (
                "cookie",
                "theme=dark; sb-testkitprojectref00-auth-token.0=base64-eyJhY2Nlc3NfdG9rZW4; \
                 sb-testkitprojectref00-auth-token.1=ZXhwaXJlc19hdA; csrf=abc",
            ),
            (
                "Cookie",
                "sb-testkitprojectref00-auth-token-code-verifier=verifier; lang=fr; theme=light; \
                 __Host-sb-testkitprojectref00-auth-token=base64-eyJ; \
                 __Secure-sb-x-auth-token.0=base64-eyJ; sb-access-token=eyJ; sb-refresh-token=r1; \
                 supabase-auth-token=%5B%22eyJ",
            ),
        ],
    );
    let rls = Rls::builder(pool.clone()).build().await.unwrap();
    let mut tx = rls.begin(&rls.anon_scope(), &info).await.unwrap();
    assert_eq!(setting(&mut tx, "request.cookies").await, "{}");
    assert!(!setting(&mut tx, "request.headers").await.contains("theme"));

    let rls = Rls::builder(pool)
        .request_cookies(true)
        .hide_cookies(["csrf"])
        .build()
        .await
        .unwrap();
    let mut tx = rls.begin(&rls.scope(&env.user(BOB)), &info).await.unwrap();
    let cookies: serde_json::Value =
        serde_json::from_str(&setting(&mut tx, "request.cookies").await).unwrap();
    assert_eq!(
        cookies,
        serde_json::json!({ "theme": "dark", "lang": "fr" }),
        "no session cookie, no hidden one, the first of a name"
    );
    // As PostgREST reads them.
    let theme: String =
        sqlx::query_scalar("select current_setting('request.cookies')::json->>'theme'")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!(theme, "dark");
    assert!(
        !format!("{info:?}").contains("dark"),
        "Debug shows names only"
    );
    for secret in ["eyJ", "verifier", "r1", "abc"] {
        assert!(
            !setting(&mut tx, "request.cookies").await.contains(secret),
            "{secret}"
        );
    }
}

/// Review finding: cookies were parsed on every request, with a quadratic duplicate check:
/// one header of 70 000 cookies held a worker for seconds. Now they are parsed only when asked
/// for, linearly, and at most `MAX_COOKIES` are kept.
#[test]
fn a_flood_of_cookies_costs_linear_time_and_keeps_two_hundred() {
    let header: String = (0..70_000).map(|i| format!("a{i}=v; ")).collect();
    let started = Instant::now();
    let info = RequestInfo::from_fields("GET", "/", [("cookie", header.as_bytes())]);
    let kept = info.cookies().count();
    assert_eq!(kept, RequestInfo::MAX_COOKIES);
    let same: String = (0..70_000).map(|_| "a=v; ").collect();
    let info = RequestInfo::from_fields("GET", "/", [("cookie", same.as_bytes())]);
    assert_eq!(info.cookies().count(), 1);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pre_request_function_runs_after_the_scope_and_its_errors_map_as_postgrest_maps_them() {
    let env = Env::start();
    env.pg.psql(PRE_REQUEST).unwrap();
    let rls = Rls::builder(env.pool(2).await)
        .pre_request("public.check_request")
        .read_only_safe_methods(true)
        .build()
        .await
        .unwrap();
    let alice = rls.scope(&env.user(ALICE));
    let anon = rls.anon_scope();

    // After the role, the claims and the request settings, for users and anyone.
    let mut tx = rls
        .begin(&alice, &request("GET", &[("x-tenant", "acme")]))
        .await
        .unwrap();
    assert_eq!(
        setting(&mut tx, "app.seen").await,
        format!("authenticated {ALICE} GET /notes acme")
    );
    drop(tx);
    let mut tx = rls.begin(&anon, &request("GET", &[])).await.unwrap();
    assert_eq!(setting(&mut tx, "app.seen").await, "anon - GET /notes -");
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
    // A GET's transaction is read-only for the function too, as in PostgREST: a write there
    // fails (25006, 405); a POST's may write.
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pre_request_function_is_checked_at_start_up() {
    let env = Env::start();
    let pool = env.pool(1).await;
    for (name, problem) in [
        ("check_request", "name it as schema.function"),
        ("public.Check", "schema and function must each"),
        (
            "public.nope\"; drop table notes; --",
            "schema and function must each",
        ),
        ("public.missing", "no such function"),
    ] {
        let err = Rls::builder(pool.clone())
            .pre_request(name)
            .build()
            .await
            .unwrap_err();
        assert!(
            matches!(&err, RlsConfigError::InvalidPreRequest { .. })
                && err.to_string().contains(problem),
            "{name}: {err}"
        );
    }
    // A function with arguments is not one to call without.
    env.pg
        .psql("create function public.takes(x int) returns void language sql as 'select'")
        .unwrap();
    assert!(
        Rls::builder(pool.clone())
            .pre_request("public.takes")
            .build()
            .await
            .is_err()
    );
    // Review finding: a procedure, or a function the request roles may not call, passed the
    // check and then failed every request (500, or a 401/403 that looked like an auth
    // failure).
    env.pg
        .psql(
            "create procedure public.proc() language sql as 'select'; \
             create schema private; \
             create function private.hidden() returns void language sql as 'select'; \
             create function public.no_grant() returns void language sql as 'select'; \
             revoke execute on function public.no_grant() from public",
        )
        .unwrap();
    for (name, problem) in [
        ("public.proc", "a procedure"),
        ("private.hidden", "may not call it"),
        ("public.no_grant", "may not call it"),
    ] {
        let err = Rls::builder(pool.clone())
            .pre_request(name)
            .build()
            .await
            .unwrap_err();
        assert!(err.to_string().contains(problem), "{name}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_strict_mode_refuses_unsupported_roles_before_taking_a_connection() {
    let env = Env::start();
    env.pg
        .psql("create role app_admin nologin; grant app_admin to authenticator;")
        .unwrap();
    let pool = env.pool(1).await;
    let rls = Rls::builder(pool.clone())
        .allow_token_roles(["app_admin"])
        .refuse_unsupported_roles(true)
        .build()
        .await
        .unwrap();
    // The one connection is busy: a refusal must not wait for it.
    let held = pool.acquire().await.unwrap();
    for claimed in ["service_role", "postgres", "supabase_admin"] {
        let verified = env.verified(&env.token(BOB).claim("role", claimed));
        let scope = rls.user_scope(&verified);
        let started = Instant::now();
        let err = rls
            .begin(&scope, &RequestInfo::default())
            .await
            .unwrap_err();
        assert!(
            matches!(err, RlsError::UnsupportedRole),
            "{claimed}: {err:?}"
        );
        assert_eq!(err.status(), http::StatusCode::FORBIDDEN);
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(!err.to_response().headers().contains_key("www-authenticate"));
    }
    drop(held);
    // The supported ones run as themselves.
    for (claimed, role) in [
        ("authenticated", DbRole::Authenticated),
        ("anon", DbRole::Anon),
        ("app_admin", DbRole::Named("app_admin".into())),
    ] {
        let verified = env.verified(&env.token(BOB).claim("role", claimed));
        let tx = rls
            .begin(&rls.user_scope(&verified), &RequestInfo::default())
            .await
            .unwrap();
        assert_eq!(tx.role(), &role);
    }
    // Off (the default): clamped to authenticated.
    let clamping = Rls::builder(pool).build().await.unwrap();
    let verified = env.verified(&env.token(BOB).claim("role", "service_role"));
    let tx = clamping
        .begin(&clamping.user_scope(&verified), &RequestInfo::default())
        .await
        .unwrap();
    assert_eq!(tx.role(), &DbRole::Authenticated);
}

/// Header names in any case and spelling: a `Cookie` field sent as `COOKIE` or `cOoKiE` is
/// still read for `request.cookies` (the session's still hidden) and never copied into
/// `request.headers`.
#[test]
fn cookie_fields_in_odd_cases_are_cookies_all_the_same() {
    let info = RequestInfo::from_fields(
        "GET",
        "/",
        [
            ("COOKIE", &b"sb-x-auth-token=secret-one; a=1"[..]),
            ("cOoKiE", b"__Secure-sb-x-auth-token.0=secret-two; b=2"),
        ],
    );
    assert_eq!(info.cookies().collect::<Vec<_>>(), [("a", "1"), ("b", "2")]);
    assert_eq!(info.headers_json(), "{}");
    assert!(!format!("{info:?}").contains("secret"));
}
