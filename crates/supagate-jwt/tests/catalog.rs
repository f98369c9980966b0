//! One named test per row of `docs/security-catalog.md` §1 A–D (token header,
//! signature and algorithm, claims, key material), with the behaviour that table asks for.
//!
//! Rows 55–60 are role policy: the verifier's part is to expose the claims the policy needs,
//! unchanged and typed; the 403 itself is `supagate-policy`'s. Rows 72–75 describe a remote JWKS
//! client; the static key ring's share is tested here, the fetching behaviour with the remote
//! source.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;
use supagate_core::RequestError as _;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use serde_json::{Value, json};
use supagate_jwt::{
    ConfigError, CryptoBackend, Error, FixedClock, Hs256Secret, JwkSet, KeyRejection, KeySource,
    PreparedKeys, Verifier, dangerous,
};
use supagate_testkit::{TestKeys, TokenBuilder, encode_segments, sign_raw_es256, sign_raw_hs256};

const NOW: i64 = TokenBuilder::DEFAULT_NOW;

fn keys() -> TestKeys {
    TestKeys::new()
}

fn verifier() -> Verifier {
    keys().verifier_at(NOW)
}

fn refused(result: Result<impl std::fmt::Debug, Error>, expected: Error) {
    match result {
        Ok(v) => panic!("accepted, expected {expected:?}: {v:?}"),
        Err(e) => {
            assert_eq!(e, expected);
            assert_eq!(e.status(), http::StatusCode::UNAUTHORIZED);
            assert_eq!(e.error_code(), Some("invalid_token"));
        }
    }
}

fn claims_json() -> Vec<u8> {
    Value::Object(TokenBuilder::new().claims().clone())
        .to_string()
        .into_bytes()
}

/// A token whose header is `header` (raw JSON), with the default claims, HS256-signed with the
/// test secret over the raw bytes.
fn hs_with_header(header: &str) -> String {
    sign_raw_hs256(
        header.as_bytes(),
        &claims_json(),
        TestKeys::HS256_SECRET.as_bytes(),
    )
}

fn es_with_header(header: &str) -> String {
    sign_raw_es256(header.as_bytes(), &claims_json(), &keys())
}

fn with_signature(token: &str, sig: &str) -> String {
    let (input, _) = token.rsplit_once('.').unwrap();
    format!("{input}.{sig}")
}

fn sig_bytes(token: &str) -> Vec<u8> {
    B64.decode(token.rsplit_once('.').unwrap().1).unwrap()
}

// ---------------------------------------------------------------------------------------------
// A. Token header
// ---------------------------------------------------------------------------------------------

#[test]
fn row_01_alg_none_in_every_casing() {
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#);
        let unsigned = format!("{}.", encode_segments(header.as_bytes(), &claims_json()));
        refused(verifier().verify(&unsigned), Error::AlgNotAllowed);
        let signed = hs_with_header(&header);
        refused(verifier().verify(&signed), Error::AlgNotAllowed);
    }
}

#[test]
fn row_02_alg_not_pinned_to_selected_key() {
    let es_kid = TestKeys::ES256_KID;
    let ps = es_with_header(&format!(r#"{{"alg":"PS256","kid":"{es_kid}"}}"#));
    refused(verifier().verify(&ps), Error::AlgNotAllowed);
    let hs384 = hs_with_header(r#"{"alg":"HS384"}"#);
    refused(verifier().verify(&hs384), Error::AlgNotAllowed);
    let rs_on_es = es_with_header(&format!(r#"{{"alg":"RS256","kid":"{es_kid}"}}"#));
    refused(verifier().verify(&rs_on_es), Error::AlgNotAllowed);
}

#[test]
fn row_03_alg_case_and_whitespace_variants() {
    for alg in ["hs256", "HS256 ", " HS256", "Hs256"] {
        let token = hs_with_header(&format!(r#"{{"alg":"{alg}"}}"#));
        refused(verifier().verify(&token), Error::AlgNotAllowed);
    }
}

#[test]
fn row_04_real_but_unsupported_algs() {
    for alg in ["ES512", "ES256K", "Ed448"] {
        let token = es_with_header(&format!(
            r#"{{"alg":"{alg}","kid":"{}"}}"#,
            TestKeys::ES256_KID
        ));
        refused(verifier().verify(&token), Error::UnsupportedAlg);
    }
    // RS512 is implemented, but no key is pinned to it.
    let token = es_with_header(&format!(
        r#"{{"alg":"RS512","kid":"{}"}}"#,
        TestKeys::RS256_KID
    ));
    refused(verifier().verify(&token), Error::AlgNotAllowed);
}

#[test]
fn row_05_duplicate_header_members() {
    refused(
        verifier().verify(&hs_with_header(r#"{"alg":"HS256","alg":"HS256"}"#)),
        Error::Malformed,
    );
    let kid = TestKeys::ES256_KID;
    let dup_kid = es_with_header(&format!(r#"{{"alg":"ES256","kid":"{kid}","kid":"{kid}"}}"#));
    refused(verifier().verify(&dup_kid), Error::Malformed);
    let dup_typ = hs_with_header(r#"{"alg":"HS256","typ":"JWT","typ":"JWT"}"#);
    refused(verifier().verify(&dup_typ), Error::Malformed);
}

#[test]
fn row_06_crit_in_any_form() {
    for crit in [
        r#""crit":[]"#,
        r#""crit":["exp"]"#,
        r#""crit":["b64"],"b64":false"#,
        r#""crit":["x"]"#,
    ] {
        let token = hs_with_header(&format!(r#"{{"alg":"HS256",{crit}}}"#));
        let err = verifier().verify(&token).unwrap_err();
        assert!(
            matches!(err, Error::HeaderNotAllowed { .. }),
            "{crit}: {err:?}"
        );
    }
}

#[test]
fn row_07_embedded_jwk_is_never_used() {
    // The header carries our own public key, and the token is even validly signed: refused.
    let kid = TestKeys::ES256_KID;
    let jwk = JwkSet::from_json(&keys().jwks_json()).unwrap();
    assert_eq!(jwk.len(), 3);
    let header = format!(
        r#"{{"alg":"ES256","kid":"{kid}","jwk":{{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}}}}"#
    );
    refused(
        verifier().verify(&es_with_header(&header)),
        Error::HeaderNotAllowed { member: "jwk" },
    );
}

#[test]
fn row_08_jku_and_x5u_never_fetched() {
    for member in ["jku", "x5u"] {
        let token = hs_with_header(&format!(
            r#"{{"alg":"HS256","{member}":"https://attacker.example/jwks.json"}}"#
        ));
        let err = verifier().verify(&token).unwrap_err();
        assert!(matches!(err, Error::HeaderNotAllowed { member: m } if m == member));
    }
}

#[test]
fn row_09_x5c_and_x5t() {
    for member in ["x5c", "x5t", "x5t#S256"] {
        let token = hs_with_header(&format!(r#"{{"alg":"HS256","{member}":["AAAA"]}}"#));
        let err = verifier().verify(&token).unwrap_err();
        assert!(
            matches!(err, Error::HeaderNotAllowed { member: m } if m == member),
            "{member}"
        );
    }
}

#[test]
fn row_10_kid_injection_is_an_opaque_exact_lookup() {
    let long = "k".repeat(10 * 1024);
    for kid in [
        "",
        "../../../../dev/null",
        "/dev/null",
        "x' UNION SELECT '1';--",
        "|sleep 10",
        long.as_str(),
    ] {
        let header = format!(r#"{{"alg":"ES256","kid":{}}}"#, Value::from(kid));
        let err = verifier().verify(&es_with_header(&header)).unwrap_err();
        assert!(
            matches!(err, Error::UnknownKey | Error::TooLong),
            "{kid:.20}: {err:?}"
        );
        // The /dev/null attack: an HMAC with an empty key.
        let forged = sign_raw_hs256(
            format!(r#"{{"alg":"HS256","kid":{}}}"#, Value::from(kid)).as_bytes(),
            &claims_json(),
            b"",
        );
        assert!(verifier().verify(&forged).is_err());
    }
}

#[test]
fn row_11_kid_of_the_wrong_type() {
    for kid in ["7", "[\"a\"]", "null", "{}"] {
        let token = es_with_header(&format!(r#"{{"alg":"ES256","kid":{kid}}}"#));
        refused(verifier().verify(&token), Error::Malformed);
    }
}

#[test]
fn row_12_typ_must_be_absent_or_jwt() {
    for typ in ["at+jwt", "JOSE", "JWE", "secevent+jwt", ""] {
        let token = hs_with_header(&format!(r#"{{"alg":"HS256","typ":"{typ}"}}"#));
        refused(verifier().verify(&token), Error::TypeNotAllowed);
    }
    for typ in ["JWT", "jwt", "Jwt"] {
        let token = hs_with_header(&format!(r#"{{"alg":"HS256","typ":"{typ}"}}"#));
        assert!(verifier().verify(&token).is_ok(), "{typ}");
    }
    assert!(
        verifier()
            .verify(&hs_with_header(r#"{"alg":"HS256"}"#))
            .is_ok()
    );
}

#[test]
fn row_13_cty_is_refused() {
    let token = hs_with_header(r#"{"alg":"HS256","cty":"JWT"}"#);
    refused(
        verifier().verify(&token),
        Error::HeaderNotAllowed { member: "cty" },
    );
}

#[test]
fn row_14_jwe_members_in_a_jws() {
    for (member, value) in [("enc", "\"A256GCM\""), ("zip", "\"DEF\"")] {
        let token = hs_with_header(&format!(r#"{{"alg":"HS256","{member}":{value}}}"#));
        let err = verifier().verify(&token).unwrap_err();
        assert!(matches!(err, Error::HeaderNotAllowed { member: m } if m == member));
    }
}

#[test]
fn row_15_b64_false() {
    let token = hs_with_header(r#"{"alg":"HS256","b64":false}"#);
    refused(
        verifier().verify(&token),
        Error::HeaderNotAllowed { member: "b64" },
    );
}

#[test]
fn row_16_header_not_a_json_object() {
    for header in [
        &br#"["HS256"]"#[..],
        br#""x""#,
        br#"{"alg":"HS256"}xyz"#,
        b"\xEF\xBB\xBF{\"alg\":\"HS256\"}",
        b"{\"alg\":\"HS\xFF256\"}",
    ] {
        let token = sign_raw_hs256(header, &claims_json(), TestKeys::HS256_SECRET.as_bytes());
        refused(verifier().verify(&token), Error::Malformed);
    }
}

#[test]
fn row_17_unicode_escapes_compare_decoded_and_sign_raw_bytes() {
    let token = hs_with_header(r#"{"alg":"HS\u0032\u0035\u0036","typ":"\u004aWT"}"#);
    assert!(verifier().verify(&token).is_ok());
}

#[test]
fn row_18_oversized_header_refused_before_decoding() {
    let header = format!(r#"{{"alg":"HS256","pad":"{}"}}"#, "a".repeat(4 << 20));
    let token = format!(
        "{}.junk",
        encode_segments(header.as_bytes(), &claims_json())
    );
    refused(verifier().verify(&token), Error::TooLong);
}

// ---------------------------------------------------------------------------------------------
// B. Signature and algorithm
// ---------------------------------------------------------------------------------------------

#[test]
fn row_19_algorithm_confusion_with_public_key_bytes() {
    let jwks = keys().jwks_json();
    let set: Value = serde_json::from_str(&jwks).unwrap();
    let ec = &set["keys"][0];
    let mut point = vec![4u8];
    point.extend(B64.decode(ec["x"].as_str().unwrap()).unwrap());
    point.extend(B64.decode(ec["y"].as_str().unwrap()).unwrap());
    let pem_like = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(&point)
    );
    let ec_json = ec.to_string();
    let candidates: [&[u8]; 4] = [
        &point,
        ec_json.as_bytes(),
        jwks.as_bytes(),
        pem_like.as_bytes(),
    ];
    let asym_only = Verifier::from_supabase_url(TestKeys::SUPABASE_URL)
        .jwk_set(keys().jwk_set())
        .clock(FixedClock::new(NOW))
        .build()
        .unwrap();
    for secret in candidates {
        // With the ES256 kid: refused before any MAC is computed.
        let with_kid = TokenBuilder::new()
            .header("kid", TestKeys::ES256_KID)
            .sign_hmac(secret);
        refused(verifier().verify(&with_kid), Error::AlgNotAllowed);
        refused(asym_only.verify(&with_kid), Error::AlgNotAllowed);
        // Without a kid: only the HS256 secret is tried, and it does not match.
        let without = TokenBuilder::new().sign_hmac(secret);
        refused(verifier().verify(&without), Error::BadSignature);
        refused(asym_only.verify(&without), Error::AlgNotAllowed);
    }
}

#[test]
fn row_20_allowed_algorithms_derive_from_the_keys() {
    // There is no "allowed algorithms" list to misconfigure: HS256 and asymmetric keys coexist
    // (key migration) and each token is checked only against keys of its own family.
    let v = verifier();
    let k = keys();
    assert!(v.verify(&TokenBuilder::new().sign_hs256(&k)).is_ok());
    assert!(v.verify(&TokenBuilder::new().sign_es256(&k)).is_ok());
    assert!(v.verify(&TokenBuilder::new().sign_rs256(&k)).is_ok());
    assert!(v.verify(&TokenBuilder::new().sign_eddsa(&k)).is_ok());
    let es_sig_as_hs = with_signature(
        &TokenBuilder::new().sign_hs256(&k),
        TokenBuilder::new()
            .sign_es256(&k)
            .rsplit_once('.')
            .unwrap()
            .1,
    );
    refused(v.verify(&es_sig_as_hs), Error::BadSignature);
}

#[test]
fn row_21_empty_signature() {
    for token in [
        TokenBuilder::new().sign_hs256(&keys()),
        TokenBuilder::new().sign_es256(&keys()),
    ] {
        refused(
            verifier().verify(&with_signature(&token, "")),
            Error::BadSignature,
        );
    }
}

#[test]
fn row_22_wrong_segment_count() {
    let good = TokenBuilder::new().sign_hs256(&keys());
    let (h, rest) = good.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    for token in [
        format!("{h}.{p}"),
        format!("{h}.{p}.{s}.{s}"),
        format!("{h}.{p}.{s}.{s}.{s}"),
        "..".to_owned(),
        format!(".{p}.{s}"),
        String::new(),
        "a".to_owned(),
    ] {
        refused(verifier().verify(&token), Error::Malformed);
    }
    // An empty payload is a valid JWS but not JWT claims.
    let empty_payload = sign_raw_hs256(
        br#"{"alg":"HS256"}"#,
        b"",
        TestKeys::HS256_SECRET.as_bytes(),
    );
    refused(verifier().verify(&empty_payload), Error::MalformedClaims);
}

#[test]
fn row_23_non_canonical_signature_base64() {
    let good = TokenBuilder::new().sign_hs256(&keys());
    let sig = good.rsplit_once('.').unwrap().1.to_owned();
    let std_alphabet = STANDARD
        .encode(sig_bytes(&good))
        .trim_end_matches('=')
        .to_owned();
    let mut variants = vec![
        format!("{sig}="),
        format!("{sig}=="),
        format!(" {sig}"),
        format!("{sig}\n"),
    ];
    if std_alphabet != sig {
        variants.push(std_alphabet);
    }
    // Non-zero trailing bits: a 32-byte MAC is 43 chars whose last char carries 2 spare bits.
    let last = sig.chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let idx = alphabet.find(last).unwrap();
    let bumped = alphabet.chars().nth(idx | 1).unwrap();
    variants.push(format!("{}{bumped}", &sig[..sig.len() - 1]));
    for v in variants {
        let err = verifier().verify(&with_signature(&good, &v)).unwrap_err();
        assert!(
            matches!(err, Error::Malformed | Error::BadSignature),
            "{v:?}: {err:?}"
        );
    }
}

#[test]
fn row_24_non_canonical_payload_base64() {
    let good = TokenBuilder::new().sign_hs256(&keys());
    let (h, rest) = good.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    for payload in [
        format!("{p}="),
        format!("{p} "),
        format!("{p}?"),
        format!("{}+", &p[1..]),
    ] {
        let token = format!("{h}.{payload}.{s}");
        assert!(verifier().verify(&token).is_err(), "{payload:.10}");
        assert!(dangerous::verify_signature_only(&verifier(), &token).is_err());
    }
}

#[test]
fn row_25_psychic_signatures() {
    let good = TokenBuilder::new().sign_es256(&keys());
    let n = p256_order();
    let one = {
        let mut o = [0u8; 32];
        o[31] = 1;
        o
    };
    let n_minus_1 = sub_be(&n, &one);
    let zero = [0u8; 32];
    for (r, s) in [
        (zero, zero),
        (one, one),
        (n, n),
        (n_minus_1, n_minus_1),
        (zero, one),
    ] {
        let sig = [r.as_slice(), s.as_slice()].concat();
        refused(
            verifier().verify(&with_signature(&good, &B64.encode(sig))),
            Error::BadSignature,
        );
    }
}

#[test]
fn row_26_ecdsa_signature_size_and_encoding() {
    let good = TokenBuilder::new().sign_es256(&keys());
    let sig = sig_bytes(&good);
    let (r, s) = sig.split_at(32);
    let der = {
        let int = |x: &[u8]| {
            let mut v = vec![0x02, 33, 0];
            v.extend_from_slice(x);
            v
        };
        let body = [int(r), int(s)].concat();
        [vec![0x30, u8::try_from(body.len()).unwrap()], body].concat()
    };
    let mut leading_zero = vec![0u8];
    leading_zero.extend_from_slice(&sig);
    for bad in [
        der,
        sig[..63].to_vec(),
        [sig.clone(), vec![0]].concat(),
        leading_zero,
        [r, &p256_order()].concat(),
    ] {
        refused(
            verifier().verify(&with_signature(&good, &B64.encode(&bad))),
            Error::BadSignature,
        );
    }
}

#[test]
fn row_27_ecdsa_malleated_signature_is_valid_per_spec() {
    // (r, n - s) verifies too. Never key a denylist or cache on the raw token for that reason.
    let good = TokenBuilder::new().sign_es256(&keys());
    let sig = sig_bytes(&good);
    let s: [u8; 32] = sig[32..].try_into().unwrap();
    let malleated = [&sig[..32], &sub_be(&p256_order(), &s)[..]].concat();
    let token = with_signature(&good, &B64.encode(malleated));
    assert_ne!(token, good);
    assert!(verifier().verify(&token).is_ok());
}

#[test]
fn row_28_rsa_pkcs1_forgeries() {
    // The Wycheproof PKCS#1 vectors (padding forgeries, BER lengths, wrong hash OIDs) run
    // through the key-loading path in the crate's unit tests; here, a forged signature.
    let good = TokenBuilder::new().sign_rs256(&keys());
    let mut sig = sig_bytes(&good);
    sig[0] ^= 1;
    refused(
        verifier().verify(&with_signature(&good, &B64.encode(&sig))),
        Error::BadSignature,
    );
    for forged in [vec![0u8; 256], vec![1u8], vec![0xffu8; 256]] {
        refused(
            verifier().verify(&with_signature(&good, &B64.encode(&forged))),
            Error::BadSignature,
        );
    }
}

#[test]
fn row_29_pss_against_a_pkcs1_pinned_key() {
    let header = format!(r#"{{"alg":"PS256","kid":"{}"}}"#, TestKeys::RS256_KID);
    let token = with_signature(
        &es_with_header(&header),
        &B64.encode(sig_bytes(&TokenBuilder::new().sign_rs256(&keys()))),
    );
    refused(verifier().verify(&token), Error::AlgNotAllowed);
}

#[test]
fn row_30_ed25519_malformed_signatures() {
    let good = TokenBuilder::new().sign_eddsa(&keys());
    let sig = sig_bytes(&good);
    // s + L (little-endian scalar in the second half).
    let l: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut s_plus_l = sig.clone();
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(s_plus_l[32 + i]) + u16::from(l[i]) + carry;
        s_plus_l[32 + i] = (v & 0xff) as u8;
        carry = v >> 8;
    }
    let mut flipped_r = sig.clone();
    flipped_r[3] ^= 0x40;
    let r_zero = [vec![0u8; 32], sig[32..].to_vec()].concat();
    for bad in [
        s_plus_l,
        flipped_r,
        r_zero,
        sig[..63].to_vec(),
        [sig.clone(), vec![0]].concat(),
    ] {
        refused(
            verifier().verify(&with_signature(&good, &B64.encode(&bad))),
            Error::BadSignature,
        );
    }
}

#[test]
fn row_31_short_hmac_secrets_are_config_errors() {
    for secret in ["", "x", "0123456789012345678901234567890"] {
        assert!(matches!(
            Hs256Secret::new(secret),
            Err(ConfigError::SecretTooShort { min: 32 })
        ));
    }
    // Every key too short: the set is refused where it is built.
    let err = JwkSet::from_secret_json(
        r#"{"keys":[{"kty":"oct","k":"","alg":"HS256"},{"kty":"oct","k":"AAEC","kid":"s"}]}"#,
    )
    .unwrap_err();
    assert_eq!(
        err,
        ConfigError::NoUsableKey {
            left_out: 2,
            first: Some(KeyRejection::HmacKeyTooShort)
        }
    );
    // Beside a usable key, each is left out with its reason.
    let set = JwkSet::from_secret_json(&format!(
        r#"{{"keys":[{{"kty":"oct","k":"","alg":"HS256"}},{{"kty":"oct","k":"AAEC","kid":"s"}},{{"kty":"oct","k":"{}","kid":"ok"}}]}}"#,
        B64.encode([7u8; 32])
    ))
    .unwrap();
    assert_eq!(set.len(), 1);
    assert!(
        set.rejected()
            .iter()
            .all(|r| r.reason == KeyRejection::HmacKeyTooShort)
            && set.rejected().len() == 2
    );
}

#[test]
fn row_32_legacy_secret_is_raw_bytes_never_base64() {
    // A secret that happens to be valid base64: signing with its decoded bytes must fail.
    let secret = "c3VwZXItc2VjcmV0LWp3dC10b2tlbi13aXRoLWF0LWxlYXN0LTMyLWNoYXJz";
    let v = Verifier::from_supabase_url(TestKeys::SUPABASE_URL)
        .hs256_secret(Hs256Secret::new(secret).unwrap())
        .clock(FixedClock::new(NOW))
        .build()
        .unwrap();
    assert!(
        v.verify(&TokenBuilder::new().sign_hmac(secret.as_bytes()))
            .is_ok()
    );
    let decoded = STANDARD.decode(secret).unwrap();
    refused(
        v.verify(&TokenBuilder::new().sign_hmac(&decoded)),
        Error::BadSignature,
    );
}

#[test]
fn row_33_mac_comparison_is_constant_time() {
    // HMAC tags are compared by aws-lc `hmac::verify` / RustCrypto `verify_slice`, both
    // constant-time; a tag differing only in its last byte is refused like any other.
    let good = TokenBuilder::new().sign_hs256(&keys());
    let mut sig = sig_bytes(&good);
    *sig.last_mut().unwrap() ^= 0x80;
    refused(
        verifier().verify(&with_signature(&good, &B64.encode(&sig))),
        Error::BadSignature,
    );
}

/// The `kid` of the usable key [`verifier_with_keys`] adds to a set that has none.
const DECOY: &str = "usable-decoy";

fn ec_jwk(extra: Value) -> Value {
    let set: Value = serde_json::from_str(&keys().jwks_json()).unwrap();
    let mut key = set["keys"][0].clone();
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            key.as_object_mut().unwrap().remove(k);
        } else {
            key[k] = v.clone();
        }
    }
    key
}

/// A verifier over `keys`; when none of them is usable (a configuration error of its own,
/// `row_76`), with one usable key of another `kid` beside them, so that the keys under test
/// are still left out one by one.
fn verifier_with_keys(keys: &[Value]) -> (Verifier, JwkSet) {
    let set = match JwkSet::from_json(&json!({ "keys": keys }).to_string()) {
        Err(ConfigError::NoUsableKey { .. }) => {
            let mut keys = keys.to_vec();
            keys.push(ec_jwk(json!({ "kid": DECOY })));
            JwkSet::from_json(&json!({ "keys": keys }).to_string()).unwrap()
        }
        set => set.unwrap(),
    };
    let v = Verifier::from_supabase_url(TestKeys::SUPABASE_URL)
        .jwk_set(set.clone())
        .clock(FixedClock::new(NOW))
        .build()
        .unwrap();
    (v, set)
}

#[test]
fn row_34_key_used_against_its_declared_purpose() {
    for (extra, reason) in [
        (json!({"use": "enc"}), KeyRejection::WrongUse),
        (
            json!({"key_ops": ["encrypt"]}),
            KeyRejection::NoVerifyOperation,
        ),
        (json!({"key_ops": []}), KeyRejection::NoVerifyOperation),
        (
            json!({"key_ops": "verify"}),
            KeyRejection::NoVerifyOperation,
        ),
    ] {
        let (v, set) = verifier_with_keys(&[ec_jwk(extra)]);
        assert_eq!(set.rejected()[0].reason, reason);
        refused(
            v.verify(&TokenBuilder::new().sign_es256(&keys())),
            Error::UnknownKey,
        );
    }
}

#[test]
fn row_35_token_alg_differs_from_the_jwk_alg() {
    let (v, set) = verifier_with_keys(&[ec_jwk(json!({"alg": "A256GCM"}))]);
    assert_eq!(set.rejected()[0].reason, KeyRejection::AlgorithmMismatch);
    refused(
        v.verify(&TokenBuilder::new().sign_es256(&keys())),
        Error::UnknownKey,
    );
    let token = es_with_header(&format!(
        r#"{{"alg":"ES384","kid":"{}"}}"#,
        TestKeys::ES256_KID
    ));
    refused(verifier().verify(&token), Error::AlgNotAllowed);
}

#[test]
fn row_36_curve_label_inconsistent_with_coordinates_or_alg() {
    let (v, set) = verifier_with_keys(&[ec_jwk(json!({"crv": "P-384", "alg": null}))]);
    assert_eq!(set.rejected()[0].reason, KeyRejection::InvalidMaterial);
    refused(
        v.verify(&TokenBuilder::new().sign_es256(&keys())),
        Error::UnknownKey,
    );
    let (_, set) = verifier_with_keys(&[ec_jwk(json!({"alg": "ES384"}))]);
    assert_eq!(set.rejected()[0].reason, KeyRejection::AlgorithmMismatch);
}

// ---------------------------------------------------------------------------------------------
// C. Claims
// ---------------------------------------------------------------------------------------------

fn hs(b: TokenBuilder) -> String {
    b.sign_hs256(&keys())
}

#[test]
fn row_37_exp_missing_or_null() {
    refused(
        verifier().verify(&hs(TokenBuilder::new().remove("exp"))),
        Error::MissingClaim { claim: "exp" },
    );
    refused(
        verifier().verify(&hs(TokenBuilder::new().claim("exp", Value::Null))),
        Error::MissingClaim { claim: "exp" },
    );
}

#[test]
fn row_38_exp_of_the_wrong_type() {
    for v in [json!("9999999999"), json!(true), json!({}), json!([])] {
        refused(
            verifier().verify(&hs(TokenBuilder::new().claim("exp", v))),
            Error::InvalidClaim { claim: "exp" },
        );
    }
}

#[test]
fn row_39_exp_out_of_range() {
    for raw in ["-1", "1e30", "1e20", "12345678901234567890123456789"] {
        let payload = String::from_utf8(claims_json()).unwrap().replace(
            &format!("\"exp\":{}", NOW + 3600),
            &format!("\"exp\":{raw}"),
        );
        let token = sign_raw_hs256(
            br#"{"alg":"HS256"}"#,
            payload.as_bytes(),
            TestKeys::HS256_SECRET.as_bytes(),
        );
        refused(
            verifier().verify(&token),
            Error::InvalidClaim { claim: "exp" },
        );
    }
}

#[test]
fn row_40_fractional_exp_is_accepted_and_floored() {
    let c = verifier()
        .verify(&hs(TokenBuilder::new().claim("exp", NOW as f64 + 3600.5)))
        .unwrap();
    assert_eq!(c.exp, NOW + 3600);
    // Floored: an exp of now + 0.9 with zero leeway is already expired.
    let strict = keys()
        .verifier_builder()
        .leeway(Duration::ZERO)
        .clock(FixedClock::new(NOW))
        .build()
        .unwrap();
    refused(
        strict.verify(&hs(TokenBuilder::new().claim("exp", NOW as f64 + 0.9))),
        Error::Expired,
    );
}

#[test]
fn row_41_exp_far_in_the_future() {
    refused(
        verifier().verify(&hs(TokenBuilder::new().claim("exp", u64::MAX))),
        Error::InvalidClaim { claim: "exp" },
    );
    let ten_years = hs(TokenBuilder::new().exp(NOW + 10 * 365 * 86400));
    refused(verifier().verify(&ten_years), Error::LifetimeTooLong);
    let old_iat = hs(TokenBuilder::new().iat(NOW - 8 * 86400).exp(NOW + 60));
    refused(verifier().verify(&old_iat), Error::LifetimeTooLong);
}

#[test]
fn row_42_expiry_boundaries_with_leeway() {
    let v = keys()
        .verifier_builder()
        .leeway(Duration::from_secs(60))
        .clock(FixedClock::new(NOW))
        .build()
        .unwrap();
    assert!(
        v.verify(&hs(TokenBuilder::new().iat(NOW - 3600).exp(NOW - 30)))
            .is_ok()
    );
    refused(
        v.verify(&hs(TokenBuilder::new().iat(NOW - 3600).exp(NOW - 120))),
        Error::Expired,
    );
    refused(
        v.verify(&hs(TokenBuilder::new().iat(NOW - 3600).exp(NOW - 60))),
        Error::Expired,
    );
    assert!(
        v.verify(&hs(TokenBuilder::new().iat(NOW - 3600).exp(NOW - 59)))
            .is_ok()
    );
    let e = v
        .verify(&hs(TokenBuilder::new().iat(NOW - 3600).exp(NOW - 120)))
        .unwrap_err();
    assert_eq!(e.description(), "token expired");
}

#[test]
fn row_43_huge_leeway_is_a_config_error() {
    for secs in [u64::MAX, 301, NOW as u64] {
        let r = keys()
            .verifier_builder()
            .leeway(Duration::from_secs(secs))
            .build();
        assert!(matches!(r, Err(ConfigError::LeewayTooLarge { max: 300 })));
    }
    // And a clock near zero cannot underflow anything.
    let v = keys()
        .verifier_builder()
        .leeway(Duration::from_secs(300))
        .clock(FixedClock::new(0))
        .build()
        .unwrap();
    assert!(v.verify(&hs(TokenBuilder::new())).is_err());
    let v = keys()
        .verifier_builder()
        .clock(FixedClock::new(i64::MAX))
        .build()
        .unwrap();
    refused(v.verify(&hs(TokenBuilder::new())), Error::Expired);
}

#[test]
fn row_44_nbf_in_the_future() {
    refused(
        verifier().verify(&hs(TokenBuilder::new().claim("nbf", NOW + 120))),
        Error::NotYetValid,
    );
    assert!(
        verifier()
            .verify(&hs(TokenBuilder::new().claim("nbf", NOW + 20)))
            .is_ok()
    );
    assert!(
        verifier()
            .verify(&hs(TokenBuilder::new().claim("nbf", NOW - 20)))
            .is_ok()
    );
}

#[test]
fn row_45_nbf_and_iat_of_the_wrong_type() {
    for claim in ["nbf", "iat"] {
        for v in [json!("x"), json!("yesterday"), json!(true), json!([1])] {
            let err = verifier()
                .verify(&hs(TokenBuilder::new().claim(claim, v)))
                .unwrap_err();
            assert!(
                matches!(err, Error::InvalidClaim { claim: c } if c == claim),
                "{claim}"
            );
        }
    }
}

#[test]
fn row_46_iat_in_the_future_or_missing() {
    refused(
        verifier().verify(&hs(TokenBuilder::new().iat(NOW + 120))),
        Error::IssuedInFuture,
    );
    assert!(
        verifier()
            .verify(&hs(TokenBuilder::new().iat(NOW + 20)))
            .is_ok()
    );
    refused(
        verifier().verify(&hs(TokenBuilder::new().remove("iat"))),
        Error::MissingClaim { claim: "iat" },
    );
}

#[test]
fn row_47_aud_missing_or_null() {
    refused(
        verifier().verify(&hs(TokenBuilder::new().remove("aud"))),
        Error::MissingClaim { claim: "aud" },
    );
    refused(
        verifier().verify(&hs(TokenBuilder::new().claim("aud", Value::Null))),
        Error::MissingClaim { claim: "aud" },
    );
}

#[test]
fn row_48_aud_of_the_wrong_type() {
    for v in [
        json!(42),
        json!({"x": 1}),
        json!([1, "authenticated"]),
        json!(true),
    ] {
        refused(
            verifier().verify(&hs(TokenBuilder::new().claim("aud", v))),
            Error::InvalidClaim { claim: "aud" },
        );
    }
}

#[test]
fn row_49_aud_is_compared_exactly() {
    for v in [
        json!([]),
        json!("Authenticated"),
        json!("authenticated "),
        json!(" authenticated"),
    ] {
        refused(
            verifier().verify(&hs(TokenBuilder::new().claim("aud", v))),
            Error::AudienceMismatch,
        );
    }
}

#[test]
fn row_50_oidc_id_token_with_client_id_audience() {
    let id_token = TokenBuilder::new()
        .claim("aud", "9a7f2f3e-oauth-client-id")
        .claim("nonce", "n");
    refused(
        verifier().verify(&id_token.sign_es256(&keys())),
        Error::AudienceMismatch,
    );
}

#[test]
fn row_51_multi_valued_audience() {
    let token = hs(TokenBuilder::new().claim("aud", json!(["other", "authenticated"])));
    assert!(verifier().verify(&token).is_ok());
    let strict = keys()
        .verifier_builder()
        .require_single_audience(true)
        .clock(FixedClock::new(NOW))
        .build()
        .unwrap();
    refused(strict.verify(&token), Error::AudienceMismatch);
    assert!(
        strict
            .verify(&hs(
                TokenBuilder::new().claim("aud", json!(["authenticated"]))
            ))
            .is_ok()
    );
}

#[test]
fn row_52_issuer_exact_match() {
    let iss = TestKeys::ISSUER;
    for bad in [
        format!("{iss}/"),
        format!("{iss}.evil"),
        iss.replace("https", "http"),
        iss.to_uppercase(),
        "supabase".to_owned(),
    ] {
        refused(
            verifier().verify(&hs(TokenBuilder::new().claim("iss", bad))),
            Error::IssuerMismatch,
        );
    }
    refused(
        verifier().verify(&hs(TokenBuilder::new().remove("iss"))),
        Error::MissingClaim { claim: "iss" },
    );
    refused(
        verifier().verify(&hs(TokenBuilder::new().claim("iss", 7))),
        Error::InvalidClaim { claim: "iss" },
    );
    refused(
        verifier().verify(&hs(TokenBuilder::new().claim("iss", json!([iss])))),
        Error::InvalidClaim { claim: "iss" },
    );
}

#[test]
fn row_53_legacy_api_keys_as_bearer() {
    for role in ["anon", "service_role"] {
        let key = serde_json::json!({"iss": "supabase", "ref": "testkitprojectref00", "role": role, "iat": NOW - 86400, "exp": NOW + 10 * 365 * 86400});
        let token = sign_raw_hs256(
            br#"{"alg":"HS256","typ":"JWT"}"#,
            key.to_string().as_bytes(),
            TestKeys::HS256_SECRET.as_bytes(),
        );
        assert!(verifier().verify(&token).is_err(), "{role}");
        // Even with an aud and a sub added, the issuer and lifetime still refuse it.
        let mut dressed = key.clone();
        dressed["aud"] = json!("authenticated");
        dressed["sub"] = json!(TokenBuilder::DEFAULT_SUB);
        let token = sign_raw_hs256(
            br#"{"alg":"HS256"}"#,
            dressed.to_string().as_bytes(),
            TestKeys::HS256_SECRET.as_bytes(),
        );
        assert!(verifier().verify(&token).is_err(), "{role} dressed");
    }
}

#[test]
fn row_54_sub_must_be_a_uuid() {
    refused(
        verifier().verify(&hs(TokenBuilder::new().remove("sub"))),
        Error::MissingClaim { claim: "sub" },
    );
    for v in [
        json!(12),
        json!("user-1"),
        json!("8d0fd6e2-4c5a-4b7e-9f3a-2b1c0d9e8f7a\r\n"),
        json!("8d0fd6e2-4c5a-4b7e-9f3a-2b1c0d9e8f7\u{0}"),
        json!("8d0fd6e2-4c5a-4b7e-9f3a-2b1c0d9e8f7é"),
        json!("8d0fd6e24c5a4b7e9f3a2b1c0d9e8f7a"),
    ] {
        refused(
            verifier().verify(&hs(TokenBuilder::new().claim("sub", v))),
            Error::InvalidClaim { claim: "sub" },
        );
    }
}

#[test]
fn row_55_postgres_role_is_exposed_as_such_never_as_an_app_role() {
    let c = verifier()
        .verify(&hs(TokenBuilder::new().claim("role", "service_role")))
        .unwrap();
    assert_eq!(c.postgres_role.as_deref(), Some("service_role"));
    assert!(c.app_metadata.get("role").is_none());
}

#[test]
fn row_56_anonymous_users_are_distinguishable() {
    let c = verifier()
        .verify(&hs(TokenBuilder::new().claim("is_anonymous", true)))
        .unwrap();
    assert!(c.is_anonymous);
    assert_eq!(c.postgres_role.as_deref(), Some("authenticated"));
    refused(
        verifier().verify(&hs(TokenBuilder::new().claim("is_anonymous", "true"))),
        Error::InvalidClaim {
            claim: "is_anonymous",
        },
    );
}

#[test]
fn row_57_user_metadata_is_kept_apart_from_app_metadata() {
    let c = verifier()
        .verify(&hs(
            TokenBuilder::new().claim("user_metadata", json!({"role": "admin"}))
        ))
        .unwrap();
    assert_eq!(c.user_metadata["role"], "admin");
    assert!(c.app_metadata.get("role").is_none());
}

#[test]
fn row_58_app_metadata_values_are_kept_byte_exact() {
    for v in [
        json!("Admin"),
        json!(" admin"),
        json!("аdmin"),
        json!(["admin"]),
        json!(1),
        json!(null),
    ] {
        let c = verifier()
            .verify(&hs(
                TokenBuilder::new().claim("app_metadata", json!({"role": v.clone()}))
            ))
            .unwrap();
        assert_eq!(c.app_metadata["role"], v);
    }
    refused(
        verifier().verify(&hs(TokenBuilder::new().claim("app_metadata", "admin"))),
        Error::InvalidClaim {
            claim: "app_metadata",
        },
    );
}

#[test]
fn row_59_aal_is_typed() {
    use supagate_jwt::Aal;
    assert_eq!(
        verifier().verify(&hs(TokenBuilder::new())).unwrap().aal,
        Some(Aal::Aal1)
    );
    assert_eq!(
        verifier()
            .verify(&hs(TokenBuilder::new().claim("aal", "aal2")))
            .unwrap()
            .aal,
        Some(Aal::Aal2)
    );
    assert_eq!(
        verifier()
            .verify(&hs(TokenBuilder::new().remove("aal")))
            .unwrap()
            .aal,
        None
    );
    for v in [json!("AAL2"), json!("aal2 "), json!(2)] {
        refused(
            verifier().verify(&hs(TokenBuilder::new().claim("aal", v))),
            Error::InvalidClaim { claim: "aal" },
        );
    }
}

#[test]
fn row_60_oauth_client_tokens_are_visible() {
    let c = verifier()
        .verify(&hs(TokenBuilder::new()
            .claim("client_id", "cli")
            .claim("scope", "openid")))
        .unwrap();
    assert_eq!(c.client_id.as_deref(), Some("cli"));
    assert_eq!(c.scope.as_deref(), Some("openid"));
}

#[test]
fn row_61_duplicate_claim_names() {
    let base = String::from_utf8(claims_json()).unwrap();
    for dup in [
        format!(r#""exp":{},"#, NOW + 60),
        r#""role":"service_role","#.to_owned(),
        r#""x":1,"x":2,"#.to_owned(),
    ] {
        let payload = base.replacen('{', &format!("{{{dup}"), 1);
        let token = sign_raw_hs256(
            br#"{"alg":"HS256"}"#,
            payload.as_bytes(),
            TestKeys::HS256_SECRET.as_bytes(),
        );
        refused(verifier().verify(&token), Error::MalformedClaims);
    }
}

#[test]
fn row_62_claims_not_an_object() {
    let inner = TokenBuilder::new().sign_hs256(&keys());
    for payload in [
        b"[]".to_vec(),
        b"\"x\"".to_vec(),
        b"12".to_vec(),
        Value::from(inner).to_string().into_bytes(),
    ] {
        let token = sign_raw_hs256(
            br#"{"alg":"HS256"}"#,
            &payload,
            TestKeys::HS256_SECRET.as_bytes(),
        );
        refused(verifier().verify(&token), Error::MalformedClaims);
    }
}

#[test]
fn row_63_deeply_nested_claims() {
    let v = keys()
        .verifier_builder()
        .max_token_length(64 * 1024)
        .clock(FixedClock::new(NOW))
        .build()
        .unwrap();
    let base = String::from_utf8(claims_json()).unwrap();
    for nesting in [5000, 200] {
        let deep = format!("{}1{}", "[".repeat(nesting), "]".repeat(nesting));
        let payload = base.replacen('{', &format!("{{\"deep\":{deep},"), 1);
        let token = sign_raw_hs256(
            br#"{"alg":"HS256"}"#,
            payload.as_bytes(),
            TestKeys::HS256_SECRET.as_bytes(),
        );
        refused(v.verify(&token), Error::MalformedClaims);
    }
}

#[test]
fn row_64_bad_encodings_in_claims() {
    let base = String::from_utf8(claims_json()).unwrap();
    let lone = base.replacen('{', r#"{"x":"\ud800","#, 1).into_bytes();
    let mut invalid_utf8 = base.clone().into_bytes();
    invalid_utf8.splice(1..1, b"\"x\":\"\xff\",".iter().copied());
    let bom = [b"\xEF\xBB\xBF".to_vec(), base.clone().into_bytes()].concat();
    for payload in [lone, invalid_utf8, bom] {
        let token = sign_raw_hs256(
            br#"{"alg":"HS256"}"#,
            &payload,
            TestKeys::HS256_SECRET.as_bytes(),
        );
        refused(verifier().verify(&token), Error::MalformedClaims);
    }
    let nul_sub = hs(TokenBuilder::new().claim("sub", "8d0fd6e2-4c5a-4b7e-9f3a-2b1c0d9e8f7\u{0}"));
    refused(
        verifier().verify(&nul_sub),
        Error::InvalidClaim { claim: "sub" },
    );
}

#[test]
fn row_65_unknown_claims_ignored_but_bounded() {
    let c = verifier()
        .verify(&hs(
            TokenBuilder::new().claim("custom_hook_claim", json!({"tier": "gold"}))
        ))
        .unwrap();
    assert_eq!(c.extra["custom_hook_claim"]["tier"], "gold");
    // Large real tokens (OAuth providers fill user_metadata) verify: 12 KB is fine.
    let large = hs(TokenBuilder::new().claim("user_metadata", json!({"bio": "b".repeat(9000)})));
    assert!(large.len() > 12_000);
    verifier().verify(&large).unwrap();
    // Past the limit (48 KiB, the largest session the cookie reader accepts): refused before
    // any decoding.
    let big = hs(TokenBuilder::new().claim("user_metadata", json!({"bio": "b".repeat(40_000)})));
    assert!(big.len() > supagate_jwt::Verifier::DEFAULT_MAX_TOKEN_LEN);
    refused(verifier().verify(&big), Error::TooLong);
}

// ---------------------------------------------------------------------------------------------
// D. JWKS and key material
// ---------------------------------------------------------------------------------------------

#[test]
fn row_66_symmetric_keys_never_come_from_a_published_set() {
    let oct = json!({"kty": "oct", "k": B64.encode([7u8; 32]), "kid": "x", "alg": "HS256"});
    for keys in [json!([oct.clone()]), json!([oct, ec_jwk(json!({}))])] {
        let r = JwkSet::from_json(&json!({ "keys": keys }).to_string());
        assert!(matches!(r, Err(ConfigError::SymmetricKeyInPublicSet)));
    }
    let r = JwkSet::from_secret_json(&json!({"keys": [ec_jwk(json!({}))]}).to_string());
    assert!(matches!(r, Err(ConfigError::AsymmetricKeyInHmacSet)));
}

#[test]
fn row_67_duplicate_kid_drops_every_key_with_it() {
    let (v, set) = verifier_with_keys(&[ec_jwk(json!({})), ec_jwk(json!({}))]);
    assert_eq!(set.kids().collect::<Vec<_>>(), [Some(DECOY)]);
    assert_eq!(set.rejected()[0].reason, KeyRejection::DuplicateKid);
    refused(
        v.verify(&TokenBuilder::new().sign_es256(&keys())),
        Error::UnknownKey,
    );
}

#[test]
fn row_68_alg_inferred_from_key_type_only() {
    let set: Value = serde_json::from_str(&keys().jwks_json()).unwrap();
    let mut no_alg: Vec<Value> = set["keys"].as_array().unwrap().clone();
    for k in &mut no_alg {
        k.as_object_mut().unwrap().remove("alg");
    }
    let (v, set) = verifier_with_keys(&no_alg);
    assert_eq!(set.len(), 3);
    let k = keys();
    for token in [
        TokenBuilder::new().sign_es256(&k),
        TokenBuilder::new().sign_rs256(&k),
        TokenBuilder::new().sign_eddsa(&k),
    ] {
        assert!(v.verify(&token).is_ok());
    }
}

#[test]
fn row_69_unknown_kty_or_curve_ignored_others_kept() {
    let others = [
        json!({"kty": "EC", "crv": "P-521", "kid": "a", "x": "AA", "y": "AA"}),
        json!({"kty": "EC", "crv": "secp256k1", "kid": "b", "x": "AA", "y": "AA"}),
        json!({"kty": "OKP", "crv": "Ed448", "kid": "c", "x": "AA"}),
        json!({"kty": "PQ", "kid": "d"}),
        json!("not an object"),
    ];
    let mut all = others.to_vec();
    all.push(ec_jwk(json!({})));
    let (v, set) = verifier_with_keys(&all);
    assert_eq!(set.len(), 1);
    assert_eq!(set.rejected().len(), 5);
    assert!(v.verify(&TokenBuilder::new().sign_es256(&keys())).is_ok());
}

#[test]
fn row_70_malformed_key_material_dropped_at_load_never_a_panic() {
    let ed = |x: Vec<u8>| json!({"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": B64.encode(x)});
    for key in [
        ed(vec![1, 2, 3]),
        ed(vec![9; 33]),
        ed(vec![]),
        ec_jwk(json!({"x": B64.encode([1u8; 31])})),
        ec_jwk(json!({"y": B64.encode([1u8; 33])})),
        ec_jwk(json!({"x": "not base64!"})),
        ec_jwk(json!({"x": null})),
    ] {
        let (v, set) = verifier_with_keys(&[key]);
        assert_eq!(set.rejected()[0].reason, KeyRejection::InvalidMaterial);
        assert!(v.verify(&TokenBuilder::new().sign_eddsa(&keys())).is_err());
    }
    // A point off the curve passes the length checks and is refused by every backend.
    for backend in CryptoBackend::compiled() {
        let off = ec_jwk(json!({"y": B64.encode([1u8; 32])}));
        let set = JwkSet::from_json(&json!({"keys": [off]}).to_string()).unwrap();
        let prepared = PreparedKeys::prepare(&set, backend);
        assert!(prepared.is_empty(), "{backend}");
        assert_eq!(prepared.rejected()[0].reason, KeyRejection::InvalidPoint);
    }
}

#[test]
fn row_71_rsa_size_and_exponent() {
    let set: Value = serde_json::from_str(&keys().jwks_json()).unwrap();
    let rsa = set["keys"][1].clone();
    let n = B64.decode(rsa["n"].as_str().unwrap()).unwrap();
    let with = |n: &[u8], e: &[u8]| {
        let mut k = rsa.clone();
        k["n"] = json!(B64.encode(n));
        k["e"] = json!(B64.encode(e));
        k
    };
    let cases = [
        (with(&n[..128], &[1, 0, 1]), KeyRejection::RsaKeySize),
        (
            with(&[n.clone(), n.clone(), n.clone()].concat(), &[1, 0, 1]),
            KeyRejection::RsaKeySize,
        ),
        (with(&n, &[1]), KeyRejection::RsaExponent),
        (with(&n, &[2]), KeyRejection::RsaExponent),
        (with(&n, &[1, 0, 0, 0, 0, 1]), KeyRejection::RsaExponent),
        (
            with(&[&[0u8][..], &n].concat(), &[1, 0, 1]),
            KeyRejection::InvalidMaterial,
        ),
    ];
    for (key, reason) in cases {
        let (_, set) = verifier_with_keys(&[key]);
        assert_eq!(set.rejected()[0].reason, reason);
    }
    // ROCA: the Wycheproof JWK vector tc7 key.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/wycheproof/json_web_key_test.json");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let roca = file["testGroups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["tests"][0]["tcId"] == 7)
        .unwrap();
    let (_, set) = verifier_with_keys(roca["public"]["keys"].as_array().unwrap());
    assert_eq!(set.rejected()[0].reason, KeyRejection::RocaVulnerable);
}

#[test]
fn row_72_hostile_jwks_documents() {
    for doc in [
        "",
        "null",
        "[]",
        "{}",
        r#"{"keys":{}}"#,
        r#"{"keys":"x"}"#,
        "<html>",
        r#"{"keys":[]"#,
    ] {
        let not_json = ["", "<html>", r#"{"keys":[]"#].contains(&doc);
        let r = JwkSet::from_json(doc);
        assert!(
            if not_json {
                matches!(r, Err(ConfigError::JwkSetNotJson { .. }))
            } else {
                matches!(r, Err(ConfigError::InvalidJwkSet))
            },
            "{doc}: {r:?}"
        );
    }
    let many: Vec<Value> = (0..33)
        .map(|i| ec_jwk(json!({"kid": format!("k{i}")})))
        .collect();
    assert!(matches!(
        JwkSet::from_json(&json!({ "keys": many }).to_string()),
        Err(ConfigError::TooManyKeys { max: 32 })
    ));
}

#[test]
fn row_73_jwks_location_never_comes_from_the_token() {
    // No API takes a URL from a token; the header members that could carry one are refused.
    for member in ["jku", "x5u"] {
        let token = TokenBuilder::new()
            .header(member, "https://attacker.example/k")
            .sign_es256(&keys());
        assert!(matches!(
            verifier().verify(&token),
            Err(Error::HeaderNotAllowed { .. })
        ));
    }
}

/// A key source whose set can be swapped, counting unknown-kid notifications.
#[derive(Debug, Default)]
struct Swappable {
    set: Mutex<Option<Arc<PreparedKeys>>>,
    unknown: Mutex<Vec<String>>,
}

#[derive(Debug)]
struct Handle(Arc<Swappable>);

impl KeySource for Handle {
    fn current(&self) -> Result<Arc<PreparedKeys>, Error> {
        self.0
            .set
            .lock()
            .unwrap()
            .clone()
            .ok_or(Error::KeysUnavailable)
    }
    fn unknown_kid(&self, kid: &str) -> Option<Arc<PreparedKeys>> {
        self.0.unknown.lock().unwrap().push(kid.to_owned());
        None
    }
}

fn source_verifier(src: &Arc<Swappable>) -> Verifier {
    Verifier::from_supabase_url(TestKeys::SUPABASE_URL)
        .key_source(Handle(Arc::clone(src)))
        .clock(FixedClock::new(NOW))
        .build()
        .unwrap()
}

#[test]
fn row_74_unknown_kids_reach_the_source_once_per_token() {
    let src = Arc::new(Swappable::default());
    *src.set.lock().unwrap() = Some(Arc::new(PreparedKeys::prepare(
        &keys().jwk_set(),
        CryptoBackend::preferred().unwrap(),
    )));
    let v = source_verifier(&src);
    for i in 0..5 {
        let token = TokenBuilder::new()
            .header("kid", format!("random-{i}"))
            .sign_es256(&keys());
        refused(v.verify(&token), Error::UnknownKey);
    }
    assert_eq!(src.unknown.lock().unwrap().len(), 5);
}

#[test]
fn row_75_a_rotated_out_key_stops_verifying() {
    let src = Arc::new(Swappable::default());
    let backend = CryptoBackend::preferred().unwrap();
    *src.set.lock().unwrap() = Some(Arc::new(PreparedKeys::prepare(&keys().jwk_set(), backend)));
    let v = source_verifier(&src);
    let token = TokenBuilder::new().sign_es256(&keys());
    assert!(v.verify(&token).is_ok());
    *src.set.lock().unwrap() = Some(Arc::new(PreparedKeys::prepare(&JwkSet::empty(), backend)));
    refused(v.verify(&token), Error::UnknownKey);
    *src.set.lock().unwrap() = None;
    let e = v.verify(&token).unwrap_err();
    assert_eq!(e, Error::KeysUnavailable);
    assert_eq!(e.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(e.error_code(), None);
}

#[test]
fn row_76_empty_jwks_is_a_valid_state() {
    // Published empty (fetched, `RemoteJwks`) or stated on purpose (`JwkSet::empty`): valid.
    // Configured by hand from a document with no usable key: a start-up error that says so,
    // instead of a set that refuses every token at request time.
    assert_eq!(
        JwkSet::from_json(r#"{"keys":[]}"#).unwrap_err(),
        ConfigError::NoUsableKey {
            left_out: 0,
            first: None
        }
    );
    let v = Verifier::from_supabase_url(TestKeys::SUPABASE_URL)
        .hs256_secret(Hs256Secret::new(TestKeys::HS256_SECRET).unwrap())
        .jwk_set(JwkSet::empty())
        .clock(FixedClock::new(NOW))
        .build()
        .unwrap();
    assert!(v.verify(&TokenBuilder::new().sign_hs256(&keys())).is_ok());
    refused(
        v.verify(&TokenBuilder::new().sign_es256(&keys())),
        Error::UnknownKey,
    );
    // Sets that held keys, none left once prepared or merged: refused when the verifier is
    // built (a point off its curve; the same set twice, every `kid` then ambiguous).
    let off = ec_jwk(json!({"y": B64.encode([1u8; 32])}));
    let set = JwkSet::from_json(&json!({"keys": [off]}).to_string()).unwrap();
    let err = Verifier::builder().jwk_set(set).build().unwrap_err();
    assert!(
        matches!(err, ConfigError::NoUsableKey { left_out: 1, .. }),
        "{err}"
    );
    let set = JwkSet::from_json(&keys().jwks_json()).unwrap();
    let err = Verifier::builder()
        .jwk_set(set.clone())
        .jwk_set(set)
        .build()
        .unwrap_err();
    assert!(matches!(err, ConfigError::NoUsableKey { .. }), "{err}");
    let asym_only = Verifier::builder().jwk_set(JwkSet::empty()).build();
    assert!(
        asym_only.is_ok(),
        "an empty published set is not a configuration error"
    );
}

#[test]
fn row_77_key_selection_needs_family_and_kid() {
    let hs_with_es_kid = TokenBuilder::new()
        .header("kid", TestKeys::ES256_KID)
        .sign_hs256(&keys());
    refused(verifier().verify(&hs_with_es_kid), Error::AlgNotAllowed);
    let es_without_kid = TokenBuilder::new().remove_header("kid").sign_es256(&keys());
    refused(verifier().verify(&es_without_kid), Error::UnknownKey);
}

// ---------------------------------------------------------------------------------------------
// Helpers: 256-bit big-endian arithmetic for the ECDSA rows.
// ---------------------------------------------------------------------------------------------

fn p256_order() -> [u8; 32] {
    let hex = "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551";
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

fn sub_be(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut v = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = 0;
        if v < 0 {
            v += 256;
            borrow = 1;
        }
        out[i] = u8::try_from(v).unwrap();
    }
    out
}
