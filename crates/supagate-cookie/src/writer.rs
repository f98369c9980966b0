//! Writing the session as `Set-Cookie` headers, chunked exactly as `@supabase/ssr` chunks.

use std::fmt::Write as _;

use http::HeaderMap;
use http::header::{CACHE_CONTROL, EXPIRES, HeaderName, HeaderValue, PRAGMA};

use crate::encoding::{chunk, encode_uri_component, encode_value};
use crate::error::{CookieConfigError, CookieError};
use crate::name::{CookieName, is_token_char};
use crate::reader::pairs;
use crate::session::Session;

/// `@supabase/ssr`'s cookie lifetime: 400 days, the most browsers keep.
pub(crate) const DEFAULT_MAX_AGE: i64 = 400 * 24 * 60 * 60;

/// The `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SameSite {
    /// `SameSite=Lax` (the default).
    #[default]
    Lax,
    /// `SameSite=Strict`.
    Strict,
    /// `SameSite=None` (requires `Secure` in browsers).
    None,
}

impl SameSite {
    fn as_str(self) -> &'static str {
        match self {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
            SameSite::None => "None",
        }
    }
}

/// How the session JSON is encoded in the cookie value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Encoding {
    /// `base64-` + base64url (the `@supabase/ssr` default since 0.4).
    #[default]
    Base64Url,
    /// The JSON itself, percent-encoded on the wire (`cookieEncoding: "raw"`).
    Raw,
}

/// Attributes of the cookies we write. Secure by default: `HttpOnly; Secure; SameSite=Lax;
/// Path=/`, no `Domain`, `Max-Age` 400 days.
///
/// `@supabase/ssr` defaults to neither `HttpOnly` nor `Secure`, because its browser client
/// reads the session through `document.cookie`. Behind a supagate proxy the browser never needs
/// the tokens; an app whose browser JavaScript does must say so with a loud name.
///
/// # Examples
///
/// ```
/// use supagate_cookie::{CookieOptions, SameSite};
///
/// let strict = CookieOptions::default().with_same_site(SameSite::Strict).with_domain(".example.com");
/// let for_browser_js = CookieOptions::default().insecure_readable_by_javascript();
/// # let _ = (strict, for_browser_js);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CookieOptions {
    path: String,
    domain: Option<String>,
    same_site: SameSite,
    max_age: i64,
    http_only: bool,
    secure: bool,
}

impl Default for CookieOptions {
    fn default() -> Self {
        CookieOptions {
            path: "/".to_owned(),
            domain: None,
            same_site: SameSite::Lax,
            max_age: DEFAULT_MAX_AGE,
            http_only: true,
            secure: true,
        }
    }
}

fn valid_attr(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && b != b';')
}

impl CookieOptions {
    /// `@supabase/ssr`'s cookie lifetime: 400 days, the most browsers keep.
    pub const DEFAULT_MAX_AGE: i64 = DEFAULT_MAX_AGE;

    /// `Path`. Default: `/`.
    #[must_use]
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// `Domain`. Default: none (a host-only cookie, which sibling subdomains cannot read).
    #[must_use]
    pub fn with_domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// `SameSite`. Default: `Lax`.
    #[must_use]
    pub fn with_same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// `Max-Age` in seconds. Default: 400 days (the cookie must outlive the refresh token).
    #[must_use]
    pub fn with_max_age(mut self, seconds: i64) -> Self {
        self.max_age = seconds;
        self
    }

    /// Drops `HttpOnly`, so browser JavaScript (a `createBrowserClient`) can read the tokens.
    /// Default: `HttpOnly` on.
    #[must_use]
    pub fn insecure_readable_by_javascript(mut self) -> Self {
        self.http_only = false;
        self
    }

    /// Drops `Secure`, so the cookie also travels over plain http (local development only).
    /// Default: `Secure` on.
    #[must_use]
    pub fn insecure_allow_http(mut self) -> Self {
        self.secure = false;
        self
    }

    fn check(&self, name: &CookieName) -> Result<(), CookieConfigError> {
        if !valid_attr(&self.path) || !self.path.starts_with('/') {
            return Err(CookieConfigError { what: "path" });
        }
        if self.domain.as_deref().is_some_and(|d| !valid_attr(d)) {
            return Err(CookieConfigError { what: "domain" });
        }
        if name.is_host_prefixed() && (self.domain.is_some() || self.path != "/" || !self.secure) {
            return Err(CookieConfigError {
                what: "__Host- cookies need Secure, Path=/ and no Domain",
            });
        }
        if name.as_str().starts_with("__Secure-") && !self.secure {
            return Err(CookieConfigError {
                what: "__Secure- cookies need Secure",
            });
        }
        Ok(())
    }

    /// `name=value; Max-Age=…; Domain=…; Path=…; HttpOnly; Secure; SameSite=…`, in the order
    /// `@supabase/ssr`'s serializer uses. `value` is already wire-safe.
    fn header(
        &self,
        name: &str,
        wire_value: &str,
        max_age: i64,
        domain: bool,
    ) -> Option<HeaderValue> {
        let domain = if domain { self.domain.as_deref() } else { None };
        self.header_at(name, wire_value, max_age, domain, &self.path)
    }

    /// [`CookieOptions::header`] at an explicit `Domain` and `Path`.
    fn header_at(
        &self,
        name: &str,
        wire_value: &str,
        max_age: i64,
        domain: Option<&str>,
        path: &str,
    ) -> Option<HeaderValue> {
        let mut s = format!("{name}={wire_value}; Max-Age={max_age}");
        if let Some(d) = domain {
            let _ = write!(s, "; Domain={d}");
        }
        let _ = write!(s, "; Path={path}");
        if self.http_only {
            s.push_str("; HttpOnly");
        }
        if self.secure {
            s.push_str("; Secure");
        }
        let _ = write!(s, "; SameSite={}", self.same_site.as_str());
        let mut v = HeaderValue::from_str(&s).ok()?;
        v.set_sensitive(true);
        Some(v)
    }
}

/// A `Domain` and `Path` the session cookies were once written at, for
/// [`SessionWriter::clear_at_scopes`]: what `@supabase/ssr`'s `clearAuthCookiesAtScopes` takes
/// as a scope. A scope without a path uses the writer's path (`/` by default).
///
/// # Examples
///
/// ```
/// use supagate_cookie::CookieScope;
///
/// let old_domain = CookieScope::domain(".example.com");
/// let old_path = CookieScope::path("/app");
/// let both = CookieScope::domain("example.com").with_path("/app");
/// # let _ = (old_domain, old_path, both);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CookieScope {
    domain: Option<String>,
    path: Option<String>,
}

impl CookieScope {
    /// The cookies written with `Domain=<domain>` (at the writer's path).
    #[must_use]
    pub fn domain(domain: impl Into<String>) -> Self {
        CookieScope {
            domain: Some(domain.into()),
            path: None,
        }
    }

    /// The host-only cookies written with `Path=<path>`.
    #[must_use]
    pub fn path(path: impl Into<String>) -> Self {
        CookieScope {
            domain: None,
            path: Some(path.into()),
        }
    }

    /// The same scope at `Path=<path>`. Default: the writer's path.
    #[must_use]
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// The scopes a cookie tossed by a sibling of `host` (a host name, with or without a
    /// port) can have at `Path=/`: `Domain=` each of its parent domains and itself
    /// (`app.example.com` gives `app.example.com` and `example.com`; a browser ignores the
    /// public suffix among them). None for an IP address or a single-label host.
    ///
    /// ```
    /// use supagate_cookie::CookieScope;
    ///
    /// assert_eq!(
    ///     CookieScope::parent_domains("app.example.com:443"),
    ///     [CookieScope::domain("app.example.com").with_path("/"), CookieScope::domain("example.com").with_path("/")]
    /// );
    /// assert!(CookieScope::parent_domains("127.0.0.1:3000").is_empty());
    /// assert!(CookieScope::parent_domains("localhost").is_empty());
    /// ```
    #[must_use]
    pub fn parent_domains(host: &str) -> Vec<CookieScope> {
        let host = match host.rsplit_once(':') {
            Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
            return Vec::new();
        }
        let labels: Vec<&str> = host.split('.').collect();
        (0..labels.len().saturating_sub(1))
            .filter_map(|i| labels.get(i..))
            .map(|rest| CookieScope::domain(rest.join(".")).with_path("/"))
            .collect()
    }
}

/// Writes sessions as `Set-Cookie` headers that `@supabase/ssr` reads back.
///
/// [`SessionWriter::set`] returns, in order: a deletion (`Max-Age=0`) for every session cookie
/// or chunk present in the request that the new session does not overwrite, then the new
/// cookie(s), chunked at 3180 encoded characters exactly as `@supabase/ssr` chunks. Send them
/// with [`no_cache_headers`], as `@supabase/ssr` does.
///
/// # Examples
///
/// ```
/// use http::HeaderMap;
/// use supagate_cookie::{CookieName, CookieOptions, Session, SessionWriter};
///
/// let writer = SessionWriter::new(CookieName::custom("sb-ref-auth-token")?, CookieOptions::default())?;
/// let session = Session::from_json(r#"{"access_token":"tok","refresh_token":"ref","expires_at":1}"#)?;
/// let set_cookies = writer.set(&session, &HeaderMap::new())?;
/// assert_eq!(set_cookies.len(), 1);
/// assert!(set_cookies[0].to_str().unwrap().ends_with("; Path=/; HttpOnly; Secure; SameSite=Lax"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct SessionWriter {
    name: CookieName,
    options: CookieOptions,
    encoding: Encoding,
    tokens_only: bool,
}

impl SessionWriter {
    /// A writer for `name` with `options` and the default `base64-` encoding.
    ///
    /// # Errors
    ///
    /// [`CookieConfigError`] for a path or domain that is not a plain attribute value,
    /// or prefix rules the options break (`__Host-` needs `Secure`, `Path=/`, no `Domain`).
    pub fn new(name: CookieName, options: CookieOptions) -> Result<Self, CookieConfigError> {
        options.check(&name)?;
        Ok(SessionWriter {
            name,
            options,
            encoding: Encoding::Base64Url,
            tokens_only: false,
        })
    }

    /// The value encoding. Default: [`Encoding::Base64Url`].
    #[must_use]
    pub fn with_encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// Writes sessions without their `user` object, as `@supabase/ssr` does with
    /// `cookies: { encode: "tokens-only" }` ([`Session::tokens_only_json`]): about half the
    /// cookie, which is what keeps a session with a large access token (an OAuth provider's
    /// profile in `user_metadata`) in fewer chunks. `@supabase/ssr` and supagate read such a
    /// cookie back as any other; the signed-in user comes from the verified access token.
    /// Default: off (the whole session, `@supabase/ssr`'s default `user-and-tokens`).
    ///
    /// # Examples
    ///
    /// ```
    /// use http::HeaderMap;
    /// use supagate_cookie::{CookieName, CookieOptions, Session, SessionWriter};
    ///
    /// let writer = SessionWriter::new(CookieName::custom("sb-ref-auth-token")?, CookieOptions::default())?
    ///     .with_tokens_only(true);
    /// let session = Session::from_json(r#"{"access_token":"tok","refresh_token":"ref","expires_at":1,"user":{"id":"u"}}"#)?;
    /// let set = writer.set(&session, &HeaderMap::new())?;
    /// // base64url of {"access_token":"tok","refresh_token":"ref","expires_at":1}
    /// assert!(set[0].to_str().unwrap().starts_with(
    ///     "sb-ref-auth-token=base64-eyJhY2Nlc3NfdG9rZW4iOiJ0b2siLCJyZWZyZXNoX3Rva2VuIjoicmVmIiwiZXhwaXJlc19hdCI6MX0;"
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_tokens_only(mut self, yes: bool) -> Self {
        self.tokens_only = yes;
        self
    }

    /// `Set-Cookie` values that store `session` (its JSON text verbatim), deleting stale
    /// session cookies present in `request` first.
    ///
    /// # Errors
    ///
    /// [`CookieError::Unwritable`] if a header value cannot be built (it cannot for valid
    /// options).
    pub fn set(
        &self,
        session: &Session,
        request: &HeaderMap,
    ) -> Result<Vec<HeaderValue>, CookieError> {
        let base64 = self.encoding == Encoding::Base64Url;
        let encoded = if self.tokens_only {
            encode_value(&session.tokens_only_json(), base64)
        } else {
            encode_value(session.expose_json(), base64)
        };
        self.set_value(&encoded, request)
    }

    fn set_value(
        &self,
        encoded: &str,
        request: &HeaderMap,
    ) -> Result<Vec<HeaderValue>, CookieError> {
        let new: Vec<(String, String)> = match chunk(encoded) {
            None => vec![(self.name.as_str().to_owned(), encoded.to_owned())],
            Some(chunks) => chunks
                .into_iter()
                .enumerate()
                .map(|(i, c)| (self.name.chunk(i), c))
                .collect(),
        };
        let present = self.present(request);
        let stale: Vec<&str> = present
            .iter()
            .filter(|(n, _)| !new.iter().any(|(m, _)| m == n))
            .map(|(n, _)| n.as_str())
            .collect();
        let mut out = self.deletions(&stale)?;
        for (name, value) in &new {
            let wire = encode_uri_component(value);
            // `@supabase/ssr` skips a cookie the request already carries with the same value.
            if present.iter().any(|(n, v)| n == name && *v == wire) {
                continue;
            }
            out.push(self.header(name, &wire, self.options.max_age, true)?);
        }
        Ok(out)
    }

    /// `Set-Cookie` values that delete every session cookie and chunk present in `request`,
    /// and the legacy `sb-access-token` / `sb-refresh-token` pair when present (sign-out).
    /// Nothing when the request carries none, as `@supabase/ssr`. PKCE verifiers:
    /// [`SessionWriter::clear_pkce`].
    ///
    /// # Errors
    ///
    /// As [`SessionWriter::set`].
    pub fn clear(&self, request: &HeaderMap) -> Result<Vec<HeaderValue>, CookieError> {
        let mut names: Vec<String> = self.present(request).into_iter().map(|(n, _)| n).collect();
        for field in request.get_all(http::header::COOKIE) {
            for (name, _) in pairs(field.as_bytes()) {
                for legacy in ["sb-access-token", "sb-refresh-token"] {
                    if name == legacy.as_bytes() && !names.iter().any(|n| n == legacy) {
                        names.push(legacy.to_owned());
                    }
                }
            }
        }
        self.deletions(&names)
    }

    /// `Set-Cookie` values that delete the session cookie and its chunks present in `request`
    /// at each of `scopes` (`Max-Age=0` with the scope's `Domain` and `Path`), scope by scope
    /// and in request order: `@supabase/ssr`'s `clearAuthCookiesAtScopes`, for an app that
    /// moved its cookie `Domain` or `Path` (the copies at the old scope would otherwise stay
    /// beside the new ones, and a jar with two copies of a session cookie is refused as
    /// ambiguous). A browser ignores a scope the host does not own. PKCE verifiers are not
    /// touched; nothing is returned when the request carries no session cookie.
    ///
    /// # Errors
    ///
    /// [`CookieError::Unwritable`] for a scope whose domain or path is not a plain attribute
    /// value.
    ///
    /// # Examples
    ///
    /// ```
    /// use http::HeaderMap;
    /// use supagate_cookie::{CookieName, CookieOptions, CookieScope, SessionWriter};
    ///
    /// let writer = SessionWriter::new(CookieName::custom("sb-ref-auth-token")?, CookieOptions::default())?;
    /// let mut request = HeaderMap::new();
    /// request.insert("cookie", "sb-ref-auth-token.0=a; sb-ref-auth-token.1=b".parse().unwrap());
    /// let gone = writer.clear_at_scopes(&request, &[CookieScope::domain(".example.com")])?;
    /// assert_eq!(
    ///     gone[0].to_str().unwrap(),
    ///     "sb-ref-auth-token.0=; Max-Age=0; Domain=.example.com; Path=/; HttpOnly; Secure; SameSite=Lax"
    /// );
    /// assert_eq!(gone.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clear_at_scopes(
        &self,
        request: &HeaderMap,
        scopes: &[CookieScope],
    ) -> Result<Vec<HeaderValue>, CookieError> {
        let names: Vec<String> = self.present(request).into_iter().map(|(n, _)| n).collect();
        let mut out = Vec::new();
        if names.is_empty() {
            return Ok(out);
        }
        for scope in scopes {
            if scope.domain.as_deref().is_some_and(|d| !valid_attr(d)) {
                return Err(CookieError::Unwritable {
                    what: "scope domain",
                });
            }
            let path = scope.path.as_deref().unwrap_or(&self.options.path);
            if !valid_attr(path) || !path.starts_with('/') {
                return Err(CookieError::Unwritable { what: "scope path" });
            }
            for name in &names {
                out.push(
                    self.options
                        .header_at(name, "", 0, scope.domain.as_deref(), path)
                        .ok_or(CookieError::Unwritable {
                            what: "set-cookie value",
                        })?,
                );
            }
        }
        Ok(out)
    }

    /// Session cookie names (unchunked or canonical chunks) in the request, in order, once each,
    /// with their wire values.
    fn present(&self, request: &HeaderMap) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for field in request.get_all(http::header::COOKIE) {
            for (name, value) in pairs(field.as_bytes()) {
                if self.name.classify(name).is_some() && name.iter().all(|b| is_token_char(*b)) {
                    let name = String::from_utf8_lossy(name).into_owned();
                    if !out.iter().any(|(n, _)| *n == name) {
                        out.push((name, String::from_utf8_lossy(value).into_owned()));
                    }
                }
            }
        }
        out
    }

    /// The session cookie name.
    #[must_use]
    pub fn name(&self) -> &CookieName {
        &self.name
    }

    pub(crate) fn is_base64(&self) -> bool {
        self.encoding == Encoding::Base64Url
    }

    pub(crate) fn cookie(
        &self,
        name: &str,
        wire: &str,
        max_age: i64,
    ) -> Result<HeaderValue, CookieError> {
        self.header(name, wire, max_age, true)
    }

    /// Deletions of `names`; with a `Domain` configured, first every host-only deletion, then
    /// every deletion with the domain, in `@supabase/ssr`'s order (a cookie store keyed by
    /// name keeps the domain-scoped one, which matches the cookies written).
    pub(crate) fn deletions<S: AsRef<str>>(
        &self,
        names: &[S],
    ) -> Result<Vec<HeaderValue>, CookieError> {
        let mut out = Vec::new();
        if self.options.domain.is_some() {
            for name in names {
                out.push(self.header(name.as_ref(), "", 0, false)?);
            }
        }
        for name in names {
            out.push(self.header(name.as_ref(), "", 0, true)?);
        }
        Ok(out)
    }

    fn header(
        &self,
        name: &str,
        wire: &str,
        max_age: i64,
        domain: bool,
    ) -> Result<HeaderValue, CookieError> {
        self.options
            .header(name, wire, max_age, domain)
            .ok_or(CookieError::Unwritable {
                what: "set-cookie value",
            })
    }
}

/// The anti-caching headers `@supabase/ssr` sends with every response that sets auth cookies:
/// a response carrying a session must never be stored by a shared cache.
#[must_use]
pub fn no_cache_headers() -> [(HeaderName, HeaderValue); 3] {
    [
        (
            CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache, no-store, must-revalidate, max-age=0"),
        ),
        (EXPIRES, HeaderValue::from_static("0")),
        (PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}
