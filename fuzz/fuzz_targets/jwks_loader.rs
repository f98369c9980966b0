//! Arbitrary bytes as a JWK set document, through the three loaders (configured, published
//! and secret) and key preparation on every compiled backend: never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use supagate_jwt::{CryptoBackend, JwkSet, PreparedKeys, Verifier};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for set in [
        JwkSet::from_json(text),
        JwkSet::from_published_json(text),
        JwkSet::from_secret_json(text),
    ]
        .into_iter()
        .flatten()
    {
        for backend in CryptoBackend::compiled() {
            let prepared = PreparedKeys::prepare(&set, backend);
            let _ = prepared.keys().count();
            let _ = Verifier::builder()
                .jwk_set(set.clone())
                .backend(backend)
                .build();
        }
    }
});
