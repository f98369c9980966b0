//! `supagate mint`: tokens the library accepts, for a local stack or the testkit's keys, and a
//! refusal for any hosted project.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use serde_json::Value;
use supagate_testkit::TestKeys;

fn run(args: &[&str], env: Vec<(&'static str, String)>) -> (u8, String, String) {
    let env: Vec<(String, String)> = env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let ran = common::run(args, "", &env);
    (ran.code, ran.out, ran.err)
}

#[test]
fn testkit_tokens_verify_with_the_testkit_project() {
    for alg in ["ES256", "RS256", "EdDSA", "HS256"] {
        let (code, out, _) = run(
            &["mint", "--alg", alg, "--json", "--app-role", "admin"],
            vec![],
        );
        assert_eq!(code, 0, "{out}");
        let minted: Value = serde_json::from_str(&out).unwrap();
        let token = minted["token"].as_str().unwrap().to_owned();
        assert_eq!(minted["claims"]["app_metadata"]["roles"][0], "admin");
        let env = vec![
            ("SUPABASE_URL", TestKeys::SUPABASE_URL.to_owned()),
            ("SUPABASE_JWKS", TestKeys::new().jwks_json()),
            ("SUPABASE_JWT_SECRET", TestKeys::HS256_SECRET.to_owned()),
        ];
        let (code, out, _) = run(&["inspect", "--json", &token], env);
        assert_eq!(code, 0, "{alg}: {out}");
    }
}

#[test]
fn local_stack_tokens_are_signed_with_its_secret() {
    let secret = "super-secret-jwt-token-with-at-least-32-characters-long";
    let env = || {
        vec![
            ("SUPABASE_URL", "http://127.0.0.1:54321".to_owned()),
            ("SUPABASE_JWT_SECRET", secret.to_owned()),
        ]
    };
    let (code, token, _) = run(
        &[
            "mint",
            "--anonymous",
            "--ttl",
            "60",
            "--claim",
            "app_metadata={\"plan\":\"pro\"}",
        ],
        env(),
    );
    assert_eq!(code, 0);
    let token = token.trim();
    let (code, out, _) = run(&["inspect", "--json", token], env());
    assert_eq!(code, 0, "{out}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["claims"]["iss"], "http://127.0.0.1:54321/auth/v1");
    assert_eq!(r["claims"]["is_anonymous"], true);
    assert_eq!(r["claims"]["app_metadata"]["plan"], "pro");
    assert_eq!(
        r["claims"]["exp"].as_i64().unwrap() - r["claims"]["iat"].as_i64().unwrap(),
        60
    );
    // Without the secret: a usage error that says where to find it.
    let (code, _, err) = run(
        &["mint"],
        vec![("SUPABASE_URL", "http://127.0.0.1:54321".to_owned())],
    );
    assert_eq!(code, 2);
    assert!(err.contains("supabase status"), "{err}");
}

#[test]
fn a_hosted_project_is_refused() {
    for url in [
        "https://abcdefghijklmnopqrst.supabase.co",
        "https://auth.example.com",
    ] {
        let (code, out, err) = run(
            &["mint"],
            vec![
                ("SUPABASE_URL", url.to_owned()),
                (
                    "SUPABASE_JWT_SECRET",
                    "a-real-projects-secret-of-more-than-32-bytes".to_owned(),
                ),
            ],
        );
        assert_eq!(code, 1, "{url}");
        assert!(out.is_empty(), "a token was printed for {url}");
        assert!(err.contains("not a local project"), "{err}");
    }
    // Flags name the project too.
    let (code, out, _) = run(
        &["mint", "--url", "https://abcdefghijklmnopqrst.supabase.co"],
        vec![],
    );
    assert_eq!((code, out.as_str()), (1, ""));
}

#[test]
fn bad_mint_arguments_are_usage_errors() {
    for args in [
        &["mint", "--ttl", "0"][..],
        &["mint", "--ttl", "999999999"],
        &["mint", "--alg", "none"],
        &["mint", "--aal", "aal3"],
        &["mint", "--claim", "novalue"],
        // Never another issuer: a hosted project's `iss` would make a forged credential.
        &[
            "mint",
            "--claim",
            "iss=https://abcdefghijklmnopqrst.supabase.co/auth/v1",
        ],
        &["mint", "--claim", "ref=abcdefghijklmnopqrst"],
        // The week's bound holds for a lifetime given as claims too.
        &["mint", "--claim", "exp=99999999999"],
        &["mint", "--claim", "exp=1e11"],
        &["mint", "--claim", "exp=null"],
        &["mint", "--claim", "iat=null"],
    ] {
        let (code, out, err) = run(args, vec![]);
        assert_eq!(code, 2, "{args:?}: {out}");
        assert!(!err.is_empty());
    }
}
