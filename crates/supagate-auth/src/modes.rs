//! Auth modes: which callers a route admits (a signed-in user, a client app's publishable key,
//! a service's secret key, anyone), tried in order, as `@supabase/server` names them.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::api_keys::{ApiKeyError, check_name};

/// Which keys of a kind a mode accepts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeySelector {
    /// The key with this name (`publishable` alone means `publishable:default`).
    Named(String),
    /// Any configured key of the kind (`secret:*`).
    Any,
}

impl KeySelector {
    pub(crate) fn admits(&self, name: &str) -> bool {
        match self {
            KeySelector::Named(n) => n == name,
            KeySelector::Any => true,
        }
    }
}

/// One way a caller may be admitted.
///
/// | mode | admits | written |
/// |---|---|---|
/// | [`User`](AuthMode::User) | a verified user access token (`Authorization: Bearer`, or the session cookie where that is the source) | `user` |
/// | [`Publishable`](AuthMode::Publishable) | a configured publishable key in `apikey` | `publishable`, `publishable:web`, `publishable:*` |
/// | [`Secret`](AuthMode::Secret) | a configured secret key in `apikey`, not from a browser | `secret`, `secret:automations`, `secret:*` |
/// | [`None`](AuthMode::None) | anyone | `none` |
///
/// A bare `publishable` or `secret` names the `default` key only, as in `@supabase/server`.
///
/// # Examples
///
/// ```
/// use supagate_auth::{AuthMode, KeySelector};
///
/// assert_eq!("user".parse::<AuthMode>()?, AuthMode::User);
/// assert_eq!(
///     "publishable".parse::<AuthMode>()?,
///     AuthMode::Publishable(KeySelector::Named("default".into()))
/// );
/// assert_eq!("secret:*".parse::<AuthMode>()?, AuthMode::Secret(KeySelector::Any));
/// assert_eq!("secret:*".parse::<AuthMode>()?.to_string(), "secret:*");
/// assert!("admin".parse::<AuthMode>().is_err());
/// # Ok::<(), supagate_auth::AuthModeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthMode {
    /// A signed-in user: the request's access token, verified, and the authenticator's base
    /// policy (Postgres role `authenticated` unless widened).
    User,
    /// A client app that sent one of the project's publishable keys. Proves no user: the key
    /// is public by design.
    Publishable(KeySelector),
    /// A trusted service that sent one of the project's secret keys.
    Secret(KeySelector),
    /// Anyone. Must come last: modes after it could never match.
    None,
}

impl AuthMode {
    /// `publishable:<name>`.
    #[must_use]
    pub fn publishable(name: impl Into<String>) -> Self {
        AuthMode::Publishable(KeySelector::Named(name.into()))
    }

    /// `secret:<name>`.
    #[must_use]
    pub fn secret(name: impl Into<String>) -> Self {
        AuthMode::Secret(KeySelector::Named(name.into()))
    }

    /// The mode's name without the key: `user`, `publishable`, `secret` or `none`.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            AuthMode::User => "user",
            AuthMode::Publishable(_) => "publishable",
            AuthMode::Secret(_) => "secret",
            AuthMode::None => "none",
        }
    }

    fn check(&self) -> Result<(), AuthModeError> {
        match self {
            AuthMode::Publishable(KeySelector::Named(n))
            | AuthMode::Secret(KeySelector::Named(n)) => {
                check_name(n).map_err(|_| AuthModeError::BadKeyName(safe(n)))
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for AuthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthMode::Publishable(KeySelector::Named(n))
            | AuthMode::Secret(KeySelector::Named(n))
                if n == "default" =>
            {
                f.write_str(self.name())
            }
            AuthMode::Publishable(KeySelector::Named(n))
            | AuthMode::Secret(KeySelector::Named(n)) => {
                write!(f, "{}:{n}", self.name())
            }
            AuthMode::Publishable(KeySelector::Any) | AuthMode::Secret(KeySelector::Any) => {
                write!(f, "{}:*", self.name())
            }
            AuthMode::User | AuthMode::None => f.write_str(self.name()),
        }
    }
}

impl FromStr for AuthMode {
    type Err = AuthModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (base, key) = match s.split_once(':') {
            Some((b, k)) => (b, Some(k)),
            None => (s, None),
        };
        let selector = || match key {
            None => KeySelector::Named("default".to_owned()),
            Some("*") => KeySelector::Any,
            Some(name) => KeySelector::Named(name.to_owned()),
        };
        let mode = match (base, key) {
            ("user", None) => AuthMode::User,
            ("none", None) => AuthMode::None,
            ("publishable", _) => AuthMode::Publishable(selector()),
            ("secret", _) => AuthMode::Secret(selector()),
            _ => return Err(AuthModeError::Unknown(safe(s))),
        };
        mode.check()?;
        Ok(mode)
    }
}

/// At most 64 visible ASCII characters of what was written, and never something that looks
/// like a key.
fn safe(s: &str) -> String {
    if s.contains("sb_") {
        return "(a key, not a mode)".to_owned();
    }
    s.chars().filter(char::is_ascii_graphic).take(64).collect()
}

/// A mistake in a list of auth modes: a start-up error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthModeError {
    /// Not `user`, `publishable[:name|*]`, `secret[:name|*]` or `none`.
    #[error("unknown auth mode `{0}`: use user, publishable[:name|*], secret[:name|*] or none")]
    Unknown(String),
    /// A key name that is not 1 to 64 of `A-Z a-z 0-9 _ -`.
    #[error("auth mode key name `{0}` must be 1 to 64 of A-Z a-z 0-9 _ -")]
    BadKeyName(String),
    /// An empty list admits nobody.
    #[error("an auth mode list must name at least one mode")]
    Empty,
    /// The same mode twice.
    #[error("auth mode `{0}` is listed twice")]
    Duplicate(String),
    /// A mode after `none`, which admits everyone first.
    #[error("auth mode `{0}` comes after `none` and could never match; put `none` last")]
    AfterNone(String),
}

impl From<ApiKeyError> for AuthModeError {
    fn from(e: ApiKeyError) -> Self {
        AuthModeError::BadKeyName(e.to_string())
    }
}

/// An ordered list of [`AuthMode`]s: the first that matches the request admits it. Checked
/// when made (not empty, no mode twice, `none` last). Cheap to clone.
///
/// Rules, the same on every adapter:
/// - a credential that is present and bad refuses the request: a user token that fails
///   verification is never a reason to try a weaker mode; only an absent credential falls
///   through;
/// - `Authorization: Bearer <value>` whose value is an `sb_` key equal to the request's own
///   `apikey`, a configured publishable key or the project's configured legacy anon key is
///   "no user" (a signed-out supabase-js sends exactly that), not a bad token; any other
///   value is verified as a token, even when copied into `apikey`;
/// - API keys are read from `apikey` only;
/// - a secret key on a request with browser fetch metadata (`Sec-Fetch-Site`,
///   `Sec-Fetch-Mode` or `Origin`) is refused;
/// - 401 when the credential is missing or wrong, 403 when it is good but not admitted here;
///   a publishable key alone where users are admitted is 401 (it proves no user).
///
/// # Examples
///
/// ```
/// use supagate_auth::{AuthMode, AuthModes};
///
/// let public: AuthModes = "user, none".parse()?;
/// assert_eq!(public.modes(), [AuthMode::User, AuthMode::None]);
/// assert_eq!(public.to_string(), "user, none");
/// assert!("none, user".parse::<AuthModes>().is_err());
/// assert!(AuthModes::new([AuthMode::secret("automations"), AuthMode::User]).is_ok());
/// # Ok::<(), supagate_auth::AuthModeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AuthModes {
    modes: Arc<[AuthMode]>,
    user: bool,
}

impl Default for AuthModes {
    /// `user` alone: what every extractor admitted before auth modes.
    fn default() -> Self {
        AuthModes::user()
    }
}

impl AuthModes {
    /// The modes in order.
    ///
    /// # Errors
    ///
    /// [`AuthModeError`] for an empty list, a mode listed twice, a mode after `none`, or a bad
    /// key name.
    pub fn new(modes: impl IntoIterator<Item = AuthMode>) -> Result<Self, AuthModeError> {
        let modes: Vec<AuthMode> = modes.into_iter().collect();
        if modes.is_empty() {
            return Err(AuthModeError::Empty);
        }
        for (i, m) in modes.iter().enumerate() {
            m.check()?;
            if modes.iter().take(i).any(|earlier| earlier == m) {
                return Err(AuthModeError::Duplicate(m.to_string()));
            }
            if i > 0 && modes.get(i - 1) == Some(&AuthMode::None) {
                return Err(AuthModeError::AfterNone(m.to_string()));
            }
        }
        let user = modes.contains(&AuthMode::User);
        Ok(AuthModes {
            modes: modes.into(),
            user,
        })
    }

    /// `user` alone, the default.
    #[must_use]
    pub fn user() -> Self {
        AuthModes {
            modes: Arc::new([AuthMode::User]),
            user: true,
        }
    }

    /// The modes, in the order they are tried.
    #[must_use]
    pub fn modes(&self) -> &[AuthMode] {
        &self.modes
    }

    /// Whether `user` is one of the modes.
    #[must_use]
    pub fn admits_users(&self) -> bool {
        self.user
    }
}

impl fmt::Display for AuthModes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in self.modes.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            fmt::Display::fmt(m, f)?;
        }
        Ok(())
    }
}

impl FromStr for AuthModes {
    type Err = AuthModeError;

    /// A comma-separated list: `"user, publishable:web, none"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AuthModes::new(
            s.split(',')
                .map(str::parse::<AuthMode>)
                .collect::<Result<Vec<_>, _>>()?,
        )
    }
}

impl TryFrom<&str> for AuthModes {
    type Error = AuthModeError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// Who made the request, as the first matching [`AuthMode`] says: a verified user (with
/// claims of type `T`), a client app or service by its key's name, or nobody in particular.
///
/// # Examples
///
/// ```
/// use supagate_auth::Caller;
///
/// let caller: Caller<()> = Caller::Secret { key: "automations".into() };
/// assert_eq!(caller.mode(), "secret");
/// assert_eq!(caller.key(), Some("automations"));
/// assert!(caller.user().is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Caller<T = supagate_jwt::Claims> {
    /// `user`: a verified access token's claims.
    User(T),
    /// `publishable`: the name of the publishable key the request carried.
    Publishable {
        /// The key's configured name (`default`, `web`, …).
        key: String,
    },
    /// `secret`: the name of the secret key the request carried.
    Secret {
        /// The key's configured name.
        key: String,
    },
    /// `none`: no credential was needed (and none that matched an earlier mode was sent).
    None,
}

impl<T> Caller<T> {
    /// The matched mode's name: `user`, `publishable`, `secret` or `none`.
    #[must_use]
    pub fn mode(&self) -> &'static str {
        match self {
            Caller::User(_) => "user",
            Caller::Publishable { .. } => "publishable",
            Caller::Secret { .. } => "secret",
            Caller::None => "none",
        }
    }

    /// The API key's name for `publishable` and `secret`.
    #[must_use]
    pub fn key(&self) -> Option<&str> {
        match self {
            Caller::Publishable { key } | Caller::Secret { key } => Some(key),
            Caller::User(_) | Caller::None => None,
        }
    }

    /// The user's claims for `user`.
    #[must_use]
    pub fn user(&self) -> Option<&T> {
        match self {
            Caller::User(t) => Some(t),
            _ => None,
        }
    }

    /// The same caller with the user's claims converted.
    ///
    /// # Errors
    ///
    /// Whatever `f` returns for the user's claims.
    pub fn try_map<U, E>(self, f: impl FnOnce(T) -> Result<U, E>) -> Result<Caller<U>, E> {
        Ok(match self {
            Caller::User(t) => Caller::User(f(t)?),
            Caller::Publishable { key } => Caller::Publishable { key },
            Caller::Secret { key } => Caller::Secret { key },
            Caller::None => Caller::None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print_round_trip() {
        for s in [
            "user",
            "none",
            "publishable",
            "publishable:web",
            "publishable:*",
            "secret",
            "secret:automations",
            "secret:*",
        ] {
            assert_eq!(s.parse::<AuthMode>().unwrap().to_string(), s);
        }
        assert_eq!(
            "publishable:default"
                .parse::<AuthMode>()
                .unwrap()
                .to_string(),
            "publishable"
        );
        assert_eq!(
            " user ,publishable:web,  none "
                .parse::<AuthModes>()
                .unwrap()
                .to_string(),
            "user, publishable:web, none"
        );
    }

    #[test]
    fn bad_lists_are_start_up_errors() {
        let err = |s: &str| s.parse::<AuthModes>().unwrap_err();
        assert_eq!(err(""), AuthModeError::Unknown(String::new()));
        assert!(matches!(err("users"), AuthModeError::Unknown(_)));
        assert!(matches!(err("user:x"), AuthModeError::Unknown(_)));
        assert!(matches!(err("none:x"), AuthModeError::Unknown(_)));
        assert!(matches!(err("public"), AuthModeError::Unknown(_)));
        assert!(matches!(err("secret:"), AuthModeError::BadKeyName(_)));
        assert!(matches!(err("secret:a b"), AuthModeError::BadKeyName(_)));
        assert!(matches!(err("user, user"), AuthModeError::Duplicate(_)));
        assert!(matches!(
            err("secret, secret:default"),
            AuthModeError::Duplicate(_)
        ));
        assert!(matches!(err("none, user"), AuthModeError::AfterNone(_)));
        assert_eq!(AuthModes::new([]).unwrap_err(), AuthModeError::Empty);
        // A key pasted where a mode belongs is not echoed.
        let leaked = err("secret:sb_secret_abcdefghijklmnop").to_string();
        assert!(!leaked.contains("abcdefgh"), "{leaked}");
        let leaked = err("sb_secret_abcdefghijklmnop").to_string();
        assert!(!leaked.contains("abcdefgh"), "{leaked}");
    }

    #[test]
    fn caller_accessors() {
        let c: Caller<u8> = Caller::User(7);
        assert_eq!((c.mode(), c.key(), c.user()), ("user", None, Some(&7)));
        let c = c.try_map(|n| Ok::<_, ()>(u16::from(n) * 2)).unwrap();
        assert_eq!(c.user(), Some(&14));
        let c: Caller<u8> = Caller::Publishable { key: "web".into() };
        assert_eq!((c.mode(), c.key()), ("publishable", Some("web")));
        assert_eq!(Caller::<u8>::None.mode(), "none");
        assert!(KeySelector::Any.admits("x"));
        assert!(!KeySelector::Named("a".into()).admits("b"));
    }
}
