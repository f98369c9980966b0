//! What third-party issuers cost, paired in the same run (`target/criterion/paired/`):
//!
//! - `third_party_peek`, `third_party_peek_es256`: the project's own HS256 and ES256 tokens on
//!   a verifier without third-party issuers, and on one with two configured (for an
//!   asymmetric token the `iss` is read before the signature check; an HS256 token pays one
//!   string comparison per issuer after it);
//! - `third_party_es256`: a provider's ES256 token through `Verifier::verify`, against raw
//!   `jsonwebtoken::decode` with the provider's key and the same audience and issuer checks,
//!   what a user would write by hand.
//!
//! The token cache is off in both groups: these are cold verifications. Run pinned to one
//! core: `taskset -c 1 cargo bench -p supagate-benches --bench third_party`.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use supagate_benches::paired;
use supagate_jwt::{Claims, FixedClock, ThirdPartyIssuer, Verifier};
use supagate_testkit::{MockOidc, TestKeys, TokenBuilder};

const CLERK: &str = "https://clerk.example.com";
const AUTH0: &str = "https://tenant.eu.auth0.com/";

fn bench(c: &mut Criterion) {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let keys = TestKeys::new();
    let base = || {
        keys.verifier_builder()
            .clock(FixedClock::new(TokenBuilder::DEFAULT_NOW))
            .no_token_cache()
    };
    let alone: Verifier = base().build().unwrap();
    let with: Verifier = base()
        .third_party_issuer(
            ThirdPartyIssuer::new(CLERK)
                .audience(MockOidc::AUDIENCE)
                .jwk_set(MockOidc::jwk_set()),
        )
        .third_party_issuer(
            ThirdPartyIssuer::new(AUTH0)
                .audience("https://api.example.com")
                .jwk_set(MockOidc::jwk_set()),
        )
        .build()
        .unwrap();
    let project = TokenBuilder::new().sign_hs256(&keys);
    let provider = TokenBuilder::third_party(CLERK).sign_provider();
    assert!(alone.verify(&project).is_ok());
    assert!(with.verify(&project).is_ok());
    assert!(with.verify(&provider).is_ok());

    // The project's tokens with and without third-party issuers configured: HS256 (no `iss`
    // read before the signature) and ES256 (`iss` read first).
    let project_es = TokenBuilder::new().sign_es256(&keys);
    for (group_name, token, alg, chunk) in [
        ("third_party_peek", &project, "hs256", 200),
        ("third_party_peek_es256", &project_es, "es256", 16),
    ] {
        let run_alone = || {
            black_box(alone.verify(black_box(token)).unwrap());
        };
        let run_with = || {
            black_box(with.verify(black_box(token)).unwrap());
        };
        let (a, b) = (
            format!("project_{alg}_alone"),
            format!("project_{alg}_with_two_issuers"),
        );
        let mut group = c.benchmark_group(group_name);
        group.bench_function(&a, |bn| bn.iter(run_alone));
        group.bench_function(&b, |bn| bn.iter(run_with));
        group.finish();
        paired(group_name, &[(&a, &run_alone), (&b, &run_with)], chunk, 600);
    }

    let jwks: Value = serde_json::from_str(&MockOidc::jwks_json()).unwrap();
    let k = &jwks["keys"][0];
    let raw_key =
        DecodingKey::from_ec_components(k["x"].as_str().unwrap(), k["y"].as_str().unwrap())
            .unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[MockOidc::AUDIENCE]);
    validation.set_issuer(&[CLERK]);
    validation.leeway = 30;
    validation.validate_exp = false; // the token is from DEFAULT_NOW, in the future of no clock
    validation.required_spec_claims.clear();
    assert!(jsonwebtoken::decode::<Value>(&provider, &raw_key, &validation).is_ok());
    let mut group = c.benchmark_group("third_party_es256");
    let ours = || {
        let claims: Claims = with.verify(black_box(&provider)).unwrap();
        black_box(claims);
    };
    let raw = || {
        black_box(
            jsonwebtoken::decode::<Value>(black_box(&provider), &raw_key, &validation).unwrap(),
        );
    };
    group.bench_function("jsonwebtoken_decode", |b| b.iter(raw));
    group.bench_function("supagate_verify", |b| b.iter(ours));
    group.finish();
    paired(
        "third_party_es256",
        &[("jsonwebtoken_decode", &raw), ("supagate_verify", &ours)],
        16,
        600,
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
