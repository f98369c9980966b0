//! Arbitrary `Cookie` fields through the session reader: never panics, and the answer does not
//! depend on whether the pairs arrive in several `Cookie` fields or in one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use supagate_cookie::{CookieName, SessionReader};

fuzz_target!(|fields: Vec<Vec<u8>>| {
    let Ok(name) = CookieName::custom("sb-ref-auth-token") else {
        return;
    };
    let reader = SessionReader::new(name);
    let raw: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
    let split = reader
        .read_fields(&raw)
        .map(|s| s.map(|s| s.expose_json().to_owned()));
    let joined = fields.join(&b"; "[..]);
    let whole = reader
        .read_fields(&[&joined])
        .map(|s| s.map(|s| s.expose_json().to_owned()));
    // Joining adds two bytes per boundary, which can cross the size limit; below it, the
    // answers must agree.
    if joined.len() <= SessionReader::DEFAULT_MAX_COOKIE_BYTES {
        assert_eq!(split, whole);
    }
});
