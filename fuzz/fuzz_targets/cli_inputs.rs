//! What people paste into the `supagate` command: a token (with or without `Authorization:`),
//! cookies in any export form, an env file. Never panics, and never keeps more than it read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use supagate_cli::decode::{MAX_INPUT, Unverified, strip_input};
use supagate_cli::export::cookie_pairs;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let token = strip_input(&text);
    assert!(token.len() <= text.len());
    let decoded = Unverified::decode(token);
    if token.len() <= MAX_INPUT {
        assert_eq!(decoded.segments, token.split('.').count());
    }
    let _ = decoded.legacy_api_key_role();
    let _ = decoded.claim_i64("exp");
    let pairs = cookie_pairs(&text);
    assert!(pairs.iter().map(|(n, v)| n.len() + v.len()).sum::<usize>() <= text.len());
    for (name, _) in supagate_cli::parse_env_file(&text) {
        assert!(!name.is_empty());
    }
});
