//! ES256 verification cold (no token cache) against a verified-token cache hit and raw
//! `jsonwebtoken::decode`, in one run, on the same Supabase-sized token (1044 bytes).
//!
//! `taskset -c 1 cargo bench -p supagate-benches --bench token_cache`, then
//! `python3 benches/report.py`.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use supagate_benches::paired;
use supagate_jwt::{Claims, FixedClock, TokenCacheConfig};
use supagate_testkit::{TestKeys, TokenBuilder};

fn bench(c: &mut Criterion) {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let keys = TestKeys::new();
    let token = TokenBuilder::new()
        .claim(
            "user_metadata",
            json!({
                "avatar_url": "https://avatars.githubusercontent.com/u/1234567?v=4",
                "email": "user@example.com", "email_verified": true,
                "full_name": "Ada Lovelace", "phone_verified": false,
                "sub": TokenBuilder::DEFAULT_SUB,
            }),
        )
        .sign_es256(&keys);
    let cold = keys
        .verifier_builder()
        .clock(FixedClock::new(TokenBuilder::DEFAULT_NOW))
        .build()
        .unwrap();
    let cached = keys
        .verifier_builder()
        .clock(FixedClock::new(TokenBuilder::DEFAULT_NOW))
        .token_cache(TokenCacheConfig::default())
        .build()
        .unwrap();
    assert_eq!(cached.verify(&token).unwrap(), cold.verify(&token).unwrap());

    let jwks: Value = serde_json::from_str(&keys.jwks_json()).unwrap();
    let es = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == TestKeys::ES256_KID)
        .unwrap()
        .clone();
    let raw_key =
        DecodingKey::from_ec_components(es["x"].as_str().unwrap(), es["y"].as_str().unwrap())
            .unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&["authenticated"]);
    validation.set_issuer(&[TestKeys::ISSUER]);
    validation.leeway = 30;
    assert!(jsonwebtoken::decode::<Claims>(&token, &raw_key, &validation).is_ok());

    let run_cold = || {
        black_box(cold.verify(black_box(&token)).unwrap());
    };
    let run_hit = || {
        black_box(cached.verify(black_box(&token)).unwrap());
    };
    let run_raw = || {
        black_box(
            jsonwebtoken::decode::<Claims>(black_box(&token), &raw_key, &validation).unwrap(),
        );
    };
    let mut group = c.benchmark_group("token_cache");
    group.bench_function("es256_cold", |b| b.iter(run_cold));
    group.bench_function("cache_hit", |b| b.iter(run_hit));
    group.bench_function("jsonwebtoken_decode", |b| b.iter(run_raw));
    group.finish();
    paired(
        "token_cache",
        &[
            ("es256_cold", &run_cold),
            ("cache_hit", &run_hit),
            ("jsonwebtoken_decode", &run_raw),
        ],
        20,
        400,
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
