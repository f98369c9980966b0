//! The `Authorization: Bearer` field (RFC 6750 §2.1, RFC 9110 §11.6.2).

use crate::error::AuthError;

/// Reads the bearer token from every `Authorization` field value of a request.
///
/// `Ok(None)` when there is no field, or one with another scheme (`Basic`, `Token`): the
/// request carries no bearer credentials. The scheme is case-insensitive. Several fields,
/// several credentials in one field, bytes outside visible ASCII and an empty token are
/// `invalid_request`; characters outside RFC 6750's `b64token` are `invalid_token`.
pub(crate) fn bearer_token<'a, I>(mut values: I) -> Result<Option<&'a str>, AuthError>
where
    I: Iterator<Item = &'a [u8]>,
{
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::InvalidRequest {
            reason: "several authorization fields",
        });
    }
    // The common case in one pass: `Bearer <b64token>` with one space and nothing around it.
    if let Some(token) = plain_bearer(first) {
        return Ok(Some(token));
    }
    if first
        .iter()
        .any(|&b| b != b'\t' && !(0x20..0x7f).contains(&b))
    {
        return Err(AuthError::InvalidRequest {
            reason: "malformed authorization header",
        });
    }
    let Ok(value) = std::str::from_utf8(first) else {
        return Err(AuthError::InvalidRequest {
            reason: "malformed authorization header",
        });
    };
    let value = value.trim_matches([' ', '\t']);
    if value.contains(',') {
        return Err(AuthError::InvalidRequest {
            reason: "several credentials in one authorization field",
        });
    }
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = rest.trim_start_matches(' ');
    if token.is_empty() {
        return Err(AuthError::InvalidRequest {
            reason: "empty bearer token",
        });
    }
    if !is_b64token(token) {
        return Err(AuthError::Token(supagate_jwt::Error::Malformed));
    }
    Ok(Some(token))
}

/// `Bearer <token>` (scheme in any case, one space) where the token is all `b64token`
/// characters with no padding: one pass over the bytes. Anything else (padding, odd spacing,
/// bad bytes) takes the general path, which gives the precise error.
fn plain_bearer(value: &[u8]) -> Option<&str> {
    let (scheme, token) = value.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") || token.is_empty() || !all_b64(token) {
        return None;
    }
    // All bytes are ASCII, so this never fails.
    std::str::from_utf8(token).ok()
}

fn is_b64_byte(b: u8) -> bool {
    B64TOKEN.get(usize::from(b)).copied().unwrap_or(false)
}

/// Whether every byte is a `b64token` character other than `=`: [`B64TOKEN`] as comparisons,
/// with no early exit, so that the compiler checks many bytes at once. A session's token is
/// hundreds of bytes and this runs on every request (a byte-at-a-time table lookup was 2.5% of
/// a backend's CPU under load).
fn all_b64(bytes: &[u8]) -> bool {
    bytes.iter().fold(true, |ok, &b| {
        let lower = b | 0x20;
        ok & ((lower.wrapping_sub(b'a') < 26)
            | (b.wrapping_sub(b'0') < 10)
            | (b == b'-')
            | (b == b'.')
            | (b == b'_')
            | (b == b'~')
            | (b == b'+')
            | (b == b'/'))
    })
}

/// The `b64token` characters except `=`, indexed by byte.
static B64TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    #[allow(clippy::indexing_slicing, clippy::cast_possible_truncation)]
    while b < 256 {
        let c = b as u8;
        table[b] =
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    table
};

/// RFC 6750 `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty() && body.bytes().all(is_b64_byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bad_byte_anywhere_in_a_long_token_is_refused() {
        // A session's token is ~800 bytes: the vectorised check must see every byte, whatever
        // its position in a block.
        let good = "a".repeat(817);
        assert!(matches!(
            bearer_token(std::iter::once(format!("Bearer {good}").as_bytes())),
            Ok(Some(t)) if t.len() == 817
        ));
        for at in [0, 1, 15, 16, 31, 32, 63, 64, 400, 815, 816] {
            for bad in [b' ', b'\t', b',', b'"', b'\\', 0x00, 0x7f, 0x80, 0xff] {
                // Spaces around the token are tolerated (`1*SP`, trailing whitespace): only
                // inside it is one a second credential.
                if matches!(bad, b' ' | b'\t') && (at == 0 || at == 816) {
                    continue;
                }
                let mut v = format!("Bearer {good}").into_bytes();
                if let Some(b) = v.get_mut(7 + at) {
                    *b = bad;
                }
                assert!(
                    !matches!(bearer_token(std::iter::once(v.as_slice())), Ok(Some(_))),
                    "byte {bad:#04x} at {at} accepted"
                );
            }
            // `=` inside the token (not trailing padding) is no b64token either.
            let mut v = format!("Bearer {good}").into_bytes();
            if let Some(b) = v.get_mut(7 + at) {
                *b = b'=';
            }
            if at != 816 {
                assert!(
                    !matches!(bearer_token(std::iter::once(v.as_slice())), Ok(Some(_))),
                    "`=` at {at} accepted"
                );
            }
        }
    }

    #[test]
    fn the_fast_check_is_the_table() {
        for b in 0..=u8::MAX {
            assert_eq!(all_b64(&[b]), is_b64_byte(b), "{b:#04x}");
            assert_eq!(all_b64(&[b'a', b, b'Z']), is_b64_byte(b), "{b:#04x}");
        }
        assert!(all_b64(b""));
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl-_~+/";
        assert!(all_b64(token.as_bytes()));
        assert!(!all_b64(format!("{token}=").as_bytes()));
        assert!(!all_b64(format!("{token} ").as_bytes()));
    }
    use supagate_core::RequestError as _;

    fn parse(fields: &[&str]) -> Result<Option<String>, AuthError> {
        bearer_token(fields.iter().map(|f| f.as_bytes())).map(|t| t.map(str::to_owned))
    }

    #[test]
    fn accepted_forms() {
        for f in [
            "Bearer a.b.c",
            "bearer a.b.c",
            "BEARER a.b.c",
            "Bearer   a.b.c",
            " Bearer a.b.c \t",
        ] {
            assert_eq!(parse(&[f]).unwrap().as_deref(), Some("a.b.c"), "{f:?}");
        }
        assert_eq!(parse(&["Bearer abc=="]).unwrap().as_deref(), Some("abc=="));
    }

    #[test]
    fn no_credentials() {
        assert_eq!(parse(&[]).unwrap(), None);
        assert_eq!(parse(&["Basic dXNlcjpwYXNz"]).unwrap(), None);
        assert_eq!(parse(&["Token abc"]).unwrap(), None);
        assert_eq!(parse(&["Bearerx abc"]).unwrap(), None);
    }

    #[test]
    fn invalid_request() {
        for fields in [
            &["Bearer a", "Bearer b"][..],
            &["Bearer a, Bearer b"],
            &["Bearer"],
            &["Bearer    "],
            &["Bearer a\u{e9}"],
            &["Bearer a\u{0}b"],
        ] {
            let err = parse(fields).unwrap_err();
            assert_eq!(err.status().as_u16(), 400, "{fields:?}");
        }
    }

    #[test]
    fn invalid_token_chars() {
        for f in [
            "Bearer a b",
            "Bearer a\tb",
            "Bearer a;b",
            "Bearer ===",
            "Bearer a=b",
            "Bearer \"a\"",
        ] {
            let err = parse(&[f]).unwrap_err();
            assert_eq!(
                err,
                AuthError::Token(supagate_jwt::Error::Malformed),
                "{f:?}"
            );
        }
    }
}
