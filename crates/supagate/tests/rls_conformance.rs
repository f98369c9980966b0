//! The `RlsTx` extractor on both adapters, and `PgRlsTx` (tokio-postgres) on both, against one
//! real PostgreSQL: the same table of cases (signed out, signed in, refused, revoked session,
//! time-boxed session, database down) must give the same status, challenge, `Retry-After` and
//! body on axum and actix-web, on sqlx and on tokio-postgres.
#![cfg(all(
    feature = "axum",
    feature = "actix",
    feature = "postgres",
    feature = "tokio-postgres"
))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use serde_json::{Value, json};
use supagate::auth::SessionLiveness;
use supagate::postgres::{DbSessions, Rls};
use supagate::{Authenticator, FixedClock};
use supagate_testkit::{TestKeys, TestPostgres, TokenBuilder};

const NOW: i64 = TokenBuilder::DEFAULT_NOW;
const USER: &str = "0a11ce00-0000-4000-8000-0000000000c1";
const LIVE: &str = "5e550000-0000-4000-8000-0000000000c1";
const GONE: &str = "5e550000-0000-4000-8000-0000000000c2";
const BOXED: &str = "5e550000-0000-4000-8000-0000000000c3";
const SCOPE_SQL: &str = "select json_build_object('user', current_user, 'uid', auth.uid(), \
    'role', auth.role(), 'method', current_setting('request.method'), \
    'path', current_setting('request.path'), 'tenant', current_setting('request.headers')::json->>'x-tenant')";

struct Case {
    name: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    status: u16,
    challenge: Option<&'static str>,
    body: Value,
}

#[derive(Debug, PartialEq)]
struct Observed {
    status: u16,
    www_authenticate: Option<String>,
    retry_after: Option<String>,
    body: Value,
}

fn bearer(session: Option<&str>, role: Option<&str>) -> Vec<(&'static str, String)> {
    let mut t = TokenBuilder::new().claim("sub", USER);
    t = match session {
        Some(s) => t.claim("session_id", s),
        None => t.remove("session_id"),
    };
    if let Some(r) = role {
        t = t.claim("role", r);
    }
    vec![
        (
            "authorization",
            format!("Bearer {}", t.sign_es256(&TestKeys::new())),
        ),
        ("x-tenant", "acme".into()),
    ]
}

fn scope(user: &str, uid: Value, path: &str) -> Value {
    json!({"user": user, "uid": uid, "role": user, "method": "GET", "path": path, "tenant": null})
}

fn revoked() -> Option<&'static str> {
    Some(r#"Bearer realm="supagate", error="invalid_token", error_description="session ended""#)
}

fn cases() -> Vec<Case> {
    let ended = json!({"error": "invalid_token", "error_description": "session ended"});
    let mut signed_in = scope("authenticated", json!(USER), "/rls/whoami");
    signed_in["tenant"] = json!("acme");
    let mut on_user_route = signed_in.clone();
    on_user_route["path"] = json!("/rls/user");
    let mut on_scope_route = signed_in.clone();
    on_scope_route["path"] = json!("/rls/scope");
    vec![
        Case {
            name: "signed out on a user, none route: anon",
            path: "/rls/whoami",
            headers: vec![],
            status: 200,
            challenge: None,
            body: scope("anon", Value::Null, "/rls/whoami"),
        },
        Case {
            name: "signed out on a user route: 401",
            path: "/rls/user",
            headers: vec![],
            status: 401,
            challenge: Some(r#"Bearer realm="supagate""#),
            body: json!({"error": "unauthorized", "error_description": "authentication required"}),
        },
        Case {
            name: "a live session: authenticated, its claims, the request",
            path: "/rls/whoami",
            headers: bearer(Some(LIVE), None),
            status: 200,
            challenge: None,
            body: signed_in,
        },
        Case {
            name: "a live session on a user route",
            path: "/rls/user",
            headers: bearer(Some(LIVE), None),
            status: 200,
            challenge: None,
            body: on_user_route,
        },
        Case {
            name: "a signed-out session (no auth.sessions row): 401",
            path: "/rls/whoami",
            headers: bearer(Some(GONE), None),
            status: 401,
            challenge: revoked(),
            body: ended.clone(),
        },
        Case {
            name: "a session past not_after: 401",
            path: "/rls/user",
            headers: bearer(Some(BOXED), None),
            status: 401,
            challenge: revoked(),
            body: ended.clone(),
        },
        Case {
            name: "a token without session_id: 401",
            path: "/rls/user",
            headers: bearer(None, None),
            status: 401,
            challenge: revoked(),
            body: ended,
        },
        Case {
            name: "role service_role in the token: refused, never that role",
            path: "/rls/whoami",
            headers: bearer(Some(LIVE), Some("service_role")),
            status: 403,
            challenge: Some(
                r#"Bearer realm="supagate", error="insufficient_scope", error_description="role not allowed""#,
            ),
            body: json!({"error": "insufficient_scope", "error_description": "role not allowed"}),
        },
        Case {
            name: "a nested route: request.path is the path the client sent",
            path: "/rls/nested/whoami",
            headers: vec![],
            status: 200,
            challenge: None,
            body: scope("anon", Value::Null, "/rls/nested/whoami"),
        },
        Case {
            name: "RlsScope, signed out: anon",
            path: "/rls/scope",
            headers: vec![],
            status: 200,
            challenge: None,
            body: scope("anon", Value::Null, "/rls/scope"),
        },
        Case {
            name: "RlsScope, a live session",
            path: "/rls/scope",
            headers: bearer(Some(LIVE), None),
            status: 200,
            challenge: None,
            body: on_scope_route,
        },
        Case {
            name: "RlsScope, a signed-out session: 401",
            path: "/rls/scope",
            headers: bearer(Some(GONE), None),
            status: 401,
            challenge: revoked(),
            body: json!({"error": "invalid_token", "error_description": "session ended"}),
        },
        Case {
            name: "the database down: 503 with Retry-After",
            path: "/rls/dead",
            headers: vec![],
            status: 503,
            challenge: None,
            body: json!({"error": "temporarily_unavailable", "error_description": "database unavailable"}),
        },
        Case {
            // The claims are typed before a connection is taken: on the dead database this
            // would be 503 if the extractor began first.
            name: "claims that do not fit the handler's type: 401 before any database work",
            path: "/rls/typed",
            headers: bearer(Some(LIVE), None),
            status: 401,
            challenge: Some(
                r#"Bearer realm="supagate", error="invalid_token", error_description="invalid token""#,
            ),
            body: json!({"error": "invalid_token", "error_description": "invalid token"}),
        },
        Case {
            name: "the pre-request function's 42501, signed out: 401 with the challenge",
            path: "/rls/pre",
            headers: vec![("x-raise", "privilege".into())],
            status: 401,
            challenge: Some("Bearer"),
            body: json!({"error": "unauthorized", "error_description": "sign in to do this"}),
        },
        Case {
            name: "the pre-request function's 42501, signed in: 403",
            path: "/rls/pre",
            headers: {
                let mut h = bearer(Some(LIVE), None);
                h.push(("x-raise", "privilege".into()));
                h
            },
            status: 403,
            challenge: None,
            body: json!({"error": "forbidden", "error_description": "not allowed"}),
        },
        Case {
            name: "a write in a GET's read-only transaction: 405",
            path: "/rls/pre/write",
            headers: bearer(Some(LIVE), None),
            status: 405,
            challenge: None,
            body: json!({"error": "read_only", "error_description": "not allowed in a read-only transaction"}),
        },
    ]
}

/// The statement of the write case.
const WRITE_SQL: &str = "insert into public.conformance_writes values (1)";

/// Claims with a field no Supabase token has.
#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct Strict {
    tenant_id: String,
}

struct Setup {
    auth: Authenticator,
    pg: TestPostgres,
}

fn setup() -> Setup {
    let pg = TestPostgres::start().unwrap();
    pg.psql(&format!(
        "insert into auth.users (id) values ('{USER}'); \
         insert into auth.sessions (id, user_id) values ('{LIVE}', '{USER}'); \
         insert into auth.sessions (id, user_id, not_after) values ('{BOXED}', '{USER}', to_timestamp({}))",
        NOW - 1
    ))
    .unwrap();
    // What the checked routes (`/rls/pre…`) run: a pre-request function that refuses when the
    // request asks it to, and a table a read must not write to.
    pg.psql(
        "create table public.conformance_writes (x int); \
         grant insert on public.conformance_writes to anon, authenticated; \
         create function public.check_request() returns void language plpgsql as $$ \
         begin \
           if current_setting('request.headers')::json->>'x-raise' = 'privilege' then \
             raise sqlstate '42501'; \
           end if; \
         end $$; \
         grant execute on function public.check_request() to anon, authenticated;",
    )
    .unwrap();
    let verifier = TestKeys::new()
        .verifier_builder()
        .clock(FixedClock::new(NOW))
        .build()
        .unwrap();
    // The pools are made in the runtime that serves them (a sqlx pool belongs to one).
    Setup {
        auth: Authenticator::new(verifier),
        pg,
    }
}

/// The authenticator with liveness on a privileged pool, and two `Rls`: one live, one whose
/// pool is closed once built (every request then finds no connection: the database down).
async fn state(s: &Setup) -> (Authenticator, Rls, Rls) {
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&s.pg.superuser_url())
        .await
        .unwrap();
    let liveness = SessionLiveness::builder(DbSessions::new(admin))
        .ttl(Duration::from_secs(30))
        .build()
        .unwrap();
    let auth = Authenticator::builder(s.auth.verifier().clone())
        .session_liveness(liveness)
        .build()
        .unwrap();
    let pool = |url: String| async move {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_millis(500))
            .connect(&url)
            .await
            .unwrap()
    };
    let live = Rls::builder(pool(s.pg.url("authenticator")).await)
        .build()
        .await
        .unwrap();
    let dead = Rls::builder(pool(s.pg.url("authenticator")).await)
        .build()
        .await
        .unwrap();
    dead.pool().close().await;
    (auth, live, dead)
}

/// The `Rls` of the checked routes: GET read-only and the pre-request function.
async fn checked_rls(s: &Setup) -> Rls {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_millis(500))
        .connect(&s.pg.url("authenticator"))
        .await
        .unwrap();
    Rls::builder(pool)
        .read_only_safe_methods(true)
        .pre_request("public.check_request")
        .build()
        .await
        .unwrap()
}

/// A decided response as actix's.
fn to_actix(res: http::Response<Vec<u8>>) -> actix_web::HttpResponse {
    let mut out = actix_web::HttpResponse::build(
        actix_web::http::StatusCode::from_u16(res.status().as_u16()).unwrap(),
    );
    for (name, value) in res.headers() {
        out.insert_header((name.as_str(), value.to_str().unwrap()));
    }
    out.body(res.into_body())
}

mod on_axum {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::extract::FromRef;
    use axum::routing::get;
    use axum::{Json, http};
    use supagate::axum::{AdmitLayer, RlsScope, RlsTx};
    use tower::ServiceExt;

    #[derive(Clone)]
    struct App {
        auth: Authenticator,
        rls: Rls,
    }
    impl FromRef<App> for Authenticator {
        fn from_ref(a: &App) -> Self {
            a.auth.clone()
        }
    }
    impl FromRef<App> for Rls {
        fn from_ref(a: &App) -> Self {
            a.rls.clone()
        }
    }

    async fn whoami(RlsTx { mut tx, .. }: RlsTx) -> Json<Value> {
        Json(
            sqlx::query_scalar(SCOPE_SQL)
                .fetch_one(&mut *tx)
                .await
                .unwrap(),
        )
    }

    async fn typed(_: RlsTx<Strict>) -> Json<Value> {
        Json(json!({"reached": true}))
    }

    async fn write(RlsTx { mut tx, .. }: RlsTx) -> axum::response::Response {
        use axum::response::IntoResponse;
        match sqlx::query(WRITE_SQL).execute(&mut *tx).await {
            Ok(_) => Json(json!({"written": true})).into_response(),
            Err(e) => supagate::postgres::RlsError::from(e)
                .to_response()
                .map(Body::from),
        }
    }

    async fn lazily(scope: RlsScope) -> Json<Value> {
        let mut tx = scope.begin().await.unwrap();
        Json(
            sqlx::query_scalar(SCOPE_SQL)
                .fetch_one(&mut *tx)
                .await
                .unwrap(),
        )
    }

    pub(super) fn run_all(s: &Setup, cases: &[Case]) -> Vec<Observed> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (auth, live, dead) = state(s).await;
            let checked = checked_rls(s).await;
            let open = || AdmitLayer::new(auth.clone(), "user, none".parse().unwrap());
            let app = Router::new()
                .route("/rls/whoami", get(whoami).layer(open()))
                .route("/rls/user", get(whoami))
                .route("/rls/scope", get(lazily).layer(open()))
                .nest(
                    "/rls/nested",
                    Router::new().route("/whoami", get(whoami).layer(open())),
                )
                .with_state(App {
                    auth: auth.clone(),
                    rls: live,
                })
                .merge(
                    Router::new()
                        .route("/rls/dead", get(whoami).layer(open()))
                        .route("/rls/typed", get(typed).layer(open()))
                        .with_state(App {
                            auth: auth.clone(),
                            rls: dead,
                        }),
                )
                .merge(
                    Router::new()
                        .route("/rls/pre", get(whoami).layer(open()))
                        .route("/rls/pre/write", get(write).layer(open()))
                        .with_state(App {
                            auth: auth.clone(),
                            rls: checked,
                        }),
                );
            let mut out = Vec::new();
            for case in cases {
                let mut req = http::Request::builder().uri(case.path);
                for (k, v) in &case.headers {
                    req = req.header(*k, v.as_bytes());
                }
                let res = app
                    .clone()
                    .oneshot(req.body(Body::empty()).unwrap())
                    .await
                    .unwrap();
                let header = |n: &str| res.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
                let (status, www, retry) = (
                    res.status().as_u16(),
                    header("www-authenticate"),
                    header("retry-after"),
                );
                let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
                    .await
                    .unwrap();
                out.push(Observed {
                    status,
                    www_authenticate: www,
                    retry_after: retry,
                    body: serde_json::from_slice(&bytes).unwrap(),
                });
            }
            out
        })
    }
}

mod on_actix {
    use super::*;
    use actix_web::{App, HttpResponse, test, web};
    use supagate::actix::{Admit, RlsScope, RlsTx};

    async fn whoami(RlsTx { mut tx, .. }: RlsTx) -> HttpResponse {
        let v: Value = sqlx::query_scalar(SCOPE_SQL)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        HttpResponse::Ok().json(v)
    }

    async fn typed(_: RlsTx<Strict>) -> HttpResponse {
        HttpResponse::Ok().json(json!({"reached": true}))
    }

    async fn write(RlsTx { mut tx, .. }: RlsTx) -> HttpResponse {
        match sqlx::query(WRITE_SQL).execute(&mut *tx).await {
            Ok(_) => HttpResponse::Ok().json(json!({"written": true})),
            Err(e) => to_actix(supagate::postgres::RlsError::from(e).to_response()),
        }
    }

    async fn lazily(scope: RlsScope) -> HttpResponse {
        let mut tx = scope.begin().await.unwrap();
        let v: Value = sqlx::query_scalar(SCOPE_SQL)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        HttpResponse::Ok().json(v)
    }

    pub(super) fn run_all(s: &Setup, cases: &[Case]) -> Vec<Observed> {
        actix_web::rt::System::new().block_on(async {
            let (auth, live, dead) = state(s).await;
            let checked = checked_rls(s).await;
            let open = || Admit::new(auth.clone(), "user, none".parse().unwrap());
            let app = test::init_service(
                App::new()
                    .app_data(auth.clone())
                    .service(
                        web::resource("/rls/whoami")
                            .app_data(live.clone())
                            .wrap(open())
                            .route(web::get().to(whoami)),
                    )
                    .service(
                        web::resource("/rls/user")
                            .app_data(live.clone())
                            .route(web::get().to(whoami)),
                    )
                    .service(
                        web::scope("/rls/nested").service(
                            web::resource("/whoami")
                                .app_data(live.clone())
                                .wrap(open())
                                .route(web::get().to(whoami)),
                        ),
                    )
                    .service(
                        web::resource("/rls/scope")
                            .app_data(live.clone())
                            .wrap(open())
                            .route(web::get().to(lazily)),
                    )
                    .service(
                        web::resource("/rls/dead")
                            .app_data(dead.clone())
                            .wrap(open())
                            .route(web::get().to(whoami)),
                    )
                    .service(
                        web::resource("/rls/typed")
                            .app_data(dead.clone())
                            .wrap(open())
                            .route(web::get().to(typed)),
                    )
                    .service(
                        web::resource("/rls/pre")
                            .app_data(checked.clone())
                            .wrap(open())
                            .route(web::get().to(whoami)),
                    )
                    .service(
                        web::resource("/rls/pre/write")
                            .app_data(checked.clone())
                            .wrap(open())
                            .route(web::get().to(write)),
                    ),
            )
            .await;
            let mut out = Vec::new();
            for case in cases {
                let mut req = test::TestRequest::get().uri(case.path);
                for (k, v) in &case.headers {
                    req = req.append_header((*k, v.as_str()));
                }
                let res = test::call_service(&app, req.to_request()).await;
                let header = |n: &str| res.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
                let (status, www, retry) = (
                    res.status().as_u16(),
                    header("www-authenticate"),
                    header("retry-after"),
                );
                let bytes = test::read_body(res).await;
                out.push(Observed {
                    status,
                    www_authenticate: www,
                    retry_after: retry,
                    body: serde_json::from_slice(&bytes).unwrap(),
                });
            }
            out
        })
    }
}

/// The same routes with `PgRlsTx`: tokio-postgres and a deadpool-postgres pool.
mod on_axum_tokio_postgres {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::extract::FromRef;
    use axum::routing::get;
    use axum::{Json, http};
    use supagate::axum::{AdmitLayer, PgRlsTx};
    use supagate::postgres::tokio_pg::PgRls;
    use tower::ServiceExt;

    #[derive(Clone)]
    struct App {
        auth: Authenticator,
        rls: PgRls,
    }
    impl FromRef<App> for Authenticator {
        fn from_ref(a: &App) -> Self {
            a.auth.clone()
        }
    }
    impl FromRef<App> for PgRls {
        fn from_ref(a: &App) -> Self {
            a.rls.clone()
        }
    }

    async fn whoami(PgRlsTx { tx, .. }: PgRlsTx) -> Json<Value> {
        let row = tx
            .query_one(&format!("select ({SCOPE_SQL})::text"), &[])
            .await
            .unwrap();
        let text: String = row.get(0);
        Json(serde_json::from_str(&text).unwrap())
    }

    async fn typed(_: PgRlsTx<Strict>) -> Json<Value> {
        Json(json!({"reached": true}))
    }

    async fn write(PgRlsTx { tx, .. }: PgRlsTx) -> axum::response::Response {
        use axum::response::IntoResponse;
        match tx.execute(WRITE_SQL, &[]).await {
            Ok(_) => Json(json!({"written": true})).into_response(),
            Err(e) => supagate::postgres::RlsError::from(e)
                .to_response()
                .map(Body::from),
        }
    }

    pub(super) fn pool(url: &str) -> deadpool_postgres::Pool {
        let config: tokio_postgres::Config = url.parse().unwrap();
        let manager = deadpool_postgres::Manager::from_config(
            config,
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        deadpool_postgres::Pool::builder(manager)
            .max_size(2)
            .wait_timeout(Some(Duration::from_millis(500)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .unwrap()
    }

    pub(super) fn run_all(s: &Setup, cases: &[Case]) -> Vec<Observed> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (auth, _, _) = state(s).await;
            let live = PgRls::builder(pool(&s.pg.url("authenticator")))
                .build()
                .await
                .unwrap();
            let dead = PgRls::builder(pool(&s.pg.url("authenticator")))
                .build()
                .await
                .unwrap();
            dead.pool().close();
            let checked = PgRls::builder(pool(&s.pg.url("authenticator")))
                .read_only_safe_methods(true)
                .pre_request("public.check_request")
                .build()
                .await
                .unwrap();
            let open = || AdmitLayer::new(auth.clone(), "user, none".parse().unwrap());
            let app = Router::new()
                .route("/rls/whoami", get(whoami).layer(open()))
                .route("/rls/user", get(whoami))
                .route("/rls/scope", get(whoami).layer(open()))
                .nest(
                    "/rls/nested",
                    Router::new().route("/whoami", get(whoami).layer(open())),
                )
                .with_state(App {
                    auth: auth.clone(),
                    rls: live,
                })
                .merge(
                    Router::new()
                        .route("/rls/dead", get(whoami).layer(open()))
                        .route("/rls/typed", get(typed).layer(open()))
                        .with_state(App {
                            auth: auth.clone(),
                            rls: dead,
                        }),
                )
                .merge(
                    Router::new()
                        .route("/rls/pre", get(whoami).layer(open()))
                        .route("/rls/pre/write", get(write).layer(open()))
                        .with_state(App {
                            auth: auth.clone(),
                            rls: checked,
                        }),
                );
            let mut out = Vec::new();
            for case in cases {
                let mut req = http::Request::builder().uri(case.path);
                for (k, v) in &case.headers {
                    req = req.header(*k, v.as_bytes());
                }
                let res = app
                    .clone()
                    .oneshot(req.body(Body::empty()).unwrap())
                    .await
                    .unwrap();
                let header = |n: &str| res.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
                let (status, www, retry) = (
                    res.status().as_u16(),
                    header("www-authenticate"),
                    header("retry-after"),
                );
                let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
                    .await
                    .unwrap();
                out.push(Observed {
                    status,
                    www_authenticate: www,
                    retry_after: retry,
                    body: serde_json::from_slice(&bytes).unwrap(),
                });
            }
            out
        })
    }
}

/// The same routes with actix's `PgRlsTx`.
mod on_actix_tokio_postgres {
    use super::*;
    use actix_web::{App, HttpResponse, test, web};
    use supagate::actix::{Admit, PgRlsTx};
    use supagate::postgres::tokio_pg::PgRls;

    async fn whoami(PgRlsTx { tx, .. }: PgRlsTx) -> HttpResponse {
        let row = tx
            .query_one(&format!("select ({SCOPE_SQL})::text"), &[])
            .await
            .unwrap();
        let text: String = row.get(0);
        HttpResponse::Ok()
            .content_type("application/json")
            .body(text)
    }

    async fn typed(_: PgRlsTx<Strict>) -> HttpResponse {
        HttpResponse::Ok().json(json!({"reached": true}))
    }

    async fn write(PgRlsTx { tx, .. }: PgRlsTx) -> HttpResponse {
        match tx.execute(WRITE_SQL, &[]).await {
            Ok(_) => HttpResponse::Ok().json(json!({"written": true})),
            Err(e) => to_actix(supagate::postgres::RlsError::from(e).to_response()),
        }
    }

    pub(super) fn run_all(s: &Setup, cases: &[Case]) -> Vec<Observed> {
        actix_web::rt::System::new().block_on(async {
            let (auth, _, _) = state(s).await;
            let pool = super::on_axum_tokio_postgres::pool;
            let live = PgRls::builder(pool(&s.pg.url("authenticator")))
                .build()
                .await
                .unwrap();
            let dead = PgRls::builder(pool(&s.pg.url("authenticator")))
                .build()
                .await
                .unwrap();
            dead.pool().close();
            let checked = PgRls::builder(pool(&s.pg.url("authenticator")))
                .read_only_safe_methods(true)
                .pre_request("public.check_request")
                .build()
                .await
                .unwrap();
            let open = || Admit::new(auth.clone(), "user, none".parse().unwrap());
            let app = test::init_service(
                App::new()
                    .app_data(auth.clone())
                    .service(
                        web::resource("/rls/whoami")
                            .app_data(live.clone())
                            .wrap(open())
                            .route(web::get().to(whoami)),
                    )
                    .service(
                        web::resource("/rls/user")
                            .app_data(live.clone())
                            .route(web::get().to(whoami)),
                    )
                    .service(
                        web::scope("/rls/nested").service(
                            web::resource("/whoami")
                                .app_data(live.clone())
                                .wrap(open())
                                .route(web::get().to(whoami)),
                        ),
                    )
                    .service(
                        web::resource("/rls/scope")
                            .app_data(live.clone())
                            .wrap(open())
                            .route(web::get().to(whoami)),
                    )
                    .service(
                        web::resource("/rls/dead")
                            .app_data(dead.clone())
                            .wrap(open())
                            .route(web::get().to(whoami)),
                    )
                    .service(
                        web::resource("/rls/typed")
                            .app_data(dead.clone())
                            .wrap(open())
                            .route(web::get().to(typed)),
                    )
                    .service(
                        web::resource("/rls/pre")
                            .app_data(checked.clone())
                            .wrap(open())
                            .route(web::get().to(whoami)),
                    )
                    .service(
                        web::resource("/rls/pre/write")
                            .app_data(checked.clone())
                            .wrap(open())
                            .route(web::get().to(write)),
                    ),
            )
            .await;
            let mut out = Vec::new();
            for case in cases {
                let mut req = test::TestRequest::get().uri(case.path);
                for (k, v) in &case.headers {
                    req = req.append_header((*k, v.as_str()));
                }
                let res = test::call_service(&app, req.to_request()).await;
                let header = |n: &str| res.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
                let (status, www, retry) = (
                    res.status().as_u16(),
                    header("www-authenticate"),
                    header("retry-after"),
                );
                let bytes = test::read_body(res).await;
                out.push(Observed {
                    status,
                    www_authenticate: www,
                    retry_after: retry,
                    body: serde_json::from_slice(&bytes).unwrap(),
                });
            }
            out
        })
    }
}

#[test]
fn rls_tx_is_the_same_on_every_adapter_and_client() {
    let s = setup();
    let cases = cases();
    let from_axum = on_axum::run_all(&s, &cases);
    let from_actix = on_actix::run_all(&s, &cases);
    let from_axum_tokio_postgres = on_axum_tokio_postgres::run_all(&s, &cases);
    let from_actix_tokio_postgres = on_actix_tokio_postgres::run_all(&s, &cases);
    for ((((case, ax), ac), tp), atp) in cases
        .iter()
        .zip(&from_axum)
        .zip(&from_actix)
        .zip(&from_axum_tokio_postgres)
        .zip(&from_actix_tokio_postgres)
    {
        assert_eq!(ax, ac, "{}: axum and actix differ", case.name);
        assert_eq!(ax, tp, "{}: sqlx and tokio-postgres differ", case.name);
        assert_eq!(ax, atp, "{}: actix on tokio-postgres differs", case.name);
        assert_eq!(ax.status, case.status, "{}: {:?}", case.name, ax.body);
        assert_eq!(
            ax.www_authenticate.as_deref(),
            case.challenge,
            "{}",
            case.name
        );
        assert_eq!(ax.body, case.body, "{}", case.name);
        assert_eq!(
            ax.retry_after.is_some(),
            case.status == 503,
            "{}",
            case.name
        );
    }
    for observed in [
        &from_axum,
        &from_actix,
        &from_axum_tokio_postgres,
        &from_actix_tokio_postgres,
    ] {
        assert_eq!(observed.len(), cases.len());
    }
}
