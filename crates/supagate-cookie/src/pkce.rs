//! PKCE code-verifier cookies that auth-js writes when a flow starts (`signInWithOAuth`, …).

use std::fmt;

use http::{HeaderMap, HeaderValue};
use serde_json::Value;
use supagate_core::Token;

use crate::encoding::decode_value;
use crate::error::CookieError;
use crate::name::CookieName;
use crate::reader::pairs;
use crate::writer::SessionWriter;

const LEGACY_SUFFIX: &str = "-code-verifier";
const INDEX_SUFFIX: &str = "-flows-code-verifier";
const FLOW_PREFIX: &str = "-flow-";

/// The PKCE verifiers found in a request: the legacy `<key>-code-verifier`, the per-flow
/// `<key>-flow-<id>-code-verifier` slots and the `<key>-flows-code-verifier` index (auth-js
/// 2.119). Verifiers redact in `Debug`.
///
/// # Examples
///
/// ```
/// use http::{HeaderMap, HeaderValue, header::COOKIE};
/// use supagate_cookie::{CookieName, PkceVerifiers};
///
/// let mut h = HeaderMap::new();
/// // base64url of "\"0d4b\"" (a JSON string, quotes included), as @supabase/ssr writes it.
/// h.append(COOKIE, HeaderValue::from_static("sb-ref-auth-token-code-verifier=base64-IjBkNGIi"));
/// let found = PkceVerifiers::read(&CookieName::custom("sb-ref-auth-token")?, &h)?;
/// assert_eq!(found.latest().map(|t| t.expose()), Some("0d4b"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct PkceVerifiers {
    legacy: Option<Token>,
    flows: Vec<(String, Token)>,
    index: Vec<String>,
}

impl fmt::Debug for PkceVerifiers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PkceVerifiers")
            .field("legacy", &self.legacy)
            .field(
                "flows",
                &self.flows.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            )
            .field("index", &self.index)
            .finish()
    }
}

fn valid_flow_id(id: &str) -> bool {
    (8..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The part of `cookie` after `key` when it names a verifier cookie of that key.
fn verifier_suffix<'a>(key: &[u8], cookie: &'a [u8]) -> Option<&'a str> {
    let rest = std::str::from_utf8(cookie.strip_prefix(key)?).ok()?;
    let ok = rest == LEGACY_SUFFIX
        || rest == INDEX_SUFFIX
        || rest
            .strip_prefix(FLOW_PREFIX)
            .and_then(|r| r.strip_suffix(LEGACY_SUFFIX))
            .is_some_and(valid_flow_id);
    ok.then_some(rest)
}

fn decode_json(value: &[u8]) -> Result<Value, CookieError> {
    let json = decode_value(value.to_vec())?;
    if json.len() > 4096 {
        return Err(CookieError::BadJson);
    }
    serde_json::from_str(&json).map_err(|_| CookieError::BadJson)
}

impl PkceVerifiers {
    /// Reads every verifier cookie of `name` from `headers`. Unusable verifier cookies are
    /// skipped (a flow then fails at the code exchange, as it would in auth-js).
    ///
    /// # Errors
    ///
    /// [`CookieError::Ambiguous`] when a verifier cookie name appears twice.
    pub fn read(name: &CookieName, headers: &HeaderMap) -> Result<Self, CookieError> {
        let key = name.as_str().as_bytes();
        let mut out = PkceVerifiers::default();
        let mut seen: Vec<Vec<u8>> = Vec::new();
        for field in headers.get_all(http::header::COOKIE) {
            for (cookie, value) in pairs(field.as_bytes()) {
                let Some(rest) = verifier_suffix(key, cookie) else {
                    continue;
                };
                if seen.iter().any(|s| s == cookie) {
                    return Err(CookieError::Ambiguous);
                }
                seen.push(cookie.to_vec());
                let Ok(json) = decode_json(value) else {
                    continue;
                };
                if rest == INDEX_SUFFIX {
                    if let Value::Array(ids) = json {
                        out.index = ids
                            .into_iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect();
                    }
                } else if let Value::String(verifier) = json {
                    match rest
                        .strip_prefix(FLOW_PREFIX)
                        .and_then(|r| r.strip_suffix(LEGACY_SUFFIX))
                    {
                        Some(id) => out.flows.push((id.to_owned(), Token::new(verifier))),
                        None => out.legacy = Some(Token::new(verifier)),
                    }
                }
            }
        }
        Ok(out)
    }

    /// The verifier of flow `flow_id`, falling back to the legacy cookie when that flow has no
    /// slot (older auth-js).
    #[must_use]
    pub fn for_flow(&self, flow_id: &str) -> Option<&Token> {
        self.flows
            .iter()
            .find(|(id, _)| id == flow_id)
            .map(|(_, t)| t)
    }

    /// The most recent verifier: the legacy cookie, which mirrors the latest flow.
    #[must_use]
    pub fn latest(&self) -> Option<&Token> {
        self.legacy.as_ref()
    }

    /// Pending flow ids, oldest first, from the index cookie.
    #[must_use]
    pub fn pending_flows(&self) -> &[String] {
        &self.index
    }

    /// Whether no verifier was found.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.legacy.is_none() && self.flows.is_empty()
    }
}

impl SessionWriter {
    /// The `Set-Cookie` that stores a PKCE code verifier under the legacy
    /// `<name>-code-verifier` key, encoded as auth-js stores it (a JSON string, then the
    /// writer's encoding), so that `@supabase/ssr` and [`PkceVerifiers::read`] both find it.
    /// Unlike auth-js's browser-side cookie it keeps the writer's `HttpOnly`: only the server
    /// exchanges the code. `max_age` is in seconds (a sign-in flow needs minutes, not the
    /// session's 400 days).
    ///
    /// # Errors
    ///
    /// As [`SessionWriter::set`].
    ///
    /// # Examples
    ///
    /// ```
    /// use http::{HeaderMap, header::COOKIE};
    /// use supagate_cookie::{CookieName, CookieOptions, PkceVerifiers, SessionWriter};
    /// use supagate_core::Token;
    ///
    /// let name = CookieName::custom("sb-ref-auth-token")?;
    /// let writer = SessionWriter::new(name.clone(), CookieOptions::default())?;
    /// let set = writer.set_pkce_verifier(&Token::new("0d4b"), 600)?;
    /// let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
    /// let mut h = HeaderMap::new();
    /// h.insert(COOKIE, pair.parse().unwrap());
    /// assert_eq!(PkceVerifiers::read(&name, &h)?.latest().map(|t| t.expose()), Some("0d4b"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_pkce_verifier(
        &self,
        verifier: &Token,
        max_age: i64,
    ) -> Result<HeaderValue, CookieError> {
        let json = serde_json::Value::String(verifier.expose().to_owned()).to_string();
        let encoded = crate::encoding::encode_value(&json, self.is_base64());
        let wire = crate::encoding::encode_uri_component(&encoded);
        let name = format!("{}{LEGACY_SUFFIX}", self.name().as_str());
        self.cookie(&name, &wire, max_age)
    }

    /// `Set-Cookie` deletions for every PKCE verifier cookie of this name present in `request`
    /// (after a code exchange, or at sign-out).
    ///
    /// # Errors
    ///
    /// As [`SessionWriter::set`].
    pub fn clear_pkce(&self, request: &HeaderMap) -> Result<Vec<HeaderValue>, CookieError> {
        let key = self.name().as_str().as_bytes();
        let mut names: Vec<String> = Vec::new();
        for field in request.get_all(http::header::COOKIE) {
            for (cookie, _) in pairs(field.as_bytes()) {
                let Some(rest) = verifier_suffix(key, cookie) else {
                    continue;
                };
                let name = format!("{}{rest}", self.name().as_str());
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        self.deletions(&names)
    }
}
