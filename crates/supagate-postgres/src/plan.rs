//! [`TxPlan`]: what the adapters' `RlsTx` and `RlsScope` extractors share.

use std::fmt;

use serde::de::DeserializeOwned;
use supagate_auth::Caller;
use supagate_jwt::Verified;

use crate::error::RlsError;
use crate::rls::{RequestInfo, Rls, Scope, ScopedTx};

/// A caller's scoped transaction, planned but not begun: the [`Rls`], the caller's [`Scope`]
/// and the request's [`RequestInfo`]. Made by [`Rls::plan`]; [`TxPlan::begin`] takes the
/// pooled connection.
///
/// This is the body of every adapter's `RlsTx` and `RlsScope` extractor, so that an adapter
/// only takes the admitted caller out of its request and renders the refusal: `RlsTx` plans
/// and begins at once, `RlsScope` keeps the plan for a handler that reads its body first.
///
/// `Debug` prints the role only (the claims are the caller's).
///
/// # Examples
///
/// ```no_run
/// use supagate_auth::Caller;
/// use supagate_jwt::{Claims, Verified};
/// use supagate_postgres::{RequestInfo, Rls};
///
/// # async fn handler(rls: Rls, caller: Caller<Verified>) -> Result<(), Box<dyn std::error::Error>> {
/// let info = RequestInfo::new(&http::Method::GET, "/notes", &http::HeaderMap::new());
/// // The caller is typed first: claims that do not fit are refused before any database work.
/// let (caller, plan) = rls.plan::<Claims>(caller, info)?;
/// let mut tx = plan.begin().await?;
/// let bodies: Vec<String> = sqlx::query_scalar("select body from notes").fetch_all(&mut *tx).await?;
/// tx.commit().await?;
/// # let _ = (caller, bodies); Ok(()) }
/// ```
#[derive(Clone)]
pub struct TxPlan {
    rls: Rls,
    scope: Scope,
    request: RequestInfo,
}

impl fmt::Debug for TxPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TxPlan")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl TxPlan {
    /// Who the transaction will run as.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn show(plan: &supagate_postgres::TxPlan) {
    /// println!("as {}", plan.scope().role());
    /// # }
    /// ```
    #[must_use]
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Begins the transaction: [`Rls::begin`] with the planned scope and request.
    ///
    /// # Errors
    ///
    /// As [`Rls::begin`]: [`RlsError::Unavailable`] (503) when no connection could be had,
    /// [`RlsError::Database`] (500) otherwise.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(plan: supagate_postgres::TxPlan) -> Result<(), supagate_postgres::RlsError> {
    /// let tx = plan.begin().await?;
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    pub async fn begin(&self) -> Result<ScopedTx, RlsError> {
        self.rls.begin(&self.scope, &self.request).await
    }
}

impl Rls {
    /// Plans the scoped transaction of an admitted `caller` (what the adapters' `RlsTx` and
    /// `RlsScope` do): the caller's claims typed as `T`, then their [`Scope`]. Nothing is
    /// asked of the database until [`TxPlan::begin`], so a token whose claims do not fit `T`
    /// costs no connection.
    ///
    /// # Errors
    ///
    /// The verifier's error when the claims do not deserialize into `T` (a 401 once the
    /// authenticator renders it as `AuthError::Token`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(rls: supagate_postgres::Rls, caller: supagate_auth::Caller<supagate_jwt::Verified>) -> Result<(), Box<dyn std::error::Error>> {
    /// let info = supagate_postgres::RequestInfo::from_fields("GET", "/notes", []);
    /// let (caller, plan) = rls.plan::<serde_json::Value>(caller, info)?;
    /// let tx = plan.begin().await?;
    /// # let _ = (caller, tx); Ok(()) }
    /// ```
    pub fn plan<T: DeserializeOwned + 'static>(
        &self,
        caller: Caller<Verified>,
        request: RequestInfo,
    ) -> Result<(Caller<T>, TxPlan), supagate_jwt::Error> {
        let scope = self.scope(&caller);
        let caller = caller.try_map(Verified::into_typed::<T>)?;
        Ok((
            caller,
            TxPlan {
                rls: self.clone(),
                scope,
                request,
            },
        ))
    }
}
