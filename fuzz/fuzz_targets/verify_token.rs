//! Arbitrary bytes as a bearer token: never panics, never accepted.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use supagate_jwt::{Verifier, dangerous};
use supagate_testkit::{TestKeys, TokenBuilder};

fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| TestKeys::new().verifier_at(TokenBuilder::DEFAULT_NOW))
}

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        assert!(verifier().verify(token).is_err());
        let _ = dangerous::verify_signature_only(verifier(), token);
        let _ = verifier().verify_as::<serde_json_value::Any>(token);
    }
});

mod serde_json_value {
    /// Accepts any JSON.
    pub struct Any;
    impl<'de> serde::Deserialize<'de> for Any {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            serde::de::IgnoredAny::deserialize(d).map(|_| Any)
        }
    }
}
