//! The authentication metrics under a recorder installed after the first request (or a
//! test's own): the kept handle of the first recorder is never used under another, so no
//! outcome is lost.
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use supagate_auth::{Authenticator, Gate};
use supagate_testkit::{TestKeys, TokenBuilder};

/// The authentication samples per mode, from one snapshot (a snapshot drains histograms).
fn counts(recorder: &DebuggingRecorder) -> std::collections::HashMap<String, usize> {
    let mut counts = std::collections::HashMap::new();
    for (key, _, _, value) in recorder.snapshotter().snapshot().into_vec() {
        let key = key.key();
        if key.name() != supagate_core::observe::AUTHENTICATION_DURATION {
            continue;
        }
        let mode = key
            .labels()
            .find(|l| l.key() == "mode")
            .map(|l| l.value().to_owned())
            .unwrap_or_default();
        let n = match value {
            DebugValue::Histogram(samples) => samples.len(),
            other => panic!("not a histogram: {other:?}"),
        };
        *counts.entry(mode).or_default() += n;
    }
    counts
}

#[test]
fn a_recorder_installed_after_the_first_request_loses_nothing() {
    let keys = TestKeys::new();
    let auth = Authenticator::new(keys.verifier());
    let gate = Gate::modes(auth, "user, none".parse().unwrap());
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "authorization",
        format!("Bearer {}", TokenBuilder::now().sign_es256(&keys))
            .parse()
            .unwrap(),
    );
    // Before any recorder: recorded nowhere, and the no-op recorder's handle is the one kept.
    assert!(gate.decide_now(&headers).unwrap().is_ok());
    assert!(gate.decide_now(&http::HeaderMap::new()).unwrap().is_ok());
    // Under a recorder of its own, every outcome is recorded all the same.
    let recorder = DebuggingRecorder::new();
    metrics::with_local_recorder(&recorder, || {
        for _ in 0..3 {
            assert!(gate.decide_now(&headers).unwrap().is_ok());
        }
        assert!(gate.decide_now(&http::HeaderMap::new()).unwrap().is_ok());
    });
    let first = counts(&recorder);
    assert_eq!((first["user"], first["none"]), (3, 1), "{first:?}");
    // And another one after it.
    let second = DebuggingRecorder::new();
    metrics::with_local_recorder(&second, || {
        assert!(gate.decide_now(&headers).unwrap().is_ok());
    });
    assert_eq!(counts(&second)["user"], 1);
}
