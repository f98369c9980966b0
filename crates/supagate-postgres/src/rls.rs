//! [`Rls`]: user-scoped transactions, as PostgREST applies them.

use std::collections::HashMap;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use http::HeaderMap;
use serde_json::{Map, Value};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use supagate_auth::Caller;
use supagate_jwt::Verified;

use crate::error::{RlsConfigError, RlsError};
use crate::sql;

/// The Postgres role a request runs as. A token never chooses it beyond `anon`: whatever its
/// `role` claim says, a user runs as `authenticated` unless that claim is `anon` or a role
/// listed with [`RlsBuilder::allow_token_roles`].
///
/// # Examples
///
/// ```
/// use supagate_postgres::DbRole;
///
/// assert_eq!(DbRole::Authenticated.as_str(), "authenticated");
/// assert_eq!(DbRole::ServiceRole.to_string(), "service_role");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DbRole {
    /// `anon`: signed-out callers, publishable keys, `none` routes.
    Anon,
    /// `authenticated`: signed-in users.
    Authenticated,
    /// `service_role` (BYPASSRLS): only for secret keys, and only when
    /// [`RlsBuilder::secret_key_role`] says so.
    ServiceRole,
    /// A role listed with [`RlsBuilder::allow_token_roles`], named by the token.
    Named(Arc<str>),
}

impl DbRole {
    /// The role's name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            DbRole::Anon => "anon",
            DbRole::Authenticated => "authenticated",
            DbRole::ServiceRole => "service_role",
            DbRole::Named(n) => n,
        }
    }
}

impl fmt::Display for DbRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a request sets besides the caller: `request.method`, `request.path`,
/// `request.headers` (a JSON object of lowercase names; several fields of one name joined with
/// `", "`; values that are not UTF-8 left out) and, when the [`Rls`] was built with
/// [`RlsBuilder::request_cookies`], `request.cookies`.
///
/// Credentials are left out of `request.headers`: `authorization`, `apikey`, `cookie` and
/// `proxy-authorization` (the verified claims are in `request.jwt.claims`). PostgREST passes
/// them on; supagate does not, so that no function or log in the database sees a token. For the
/// same reason the Supabase session cookies are never among the cookies: any name with
/// `auth-token` in it (`sb-<ref>-auth-token`, its chunks `.0`, `.1`, …, its `-code-verifier`,
/// the legacy `supabase-auth-token`), with or without a `__Host-` or `__Secure-` prefix, and
/// the legacy `sb-access-token` and `sb-refresh-token`. A session cookie renamed otherwise
/// ([`hide_cookies`](RlsBuilder::hide_cookies)) must be named to be hidden. At most
/// [`RequestInfo::MAX_COOKIES`] cookies are kept, the first of each name.
///
/// # Examples
///
/// ```
/// use supagate_postgres::RequestInfo;
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("x-tenant", "acme".parse()?);
/// headers.insert("authorization", "Bearer secret".parse()?);
/// let info = RequestInfo::new(&http::Method::GET, "/notes", &headers);
/// assert_eq!(info.headers_json(), r#"{"x-tenant":"acme"}"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    method: String,
    path: String,
    headers: String,
    /// The request's `Cookie` fields as sent: parsed only when `request.cookies` is asked for.
    cookie_fields: Vec<String>,
}

impl fmt::Debug for RequestInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Cookie values are the client's secrets (a CSRF token, an app's own session): names
        // only.
        f.debug_struct("RequestInfo")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("headers", &self.headers)
            .field(
                "cookies",
                &self.cookies().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Whether a cookie is a Supabase session cookie (`sb-<ref>-auth-token`, a chunk of it, its
/// PKCE code verifier, the legacy names), prefixed or not: never copied into
/// `request.cookies`.
fn is_session_cookie(name: &str) -> bool {
    let bare = name
        .strip_prefix("__Host-")
        .or_else(|| name.strip_prefix("__Secure-"))
        .unwrap_or(name);
    bare.contains("auth-token") || bare == "sb-access-token" || bare == "sb-refresh-token"
}

/// The cookies of one `Cookie` field, as (name, value) pairs.
fn cookie_pairs(field: &str) -> impl Iterator<Item = (&str, &str)> {
    field.split(';').filter_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        let name = name.trim();
        (!name.is_empty()).then(|| (name, value.trim()))
    })
}

/// Never copied into `request.headers`.
const CREDENTIAL_HEADERS: [&str; 4] = ["authorization", "apikey", "cookie", "proxy-authorization"];

impl RequestInfo {
    /// From a request's method, path (without the query) and headers.
    #[must_use]
    pub fn new(method: &http::Method, path: &str, headers: &HeaderMap) -> Self {
        Self::from_fields(
            method.as_str(),
            path,
            headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())),
        )
    }

    /// From a method, a path and header fields given as (name, value) pairs in order, for
    /// frameworks with their own header types. Names are lowercased (and credentials left
    /// out) whatever their case.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_postgres::RequestInfo;
    ///
    /// let info = RequestInfo::from_fields("GET", "/", [("x-a", &b"1"[..]), ("x-a", b"2"), ("cookie", b"s")]);
    /// assert_eq!(info.headers_json(), r#"{"x-a":"1, 2"}"#);
    /// ```
    #[must_use]
    pub fn from_fields<'a>(
        method: &str,
        path: &str,
        fields: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Self {
        let mut map: Map<String, Value> = Map::new();
        let mut cookie_fields = Vec::new();
        for (name, value) in fields {
            let name = name.to_ascii_lowercase();
            if name == "cookie" {
                if let Ok(field) = std::str::from_utf8(value) {
                    cookie_fields.push(field.to_owned());
                }
                continue;
            }
            if CREDENTIAL_HEADERS.contains(&name.as_str()) {
                continue;
            }
            let Ok(value) = std::str::from_utf8(value) else {
                continue;
            };
            match map.get_mut(&name) {
                Some(Value::String(joined)) => {
                    joined.push_str(", ");
                    joined.push_str(value);
                }
                _ => {
                    map.insert(name, Value::String(value.to_owned()));
                }
            }
        }
        RequestInfo {
            method: method.to_owned(),
            path: path.to_owned(),
            headers: Value::Object(map).to_string(),
            cookie_fields,
        }
    }

    /// The most cookies `request.cookies` holds (a client that sends more gets the first).
    pub const MAX_COOKIES: usize = 200;

    /// From the parts of an `http` request (what the adapters pass).
    #[must_use]
    pub fn from_parts(parts: &http::request::Parts) -> Self {
        Self::new(&parts.method, parts.uri.path(), &parts.headers)
    }

    /// `request.method`.
    #[must_use]
    pub fn method(&self) -> &str {
        &self.method
    }

    /// `request.path`.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The cookies `request.cookies` may hold: the request's, but the session's, in order,
    /// the first of each name.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_postgres::RequestInfo;
    ///
    /// let info = RequestInfo::from_fields("GET", "/", [(
    ///     "Cookie",
    ///     &b"theme=dark; sb-abc-auth-token.0=base64-eyJ; lang=fr; theme=light"[..],
    /// )]);
    /// let cookies: Vec<_> = info.cookies().collect();
    /// assert_eq!(cookies, [("theme", "dark"), ("lang", "fr")]);
    /// ```
    pub fn cookies(&self) -> impl Iterator<Item = (&str, &str)> {
        // Linear in the fields' length: each name is looked up in a set, and at most
        // `MAX_COOKIES` are kept.
        let mut seen = std::collections::HashSet::new();
        self.cookie_fields
            .iter()
            .flat_map(|f| cookie_pairs(f))
            .filter(|(n, _)| !is_session_cookie(n))
            .filter(move |(n, _)| seen.insert(*n))
            .take(Self::MAX_COOKIES)
    }

    /// `request.headers`, as the JSON text that is set (`{}` when there are none).
    #[must_use]
    pub fn headers_json(&self) -> &str {
        if self.headers.is_empty() {
            "{}"
        } else {
            &self.headers
        }
    }
}

/// A transaction's access mode. PostgREST runs `GET` and `HEAD` in read-only transactions,
/// so that a function or trigger reached from a read cannot write (a write there fails with
/// SQLSTATE 25006, which answers 405).
///
/// # Examples
///
/// ```
/// use supagate_postgres::Access;
///
/// assert_eq!(Access::for_method("GET"), Access::ReadOnly);
/// assert_eq!(Access::for_method("POST"), Access::ReadWrite);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Access {
    /// Reads and writes (the default).
    #[default]
    ReadWrite,
    /// `READ ONLY`: any write fails.
    ReadOnly,
}

impl Access {
    /// As PostgREST chooses: [`Access::ReadOnly`] for `GET` and `HEAD`, [`Access::ReadWrite`]
    /// for every other method.
    #[must_use]
    pub fn for_method(method: &str) -> Access {
        match method {
            "GET" | "HEAD" => Access::ReadOnly,
            _ => Access::ReadWrite,
        }
    }
}

/// Who a transaction runs as: the Postgres role and the `request.jwt.claims` JSON (with
/// `role` set to that role, as PostgREST does). Made by [`Rls::scope`].
///
/// `Debug` prints the role only.
#[derive(Clone, PartialEq, Eq)]
pub struct Scope {
    role: DbRole,
    claims: String,
    /// A user's (a token's): decides 401 or 403 for a pre-request function's 42501.
    signed_in: bool,
    /// A token whose role the strict mode refuses ([`RlsBuilder::refuse_unsupported_roles`]).
    unsupported: bool,
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("role", &self.role)
            .field("signed_in", &self.signed_in)
            .field("unsupported", &self.unsupported)
            .finish_non_exhaustive()
    }
}

impl Scope {
    /// The role it runs as.
    #[must_use]
    pub fn role(&self) -> &DbRole {
        &self.role
    }

    /// The `request.jwt.claims` JSON.
    #[must_use]
    pub fn claims_json(&self) -> &str {
        &self.claims
    }

    /// Whether the caller is signed in: a user, or a server with a secret key (a pre-request
    /// function's 42501 is then 403; a signed-out caller's is 401).
    #[must_use]
    pub fn signed_in(&self) -> bool {
        self.signed_in
    }

    /// A caller without claims (`none`, `publishable`, `secret`): `{"role": "<role>"}`.
    fn keyless(role: DbRole) -> Self {
        let claims = serde_json::json!({ "role": role.as_str() }).to_string();
        Scope {
            role,
            claims,
            signed_in: false,
            unsupported: false,
        }
    }
}

pub(crate) struct RoleScope {
    settings: Vec<(String, String)>,
    pub(crate) statement: Arc<str>,
    /// The role's `default_transaction_isolation`, which only `BEGIN` can apply.
    isolation: Option<sql::Isolation>,
    /// The role's `default_transaction_read_only`.
    read_only: bool,
}

impl RoleScope {
    /// The `BEGIN` of a transaction of this role with `access`.
    pub(crate) fn begin(&self, access: Access) -> &'static str {
        sql::begin(self.isolation, self.read_only || access == Access::ReadOnly)
    }
}

pub(crate) struct Config {
    search_path: Option<String>,
    token_roles: Vec<Arc<str>>,
    secret_role: DbRole,
    /// Per role: the settings to apply (search path first) and the statement that applies
    /// them with the scope.
    roles: HashMap<String, RoleScope>,
    read_only_by_method: bool,
    request_cookies: bool,
    hidden_cookies: Vec<String>,
    /// `select "schema"."name"()`.
    pre_request: Option<Arc<str>>,
    strict_roles: bool,
    /// Whether the login role is confined ([`sql::LOGIN_CONFINED`]).
    #[cfg_attr(not(feature = "tokio-postgres"), allow(dead_code))]
    pub(crate) login_confined: bool,
}

impl Config {
    /// See [`Rls::scope`].
    pub(crate) fn scope<T>(&self, caller: &Caller<T>) -> Scope
    where
        T: AsVerified,
    {
        match caller {
            Caller::User(v) => self.user_scope(v.as_verified()),
            Caller::Secret { .. } => Scope {
                // A server with the project's secret key: a pre-request function's 42501 is
                // its 403, not a request to sign in.
                signed_in: true,
                ..Scope::keyless(self.secret_role.clone())
            },
            _ => Scope::keyless(DbRole::Anon),
        }
    }

    /// See [`Rls::user_scope`].
    pub(crate) fn user_scope(&self, verified: &Verified) -> Scope {
        let claimed = verified.claims().postgres_role.as_deref();
        let mut unsupported = false;
        let role = match claimed {
            Some("anon") => DbRole::Anon,
            Some("authenticated") | None => DbRole::Authenticated,
            Some(r) => match self.token_roles.iter().find(|t| &***t == r) {
                Some(t) => DbRole::Named(Arc::clone(t)),
                None => {
                    unsupported = self.strict_roles;
                    DbRole::Authenticated
                }
            },
        };
        let payload = verified.payload();
        let claims = match std::str::from_utf8(payload) {
            Ok(text) if claimed == Some(role.as_str()) => text.to_owned(),
            _ => {
                let mut map: Map<String, Value> =
                    serde_json::from_slice(payload).unwrap_or_default();
                map.insert("role".into(), Value::String(role.as_str().to_owned()));
                Value::Object(map).to_string()
            }
        };
        Scope {
            role,
            claims,
            signed_in: true,
            unsupported,
        }
    }

    /// The role's statement and what it binds, in order: the role's settings (name, value),
    /// then the role, the claims, the method, the path, the headers and the cookies.
    pub(crate) fn scope_values<'a>(
        &'a self,
        scope: &'a Scope,
        request: &'a RequestInfo,
    ) -> Result<(&'a RoleScope, Vec<std::borrow::Cow<'a, str>>), RlsError> {
        use std::borrow::Cow;
        if scope.unsupported {
            return Err(RlsError::UnsupportedRole);
        }
        let role = self
            .roles
            .get(scope.role.as_str())
            .ok_or(RlsError::ForeignScope)?;
        let mut values: Vec<Cow<'a, str>> = Vec::with_capacity(role.settings.len() * 2 + 6);
        for (name, value) in &role.settings {
            values.push(Cow::Borrowed(name));
            values.push(Cow::Borrowed(value));
        }
        values.push(Cow::Borrowed(scope.role.as_str()));
        values.push(Cow::Borrowed(&scope.claims));
        values.push(Cow::Borrowed(request.method()));
        values.push(Cow::Borrowed(request.path()));
        values.push(Cow::Borrowed(request.headers_json()));
        values.push(self.cookies_json(request));
        Ok((role, values))
    }

    /// `request.cookies`: `{}` unless asked for, then the request's cookies but the
    /// session's and the hidden ones.
    pub(crate) fn cookies_json(&self, request: &RequestInfo) -> std::borrow::Cow<'static, str> {
        if !self.request_cookies {
            // The common case, on every request: nothing to build.
            return std::borrow::Cow::Borrowed("{}");
        }
        let mut map: Map<String, Value> = Map::new();
        for (name, value) in request.cookies() {
            if self.hidden_cookies.iter().any(|h| h == name) {
                continue;
            }
            map.insert(name.to_owned(), Value::String(value.to_owned()));
        }
        Value::Object(map).to_string().into()
    }

    /// The access mode of `request` when the caller does not choose.
    pub(crate) fn access_for(&self, request: &RequestInfo) -> Access {
        if self.read_only_by_method {
            Access::for_method(request.method())
        } else {
            Access::ReadWrite
        }
    }

    /// The call of the pre-request function, if there is one.
    pub(crate) fn pre_request(&self) -> Option<&str> {
        self.pre_request.as_deref()
    }

    /// The call of the pre-request function, shared (a client that owns its SQL text clones
    /// it without copying).
    #[cfg_attr(not(feature = "sqlx09"), allow(dead_code))]
    pub(crate) fn pre_request_shared(&self) -> Option<&Arc<str>> {
        self.pre_request.as_ref()
    }
}

/// User-scoped transactions on a [`PgPool`], as PostgREST makes them: [`Rls::begin`] opens a
/// transaction and, in one round trip with bound parameters only, sets the search path (when
/// configured), the role's own settings (`statement_timeout` and friends, read at start-up),
/// `role`, `request.jwt.claims`, `request.method`, `request.path` and `request.headers`, all
/// transaction-local: nothing is left on the pooled connection once the transaction ends,
/// committed, rolled back or dropped.
///
/// The pool logs in as a role that may become `anon` and `authenticated` (Supabase's
/// `authenticator`, or `postgres`). Policies written with `auth.uid()` and `auth.jwt()` then
/// apply to every query in the transaction.
///
/// Cheap to clone.
///
/// # Examples
///
/// ```no_run
/// use supagate_postgres::{Rls, RequestInfo};
/// use supagate_auth::Caller;
///
/// # async fn run(pool: sqlx::PgPool, caller: Caller<supagate_jwt::Verified>) -> Result<(), Box<dyn std::error::Error>> {
/// let rls = Rls::builder(pool).build().await?;
/// let mut tx = rls.begin(&rls.scope(&caller), &RequestInfo::default()).await?;
/// let mine: Vec<(String,)> = sqlx::query_as("select body from notes") // RLS: only the caller's rows
///     .fetch_all(&mut *tx)
///     .await?;
/// tx.commit().await?;
/// # let _ = mine; Ok(()) }
/// ```
#[derive(Clone)]
pub struct Rls {
    pool: PgPool,
    config: Arc<Config>,
}

impl fmt::Debug for Rls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rls")
            .field("search_path", &self.config.search_path)
            .field("token_roles", &self.config.token_roles)
            .field("secret_role", &self.config.secret_role)
            .finish_non_exhaustive()
    }
}

impl Rls {
    /// A builder over `pool`.
    pub fn builder(pool: PgPool) -> RlsBuilder {
        RlsBuilder::over(pool)
    }

    /// The pool.
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The scope of `caller`:
    ///
    /// | caller | role | `request.jwt.claims` |
    /// |---|---|---|
    /// | a user | `authenticated` (`anon` when the token says `anon`; a role of [`RlsBuilder::allow_token_roles`] when the token names it) | the verified claims, `role` set to the role |
    /// | `publishable`, `none` | `anon` | `{"role":"anon"}` |
    /// | `secret` | [`RlsBuilder::secret_key_role`] (`anon` unless configured) | `{"role":…}` |
    #[must_use]
    pub fn scope<T>(&self, caller: &Caller<T>) -> Scope
    where
        T: AsVerified,
    {
        self.config.scope(caller)
    }

    /// The scope of a verified user (see [`Rls::scope`]).
    #[must_use]
    pub fn user_scope(&self, verified: &Verified) -> Scope {
        self.config.user_scope(verified)
    }

    /// The anonymous scope: `anon`, `{"role":"anon"}`.
    #[must_use]
    pub fn anon_scope(&self) -> Scope {
        Scope::keyless(DbRole::Anon)
    }

    /// Begins a transaction on the pool and applies `scope` and `request` to it (one round trip
    /// after `BEGIN`, and one more for the [pre-request function](RlsBuilder::pre_request)).
    /// It begins at the role's isolation level (`default_transaction_isolation`, as PostgREST
    /// does), read-only when the role's `default_transaction_read_only` is on or, with
    /// [`RlsBuilder::read_only_safe_methods`], for a `GET` or `HEAD` request.
    ///
    /// # Errors
    ///
    /// [`RlsError::Unavailable`] when no connection could be had, [`RlsError::Database`] when
    /// the database refused the connection or the scope (a wrong password, the login role no
    /// longer allowed to become the role, a role dropped since start-up): never a client's
    /// 4xx, whatever its SQLSTATE, since the scope's values are the service's own.
    /// [`RlsError::Refused`] when the pre-request function raised an error the table on
    /// [`RlsError`] gives to the client, [`RlsError::UnsupportedRole`] for a scope the strict
    /// mode refuses (before any connection is taken).
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
    /// use supagate_postgres::{Access, RequestInfo, Rls};
    ///
    /// # async fn run(rls: Rls) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tx = rls.begin_with(&rls.anon_scope(), &RequestInfo::default(), Access::ReadOnly).await?;
    /// let written = sqlx::query("insert into notes (body) values ('x')").execute(&mut *tx).await;
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
            let mut tx = tx.map_err(RlsError::of_service)?;
            self.apply_values(&mut tx, role, &values, scope).await?;
            Ok::<_, RlsError>(tx)
        };
        match begun.await {
            Ok(tx) => Ok(ScopedTx {
                tx,
                role: scope.role.clone(),
            }),
            Err(e) => Err(e.logged()),
        }
    }

    /// Applies `scope` and `request` to a transaction you began yourself (on this pool or
    /// another), then calls the [pre-request function](RlsBuilder::pre_request). A
    /// transaction, not a bare connection: outside one, transaction-local settings would end
    /// with this very statement. Its isolation level and access mode are the ones you began it
    /// with.
    ///
    /// # Errors
    ///
    /// As [`Rls::begin`], and [`RlsError::ForeignScope`] for a scope made by another `Rls`
    /// with a role this one did not check at start-up.
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
        let mut query = sqlx::query(&role.statement);
        for value in values {
            query = query.bind(value.as_ref());
        }
        query
            .execute(&mut **tx)
            .await
            .map_err(RlsError::of_service)?;
        if let Some(call) = self.config.pre_request() {
            sqlx::query(call)
                .execute(&mut **tx)
                .await
                .map_err(|e| RlsError::of_pre_request(e, scope.signed_in))?;
        }
        Ok(())
    }
}

/// What [`Rls::scope`] accepts as a user: [`Verified`] (what the adapters admit).
pub trait AsVerified {
    /// The verified token.
    fn as_verified(&self) -> &Verified;
}

impl AsVerified for Verified {
    fn as_verified(&self) -> &Verified {
        self
    }
}

/// Builds an [`Rls`]. Every setter documents its default.
#[must_use]
pub struct RlsBuilder<P = PgPool> {
    pool: P,
    search_path: Option<Vec<String>>,
    token_roles: Vec<String>,
    secret_role: DbRole,
    read_only_by_method: bool,
    request_cookies: bool,
    hidden_cookies: Vec<String>,
    pre_request: Option<String>,
    strict_roles: bool,
}

impl<P> fmt::Debug for RlsBuilder<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RlsBuilder")
            .field("search_path", &self.search_path)
            .field("token_roles", &self.token_roles)
            .field("secret_role", &self.secret_role)
            .field("read_only_by_method", &self.read_only_by_method)
            .field("request_cookies", &self.request_cookies)
            .field("pre_request", &self.pre_request)
            .field("strict_roles", &self.strict_roles)
            .finish_non_exhaustive()
    }
}

fn plain_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    s.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl<P> RlsBuilder<P> {
    /// A builder over `pool`, every setting at its default.
    pub(crate) fn over(pool: P) -> Self {
        RlsBuilder {
            pool,
            search_path: None,
            token_roles: Vec::new(),
            secret_role: DbRole::Anon,
            read_only_by_method: false,
            request_cookies: false,
            hidden_cookies: Vec::new(),
            pre_request: None,
            strict_roles: false,
        }
    }

    /// Sets `search_path` in every transaction, as PostgREST does with its exposed schema and
    /// `db-extra-search-path` (Supabase: `public, extensions`). Default: the pool's own.
    pub fn search_path<I, S>(mut self, schemas: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.search_path = Some(schemas.into_iter().map(Into::into).collect());
        self
    }

    /// Roles a token's `role` claim may choose besides `anon` (for example a custom
    /// `app_admin` role your tokens carry through a custom access token hook). Each is
    /// checked at [`build`](RlsBuilder::build): it must exist, not be a superuser, and be
    /// granted to the login role. Default: none: every user runs as `authenticated`.
    pub fn allow_token_roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.token_roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// The role of callers admitted by a `secret` key: [`DbRole::Anon`] by default;
    /// [`DbRole::ServiceRole`] (which bypasses RLS) only when you ask for it here.
    pub fn secret_key_role(mut self, role: DbRole) -> Self {
        self.secret_role = role;
        self
    }

    /// Runs `GET` and `HEAD` requests in read-only transactions ([`Access::for_method`]), as
    /// PostgREST does: a function or trigger a read reaches cannot write (SQLSTATE 25006, 405),
    /// and neither can a [pre-request function](RlsBuilder::pre_request). Default: off, every
    /// transaction reads and writes (unless its role's `default_transaction_read_only` is on).
    pub fn read_only_safe_methods(mut self, on: bool) -> Self {
        self.read_only_by_method = on;
        self
    }

    /// Sets `request.cookies` to the request's cookies as a JSON object (as PostgREST does),
    /// without the Supabase session cookies (never: they hold the tokens) nor those named
    /// with [`hide_cookies`](RlsBuilder::hide_cookies). Default: off, `request.cookies` is `{}`.
    pub fn request_cookies(mut self, on: bool) -> Self {
        self.request_cookies = on;
        self
    }

    /// Cookies never copied into `request.cookies` besides the session's: your app's own
    /// session or CSRF cookies. Default: none.
    pub fn hide_cookies<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.hidden_cookies = names.into_iter().map(Into::into).collect();
        self
    }

    /// A function (`schema.name`, no arguments) called in every transaction after the role,
    /// the claims and the `request.*` settings, before the handler's first statement, for
    /// signed-in and signed-out callers alike: PostgREST's `db-pre-request`, where teams put
    /// bans, tenant checks and rate limits. An error it raises refuses the request with its
    /// SQLSTATE mapped as PostgREST maps it: `PTnnn` → nnn, `P0001` (`raise exception`) →
    /// 400, `42501` → 401 for a signed-out caller and 403 for a user, and the rest of the
    /// table on [`RlsError`]. Checked at [`build`](RlsBuilder::build): it must exist. Default:
    /// none.
    pub fn pre_request(mut self, function: impl Into<String>) -> Self {
        self.pre_request = Some(function.into());
        self
    }

    /// Refuses a token whose `role` claim is neither `authenticated`, `anon`, nor a role of
    /// [`allow_token_roles`](RlsBuilder::allow_token_roles) ([`RlsError::UnsupportedRole`],
    /// 403, before any connection is taken), as `@supabase/server`'s Postgres client does
    /// (`UNSUPPORTED_ROLE`). Default: off, such a token runs as `authenticated`: a token that
    /// names `service_role` or `postgres` gets the least a signed-in user gets, and a
    /// Supabase project's own tokens (always `authenticated` or `anon`) never meet the
    /// difference. Turn it on to hear about tokens minted for another purpose instead of
    /// serving them.
    pub fn refuse_unsupported_roles(mut self, on: bool) -> Self {
        self.strict_roles = on;
        self
    }

    /// Checks the configuration against the database of `pool`, and reads the roles' own
    /// settings: what every client's `build` does.
    pub(crate) async fn config(self) -> Result<(P, Config), RlsConfigError>
    where
        P: Catalog,
    {
        if let Some(bad) = self
            .search_path
            .iter()
            .flatten()
            .find(|s| !plain_identifier(s))
        {
            return Err(RlsConfigError::InvalidSearchPath(
                bad.chars().take(64).collect(),
            ));
        }
        let pre_request = match &self.pre_request {
            None => None,
            Some(f) => {
                let invalid = |problem| RlsConfigError::InvalidPreRequest {
                    function: f.chars().take(128).collect(),
                    problem,
                };
                let (schema, name) = f
                    .split_once('.')
                    .ok_or_else(|| invalid("name it as schema.function"))?;
                if !plain_identifier(schema) || !plain_identifier(name) {
                    return Err(invalid(
                        "schema and function must each be 1 to 63 of a-z 0-9 _",
                    ));
                }
                Some((f.clone(), schema.to_owned(), name.to_owned()))
            }
        };
        let mut roles: Vec<String> = vec!["anon".into(), "authenticated".into()];
        if self.secret_role != DbRole::Anon {
            roles.push(self.secret_role.as_str().to_owned());
        }
        if self.token_roles.iter().any(|r| r == "service_role") {
            return Err(RlsConfigError::InvalidRole {
                role: "service_role".into(),
                problem: "it bypasses row level security",
            });
        }
        for r in &self.token_roles {
            if !plain_identifier(r) {
                return Err(RlsConfigError::InvalidRole {
                    role: r.chars().take(64).collect(),
                    problem: "not a plain identifier",
                });
            }
            if !roles.contains(r) {
                roles.push(r.clone());
            }
        }
        let facts = self.pool.role_facts(&roles).await?;
        for (name, exists, superuser, bypass, member) in facts {
            let problem = if !exists {
                Some("it does not exist")
            } else if superuser {
                Some("it is a superuser")
            } else if !member {
                Some("the login role is not granted it")
            } else if bypass && !(name == "service_role" && self.secret_role == DbRole::ServiceRole)
            {
                // Only the secret key's role may bypass RLS, and only when asked for: never a
                // role a token can name.
                Some("it bypasses row level security")
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(RlsConfigError::InvalidRole {
                    role: name,
                    problem,
                });
            }
        }
        let pre_request = match pre_request {
            None => None,
            Some((given, schema, name)) => {
                let invalid = |problem| RlsConfigError::InvalidPreRequest {
                    function: given.chars().take(128).collect(),
                    problem,
                };
                let refused = "a request role (anon, authenticated) may not call it: grant USAGE on its schema and EXECUTE on it";
                let qualified = format!("\"{schema}\".\"{name}\"");
                match self.pool.pre_request_facts(&qualified, &roles).await? {
                    PreRequestFacts::Missing => {
                        return Err(invalid("no such function without arguments"));
                    }
                    PreRequestFacts::Procedure => {
                        return Err(invalid("a procedure, not a function"));
                    }
                    PreRequestFacts::NotCallable => return Err(invalid(refused)),
                    PreRequestFacts::Callable => Some(Arc::from(sql::pre_request(&schema, &name))),
                }
            }
        };
        let rows = self.pool.role_settings(&roles).await?;
        let login_confined = self.pool.login_confined().await?;
        let mut settings: HashMap<String, Vec<(String, String)>> = HashMap::new();
        // Only `BEGIN` applies these two: kept apart, the later (database-specific) wins.
        let mut isolation: HashMap<String, Option<sql::Isolation>> = HashMap::new();
        let mut read_only: HashMap<String, bool> = HashMap::new();
        for role in &roles {
            let entry = settings.entry(role.clone()).or_default();
            if let Some(path) = &self.search_path {
                let quoted: Vec<String> = path.iter().map(|s| format!("\"{s}\"")).collect();
                entry.push(("search_path".into(), quoted.join(", ")));
            }
        }
        for (role, name, value) in rows {
            match name.as_str() {
                "default_transaction_isolation" => {
                    isolation.insert(role, sql::Isolation::parse(&value));
                }
                "default_transaction_read_only" => {
                    read_only.insert(role, sql::setting_is_on(&value));
                }
                _ => {
                    let entry = settings.entry(role).or_default();
                    // A database-specific setting comes later and replaces the global one.
                    entry.retain(|(n, _)| *n != name);
                    entry.push((name, value));
                }
            }
        }
        let roles = settings
            .into_iter()
            .map(|(role, settings)| {
                let statement = Arc::from(sql::apply_scope(settings.len()));
                let scope = RoleScope {
                    settings,
                    statement,
                    isolation: isolation.get(&role).copied().flatten(),
                    read_only: read_only.get(&role).copied().unwrap_or(false),
                };
                (role, scope)
            })
            .collect();
        let config = Config {
            search_path: self.search_path.map(|p| p.join(", ")),
            token_roles: self.token_roles.into_iter().map(Arc::from).collect(),
            secret_role: self.secret_role,
            roles,
            read_only_by_method: self.read_only_by_method,
            request_cookies: self.request_cookies,
            hidden_cookies: self.hidden_cookies,
            pre_request,
            strict_roles: self.strict_roles,
            login_confined,
        };
        Ok((self.pool, config))
    }
}

impl RlsBuilder<PgPool> {
    /// Checks the configuration against the database and reads the roles' own settings
    /// (`ALTER ROLE anon SET statement_timeout = '3s'`), which every transaction then
    /// applies. Settings are read once: restart (or build again) after changing them.
    ///
    /// # Errors
    ///
    /// [`RlsConfigError`] for a search-path entry or role that is not a plain identifier, a
    /// role that is missing, a superuser or not granted to the login role, or a database
    /// that cannot be asked.
    pub async fn build(self) -> Result<Rls, RlsConfigError> {
        let (pool, config) = self.config().await?;
        Ok(Rls {
            pool,
            config: Arc::new(config),
        })
    }
}

/// What the start-up check learned of the pre-request function.
pub(crate) enum PreRequestFacts {
    /// No function of that name without arguments (or none the login role may see).
    Missing,
    /// A procedure.
    Procedure,
    /// A request role may not call it (or the login role may not see its schema).
    NotCallable,
    /// Every request role may call it.
    Callable,
}

/// A role's facts: its name, whether it exists, is a superuser, bypasses RLS, and may be
/// become by the login role.
pub(crate) type RoleFacts = (String, bool, bool, bool, bool);

/// What a client asks the catalog at start-up, the same SQL (`sql.rs`) on each.
pub(crate) trait Catalog {
    /// For each role: its name, whether it exists, is a superuser, bypasses RLS, and may be
    /// become by the login role ([`sql::ROLE_FACTS`]).
    fn role_facts(
        &self,
        roles: &[String],
    ) -> impl std::future::Future<Output = Result<Vec<RoleFacts>, RlsConfigError>> + Send;

    /// The pre-request function `qualified` checked for the request `roles`
    /// ([`sql::PRE_REQUEST_CHECK`]).
    fn pre_request_facts(
        &self,
        qualified: &str,
        roles: &[String],
    ) -> impl std::future::Future<Output = Result<PreRequestFacts, RlsConfigError>> + Send;

    /// Whether the login role is confined ([`sql::LOGIN_CONFINED`]).
    fn login_confined(
        &self,
    ) -> impl std::future::Future<Output = Result<bool, RlsConfigError>> + Send;

    /// The roles' own settings, in order ([`sql::ROLE_SETTINGS`]).
    fn role_settings(
        &self,
        roles: &[String],
    ) -> impl std::future::Future<Output = Result<Vec<(String, String, String)>, RlsConfigError>> + Send;
}

/// The facts of [`sql::PRE_REQUEST_CHECK`]'s row (`None`: no row).
pub(crate) fn pre_request_facts(row: Option<(bool, Vec<String>)>) -> PreRequestFacts {
    match row {
        None => PreRequestFacts::Missing,
        Some((false, _)) => PreRequestFacts::Procedure,
        Some((true, refused)) if !refused.is_empty() => PreRequestFacts::NotCallable,
        Some(_) => PreRequestFacts::Callable,
    }
}

impl Catalog for PgPool {
    async fn role_facts(&self, roles: &[String]) -> Result<Vec<RoleFacts>, RlsConfigError> {
        sqlx::query_as(sql::ROLE_FACTS)
            .bind(roles)
            .fetch_all(self)
            .await
            .map_err(RlsConfigError::Database)
    }

    async fn pre_request_facts(
        &self,
        qualified: &str,
        roles: &[String],
    ) -> Result<PreRequestFacts, RlsConfigError> {
        let row = sqlx::query_as(sql::PRE_REQUEST_CHECK)
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
            Err(e) => Err(RlsConfigError::Database(e)),
        }
    }

    async fn login_confined(&self) -> Result<bool, RlsConfigError> {
        let confined: Option<bool> = sqlx::query_scalar(sql::LOGIN_CONFINED)
            .fetch_optional(self)
            .await
            .map_err(RlsConfigError::Database)?;
        Ok(confined.unwrap_or(false))
    }

    async fn role_settings(
        &self,
        roles: &[String],
    ) -> Result<Vec<(String, String, String)>, RlsConfigError> {
        sqlx::query_as(sql::ROLE_SETTINGS)
            .bind(roles)
            .fetch_all(self)
            .await
            .map_err(RlsConfigError::Database)
    }
}

/// A transaction scoped to one caller: query it (it derefs to a [`PgConnection`]), then
/// [`commit`](ScopedTx::commit) or [`rollback`](ScopedTx::rollback). Dropped without either,
/// it rolls back. Either way the role and claims end with it.
///
/// # Examples
///
/// ```no_run
/// # async fn run(mut tx: supagate_postgres::ScopedTx) -> Result<(), sqlx::Error> {
/// let uid: Option<uuid::Uuid> = sqlx::query_scalar("select auth.uid()").fetch_one(&mut *tx).await?;
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
    #[must_use]
    pub fn role(&self) -> &DbRole {
        &self.role
    }

    /// Commits.
    ///
    /// # Errors
    ///
    /// What the database answered.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    /// Rolls back.
    ///
    /// # Errors
    ///
    /// What the database answered.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }

    /// The sqlx transaction itself.
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
