//! [`Admitted`]: the caller a gate admitted (auth modes).

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use serde::de::DeserializeOwned;
use supagate_auth::{Admission, AuthError, Authenticator, Caller, Rejection};
use supagate_jwt::Verified;

use crate::extract::{ActixHeaders, AuthRejection, authenticator};
use crate::middleware::LocalBoxFuture;

/// Who is calling: the [`Caller`] the [`Admit`](crate::Admit) middleware admitted, with a user's claims as
/// `T` (Supabase's [`supagate_jwt::Claims`] by default, or your own `Deserialize` type).
/// Extract it once per request: it is moved out of the request, not copied, and a second
/// extraction answers 500 ([`AuthError::Internal`]) rather than decide again.
///
/// Without a gate on the route, the [`Authenticator`] from `App::app_data` admits the request
/// by its [default modes](supagate_auth::AuthenticatorBuilder::modes) (`user` unless
/// configured), with the same rules and refusals.
///
/// # Examples
///
/// ```
/// use supagate_auth::Caller;
/// use supagate_actix::Admitted;
///
/// async fn ping(Admitted(caller): Admitted) -> String {
///     match caller {
///         Caller::Publishable { key } => format!("hello app {key}"),
///         other => format!("hello {}", other.mode()),
///     }
/// }
/// # let _ = ping;
/// ```
#[derive(Debug, Clone)]
pub struct Admitted<T = supagate_jwt::Claims>(pub Caller<T>);

impl<T: DeserializeOwned + 'static> FromRequest for Admitted<T> {
    type Error = AuthRejection;
    type Future = LocalBoxFuture<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let Some(auth) = authenticator(&req) else {
                return Err(AuthRejection(Rejection::without_authenticator(
                    AuthError::Internal {
                        what: "no supagate Authenticator registered with App::app_data",
                    },
                )));
            };
            let caller = take_caller(&req, &auth).await?;
            caller
                .try_map(|v| v.into_typed::<T>())
                .map(Admitted)
                .map_err(|e| AuthRejection::new(&auth, AuthError::Token(e)))
        })
    }
}

/// The caller a gate admitted, moved out of the request (a second taking is refused), or,
/// without a gate, the request admitted by the authenticator's default modes: the rules of
/// [`Admission`].
pub(crate) async fn take_caller(
    req: &HttpRequest,
    auth: &Authenticator,
) -> Result<Caller<Verified>, AuthRejection> {
    // The extensions are borrowed for the synchronous step only.
    let lookup = Admission::take_caller(req.extensions_mut().get_mut::<Admission>());
    lookup
        .resolve(auth, &ActixHeaders(req.headers()))
        .await
        .map_err(|e| AuthRejection::new(auth, e))
}
