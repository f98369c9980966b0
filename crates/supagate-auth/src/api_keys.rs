//! [`ApiKeys`]: the project's named publishable and secret API keys (`sb_publishable_…`,
//! `sb_secret_…`), checked once at start-up and matched in constant time.

use std::collections::BTreeMap;
use std::fmt;

use http::HeaderMap;
use sha2::{Digest, Sha256};
use supagate_core::{EnvError, Variables};
use zeroize::Zeroizing;

/// The two kinds of Supabase API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiKeyKind {
    /// `sb_publishable_…`: identifies a client app; public by design (it ships in browsers
    /// and mobile apps), so it proves no user and no trust.
    Publishable,
    /// `sb_secret_…`: a trusted service. Never belongs in a browser.
    Secret,
}

impl ApiKeyKind {
    /// The prefix every key of this kind starts with.
    #[must_use]
    pub const fn prefix(self) -> &'static str {
        match self {
            ApiKeyKind::Publishable => "sb_publishable_",
            ApiKeyKind::Secret => "sb_secret_",
        }
    }

    /// `publishable` or `secret`, as in the auth mode names.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ApiKeyKind::Publishable => "publishable",
            ApiKeyKind::Secret => "secret",
        }
    }
}

/// One configured key: its SHA-256 (what requests are compared against) and a fingerprint
/// safe to log. The key itself is not kept.
#[derive(Clone)]
struct Stored {
    digest: Zeroizing<[u8; 32]>,
}

impl Stored {
    /// The first 4 bytes of the digest, as hex: enough to tell keys apart in a log line, useless
    /// for guessing one.
    fn fingerprint(&self) -> String {
        self.digest
            .iter()
            .take(4)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The project's API keys by name (`default`, `web`, `automations`, …), as
/// `@supabase/server` names them, so that one leaked key opens only its own routes.
///
/// Built from configuration with [`ApiKeys::builder`] or [`ApiKeys::from_variables`] (the
/// `SUPABASE_PUBLISHABLE_KEYS` / `SUPABASE_SECRET_KEYS` variables); every key is checked at
/// start-up (its kind's prefix, a plausible length, visible ASCII, no key configured twice).
/// A request's key is compared with every configured key of the asked kind, in constant time
/// and without stopping at the first match, through SHA-256 digests, so neither the time nor
/// the length of the comparison tells anything about a key. Only the digests are kept.
/// `Debug` shows names and 8-hex-digit fingerprints, never a key.
///
/// # Examples
///
/// ```
/// use supagate_auth::{ApiKeyKind, ApiKeys};
///
/// let keys = ApiKeys::builder()
///     .publishable("default", "sb_publishable_5X0wNhJ3Y0fKq3TPcDk6gA_example")
///     .secret("automations", "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_example")
///     .build()?;
/// let mut headers = http::HeaderMap::new();
/// headers.insert("apikey", "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_example".parse()?);
/// assert_eq!(keys.identify(ApiKeyKind::Secret, &headers), Some("automations"));
/// assert_eq!(keys.identify(ApiKeyKind::Publishable, &headers), None);
/// assert!(!format!("{keys:?}").contains("N7UND0"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct ApiKeys {
    publishable: BTreeMap<String, Stored>,
    secret: BTreeMap<String, Stored>,
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |m: &BTreeMap<String, Stored>| -> Vec<String> {
            m.iter()
                .map(|(n, k)| format!("{n}:{}", k.fingerprint()))
                .collect()
        };
        f.debug_struct("ApiKeys")
            .field("publishable", &list(&self.publishable))
            .field("secret", &list(&self.secret))
            .finish()
    }
}

/// Why a key could not be configured. A start-up error: it names the key (never its value)
/// and never reaches a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiKeyError {
    /// A key name that is empty, longer than 64 bytes, or not `[A-Za-z0-9_-]`.
    #[error("key name `{0}` must be 1 to 64 of A-Z a-z 0-9 _ -")]
    BadName(String),
    /// A key that does not start with its kind's prefix.
    #[error("{kind} key `{name}` does not start with `{prefix}`")]
    WrongPrefix {
        /// The kind configured.
        kind: &'static str,
        /// The key's name.
        name: String,
        /// The expected prefix.
        prefix: &'static str,
    },
    /// A key that is too short or too long (`prefix` plus 8 to 200 characters) or holds
    /// anything but visible ASCII.
    #[error("{kind} key `{name}` is not a well-formed key")]
    Malformed {
        /// The kind configured.
        kind: &'static str,
        /// The key's name.
        name: String,
    },
    /// One name configured twice for a kind.
    #[error("{kind} key name `{name}` is configured twice")]
    DuplicateName {
        /// The kind configured.
        kind: &'static str,
        /// The key's name.
        name: String,
    },
    /// One key value under two names (or as both kinds): a request could not say which it is.
    #[error("keys `{first}` and `{second}` are the same key")]
    DuplicateKey {
        /// The first name.
        first: String,
        /// The second name.
        second: String,
    },
}

/// Builds [`ApiKeys`]; made by [`ApiKeys::builder`]. Setters only record;
/// [`build`](ApiKeysBuilder::build) checks every key once.
#[derive(Default)]
#[must_use]
pub struct ApiKeysBuilder {
    entries: Vec<(ApiKeyKind, String, Zeroizing<String>)>,
}

impl fmt::Debug for ApiKeysBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeysBuilder")
            .field("keys", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl ApiKeysBuilder {
    /// Adds the publishable key `name`.
    pub fn publishable(self, name: impl Into<String>, key: impl Into<String>) -> Self {
        self.key(ApiKeyKind::Publishable, name, key)
    }

    /// Adds the secret key `name`.
    pub fn secret(self, name: impl Into<String>, key: impl Into<String>) -> Self {
        self.key(ApiKeyKind::Secret, name, key)
    }

    /// Adds a key of `kind`.
    pub fn key(
        mut self,
        kind: ApiKeyKind,
        name: impl Into<String>,
        key: impl Into<String>,
    ) -> Self {
        self.entries
            .push((kind, name.into(), Zeroizing::new(key.into())));
        self
    }

    /// Checks every key and builds the set.
    ///
    /// # Errors
    ///
    /// An [`ApiKeyError`] for the first unusable name or key.
    pub fn build(self) -> Result<ApiKeys, ApiKeyError> {
        self.build_indexed().map_err(|(_, e)| e)
    }

    /// [`build`](Self::build), with the position of the entry at fault.
    fn build_indexed(self) -> Result<ApiKeys, (usize, ApiKeyError)> {
        let mut keys = ApiKeys::default();
        let mut seen: Vec<([u8; 32], String)> = Vec::new();
        for (i, (kind, name, key)) in self.entries.into_iter().enumerate() {
            let digest = check_key(kind, &name, &key).map_err(|e| (i, e))?;
            let label = format!("{}:{name}", kind.as_str());
            if let Some((_, first)) = seen.iter().find(|(d, _)| ct_eq(d, &digest)) {
                let e = ApiKeyError::DuplicateKey {
                    first: first.clone(),
                    second: label,
                };
                return Err((i, e));
            }
            seen.push((digest, label));
            let map = match kind {
                ApiKeyKind::Publishable => &mut keys.publishable,
                ApiKeyKind::Secret => &mut keys.secret,
            };
            if map.contains_key(&name) {
                let e = ApiKeyError::DuplicateName {
                    kind: kind.as_str(),
                    name,
                };
                return Err((i, e));
            }
            map.insert(
                name,
                Stored {
                    digest: Zeroizing::new(digest),
                },
            );
        }
        Ok(keys)
    }
}

/// Checks one key and returns its digest.
fn check_key(kind: ApiKeyKind, name: &str, key: &str) -> Result<[u8; 32], ApiKeyError> {
    check_name(name)?;
    let Some(rest) = key.strip_prefix(kind.prefix()) else {
        return Err(ApiKeyError::WrongPrefix {
            kind: kind.as_str(),
            name: name.to_owned(),
            prefix: kind.prefix(),
        });
    };
    if !(8..=200).contains(&rest.len()) || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiKeyError::Malformed {
            kind: kind.as_str(),
            name: name.to_owned(),
        });
    }
    Ok(Sha256::digest(key.as_bytes()).into())
}

pub(crate) fn check_name(name: &str) -> Result<(), ApiKeyError> {
    // A key where its name belongs (`{"sb_secret_…": "default"}`, the pair reversed) must not
    // be echoed into a start-up log.
    if name.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("sb_")) {
        return Err(ApiKeyError::BadName("(a key, not a name)".to_owned()));
    }
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiKeyError::BadName(name.chars().take(64).collect()))
    }
}

/// Equal-length comparison that looks at every byte.
pub(crate) fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

const KEYS_FIX: &str = "set a JSON object of name to key, e.g. {\"default\":\"sb_publishable_…\"}, as the Supabase dashboard lists them";

impl ApiKeys {
    /// The variables read by [`ApiKeys::from_variables`], plural first.
    pub const VARIABLES: [&'static str; 4] = [
        "SUPABASE_PUBLISHABLE_KEYS",
        "SUPABASE_PUBLISHABLE_KEY",
        "SUPABASE_SECRET_KEYS",
        "SUPABASE_SECRET_KEY",
    ];

    /// A builder with no keys.
    pub fn builder() -> ApiKeysBuilder {
        ApiKeysBuilder::default()
    }

    /// The keys from configuration variables, with `@supabase/server`'s names:
    /// `SUPABASE_PUBLISHABLE_KEYS` / `SUPABASE_SECRET_KEYS` (JSON objects of name → key), or
    /// else the singular `SUPABASE_PUBLISHABLE_KEY` / `SUPABASE_SECRET_KEY` as the `default`
    /// key. The plural variable wins when both are set. Unset or empty variables mean no key
    /// of that kind. Unlike `@supabase/server`, which treats malformed JSON as "no keys", a
    /// malformed value is an error naming the variable.
    ///
    /// # Errors
    ///
    /// An [`EnvError`] naming the variable and the key (never its value).
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::{ApiKeyKind, ApiKeys};
    /// use supagate_core::Variables;
    ///
    /// let keys = ApiKeys::from_variables(&Variables::from_pairs([
    ///     ("SUPABASE_PUBLISHABLE_KEYS", r#"{"default":"sb_publishable_abcdefgh12","web":"sb_publishable_webkey9876"}"#),
    ///     ("SUPABASE_SECRET_KEY", "sb_secret_0123456789abcdef"),
    /// ]))?;
    /// assert_eq!(keys.names(ApiKeyKind::Publishable).collect::<Vec<_>>(), ["default", "web"]);
    /// assert_eq!(keys.names(ApiKeyKind::Secret).collect::<Vec<_>>(), ["default"]);
    ///
    /// let bad = ApiKeys::from_variables(&Variables::from_pairs([(
    ///     "SUPABASE_SECRET_KEY",
    ///     "sb_publishable_abcdefgh12",
    /// )]))
    /// .unwrap_err();
    /// assert_eq!(bad.variable(), "SUPABASE_SECRET_KEY");
    /// # Ok::<(), supagate_jwt::EnvError>(())
    /// ```
    pub fn from_variables(vars: &Variables) -> Result<Self, EnvError> {
        let get = |name: &str| vars.get(name);
        let mut builder = ApiKeys::builder();
        let mut sources: Vec<(ApiKeyKind, &'static str)> = Vec::new();
        for (kind, plural, singular) in [
            (
                ApiKeyKind::Publishable,
                "SUPABASE_PUBLISHABLE_KEYS",
                "SUPABASE_PUBLISHABLE_KEY",
            ),
            (
                ApiKeyKind::Secret,
                "SUPABASE_SECRET_KEYS",
                "SUPABASE_SECRET_KEY",
            ),
        ] {
            if let Some(json) = get(plural).map(Zeroizing::new) {
                let map: BTreeMap<String, serde_json::Value> = serde_json::from_str(&json)
                    .map_err(|_| EnvError::new(plural, "not a JSON object", KEYS_FIX))?;
                for (name, value) in map {
                    let serde_json::Value::String(key) = value else {
                        return Err(EnvError::new(
                            plural,
                            format!("the value of `{}` is not a string", safe_name(&name)),
                            KEYS_FIX,
                        ));
                    };
                    builder = builder.key(kind, name, key);
                    sources.push((kind, plural));
                }
            } else if let Some(key) = get(singular) {
                builder = builder.key(kind, "default", key.trim());
                sources.push((kind, singular));
            }
        }
        builder.build_indexed().map_err(|(i, e)| {
            let variable = sources.get(i).map_or("SUPABASE_PUBLISHABLE_KEYS", |s| s.1);
            EnvError::new(
                variable,
                e,
                "use the key exactly as the Supabase dashboard shows it (API keys page)",
            )
        })
    }

    /// Whether no key is configured.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.publishable.is_empty() && self.secret.is_empty()
    }

    /// The names of the keys of `kind`, sorted.
    pub fn names(&self, kind: ApiKeyKind) -> impl Iterator<Item = &str> {
        self.map(kind).keys().map(String::as_str)
    }

    fn map(&self, kind: ApiKeyKind) -> &BTreeMap<String, Stored> {
        match kind {
            ApiKeyKind::Publishable => &self.publishable,
            ApiKeyKind::Secret => &self.secret,
        }
    }

    /// The name of the key of `kind` that the request's `apikey` header carries, if any.
    /// Keys are read from `apikey` only (never from `Authorization`); a request with several
    /// `apikey` headers matches nothing. Every configured key of `kind` is compared, in
    /// constant time.
    #[must_use]
    pub fn identify(&self, kind: ApiKeyKind, headers: &HeaderMap) -> Option<&str> {
        let mut values = headers.get_all("apikey").iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return None;
        };
        self.identify_value(kind, value.as_bytes())
    }

    /// [`ApiKeys::identify`] for a value already read.
    #[must_use]
    pub fn identify_value(&self, kind: ApiKeyKind, value: &[u8]) -> Option<&str> {
        self.identify_digest(kind, &digest(value))
    }

    /// [`ApiKeys::identify_value`] for a value already hashed with [`digest`].
    pub(crate) fn identify_digest(&self, kind: ApiKeyKind, digest: &[u8; 32]) -> Option<&str> {
        let mut found = None;
        for (name, stored) in self.map(kind) {
            // No early exit: the time does not depend on which key matched, or whether one did.
            if ct_eq(&stored.digest, digest) && found.is_none() {
                found = Some(name.as_str());
            }
        }
        found
    }

    /// Whether `value` is any configured publishable key (for telling "a signed-out
    /// supabase-js sending its key as the bearer" from a bad token).
    #[must_use]
    pub fn is_publishable(&self, value: &[u8]) -> bool {
        self.identify_value(ApiKeyKind::Publishable, value)
            .is_some()
    }
}

/// The SHA-256 of a presented value: what configured keys are compared against.
pub(crate) fn digest(value: &[u8]) -> [u8; 32] {
    Sha256::digest(value).into()
}

/// A key name for an error message: at most 64 visible ASCII characters.
fn safe_name(name: &str) -> String {
    if name.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("sb_")) {
        return "(a key, not a name)".to_owned();
    }
    name.chars()
        .filter(char::is_ascii_graphic)
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "sb_publishable_abcdefgh12";
    const S: &str = "sb_secret_0123456789abcdef";

    fn lookup(vars: &[(&str, &str)]) -> Result<ApiKeys, EnvError> {
        ApiKeys::from_variables(&Variables::from_pairs(vars.iter().copied()))
    }

    fn apikey(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("apikey", v.parse().unwrap());
        h
    }

    #[test]
    fn named_keys_match_only_their_kind_and_name() {
        let keys = ApiKeys::builder()
            .publishable("default", P)
            .publishable("web", "sb_publishable_webkey9876")
            .secret("automations", S)
            .build()
            .unwrap();
        assert_eq!(
            keys.identify(ApiKeyKind::Publishable, &apikey(P)),
            Some("default")
        );
        assert_eq!(
            keys.identify(
                ApiKeyKind::Publishable,
                &apikey("sb_publishable_webkey9876")
            ),
            Some("web")
        );
        assert_eq!(keys.identify(ApiKeyKind::Secret, &apikey(P)), None);
        assert_eq!(
            keys.identify(ApiKeyKind::Secret, &apikey(S)),
            Some("automations")
        );
        // Near misses: a prefix, an extension, another case, surrounding space.
        for near in [
            &S[..S.len() - 1],
            &format!("{S}x"),
            &S.to_uppercase(),
            &format!(" {S}"),
        ] {
            assert_eq!(
                keys.identify_value(ApiKeyKind::Secret, near.as_bytes()),
                None,
                "{near}"
            );
        }
        // Two apikey headers, or none: nothing.
        let mut two = apikey(S);
        two.append("apikey", S.parse().unwrap());
        assert_eq!(keys.identify(ApiKeyKind::Secret, &two), None);
        assert_eq!(keys.identify(ApiKeyKind::Secret, &HeaderMap::new()), None);
        // Never from Authorization.
        let mut bearer = HeaderMap::new();
        bearer.insert("authorization", format!("Bearer {S}").parse().unwrap());
        assert_eq!(keys.identify(ApiKeyKind::Secret, &bearer), None);
        assert!(keys.is_publishable(P.as_bytes()));
        assert!(!keys.is_publishable(S.as_bytes()));
    }

    #[test]
    fn keys_are_checked_at_start_up() {
        let one = |kind, name: &str, key: &str| ApiKeys::builder().key(kind, name, key).build();
        assert!(matches!(
            one(ApiKeyKind::Secret, "default", P),
            Err(ApiKeyError::WrongPrefix { .. })
        ));
        assert!(matches!(
            one(ApiKeyKind::Publishable, "default", "sb_publishable_short"),
            Err(ApiKeyError::Malformed { .. })
        ));
        assert!(matches!(
            one(
                ApiKeyKind::Publishable,
                "default",
                "sb_publishable_has space1"
            ),
            Err(ApiKeyError::Malformed { .. })
        ));
        for bad in ["", "a b", "é", &"n".repeat(65)] {
            assert!(matches!(
                one(ApiKeyKind::Secret, bad, S),
                Err(ApiKeyError::BadName(_))
            ));
        }
        // A key given as the name (the JSON pair reversed) is not echoed.
        let reversed = one(ApiKeyKind::Secret, S, "default").unwrap_err();
        assert!(!reversed.to_string().contains("0123456789"), "{reversed}");
        assert!(matches!(reversed, ApiKeyError::BadName(_)));
        assert!(matches!(
            ApiKeys::builder().secret("a", S).secret("b", S).build(),
            Err(ApiKeyError::DuplicateKey { .. })
        ));
        assert!(matches!(
            ApiKeys::builder()
                .secret("a", S)
                .secret("a", "sb_secret_fedcba9876543210")
                .build(),
            Err(ApiKeyError::DuplicateName { .. })
        ));
    }

    #[test]
    fn environment_plural_first_errors_name_the_variable() {
        let web = format!(r#"{{"web":"{P}"}}"#);
        let keys = lookup(&[
            ("SUPABASE_PUBLISHABLE_KEYS", &web),
            ("SUPABASE_PUBLISHABLE_KEY", "sb_publishable_ignoredkey1"),
            ("SUPABASE_SECRET_KEY", S),
        ])
        .unwrap();
        assert_eq!(
            keys.names(ApiKeyKind::Publishable).collect::<Vec<_>>(),
            ["web"]
        );
        assert_eq!(
            keys.names(ApiKeyKind::Secret).collect::<Vec<_>>(),
            ["default"]
        );
        assert!(lookup(&[]).unwrap().is_empty());
        let publishable_as_secret = format!(r#"{{"a":"{P}"}}"#);
        let same_as_publishable = format!(r#"{{"x":"{P}"}}"#);
        let reversed = format!(r#"{{"{S}":"default"}}"#);
        let reversed_number = format!(r#"{{"{S}":1}}"#);
        let cases: [(&[(&str, &str)], &str); 7] = [
            (&[("SUPABASE_SECRET_KEYS", "{nope")], "SUPABASE_SECRET_KEYS"),
            (
                &[("SUPABASE_SECRET_KEYS", r#"{"a":1}"#)],
                "SUPABASE_SECRET_KEYS",
            ),
            (
                &[("SUPABASE_SECRET_KEYS", &publishable_as_secret)],
                "SUPABASE_SECRET_KEYS",
            ),
            (
                &[("SUPABASE_PUBLISHABLE_KEY", S)],
                "SUPABASE_PUBLISHABLE_KEY",
            ),
            (
                &[("SUPABASE_SECRET_KEYS", &reversed)],
                "SUPABASE_SECRET_KEYS",
            ),
            (
                &[("SUPABASE_SECRET_KEYS", &reversed_number)],
                "SUPABASE_SECRET_KEYS",
            ),
            (
                &[
                    ("SUPABASE_PUBLISHABLE_KEY", P),
                    ("SUPABASE_SECRET_KEYS", &same_as_publishable),
                ],
                "SUPABASE_SECRET_KEYS",
            ),
        ];
        for (vars, var) in cases {
            let e = lookup(vars).unwrap_err();
            assert_eq!(e.variable(), var, "{vars:?}: {e}");
            // The message names keys, never their values.
            let text = e.to_string();
            assert!(
                !text.contains("abcdefgh12") && !text.contains("0123456789abcdef"),
                "{text}"
            );
        }
    }

    #[test]
    fn debug_shows_names_and_fingerprints_only() {
        let keys = ApiKeys::builder().secret("automations", S).build().unwrap();
        let dbg = format!("{keys:?}");
        assert!(dbg.contains("automations:"), "{dbg}");
        assert!(!dbg.contains("0123456789"), "{dbg}");
        let builder = ApiKeys::builder().secret("automations", S);
        assert!(!format!("{builder:?}").contains("0123456789"));
    }
}
