//! A bearer token that never shows itself in logs.

use std::fmt;

use zeroize::Zeroizing;

/// An access token as received (from an `Authorization` header or a session cookie).
///
/// `Debug` prints only its length, there is no `Display`, and the bytes are zeroed on drop, so a
/// token carried in a struct that gets logged does not leak. Pass it to
/// `supagate_jwt::Verifier::verify` with [`Token::expose`].
///
/// # Examples
///
/// ```
/// use supagate_core::Token;
///
/// let token = Token::new("eyJhbGciOiJIUzI1NiJ9.e30.c2ln");
/// assert_eq!(format!("{token:?}"), "Token(<redacted, 29 bytes>)");
/// assert_eq!(token.expose(), "eyJhbGciOiJIUzI1NiJ9.e30.c2ln");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Token(Zeroizing<String>);

impl Token {
    /// Wraps a token.
    #[must_use]
    pub fn new(token: impl Into<String>) -> Self {
        Token(Zeroizing::new(token.into()))
    }

    /// The token text, for verification or for forwarding upstream. Never log it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Its length in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token(<redacted, {} bytes>)", self.0.len())
    }
}

impl From<String> for Token {
    fn from(s: String) -> Self {
        Token::new(s)
    }
}

impl From<&str> for Token {
    fn from(s: &str) -> Self {
        Token::new(s)
    }
}
