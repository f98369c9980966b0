//! [`ProtectedResource`]: RFC 9728 protected-resource metadata, with which OAuth clients (MCP
//! clients among them) find the authorization server of an API: the Supabase project's auth
//! server, acting as an OAuth 2.1 server.

use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};
use supagate_jwt::{ConfigError, IntoProject, Origin};

/// This API as an RFC 9728 protected resource: its identifier (`https://api.example.com`, or
/// with a path such as `/mcp`), the authorization server (the project's `<url>/auth/v1`, the
/// issuer of its tokens), and the scopes it knows.
///
/// [`ProtectedResource::response`] is the metadata document to serve at
/// [`ProtectedResource::metadata_path`]; given to
/// [`AuthenticatorBuilder::protected_resource`](crate::AuthenticatorBuilder::protected_resource),
/// every 401 challenge carries `resource_metadata="<its URL>"` (RFC 9728 section 5.1), which is how
/// an MCP client that got a 401 finds where to sign in.
///
/// # Examples
///
/// ```
/// use supagate_auth::ProtectedResource;
/// use supagate_jwt::Origin;
///
/// let mcp = ProtectedResource::new(
///     Origin::parse("https://api.example.com")?,
///     "/mcp",
///     "https://abcdefghijklmnopqrst.supabase.co",
/// )?
/// .scopes_supported(["notes:read", "notes:write"]);
/// assert_eq!(mcp.resource(), "https://api.example.com/mcp");
/// assert_eq!(mcp.metadata_path(), "/.well-known/oauth-protected-resource/mcp");
/// assert_eq!(
///     mcp.metadata_url(),
///     "https://api.example.com/.well-known/oauth-protected-resource/mcp"
/// );
/// let doc: serde_json::Value = serde_json::from_slice(mcp.response().body())?;
/// assert_eq!(doc["authorization_servers"][0], "https://abcdefghijklmnopqrst.supabase.co/auth/v1");
/// assert_eq!(doc["bearer_methods_supported"][0], "header");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedResource {
    origin: Origin,
    /// `""` for the origin itself, else `/…` without a trailing slash.
    path: String,
    issuer: String,
    scopes: Vec<String>,
    name: Option<String>,
}

/// The well-known path of RFC 9728 (section 3).
const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

impl ProtectedResource {
    /// The resource at `origin` + `path` (`""` or `"/"` for the origin itself), whose tokens
    /// the auth server of `project` issues.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidSupabaseUrl`] for the project, [`ConfigError::InvalidOrigin`] for
    /// a path that is not `/`-separated visible ASCII without a query, fragment, empty or dot
    /// segment, quote or backslash (it goes into a challenge header).
    pub fn new(origin: Origin, path: &str, project: impl IntoProject) -> Result<Self, ConfigError> {
        let project = project.into_project()?;
        let path = path.strip_suffix('/').unwrap_or(path);
        let ok = path.is_empty()
            || (path.len() <= 512
                && path.strip_prefix('/').is_some_and(|rest| {
                    rest.split('/')
                        .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
                })
                && path.bytes().all(|b| {
                    b.is_ascii_graphic() && !matches!(b, b'?' | b'#' | b'"' | b'\\' | b'%')
                }));
        if !ok {
            return Err(ConfigError::InvalidOrigin);
        }
        Ok(ProtectedResource {
            origin,
            path: path.to_owned(),
            issuer: project.issuer().to_owned(),
            scopes: Vec::new(),
            name: None,
        })
    }

    /// The scopes this resource knows (`scopes_supported`). Scopes that are not RFC 6749
    /// scope tokens are left out. Default: none listed.
    #[must_use]
    pub fn scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes
            .into_iter()
            .map(Into::into)
            .filter(|s: &String| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
            })
            .collect();
        self
    }

    /// A human-readable name (`resource_name`). Default: none.
    #[must_use]
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The resource identifier (`resource`): the origin and the path.
    #[must_use]
    pub fn resource(&self) -> String {
        format!("{}{}", self.origin, self.path)
    }

    /// Where the metadata is served: the well-known path, followed by the resource's path.
    #[must_use]
    pub fn metadata_path(&self) -> String {
        format!("{WELL_KNOWN}{}", self.path)
    }

    /// The metadata's absolute URL, as the challenge's `resource_metadata` names it.
    #[must_use]
    pub fn metadata_url(&self) -> String {
        format!("{}{}", self.origin, self.metadata_path())
    }

    /// The metadata document.
    #[must_use]
    pub fn document(&self) -> serde_json::Value {
        let mut doc = serde_json::Map::new();
        doc.insert("resource".into(), self.resource().into());
        doc.insert(
            "authorization_servers".into(),
            serde_json::json!([self.issuer]),
        );
        doc.insert(
            "bearer_methods_supported".into(),
            serde_json::json!(["header"]),
        );
        if !self.scopes.is_empty() {
            doc.insert("scopes_supported".into(), serde_json::json!(self.scopes));
        }
        if let Some(name) = &self.name {
            doc.insert("resource_name".into(), name.as_str().into());
        }
        serde_json::Value::Object(doc)
    }

    /// The answer to a `GET` of [`ProtectedResource::metadata_path`]: 200, JSON, cacheable
    /// for an hour (it holds nothing about the caller).
    #[must_use]
    pub fn response(&self) -> Response<Vec<u8>> {
        let mut res = Response::new(self.document().to_string().into_bytes());
        *res.status_mut() = StatusCode::OK;
        let h = res.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        );
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROJECT: &str = "https://abcdefghijklmnopqrst.supabase.co";

    fn origin() -> Origin {
        Origin::parse("https://api.example.com").unwrap()
    }

    #[test]
    fn paths_and_document() {
        let root = ProtectedResource::new(origin(), "/", PROJECT).unwrap();
        assert_eq!(root.resource(), "https://api.example.com");
        assert_eq!(
            root.metadata_path(),
            "/.well-known/oauth-protected-resource"
        );
        let doc = root.document();
        assert_eq!(doc["resource"], "https://api.example.com");
        assert_eq!(
            doc["authorization_servers"],
            serde_json::json!([format!("{PROJECT}/auth/v1")])
        );
        assert!(doc.get("scopes_supported").is_none());
        let named = ProtectedResource::new(origin(), "/v1/mcp/", PROJECT)
            .unwrap()
            .scopes_supported(["notes:read", "bad scope", "", "q\"uote"])
            .resource_name("Notes");
        assert_eq!(named.resource(), "https://api.example.com/v1/mcp");
        assert_eq!(
            named.metadata_url(),
            "https://api.example.com/.well-known/oauth-protected-resource/v1/mcp"
        );
        let doc = named.document();
        assert_eq!(doc["scopes_supported"], serde_json::json!(["notes:read"]));
        assert_eq!(doc["resource_name"], "Notes");
        let res = named.response();
        assert_eq!(res.headers()[CONTENT_TYPE], "application/json");
    }

    #[test]
    fn bad_paths_and_projects_are_refused() {
        for bad in [
            "mcp", "//mcp", "/a//b", "/./x", "/a/..", "/x?y", "/x#y", "/x\"", "/x\\y", "/a b",
            "/%2e",
        ] {
            assert_eq!(
                ProtectedResource::new(origin(), bad, PROJECT),
                Err(ConfigError::InvalidOrigin),
                "{bad}"
            );
        }
        assert_eq!(
            ProtectedResource::new(origin(), "/", "http://example.com"),
            Err(ConfigError::InvalidSupabaseUrl)
        );
    }
}
