//! Policy configuration errors.

/// Why a [`Policy`](crate::Policy) could not be built.
///
/// # Examples
///
/// ```
/// use supagate_policy::{PolicyError, RoleSource};
///
/// // The top-level `role` claim is the Postgres role, never an app role.
/// assert!(matches!(RoleSource::claim("role"), Err(PolicyError::ForbiddenRoleSource { .. })));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A role source that users can edit (`user_metadata`) or that is not an app role (the
    /// top-level `role`, which is the Postgres role).
    #[error("roles cannot be read from `{source_name}`")]
    ForbiddenRoleSource {
        /// The refused claim name.
        source_name: String,
    },
    /// An empty role name, claim name or path segment.
    #[error("empty name in policy configuration")]
    EmptyName,
    /// An `any`/`all`/`any_role`/`all_roles` requirement with nothing inside.
    #[error("empty requirement list in policy configuration")]
    EmptyList,
    /// A permission that no role in the table grants.
    #[error("permission `{0}` is granted by no role")]
    UnknownPermission(String),
    /// A scope that is empty or not an RFC 6749 scope token (visible ASCII without space, `"`
    /// or `\`).
    #[error(
        "a scope must be a non-empty RFC 6749 scope token (visible ASCII without space, quote or backslash)"
    )]
    BadScope,
}
