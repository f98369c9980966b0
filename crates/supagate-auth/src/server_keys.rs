//! The API keys a service sends to Supabase Auth: [`PublishableKey`] for every call,
//! [`SecretKey`] for the calls it makes on a client's behalf with `Sb-Forwarded-For`, and
//! [`AuthServerKeys`], both read from the environment.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine as _;
use supagate_core::{EnvError, Variables};
use zeroize::Zeroizing;

/// Why a value is not the kind of key its setting wants. Never contains the key.
///
/// # Examples
///
/// ```
/// use supagate_auth::{KeyFormatError, PublishableKey, SecretKey};
///
/// let e = PublishableKey::parse("sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz").unwrap_err();
/// assert_eq!(e, KeyFormatError::SecretWherePublishable);
/// let e = SecretKey::parse("sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH").unwrap_err();
/// assert_eq!(e, KeyFormatError::PublishableWhereSecret);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFormatError {
    /// A secret key (`sb_secret_…`, or a legacy `service_role` JWT) where the publishable one
    /// belongs.
    #[error(
        "this is a secret key (sb_secret_… or the legacy service_role key), where the publishable key belongs"
    )]
    SecretWherePublishable,
    /// A publishable key (`sb_publishable_…`, or a legacy `anon` JWT) where a secret key
    /// belongs.
    #[error(
        "this is a publishable key (sb_publishable_… or the legacy anon key), not a secret key"
    )]
    PublishableWhereSecret,
    /// A legacy `service_role` JWT where a new secret key is needed: the auth server's
    /// `Sb-Forwarded-For` works with `sb_secret_…` keys only.
    #[error(
        "this is the legacy service_role key; Sb-Forwarded-For needs a new secret key (sb_secret_…)"
    )]
    LegacySecret,
    /// Neither kind: not `sb_publishable_`/`sb_secret_` followed by 8 to 200 visible
    /// characters, nor a JWT with a `role` of `anon` or `service_role`.
    #[error("this is not a Supabase API key")]
    Malformed,
}

/// What a key is, by its shape (the auth server is the judge of whether it is valid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Publishable,
    Secret,
    LegacyAnon,
    LegacyServiceRole,
    Other,
}

fn shape(key: &str) -> Shape {
    let visible =
        |rest: &str| (8..=200).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_graphic());
    if let Some(rest) = key.strip_prefix("sb_publishable_") {
        return if visible(rest) {
            Shape::Publishable
        } else {
            Shape::Other
        };
    }
    if let Some(rest) = key.strip_prefix("sb_secret_") {
        return if visible(rest) {
            Shape::Secret
        } else {
            Shape::Other
        };
    }
    // A legacy key is a JWT whose payload names its role; its signature is the gateway's to
    // check, the role is all that says which kind it is.
    #[derive(serde::Deserialize)]
    struct Role<'a> {
        #[serde(borrow)]
        role: Option<std::borrow::Cow<'a, str>>,
    }
    let mut parts = key.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Shape::Other;
    };
    if key.len() > 4096 {
        return Shape::Other;
    }
    let Ok(json) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload) else {
        return Shape::Other;
    };
    match serde_json::from_slice::<Role<'_>>(&json)
        .ok()
        .and_then(|r| r.role)
    {
        Some(r) if r == "anon" => Shape::LegacyAnon,
        Some(r) if r == "service_role" => Shape::LegacyServiceRole,
        _ => Shape::Other,
    }
}

/// The key a service sends as `apikey` with its calls to Supabase Auth: a publishable key
/// (`sb_publishable_…`) or, until it is retired, the legacy `anon` key (a JWT with
/// `role: anon`). A secret key is refused: it does not belong where a publishable key is
/// configured (such settings end up in browsers). `Debug` shows the kind only.
///
/// # Examples
///
/// ```
/// use supagate_auth::PublishableKey;
///
/// let key = PublishableKey::parse("sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH")?;
/// assert!(key.expose().starts_with("sb_publishable_"));
/// assert_eq!(format!("{key:?}"), "PublishableKey(sb_publishable_…)");
/// # Ok::<(), supagate_auth::KeyFormatError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct PublishableKey {
    key: String,
    legacy: bool,
}

impl PublishableKey {
    /// Checks the shape of `key`.
    ///
    /// # Errors
    ///
    /// [`KeyFormatError::SecretWherePublishable`] for a secret key,
    /// [`KeyFormatError::Malformed`] for anything that is no API key.
    pub fn parse(key: &str) -> Result<Self, KeyFormatError> {
        let key = key.trim();
        match shape(key) {
            Shape::Publishable => Ok(PublishableKey {
                key: key.to_owned(),
                legacy: false,
            }),
            Shape::LegacyAnon => Ok(PublishableKey {
                key: key.to_owned(),
                legacy: true,
            }),
            Shape::Secret | Shape::LegacyServiceRole => Err(KeyFormatError::SecretWherePublishable),
            Shape::Other => Err(KeyFormatError::Malformed),
        }
    }

    /// The key, to send as `apikey`.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.key
    }

    /// Whether it is the legacy `anon` JWT (to be replaced by an `sb_publishable_…` key).
    #[must_use]
    pub fn is_legacy(&self) -> bool {
        self.legacy
    }
}

impl fmt::Debug for PublishableKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.legacy {
            "legacy anon"
        } else {
            "sb_publishable_…"
        };
        write!(f, "PublishableKey({kind})")
    }
}

impl std::str::FromStr for PublishableKey {
    type Err = KeyFormatError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PublishableKey::parse(s)
    }
}

/// A secret API key (`sb_secret_…`) a server sends to Supabase Auth, never to a browser or a
/// backend: with it, a call made on a client's behalf may carry `Sb-Forwarded-For: <client
/// address>`, and the auth server then rate-limits that address instead of the server's
/// own. The legacy `service_role` JWT cannot do that and is refused here. Kept in memory that
/// is wiped on drop; `Debug` shows nothing of it.
///
/// # Examples
///
/// ```
/// use supagate_auth::SecretKey;
///
/// let key = SecretKey::parse("sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz")?;
/// assert_eq!(format!("{key:?}"), "SecretKey(<redacted>)");
/// # Ok::<(), supagate_auth::KeyFormatError>(())
/// ```
#[derive(Clone)]
pub struct SecretKey(Zeroizing<String>);

impl SecretKey {
    /// Checks the shape of `key`.
    ///
    /// # Errors
    ///
    /// [`KeyFormatError::PublishableWhereSecret`] for a publishable key,
    /// [`KeyFormatError::LegacySecret`] for the legacy `service_role` JWT,
    /// [`KeyFormatError::Malformed`] for anything else that is no `sb_secret_…` key.
    pub fn parse(key: &str) -> Result<Self, KeyFormatError> {
        let key = key.trim();
        match shape(key) {
            Shape::Secret => Ok(SecretKey(Zeroizing::new(key.to_owned()))),
            Shape::Publishable | Shape::LegacyAnon => Err(KeyFormatError::PublishableWhereSecret),
            Shape::LegacyServiceRole => Err(KeyFormatError::LegacySecret),
            Shape::Other => Err(KeyFormatError::Malformed),
        }
    }

    /// The key, for the `apikey` header of a call to the auth server. Never log it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl std::str::FromStr for SecretKey {
    type Err = KeyFormatError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SecretKey::parse(s)
    }
}

/// Whether `key` is a secret key by its shape (`sb_secret_…`, or a legacy `service_role`
/// JWT): for a setting that must not hold one, such as the publishable key a proxy is given.
///
/// ```
/// assert!(supagate_auth::is_secret_key("sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz"));
/// assert!(!supagate_auth::is_secret_key("sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH"));
/// ```
#[must_use]
pub fn is_secret_key(key: &str) -> bool {
    matches!(shape(key.trim()), Shape::Secret | Shape::LegacyServiceRole)
}

/// The keys a service sends to Supabase Auth, from the environment:
///
/// | variable | meaning |
/// |---|---|
/// | `SUPABASE_PUBLISHABLE_KEY` | the publishable key (`sb_publishable_…`), sent as `apikey` |
/// | `SUPABASE_ANON_KEY` | the legacy `anon` key, read when `SUPABASE_PUBLISHABLE_KEY` is unset, with a deprecation warning (logged once): Supabase retires the legacy keys at the end of 2026 |
/// | `SUPABASE_SECRET_KEY` | optional: a secret key (`sb_secret_…`); with it, the auth-server calls made for a client carry `Sb-Forwarded-For` (see `supagate_proxy::SessionsBuilder::secret_key`) |
///
/// A secret key where the publishable one belongs, or the reverse, is an error naming the
/// variable. Empty values count as unset.
///
/// # Examples
///
/// ```
/// use supagate_auth::AuthServerKeys;
/// use supagate_core::Variables;
///
/// let keys = AuthServerKeys::from_variables(&Variables::from_pairs([
///     ("SUPABASE_PUBLISHABLE_KEY", "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH"),
///     ("SUPABASE_SECRET_KEY", "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz"),
/// ]))?;
/// assert!(keys.publishable().is_some() && keys.secret().is_some());
///
/// let swapped = AuthServerKeys::from_variables(&Variables::from_pairs([(
///     "SUPABASE_PUBLISHABLE_KEY",
///     "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz",
/// )]))
/// .unwrap_err();
/// assert_eq!(swapped.variable(), "SUPABASE_PUBLISHABLE_KEY");
/// # Ok::<(), supagate_jwt::EnvError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct AuthServerKeys {
    publishable: Option<PublishableKey>,
    from: Option<&'static str>,
    secret: Option<SecretKey>,
}

/// The deprecation of `SUPABASE_ANON_KEY` is logged once per process.
static ANON_KEY_WARNED: AtomicBool = AtomicBool::new(false);

const PUBLISHABLE_FIX: &str = "set it to the project's publishable key (Dashboard: Project Settings > API Keys), never a secret key";
const SECRET_FIX: &str = "set it to a secret key of the project (sb_secret_…, Dashboard: Project Settings > API Keys), or unset it";

impl AuthServerKeys {
    /// Reads the variables (see the table above).
    ///
    /// # Errors
    ///
    /// An [`EnvError`] naming the variable whose value is the wrong kind of key or no key.
    pub fn from_variables(vars: &Variables) -> Result<Self, EnvError> {
        let get = |name: &str| vars.get(name).map(Zeroizing::new);
        let mut keys = AuthServerKeys::default();
        for variable in ["SUPABASE_PUBLISHABLE_KEY", "SUPABASE_ANON_KEY"] {
            if let Some(value) = get(variable) {
                let key = PublishableKey::parse(&value)
                    .map_err(|e| EnvError::new(variable, e, PUBLISHABLE_FIX))?;
                keys.publishable = Some(key);
                keys.from = Some(variable);
                break;
            }
        }
        if keys.from == Some("SUPABASE_ANON_KEY") && !ANON_KEY_WARNED.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                target: "supagate",
                "SUPABASE_ANON_KEY is deprecated: Supabase retires the legacy anon and service_role keys; set SUPABASE_PUBLISHABLE_KEY to the project's sb_publishable_ key"
            );
        }
        if let Some(value) = get("SUPABASE_SECRET_KEY") {
            keys.secret = Some(
                SecretKey::parse(&value)
                    .map_err(|e| EnvError::new("SUPABASE_SECRET_KEY", e, SECRET_FIX))?,
            );
        }
        Ok(keys)
    }

    /// The publishable (or legacy anon) key, if one was set.
    #[must_use]
    pub fn publishable(&self) -> Option<&PublishableKey> {
        self.publishable.as_ref()
    }

    /// Which variable the publishable key came from (`SUPABASE_ANON_KEY` is deprecated).
    #[must_use]
    pub fn publishable_from(&self) -> Option<&'static str> {
        self.from
    }

    /// The secret key, if one was set.
    #[must_use]
    pub fn secret(&self) -> Option<&SecretKey> {
        self.secret.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLISHABLE: &str = "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH";
    const SECRET: &str = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz";

    fn jwt(role: &str) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!(
            "{}.{}.{}",
            b64(r#"{"alg":"HS256","typ":"JWT"}"#),
            b64(&format!(r#"{{"iss":"supabase","role":"{role}"}}"#)),
            b64("signature")
        )
    }

    fn keys(vars: &[(&str, &str)]) -> Result<AuthServerKeys, EnvError> {
        AuthServerKeys::from_variables(&Variables::from_pairs(vars.iter().copied()))
    }

    #[test]
    fn each_kind_where_it_belongs_and_nowhere_else() {
        let anon = jwt("anon");
        let service = jwt("service_role");
        assert!(PublishableKey::parse(PUBLISHABLE).is_ok());
        assert!(PublishableKey::parse(&anon).unwrap().is_legacy());
        assert!(SecretKey::parse(SECRET).is_ok());
        for (key, want) in [
            (SECRET, KeyFormatError::SecretWherePublishable),
            (service.as_str(), KeyFormatError::SecretWherePublishable),
            ("anon-key", KeyFormatError::Malformed),
            ("sb_publishable_short", KeyFormatError::Malformed),
            (&jwt("authenticated"), KeyFormatError::Malformed),
            ("a.b.c", KeyFormatError::Malformed),
        ] {
            assert_eq!(PublishableKey::parse(key), Err(want), "{key}");
        }
        for (key, want) in [
            (PUBLISHABLE, KeyFormatError::PublishableWhereSecret),
            (anon.as_str(), KeyFormatError::PublishableWhereSecret),
            (service.as_str(), KeyFormatError::LegacySecret),
            ("sb_secret_with space", KeyFormatError::Malformed),
            ("", KeyFormatError::Malformed),
        ] {
            assert_eq!(SecretKey::parse(key).map(|_| ()), Err(want), "{key}");
        }
        assert!(is_secret_key(SECRET) && is_secret_key(&service) && !is_secret_key(&anon));
    }

    #[test]
    fn variables_name_the_mistake_and_never_the_key() {
        let k = keys(&[
            ("SUPABASE_PUBLISHABLE_KEY", PUBLISHABLE),
            ("SUPABASE_ANON_KEY", "x"),
        ])
        .unwrap();
        assert_eq!(k.publishable_from(), Some("SUPABASE_PUBLISHABLE_KEY"));
        assert!(k.secret().is_none());
        let anon = jwt("anon");
        let k = keys(&[("SUPABASE_ANON_KEY", &anon)]).unwrap();
        assert_eq!(k.publishable_from(), Some("SUPABASE_ANON_KEY"));
        for (vars, variable) in [
            (
                vec![("SUPABASE_PUBLISHABLE_KEY", SECRET)],
                "SUPABASE_PUBLISHABLE_KEY",
            ),
            (vec![("SUPABASE_ANON_KEY", SECRET)], "SUPABASE_ANON_KEY"),
            (
                vec![("SUPABASE_SECRET_KEY", PUBLISHABLE)],
                "SUPABASE_SECRET_KEY",
            ),
            (
                vec![("SUPABASE_SECRET_KEY", anon.as_str())],
                "SUPABASE_SECRET_KEY",
            ),
        ] {
            let e = keys(&vars).unwrap_err();
            assert_eq!(e.variable(), variable);
            let text = e.to_string();
            assert!(
                !text.contains("N7UND0") && !text.contains("ACJWlz"),
                "{text}"
            );
        }
        assert!(keys(&[]).unwrap().publishable().is_none());
        let debug = format!(
            "{:?}",
            keys(&[
                ("SUPABASE_PUBLISHABLE_KEY", PUBLISHABLE),
                ("SUPABASE_SECRET_KEY", SECRET)
            ])
            .unwrap()
        );
        assert!(
            !debug.contains("N7UND0") && !debug.contains("ACJWlz"),
            "{debug}"
        );
    }
}
