//! Reading a session from a realistic `Cookie` header (a dozen unrelated cookies around it),
//! 1-chunk and 5-chunk, and writing a 5-chunk session, against the floor of a bare base64url
//! decode plus one `serde_json` parse of the same session bytes, measured in the same run
//! (criterion medians and a paired measurement; see `verify.rs` for why both).
//!
//! `taskset -c 1 cargo bench -p supagate-benches --bench cookie`, then
//! `python3 benches/report.py`.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::hint::black_box;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, header::COOKIE};
use serde_json::{Value, json};
use supagate_benches::paired;
use supagate_cookie::{CookieName, CookieOptions, Session, SessionReader, SessionWriter};

const KEY: &str = "sb-abcdefghijklmnopqrst-auth-token";

fn session(bio_len: usize) -> String {
    json!({
        "access_token": "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsiLCJ0eXAiOiJKV1QifQ.eyJzdWIiOiIzZjFjMGYwZS02YThiLTRiMWUtOWE1Ny0wYzJkOGY1ZTdhMTEifQ.c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl",
        "token_type": "bearer", "expires_in": 3600, "expires_at": 1_798_765_140,
        "refresh_token": "ALHg8qR8PU5fipsMHS4_SlsBxYBDHr3AXRVhp6BcLrHOtXhK0xk",
        "user": {"id": "3f1c0f0e-6a8b-4b1e-9a57-0c2d8f5e7a11", "aud": "authenticated", "email": "alice@example.com",
                 "app_metadata": {"provider": "github", "providers": ["github"]},
                 "user_metadata": {"bio": "b".repeat(bio_len), "avatar_url": "https://avatars.githubusercontent.com/u/1?v=4"},
                 "identities": [], "is_anonymous": false}
    })
    .to_string()
}

/// A browser-like Cookie header: analytics, consent, CSRF and preference cookies around the
/// session cookies.
fn cookie_header(session_pairs: &[String]) -> HeaderMap {
    let mut pairs: Vec<String> = (0..6)
        .map(|i| format!("_ga_{i}=GA1.1.{}.1700000000", 1_000_000 + i))
        .collect();
    pairs.extend(session_pairs.iter().cloned());
    pairs.extend(
        [
            "theme=dark",
            "consent=%7B%22ads%22%3Afalse%7D",
            "csrf=Zm9vYmFyYmF6",
            "lang=en-GB",
            "sidebar=collapsed",
            "tz=Europe%2FLondon",
        ]
        .map(String::from),
    );
    let mut h = HeaderMap::new();
    h.append(COOKIE, HeaderValue::from_str(&pairs.join("; ")).unwrap());
    h
}

fn bench(c: &mut Criterion) {
    let name = CookieName::custom(KEY).unwrap();
    let writer = SessionWriter::new(name.clone(), CookieOptions::default()).unwrap();
    let reader = SessionReader::new(name);
    let empty = HeaderMap::new();

    for (label, bio) in [("one_chunk", 200), ("five_chunks", 11_000)] {
        let json = session(bio);
        let s = Session::from_json(&json).unwrap();
        let set = writer.set(&s, &empty).unwrap();
        let pairs: Vec<String> = set
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .collect();
        eprintln!(
            "{label}: {} cookie(s), session {} bytes",
            pairs.len(),
            json.len()
        );
        let headers = cookie_header(&pairs);
        assert_eq!(reader.read(&headers).unwrap().unwrap().expose_json(), json);
        let encoded = URL_SAFE_NO_PAD.encode(json.as_bytes());

        let read = || {
            black_box(reader.read(black_box(&headers)).unwrap());
        };
        let floor = || {
            let bytes = URL_SAFE_NO_PAD.decode(black_box(&encoded)).unwrap();
            black_box(serde_json::from_slice::<Value>(&bytes).unwrap());
        };
        let write = || {
            black_box(writer.set(black_box(&s), &empty).unwrap());
        };
        let group_name = format!("cookie_{label}");
        let mut group = c.benchmark_group(&group_name);
        group.bench_function("floor", |b| b.iter(floor));
        group.bench_function("read", |b| b.iter(read));
        if label == "five_chunks" {
            group.bench_function("write", |b| b.iter(write));
        }
        group.finish();
        let mut fns: Vec<(&str, &dyn Fn())> = vec![("floor", &floor), ("read", &read)];
        if label == "five_chunks" {
            fns.push(("write", &write));
        }
        paired(
            &group_name,
            &fns,
            if label == "one_chunk" { 100 } else { 30 },
            600,
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
