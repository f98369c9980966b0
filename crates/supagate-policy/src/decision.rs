//! [`Decision`]: the outcome of a policy check; [`Denial`] and its [`Failure`] when it refuses.

use std::fmt;

use http::StatusCode;

use supagate_core::RequestError as _;

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
    pub(crate) failure: Failure,
    /// For [`Failure::Scope`]: the scopes the requirement names that the token lacks.
    pub(crate) scope: Option<String>,
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

impl supagate_core::RequestError for Denial {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allowed_decision_is_ok_and_a_denial_carries_its_failure() {
        assert!(Decision::Allow.is_allowed());
        assert_eq!(Decision::Allow.into_result(), Ok(()));
        let denial = Denial {
            failure: Failure::Anonymous,
            scope: None,
        };
        let d = Decision::Deny(denial.clone());
        assert!(!d.is_allowed());
        assert_eq!(d.into_result(), Err(denial.clone()));
        assert_eq!(denial.status(), StatusCode::FORBIDDEN);
        assert_eq!(denial.failure(), &Failure::Anonymous);
        assert_eq!(denial.scope(), None);
    }
}
