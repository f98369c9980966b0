//! [`Policy`]: built once (directly, from [`PolicyConfig`], or with [`PolicyBuilder`]),
//! checked against verified claims on every request.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use supagate_jwt::{Aal, Claims};
use supagate_jwt::{Clock as _, SystemClock};

use crate::error::PolicyError;

use crate::decision::{Decision, Denial, Failure};
use crate::requirement::{Requirement, has_scope, missing_scopes};
use crate::role::RoleSource;

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
