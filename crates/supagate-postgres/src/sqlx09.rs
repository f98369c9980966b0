//! User-scoped transactions on sqlx 0.9 (feature `sqlx09`): [`Rls`] and [`ScopedTx`], the
//! same scope as the crate's root [`Rls`](crate::Rls) on sqlx 0.8 (the same SQL, decided by the
//! same code), for an app whose own queries are sqlx 0.9's. Moving from 0.8 is a change of
//! import:
//!
//! ```no_run
//! use supagate_postgres::RequestInfo;
//! use supagate_postgres::sqlx09::Rls;
//! use supagate_auth::Caller;
//!
//! # async fn run(pool: sqlx09::PgPool, caller: Caller<supagate_jwt::Verified>) -> Result<(), Box<dyn std::error::Error>> {
//! let rls = Rls::builder(pool).build().await?;
//! let mut tx = rls.begin(&rls.scope(&caller), &RequestInfo::default()).await?;
//! let mine: Vec<(String,)> = sqlx09::query_as("select body from notes") // RLS: only the caller's rows
//!     .fetch_all(&mut *tx)
//!     .await?;
//! tx.commit().await?;
//! # let _ = mine; Ok(()) }
//! ```
//!
//! (In your own `Cargo.toml` the crate is `sqlx`; `sqlx09` is its name inside this crate,
//! beside sqlx 0.8.) Its errors are [`RlsError::Driver`], sorted by SQLSTATE as sqlx 0.8's
//! are; `From<sqlx::Error>` (0.9) answers the app's own statements the same way. sqlx 0.9
//! needs Rust 1.94.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use sqlx09::{AssertSqlSafe, PgConnection, PgPool, Postgres, Transaction};
use supagate_auth::Caller;
use supagate_jwt::Verified;

use crate::error::{RlsConfigError, RlsError};
use crate::rls::{
    Access, AsVerified, Catalog, Config, DbRole, PreRequestFacts, RequestInfo, RlsBuilder,
    RoleFacts, RoleScope, Scope, pre_request_facts,
};
use crate::sql;

/// An error of sqlx 0.9, sorted as [`RlsError`] sorts sqlx 0.8's.
impl From<sqlx09::Error> for RlsError {
    fn from(e: sqlx09::Error) -> Self {
        let code = e
            .as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.into_owned());
        let unavailable = matches!(
            e,
            sqlx09::Error::PoolTimedOut
                | sqlx09::Error::PoolClosed
                | sqlx09::Error::Io(_)
                | sqlx09::Error::Tls(_)
                | sqlx09::Error::WorkerCrashed
        );
        RlsError::of_driver(code.as_deref(), unavailable, Box::new(e))
    }
}

/// Start-up errors of the catalog questions.
fn config_error(e: sqlx09::Error) -> RlsConfigError {
    RlsConfigError::Driver(Box::new(e))
}

impl Catalog for PgPool {
    async fn role_facts(&self, roles: &[String]) -> Result<Vec<RoleFacts>, RlsConfigError> {
        sqlx09::query_as(sql::ROLE_FACTS)
            .bind(roles)
            .fetch_all(self)
            .await
            .map_err(config_error)
    }

    async fn pre_request_facts(
        &self,
        qualified: &str,
        roles: &[String],
    ) -> Result<PreRequestFacts, RlsConfigError> {
        let row = sqlx09::query_as(sql::PRE_REQUEST_CHECK)
            .bind(qualified)
            .bind(roles)
            .fetch_optional(self)
            .await;
        match row {
            Ok(row) => Ok(pre_request_facts(row)),
            // The login role may not even see its schema.
            Err(e) if e.as_database_error().and_then(|d| d.code()).as_deref() == Some("42501") => {
                Ok(PreRequestFacts::NotCallable)
            }
            Err(e) => Err(config_error(e)),
        }
    }

    async fn login_confined(&self) -> Result<bool, RlsConfigError> {
        let confined: Option<bool> = sqlx09::query_scalar(sql::LOGIN_CONFINED)
            .fetch_optional(self)
            .await
            .map_err(config_error)?;
        Ok(confined.unwrap_or(false))
    }

    async fn role_settings(
        &self,
        roles: &[String],
    ) -> Result<Vec<(String, String, String)>, RlsConfigError> {
        sqlx09::query_as(sql::ROLE_SETTINGS)
            .bind(roles)
            .fetch_all(self)
            .await
            .map_err(config_error)
    }
}

/// [`Rls`](crate::Rls) on a sqlx 0.9 [`PgPool`]: the same scope, settings, isolation,
/// access mode, pre-request function and refusals, the same two round trips after `BEGIN`
/// (one for the scope, one for the pre-request function when there is one).
///
/// Cheap to clone.
#[derive(Clone)]
pub struct Rls {
    pool: PgPool,
    config: Arc<Config>,
}

impl fmt::Debug for Rls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rls").finish_non_exhaustive()
    }
}

impl RlsBuilder<PgPool> {
    /// Checks the configuration against the database and reads the roles' own settings, as
    /// [`RlsBuilder::build`](crate::RlsBuilder::build) does on sqlx 0.8.
    ///
    /// # Errors
    ///
    /// As [`RlsBuilder::build`](crate::RlsBuilder::build); a database that cannot be asked
    /// is [`RlsConfigError::Driver`].
    pub async fn build(self) -> Result<Rls, RlsConfigError> {
        let (pool, config) = self.config().await?;
        Ok(Rls {
            pool,
            config: Arc::new(config),
        })
    }
}

impl Rls {
    /// A builder over `pool` (it logs in as a role that may become `anon` and
    /// `authenticated`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use supagate_postgres::sqlx09::Rls;
    ///
    /// # async fn run(pool: sqlx09::PgPool) -> Result<(), Box<dyn std::error::Error>> {
    /// let rls = Rls::builder(pool).read_only_safe_methods(true).build().await?;
    /// # let _ = rls; Ok(()) }
    /// ```
    pub fn builder(pool: PgPool) -> RlsBuilder<PgPool> {
        RlsBuilder::over(pool)
    }

    /// The pool.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(rls: supagate_postgres::sqlx09::Rls) -> Result<(), sqlx09::Error> {
    /// let one: i32 = sqlx09::query_scalar("select 1").fetch_one(rls.pool()).await?;
    /// # let _ = one; Ok(()) }
    /// ```
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The scope of `caller`, as [`Rls::scope`](crate::Rls::scope).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use supagate_auth::Caller;
    ///
    /// # fn run(rls: supagate_postgres::sqlx09::Rls) {
    /// let scope = rls.scope(&Caller::<supagate_jwt::Verified>::None);
    /// assert_eq!(scope.role().as_str(), "anon");
    /// # }
    /// ```
    #[must_use]
    pub fn scope<T>(&self, caller: &Caller<T>) -> Scope
    where
        T: AsVerified,
    {
        self.config.scope(caller)
    }

    /// The scope of a verified user, as [`Rls::user_scope`](crate::Rls::user_scope).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn run(rls: supagate_postgres::sqlx09::Rls, verified: supagate_jwt::Verified) {
    /// let scope = rls.user_scope(&verified);
    /// assert!(scope.signed_in());
    /// # }
    /// ```
    #[must_use]
    pub fn user_scope(&self, verified: &Verified) -> Scope {
        self.config.user_scope(verified)
    }

    /// The anonymous scope: `anon`, `{"role":"anon"}`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn run(rls: supagate_postgres::sqlx09::Rls) {
    /// assert_eq!(rls.anon_scope().claims_json(), r#"{"role":"anon"}"#);
    /// # }
    /// ```
    #[must_use]
    pub fn anon_scope(&self) -> Scope {
        self.config.scope(&Caller::<Verified>::None)
    }

    /// Begins a transaction and applies `scope` and `request` to it, as
    /// [`Rls::begin`](crate::Rls::begin) does.
    ///
    /// # Errors
    ///
    /// As [`Rls::begin`](crate::Rls::begin), with sqlx 0.9's errors as
    /// [`RlsError::Driver`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use supagate_postgres::RequestInfo;
    ///
    /// # async fn run(rls: supagate_postgres::sqlx09::Rls) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tx = rls.begin(&rls.anon_scope(), &RequestInfo::default()).await?;
    /// let role: String = sqlx09::query_scalar("select current_user::text").fetch_one(&mut *tx).await?;
    /// assert_eq!(role, "anon");
    /// # Ok(()) }
    /// ```
    pub async fn begin(&self, scope: &Scope, request: &RequestInfo) -> Result<ScopedTx, RlsError> {
        self.begin_with(scope, request, self.config.access_for(request))
            .await
    }

    /// [`Rls::begin`] with the access mode chosen by the caller (a role whose
    /// `default_transaction_read_only` is on stays read-only whatever `access` says).
    ///
    /// # Errors
    ///
    /// As [`Rls::begin`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use supagate_postgres::{Access, RequestInfo};
    ///
    /// # async fn run(rls: supagate_postgres::sqlx09::Rls) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tx = rls.begin_with(&rls.anon_scope(), &RequestInfo::default(), Access::ReadOnly).await?;
    /// let written = sqlx09::query("insert into notes (body) values ('x')").execute(&mut *tx).await;
    /// assert!(written.is_err()); // 25006: a write in a read-only transaction
    /// # Ok(()) }
    /// ```
    pub async fn begin_with(
        &self,
        scope: &Scope,
        request: &RequestInfo,
        access: Access,
    ) -> Result<ScopedTx, RlsError> {
        let begun = async {
            // Decided before a connection is taken: a refused scope costs none.
            let (role, values) = self.config.scope_values(scope, request)?;
            let begin = role.begin(access);
            let tx = if begin == "BEGIN" {
                self.pool.begin().await
            } else {
                self.pool.begin_with(begin).await
            };
            let mut tx = tx.map_err(|e| RlsError::from(e).into_service())?;
            self.apply_values(&mut tx, role, &values, scope).await?;
            Ok::<_, RlsError>(tx)
        };
        match begun.await {
            Ok(tx) => Ok(ScopedTx {
                tx,
                role: scope.role().clone(),
            }),
            Err(e) => Err(e.logged()),
        }
    }

    /// Applies `scope` and `request` to a transaction you began yourself, then calls the
    /// pre-request function, as [`Rls::apply`](crate::Rls::apply) does.
    ///
    /// # Errors
    ///
    /// As [`Rls::begin`], and [`RlsError::ForeignScope`] for a scope made by another `Rls`
    /// with a role this one did not check at start-up.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use supagate_postgres::RequestInfo;
    ///
    /// # async fn run(rls: supagate_postgres::sqlx09::Rls) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tx = rls.pool().begin().await?;
    /// rls.apply(&mut tx, &rls.anon_scope(), &RequestInfo::default()).await?;
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    pub async fn apply(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        scope: &Scope,
        request: &RequestInfo,
    ) -> Result<(), RlsError> {
        let (role, values) = self.config.scope_values(scope, request)?;
        self.apply_values(tx, role, &values, scope).await
    }

    /// The scope statement with its values, then the pre-request call.
    async fn apply_values(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        role: &RoleScope,
        values: &[std::borrow::Cow<'_, str>],
        scope: &Scope,
    ) -> Result<(), RlsError> {
        // The statements are this crate's own (`sql.rs`), built at start-up from checked
        // identifiers; every value is bound. Shared, not copied, on each call.
        let mut query = sqlx09::query(AssertSqlSafe(Arc::clone(&role.statement)));
        for value in values {
            query = query.bind(value.as_ref());
        }
        query
            .execute(&mut **tx)
            .await
            .map_err(|e| RlsError::from(e).into_service())?;
        if let Some(call) = self.config.pre_request_shared() {
            sqlx09::query(AssertSqlSafe(Arc::clone(call)))
                .execute(&mut **tx)
                .await
                .map_err(|e| RlsError::from(e).into_pre_request(scope.signed_in()))?;
        }
        Ok(())
    }
}

/// A transaction scoped to one caller on sqlx 0.9: query it (it derefs to sqlx 0.9's
/// [`PgConnection`]), then [`commit`](ScopedTx::commit) or [`rollback`](ScopedTx::rollback).
/// Dropped without either, it rolls back. Either way the role and claims end with it.
///
/// # Examples
///
/// ```no_run
/// # async fn run(mut tx: supagate_postgres::sqlx09::ScopedTx) -> Result<(), sqlx09::Error> {
/// let uid: Option<uuid::Uuid> = sqlx09::query_scalar("select auth.uid()").fetch_one(&mut *tx).await?;
/// tx.commit().await?;
/// # let _ = uid; Ok(()) }
/// ```
pub struct ScopedTx {
    tx: Transaction<'static, Postgres>,
    role: DbRole,
}

impl fmt::Debug for ScopedTx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedTx")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl ScopedTx {
    /// The role it runs as.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn run(tx: supagate_postgres::sqlx09::ScopedTx) {
    /// println!("as {}", tx.role());
    /// # }
    /// ```
    #[must_use]
    pub fn role(&self) -> &DbRole {
        &self.role
    }

    /// Commits.
    ///
    /// # Errors
    ///
    /// What the database answered.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(tx: supagate_postgres::sqlx09::ScopedTx) -> Result<(), sqlx09::Error> {
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    pub async fn commit(self) -> Result<(), sqlx09::Error> {
        self.tx.commit().await
    }

    /// Rolls back.
    ///
    /// # Errors
    ///
    /// What the database answered.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(tx: supagate_postgres::sqlx09::ScopedTx) -> Result<(), sqlx09::Error> {
    /// tx.rollback().await?;
    /// # Ok(()) }
    /// ```
    pub async fn rollback(self) -> Result<(), sqlx09::Error> {
        self.tx.rollback().await
    }

    /// The sqlx 0.9 transaction itself.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(tx: supagate_postgres::sqlx09::ScopedTx) -> Result<(), sqlx09::Error> {
    /// let tx: sqlx09::Transaction<'static, sqlx09::Postgres> = tx.into_inner();
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn into_inner(self) -> Transaction<'static, Postgres> {
        self.tx
    }
}

impl Deref for ScopedTx {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.tx
    }
}

impl DerefMut for ScopedTx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}
