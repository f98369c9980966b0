//! Arbitrary strings as refresh tokens, API keys and session JSON: `RefreshTokenShape::of`
//! never panics and a v2 reading is stable (the token's own session is accepted, every other
//! refused); the key parsers never panic and never accept one kind where the other belongs;
//! a session's tokens-only JSON is valid JSON without a top-level `user`, read back as the
//! same tokens.
#![no_main]

use libfuzzer_sys::fuzz_target;
use supagate_auth::{PublishableKey, SecretKey};
use supagate_cookie::Session;
use supagate_proxy::core::RefreshTokenShape;

fuzz_target!(|input: (String, String)| {
    let (token, other) = input;
    match RefreshTokenShape::of(&token) {
        RefreshTokenShape::V2 { session_id, .. } => {
            assert!(RefreshTokenShape::of(&token).may_belong_to(Some(&session_id.to_string())));
            assert!(!RefreshTokenShape::of(&token).may_belong_to(None));
        }
        RefreshTokenShape::Broken => {
            assert!(!RefreshTokenShape::Broken.may_belong_to(Some(&other)));
        }
        _ => assert!(RefreshTokenShape::of(&token).may_belong_to(Some(&other))),
    }
    let publishable = PublishableKey::parse(&token).is_ok();
    let secret = SecretKey::parse(&token).is_ok();
    assert!(!(publishable && secret), "one key, two kinds");
    if let Ok(session) = Session::from_json(&other) {
        let tokens = session.tokens_only_json();
        let v: serde_json::Value = serde_json::from_str(&tokens).expect("valid JSON");
        assert!(v.get("user").is_none());
        let back = Session::from_json(&tokens).expect("still a session");
        assert_eq!(back.access_token().expose(), session.access_token().expose());
        assert_eq!(back.refresh_token().expose(), session.refresh_token().expose());
        assert_eq!(back.expires_at(), session.expires_at());
    }
});
