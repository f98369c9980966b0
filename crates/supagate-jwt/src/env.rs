//! [`SupabaseConfig`]: the verifier's configuration from the environment, with Supabase's own
//! variable names.

use std::fmt;

use supagate_core::{EnvError, Variables};

use crate::error::ConfigError;
use crate::keys::{Hs256Secret, JwkSet};
use crate::third_party::ThirdPartyIssuer;
use crate::verifier::{Verifier, VerifierBuilder};
use supagate_core::SupabaseProject;

/// Where the asymmetric keys come from.
#[derive(Debug, Clone)]
enum Jwks {
    /// `SUPABASE_JWKS`, or a `file://` `SUPABASE_JWKS_URL`: authoritative, nothing fetched.
    Inline {
        public: JwkSet,
        secrets: JwkSet,
        from: &'static str,
    },
    /// A set followed over HTTPS (the project's own by default), built once: every verifier
    /// made from this configuration shares its fetches.
    #[cfg(feature = "remote_jwks")]
    Remote(String, crate::RemoteJwks),
    /// Only the HS256 secret (no `remote_jwks` feature, no inline set).
    None,
}

/// What a backend needs to verify its project's tokens, read from the environment with the
/// variable names Supabase uses (its CLI, its hosting, and its own server package):
///
/// | variable | required | meaning |
/// |---|---|---|
/// | `SUPABASE_URL` | yes | the project URL, [`SupabaseProject::parse`] rules; tokens must have `iss = <url>/auth/v1` |
/// | `SUPABASE_JWT_SECRET` | no | the legacy HS256 secret (at least 32 bytes) |
/// | `SUPABASE_JWKS` | no | the JWK set inline: `{"keys":[…]}` or a bare array. An `oct` key in it is an HMAC secret (the legacy secret exported as a JWK; a kid-less one must equal `SUPABASE_JWT_SECRET` when both are set), the rest the public set. When set it is authoritative: nothing is fetched, and `SUPABASE_JWKS_URL` must not be set |
/// | `SUPABASE_JWKS_URL` | no | the JWK set to follow (feature `remote_jwks`; cached, refreshed, rotation-safe); `file://<path>` reads a saved set once at start-up. Default: the project's `<url>/auth/v1/.well-known/jwks.json` |
/// | `SUPABASE_THIRD_PARTY_ISSUERS` | no | third-party auth providers whose tokens are accepted too (feature `remote_jwks`): a JSON list of `{"issuer": …, "audience": [...]}` objects (`audience` may be one string), each optionally with `"jwks_url"` (instead of OIDC discovery at `<issuer>/.well-known/openid-configuration`) and `"role"` (the required `role` claim, `authenticated` by default). See [`ThirdPartyIssuer`] |
/// | `SUPAGATE_TOKEN_CACHE` | no | `0` turns the verified-token cache off (default on) |
///
/// Empty (or blank) values count as unset. Every error's `Display` names the variable and the
/// fix. Applications read these with `supagate::Config`, which reads the environment once.
///
/// # Examples
///
/// ```
/// use supagate_jwt::{SupabaseConfig, Variables};
///
/// let vars = Variables::from_pairs([
///     ("SUPABASE_URL", "https://abcdefghijklmnopqrst.supabase.co"),
///     ("SUPABASE_JWT_SECRET", "an-example-secret-of-at-least-32-bytes"),
/// ]);
/// let config = SupabaseConfig::from_variables(&vars)?;
/// assert_eq!(config.project().issuer(), "https://abcdefghijklmnopqrst.supabase.co/auth/v1");
/// let verifier = config.verifier()?;
///
/// let bad = SupabaseConfig::from_variables(&Variables::from_pairs([
///     ("SUPABASE_URL", "https://abcdefghijklmnopqrst.supabase.co"),
///     ("SUPABASE_JWT_SECRET", "short"),
/// ]))
/// .unwrap_err();
/// assert_eq!(bad.variable(), "SUPABASE_JWT_SECRET");
/// assert!(bad.to_string().starts_with("SUPABASE_JWT_SECRET: hmac secret must be at least 32 bytes"));
/// # Ok::<(), supagate_jwt::EnvError>(())
/// ```
#[derive(Clone)]
pub struct SupabaseConfig {
    project: SupabaseProject,
    secret: Option<Hs256Secret>,
    jwks: Jwks,
    third_party: Vec<ThirdPartyIssuer>,
    token_cache: bool,
}

impl fmt::Debug for SupabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupabaseConfig")
            .field("project", &self.project)
            .field("keys", &self.describe_keys())
            .field("token_cache", &self.token_cache)
            .finish()
    }
}

/// The JWT secret every `supabase start` stack uses, published in Supabase's docs.
const LOCAL_DEV_SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";

/// HMAC secrets published for anyone to read: a project that is not local and verifies with
/// one of them accepts tokens anyone can sign. Each with what it is, for the start-up error.
const PUBLIC_SECRETS: [(&str, &str); 2] = [
    (
        "the Supabase CLI's public local-development secret",
        LOCAL_DEV_SECRET,
    ),
    (
        "self-hosted Supabase's published default secret (docker/.env.example)",
        "your-super-secret-jwt-token-with-at-least-32-characters-long",
    ),
];

/// Which published secret `secret` is, if any (every candidate compared in full, without an
/// early exit: the check runs once at start-up, but it reads a secret).
fn public_secret(secret: &[u8]) -> Option<&'static str> {
    let mut found = None;
    for (what, public) in PUBLIC_SECRETS {
        let public = public.as_bytes();
        let mut diff = u8::from(public.len() != secret.len());
        for (i, b) in public.iter().enumerate() {
            diff |= b ^ secret.get(i).copied().unwrap_or(0);
        }
        if diff == 0 {
            found = Some(what);
        }
    }
    found
}

/// Refuses a published secret as a key of a project that is not local.
fn refuse_public_secret(
    project: &SupabaseProject,
    secret: &[u8],
    variable: &'static str,
    origin: &str,
    fix: &'static str,
) -> Result<(), EnvError> {
    match public_secret(secret) {
        Some(what) if !project.is_local() => Err(EnvError::new(
            variable,
            format!("{origin} is {what}, and SUPABASE_URL is not local: anyone could sign tokens"),
            fix,
        )),
        _ => Ok(()),
    }
}

const URL_FIX: &str =
    "set it to the project URL, e.g. https://<project-ref>.supabase.co or http://127.0.0.1:54321";
const SECRET_FIX: &str = "set it to the project's JWT secret (Dashboard: Project Settings > JWT Keys > Legacy JWT Secret), or unset it";
const JWKS_FIX: &str =
    "set it to the JSON of the project's JWK set ({\"keys\":[...]} or a bare array), or unset it";
const JWKS_URL_FIX: &str = "set it to an https URL of a JWK set (http only on a loopback host) or file://<path>, or unset it";
const THIRD_PARTY_FIX: &str = "set it to a JSON list such as [{\"issuer\":\"https://clerk.example.com\",\"audience\":[\"my-app\"]}], or unset it";

impl SupabaseConfig {
    /// Reads the variables: see the table above. `supagate::Config` calls this with the
    /// process environment, read once.
    ///
    /// # Errors
    ///
    /// An [`EnvError`] naming the variable.
    pub fn from_variables(vars: &Variables) -> Result<Self, EnvError> {
        let get = |name: &str| vars.get(name);
        let url =
            get("SUPABASE_URL").ok_or_else(|| EnvError::new("SUPABASE_URL", "not set", URL_FIX))?;
        let project = SupabaseProject::parse(url.trim())
            .map_err(|e| EnvError::new("SUPABASE_URL", e, URL_FIX))?;
        // Read once: the value checked against the published secrets is the one used.
        let secret = get("SUPABASE_JWT_SECRET").map(zeroize::Zeroizing::new);
        if let Some(secret) = &secret {
            refuse_public_secret(
                &project,
                secret.as_bytes(),
                "SUPABASE_JWT_SECRET",
                "this",
                SECRET_FIX,
            )?;
        }
        let secret = secret
            .map(|s| {
                Hs256Secret::new(s.as_str())
                    .map_err(|e| EnvError::new("SUPABASE_JWT_SECRET", e, SECRET_FIX))
            })
            .transpose()?;
        if get("SUPABASE_JWKS").is_some() && get("SUPABASE_JWKS_URL").is_some() {
            return Err(EnvError::new(
                "SUPABASE_JWKS_URL",
                "set together with SUPABASE_JWKS: one of them would be ignored",
                "unset one (SUPABASE_JWKS gives the keys inline and nothing is fetched)",
            ));
        }
        let jwks = if let Some(json) = get("SUPABASE_JWKS") {
            inline(
                &json,
                &project,
                "SUPABASE_JWKS",
                "an oct key of the set",
                JWKS_FIX,
                None,
            )?
        } else if let Some(url) = get("SUPABASE_JWKS_URL").map(|u| u.trim().to_owned()) {
            if let Some(path) = url.strip_prefix("file://") {
                let json = std::fs::read_to_string(path).map_err(|e| {
                    EnvError::new(
                        "SUPABASE_JWKS_URL",
                        format!("cannot read {path}: {e}"),
                        JWKS_URL_FIX,
                    )
                })?;
                let origin = format!("an oct key of the set in {path}");
                inline(
                    &json,
                    &project,
                    "SUPABASE_JWKS_URL",
                    &origin,
                    JWKS_URL_FIX,
                    Some(path),
                )?
            } else {
                remote(url)?
            }
        } else if cfg!(feature = "remote_jwks") {
            remote(project.jwks_url())?
        } else {
            Jwks::None
        };
        if secret.is_none() && matches!(jwks, Jwks::None) {
            return Err(EnvError::new(
                "SUPABASE_JWT_SECRET",
                "no verification key: neither SUPABASE_JWT_SECRET nor SUPABASE_JWKS is set",
                "set one of them (or enable supagate-jwt's `remote_jwks` feature to follow the project's JWK set)",
            ));
        }
        let third_party = match get("SUPABASE_THIRD_PARTY_ISSUERS") {
            None => Vec::new(),
            Some(json) => third_party_issuers(&json, &project)?,
        };
        let token_cache = match get("SUPAGATE_TOKEN_CACHE").as_deref().map(str::trim) {
            None | Some("1") => true,
            Some("0") => false,
            Some(other) => {
                return Err(EnvError::new(
                    "SUPAGATE_TOKEN_CACHE",
                    format!("`{other}` is not 0 or 1"),
                    "set it to 0 (off) or 1 (on, the default)",
                ));
            }
        };
        Ok(SupabaseConfig {
            project,
            secret,
            jwks,
            third_party,
            token_cache,
        })
    }

    /// The project.
    #[must_use]
    pub fn project(&self) -> &SupabaseProject {
        &self.project
    }

    /// A verifier builder with this configuration, to adjust (the clock, the leeway) before
    /// `build()`.
    ///
    /// # Errors
    ///
    /// None today (every variable was checked by `from_variables`); a `Result` so that a later
    /// check can report here without breaking callers.
    pub fn verifier_builder(&self) -> Result<VerifierBuilder, EnvError> {
        let mut builder = Verifier::from_supabase_url(&self.project);
        if let Some(secret) = &self.secret {
            builder = builder.hs256_secret(secret.clone());
        }
        match &self.jwks {
            Jwks::Inline {
                public, secrets, ..
            } => {
                builder = builder.jwk_set(public.clone()).jwk_set(secrets.clone());
            }
            #[cfg(feature = "remote_jwks")]
            Jwks::Remote(_, source) => builder = builder.key_source(source.clone()),
            Jwks::None => {}
        }
        for issuer in &self.third_party {
            builder = builder.third_party_issuer(issuer.clone());
        }
        if !self.token_cache {
            builder = builder.no_token_cache();
        }
        Ok(builder)
    }

    /// The verifier.
    ///
    /// # Errors
    ///
    /// An [`EnvError`] naming the variable whose value the verifier refused.
    pub fn verifier(&self) -> Result<Verifier, EnvError> {
        let variable = match self.jwks {
            Jwks::Inline { from, .. } => from,
            _ if self.secret.is_some() => "SUPABASE_JWT_SECRET",
            _ => "SUPABASE_JWKS_URL",
        };
        self.verifier_builder()?.build().map_err(|e| {
            if let ConfigError::InvalidThirdPartyIssuer { .. } = e {
                return EnvError::new("SUPABASE_THIRD_PARTY_ISSUERS", e, THIRD_PARTY_FIX);
            }
            let fix = match e {
                ConfigError::AmbiguousHmacKeys if self.secret.is_some() => {
                    "SUPABASE_JWT_SECRET and a kid-less oct key of the set must be the same legacy secret; keep one, or give the oct key its kid"
                }
                ConfigError::AmbiguousHmacKeys => {
                    "keep one kid-less oct key per algorithm in the set, or give the others their kid"
                }
                _ => "check the keys configured",
            };
            EnvError::new(variable, e, fix)
        })
    }

    /// What keys are configured, for a start-up banner (no secret, no key material).
    #[must_use]
    pub fn describe_keys(&self) -> String {
        let mut parts = Vec::new();
        if self.secret.is_some() {
            parts.push("HS256 secret".to_owned());
        }
        match &self.jwks {
            Jwks::Inline {
                public,
                secrets,
                from,
            } => parts.push(format!(
                "{} public and {} HMAC JWK(s) from {from} (nothing fetched)",
                public.len(),
                secrets.len()
            )),
            #[cfg(feature = "remote_jwks")]
            Jwks::Remote(url, _) => {
                parts.push(format!("JWKS {url} (fetched on first use, cached)"));
            }
            Jwks::None => {}
        }
        for issuer in &self.third_party {
            parts.push(format!(
                "third-party issuer {} (audience {})",
                issuer.issuer(),
                issuer.accepted_audiences().join(" ")
            ));
        }
        if !self.token_cache {
            parts.push("verified-token cache off".to_owned());
        }
        parts.join(", ")
    }

    /// Keys of the inline set that the key policy left out, with the reason: log these at
    /// start-up.
    #[must_use]
    pub fn rejected_keys(&self) -> Vec<crate::RejectedKey> {
        match &self.jwks {
            Jwks::Inline {
                public, secrets, ..
            } => public
                .rejected()
                .iter()
                .chain(secrets.rejected())
                .cloned()
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// An inline set: `{"keys": [...]}` or a bare array; `oct` keys become HMAC keys, none of
/// them a published secret unless the project is local. `origin` names where an `oct` key
/// came from, for that error.
fn inline(
    json: &str,
    project: &SupabaseProject,
    variable: &'static str,
    origin: &str,
    fix: &'static str,
    source: Option<&str>,
) -> Result<Jwks, EnvError> {
    // A set read from a file is named: the variable holds its URL, the fault is in the file.
    let bad = |e: &dyn fmt::Display| match source {
        Some(path) => EnvError::new(variable, format!("{path}: {e}"), fix),
        None => EnvError::new(variable, e, fix),
    };
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| {
        bad(&ConfigError::JwkSetNotJson {
            line: e.line(),
            column: e.column(),
        })
    })?;
    let keys = match value {
        serde_json::Value::Array(keys) => keys,
        serde_json::Value::Object(mut o) => match o.remove("keys") {
            Some(serde_json::Value::Array(keys)) => keys,
            _ => return Err(bad(&ConfigError::InvalidJwkSet)),
        },
        _ => return Err(bad(&ConfigError::InvalidJwkSet)),
    };
    let (oct, public): (Vec<_>, Vec<_>) = keys
        .into_iter()
        .partition(|k| k.get("kty").and_then(serde_json::Value::as_str) == Some("oct"));
    let set = |keys: Vec<serde_json::Value>| serde_json::json!({ "keys": keys }).to_string();
    let public = JwkSet::from_published_json(&set(public)).map_err(|e| bad(&e))?;
    let secrets = if oct.is_empty() {
        JwkSet::empty()
    } else {
        JwkSet::from_secret_json_lenient(&set(oct)).map_err(|e| bad(&e))?
    };
    for secret in secrets.hmac_secrets() {
        refuse_public_secret(project, secret, variable, origin, fix)?;
    }
    if public.is_empty() && secrets.is_empty() {
        let rejected = || public.rejected().iter().chain(secrets.rejected());
        return Err(bad(&ConfigError::NoUsableKey {
            left_out: rejected().count(),
            first: rejected().next().map(|r| r.reason),
        }));
    }
    Ok(Jwks::Inline {
        public,
        secrets,
        from: variable,
    })
}

/// One entry of `SUPABASE_THIRD_PARTY_ISSUERS`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct IssuerEntry {
    issuer: String,
    audience: OneOrMany,
    #[serde(default)]
    jwks_url: Option<String>,
    #[serde(default)]
    role: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// `SUPABASE_THIRD_PARTY_ISSUERS`, checked as the verifier will check it (so a mistake stops
/// the start, naming the variable).
fn third_party_issuers(
    json: &str,
    project: &SupabaseProject,
) -> Result<Vec<ThirdPartyIssuer>, EnvError> {
    const VAR: &str = "SUPABASE_THIRD_PARTY_ISSUERS";
    let entries: Vec<IssuerEntry> = serde_json::from_str(json).map_err(|_| {
        EnvError::new(
            VAR,
            "not a JSON list of {\"issuer\", \"audience\"} objects (optional: \"jwks_url\", \"role\"; nothing else)",
            THIRD_PARTY_FIX,
        )
    })?;
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let audiences = match entry.audience {
            OneOrMany::One(a) => vec![a],
            OneOrMany::Many(a) => a,
        };
        let issuer = third_party_keys(entry.issuer, entry.jwks_url)?.audiences(audiences);
        out.push(match entry.role {
            Some(role) => issuer.role(role),
            None => issuer,
        });
    }
    if let Some(backend) = crate::CryptoBackend::preferred() {
        crate::verifier::check_third_party(out.clone(), Some(project.issuer()), backend)
            .map_err(|e| EnvError::new(VAR, e, THIRD_PARTY_FIX))?;
    }
    Ok(out)
}

#[cfg(feature = "remote_jwks")]
fn third_party_keys(
    issuer: String,
    jwks_url: Option<String>,
) -> Result<ThirdPartyIssuer, EnvError> {
    // Built once here, so that every verifier made from this configuration shares its
    // fetches. A bad discovery URL is reported with the issuer's position by the check that
    // follows; a bad `jwks_url` here.
    let source = match jwks_url {
        None => crate::RemoteJwks::discover(issuer.as_str()).build(),
        Some(url) => Ok(crate::RemoteJwks::builder(url)
            .build()
            .map_err(|e| EnvError::new("SUPABASE_THIRD_PARTY_ISSUERS", e, THIRD_PARTY_FIX))?),
    };
    Ok(match source {
        Ok(source) => ThirdPartyIssuer::new(issuer).key_source(source),
        Err(e) => ThirdPartyIssuer {
            source: Some(Err(e)),
            ..ThirdPartyIssuer::new(issuer)
        },
    })
}

#[cfg(not(feature = "remote_jwks"))]
fn third_party_keys(
    _issuer: String,
    _jwks_url: Option<String>,
) -> Result<ThirdPartyIssuer, EnvError> {
    Err(EnvError::new(
        "SUPABASE_THIRD_PARTY_ISSUERS",
        "fetching a third-party issuer's keys needs supagate-jwt's `remote_jwks` feature",
        "enable the feature, or unset it",
    ))
}

#[cfg(feature = "remote_jwks")]
fn remote(url: String) -> Result<Jwks, EnvError> {
    let source = crate::RemoteJwks::builder(url.as_str())
        .build()
        .map_err(|e| EnvError::new("SUPABASE_JWKS_URL", e, JWKS_URL_FIX))?;
    Ok(Jwks::Remote(url, source))
}

#[cfg(not(feature = "remote_jwks"))]
fn remote(_url: String) -> Result<Jwks, EnvError> {
    Err(EnvError::new(
        "SUPABASE_JWKS_URL",
        "following a remote JWK set needs supagate-jwt's `remote_jwks` feature",
        "enable the feature, or give the set inline in SUPABASE_JWKS",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<SupabaseConfig, EnvError> {
        SupabaseConfig::from_variables(&Variables::from_pairs(vars.iter().copied()))
    }

    const URL: (&str, &str) = ("SUPABASE_URL", "https://abcdefghijklmnopqrst.supabase.co");
    const SECRET: (&str, &str) = (
        "SUPABASE_JWT_SECRET",
        "an-example-secret-of-at-least-32-bytes",
    );

    #[test]
    fn errors_name_the_variable_and_the_fix() {
        let e = config(&[]).unwrap_err();
        assert_eq!(e.variable(), "SUPABASE_URL");
        assert!(
            e.to_string().contains("https://<project-ref>.supabase.co"),
            "{e}"
        );
        for (vars, var) in [
            (
                &[("SUPABASE_URL", "https://x.supabase.co/auth/v1"), SECRET][..],
                "SUPABASE_URL",
            ),
            (
                &[URL, ("SUPABASE_JWT_SECRET", "short")],
                "SUPABASE_JWT_SECRET",
            ),
            (&[URL, ("SUPABASE_JWKS", "{nope")], "SUPABASE_JWKS"),
            (&[URL, ("SUPABASE_JWKS", r#"{"keys":{}}"#)], "SUPABASE_JWKS"),
            (&[URL, ("SUPABASE_JWKS", "[]")], "SUPABASE_JWKS"),
            (
                &[URL, ("SUPABASE_JWKS_URL", "file:///nonexistent/jwks.json")],
                "SUPABASE_JWKS_URL",
            ),
            (
                &[URL, SECRET, ("SUPAGATE_TOKEN_CACHE", "yes")],
                "SUPAGATE_TOKEN_CACHE",
            ),
        ] {
            let e = config(vars).unwrap_err();
            assert_eq!(e.variable(), var, "{vars:?}: {e}");
            assert!(e.to_string().starts_with(var), "{e}");
        }
    }

    #[test]
    fn inline_set_with_an_oct_key_and_a_bare_array() {
        let es = r#"{"kty":"EC","crv":"P-256","kid":"k1","alg":"ES256","use":"sig","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
        // 32 bytes, base64url.
        let oct = r#"{"kty":"oct","k":"YW4tZXhhbXBsZS1zZWNyZXQtb2YtYXQtbGVhc3QtMzItYnl0ZXM","alg":"HS256"}"#;
        for json in [
            format!(r#"{{"keys":[{es},{oct}]}}"#),
            format!("[{es},{oct}]"),
        ] {
            let c = config(&[URL, ("SUPABASE_JWKS", &json)]).unwrap();
            assert!(
                c.describe_keys().contains("1 public and 1 HMAC"),
                "{}",
                c.describe_keys()
            );
            // Without a crypto backend the verifier is a `NoCryptoBackend` error, by design.
            if cfg!(any(feature = "aws_lc_rs", feature = "rust_crypto")) {
                assert!(c.verifier().is_ok());
            }
        }
    }

    #[test]
    fn two_legacy_secrets_or_two_key_sets_are_refused() {
        // The same secret as SUPABASE_JWT_SECRET, as a kid-less oct key: kept once.
        let same = r#"[{"kty":"oct","k":"YW4tZXhhbXBsZS1zZWNyZXQtb2YtYXQtbGVhc3QtMzItYnl0ZXM","alg":"HS256"}]"#;
        // Another 32-byte secret, kid-less: no kid-less token could be attributed.
        let other = r#"[{"kty":"oct","k":"YW5vdGhlci1zZWNyZXQtb2YtYXQtbGVhc3QtMzItYnl0ZXMh","alg":"HS256"}]"#;
        let with_kid = r#"[{"kty":"oct","kid":"new","k":"YW5vdGhlci1zZWNyZXQtb2YtYXQtbGVhc3QtMzItYnl0ZXMh","alg":"HS256"}]"#;
        if cfg!(any(feature = "aws_lc_rs", feature = "rust_crypto")) {
            assert!(
                config(&[URL, SECRET, ("SUPABASE_JWKS", same)])
                    .unwrap()
                    .verifier()
                    .is_ok()
            );
            assert!(
                config(&[URL, SECRET, ("SUPABASE_JWKS", with_kid)])
                    .unwrap()
                    .verifier()
                    .is_ok()
            );
            let e = config(&[URL, SECRET, ("SUPABASE_JWKS", other)])
                .unwrap()
                .verifier()
                .unwrap_err();
            assert_eq!(e.variable(), "SUPABASE_JWKS");
            assert!(e.to_string().contains("same legacy secret"), "{e}");
            // Two different kid-less oct keys in the set alone.
            let two = r#"[{"kty":"oct","k":"YW4tZXhhbXBsZS1zZWNyZXQtb2YtYXQtbGVhc3QtMzItYnl0ZXM","alg":"HS256"},{"kty":"oct","k":"YW5vdGhlci1zZWNyZXQtb2YtYXQtbGVhc3QtMzItYnl0ZXMh","alg":"HS256"}]"#;
            let e = config(&[URL, ("SUPABASE_JWKS", two)])
                .unwrap()
                .verifier()
                .unwrap_err();
            assert_eq!(e.variable(), "SUPABASE_JWKS");
            assert!(
                e.to_string().contains("one kid-less oct key per algorithm"),
                "{e}"
            );
            assert!(!e.to_string().contains("YW4t") && !e.to_string().contains("an-example"));
        }
        let e = config(&[
            URL,
            ("SUPABASE_JWKS", same),
            (
                "SUPABASE_JWKS_URL",
                "https://abcdefghijklmnopqrst.supabase.co/auth/v1/.well-known/jwks.json",
            ),
        ])
        .unwrap_err();
        assert_eq!(e.variable(), "SUPABASE_JWKS_URL");
        assert!(e.to_string().contains("unset one"), "{e}");
    }

    /// A usable P-256 public key (the example of `JwkSet::from_json`).
    const EC_P256: &str = r#"{"kty":"EC","crv":"P-256","alg":"ES256","kid":"k1","x":"uH6LXcMkd6QJiWOJEmSXfYZAZ9Rzch8QNrkiqXI8BGI","y":"TdYf8fqqYFZjt4fWAx5GZ5DbuW7w9KDFOeVGD7V1bGI"}"#;

    /// A set given by hand that is not JSON says where; one with no usable key is refused
    /// with the words `JwkSet::from_json` uses; a file's fault names the file.
    #[test]
    fn bad_key_sets_say_where_and_why() {
        let doc = "{\n  \"keys\": [,]\n}";
        let e = config(&[URL, ("SUPABASE_JWKS", doc)]).unwrap_err();
        assert_eq!(e.variable(), "SUPABASE_JWKS");
        assert!(
            e.to_string().contains("not json (line 2, column 12)"),
            "{e}"
        );
        let off =
            r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k","use":"enc","x":"AA","y":"AA"}]}"#;
        let e = config(&[URL, ("SUPABASE_JWKS", off)]).unwrap_err();
        let by_hand = JwkSet::from_json(off).unwrap_err().to_string();
        assert!(
            by_hand.starts_with("no usable key in the jwk set"),
            "{by_hand}"
        );
        assert!(e.to_string().contains(&by_hand), "{e}");
        let e = config(&[URL, ("SUPABASE_JWKS", r#"{"keys":[]}"#)]).unwrap_err();
        assert!(e.to_string().contains("it has no keys"), "{e}");
        // Every key left out, public and secret: one message counting both.
        let off = format!(
            r#"[{},{{"kty":"oct","kid":"short","k":"AAEC"}}]"#,
            EC_P256.replace("\"alg\":\"ES256\",", "\"use\":\"enc\",")
        );
        let e = config(&[URL, ("SUPABASE_JWKS", off.as_str())]).unwrap_err();
        assert!(e.to_string().contains("all 2 keys were left out"), "{e}");
        let dir = std::env::temp_dir().join(format!("supagate-env-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("jwks.json");
        std::fs::write(&file, "<html>not a key set</html>").unwrap();
        let url = format!("file://{}", file.display());
        let e = config(&[URL, ("SUPABASE_JWKS_URL", url.as_str())]).unwrap_err();
        assert_eq!(e.variable(), "SUPABASE_JWKS_URL");
        let text = e.to_string();
        assert!(
            text.contains(&format!(
                "{}: jwk set is not json (line 1, column 1)",
                file.display()
            )),
            "{text}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Review finding: the secret part of an inline set was read strictly, so a short `oct`
    /// key beside a usable public key refused the whole set.
    #[test]
    #[cfg(any(feature = "aws_lc_rs", feature = "rust_crypto"))]
    fn a_usable_key_beside_a_left_out_one_loads() {
        // A usable key beside one that is left out (a short `oct` key): the set loads, and
        // says what it left out.
        let ec = EC_P256;
        let mixed = format!(r#"[{ec},{{"kty":"oct","kid":"short","k":"AAEC"}}]"#);
        let v = config(&[URL, ("SUPABASE_JWKS", mixed.as_str())])
            .unwrap()
            .verifier()
            .unwrap();
        assert!(
            v.rejected_keys()
                .iter()
                .any(|r| r.kid.as_deref() == Some("short")),
            "{:?}",
            v.rejected_keys()
        );
    }

    #[test]
    fn the_cli_secret_is_fine_for_a_local_stack() {
        let local = ("SUPABASE_URL", "http://127.0.0.1:54321");
        assert!(config(&[local, ("SUPABASE_JWT_SECRET", LOCAL_DEV_SECRET)]).is_ok());
    }

    /// Every published secret, from whatever variable or file, on a project that is not
    /// local (review finding: only `SUPABASE_JWT_SECRET` and only the CLI's secret were
    /// checked).
    #[test]
    fn published_secrets_are_refused_wherever_they_come_from() {
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let dir = std::env::temp_dir().join(format!("supagate-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (i, (what, secret)) in PUBLIC_SECRETS.iter().enumerate() {
            let oct = format!(
                r#"[{{"kty":"oct","kid":"legacy","k":"{}","alg":"HS256"}}]"#,
                b64(secret)
            );
            let file = dir.join(format!("jwks-{i}.json"));
            std::fs::write(&file, &oct).unwrap();
            let file_url = format!("file://{}", file.display());
            for (vars, variable, origin) in [
                (
                    vec![("SUPABASE_JWT_SECRET", *secret)],
                    "SUPABASE_JWT_SECRET",
                    "this",
                ),
                (
                    vec![("SUPABASE_JWKS", oct.as_str())],
                    "SUPABASE_JWKS",
                    "an oct key of the set",
                ),
                (
                    vec![("SUPABASE_JWKS_URL", file_url.as_str())],
                    "SUPABASE_JWKS_URL",
                    "an oct key of the set in",
                ),
            ] {
                let mut all = vars.clone();
                all.push(URL);
                let e = config(&all).unwrap_err();
                assert_eq!(e.variable(), variable, "{e}");
                let text = e.to_string();
                assert!(text.contains(what) && text.contains(origin), "{text}");
                assert!(text.contains("anyone could sign tokens"), "{text}");
                assert!(
                    !text.contains(secret) && !text.contains(&b64(secret)),
                    "{text}"
                );
                // A local stack may use them.
                let mut local = vars;
                local.push(("SUPABASE_URL", "http://127.0.0.1:54321"));
                assert!(config(&local).is_ok(), "{variable} on a local stack");
            }
        }
        // A secret that only starts like a published one is fine.
        let near = format!("{LOCAL_DEV_SECRET}x");
        assert!(config(&[URL, ("SUPABASE_JWT_SECRET", &near)]).is_ok());
        assert!(public_secret(&LOCAL_DEV_SECRET.as_bytes()[1..]).is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn debug_shows_no_secret() {
        let c = config(&[URL, SECRET]).unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("an-example-secret"), "{debug}");
        assert!(debug.contains("HS256 secret"));
    }
}
