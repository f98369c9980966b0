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
