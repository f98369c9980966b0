//! Reading the session from a request's `Cookie` header fields.

use http::HeaderMap;
use http::header::COOKIE;

use crate::encoding::{BASE64_PREFIX, decode_value, percent_decode};
use crate::error::CookieError;
use crate::name::{CookieName, Slot};
use crate::session::{DEFAULT_MAX_JSON_BYTES, DEFAULT_MAX_JSON_DEPTH, Session};

/// Default cap on the bytes of all `Cookie` fields of one request.
pub(crate) const DEFAULT_MAX_COOKIE_BYTES: usize = 64 * 1024;
/// Default cap on the number of session chunks.
pub(crate) const DEFAULT_MAX_CHUNKS: usize = 16;

/// Reads a Supabase session from request cookies, the way `@supabase/ssr` writes them, but
/// refusing every ambiguity.
///
/// - All `Cookie` fields are read; pairs are split on `;`, and a malformed unrelated pair is
///   skipped without affecting the session.
/// - The session is the cookie `name`, or the chunks `name.0`, `name.1`, … joined in index
///   order (canonical indices only; joining stops at the first missing or empty index).
/// - The same name twice, or a non-empty unchunked cookie next to chunks, is
///   [`CookieError::Ambiguous`] (`@supabase/ssr` silently picks one, which lets a cookie
///   tossed from a sibling subdomain replace the user's session). An empty unchunked cookie
///   next to chunks is not ambiguous.
/// - Each cookie value is percent-decoded when it contains `%` (strictly), the chunks are
///   joined, then a `base64-` value is base64url-decoded; the result must be UTF-8 JSON
///   within the size and depth limits, holding a session object.
/// - Limits are checked before any decoding: total cookie bytes and chunk count.
///
/// # Examples
///
/// ```
/// use http::{HeaderMap, HeaderValue, header::COOKIE};
/// use supagate_cookie::{CookieName, SessionReader};
///
/// let reader = SessionReader::new(CookieName::custom("sb-ref-auth-token")?);
/// let mut headers = HeaderMap::new();
/// headers.append(COOKIE, HeaderValue::from_static("theme=dark; sb-ref-auth-token=base64-eyJhY2Nlc3NfdG9rZW4iOiJ0b2siLCJyZWZyZXNoX3Rva2VuIjoicmVmIiwiZXhwaXJlc19hdCI6MX0"));
/// let session = reader.read(&headers)?.expect("a session");
/// assert_eq!(session.access_token().expose(), "tok");
///
/// assert!(reader.read(&HeaderMap::new())?.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct SessionReader {
    name: CookieName,
    max_cookie_bytes: usize,
    max_chunks: usize,
    max_json_bytes: usize,
    max_json_depth: usize,
    legacy_pair: bool,
}

impl SessionReader {
    /// Default cap on the number of session chunks.
    pub const DEFAULT_MAX_CHUNKS: usize = DEFAULT_MAX_CHUNKS;

    /// Default cap on the bytes of all `Cookie` fields of one request.
    pub const DEFAULT_MAX_COOKIE_BYTES: usize = DEFAULT_MAX_COOKIE_BYTES;

    /// A reader for `name` with the default limits (64 KiB of cookies, 16 chunks, 64 KiB of
    /// JSON, depth 32).
    #[must_use]
    pub fn new(name: CookieName) -> Self {
        SessionReader {
            name,
            max_cookie_bytes: DEFAULT_MAX_COOKIE_BYTES,
            max_chunks: DEFAULT_MAX_CHUNKS,
            max_json_bytes: DEFAULT_MAX_JSON_BYTES,
            max_json_depth: DEFAULT_MAX_JSON_DEPTH,
            legacy_pair: false,
        }
    }

    /// Cap on the bytes of all `Cookie` fields together. Default: 64 KiB, which holds the
    /// largest session `@supabase/ssr` writes in 16 chunks (16 × 3180 bytes) with room for
    /// other cookies: a session around a 12 KB access token (a large `user_metadata`) is
    /// about 33 KB of cookies.
    #[must_use]
    pub fn with_max_cookie_bytes(mut self, bytes: usize) -> Self {
        self.max_cookie_bytes = bytes;
        self
    }

    /// Cap on the number of session chunks. Default: 16.
    #[must_use]
    pub fn with_max_chunks(mut self, chunks: usize) -> Self {
        self.max_chunks = chunks;
        self
    }

    /// Also read the legacy `sb-access-token` / `sb-refresh-token` pair (gotrue-js v1 and the
    /// pre-v2 auth-helpers). Default: off; Supabase no longer recommends these cookies. When the
    /// pair and the session cookie are both present the request is
    /// [`CookieError::Ambiguous`]: the two are never merged.
    #[must_use]
    pub fn with_legacy_pair(mut self, yes: bool) -> Self {
        self.legacy_pair = yes;
        self
    }

    /// The cookie name read.
    #[must_use]
    pub fn name(&self) -> &CookieName {
        &self.name
    }

    /// Reads the session from every `Cookie` field of `headers`. `Ok(None)` when there is no
    /// session cookie at all.
    ///
    /// # Errors
    ///
    /// A [`CookieError`] when session cookies are present but oversized, ambiguous or unusable.
    pub fn read(&self, headers: &HeaderMap) -> Result<Option<Session>, CookieError> {
        let fields: Vec<&[u8]> = headers
            .get_all(COOKIE)
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        self.read_fields(&fields)
    }

    /// Like [`SessionReader::read`], from raw `Cookie` field values.
    ///
    /// # Errors
    ///
    /// As [`SessionReader::read`].
    pub fn read_fields(&self, fields: &[&[u8]]) -> Result<Option<Session>, CookieError> {
        let total: usize = fields.iter().map(|f| f.len()).sum();
        if total > self.max_cookie_bytes {
            return Err(CookieError::TooLarge);
        }
        let mut whole: Option<&[u8]> = None;
        let mut chunks: Vec<(usize, &[u8])> = Vec::new();
        let mut legacy_access: Option<&[u8]> = None;
        let mut legacy_refresh: Option<&[u8]> = None;
        for (name, value) in fields.iter().flat_map(|f| pairs(f)) {
            match self.name.classify(name) {
                Some(Slot::Whole) => once(&mut whole, value)?,
                Some(Slot::Chunk(i)) => {
                    if chunks.iter().any(|(j, _)| *j == i) {
                        return Err(CookieError::Ambiguous);
                    }
                    if chunks.len() >= self.max_chunks || i >= self.max_chunks {
                        return Err(CookieError::TooManyChunks);
                    }
                    chunks.push((i, value));
                }
                None if self.legacy_pair && name == LEGACY_ACCESS => {
                    once(&mut legacy_access, value)?
                }
                None if self.legacy_pair && name == LEGACY_REFRESH => {
                    once(&mut legacy_refresh, value)?
                }
                None => {}
            }
        }
        let whole = whole.map(unquote).filter(|v| !v.is_empty());
        if legacy_access.is_some() || legacy_refresh.is_some() {
            if whole.is_some() || !chunks.is_empty() {
                return Err(CookieError::Ambiguous);
            }
            return legacy_session(legacy_access, legacy_refresh).map(Some);
        }
        let joined = match (whole, chunks.is_empty()) {
            (Some(_), false) => return Err(CookieError::Ambiguous),
            (Some(v), true) => {
                let mut joined = Vec::with_capacity(v.len());
                append_cookie_value(&mut joined, v, v.starts_with(BASE64_PREFIX.as_bytes()))?;
                joined
            }
            (None, true) => return Ok(None),
            (None, false) => {
                chunks.sort_unstable_by_key(|(i, _)| *i);
                let base64 = chunks
                    .first()
                    .is_some_and(|(_, v)| unquote(v).starts_with(BASE64_PREFIX.as_bytes()));
                let mut joined = Vec::with_capacity(chunks.iter().map(|(_, v)| v.len()).sum());
                for (expected, (i, value)) in chunks.iter().enumerate() {
                    let value = unquote(value);
                    if *i != expected || value.is_empty() {
                        break;
                    }
                    append_cookie_value(&mut joined, value, base64)?;
                }
                if joined.is_empty() {
                    return Err(CookieError::BadEncoding);
                }
                joined
            }
        };
        let json = decode_value(joined)?;
        Session::from_json_owned(json, self.max_json_bytes, self.max_json_depth).map(Some)
    }
}

/// Strips exactly one pair of surrounding double quotes (RFC 6265 `cookie-value`).
fn unquote(value: &[u8]) -> &[u8] {
    match value {
        [b'"', inner @ .., b'"'] => inner,
        other => other,
    }
}

/// Records a cookie that may appear only once.
fn once<'a>(slot: &mut Option<&'a [u8]>, value: &'a [u8]) -> Result<(), CookieError> {
    match slot.replace(value) {
        Some(_) => Err(CookieError::Ambiguous),
        None => Ok(()),
    }
}

const LEGACY_ACCESS: &[u8] = b"sb-access-token";
const LEGACY_REFRESH: &[u8] = b"sb-refresh-token";

/// The legacy pair: each value is `encodeURIComponent` of the raw token.
fn legacy_session(access: Option<&[u8]>, refresh: Option<&[u8]>) -> Result<Session, CookieError> {
    let decode = |v: &[u8]| -> Result<String, CookieError> {
        let bytes = percent_decode(unquote(v)).ok_or(CookieError::BadEncoding)?;
        String::from_utf8(bytes).map_err(|_| CookieError::BadEncoding)
    };
    let access = decode(access.ok_or(CookieError::NotASession)?)?;
    let refresh = refresh.map(decode).transpose()?.unwrap_or_default();
    let json =
        serde_json::json!({"access_token": access, "refresh_token": refresh, "expires_at": null});
    Session::from_json_owned(
        json.to_string(),
        DEFAULT_MAX_JSON_BYTES,
        DEFAULT_MAX_JSON_DEPTH,
    )
}

/// Appends one cookie value as the browser sent it: percent-decoded once when it contains `%`
/// and is part of a raw-JSON session (never for `base64-` sessions, whose alphabet has no `%`).
fn append_cookie_value(out: &mut Vec<u8>, value: &[u8], base64: bool) -> Result<(), CookieError> {
    if !base64 && value.contains(&b'%') {
        out.extend(percent_decode(value).ok_or(CookieError::BadEncoding)?);
    } else {
        out.extend_from_slice(value);
    }
    Ok(())
}

/// `name=value` pairs of one `Cookie` field, split on `;`, optional whitespace trimmed. Pairs
/// without `=` are skipped.
pub(crate) fn pairs(field: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    cookie_pairs(field).filter_map(|(pair, name)| {
        let eq = memchr::memchr(b'=', pair)?;
        Some((name, pair.get(eq + 1..)?.trim_ascii()))
    })
}

/// The pairs of one `Cookie` field with their names, as a server reads them: split on `;`
/// (found with SIMD: a session cookie header is kilobytes), each pair trimmed, empty ones
/// skipped; the name is the trimmed text before the first `=`, or the whole pair without one.
/// For a proxy that sorts a request's cookies (what it keeps, what it forwards) without
/// decoding them.
///
/// # Examples
///
/// ```
/// use supagate_cookie::cookie_pairs;
///
/// let pairs: Vec<_> = cookie_pairs(b"theme=dark; ; sb-ref-auth-token=base64-e30; flag").collect();
/// assert_eq!(
///     pairs,
///     [
///         (&b"theme=dark"[..], &b"theme"[..]),
///         (b"sb-ref-auth-token=base64-e30", b"sb-ref-auth-token"),
///         (b"flag", b"flag"),
///     ]
/// );
/// ```
pub fn cookie_pairs(field: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut start = 0;
    memchr::memchr_iter(b';', field)
        .chain(std::iter::once(field.len()))
        .filter_map(move |end| {
            let pair = field.get(start..end)?.trim_ascii();
            start = end + 1;
            if pair.is_empty() {
                return None;
            }
            let name = memchr::memchr(b'=', pair)
                .and_then(|eq| pair.get(..eq))
                .unwrap_or(pair)
                .trim_ascii();
            Some((pair, name))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The split as the proxy wrote it before `memchr`: the same pairs, the same names.
    fn reference(field: &[u8]) -> Vec<(&[u8], &[u8])> {
        field
            .split(|&b| b == b';')
            .map(<[u8]>::trim_ascii)
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let name = pair
                    .split(|&b| b == b'=')
                    .next()
                    .unwrap_or(pair)
                    .trim_ascii();
                (pair, name)
            })
            .collect()
    }

    #[test]
    fn cookie_pairs_split_as_the_reference_does() {
        let corpus: [&[u8]; 14] = [
            b"",
            b";",
            b";;; ;",
            b"a=1",
            b" a = 1 ; b=2;c",
            b"=x; =; sb-ref-auth-token=base64-abc",
            b"sb-ref-auth-token.0=a=b=c; sb-ref-auth-token.1=d",
            b"a=1;b=2;",
            b"  ;a=;  ;=",
            b"\tx=1;\ty=2\t",
            b"__Host-sb-x=1; __Secure-SB-y=2; theme=dark",
            b"name only; other",
            b"a=\"q;uoted\"; b=2",
            b"x=\xff\xfe; y=1",
        ];
        for field in corpus {
            let got: Vec<_> = cookie_pairs(field).collect();
            assert_eq!(
                got,
                reference(field),
                "{:?}",
                String::from_utf8_lossy(field)
            );
        }
    }

    #[test]
    fn pairs_are_tolerant() {
        let p: Vec<_> = pairs(b" a=1;b ; c=;=x; d = 2 ;").collect();
        assert_eq!(
            p,
            vec![
                (&b"a"[..], &b"1"[..]),
                (b"c", b""),
                (b"", b"x"),
                (b"d", b"2")
            ]
        );
    }
}
