#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod body;
mod layer;
mod metadata;
mod status;

pub use body::Watched;
pub use layer::{GateFuture, GateLayer, GateService, MethodRuleError};
pub use metadata::Metadata;
pub use status::{code_for, status};

use supagate_auth::{Admission, AuthError, Authenticator, Caller};
use supagate_jwt::Verified;

/// The verified user of a request, for a handler: the one its gate admitted (a copy of the
/// verified token), no user when the gate admitted a key or anyone, or, without a gate on the
/// service, a fresh verification of the request's metadata by the authenticator's defaults.
/// What `Authenticated<T>` / `Option<Authenticated<T>>` are on axum and actix.
///
/// # Errors
///
/// The [`tonic::Status`] of the refusal: `Unauthenticated` for a bad or missing token,
/// `Unavailable` when keys cannot be fetched, … (see [`status`]).
///
/// # Examples
///
/// ```
/// use supagate_auth::Authenticator;
/// use supagate_testkit::{TestKeys, TokenBuilder};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let keys = TestKeys::new();
/// let auth = Authenticator::new(keys.verifier());
/// let mut req = tonic::Request::new(());
/// let token = TokenBuilder::now().sign_es256(&keys);
/// req.metadata_mut().insert("authorization", format!("Bearer {token}").parse()?);
/// let user: Option<supagate_jwt::Claims> = supagate_tonic::user(&auth, &req).await?;
/// assert_eq!(user.map(|c| c.sub.to_string()).as_deref(), Some(TokenBuilder::DEFAULT_SUB));
///
/// let refused = supagate_tonic::user::<supagate_jwt::Claims, _>(&auth, &tonic::Request::new(())).await;
/// assert_eq!(refused.map(|u| u.is_none()).ok(), Some(true)); // no token: no user, not an error
/// # Ok(())
/// # }
/// ```
pub async fn user<T, M>(
    auth: &Authenticator,
    request: &tonic::Request<M>,
) -> Result<Option<T>, tonic::Status>
where
    T: serde::de::DeserializeOwned + 'static,
{
    Admission::read_user(request.extensions().get())
        .resolve(auth, &Metadata::new(request.metadata()))
        .await
        .and_then(|v| {
            v.map(|v| v.into_typed::<T>().map_err(AuthError::Token))
                .transpose()
        })
        .map_err(|e| status(&auth.reject(e)))
}

/// The caller its gate admitted (a user, an API key, anyone), taken out of the request once:
/// what `Admitted` is on axum and actix. Without a gate on the service, the request's
/// metadata decided by the authenticator's default modes.
///
/// # Errors
///
/// The [`tonic::Status`] of the refusal; `Internal` when taken twice in one request.
///
/// # Examples
///
/// ```
/// use supagate_auth::{Authenticator, Gate};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
/// let mut req = tonic::Request::new(());
/// let admission = Gate::modes(auth.clone(), "none".parse()?).decide(&http::HeaderMap::new()).await?;
/// req.extensions_mut().insert(admission);
/// let caller = supagate_tonic::caller(&auth, &mut req).await?;
/// assert_eq!(caller.mode(), "none");
/// assert_eq!(supagate_tonic::caller(&auth, &mut req).await.unwrap_err().code(), tonic::Code::Internal);
/// # Ok(())
/// # }
/// ```
pub async fn caller<M>(
    auth: &Authenticator,
    request: &mut tonic::Request<M>,
) -> Result<Caller<Verified>, tonic::Status> {
    let lookup = Admission::take_caller(request.extensions_mut().get_mut());
    lookup
        .resolve(auth, &Metadata::new(request.metadata()))
        .await
        .map_err(|e| status(&auth.reject(e)))
}
