//! What a refresh token's shape tells without asking the auth server: GoTrue's v2 refresh
//! tokens carry their session and a checksum.

use base64::Engine as _;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use sha2::Digest as _;
use uuid::Uuid;

/// The shortest v2 token in bytes: version, session id, a one-byte counter, signature,
/// checksum.
const V2_MIN: usize = 1 + 16 + 1 + 16 + 4;
/// The longest: a counter of ten varint bytes (GoTrue's parser accepts up to that).
const V2_MAX: usize = 1 + 16 + 10 + 16 + 4;

/// Base64url without padding, decoded as Go's `base64.RawURLEncoding` decodes it: the unused
/// bits of the last character are not checked.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

/// A refresh token read by its shape (Supabase Auth, `internal/crypto/refresh_tokens.go`).
///
/// A v2 refresh token is the unpadded base64url of `[0x00][session id: 16 bytes][counter:
/// uvarint][HMAC-SHA-256 with the session's key, first 16 bytes][SHA-256 of everything before,
/// first 4 bytes]`. The checksum and the layout can be checked by anyone; the HMAC only by the
/// auth server. So a proxy can refuse, without a call, a token that has the v2 shape (its
/// length and version byte) but a wrong checksum or layout, and one whose session is not the
/// access token's (`session_id`). Anything without the v2 shape (a 12-character v1 token, a
/// format of the future) stays opaque and goes to the auth server, which judges it.
///
/// # Examples
///
/// ```
/// use supagate_proxy::core::RefreshTokenShape;
///
/// assert_eq!(RefreshTokenShape::of("abcdefghijkl"), RefreshTokenShape::Opaque);
/// // The v2 shape (51 characters, version byte 0), with a checksum that does not match.
/// let mangled = format!("AA{}", "B".repeat(49));
/// assert_eq!(RefreshTokenShape::of(&mangled), RefreshTokenShape::Broken);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefreshTokenShape {
    /// A v2 token whose checksum and layout hold: the session it belongs to and its counter.
    V2 {
        /// The session (`auth.sessions.id`, the access token's `session_id`).
        session_id: Uuid,
        /// Its position in the session's rotation.
        counter: u64,
    },
    /// The v2 shape with a checksum or layout that does not hold: mangled or forged. The auth
    /// server would refuse it.
    Broken,
    /// Not the v2 shape: judged by the auth server alone.
    Opaque,
}

impl RefreshTokenShape {
    /// Reads `token` (no allocation beyond the decoded bytes of a v2-length token).
    #[must_use]
    pub fn of(token: &str) -> Self {
        // Base64url without padding of 38 to 47 bytes: 51 to 63 characters.
        let chars = token.len();
        if !(51..=63).contains(&chars) || chars % 4 == 1 {
            return RefreshTokenShape::Opaque;
        }
        let Ok(bytes) = LENIENT.decode(token) else {
            return RefreshTokenShape::Opaque;
        };
        if !(V2_MIN..=V2_MAX).contains(&bytes.len()) || bytes.first() != Some(&0) {
            return RefreshTokenShape::Opaque;
        }
        parse(&bytes).unwrap_or(RefreshTokenShape::Broken)
    }

    /// Whether this token can belong to the session `session_id` (the verified access token's
    /// `session_id`): a [`Broken`](RefreshTokenShape::Broken) token belongs to none, a
    /// [`V2`](RefreshTokenShape::V2) token only to its own session, an
    /// [`Opaque`](RefreshTokenShape::Opaque) one to any (the auth server decides).
    ///
    /// ```
    /// use supagate_proxy::core::RefreshTokenShape;
    ///
    /// assert!(RefreshTokenShape::Opaque.may_belong_to(None));
    /// assert!(!RefreshTokenShape::Broken.may_belong_to(Some("5e7c1a2b-3d4f-4a6b-8c9d-0e1f2a3b4c5d")));
    /// ```
    #[must_use]
    pub fn may_belong_to(&self, session_id: Option<&str>) -> bool {
        match self {
            RefreshTokenShape::Opaque => true,
            RefreshTokenShape::Broken => false,
            RefreshTokenShape::V2 {
                session_id: own, ..
            } => session_id.and_then(|s| Uuid::parse_str(s).ok()) == Some(*own),
        }
    }
}

/// The checksum, then the counter and the signature's length.
fn parse(bytes: &[u8]) -> Option<RefreshTokenShape> {
    let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
    if sha2::Sha256::digest(body).get(..4)? != sum {
        return None;
    }
    let session_id = Uuid::from_slice(body.get(1..17)?).ok()?;
    let mut counter: u64 = 0;
    let mut at = 17;
    for shift in (0..70).step_by(7) {
        let b = *body.get(at)?;
        at += 1;
        let part = u64::from(b & 0x7f);
        // Ten bytes at most, and the tenth may only hold the top bit.
        if shift == 63 && part > 1 {
            return None;
        }
        counter |= part << shift;
        if b & 0x80 == 0 {
            return (body.len() - at == 16).then_some(RefreshTokenShape::V2 {
                session_id,
                counter,
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    /// A v2 token as GoTrue encodes it (the HMAC stands in: only the auth server checks it).
    fn v2(session: &Uuid, counter: u64, signature: [u8; 16]) -> String {
        let mut bytes = vec![0u8];
        bytes.extend_from_slice(session.as_bytes());
        let mut c = counter;
        while c >= 0x80 {
            bytes.push((c as u8) | 0x80);
            c >>= 7;
        }
        bytes.push(c as u8);
        bytes.extend_from_slice(&signature);
        let sum = sha2::Sha256::digest(&bytes);
        bytes.extend_from_slice(&sum[..4]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn v2_tokens_are_read_and_their_session_compared() {
        let session = Uuid::from_u128(0x5e7c_1a2b_3d4f_4a6b_8c9d_0e1f_2a3b_4c5d);
        for counter in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let t = v2(&session, counter, [7; 16]);
            assert!((51..=63).contains(&t.len()), "{counter}: {}", t.len());
            assert_eq!(
                RefreshTokenShape::of(&t),
                RefreshTokenShape::V2 {
                    session_id: session,
                    counter
                }
            );
            let shape = RefreshTokenShape::of(&t);
            assert!(shape.may_belong_to(Some(&session.to_string())));
            assert!(!shape.may_belong_to(Some(&Uuid::from_u128(1).to_string())));
            assert!(!shape.may_belong_to(None));
            assert!(!shape.may_belong_to(Some("not a uuid")));
        }
    }

    #[test]
    fn a_changed_character_breaks_a_v2_token() {
        let t = v2(&Uuid::from_u128(42), 9, [1; 16]);
        let mut broken = 0;
        for i in 2..t.len() {
            let mut b = t.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let s = String::from_utf8(b).unwrap();
            match RefreshTokenShape::of(&s) {
                RefreshTokenShape::Broken => broken += 1,
                // The last character's low bits may be padding bits base64 ignores.
                RefreshTokenShape::V2 { .. } => assert_eq!(i, t.len() - 1),
                RefreshTokenShape::Opaque => panic!("{s} read as opaque"),
            }
        }
        assert!(broken >= t.len() - 3);
    }

    #[test]
    fn other_shapes_stay_opaque() {
        for t in [
            "",
            "abcdefghijkl",
            "mockrefresh000000000001",
            "forged-refresh-token",
            // v2 length but version 1 (a future format)
            &format!("AQ{}", "A".repeat(49)),
            // v2 length with a character outside base64url
            &format!("AA{}+", "A".repeat(48)),
            // too long for v2
            &format!("AA{}", "A".repeat(70)),
        ] {
            assert_eq!(RefreshTokenShape::of(t), RefreshTokenShape::Opaque, "{t}");
        }
        // Version 0 and a v2 length, but trailing bytes that are no signature.
        let mut bytes = vec![0u8; 40];
        let sum = sha2::Sha256::digest(&bytes[..36]);
        bytes[36..].copy_from_slice(&sum[..4]);
        assert_eq!(
            RefreshTokenShape::of(&URL_SAFE_NO_PAD.encode(&bytes)),
            RefreshTokenShape::Broken
        );
    }
}
