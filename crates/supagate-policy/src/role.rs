//! [`RoleSource`]: where a token's app roles are read from (never `user_metadata`, never the
//! top-level `role` claim).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use supagate_jwt::Claims;

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

    pub(crate) fn validate(&self) -> Result<(), PolicyError> {
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
    pub(crate) fn any_role(&self, claims: &Claims, mut f: impl FnMut(&str) -> bool) -> bool {
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

#[cfg(test)]
mod tests {
    use serde_json::json;
    use supagate_testkit::{TestKeys, TokenBuilder};

    use super::*;

    fn claims(extra: &[(&str, Value)]) -> Claims {
        let keys = TestKeys::new();
        let mut t = TokenBuilder::new();
        for (name, value) in extra {
            t = t.claim(name, value.clone());
        }
        keys.verifier_at(TokenBuilder::DEFAULT_NOW)
            .verify(&t.sign_es256(&keys))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn roles(source: &RoleSource, c: &Claims) -> Vec<String> {
        let mut out = Vec::new();
        source.any_role(c, |r| {
            out.push(r.to_owned());
            false
        });
        out
    }

    #[test]
    fn each_source_reads_only_its_own_shape() {
        let c = claims(&[
            (
                "app_metadata",
                json!({"role": "admin", "roles": ["a", "b"], "org": {"role": "owner"}}),
            ),
            ("user_role", json!("hooked")),
            ("user_metadata", json!({"role": "admin"})),
        ]);
        assert_eq!(roles(&RoleSource::AppMetadataRole, &c), ["admin"]);
        assert_eq!(roles(&RoleSource::AppMetadataRoles, &c), ["a", "b"]);
        let path = RoleSource::app_metadata_path(["org", "role"]).unwrap_or_default();
        assert_eq!(roles(&path, &c), ["owner"]);
        let hook = RoleSource::claim("user_role").unwrap_or_default();
        assert_eq!(roles(&hook, &c), ["hooked"]);
    }

    #[test]
    fn a_value_of_the_wrong_type_grants_nothing() {
        for app_metadata in [
            json!({"role": ["admin"]}),
            json!({"role": 1}),
            json!({"role": {"name": "admin"}}),
            json!({"roles": "admin"}),
            json!({"roles": ["admin", 1]}),
            json!({"role": null}),
        ] {
            let c = claims(&[("app_metadata", app_metadata.clone())]);
            assert!(
                roles(&RoleSource::AppMetadataRole, &c).is_empty(),
                "{app_metadata}"
            );
            assert!(
                roles(&RoleSource::AppMetadataRoles, &c).is_empty(),
                "{app_metadata}"
            );
        }
    }

    #[test]
    fn user_editable_and_postgres_claims_are_never_a_role_source() {
        for name in ["role", "user_metadata", "app_metadata", "aud", "sub", "iss"] {
            assert!(matches!(
                RoleSource::claim(name),
                Err(PolicyError::ForbiddenRoleSource { .. })
            ));
        }
        assert_eq!(RoleSource::claim(""), Err(PolicyError::EmptyName));
        assert!(RoleSource::app_metadata_path(Vec::<String>::new()).is_err());
        assert!(RoleSource::app_metadata_path(["org", ""]).is_err());
        // Deserialised configuration goes through the same check when a policy is built.
        let parsed: RoleSource =
            serde_json::from_value(json!({"from": "claim", "name": "role"})).unwrap_or_default();
        assert!(parsed.validate().is_err());
    }
}
