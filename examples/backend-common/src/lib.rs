//! What the two example backends share, so that they are the same service on two frameworks:
//! configuration from the environment, the route policies, the response shapes, and (for their
//! integration tests) a driver that starts a backend binary and checks every route over HTTP.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod drive;

use std::net::SocketAddr;

use serde_json::{Value, json};
use supagate::auth::{ApiKeys, AuthModes, AuthenticatorBuilder, Caller, ProtectedResource};
use supagate::jwt::SupabaseConfig;
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

impl Config {
    /// Reads the configuration from the process environment.
    ///
    /// # Errors
    ///
    /// A message naming the missing or invalid variable.
    pub fn from_env() -> Result<Config, String> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests): the
    /// library's [`SupabaseConfig`] (`SUPABASE_URL`, `SUPABASE_JWT_SECRET`, `SUPABASE_JWKS`,
    /// `SUPABASE_JWKS_URL`, `SUPABASE_THIRD_PARTY_ISSUERS`, `SUPAGATE_TOKEN_CACHE`; see its table), the API keys
    /// ([`ApiKeys::from_lookup`]: `SUPABASE_PUBLISHABLE_KEYS`, `SUPABASE_SECRET_KEYS` and their
    /// singular forms), `SUPABASE_ANON_KEY` (the legacy anon key, optional), `PUBLIC_URL`
    /// (default [`DEFAULT_PUBLIC_URL`]) and `BIND` (default `127.0.0.1:8000`).
    ///
    /// # Errors
    ///
    /// A message naming the missing or invalid variable and the fix.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        Config::from_lookup_with(lookup, |b| b)
    }

    /// [`Config::from_lookup`], with `extra` applied to the authenticator's builder last (a
    /// session liveness check, say).
    ///
    /// # Errors
    ///
    /// As [`Config::from_lookup`].
    pub fn from_lookup_with(
        lookup: impl Fn(&str) -> Option<String>,
        extra: impl FnOnce(AuthenticatorBuilder) -> AuthenticatorBuilder,
    ) -> Result<Config, String> {
        let supabase = SupabaseConfig::from_lookup(&lookup).map_err(|e| e.to_string())?;
        for rejected in supabase.rejected_keys() {
            eprintln!("warning: a configured key was refused by the key policy: {rejected:?}");
        }
        let verifier = supabase.verifier().map_err(|e| e.to_string())?;
        let project = supabase.project().clone();
        let api_keys = ApiKeys::from_lookup(&lookup).map_err(|e| e.to_string())?;
        let public_url = lookup("PUBLIC_URL")
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| DEFAULT_PUBLIC_URL.to_owned());
        let origin = Origin::parse(&public_url).map_err(|e| format!("PUBLIC_URL: {e}"))?;
        let resource = ProtectedResource::new(origin, "/", project)
            .map_err(|e| format!("PUBLIC_URL: {e}"))?
            .scopes_supported(["notes:read"])
            .resource_name("supagate example backend");
        let mut auth = Authenticator::builder(verifier)
            .api_keys(api_keys.clone())
            .protected_resource(&resource);
        if let Some(anon) = lookup("SUPABASE_ANON_KEY").filter(|v| !v.trim().is_empty()) {
            auth = auth.legacy_anon_key(anon.trim());
        }
        let auth = extra(auth).build().map_err(|e| e.to_string())?;
        let mut keys = supabase.describe_keys();
        for kind in [
            supagate::auth::ApiKeyKind::Publishable,
            supagate::auth::ApiKeyKind::Secret,
        ] {
            let names: Vec<&str> = api_keys.names(kind).collect();
            if !names.is_empty() {
                keys.push_str(&format!(", {} keys {}", kind.as_str(), names.join(" ")));
            }
        }
        let bind = lookup("BIND")
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| DEFAULT_BIND.to_owned());
        let bind = bind
            .parse()
            .map_err(|_| format!("BIND: `{bind}` is not an address such as {DEFAULT_BIND}"))?;
        Ok(Config {
            auth,
            bind,
            keys,
            resource,
        })
    }
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
