//! [`ResourceMetadata`]: serving RFC 9728 protected-resource metadata.

use actix_web::{HttpRequest, HttpResponse, Responder};
use supagate_auth::ProtectedResource;

/// The RFC 9728 metadata document of a [`ProtectedResource`] as a response (`200`, JSON, cached
/// for an hour), for the route at its
/// [`metadata_path`](ProtectedResource::metadata_path).
///
/// # Examples
///
/// ```
/// use actix_web::{App, web};
/// use supagate_auth::ProtectedResource;
/// use supagate_actix::ResourceMetadata;
/// use supagate_jwt::Origin;
///
/// let api = ProtectedResource::new(
///     Origin::parse("https://api.example.com")?,
///     "/",
///     "https://abcdefghijklmnopqrst.supabase.co",
/// )?;
/// let path = api.metadata_path();
/// let app = App::new().route(&path, web::get().to(move || std::future::ready(ResourceMetadata(api.clone()))));
/// # let _ = app;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ResourceMetadata(pub ProtectedResource);

impl Responder for ResourceMetadata {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        crate::convert::response(self.0.response())
    }
}
