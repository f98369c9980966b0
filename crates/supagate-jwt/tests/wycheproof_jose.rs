//! Wycheproof JOSE vectors (`testdata/wycheproof/`) through our own key-loading and
//! verification path: JWK → `JwkSet` policy → `Verifier` → header allow-list, key selection,
//! pinned algorithm, signature, strict payload decoding.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use serde_json::{Value, json};
use supagate_jwt::{ConfigError, CryptoBackend, JwkSet, Verifier, dangerous};

fn vectors(file: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/wycheproof")
        .join(file);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Loads a key set the way an operator would: symmetric keys from configuration, public keys
/// as a published set.
fn verifier_for(keys: &[Value], backend: CryptoBackend) -> Result<Verifier, ConfigError> {
    let doc = json!({ "keys": keys }).to_string();
    let all_oct = keys.iter().all(|k| k["kty"] == "oct");
    let set = if all_oct {
        JwkSet::from_secret_json(&doc)?
    } else {
        JwkSet::from_json(&doc)?
    };
    Verifier::builder().jwk_set(set).backend(backend).build()
}

fn accepts(verifier: &Result<Verifier, ConfigError>, jws: &Value) -> bool {
    match (verifier, jws.as_str()) {
        (Ok(v), Some(token)) => dangerous::verify_signature_only(v, token).is_ok(),
        // tc17 is a JSON-serialization object: not a compact JWS.
        _ => false,
    }
}

/// The deliberate deviations of docs/security-catalog.md §3.3.
const JWS_DEVIATIONS: &[(u64, &str)] = &[
    (
        346,
        "PS384 token, group JWK pinned to PS256: the algorithm is pinned to the key",
    ),
    (
        350,
        "PS384 token, group JWK pinned to PS256: the algorithm is pinned to the key",
    ),
    (347, "ES512 (P-521) is not supported"),
    (351, "ES512 (P-521) is not supported"),
    (
        367,
        "vector bug C2SP/wycheproof#236: byte-identical to the valid tc357",
    ),
    (
        370,
        "vector bug C2SP/wycheproof#236: byte-identical to the valid tc357",
    ),
    (
        372,
        "a '?' in the header is not base64url: strict decoding (RFC 7515 §2)",
    ),
    (
        373,
        "a '?' in the payload is not base64url: strict decoding (RFC 7515 §2)",
    ),
];

#[test]
fn wycheproof_json_web_signature() {
    let file = vectors("json_web_signature_test.json");
    for backend in CryptoBackend::compiled() {
        let mut total = 0;
        let mut deviations = Vec::new();
        for group in file["testGroups"].as_array().unwrap() {
            let key = if group["public"].is_object() {
                &group["public"]
            } else {
                &group["private"]
            };
            let verifier = verifier_for(std::slice::from_ref(key), backend);
            for test in group["tests"].as_array().unwrap() {
                total += 1;
                let tc = test["tcId"].as_u64().unwrap();
                let expected = test["result"] == "valid";
                if accepts(&verifier, &test["jws"]) != expected {
                    deviations.push(tc);
                }
            }
        }
        let mut allowed: Vec<u64> = JWS_DEVIATIONS.iter().map(|(tc, _)| *tc).collect();
        allowed.sort_unstable();
        deviations.sort_unstable();
        assert_eq!(total, 401);
        assert_eq!(
            deviations, allowed,
            "{backend}: deviations other than §3.3's"
        );
        println!(
            "{backend}: JWS {}/{total} as Wycheproof expects",
            total - deviations.len()
        );
    }
}

#[test]
fn wycheproof_json_web_key() {
    let file = vectors("json_web_key_test.json");
    for backend in CryptoBackend::compiled() {
        let mut total = 0;
        let mut failures = Vec::new();
        for group in file["testGroups"].as_array().unwrap() {
            let set = if group["public"].is_object() {
                &group["public"]
            } else {
                &group["private"]
            };
            let verifier = verifier_for(set["keys"].as_array().unwrap(), backend);
            for test in group["tests"].as_array().unwrap() {
                total += 1;
                let expected = test["result"] == "valid";
                if accepts(&verifier, &test["jws"]) != expected {
                    failures.push(test["tcId"].as_u64().unwrap());
                }
            }
        }
        assert_eq!(total, 26);
        assert!(
            failures.is_empty(),
            "{backend}: JWK cases not as expected: {failures:?}"
        );
        println!("{backend}: JWK {total}/{total} as Wycheproof expects");
    }
}
