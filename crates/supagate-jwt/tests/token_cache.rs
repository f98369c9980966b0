//! The verified-token cache never accepts what a fresh verification would refuse.
#![cfg(all(
    feature = "remote_jwks",
    any(feature = "aws_lc_rs", feature = "rust_crypto")
))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use supagate_jwt::{Error, FixedClock, Hs256Secret, RemoteJwks, TokenCacheConfig, Verifier};
use supagate_testkit::{MockJwks, TestKeys, TokenBuilder};

const NOW: i64 = TokenBuilder::DEFAULT_NOW;

fn rig() -> (MockJwks, RemoteJwks, FixedClock, Verifier) {
    let server = MockJwks::start(&TestKeys::new().jwks_json());
    let clock = FixedClock::new(NOW);
    let jwks = RemoteJwks::builder(server.url())
        .clock(clock.clone())
        .build()
        .unwrap();
    let verifier = Verifier::from_supabase_url(TestKeys::SUPABASE_URL)
        .hs256_secret(Hs256Secret::new(TestKeys::HS256_SECRET).unwrap())
        .key_source(jwks.clone())
        .clock(clock.clone())
        .token_cache(TokenCacheConfig::default().with_ttl(Duration::from_secs(60)))
        .build()
        .unwrap();
    (server, jwks, clock, verifier)
}

#[test]
fn cached_answers_equal_fresh_ones() {
    let (_s, _j, _c, v) = rig();
    let keys = TestKeys::new();
    for t in TokenBuilder::new().sign_all(&keys) {
        let first = v.verify(&t).unwrap();
        assert_eq!(v.verify(&t).unwrap(), first);
        #[derive(serde::Deserialize)]
        struct Sub {
            sub: String,
        }
        assert_eq!(
            v.verify_as::<Sub>(&t).unwrap().sub,
            TokenBuilder::DEFAULT_SUB
        );
        assert_eq!(v.verify_payload(&t).unwrap().claims(), &first);
    }
}

#[test]
fn the_same_signature_on_another_payload_is_not_a_hit() {
    let (_s, _j, _c, v) = rig();
    let t = TokenBuilder::new().sign_es256(&TestKeys::new());
    v.verify(&t).unwrap();
    let parts: Vec<&str> = t.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["app_metadata"]["role"] = Value::from("admin");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    assert_eq!(v.verify(&forged).unwrap_err(), Error::BadSignature);
}

#[test]
fn expiry_is_never_extended() {
    let (_s, _j, c, v) = rig();
    let t = TokenBuilder::new()
        .issued_at(NOW, 40)
        .sign_es256(&TestKeys::new());
    v.verify(&t).unwrap();
    c.advance(40 + 30); // exp plus the default leeway
    assert_eq!(v.verify(&t).unwrap_err(), Error::Expired);
}

#[test]
fn a_key_leaving_the_set_drops_its_cached_tokens() {
    let (s, j, c, v) = rig();
    let keys = TestKeys::new();
    let rs = TokenBuilder::new().sign_rs256(&keys);
    let es = TokenBuilder::new().sign_es256(&keys);
    v.verify(&rs).unwrap();
    v.verify(&es).unwrap();
    let mut set: Value = serde_json::from_str(&keys.jwks_json()).unwrap();
    set["keys"]
        .as_array_mut()
        .unwrap()
        .retain(|k| k["kid"] != TestKeys::RS256_KID);
    s.set_keys(&set.to_string());
    c.advance(5);
    j.refresh_now().unwrap();
    assert_eq!(v.verify(&rs).unwrap_err(), Error::UnknownKey);
    v.verify(&es).unwrap();
}

#[test]
fn invalidate_drops_cached_tokens_too() {
    let (s, j, _c, v) = rig();
    let t = TokenBuilder::new().sign_eddsa(&TestKeys::new());
    v.verify(&t).unwrap();
    s.set_keys(r#"{"keys":[]}"#);
    j.invalidate();
    assert_eq!(v.verify(&t).unwrap_err(), Error::UnknownKey);
}
