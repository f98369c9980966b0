//! `verify` on a Supabase-sized access token (about 900 bytes, full claims) against baselines
//! measured in the same run:
//!
//! - `jsonwebtoken_decode`: raw `jsonwebtoken::decode` of the same token into the same
//!   `Claims` type, with a Supabase-style `Validation` and the `DecodingKey` built once;
//! - `floor` (HS256 only): split, base64url, HMAC with a key prepared once, one `serde_json`
//!   parse into `Claims`, `aud`/`exp` check — the least work any correct HS256 verifier does.
//!
//! The machine these run on is shared and its speed drifts on a scale of seconds, so two
//! criterion benchmarks measured one after the other can differ by 30 % for reasons that have
//! nothing to do with the code. Besides the criterion medians, each group therefore takes a
//! **paired** measurement: rounds in which every compared function (our AWS-LC `verify`, raw
//! decode, and the floor) runs one chunk of about a millisecond, back to back, in alternating
//! order; the ratio to the baseline is computed per round and the median over rounds is
//! reported. Both come from the same run; the paired ratio is the one to trust. Results go to
//! `target/criterion/paired/<group>.json`.
//!
//! Run pinned to one core: `taskset -c 1 cargo bench -p supagate-benches --bench verify`, then
//! `python3 benches/report.py` for medians and ratios.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::hint::black_box;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use supagate_benches::paired;
use supagate_jwt::{Claims, CryptoBackend, Verifier};
use supagate_testkit::{TestKeys, TokenBuilder};

/// A token shaped like a real Supabase session: email user, full GoTrue claims, some
/// user_metadata from an OAuth provider.
fn supabase_sized() -> TokenBuilder {
    TokenBuilder::new().claim(
        "user_metadata",
        json!({
            "avatar_url": "https://avatars.githubusercontent.com/u/1234567?v=4",
            "email": "user@example.com",
            "email_verified": true,
            "full_name": "Ada Lovelace",
            "phone_verified": false,
            "sub": TokenBuilder::DEFAULT_SUB,
        }),
    )
}

fn jwk(keys: &Value, kid: &str) -> Value {
    keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap()
        .clone()
}

fn validation(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.set_audience(&["authenticated"]);
    v.set_issuer(&[TestKeys::ISSUER]);
    v.leeway = 30;
    v
}

/// The HS256 floor: the minimum a correct verifier must do.
fn floor(token: &str, key: &aws_lc_rs::hmac::Key) -> Option<Claims> {
    let (input, sig) = token.rsplit_once('.')?;
    let (_, payload) = input.split_once('.')?;
    let sig = B64.decode(sig).ok()?;
    aws_lc_rs::hmac::verify(key, input.as_bytes(), &sig).ok()?;
    let claims: Claims = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
    (claims.aud.contains("authenticated") && claims.exp > TokenBuilder::DEFAULT_NOW)
        .then_some(claims)
}

fn bench(c: &mut Criterion) {
    // Raw jsonwebtoken needs a process-wide provider; ours never consults it.
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let keys = TestKeys::new();
    let jwks: Value = serde_json::from_str(&keys.jwks_json()).unwrap();
    let builder = supabase_sized();
    let tokens = [
        ("hs256", builder.sign_hs256(&keys)),
        ("es256", builder.sign_es256(&keys)),
        ("rs256", builder.sign_rs256(&keys)),
        ("eddsa", builder.sign_eddsa(&keys)),
    ];
    for (name, t) in &tokens {
        eprintln!("{name} token: {} bytes", t.len());
    }

    let mut backends = vec![CryptoBackend::AwsLc];
    if CryptoBackend::RustCrypto.is_compiled() {
        backends.push(CryptoBackend::RustCrypto);
    }
    let verifiers: Vec<(CryptoBackend, Verifier)> = backends
        .into_iter()
        .map(|b| {
            let v = keys
                .verifier_builder()
                .backend(b)
                .clock(supagate_jwt::FixedClock::new(TokenBuilder::DEFAULT_NOW))
                .build()
                .unwrap();
            (b, v)
        })
        .collect();

    let es = jwk(&jwks, TestKeys::ES256_KID);
    let rs = jwk(&jwks, TestKeys::RS256_KID);
    let ed = jwk(&jwks, TestKeys::EDDSA_KID);
    let raw_keys = [
        (
            Algorithm::HS256,
            DecodingKey::from_secret(TestKeys::HS256_SECRET.as_bytes()),
        ),
        (
            Algorithm::ES256,
            DecodingKey::from_ec_components(es["x"].as_str().unwrap(), es["y"].as_str().unwrap())
                .unwrap(),
        ),
        (
            Algorithm::RS256,
            DecodingKey::from_rsa_components(rs["n"].as_str().unwrap(), rs["e"].as_str().unwrap())
                .unwrap(),
        ),
        (
            Algorithm::EdDSA,
            DecodingKey::from_ed_components(ed["x"].as_str().unwrap()).unwrap(),
        ),
    ];
    let floor_key = aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA256,
        TestKeys::HS256_SECRET.as_bytes(),
    );

    let aws = &verifiers[0].1;
    for ((name, token), (alg, raw_key)) in tokens.iter().zip(raw_keys.iter()) {
        let mut group = c.benchmark_group(*name);
        let validation = validation(*alg);
        assert!(aws.verify(token).is_ok());
        assert!(jsonwebtoken::decode::<Claims>(token, raw_key, &validation).is_ok());
        let ours = || {
            black_box(aws.verify(black_box(token)).unwrap());
        };
        let raw = || {
            black_box(
                jsonwebtoken::decode::<Claims>(black_box(token), raw_key, &validation).unwrap(),
            );
        };
        let floor_fn = || {
            black_box(floor(black_box(token), &floor_key).unwrap());
        };
        let mut fns: Vec<(&str, &dyn Fn())> =
            vec![("jsonwebtoken_decode", &raw), ("supagate_aws_lc_rs", &ours)];
        if *name == "hs256" {
            fns.push(("floor", &floor_fn));
        }
        for (label, f) in &fns {
            group.bench_function(*label, |b| b.iter(f));
        }
        let chunk = match *name {
            "hs256" => 200,
            "rs256" => 40,
            _ => 16,
        };
        paired(name, &fns, chunk, 600);
        for (backend, v) in verifiers.iter().skip(1) {
            assert!(v.verify(token).is_ok());
            group.bench_function(format!("supagate_{backend}"), |b| {
                b.iter(|| v.verify(black_box(token)).unwrap())
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
