//! Key material: the legacy HS256 secret, JWK sets and the policy applied when loading them,
//! and the prepared key set the verifier reads.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::algorithm::Algorithm;
use crate::crypto::{CryptoBackend, HmacKey, Material, PublicKey};
use crate::error::{ConfigError, Error};

/// Most keys a JWK set may hold.
pub(crate) const MAX_JWKS_KEYS: usize = 32;
/// Longest `kid` accepted, in bytes, in a key set and in a token header.
pub(crate) const MAX_KID_LEN: usize = 256;

/// The project's legacy JWT secret, used as HS256 key.
///
/// Supabase Auth signs with the UTF-8 bytes of the secret string (`[]byte(config.JWT.Secret)`),
/// so the secret is taken as raw bytes and never base64-decoded. It must be at least 32 bytes
/// (RFC 7518 §3.2). `Debug` never prints it, and the bytes are zeroed on drop.
///
/// # Examples
///
/// ```
/// use supagate_jwt::Hs256Secret;
///
/// let secret = Hs256Secret::new("super-secret-jwt-token-with-at-least-32-characters-long")?;
/// assert_eq!(format!("{secret:?}"), "Hs256Secret { kid: None, secret: <redacted> }");
/// # Ok::<(), supagate_jwt::ConfigError>(())
/// ```
///
/// # Errors
///
/// [`ConfigError::SecretTooShort`] when the secret is shorter than 32 bytes.
#[derive(Clone)]
pub struct Hs256Secret {
    secret: Zeroizing<Vec<u8>>,
    kid: Option<String>,
}

impl Hs256Secret {
    /// Takes the secret as raw bytes (a `&str` gives its UTF-8 bytes).
    ///
    /// # Errors
    ///
    /// [`ConfigError::SecretTooShort`] when shorter than 32 bytes.
    pub fn new(secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let secret = secret.as_ref();
        let min = Algorithm::HS256.min_hmac_key_len();
        if secret.len() < min {
            return Err(ConfigError::SecretTooShort { min });
        }
        Ok(Hs256Secret {
            secret: Zeroizing::new(secret.to_vec()),
            kid: None,
        })
    }

    /// Binds the secret to a `kid`. Tokens that carry a different `kid` are then refused by this
    /// key. Default: no `kid`, so the secret verifies every HS256 token whatever its `kid`
    /// (self-hosted GoTrue often sends none), unless another HMAC key matches the `kid` exactly.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }
}

impl fmt::Debug for Hs256Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hs256Secret")
            .field("kid", &self.kid)
            .field("secret", &format_args!("<redacted>"))
            .finish()
    }
}

/// Why a key in a JWK set was left out.
///
/// A set is loaded key by key: a key that fails the policy is dropped with one of these reasons
/// (see [`JwkSet::rejected`]) and the rest of the set stays usable, as RFC 7517 §5 asks for keys
/// a reader does not understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyRejection {
    /// The key is not a JSON object, or `kty` is missing or unknown.
    UnsupportedKeyType,
    /// `crv` is missing or not one of P-256, P-384, Ed25519.
    UnsupportedCurve,
    /// `alg` is not a signature algorithm this crate implements for the key type.
    UnsupportedAlgorithm,
    /// `alg` does not agree with `kty`/`crv` (for example ES512 on a P-256 key).
    AlgorithmMismatch,
    /// `use` is present and is not `sig`.
    WrongUse,
    /// `key_ops` is present and does not contain `verify`.
    NoVerifyOperation,
    /// An asymmetric key has no `kid` (tokens select asymmetric keys by `kid` only).
    MissingKid,
    /// `kid` is empty, not a string, or longer than [`JwkSet::MAX_KID_LEN`].
    InvalidKid,
    /// Two usable keys share a `kid`; both are dropped, since neither can be chosen safely.
    DuplicateKid,
    /// Key material is missing, not strict base64url, or of the wrong length.
    InvalidMaterial,
    /// The EC point is not on the curve, or the backend refused the key.
    InvalidPoint,
    /// The RSA modulus is outside 2048–4096 bits.
    RsaKeySize,
    /// The RSA exponent is even, below 3 or above 2³².
    RsaExponent,
    /// The RSA modulus has the ROCA fingerprint (CVE-2017-15361): its private key can be
    /// recovered.
    RocaVulnerable,
    /// An HMAC key is shorter than its algorithm's hash output.
    HmacKeyTooShort,
}

impl KeyRejection {
    /// A short reason for logs.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            KeyRejection::UnsupportedKeyType => "unsupported key type",
            KeyRejection::UnsupportedCurve => "unsupported curve",
            KeyRejection::UnsupportedAlgorithm => "unsupported algorithm",
            KeyRejection::AlgorithmMismatch => "algorithm does not match the key type",
            KeyRejection::WrongUse => "key use is not sig",
            KeyRejection::NoVerifyOperation => "key_ops does not allow verify",
            KeyRejection::MissingKid => "asymmetric key without kid",
            KeyRejection::InvalidKid => "invalid kid",
            KeyRejection::DuplicateKid => "duplicate kid",
            KeyRejection::InvalidMaterial => "invalid key material",
            KeyRejection::InvalidPoint => "invalid public key",
            KeyRejection::RsaKeySize => "rsa modulus outside 2048-4096 bits",
            KeyRejection::RsaExponent => "invalid rsa exponent",
            KeyRejection::RocaVulnerable => "rsa modulus has the roca fingerprint",
            KeyRejection::HmacKeyTooShort => "hmac key too short",
        }
    }
}

impl fmt::Display for KeyRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key that a JWK set load left out, with its `kid` (public information) when it had one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedKey {
    /// The key's `kid`, when it had a usable one.
    pub kid: Option<String>,
    /// Why it was left out.
    pub reason: KeyRejection,
}

#[derive(Clone)]
pub(crate) enum Entry {
    Public {
        kid: String,
        alg: Algorithm,
        material: Material,
    },
    Hmac {
        kid: Option<String>,
        alg: Algorithm,
        secret: Zeroizing<Vec<u8>>,
    },
}

impl Entry {
    fn kid(&self) -> Option<&str> {
        match self {
            Entry::Public { kid, .. } => Some(kid),
            Entry::Hmac { kid, .. } => kid.as_deref(),
        }
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Public { kid, alg, material } => f
                .debug_struct("Public")
                .field("kid", kid)
                .field("alg", alg)
                .field("material", material)
                .finish(),
            Entry::Hmac { kid, alg, .. } => f
                .debug_struct("Hmac")
                .field("kid", kid)
                .field("alg", alg)
                .field("secret", &format_args!("<redacted>"))
                .finish(),
        }
    }
}

/// A JWK set that passed the load-time key policy: each key pinned to exactly one algorithm.
///
/// [`JwkSet::from_json`] reads a *published* set such as Supabase's
/// `/auth/v1/.well-known/jwks.json`: asymmetric keys only (EC P-256/P-384, RSA 2048–4096 bits,
/// OKP Ed25519). A symmetric `oct` key in such a set refuses the whole set: secrets are never
/// published, and a verifier must never turn published material into an HMAC key.
/// [`JwkSet::from_secret_json`] reads symmetric keys from your own configuration instead.
///
/// Policy per key: `kty`, `crv` and `alg` must agree (an absent `alg` is inferred from the key
/// type, never from a token); `use` absent or `sig`; `key_ops` absent or containing `verify`;
/// coordinates of exactly the curve's length in strict base64url; RSA modulus 2048–4096 bits
/// without leading zero octets, odd exponent 3 ≤ e ≤ 2³², no ROCA fingerprint; `kid` present
/// (for asymmetric keys), at most 256 bytes and unique. Keys that fail are listed in
/// [`JwkSet::rejected`]; EC points are validated when the verifier is built.
///
/// # Examples
///
/// ```
/// use supagate_jwt::JwkSet;
///
/// let set = JwkSet::from_json(r#"{"keys":[{
///     "kty":"EC","crv":"P-256","alg":"ES256","use":"sig","key_ops":["verify"],
///     "kid":"11c24012-edde-42e8-a0a3-6dd6e46ab397",
///     "x":"uH6LXcMkd6QJiWOJEmSXfYZAZ9Rzch8QNrkiqXI8BGI",
///     "y":"TdYf8fqqYFZjt4fWAx5GZ5DbuW7w9KDFOeVGD7V1bGI"}]}"#)?;
/// assert_eq!(set.len(), 1);
/// assert!(set.rejected().is_empty());
/// # Ok::<(), supagate_jwt::ConfigError>(())
/// ```
///
/// # Errors
///
/// [`ConfigError::JwkSetNotJson`] (with the position) for a document that is not JSON,
/// [`ConfigError::InvalidJwkSet`] for one that is not `{"keys": [...]}`,
/// [`ConfigError::NoUsableKey`] for a set none of whose keys is usable,
/// [`ConfigError::TooManyKeys`] above [`JwkSet::MAX_KEYS`], and
/// [`ConfigError::SymmetricKeyInPublicSet`] / [`ConfigError::AsymmetricKeyInHmacSet`] for a set
/// that mixes key kinds.
#[derive(Debug, Clone, Default)]
pub struct JwkSet {
    entries: Vec<Entry>,
    rejected: Vec<RejectedKey>,
}

impl JwkSet {
    /// Most keys a set may hold; a larger document is refused.
    pub const MAX_KEYS: usize = MAX_JWKS_KEYS;
    /// Longest `kid` accepted, in bytes.
    pub const MAX_KID_LEN: usize = MAX_KID_LEN;

    /// An empty set: a valid state for a project that still signs with the legacy secret only.
    #[must_use]
    pub fn empty() -> Self {
        JwkSet::default()
    }

    /// Parses a published (public, asymmetric) JWK set that you configure: at least one of its
    /// keys must be usable (a set with none could verify no token; say so at start-up, not on
    /// every request).
    ///
    /// # Errors
    ///
    /// See the type-level documentation, and [`ConfigError::NoUsableKey`] for a set whose every
    /// key was left out, or an empty one (a project that signs with the legacy secret only
    /// publishes `{"keys":[]}`: configure no set, or [`JwkSet::empty`]).
    ///
    /// ```
    /// use supagate_jwt::{ConfigError, JwkSet, KeyRejection};
    ///
    /// let err = JwkSet::from_json(r#"{"keys":[]}"#).unwrap_err();
    /// assert!(matches!(err, ConfigError::NoUsableKey { left_out: 0, .. }));
    /// let err = JwkSet::from_json(r#"{"keys":[{"kty":"EC","crv":"P-256","use":"enc"}]}"#).unwrap_err();
    /// assert!(matches!(err, ConfigError::NoUsableKey { left_out: 1, first: Some(_) }));
    /// let err = JwkSet::from_json("{\n  \"keys\": [,]\n}").unwrap_err();
    /// assert_eq!(err.to_string(), "jwk set is not json (line 2, column 12)");
    /// ```
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        Self::parse(json, Kind::Public)?.usable()
    }

    /// Parses a set as a project publishes it, which may hold no usable key: a project that
    /// signs with the legacy secret only publishes `{"keys":[]}`. For a set you fetch from
    /// `<project>/auth/v1/.well-known/jwks.json` yourself (`RemoteJwks` does it for you);
    /// a set you configure goes through [`JwkSet::from_json`].
    ///
    /// # Errors
    ///
    /// As [`JwkSet::from_json`], but never [`ConfigError::NoUsableKey`].
    ///
    /// ```
    /// use supagate_jwt::JwkSet;
    ///
    /// let published = JwkSet::from_published_json(r#"{"keys":[]}"#)?;
    /// assert!(published.is_empty());
    /// # Ok::<(), supagate_jwt::ConfigError>(())
    /// ```
    pub fn from_published_json(json: &str) -> Result<Self, ConfigError> {
        Self::parse(json, Kind::Public)
    }

    /// [`JwkSet::from_secret_json`] that keeps a set with no usable key (the environment
    /// path checks the whole set, public and secret keys together).
    pub(crate) fn from_secret_json_lenient(json: &str) -> Result<Self, ConfigError> {
        Self::parse(json, Kind::Secret)
    }

    /// The set, or [`ConfigError::NoUsableKey`] when none of its keys is usable.
    fn usable(self) -> Result<Self, ConfigError> {
        if self.entries.is_empty() {
            return Err(ConfigError::NoUsableKey {
                left_out: self.rejected.len(),
                first: self.rejected.first().map(|r| r.reason),
            });
        }
        Ok(self)
    }

    /// Parses a set of symmetric `oct` keys from your own configuration (for example the legacy
    /// JWT secret exported as a JWK with its `kid`). `k` is the base64url key; `alg` must be
    /// HS256, HS384 or HS512 (HS256 when absent) and the key at least as long as the hash.
    ///
    /// # Errors
    ///
    /// See the type-level documentation, and [`ConfigError::NoUsableKey`] for a set with no
    /// usable key, as [`JwkSet::from_json`].
    pub fn from_secret_json(json: &str) -> Result<Self, ConfigError> {
        Self::parse(json, Kind::Secret)?.usable()
    }

    /// How many keys passed the policy.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key passed the policy.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `kid`s of the keys that passed, in document order.
    pub fn kids(&self) -> impl Iterator<Item = Option<&str>> {
        self.entries.iter().map(Entry::kid)
    }

    /// Keys that were left out, with the reason.
    #[must_use]
    pub fn rejected(&self) -> &[RejectedKey] {
        &self.rejected
    }

    /// Whether the set holds a symmetric key.
    pub(crate) fn has_hmac(&self) -> bool {
        self.entries.iter().any(|e| matches!(e, Entry::Hmac { .. }))
    }

    /// The secrets of the set's HMAC keys (for the start-up check against published ones).
    pub(crate) fn hmac_secrets(&self) -> impl Iterator<Item = &[u8]> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Hmac { secret, .. } => Some(secret.as_slice()),
            Entry::Public { .. } => None,
        })
    }

    pub(crate) fn push_hmac(&mut self, secret: &Hs256Secret) {
        self.entries.push(Entry::Hmac {
            kid: secret.kid.clone(),
            alg: Algorithm::HS256,
            secret: secret.secret.clone(),
        });
    }

    /// Adds the keys of `other`, then drops every key whose `kid` is now duplicated.
    pub(crate) fn merge(&mut self, other: &JwkSet) {
        self.entries.extend(other.entries.iter().cloned());
        self.rejected.extend(other.rejected.iter().cloned());
        self.drop_duplicate_kids();
    }

    fn parse(json: &str, kind: Kind) -> Result<Self, ConfigError> {
        let doc: Value = serde_json::from_str(json).map_err(|e| ConfigError::JwkSetNotJson {
            line: e.line(),
            column: e.column(),
        })?;
        let keys = doc
            .as_object()
            .and_then(|o| o.get("keys"))
            .and_then(Value::as_array)
            .ok_or(ConfigError::InvalidJwkSet)?;
        if keys.len() > MAX_JWKS_KEYS {
            return Err(ConfigError::TooManyKeys { max: MAX_JWKS_KEYS });
        }
        let mut set = JwkSet::default();
        // A kid listed twice in the document is ambiguous even if one of the keys would be
        // dropped for another reason: every key with that kid is refused.
        let mut seen: Vec<&str> = Vec::new();
        let mut repeated: Vec<String> = Vec::new();
        for kid in keys
            .iter()
            .filter_map(|k| k.get("kid").and_then(Value::as_str))
        {
            if seen.contains(&kid) {
                if !repeated.iter().any(|r| r == kid) {
                    repeated.push(kid.to_owned());
                }
            } else {
                seen.push(kid);
            }
        }
        for key in keys {
            let Some(obj) = key.as_object() else {
                set.rejected.push(RejectedKey {
                    kid: None,
                    reason: KeyRejection::UnsupportedKeyType,
                });
                continue;
            };
            let is_oct = obj.get("kty").and_then(Value::as_str) == Some("oct");
            match (kind, is_oct) {
                (Kind::Public, true) => return Err(ConfigError::SymmetricKeyInPublicSet),
                (Kind::Secret, false) => return Err(ConfigError::AsymmetricKeyInHmacSet),
                _ => {}
            }
            let kid = obj
                .get("kid")
                .and_then(Value::as_str)
                .filter(|k| !k.is_empty() && k.len() <= MAX_KID_LEN)
                .map(str::to_owned);
            let parsed = if kid.as_ref().is_some_and(|k| repeated.contains(k)) {
                Err(KeyRejection::DuplicateKid)
            } else {
                match kind {
                    Kind::Public => parse_public(obj),
                    Kind::Secret => parse_secret(obj),
                }
            };
            match parsed {
                Ok(entry) => set.entries.push(entry),
                Err(reason) => set.rejected.push(RejectedKey { kid, reason }),
            }
        }
        set.drop_duplicate_kids();
        Ok(set)
    }

    fn drop_duplicate_kids(&mut self) {
        let mut dup: Vec<String> = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            if let Some(kid) = e.kid() {
                let again = self
                    .entries
                    .iter()
                    .skip(i + 1)
                    .any(|o| o.kid() == Some(kid));
                if again && !dup.iter().any(|d| d == kid) {
                    dup.push(kid.to_owned());
                }
            }
        }
        if dup.is_empty() {
            return;
        }
        self.entries.retain(|e| match e.kid() {
            Some(kid) => !dup.iter().any(|d| d == kid),
            None => true,
        });
        for kid in dup {
            self.rejected.push(RejectedKey {
                kid: Some(kid),
                reason: KeyRejection::DuplicateKid,
            });
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Public,
    Secret,
}

fn b64(obj: &Map<String, Value>, member: &str) -> Result<Vec<u8>, KeyRejection> {
    let s = obj
        .get(member)
        .and_then(Value::as_str)
        .ok_or(KeyRejection::InvalidMaterial)?;
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| KeyRejection::InvalidMaterial)
}

fn check_use(obj: &Map<String, Value>) -> Result<(), KeyRejection> {
    match obj.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(_) => return Err(KeyRejection::WrongUse),
    }
    match obj.get("key_ops") {
        None => Ok(()),
        Some(Value::Array(ops)) => {
            if ops.iter().any(|o| o.as_str() == Some("verify")) {
                Ok(())
            } else {
                Err(KeyRejection::NoVerifyOperation)
            }
        }
        Some(_) => Err(KeyRejection::NoVerifyOperation),
    }
}

fn alg_member(obj: &Map<String, Value>) -> Result<Option<&str>, KeyRejection> {
    match obj.get("alg") {
        None => Ok(None),
        Some(Value::String(a)) => Ok(Some(a)),
        Some(_) => Err(KeyRejection::AlgorithmMismatch),
    }
}

fn parse_public(obj: &Map<String, Value>) -> Result<Entry, KeyRejection> {
    check_use(obj)?;
    let kid = match obj.get("kid") {
        None => return Err(KeyRejection::MissingKid),
        Some(Value::String(k)) if !k.is_empty() && k.len() <= MAX_KID_LEN => k.clone(),
        Some(_) => return Err(KeyRejection::InvalidKid),
    };
    let alg = alg_member(obj)?;
    let kty = obj
        .get("kty")
        .and_then(Value::as_str)
        .ok_or(KeyRejection::UnsupportedKeyType)?;
    let (alg, material) = match kty {
        "EC" => {
            let (expected, len) = match obj.get("crv").and_then(Value::as_str) {
                Some("P-256") => (Algorithm::ES256, 32),
                Some("P-384") => (Algorithm::ES384, 48),
                _ => return Err(KeyRejection::UnsupportedCurve),
            };
            pinned(alg, &[expected])?;
            let x = b64(obj, "x")?;
            let y = b64(obj, "y")?;
            if x.len() != len || y.len() != len {
                return Err(KeyRejection::InvalidMaterial);
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (expected, Material::Ec { point })
        }
        "OKP" => {
            if obj.get("crv").and_then(Value::as_str) != Some("Ed25519") {
                return Err(KeyRejection::UnsupportedCurve);
            }
            pinned(alg, &[Algorithm::EdDSA])?;
            let x = b64(obj, "x")?;
            if x.len() != 32 {
                return Err(KeyRejection::InvalidMaterial);
            }
            (Algorithm::EdDSA, Material::Ed25519 { x })
        }
        "RSA" => {
            let alg = match alg {
                None => Algorithm::RS256,
                Some(name) => match Algorithm::from_name(name) {
                    Some(
                        a @ (Algorithm::RS256
                        | Algorithm::RS384
                        | Algorithm::RS512
                        | Algorithm::PS256
                        | Algorithm::PS384
                        | Algorithm::PS512),
                    ) => a,
                    _ => return Err(KeyRejection::AlgorithmMismatch),
                },
            };
            let n = b64(obj, "n")?;
            let e = b64(obj, "e")?;
            check_rsa(&n, &e)?;
            (alg, Material::Rsa { n, e })
        }
        _ => return Err(KeyRejection::UnsupportedKeyType),
    };
    Ok(Entry::Public { kid, alg, material })
}

/// `alg`, when present, must be one of `allowed`; a real name for another key type is a
/// mismatch.
fn pinned(alg: Option<&str>, allowed: &[Algorithm]) -> Result<(), KeyRejection> {
    match alg {
        None => Ok(()),
        Some(name) => match Algorithm::from_name(name) {
            Some(a) if allowed.contains(&a) => Ok(()),
            _ => Err(KeyRejection::AlgorithmMismatch),
        },
    }
}

fn parse_secret(obj: &Map<String, Value>) -> Result<Entry, KeyRejection> {
    check_use(obj)?;
    let kid = match obj.get("kid") {
        None => None,
        Some(Value::String(k)) if !k.is_empty() && k.len() <= MAX_KID_LEN => Some(k.clone()),
        Some(_) => return Err(KeyRejection::InvalidKid),
    };
    let alg = match alg_member(obj)? {
        None => Algorithm::HS256,
        Some(name) => match Algorithm::from_name(name) {
            Some(a) if a.is_hmac() => a,
            _ => return Err(KeyRejection::AlgorithmMismatch),
        },
    };
    let secret = Zeroizing::new(b64(obj, "k")?);
    if secret.len() < alg.min_hmac_key_len() {
        return Err(KeyRejection::HmacKeyTooShort);
    }
    Ok(Entry::Hmac { kid, alg, secret })
}

fn check_rsa(n: &[u8], e: &[u8]) -> Result<(), KeyRejection> {
    // No leading zero octets (RFC 7518 §6.3.1.1), and the size within 2048..=4096 bits.
    let first = *n.first().ok_or(KeyRejection::InvalidMaterial)?;
    if first == 0 {
        return Err(KeyRejection::InvalidMaterial);
    }
    let bits = (n.len() - 1) * 8 + (8 - first.leading_zeros() as usize);
    if !(2048..=4096).contains(&bits) {
        return Err(KeyRejection::RsaKeySize);
    }
    if e.first().is_none_or(|b| *b == 0) || e.len() > 5 {
        return Err(KeyRejection::RsaExponent);
    }
    let exp = e.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    if exp < 3 || exp % 2 == 0 || exp > (1u64 << 32) {
        return Err(KeyRejection::RsaExponent);
    }
    if n.last().is_some_and(|b| b % 2 == 0) {
        return Err(KeyRejection::InvalidMaterial);
    }
    if has_roca_fingerprint(n) {
        return Err(KeyRejection::RocaVulnerable);
    }
    Ok(())
}

/// The ROCA fingerprint (CVE-2017-15361). Infineon's library made primes
/// `p = k·M + (65537^a mod M)`, where `M` is the product of the first 39 or more primes, so for
/// every prime `r ≤ 167` the modulus `n = p·q` is a power of 65537 modulo `r`. A random modulus
/// passes that test for all these primes with negligible probability.
fn has_roca_fingerprint(n: &[u8]) -> bool {
    const PRIMES: [u64; 38] = [
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
        97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
    ];
    PRIMES.iter().all(|&r| {
        let residue = n
            .iter()
            .fold(0u64, |acc, b| (acc * 256 + u64::from(*b)) % r);
        // Walk the subgroup generated by 65537 mod r.
        let g = 65537 % r;
        let mut x = 1u64;
        for _ in 0..r {
            if x == residue {
                return true;
            }
            x = x * g % r;
            if x == 1 {
                break;
            }
        }
        false
    })
}

/// Public keys prepared for one backend: the snapshot the verifier reads for asymmetric tokens.
///
/// Build it from a [`JwkSet`] with [`PreparedKeys::prepare`]. A [`KeySource`] hands the verifier the
/// current `Arc<PreparedKeys>`; replacing the `Arc` is how a remote source rotates keys without ever
/// blocking a verification.
///
/// # Examples
///
/// ```
/// use supagate_jwt::{CryptoBackend, JwkSet, PreparedKeys};
///
/// let backend = CryptoBackend::preferred().expect("a backend feature is enabled");
/// let set = PreparedKeys::prepare(&JwkSet::empty(), backend);
/// assert!(set.is_empty());
/// ```
#[derive(Debug, Default)]
pub struct PreparedKeys {
    keys: Vec<PreparedKey>,
    rejected: Vec<RejectedKey>,
}

#[derive(Debug)]
pub(crate) struct PreparedKey {
    pub(crate) kid: String,
    pub(crate) alg: Algorithm,
    pub(crate) key: PublicKey,
    /// A hash of the algorithm and the public key material: the same for the same key in
    /// every fetch of the set, different when a key is replaced under the same `kid`.
    pub(crate) fingerprint: u64,
}

/// A deterministic hash of a public key (`DefaultHasher::new` is the same in every use within a
/// process), stable across fetches of the set. Public keys are chosen by the project, not by
/// clients, so collisions are not an attacker's lever.
fn fingerprint(alg: Algorithm, material: &Material) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    alg.name().hash(&mut h);
    material.hash(&mut h);
    h.finish()
}

impl PreparedKeys {
    /// Prepares the asymmetric keys of `jwks` for `backend` (symmetric keys are ignored here;
    /// they are configured on the verifier). A key the backend refuses (for example an EC point
    /// off the curve) is added to [`PreparedKeys::rejected`].
    #[must_use]
    pub fn prepare(jwks: &JwkSet, backend: CryptoBackend) -> Self {
        let mut set = PreparedKeys {
            keys: Vec::new(),
            rejected: jwks.rejected.clone(),
        };
        for entry in &jwks.entries {
            if let Entry::Public { kid, alg, material } = entry {
                match PublicKey::new(backend, *alg, material) {
                    Some(key) => set.keys.push(PreparedKey {
                        kid: kid.clone(),
                        alg: *alg,
                        key,
                        fingerprint: fingerprint(*alg, material),
                    }),
                    None => set.rejected.push(RejectedKey {
                        kid: Some(kid.clone()),
                        reason: KeyRejection::InvalidPoint,
                    }),
                }
            }
        }
        set
    }

    /// How many keys are usable.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is usable (valid: a project on the legacy secret publishes none).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The `kid` and pinned algorithm of each usable key.
    pub fn keys(&self) -> impl Iterator<Item = (&str, Algorithm)> {
        self.keys.iter().map(|k| (k.kid.as_str(), k.alg))
    }

    /// Keys left out while loading or preparing, with the reason.
    #[must_use]
    pub fn rejected(&self) -> &[RejectedKey] {
        &self.rejected
    }

    pub(crate) fn find(&self, kid: &str) -> Option<&PreparedKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    pub(crate) fn position(&self, kid: &str) -> Option<usize> {
        self.keys.iter().position(|k| k.kid == kid)
    }

    pub(crate) fn key_at(&self, index: usize) -> Option<&PreparedKey> {
        self.keys.get(index)
    }
}

/// Where the verifier gets its asymmetric keys.
///
/// The static case is a fixed [`PreparedKeys`] inside the verifier; a remote JWKS source implements this
/// trait so that keys can rotate while the verifier keeps running. Implementations must answer
/// from memory: [`KeySource::current`] and [`KeySource::unknown_kid`] are called on every
/// asymmetric verification, often on an async worker thread, and must never wait on network
/// I/O. Waiting for a fetch is [`KeySource::wait_past`], a future.
pub trait KeySource: Send + Sync + fmt::Debug + 'static {
    /// The keys to verify with now.
    ///
    /// # Errors
    ///
    /// [`Error::KeysUnavailable`] when no usable key set is available (never fetched, or stale
    /// past the allowed window). The verifier then answers 503, never 401 and never acceptance.
    fn current(&self) -> Result<Arc<PreparedKeys>, Error>;

    /// Called when a token names a `kid` that [`KeySource::current`] does not have. A source
    /// may refresh (rate-limited) and return a newer set; the default returns `None`.
    ///
    /// It must not wait: a source that fetches starts the fetch and returns `None`, and an
    /// async verification then waits for it through [`KeySource::wait_past`].
    fn unknown_kid(&self, kid: &str) -> Option<Arc<PreparedKeys>> {
        let _ = kid;
        None
    }

    /// How many fetches this source has finished (any number that grows with each one). The
    /// default, for sources that never change, is always 0.
    fn generation(&self) -> u64 {
        0
    }

    /// Resolves when a fetch has finished since [`KeySource::generation`] returned
    /// `generation`: at once with `true` if one already has, with `true` when the one in
    /// flight finishes, and at once with `false` when none is in flight. Must be bounded (a
    /// fetch has a timeout) and must not block a thread. The default resolves to `false` at
    /// once.
    fn wait_past(&self, generation: u64) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        let _ = generation;
        Box::pin(std::future::ready(false))
    }

    /// Whether the latest fetch of this source failed. A `kid` the current set lacks is then
    /// not known to be absent (the fetch that would have brought a newly promoted key did not
    /// arrive): the verifier answers [`Error::KeysUnavailable`] (503) for it instead of
    /// [`Error::UnknownKey`] (401), and 401 only once a successful fetch has shown the key is
    /// not there. The default, for sources that never fetch, is `false`.
    fn fetch_failing(&self) -> bool {
        false
    }
}

/// An HMAC key prepared for the verifier.
#[derive(Debug)]
pub(crate) struct PreparedHmac {
    pub(crate) kid: Option<String>,
    pub(crate) alg: Algorithm,
    pub(crate) key: HmacKey,
}

pub(crate) fn prepare_hmac(
    jwks: &JwkSet,
    backend: CryptoBackend,
) -> Result<Vec<PreparedHmac>, ConfigError> {
    let mut out = Vec::new();
    let mut kidless: Vec<(Algorithm, &[u8])> = Vec::new();
    for entry in &jwks.entries {
        if let Entry::Hmac { kid, alg, secret } = entry {
            // A token without `kid` takes the kid-less key of its algorithm: two of them must
            // be the same secret (kept once), or no such token could be attributed.
            if kid.is_none() {
                match kidless.iter().find(|(a, _)| a == alg) {
                    Some((_, s)) if *s == secret.as_slice() => continue,
                    Some(_) => return Err(ConfigError::AmbiguousHmacKeys),
                    None => kidless.push((*alg, secret.as_slice())),
                }
            }
            out.push(PreparedHmac {
                kid: kid.clone(),
                alg: *alg,
                key: HmacKey::new(backend, *alg, secret)?,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_is_redacted() {
        let s = Hs256Secret::new("0123456789abcdef0123456789abcdef-secret").unwrap();
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("0123456789"));
        assert!(dbg.contains("<redacted>"));
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(matches!(
            Hs256Secret::new(""),
            Err(ConfigError::SecretTooShort { min: 32 })
        ));
        assert!(matches!(
            Hs256Secret::new("x"),
            Err(ConfigError::SecretTooShort { min: 32 })
        ));
        assert!(Hs256Secret::new([7u8; 32]).is_ok());
    }

    #[test]
    fn rsa_exponent_rules() {
        let mut n = vec![0xC5u8; 256];
        n[255] = 0x01;
        assert_eq!(check_rsa(&n, &[1]), Err(KeyRejection::RsaExponent));
        assert_eq!(check_rsa(&n, &[4]), Err(KeyRejection::RsaExponent));
        assert_eq!(check_rsa(&n, &[0, 1, 0, 1]), Err(KeyRejection::RsaExponent));
        assert_eq!(
            check_rsa(&n, &[1, 0, 0, 0, 0, 1]),
            Err(KeyRejection::RsaExponent)
        );
        assert_eq!(
            check_rsa(&n[..128], &[1, 0, 1]),
            Err(KeyRejection::RsaKeySize)
        );
        let mut lead = vec![0u8];
        lead.extend_from_slice(&n);
        assert_eq!(
            check_rsa(&lead, &[1, 0, 1]),
            Err(KeyRejection::InvalidMaterial)
        );
    }

    #[test]
    #[cfg(any(feature = "aws_lc_rs", feature = "rust_crypto"))]
    fn kid_lookup_is_exact() {
        let set = JwkSet::from_json(
            r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#,
        )
        .unwrap();
        assert_eq!(set.len(), 1);
        let ks = PreparedKeys::prepare(&set, CryptoBackend::preferred().unwrap());
        assert!(ks.find("a").is_some());
        assert!(ks.find("A").is_none());
        assert!(ks.find("a ").is_none());
    }
}
