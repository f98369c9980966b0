//! Checking a 3-requirement policy (an app role, MFA, a recent sign-in) against verified claims,
//! against an HS256 `verify` of the same token measured in the same run (criterion medians and
//! the paired measurement; see `verify.rs`).
//!
//! `taskset -c 1 cargo bench -p supagate-benches --bench policy`, then `python3 benches/report.py`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use supagate_benches::paired;
use supagate_policy::{Policy, Requirement};
use supagate_testkit::{TestKeys, TokenBuilder};

fn bench(c: &mut Criterion) {
    let keys = TestKeys::new();
    let now = TokenBuilder::DEFAULT_NOW;
    let verifier = keys.verifier_at(now);
    let token = TokenBuilder::new()
        .claim(
            "app_metadata",
            json!({"provider": "email", "providers": ["email"], "role": "billing"}),
        )
        .claim("aal", "aal2")
        .sign_hs256(&keys);
    let claims = verifier.verify(&token).unwrap();
    let policy = Policy::require(Requirement::all([
        Requirement::role("billing"),
        Requirement::Aal2,
        Requirement::RecentSignIn { max_age_secs: 900 },
    ]))
    .unwrap();
    assert!(policy.check_at(&claims, now).is_allowed());

    let verify = || {
        black_box(verifier.verify(black_box(&token)).unwrap());
    };
    let check = || {
        let _ = black_box(policy.check_at(black_box(&claims), now));
    };
    let mut group = c.benchmark_group("policy");
    group.bench_function("hs256_verify", |b| b.iter(verify));
    group.bench_function("check_3_requirements", |b| b.iter(check));
    group.finish();
    paired(
        "policy",
        &[("hs256_verify", &verify), ("check_3_requirements", &check)],
        200,
        600,
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
