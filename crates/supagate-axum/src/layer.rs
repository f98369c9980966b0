//! [`RequireLayer`]: a route layer that enforces a role policy.

use std::fmt;

use supagate_auth::tower::{GateLayer, GateService};
use supagate_auth::{Authenticator, Gate};
use supagate_policy::Policy;
use tower_layer::Layer;

/// A layer that verifies the request's token and checks a [`Policy`] before the inner service
/// runs; a refused request never reaches it: a [`Gate::policy`] applied by the generic
/// [`GateLayer`]. The admitted user goes into the request extensions
/// ([`Admission`](supagate_auth::Admission)), where the [`Authenticated`](crate::Authenticated)
/// and [`Admitted`](crate::Admitted) extractors pick it up without verifying again.
///
/// Use it with `Router::route_layer` so that unmatched paths still answer 404.
///
/// # Examples
///
/// ```
/// use axum::{Router, routing::get};
/// use supagate_auth::Authenticator;
/// use supagate_axum::{Authenticated, RequireLayer};
/// use supagate_jwt::{Hs256Secret, Verifier};
/// use supagate_policy::{Policy, Requirement};
///
/// async fn stats(Authenticated(claims): Authenticated) -> String {
///     format!("hello admin {}", claims.sub)
/// }
///
/// let verifier = Verifier::from_supabase_url("https://abcdefghijklmnopqrst.supabase.co")
///     .hs256_secret(Hs256Secret::new("an-example-secret-of-at-least-32-bytes")?)
///     .build()?;
/// let auth = Authenticator::new(verifier);
/// let admins = Policy::require(Requirement::role("admin"))?; // app_metadata.role
///
/// let app: Router = Router::new()
///     .route("/admin/stats", get(stats))
///     .route_layer(RequireLayer::new(auth.clone(), admins))
///     .with_state(auth);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct RequireLayer(GateLayer);

impl RequireLayer {
    /// Enforces `policy`, reading and verifying tokens with `auth`.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::Authenticator;
    /// use supagate_axum::RequireLayer;
    /// use supagate_policy::{Policy, Requirement};
    /// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
    /// let admins = RequireLayer::new(auth, Policy::require(Requirement::role("admin"))?);
    /// # let _ = admins;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn new(auth: Authenticator, policy: Policy) -> Self {
        RequireLayer(GateLayer::new(Gate::policy(auth, policy)))
    }
}

impl fmt::Debug for RequireLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequireLayer").field(&self.0).finish()
    }
}

impl<S> Layer<S> for RequireLayer {
    type Service = GateService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        self.0.layer(inner)
    }
}
