//! Every access token in the real `@supabase/ssr` corpus (`testdata/supabase-ssr/`)
//! verifies at the corpus clock (HS256 with `keys/hs256.json`, ES256 with `keys/jwks.json`),
//! and fails one hour later. The public anon key in the corpus never verifies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use supagate_core::RequestError as _;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::Value;
use supagate_jwt::{CryptoBackend, Error, FixedClock, Hs256Secret, JwkSet, Verifier};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/supabase-ssr")
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every compact JWS found in any string of `v` (cookie headers, request bodies, fields).
fn collect_tokens(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            for (i, _) in s.match_indices("eyJ") {
                let tail = &s[i..];
                let end = tail
                    .find(|c: char| {
                        !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
                    })
                    .unwrap_or(tail.len());
                let candidate = tail[..end].trim_end_matches('.');
                if candidate.split('.').count() == 3 && candidate.split('.').all(|p| !p.is_empty())
                {
                    out.push(candidate.to_owned());
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_tokens(x, out)),
        Value::Object(o) => o.values().for_each(|x| collect_tokens(x, out)),
        _ => {}
    }
}

fn payload(token: &str) -> Value {
    serde_json::from_slice(&B64.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

struct Corpus {
    now: i64,
    url: String,
    secret: String,
    jwks: String,
    anon_key: String,
    /// token -> the case files it appears in
    tokens: BTreeMap<String, Vec<String>>,
    /// case id -> (expected_access_token, access_token_claims)
    expected: Vec<(String, String, Value)>,
}

fn corpus() -> Corpus {
    let dir = corpus_dir();
    let index = read(&dir.join("index.json"));
    let secret = read(&dir.join("keys/hs256.json"))["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let jwks = std::fs::read_to_string(dir.join("keys/jwks.json")).unwrap();
    let mut tokens: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut expected = Vec::new();
    for entry in std::fs::read_dir(dir.join("cases")).unwrap() {
        let path = entry.unwrap().path();
        let case = read(&path);
        let id = case["id"].as_str().unwrap().to_owned();
        let mut found = Vec::new();
        collect_tokens(&case, &mut found);
        for t in found {
            tokens.entry(t).or_default().push(id.clone());
        }
        if let Some(t) = case["expected_access_token"].as_str() {
            expected.push((id, t.to_owned(), case["access_token_claims"].clone()));
        }
    }
    let url = read(&dir.join("cases/w01-small-hs256-base64url.json"))["supabase_url"]
        .as_str()
        .unwrap()
        .to_owned();
    Corpus {
        now: index["reference_now_unix"].as_i64().unwrap(),
        url,
        secret,
        jwks,
        anon_key: index["anon_key"].as_str().unwrap().to_owned(),
        tokens,
        expected,
    }
}

fn verifier(c: &Corpus, now: i64, leeway: Duration, backend: CryptoBackend) -> Verifier {
    Verifier::from_supabase_url(&c.url)
        .hs256_secret(Hs256Secret::new(&c.secret).unwrap())
        .jwk_set(JwkSet::from_json(&c.jwks).unwrap())
        .clock(FixedClock::new(now))
        .leeway(leeway)
        .backend(backend)
        .build()
        .unwrap()
}

#[test]
fn every_corpus_access_token_verifies_at_the_corpus_clock_and_fails_an_hour_later() {
    let c = corpus();
    let access: Vec<&String> = c
        .tokens
        .keys()
        .filter(|t| payload(t)["role"] != "anon")
        .collect();
    assert!(
        access.len() >= 10,
        "found only {} access tokens",
        access.len()
    );
    for (_, t, _) in &c.expected {
        assert!(
            c.tokens.contains_key(t),
            "expected_access_token not collected"
        );
    }
    for backend in CryptoBackend::compiled() {
        let now = verifier(&c, c.now, supagate_jwt::Verifier::DEFAULT_LEEWAY, backend);
        let later = verifier(&c, c.now + 3600, Duration::ZERO, backend);
        let later_with_leeway = verifier(
            &c,
            c.now + 3600 + 30,
            supagate_jwt::Verifier::DEFAULT_LEEWAY,
            backend,
        );
        for token in &access {
            let cases = &c.tokens[*token];
            let claims = now
                .verify(token)
                .unwrap_or_else(|e| panic!("{backend}: {cases:?}: {e} ({})", e.reason()));
            assert_eq!(claims.aud.as_single(), Some("authenticated"));
            assert_eq!(
                later.verify(token).unwrap_err(),
                Error::Expired,
                "{cases:?}"
            );
            assert_eq!(
                later_with_leeway.verify(token).unwrap_err(),
                Error::Expired,
                "{cases:?}"
            );
        }
    }
}

#[test]
fn corpus_claims_read_as_recorded() {
    let c = corpus();
    let v = verifier(
        &c,
        c.now,
        supagate_jwt::Verifier::DEFAULT_LEEWAY,
        CryptoBackend::preferred().unwrap(),
    );
    for (id, token, recorded) in &c.expected {
        let claims = v.verify(token).unwrap();
        assert_eq!(
            claims.sub.to_string(),
            recorded["sub"].as_str().unwrap(),
            "{id}"
        );
        assert_eq!(
            claims.email.as_deref(),
            recorded["email"].as_str().filter(|s| !s.is_empty()),
            "{id}"
        );
        assert_eq!(
            claims.is_anonymous,
            recorded["is_anonymous"].as_bool().unwrap(),
            "{id}"
        );
        assert_eq!(
            claims.postgres_role.as_deref(),
            recorded["role"].as_str(),
            "{id}"
        );
        assert_eq!(
            Value::Object(claims.app_metadata.clone()),
            recorded["app_metadata"],
            "{id}"
        );
        assert_eq!(
            Value::Object(claims.user_metadata.clone()),
            recorded["user_metadata"],
            "{id}"
        );
        assert_eq!(
            claims.session_id.as_deref(),
            recorded["session_id"].as_str(),
            "{id}"
        );
        // A typed round trip through the caller's own type sees the same values.
        let raw: Value = v.verify_as(token).unwrap();
        assert_eq!(&raw, recorded, "{id}");
    }
}

#[test]
fn corpus_anon_key_is_never_a_bearer_token() {
    let c = corpus();
    assert_eq!(payload(&c.anon_key)["role"], "anon");
    for backend in CryptoBackend::compiled() {
        let v = verifier(&c, c.now, supagate_jwt::Verifier::DEFAULT_LEEWAY, backend);
        let err = v.verify(&c.anon_key).unwrap_err();
        assert_eq!(err.status(), http::StatusCode::UNAUTHORIZED);
        // Whatever is checked first, the key is refused; with `sub` it would still fail `aud`.
        assert!(matches!(
            err,
            Error::MissingClaim { .. }
                | Error::AudienceMismatch
                | Error::IssuerMismatch
                | Error::LifetimeTooLong
        ));
    }
}

#[test]
fn corpus_tokens_fail_with_the_wrong_project() {
    let c = corpus();
    let other = Verifier::from_supabase_url("https://otherprojectref0000.supabase.co")
        .hs256_secret(Hs256Secret::new(&c.secret).unwrap())
        .jwk_set(JwkSet::from_json(&c.jwks).unwrap())
        .clock(FixedClock::new(c.now))
        .build()
        .unwrap();
    for token in c.tokens.keys().filter(|t| payload(t)["role"] != "anon") {
        assert_eq!(other.verify(token).unwrap_err(), Error::IssuerMismatch);
    }
}
