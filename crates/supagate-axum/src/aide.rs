//! OpenAPI through aide (feature `aide`): routes whose handlers take the extractors document
//! their security requirement and their refusals by themselves, and the document gets the
//! authenticator's security schemes from [`document`]. A route whose gate is a layer
//! ([`RequireLayer`](crate::RequireLayer), [`AdmitLayer`](crate::AdmitLayer)) states it with
//! [`access`], from the same gate.
//!
//! The model is `supagate_auth::openapi` (the same schemes and [`Access`] as the utoipa
//! rendering); this module only renders it as aide's types.
//!
//! # Examples
//!
//! ```
//! use aide::axum::{ApiRouter, routing::get};
//! use aide::openapi::OpenApi;
//! use supagate_auth::Authenticator;
//! use supagate_axum::Authenticated;
//!
//! async fn me(Authenticated(claims): Authenticated) -> String {
//!     claims.sub.to_string()
//! }
//!
//! # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
//! let mut api = OpenApi::default();
//! let app: axum::Router = ApiRouter::new()
//!     .api_route("/me", get(me))
//!     .finish_api(&mut api)
//!     .with_state(auth.clone());
//! supagate_axum::aide::document(&mut api, &auth);
//! let json = serde_json::to_value(&api)?;
//! assert_eq!(json["paths"]["/me"]["get"]["security"][0]["supabase_bearer"], serde_json::json!([]));
//! assert!(json["paths"]["/me"]["get"]["responses"]["401"].is_object());
//! # Ok::<(), serde_json::Error>(())
//! ```

use aide::OperationInput;
use aide::generate::GenContext;
use aide::openapi::{
    ApiKeyLocation, OpenApi, Operation, ReferenceOr, Response, SecurityRequirement, SecurityScheme,
};
use aide::transform::TransformOperation;
use supagate_auth::Authenticator;
use supagate_auth::openapi::{Access, SchemeKind};

use crate::{Admitted, Authenticated};

/// The requirement an extractor states before the document knows the authenticator: "a
/// signed-in user", replaced by [`document`] with the schemes the token source reads.
const USER: &str = "supabase_user";

fn requirement(names: &[&str]) -> SecurityRequirement {
    names
        .iter()
        .map(|n| ((*n).to_owned(), Vec::new()))
        .collect()
}

fn refusal(description: &str) -> Response {
    Response {
        description: description.to_owned(),
        ..Response::default()
    }
}

/// The refusals a route behind a user extractor may answer with.
fn user_refusals() -> Vec<(Option<u16>, Response)> {
    [
        (400, "invalid_request: a malformed Authorization header or token source"),
        (401, "No credentials, or an invalid, expired or revoked token (WWW-Authenticate: Bearer, RFC 6750)"),
        (403, "insufficient_scope: a valid token that this route does not admit"),
        (503, "The project's signing keys or the session store cannot be reached now (Retry-After)"),
    ]
    .into_iter()
    .map(|(status, d)| (Some(status), refusal(d)))
    .collect()
}

/// States "a signed-in user" on `operation` (once).
fn require_user(operation: &mut Operation) {
    let user = requirement(&[USER]);
    if !operation.security.contains(&user) {
        operation.security.push(user);
    }
}

impl<T> OperationInput for Authenticated<T> {
    fn operation_input(_ctx: &mut GenContext, operation: &mut Operation) {
        require_user(operation);
    }

    fn inferred_early_responses(
        _ctx: &mut GenContext,
        _operation: &mut Operation,
    ) -> Vec<(Option<u16>, Response)> {
        user_refusals()
    }
}

impl<T> OperationInput for crate::ext::Authenticated<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        Authenticated::<T>::operation_input(ctx, operation);
    }

    fn inferred_early_responses(
        ctx: &mut GenContext,
        operation: &mut Operation,
    ) -> Vec<(Option<u16>, Response)> {
        Authenticated::<T>::inferred_early_responses(ctx, operation)
    }
}

/// The caller a gate admitted: the modes are the gate's, stated by [`access`] on the route;
/// the extractor states the refusals.
impl<T> OperationInput for Admitted<T> {
    fn inferred_early_responses(
        _ctx: &mut GenContext,
        _operation: &mut Operation,
    ) -> Vec<(Option<u16>, Response)> {
        user_refusals().into_iter().take(3).collect()
    }
}

impl<T> OperationInput for crate::ext::Admitted<T> {
    fn inferred_early_responses(
        ctx: &mut GenContext,
        operation: &mut Operation,
    ) -> Vec<(Option<u16>, Response)> {
        Admitted::<T>::inferred_early_responses(ctx, operation)
    }
}

#[cfg(feature = "postgres")]
impl<T> OperationInput for crate::RlsTx<T> {
    fn operation_input(_ctx: &mut GenContext, operation: &mut Operation) {
        require_user(operation);
    }

    fn inferred_early_responses(
        _ctx: &mut GenContext,
        _operation: &mut Operation,
    ) -> Vec<(Option<u16>, Response)> {
        user_refusals()
    }
}

/// Renders `access` on a route: its requirements in order (`{}` for "no credentials") and
/// its refusals, replacing what the extractors stated. For a route whose gate is a layer.
///
/// # Examples
///
/// ```
/// use aide::axum::{ApiRouter, routing::get_with};
/// use supagate_auth::openapi::Access;
/// use supagate_auth::{Authenticator, Gate};
/// use supagate_axum::{AdmitLayer, Admitted};
///
/// async fn whoami(Admitted(c): Admitted) -> &'static str {
///     c.mode()
/// }
///
/// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
/// let modes = "user, none".parse()?;
/// let access = Access::of_modes(&auth, &modes);
/// let router: ApiRouter<Authenticator> = ApiRouter::new().api_route(
///     "/whoami",
///     get_with(whoami, supagate_axum::aide::access(&access)).layer(AdmitLayer::new(auth.clone(), modes)),
/// );
/// # let _ = router;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn access(access: &Access) -> impl FnOnce(TransformOperation<'_>) -> TransformOperation<'_> {
    let access = access.clone();
    move |mut op| {
        let operation = op.inner_mut();
        operation.security = if access.requirements().is_empty() {
            vec![SecurityRequirement::default()]
        } else {
            access
                .requirements()
                .iter()
                .map(|names| requirement(names))
                .collect()
        };
        let responses = operation.responses.get_or_insert_with(Default::default);
        for (status, description) in access.refusals() {
            responses.responses.insert(
                aide::openapi::StatusCode::Code(*status),
                ReferenceOr::Item(refusal(description)),
            );
        }
        op
    }
}

/// Finishes `api` for `auth`: adds its security schemes to the components, and turns every
/// "signed-in user" an extractor stated into the schemes the authenticator's token source
/// reads (the bearer, the session cookie, or either).
///
/// # Examples
///
/// See the [module](self).
pub fn document(api: &mut OpenApi, auth: &Authenticator) {
    let schemes = auth.security_schemes();
    let components = api.components.get_or_insert_with(Default::default);
    for s in &schemes {
        let description = Some(s.description.to_owned());
        let scheme = match &s.kind {
            SchemeKind::Bearer => SecurityScheme::Http {
                scheme: "bearer".to_owned(),
                bearer_format: Some("JWT".to_owned()),
                description,
                extensions: Default::default(),
            },
            SchemeKind::Cookie(name) => SecurityScheme::ApiKey {
                location: ApiKeyLocation::Cookie,
                name: name.clone(),
                description,
                extensions: Default::default(),
            },
            SchemeKind::Header(name) => SecurityScheme::ApiKey {
                location: ApiKeyLocation::Header,
                name: (*name).to_owned(),
                description,
                extensions: Default::default(),
            },
            _ => continue,
        };
        components
            .security_schemes
            .insert(s.name.to_owned(), ReferenceOr::Item(scheme));
    }
    let user: Vec<SecurityRequirement> = Access::user(auth)
        .requirements()
        .iter()
        .map(|names| requirement(names))
        .collect();
    let placeholder = requirement(&[USER]);
    let Some(paths) = api.paths.as_mut() else {
        return;
    };
    for item in paths.paths.values_mut() {
        let ReferenceOr::Item(item) = item else {
            continue;
        };
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for op in operations.into_iter().flatten() {
            if let Some(at) = op.security.iter().position(|r| *r == placeholder) {
                op.security.splice(at..=at, user.iter().cloned());
            }
        }
    }
}
