//! [`ResourceMetadata`]: serving RFC 9728 protected-resource metadata.

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use supagate_auth::ProtectedResource;

/// The RFC 9728 metadata document of a [`ProtectedResource`] as a response (`200`, JSON, cached
/// for an hour), for the route at its
/// [`metadata_path`](ProtectedResource::metadata_path).
///
/// # Examples
///
/// ```
/// use axum::{Router, routing::get};
/// use supagate_auth::ProtectedResource;
/// use supagate_axum::ResourceMetadata;
/// use supagate_jwt::Origin;
///
/// let api = ProtectedResource::new(
///     Origin::parse("https://api.example.com")?,
///     "/",
///     "https://abcdefghijklmnopqrst.supabase.co",
/// )?
/// .scopes_supported(["notes:read"]);
/// let path = api.metadata_path();
/// let app: Router = Router::new().route(&path, get(move || std::future::ready(ResourceMetadata(api.clone()))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ResourceMetadata(pub ProtectedResource);

impl IntoResponse for ResourceMetadata {
    fn into_response(self) -> Response {
        self.0.response().map(Body::from)
    }
}
