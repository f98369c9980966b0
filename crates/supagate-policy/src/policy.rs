//! Role sources, requirements, policies and decisions.

use std::collections::BTreeMap;
use std::fmt;
use supagate_core::RequestError as _;

use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use supagate_jwt::{Aal, Claims};
use supagate_jwt::{Clock as _, SystemClock};

use crate::error::PolicyError;

/// Where app roles are read from. There is deliberately no way to name `user_metadata` (users
/// can edit it) or the top-level `role` claim (the Postgres role).
///
/// Values are compared byte for byte: no trimming, case folding or Unicode normalisation. A value
/// of the wrong JSON type (a number, an object, an array with a non-string) grants nothing.
///
/// # Examples
///
/// ```
/// use supagate_policy::RoleSource;
///
/// let single = RoleSource::AppMetadataRole;                 // app_metadata.role: "admin"
/// let many = RoleSource::AppMetadataRoles;                  // app_metadata.roles: ["admin", "billing"]
/// let nested = RoleSource::app_metadata_path(["org", "role"])?; // app_metadata.org.role
/// let hook = RoleSource::claim("user_role")?;               // a claim a custom access-token hook adds
/// # let _ = (single, many, nested, hook);
/// # Ok::<(), supagate_policy::PolicyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "from", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RoleSource {
    /// `app_metadata.role`, a string (the default).
    #[default]
    AppMetadataRole,
    /// `app_metadata.roles`, an array of strings.
    AppMetadataRoles,
    /// A path inside `app_metadata`, ending at a string or an array of strings.
    AppMetadataPath {
        /// The member names, outermost first.
        path: Vec<String>,
    },
    /// A top-level claim added by a custom access-token hook, a string or an array of strings.
    Claim {
        /// The claim name.
        name: String,
    },
}

impl RoleSource {
    /// A path inside `app_metadata`.
    ///
    /// # Errors
    ///
    /// [`PolicyError::EmptyName`] for an empty path or segment.
    pub fn app_metadata_path<I, S>(path: I) -> Result<Self, PolicyError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let source = RoleSource::AppMetadataPath {
            path: path.into_iter().map(Into::into).collect(),
        };
        source.validate()?;
        Ok(source)
    }

    /// A top-level claim added by a custom access-token hook.
    ///
    /// # Errors
    ///
    /// [`PolicyError::ForbiddenRoleSource`] for `role` (the Postgres role) and `user_metadata`;
    /// [`PolicyError::EmptyName`] for an empty name.
    pub fn claim(name: impl Into<String>) -> Result<Self, PolicyError> {
        let source = RoleSource::Claim { name: name.into() };
        source.validate()?;
        Ok(source)
    }

    fn validate(&self) -> Result<(), PolicyError> {
        match self {
            RoleSource::AppMetadataRole | RoleSource::AppMetadataRoles => Ok(()),
            RoleSource::AppMetadataPath { path } => {
                if path.is_empty() || path.iter().any(String::is_empty) {
                    Err(PolicyError::EmptyName)
                } else {
                    Ok(())
                }
            }
            RoleSource::Claim { name } => match name.as_str() {
                "" => Err(PolicyError::EmptyName),
                // Known claims that are not app roles; `extra` never holds them anyway, but a
                // configuration naming them is a mistake worth refusing loudly.
                "role" | "user_metadata" | "app_metadata" | "aud" | "sub" | "iss" => {
                    Err(PolicyError::ForbiddenRoleSource {
                        source_name: name.clone(),
                    })
                }
                _ => Ok(()),
            },
        }
    }

    /// The value holding the roles, when present.
    #[inline]
    fn value<'c>(&self, claims: &'c Claims) -> Option<&'c Value> {
        match self {
            RoleSource::AppMetadataRole => claims.app_metadata.get("role"),
            RoleSource::AppMetadataRoles => claims.app_metadata.get("roles"),
            RoleSource::AppMetadataPath { path } => {
                let (first, rest) = path.split_first()?;
                let mut v = claims.app_metadata.get(first)?;
                for seg in rest {
                    v = v.as_object()?.get(seg)?;
                }
                Some(v)
            }
            RoleSource::Claim { name } => claims.extra.get(name),
        }
    }

    /// Calls `f` for each role `claims` grant through this source, until it returns true.
    /// Nothing is granted when the value is absent or of the wrong JSON type: `role` must be a
    /// string, `roles` an array of strings, a path or claim either; one non-string element
    /// voids the whole array. No allocation: this runs on every request.
    #[inline]
    fn any_role(&self, claims: &Claims, mut f: impl FnMut(&str) -> bool) -> bool {
        let Some(value) = self.value(claims) else {
            return false;
        };
        match (self, value) {
            (RoleSource::AppMetadataRoles, Value::String(_)) => false,
            (_, Value::String(s)) => f(s),
            (RoleSource::AppMetadataRole, Value::Array(_)) => false,
            (_, Value::Array(items)) => {
                items.iter().all(Value::is_string)
                    && items.iter().any(|i| i.as_str().is_some_and(&mut f))
            }
            _ => false,
        }
    }
}

/// One requirement of a policy. Plain data: build it in code or read it from configuration.
///
/// # Examples
///
/// ```
/// use supagate_policy::Requirement;
///
/// let billing: Requirement = serde_json::from_str(
///     r#"{"all": [{"role": "billing"}, "aal2", {"recent_sign_in": {"max_age_secs": 600}}]}"#,
/// )?;
/// assert_eq!(billing, Requirement::all([
///     Requirement::role("billing"),
///     Requirement::Aal2,
///     Requirement::RecentSignIn { max_age_secs: 600 },
/// ]));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Requirement {
    /// The user has this app role.
    Role(String),
    /// The user has at least one of these roles.
    AnyRole(Vec<String>),
    /// The user has every one of these roles.
    AllRoles(Vec<String>),
    /// One of the user's roles grants this permission (through the policy's role → permissions
    /// table).
    Permission(String),
    /// The session passed MFA (`aal` is `aal2` or higher).
    Aal2,
    /// The user authenticated (an `amr` entry's timestamp) within `max_age_secs`.
    RecentSignIn {
        /// The largest accepted age of the most recent authentication, in seconds.
        max_age_secs: u64,
    },
    /// The user is not anonymous (`is_anonymous` is false).
    Permanent,
    /// The token's `scope` claim (space-separated, as Supabase Auth's OAuth 2.1 server issues
    /// it to third-party clients) contains this scope. A token without `scope` (a first-party
    /// session) has none. A refusal names the missing scopes in the RFC 6750 challenge
    /// (`scope="…"`), so the name must be an RFC 6749 scope token: visible ASCII without `"`
    /// and `\`.
    ///
    /// ```
    /// use supagate_policy::{Policy, Requirement};
    ///
    /// let notes = Policy::builder()
    ///     .require(Requirement::Scope("notes:read".into()))
    ///     .allow_any_oauth_client()
    ///     .build()?;
    /// assert!(Policy::require(Requirement::Scope("two words".into())).is_err());
    /// # let _ = notes;
    /// # Ok::<(), supagate_policy::PolicyError>(())
    /// ```
    Scope(String),
    /// For a token Supabase Auth issued to a third-party OAuth client (a `client_id` claim):
    /// its `scope` contains this scope, as [`Requirement::Scope`]. A first-party session (no
    /// `client_id`) holds it without a scope. The usual requirement of a route that serves
    /// both the app's own users and OAuth clients (an MCP server): the app's users keep their
    /// access, an OAuth client needs the scope the user granted it. Which clients may come at
    /// all is still the policy's `allow_oauth_clients`.
    ///
    /// ```
    /// use supagate_policy::{Policy, Requirement};
    /// use supagate_testkit::{TestKeys, TokenBuilder};
    ///
    /// let policy = Policy::builder()
    ///     .require(Requirement::ClientScope("notes:read".into()))
    ///     .allow_any_oauth_client()
    ///     .build()?;
    /// let keys = TestKeys::new();
    /// let verifier = keys.verifier_at(TokenBuilder::DEFAULT_NOW);
    /// let own_user = verifier.verify(&TokenBuilder::new().sign_es256(&keys))?;
    /// let client = verifier.verify(&TokenBuilder::new().claim("client_id", "mcp").sign_es256(&keys))?;
    /// let granted = verifier.verify(
    ///     &TokenBuilder::new().claim("client_id", "mcp").claim("scope", "openid notes:read").sign_es256(&keys),
    /// )?;
    /// assert!(policy.check(&own_user).is_allowed());
    /// assert!(!policy.check(&client).is_allowed());
    /// assert!(policy.check(&granted).is_allowed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ClientScope(String),
    /// Every requirement holds.
    All(Vec<Requirement>),
    /// At least one requirement holds.
    Any(Vec<Requirement>),
    /// The requirement does not hold.
    Not(Box<Requirement>),
}

impl Requirement {
    /// [`Requirement::Role`].
    #[must_use]
    pub fn role(role: impl Into<String>) -> Self {
        Requirement::Role(role.into())
    }

    /// [`Requirement::All`].
    #[must_use]
    pub fn all(reqs: impl IntoIterator<Item = Requirement>) -> Self {
        Requirement::All(reqs.into_iter().collect())
    }

    /// [`Requirement::Any`].
    #[must_use]
    pub fn any(reqs: impl IntoIterator<Item = Requirement>) -> Self {
        Requirement::Any(reqs.into_iter().collect())
    }

    /// [`Requirement::Not`].
    #[must_use]
    #[allow(clippy::should_implement_trait)]
    pub fn not(req: Requirement) -> Self {
        Requirement::Not(Box::new(req))
    }

    fn validate(&self, permissions: &BTreeMap<String, Vec<String>>) -> Result<(), PolicyError> {
        let names = |v: &[String]| {
            if v.is_empty() {
                Err(PolicyError::EmptyList)
            } else if v.iter().any(String::is_empty) {
                Err(PolicyError::EmptyName)
            } else {
                Ok(())
            }
        };
        match self {
            Requirement::Role(r) if r.is_empty() => Err(PolicyError::EmptyName),
            Requirement::AnyRole(v) | Requirement::AllRoles(v) => names(v),
            Requirement::Permission(p) => {
                if permissions.values().any(|ps| ps.contains(p)) {
                    Ok(())
                } else {
                    Err(PolicyError::UnknownPermission(p.clone()))
                }
            }
            Requirement::All(v) | Requirement::Any(v) => {
                if v.is_empty() {
                    return Err(PolicyError::EmptyList);
                }
                v.iter().try_for_each(|r| r.validate(permissions))
            }
            Requirement::Not(r) => r.validate(permissions),
            Requirement::Scope(scope) | Requirement::ClientScope(scope) => {
                let token = !scope.is_empty()
                    && scope
                        .bytes()
                        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
                if token {
                    Ok(())
                } else {
                    Err(PolicyError::BadScope)
                }
            }
            _ => Ok(()),
        }
    }
}

/// Which requirement failed. Safe to log; [`Denial::description`] is safe to show.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// The Postgres role (`role` claim) is not allowed (by default only `authenticated` is).
    PostgresRole,
    /// Anonymous users are not allowed by this policy.
    Anonymous,
    /// The token was issued to a third-party OAuth client (`client_id`) not allowed here.
    OAuthClient,
    /// A role requirement failed.
    Role,
    /// A permission requirement failed.
    Permission,
    /// MFA (`aal2`) is required.
    Aal2,
    /// A recent sign-in is required.
    RecentSignIn,
    /// A permanent (non-anonymous) account is required.
    Permanent,
    /// A `not` requirement failed (its inner requirement held).
    Not,
    /// A scope requirement failed: the token lacks a scope ([`Denial::scope`] names them).
    Scope,
}

/// A refusal: which requirement failed, mapping to 403 `insufficient_scope`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    failure: Failure,
    /// For [`Failure::Scope`]: the scopes the requirement names that the token lacks.
    scope: Option<String>,
}

impl Denial {
    /// Which requirement failed.
    #[must_use]
    pub fn failure(&self) -> &Failure {
        &self.failure
    }

    /// For a scope refusal, the scopes the policy names that the token lacks, space-separated
    /// (RFC 6750's `scope` attribute; outside a `not`, in the policy's order). `None` for every
    /// other refusal.
    #[must_use]
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }
}

impl std::error::Error for Denial {}

impl supagate_jwt::RequestError for Denial {
    /// 403 Forbidden.
    fn status(&self) -> StatusCode {
        StatusCode::FORBIDDEN
    }
    /// The RFC 6750 error code: always `Some("insufficient_scope")` (an `Option`, as on
    /// every request-time error of the crate family).
    fn error_code(&self) -> Option<&'static str> {
        Some("insufficient_scope")
    }
    /// An `error_description` safe to show the client. Role and permission names are not
    /// revealed.
    fn description(&self) -> &'static str {
        match self.failure {
            Failure::PostgresRole => "role not allowed",
            Failure::Anonymous | Failure::Permanent => "permanent account required",
            Failure::OAuthClient => "client not allowed",
            Failure::Role | Failure::Permission | Failure::Not => "insufficient privileges",
            Failure::Aal2 => "aal2 required",
            Failure::RecentSignIn => "recent sign-in required",
            Failure::Scope => "insufficient scope",
        }
    }
    /// A stable, machine-readable reason for logs and metrics.
    fn reason(&self) -> &'static str {
        match self.failure {
            Failure::PostgresRole => "forbidden_postgres_role",
            Failure::Anonymous => "forbidden_anonymous",
            Failure::OAuthClient => "forbidden_oauth_client",
            Failure::Role => "forbidden_role",
            Failure::Permission => "forbidden_permission",
            Failure::Aal2 => "forbidden_aal2",
            Failure::RecentSignIn => "forbidden_recent_sign_in",
            Failure::Permanent => "forbidden_permanent",
            Failure::Not => "forbidden",
            Failure::Scope => "forbidden_scope",
        }
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

/// The outcome of a policy check.
///
/// Deliberately exhaustive (allow or deny, nothing else); the detail of a denial is in
/// [`Denial`], whose [`Failure`] is `#[non_exhaustive]`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Decision {
    /// Every requirement holds.
    Allow,
    /// A requirement failed.
    Deny(Denial),
}

impl Decision {
    /// Whether access is allowed.
    #[must_use]
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow)
    }

    /// `Ok(())` or the denial.
    ///
    /// # Errors
    ///
    /// The [`Denial`] when access is refused.
    pub fn into_result(self) -> Result<(), Denial> {
        match self {
            Decision::Allow => Ok(()),
            Decision::Deny(d) => Err(d),
        }
    }
}

/// A policy: built once, checked against verified claims on every request.
///
/// Defaults, before any requirement: the Postgres role must be `authenticated` (others only
/// through [`Policy::allow_postgres_roles`]), anonymous users are denied (unless
/// [`Policy::allow_anonymous`]), and tokens of third-party OAuth clients (`client_id` present)
/// are denied (unless [`Policy::allow_oauth_clients`]). `Send + Sync + Clone`, serde-compatible
/// through [`PolicyConfig`].
///
/// # Examples
///
/// ```
/// use supagate_core::RequestError as _;
/// use supagate_policy::{Policy, Requirement};
/// # use supagate_testkit::{TestKeys, TokenBuilder};
/// # let keys = TestKeys::new();
/// # let verifier = keys.verifier_at(TokenBuilder::DEFAULT_NOW);
/// # let verify = |b: TokenBuilder| verifier.verify(&b.sign_es256(&keys)).unwrap();
///
/// // "Admin only"
/// let admin_only = Policy::require(Requirement::role("admin"))?;
/// // "MFA for billing"
/// let billing = Policy::require(Requirement::all([Requirement::role("billing"), Requirement::Aal2]))?;
/// // "Signed in, not anonymous" (the default policy)
/// let signed_in = Policy::authenticated();
///
/// let admin = verify(TokenBuilder::new().claim("app_metadata", serde_json::json!({"role": "admin"})));
/// let user = verify(TokenBuilder::new());
/// let anonymous = verify(TokenBuilder::new().claim("is_anonymous", true));
///
/// assert!(admin_only.check(&admin).is_allowed());
/// assert!(!admin_only.check(&user).is_allowed());
/// assert!(signed_in.check(&user).is_allowed());
/// let denial = signed_in.check(&anonymous).into_result().unwrap_err();
/// assert_eq!(denial.status(), http::StatusCode::FORBIDDEN);
/// assert_eq!(denial.description(), "permanent account required");
/// assert_eq!(billing.check(&admin).into_result().unwrap_err().error_code(), Some("insufficient_scope"));
/// # Ok::<(), supagate_policy::PolicyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    requirement: Option<Requirement>,
    roles_from: RoleSource,
    permissions: BTreeMap<String, Vec<String>>,
    postgres_roles: Vec<String>,
    allow_anonymous: bool,
    oauth_clients: OAuthClients,
    trust_third_party: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum OAuthClients {
    None,
    Listed(Vec<String>),
    All,
}

impl Policy {
    /// Any signed-in, permanent user with the `authenticated` Postgres role and no OAuth
    /// client: the defaults with no further requirement.
    #[must_use]
    pub fn authenticated() -> Self {
        Policy {
            requirement: None,
            roles_from: RoleSource::default(),
            permissions: BTreeMap::new(),
            postgres_roles: vec!["authenticated".to_owned()],
            allow_anonymous: false,
            oauth_clients: OAuthClients::None,
            trust_third_party: false,
        }
    }

    /// The defaults plus `requirement`: `Policy::builder().require(requirement).build()`.
    ///
    /// # Errors
    ///
    /// A [`PolicyError`] for empty names or lists, or a permission no role grants (this policy
    /// has no role table: use [`Policy::builder`] for permissions).
    pub fn require(requirement: Requirement) -> Result<Self, PolicyError> {
        Policy::builder().require(requirement).build()
    }

    /// A builder starting from [`Policy::authenticated`]'s defaults. Its setters can be called
    /// in any order; [`PolicyBuilder::build`] validates the whole policy once.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_policy::{Policy, Requirement, RoleSource};
    ///
    /// // The requirement names a permission before the table that grants it: order is free.
    /// let policy = Policy::builder()
    ///     .require(Requirement::Permission("invoices:write".into()))
    ///     .permissions([("billing", ["invoices:read", "invoices:write"])])
    ///     .roles_from(RoleSource::AppMetadataRoles)
    ///     .build()?;
    /// # let _ = policy;
    ///
    /// // A permission that no role grants is a start-up error, whatever the order.
    /// assert!(Policy::builder()
    ///     .permissions([("support", ["invoices:read"])])
    ///     .require(Requirement::Permission("invoices:write".into()))
    ///     .build()
    ///     .is_err());
    /// # Ok::<(), supagate_policy::PolicyError>(())
    /// ```
    pub fn builder() -> PolicyBuilder {
        PolicyBuilder {
            policy: Policy::authenticated(),
        }
    }

    /// Where roles are read from. Default: [`RoleSource::AppMetadataRole`].
    #[must_use]
    pub fn roles_from(mut self, source: RoleSource) -> Self {
        self.roles_from = source;
        self
    }

    /// Postgres roles (`role` claim) allowed besides `authenticated`, for example
    /// `service_role` on an internal route. Default: only `authenticated`.
    #[must_use]
    pub fn allow_postgres_roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.postgres_roles
            .extend(roles.into_iter().map(Into::into));
        self
    }

    /// Lets anonymous users (`is_anonymous: true`) through. Default: denied.
    #[must_use]
    pub fn allow_anonymous(mut self) -> Self {
        self.allow_anonymous = true;
        self
    }

    /// Lets tokens of these third-party OAuth clients (`client_id`) through. Default: none.
    #[must_use]
    pub fn allow_oauth_clients<I, S>(mut self, client_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut list = match std::mem::replace(&mut self.oauth_clients, OAuthClients::None) {
            OAuthClients::Listed(l) => l,
            _ => Vec::new(),
        };
        list.extend(client_ids.into_iter().map(Into::into));
        self.oauth_clients = OAuthClients::Listed(list);
        self
    }

    /// Lets tokens of any third-party OAuth client through. Default: none.
    #[must_use]
    pub fn allow_any_oauth_client(mut self) -> Self {
        self.oauth_clients = OAuthClients::All;
        self
    }

    /// Reads app roles, permissions, `aal` and `amr` from the tokens of third-party issuers
    /// (`IssuedBy::ThirdParty`: Clerk, Auth0, Firebase, …) as from the project's own.
    /// Default: not trusted. Supabase Auth alone writes `app_metadata`, `aal` and `amr` of the
    /// project's tokens; in a provider's token they are whatever the provider, or a token
    /// template someone configured in it, wrote (a template that copies user-editable
    /// metadata into `app_metadata` makes every user an admin). So by default
    /// [`Requirement::Role`], `AnyRole`, `AllRoles`, `Permission`, `Aal2`, `RecentSignIn` and
    /// `Scope` are never met by a third-party token, `ClientScope` only by one without a
    /// `client_id`, and a third-party token with a `client_id` is refused whatever
    /// [`Policy::allow_oauth_clients`] lists (the project's OAuth clients are Supabase
    /// Auth's; a provider can write any `client_id` and `scope`). Requirements that need none
    /// of these (`Permanent`, no requirement) apply as usual. A provider whose access tokens
    /// always carry a `client_id` (Amazon Cognito's) is refused unless trusted this way.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_jwt::{FixedClock, ThirdPartyIssuer};
    /// use supagate_policy::{Policy, Requirement};
    /// use supagate_testkit::{MockOidc, TestKeys, TokenBuilder};
    ///
    /// let verifier = TestKeys::new()
    ///     .verifier_builder()
    ///     .third_party_issuer(
    ///         ThirdPartyIssuer::new("https://clerk.example.com")
    ///             .audience(MockOidc::AUDIENCE)
    ///             .jwk_set(MockOidc::jwk_set()),
    ///     )
    ///     .clock(FixedClock::new(TokenBuilder::DEFAULT_NOW))
    ///     .build()?;
    /// let admin = TokenBuilder::third_party("https://clerk.example.com")
    ///     .claim("app_metadata", serde_json::json!({"role": "admin"}))
    ///     .sign_provider();
    /// let claims = verifier.verify(&admin)?;
    ///
    /// let admins = Policy::require(Requirement::role("admin"))?;
    /// assert!(!admins.check(&claims).is_allowed());
    /// assert!(admins.trust_third_party_claims().check(&claims).is_allowed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn trust_third_party_claims(mut self) -> Self {
        self.trust_third_party = true;
        self
    }

    /// Checks verified claims, with the [`SystemClock`] for [`Requirement::RecentSignIn`].
    /// Code that holds a verifier should call [`Policy::check_at`] with
    /// [`Verifier::now`](supagate_jwt::Verifier::now) instead, as the `Authenticator` does, so
    /// that a pinned clock pins the policy too.
    pub fn check(&self, claims: &Claims) -> Decision {
        self.check_at(claims, SystemClock.now())
    }

    /// Checks verified claims at `now` (seconds since the epoch, the verifier's clock).
    pub fn check_at(&self, claims: &Claims, now: i64) -> Decision {
        let deny = |failure| {
            Decision::Deny(Denial {
                failure,
                scope: None,
            })
        };
        let pg_ok = claims
            .postgres_role
            .as_deref()
            .is_some_and(|r| self.postgres_roles.iter().any(|a| a == r));
        if !pg_ok {
            return deny(Failure::PostgresRole);
        }
        if claims.is_anonymous && !self.allow_anonymous {
            return deny(Failure::Anonymous);
        }
        // A `client_id` only names one of the project's OAuth clients in a token Supabase Auth
        // issued; in a third-party issuer's token it is whatever the provider wrote, and is
        // trusted (here and for `scope`) only as its roles are: with
        // `trust_third_party_claims`.
        if let Some(client) = &claims.client_id {
            let ok = self.trusts(claims)
                && match &self.oauth_clients {
                    OAuthClients::None => false,
                    OAuthClients::All => true,
                    OAuthClients::Listed(l) => l.iter().any(|c| c == client),
                };
            if !ok {
                return deny(Failure::OAuthClient);
            }
        }
        match &self.requirement {
            None => Decision::Allow,
            Some(r) => match self.eval(r, claims, now) {
                Ok(()) => Decision::Allow,
                Err(Failure::Scope) => {
                    let mut missing = Vec::new();
                    missing_scopes(r, claims, &mut missing);
                    Decision::Deny(Denial {
                        failure: Failure::Scope,
                        scope: (!missing.is_empty()).then(|| missing.join(" ")),
                    })
                }
                Err(failure) => deny(failure),
            },
        }
    }

    /// Whether the claims only Supabase Auth writes in the project's tokens (`app_metadata`,
    /// `aal`, `amr`, `client_id`, `scope`) are believed for these claims.
    #[inline]
    fn trusts(&self, claims: &Claims) -> bool {
        self.trust_third_party || claims.issued_by == supagate_jwt::IssuedBy::Supabase
    }

    #[inline]
    fn has_role(&self, claims: &Claims, role: &str) -> bool {
        self.roles_from.any_role(claims, |r| r == role)
    }

    fn eval(&self, r: &Requirement, claims: &Claims, now: i64) -> Result<(), Failure> {
        let check = |ok: bool, f: Failure| if ok { Ok(()) } else { Err(f) };
        // What only Supabase Auth writes in the project's tokens.
        let trusted = self.trusts(claims);
        match r {
            Requirement::Role(role) => check(trusted && self.has_role(claims, role), Failure::Role),
            Requirement::AnyRole(roles) => check(
                trusted && roles.iter().any(|r| self.has_role(claims, r)),
                Failure::Role,
            ),
            Requirement::AllRoles(roles) => check(
                trusted && roles.iter().all(|r| self.has_role(claims, r)),
                Failure::Role,
            ),
            Requirement::Permission(p) => {
                let granted = trusted
                    && self.roles_from.any_role(claims, |r| {
                        self.permissions.get(r).is_some_and(|ps| ps.contains(p))
                    });
                check(granted, Failure::Permission)
            }
            Requirement::Aal2 => check(
                trusted && claims.aal.is_some_and(|a| a >= Aal::Aal2),
                Failure::Aal2,
            ),
            Requirement::RecentSignIn { .. } if !trusted => Err(Failure::RecentSignIn),
            Requirement::RecentSignIn { max_age_secs } => {
                let latest = claims.amr.iter().filter_map(|e| e.timestamp).max();
                let max = i64::try_from(*max_age_secs).unwrap_or(i64::MAX);
                check(
                    latest.is_some_and(|t| t <= now && now.saturating_sub(t) <= max),
                    Failure::RecentSignIn,
                )
            }
            Requirement::Permanent => check(!claims.is_anonymous, Failure::Permanent),
            Requirement::Scope(scope) => check(trusted && has_scope(claims, scope), Failure::Scope),
            Requirement::ClientScope(scope) => check(
                claims.client_id.is_none() || (trusted && has_scope(claims, scope)),
                Failure::Scope,
            ),
            Requirement::All(rs) => {
                for r in rs {
                    self.eval(r, claims, now)?;
                }
                Ok(())
            }
            Requirement::Any(rs) => {
                let mut first = None;
                for r in rs {
                    match self.eval(r, claims, now) {
                        Ok(()) => return Ok(()),
                        Err(f) => {
                            first.get_or_insert(f);
                        }
                    }
                }
                Err(first.unwrap_or(Failure::Role))
            }
            Requirement::Not(inner) => match self.eval(inner, claims, now) {
                Ok(()) => Err(Failure::Not),
                Err(_) => Ok(()),
            },
        }
    }
}

/// A policy as configuration (serde): what [`Policy::from_config`] reads.
///
/// # Examples
///
/// ```
/// use supagate_policy::{Policy, PolicyConfig};
///
/// let cfg: PolicyConfig = serde_json::from_str(r#"{
///     "require": {"permission": "invoices:write"},
///     "roles_from": {"from": "app_metadata_roles"},
///     "permissions": {"billing": ["invoices:read", "invoices:write"], "support": ["invoices:read"]}
/// }"#)?;
/// let policy = Policy::from_config(cfg)?;
/// # let _ = policy;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PolicyConfig {
    /// The requirement (none: signed-in users only).
    #[serde(default)]
    pub require: Option<Requirement>,
    /// Where roles come from (default: `app_metadata.role`).
    #[serde(default)]
    pub roles_from: RoleSource,
    /// Role → permissions.
    #[serde(default)]
    pub permissions: BTreeMap<String, Vec<String>>,
    /// Postgres roles allowed besides `authenticated`.
    #[serde(default)]
    pub allow_postgres_roles: Vec<String>,
    /// Allow anonymous users.
    #[serde(default)]
    pub allow_anonymous: bool,
    /// Allowed OAuth client ids (`["*"]` for any).
    #[serde(default)]
    pub allow_oauth_clients: Vec<String>,
    /// Read app roles, `aal` and `amr` from third-party issuers' tokens too
    /// ([`Policy::trust_third_party_claims`]).
    #[serde(default)]
    pub trust_third_party_claims: bool,
}

impl Policy {
    /// Builds a policy from configuration, validating it.
    ///
    /// # Errors
    ///
    /// A [`PolicyError`] for a forbidden role source, empty names or lists, or unknown
    /// permissions.
    pub fn from_config(cfg: PolicyConfig) -> Result<Self, PolicyError> {
        let mut b = Policy::builder()
            .roles_from(cfg.roles_from)
            .permissions(cfg.permissions)
            .allow_postgres_roles(cfg.allow_postgres_roles);
        if cfg.allow_anonymous {
            b = b.allow_anonymous();
        }
        if cfg.trust_third_party_claims {
            b = b.trust_third_party_claims();
        }
        if cfg.allow_oauth_clients.iter().any(|c| c == "*") {
            b = b.allow_any_oauth_client();
        } else if !cfg.allow_oauth_clients.is_empty() {
            b = b.allow_oauth_clients(cfg.allow_oauth_clients);
        }
        if let Some(r) = cfg.require {
            b = b.require(r);
        }
        b.build()
    }
}

/// Whether the space-separated `scope` claim holds `scope` (exactly, case-sensitively).
fn has_scope(claims: &Claims, scope: &str) -> bool {
    claims
        .scope
        .as_deref()
        .is_some_and(|s| s.split(' ').any(|t| t == scope))
}

/// The scopes `r` names, outside a `not`, that the token lacks, each once.
fn missing_scopes<'a>(r: &'a Requirement, claims: &Claims, out: &mut Vec<&'a str>) {
    match r {
        Requirement::Scope(s) if !has_scope(claims, s) && !out.contains(&s.as_str()) => {
            out.push(s);
        }
        Requirement::ClientScope(s)
            if claims.client_id.is_some()
                && !has_scope(claims, s)
                && !out.contains(&s.as_str()) =>
        {
            out.push(s);
        }
        Requirement::All(rs) | Requirement::Any(rs) => {
            rs.iter().for_each(|r| missing_scopes(r, claims, out));
        }
        _ => {}
    }
}

fn permission_table<I, R, P, S>(table: I) -> BTreeMap<String, Vec<String>>
where
    I: IntoIterator<Item = (R, P)>,
    R: Into<String>,
    P: IntoIterator<Item = S>,
    S: Into<String>,
{
    table
        .into_iter()
        .map(|(r, ps)| (r.into(), ps.into_iter().map(Into::into).collect()))
        .collect()
}

/// Builds a [`Policy`]: the setters only record (any order, any number of times; the last call
/// wins, the `allow_*` lists add up), and [`build`](PolicyBuilder::build) validates the whole
/// policy once. Made by [`Policy::builder`].
///
/// # Examples
///
/// ```
/// use supagate_policy::{Policy, Requirement};
///
/// let internal = Policy::builder()
///     .require(Requirement::role("ops"))
///     .allow_postgres_roles(["service_role"])
///     .build()?;
/// # let _ = internal;
/// # Ok::<(), supagate_policy::PolicyError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct PolicyBuilder {
    policy: Policy,
}

impl PolicyBuilder {
    /// The requirement (default: none beyond the base checks).
    pub fn require(mut self, requirement: Requirement) -> Self {
        self.policy.requirement = Some(requirement);
        self
    }

    /// Where roles are read from. Default: [`RoleSource::AppMetadataRole`].
    pub fn roles_from(mut self, source: RoleSource) -> Self {
        self.policy.roles_from = source;
        self
    }

    /// The role → permissions table used by [`Requirement::Permission`]. Default: empty.
    pub fn permissions<I, R, P, S>(mut self, table: I) -> Self
    where
        I: IntoIterator<Item = (R, P)>,
        R: Into<String>,
        P: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.policy.permissions = permission_table(table);
        self
    }

    /// As [`Policy::allow_postgres_roles`].
    pub fn allow_postgres_roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.policy = self.policy.allow_postgres_roles(roles);
        self
    }

    /// As [`Policy::allow_anonymous`].
    pub fn allow_anonymous(mut self) -> Self {
        self.policy = self.policy.allow_anonymous();
        self
    }

    /// As [`Policy::allow_oauth_clients`].
    pub fn allow_oauth_clients<I, S>(mut self, client_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.policy = self.policy.allow_oauth_clients(client_ids);
        self
    }

    /// As [`Policy::allow_any_oauth_client`].
    pub fn allow_any_oauth_client(mut self) -> Self {
        self.policy = self.policy.allow_any_oauth_client();
        self
    }

    /// As [`Policy::trust_third_party_claims`].
    pub fn trust_third_party_claims(mut self) -> Self {
        self.policy = self.policy.trust_third_party_claims();
        self
    }

    /// Validates the policy: the role source, every name and list of the requirement, and
    /// every permission it names against the role table.
    ///
    /// # Errors
    ///
    /// A [`PolicyError`] naming the first problem.
    pub fn build(self) -> Result<Policy, PolicyError> {
        let p = self.policy;
        p.roles_from.validate()?;
        if let Some(r) = &p.requirement {
            r.validate(&p.permissions)?;
        }
        Ok(p)
    }
}
