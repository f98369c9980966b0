//! Testkit ergonomics: tokens valid now, a project's own tokens, `amr` following `iat`.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use supagate_testkit::{TestKeys, TokenBuilder};

#[test]
fn tokens_now_verify_on_the_system_clock() {
    let keys = TestKeys::new();
    for token in TokenBuilder::now().sign_all(&keys) {
        assert!(keys.verifier().verify(&token).is_ok());
    }
}

#[test]
fn amr_follows_iat() {
    let t = TokenBuilder::new().iat(1_000);
    assert_eq!(t.claims()["amr"][0]["timestamp"], 1_000);
    let t = TokenBuilder::new().issued_at(2_000, 60);
    assert_eq!(t.claims()["amr"][0]["timestamp"], 2_000);
    // An amr set by hand is left alone.
    let t = TokenBuilder::new()
        .claim(
            "amr",
            serde_json::json!([{"method": "otp", "timestamp": 5}]),
        )
        .iat(3_000);
    assert_eq!(t.claims()["amr"][0]["timestamp"], 5);
}
