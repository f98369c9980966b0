//! The frontend proxy's own work per forwarded request, without the network: read the
//! `@supabase/ssr` session cookie, verify the access token (HS256 legacy secret), prepare the
//! upstream headers, and filter a typical response's headers; against the bare hop's header
//! work (copy the request headers and set a bearer) in the same run.
//!
//! `taskset -c 1 cargo bench -p supagate-benches --bench proxy`, then
//! `python3 benches/report.py`.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue};
use supagate_cookie::{CookieName, SessionReader};
use supagate_jwt::{FixedClock, Token};
use supagate_proxy::HeaderPolicy;
use supagate_proxy::core::{Observed, filter_upstream_response_headers, prepare_upstream_headers};
use supagate_testkit::{TestKeys, TokenBuilder, session_cookie_header};

fn bench(c: &mut Criterion) {
    let keys = TestKeys::new();
    let token = TokenBuilder::new().sign_hs256(&keys);
    let cookie = session_cookie_header(TestKeys::SUPABASE_URL, &token).unwrap();
    let reader = SessionReader::new(CookieName::from_supabase_url(TestKeys::SUPABASE_URL).unwrap());
    let verifier = keys
        .verifier_builder()
        .clock(FixedClock::new(TokenBuilder::DEFAULT_NOW))
        .build()
        .unwrap();
    let mut incoming = HeaderMap::new();
    for (n, v) in [
        ("host", "app.example.com"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0 Safari/537.36",
        ),
        ("accept", "application/json"),
        ("accept-language", "en-GB,en;q=0.9"),
        ("accept-encoding", "gzip, deflate, br"),
        ("sec-fetch-site", "same-origin"),
        ("sec-fetch-mode", "cors"),
        ("referer", "https://app.example.com/dashboard"),
    ] {
        incoming.insert(n, HeaderValue::from_static(v));
    }
    incoming.insert(
        "cookie",
        HeaderValue::from_str(&format!("{cookie}; theme=dark")).unwrap(),
    );
    let observed = Observed::new("198.51.100.7".parse().unwrap(), "app.example.com", true).unwrap();
    let policy = HeaderPolicy::default();
    let mut response = HeaderMap::new();
    for (n, v) in [
        ("content-type", "application/json"),
        ("content-length", "77"),
        ("date", "Fri, 27 Nov 2026 22:01:38 GMT"),
        ("cache-control", "no-store"),
    ] {
        response.insert(n, HeaderValue::from_static(v));
    }

    let mut g = c.benchmark_group("proxy_request");
    g.bench_function("supagate_uncached", |b| {
        b.iter(|| {
            let session = reader.read(black_box(&incoming)).unwrap().unwrap();
            let claims = verifier.verify(session.access_token().expose()).unwrap();
            let out = prepare_upstream_headers(
                &incoming,
                &policy,
                Some(session.access_token()),
                claims.sub.as_uuid().as_ref(),
                &observed,
            )
            .unwrap();
            let mut res = response.clone();
            filter_upstream_response_headers(&mut res, &HeaderPolicy::default());
            black_box((out, res))
        });
    });
    g.bench_function("bare_hop", |b| {
        let bearer = Token::new(token.clone());
        b.iter(|| {
            let mut out = black_box(&incoming).clone();
            out.remove("cookie");
            out.insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {}", bearer.expose())).unwrap(),
            );
            let res = response.clone();
            black_box((out, res))
        });
    });
    g.bench_function("session_read", |b| {
        b.iter(|| black_box(reader.read(black_box(&incoming)).unwrap()));
    });
    g.bench_function("verify_hs256", |b| {
        b.iter(|| black_box(verifier.verify(black_box(&token)).unwrap()));
    });
    g.bench_function("prepare_headers", |b| {
        let t = Token::new(token.clone());
        b.iter(|| {
            black_box(
                prepare_upstream_headers(black_box(&incoming), &policy, Some(&t), None, &observed)
                    .unwrap(),
            )
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
