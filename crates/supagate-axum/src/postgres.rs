//! [`RlsTx`]: a transaction scoped to the admitted caller, Row Level Security applied.

use std::fmt;

use axum_core::body::Body;
use axum_core::extract::{FromRef, FromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use serde::de::DeserializeOwned;
use supagate_auth::{AuthError, Authenticator, Caller};
use supagate_postgres::{RequestInfo, Rls, RlsError, ScopedTx, TxPlan};

use crate::admit::take_caller;
use crate::extract::AuthRejection;

/// The admitted caller and a Postgres transaction scoped to them, as PostgREST makes it: role
/// `authenticated` for a user (`anon` when signed out or admitted by a publishable key),
/// `request.jwt.claims`, the role's own settings, `request.method`, `request.path` and
/// `request.headers`, all transaction-local. Query `tx` (it derefs to a `PgConnection`),
/// then commit it; dropped uncommitted, it rolls back.
///
/// The caller comes from an [`AdmitLayer`](crate::AdmitLayer) on the route (taken out, like
/// [`Admitted`](crate::Admitted), so extract one or the other), or else from the
/// authenticator's default modes. The [`Rls`] comes from router state through [`FromRef`].
/// Refusals are the authenticator's; a database that cannot be reached answers 503 with
/// `Retry-After`.
///
/// # Examples
///
/// ```no_run
/// use axum::{Json, Router, extract::FromRef, routing::get};
/// use supagate_auth::Authenticator;
/// use supagate_axum::RlsTx;
/// use supagate_postgres::Rls;
///
/// #[derive(Clone)] // or #[derive(Clone, FromRef)] with axum's `macros` feature
/// struct App {
///     auth: Authenticator,
///     rls: Rls,
/// }
/// impl FromRef<App> for Authenticator {
///     fn from_ref(app: &App) -> Self { app.auth.clone() }
/// }
/// impl FromRef<App> for Rls {
///     fn from_ref(app: &App) -> Self { app.rls.clone() }
/// }
///
/// async fn notes(RlsTx { mut tx, .. }: RlsTx) -> Result<Json<Vec<String>>, String> {
///     // No `where owner = …`: the policy does it.
///     let bodies = sqlx::query_scalar("select body from notes order by id")
///         .fetch_all(&mut *tx)
///         .await
///         .map_err(|e| e.to_string())?;
///     Ok(Json(bodies))
/// }
///
/// # async fn run(auth: Authenticator, pool: sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
/// let app: Router = Router::new()
///     .route("/notes", get(notes))
///     .with_state(App { auth, rls: Rls::builder(pool).build().await? });
/// # let _ = app; Ok(()) }
/// ```
pub struct RlsTx<T = supagate_jwt::Claims> {
    /// The scoped transaction.
    pub tx: ScopedTx,
    /// Who it is scoped to.
    pub caller: Caller<T>,
}

impl<T: fmt::Debug> fmt::Debug for RlsTx<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RlsTx")
            .field("tx", &self.tx)
            .field("caller", &self.caller)
            .finish()
    }
}

/// Why [`RlsTx`] was refused: the caller was not admitted (the authenticator's refusal), or
/// the database could not scope a transaction (503 or 500).
#[derive(Debug)]
#[non_exhaustive]
pub enum RlsRejection {
    /// Not admitted.
    Auth(AuthRejection),
    /// The database failed.
    Database(RlsError),
}

impl fmt::Display for RlsRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RlsRejection::Auth(a) => fmt::Display::fmt(a, f),
            RlsRejection::Database(d) => fmt::Display::fmt(d, f),
        }
    }
}

impl std::error::Error for RlsRejection {}

impl IntoResponse for RlsRejection {
    fn into_response(self) -> Response {
        match self {
            RlsRejection::Auth(a) => a.into_response(),
            RlsRejection::Database(d) => d.to_response().map(Body::from),
        }
    }
}

/// The request's information, with `request.path` as the client sent it (axum's
/// `OriginalUri`), not what a `Router::nest` left of it, as on actix.
fn request_info(parts: &Parts) -> RequestInfo {
    let path = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map_or_else(|| parts.uri.path(), |o| o.0.path());
    RequestInfo::new(&parts.method, path, &parts.headers)
}

/// The admitted caller, typed, and their transaction's plan ([`Rls::plan`]).
async fn plan<S, T>(parts: &mut Parts, state: &S) -> Result<(Caller<T>, TxPlan), RlsRejection>
where
    Authenticator: FromRef<S>,
    Rls: FromRef<S>,
    T: DeserializeOwned + 'static,
{
    let auth = Authenticator::from_ref(state);
    let caller = take_caller(parts, &auth)
        .await
        .map_err(RlsRejection::Auth)?;
    let info = request_info(parts);
    Rls::from_ref(state)
        .plan(caller, info)
        .map_err(|e| RlsRejection::Auth(AuthRejection::new(&auth, AuthError::Token(e))))
}

impl<S, T> FromRequestParts<S> for RlsTx<T>
where
    Authenticator: FromRef<S>,
    Rls: FromRef<S>,
    S: Send + Sync,
    T: DeserializeOwned + Send + 'static,
{
    type Rejection = RlsRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let (caller, plan) = plan(parts, state).await?;
        let tx = plan.begin().await.map_err(RlsRejection::Database)?;
        Ok(RlsTx { tx, caller })
    }
}

/// [`RlsTx`] without the transaction yet: the admitted caller, their scope and the request's
/// information, for a handler that reads the request body first. `RlsTx` takes a pooled
/// connection before the body extractor runs, so a client that sends its body slowly holds
/// that connection idle in a transaction; with `RlsScope` the handler begins once the body is
/// in.
///
/// # Examples
///
/// ```no_run
/// use axum::Json;
/// use supagate_axum::{RlsRejection, RlsScope};
///
/// #[derive(serde::Deserialize)]
/// struct NewNote {
///     body: String,
/// }
///
/// async fn create(scope: RlsScope, Json(note): Json<NewNote>) -> Result<&'static str, RlsRejection> {
///     let mut tx = scope.begin().await?; // the body is read: now take a connection
///     sqlx::query("insert into notes (body) values ($1)")
///         .bind(note.body)
///         .execute(&mut *tx)
///         .await
///         .map_err(|e| RlsRejection::Database(e.into()))?;
///     tx.commit().await.map_err(|e| RlsRejection::Database(e.into()))?;
///     Ok("created")
/// }
/// # let _ = create;
/// ```
pub struct RlsScope<T = supagate_jwt::Claims> {
    plan: TxPlan,
    /// Who it is scoped to.
    pub caller: Caller<T>,
}

impl<T: fmt::Debug> fmt::Debug for RlsScope<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RlsScope")
            .field("plan", &self.plan)
            .field("caller", &self.caller)
            .finish()
    }
}

impl<T> RlsScope<T> {
    /// Begins the scoped transaction.
    ///
    /// # Errors
    ///
    /// [`RlsRejection::Database`]: 503 when no connection could be had, 500 otherwise.
    pub async fn begin(&self) -> Result<ScopedTx, RlsRejection> {
        self.plan.begin().await.map_err(RlsRejection::Database)
    }
}

impl<S, T> FromRequestParts<S> for RlsScope<T>
where
    Authenticator: FromRef<S>,
    Rls: FromRef<S>,
    S: Send + Sync,
    T: DeserializeOwned + Send + 'static,
{
    type Rejection = RlsRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let (caller, plan) = plan(parts, state).await?;
        Ok(RlsScope { plan, caller })
    }
}

/// [`RlsTx`] on tokio-postgres (feature `tokio-postgres`): the admitted caller and a
/// [`PgScopedTx`](supagate_postgres::tokio_pg::PgScopedTx) from the router state's
/// [`PgRls`](supagate_postgres::tokio_pg::PgRls) (a deadpool-postgres pool), begun in one round
/// trip on a warm connection with a confined login role (see `PgRls`). The same caller, scope
/// and refusals as `RlsTx`. It takes a connection before a body extractor runs: for a slow
/// body, extract `Admitted` and call `PgRls::typed_scope`, then `begin` once the body is in.
///
/// # Examples
///
/// ```no_run
/// use axum::{Json, Router, extract::FromRef, routing::get};
/// use supagate_auth::Authenticator;
/// use supagate_axum::PgRlsTx;
/// use supagate_postgres::tokio_pg::PgRls;
///
/// #[derive(Clone)]
/// struct App {
///     auth: Authenticator,
///     rls: PgRls,
/// }
/// impl FromRef<App> for Authenticator {
///     fn from_ref(app: &App) -> Self { app.auth.clone() }
/// }
/// impl FromRef<App> for PgRls {
///     fn from_ref(app: &App) -> Self { app.rls.clone() }
/// }
///
/// async fn notes(PgRlsTx { tx, .. }: PgRlsTx) -> Result<Json<Vec<String>>, String> {
///     let rows = tx.query("select body from notes order by id", &[]).await.map_err(|e| e.to_string())?;
///     tx.commit().await.map_err(|e| e.to_string())?;
///     Ok(Json(rows.iter().map(|r| r.get(0)).collect()))
/// }
///
/// # async fn run(auth: Authenticator, pool: deadpool_postgres::Pool) -> Result<(), Box<dyn std::error::Error>> {
/// let app: Router = Router::new()
///     .route("/notes", get(notes))
///     .with_state(App { auth, rls: PgRls::builder(pool).build().await? });
/// # let _ = app; Ok(()) }
/// ```
#[cfg(feature = "tokio-postgres")]
pub struct PgRlsTx<T = supagate_jwt::Claims> {
    /// The scoped transaction.
    pub tx: supagate_postgres::tokio_pg::PgScopedTx,
    /// Who it is scoped to.
    pub caller: Caller<T>,
}

#[cfg(feature = "tokio-postgres")]
impl<T: fmt::Debug> fmt::Debug for PgRlsTx<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgRlsTx")
            .field("tx", &self.tx)
            .field("caller", &self.caller)
            .finish()
    }
}

#[cfg(feature = "tokio-postgres")]
impl<S, T> FromRequestParts<S> for PgRlsTx<T>
where
    Authenticator: FromRef<S>,
    supagate_postgres::tokio_pg::PgRls: FromRef<S>,
    S: Send + Sync,
    T: DeserializeOwned + Send + 'static,
{
    type Rejection = RlsRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Authenticator::from_ref(state);
        let caller = take_caller(parts, &auth)
            .await
            .map_err(RlsRejection::Auth)?;
        let info = request_info(parts);
        let rls = supagate_postgres::tokio_pg::PgRls::from_ref(state);
        let (caller, scope) = rls
            .typed_scope(caller)
            .map_err(|e| RlsRejection::Auth(AuthRejection::new(&auth, AuthError::Token(e))))?;
        let tx = rls
            .begin(&scope, &info)
            .await
            .map_err(RlsRejection::Database)?;
        Ok(PgRlsTx { tx, caller })
    }
}
