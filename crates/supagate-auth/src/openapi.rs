//! What an API documents about its authentication, decided once from the configuration the
//! authenticator and the gates use, for any OpenAPI generator to render: the security
//! schemes ([`Authenticator::security_schemes`]) and what each route asks ([`Access`]). The
//! utoipa rendering is the module `utoipa` (feature `utoipa`); aide's comes with
//! the axum adapter.

use crate::authenticator::{Authenticator, TokenSource};
use crate::gate::Gate;
use crate::modes::{AuthMode, AuthModes};

/// The scheme of a user's access token sent as `Authorization: Bearer <token>`.
pub const BEARER_SCHEME: &str = "supabase_bearer";
/// The scheme of a user's session in the `@supabase/ssr` cookie.
pub const SESSION_SCHEME: &str = "supabase_session";
/// The scheme of the project's API keys in the `apikey` header.
pub const API_KEY_SCHEME: &str = "supabase_apikey";

/// How a scheme's credential travels.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemeKind {
    /// HTTP `Authorization: Bearer`, a JWT.
    Bearer,
    /// A cookie of this name (chunked `name.0`, `name.1`, … when large, as `@supabase/ssr`
    /// writes it).
    Cookie(String),
    /// A header of this name.
    Header(&'static str),
}

/// One security scheme of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheme {
    /// Its name in the document's `components.securitySchemes`.
    pub name: &'static str,
    /// How the credential travels.
    pub kind: SchemeKind,
    /// What it is, for the reader of the document.
    pub description: &'static str,
}

impl Authenticator {
    /// The security schemes a document of routes behind this authenticator declares: the
    /// user's token as its source reads it (the bearer, the session cookie, or both), and the
    /// `apikey` header when API keys or the legacy anon key are configured.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::Authenticator;
    /// use supagate_auth::openapi::{BEARER_SCHEME, SchemeKind};
    ///
    /// let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
    /// let schemes = auth.security_schemes();
    /// assert_eq!(schemes.len(), 1); // no API keys configured
    /// assert_eq!((schemes[0].name, &schemes[0].kind), (BEARER_SCHEME, &SchemeKind::Bearer));
    /// ```
    #[must_use]
    pub fn security_schemes(&self) -> Vec<Scheme> {
        let mut schemes = Vec::with_capacity(3);
        let bearer = Scheme {
            name: BEARER_SCHEME,
            kind: SchemeKind::Bearer,
            description: "A Supabase access token (a JWT) of a signed-in user.",
        };
        let cookie = |reader: &supagate_cookie::SessionReader| Scheme {
            name: SESSION_SCHEME,
            kind: SchemeKind::Cookie(reader.name().as_str().to_owned()),
            description: "The user's Supabase session as @supabase/ssr stores it (chunked as name.0, name.1, ... when large).",
        };
        match self.source() {
            TokenSource::AuthorizationHeader => schemes.push(bearer),
            TokenSource::SessionCookie(reader) => schemes.push(cookie(reader)),
            TokenSource::AuthorizationHeaderOrSessionCookie(reader) => {
                schemes.push(bearer);
                schemes.push(cookie(reader));
            }
        }
        if self.has_api_keys() {
            schemes.push(Scheme {
                name: API_KEY_SCHEME,
                kind: SchemeKind::Header("apikey"),
                description: "One of the project's API keys (sb_publishable_..., sb_secret_...).",
            });
        }
        schemes
    }

    /// Whether the token source reads the session cookie.
    fn reads_cookies(&self) -> bool {
        !matches!(self.source(), TokenSource::AuthorizationHeader)
    }

    /// The requirements that admit a user: one per scheme the token source reads.
    fn user_requirements(&self) -> Vec<Vec<&'static str>> {
        match self.source() {
            TokenSource::AuthorizationHeader => vec![vec![BEARER_SCHEME]],
            TokenSource::SessionCookie(_) => vec![vec![SESSION_SCHEME]],
            TokenSource::AuthorizationHeaderOrSessionCookie(_) => {
                vec![vec![BEARER_SCHEME], vec![SESSION_SCHEME]]
            }
        }
    }
}

/// A refusal a route documents: its status and what it means.
pub type Documented = (u16, &'static str);

const BAD_REQUEST: Documented = (
    400,
    "invalid_request: a malformed Authorization header, a token in both header and cookie, or two apikey fields",
);
const UNAUTHORIZED: Documented = (
    401,
    "No credentials, or an invalid, expired or revoked token (WWW-Authenticate: Bearer, RFC 6750)",
);
const FORBIDDEN: Documented = (
    403,
    "A valid credential that this route does not admit (insufficient_scope for a user's token; no challenge for an API key, or a secret key sent from a browser)",
);
const TOO_LARGE: Documented = (431, "A session cookie too large to read");
const UNAVAILABLE: Documented = (
    503,
    "The project's signing keys or the session store cannot be reached now (Retry-After)",
);

/// What a route asks of its callers, as a document states it: the alternative security
/// requirements (each a list of schemes all needed; an empty one means no credentials) and
/// the refusals it may answer with. Decided from the same gate, modes or policy the route
/// runs.
///
/// # Examples
///
/// ```
/// use supagate_auth::{Authenticator, Gate};
/// use supagate_auth::openapi::{Access, BEARER_SCHEME};
///
/// let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
/// let whoami = Access::of_gate(&Gate::modes(auth.clone(), "user, none".parse()?));
/// assert_eq!(whoami.requirements(), [vec![BEARER_SCHEME], vec![]]);
/// assert!(whoami.refusals().iter().any(|(status, _)| *status == 401));
/// assert!(Access::public().requirements().is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Access {
    requirements: Vec<Vec<&'static str>>,
    refusals: Vec<Documented>,
}

impl Access {
    /// A route with no authentication (`/healthz`): no requirement, no refusal.
    #[must_use]
    pub fn public() -> Self {
        Access::default()
    }

    /// A route that needs a signed-in user (an `Authenticated` extractor, or a policy gate):
    /// 401 without one, 403 when the policy refuses them.
    #[must_use]
    pub fn user(auth: &Authenticator) -> Self {
        let mut refusals = vec![BAD_REQUEST, UNAUTHORIZED, FORBIDDEN];
        if auth.reads_cookies() {
            refusals.push(TOO_LARGE);
        }
        refusals.push(UNAVAILABLE);
        Access {
            requirements: auth.user_requirements(),
            refusals,
        }
    }

    /// A route that serves anyone and the signed-in user differently (`Option<Authenticated>`):
    /// no credentials is fine, a bad token is still 401.
    #[must_use]
    pub fn optional_user(auth: &Authenticator) -> Self {
        let mut access = Access::user(auth);
        access.requirements.push(Vec::new());
        access
    }

    /// What `gate` asks: a policy gate a user; a modes gate each of its modes in order (a
    /// user, an API key, anyone).
    #[must_use]
    pub fn of_gate(gate: &Gate) -> Self {
        match gate.admitted_modes() {
            None => Access::user(gate.authenticator()),
            Some(modes) => Access::of_modes(gate.authenticator(), modes),
        }
    }

    /// What a route admitting `modes` asks.
    #[must_use]
    pub fn of_modes(auth: &Authenticator, modes: &AuthModes) -> Self {
        let mut requirements: Vec<Vec<&'static str>> = Vec::new();
        let mut add = |r: Vec<&'static str>| {
            if !requirements.contains(&r) {
                requirements.push(r);
            }
        };
        let mut keys = false;
        for mode in modes.modes() {
            match mode {
                AuthMode::User => auth.user_requirements().into_iter().for_each(&mut add),
                AuthMode::None => add(Vec::new()),
                _ => {
                    keys = true;
                    add(vec![API_KEY_SCHEME]);
                }
            }
        }
        let users = modes.admits_users();
        let anyone = modes.modes().contains(&AuthMode::None);
        let mut refusals = vec![BAD_REQUEST];
        // A present, bad token is refused where users are admitted; a missing or unknown
        // credential only where nobody is.
        if users || !anyone {
            refusals.push(UNAUTHORIZED);
        }
        // A key not admitted here, a secret key from a browser (on any route, once keys are
        // configured), a user the base policy refuses.
        if keys || users || auth.has_api_keys() {
            refusals.push(FORBIDDEN);
        }
        if users && auth.reads_cookies() {
            refusals.push(TOO_LARGE);
        }
        if users {
            refusals.push(UNAVAILABLE);
        }
        Access {
            requirements,
            refusals,
        }
    }

    /// The alternative requirements, in the order the route tries them; none for a public
    /// route.
    #[must_use]
    pub fn requirements(&self) -> &[Vec<&'static str>] {
        &self.requirements
    }

    /// The refusals the route may answer with.
    #[must_use]
    pub fn refusals(&self) -> &[Documented] {
        &self.refusals
    }
}

#[cfg(feature = "utoipa")]
#[cfg_attr(docsrs, doc(cfg(feature = "utoipa")))]
pub mod utoipa;
