//! The verified-token cache is on by default: a hit must never accept what a fresh
//! verification would refuse.
#![allow(clippy::unwrap_used)]

use supagate_jwt::{Error, FixedClock, Verifier};
use supagate_testkit::{TestKeys, TokenBuilder};

const NOW: i64 = TokenBuilder::DEFAULT_NOW;

fn verifier(clock: &FixedClock, cache: bool) -> Verifier {
    let mut b = TestKeys::new().verifier_builder().clock(clock.clone());
    if !cache {
        b = b.no_token_cache();
    }
    b.build().unwrap()
}

#[test]
fn a_clock_moved_back_gets_the_same_answer_as_a_fresh_verification() {
    let keys = TestKeys::new();
    for token in [
        TokenBuilder::new().sign_hs256(&keys),
        TokenBuilder::new().sign_es256(&keys),
        TokenBuilder::new().claim("nbf", NOW + 10).sign_es256(&keys),
    ] {
        let clock = FixedClock::new(NOW + 20);
        let cached = verifier(&clock, true);
        let fresh = verifier(&clock, false);
        assert!(cached.verify(&token).is_ok());
        assert!(cached.verify(&token).is_ok(), "a hit");
        for back in [NOW - 3600, NOW - 31, NOW - 29, NOW + 5] {
            clock.set(back);
            assert_eq!(
                cached.verify(&token).map(|_| ()),
                fresh.verify(&token).map(|_| ()),
                "clock at {back}"
            );
        }
        clock.set(NOW - 3600);
        assert!(matches!(
            cached.verify(&token),
            Err(Error::IssuedInFuture | Error::NotYetValid)
        ));
    }
}

#[test]
fn past_exp_a_hit_is_refused_like_a_fresh_verification() {
    let keys = TestKeys::new();
    let token = TokenBuilder::new().sign_es256(&keys);
    let clock = FixedClock::new(NOW);
    let cached = verifier(&clock, true);
    assert!(cached.verify(&token).is_ok());
    clock.set(NOW + 3600 + 31);
    assert_eq!(cached.verify(&token).unwrap_err(), Error::Expired);
}

#[test]
fn a_forged_token_never_rides_a_cached_one() {
    let keys = TestKeys::new();
    let clock = FixedClock::new(NOW);
    let cached = verifier(&clock, true);
    let good = TokenBuilder::new().sign_es256(&keys);
    assert!(cached.verify(&good).is_ok());
    let (head, sig) = good.rsplit_once('.').unwrap();
    let (header, _) = head.split_once('.').unwrap();
    // The cached token's signature on another payload (an admin), and the cached payload
    // with a flipped signature: neither is a hit, both are refused, again and again.
    let admin_payload = TokenBuilder::new()
        .claim("app_metadata", serde_json::json!({"role": "admin"}))
        .sign_es256(&keys);
    let admin_body = admin_payload.split('.').nth(1).unwrap();
    let spliced = format!("{header}.{admin_body}.{sig}");
    let mut flipped = good.clone();
    let last = flipped.pop().unwrap();
    flipped.push(if last == 'A' { 'B' } else { 'A' });
    for _ in 0..3 {
        assert_eq!(cached.verify(&spliced).unwrap_err(), Error::BadSignature);
        assert!(cached.verify(&flipped).is_err());
        assert!(cached.verify(&good).is_ok());
    }
    // The cached token with bytes appended is not matched to it: refused.
    assert!(cached.verify(&format!("{good}x")).is_err());
}
