//! [`Requirement`]: what a policy asks of a token (roles, permissions, AAL, recent sign-in,
//! OAuth scopes), and how it is validated.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use supagate_jwt::Claims;

use crate::error::PolicyError;

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

    pub(crate) fn validate(
        &self,
        permissions: &BTreeMap<String, Vec<String>>,
    ) -> Result<(), PolicyError> {
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

/// Whether the space-separated `scope` claim holds `scope` (exactly, case-sensitively).
pub(crate) fn has_scope(claims: &Claims, scope: &str) -> bool {
    claims
        .scope
        .as_deref()
        .is_some_and(|s| s.split(' ').any(|t| t == scope))
}

/// The scopes `r` names, outside a `not`, that the token lacks, each once.
pub(crate) fn missing_scopes<'a>(r: &'a Requirement, claims: &Claims, out: &mut Vec<&'a str>) {
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

#[cfg(test)]
mod tests {
    use serde_json::json;
    use supagate_testkit::{TestKeys, TokenBuilder};

    use super::*;

    fn claims(scope: Option<&str>, client: bool) -> Claims {
        let keys = TestKeys::new();
        let mut t = TokenBuilder::new();
        if let Some(s) = scope {
            t = t.claim("scope", json!(s));
        }
        if client {
            t = t.claim("client_id", json!("third-party"));
        }
        keys.verifier_at(TokenBuilder::DEFAULT_NOW)
            .verify(&t.sign_es256(&keys))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn scopes_match_whole_words_exactly() {
        let c = claims(Some("invoices:read  profile"), false);
        assert!(has_scope(&c, "invoices:read"));
        assert!(has_scope(&c, "profile"));
        assert!(!has_scope(&c, "invoices"));
        assert!(!has_scope(&c, "Profile"));
        assert!(!has_scope(&claims(None, false), "profile"));
    }

    #[test]
    fn missing_scopes_are_listed_once_and_never_from_inside_a_not() {
        let r = Requirement::all([
            Requirement::Scope("a".into()),
            Requirement::any([
                Requirement::Scope("a".into()),
                Requirement::Scope("b".into()),
            ]),
            Requirement::not(Requirement::Scope("c".into())),
            Requirement::ClientScope("d".into()),
        ]);
        let mut out = Vec::new();
        missing_scopes(&r, &claims(None, false), &mut out);
        assert_eq!(out, ["a", "b"]);
        // A client scope is asked of OAuth clients only.
        let mut out = Vec::new();
        missing_scopes(&r, &claims(Some("b"), true), &mut out);
        assert_eq!(out, ["a", "d"]);
    }

    #[test]
    fn a_permission_must_be_granted_by_the_table() {
        let table: BTreeMap<String, Vec<String>> =
            [("billing".to_owned(), vec!["invoices:read".to_owned()])].into();
        assert!(
            Requirement::Permission("invoices:read".into())
                .validate(&table)
                .is_ok()
        );
        assert!(
            Requirement::Permission("invoices:write".into())
                .validate(&table)
                .is_err()
        );
    }
}
