//! Third-party issuers (Supabase's third-party auth): a token's `iss` picks its issuer's keys,
//! audiences and required role, and never the keys of another issuer.
#![cfg(any(feature = "aws_lc_rs", feature = "rust_crypto"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::json;
use supagate_jwt::{
    ConfigError, Error, FixedClock, IssuedBy, Subject, SupabaseConfig, ThirdPartyIssuer, Variables,
    Verifier, dangerous,
};
use supagate_testkit::{
    MockOidc, TestKeys, TokenBuilder, encode_segments, sign_raw_hs256, sign_raw_provider,
};

const NOW: i64 = TokenBuilder::DEFAULT_NOW;
const CLERK: &str = "https://clerk.example.com";
const AUTH0: &str = "https://tenant.eu.auth0.com/";

fn clerk() -> ThirdPartyIssuer {
    ThirdPartyIssuer::new(CLERK)
        .audience(MockOidc::AUDIENCE)
        .jwk_set(MockOidc::jwk_set())
}

fn verifier_with(issuers: Vec<ThirdPartyIssuer>) -> Result<Verifier, ConfigError> {
    let mut b = TestKeys::new()
        .verifier_builder()
        .clock(FixedClock::new(NOW));
    for i in issuers {
        b = b.third_party_issuer(i);
    }
    b.build()
}

fn verifier() -> Verifier {
    verifier_with(vec![clerk()]).unwrap()
}

fn provider() -> TokenBuilder {
    TokenBuilder::third_party(CLERK)
}

#[test]
fn a_provider_token_is_accepted_with_its_own_subject() {
    let v = verifier();
    let claims = v.verify(&provider().sign_provider()).unwrap();
    assert_eq!(claims.sub, Subject::Other(MockOidc::SUB.to_owned()));
    assert_eq!(claims.sub.as_uuid(), None);
    assert_eq!(claims.issued_by, IssuedBy::ThirdParty);
    assert_eq!(claims.iss.as_deref(), Some(CLERK));
    assert_eq!(claims.postgres_role.as_deref(), Some("authenticated"));
    assert_eq!(claims.email.as_deref(), Some("provider-user@example.com"));
    // A UUID sub from a provider is a UUID, still issued by the third party.
    let uuid = provider()
        .claim("sub", TokenBuilder::DEFAULT_SUB)
        .sign_provider();
    let claims = v.verify(&uuid).unwrap();
    assert!(claims.sub.as_uuid().is_some());
    assert_eq!(claims.issued_by, IssuedBy::ThirdParty);
    // The project's own tokens are unaffected, on every algorithm.
    for token in TokenBuilder::new().sign_all(&TestKeys::new()) {
        let c = v.verify(&token).unwrap();
        assert_eq!(c.issued_by, IssuedBy::Supabase);
    }
}

#[test]
fn every_entry_point_agrees() {
    let v = verifier();
    let token = provider().sign_provider();
    assert!(v.verify(&token).is_ok());
    // The second call is a token-cache hit; it must say the same.
    assert_eq!(v.verify(&token).unwrap().issued_by, IssuedBy::ThirdParty);
    let verified = v.verify_payload(&token).unwrap();
    assert_eq!(verified.claims().issued_by, IssuedBy::ThirdParty);
    #[derive(serde::Deserialize)]
    struct Mine {
        sub: String,
        email: String,
    }
    let mine: Mine = v.verify_as(&token).unwrap();
    assert_eq!(mine.sub, MockOidc::SUB);
    assert_eq!(mine.email, "provider-user@example.com");
    // Without the cache, the same answers.
    let uncached = TestKeys::new()
        .verifier_builder()
        .clock(FixedClock::new(NOW))
        .no_token_cache()
        .third_party_issuer(clerk())
        .build()
        .unwrap();
    assert_eq!(
        uncached.verify(&token).unwrap().sub.to_string(),
        MockOidc::SUB
    );
    let mine: Mine = uncached.verify_as(&token).unwrap();
    assert_eq!(mine.sub, MockOidc::SUB);
    // verify_as holds the same rules: a wrong audience fails there too.
    let other_aud = provider().claim("aud", "another-app").sign_provider();
    assert_eq!(
        uncached.verify_as::<Mine>(&other_aud).err(),
        Some(Error::AudienceMismatch)
    );
    // The refresh decision path (expiry allowed) honours the issuer's rules too.
    let expired = provider().issued_at(NOW - 7200, 3600).sign_provider();
    assert_eq!(v.verify(&expired).unwrap_err(), Error::Expired);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let c = rt
        .block_on(dangerous::verify_allowing_expiry(&v, &expired))
        .unwrap();
    assert_eq!(c.issued_by, IssuedBy::ThirdParty);
    assert_eq!(
        rt.block_on(v.verify_async(&token)).unwrap().issued_by,
        IssuedBy::ThirdParty
    );
}

#[test]
fn audience_role_and_claims_are_the_issuers() {
    let v = verifier();
    let cases: Vec<(&str, TokenBuilder, Error)> = vec![
        (
            "wrong audience",
            provider().claim("aud", "another-app"),
            Error::AudienceMismatch,
        ),
        (
            "the project's audience is not the provider's",
            provider().claim("aud", "authenticated"),
            Error::AudienceMismatch,
        ),
        (
            "no audience",
            provider().remove("aud"),
            Error::MissingClaim { claim: "aud" },
        ),
        (
            "no role",
            provider().remove("role"),
            Error::MissingClaim { claim: "role" },
        ),
        (
            "service_role from a provider",
            provider().claim("role", "service_role"),
            Error::RoleMismatch,
        ),
        (
            "anon when authenticated is required",
            provider().claim("role", "anon"),
            Error::RoleMismatch,
        ),
        (
            "role of the wrong type",
            provider().claim("role", json!(["authenticated"])),
            Error::InvalidClaim { claim: "role" },
        ),
        (
            "no exp",
            provider().remove("exp"),
            Error::MissingClaim { claim: "exp" },
        ),
        (
            "no iat",
            provider().remove("iat"),
            Error::MissingClaim { claim: "iat" },
        ),
        (
            "expired",
            provider().issued_at(NOW - 7200, 3600),
            Error::Expired,
        ),
        (
            "ten-year lifetime",
            provider().issued_at(NOW, 10 * 365 * 86_400),
            Error::LifetimeTooLong,
        ),
        (
            "no sub",
            provider().remove("sub"),
            Error::MissingClaim { claim: "sub" },
        ),
        (
            "empty sub",
            provider().claim("sub", ""),
            Error::InvalidClaim { claim: "sub" },
        ),
        (
            "sub with a newline (log injection)",
            provider().claim("sub", "user_1\nadmin"),
            Error::InvalidClaim { claim: "sub" },
        ),
        (
            "sub of 256 bytes",
            provider().claim("sub", "u".repeat(256)),
            Error::InvalidClaim { claim: "sub" },
        ),
        (
            "numeric sub",
            provider().claim("sub", 42),
            Error::InvalidClaim { claim: "sub" },
        ),
        (
            "sub with a space",
            provider().claim("sub", "user 1"),
            Error::InvalidClaim { claim: "sub" },
        ),
        (
            "sub with a Unicode line separator",
            provider().claim("sub", "user_1\u{2028}admin"),
            Error::InvalidClaim { claim: "sub" },
        ),
        (
            "sub with a bidi override",
            provider().claim("sub", "\u{202E}nimda"),
            Error::InvalidClaim { claim: "sub" },
        ),
        (
            "sub of a zero-width space",
            provider().claim("sub", "\u{200B}"),
            Error::InvalidClaim { claim: "sub" },
        ),
        (
            "sub with a non-ASCII letter",
            provider().claim("sub", "usér"),
            Error::InvalidClaim { claim: "sub" },
        ),
    ];
    for (what, token, want) in cases {
        assert_eq!(
            v.verify(&token.sign_provider()).unwrap_err(),
            want,
            "{what}"
        );
    }
    // 255 bytes is the longest sub, and the role an issuer is configured with is the one it
    // must write.
    assert!(
        v.verify(&provider().claim("sub", "u".repeat(255)).sign_provider())
            .is_ok()
    );
    let anon = verifier_with(vec![clerk().role("anon")]).unwrap();
    assert!(
        anon.verify(&provider().claim("role", "anon").sign_provider())
            .is_ok()
    );
    assert_eq!(
        anon.verify(&provider().sign_provider()).unwrap_err(),
        Error::RoleMismatch
    );
}

#[test]
fn a_token_never_selects_another_issuers_keys() {
    let v = verifier();
    let keys = TestKeys::new();
    // HS256 claiming the provider, even signed with the project's own secret: refused (a
    // provider's non-UUID sub is refused first, as the project's tokens must have UUIDs).
    let hs = provider().sign_hs256(&keys);
    assert_eq!(
        v.verify(&hs).unwrap_err(),
        Error::InvalidClaim { claim: "sub" }
    );
    let hs = provider()
        .claim("sub", TokenBuilder::DEFAULT_SUB)
        .sign_hs256(&keys);
    assert_eq!(v.verify(&hs).unwrap_err(), Error::AlgNotAllowed);
    let mine: Result<serde_json::Value, _> = v.verify_as(&hs);
    assert_eq!(mine.unwrap_err(), Error::AlgNotAllowed);
    // A project-signed token (a Supabase access token) claiming the provider's iss.
    let supabase_as_provider = TokenBuilder::new().claim("iss", CLERK);
    for token in [
        supabase_as_provider.sign_es256(&keys),
        supabase_as_provider.sign_rs256(&keys),
        supabase_as_provider.sign_eddsa(&keys),
    ] {
        assert_eq!(v.verify(&token).unwrap_err(), Error::UnknownKey);
    }
    assert_eq!(
        v.verify(&supabase_as_provider.sign_hs256(&keys))
            .unwrap_err(),
        Error::AlgNotAllowed
    );
    // A provider-signed token claiming the project's iss, or no iss, or an unlisted one: the
    // project's keys decide, and they do not have the provider's kid.
    for iss in [
        Some(TestKeys::ISSUER),
        None,
        Some("https://other.example.com"),
    ] {
        let t = match iss {
            Some(iss) => provider().claim("iss", iss),
            None => provider().remove("iss"),
        };
        assert_eq!(
            v.verify(&t.sign_provider()).unwrap_err(),
            Error::UnknownKey,
            "{iss:?}"
        );
    }
    // The provider's key under the project's kid: a bad signature, not an acceptance.
    let spoofed = TokenBuilder::new()
        .header("kid", TestKeys::ES256_KID)
        .sign_provider();
    assert_eq!(v.verify(&spoofed).unwrap_err(), Error::BadSignature);
    // The project's ES256 key under the provider's kid, claiming the provider.
    let spoofed = provider().header("kid", MockOidc::KID).sign_es256(&keys);
    assert_eq!(v.verify(&spoofed).unwrap_err(), Error::BadSignature);
    // alg none, no kid, an alg the provider's key is not pinned to.
    let none = format!(
        "{}.",
        encode_segments(
            br#"{"alg":"none","typ":"JWT"}"#,
            serde_json::Value::Object(provider().claims().clone())
                .to_string()
                .as_bytes()
        )
    );
    assert_eq!(v.verify(&none).unwrap_err(), Error::AlgNotAllowed);
    let no_kid = provider().remove_header("kid").sign_provider();
    assert_eq!(v.verify(&no_kid).unwrap_err(), Error::UnknownKey);
    let wrong_alg = provider().header("alg", "ES384").sign_provider();
    assert_eq!(v.verify(&wrong_alg).unwrap_err(), Error::AlgNotAllowed);
}

#[test]
fn odd_issuer_spellings_pick_nothing_they_should_not() {
    let v = verifier();
    // Near misses are not the provider: the project's keys refuse the provider's kid.
    for iss in [
        "https://clerk.example.com/",
        "https://CLERK.example.com",
        "https://clerk.example.com ",
        "https://clerk.example.com.evil.test",
    ] {
        let t = provider().claim("iss", iss).sign_provider();
        assert_eq!(v.verify(&t).unwrap_err(), Error::UnknownKey, "{iss}");
    }
    // The claim name in other cases is another claim: no `iss` at all, so the project's keys
    // decide (and do not have the provider's kid).
    for key in ["Iss", "ISS", "iss "] {
        let mut claims = provider().remove("iss").claims().clone();
        claims.insert(key.to_owned(), CLERK.into());
        let payload = serde_json::Value::Object(claims).to_string();
        let header = format!(r#"{{"alg":"ES256","kid":"{}","typ":"JWT"}}"#, MockOidc::KID);
        let t = sign_raw_provider(header.as_bytes(), payload.as_bytes());
        assert_eq!(v.verify(&t).unwrap_err(), Error::UnknownKey, "{key}");
    }
    // JSON escapes decode to the same string in the peek and the full parse: accepted.
    let payload = serde_json::Value::Object(provider().claims().clone())
        .to_string()
        .replace("https://clerk.example.com", r"https:\/\/clerk.example.com");
    assert!(payload.contains(r"\/"));
    let header = format!(r#"{{"alg":"ES256","kid":"{}","typ":"JWT"}}"#, MockOidc::KID);
    let t = sign_raw_provider(header.as_bytes(), payload.as_bytes());
    assert_eq!(v.verify(&t).unwrap().iss.as_deref(), Some(CLERK));
    // `iss` twice: the peek gives up, the project's keys refuse the provider's kid, and a
    // project-signed one fails the full parse.
    let claims = serde_json::Value::Object(provider().remove("iss").claims().clone()).to_string();
    let dup = format!(
        r#"{{"iss":"{}","iss":"{CLERK}",{}"#,
        TestKeys::ISSUER,
        &claims[1..]
    );
    let t = sign_raw_provider(header.as_bytes(), dup.as_bytes());
    assert_eq!(v.verify(&t).unwrap_err(), Error::UnknownKey);
    let t = sign_raw_hs256(
        br#"{"alg":"HS256","typ":"JWT"}"#,
        dup.as_bytes(),
        TestKeys::HS256_SECRET.as_bytes(),
    );
    assert_eq!(v.verify(&t).unwrap_err(), Error::MalformedClaims);
    // A payload that is not JSON at all: refused, never a panic.
    let t = sign_raw_provider(header.as_bytes(), b"\xff\xfe not json");
    assert!(v.verify(&t).is_err());
}

#[test]
fn several_issuers_each_with_their_own_audiences() {
    let v = verifier_with(vec![
        clerk(),
        ThirdPartyIssuer::new(AUTH0)
            .audiences(["https://api.example.com", "second-api"])
            .jwk_set(MockOidc::jwk_set()),
    ])
    .unwrap();
    assert_eq!(v.third_party_issuers().collect::<Vec<_>>(), [CLERK, AUTH0]);
    let auth0 = TokenBuilder::third_party(AUTH0).claim("sub", "auth0|64f1c2");
    assert_eq!(
        v.verify(&auth0.clone().claim("aud", "second-api").sign_provider())
            .unwrap()
            .sub
            .to_string(),
        "auth0|64f1c2"
    );
    // Clerk's audience is not Auth0's.
    assert_eq!(
        v.verify(&auth0.sign_provider()).unwrap_err(),
        Error::AudienceMismatch
    );
    assert_eq!(
        v.verify(
            &provider()
                .claim("aud", json!(["second-api"]))
                .sign_provider()
        )
        .unwrap_err(),
        Error::AudienceMismatch
    );
}

#[test]
fn build_refuses_unusable_issuers() {
    let problem = |issuers: Vec<ThirdPartyIssuer>| match verifier_with(issuers) {
        Err(ConfigError::InvalidThirdPartyIssuer { index, problem }) => (index, problem),
        other => panic!("expected a third-party error, got {other:?}"),
    };
    let keyed = |iss: &str| {
        ThirdPartyIssuer::new(iss)
            .audience("a")
            .jwk_set(MockOidc::jwk_set())
    };
    for bad in [
        "",
        " https://clerk.example.com",
        "http://clerk.example.com",
        "clerk.example.com",
        "https://user:pw@clerk.example.com",
        "https://clerk.example.com?x=1",
        "https://clerk.example.com#f",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
    ] {
        let (index, p) = problem(vec![keyed(bad)]);
        assert_eq!(index, 0);
        assert!(p.contains("https URL"), "{bad}: {p}");
        // The message never repeats the issuer string.
        let text = ConfigError::InvalidThirdPartyIssuer { index, problem: p }.to_string();
        assert!(bad.is_empty() || !text.contains(bad), "{text}");
    }
    assert!(
        problem(vec![keyed(TestKeys::ISSUER)])
            .1
            .contains("project's own")
    );
    assert_eq!(problem(vec![keyed(CLERK), keyed(CLERK)]).0, 1);
    assert!(
        problem(vec![keyed(CLERK), keyed(CLERK)])
            .1
            .contains("twice")
    );
    let no_aud = ThirdPartyIssuer::new(CLERK).jwk_set(MockOidc::jwk_set());
    assert!(problem(vec![no_aud]).1.contains("audience"));
    assert!(
        problem(vec![keyed(CLERK).audiences([""])])
            .1
            .contains("audience")
    );
    assert!(
        problem(vec![keyed(CLERK).role("service_role")])
            .1
            .contains("role")
    );
    assert!(problem(vec![keyed(CLERK).role("")]).1.contains("role"));
    assert!(
        problem(vec![ThirdPartyIssuer::new(CLERK).audience("a")])
            .1
            .contains("no usable key")
    );
    let oct = supagate_jwt::JwkSet::from_secret_json(
        r#"{"keys":[{"kty":"oct","k":"YW4tZXhhbXBsZS1zZWNyZXQtb2YtYXQtbGVhc3QtMzItYnl0ZXM","alg":"HS256"}]}"#,
    )
    .unwrap();
    assert!(
        problem(vec![keyed(CLERK).jwk_set(oct)])
            .1
            .contains("symmetric")
    );
    // Only third-party keys and no project key: a verifier for a Clerk-only backend.
    let only = Verifier::builder()
        .third_party_issuer(clerk())
        .clock(FixedClock::new(NOW))
        .build()
        .unwrap();
    assert!(only.verify(&provider().sign_provider()).is_ok());
    assert_eq!(
        only.verify(&TokenBuilder::new().sign_hs256(&TestKeys::new()))
            .unwrap_err(),
        Error::AlgNotAllowed
    );
    // Debug names the issuer and audiences, never key material.
    let debug = format!("{:?}", verifier());
    assert!(debug.contains(CLERK), "{debug}");
    assert!(!debug.contains("GwmFilFjkjVmgcYy"), "{debug}");
}

#[test]
fn environment_variable_names_each_mistake() {
    let url = ("SUPABASE_URL", TestKeys::SUPABASE_URL);
    let secret = ("SUPABASE_JWT_SECRET", TestKeys::HS256_SECRET);
    let jwks_json = TestKeys::new().jwks_json();
    let jwks = ("SUPABASE_JWKS", jwks_json.as_str());
    let config = |list: &str| {
        SupabaseConfig::from_variables(&Variables::from_pairs([
            url,
            secret,
            jwks,
            ("SUPABASE_THIRD_PARTY_ISSUERS", list),
        ]))
    };
    for bad in [
        "{nope",
        r#"{"issuer":"https://clerk.example.com","audience":["a"]}"#,
        r#"[{"issuer":"https://clerk.example.com"}]"#,
        r#"[{"issuer":"https://clerk.example.com","audiences":["a"]}]"#,
        r#"[{"issuer":"http://clerk.example.com","audience":["a"]}]"#,
        r#"[{"issuer":"https://clerk.example.com","audience":[]}]"#,
        r#"[{"issuer":"https://clerk.example.com","audience":"a","role":"service_role"}]"#,
        r#"[{"issuer":"https://testkitprojectref00.supabase.co/auth/v1","audience":"a"}]"#,
        r#"[{"issuer":"https://clerk.example.com","audience":"a","jwks_url":"http://evil.example/jwks"}]"#,
    ] {
        let e = config(bad).unwrap_err();
        assert_eq!(e.variable(), "SUPABASE_THIRD_PARTY_ISSUERS", "{bad}");
    }
    if cfg!(feature = "remote_jwks") {
        let c = config(
            r#"[{"issuer":"https://clerk.example.com","audience":"a"},
                {"issuer":"https://securetoken.google.com/p","audience":["p"],"jwks_url":"https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com"}]"#,
        )
        .unwrap();
        assert!(
            c.describe_keys()
                .contains("third-party issuer https://clerk.example.com (audience a)")
        );
        let v = c.verifier().unwrap();
        assert_eq!(v.third_party_issuers().count(), 2);
    } else {
        let e = config(r#"[{"issuer":"https://clerk.example.com","audience":"a"}]"#).unwrap_err();
        assert!(e.to_string().contains("remote_jwks"), "{e}");
    }
}

#[test]
fn inline_jwks_with_the_legacy_secret_beside_ec_keys() {
    // Supabase's shape of SUPABASE_JWKS: the legacy secret as an `oct` key (with its kid)
    // next to the asymmetric signing keys, as a bare array.
    let mut keys: serde_json::Value = serde_json::from_str(&TestKeys::new().jwks_json()).unwrap();
    let mut keys = keys["keys"].take();
    let k = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        TestKeys::HS256_SECRET,
    );
    keys.as_array_mut().unwrap().push(json!({
        "kty": "oct", "k": k, "alg": "HS256", "kid": "legacy-hs256", "key_ops": ["verify"]
    }));
    let jwks = keys.to_string();
    let config = SupabaseConfig::from_variables(&Variables::from_pairs([
        ("SUPABASE_URL", TestKeys::SUPABASE_URL),
        ("SUPABASE_JWKS", jwks.as_str()),
    ]))
    .unwrap();
    assert!(
        config.describe_keys().contains("3 public and 1 HMAC"),
        "{}",
        config.describe_keys()
    );
    let v = config
        .verifier_builder()
        .unwrap()
        .clock(FixedClock::new(NOW))
        .build()
        .unwrap();
    let keys = TestKeys::new();
    // Every algorithm verifies: HS256 with the legacy kid and without (the one HS256 key).
    for token in TokenBuilder::new().sign_all(&keys) {
        assert!(v.verify(&token).is_ok());
    }
    let with_kid = TokenBuilder::new()
        .header("kid", "legacy-hs256")
        .sign_hs256(&keys);
    assert!(v.verify(&with_kid).is_ok());
    // Algorithm confusion stays impossible: an HS256 token naming an EC kid.
    let confused = TokenBuilder::new()
        .header("kid", TestKeys::ES256_KID)
        .sign_hs256(&keys);
    assert_eq!(v.verify(&confused).unwrap_err(), Error::AlgNotAllowed);
    // Nothing is fetched: the set is authoritative.
    assert!(config.describe_keys().contains("nothing fetched"));
}

#[cfg(feature = "remote_jwks")]
mod discovery {
    use std::time::{Duration, Instant};
    use supagate_core::RequestError as _;

    use supagate_jwt::{Error, IssuedBy, RemoteJwks, ThirdPartyIssuer, Verifier};
    use supagate_testkit::{Behaviour, MockOidc, TestKeys, TokenBuilder};

    fn rig(provider: &MockOidc) -> Verifier {
        TestKeys::new()
            .verifier_builder()
            .third_party_issuer(
                ThirdPartyIssuer::discover(provider.issuer()).audience(MockOidc::AUDIENCE),
            )
            .build()
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keys_are_found_by_discovery_on_first_use() {
        let provider = MockOidc::start();
        let v = rig(&provider);
        assert_eq!(provider.requests(), 0, "nothing is fetched at build");
        let token = provider.token().sign_provider();
        // Synchronously, the first use starts the fetch and answers 503 at once.
        assert_eq!(v.verify(&token).unwrap_err(), Error::KeysUnavailable);
        let claims = v.verify_async(&token).await.unwrap();
        assert_eq!(claims.issued_by, IssuedBy::ThirdParty);
        assert_eq!(claims.sub.to_string(), MockOidc::SUB);
        assert_eq!(
            provider.requests(),
            2,
            "the configuration document, then the set"
        );
        // Then from the cache of keys (and of tokens): no more requests.
        for _ in 0..20 {
            v.verify_async(&provider.token().claim("jti", "x").sign_provider())
                .await
                .unwrap();
        }
        assert_eq!(provider.requests(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_or_dead_provider_never_holds_up_the_projects_tokens() {
        let provider = MockOidc::start();
        provider.set_behaviour(Behaviour::Delay(Duration::from_secs(3)));
        let v = rig(&provider);
        let theirs = provider.token().sign_provider();
        let ours = TokenBuilder::now().sign_es256(&TestKeys::new());
        let slow = {
            let (v, t) = (v.clone(), theirs.clone());
            tokio::spawn(async move { v.verify_async(&t).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        for _ in 0..50 {
            assert_eq!(
                v.verify_async(&ours).await.unwrap().issued_by,
                IssuedBy::Supabase
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the project's tokens waited on the provider: {:?}",
            started.elapsed()
        );
        // The provider's own token waits for its (slow) fetch and then verifies.
        assert!(slow.await.unwrap().is_ok());

        // A dead provider: its tokens are 503 (never 401, never accepted), ours still verify.
        let dead = MockOidc::start();
        dead.set_behaviour(Behaviour::Status(500));
        let v = rig(&dead);
        let err = v
            .verify_async(&dead.token().sign_provider())
            .await
            .unwrap_err();
        assert_eq!(err, Error::KeysUnavailable);
        assert_eq!(err.status(), http::StatusCode::SERVICE_UNAVAILABLE);
        assert!(v.verify_async(&ours).await.is_ok());
        let hangup = MockOidc::start();
        hangup.set_behaviour(Behaviour::Hangup);
        let v = rig(&hangup);
        assert_eq!(
            v.verify_async(&hangup.token().sign_provider())
                .await
                .unwrap_err(),
            Error::KeysUnavailable
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_unknown_kids_costs_the_provider_a_bounded_number_of_fetches() {
        let provider = MockOidc::start();
        let v = rig(&provider);
        v.verify_async(&provider.token().sign_provider())
            .await
            .unwrap();
        let before = provider.requests();
        for i in 0..200 {
            let t = provider
                .token()
                .header("kid", format!("forged-{i}"))
                .sign_provider();
            assert_eq!(v.verify_async(&t).await.unwrap_err(), Error::UnknownKey);
        }
        // At most one refetch inside the cooldown (discovery is kept while the set fetch works).
        assert!(
            provider.requests() - before <= 1,
            "{} fetches for 200 forged kids",
            provider.requests() - before
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_hmac_token_naming_a_slow_provider_does_not_wait_for_it() {
        // The project's keys: the legacy secret as an `oct` key with a kid (SUPABASE_JWKS's
        // shape), so an HS256 token with another kid is "unknown key" there.
        let oct = supagate_jwt::JwkSet::from_secret_json(&format!(
            r#"{{"keys":[{{"kty":"oct","kid":"legacy","alg":"HS256","k":"{}"}}]}}"#,
            base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                TestKeys::HS256_SECRET
            )
        ))
        .unwrap();
        let provider = MockOidc::start();
        provider.set_behaviour(Behaviour::Delay(Duration::from_secs(3)));
        let v = Verifier::builder()
            .jwk_set(oct)
            .third_party_issuer(
                ThirdPartyIssuer::discover(provider.issuer()).audience(MockOidc::AUDIENCE),
            )
            .build()
            .unwrap();
        // Start the provider's (slow) fetch.
        let slow = {
            let (v, t) = (v.clone(), provider.token().sign_provider());
            tokio::spawn(async move { v.verify_async(&t).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let hs = provider
            .token()
            .header("kid", "x")
            .sign_hs256(&TestKeys::new());
        let started = Instant::now();
        assert_eq!(v.verify_async(&hs).await.unwrap_err(), Error::UnknownKey);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "waited on the provider: {:?}",
            started.elapsed()
        );
        assert!(slow.await.unwrap().is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_key_leaving_the_providers_set_drops_its_cached_tokens() {
        let provider = MockOidc::start();
        let source = RemoteJwks::discover(provider.issuer()).build().unwrap();
        let v = TestKeys::new()
            .verifier_builder()
            .third_party_issuer(
                ThirdPartyIssuer::new(provider.issuer())
                    .audience(MockOidc::AUDIENCE)
                    .key_source(source.clone()),
            )
            .build()
            .unwrap();
        let token = provider.token().sign_provider();
        assert!(v.verify_async(&token).await.is_ok());
        assert!(v.verify(&token).is_ok(), "a cache hit");
        // The provider rotates its key away; the set is fetched again.
        provider.set_keys(r#"{"keys":[]}"#);
        source.invalidate();
        assert!(v.verify_async(&token).await.is_err());
        assert!(
            v.verify(&token).is_err(),
            "the cached entry went with its key"
        );
        // The project's tokens never noticed.
        assert!(
            v.verify_async(&TokenBuilder::now().sign_es256(&TestKeys::new()))
                .await
                .is_ok()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_verification_cancelled_while_waiting_leaves_the_fetch_to_finish() {
        let provider = MockOidc::start();
        provider.set_behaviour(Behaviour::Delay(Duration::from_millis(300)));
        let v = rig(&provider);
        let token = provider.token().sign_provider();
        let waiting = {
            let (v, t) = (v.clone(), token.clone());
            tokio::spawn(async move { v.verify_async(&t).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        waiting.abort(); // the client went away mid-wait
        assert!(waiting.await.unwrap_err().is_cancelled());
        // The fetch ran on: the next request finds the keys, and nothing was fetched twice.
        tokio::time::sleep(Duration::from_millis(900)).await;
        provider.set_behaviour(Behaviour::Status(500));
        assert!(v.verify(&token).is_ok(), "keys at hand, no wait");
        assert_eq!(provider.requests(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_naming_a_dead_provider_costs_it_a_bounded_number_of_requests() {
        let provider = MockOidc::start();
        provider.set_behaviour(Behaviour::Status(500));
        let v = rig(&provider);
        let tasks: Vec<_> = (0..100)
            .map(|i| {
                let (v, t) = (v.clone(), provider.token().claim("jti", i).sign_provider());
                tokio::spawn(async move { v.verify_async(&t).await })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap_err(), Error::KeysUnavailable);
        }
        // One discovery attempt, then the cooldown: not one request per token.
        assert!(provider.requests() <= 2, "{} requests", provider.requests());
    }

    #[test]
    fn waiting_for_a_provider_never_blocks_the_worker_thread() {
        // A current-thread runtime: if the wait blocked, the ticker would not run.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let provider = MockOidc::start();
            provider.set_behaviour(Behaviour::Delay(Duration::from_millis(500)));
            let v = rig(&provider);
            let ticks = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
            let ticker = {
                let ticks = ticks.clone();
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        ticks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                })
            };
            assert!(
                v.verify_async(&provider.token().sign_provider())
                    .await
                    .is_ok()
            );
            ticker.abort();
            let n = ticks.load(std::sync::atomic::Ordering::SeqCst);
            assert!(n >= 20, "the ticker ran {n} times during a 500 ms wait");
        });
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_discovery_document_for_another_issuer_is_refused() {
        // The provider's document names its own issuer; a verifier told a different issuer
        // string at the same address (a trailing slash) must not adopt its keys.
        let provider = MockOidc::start();
        let lying = format!("{}/", provider.issuer());
        let source = RemoteJwks::discover(lying.as_str()).build().unwrap();
        let v = TestKeys::new()
            .verifier_builder()
            .third_party_issuer(
                ThirdPartyIssuer::new(lying.as_str())
                    .audience(MockOidc::AUDIENCE)
                    .key_source(source),
            )
            .build()
            .unwrap();
        let t = provider
            .token()
            .claim("iss", lying.as_str())
            .sign_provider();
        assert_eq!(
            v.verify_async(&t).await.unwrap_err(),
            Error::KeysUnavailable
        );
    }
}
