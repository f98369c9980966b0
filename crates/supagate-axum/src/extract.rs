//! The [`Authenticated`] extractor and its rejection.

use std::fmt;

use axum_core::body::Body;
use axum_core::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use serde::de::DeserializeOwned;
use supagate_auth::{AuthError, Authenticator, Refusal, Rejection};

/// The verified claims of the request's access token: Supabase's
/// [`supagate_jwt::Claims`] by default, or your own `Deserialize` type.
///
/// The [`Authenticator`](supagate_auth::Authenticator) comes from router state through [`FromRef`] (the state can be the
/// authenticator itself, or a struct with `#[derive(FromRef)]`). When a [`RequireLayer`]
/// already verified the token, its result is reused and nothing is verified twice.
///
/// - `Authenticated<T>`: the request must carry a good token; otherwise the handler is not called and
///   the client gets the RFC 6750 refusal (401 without a token, 400 for a malformed
///   `Authorization`, 401 `invalid_token` for a bad one, 503 while keys are unavailable).
/// - Either way the authenticator's base policy applies: a token whose Postgres role is not
///   `authenticated` (`service_role`, `anon`) or that was issued to a third-party OAuth client
///   is refused with 403 unless the [`Authenticator`](supagate_auth::Authenticator) allows it
///   (`AuthenticatorBuilder::allow_postgres_roles`, `allow_oauth_clients`). Anonymous users are
///   admitted. Behind a [`RequireLayer`], the layer's policy decides instead.
/// - A token whose key is being fetched (a rotation) waits for that fetch asynchronously; the
///   worker thread serves other requests meanwhile.
/// - `Option<Authenticated<T>>`: anonymous access is allowed (`None` without credentials), but a
///   present and bad token is still refused.
///
/// [`RequireLayer`]: crate::RequireLayer
///
/// # Examples
///
/// ```
/// use axum::{Router, routing::get};
/// use supagate_auth::Authenticator;
/// use supagate_axum::Authenticated;
/// use supagate_jwt::{Hs256Secret, Verifier};
///
/// async fn me(Authenticated(claims): Authenticated) -> String {
///     claims.sub.to_string()
/// }
///
/// async fn greeting(claims: Option<Authenticated>) -> String {
///     match claims {
///         Some(Authenticated(c)) => format!("hello {}", c.email.unwrap_or_default()),
///         None => "hello stranger".to_owned(),
///     }
/// }
///
/// let verifier = Verifier::from_supabase_url("https://abcdefghijklmnopqrst.supabase.co")
///     .hs256_secret(Hs256Secret::new("an-example-secret-of-at-least-32-bytes")?)
///     .build()?;
/// let app: Router = Router::new()
///     .route("/me", get(me))
///     .route("/hello", get(greeting))
///     .with_state(Authenticator::new(verifier));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Your own claim type (the registered claims are still validated first):
///
/// ```
/// use axum::{Router, routing::get};
/// use supagate_auth::Authenticator;
/// use supagate_axum::Authenticated;
/// # use supagate_jwt::{Hs256Secret, Verifier};
///
/// #[derive(serde::Deserialize)]
/// struct Mine {
///     sub: String,
///     app_metadata: serde_json::Value,
/// }
///
/// async fn whoami(Authenticated(mine): Authenticated<Mine>) -> String {
///     format!("{} ({})", mine.sub, mine.app_metadata["role"])
/// }
/// # let verifier = Verifier::builder()
/// #     .hs256_secret(Hs256Secret::new("an-example-secret-of-at-least-32-bytes")?)
/// #     .build()?;
/// let app: Router = Router::new()
///     .route("/whoami", get(whoami))
///     .with_state(Authenticator::new(verifier));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Authenticated<T = supagate_jwt::Claims>(pub T);

impl<S, T> FromRequestParts<S> for Authenticated<T>
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
    T: DeserializeOwned + Send + 'static,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Authenticator::from_ref(state);
        match extract(&auth, parts).await {
            Ok(Some(t)) => Ok(Authenticated(t)),
            Ok(None) => Err(AuthRejection::new(&auth, AuthError::MissingCredentials)),
            Err(e) => Err(AuthRejection::new(&auth, e)),
        }
    }
}

impl<S, T> OptionalFromRequestParts<S> for Authenticated<T>
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
    T: DeserializeOwned + Send + 'static,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let auth = Authenticator::from_ref(state);
        extract(&auth, parts)
            .await
            .map(|t| t.map(Authenticated))
            .map_err(|e| AuthRejection::new(&auth, e))
    }
}

/// The user a gate admitted, or else the request's own under the base policy: the rules of
/// [`Admission`](supagate_auth::Admission).
pub(crate) async fn extract<T: DeserializeOwned + 'static>(
    auth: &Authenticator,
    parts: &Parts,
) -> Result<Option<T>, AuthError> {
    supagate_auth::Admission::read_user(parts.extensions.get())
        .resolve(auth, &parts.headers)
        .await?
        .map(|v| v.into_typed::<T>().map_err(AuthError::Token))
        .transpose()
}

/// Why an extractor or the policy layer refused the request: a [`Rejection`](supagate_auth::Rejection) that
/// answers with its RFC 6750 refusal. Dereferences to the [`Rejection`](supagate_auth::Rejection) (`.error()`,
/// `.refusal()`).
///
/// Its `Debug` shows the error (safe to log), never the token.
#[derive(Debug)]
pub struct AuthRejection(pub Rejection);

impl AuthRejection {
    /// The rejection of `error`, rendered by `auth` (its realm and body).
    #[must_use]
    pub fn new(auth: &Authenticator, error: AuthError) -> Self {
        AuthRejection(auth.reject(error))
    }
}

impl std::ops::Deref for AuthRejection {
    type Target = Rejection;

    fn deref(&self) -> &Rejection {
        &self.0
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for AuthRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        refusal_response(self.0.into_refusal())
    }
}

fn refusal_response(refusal: Refusal) -> Response {
    refusal.into_response().map(Body::from)
}
