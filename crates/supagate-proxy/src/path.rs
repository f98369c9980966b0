//! [`Routes`]: which request paths are forwarded, and to which upstream path.

use crate::error::{ProxyConfigError, ProxyError};

/// Forwarded path prefixes: an incoming prefix (such as `/api/`) maps to an upstream prefix
/// (such as `/`). The upstream origin is fixed by configuration; the request only chooses a
/// path under an allowed prefix, appended as segments and never resolved as a URL reference.
///
/// A request target is refused (400) when it is absolute-form (`http://evil/`), starts with
/// `//` (an authority) or has an empty segment, contains `\`, a control character or space, a `.` or `..` segment, an
/// encoded `/`, `\`, `.` or `%` (`%2F`, `%5C`, `%2E`, `%25`), a `;` (matrix parameters) plain
/// or encoded, a malformed escape, or escapes that decode to a control character or to
/// invalid UTF-8 (overlong forms such as `%c0%ae`);
/// a well-formed path outside every prefix is 404.
///
/// # Examples
///
/// ```
/// use supagate_proxy::core::Routes;
///
/// let routes = Routes::new([("/api/", "/")])?;
/// assert_eq!(routes.upstream_path("/api/profile/me?x=1")?, "/profile/me?x=1");
/// assert!(routes.upstream_path("/api/../admin").is_err());
/// assert!(routes.upstream_path("//evil.example/x").is_err());
/// assert!(routes.upstream_path("/other").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routes {
    prefixes: Vec<(String, String)>,
}

impl Routes {
    /// `(incoming prefix, upstream prefix)` pairs; both must start and end with `/`. The first
    /// matching pair wins.
    ///
    /// # Errors
    ///
    /// [`ProxyConfigError`](crate::ProxyConfigError) for a prefix that does not start and end with `/` or
    /// that would itself be refused as a path.
    pub fn new<I, A, B>(prefixes: I) -> Result<Self, ProxyConfigError>
    where
        I: IntoIterator<Item = (A, B)>,
        A: Into<String>,
        B: Into<String>,
    {
        let prefixes: Vec<(String, String)> = prefixes
            .into_iter()
            .map(|(a, b)| (a.into(), b.into()))
            .collect();
        let ok = |p: &str| p.starts_with('/') && p.ends_with('/') && check_path(p).is_ok();
        if prefixes.is_empty() || !prefixes.iter().all(|(a, b)| ok(a) && ok(b)) {
            return Err(ProxyConfigError {
                what: "route prefixes must start and end with '/'",
            });
        }
        Ok(Routes { prefixes })
    }

    /// The upstream path and query for a request target (origin-form, as received).
    ///
    /// # Errors
    ///
    /// [`ProxyError::BadPath`] for a refused target, [`ProxyError::NotForwarded`] when no
    /// prefix matches.
    pub fn upstream_path(&self, target: &str) -> Result<String, ProxyError> {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        check_path(path)?;
        if let Some(q) = query {
            check_query(q)?;
        }
        for (incoming, upstream) in &self.prefixes {
            if let Some(rest) = path.strip_prefix(incoming.as_str()) {
                let mut out = String::with_capacity(upstream.len() + rest.len() + 1);
                out.push_str(upstream);
                out.push_str(rest);
                if let Some(q) = query {
                    out.push('?');
                    out.push_str(q);
                }
                return Ok(out);
            }
        }
        Err(ProxyError::NotForwarded)
    }
}

/// `upstream_path` (configured, fixed) with the query of `target` (the incoming request
/// target), both checked like [`Routes::upstream_path`].
#[cfg(feature = "client")]
pub(crate) fn fixed_upstream(upstream_path: &str, target: &str) -> Result<String, ProxyError> {
    check_path(upstream_path)?;
    let query = target.split_once('?').map(|(_, q)| q);
    check_path(target.split_once('?').map_or(target, |(p, _)| p))?;
    let mut out = upstream_path.to_owned();
    if let Some(q) = query {
        check_query(q)?;
        out.push('?');
        out.push_str(q);
    }
    Ok(out)
}

/// A fixed upstream target (path and optional query) chosen by server code, checked like
/// [`Routes::upstream_path`] checks a forwarded one.
#[cfg(feature = "client")]
pub(crate) fn upstream_target(target: &str) -> Result<String, ProxyError> {
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    check_path(path)?;
    if let Some(q) = query {
        check_query(q)?;
    }
    Ok(target.to_owned())
}

fn check_query(q: &str) -> Result<(), ProxyError> {
    if q.bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || b == b'#' || !b.is_ascii())
    {
        return Err(ProxyError::BadPath {
            reason: "invalid query",
        });
    }
    Ok(())
}

fn check_path(path: &str) -> Result<(), ProxyError> {
    let bad = |reason| Err(ProxyError::BadPath { reason });
    if !path.starts_with('/') {
        return bad("not an origin-form path");
    }
    if path.starts_with("//") {
        return bad("authority in path");
    }
    // An empty segment could put `//` at the start of the upstream path once the prefix is
    // replaced (`/api//evil` -> `//evil`): a network-path reference to another host.
    if path.contains("//") {
        return bad("empty segment");
    }
    if path
        .bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || b == b'\\' || b == b'#' || !b.is_ascii())
    {
        return bad("invalid character");
    }
    if path.contains(';') {
        return bad("path parameters");
    }
    let lower = path.to_ascii_lowercase();
    if ["%2f", "%5c", "%2e", "%25", "%00"]
        .iter()
        .any(|e| lower.contains(e))
    {
        return bad("encoded separator or dot");
    }
    if path.split('/').any(|seg| seg == "." || seg == "..") {
        return bad("dot segment");
    }
    // What the escapes decode to must be plain text: no control character, no `;` (`..%3b`
    // is `..;`, a dot segment to Tomcat), and valid UTF-8 (an overlong `%c0%ae` is `.` to
    // lenient decoders).
    let decoded = percent_decode(path).ok_or(ProxyError::BadPath {
        reason: "invalid percent-encoding",
    })?;
    let Ok(text) = std::str::from_utf8(&decoded) else {
        return bad("invalid percent-encoding");
    };
    // Look-alikes of `.`, `/` and `\` that Unicode normalisation (NFKC, "best fit") turns
    // into the real ones on some backends.
    const CONFUSABLE: &[char] = &[
        '\u{2024}', '\u{FE52}', '\u{FF0E}', '\u{2215}', '\u{2044}', '\u{FF0F}', '\u{FE68}',
        '\u{FF3C}',
    ];
    if text
        .chars()
        .any(|c| c.is_control() || c == ';' || CONFUSABLE.contains(&c))
    {
        return bad("invalid percent-encoding");
    }
    Ok(())
}

/// `s` with its `%XX` escapes decoded; `None` for a `%` not followed by two hex digits.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = |j: usize| bytes.get(j).and_then(|c| char::from(*c).to_digit(16));
            let (hi, lo) = (hex(i + 1)?, hex(i + 2)?);
            out.push(u8::try_from(hi * 16 + lo).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Some(out)
}
