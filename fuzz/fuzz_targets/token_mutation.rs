//! Structured mutations of a valid token (header and claims JSON re-encoded, signature kept):
//! never panics, and anything that differs from the signed token is refused.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use supagate_jwt::Verifier;
use supagate_testkit::{TestKeys, TokenBuilder, encode_segments};

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

fuzz_target!(|input: (u8, Vec<u8>, Vec<u8>)| {
    let (which, header, payload) = input;
    let f = fixture();
    let token = &f.tokens[usize::from(which) % f.tokens.len()];
    let sig = token.rsplit_once('.').map(|(_, s)| s).unwrap_or_default();
    let forged = format!("{}.{sig}", encode_segments(&header, &payload));
    if forged != *token {
        assert!(f.verifier.verify(&forged).is_err());
    }
});
