//! The session object auth-js stores in the cookie.

use std::fmt;

use supagate_core::Token;
use zeroize::Zeroizing;

use crate::error::CookieError;
use crate::shape::{self, Kind};

/// Largest session JSON accepted by default, in bytes.
pub(crate) const DEFAULT_MAX_JSON_BYTES: usize = 64 * 1024;
/// Deepest JSON nesting accepted by default.
pub(crate) const DEFAULT_MAX_JSON_DEPTH: usize = 32;

/// A Supabase session as auth-js keeps it: GoTrue's token response, verbatim.
///
/// Holds the JSON text exactly as received (so it is written back byte for byte) and the two
/// tokens. Only the access token can become trusted, and only after
/// `supagate_jwt::Verifier::verify`: every other field (`user`,
/// `expires_at`, …) is whatever the browser sent. `Debug` redacts both tokens and the JSON.
///
/// # Examples
///
/// ```
/// use supagate_cookie::Session;
///
/// let s = Session::from_json(r#"{"access_token":"eyJ.a.b","token_type":"bearer","expires_in":3600,"expires_at":1798765140,"refresh_token":"r1"}"#)?;
/// assert_eq!(s.access_token().expose(), "eyJ.a.b");
/// assert_eq!(s.expires_at(), Some(1798765140));
/// assert!(!format!("{s:?}").contains("eyJ.a.b"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Session {
    json: Zeroizing<String>,
    access_token: Token,
    refresh_token: Token,
    expires_at: Option<i64>,
    has_user: bool,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("access_token", &self.access_token)
            .field("refresh_token", &self.refresh_token)
            .field("expires_at", &self.expires_at)
            .field("has_user", &self.has_user)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Deepest JSON nesting accepted by default.
    pub const DEFAULT_MAX_JSON_DEPTH: usize = DEFAULT_MAX_JSON_DEPTH;

    /// Largest session JSON accepted by default, in bytes.
    pub const DEFAULT_MAX_JSON_BYTES: usize = DEFAULT_MAX_JSON_BYTES;

    /// Parses a session JSON text (what GoTrue's `/token` endpoint returns, or a decoded
    /// cookie), with the default size and depth limits.
    ///
    /// # Errors
    ///
    /// [`CookieError::BadJson`] for invalid or oversized JSON, [`CookieError::NotASession`]
    /// unless it is an object with a non-empty string `access_token`, a string
    /// `refresh_token` and an `expires_at` (a number, or `null`).
    pub fn from_json(json: &str) -> Result<Self, CookieError> {
        Self::from_json_limited(json, DEFAULT_MAX_JSON_BYTES, DEFAULT_MAX_JSON_DEPTH)
    }

    pub(crate) fn from_json_limited(
        json: &str,
        max_bytes: usize,
        max_depth: usize,
    ) -> Result<Self, CookieError> {
        Self::from_json_owned(json.to_owned(), max_bytes, max_depth)
    }

    pub(crate) fn from_json_owned(
        json: String,
        max_bytes: usize,
        max_depth: usize,
    ) -> Result<Self, CookieError> {
        let json = Zeroizing::new(json);
        if json.len() > max_bytes {
            return Err(CookieError::BadJson);
        }
        let shape = shape::check(&json, max_depth)?;
        let access = match shape.access {
            Some(Kind::Str(Some(s))) if !s.is_empty() => s,
            _ => return Err(CookieError::NotASession),
        };
        let refresh = match shape.refresh {
            Some(Kind::Str(Some(s))) => s,
            _ => return Err(CookieError::NotASession),
        };
        let expires_at = match shape.expires_at {
            Some(Kind::Null) => None,
            Some(Kind::Int(i)) => Some(i),
            Some(Kind::Float(f)) if f.is_finite() => Some(f.floor() as i64),
            _ => return Err(CookieError::NotASession),
        };
        Ok(Session {
            json,
            access_token: Token::new(access),
            refresh_token: Token::new(refresh),
            expires_at,
            has_user: shape.user_is_object,
        })
    }

    /// The access token. Verify it before trusting anything about the user.
    #[must_use]
    pub fn access_token(&self) -> &Token {
        &self.access_token
    }

    /// The refresh token. It is a credential: never forward it to a backend, never log it.
    #[must_use]
    pub fn refresh_token(&self) -> &Token {
        &self.refresh_token
    }

    /// `expires_at` as written in the cookie (unverified; `None` for `null`). The verified
    /// expiry is the access token's `exp`.
    #[must_use]
    pub fn expires_at(&self) -> Option<i64> {
        self.expires_at
    }

    /// Whether the session JSON carries a `user` object (absent with `tokens-only` encoding).
    #[must_use]
    pub fn has_user(&self) -> bool {
        self.has_user
    }

    /// The session JSON text, exactly as received. It contains both tokens: never log it.
    #[must_use]
    pub fn expose_json(&self) -> &str {
        &self.json
    }

    /// The session JSON without its top-level `user`, every other member as received and in
    /// its order: what `@supabase/ssr` stores with `cookies.encode: "tokens-only"` (about half
    /// the size of a typical session). The user of such a session comes from the verified
    /// access token's claims, never from the cookie.
    ///
    /// ```
    /// use supagate_cookie::Session;
    ///
    /// let s = Session::from_json(r#"{"access_token":"a","expires_at":1,"refresh_token":"r","user":{"id":"x","app_metadata":{}},"weak_password":null}"#)?;
    /// assert_eq!(&*s.tokens_only_json(), r#"{"access_token":"a","expires_at":1,"refresh_token":"r","weak_password":null}"#);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn tokens_only_json(&self) -> Zeroizing<String> {
        use serde::de::{Deserializer as _, MapAccess, Visitor};
        use serde_json::value::RawValue;
        use std::borrow::Cow;

        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = Vec<(Cow<'de, str>, &'de RawValue)>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a session object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<Cow<'de, str>, &'de RawValue>()? {
                    out.push(entry);
                }
                Ok(out)
            }
        }
        let mut de = serde_json::Deserializer::from_str(&self.json);
        // Checked as a session object when it was read: this cannot fail; if it did, the
        // session is written whole rather than lost.
        let Ok(members) = (&mut de).deserialize_map(Members) else {
            return self.json.clone();
        };
        let mut out = Zeroizing::new(String::with_capacity(self.json.len()));
        out.push('{');
        for (key, value) in members.iter().filter(|(k, _)| k != "user") {
            if out.len() > 1 {
                out.push(',');
            }
            out.push_str(&serde_json::to_string(key).unwrap_or_default());
            out.push(':');
            out.push_str(value.get());
        }
        out.push('}');
        out
    }
}
