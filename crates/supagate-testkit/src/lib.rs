#![doc = include_str!("../README.md")]
//!
//! # Feature flags
//!
//! | feature | default | what it does |
//! |---|---|---|
//! | `aws_lc_rs` | yes | enable supagate-jwt's AWS-LC backend |
//! | `rust_crypto` | no | enable supagate-jwt's pure-Rust backend |
//! | `postgres` | no | [`TestPostgres`]: a throw-away PostgreSQL cluster with the Supabase roles and `auth` schema |
//!
//! Tokens are signed with jsonwebtoken's pure-Rust provider whatever the features; they only
//! choose the backend of the verifiers this crate builds ([`TestKeys::verifier`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod mock_auth;
mod mock_jwks;
mod mock_oidc;
#[cfg(feature = "postgres")]
mod postgres;

pub use mock_auth::{Endpoint, Fault, MockAuth, Recorded, RefreshFormat, Rotation, TokenLimit};
pub use mock_jwks::{Behaviour, MockJwks};
pub use mock_oidc::MockOidc;
#[cfg(feature = "postgres")]
pub use postgres::{DATABASE_URL_VAR, SUPABASE_FIXTURE, TestPostgres};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Map, Value, json};
use supagate_jwt::{Hs256Secret, JwkSet, Verifier, VerifierBuilder};

/// Fixed, **public** test keys. Never use them outside tests: their private halves are in this
/// crate's source.
///
/// # Examples
///
/// ```
/// use supagate_testkit::{TestKeys, TokenBuilder};
///
/// let keys = TestKeys::new();
/// let verifier = keys.verifier_at(TokenBuilder::DEFAULT_NOW);
/// let claims = verifier.verify(&TokenBuilder::new().sign_es256(&keys))?;
/// assert_eq!(claims.iss.as_deref(), Some(TestKeys::ISSUER));
/// # Ok::<(), supagate_jwt::Error>(())
/// ```
#[derive(Clone)]
pub struct TestKeys {
    es256: EncodingKey,
    rs256: EncodingKey,
    eddsa: EncodingKey,
}

impl std::fmt::Debug for TestKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestKeys { es256, rs256, eddsa, hs256 }")
    }
}

const ES256_PKCS8: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgFmY/SMmlp39nRwm5OmtXzNBN0njTK9E9zFdvX/OMgAKhRANCAAQUtzH9OrDBaMb+3t6A1gZKvXB0pVRg3RncRtbGB971XvVbQu74nh9F+9TlePdIwsNqg5ylJGfSDKU6S3aWhQda";
const ES256_X: &str = "FLcx_TqwwWjG_t7egNYGSr1wdKVUYN0Z3EbWxgfe9V4";
const ES256_Y: &str = "9VtC7vieH0X71OV490jCw2qDnKUkZ9IMpTpLdpaFB1o";
const RS256_PKCS1: &str = "MIIEowIBAAKCAQEAuBUU4+wssF1s/w57ppagxPTnng4BBT0L/dk+qBHia6NsoPmQ+/sbe4JBOrb0I6z2djfGRk5NpsYBxx1qyG7ViV1ImVNXxNit7Rh34o8731kWOtbNUSurw+Z5G43mkWoAcUwBNKu89KjCdcr7V9lBIEnqaziH5kvCJNvsIQ4la1EqBia07CKSDaNjvJAeO7dqXtK0AIFwwr1YrYEI9jW60/sY/N0TH3s8Wr+KV04+QvwlPIaPp12q+K5fmeES76dLcrowUp8MXum3YzXb7JsAINt/7s9egnYnFyBZLv3bQ/yL91O/kkwpKakCaQkTHICBlIB2fjfvOmPBs5ILtX/RCQIDAQABAoIBACqNxQyDVjlW/5FembsC6xtcugZRmm7Jk/IUvGVB7SOQ3dXAm4GEpO/CRq36CSoOG9NsRUuPYmgBMfwDkuHOrVJZ3CSFna6FoH9EvsIC9oZFI9xqN4BiJgzdRHXYMcq/xGZseYLhiIbOVFXCnKPMNz/tlmE+6juUm8bFiCqECKZr8SJ1JOu/KdVgBZO6Gi//wF2yL5APVmihVkjvIfKqW4t9/A/1c5ngHn1JyXF8eBxeRZ9AAd0GM3T4jqe0PgtaGQZgeBL0EO2hSohTB+nKX7oXUlVCR77hXJQXB5vTEXPV0PC4p6uSGkDtr9Uq959G5TgR1k4Gn3XSxC/dVNgFIWECgYEA/60YMwj/XWkfUpCUksR7IHRT/kIudtVUmfI5e0715vtElvuvSSQDRzCYeP80yc+O06yPt/lXBtNXtfTPAjRixTA5jx+mVhkXxuavW2aWGUCDzcByxY5rh6TNtvaZuGV1pYxOrwjbQkWqJ1DSLIHaPZQ9Gp9GFG8WBchwtJm/rxUCgYEAuFDFp7Bxakz0WmB45K8RBkRY+RfvK6y6pkr8v88fagkmT3tBiG4+D124PYboUr4kY2oV+6eJQJCa1ZMK3wZ+aNmK5VchVgdUJnbSRGvj9aMWbhLXhzDsDBL+HdRPxRJhpPsp9mjDxWpvPxSnBUCcHl7WqqZ0/UqssusSHtD2NyUCgYAGTO6uu0cHt0J1V2jB4SOjnho/xsO8W+90x7pQ5pY6tfBvxA4CwGdwRqtLOAbF/l5nqvXzs6pIWcbsjfbX+BCDCXgxpbcEoiOq3B5wIywJvURCOr7ZTXQq6I3FN3h8ScvHY5jAyXgVvv+9bklvnVeScue6kzg34rDpPZJBcRR/LQKBgDGedQeGxZGTc/jcnc8anh+syLMOUXHVh037Q/2zGcbm/axKB0NeQlDKry3JIsQbshodVhuwZ4+9HiG++x89VUyOvAivoybQxEOymzqWPQFEzWYGpoUbk4BQoJ6RKIRqRWUvxIU0gPelhptZyPjuAtleOLYqJ7aEoudrxy4KnS4NAoGBAJgFcWlw2/ModA49OtNLTV5jMVN17WN4NX26NTZqVY7xUe8A5MVIY15u4s8jMKftuS97m9jpxerTaejQQSVgazQrHmacEOtQxyktAsjq26ox+qUF4FqOjevrRAB1FX/gSSJhVcx2yqeSlwYPQFx3W63UWtVAAf2qSiMR3lM7hojP";
const RS256_N: &str = "uBUU4-wssF1s_w57ppagxPTnng4BBT0L_dk-qBHia6NsoPmQ-_sbe4JBOrb0I6z2djfGRk5NpsYBxx1qyG7ViV1ImVNXxNit7Rh34o8731kWOtbNUSurw-Z5G43mkWoAcUwBNKu89KjCdcr7V9lBIEnqaziH5kvCJNvsIQ4la1EqBia07CKSDaNjvJAeO7dqXtK0AIFwwr1YrYEI9jW60_sY_N0TH3s8Wr-KV04-QvwlPIaPp12q-K5fmeES76dLcrowUp8MXum3YzXb7JsAINt_7s9egnYnFyBZLv3bQ_yL91O_kkwpKakCaQkTHICBlIB2fjfvOmPBs5ILtX_RCQ";
const EDDSA_PKCS8: &str = "MC4CAQAwBQYDK2VwBCIEIMv5v/F1BZMcVEM0UQhUjV5wqF9yB6RvyYnFIwRhX5c8";
const EDDSA_X: &str = "Db0BJsuYrhFMvQfQXPGvMcVP9uRgmd4D9PiwHgAEVhY";

/// The system clock in Unix seconds (0 before 1970).
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

pub(crate) fn der(b64: &str) -> Vec<u8> {
    // The constants above are valid base64; an empty key would make every signature fail
    // loudly in the test that uses it.
    STANDARD.decode(b64).unwrap_or_default()
}

impl Default for TestKeys {
    fn default() -> Self {
        Self::new()
    }
}

impl TestKeys {
    /// The Supabase project URL the test tokens are issued for.
    pub const SUPABASE_URL: &'static str = "https://testkitprojectref00.supabase.co";
    /// The issuer of the test tokens (`<SUPABASE_URL>/auth/v1`).
    pub const ISSUER: &'static str = "https://testkitprojectref00.supabase.co/auth/v1";
    /// The HS256 legacy secret (its UTF-8 bytes are the key).
    pub const HS256_SECRET: &'static str = "supagate-testkit-legacy-jwt-secret-0123456789";
    /// `kid` of the ES256 key.
    pub const ES256_KID: &'static str = "3a18cfe2-7226-43b0-bbb4-7c5242f2406e";
    /// `kid` of the RS256 key.
    pub const RS256_KID: &'static str = "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d";
    /// `kid` of the EdDSA key.
    pub const EDDSA_KID: &'static str = "1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed";

    /// The test project's `default` publishable key (`SUPABASE_PUBLISHABLE_KEYS`).
    pub const PUBLISHABLE_KEY: &'static str = "sb_publishable_testkitDefault0123456789_aB";
    /// The test project's `web` publishable key.
    pub const PUBLISHABLE_WEB_KEY: &'static str = "sb_publishable_testkitWeb00123456789_cD";
    /// The test project's `default` secret key (`SUPABASE_SECRET_KEYS`).
    pub const SECRET_KEY: &'static str = "sb_secret_testkitDefault0123456789_eF";
    /// The test project's `automations` secret key.
    pub const SECRET_AUTOMATIONS_KEY: &'static str = "sb_secret_testkitAutomations0123456_gH";

    /// The API-key variables of the test project, as `@supabase/server` reads them: pass them
    /// to `supagate_auth::ApiKeys::from_variables`. `SUPABASE_PUBLISHABLE_KEYS` holds `default`
    /// and `web`, `SUPABASE_SECRET_KEYS` holds `default` and `automations`, and
    /// `SUPABASE_ANON_KEY` is [`TestKeys::legacy_anon_key`]. Other names are unset.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_testkit::TestKeys;
    ///
    /// let vars = TestKeys::api_key_variables();
    /// assert!(vars.get("SUPABASE_SECRET_KEYS").unwrap().contains(TestKeys::SECRET_AUTOMATIONS_KEY));
    /// assert_eq!(vars.get("SUPABASE_SECRET_KEY"), None);
    /// ```
    #[must_use]
    pub fn api_key_variables() -> supagate_jwt::Variables {
        supagate_jwt::Variables::from_lookup(Self::api_key_env)
    }

    /// One variable of [`TestKeys::api_key_variables`] (`None` for every other name).
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_testkit::TestKeys;
    ///
    /// assert!(TestKeys::api_key_env("SUPABASE_PUBLISHABLE_KEYS").is_some());
    /// ```
    #[must_use]
    pub fn api_key_env(name: &str) -> Option<String> {
        match name {
            "SUPABASE_PUBLISHABLE_KEYS" => Some(
                json!({"default": Self::PUBLISHABLE_KEY, "web": Self::PUBLISHABLE_WEB_KEY})
                    .to_string(),
            ),
            "SUPABASE_SECRET_KEYS" => Some(
                json!({"default": Self::SECRET_KEY, "automations": Self::SECRET_AUTOMATIONS_KEY})
                    .to_string(),
            ),
            "SUPABASE_ANON_KEY" => Some(Self::legacy_anon_key()),
            _ => None,
        }
    }

    /// The test project's legacy anon key: an HS256 JWT with `role: anon`, issuer `supabase`
    /// and the project ref, valid for ten years from [`TokenBuilder::DEFAULT_NOW`], as the
    /// Supabase dashboard showed them.
    #[must_use]
    pub fn legacy_anon_key() -> String {
        let payload = json!({
            "iss": "supabase",
            "ref": "testkitprojectref00",
            "role": "anon",
            "iat": TokenBuilder::DEFAULT_NOW - 86_400,
            "exp": TokenBuilder::DEFAULT_NOW + 10 * 365 * 86_400,
        });
        sign_raw_hs256(
            br#"{"alg":"HS256","typ":"JWT"}"#,
            payload.to_string().as_bytes(),
            Self::HS256_SECRET.as_bytes(),
        )
    }

    /// Loads the fixed keys.
    #[must_use]
    pub fn new() -> Self {
        TestKeys {
            es256: EncodingKey::from_ec_der(&der(ES256_PKCS8)),
            rs256: EncodingKey::from_rsa_der(&der(RS256_PKCS1)),
            eddsa: EncodingKey::from_ed_der(&der(EDDSA_PKCS8)),
        }
    }

    /// The public keys as Supabase would publish them at `/auth/v1/.well-known/jwks.json`.
    #[must_use]
    pub fn jwks_json(&self) -> String {
        json!({"keys": [
            {"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "key_ops": ["verify"],
             "kid": Self::ES256_KID, "x": ES256_X, "y": ES256_Y, "ext": true},
            {"kty": "RSA", "alg": "RS256", "use": "sig", "key_ops": ["verify"],
             "kid": Self::RS256_KID, "n": RS256_N, "e": "AQAB", "ext": true},
            {"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "key_ops": ["verify"],
             "kid": Self::EDDSA_KID, "x": EDDSA_X},
        ]})
        .to_string()
    }

    /// [`TestKeys::jwks_json`] parsed.
    #[must_use]
    pub fn jwk_set(&self) -> JwkSet {
        JwkSet::from_json(&self.jwks_json()).unwrap_or_default()
    }

    /// A builder configured for the test project: issuer, the HS256 secret and the JWK set.
    pub fn verifier_builder(&self) -> VerifierBuilder {
        let mut b = Verifier::from_supabase_url(Self::SUPABASE_URL).jwk_set(self.jwk_set());
        if let Ok(secret) = Hs256Secret::new(Self::HS256_SECRET) {
            b = b.hs256_secret(secret);
        }
        b
    }

    /// A verifier for the test project on the system clock: for tokens from
    /// [`TokenBuilder::now`].
    ///
    /// # Panics
    ///
    /// If no crypto backend is compiled in (a test set-up error).
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_testkit::{TestKeys, TokenBuilder};
    ///
    /// let keys = TestKeys::new();
    /// let claims = keys.verifier().verify(&TokenBuilder::now().sign_es256(&keys))?;
    /// assert_eq!(claims.sub.to_string(), TokenBuilder::DEFAULT_SUB);
    /// # Ok::<(), supagate_jwt::Error>(())
    /// ```
    #[must_use]
    #[allow(clippy::expect_used)]
    pub fn verifier(&self) -> Verifier {
        self.verifier_builder()
            .build()
            .expect("testkit verifier builds")
    }

    /// A verifier for the test project whose clock stands at `now`.
    ///
    /// # Panics
    ///
    /// If no crypto backend is compiled in (a test set-up error).
    #[must_use]
    #[allow(clippy::expect_used)]
    pub fn verifier_at(&self, now: i64) -> Verifier {
        self.verifier_builder()
            .clock(supagate_jwt::FixedClock::new(now))
            .build()
            .expect("testkit verifier builds")
    }
}

/// Builds Supabase-shaped access tokens with any claim or header member overridden or removed.
///
/// The defaults are the claims GoTrue writes for an email/password user of
/// [`TestKeys::SUPABASE_URL`], issued at [`TokenBuilder::DEFAULT_NOW`] for one hour.
///
/// # Examples
///
/// ```
/// use supagate_testkit::{TestKeys, TokenBuilder};
///
/// let keys = TestKeys::new();
/// let token = TokenBuilder::new()
///     .claim("app_metadata", serde_json::json!({"role": "admin"}))
///     .remove("phone")
///     .sign_hs256(&keys);
/// let claims = keys.verifier_at(TokenBuilder::DEFAULT_NOW).verify(&token)?;
/// assert_eq!(claims.app_metadata["role"], "admin");
/// # Ok::<(), supagate_jwt::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct TokenBuilder {
    header: Map<String, Value>,
    header_removed: Vec<String>,
    claims: Map<String, Value>,
}

impl Default for TokenBuilder {
    fn default() -> Self {
        Self::new()
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

impl TokenBuilder {
    /// The default `iat` (2027-01-01T00:00:00Z, the clock of the shared cookie corpus).
    pub const DEFAULT_NOW: i64 = 1_798_761_600;
    /// The default `sub`.
    pub const DEFAULT_SUB: &'static str = "8d0fd6e2-4c5a-4b7e-9f3a-2b1c0d9e8f7a";
    /// The default `session_id`.
    pub const DEFAULT_SESSION: &'static str = "5e7c1a2b-3d4f-4a6b-8c9d-0e1f2a3b4c5d";

    /// Full Supabase claims, issued at [`TokenBuilder::DEFAULT_NOW`] for 3600 s.
    #[must_use]
    pub fn new() -> Self {
        let now = Self::DEFAULT_NOW;
        TokenBuilder {
            header: object(json!({"typ": "JWT"})),
            header_removed: Vec::new(),
            claims: object(json!({
                "iss": TestKeys::ISSUER,
                "sub": Self::DEFAULT_SUB,
                "aud": "authenticated",
                "exp": now + 3600,
                "iat": now,
                "email": "user@example.com",
                "phone": "",
                "app_metadata": {"provider": "email", "providers": ["email"]},
                "user_metadata": {
                    "email": "user@example.com",
                    "email_verified": true,
                    "phone_verified": false,
                    "sub": Self::DEFAULT_SUB,
                },
                "role": "authenticated",
                "aal": "aal1",
                "amr": [{"method": "password", "timestamp": now}],
                "session_id": Self::DEFAULT_SESSION,
                "is_anonymous": false,
            })),
        }
    }

    /// Full Supabase claims issued now (the system clock) for 3600 s: valid for a verifier
    /// on the system clock ([`TestKeys::verifier`]) with no further call.
    #[must_use]
    pub fn now() -> Self {
        Self::new().issued_at(unix_now(), 3600)
    }

    /// Full Supabase claims for `project` (`iss = <url>/auth/v1`), issued now for 3600 s. Sign
    /// with the project's own secret through [`TokenBuilder::sign_hmac`].
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_jwt::{Hs256Secret, SupabaseProject, Verifier};
    /// use supagate_testkit::TokenBuilder;
    ///
    /// let project = SupabaseProject::parse("http://127.0.0.1:54321")?;
    /// let secret = "super-secret-jwt-token-with-at-least-32-characters-long";
    /// let token = TokenBuilder::for_project(&project).sign_hmac(secret.as_bytes());
    /// let verifier = Verifier::from_supabase_url(&project)
    ///     .hs256_secret(Hs256Secret::new(secret)?)
    ///     .build()?;
    /// assert!(verifier.verify(&token).is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn for_project(project: &supagate_jwt::SupabaseProject) -> Self {
        Self::now().claim("iss", project.issuer())
    }

    /// Claims as a third-party auth provider writes them for a Supabase project (Clerk,
    /// Auth0, Firebase Auth, Cognito, WorkOS): `iss` = `issuer`, `sub` = [`MockOidc::SUB`] (not
    /// a UUID), `aud` = [`MockOidc::AUDIENCE`], `role: authenticated` (the claim Supabase asks
    /// these providers to add), an `email`, issued at [`TokenBuilder::DEFAULT_NOW`] for 3600 s;
    /// none of Supabase's own claims. Sign with [`TokenBuilder::sign_provider`].
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_testkit::{MockOidc, TokenBuilder};
    ///
    /// let t = TokenBuilder::third_party("https://clerk.example.com");
    /// assert_eq!(t.claims()["sub"], MockOidc::SUB);
    /// assert_eq!(t.claims()["role"], "authenticated");
    /// ```
    #[must_use]
    pub fn third_party(issuer: &str) -> Self {
        let now = Self::DEFAULT_NOW;
        TokenBuilder {
            header: object(json!({"typ": "JWT"})),
            header_removed: Vec::new(),
            claims: object(json!({
                "iss": issuer,
                "sub": MockOidc::SUB,
                "aud": MockOidc::AUDIENCE,
                "exp": now + 3600,
                "iat": now,
                "email": "provider-user@example.com",
                "role": "authenticated",
            })),
        }
    }

    /// Sets a claim (replacing any value).
    #[must_use]
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.claims.insert(name.to_owned(), value.into());
        self
    }

    /// Removes a claim.
    #[must_use]
    pub fn remove(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Sets a header member. `alg` (and `kid`, for asymmetric keys) are set by the signing
    /// method unless set here. A later [`TokenBuilder::remove_header`] of the same name wins
    /// only over the signing method's value; call order does not matter.
    #[must_use]
    pub fn header(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.header.insert(name.to_owned(), value.into());
        self
    }

    /// Removes a header member, including the `typ` default and the `alg`/`kid` that the
    /// signing method sets.
    #[must_use]
    pub fn remove_header(mut self, name: &str) -> Self {
        self.header.remove(name);
        self.header_removed.push(name.to_owned());
        self
    }

    /// Sets `exp`.
    #[must_use]
    pub fn exp(self, exp: i64) -> Self {
        self.claim("exp", exp)
    }

    /// Sets `iat`. `amr` timestamps that equal the previous `iat` (the default sign-in at
    /// issue time) follow it, so `RecentSignIn` sees a sign-in at the new `iat`.
    #[must_use]
    pub fn iat(mut self, iat: i64) -> Self {
        let old = self.claims.get("iat").and_then(Value::as_i64);
        if let (Some(old), Some(Value::Array(amr))) = (old, self.claims.get_mut("amr")) {
            for entry in amr.iter_mut() {
                if let Some(t) = entry.get_mut("timestamp")
                    && t.as_i64() == Some(old)
                {
                    *t = iat.into();
                }
            }
        }
        self.claim("iat", iat)
    }

    /// Sets `iat` to `now` and `exp` to `now + ttl`.
    #[must_use]
    pub fn issued_at(self, now: i64, ttl: i64) -> Self {
        self.iat(now).exp(now + ttl)
    }

    /// The claims as they will be signed.
    #[must_use]
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    fn header_for(&self, alg: &str, kid: Option<&str>) -> Map<String, Value> {
        let mut h = Map::new();
        h.insert("alg".to_owned(), alg.into());
        if let Some(kid) = kid {
            h.insert("kid".to_owned(), kid.into());
        }
        for name in &self.header_removed {
            h.remove(name);
        }
        for (k, v) in &self.header {
            h.insert(k.clone(), v.clone());
        }
        h
    }

    fn signing_input(&self, alg: &str, kid: Option<&str>) -> String {
        let header = Value::Object(self.header_for(alg, kid)).to_string();
        let claims = Value::Object(self.claims.clone()).to_string();
        encode_segments(header.as_bytes(), claims.as_bytes())
    }

    /// Signs with the HS256 legacy secret (no `kid`, as self-hosted GoTrue does).
    #[must_use]
    pub fn sign_hs256(&self, keys: &TestKeys) -> String {
        let _ = keys;
        self.sign_hmac(TestKeys::HS256_SECRET.as_bytes())
    }

    /// Signs with HS256 and an arbitrary secret (for example public-key bytes, to test
    /// algorithm confusion).
    #[must_use]
    pub fn sign_hmac(&self, secret: &[u8]) -> String {
        let input = self.signing_input("HS256", None);
        sign_input(&input, &EncodingKey::from_secret(secret), Algorithm::HS256)
    }

    /// Signs with the ES256 key (`kid` = [`TestKeys::ES256_KID`]).
    #[must_use]
    pub fn sign_es256(&self, keys: &TestKeys) -> String {
        let input = self.signing_input("ES256", Some(TestKeys::ES256_KID));
        sign_input(&input, &keys.es256, Algorithm::ES256)
    }

    /// Signs with the RS256 key (`kid` = [`TestKeys::RS256_KID`]).
    #[must_use]
    pub fn sign_rs256(&self, keys: &TestKeys) -> String {
        let input = self.signing_input("RS256", Some(TestKeys::RS256_KID));
        sign_input(&input, &keys.rs256, Algorithm::RS256)
    }

    /// Signs with the third-party provider's ES256 key (`kid` = [`MockOidc::KID`]), which is
    /// not one of the project's [`TestKeys`].
    #[must_use]
    pub fn sign_provider(&self) -> String {
        let input = self.signing_input("ES256", Some(MockOidc::KID));
        sign_input(&input, &mock_oidc::provider_key(), Algorithm::ES256)
    }

    /// Signs with every test key: `[HS256, ES256, RS256, EdDSA]`.
    #[must_use]
    pub fn sign_all(&self, keys: &TestKeys) -> [String; 4] {
        [
            self.sign_hs256(keys),
            self.sign_es256(keys),
            self.sign_rs256(keys),
            self.sign_eddsa(keys),
        ]
    }

    /// Signs with the Ed25519 key (`kid` = [`TestKeys::EDDSA_KID`]).
    #[must_use]
    pub fn sign_eddsa(&self, keys: &TestKeys) -> String {
        let input = self.signing_input("EdDSA", Some(TestKeys::EDDSA_KID));
        sign_input(&input, &keys.eddsa, Algorithm::EdDSA)
    }
}

/// `base64url(header) . base64url(payload)` from raw bytes (no re-serialization), for tokens
/// whose JSON must be exactly as written (duplicate members, odd escapes).
#[must_use]
pub fn encode_segments(header: &[u8], payload: &[u8]) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    )
}

/// HS256-signs raw header and payload bytes with `secret`.
#[must_use]
pub fn sign_raw_hs256(header: &[u8], payload: &[u8], secret: &[u8]) -> String {
    let input = encode_segments(header, payload);
    sign_input(&input, &EncodingKey::from_secret(secret), Algorithm::HS256)
}

/// ES256-signs raw header and payload bytes with the third-party provider's key
/// ([`MockOidc`]), for provider tokens whose JSON must be exactly as written.
#[must_use]
pub fn sign_raw_provider(header: &[u8], payload: &[u8]) -> String {
    let input = encode_segments(header, payload);
    sign_input(&input, &mock_oidc::provider_key(), Algorithm::ES256)
}

/// ES256-signs raw header and payload bytes with the test key.
#[must_use]
pub fn sign_raw_es256(header: &[u8], payload: &[u8], keys: &TestKeys) -> String {
    let input = encode_segments(header, payload);
    sign_input(&input, &keys.es256, Algorithm::ES256)
}

/// The refresh token in sessions made by [`session_json`].
pub const TEST_REFRESH_TOKEN: &str = "testkitrefreshtoken0";

/// A Supabase session as `@supabase/ssr` stores it (`access_token`, `token_type`,
/// `expires_in`, `expires_at`, `refresh_token`, `user`), around `access_token`, expiring at
/// `expires_at`. The user object is minimal.
#[must_use]
pub fn session_json(access_token: &str, expires_at: i64) -> String {
    json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": 3600,
        "expires_at": expires_at,
        "refresh_token": TEST_REFRESH_TOKEN,
        "user": {
            "id": TokenBuilder::DEFAULT_SUB,
            "aud": "authenticated",
            "role": "authenticated",
            "email": "user@example.com",
        },
    })
    .to_string()
}

/// A `Cookie` header value carrying a session for `access_token`, written exactly as
/// `@supabase/ssr` writes it for the project at `supabase_url` (`sb-<ref>-auth-token`,
/// `base64-` encoded, chunked past 3180 bytes). `None` when the URL gives no cookie name.
///
/// # Examples
///
/// ```
/// use supagate_testkit::{TestKeys, TokenBuilder, session_cookie_header};
///
/// let token = TokenBuilder::new().sign_hs256(&TestKeys::new());
/// let cookie = session_cookie_header(TestKeys::SUPABASE_URL, &token).unwrap();
/// assert!(cookie.starts_with("sb-testkitprojectref00-auth-token=base64-"));
/// ```
#[must_use]
pub fn session_cookie_header(supabase_url: &str, access_token: &str) -> Option<String> {
    session_cookie_header_at(supabase_url, access_token, TokenBuilder::DEFAULT_NOW + 3600)
}

/// [`session_cookie_header`] with the session's `expires_at` (Unix seconds) given, for a
/// session minted at the real time.
#[must_use]
pub fn session_cookie_header_at(
    supabase_url: &str,
    access_token: &str,
    expires_at: i64,
) -> Option<String> {
    use supagate_cookie::{CookieName, CookieOptions, Session, SessionWriter};
    let name = CookieName::from_supabase_url(supabase_url).ok()?;
    let writer = SessionWriter::new(name, CookieOptions::default()).ok()?;
    let session = Session::from_json(&session_json(access_token, expires_at)).ok()?;
    let set = writer.set(&session, &http::HeaderMap::new()).ok()?;
    let pairs: Vec<&str> = set
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .collect();
    Some(pairs.join("; "))
}

fn sign_input(input: &str, key: &EncodingKey, alg: Algorithm) -> String {
    let sig = provider_sign(input.as_bytes(), key, alg).unwrap_or_default();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn provider_sign(msg: &[u8], key: &EncodingKey, alg: Algorithm) -> Option<Vec<u8>> {
    // Always jsonwebtoken's pure-Rust provider, named explicitly: signing does not depend on
    // the verification backend under test, and jsonwebtoken's process-wide provider (which
    // panics when both of its backends are compiled in) is never consulted.
    let provider = &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
    let signer = (provider.signer_factory)(&alg, key).ok()?;
    signer.try_sign(msg).ok()
}
