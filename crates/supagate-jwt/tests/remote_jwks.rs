//! `RemoteJwks` against the testkit's mock JWKS server, with an injected clock.
#![cfg(all(
    feature = "remote_jwks",
    any(feature = "aws_lc_rs", feature = "rust_crypto")
))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::{Duration, Instant};
use supagate_core::RequestError as _;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use supagate_jwt::{
    ConfigError, Error, FixedClock, Hs256Secret, RemoteJwks, TokenCacheConfig, Verifier,
};
use supagate_testkit::{Behaviour, MockJwks, TestKeys, TokenBuilder};

const NOW: i64 = TokenBuilder::DEFAULT_NOW;

/// The test JWK set restricted to these kids.
fn set_with(kids: &[&str]) -> String {
    let mut v: Value = serde_json::from_str(&TestKeys::new().jwks_json()).unwrap();
    let keys = v["keys"].as_array_mut().unwrap();
    keys.retain(|k| kids.contains(&k["kid"].as_str().unwrap()));
    v.to_string()
}

struct Rig {
    server: MockJwks,
    jwks: RemoteJwks,
    clock: FixedClock,
    verifier: Verifier,
}

fn rig(initial: &str, timeout: Duration) -> Rig {
    rig_with(initial, timeout, None)
}

fn rig_with(initial: &str, timeout: Duration, cache: Option<TokenCacheConfig>) -> Rig {
    let server = MockJwks::start(initial);
    let clock = FixedClock::new(NOW);
    let jwks = RemoteJwks::builder(server.url())
        .clock(clock.clone())
        .timeout(timeout)
        .build()
        .unwrap();
    let mut builder = Verifier::from_supabase_url(TestKeys::SUPABASE_URL)
        .hs256_secret(Hs256Secret::new(TestKeys::HS256_SECRET).unwrap())
        .key_source(jwks.clone())
        .clock(clock.clone());
    if let Some(cache) = cache {
        builder = builder.token_cache(cache);
    }
    let verifier = builder.build().unwrap();
    Rig {
        server,
        jwks,
        clock,
        verifier,
    }
}

impl Rig {
    /// What the adapters call: waits (asynchronously) for a fetch under way.
    fn verify(&self, token: &str) -> Result<supagate_jwt::Claims, Error> {
        block_on(self.verifier.verify_async(token))
    }

    fn refresh_now(&self) -> Result<(), Error> {
        block_on(self.jwks.refresh_now())
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Tokens stay valid however far the tests move the clock.
fn token() -> TokenBuilder {
    TokenBuilder::new().issued_at(NOW, 7 * 24 * 3600 - 60)
}

fn wait_until(what: &str, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn first_request_waits_for_the_first_fetch() {
    let r = rig(&TestKeys::new().jwks_json(), Duration::from_secs(5));
    let keys = TestKeys::new();
    for t in [
        token().sign_es256(&keys),
        token().sign_rs256(&keys),
        token().sign_eddsa(&keys),
    ] {
        r.verify(&t).unwrap();
    }
    assert_eq!(r.jwks.fetch_count(), 1);
    assert_eq!(r.server.requests(), 1);
}

#[test]
fn rotation_accepts_a_new_key_on_its_first_request_with_one_refetch() {
    let r = rig(&set_with(&[TestKeys::ES256_KID]), Duration::from_secs(5));
    let keys = TestKeys::new();
    r.verify(&token().sign_es256(&keys)).unwrap();
    assert_eq!(r.jwks.fetch_count(), 1);

    r.server
        .set_keys(&set_with(&[TestKeys::ES256_KID, TestKeys::RS256_KID]));
    r.clock.advance(31); // past the cooldown since the last fetch
    r.verify(&token().sign_rs256(&keys)).unwrap();
    assert_eq!(r.jwks.fetch_count(), 2);
    assert_eq!(r.server.requests(), 2);
}

#[test]
fn unknown_kid_inside_the_cooldown_does_not_refetch() {
    let r = rig(&set_with(&[TestKeys::ES256_KID]), Duration::from_secs(5));
    let keys = TestKeys::new();
    r.verify(&token().sign_es256(&keys)).unwrap();
    r.server
        .set_keys(&set_with(&[TestKeys::ES256_KID, TestKeys::RS256_KID]));
    r.clock.advance(10);
    assert_eq!(
        r.verify(&token().sign_rs256(&keys)).unwrap_err(),
        Error::UnknownKey
    );
    assert_eq!(r.jwks.fetch_count(), 1);
}

#[test]
fn a_flood_of_unknown_kids_fetches_at_most_once_per_cooldown() {
    let r = rig(&set_with(&[TestKeys::ES256_KID]), Duration::from_secs(5));
    let keys = TestKeys::new();
    r.verify(&token().sign_es256(&keys)).unwrap();
    for window in 1..=3_i64 {
        r.clock.advance(31);
        for i in 0..1_000 {
            let kid = format!("attacker-{window}-{i}");
            let t = token().header("kid", kid.as_str()).sign_es256(&keys);
            assert_eq!(r.verify(&t).unwrap_err(), Error::UnknownKey);
        }
        assert!(
            r.jwks.fetch_count() <= 1 + u64::try_from(window).unwrap(),
            "window {window}: {} fetches",
            r.jwks.fetch_count()
        );
    }
    assert_eq!(r.server.requests(), r.jwks.fetch_count());
}

#[test]
fn a_thousand_concurrent_requests_during_a_slow_fetch_cause_one_fetch() {
    let r = rig(&TestKeys::new().jwks_json(), Duration::from_secs(5));
    r.server
        .set_behaviour(Behaviour::Delay(Duration::from_millis(300)));
    let token: Arc<str> = token().sign_es256(&TestKeys::new()).into();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..1_000)
            .map(|_| {
                let (v, t) = (r.verifier.clone(), token.clone());
                tokio::spawn(async move { v.verify_async(&t).await.map(|_| ()) })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
    });
    assert_eq!(r.jwks.fetch_count(), 1);
    assert_eq!(r.server.requests(), 1);
}

#[test]
fn sync_verify_never_waits_for_the_network() {
    let r = rig(&TestKeys::new().jwks_json(), Duration::from_secs(5));
    r.server
        .set_behaviour(Behaviour::Delay(Duration::from_secs(2)));
    let keys = TestKeys::new();
    let t = token().sign_es256(&keys);
    let start = Instant::now();
    // No keys yet: answered at once, and the fetch runs in the background.
    assert_eq!(r.verifier.verify(&t).unwrap_err(), Error::KeysUnavailable);
    assert!(
        start.elapsed() < Duration::from_millis(100),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(r.jwks.fetch_count(), 1);
    // The async path waits for that same fetch.
    r.verify(&t).unwrap();
    assert_eq!(r.server.requests(), 1);
    // A kid that is not there yet: also answered at once.
    r.server
        .set_behaviour(Behaviour::Delay(Duration::from_secs(2)));
    r.clock.advance(31);
    let unknown = token().header("kid", "published-later").sign_es256(&keys);
    let start = Instant::now();
    assert_eq!(r.verifier.verify(&unknown).unwrap_err(), Error::UnknownKey);
    assert!(
        start.elapsed() < Duration::from_millis(100),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn waiting_for_a_key_leaves_the_runtime_free() {
    // One worker thread: if the wait blocked it, the ticker below could not run.
    let r = rig(&TestKeys::new().jwks_json(), Duration::from_secs(5));
    r.server
        .set_behaviour(Behaviour::Delay(Duration::from_millis(800)));
    let t = token().sign_es256(&TestKeys::new());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (verified, ticks) = runtime.block_on(async {
        let ticker = async {
            let mut ticks = 0u32;
            let start = Instant::now();
            while start.elapsed() < Duration::from_millis(600) {
                tokio::time::sleep(Duration::from_millis(10)).await;
                ticks += 1;
            }
            ticks
        };
        tokio::join!(r.verifier.verify_async(&t), ticker)
    });
    verified.unwrap();
    assert!(
        ticks >= 20,
        "the runtime was blocked: {ticks} ticks in 600 ms"
    );
}

#[test]
fn an_hs256_token_without_a_kid_never_fetches() {
    let r = rig(&TestKeys::new().jwks_json(), Duration::from_secs(5));
    let keys = TestKeys::new();
    for _ in 0..10 {
        r.verifier.verify(&token().sign_hs256(&keys)).unwrap();
        r.verify(&token().sign_hs256(&keys)).unwrap();
    }
    assert_eq!(r.jwks.fetch_count(), 0);
    assert_eq!(r.server.requests(), 0);
}

#[test]
fn without_a_fetch_in_flight_the_async_path_does_not_wait() {
    let r = rig(&set_with(&[TestKeys::ES256_KID]), Duration::from_secs(5));
    let keys = TestKeys::new();
    r.verify(&token().sign_es256(&keys)).unwrap();
    r.server
        .set_behaviour(Behaviour::Delay(Duration::from_secs(3)));
    // Inside the cooldown: no fetch starts, so there is nothing to wait for.
    let start = Instant::now();
    assert_eq!(
        r.verify(&token().sign_rs256(&keys)).unwrap_err(),
        Error::UnknownKey
    );
    assert!(
        start.elapsed() < Duration::from_millis(100),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn an_outage_keeps_the_last_good_set_until_the_staleness_bound_then_503() {
    let r = rig(&TestKeys::new().jwks_json(), Duration::from_secs(5));
    let t = token().sign_es256(&TestKeys::new());
    r.verify(&t).unwrap();
    r.server.set_behaviour(Behaviour::Status(500));

    r.clock.advance(600); // expired: refreshes start and fail
    r.verify(&t).unwrap();
    wait_until("the failed refresh", || r.server.requests() >= 2);
    r.clock.advance(599); // 10 minutes past expiry, minus a second
    r.verify(&t).unwrap();
    r.clock.advance(1);
    let err = r.verify(&t).unwrap_err();
    assert_eq!(err, Error::KeysUnavailable);
    assert_eq!(err.status(), http::StatusCode::SERVICE_UNAVAILABLE);

    // Recovery: the next fetch after the cooldown brings the keys back.
    r.server.set_behaviour(Behaviour::Normal);
    r.clock.advance(31);
    let _ = r.verify(&t);
    wait_until("the recovering fetch", || r.verify(&t).is_ok());
}

/// Review finding: under a failing key-set endpoint, tokens of a key the project had just
/// promoted got 401 `invalid_token` (a frontend that signs users out on 401 would have
/// signed them all out). An unknown `kid` while the latest fetch failed is about the key set:
/// 503; 401 only once a successful fetch shows the key is not there.
#[test]
fn an_unknown_kid_while_the_set_cannot_be_fetched_is_503_not_401() {
    let keys = TestKeys::new();
    let r = rig(&set_with(&[TestKeys::ES256_KID]), Duration::from_secs(5));
    let old = token().sign_es256(&keys);
    r.verify(&old).unwrap();
    // The endpoint fails; the project promotes a key the proxy has not seen.
    r.server.set_behaviour(Behaviour::Status(500));
    r.server
        .set_keys(&set_with(&[TestKeys::ES256_KID, TestKeys::RS256_KID]));
    r.clock.advance(31);
    let promoted = token().sign_rs256(&keys);
    let err = r.verify(&promoted).unwrap_err();
    assert_eq!(err, Error::KeysUnavailable);
    assert_eq!(err.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    // Inside the cooldown (no new fetch), still 503, and a made-up kid too: nothing says
    // the key is absent. The synchronous path agrees.
    let made_up = token().header("kid", "never-published").sign_rs256(&keys);
    assert_eq!(r.verify(&made_up).unwrap_err(), Error::KeysUnavailable);
    assert_eq!(
        r.verifier.verify(&promoted).unwrap_err(),
        Error::KeysUnavailable
    );
    // The known key keeps working from the kept set.
    r.verify(&old).unwrap();
    // Recovery: the next fetch brings the promoted key; a kid the fetched set lacks is now 401.
    r.server.set_behaviour(Behaviour::Normal);
    r.clock.advance(31);
    r.verify(&promoted).unwrap();
    r.clock.advance(31);
    assert_eq!(r.verify(&made_up).unwrap_err(), Error::UnknownKey);
}

#[test]
fn bad_responses_never_give_keys_and_answer_503() {
    let keys = TestKeys::new();
    let good = MockJwks::start(&keys.jwks_json());
    for behaviour in [
        Behaviour::Garbage,
        Behaviour::Oversized(70 * 1024),
        Behaviour::Redirect(good.url()),
        Behaviour::Truncated,
        Behaviour::Status(404),
        Behaviour::Hangup,
        Behaviour::Delay(Duration::from_secs(3)),
    ] {
        let r = rig(&keys.jwks_json(), Duration::from_millis(500));
        r.server.set_behaviour(behaviour.clone());
        let start = Instant::now();
        assert!(r.refresh_now().is_err(), "{behaviour:?}");
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{behaviour:?} was not bounded"
        );
        let err = r.verify(&token().sign_es256(&keys)).unwrap_err();
        assert_eq!(err, Error::KeysUnavailable, "{behaviour:?}");
    }
    assert_eq!(good.requests(), 0, "the redirect was followed");
}

#[test]
fn an_oversized_set_of_keys_is_refused() {
    let keys = TestKeys::new();
    let mut v: Value = serde_json::from_str(&keys.jwks_json()).unwrap();
    let one = v["keys"][0].clone();
    let many: Vec<Value> = (0..40)
        .map(|i| {
            let mut k = one.clone();
            k["kid"] = Value::String(format!("k{i}"));
            k
        })
        .collect();
    v["keys"] = Value::Array(many);
    let r = rig(&v.to_string(), Duration::from_secs(5));
    assert!(r.refresh_now().is_err());
}

#[test]
fn a_removed_key_stops_verifying() {
    let r = rig(&TestKeys::new().jwks_json(), Duration::from_secs(5));
    let keys = TestKeys::new();
    let rs = token().sign_rs256(&keys);
    r.verify(&rs).unwrap();
    r.server.set_keys(&set_with(&[TestKeys::ES256_KID]));
    r.clock.advance(600);
    r.refresh_now().unwrap();
    assert_eq!(r.verify(&rs).unwrap_err(), Error::UnknownKey);
    r.verify(&token().sign_es256(&keys)).unwrap();
}

#[test]
fn invalidate_drops_the_set_at_once() {
    let r = rig(&TestKeys::new().jwks_json(), Duration::from_secs(5));
    let keys = TestKeys::new();
    let rs = token().sign_rs256(&keys);
    r.verify(&rs).unwrap();
    r.server.set_keys(&set_with(&[TestKeys::ES256_KID]));
    r.jwks.invalidate(); // no cooldown, no TTL wait
    assert_eq!(r.verify(&rs).unwrap_err(), Error::UnknownKey);
    r.verify(&token().sign_es256(&keys)).unwrap();
    assert_eq!(r.jwks.fetch_count(), 2);
}

#[test]
fn a_shorter_max_age_is_respected() {
    let r = rig(&TestKeys::new().jwks_json(), Duration::from_secs(5));
    r.server.set_cache_control(Some("public, max-age=120"));
    let t = token().sign_es256(&TestKeys::new());
    r.verify(&t).unwrap();
    r.clock.advance(30);
    r.verify(&t).unwrap();
    assert_eq!(r.server.requests(), 1);
    r.clock.advance(31); // within a minute of the 120 s expiry: background refresh
    r.verify(&t).unwrap();
    wait_until("the early refresh", || r.server.requests() == 2);
}

#[test]
fn an_empty_set_is_valid_for_hs256_projects() {
    let r = rig(r#"{"keys":[]}"#, Duration::from_secs(5));
    let keys = TestKeys::new();
    r.refresh_now().unwrap();
    r.verify(&token().sign_hs256(&keys)).unwrap();
    assert_eq!(
        r.verify(&token().sign_es256(&keys)).unwrap_err(),
        Error::UnknownKey
    );
}

#[test]
fn urls_from_configuration_only_and_https() {
    for bad in [
        "http://example.com/jwks.json",
        "https://u:p@x.supabase.co/jwks",
        "file:///etc/passwd",
    ] {
        assert!(matches!(
            RemoteJwks::builder(bad).build(),
            Err(ConfigError::InvalidJwksUrl)
        ));
    }
}

// ------------------------------------------------------------------ the verified-token cache
// It never accepts what a fresh verification would refuse.

fn cached() -> Rig {
    let r = rig_with(
        &TestKeys::new().jwks_json(),
        Duration::from_secs(5),
        Some(TokenCacheConfig::default().with_ttl(Duration::from_secs(60))),
    );
    r.refresh_now().unwrap();
    r
}

#[test]
fn cached_answers_equal_fresh_ones() {
    let Rig { verifier: v, .. } = &cached();
    let keys = TestKeys::new();
    for t in TokenBuilder::new().sign_all(&keys) {
        let first = v.verify(&t).unwrap();
        assert_eq!(v.verify(&t).unwrap(), first);
        #[derive(serde::Deserialize)]
        struct Sub {
            sub: String,
        }
        assert_eq!(
            v.verify_as::<Sub>(&t).unwrap().sub,
            TokenBuilder::DEFAULT_SUB
        );
        assert_eq!(v.verify_payload(&t).unwrap().claims(), &first);
    }
}

#[test]
fn the_same_signature_on_another_payload_is_not_a_hit() {
    let Rig { verifier: v, .. } = &cached();
    let t = TokenBuilder::new().sign_es256(&TestKeys::new());
    v.verify(&t).unwrap();
    let parts: Vec<&str> = t.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["app_metadata"]["role"] = Value::from("admin");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    assert_eq!(v.verify(&forged).unwrap_err(), Error::BadSignature);
}

#[test]
fn expiry_is_never_extended() {
    let Rig {
        clock: c,
        verifier: v,
        ..
    } = &cached();
    let t = TokenBuilder::new()
        .issued_at(NOW, 40)
        .sign_es256(&TestKeys::new());
    v.verify(&t).unwrap();
    c.advance(40 + 30); // exp plus the default leeway
    assert_eq!(v.verify(&t).unwrap_err(), Error::Expired);
}

#[test]
fn a_key_leaving_the_set_drops_its_cached_tokens() {
    let Rig {
        server: s,
        jwks: j,
        clock: c,
        verifier: v,
    } = &cached();
    let keys = TestKeys::new();
    let rs = TokenBuilder::new().sign_rs256(&keys);
    let es = TokenBuilder::new().sign_es256(&keys);
    v.verify(&rs).unwrap();
    v.verify(&es).unwrap();
    let mut set: Value = serde_json::from_str(&keys.jwks_json()).unwrap();
    set["keys"]
        .as_array_mut()
        .unwrap()
        .retain(|k| k["kid"] != TestKeys::RS256_KID);
    s.set_keys(&set.to_string());
    c.advance(5);
    block_on(j.refresh_now()).unwrap();
    assert_eq!(v.verify(&rs).unwrap_err(), Error::UnknownKey);
    v.verify(&es).unwrap();
}

#[test]
fn invalidate_drops_cached_tokens_too() {
    let Rig {
        server: s,
        jwks: j,
        verifier: v,
        ..
    } = &cached();
    let t = TokenBuilder::new().sign_eddsa(&TestKeys::new());
    v.verify(&t).unwrap();
    s.set_keys(r#"{"keys":[]}"#);
    j.invalidate();
    assert_eq!(block_on(v.verify_async(&t)).unwrap_err(), Error::UnknownKey);
}

#[test]
fn a_key_replaced_under_the_same_kid_drops_its_cached_tokens() {
    let Rig {
        server: s,
        jwks: j,
        clock: c,
        verifier: v,
    } = &cached();
    let keys = TestKeys::new();
    let es = TokenBuilder::new().sign_es256(&keys);
    v.verify(&es).unwrap();
    // The same kid now names another P-256 key (the @supabase/ssr corpus key).
    let corpus = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/supabase-ssr/keys/jwks.json"),
    )
    .unwrap();
    let corpus: Value = serde_json::from_str(&corpus).unwrap();
    let mut new_key = corpus["keys"][0].clone();
    new_key["kid"] = Value::from(TestKeys::ES256_KID);
    let mut set: Value = serde_json::from_str(&keys.jwks_json()).unwrap();
    for k in set["keys"].as_array_mut().unwrap() {
        if k["kid"] == TestKeys::ES256_KID {
            *k = new_key.clone();
        }
    }
    s.set_keys(&set.to_string());
    c.advance(5);
    block_on(j.refresh_now()).unwrap();
    assert_eq!(v.verify(&es).unwrap_err(), Error::BadSignature);
    assert_eq!(j.fetch_count(), 2);
}

// ------------------------------------------------ catalog §1 D through the remote source
// Rows 66-71 and 77 are the static key policy (tests/catalog.rs), which every fetched set goes
// through; these check it on the fetch path.

#[test]
fn row_66_a_fetched_set_with_an_oct_key_is_refused_and_the_last_good_set_kept() {
    let secret = "a-symmetric-secret-published-by-mistake-0123456789";
    let mut mixed: Value = serde_json::from_str(&TestKeys::new().jwks_json()).unwrap();
    mixed["keys"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "kty": "oct", "kid": "oct-1", "alg": "HS256",
            "k": URL_SAFE_NO_PAD.encode(secret),
        }));
    let r = rig(&TestKeys::new().jwks_json(), Duration::from_secs(5));
    r.refresh_now().unwrap();
    r.server.set_keys(&mixed.to_string());
    assert!(r.refresh_now().is_err(), "a mixed set is invalid");
    let forged = token().header("kid", "oct-1").sign_hmac(secret.as_bytes());
    assert!(r.verify(&forged).is_err());
    r.verify(&token().sign_es256(&TestKeys::new())).unwrap();
}

#[test]
fn row_73_a_jku_header_is_refused_and_never_fetched() {
    let r = rig(&TestKeys::new().jwks_json(), Duration::from_secs(5));
    let elsewhere = MockJwks::start(&TestKeys::new().jwks_json());
    let t = token()
        .header("jku", elsewhere.url().as_str())
        .sign_es256(&TestKeys::new());
    assert!(matches!(
        r.verify(&t).unwrap_err(),
        Error::HeaderNotAllowed { .. }
    ));
    assert_eq!(elsewhere.requests(), 0);
}

#[test]
fn row_77_an_hs256_token_naming_a_fetched_key_is_refused() {
    let r = rig(&TestKeys::new().jwks_json(), Duration::from_secs(5));
    r.refresh_now().unwrap();
    let t = token()
        .header("kid", TestKeys::ES256_KID)
        .sign_hs256(&TestKeys::new());
    assert_eq!(r.verify(&t).unwrap_err(), Error::AlgNotAllowed);
}

/// OIDC discovery (`RemoteJwks::discover`): the configuration document names the issuer and
/// the set's `jwks_uri`; the set is fetched from there. A document naming another issuer, or a
/// `jwks_uri` that may not be fetched (plain http off loopback), gives no keys.
#[test]
fn discovery_finds_the_set_through_the_configuration_document() {
    use supagate_jwt::KeySource;
    let keys = TestKeys::new();
    let set = MockJwks::start(&keys.jwks_json());
    let provider = MockJwks::start("{}");
    let issuer = provider.url();
    let doc = |issuer: &str, jwks_uri: &str| {
        serde_json::json!({ "issuer": issuer, "jwks_uri": jwks_uri }).to_string()
    };
    provider.set_keys(&doc(&issuer, &set.url()));
    let jwks = RemoteJwks::discover(issuer.clone()).build().unwrap();
    block_on(jwks.refresh_now()).unwrap();
    assert_eq!(jwks.current().unwrap().len(), 3);
    assert_eq!((provider.requests(), set.requests()), (1, 1));
    // The jwks_uri is kept: the next fetch goes to the set only.
    block_on(jwks.refresh_now()).unwrap();
    assert_eq!((provider.requests(), set.requests()), (1, 2));

    for bad in [
        doc("https://someone-else.example", &set.url()),
        doc(&issuer, "http://keys.example.com/jwks.json"),
        doc(&issuer, "not a url"),
        r#"{"issuer": 1}"#.to_owned(),
        "[]".to_owned(),
    ] {
        provider.set_keys(&bad);
        let jwks = RemoteJwks::discover(issuer.clone()).build().unwrap();
        assert_eq!(
            block_on(jwks.refresh_now()),
            Err(Error::KeysUnavailable),
            "{bad}"
        );
        assert!(jwks.current().is_err(), "{bad}");
    }
    // A failing set endpoint makes the next fetch discover again.
    provider.set_keys(&doc(&issuer, &set.url()));
    let jwks = RemoteJwks::discover(issuer.clone()).build().unwrap();
    block_on(jwks.refresh_now()).unwrap();
    let before = provider.requests();
    set.set_behaviour(Behaviour::Status(500));
    assert!(block_on(jwks.refresh_now()).is_err());
    set.set_behaviour(Behaviour::Normal);
    block_on(jwks.refresh_now()).unwrap();
    assert_eq!(
        provider.requests(),
        before + 1,
        "discovered once more after the failure"
    );
}

#[test]
fn verifications_cancelled_while_the_first_fetch_is_slow_leave_it_to_finish_once() {
    // The wait for a key fetch is boxed in its own future: dropping the verification halfway
    // (a client that hangs up) must neither cancel the fetch nor start another.
    let r = rig(&TestKeys::new().jwks_json(), Duration::from_secs(5));
    r.server
        .set_behaviour(Behaviour::Delay(Duration::from_millis(1500)));
    let token: Arc<str> = token().sign_es256(&TestKeys::new()).into();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for _ in 0..100 {
            let cancelled =
                tokio::time::timeout(Duration::from_millis(1), r.verifier.verify_async(&token))
                    .await;
            assert!(
                cancelled.is_err(),
                "answered before the slow fetch: {cancelled:?}"
            );
        }
        // The next request waits for the same fetch and is verified.
        r.verifier.verify_async(&token).await.unwrap();
    });
    assert_eq!(r.jwks.fetch_count(), 1);
    assert_eq!(r.server.requests(), 1);
}
