//! Property tests: tampering with a valid token is always refused, and never panics.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::OnceLock;

use proptest::prelude::*;
use supagate_jwt::{Verifier, dangerous};
use supagate_testkit::{TestKeys, TokenBuilder};

struct Fixture {
    verifier: Verifier,
    tokens: Vec<String>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let keys = TestKeys::new();
        Fixture {
            verifier: keys.verifier_at(TokenBuilder::DEFAULT_NOW),
            tokens: TokenBuilder::new().sign_all(&keys).to_vec(),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, .. ProptestConfig::default() })]

    /// (a) Flipping any bit of any byte of a valid token is refused.
    #[test]
    fn any_bit_flip_is_rejected(which in 0usize..4, pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let f = fixture();
        let token = &f.tokens[which];
        prop_assert!(f.verifier.verify(token).is_ok());
        let mut bytes = token.as_bytes().to_vec();
        let i = pos.index(bytes.len());
        bytes[i] ^= 1 << bit;
        // A flipped byte may not be UTF-8; the verifier takes &str, so such input cannot even
        // reach it. Everything else must be refused.
        if let Ok(s) = std::str::from_utf8(&bytes) {
            prop_assert!(f.verifier.verify(s).is_err(), "accepted a flip at byte {} bit {}", i, bit);
            prop_assert!(dangerous::verify_signature_only(&f.verifier, s).is_err());
        }
    }

    /// (b) Changing a claim without re-signing is refused.
    #[test]
    fn any_claim_change_without_resigning_is_rejected(which in 0usize..4, name in "[a-z_]{1,12}", value in any::<i64>()) {
        let f = fixture();
        let token = &f.tokens[which];
        let (h, rest) = token.split_once('.').unwrap();
        let (_, s) = rest.split_once('.').unwrap();
        let forged = TokenBuilder::new().claim(&name, value).claims().clone();
        let original = TokenBuilder::new().claims().clone();
        prop_assume!(forged != original);
        let p = supagate_testkit::encode_segments(b"{}", serde_json::Value::Object(forged).to_string().as_bytes());
        let p = p.split_once('.').unwrap().1;
        let tampered = format!("{h}.{p}.{s}");
        prop_assert!(f.verifier.verify(&tampered).is_err());
    }

    /// Arbitrary strings never panic and are refused.
    #[test]
    fn arbitrary_input_never_panics(s in "\\PC{0,300}") {
        prop_assert!(fixture().verifier.verify(&s).is_err());
    }

    /// Arbitrary three-segment inputs with base64url alphabets never panic and are refused.
    #[test]
    fn arbitrary_jws_shapes_never_panic(h in "[A-Za-z0-9_-]{0,80}", p in "[A-Za-z0-9_-]{0,200}", s in "[A-Za-z0-9_-]{0,100}") {
        let token = format!("{h}.{p}.{s}");
        prop_assert!(fixture().verifier.verify(&token).is_err());
    }
}

/// Exhaustively, for an HS256 and an ES256 token: every single-bit flip of every byte.
#[test]
fn every_single_bit_flip_is_rejected() {
    let f = fixture();
    let mut checked = 0usize;
    for token in &f.tokens[..2] {
        let bytes = token.as_bytes();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.to_vec();
                b[i] ^= 1 << bit;
                if let Ok(s) = std::str::from_utf8(&b) {
                    assert!(f.verifier.verify(s).is_err(), "byte {i} bit {bit} accepted");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 10_000);
}
