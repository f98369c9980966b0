//! What the two example backends share, so that they are the same service on two frameworks:
//! configuration from the environment, the route policies, the response shapes, and (for their
//! integration tests) a driver that starts a backend binary and checks every route over HTTP.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod drive;
pub mod metrics;

use std::net::SocketAddr;

use serde_json::{Value, json};
use supagate::Variables;
use supagate::auth::{AuthModes, AuthenticatorBuilder, Caller, ProtectedResource};
use supagate::policy::PolicyError;
use supagate::{Authenticator, Claims, Origin, Policy, Requirement};

/// The default `BIND` address.
pub const DEFAULT_BIND: &str = "127.0.0.1:8000";

/// The backend's configuration, read from the environment.
#[derive(Debug)]
pub struct Config {
    /// The verifier and how tokens are read.
    pub auth: Authenticator,
    /// Where to listen.
    pub bind: SocketAddr,
    /// What keys were configured, for the start-up banner (no secrets).
    pub keys: String,
    /// The RFC 9728 metadata of this API, served at its well-known path and named in 401s.
    pub resource: ProtectedResource,
}

/// The default `PUBLIC_URL`: the origin OAuth clients reach this API at.
pub const DEFAULT_PUBLIC_URL: &str = "http://localhost:8000";

/// The auth modes of the routes that name them, the same on both backends.
pub mod modes {
    /// `GET /public/whoami`: a signed-in user, else anyone.
    pub const WHOAMI: &str = "user, none";
    /// `GET /client/ping`: the client app's `default` publishable key.
    pub const PING: &str = "publishable";
    /// `GET /internal/stats`: any of the project's secret keys.
    pub const STATS: &str = "secret:*";
}

/// The backend's own variables, besides the library's ([`supagate::config::VARIABLES`]).
pub const VARIABLES: &[&str] = &["PUBLIC_URL", "BIND"];

impl Config {
    /// Reads the configuration from the process environment, once.
    ///
    /// # Errors
    ///
    /// A message naming the missing or invalid variable.
    pub fn from_env() -> Result<Config, String> {
        Config::from_variables(Variables::from_env(), |b| b)
    }

    /// Reads the configuration through `lookup` (a map in tests), asking it once for each
    /// variable of the library ([`supagate::config::VARIABLES`]) and of [`VARIABLES`].
    ///
    /// # Errors
    ///
    /// As [`Config::from_variables`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        Config::from_lookup_with(lookup, |b| b)
    }

    /// [`Config::from_lookup`], with `extra` applied to the authenticator's builder last.
    ///
    /// # Errors
    ///
    /// As [`Config::from_variables`].
    pub fn from_lookup_with(
        lookup: impl Fn(&str) -> Option<String>,
        extra: impl FnOnce(AuthenticatorBuilder) -> AuthenticatorBuilder,
    ) -> Result<Config, String> {
        Config::from_variables(snapshot(lookup, VARIABLES), extra)
    }

    /// The library's configuration ([`supagate::Config`]: the verification keys, the API keys,
    /// the legacy anon key), `PUBLIC_URL` (default [`DEFAULT_PUBLIC_URL`]) and `BIND` (default
    /// [`DEFAULT_BIND`]), with `extra` applied to the authenticator's builder last (a session
    /// liveness check, say).
    ///
    /// # Errors
    ///
    /// A message naming the missing or invalid variable and the fix.
    pub fn from_variables(
        vars: Variables,
        extra: impl FnOnce(AuthenticatorBuilder) -> AuthenticatorBuilder,
    ) -> Result<Config, String> {
        let vars = vars
            .with_default("PUBLIC_URL", DEFAULT_PUBLIC_URL)
            .with_default("BIND", DEFAULT_BIND);
        let config = supagate::Config::from_variables(vars).map_err(|e| e.to_string())?;
        for rejected in config.supabase().rejected_keys() {
            eprintln!("warning: a configured key was refused by the key policy: {rejected:?}");
        }
        let public_url = config.variables().get("PUBLIC_URL").unwrap_or_default();
        let origin = Origin::parse(public_url.trim()).map_err(|e| format!("PUBLIC_URL: {e}"))?;
        let resource = ProtectedResource::new(origin, "/", config.project())
            .map_err(|e| format!("PUBLIC_URL: {e}"))?
            .scopes_supported(["notes:read"])
            .resource_name("supagate example backend");
        let auth = config
            .authenticator()
            .map_err(|e| e.to_string())?
            .protected_resource(&resource);
        let auth = extra(auth).build().map_err(|e| e.to_string())?;
        let bind = config.variables().get("BIND").unwrap_or_default();
        let bind = bind
            .trim()
            .parse()
            .map_err(|_| format!("BIND: `{bind}` is not an address such as {DEFAULT_BIND}"))?;
        Ok(Config {
            auth,
            bind,
            keys: config.describe(),
            resource,
        })
    }
}

/// A snapshot of the library's variables and `own`, each asked of `lookup` once.
#[must_use]
pub fn snapshot(lookup: impl Fn(&str) -> Option<String>, own: &[&str]) -> Variables {
    Variables::snapshot(
        supagate::config::VARIABLES.iter().chain(own).copied(),
        lookup,
    )
}

/// `GET /admin/stats`: `app_metadata.role` must be `admin`.
///
/// # Errors
///
/// Never in practice (the requirement is valid); a policy error is reported, never weakened.
pub fn admin_policy() -> Result<Policy, PolicyError> {
    Policy::require(Requirement::role("admin"))
}

/// `GET /billing`: a permanent (non-anonymous) account at `aal2`.
///
/// # Errors
///
/// As [`admin_policy`].
pub fn billing_policy() -> Result<Policy, PolicyError> {
    Policy::require(Requirement::all([
        Requirement::Permanent,
        Requirement::Aal2,
    ]))
}

/// `GET /oauth/notes`: the app's own users, and OAuth clients (any, such as an MCP client)
/// whose token carries the scope `notes:read` the user granted.
///
/// # Errors
///
/// As [`admin_policy`].
pub fn notes_policy() -> Result<Policy, PolicyError> {
    Policy::builder()
        .require(Requirement::ClientScope("notes:read".into()))
        .allow_any_oauth_client()
        .build()
}

/// The auth modes of a route in [`mod@modes`].
///
/// # Errors
///
/// Never in practice (the lists are valid); reported, never weakened.
pub fn modes(list: &str) -> Result<AuthModes, String> {
    list.parse()
        .map_err(|e| format!("auth modes `{list}`: {e}"))
}

/// The `GET /public/whoami`, `/client/ping` and `/internal/stats` body:
/// `{"mode":"user","user_id":<sub>}`, `{"mode":"none"}`, `{"mode":"publishable","key":<name>}`.
#[must_use]
pub fn caller(caller: &Caller) -> Value {
    match caller {
        Caller::User(claims) => json!({ "mode": "user", "user_id": claims.sub }),
        other => match other.key() {
            Some(key) => json!({ "mode": other.mode(), "key": key }),
            None => json!({ "mode": other.mode() }),
        },
    }
}

/// The `GET /oauth/notes` body: who asked (the user, and the OAuth client acting for them).
#[must_use]
pub fn notes(claims: &Claims) -> Value {
    json!({
        "user_id": claims.sub,
        "client_id": claims.client_id,
        "notes": [{ "id": 1, "text": "hello from the example backend" }],
    })
}

/// The `GET /profile/me` body: `{"user_id": <sub>, "email": <email>}`.
#[must_use]
pub fn profile(claims: &Claims) -> Value {
    json!({ "user_id": claims.sub, "email": claims.email })
}

/// The `GET /admin/stats` and `GET /billing` body.
#[must_use]
pub fn ok() -> Value {
    json!({ "ok": true })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, String> {
        Config::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    const URL: (&str, &str) = ("SUPABASE_URL", "https://abcdefghijklmnopqrst.supabase.co");
    const SECRET: (&str, &str) = (
        "SUPABASE_JWT_SECRET",
        "an-example-secret-of-at-least-32-bytes",
    );

    #[test]
    fn start_up_errors_name_the_variable() {
        assert!(config(&[]).unwrap_err().contains("SUPABASE_URL"));
        assert!(config(&[URL]).is_ok(), "the remote JWKS is the default");
        assert!(
            config(&[URL, ("SUPABASE_JWT_SECRET", "short")])
                .unwrap_err()
                .contains("SUPABASE_JWT_SECRET")
        );
        assert!(
            config(&[("SUPABASE_URL", "not a url"), SECRET])
                .unwrap_err()
                .contains("SUPABASE_URL")
        );
        assert!(
            config(&[URL, SECRET, ("BIND", "nope")])
                .unwrap_err()
                .contains("BIND")
        );
        assert!(
            config(&[URL, ("SUPABASE_JWKS_URL", "http://x.example/jwks")])
                .unwrap_err()
                .contains("SUPABASE_JWKS_URL")
        );
        assert!(
            config(&[URL, ("SUPABASE_JWKS_URL", "file:///nonexistent/jwks.json")])
                .unwrap_err()
                .contains("cannot read")
        );
    }

    #[test]
    fn start_up_messages_quoted_in_the_errors_guide() {
        assert_eq!(
            config(&[]).unwrap_err(),
            "SUPABASE_URL: not set; set it to the project URL, e.g. https://<project-ref>.supabase.co or http://127.0.0.1:54321"
        );
        assert!(
            config(&[URL, ("SUPABASE_JWT_SECRET", "short")])
                .unwrap_err()
                .starts_with(
                    "SUPABASE_JWT_SECRET: hmac secret must be at least 32 bytes; set it to"
                )
        );
    }

    #[test]
    fn defaults() {
        let c = config(&[URL, SECRET]).unwrap();
        assert_eq!(c.bind.to_string(), DEFAULT_BIND);
        assert!(c.keys.starts_with("HS256 secret, JWKS https://abcdefghijklmnopqrst.supabase.co/auth/v1/.well-known/jwks.json"), "{}", c.keys);
    }
}
