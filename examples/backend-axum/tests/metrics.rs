//! `METRICS=prometheus`: a scripted mix of requests (valid, a cache hit, expired, forged, an
//! unknown key, no credentials, policy-denied, an admin, a key rotation), then `GET /metrics`
//! read back: the documented names, labels and counts, real histogram buckets, and no token,
//! key or email; nor in any `tracing` event of that mix, at the most verbose level.
//! One test in this binary: the recorder is process-wide.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use axum::body::Body;
use http::Request;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use supagate::auth::ProtectedResource;
use supagate::core::{FixedClock, Origin};
use supagate::{Authenticator, RemoteJwks, Verifier};
use supagate_testkit::{MockJwks, TestKeys, TokenBuilder};
use tower::ServiceExt;

async fn get(app: &axum::Router, path: &str, token: Option<&str>) -> (u16, String) {
    let mut req = Request::get(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 22)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// A writer into a shared buffer, for the test's subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The test JWK set restricted to these kids.
fn set_with(kids: &[&str]) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&TestKeys::new().jwks_json()).unwrap();
    let keys = v["keys"].as_array_mut().unwrap();
    keys.retain(|k| kids.contains(&k["kid"].as_str().unwrap()));
    v.to_string()
}

/// The value of the exposition line that starts with `series` (a name and its labels).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no series {series} in:\n{text}"))
}

#[tokio::test]
async fn a_scripted_mix_reads_back_under_the_documented_names() {
    let handle = backend_common::metrics::install(Some("prometheus")).unwrap();
    // Every event of the mix, of every target and thread (the key-set fetches run on a thread
    // of their own), at trace level: this binary's only test, so the global subscriber.
    let captured = Captured::default();
    let sink = captured.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish(),
    )
    .unwrap();
    let keys = TestKeys::new();
    let resource = ProtectedResource::new(
        Origin::parse("https://api.example.com").unwrap(),
        "/",
        TestKeys::SUPABASE_URL,
    )
    .unwrap();
    // The project's key set as published before a rotation: the ES256 key only. Its clock
    // is the one the test moves past the refetch cooldown.
    let published = MockJwks::start(&set_with(&[TestKeys::ES256_KID]));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let jwks_clock = FixedClock::new(i64::try_from(now).unwrap());
    let jwks = RemoteJwks::builder(published.url())
        .clock(jwks_clock.clone())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let verifier = Verifier::from_supabase_url(TestKeys::SUPABASE_URL)
        .key_source(jwks)
        .build()
        .unwrap();
    let auth = Authenticator::new(verifier);
    let app = backend_axum::app(auth, resource).unwrap();
    let handle = handle.unwrap();

    let user = TokenBuilder::now()
        .claim("email", "someone@example.com")
        .sign_es256(&keys);
    let admin = TokenBuilder::now()
        .claim(
            "app_metadata",
            serde_json::json!({ "provider": "email", "role": "admin" }),
        )
        .sign_es256(&keys);
    let expired = TokenBuilder::new()
        .issued_at(1_000_000_000, 60)
        .sign_es256(&keys);
    // A signature byte changed (in the middle: the last character may carry only padding).
    let forged = {
        let mut t = user.clone().into_bytes();
        let at = t.len() - 20;
        t[at] = if t[at] == b'A' { b'B' } else { b'A' };
        String::from_utf8(t).unwrap()
    };
    let unknown_key = TokenBuilder::now()
        .header("kid", "not-in-the-set")
        .sign_es256(&keys);

    assert_eq!(get(&app, "/profile/me", Some(&user)).await.0, 200);
    assert_eq!(get(&app, "/profile/me", Some(&user)).await.0, 200); // a cache hit
    assert_eq!(get(&app, "/profile/me", Some(&expired)).await.0, 401);
    assert_eq!(get(&app, "/profile/me", Some(&forged)).await.0, 401);
    assert_eq!(get(&app, "/profile/me", Some(&unknown_key)).await.0, 401);
    assert_eq!(get(&app, "/profile/me", None).await.0, 401);
    assert_eq!(get(&app, "/public/whoami", None).await.0, 200);
    assert_eq!(get(&app, "/admin/stats", Some(&user)).await.0, 403);
    assert_eq!(get(&app, "/admin/stats", Some(&admin)).await.0, 200);
    // A key rotation: the project publishes an RS256 key beside the ES256 one; past the
    // cooldown, the first token signed with it refetches the set once and is admitted.
    published.set_keys(&set_with(&[TestKeys::ES256_KID, TestKeys::RS256_KID]));
    jwks_clock.advance(31);
    let rotated = TokenBuilder::now().sign_rs256(&keys);
    assert_eq!(get(&app, "/profile/me", Some(&rotated)).await.0, 200);
    assert_eq!(
        published.requests(),
        2,
        "one fetch, then one for the rotation"
    );

    // The exposition is not on the API's own router.
    assert_eq!(get(&app, "/metrics", None).await.0, 404);
    let text = handle.render();
    let duration = "supagate_authentication_duration_seconds";
    // Real histograms: buckets, not a summary.
    assert!(
        text.contains(&format!("# TYPE {duration} histogram")),
        "{text}"
    );
    assert!(text.contains(&format!("{duration}_bucket{{")), "{text}");
    assert!(text.contains(&format!("# HELP {duration} ")), "{text}");
    let count = |labels: &str| value(&text, &format!("{duration}_count{{{labels}}}"));
    // /profile/me twice as the user and once with the rotated key, /admin/stats as the admin;
    // the user on /admin/stats is refused by the policy (and counted as an authorization
    // attempt below too).
    assert_eq!(count(r#"mode="user",result="success",error_type="""#), 4.0);
    assert_eq!(
        count(r#"mode="unknown",result="failure",error_type="forbidden_role""#),
        1.0
    );
    assert_eq!(
        count(r#"mode="unknown",result="failure",error_type="expired""#),
        1.0
    );
    assert_eq!(
        count(r#"mode="unknown",result="failure",error_type="bad_signature""#),
        1.0
    );
    assert_eq!(
        count(r#"mode="unknown",result="failure",error_type="unknown_key""#),
        1.0
    );
    // No credentials: on /profile/me (then refused) and on /public/whoami (admitted).
    assert_eq!(count(r#"mode="none",result="none",error_type="""#), 2.0);
    // The policy gate: one refusal by the role requirement, one pass.
    let attempts = "supagate_authorization_attempts_total";
    assert_eq!(
        value(&text, &format!(r#"{attempts}{{result="success"}}"#)),
        1.0
    );
    assert_eq!(
        value(
            &text,
            &format!(r#"{attempts}{{result="failure",requirement="forbidden_role"}}"#)
        ),
        1.0
    );
    // The key set: fetched at the first request, then once for the rotation; two keys held.
    assert_eq!(
        value(&text, r#"supagate_jwks_fetches_total{result="success"}"#),
        2.0
    );
    assert_eq!(value(&text, "supagate_jwks_keys"), 2.0);
    let cache = "supagate_token_cache_requests_total";
    assert!(
        value(&text, &format!(r#"{cache}{{result="hit"}}"#)) >= 1.0,
        "{text}"
    );
    assert!(
        value(&text, &format!(r#"{cache}{{result="miss"}}"#)) >= 1.0,
        "{text}"
    );

    // Nothing secret, nothing personal.
    for secret in [
        user.as_str(),
        admin.as_str(),
        forged.as_str(),
        "someone@example.com",
        TestKeys::HS256_SECRET,
        TokenBuilder::DEFAULT_SUB,
        TokenBuilder::DEFAULT_SESSION,
    ] {
        assert!(!text.contains(secret), "{secret} in the metrics");
    }
    for token in [&user, &expired, &rotated] {
        let signature = token.rsplit('.').next().unwrap();
        assert!(!text.contains(signature));
    }

    // The events of the same mix: the admissions and refusals are there, nothing secret.
    let events = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let decided = |alg: &str| {
        events.lines().any(|l| {
            l.contains("authentication decided")
                && l.contains(&format!("algorithm=\"{alg}\""))
                && l.contains("issuer_host=\"testkitprojectref00.supabase.co\"")
        })
    };
    assert!(decided("ES256") && decided("RS256"), "{events}");
    assert!(
        events.contains("request refused") && events.contains("reason=\"unknown_key\""),
        "{events}"
    );
    for secret in [
        user.as_str(),
        admin.as_str(),
        expired.as_str(),
        forged.as_str(),
        unknown_key.as_str(),
        rotated.as_str(),
        "someone@example.com",
        TestKeys::HS256_SECRET,
        TokenBuilder::DEFAULT_SUB,
        TokenBuilder::DEFAULT_SESSION,
    ] {
        assert!(
            !events.contains(secret),
            "{secret} in the events:\n{events}"
        );
    }
    for token in [&user, &admin, &expired, &forged, &unknown_key, &rotated] {
        let signature = token.rsplit('.').next().unwrap();
        assert!(!events.contains(signature), "a signature in the events");
    }
}
