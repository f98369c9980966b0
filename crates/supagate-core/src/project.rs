//! [`SupabaseProject`]: the project URL, parsed once; and [`Origin`], an allowed origin.

use std::fmt;
use std::str::FromStr;

use crate::error::UrlError;
use crate::url;

/// A Supabase project, from its URL (`SUPABASE_URL`: `https://<ref>.supabase.co`, a custom
/// domain, or `http://127.0.0.1:54321` for the local stack), parsed once under one rule set:
/// `https`, or `http` on a loopback host; no userinfo, query, fragment or path (a trailing `/`
/// is dropped). Everything else supagate derives from the project comes from here: the
/// issuer, the JWK set URL, the auth server's base URL and the default session cookie name.
///
/// Every API that takes a project URL as a string (`supagate_jwt::Verifier::from_supabase_url`,
/// the cookie name, the proxy) parses it with [`SupabaseProject::parse`].
///
/// # Examples
///
/// ```
/// use supagate_core::SupabaseProject;
///
/// let project: SupabaseProject = "https://abcdefghijklmnopqrst.supabase.co/".parse()?;
/// assert_eq!(project.url(), "https://abcdefghijklmnopqrst.supabase.co");
/// assert_eq!(project.issuer(), "https://abcdefghijklmnopqrst.supabase.co/auth/v1");
/// assert_eq!(
///     project.jwks_url(),
///     "https://abcdefghijklmnopqrst.supabase.co/auth/v1/.well-known/jwks.json"
/// );
/// assert_eq!(project.cookie_label(), "abcdefghijklmnopqrst");
///
/// // One rule set: no path (so `…/auth/v1` is not silently doubled), no plain http off
/// // loopback, no userinfo.
/// assert!(SupabaseProject::parse("https://abcdefghijklmnopqrst.supabase.co/auth/v1").is_err());
/// assert!(SupabaseProject::parse("http://abcdefghijklmnopqrst.supabase.co").is_err());
/// assert!(SupabaseProject::parse("https://user@abcdefghijklmnopqrst.supabase.co").is_err());
/// assert!(SupabaseProject::parse("http://127.0.0.1:54321").is_ok());
/// # Ok::<(), supagate_core::UrlError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SupabaseProject {
    /// `scheme://host[:port]`, no trailing slash.
    url: Box<str>,
    /// `<url>/auth/v1`.
    issuer: Box<str>,
    /// The first label of the host, lower-cased (what supabase-js puts in the cookie name).
    label: Box<str>,
    /// Whether the URL is `http` on a loopback host (a local stack).
    local: bool,
}

impl SupabaseProject {
    /// Parses a project URL.
    ///
    /// # Errors
    ///
    /// [`UrlError::InvalidSupabaseUrl`] when the URL breaks a rule above.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let parsed = url::parse(url).ok_or(UrlError::InvalidSupabaseUrl)?;
        if !matches!(parsed.path, "" | "/") {
            return Err(UrlError::InvalidSupabaseUrl);
        }
        let label = parsed
            .host
            .split('.')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        Ok(SupabaseProject {
            url: parsed.origin.into(),
            issuer: format!("{}/auth/v1", parsed.origin).into(),
            label: label.into(),
            local: !parsed.https,
        })
    }

    /// The project URL, `scheme://host[:port]` without a trailing slash.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The issuer of the project's access tokens and the auth server's base URL:
    /// `<url>/auth/v1`.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The auth server's base URL, `<url>/auth/v1` (the same string as the issuer).
    #[must_use]
    pub fn auth_url(&self) -> &str {
        &self.issuer
    }

    /// The project's published JWK set: `<url>/auth/v1/.well-known/jwks.json`.
    #[must_use]
    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.issuer)
    }

    /// The first label of the host, lower-cased: the `<ref>` of supabase-js's default cookie
    /// name `sb-<ref>-auth-token` (`127` for `http://127.0.0.1:54321`).
    #[must_use]
    pub fn cookie_label(&self) -> &str {
        &self.label
    }

    /// Whether this is a local stack (`http` on a loopback host).
    #[must_use]
    pub fn is_local(&self) -> bool {
        self.local
    }
}

impl FromStr for SupabaseProject {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Self, UrlError> {
        SupabaseProject::parse(s)
    }
}

impl fmt::Display for SupabaseProject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

impl fmt::Debug for SupabaseProject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SupabaseProject").field(&self.url).finish()
    }
}

/// Anything a project can be configured from: a [`SupabaseProject`] already parsed, or a URL
/// string, parsed with [`SupabaseProject::parse`] when the builder that took it builds.
///
/// # Examples
///
/// ```
/// use supagate_core::{IntoProject, SupabaseProject};
///
/// let a = "https://abcdefghijklmnopqrst.supabase.co".into_project()?;
/// let b = SupabaseProject::parse("https://abcdefghijklmnopqrst.supabase.co")?.into_project()?;
/// assert_eq!(a, b);
/// # Ok::<(), supagate_core::UrlError>(())
/// ```
pub trait IntoProject {
    /// The project.
    ///
    /// # Errors
    ///
    /// [`UrlError::InvalidSupabaseUrl`] for a string that does not parse.
    fn into_project(self) -> Result<SupabaseProject, UrlError>;
}

impl IntoProject for SupabaseProject {
    fn into_project(self) -> Result<SupabaseProject, UrlError> {
        Ok(self)
    }
}

impl IntoProject for &SupabaseProject {
    fn into_project(self) -> Result<SupabaseProject, UrlError> {
        Ok(self.clone())
    }
}

impl IntoProject for &str {
    fn into_project(self) -> Result<SupabaseProject, UrlError> {
        SupabaseProject::parse(self)
    }
}

impl IntoProject for String {
    fn into_project(self) -> Result<SupabaseProject, UrlError> {
        SupabaseProject::parse(&self)
    }
}

impl IntoProject for &String {
    fn into_project(self) -> Result<SupabaseProject, UrlError> {
        SupabaseProject::parse(self)
    }
}

/// An origin a browser may send in `Origin` (`https://app.example.com`), parsed with the same
/// rules as [`SupabaseProject`]: `https`, or `http` on a loopback host; no path, not even a
/// trailing `/` (a browser never sends one). The host is lower-cased, as browsers serialise it, so the comparison with
/// a request's `Origin` is exact.
///
/// # Examples
///
/// ```
/// use supagate_core::Origin;
///
/// let origin: Origin = "https://App.example.com".parse()?;
/// assert_eq!(origin.as_str(), "https://app.example.com");
/// assert!(origin.matches(b"https://app.example.com"));
/// assert!(!origin.matches(b"https://app.example.com.evil.example"));
/// assert!("*".parse::<Origin>().is_err());
/// assert!("null".parse::<Origin>().is_err());
/// assert!("https://app.example.com/path".parse::<Origin>().is_err());
/// assert!("https://app.example.com/".parse::<Origin>().is_err());
/// // As browsers send it: no default port.
/// assert_eq!(Origin::parse("https://app.example.com:443")?.as_str(), "https://app.example.com");
/// assert!(Origin::parse("http://app.localhost:3000").is_ok()); // browsers resolve *.localhost
/// # Ok::<(), supagate_core::UrlError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// `scheme://host[:port]`, host lower-cased.
    text: Box<str>,
    https: bool,
}

impl Origin {
    /// Parses an origin.
    ///
    /// # Errors
    ///
    /// [`UrlError::InvalidOrigin`] for `*`, `null`, a path, or a URL that breaks the rules.
    pub fn parse(origin: &str) -> Result<Self, UrlError> {
        Self::parse_with(origin, url::Http::BrowserLoopback)
    }

    /// Parses the origin of a service on a private network (the backend a proxy forwards to):
    /// the same rules, except that `http` is allowed on any host (`http://backend:8000`).
    ///
    /// # Errors
    ///
    /// As [`Origin::parse`].
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_core::Origin;
    ///
    /// assert!(Origin::parse("http://backend:8000").is_err());
    /// let upstream = Origin::parse_internal("http://backend:8000")?;
    /// assert_eq!((upstream.scheme(), upstream.authority()), ("http", "backend:8000"));
    /// # Ok::<(), supagate_core::UrlError>(())
    /// ```
    pub fn parse_internal(origin: &str) -> Result<Self, UrlError> {
        Self::parse_with(origin, url::Http::Anywhere)
    }

    fn parse_with(origin: &str, http: url::Http) -> Result<Self, UrlError> {
        let parsed = url::parse_with(origin, http).ok_or(UrlError::InvalidOrigin)?;
        if !parsed.path.is_empty() {
            return Err(UrlError::InvalidOrigin);
        }
        // As a browser serialises it: lower case, no default port.
        let mut text = parsed.origin.to_ascii_lowercase();
        let default_port = if parsed.https { 443 } else { 80 };
        if parsed.port == Some(default_port) {
            text.truncate(text.rfind(':').unwrap_or(text.len()));
        }
        Ok(Origin {
            text: text.into(),
            https: parsed.https,
        })
    }

    /// `scheme://host[:port]`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the scheme is `https`.
    #[must_use]
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// `https` or `http`.
    #[must_use]
    pub fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }

    /// `host[:port]`.
    #[must_use]
    pub fn authority(&self) -> &str {
        let skip = if self.https { 8 } else { 7 };
        self.text.get(skip..).unwrap_or_default()
    }

    /// Whether a request's `Origin` value is this origin (byte-for-byte).
    #[must_use]
    pub fn matches(&self, origin: &[u8]) -> bool {
        self.text.as_bytes() == origin
    }
}

impl FromStr for Origin {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Self, UrlError> {
        Origin::parse(s)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Origin").field(&self.text).finish()
    }
}

/// Whether `url` may be fetched by a client of this crate family (a JWK set, an OIDC
/// document): the project rules (`https`, or `http` on `localhost`, `127.0.0.0/8` or `[::1]`;
/// no userinfo, query or fragment), with any path. Also the rule for a third-party issuer.
///
/// # Examples
///
/// ```
/// use supagate_core::is_fetch_url;
///
/// assert!(is_fetch_url("https://abcdefghijklmnopqrst.supabase.co/auth/v1/.well-known/jwks.json"));
/// assert!(is_fetch_url("http://127.0.0.1:54321/auth/v1/.well-known/jwks.json"));
/// assert!(!is_fetch_url("http://keys.example.com/jwks.json"));
/// assert!(!is_fetch_url("https://keys.example.com/jwks.json?x=1"));
/// ```
#[must_use]
pub fn is_fetch_url(url: &str) -> bool {
    url::parse(url).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_rules() {
        for (url, label) in [
            (
                "https://abcdefghijklmnopqrst.supabase.co",
                "abcdefghijklmnopqrst",
            ),
            (
                "https://abcdefghijklmnopqrst.supabase.co/",
                "abcdefghijklmnopqrst",
            ),
            ("https://Auth.Example.com:8443", "auth"),
            ("http://127.0.0.1:54321", "127"),
            ("http://localhost:54321/", "localhost"),
        ] {
            let p = SupabaseProject::parse(url).unwrap();
            assert_eq!(p.cookie_label(), label, "{url}");
            assert_eq!(p.issuer(), format!("{}/auth/v1", url.trim_end_matches('/')));
        }
        for bad in [
            "https://abcdefghijklmnopqrst.supabase.co/auth/v1",
            "https://abcdefghijklmnopqrst.supabase.co//",
            "https://u:p@abcdefghijklmnopqrst.supabase.co",
            "https://abcdefghijklmnopqrst.supabase.co?x",
            "https://abcdefghijklmnopqrst.supabase.co#x",
            "http://abcdefghijklmnopqrst.supabase.co",
            "abcdefghijklmnopqrst.supabase.co",
            " https://abcdefghijklmnopqrst.supabase.co",
        ] {
            assert_eq!(
                SupabaseProject::parse(bad),
                Err(UrlError::InvalidSupabaseUrl),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_and_display_are_the_url() {
        let p = SupabaseProject::parse("http://127.0.0.1:54321/").unwrap();
        assert_eq!(p.to_string(), "http://127.0.0.1:54321");
        assert_eq!(
            format!("{p:?}"),
            "SupabaseProject(\"http://127.0.0.1:54321\")"
        );
        assert!(p.is_local());
    }

    #[test]
    fn origins() {
        assert!(Origin::parse("http://localhost:3000").is_ok());
        for bad in [
            "*",
            "null",
            "",
            "https://a.example/",
            "https://a.example/x",
            "http://a.example",
            "https://a.example?",
        ] {
            assert_eq!(Origin::parse(bad), Err(UrlError::InvalidOrigin), "{bad}");
        }
    }
}
