//! The [`Authenticated`] and [`MaybeAuthenticated`] extractors and their rejection.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::convert;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use serde::de::DeserializeOwned;
use supagate_auth::{AuthError, Authenticator, Rejection, RequestHeaders};

/// actix-web's header map, seen through [`RequestHeaders`].
pub(crate) struct ActixHeaders<'a>(pub(crate) &'a header::HeaderMap);

impl RequestHeaders for ActixHeaders<'_> {
    fn authorization(&self) -> impl Iterator<Item = &[u8]> {
        self.0.get_all(header::AUTHORIZATION).map(|v| v.as_bytes())
    }

    fn cookie(&self) -> impl Iterator<Item = &[u8]> {
        self.0.get_all(header::COOKIE).map(|v| v.as_bytes())
    }

    fn values(&self, name: &http::HeaderName) -> impl Iterator<Item = &[u8]> {
        self.0.get_all(name.as_str()).map(|v| v.as_bytes())
    }
}

/// The [`Authenticator`](supagate_auth::Authenticator) registered with `App::app_data` (plain or in `web::Data`).
pub(crate) fn authenticator(req: &HttpRequest) -> Option<Authenticator> {
    req.app_data::<Authenticator>().cloned().or_else(|| {
        req.app_data::<web::Data<Authenticator>>()
            .map(|d| d.get_ref().clone())
    })
}

/// The verified claims of the request's access token: Supabase's
/// [`supagate_jwt::Claims`] by default, or your own `Deserialize` type.
///
/// The [`Authenticator`](supagate_auth::Authenticator) comes from `App::app_data` (as is, or wrapped in `web::Data`); when
/// none is registered the request gets a 500 and an error is logged. When the [`Require`]
/// middleware already verified the token, its result is reused.
///
/// A request without a good token never reaches the handler: the client gets the RFC 6750
/// refusal (401 without a token, 400 for a malformed `Authorization`, 401 `invalid_token` for a
/// bad one, 503 while keys are unavailable). For routes that allow anonymous access use
/// [`MaybeAuthenticated`], **not** `Option<Authenticated>`: actix-web turns every extractor error into
/// `None` for `Option<T>`, so a bad token would pass as anonymous.
///
/// [`Require`]: crate::Require
///
/// # Examples
///
/// ```
/// use actix_web::{App, web};
/// use supagate_auth::Authenticator;
/// use supagate_actix::Authenticated;
/// use supagate_jwt::{Hs256Secret, Verifier};
///
/// async fn me(Authenticated(claims): Authenticated) -> String {
///     claims.sub.to_string()
/// }
///
/// let verifier = Verifier::from_supabase_url("https://abcdefghijklmnopqrst.supabase.co")
///     .hs256_secret(Hs256Secret::new("an-example-secret-of-at-least-32-bytes")?)
///     .build()?;
/// let auth = Authenticator::new(verifier);
/// let app = App::new()
///     .app_data(auth)
///     .route("/me", web::get().to(me));
/// # let _ = app;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Your own claim type (the registered claims are still validated first):
///
/// ```
/// use supagate_actix::Authenticated;
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
/// # let _ = whoami;
/// ```
#[derive(Debug, Clone)]
pub struct Authenticated<T = supagate_jwt::Claims>(pub T);

/// Like [`Authenticated`], for routes that allow anonymous access: `MaybeAuthenticated(None)` without
/// credentials, but a present and bad token is still refused.
///
/// # Examples
///
/// ```
/// use supagate_actix::MaybeAuthenticated;
///
/// async fn greeting(MaybeAuthenticated(claims): MaybeAuthenticated) -> String {
///     match claims {
///         Some(c) => format!("hello {}", c.email.unwrap_or_default()),
///         None => "hello stranger".to_owned(),
///     }
/// }
/// # let _ = greeting;
/// ```
#[derive(Debug, Clone)]
pub struct MaybeAuthenticated<T = supagate_jwt::Claims>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for Authenticated<T> {
    type Error = AuthRejection;
    type Future = LocalBoxFuture<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            extract(&req).await.and_then(|(auth, t)| match t {
                Some(t) => Ok(Authenticated(t)),
                None => Err(AuthRejection::new(&auth, AuthError::MissingCredentials)),
            })
        })
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for MaybeAuthenticated<T> {
    type Error = AuthRejection;
    type Future = LocalBoxFuture<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { extract(&req).await.map(|(_, t)| MaybeAuthenticated(t)) })
    }
}

type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

async fn extract<T: DeserializeOwned + 'static>(
    req: &HttpRequest,
) -> Result<(Authenticator, Option<T>), AuthRejection> {
    let Some(auth) = authenticator(req) else {
        return Err(AuthRejection(Rejection::without_authenticator(
            AuthError::Internal {
                what: "no supagate Authenticator registered with App::app_data",
            },
        )));
    };
    // What a gate admitted, else the request's own token under the base policy: the rules
    // of `Admission` (the extensions are borrowed for the synchronous step only).
    let lookup = supagate_auth::Admission::read_user(req.extensions().get());
    let result = lookup
        .resolve(&auth, &ActixHeaders(req.headers()))
        .await
        .and_then(|v| {
            v.map(|v| v.into_typed::<T>().map_err(AuthError::Token))
                .transpose()
        });
    match result {
        Ok(t) => Ok((auth, t)),
        Err(e) => Err(AuthRejection::new(&auth, e)),
    }
}

/// Why an extractor or the policy middleware refused the request: a [`Rejection`](supagate_auth::Rejection) that
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

impl ResponseError for AuthRejection {
    fn status_code(&self) -> StatusCode {
        convert::status(self.0.refusal().status())
    }

    fn error_response(&self) -> HttpResponse {
        convert::response(self.0.refusal().clone().into_response())
    }
}
