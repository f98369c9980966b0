//! Reading a token without trusting it: what its header and claims say, for display only.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

/// The most bytes of input read as one token (a real access token is 1 to 4 KiB).
pub const MAX_INPUT: usize = 64 * 1024;

/// A compact JWS as it claims to be, nothing verified: its header and its claims when they are
/// JSON objects. The signature is never kept.
///
/// # Examples
///
/// ```
/// use supagate_cli::decode::Unverified;
///
/// let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2ln";
/// let decoded = Unverified::decode(token);
/// assert_eq!(decoded.header_str("alg"), Some("HS256"));
/// assert_eq!(decoded.claim_str("sub"), Some("user"));
/// assert!(Unverified::decode("not a token").header.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Unverified {
    /// The header, when the first segment is base64url of a JSON object.
    pub header: Option<Map<String, Value>>,
    /// The claims, when the second segment is base64url of a JSON object.
    pub claims: Option<Map<String, Value>>,
    /// How many dot-separated segments the input has.
    pub segments: usize,
}

impl Unverified {
    /// Decodes what `token` says of itself. Never fails: what is not a JSON object is `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// let d = supagate_cli::decode::Unverified::decode("a.b");
    /// assert_eq!(d.segments, 2);
    /// assert!(d.header.is_none() && d.claims.is_none());
    /// ```
    #[must_use]
    pub fn decode(token: &str) -> Unverified {
        if token.len() > MAX_INPUT {
            return Unverified::default();
        }
        let mut parts = token.split('.');
        let segments = token.split('.').count();
        let header = parts.next().and_then(object);
        let claims = parts.next().and_then(object);
        Unverified {
            header,
            claims,
            segments,
        }
    }

    /// A string member of the header.
    ///
    /// # Examples
    ///
    /// ```
    /// let d = supagate_cli::decode::Unverified::decode("eyJraWQiOiJrMSJ9.e30.");
    /// assert_eq!(d.header_str("kid"), Some("k1"));
    /// ```
    #[must_use]
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header.as_ref()?.get(name)?.as_str()
    }

    /// A string claim.
    ///
    /// # Examples
    ///
    /// ```
    /// let d = supagate_cli::decode::Unverified::decode("e30.eyJyb2xlIjoiYW5vbiJ9.");
    /// assert_eq!(d.claim_str("role"), Some("anon"));
    /// ```
    #[must_use]
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.as_ref()?.get(name)?.as_str()
    }

    /// A whole-number claim (`exp`, `iat`, `nbf`).
    ///
    /// # Examples
    ///
    /// ```
    /// let d = supagate_cli::decode::Unverified::decode("e30.eyJleHAiOjEwfQ.");
    /// assert_eq!(d.claim_i64("exp"), Some(10));
    /// ```
    #[must_use]
    pub fn claim_i64(&self, name: &str) -> Option<i64> {
        let v = self.claims.as_ref()?.get(name)?;
        v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
    }

    /// A claim as JSON.
    ///
    /// # Examples
    ///
    /// ```
    /// let d = supagate_cli::decode::Unverified::decode("e30.eyJhdWQiOlsiYSJdfQ.");
    /// assert!(d.claim("aud").is_some_and(|v| v.is_array()));
    /// ```
    #[must_use]
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims.as_ref()?.get(name)
    }

    /// Whether this is shaped as one of a project's legacy API keys (`anon`, `service_role`):
    /// `iss` `supabase`, a `role`, a `ref`, no `sub`. Returns the role.
    ///
    /// # Examples
    ///
    /// ```
    /// // {"iss":"supabase","ref":"abc","role":"anon"}
    /// let d = supagate_cli::decode::Unverified::decode(
    ///     "e30.eyJpc3MiOiJzdXBhYmFzZSIsInJlZiI6ImFiYyIsInJvbGUiOiJhbm9uIn0.",
    /// );
    /// assert_eq!(d.legacy_api_key_role(), Some("anon"));
    /// ```
    #[must_use]
    pub fn legacy_api_key_role(&self) -> Option<&str> {
        let claims = self.claims.as_ref()?;
        if claims.contains_key("sub") {
            return None;
        }
        let iss = self.claim_str("iss");
        if iss != Some("supabase") && !claims.contains_key("ref") {
            return None;
        }
        self.claim_str("role")
    }
}

fn object(segment: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(segment.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// What the user pasted, cut down to the token: surrounding whitespace and quotes, an
/// `Authorization:` field name and a `Bearer` scheme (any case) go.
///
/// # Examples
///
/// ```
/// use supagate_cli::decode::strip_input;
///
/// assert_eq!(strip_input("  Authorization: bearer abc.def.ghi\n"), "abc.def.ghi");
/// assert_eq!(strip_input("\"abc.def.ghi\""), "abc.def.ghi");
/// assert_eq!(strip_input("Bearer"), "");
/// ```
#[must_use]
pub fn strip_input(input: &str) -> &str {
    let mut s = input.trim();
    if let Some(rest) = strip_prefix_ignore_case(s, "authorization:") {
        s = rest.trim_start();
    }
    if s.eq_ignore_ascii_case("bearer") {
        return "";
    }
    if let Some(rest) = strip_prefix_ignore_case(s, "bearer ") {
        s = rest.trim_start();
    }
    for quote in ['"', '\''] {
        if s.len() >= 2 && s.starts_with(quote) && s.ends_with(quote) {
            s = s.get(1..s.len() - 1).unwrap_or(s).trim();
        }
    }
    s
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_inputs_decode_to_nothing() {
        for bad in [
            "",
            ".",
            "..",
            "%%%.%%%.%%%",
            "W10.W10.",       // arrays
            "bnVsbA.bnVsbA.", // null
            "eyJh.eyJh.",     // truncated JSON
            "\u{0}.\u{0}.",
        ] {
            let d = Unverified::decode(bad);
            assert!(d.header.is_none(), "{bad:?}");
            assert!(d.claims.is_none(), "{bad:?}");
        }
        let huge = "e30.".repeat(MAX_INPUT);
        assert_eq!(Unverified::decode(&huge), Unverified::default());
    }

    #[test]
    fn padding_is_tolerated_for_display() {
        let d = Unverified::decode("e30=.e30=.x");
        assert!(d.header.is_some() && d.claims.is_some());
    }

    #[test]
    fn input_is_cut_to_the_token() {
        assert_eq!(strip_input("AUTHORIZATION: BEARER  t"), "t");
        assert_eq!(strip_input("'t'"), "t");
        assert_eq!(strip_input("\""), "\"");
        assert_eq!(strip_input("é"), "é");
        assert_eq!(strip_input("authorization:"), "");
    }
}
