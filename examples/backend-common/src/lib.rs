//! What the two example backends share, so that they are the same service on two frameworks:
//! configuration from the environment, the route policies, the response shapes, and (for their
//! integration tests) a driver that starts a backend binary and checks every route over HTTP.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod drive;

use std::net::SocketAddr;

use serde_json::{Value, json};
use supagate::policy::PolicyError;
use supagate::{
    Authenticator, Claims, Hs256Secret, JwkSet, Policy, RemoteJwks, Requirement, Verifier,
    jwt::TokenCacheConfig,
};

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

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    ///
    /// - `SUPABASE_URL` (required): the project URL; tokens must have `iss = <url>/auth/v1`.
    /// - `SUPABASE_JWT_SECRET` (optional): the legacy HS256 secret.
    /// - `SUPABASE_JWKS_URL` (optional): the JWK set, followed with [`RemoteJwks`] (cached,
    ///   refreshed, rotation-safe). Default `<SUPABASE_URL>/auth/v1/.well-known/jwks.json`. A
    ///   `file://` URL reads a saved set once at start-up instead.
    /// - `BIND` (default `127.0.0.1:8000`).
    /// - `SUPAGATE_TOKEN_CACHE` (optional): `1` turns on the verified-token cache.
    ///
    /// # Errors
    ///
    /// A message naming the missing or invalid variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let url = lookup("SUPABASE_URL")
            .filter(|v| !v.is_empty())
            .ok_or("SUPABASE_URL is not set (e.g. https://<project-ref>.supabase.co)")?;
        let mut builder = Verifier::from_supabase_url(url.as_str());
        let mut keys = Vec::new();
        if let Some(secret) = lookup("SUPABASE_JWT_SECRET").filter(|v| !v.is_empty()) {
            let secret =
                Hs256Secret::new(secret).map_err(|e| format!("SUPABASE_JWT_SECRET: {e}"))?;
            builder = builder.hs256_secret(secret);
            keys.push("HS256 secret".to_owned());
        }
        let explicit = lookup("SUPABASE_JWKS_URL").filter(|v| !v.is_empty());
        let jwks_var = if explicit.is_some() {
            "SUPABASE_JWKS_URL"
        } else {
            "SUPABASE_URL"
        };
        let jwks_url = explicit.unwrap_or_else(|| {
            format!(
                "{}/auth/v1/.well-known/jwks.json",
                url.trim_end_matches('/')
            )
        });
        if let Some(path) = jwks_url.strip_prefix("file://") {
            let set = load_jwks(path)?;
            keys.push(format!("{} JWK(s) from {jwks_url}", set.len()));
            builder = builder.jwk_set(set);
        } else {
            let remote = RemoteJwks::builder(jwks_url.as_str())
                .build()
                .map_err(|e| format!("{jwks_var}: {e}"))?;
            keys.push(format!(
                "JWKS {jwks_url} (fetched on first use, cached 10 min)"
            ));
            builder = builder.key_source(remote);
        }
        match lookup("SUPAGATE_TOKEN_CACHE").as_deref() {
            None | Some("" | "0") => {}
            Some("1") => {
                builder = builder.token_cache(TokenCacheConfig::default());
                keys.push("verified-token cache on".to_owned());
            }
            Some(other) => return Err(format!("SUPAGATE_TOKEN_CACHE: `{other}` is not 0 or 1")),
        }
        let verifier = builder.build().map_err(|e| format!("SUPABASE_URL: {e}"))?;
        let bind = lookup("BIND").unwrap_or_else(|| DEFAULT_BIND.to_owned());
        let bind = bind
            .parse()
            .map_err(|_| format!("BIND: `{bind}` is not an address such as {DEFAULT_BIND}"))?;
        Ok(Config {
            auth: Authenticator::new(verifier),
            bind,
            keys: keys.join(", "),
        })
    }
}

/// Reads a saved JWK set (`SUPABASE_JWKS_URL=file://<path>`).
fn load_jwks(path: &str) -> Result<JwkSet, String> {
    let json = std::fs::read_to_string(path)
        .map_err(|e| format!("SUPABASE_JWKS_URL: cannot read {path}: {e}"))?;
    let set = JwkSet::from_json(&json).map_err(|e| format!("SUPABASE_JWKS_URL: {e}"))?;
    if !set.rejected().is_empty() {
        eprintln!(
            "warning: {} key(s) in {path} were refused by the key policy",
            set.rejected().len()
        );
    }
    Ok(set)
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
            "SUPABASE_URL is not set (e.g. https://<project-ref>.supabase.co)"
        );
        assert_eq!(
            config(&[URL, ("SUPABASE_JWT_SECRET", "short")]).unwrap_err(),
            "SUPABASE_JWT_SECRET: hmac secret must be at least 32 bytes"
        );
    }

    #[test]
    fn defaults() {
        let c = config(&[URL, SECRET]).unwrap();
        assert_eq!(c.bind.to_string(), DEFAULT_BIND);
        assert!(c.keys.starts_with("HS256 secret, JWKS https://abcdefghijklmnopqrst.supabase.co/auth/v1/.well-known/jwks.json"), "{}", c.keys);
    }
}
