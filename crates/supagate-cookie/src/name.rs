//! Cookie names: the storage key and its chunk names.

use std::fmt;

use crate::error::CookieConfigError;

/// The name of the session cookie (the auth-js storage key), from which chunk names derive.
///
/// # Examples
///
/// ```
/// use supagate_cookie::CookieName;
///
/// let name = CookieName::from_supabase_url("https://abcdefghijklmnopqrst.supabase.co")?;
/// assert_eq!(name.as_str(), "sb-abcdefghijklmnopqrst-auth-token");
/// assert_eq!(name.clone().with_host_prefix().as_str(), "__Host-sb-abcdefghijklmnopqrst-auth-token");
/// assert_eq!(CookieName::custom("my-app-auth")?.as_str(), "my-app-auth");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CookieName(String);

impl fmt::Debug for CookieName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CookieName").field(&self.0).finish()
    }
}

/// Where a request cookie belongs in a chunked session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// The unchunked cookie (`name`).
    Whole,
    /// Chunk `name.<index>`.
    Chunk(usize),
}

/// `name` without a `__Host-` or `__Secure-` prefix (any case).
fn strip_name_prefix(name: &[u8]) -> &[u8] {
    for prefix in [&b"__host-"[..], b"__secure-"] {
        if name
            .get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
        {
            return name.get(prefix.len()..).unwrap_or_default();
        }
    }
    name
}

/// Longest chunk index accepted, in digits; anything longer is not a chunk name.
const MAX_INDEX_DIGITS: usize = 4;

pub(crate) fn is_token_char(b: u8) -> bool {
    b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b)
}

impl CookieName {
    /// The default name supabase-js derives: `sb-<first label of the URL's host>-auth-token`,
    /// the host lower-cased (`http://127.0.0.1:54321` gives `sb-127-auth-token`). The URL is
    /// parsed with [`SupabaseProject::parse`]; see [`CookieName::for_project`].
    ///
    /// [`SupabaseProject::parse`]: supagate_core::SupabaseProject::parse
    ///
    /// # Errors
    ///
    /// [`CookieConfigError`] when the URL is not a project URL.
    pub fn from_supabase_url(url: &str) -> Result<Self, CookieConfigError> {
        let project =
            supagate_core::SupabaseProject::parse(url).map_err(|_| CookieConfigError {
                what: "supabase url",
            })?;
        Self::for_project(&project)
    }

    /// The default name supabase-js derives for `project`: `sb-<first label of the host>-auth-token`
    /// ([`SupabaseProject::cookie_label`]).
    ///
    /// [`SupabaseProject::cookie_label`]: supagate_core::SupabaseProject::cookie_label
    ///
    /// # Errors
    ///
    /// [`CookieConfigError`] when the label is not a cookie-name token (an IPv6
    /// literal host).
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_cookie::CookieName;
    /// use supagate_core::SupabaseProject;
    ///
    /// let project = SupabaseProject::parse("https://abcdefghijklmnopqrst.supabase.co")?;
    /// let name = CookieName::for_project(&project)?;
    /// assert_eq!(name.as_str(), "sb-abcdefghijklmnopqrst-auth-token");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_project(
        project: &supagate_core::SupabaseProject,
    ) -> Result<Self, CookieConfigError> {
        Self::custom(format!("sb-{}-auth-token", project.cookie_label()))
    }

    /// A custom name (`cookieOptions.name` in `@supabase/ssr`).
    ///
    /// # Errors
    ///
    /// [`CookieConfigError`] unless the name is a non-empty RFC 6265 token.
    pub fn custom(name: impl Into<String>) -> Result<Self, CookieConfigError> {
        let name = name.into();
        if name.is_empty() || !name.bytes().all(is_token_char) {
            return Err(CookieConfigError {
                what: "cookie name",
            });
        }
        Ok(CookieName(name))
    }

    /// Prefixes the name with `__Host-` (the browser then requires `Secure`, `Path=/` and no
    /// `Domain`, so a sibling subdomain cannot plant it). The unprefixed name is never read.
    #[must_use]
    pub fn with_host_prefix(self) -> Self {
        CookieName(format!("__Host-{}", self.0))
    }

    /// Prefixes the name with `__Secure-` (the browser then requires `Secure`).
    #[must_use]
    pub fn with_secure_prefix(self) -> Self {
        CookieName(format!("__Secure-{}", self.0))
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the name carries the `__Host-` prefix.
    #[must_use]
    pub fn is_host_prefixed(&self) -> bool {
        self.0.starts_with("__Host-")
    }

    /// The name of chunk `index`.
    #[must_use]
    pub fn chunk(&self, index: usize) -> String {
        format!("{}.{index}", self.0)
    }

    /// Whether `name` belongs to this session's cookie family, compared ignoring ASCII case
    /// and a `__Host-` / `__Secure-` prefix on either side: the name itself, its chunks
    /// (`<name>.<anything>`), and its PKCE slots and other companions (`<name>-<anything>`:
    /// `-code-verifier`, `-flow-<id>-code-verifier`, `-flows-code-verifier`). For stripping and
    /// filtering, where looser is safer; reading uses the exact rules.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_cookie::CookieName;
    ///
    /// let name = CookieName::custom("app-session")?;
    /// assert!(name.covers(b"app-session"));
    /// assert!(name.covers(b"App-Session.1"));
    /// assert!(name.covers(b"__Host-app-session-code-verifier"));
    /// assert!(!name.covers(b"app-sessions"));
    /// assert!(!name.covers(b"theme"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn covers(&self, name: &[u8]) -> bool {
        let ours = strip_name_prefix(self.0.as_bytes());
        let theirs = strip_name_prefix(name);
        let Some(head) = theirs.get(..ours.len()) else {
            return false;
        };
        head.eq_ignore_ascii_case(ours)
            && matches!(theirs.get(ours.len()), None | Some(b'.' | b'-'))
    }

    /// Whether `name` holds the session: the name itself or one of its canonical chunks
    /// (`.0`, `.1`, …), not a PKCE verifier slot or any other cookie of the family.
    ///
    /// ```
    /// use supagate_cookie::CookieName;
    ///
    /// let n = CookieName::custom("sb-ref-auth-token")?;
    /// assert!(n.holds_session(b"sb-ref-auth-token") && n.holds_session(b"sb-ref-auth-token.1"));
    /// assert!(!n.holds_session(b"sb-ref-auth-token-code-verifier"));
    /// assert!(!n.holds_session(b"sb-ref-auth-token.01"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn holds_session(&self, name: &[u8]) -> bool {
        self.classify(name).is_some()
    }

    /// Classifies a request cookie name: the unchunked cookie, a chunk with a canonical index
    /// (`0` or `[1-9][0-9]*`, at most four digits), or unrelated (`None`).
    pub(crate) fn classify(&self, name: &[u8]) -> Option<Slot> {
        let rest = name.strip_prefix(self.0.as_bytes())?;
        if rest.is_empty() {
            return Some(Slot::Whole);
        }
        let digits = rest.strip_prefix(b".")?;
        let canonical = match digits {
            [b'0'] => true,
            [first, tail @ ..] => {
                (b'1'..=b'9').contains(first)
                    && tail.iter().all(u8::is_ascii_digit)
                    && digits.len() <= MAX_INDEX_DIGITS
            }
            [] => false,
        };
        if !canonical {
            return None;
        }
        let index = digits
            .iter()
            .fold(0usize, |acc, d| acc * 10 + usize::from(d - b'0'));
        Some(Slot::Chunk(index))
    }
}

impl fmt::Display for CookieName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_canonical_indices_only() {
        let n = CookieName::custom("k").unwrap();
        assert_eq!(n.classify(b"k"), Some(Slot::Whole));
        assert_eq!(n.classify(b"k.0"), Some(Slot::Chunk(0)));
        assert_eq!(n.classify(b"k.12"), Some(Slot::Chunk(12)));
        for bad in [
            &b"k.00"[..],
            b"k.01",
            b"k.+1",
            b"k.1e3",
            b"k.",
            b"k.99999999999999999999",
            b"kk",
            b"k-0",
            b"k.0.1",
        ] {
            assert_eq!(n.classify(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn storage_key_from_url() {
        for (url, key) in [
            (
                "https://abcdefghijklmnopqrst.supabase.co",
                "sb-abcdefghijklmnopqrst-auth-token",
            ),
            (
                "https://abcdefghijklmnopqrst.supabase.co/",
                "sb-abcdefghijklmnopqrst-auth-token",
            ),
            ("http://127.0.0.1:54321", "sb-127-auth-token"),
            ("http://localhost:54321", "sb-localhost-auth-token"),
            ("https://auth.example.com", "sb-auth-auth-token"),
            ("https://ABC.supabase.co", "sb-abc-auth-token"),
        ] {
            assert_eq!(CookieName::from_supabase_url(url).unwrap().as_str(), key);
        }
        assert!(CookieName::from_supabase_url("ftp://x").is_err());
        assert!(CookieName::from_supabase_url("https://").is_err());
        assert!(CookieName::custom("a;b").is_err());
        assert!(CookieName::custom("").is_err());
    }
}
