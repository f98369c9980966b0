//! [`MockOidc`]: a third-party OpenID Connect provider on a loopback port (discovery and JWK
//! set), with its own signing key, issuer and `sub` format, as Clerk, Auth0 or Firebase Auth
//! look to a Supabase backend.

use jsonwebtoken::EncodingKey;
use serde_json::json;
use supagate_jwt::JwkSet;

use crate::{Behaviour, MockJwks, TokenBuilder, der};

const PKCS8: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQggoV9a/1htTbU2MJGjnXnN1m1GDjVwR42FAzKNdufPrKhRANCAAQbCYWKUWOSNWaBxjKuukef0kbu6HH4WUKQrhnfP7t4G8/ClLqfHnapgesVlQ3Hi1HNr1dW4Gm25mFdV0CKwRwA";
const X: &str = "GwmFilFjkjVmgcYyrrpHn9JG7uhx-FlCkK4Z3z-7eBs";
const Y: &str = "z8KUup8edqmB6xWVDceLUc2vV1bgabbmYV1XQIrBHAA";

/// The provider's signing key (ES256, [`MockOidc::KID`]).
pub(crate) fn provider_key() -> EncodingKey {
    EncodingKey::from_ec_der(&der(PKCS8))
}

/// A third-party OpenID Connect provider on `127.0.0.1` (port 0), stopped on drop: it serves
/// `/.well-known/openid-configuration` (naming its issuer, `http://127.0.0.1:<port>`, and its
/// `jwks_uri`) and its JWK set, and its tokens come from [`MockOidc::token`]. Its key is its
/// own (not one of [`TestKeys`](crate::TestKeys)) and its users' ids are not UUIDs
/// ([`MockOidc::SUB`], Clerk's shape).
///
/// # Examples
///
/// ```
/// use supagate_jwt::{IssuedBy, ThirdPartyIssuer};
/// use supagate_testkit::{MockOidc, TestKeys};
///
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(async {
/// let provider = MockOidc::start();
/// let verifier = TestKeys::new()
///     .verifier_builder()
///     .third_party_issuer(ThirdPartyIssuer::discover(provider.issuer()).audience(MockOidc::AUDIENCE))
///     .build()?;
///
/// let token = provider.token().sign_provider();
/// let claims = verifier.verify_async(&token).await?; // discovery, then the set, then verify
/// assert_eq!(claims.sub.to_string(), MockOidc::SUB);
/// assert_eq!(claims.issued_by, IssuedBy::ThirdParty);
/// assert_eq!(provider.requests(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct MockOidc {
    server: MockJwks,
    issuer: String,
}

impl MockOidc {
    /// `kid` of the provider's ES256 key.
    pub const KID: &'static str = "testkit-oidc-es256-1";
    /// The audience its tokens carry by default (a provider's application id).
    pub const AUDIENCE: &'static str = "testkit-third-party-app";
    /// The `sub` its tokens carry by default: a provider user id, not a UUID.
    pub const SUB: &'static str = "user_2kTestkitProviderUserId9";

    /// Starts the provider.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound (a test environment problem).
    #[must_use]
    pub fn start() -> MockOidc {
        let server = MockJwks::start(&Self::jwks_json());
        let issuer = format!("http://{}", server.addr());
        server.set_route(
            "/.well-known/openid-configuration",
            json!({
                "issuer": issuer,
                "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
                "id_token_signing_alg_values_supported": ["ES256"],
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
            })
            .to_string(),
        );
        MockOidc { server, issuer }
    }

    /// Its issuer, `http://127.0.0.1:<port>`: the `iss` of its tokens.
    #[must_use]
    pub fn issuer(&self) -> String {
        self.issuer.clone()
    }

    /// Claims as this provider writes them ([`TokenBuilder::third_party`] with its issuer),
    /// issued now (the system clock: a running server lives in real time) for 3600 s: sign
    /// them with [`TokenBuilder::sign_provider`].
    #[must_use]
    pub fn token(&self) -> TokenBuilder {
        TokenBuilder::third_party(&self.issuer).issued_at(crate::unix_now(), 3600)
    }

    /// The provider's public keys (one ES256 key, [`MockOidc::KID`]).
    #[must_use]
    pub fn jwks_json() -> String {
        json!({"keys": [{
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig",
            "kid": Self::KID, "x": X, "y": Y,
        }]})
        .to_string()
    }

    /// [`MockOidc::jwks_json`] parsed: for a [`supagate_jwt::ThirdPartyIssuer`] with static
    /// keys.
    #[must_use]
    pub fn jwk_set() -> JwkSet {
        JwkSet::from_json(&Self::jwks_json()).unwrap_or_default()
    }

    /// Replaces the served key set (a rotation; `{"keys":[]}` removes every key).
    pub fn set_keys(&self, jwks_json: &str) {
        self.server.set_keys(jwks_json);
    }

    /// Sets how the following requests (discovery and set alike) are answered.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.server.set_behaviour(behaviour);
    }

    /// How many requests it received (discovery and set together).
    #[must_use]
    pub fn requests(&self) -> u64 {
        self.server.requests()
    }
}
