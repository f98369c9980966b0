//! The security schemes and each route's [`Access`] as utoipa's OpenAPI types (utoipa 6,
//! OpenAPI 3.1): for a document built with `#[derive(OpenApi)]` or
//! by hand.

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Components, OpenApi, Response};

use super::{Access, Scheme, SchemeKind};
use crate::authenticator::Authenticator;

/// An authenticator's security schemes ([`Authenticator::security_schemes`]), added to a
/// document's components: a `utoipa::Modify`, for `#[openapi(modifiers(&...))]` or a
/// document built by hand.
///
/// # Examples
///
/// ```
/// use supagate_auth::Authenticator;
/// use supagate_auth::openapi::utoipa::SecuritySchemes;
/// use utoipa::Modify;
///
/// let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
/// let mut doc = utoipa::openapi::OpenApiBuilder::new().build();
/// SecuritySchemes::of(&auth).modify(&mut doc);
/// let json = serde_json::to_value(&doc)?;
/// assert_eq!(json["components"]["securitySchemes"]["supabase_bearer"]["scheme"], "bearer");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct SecuritySchemes(Vec<Scheme>);

impl SecuritySchemes {
    /// The schemes of `auth`.
    #[must_use]
    pub fn of(auth: &Authenticator) -> Self {
        SecuritySchemes(auth.security_schemes())
    }
}

/// One scheme as utoipa's.
fn scheme(s: &Scheme) -> SecurityScheme {
    match &s.kind {
        SchemeKind::Bearer => SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(s.description))
                .build(),
        ),
        SchemeKind::Cookie(name) => SecurityScheme::ApiKey(ApiKey::Cookie(
            ApiKeyValue::with_description(name.as_str(), s.description),
        )),
        SchemeKind::Header(name) => SecurityScheme::ApiKey(ApiKey::Header(
            ApiKeyValue::with_description(*name, s.description),
        )),
    }
}

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Components::new);
        for s in &self.0 {
            components.add_security_scheme(s.name, scheme(s));
        }
    }
}

impl Access {
    /// States this access on `operation`: its security requirements (alternatives; `{}` for
    /// "no credentials") and a response for each refusal, beside the operation's own.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::openapi::Access;
    /// use supagate_auth::Authenticator;
    ///
    /// let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
    /// let mut op = utoipa::openapi::path::OperationBuilder::new().build();
    /// Access::user(&auth).document(&mut op);
    /// let json = serde_json::to_value(&op)?;
    /// assert_eq!(json["security"][0]["supabase_bearer"], serde_json::json!([]));
    /// assert!(json["responses"]["401"].is_object() && json["responses"]["403"].is_object());
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn document(&self, operation: &mut Operation) {
        if self.requirements().is_empty() {
            // Public: stated as "no credentials", whatever the document's default.
            operation.security = Some(vec![SecurityRequirement::default()]);
        } else {
            let alternatives = self
                .requirements()
                .iter()
                .map(|names| {
                    names
                        .iter()
                        .fold(SecurityRequirement::default(), |req, name| {
                            req.add(*name, Vec::<String>::new())
                        })
                })
                .collect();
            operation.security = Some(alternatives);
        }
        for (status, description) in self.refusals() {
            operation
                .responses
                .responses
                .entry(status.to_string())
                .or_insert_with(|| Response::new(*description).into());
        }
    }
}
