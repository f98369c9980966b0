//! Supabase access-token claims.

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::Error;

/// Largest NumericDate accepted: 9999-12-31T23:59:59Z.
const MAX_NUMERIC_DATE: i64 = 253_402_300_799;

/// The verified claims of a Supabase access token, as GoTrue writes them.
///
/// You get a `Claims` only from [`Verifier::verify`](crate::Verifier::verify), so every value in
/// it comes from a token whose signature, `exp`, `iat`, `nbf`, `aud`, `iss` and `sub` were
/// checked. The struct is `#[non_exhaustive]`: it cannot be built by hand outside this crate.
///
/// # Security
///
/// - [`Claims::postgres_role`] is the top-level `role` claim: the **Postgres role** PostgREST
///   switches to (`authenticated` for every signed-in user, anonymous ones included). It is not
///   an application role. App roles belong in [`Claims::app_metadata`], which only the server
///   can write.
/// - [`Claims::user_metadata`] is writable by the user. Never use it for authorization.
/// - `Claims` also implements `Deserialize` (with the same strict JSON types, so it can be the
///   target of other decoders); a `Claims` deserialized that way has been through **no**
///   signature, time, audience or issuer check. Only trust one returned by `verify`.
///
/// # Examples
///
/// ```
/// use supagate_jwt::{Aal, Verifier};
/// use supagate_testkit::{TestKeys, TokenBuilder};
///
/// let keys = TestKeys::new();
/// let verifier = keys
///     .verifier_builder()
///     .clock(supagate_jwt::FixedClock::new(TokenBuilder::DEFAULT_NOW))
///     .build()?;
/// let token = TokenBuilder::new().claim("aal", "aal2").sign_es256(&keys);
/// let claims = verifier.verify(&token)?;
///
/// assert_eq!(claims.aud.as_single(), Some("authenticated"));
/// assert_eq!(claims.postgres_role.as_deref(), Some("authenticated"));
/// assert_eq!(claims.aal, Some(Aal::Aal2));
/// assert!(!claims.is_anonymous);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Claims {
    /// `sub`: the user's id, a UUID for Supabase Auth users ([`Subject::Uuid`]); a
    /// third-party issuer's own format otherwise (`user_2x…` from Clerk, a Firebase uid).
    pub sub: Subject,
    /// Who issued and signed the token: the Supabase project, or one of the verifier's
    /// trusted third-party issuers (its `iss` is then [`Claims::iss`]). Known only to the
    /// verifier: it is not a claim, so it is not serialized, and `Claims` deserialized from
    /// JSON say `Supabase` (and refuse a non-UUID `sub`). Pass it along yourself when claims
    /// cross a process boundary.
    #[serde(skip)]
    pub issued_by: IssuedBy,
    /// `iss`: the issuer, `https://<ref>.supabase.co/auth/v1` on hosted projects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// `aud`: `authenticated` for user sessions (a string as GoTrue writes it, or an array from
    /// a custom access-token hook).
    pub aud: Audience,
    /// `exp`, in seconds since the Unix epoch (a fractional value is rounded down).
    pub exp: i64,
    /// `iat`, in seconds since the Unix epoch (a fractional value is rounded up).
    pub iat: i64,
    /// `nbf` when present (GoTrue never sets it), rounded up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// `jti` when present (GoTrue never sets it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// `email`; `None` when absent or empty (GoTrue writes `""` for phone and anonymous users).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `phone`; `None` when absent or empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The top-level `role` claim: the **Postgres role** (`authenticated`, `anon`,
    /// `service_role`, …), never an application role. See the type's `# Security` section.
    #[serde(rename = "role", skip_serializing_if = "Option::is_none")]
    pub postgres_role: Option<String>,
    /// `aal`: the authenticator assurance level (`aal2` after MFA).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aal: Option<Aal>,
    /// `amr`: how the user authenticated, most recent first.
    pub amr: Vec<AmrEntry>,
    /// `session_id`: the `auth.sessions` row of this session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// `is_anonymous`: true for anonymous sign-ins (which still carry `role: authenticated`).
    pub is_anonymous: bool,
    /// `app_metadata`: server-controlled; where app roles live (`app_metadata.role`). `null`
    /// reads as empty.
    pub app_metadata: Map<String, Value>,
    /// `user_metadata`: **user-editable**; never use it for authorization. `null` reads as empty.
    pub user_metadata: Map<String, Value>,
    /// `client_id`: present on tokens issued to a third-party OAuth client of Supabase Auth.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `scope`: present on tokens issued to a third-party OAuth client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Every other top-level claim (for example claims a custom access-token hook adds).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `sub` claim.
///
/// Supabase Auth writes a UUID ([`Subject::Uuid`], always for tokens of the project itself);
/// a third-party issuer writes its own ids ([`Subject::Other`], unless they happen to be
/// UUIDs). Displays and serializes as the claim's string.
///
/// # Examples
///
/// ```
/// use supagate_jwt::Subject;
///
/// let id: uuid::Uuid = "8d0fd6e2-4c5a-4b7e-9f3a-2b1c0d9e8f7a".parse()?;
/// let sub = Subject::from(id);
/// assert_eq!(sub.as_uuid(), Some(id));
/// assert_eq!(sub.to_string(), "8d0fd6e2-4c5a-4b7e-9f3a-2b1c0d9e8f7a");
/// assert_eq!(sub, id);
/// let clerk = Subject::Other("user_2abc".into());
/// assert_eq!(clerk.as_uuid(), None);
/// assert_eq!(serde_json::to_string(&clerk)?, r#""user_2abc""#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    /// A UUID (Supabase Auth's user ids).
    Uuid(Uuid),
    /// Any other id a third-party issuer writes.
    Other(String),
}

impl Subject {
    /// The UUID, when the subject is one.
    #[must_use]
    pub fn as_uuid(&self) -> Option<Uuid> {
        match self {
            Subject::Uuid(u) => Some(*u),
            Subject::Other(_) => None,
        }
    }
}

impl From<Uuid> for Subject {
    fn from(u: Uuid) -> Self {
        Subject::Uuid(u)
    }
}

impl PartialEq<Uuid> for Subject {
    fn eq(&self, other: &Uuid) -> bool {
        self.as_uuid() == Some(*other)
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Uuid(u) => fmt::Display::fmt(&u.hyphenated(), f),
            Subject::Other(s) => f.write_str(s),
        }
    }
}

impl Serialize for Subject {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Who issued a verified token.
///
/// # Examples
///
/// ```
/// use supagate_jwt::IssuedBy;
///
/// assert_eq!(IssuedBy::default(), IssuedBy::Supabase);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IssuedBy {
    /// The Supabase project's own Auth server.
    #[default]
    Supabase,
    /// A third-party issuer the verifier trusts (Clerk, Firebase Auth, Auth0, Cognito,
    /// WorkOS); `iss` says which.
    ThirdParty,
}

/// The `aud` claim: one string or an array of strings.
///
/// Deliberately exhaustive: RFC 7519 allows only these two forms, so a `match` on it need not
/// have a wildcard arm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience (what GoTrue writes).
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `aud` contains `value` (byte-exact).
    #[must_use]
    pub fn contains(&self, value: &str) -> bool {
        match self {
            Audience::One(a) => a == value,
            Audience::Many(list) => list.iter().any(|a| a == value),
        }
    }

    /// The audience when there is exactly one.
    #[must_use]
    pub fn as_single(&self) -> Option<&str> {
        match self {
            Audience::One(a) => Some(a),
            Audience::Many(list) if list.len() == 1 => list.first().map(String::as_str),
            Audience::Many(_) => None,
        }
    }

    /// Every audience value.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let (one, many) = match self {
            Audience::One(a) => (Some(a.as_str()), &[][..]),
            Audience::Many(list) => (None, list.as_slice()),
        };
        one.into_iter().chain(many.iter().map(String::as_str))
    }

    /// How many values there are.
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Audience::One(_) => 1,
            Audience::Many(list) => list.len(),
        }
    }

    /// Whether there is no value (an empty array).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The authenticator assurance level (`aal` claim).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[non_exhaustive]
pub enum Aal {
    /// `aal1`: one factor.
    #[serde(rename = "aal1")]
    Aal1,
    /// `aal2`: multi-factor.
    #[serde(rename = "aal2")]
    Aal2,
    /// `aal3` (defined by GoTrue, unused today).
    #[serde(rename = "aal3")]
    Aal3,
}

impl Aal {
    /// Parses `aal1`, `aal2` or `aal3` (byte-exact).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Aal> {
        match name {
            "aal1" => Some(Aal::Aal1),
            "aal2" => Some(Aal::Aal2),
            "aal3" => Some(Aal::Aal3),
            _ => None,
        }
    }

    /// The claim value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Aal::Aal1 => "aal1",
            Aal::Aal2 => "aal2",
            Aal::Aal3 => "aal3",
        }
    }
}

impl fmt::Display for Aal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `amr` entry. GoTrue writes objects `{method, timestamp, provider?}`; a custom
/// access-token hook may write plain strings, which read as an entry with only `method`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AmrEntry {
    /// `password`, `otp`, `oauth`, `totp`, `anonymous`, `sso/saml`, …
    pub method: String,
    /// When that authentication happened (seconds since the epoch), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    /// The provider (for `sso/saml`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

/// The registered claims every verification checks.
#[derive(Debug, Clone)]
pub(crate) struct Registered {
    pub(crate) iss: Option<String>,
    pub(crate) aud: Option<Audience>,
    pub(crate) exp: i64,
    pub(crate) iat: i64,
    pub(crate) nbf: Option<i64>,
    /// The top-level `role` claim (the Postgres role), checked for third-party issuers.
    pub(crate) role: Option<String>,
}

/// Field slots filled by the visitor; `Some(Value::Null)` and `None` both mean "absent".
#[derive(Default)]
struct Raw {
    fields: [Option<Value>; FIELDS.len()],
    extra: Map<String, Value>,
    duplicate: bool,
}

const FIELDS: [&str; 19] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "role",
    "jti",
    "email",
    "phone",
    "aal",
    "amr",
    "session_id",
    "is_anonymous",
    "app_metadata",
    "user_metadata",
    "client_id",
    "scope",
    "ref",
];
const REGISTERED: usize = 7; // iss, sub, aud, exp, iat, nbf, role

/// Index of a known claim in [`FIELDS`] (a `match`, so the compiler dispatches on length and
/// bytes instead of scanning the list).
fn field_index(name: &str) -> Option<usize> {
    Some(match name {
        "iss" => 0,
        "sub" => 1,
        "aud" => 2,
        "exp" => 3,
        "iat" => 4,
        "nbf" => 5,
        "role" => 6,
        "jti" => 7,
        "email" => 8,
        "phone" => 9,
        "aal" => 10,
        "amr" => 11,
        "session_id" => 12,
        "is_anonymous" => 13,
        "app_metadata" => 14,
        "user_metadata" => 15,
        "client_id" => 16,
        "scope" => 17,
        "ref" => 18,
        _ => return None,
    })
}

/// A claim name, read without allocating unless it must be kept (an extra claim).
enum Key {
    Known(usize),
    Other(String),
    Skip,
}

struct KeySeed {
    all: bool,
}

impl<'de> de::DeserializeSeed<'de> for KeySeed {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a claim name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        let limit = if self.all { FIELDS.len() } else { REGISTERED };
        Ok(match field_index(v) {
            Some(i) if i < limit => Key::Known(i),
            Some(_) => Key::Skip,
            None if self.all => Key::Other(v.to_owned()),
            None => Key::Skip,
        })
    }
}

struct RawSeed {
    all: bool,
}

impl<'de> de::DeserializeSeed<'de> for RawSeed {
    type Value = Raw;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RawSeed {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JWT claims object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut raw = Raw::default();
        while let Some(key) = map.next_key_seed(KeySeed { all: self.all })? {
            match key {
                Key::Known(i) => {
                    let value = map.next_value::<Value>()?;
                    if let Some(slot) = raw.fields.get_mut(i) {
                        if slot.is_some() {
                            raw.duplicate = true;
                        }
                        *slot = Some(value);
                    }
                }
                Key::Other(name) => {
                    let value = map.next_value::<Value>()?;
                    if raw.extra.insert(name, value).is_some() {
                        raw.duplicate = true;
                    }
                }
                Key::Skip => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(raw)
    }
}

impl Raw {
    fn take(&mut self, name: &'static str) -> Option<Value> {
        let i = field_index(name)?;
        match self.fields.get_mut(i).and_then(Option::take) {
            Some(Value::Null) | None => None,
            Some(v) => Some(v),
        }
    }
}

fn numeric_date(
    v: Option<Value>,
    claim: &'static str,
    round_up: bool,
) -> Result<Option<i64>, Error> {
    let Some(v) = v else { return Ok(None) };
    let bad = Error::InvalidClaim { claim };
    let Value::Number(n) = v else { return Err(bad) };
    let secs = if let Some(u) = n.as_u64() {
        i64::try_from(u).map_err(|_| bad.clone())?
    } else if n.as_i64().is_some() {
        return Err(bad); // negative
    } else {
        let f = n.as_f64().ok_or_else(|| bad.clone())?;
        if !f.is_finite() || f < 0.0 || f > MAX_NUMERIC_DATE as f64 {
            return Err(bad);
        }
        let r = if round_up { f.ceil() } else { f.floor() };
        // In range by the check above, so the conversion is exact.
        r as i64
    };
    if secs > MAX_NUMERIC_DATE {
        return Err(bad);
    }
    Ok(Some(secs))
}

fn string(v: Option<Value>, claim: &'static str) -> Result<Option<String>, Error> {
    match v {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Error::InvalidClaim { claim }),
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

fn object(v: Option<Value>, claim: &'static str) -> Result<Map<String, Value>, Error> {
    match v {
        None => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(Error::InvalidClaim { claim }),
    }
}

fn audience(v: Option<Value>) -> Result<Option<Audience>, Error> {
    let bad = Error::InvalidClaim { claim: "aud" };
    match v {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(Audience::One(s))),
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) => out.push(s),
                    _ => return Err(bad),
                }
            }
            Ok(Some(Audience::Many(out)))
        }
        Some(_) => Err(bad),
    }
}

/// Parses a hyphenated UUID (8-4-4-4-12 hex digits, either case). The simple, braced and URN
/// forms that `Uuid::parse_str` also accepts are refused: GoTrue writes the hyphenated form.
pub(crate) fn parse_uuid(s: &str) -> Option<Uuid> {
    let b = s.as_bytes();
    if b.len() != 36 {
        return None;
    }
    for (i, c) in b.iter().enumerate() {
        let ok = if matches!(i, 8 | 13 | 18 | 23) {
            *c == b'-'
        } else {
            c.is_ascii_hexdigit()
        };
        if !ok {
            return None;
        }
    }
    Uuid::parse_str(s).ok()
}

fn amr(v: Option<Value>) -> Result<Vec<AmrEntry>, Error> {
    let bad = || Error::InvalidClaim { claim: "amr" };
    let items = match v {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(bad()),
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Value::String(method) => out.push(AmrEntry {
                method,
                timestamp: None,
                provider: None,
            }),
            Value::Object(mut o) => {
                let method = match o.remove("method") {
                    Some(Value::String(m)) => m,
                    _ => return Err(bad()),
                };
                let timestamp = numeric_date(o.remove("timestamp"), "amr", false)?;
                let provider = string(o.remove("provider"), "amr")?;
                out.push(AmrEntry {
                    method,
                    timestamp,
                    provider,
                });
            }
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

fn registered(raw: &mut Raw) -> Result<Registered, Error> {
    let iss = string(raw.take("iss"), "iss")?;
    let aud = audience(raw.take("aud"))?;
    let exp =
        numeric_date(raw.take("exp"), "exp", false)?.ok_or(Error::MissingClaim { claim: "exp" })?;
    let iat =
        numeric_date(raw.take("iat"), "iat", true)?.ok_or(Error::MissingClaim { claim: "iat" })?;
    let nbf = numeric_date(raw.take("nbf"), "nbf", true)?;
    let role = string(raw.take("role"), "role")?;
    Ok(Registered {
        iss,
        aud,
        exp,
        iat,
        nbf,
        role,
    })
}

/// The longest `sub` a third-party issuer may write.
const MAX_SUBJECT_LEN: usize = 255;

fn subject(raw: &mut Raw, issued_by: IssuedBy) -> Result<Subject, Error> {
    let bad = Error::InvalidClaim { claim: "sub" };
    match raw.take("sub") {
        None => Err(Error::MissingClaim { claim: "sub" }),
        Some(Value::String(s)) => match (parse_uuid(&s), issued_by) {
            (Some(u), _) => Ok(Subject::Uuid(u)),
            (None, IssuedBy::Supabase) => Err(bad),
            (None, IssuedBy::ThirdParty) => {
                // Visible ASCII only: providers' ids (`user_2k…`, `auth0|64f1…`,
                // `google-oauth2|1043…`, Firebase uids) are; no space, no control character,
                // no Unicode line separator, bidi override or zero-width character to smuggle
                // into a log line or a database key.
                let ok = !s.is_empty()
                    && s.len() <= MAX_SUBJECT_LEN
                    && s.bytes().all(|b| b.is_ascii_graphic());
                if ok { Ok(Subject::Other(s)) } else { Err(bad) }
            }
        },
        Some(_) => Err(bad),
    }
}

fn read_raw(payload: &[u8], all: bool) -> Result<Raw, Error> {
    let mut de = serde_json::Deserializer::from_slice(payload);
    let raw = de::DeserializeSeed::deserialize(RawSeed { all }, &mut de)
        .map_err(|_| Error::MalformedClaims)?;
    de.end().map_err(|_| Error::MalformedClaims)?;
    if raw.duplicate {
        return Err(Error::MalformedClaims);
    }
    Ok(raw)
}

/// Parses the payload into [`Claims`] plus the registered claims to validate, with precise,
/// value-free errors.
pub(crate) fn parse_claims(
    payload: &[u8],
    validate: impl FnOnce(&Registered) -> Result<(), Error>,
    issued_by: IssuedBy,
) -> Result<Claims, Error> {
    claims_from_raw(read_raw(payload, true)?, validate, issued_by)
}

fn claims_from_raw(
    mut raw: Raw,
    validate: impl FnOnce(&Registered) -> Result<(), Error>,
    issued_by: IssuedBy,
) -> Result<Claims, Error> {
    let reg = registered(&mut raw)?;
    // `sub` before the checks of time, audience and issuer, so that the legacy API keys (no
    // `sub`, ten-year lifetime) are refused as such.
    let sub = subject(&mut raw, issued_by)?;
    validate(&reg)?;
    let aal = match string(raw.take("aal"), "aal")? {
        None => None,
        Some(s) => Some(Aal::from_name(&s).ok_or(Error::InvalidClaim { claim: "aal" })?),
    };
    let is_anonymous = match raw.take("is_anonymous") {
        None => false,
        Some(Value::Bool(b)) => b,
        Some(_) => {
            return Err(Error::InvalidClaim {
                claim: "is_anonymous",
            });
        }
    };
    let mut extra = std::mem::take(&mut raw.extra);
    if let Some(r) = raw.take("ref") {
        extra.insert("ref".to_owned(), r);
    }
    let claims = Claims {
        sub,
        issued_by,
        iss: reg.iss,
        aud: reg.aud.unwrap_or(Audience::Many(Vec::new())),
        exp: reg.exp,
        iat: reg.iat,
        nbf: reg.nbf,
        jti: string(raw.take("jti"), "jti")?,
        email: non_empty(string(raw.take("email"), "email")?),
        phone: non_empty(string(raw.take("phone"), "phone")?),
        postgres_role: reg.role,
        aal,
        amr: amr(raw.take("amr"))?,
        session_id: string(raw.take("session_id"), "session_id")?,
        is_anonymous,
        app_metadata: object(raw.take("app_metadata"), "app_metadata")?,
        user_metadata: object(raw.take("user_metadata"), "user_metadata")?,
        client_id: string(raw.take("client_id"), "client_id")?,
        scope: string(raw.take("scope"), "scope")?,
        extra,
    };
    Ok(claims)
}

/// Parses and validates only the registered claims (for verification into a caller's own
/// type), in the order of [`parse_claims`].
pub(crate) fn check_registered(
    payload: &[u8],
    validate: impl FnOnce(&Registered) -> Result<(), Error>,
    issued_by: IssuedBy,
) -> Result<(), Error> {
    let mut raw = read_raw(payload, false)?;
    let reg = registered(&mut raw)?;
    subject(&mut raw, issued_by)?;
    validate(&reg)?;
    Ok(())
}

impl<'de> Deserialize<'de> for Claims {
    /// Deserializes with the same type rules as verification (wrong JSON types are errors,
    /// never coerced). This performs **no** validation of time, audience or issuer: obtain
    /// `Claims` from [`Verifier::verify`](crate::Verifier::verify).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = de::DeserializeSeed::deserialize(RawSeed { all: true }, d)?;
        if raw.duplicate {
            return Err(de::Error::custom(Error::MalformedClaims));
        }
        claims_from_raw(raw, |_| Ok(()), IssuedBy::Supabase).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Value {
        serde_json::json!({
            "iss": "https://x.supabase.co/auth/v1", "sub": "3f1c0f0e-6a8b-4b1e-9a57-0c2d8f5e7a11",
            "aud": "authenticated", "exp": 2000, "iat": 1000, "role": "authenticated",
            "amr": [{"method":"password","timestamp":1000}, "otp"], "aal": "aal1",
            "app_metadata": null, "hook_claim": [1, 2]
        })
    }

    fn parse(v: &Value) -> Result<Claims, Error> {
        parse_claims(
            &serde_json::to_vec(v).unwrap(),
            |_| Ok(()),
            IssuedBy::Supabase,
        )
    }

    #[test]
    fn every_known_claim_has_its_own_slot() {
        for (i, name) in FIELDS.iter().enumerate() {
            assert_eq!(field_index(name), Some(i), "{name}");
        }
        assert_eq!(
            &FIELDS[..REGISTERED],
            ["iss", "sub", "aud", "exp", "iat", "nbf", "role"]
        );
    }

    #[test]
    fn subject_rules_per_issuer() {
        let raw = |sub: Value| {
            let mut v = base();
            v["sub"] = sub;
            read_raw(&serde_json::to_vec(&v).unwrap(), true).unwrap()
        };
        let third = |sub: Value| claims_from_raw(raw(sub), |_| Ok(()), IssuedBy::ThirdParty);
        let ours = |sub: Value| claims_from_raw(raw(sub), |_| Ok(()), IssuedBy::Supabase);
        let c = third(Value::from("user_2abcDEF")).unwrap();
        assert_eq!(c.sub, Subject::Other("user_2abcDEF".into()));
        assert_eq!(c.issued_by, IssuedBy::ThirdParty);
        assert!(ours(Value::from("user_2abcDEF")).is_err());
        let uuid = "3f1c0f0e-6a8b-4b1e-9a57-0c2d8f5e7a11";
        assert!(matches!(
            third(Value::from(uuid)).unwrap().sub,
            Subject::Uuid(_)
        ));
        assert_eq!(
            ours(Value::from(uuid)).unwrap().issued_by,
            IssuedBy::Supabase
        );
        for bad in [
            Value::from(""),
            Value::from("a\nb"),
            Value::from("x".repeat(256)),
            Value::from(7),
        ] {
            assert!(third(bad.clone()).is_err(), "{bad}");
        }
        assert!(third(Value::from("x".repeat(255))).is_ok());
    }

    #[test]
    fn reads_supabase_shape() {
        let c = parse(&base()).unwrap();
        assert_eq!(c.amr.len(), 2);
        assert_eq!(c.amr[1].method, "otp");
        assert!(c.app_metadata.is_empty());
        assert_eq!(c.extra.get("hook_claim"), Some(&serde_json::json!([1, 2])));
        assert_eq!(c.postgres_role.as_deref(), Some("authenticated"));
    }

    #[test]
    fn wrong_types_are_errors() {
        for (k, v, claim) in [
            ("exp", serde_json::json!("9999999999"), "exp"),
            ("exp", serde_json::json!(-1), "exp"),
            ("exp", serde_json::json!(1e30), "exp"),
            ("iat", serde_json::json!(true), "iat"),
            ("nbf", serde_json::json!("x"), "nbf"),
            ("aud", serde_json::json!(42), "aud"),
            ("aud", serde_json::json!([1, "authenticated"]), "aud"),
            ("iss", serde_json::json!(7), "iss"),
            ("sub", serde_json::json!(12), "sub"),
            ("sub", serde_json::json!("not-a-uuid"), "sub"),
            ("aal", serde_json::json!("AAL2"), "aal"),
            ("is_anonymous", serde_json::json!("false"), "is_anonymous"),
            ("app_metadata", serde_json::json!([]), "app_metadata"),
            ("amr", serde_json::json!({}), "amr"),
        ] {
            let mut bad = base();
            bad[k] = v;
            assert_eq!(parse(&bad), Err(Error::InvalidClaim { claim }), "{k}");
        }
        for (k, claim) in [("exp", "exp"), ("iat", "iat"), ("sub", "sub")] {
            let mut missing = base();
            missing.as_object_mut().unwrap().remove(k);
            assert_eq!(
                parse(&missing),
                Err(Error::MissingClaim { claim }),
                "{k} missing"
            );
            let mut null = base();
            null[k] = Value::Null;
            assert_eq!(parse(&null), Err(Error::MissingClaim { claim }), "{k} null");
        }
    }

    #[test]
    fn fractional_dates_round_conservatively() {
        let mut v = base();
        v["exp"] = serde_json::json!(2000.9);
        v["iat"] = serde_json::json!(1000.1);
        let c = parse(&v).unwrap();
        assert_eq!((c.exp, c.iat), (2000, 1001));
    }

    #[test]
    fn duplicates_and_non_objects_are_malformed() {
        let dup = br#"{"exp":1,"exp":2,"iat":1,"sub":"3f1c0f0e-6a8b-4b1e-9a57-0c2d8f5e7a11"}"#;
        assert_eq!(
            parse_claims(dup, |_| Ok(()), IssuedBy::Supabase).map(|_| ()),
            Err(Error::MalformedClaims)
        );
        let dup_extra = br#"{"x":1,"x":2}"#;
        assert_eq!(
            parse_claims(dup_extra, |_| Ok(()), IssuedBy::Supabase).map(|_| ()),
            Err(Error::MalformedClaims)
        );
        for bad in [&b"[]"[..], b"\"x\"", b"12", b"{} x", b"{\"a\":\"\\ud800\"}"] {
            assert_eq!(
                parse_claims(bad, |_| Ok(()), IssuedBy::Supabase).map(|_| ()),
                Err(Error::MalformedClaims)
            );
        }
    }

    #[test]
    fn uuid_forms() {
        assert!(parse_uuid("3f1c0f0e-6a8b-4b1e-9a57-0c2d8f5e7a11").is_some());
        assert!(parse_uuid("3F1C0F0E-6A8B-4B1E-9A57-0C2D8F5E7A11").is_some());
        assert!(parse_uuid("3f1c0f0e6a8b4b1e9a570c2d8f5e7a11").is_none());
        assert!(parse_uuid("{3f1c0f0e-6a8b-4b1e-9a57-0c2d8f5e7a11}").is_none());
        assert!(parse_uuid("3f1c0f0e-6a8b-4b1e-9a57-0c2d8f5e7a1\n").is_none());
        assert!(parse_uuid("3f1c0f0e-6a8b-4b1e-9a57-0c2d8f5e7a1\u{0}").is_none());
    }
}
