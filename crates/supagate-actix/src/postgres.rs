//! [`RlsTx`]: a transaction scoped to the admitted caller, Row Level Security applied.

use std::fmt;
use supagate_core::RequestError as _;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use serde::de::DeserializeOwned;
use supagate_auth::{AuthError, Caller, Rejection};
use supagate_postgres::{RequestInfo, Rls, RlsError, ScopedTx, TxPlan};

use crate::admit::take_caller;
use crate::convert;
use crate::extract::{AuthRejection, authenticator};
use crate::middleware::LocalBoxFuture;

/// The admitted caller and a Postgres transaction scoped to them, as PostgREST makes it (the
/// same as `supagate_axum::RlsTx`): role `authenticated` for a user (`anon` when signed out or
/// admitted by a publishable key), `request.jwt.claims`, the role's own settings,
/// `request.method`, `request.path` and `request.headers`, all transaction-local. Query `tx`
/// (it derefs to a `PgConnection`), then commit it; dropped uncommitted, it rolls back.
///
/// The caller comes from the [`Admit`](crate::Admit) middleware (taken out, like
/// [`Admitted`](crate::Admitted)), or else from the authenticator's default modes. The
/// [`Rls`] comes from `App::app_data` (as is, or in `web::Data`).
///
/// # Examples
///
/// ```no_run
/// use actix_web::{App, HttpResponse, web};
/// use supagate_actix::RlsTx;
///
/// async fn notes(RlsTx { mut tx, .. }: RlsTx) -> HttpResponse {
///     match sqlx::query_scalar::<_, String>("select body from notes").fetch_all(&mut *tx).await {
///         Ok(bodies) => HttpResponse::Ok().json(bodies),
///         Err(_) => HttpResponse::InternalServerError().finish(),
///     }
/// }
///
/// # fn app(auth: supagate_auth::Authenticator, rls: supagate_postgres::Rls) {
/// let app = App::new()
///     .app_data(auth)
///     .app_data(rls)
///     .route("/notes", web::get().to(notes));
/// # let _ = app; }
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

impl ResponseError for RlsRejection {
    fn status_code(&self) -> StatusCode {
        match self {
            RlsRejection::Auth(a) => a.status_code(),
            RlsRejection::Database(d) => convert::status(d.status()),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            RlsRejection::Auth(a) => a.error_response(),
            RlsRejection::Database(d) => convert::response(d.to_response()),
        }
    }
}

fn rls(req: &HttpRequest) -> Option<Rls> {
    req.app_data::<Rls>().cloned().or_else(|| {
        req.app_data::<web::Data<Rls>>()
            .map(|d| d.get_ref().clone())
    })
}

/// The 500 of a piece the app did not register.
fn misconfigured(what: &'static str) -> RlsRejection {
    RlsRejection::Auth(AuthRejection(Rejection::without_authenticator(
        AuthError::Internal { what },
    )))
}

/// The request's information, `request.path` the full path.
fn request_info(req: &HttpRequest) -> RequestInfo {
    RequestInfo::from_fields(
        req.method().as_str(),
        req.path(),
        req.headers()
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes())),
    )
}

/// The authenticator and the `Rls` registered with the app, or the 500 for a missing one.
fn registered(req: &HttpRequest) -> Result<(supagate_auth::Authenticator, Rls), RlsRejection> {
    let auth = authenticator(req)
        .ok_or_else(|| misconfigured("no supagate Authenticator registered with App::app_data"))?;
    let rls = rls(req)
        .ok_or_else(|| misconfigured("no supagate_postgres::Rls registered with App::app_data"))?;
    Ok((auth, rls))
}

/// The admitted caller, typed, and their transaction's plan ([`Rls::plan`]), with
/// `request.path` the full path.
async fn plan<T: DeserializeOwned + 'static>(
    req: &HttpRequest,
) -> Result<(Caller<T>, TxPlan), RlsRejection> {
    let (auth, rls) = registered(req)?;
    let caller = take_caller(req, &auth).await.map_err(RlsRejection::Auth)?;
    rls.plan(caller, request_info(req))
        .map_err(|e| RlsRejection::Auth(AuthRejection::new(&auth, AuthError::Token(e))))
}

impl<T: DeserializeOwned + 'static> FromRequest for RlsTx<T> {
    type Error = RlsRejection;
    type Future = LocalBoxFuture<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (caller, plan) = plan(&req).await?;
            let tx = plan.begin().await.map_err(RlsRejection::Database)?;
            Ok(RlsTx { tx, caller })
        })
    }
}

/// [`RlsTx`] without the transaction yet: the admitted caller, their scope and the request's
/// information, for a handler that reads the request body first (the same as
/// `supagate_axum::RlsScope`). Extractors run in order, so with `RlsTx` before a `web::Json`
/// a client that sends its body slowly holds a pooled connection idle in a transaction; with
/// `RlsScope` the handler begins once the body is in.
///
/// # Examples
///
/// ```no_run
/// use actix_web::{HttpResponse, web};
/// use supagate_actix::{RlsRejection, RlsScope};
///
/// #[derive(serde::Deserialize)]
/// struct NewNote {
///     body: String,
/// }
///
/// async fn create(scope: RlsScope, note: web::Json<NewNote>) -> Result<HttpResponse, RlsRejection> {
///     let mut tx = scope.begin().await?;
///     sqlx::query("insert into notes (body) values ($1)")
///         .bind(&note.body)
///         .execute(&mut *tx)
///         .await
///         .map_err(|e| RlsRejection::Database(e.into()))?;
///     tx.commit().await.map_err(|e| RlsRejection::Database(e.into()))?;
///     Ok(HttpResponse::Created().finish())
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

impl<T: DeserializeOwned + 'static> FromRequest for RlsScope<T> {
    type Error = RlsRejection;
    type Future = LocalBoxFuture<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (caller, plan) = plan(&req).await?;
            Ok(RlsScope { plan, caller })
        })
    }
}

/// [`RlsTx`] on tokio-postgres (feature `tokio-postgres`): the admitted caller and a
/// [`PgScopedTx`](supagate_postgres::tokio_pg::PgScopedTx) from the
/// [`PgRls`](supagate_postgres::tokio_pg::PgRls) registered with `App::app_data` (as is, or in
/// `web::Data`), begun in one round trip on a warm connection with a confined login role (see
/// `PgRls`). The same caller, scope and refusals as `RlsTx`.
///
/// # Examples
///
/// ```no_run
/// use actix_web::{HttpResponse, web};
/// use supagate_actix::PgRlsTx;
///
/// async fn notes(PgRlsTx { tx, .. }: PgRlsTx) -> HttpResponse {
///     match tx.query("select body from notes order by id", &[]).await {
///         Ok(rows) => HttpResponse::Ok().json(rows.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>()),
///         Err(_) => HttpResponse::InternalServerError().finish(),
///     }
/// }
/// # let _ = web::get().to(notes);
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
impl<T: DeserializeOwned + 'static> FromRequest for PgRlsTx<T> {
    type Error = RlsRejection;
    type Future = LocalBoxFuture<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        use supagate_postgres::tokio_pg::PgRls;
        let req = req.clone();
        Box::pin(async move {
            let auth = authenticator(&req).ok_or_else(|| {
                misconfigured("no supagate Authenticator registered with App::app_data")
            })?;
            let rls = req
                .app_data::<PgRls>()
                .cloned()
                .or_else(|| {
                    req.app_data::<web::Data<PgRls>>()
                        .map(|d| d.get_ref().clone())
                })
                .ok_or_else(|| {
                    misconfigured(
                        "no supagate_postgres::tokio_pg::PgRls registered with App::app_data",
                    )
                })?;
            let caller = take_caller(&req, &auth).await.map_err(RlsRejection::Auth)?;
            let info = request_info(&req);
            let (caller, scope) = rls
                .typed_scope(caller)
                .map_err(|e| RlsRejection::Auth(AuthRejection::new(&auth, AuthError::Token(e))))?;
            let tx = rls
                .begin(&scope, &info)
                .await
                .map_err(RlsRejection::Database)?;
            Ok(PgRlsTx { tx, caller })
        })
    }
}
