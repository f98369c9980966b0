//! Auth modes: every rule, on the framework-free core (the adapters' conformance table runs the
//! same rules over HTTP).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use http::HeaderMap;
use supagate_auth::{
    Admission, ApiKeys, AuthError, AuthModes, Authenticator, Caller, Gate, Rejection,
};
use supagate_core::RequestError as _;
use supagate_jwt::Verified;
use supagate_testkit::{TestKeys, TokenBuilder};

fn auth() -> Authenticator {
    Authenticator::builder(TestKeys::new().verifier_at(TokenBuilder::DEFAULT_NOW))
        .api_keys(ApiKeys::from_variables(&TestKeys::api_key_variables()).unwrap())
        .legacy_anon_key(TestKeys::legacy_anon_key())
        .build()
        .unwrap()
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    h
}

fn user() -> String {
    format!(
        "Bearer {}",
        TokenBuilder::new().sign_es256(&TestKeys::new())
    )
}

fn admit(modes: &str, pairs: &[(&str, &str)]) -> Result<Caller<Verified>, AuthError> {
    let modes: AuthModes = modes.parse().unwrap();
    let h = headers(pairs);
    let gate = Gate::modes(auth(), modes.clone());
    let caller = |d: Result<Admission, Rejection>| {
        d.map_err(|r| r.error().clone()).and_then(|mut a| a.take())
    };
    let sync = caller(gate.decide_now(&h).expect("static keys: decided now"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let not_sync = caller(rt.block_on(gate.decide(&h)));
    assert_eq!(
        sync.as_ref().map(Caller::mode).map_err(Clone::clone),
        not_sync.as_ref().map(Caller::mode).map_err(Clone::clone),
        "admit and admit_async agree on {modes} {pairs:?}"
    );
    sync
}

fn mode(modes: &str, pairs: &[(&str, &str)]) -> String {
    match admit(modes, pairs) {
        Ok(c) => format!(
            "{}{}",
            c.mode(),
            c.key().map(|k| format!(":{k}")).unwrap_or_default()
        ),
        Err(e) => format!("{} {}", e.status().as_u16(), e.reason()),
    }
}

const P: &str = TestKeys::PUBLISHABLE_KEY;
const PW: &str = TestKeys::PUBLISHABLE_WEB_KEY;
const S: &str = TestKeys::SECRET_KEY;
const SA: &str = TestKeys::SECRET_AUTOMATIONS_KEY;

#[test]
fn first_matching_mode_wins_in_order() {
    let u = user();
    assert_eq!(mode("user, none", &[]), "none");
    assert_eq!(mode("user, none", &[("authorization", &u)]), "user");
    assert_eq!(
        mode("publishable, user", &[("authorization", &u), ("apikey", P)]),
        "publishable:default"
    );
    assert_eq!(
        mode("user, publishable", &[("authorization", &u), ("apikey", P)]),
        "user"
    );
    assert_eq!(mode("secret:*", &[("apikey", SA)]), "secret:automations");
    assert_eq!(mode("secret:*", &[("apikey", S)]), "secret:default");
    assert_eq!(mode("publishable:*", &[("apikey", PW)]), "publishable:web");
    assert_eq!(
        mode("publishable:web", &[("apikey", PW)]),
        "publishable:web"
    );
}

#[test]
fn a_present_bad_token_is_never_downgraded() {
    let keys = TestKeys::new();
    let expired = format!(
        "Bearer {}",
        TokenBuilder::new()
            .exp(TokenBuilder::DEFAULT_NOW - 3600)
            .sign_es256(&keys)
    );
    let forged = format!("Bearer {}x", TokenBuilder::new().sign_es256(&keys));
    for bad in [&expired, &forged, &"Bearer not-a-jwt".to_owned()] {
        let alone = mode("user", &[("authorization", bad)]);
        assert!(alone.starts_with("401 "), "{alone} {bad}");
        assert_eq!(mode("user, none", &[("authorization", bad)]), alone);
        assert!(
            admit(
                "user, publishable",
                &[("authorization", bad), ("apikey", P)]
            )
            .is_err()
        );
    }
    // A service_role token is a good token that `user` does not admit: 403, not `none`.
    let service = format!(
        "Bearer {}",
        TokenBuilder::new()
            .claim("role", "service_role")
            .sign_es256(&keys)
    );
    assert_eq!(
        mode("user, none", &[("authorization", &service)]),
        "403 forbidden_postgres_role"
    );
    // A malformed Authorization is 400 even where `none` is listed after `user`.
    assert_eq!(
        mode(
            "user, none",
            &[("authorization", "Bearer a"), ("authorization", "Bearer b")]
        ),
        "400 invalid_request"
    );
}

#[test]
fn a_bearer_that_is_an_api_key_means_no_user() {
    // A signed-out supabase-js: `apikey` and `Authorization: Bearer` both carry its key.
    let bp = format!("Bearer {P}");
    assert_eq!(
        mode("user, none", &[("authorization", &bp), ("apikey", P)]),
        "none"
    );
    // The configured publishable key as the bearer, without `apikey`.
    assert_eq!(mode("user, none", &[("authorization", &bp)]), "none");
    // The legacy anon key as the bearer (a signed-out client on legacy keys).
    let anon = format!("Bearer {}", TestKeys::legacy_anon_key());
    assert_eq!(
        mode(
            "user, none",
            &[
                ("authorization", &anon),
                ("apikey", &TestKeys::legacy_anon_key())
            ]
        ),
        "none"
    );
    assert_eq!(mode("user, none", &[("authorization", &anon)]), "none");
    // An unknown `sb_` key in both fields: no user, and the unknown key then decides (401).
    let unknown = "sb_publishable_notthisprojects0000";
    let bu = format!("Bearer {unknown}");
    assert_eq!(
        mode("user", &[("authorization", &bu), ("apikey", unknown)]),
        "401 invalid_api_key"
    );
    // Anything else in both fields is still a token: copying it into `apikey` hides nothing.
    assert_eq!(
        mode(
            "user, none",
            &[("authorization", "Bearer whatever"), ("apikey", "whatever")]
        ),
        "401 malformed"
    );
    let keys = TestKeys::new();
    let expired = TokenBuilder::new()
        .exp(TokenBuilder::DEFAULT_NOW - 3600)
        .sign_es256(&keys);
    let be = format!("Bearer {expired}");
    assert_eq!(
        mode(
            "user, none",
            &[("authorization", &be), ("apikey", &expired)]
        ),
        "401 expired"
    );
    let service = TokenBuilder::new()
        .claim("role", "service_role")
        .sign_es256(&keys);
    let bs = format!("Bearer {service}");
    assert_eq!(
        mode(
            "user, none",
            &[("authorization", &bs), ("apikey", &service)]
        ),
        "403 forbidden_postgres_role"
    );
    // A signed-out supabase-js on a users-only route: the user credential is missing (401,
    // with a challenge), as for `Authenticated`; a publishable key proves nothing.
    assert_eq!(
        mode("user", &[("authorization", &bp), ("apikey", P)]),
        "401 missing_credentials"
    );
    assert_eq!(mode("user", &[("apikey", P)]), "401 missing_credentials");
    // A secret key there is a good credential not admitted: 403.
    assert_eq!(mode("user", &[("apikey", S)]), "403 not_admitted");
    // Not an API key and not equal: a bad token.
    assert_eq!(
        mode(
            "user, none",
            &[
                ("authorization", "Bearer sb_publishable_unknown000000"),
                ("apikey", P)
            ]
        ),
        "401 malformed"
    );
}

#[test]
fn api_keys_come_from_apikey_only() {
    let bs = format!("Bearer {S}");
    // A secret key as the bearer is no API key: a malformed token.
    assert_eq!(mode("secret", &[("authorization", &bs)]), "401 malformed");
    assert_eq!(mode("secret, none", &[("authorization", &bs)]), "none");
    assert_eq!(
        mode("user, secret", &[("authorization", &bs)]),
        "401 malformed"
    );
    // Header names are case-insensitive on the wire; HeaderMap keeps them lowercase.
    assert_eq!(mode("secret", &[("APIKEY", S)]), "secret:default");
    // Two apikey fields: 400.
    assert_eq!(
        mode("secret, none", &[("apikey", S), ("apikey", S)]),
        "400 invalid_request"
    );
    // An empty apikey is no apikey.
    assert_eq!(mode("secret", &[("apikey", "")]), "401 missing_credentials");
}

#[test]
fn named_keys_open_only_their_routes() {
    assert_eq!(mode("publishable", &[("apikey", PW)]), "403 not_admitted");
    assert_eq!(
        mode("secret:automations", &[("apikey", S)]),
        "403 not_admitted"
    );
    assert_eq!(mode("secret", &[("apikey", P)]), "403 not_admitted");
    assert_eq!(mode("publishable:*", &[("apikey", S)]), "403 not_admitted");
    assert_eq!(
        mode("secret:*", &[("apikey", "sb_secret_nottheprojectskey0000")]),
        "401 invalid_api_key"
    );
    assert_eq!(mode("secret:*", &[]), "401 missing_credentials");
    // A valid user on a service route: 403 (the token is good, the route is not for users).
    assert_eq!(
        mode("secret:*", &[("authorization", &user())]),
        "403 not_admitted"
    );
    // A bad user token there: 401.
    assert_eq!(
        mode("secret:*", &[("authorization", "Bearer x.y.z")]),
        "401 malformed"
    );
    // A wrong apikey falls through to a later mode, as in @supabase/server.
    assert_eq!(mode("publishable, none", &[("apikey", "nope")]), "none");
    assert_eq!(
        mode(
            "secret, user",
            &[("apikey", "nope"), ("authorization", &user())]
        ),
        "user"
    );
}

#[test]
fn a_secret_key_from_a_browser_is_refused() {
    for meta in [
        ("sec-fetch-site", "same-origin"),
        ("sec-fetch-mode", "cors"),
        ("origin", "https://app.example.com"),
        ("Sec-Fetch-Site", "none"),
    ] {
        for modes in ["secret", "secret:*", "user, none", "publishable, none"] {
            assert_eq!(
                mode(modes, &[("apikey", S), meta]),
                "403 secret_key_in_browser",
                "{modes} {meta:?}"
            );
        }
    }
    // A publishable key from a browser is what it is for.
    assert_eq!(
        mode(
            "publishable",
            &[("apikey", P), ("origin", "https://app.example.com")]
        ),
        "publishable:default"
    );
    // An unknown secret-looking key from a browser is just a wrong key.
    assert_eq!(
        mode(
            "secret",
            &[("apikey", "sb_secret_unknown0000000000"), ("origin", "x")]
        ),
        "401 invalid_api_key"
    );
}

#[test]
fn refusals_and_challenges() {
    let a = auth();
    let r = a.refusal(&AuthError::InvalidApiKey);
    assert_eq!(r.status(), 401);
    assert_eq!(r.www_authenticate().unwrap(), r#"Bearer realm="supagate""#);
    assert!(
        std::str::from_utf8(r.body().bytes())
            .unwrap()
            .contains("invalid_api_key")
    );
    let r = a.refusal(&AuthError::SecretKeyFromBrowser);
    assert_eq!(r.status(), 403);
    assert!(r.www_authenticate().is_none());
    let r = a.refusal(&AuthError::NotAdmitted {
        what: "this api key is not admitted here",
    });
    assert_eq!(r.status(), 403);
    assert!(r.www_authenticate().is_none());
}

#[test]
fn keys_never_reach_debug_or_errors() {
    let a = auth();
    let dbg = format!("{a:?}");
    for k in [P, PW, S, SA] {
        assert!(!dbg.contains(k), "{dbg}");
        assert!(!dbg.contains(k.get(..20).unwrap()), "{dbg}");
    }
    for e in [
        admit("secret", &[("apikey", P)]),
        admit("secret", &[("apikey", "sb_secret_x0000000000000")]),
    ] {
        let e = e.unwrap_err();
        let text = format!("{e} {e:?} {}", e.description());
        assert!(!text.contains("sb_"), "{text}");
    }
}

#[test]
fn without_keys_configured_api_key_modes_match_nothing() {
    let a = Authenticator::new(TestKeys::new().verifier_at(TokenBuilder::DEFAULT_NOW));
    let h = headers(&[("apikey", P)]);
    let keys = Gate::modes(a.clone(), "publishable:*".parse().unwrap());
    let err = keys.decide_now(&h).unwrap().unwrap_err();
    assert_eq!(err.error(), &AuthError::InvalidApiKey);
    let h = headers(&[("apikey", P), ("authorization", &format!("Bearer {P}"))]);
    let anyone = Gate::modes(a, "user, none".parse().unwrap());
    assert!(matches!(
        anyone.decide_now(&h).unwrap().unwrap().caller(),
        Some(Caller::None)
    ));
}
