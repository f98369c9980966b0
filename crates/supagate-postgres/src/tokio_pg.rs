//! User-scoped transactions on tokio-postgres (feature `tokio-postgres`), with a
//! deadpool-postgres pool: [`PgRls`], the same scope as [`Rls`](crate::Rls) (the same SQL,
//! decided by the same code), and one round trip where sqlx needs two or three.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use deadpool_postgres::{ClientWrapper, Object, Pool, PoolError};
use supagate_auth::Caller;
use supagate_jwt::Verified;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row};

use crate::error::{RlsConfigError, RlsError};
use crate::rls::{
    Access, AsVerified, Catalog, Config, DbRole, PreRequestFacts, RequestInfo, RlsBuilder,
    RoleFacts, Scope, pre_request_facts,
};
use crate::sql;

/// A statement and its typed parameters.
type Typed<'a> = (&'a str, &'a [(&'a (dyn ToSql + Sync), Type)]);

/// A tokio-postgres error, sorted as [`RlsError`] sorts sqlx's.
fn sorted(e: tokio_postgres::Error) -> RlsError {
    let code = e.code().map(|c| c.code().to_owned());
    let unavailable =
        e.is_closed() || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
    RlsError::of_driver(code.as_deref(), unavailable, Box::new(Failure::of(e)))
}

/// A tokio-postgres error as the service's logs show it: the database's message (tokio-postgres
/// says only "db error"), never its detail, which may quote the request's values.
#[derive(Debug)]
struct Failure {
    shown: Option<String>,
    inner: tokio_postgres::Error,
}

impl Failure {
    fn of(inner: tokio_postgres::Error) -> Self {
        let shown = inner
            .as_db_error()
            .map(|d| format!("{}: {} ({})", d.severity(), d.message(), d.code().code()));
        Failure { shown, inner }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.shown {
            Some(shown) => f.write_str(shown),
            None => fmt::Display::fmt(&self.inner, f),
        }
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.inner)
    }
}

/// tokio-postgres's errors of the app's own statements in a scoped transaction, sorted by
/// their SQLSTATE as sqlx's are (`From<sqlx::Error>`): a value the database refuses is 400, a
/// policy's refusal 403, a write in a read-only transaction 405, a lost connection 503.
impl From<tokio_postgres::Error> for RlsError {
    fn from(e: tokio_postgres::Error) -> Self {
        sorted(e)
    }
}

/// A pool's error: no connection in time, a closed pool, or the database refusing one.
fn pooled(e: PoolError) -> RlsError {
    match e {
        PoolError::Backend(e) => sorted(e).into_service(),
        PoolError::Timeout(_) | PoolError::Closed => RlsError::Unavailable,
        other => RlsError::of_driver(None, false, Box::new(other)),
    }
}

/// Start-up errors of the catalog questions.
fn config_error(e: impl std::error::Error + Send + Sync + 'static) -> RlsConfigError {
    RlsConfigError::Driver(Box::new(e))
}

/// A text parameter whose `Debug` says nothing: tokio-postgres logs the parameters it binds
/// (at `debug`), and the scope's are the caller's claims, headers and cookies.
struct Redacted<'a>(&'a str);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl ToSql for Redacted<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        self.0.to_sql(ty, out)
    }

    fn accepts(ty: &Type) -> bool {
        <&str as ToSql>::accepts(ty)
    }

    tokio_postgres::types::to_sql_checked!();
}

/// The scope's values as redacted text parameters.
fn text_params<'a>(values: &'a [std::borrow::Cow<'a, str>]) -> Vec<Redacted<'a>> {
    values.iter().map(|v| Redacted(v.as_ref())).collect()
}

/// Whether an error says the connection's prepared statement is gone or stale (a pooler or a
/// `DISCARD ALL` dropped it, a schema change altered its result): it is then prepared anew
/// next time.
fn stale_statement(e: &tokio_postgres::Error) -> bool {
    e.code()
        .is_some_and(|c| matches!(c.code(), "26000" | "0A000"))
}

impl Catalog for Pool {
    async fn role_facts(&self, roles: &[String]) -> Result<Vec<RoleFacts>, RlsConfigError> {
        let client = self.get().await.map_err(config_error)?;
        let rows = client
            .query_typed(sql::ROLE_FACTS, &[(&roles, Type::TEXT_ARRAY)])
            .await
            .map_err(config_error)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0).map_err(config_error)?,
                    r.try_get(1).map_err(config_error)?,
                    r.try_get(2).map_err(config_error)?,
                    r.try_get(3).map_err(config_error)?,
                    r.try_get(4).map_err(config_error)?,
                ))
            })
            .collect()
    }

    async fn pre_request_facts(
        &self,
        qualified: &str,
        roles: &[String],
    ) -> Result<PreRequestFacts, RlsConfigError> {
        let client = self.get().await.map_err(config_error)?;
        let row = client
            .query_typed(
                sql::PRE_REQUEST_CHECK,
                &[(&qualified, Type::TEXT), (&roles, Type::TEXT_ARRAY)],
            )
            .await;
        match row {
            Ok(rows) => {
                let row = match rows.first() {
                    None => None,
                    Some(r) => Some((
                        r.try_get::<_, bool>(0).map_err(config_error)?,
                        r.try_get::<_, Vec<String>>(1).map_err(config_error)?,
                    )),
                };
                Ok(pre_request_facts(row))
            }
            // The login role may not even see its schema.
            Err(e) if e.code().is_some_and(|c| c.code() == "42501") => {
                Ok(PreRequestFacts::NotCallable)
            }
            Err(e) => Err(config_error(e)),
        }
    }

    async fn login_confined(&self) -> Result<bool, RlsConfigError> {
        let client = self.get().await.map_err(config_error)?;
        let rows = client
            .query_typed(sql::LOGIN_CONFINED, &[])
            .await
            .map_err(config_error)?;
        match rows.first() {
            Some(row) => row.try_get(0).map_err(config_error),
            None => Ok(false),
        }
    }

    async fn role_settings(
        &self,
        roles: &[String],
    ) -> Result<Vec<(String, String, String)>, RlsConfigError> {
        let client = self.get().await.map_err(config_error)?;
        let rows = client
            .query_typed(sql::ROLE_SETTINGS, &[(&roles, Type::TEXT_ARRAY)])
            .await
            .map_err(config_error)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0).map_err(config_error)?,
                    r.try_get(1).map_err(config_error)?,
                    r.try_get(2).map_err(config_error)?,
                ))
            })
            .collect()
    }
}

/// User-scoped transactions on a deadpool-postgres [`Pool`] of tokio-postgres clients, as
/// [`Rls`](crate::Rls) makes them on sqlx (the same settings, role, claims, `request.*`,
/// isolation level, access mode and pre-request function), in **one round trip**: the
/// transaction's `BEGIN`, the scope statement, the pre-request call and, with
/// [`begin_query`](PgRls::begin_query), the handler's first statement are sent together
/// (tokio-postgres pipelines requests made at once), and their answers read in order; sqlx
/// sends each and waits. Statements are prepared once per connection (deadpool-postgres's
/// statement cache; the caller's first statement inside the transaction, after the scope):
/// the first use on a connection costs a round trip more.
///
/// Everything goes in one flight only when the login role is confined (no superuser, no
/// `BYPASSRLS`, `NOINHERIT`: Supabase's `authenticator`), checked at start-up: were the
/// `BEGIN` to fail, what follows it would run outside the transaction as that role. With
/// another login role (`postgres`), the `BEGIN` is awaited first: two round trips.
///
/// Built with [`PgRls::builder`], which takes every setting of
/// [`RlsBuilder`]. Cheap to clone.
///
/// # Examples
///
/// ```no_run
/// use supagate_postgres::tokio_pg::PgRls;
/// use supagate_postgres::RequestInfo;
/// use tokio_postgres::types::Type;
///
/// # async fn run(pool: deadpool_postgres::Pool, caller: supagate_auth::Caller<supagate_jwt::Verified>) -> Result<(), Box<dyn std::error::Error>> {
/// let rls = PgRls::builder(pool).build().await?;
/// let scope = rls.scope(&caller);
/// // BEGIN, the scope and the first query in one flight.
/// let (tx, rows) = rls
///     .begin_query(&scope, &RequestInfo::default(), "select body from notes where id = $1", &[(&7_i64, Type::INT8)])
///     .await?;
/// tx.commit().await?;
/// # let _ = rows; Ok(()) }
/// ```
#[derive(Clone)]
pub struct PgRls {
    pool: Pool,
    config: Arc<Config>,
}

impl fmt::Debug for PgRls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgRls").finish_non_exhaustive()
    }
}

impl RlsBuilder<Pool> {
    /// Checks the configuration against the database and reads the roles' own settings, as
    /// [`RlsBuilder::build`](crate::RlsBuilder::build) does on sqlx.
    ///
    /// # Errors
    ///
    /// As [`RlsBuilder::build`](crate::RlsBuilder::build); a database that cannot be asked
    /// is [`RlsConfigError::Driver`].
    pub async fn build(self) -> Result<PgRls, RlsConfigError> {
        let (pool, config) = self.config().await?;
        Ok(PgRls {
            pool,
            config: Arc::new(config),
        })
    }
}

impl PgRls {
    /// A builder over `pool` (its clients log in as a role that may become `anon` and
    /// `authenticated`).
    pub fn builder(pool: Pool) -> RlsBuilder<Pool> {
        RlsBuilder::over(pool)
    }

    /// The pool.
    #[must_use]
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The scope of `caller`, as [`Rls::scope`](crate::Rls::scope).
    #[must_use]
    pub fn scope<T: AsVerified>(&self, caller: &Caller<T>) -> Scope {
        self.config.scope(caller)
    }

    /// The scope of a verified user, as [`Rls::user_scope`](crate::Rls::user_scope).
    #[must_use]
    pub fn user_scope(&self, verified: &Verified) -> Scope {
        self.config.user_scope(verified)
    }

    /// The scope of an admitted `caller`, and the caller with its claims typed as `T` (what
    /// the adapters' `PgRlsTx` does, as [`Rls::plan`](crate::Rls::plan) does for sqlx): claims
    /// that do not fit `T` are refused before any database work. Then
    /// [`begin`](PgRls::begin) with the scope, when the handler is ready (after reading a
    /// slow body, say: a transaction begun before holds its connection idle meanwhile).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use supagate_jwt::Claims;
    /// use supagate_postgres::RequestInfo;
    /// use supagate_postgres::tokio_pg::PgRls;
    ///
    /// # async fn run(rls: PgRls, caller: supagate_auth::Caller<supagate_jwt::Verified>) -> Result<(), Box<dyn std::error::Error>> {
    /// let (caller, scope) = rls.typed_scope::<Claims>(caller)?;
    /// // … read the request's body …
    /// let tx = rls.begin(&scope, &RequestInfo::default()).await?;
    /// tx.commit().await?;
    /// # let _ = caller; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// The verifier's error when the claims do not deserialize into `T`.
    pub fn typed_scope<T: serde::de::DeserializeOwned + 'static>(
        &self,
        caller: Caller<Verified>,
    ) -> Result<(Caller<T>, Scope), supagate_jwt::Error> {
        let scope = self.config.scope(&caller);
        let caller = caller.try_map(Verified::into_typed::<T>)?;
        Ok((caller, scope))
    }

    /// The anonymous scope.
    #[must_use]
    pub fn anon_scope(&self) -> Scope {
        self.config.scope(&Caller::<Verified>::None)
    }

    /// Begins a scoped transaction (one round trip), read-only for `GET` and `HEAD` when the
    /// builder said so, as [`Rls::begin`](crate::Rls::begin).
    ///
    /// # Errors
    ///
    /// As [`Rls::begin`](crate::Rls::begin), with [`RlsError::Driver`] for tokio-postgres's
    /// errors.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use supagate_postgres::RequestInfo;
    /// use supagate_postgres::tokio_pg::PgRls;
    ///
    /// # async fn run(rls: PgRls) -> Result<(), Box<dyn std::error::Error>> {
    /// let tx = rls.begin(&rls.anon_scope(), &RequestInfo::default()).await?;
    /// let public = tx.query("select body from notes", &[]).await?; // RLS: the public ones
    /// tx.commit().await?;
    /// # let _ = public; Ok(()) }
    /// ```
    pub async fn begin(
        &self,
        scope: &Scope,
        request: &RequestInfo,
    ) -> Result<PgScopedTx, RlsError> {
        self.begin_with(scope, request, self.config.access_for(request))
            .await
    }

    /// [`PgRls::begin`] with the access mode chosen by the caller.
    ///
    /// # Errors
    ///
    /// As [`PgRls::begin`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use supagate_postgres::{Access, RequestInfo};
    /// use supagate_postgres::tokio_pg::PgRls;
    ///
    /// # async fn run(rls: PgRls) -> Result<(), Box<dyn std::error::Error>> {
    /// let tx = rls.begin_with(&rls.anon_scope(), &RequestInfo::default(), Access::ReadOnly).await?;
    /// assert!(tx.execute("insert into notes (body) values ('x')", &[]).await.is_err()); // 25006
    /// # Ok(()) }
    /// ```
    pub async fn begin_with(
        &self,
        scope: &Scope,
        request: &RequestInfo,
        access: Access,
    ) -> Result<PgScopedTx, RlsError> {
        self.start(scope, request, access, None)
            .await
            .map(|(tx, _)| tx)
    }

    /// [`PgRls::begin`] and the handler's first statement, `sql` with `params` (each with its
    /// type), all in one round trip; its rows come back with the transaction. The statements
    /// are prepared once per connection (deadpool-postgres's statement cache): the first use
    /// on a connection costs one more round trip, later ones none and no planning.
    ///
    /// # Errors
    ///
    /// As [`PgRls::begin`]; the statement's own error sorted by its SQLSTATE (the
    /// transaction is then rolled back).
    pub async fn begin_query(
        &self,
        scope: &Scope,
        request: &RequestInfo,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<(PgScopedTx, Vec<Row>), RlsError> {
        let access = self.config.access_for(request);
        self.start(scope, request, access, Some((sql, params)))
            .await
            .map(|(tx, rows)| (tx, rows.unwrap_or_default()))
    }

    /// [`PgRls::begin_query`]'s work, its error logged once as on sqlx.
    async fn start(
        &self,
        scope: &Scope,
        request: &RequestInfo,
        access: Access,
        first: Option<Typed<'_>>,
    ) -> Result<(PgScopedTx, Option<Vec<Row>>), RlsError> {
        // The start's own errors are logged; the caller's first statement is the app's.
        let (tx, rows) = self
            .started(scope, request, access, first)
            .await
            .map_err(RlsError::logged)?;
        Ok((tx, rows.map_err(sorted)?))
    }

    async fn started(
        &self,
        scope: &Scope,
        request: &RequestInfo,
        access: Access,
        first: Option<Typed<'_>>,
    ) -> Result<(PgScopedTx, Result<Option<Vec<Row>>, tokio_postgres::Error>), RlsError> {
        // Decided before a connection is taken: a refused scope costs none.
        let (role, values) = self.config.scope_values(scope, request)?;
        let begin = role.begin(access);
        let params = text_params(&values);
        let params: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let object = self.pool.get().await.map_err(pooled)?;
        let tx = PgScopedTx {
            held: Held(Some(object)),
            role: scope.role().clone(),
        };
        let wrapper = tx.wrapper();
        let client: &Client = wrapper;
        // The scope statement names no table: prepared once per connection, before `BEGIN`.
        let types = vec![Type::TEXT; values.len()];
        let scope_statement = match wrapper.prepare_typed_cached(&role.statement, &types).await {
            Ok(statement) => statement,
            Err(e) => return Err(sorted(e).into_service()),
        };
        if !self.config.login_confined {
            // Not one flight: what follows a failed `BEGIN` would run as the login role.
            if let Err(e) = client.batch_execute(begin).await {
                return Err(sorted(e).into_service());
            }
        }
        let pre_request = self.config.pre_request();
        // Sent in this order on the first poll (`join4` polls its futures in order, and each
        // sends its request on its first poll), answered in order.
        let (begun, scoped, checked, rows) = futures_util::future::join4(
            async {
                match self.config.login_confined {
                    true => client.batch_execute(begin).await,
                    false => Ok(()),
                }
            },
            client.query(&scope_statement, &params),
            async {
                match pre_request {
                    Some(call) => client.batch_execute(call).await,
                    None => Ok(()),
                }
            },
            async {
                let Some((sql, typed)) = first else {
                    return Ok(None);
                };
                // Prepared (on a cache miss) in the transaction, after the scope: its names
                // are the scope's, its rights the role's.
                let types: Vec<Type> = typed.iter().map(|(_, t)| t.clone()).collect();
                let values: Vec<&(dyn ToSql + Sync)> = typed.iter().map(|(v, _)| *v).collect();
                let statement = wrapper.prepare_typed_cached(sql, &types).await?;
                let rows = client.query(&statement, &values).await;
                if rows.as_ref().is_err_and(stale_statement) {
                    wrapper.statement_cache.remove(sql, &types);
                }
                rows.map(Some)
            },
        )
        .await;
        // The first error in the order they were sent is the one that counts (the later
        // ones only say the transaction was aborted).
        if scoped.as_ref().is_err_and(stale_statement) {
            wrapper.statement_cache.remove(&role.statement, &types);
        }
        begun.map_err(|e| sorted(e).into_service())?;
        scoped.map_err(|e| sorted(e).into_service())?;
        checked.map_err(|e| sorted(e).into_pre_request(scope.signed_in()))?;
        Ok((tx, rows))
    }
}

/// A pooled client that never goes back to the pool inside a transaction: unless
/// [`Held::release`]d after a `COMMIT` or `ROLLBACK`, dropping it rolls back in the background
/// and returns the client only if that succeeded (otherwise, or without a runtime, the
/// connection is closed).
struct Held(Option<Object>);

impl Held {
    /// Back to the pool as it is (the transaction is over).
    fn release(mut self) {
        drop(self.0.take());
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some(object) = self.0.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            drop(Object::take(object));
            return;
        };
        // Guarded before the task exists: a task dropped unpolled (a runtime shutting down)
        // closes the connection rather than return it inside the transaction.
        let detached = Detach(Some(object));
        runtime.spawn(async move {
            let rolled_back = match &detached.0 {
                Some(o) => o.batch_execute("ROLLBACK").await.is_ok(),
                None => false,
            };
            if rolled_back {
                detached.release();
            }
        });
    }
}

/// Closes the connection when dropped, unless released: what a rollback that did not finish
/// (a runtime shutting down) leaves.
struct Detach(Option<Object>);

impl Detach {
    fn release(mut self) {
        drop(self.0.take());
    }
}

impl Drop for Detach {
    fn drop(&mut self) {
        if let Some(object) = self.0.take() {
            drop(Object::take(object));
        }
    }
}

/// A transaction scoped to one caller on a tokio-postgres client: query it (it derefs to a
/// [`Client`]), then [`commit`](PgScopedTx::commit) or [`rollback`](PgScopedTx::rollback).
/// Dropped without either, it rolls back (in the background; the connection goes back to
/// the pool only once it has). Either way the role and claims end with it.
///
/// Use the client for this transaction's statements only: `BEGIN`, `COMMIT` and `ROLLBACK`
/// are the transaction's.
pub struct PgScopedTx {
    held: Held,
    role: DbRole,
}

impl fmt::Debug for PgScopedTx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgScopedTx")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl PgScopedTx {
    /// The role it runs as.
    #[must_use]
    pub fn role(&self) -> &DbRole {
        &self.role
    }

    /// Commits.
    ///
    /// # Errors
    ///
    /// The database's answer, sorted by its SQLSTATE (a serialization failure, a deferred
    /// constraint); the connection is then rolled back and returned, or closed.
    pub async fn commit(self) -> Result<(), RlsError> {
        self.end("COMMIT").await
    }

    /// Rolls back.
    ///
    /// # Errors
    ///
    /// As [`PgScopedTx::commit`].
    pub async fn rollback(self) -> Result<(), RlsError> {
        self.end("ROLLBACK").await
    }

    async fn end(self, statement: &str) -> Result<(), RlsError> {
        let ended = self.batch_execute(statement).await;
        match ended {
            Ok(()) => {
                self.held.release();
                Ok(())
            }
            // Dropped: rolled back (or closed) in the background.
            Err(e) => Err(sorted(e)),
        }
    }
}

impl PgScopedTx {
    /// `sql` prepared on this transaction's connection, from the pool's statement cache (a
    /// round trip the first time on a connection, none after).
    ///
    /// # Errors
    ///
    /// What the database answered (a syntax error, an unknown table).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(tx: supagate_postgres::tokio_pg::PgScopedTx) -> Result<(), Box<dyn std::error::Error>> {
    /// let by_id = tx.prepare_cached("select body from notes where id = $1").await?;
    /// let row = tx.query_opt(&by_id, &[&7_i64]).await?;
    /// tx.commit().await?;
    /// # let _ = row; Ok(()) }
    /// ```
    pub async fn prepare_cached(
        &self,
        sql: &str,
    ) -> Result<tokio_postgres::Statement, tokio_postgres::Error> {
        self.wrapper().prepare_cached(sql).await
    }

    /// The pooled client, with its statement cache.
    #[allow(clippy::expect_used)]
    fn wrapper(&self) -> &ClientWrapper {
        // Some for as long as the transaction is: only `commit` and `rollback`, which take it
        // by value, and `Drop` empty it.
        self.held
            .0
            .as_ref()
            .expect("a scoped transaction holds its client until it ends")
    }
}

impl Deref for PgScopedTx {
    type Target = Client;

    fn deref(&self) -> &Client {
        self.wrapper()
    }
}
