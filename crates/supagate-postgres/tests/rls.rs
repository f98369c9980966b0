//! User-scoped transactions against a real PostgreSQL: Row Level Security as PostgREST
//! applies it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{ALICE, BOB, Env};
use supagate_auth::Caller;
use supagate_core::RequestError as _;
use supagate_postgres::{DbRole, RequestInfo, Rls, RlsConfigError, RlsError};
use uuid::Uuid;

type Note = (i64, Uuid, String, bool);

async fn notes(tx: &mut supagate_postgres::ScopedTx) -> Vec<Note> {
    sqlx::query_as("select id, owner, body, public from notes order by id")
        .fetch_all(&mut **tx)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_never_see_or_touch_each_others_notes() {
    let env = Env::start();
    let rls = Rls::builder(env.pool(4).await).build().await.unwrap();
    let none = RequestInfo::default();
    let (alice, bob) = (env.user(ALICE), env.user(BOB));

    // Every query below is written without `where owner = …`.
    for (who, body, public) in [
        (&alice, "alice private", false),
        (&alice, "alice public", true),
        (&bob, "bob private", false),
    ] {
        let mut tx = rls.begin(&rls.scope(who), &none).await.unwrap();
        sqlx::query("insert into notes (body, public) values ($1, $2)")
            .bind(body)
            .bind(public)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    let mut tx = rls.begin(&rls.scope(&alice), &none).await.unwrap();
    let seen: Vec<String> = notes(&mut tx).await.into_iter().map(|n| n.2).collect();
    assert_eq!(seen, ["alice private", "alice public"]);
    tx.commit().await.unwrap();

    let mut tx = rls.begin(&rls.scope(&bob), &none).await.unwrap();
    let seen: Vec<Note> = notes(&mut tx).await;
    assert_eq!(
        seen.iter().map(|n| n.2.as_str()).collect::<Vec<_>>(),
        ["alice public", "bob private"]
    );
    let alice_public = seen[0].0;
    // Bob can read Alice's public note but neither change nor delete it, nor any of hers.
    let changed = sqlx::query("update notes set body = 'pwned'")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 1, "only bob's own note");
    let deleted = sqlx::query("delete from notes where id = $1")
        .bind(alice_public)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 0);
    let deleted = sqlx::query("delete from notes")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 1, "only bob's own note");
    // Nor insert a note in Alice's name.
    let forged = sqlx::query("insert into notes (owner, body) values ($1, 'forged')")
        .bind(Uuid::parse_str(ALICE).unwrap())
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(
        forged.to_string().contains("row-level security"),
        "{forged}"
    );
    drop(tx); // rolled back: the aborted transaction changes nothing

    // Signed out: the public notes only, and no writes.
    for caller in [
        Caller::<supagate_jwt::Verified>::None,
        Caller::Publishable {
            key: "default".into(),
        },
    ] {
        let mut tx = rls.begin(&rls.scope(&caller), &none).await.unwrap();
        assert_eq!(tx.role(), &DbRole::Anon);
        let seen: Vec<String> = notes(&mut tx).await.into_iter().map(|n| n.2).collect();
        assert_eq!(seen, ["alice public"]);
        let err = sqlx::query("insert into notes (body) values ('anon')")
            .execute(&mut *tx)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("permission denied"), "{err}");
    }

    // Alice's notes are untouched.
    let mut tx = rls.begin(&rls.scope(&alice), &none).await.unwrap();
    let seen: Vec<String> = notes(&mut tx).await.into_iter().map(|n| n.2).collect();
    assert_eq!(seen, ["alice private", "alice public"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_never_picks_a_stronger_role() {
    let env = Env::start();
    let pool = env.pool(2).await;
    let rls = Rls::builder(pool.clone()).build().await.unwrap();
    let none = RequestInfo::default();
    env.pg
        .psql(&format!(
            "insert into notes (owner, body) values ('{ALICE}', 'secret of alice')"
        ))
        .unwrap();

    for claimed in [
        "service_role",
        "postgres",
        "authenticator",
        "supabase_auth_admin",
        "x\"; drop table notes; --",
    ] {
        let verified = env.verified(&env.token(BOB).claim("role", claimed));
        let scope = rls.user_scope(&verified);
        assert_eq!(scope.role(), &DbRole::Authenticated, "{claimed}");
        let mut tx = rls.begin(&scope, &none).await.unwrap();
        let (user, role): (String, Option<String>) =
            sqlx::query_as("select current_user::text, auth.role()")
                .fetch_one(&mut *tx)
                .await
                .unwrap();
        assert_eq!(user, "authenticated", "{claimed}");
        assert_eq!(
            role.as_deref(),
            Some("authenticated"),
            "claims carry the role run as"
        );
        assert!(notes(&mut tx).await.is_empty(), "{claimed}: RLS applies");
    }

    // `anon` in the token: anon.
    let verified = env.verified(&env.token(BOB).claim("role", "anon"));
    assert_eq!(rls.user_scope(&verified).role(), &DbRole::Anon);

    // A secret key runs as anon unless service_role is asked for.
    let secret = Caller::<supagate_jwt::Verified>::Secret {
        key: "default".into(),
    };
    assert_eq!(rls.scope(&secret).role(), &DbRole::Anon);
    let service = Rls::builder(pool.clone())
        .secret_key_role(DbRole::ServiceRole)
        .build()
        .await
        .unwrap();
    let mut tx = service.begin(&service.scope(&secret), &none).await.unwrap();
    assert_eq!(tx.role(), &DbRole::ServiceRole);
    assert_eq!(notes(&mut tx).await.len(), 1, "service_role bypasses RLS");
    drop(tx);
    // ...but a user token claiming service_role still does not get it there.
    let claimed = env.verified(&env.token(BOB).claim("role", "service_role"));
    assert_eq!(service.user_scope(&claimed).role(), &DbRole::Authenticated);

    // Roles a token may name must be safe: checked at start-up.
    env.pg
        .psql(
            "create role app_editor nologin noinherit; grant app_editor to authenticator; \
             create role sneaky nologin; grant postgres to sneaky; grant sneaky to authenticator; \
             create role bypasser nologin bypassrls; grant bypasser to authenticator; \
             grant select on notes to app_editor",
        )
        .unwrap();
    for (roles, problem) in [
        (vec!["postgres"], "it is a superuser"),
        (vec!["sneaky"], "it is a superuser"),
        (vec!["bypasser"], "it bypasses row level security"),
        (vec!["service_role"], "it bypasses row level security"),
        (vec!["no_such_role"], "it does not exist"),
        (
            vec!["supabase_auth_admin"],
            "the login role is not granted it",
        ),
        (vec!["app_editor"], "ok"),
    ] {
        let built = Rls::builder(pool.clone())
            .allow_token_roles(roles.clone())
            .build()
            .await;
        match built {
            Ok(rls) => {
                assert_eq!(problem, "ok");
                let v = env.verified(&env.token(BOB).claim("role", "app_editor"));
                assert_eq!(rls.user_scope(&v).role().as_str(), "app_editor");
                let mut tx = rls.begin(&rls.user_scope(&v), &none).await.unwrap();
                let user: String = sqlx::query_scalar("select current_user::text")
                    .fetch_one(&mut *tx)
                    .await
                    .unwrap();
                assert_eq!(user, "app_editor");
            }
            Err(RlsConfigError::InvalidRole { problem: p, .. }) => {
                assert_eq!(p, problem, "{roles:?}")
            }
            Err(e) => panic!("{e}"),
        }
    }
    let err = Rls::builder(pool.clone())
        .secret_key_role(DbRole::ServiceRole)
        .allow_token_roles(["service_role"])
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, RlsConfigError::InvalidRole { .. }), "{err}");
    // A scope of one Rls on another that never checked its role.
    let foreign = service.scope(&secret);
    let err = rls.begin(&foreign, &none).await.unwrap_err();
    assert!(matches!(err, RlsError::ForeignScope), "{err:?}");
    let err = Rls::builder(pool.clone())
        .allow_token_roles(["x; drop"])
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, RlsConfigError::InvalidRole { .. }), "{err}");
    let err = Rls::builder(pool)
        .search_path(["public", "bad\"schema"])
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, RlsConfigError::InvalidSearchPath(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_round_trip_and_nothing_is_left_on_the_connection() {
    let env = Env::start();
    // One connection: every transaction below reuses it.
    let pool = env.pool(1).await;
    let rls = Rls::builder(pool.clone())
        .search_path(["public", "extensions"])
        .build()
        .await
        .unwrap();
    let nasty = "it's \"quoted\" \\ back\\slashed'); drop table notes; -- $1 \u{0}\u{7f} é";
    let nasty = nasty.replace('\u{0}', ""); // Postgres text cannot hold NUL
    let token = env
        .token(ALICE)
        .claim("email", nasty.as_str())
        .claim("user_metadata", serde_json::json!({ "name": nasty }));
    let alice = Caller::User(env.verified(&token));
    let mut headers = http::HeaderMap::new();
    headers.insert("x-tenant", "acme".parse().unwrap());
    headers.append("x-multi", "a".parse().unwrap());
    headers.append("x-multi", "b".parse().unwrap());
    headers.insert("authorization", "Bearer secret-token".parse().unwrap());
    headers.insert("apikey", "sb_secret_x".parse().unwrap());
    headers.insert("cookie", "sb-x-auth-token=secret".parse().unwrap());
    let info = RequestInfo::new(&http::Method::POST, "/notes/it's", &headers);

    for ending in ["commit", "rollback", "drop"] {
        let mut tx = rls.begin(&rls.scope(&alice), &info).await.unwrap();
        let row: (
            Option<Uuid>,
            Option<String>,
            serde_json::Value,
            String,
            String,
            String,
            String,
            String,
        ) = sqlx::query_as(
            "select auth.uid(), auth.role(), auth.jwt(), current_user::text, \
                 current_setting('request.method'), current_setting('request.path'), \
                 current_setting('request.headers'), current_setting('search_path')",
        )
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        assert_eq!(row.0, Some(Uuid::parse_str(ALICE).unwrap()));
        assert_eq!(row.1.as_deref(), Some("authenticated"));
        assert_eq!(row.2["email"], nasty.as_str());
        assert_eq!(row.2["user_metadata"]["name"], nasty.as_str());
        assert_eq!(row.2["sub"], ALICE);
        assert_eq!(row.3, "authenticated");
        assert_eq!(row.4, "POST");
        assert_eq!(row.5, "/notes/it's");
        let h: serde_json::Value = serde_json::from_str(&row.6).unwrap();
        assert_eq!(
            h,
            serde_json::json!({"x-tenant": "acme", "x-multi": "a, b"})
        );
        assert_eq!(row.7, "\"public\", \"extensions\"");
        // The value is stored and read back intact.
        let (body,): (String,) =
            sqlx::query_as("insert into notes (body) values ($1) returning body")
                .bind(&nasty)
                .fetch_one(&mut *tx)
                .await
                .unwrap();
        assert_eq!(body, nasty);
        match ending {
            "commit" => tx.commit().await.unwrap(),
            "rollback" => tx.rollback().await.unwrap(),
            _ => drop(tx),
        }

        // The same pooled connection afterwards: nothing of Alice is left.
        let row: (Option<String>, String, Option<String>, Option<String>, String) =
            sqlx::query_as(
                "select nullif(current_setting('request.jwt.claims', true), ''), current_user::text, \
                 nullif(current_setting('request.headers', true), ''), \
                 nullif(current_setting('request.method', true), ''), current_setting('statement_timeout')",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(row.0, None, "{ending}");
        assert_eq!(row.1, "authenticator", "{ending}");
        assert_eq!(row.2, None, "{ending}");
        assert_eq!(row.3, None, "{ending}");
        assert_eq!(
            row.4, "0",
            "{ending}: the role's timeout went with the transaction"
        );
        // The next caller on it (signed out) sees nothing of Alice either.
        let mut next = rls
            .begin(&rls.anon_scope(), &RequestInfo::default())
            .await
            .unwrap();
        let row: (Option<Uuid>, Option<String>, serde_json::Value) =
            sqlx::query_as("select auth.uid(), auth.role(), auth.jwt()")
                .fetch_one(&mut *next)
                .await
                .unwrap();
        assert_eq!(
            row,
            (
                None,
                Some("anon".into()),
                serde_json::json!({"role": "anon"})
            ),
            "{ending}"
        );
        drop(next);
        let err = sqlx::query("select count(*) from notes")
            .fetch_one(&pool)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("permission denied"),
            "{ending}: {err}"
        );
    }
    let stored: String = env.pg.psql("select count(*) from notes").unwrap();
    assert_eq!(stored.trim(), "1", "only the committed insert stayed");
}

/// Review finding: `auth.uid()`, `auth.role()`, `auth.email()` and `auth.jwt()` read the
/// legacy per-claim settings before `request.jwt.claims`. Other code that left them set for
/// the whole session on a pooled connection made `auth.uid()` return user A inside user B's
/// scope. The scope empties them, for its transaction only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_claim_settings_left_on_the_connection_never_speak_for_the_caller() {
    let env = Env::start();
    let pool = env.pool(1).await;
    let rls = Rls::builder(pool.clone()).build().await.unwrap();
    let alice = Uuid::parse_str(ALICE).unwrap();
    // Other code on the same (only) connection, session-wide.
    sqlx::query(&format!(
        "select set_config('request.jwt.claim.sub', '{alice}', false), \
                set_config('request.jwt.claim.role', 'service_role', false), \
                set_config('request.jwt.claim.email', 'alice@example.com', false), \
                set_config('request.jwt.claim', '{{\"sub\":\"{alice}\",\"role\":\"service_role\"}}', false)"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let bob = Caller::User(env.verified(&env.token(BOB).claim("email", "bob@example.com")));
    let mut tx = rls
        .begin(&rls.scope(&bob), &RequestInfo::default())
        .await
        .unwrap();
    let row: (
        Option<Uuid>,
        Option<String>,
        Option<String>,
        serde_json::Value,
    ) = sqlx::query_as("select auth.uid(), auth.role(), auth.email(), auth.jwt()")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(row.0, Some(Uuid::parse_str(BOB).unwrap()));
    assert_eq!(row.1.as_deref(), Some("authenticated"));
    assert_eq!(row.2.as_deref(), Some("bob@example.com"));
    assert_eq!(row.3["sub"], BOB);
    // Bob cannot see Alice's notes through her leftover id.
    let seen = notes(&mut tx).await;
    assert!(
        seen.iter().all(|n| n.1 == Uuid::parse_str(BOB).unwrap()),
        "{seen:?}"
    );
    tx.rollback().await.unwrap();
    // Only transaction-local: the other code's session-wide value is its own business.
    let (left,): (String,) = sqlx::query_as("select current_setting('request.jwt.claim.sub')")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, alice.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_is_the_roles() {
    let env = Env::start();
    let pool = env.pool(2).await;
    let rls = Rls::builder(pool.clone()).build().await.unwrap();
    let none = RequestInfo::default();
    for (caller, expected) in [
        (env.user(ALICE), "8s"),
        (Caller::<supagate_jwt::Verified>::None, "3s"),
    ] {
        let mut tx = rls.begin(&rls.scope(&caller), &none).await.unwrap();
        let t: String = sqlx::query_scalar("select current_setting('statement_timeout')")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(t, expected);
    }
    // The timeout is enforced: a shorter one for anon, read again at start-up.
    env.pg
        .psql("alter role anon set statement_timeout = '200ms'; alter role anon set app.tag = 'x'")
        .unwrap();
    let rls = Rls::builder(pool).build().await.unwrap();
    let mut tx = rls.begin(&rls.anon_scope(), &none).await.unwrap();
    let tag: String = sqlx::query_scalar("select current_setting('app.tag')")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(tag, "x", "custom settings of the role apply too");
    let err = sqlx::query("select pg_sleep(2)")
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("statement timeout"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_database_is_503_not_a_hang() {
    let mut env = Env::start();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(std::time::Duration::from_secs(1))
        .connect(&env.pg.url("authenticator"))
        .await
        .unwrap();
    let rls = Rls::builder(pool).build().await.unwrap();
    env.pg.stop();
    let started = std::time::Instant::now();
    let err = rls
        .begin(&rls.anon_scope(), &RequestInfo::default())
        .await
        .unwrap_err();
    assert!(matches!(err, RlsError::Unavailable), "{err:?}");
    assert_eq!(err.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// Review finding (of this change): the SQLSTATE mapping made a refusal of the scope statement
/// itself a client's 403 (42501 after the login role lost a grant) and logged it at info.
/// The scope's values are the service's own: such an error is the service's, 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scope_the_database_refuses_is_the_services_500_not_a_403() {
    let env = Env::start();
    let pool = env.pool(2).await;
    let rls = Rls::builder(pool.clone()).build().await.unwrap();
    env.pg
        .psql("revoke authenticated from authenticator")
        .unwrap();
    let err = rls
        .begin(&rls.scope(&env.user(ALICE)), &RequestInfo::default())
        .await
        .unwrap_err();
    assert!(matches!(err, RlsError::Database(_)), "{err:?}");
    assert_eq!(err.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(err.sqlstate().as_deref(), Some("42501"));
    // The same SQLSTATE from the app's own statement is the caller's 403.
    let mut tx = rls
        .begin(&rls.anon_scope(), &RequestInfo::default())
        .await
        .unwrap();
    let denied = sqlx::query("insert into notes (body) values ('x')")
        .execute(&mut *tx)
        .await
        .unwrap_err();
    let denied = RlsError::from(denied);
    assert_eq!(denied.status(), http::StatusCode::FORBIDDEN, "{denied:?}");
}
