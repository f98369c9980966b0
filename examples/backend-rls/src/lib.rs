//! A notes API whose every rule about who sees what is a Row Level Security policy in
//! `migrations/0001_notes.sql`: the queries here have no `where owner = …`. supagate verifies
//! the caller, [`RlsTx`] runs each request in a transaction scoped to them, as PostgREST
//! does ([`RlsScope`] where the body is read first), and session liveness refuses tokens of
//! sessions that were signed out.
//!
//! As PostgREST runs them: `GET` routes in read-only transactions, at the role's isolation
//! level, with `PRE_REQUEST=<schema.function>` called in each transaction before the handler;
//! `SESSION_NOTIFY=1` hears sign-outs made anywhere at once (see `docs/postgres.md`).
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /notes` | a user, or anyone | signed in: your notes and the public ones; signed out: the public ones |
//! | `POST /notes` | a user | `{"body": "…", "public": false}` → 201 with the note |
//! | `GET /notes/{id}` | a user, or anyone | the note if the policies let you see it, else 404 |
//! | `DELETE /notes/{id}` | a user | 204 if it was yours, else 404 |
//! | `GET /healthz` | anyone | `ok` |

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::time::Duration;

use axum::extract::{FromRef, Path};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use supagate::auth::{SessionLiveness, SessionSource};
use supagate::axum::{AdmitLayer, RlsScope, RlsTx};
use supagate::postgres::{
    DbSessions, Rls, RlsError, SESSION_NOTIFY_MIGRATION, SessionNotifications,
};
use supagate::{Authenticator, Variables};
use uuid::Uuid;

/// The notes migration (RLS policies included), applied at start-up when
/// `MIGRATION_DATABASE_URL` is set.
pub const MIGRATION: &str = include_str!("../migrations/0001_notes.sql");

/// The router's state.
#[derive(Clone, Debug)]
pub struct App {
    /// Verifies callers (with session liveness unless `SESSION_CHECK=off`).
    pub auth: Authenticator,
    /// Scopes transactions to them.
    pub rls: Rls,
    /// The sign-out listener (`SESSION_NOTIFY=1`), kept for as long as the app runs.
    pub notifications: Option<std::sync::Arc<SessionNotifications>>,
}

impl FromRef<App> for Authenticator {
    fn from_ref(app: &App) -> Self {
        app.auth.clone()
    }
}

impl FromRef<App> for Rls {
    fn from_ref(app: &App) -> Self {
        app.rls.clone()
    }
}

/// An error answer: `{"error": …, "error_description": …}` with its status, and nothing of
/// the database's message. Database errors are sorted by their SQLSTATE as PostgREST sorts
/// them ([`RlsError`]): a value Postgres refuses (a NUL character, the body's length check) is
/// 400, a policy's refusal 403, a database that stopped 503 with `Retry-After`, and only the
/// service's own faults are 500 (and logged).
#[derive(Debug)]
pub enum ApiError {
    /// No such note (or not one the policies let this caller see).
    NotFound,
    /// The database's answer.
    Db(RlsError),
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::Db(RlsError::from(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::NotFound => {
                (StatusCode::NOT_FOUND, Json(json!({ "error": "not_found" }))).into_response()
            }
            ApiError::Db(e) => {
                if matches!(e, RlsError::Database(_)) {
                    eprintln!("backend-rls: database error: {e}");
                }
                let (parts, body) = e.to_response().into_parts();
                Response::from_parts(parts, body.into())
            }
        }
    }
}

type Note = (i64, Uuid, String, bool);

fn note_json((id, owner, body, public): Note) -> Value {
    json!({ "id": id, "owner": owner, "body": body, "public": public })
}

const COLUMNS: &str = "id, owner, body, public";

async fn list(RlsTx { mut tx, .. }: RlsTx) -> Result<Json<Value>, ApiError> {
    let notes: Vec<Note> = sqlx::query_as(&format!(
        "select {COLUMNS} from notes order by id desc limit 100"
    ))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(Value::Array(
        notes.into_iter().map(note_json).collect(),
    )))
}

/// The body of `POST /notes`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    body: String,
    #[serde(default)]
    public: bool,
}

async fn create(
    scope: RlsScope,
    Json(new): Json<NewNote>,
) -> Result<(StatusCode, Json<Value>), Response> {
    // The body is read before a connection is taken (a slow client holds none).
    let mut tx = scope.begin().await.map_err(IntoResponse::into_response)?;
    // `owner` defaults to auth.uid(); the insert policy checks it.
    let note: Note = sqlx::query_as(&format!(
        "insert into notes (body, public) values ($1, $2) returning {COLUMNS}"
    ))
    .bind(new.body)
    .bind(new.public)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| ApiError::from(e).into_response())?;
    tx.commit()
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    Ok((StatusCode::CREATED, Json(note_json(note))))
}

async fn read(RlsTx { mut tx, .. }: RlsTx, Path(id): Path<i64>) -> Result<Json<Value>, ApiError> {
    let note: Option<Note> = sqlx::query_as(&format!("select {COLUMNS} from notes where id = $1"))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    tx.commit().await?;
    note.map(|n| Json(note_json(n))).ok_or(ApiError::NotFound)
}

async fn delete(RlsTx { mut tx, .. }: RlsTx, Path(id): Path<i64>) -> Result<StatusCode, ApiError> {
    let done = sqlx::query("delete from notes where id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    if done.rows_affected() == 1 {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

/// The router: reading admits `user, none`; writing admits users only (the authenticator's
/// default modes).
///
/// # Errors
///
/// A mode list that does not parse (it always does).
pub fn app(state: App) -> Result<Router, String> {
    Ok(notes(state)?.route("/healthz", get(|| async { "ok" })))
}

/// The `/notes` routes alone, to merge into another router (the quickstart's backend).
///
/// # Errors
///
/// As [`app`].
pub fn notes(state: App) -> Result<Router, String> {
    let reading = AdmitLayer::new(
        state.auth.clone(),
        "user, none".parse().map_err(|e| format!("{e}"))?,
    );
    Ok(Router::new()
        .route("/notes", get(list).layer(reading.clone()).post(create))
        .route("/notes/{id}", get(read).layer(reading).delete(delete))
        .with_state(state))
}

/// Where session liveness asks: `SESSION_CHECK` (read by [`supagate::Config`]).
pub use supagate::config::SessionCheck;

async fn pool(url: &str, max: u32, what: &str) -> Result<PgPool, String> {
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(3))
        .connect(url)
        .await
        .map_err(|e| format!("{what}: cannot connect: {e}"))
}

/// Everything `main` needs, from `lookup` (asked once per variable; the environment in
/// `main`): the backend variables of [`backend_common::Config`], the database's of
/// [`supagate::config::DatabaseSettings`] (`DATABASE_URL` required: a role that may become
/// `anon` and `authenticated`, such as Supabase's `authenticator` or `postgres`), and
/// `MIGRATION_DATABASE_URL`, this example's own.
///
/// # Errors
///
/// A message naming the variable, or the database that could not be reached.
pub async fn from_env(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(App, backend_common::Config, SessionCheck), String> {
    from_variables(backend_common::snapshot(
        lookup,
        &["PUBLIC_URL", "BIND", "MIGRATION_DATABASE_URL"],
    ))
    .await
}

/// [`from_env`] from variables already read.
///
/// # Errors
///
/// As [`from_env`].
pub async fn from_variables(
    vars: Variables,
) -> Result<(App, backend_common::Config, SessionCheck), String> {
    let config = supagate::Config::from_variables(vars.clone()).map_err(|e| e.to_string())?;
    let db = config.database().map_err(|e| e.to_string())?;
    let db = db.ok_or(
        "DATABASE_URL is required: postgres://authenticator:…@host:5432/postgres (or the postgres role)",
    )?;
    let check = db.session_check;
    if db.session_notify && check == SessionCheck::Off {
        return Err(
            "SESSION_NOTIFY=1 needs session liveness: set SESSION_CHECK to db or auth".into(),
        );
    }
    if let Some(url) = vars.get("MIGRATION_DATABASE_URL") {
        let admin = pool(url.trim(), 1, "MIGRATION_DATABASE_URL").await?;
        sqlx::raw_sql(MIGRATION)
            .execute(&admin)
            .await
            .map_err(|e| format!("migration failed: {e}"))?;
        if db.session_notify {
            sqlx::raw_sql(SESSION_NOTIFY_MIGRATION)
                .execute(&admin)
                .await
                .map_err(|e| format!("the session_notify migration failed: {e}"))?;
        }
        admin.close().await;
    }
    let pool = pool(db.url.expose(), db.pool_size, "DATABASE_URL").await?;
    let liveness = match check {
        SessionCheck::Off => None,
        SessionCheck::Db => {
            let sessions = match &db.session_url {
                Some(url) => self::pool(url.expose(), 4, "SESSION_DATABASE_URL").await?,
                None => pool.clone(),
            };
            let source = DbSessions::new(sessions);
            source.probe().await.map_err(|e| {
                format!(
                    "SESSION_CHECK=db: cannot read auth.sessions ({e}); set SESSION_DATABASE_URL \
                     to a role that may (postgres), or SESSION_CHECK=auth or off"
                )
            })?;
            Some(liveness(source, db.session_ttl)?)
        }
        SessionCheck::Auth => {
            let key = config.auth_server_keys().publishable().ok_or(
                "SESSION_CHECK=auth needs SUPABASE_PUBLISHABLE_KEY (or the legacy SUPABASE_ANON_KEY)",
            )?;
            let source = supagate::proxy::AuthServerSessions::new(config.project(), key.expose())
                .map_err(|e| format!("SESSION_CHECK=auth: {e}"))?;
            Some(liveness(source, db.session_ttl)?)
        }
    };
    if db.session_notify {
        let installed = SessionNotifications::installed(&pool)
            .await
            .map_err(|e| format!("SESSION_NOTIFY=1: cannot read the triggers: {e}"))?;
        if !installed {
            return Err(
                "SESSION_NOTIFY=1: the session_notify migration is not applied: set \
                 MIGRATION_DATABASE_URL to a role that may create triggers on auth.sessions \
                 (postgres), or run crates/supagate-postgres/migrations/session_notify.sql"
                    .into(),
            );
        }
    }
    let notifications = match (&liveness, db.session_notify) {
        (Some(l), true) => Some(std::sync::Arc::new(
            SessionNotifications::builder(pool.clone(), l.clone()).spawn(),
        )),
        _ => None,
    };
    let backend = backend_common::Config::from_variables(vars, |b| match liveness {
        Some(l) => b.session_liveness(l),
        None => b,
    })?;
    let mut rls = Rls::builder(pool)
        .search_path(["public", "extensions"])
        .read_only_safe_methods(true);
    if let Some(function) = &db.pre_request {
        rls = rls.pre_request(function.clone());
    }
    let rls = rls.build().await.map_err(|e| match e {
        supagate::postgres::RlsConfigError::InvalidPreRequest { .. } => format!("PRE_REQUEST: {e}"),
        e => format!("DATABASE_URL: {e}"),
    })?;
    let app = App {
        auth: backend.auth.clone(),
        rls,
        notifications,
    };
    Ok((app, backend, check))
}

fn liveness(source: impl SessionSource, ttl: Duration) -> Result<SessionLiveness, String> {
    SessionLiveness::builder(source)
        .ttl(ttl)
        .build()
        .map_err(|e| e.to_string())
}
