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
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    check_path(path)?;
    let mut out = String::with_capacity(upstream_path.len() + query.map_or(0, |q| q.len() + 1));
    out.push_str(upstream_path);
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

/// Byte classes for [`check_path`]: a byte outside printable ASCII, a space, `\\` or `#`.
const INVALID: u8 = 1;
/// `;` (path parameters).
const SEMICOLON: u8 = 2;
/// `%` (an escape).
const PERCENT: u8 = 4;
/// `.` (maybe a dot segment).
const DOT: u8 = 8;

/// The class of every byte value (0 for the plain ones).
static BYTE_CLASS: [u8; 256] = byte_classes();

// Evaluated at compile time, `i < 256`: the indexing cannot fail.
#[allow(clippy::indexing_slicing)]
const fn byte_classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        // `i < 256`: the cast is exact.
        #[allow(clippy::cast_possible_truncation)]
        let b = i as u8;
        t[i] = if b.is_ascii_control() || b == b' ' || b == b'\\' || b == b'#' || !b.is_ascii() {
            INVALID
        } else if b == b';' {
            SEMICOLON
        } else if b == b'%' {
            PERCENT
        } else if b == b'.' {
            DOT
        } else {
            0
        };
        i += 1;
    }
    t
}

// `BYTE_CLASS` has an entry for every `u8`: its indexing cannot fail.
#[allow(clippy::indexing_slicing)]
fn check_path(path: &str) -> Result<(), ProxyError> {
    let bad = |reason| Err(ProxyError::BadPath { reason });
    if !path.starts_with('/') {
        return bad("not an origin-form path");
    }
    if path.starts_with("//") {
        return bad("authority in path");
    }
    // One pass over the bytes gathers the classes present (a table lookup and an `or` per
    // byte); the rarer checks run only when their bytes are there. The refusals keep their
    // order.
    let (mut seen, mut empty_segment, mut prev) = (0u8, false, 0u8);
    for &b in path.as_bytes() {
        seen |= BYTE_CLASS[usize::from(b)];
        empty_segment |= (prev == b'/') & (b == b'/');
        prev = b;
    }
    let invalid = seen & INVALID != 0;
    let parameters = seen & SEMICOLON != 0;
    let escaped = seen & PERCENT != 0;
    // A segment of only one or two dots: `.` and `..` are dot segments.
    let dot_segment = seen & DOT != 0 && path.split('/').any(|s| s == "." || s == "..");
    // An empty segment could put `//` at the start of the upstream path once the prefix is
    // replaced (`/api//evil` -> `//evil`): a network-path reference to another host.
    if empty_segment {
        return bad("empty segment");
    }
    if invalid {
        return bad("invalid character");
    }
    if parameters {
        return bad("path parameters");
    }
    if escaped {
        let lower = path.to_ascii_lowercase();
        if ["%2f", "%5c", "%2e", "%25", "%00"]
            .iter()
            .any(|e| lower.contains(e))
        {
            return bad("encoded separator or dot");
        }
    }
    if dot_segment {
        return bad("dot segment");
    }
    // Without an escape the path is what it decodes to: printable ASCII, checked above.
    if !escaped {
        return Ok(());
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The checks as they were written before the one-pass scan: every refusal and its
    /// reason must stay the same.
    fn reference(path: &str) -> Result<(), &'static str> {
        if !path.starts_with('/') {
            return Err("not an origin-form path");
        }
        if path.starts_with("//") {
            return Err("authority in path");
        }
        if path.contains("//") {
            return Err("empty segment");
        }
        if path
            .bytes()
            .any(|b| b.is_ascii_control() || b == b' ' || b == b'\\' || b == b'#' || !b.is_ascii())
        {
            return Err("invalid character");
        }
        if path.contains(';') {
            return Err("path parameters");
        }
        let lower = path.to_ascii_lowercase();
        if ["%2f", "%5c", "%2e", "%25", "%00"]
            .iter()
            .any(|e| lower.contains(e))
        {
            return Err("encoded separator or dot");
        }
        if path.split('/').any(|seg| seg == "." || seg == "..") {
            return Err("dot segment");
        }
        let Some(decoded) = percent_decode(path) else {
            return Err("invalid percent-encoding");
        };
        let Ok(text) = std::str::from_utf8(&decoded) else {
            return Err("invalid percent-encoding");
        };
        if text.chars().any(|c| {
            c.is_control()
                || c == ';'
                || [
                    '\u{2024}', '\u{FE52}', '\u{FF0E}', '\u{2215}', '\u{2044}', '\u{FF0F}',
                    '\u{FE68}', '\u{FF3C}',
                ]
                .contains(&c)
        }) {
            return Err("invalid percent-encoding");
        }
        Ok(())
    }

    fn reason(path: &str) -> Result<(), &'static str> {
        check_path(path).map_err(|e| match e {
            ProxyError::BadPath { reason } => reason,
            _ => "other",
        })
    }

    #[test]
    fn the_one_pass_scan_refuses_what_the_reference_refuses_for_the_same_reason() {
        let corpus = [
            "/",
            "/a",
            "/a/",
            "/.",
            "/..",
            "/./a",
            "/../a",
            "/a/.",
            "/a/..",
            "/a/...",
            "/a/.b",
            "/a/b.",
            "/..a",
            "/a..",
            "/...",
            "/a//b",
            "//a",
            "/a/%2e%2e",
            "/a/%2E",
            "/a/.%2e",
            "/a;b",
            "/a/..;/b",
            "/a/%3b",
            "/a/%c0%ae",
            "/a/%e2%80%a4",
            "/a/%",
            "/a/%4",
            "/a/%zz",
            "/a b",
            "/a\\b",
            "/a#b",
            "/a/\u{e9}",
            "/a/%00",
            "/a/%25",
            "/a/%2f",
            "/a/%5C",
            "/a/%41",
            "/a/.;",
            "/.//",
            "/a/../..",
            "a",
            "",
            "/a/%0a",
            "/%7e/",
            "/./",
        ];
        for path in corpus {
            assert_eq!(reason(path), reference(path), "{path:?}");
        }
        // Every path of up to four characters over the alphabet that matters.
        let alphabet = [
            '/', '.', 'a', '%', '2', 'e', ';', ' ', '#', '\u{7f}', '\\', '\t', '\u{e9}',
        ];
        let mut paths = vec![String::new()];
        for _ in 0..4 {
            let mut next = Vec::new();
            for p in &paths {
                for c in alphabet {
                    let mut q = p.clone();
                    q.push(c);
                    next.push(q);
                }
            }
            for p in &next {
                let path = format!("/{p}");
                assert_eq!(reason(&path), reference(&path), "{path:?}");
            }
            paths = next;
        }
    }

    #[test]
    #[cfg(feature = "client")]
    fn a_fixed_target_keeps_the_query() {
        assert_eq!(
            fixed_upstream("/profile/me", "/api/profile?a=1")
                .ok()
                .as_deref(),
            Some("/profile/me?a=1")
        );
        assert_eq!(
            fixed_upstream("/profile/me", "/api/profile")
                .ok()
                .as_deref(),
            Some("/profile/me")
        );
        assert!(fixed_upstream("/profile/me", "/api/../x").is_err());
        assert!(fixed_upstream("/profile/me", "/api/profile?a b").is_err());
    }
}
