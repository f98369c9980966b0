//! The `tracing` events of authentication (target `supagate`): an admission's
//! `authentication decided` (result, mode, the issuer's host), a refusal's `request refused`
//! (status, reason), under a mix of requests; never a token, a key or an email, and the user
//! and session ids only when the authenticator was built with `trace_identities`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use supagate_auth::{ApiKeys, Authenticator, Gate};
use supagate_testkit::{TestKeys, TokenBuilder};

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

fn headers(pairs: &[(&'static str, String)]) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, v.parse().unwrap());
    }
    h
}

/// Every event of a mix of requests, as the fmt subscriber writes them at debug level.
fn events(auth: &Authenticator, tokens: &[String]) -> String {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let gate = Gate::modes(auth.clone(), "user, publishable, none".parse().unwrap());
    tracing::subscriber::with_default(subscriber, || {
        for t in tokens {
            let _ = gate.decide_now(&headers(&[("authorization", format!("Bearer {t}"))]));
        }
        let _ = gate.decide_now(&http::HeaderMap::new());
        let _ = gate.decide_now(&headers(&[(
            "apikey",
            TestKeys::PUBLISHABLE_KEY.to_owned(),
        )]));
    });
    String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
}

fn auth(trace_identities: bool) -> Authenticator {
    let keys = ApiKeys::builder()
        .publishable("default", TestKeys::PUBLISHABLE_KEY)
        .build()
        .unwrap();
    Authenticator::builder(TestKeys::new().verifier())
        .api_keys(keys)
        .trace_identities(trace_identities)
        .build()
        .unwrap()
}

#[test]
fn admissions_and_refusals_are_events_without_secrets() {
    let keys = TestKeys::new();
    let user = TokenBuilder::now()
        .claim("email", "someone@example.com")
        .sign_es256(&keys);
    let expired = TokenBuilder::new()
        .issued_at(1_000_000_000, 60)
        .sign_es256(&keys);
    let forged = {
        let mut t = user.clone().into_bytes();
        let at = t.len() - 20;
        t[at] = if t[at] == b'A' { b'B' } else { b'A' };
        String::from_utf8(t).unwrap()
    };
    let text = events(
        &auth(false),
        &[user.clone(), expired.clone(), forged.clone()],
    );
    let lines: Vec<&str> = text.lines().collect();
    let decided: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("authentication decided"))
        .collect();
    // The user, anyone (no credentials), the publishable key.
    assert_eq!(decided.len(), 3, "{text}");
    assert!(
        decided[0].contains("mode=\"user\"") && decided[0].contains("result=\"success\""),
        "{text}"
    );
    assert!(
        decided[0].contains("issuer_host=\"testkitprojectref00.supabase.co\""),
        "{text}"
    );
    assert!(decided[0].contains("algorithm=\"ES256\""), "{text}");
    // Anyone and an API key were verified by no signing key: no algorithm.
    assert!(
        !decided[1].contains("algorithm") && !decided[2].contains("algorithm"),
        "{text}"
    );
    assert!(
        decided[1].contains("mode=\"none\"") && decided[1].contains("result=\"none\""),
        "{text}"
    );
    assert!(decided[2].contains("mode=\"publishable\""), "{text}");
    let refused: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("request refused"))
        .collect();
    assert!(
        refused.iter().any(|l| l.contains("reason=\"expired\"")),
        "{text}"
    );
    assert!(
        refused
            .iter()
            .any(|l| l.contains("reason=\"bad_signature\"")),
        "{text}"
    );
    for secret in [
        user.as_str(),
        expired.as_str(),
        forged.as_str(),
        "someone@example.com",
        TestKeys::PUBLISHABLE_KEY,
        TestKeys::HS256_SECRET,
        TokenBuilder::DEFAULT_SUB,
        TokenBuilder::DEFAULT_SESSION,
    ] {
        assert!(!text.contains(secret), "{secret} in the events:\n{text}");
    }
    for token in [&user, &forged] {
        assert!(!text.contains(token.rsplit('.').next().unwrap()));
    }

    // Opted in: the user and the session are named, still no token, key or email.
    let text = events(&auth(true), std::slice::from_ref(&user));
    let decided = text
        .lines()
        .find(|l| l.contains("authentication decided") && l.contains("mode=\"user\""))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        decided.contains(&format!("user_id={}", TokenBuilder::DEFAULT_SUB)),
        "{decided}"
    );
    assert!(decided.contains(TokenBuilder::DEFAULT_SESSION), "{decided}");
    assert!(!text.contains(&user) && !text.contains("someone@example.com"));
}
