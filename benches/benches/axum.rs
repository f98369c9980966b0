//! The full axum request path in-process (router, extractor, HS256 verification, JSON
//! response), three ways in the same run:
//!
//! - `no_auth`: the same route and response with no authentication at all (the floor);
//! - `handwritten_jsonwebtoken`: a hand-written extractor around raw `jsonwebtoken::decode`
//!   (Supabase-style `Validation`, `DecodingKey` built once) into the same `Claims` type,
//!   answering 401 on any failure: what teams write today;
//! - `supagate_claims`: `supagate::axum::Authenticated` with the `Authenticator` from router state;
//! - `supagate_modes`: the same user request through auth-mode dispatch, `AdmitLayer` with
//!   modes `user, none` and the `Admitted` extractor, on an authenticator that has the test
//!   project's API keys and legacy anon key configured (so the "bearer is an API key" checks
//!   run): what the dispatch adds to a user request is `supagate_modes / supagate_claims`.
//!
//! Each iteration builds the request, runs it through `Router::oneshot` on a current-thread
//! tokio runtime and drops the response. `taskset -c 1 cargo bench -p supagate-benches --bench
//! axum`, then `python3 benches/report.py`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::{Request, StatusCode, request::Parts};
use axum::routing::get;
use axum::{Json, Router};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use supagate::Authenticator;
use supagate::auth::{ApiKeys, Caller};
use supagate::axum::{AdmitLayer, Admitted, Authenticated};
use supagate_benches::paired;
use supagate_testkit::{TestKeys, TokenBuilder};
use tower::ServiceExt;

/// What the hand-written extractor needs in state.
#[derive(Clone)]
struct RawState {
    key: DecodingKey,
    validation: Validation,
}

/// The hand-written extractor.
struct RawClaims(supagate::Claims);

impl FromRequestParts<RawState> for RawClaims {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, state: &RawState) -> Result<Self, StatusCode> {
        let header = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or(StatusCode::UNAUTHORIZED)?;
        let token = header
            .strip_prefix("Bearer ")
            .ok_or(StatusCode::UNAUTHORIZED)?;
        jsonwebtoken::decode::<supagate::Claims>(token, &state.key, &state.validation)
            .map(|d| RawClaims(d.claims))
            .map_err(|_| StatusCode::UNAUTHORIZED)
    }
}

fn profile(c: &supagate::Claims) -> Json<Value> {
    Json(json!({ "user_id": c.sub, "email": c.email }))
}

fn bench(c: &mut Criterion) {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let keys = TestKeys::new();
    let token = TokenBuilder::new().sign_hs256(&keys);
    let authorization = format!("Bearer {token}");

    let ours: Router = Router::new()
        .route(
            "/profile/me",
            get(|Authenticated(c): Authenticated| async move { profile(&c) }),
        )
        .with_state(Authenticator::new(
            keys.verifier_at(TokenBuilder::DEFAULT_NOW),
        ));
    let keyed = Authenticator::builder(keys.verifier_at(TokenBuilder::DEFAULT_NOW))
        .api_keys(ApiKeys::from_variables(&TestKeys::api_key_variables()).unwrap())
        .legacy_anon_key(TestKeys::legacy_anon_key())
        .build()
        .unwrap();
    let modes: Router = Router::new()
        .route(
            "/profile/me",
            get(|Admitted(c): Admitted| async move {
                match c {
                    Caller::User(c) => profile(&c),
                    _ => Json(Value::Null),
                }
            })
            .layer(AdmitLayer::new(
                keyed.clone(),
                "user, none".parse().unwrap(),
            )),
        )
        .with_state(keyed);
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&["authenticated"]);
    validation.set_issuer(&[TestKeys::ISSUER]);
    validation.leeway = 30;
    let raw: Router = Router::new()
        .route(
            "/profile/me",
            get(|RawClaims(c): RawClaims| async move { profile(&c) }),
        )
        .with_state(RawState {
            key: DecodingKey::from_secret(TestKeys::HS256_SECRET.as_bytes()),
            validation,
        });
    let fixed = keys
        .verifier_at(TokenBuilder::DEFAULT_NOW)
        .verify(&token)
        .unwrap();
    let none: Router = Router::new().route(
        "/profile/me",
        get(move || {
            let c = fixed.clone();
            async move { profile(&c) }
        }),
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let call = |router: &Router| {
        let req = Request::builder()
            .uri("/profile/me")
            .header("authorization", authorization.as_str())
            .body(Body::empty())
            .unwrap();
        let res = rt.block_on(router.clone().oneshot(req)).unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        black_box(res);
    };
    let run_none = || call(&none);
    let run_raw = || call(&raw);
    let run_ours = || call(&ours);
    let run_modes = || call(&modes);

    let mut group = c.benchmark_group("axum");
    group.bench_function("no_auth", |b| b.iter(run_none));
    group.bench_function("handwritten_jsonwebtoken", |b| b.iter(run_raw));
    group.bench_function("supagate_claims", |b| b.iter(run_ours));
    group.bench_function("supagate_modes", |b| b.iter(run_modes));
    group.finish();
    paired(
        "axum",
        &[
            ("handwritten_jsonwebtoken", &run_raw),
            ("no_auth", &run_none),
            ("supagate_claims", &run_ours),
            ("supagate_modes", &run_modes),
        ],
        100,
        600,
    );
    // What auth-mode dispatch adds to a user request: the ratio of `supagate_modes`.
    paired(
        "axum_modes",
        &[
            ("supagate_claims", &run_ours),
            ("supagate_modes", &run_modes),
        ],
        100,
        1000,
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
