//! The encodings `@supabase/ssr` and browsers use: `encodeURIComponent`, strict percent
//! decoding, the `base64-` prefix, and the chunker.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::CookieError;

/// `@supabase/ssr`'s `MAX_CHUNK_SIZE`: the largest encoded length of one cookie value.
pub const MAX_CHUNK_SIZE: usize = 3180;

/// The prefix of base64url-encoded session values.
pub const BASE64_PREFIX: &str = "base64-";

/// JavaScript's `encodeURIComponent`: everything but `A–Z a–z 0–9 - _ . ! ~ * ' ( )` as
/// upper-case `%XX` of the UTF-8 bytes.
/// The bytes `encodeURIComponent` leaves alone, as a lookup table (this runs over every byte of
/// a session value several times per write).
#[allow(clippy::indexing_slicing)] // `i < 256` by the loop condition, checked at compile time
const UNRESERVED: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            );
        i += 1;
    }
    t
};

fn is_unreserved(b: u8) -> bool {
    UNRESERVED.get(usize::from(b)).copied().unwrap_or(false)
}

pub(crate) fn encode_uri_component(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    if s.bytes().all(is_unreserved) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            for nibble in [b >> 4, b & 0xf] {
                out.push(HEX.get(usize::from(nibble)).map_or('0', |h| char::from(*h)));
            }
        }
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Strict percent-decoding: every `%` must start a `%XX` escape. Returns bytes (UTF-8 is
/// checked by the caller).
pub(crate) fn percent_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        if b == b'%' {
            let hi = hex(*input.get(i + 1)?)?;
            let lo = hex(*input.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Some(out)
}

/// Encodes a session (or PKCE) JSON text the way `@supabase/ssr` does for `encoding`.
pub(crate) fn encode_value(json: &str, base64: bool) -> String {
    if base64 {
        format!("{BASE64_PREFIX}{}", URL_SAFE_NO_PAD.encode(json.as_bytes()))
    } else {
        json.to_owned()
    }
}

/// Decodes a joined cookie value: `base64-` + base64url (trailing `=` tolerated, spaces, tabs,
/// CR and LF skipped, as `@supabase/ssr` does), or raw text; the result must be UTF-8.
pub(crate) fn decode_value(joined: Vec<u8>) -> Result<String, CookieError> {
    let bytes = match joined.strip_prefix(BASE64_PREFIX.as_bytes()) {
        Some(b64) => {
            // `@supabase/ssr`'s decoder skips spaces, tabs, CR and LF anywhere in the value.
            let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
            let compact;
            let b64 = if b64.iter().any(is_space) {
                compact = b64
                    .iter()
                    .copied()
                    .filter(|b| !is_space(b))
                    .collect::<Vec<u8>>();
                &compact[..]
            } else {
                b64
            };
            let end = b64.iter().rposition(|b| *b != b'=').map_or(0, |p| p + 1);
            URL_SAFE_NO_PAD
                .decode(b64.get(..end).unwrap_or_default())
                .map_err(|_| CookieError::BadEncoding)?
        }
        None => joined,
    };
    String::from_utf8(bytes).map_err(|_| CookieError::BadEncoding)
}

/// `@supabase/ssr`'s `createChunks`: `None` when the value fits one cookie, otherwise the chunk
/// values. Chunks are measured on the `encodeURIComponent` length, never split an escape, and
/// end on a code-point boundary.
pub(crate) fn chunk(value: &str) -> Option<Vec<String>> {
    if value.bytes().all(is_unreserved) {
        // `base64-` values: `encodeURIComponent` is the identity, so chunks are plain slices.
        if value.len() <= MAX_CHUNK_SIZE {
            return None;
        }
        return Some(
            value
                .as_bytes()
                .chunks(MAX_CHUNK_SIZE)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect(),
        );
    }
    let encoded = encode_uri_component(value);
    if encoded.len() <= MAX_CHUNK_SIZE {
        return None;
    }
    let mut chunks = Vec::new();
    let mut rest: &str = &encoded;
    while !rest.is_empty() {
        // `encoded` is ASCII, so every byte index is a char boundary.
        let mut head = rest.get(..MAX_CHUNK_SIZE.min(rest.len())).unwrap_or(rest);
        if let Some(pos) = head.rfind('%')
            && pos + 3 > MAX_CHUNK_SIZE
        {
            head = head.get(..pos).unwrap_or_default();
        }
        let decoded = loop {
            match percent_decode(head.as_bytes()).and_then(|b| String::from_utf8(b).ok()) {
                Some(d) => break d,
                None if head.len() > 3 && head.as_bytes().get(head.len() - 3) == Some(&b'%') => {
                    head = head.get(..head.len() - 3).unwrap_or_default();
                }
                // Cannot happen for the output of `encode_uri_component` of valid UTF-8.
                None => return None,
            }
        };
        if head.is_empty() {
            return None;
        }
        chunks.push(decoded);
        rest = rest.get(head.len()..).unwrap_or_default();
    }
    Some(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_component_matches_javascript() {
        assert_eq!(
            encode_uri_component("{\"a\":\"é ü\"}"),
            "%7B%22a%22%3A%22%C3%A9%20%C3%BC%22%7D"
        );
        assert_eq!(encode_uri_component("AZaz09-_.!~*'()"), "AZaz09-_.!~*'()");
        assert_eq!(percent_decode(b"%7B%22").unwrap(), b"{\"");
        assert!(percent_decode(b"%7").is_none());
        assert!(percent_decode(b"%zz").is_none());
    }

    #[test]
    fn chunk_boundaries() {
        let small = "a".repeat(3180);
        assert!(chunk(&small).is_none());
        let big = "a".repeat(3181);
        let c = chunk(&big).unwrap();
        assert_eq!(c.iter().map(String::len).collect::<Vec<_>>(), vec![3180, 1]);
        // Multi-byte characters never split; escapes never cut.
        let uni = "é".repeat(2000);
        let c = chunk(&uni).unwrap();
        assert_eq!(c.concat(), uni);
        assert!(
            c.iter()
                .all(|p| encode_uri_component(p).len() <= MAX_CHUNK_SIZE)
        );
    }
}
