//! Crypto backends: every compiled backend verifies every algorithm; choosing one that is not
//! compiled is a configuration error, never a panic; debug output never shows secrets.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use supagate_jwt::{ConfigError, CryptoBackend, Error, FixedClock, Hs256Secret};
use supagate_testkit::{TestKeys, TokenBuilder};

#[test]
fn every_compiled_backend_verifies_every_algorithm() {
    let keys = TestKeys::new();
    let b = TokenBuilder::new();
    let tokens = [
        b.sign_hs256(&keys),
        b.sign_es256(&keys),
        b.sign_rs256(&keys),
        b.sign_eddsa(&keys),
    ];
    let compiled = CryptoBackend::compiled();
    assert!(!compiled.is_empty());
    for backend in compiled {
        let v = keys
            .verifier_builder()
            .backend(backend)
            .clock(FixedClock::new(TokenBuilder::DEFAULT_NOW))
            .build()
            .unwrap();
        assert_eq!(v.backend(), backend);
        for t in &tokens {
            v.verify(t).unwrap_or_else(|e| panic!("{backend}: {e}"));
        }
    }
}

#[test]
fn a_backend_that_is_not_compiled_is_a_config_error() {
    for backend in [CryptoBackend::AwsLc, CryptoBackend::RustCrypto] {
        let r = TestKeys::new().verifier_builder().backend(backend).build();
        if backend.is_compiled() {
            assert!(r.is_ok());
        } else {
            assert!(matches!(r, Err(ConfigError::BackendNotCompiled { .. })));
        }
    }
}

#[test]
fn both_backends_enabled_prefers_aws_lc_and_never_panics() {
    if CryptoBackend::AwsLc.is_compiled() && CryptoBackend::RustCrypto.is_compiled() {
        assert_eq!(CryptoBackend::preferred(), Some(CryptoBackend::AwsLc));
        // jsonwebtoken's process-wide provider would panic here ("Could not automatically
        // determine the process-level CryptoProvider"); the verifier never consults it.
        let v = TestKeys::new().verifier_at(TokenBuilder::DEFAULT_NOW);
        assert!(
            v.verify(&TokenBuilder::new().sign_es256(&TestKeys::new()))
                .is_ok()
        );
    }
}

#[test]
fn debug_output_never_contains_secrets_or_tokens() {
    let secret = TestKeys::HS256_SECRET;
    let v = TestKeys::new().verifier_at(TokenBuilder::DEFAULT_NOW);
    let token = TokenBuilder::new().sign_hs256(&TestKeys::new());
    let dbg = format!("{v:?} {:?}", Hs256Secret::new(secret).unwrap());
    assert!(!dbg.contains(secret));
    assert!(!dbg.contains(&token));
    // Errors name the problem, never the token or a claim value.
    let bad_iss = TokenBuilder::new()
        .claim("iss", "https://evil.example/auth/v1")
        .sign_hs256(&TestKeys::new());
    let err = v.verify(&bad_iss).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("evil"));
    assert!(!text.contains(&bad_iss));
    let claims = v.verify(&token).unwrap();
    assert!(!format!("{claims:?}").contains(&token));
}

#[test]
fn verifier_clock_can_be_moved_after_build() {
    let clock = FixedClock::new(TokenBuilder::DEFAULT_NOW);
    let v = TestKeys::new()
        .verifier_builder()
        .clock(clock.clone())
        .build()
        .unwrap();
    let token = TokenBuilder::new().sign_es256(&TestKeys::new());
    assert!(v.verify(&token).is_ok());
    clock.advance(3600 + 30);
    assert_eq!(v.verify(&token).unwrap_err(), Error::Expired);
}

#[test]
fn token_type_redacts() {
    let raw = TokenBuilder::new().sign_hs256(&TestKeys::new());
    let token = supagate_jwt::Token::new(raw.clone());
    assert!(!format!("{token:?}").contains(&raw[..20]));
    let v = TestKeys::new().verifier_at(TokenBuilder::DEFAULT_NOW);
    assert!(v.verify(token.expose()).is_ok());
}
