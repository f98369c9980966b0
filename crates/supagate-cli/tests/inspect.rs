//! `supagate inspect`: the library's reason and the right fix for each refusal, on an HS256
//! project and on a project that signs with asymmetric keys (a JWK set).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashMap;

use serde_json::{Value, json};
use supagate_testkit::MockJwks;
use supagate_testkit::{TestKeys, TokenBuilder, sign_raw_hs256};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Project {
    /// The legacy secret, and a published set with no key (as such projects publish).
    Hs256,
    /// Asymmetric keys only (the JWK set inline).
    Jwks,
}

struct Env {
    vars: HashMap<String, String>,
    _jwks: Option<MockJwks>,
}

impl Env {
    fn vars(&self) -> Vec<(String, String)> {
        self.vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

fn project(kind: Project) -> Env {
    let mut vars = HashMap::new();
    vars.insert("SUPABASE_URL".to_owned(), TestKeys::SUPABASE_URL.to_owned());
    let mut server = None;
    match kind {
        Project::Hs256 => {
            let mock = MockJwks::start(r#"{"keys":[]}"#);
            vars.insert(
                "SUPABASE_JWT_SECRET".to_owned(),
                TestKeys::HS256_SECRET.to_owned(),
            );
            vars.insert("SUPABASE_JWKS_URL".to_owned(), mock.url());
            server = Some(mock);
        }
        Project::Jwks => {
            vars.insert("SUPABASE_JWKS".to_owned(), TestKeys::new().jwks_json());
        }
    }
    Env {
        vars,
        _jwks: server,
    }
}

/// Runs `supagate inspect --json [args]`, the token on standard input.
fn inspect(env: &Env, args: &[&str], token: &str) -> (u8, Value) {
    let mut argv = vec!["inspect", "--json"];
    argv.extend_from_slice(args);
    let ran = common::run(&argv, token, &env.vars());
    let (code, text) = (ran.code, ran.out);
    assert!(ran.err.is_empty(), "stderr: {}", ran.err);
    // Never a signature, never the secret.
    assert!(!text.contains(TestKeys::HS256_SECRET), "{text}");
    if let Some(sig) = token.trim().rsplit('.').next().filter(|s| s.len() > 20) {
        assert!(!text.contains(sig), "the signature was printed: {text}");
    }
    (code, serde_json::from_str(&text).unwrap())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Signs as the project under test signs.
fn sign(kind: Project, b: &TokenBuilder) -> String {
    match kind {
        Project::Hs256 => b.sign_hs256(&TestKeys::new()),
        Project::Jwks => b.sign_es256(&TestKeys::new()),
    }
}

fn legacy_key(role: &str) -> String {
    let payload = json!({
        "iss": "supabase",
        "ref": "testkitprojectref00",
        "role": role,
        "iat": now() - 86_400,
        "exp": now() + 10 * 365 * 86_400,
    });
    sign_raw_hs256(
        br#"{"alg":"HS256","typ":"JWT"}"#,
        payload.to_string().as_bytes(),
        TestKeys::HS256_SECRET.as_bytes(),
    )
}

struct Case {
    name: &'static str,
    token: Box<dyn Fn(Project) -> String>,
    args: &'static [&'static str],
    reason: &'static str,
    diagnosis: &'static str,
    /// Words the message or the fix must contain.
    says: &'static [&'static str],
}

fn case(
    name: &'static str,
    reason: &'static str,
    diagnosis: &'static str,
    says: &'static [&'static str],
    token: impl Fn(Project) -> String + 'static,
) -> Case {
    Case {
        name,
        token: Box::new(token),
        args: &[],
        reason,
        diagnosis,
        says,
    }
}

fn refused_cases() -> Vec<Case> {
    let b = TokenBuilder::now;
    vec![
        case(
            "expired an hour ago",
            "expired",
            "expired",
            &["expired 60 minutes ago", "refresh the session"],
            move |k| sign(k, &b().issued_at(now() - 7200, 3600)),
        ),
        case(
            "no token (a client component without the session)",
            "missing_credentials",
            "missing_token",
            &["Authorization: Bearer"],
            |_| String::new(),
        ),
        case(
            "the anon key used as a user token",
            "missing_claim/alg_not_allowed",
            "anon_key",
            &["anon key", "no user"],
            |_| legacy_key("anon"),
        ),
        case(
            "the service_role key used as a user token",
            "missing_claim/alg_not_allowed",
            "service_role_key",
            &["service_role", "secret API key"],
            |_| legacy_key("service_role"),
        ),
        case(
            "a publishable key as the bearer",
            "malformed",
            "api_key",
            &["`apikey` header"],
            |_| TestKeys::PUBLISHABLE_KEY.to_owned(),
        ),
        case(
            "a secret key as the bearer",
            "malformed",
            "api_key",
            &["never send a secret key from a browser"],
            |_| TestKeys::SECRET_KEY.to_owned(),
        ),
        case(
            "a session cookie value pasted",
            "malformed",
            "session_cookie",
            &["supagate cookie"],
            |_| "base64-eyJhY2Nlc3NfdG9rZW4iOiJ4In0".to_owned(),
        ),
        case(
            "a truncated token",
            "malformed",
            "malformed",
            &["three base64url parts"],
            move |k| {
                let t = sign(k, &b());
                t.rsplit_once('.').map(|(head, _)| head.to_owned()).unwrap()
            },
        ),
        case(
            "another project's token",
            "issuer_mismatch",
            "other_project",
            &["another project (`otherprojectref0000000`)", "SUPABASE_URL"],
            move |k| {
                sign(
                    k,
                    &b().claim("iss", "https://otherprojectref0000000.supabase.co/auth/v1"),
                )
            },
        ),
        case(
            "a third-party provider's token",
            "unknown_key",
            "third_party",
            &["SUPABASE_THIRD_PARTY_ISSUERS", "https://clerk.example.com"],
            |_| {
                TokenBuilder::third_party("https://clerk.example.com")
                    .issued_at(now(), 3600)
                    .sign_provider()
            },
        ),
        case(
            "the project under another spelling",
            "issuer_mismatch",
            "issuer_spelling",
            &["http://localhost:54321", "SUPABASE_URL"],
            move |k| sign(k, &b().claim("iss", "http://localhost:54321/auth/v1")),
        ),
        case(
            "an OAuth client's token",
            "forbidden_oauth_client",
            "oauth_client",
            &["OAuth client `mcp-client`", "allow_oauth_clients"],
            move |k| sign(k, &b().claim("client_id", "mcp-client")),
        ),
        case(
            "a token with role service_role",
            "forbidden_postgres_role",
            "service_role_token",
            &["service_role"],
            move |k| sign(k, &b().claim("role", "service_role")),
        ),
        case(
            "a token with role anon",
            "forbidden_postgres_role",
            "postgres_role",
            &["--allow-postgres-role anon"],
            move |k| sign(k, &b().claim("role", "anon")),
        ),
        case(
            "another audience",
            "audience_mismatch",
            "audience",
            &["\"mobile\"", "authenticated"],
            move |k| sign(k, &b().claim("aud", "mobile")),
        ),
        case(
            "no sub",
            "missing_claim",
            "missing_claim",
            &["`sub`"],
            move |k| sign(k, &b().remove("sub")),
        ),
        case(
            "exp as a string",
            "invalid_claim",
            "invalid_claim",
            &["`exp`", "a string"],
            move |k| sign(k, &b().claim("exp", "tomorrow")),
        ),
        case(
            "nbf an hour ahead",
            "not_yet_valid",
            "clock_skew",
            &["`nbf` is 60 minutes in the future", "NTP"],
            move |k| sign(k, &b().claim("nbf", now() + 3600)),
        ),
        case(
            "iat an hour ahead",
            "issued_in_future",
            "clock_skew",
            &["`iat`", "sync"],
            move |k| sign(k, &b().issued_at(now() + 3600, 3600)),
        ),
        case(
            "a token that lives a year",
            "lifetime_too_long",
            "lifetime",
            &["365 days", "API key"],
            move |k| sign(k, &b().issued_at(now(), 365 * 86_400)),
        ),
        case(
            "alg none",
            "alg_not_allowed",
            "alg_none",
            &["unsigned"],
            |_| {
                let header = br#"{"alg":"none","typ":"JWT"}"#;
                let claims = TokenBuilder::now().claims().clone();
                format!(
                    "{}.",
                    supagate_testkit::encode_segments(
                        header,
                        Value::Object(claims).to_string().as_bytes()
                    )
                )
            },
        ),
        case(
            "a jku header",
            "header_not_allowed",
            "header_member",
            &["`jku`"],
            move |k| sign(k, &b().header("jku", "https://evil.example/jwks.json")),
        ),
        case(
            "typ at+jwt",
            "typ_not_allowed",
            "typ",
            &["`at+jwt`"],
            move |k| sign(k, &b().header("typ", "at+jwt")),
        ),
        case(
            "ES512",
            "unsupported_alg",
            "unsupported_alg",
            &["`ES512`"],
            move |k| sign(k, &b().header("alg", "ES512")),
        ),
        case(
            "a forged signature",
            "bad_signature",
            "",
            &["signature"],
            move |k| {
                let t = sign(k, &b());
                let (head, sig) = t.rsplit_once('.').unwrap();
                let flipped = if sig.starts_with('A') { "B" } else { "A" };
                format!("{head}.{flipped}{}", &sig[1..])
            },
        ),
        case(
            "two tokens in one",
            "malformed",
            "whitespace",
            &["one token"],
            move |k| {
                let t = sign(k, &b());
                format!("{t} {t}")
            },
        ),
        case(
            "a token longer than any Supabase issues",
            "too_long",
            "too_long",
            &["longer"],
            |_| format!("eyJ{}", "x".repeat(55_000)),
        ),
    ]
}

#[test]
fn every_refusal_names_the_library_reason_and_a_fix_on_both_kinds_of_project() {
    let mut checked = 0;
    for kind in [Project::Hs256, Project::Jwks] {
        let env = project(kind);
        for c in refused_cases() {
            let token = (c.token)(kind);
            let (code, report) = inspect(&env, c.args, &token);
            let what = format!("{:?} / {}: {report:#}", kind, c.name);
            assert_eq!(code, 1, "{what}");
            assert_eq!(report["verdict"], "refused", "{what}");
            let reason = report["reason"].as_str().unwrap();
            assert!(
                !reason.is_empty() && reason.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{what}"
            );
            if !c.reason.is_empty() {
                // `a/b`: the reason on the HS256 project, then on the JWK-set project.
                let expected = match (c.reason.split_once('/'), kind) {
                    (Some((hs, _)), Project::Hs256) => hs,
                    (Some((_, jwks)), Project::Jwks) => jwks,
                    (None, _) => c.reason,
                };
                assert_eq!(reason, expected, "{what}");
            }
            if !c.diagnosis.is_empty() {
                assert_eq!(report["diagnosis"], c.diagnosis, "{what}");
            }
            let text = format!(
                "{} {}",
                report["message"].as_str().unwrap_or_default(),
                report["fix"].as_str().unwrap_or_default()
            );
            assert!(
                report["fix"].as_str().is_some_and(|f| f.len() > 10),
                "{what}"
            );
            for word in c.says {
                assert!(text.contains(word), "{what}: expected {word:?}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 40, "{checked}");
}

#[test]
fn project_specific_refusals() {
    // HS256 project: the wrong secret (the seed guide's first common error).
    let hs = project(Project::Hs256);
    let wrong = TokenBuilder::now().sign_hmac(b"a-different-projects-secret-of-40-bytes!!");
    let (code, r) = inspect(&hs, &[], &wrong);
    assert_eq!((code, r["reason"].as_str()), (1, Some("bad_signature")));
    assert_eq!(r["diagnosis"], "wrong_secret", "{r:#}");
    assert!(r["fix"].as_str().unwrap().contains("Legacy JWT Secret"));

    // The anon key configured as the secret.
    let mut anon_as_secret = project(Project::Hs256);
    anon_as_secret
        .vars
        .insert("SUPABASE_JWT_SECRET".into(), legacy_key("anon"));
    let token = TokenBuilder::now().sign_hs256(&TestKeys::new());
    let (code, r) = inspect(&anon_as_secret, &[], &token);
    assert_eq!((code, r["reason"].as_str()), (1, Some("bad_signature")));
    assert_eq!(r["diagnosis"], "secret_is_an_api_key", "{r:#}");

    // JWK-set project: an HS256 token (signed with the legacy secret the project left).
    let jwks = project(Project::Jwks);
    let (code, r) = inspect(
        &jwks,
        &[],
        &TokenBuilder::now().sign_hs256(&TestKeys::new()),
    );
    assert_eq!(code, 1);
    assert_eq!(r["diagnosis"], "hs256_on_asymmetric_project", "{r:#}");
    assert!(r["fix"].as_str().unwrap().contains("SUPABASE_JWT_SECRET"));

    // A key the project does not publish.
    let unknown = TokenBuilder::now()
        .header("kid", "f0e1d2c3-0000-4000-8000-000000000000")
        .sign_es256(&TestKeys::new());
    let (code, r) = inspect(&jwks, &[], &unknown);
    assert_eq!((code, r["reason"].as_str()), (1, Some("unknown_key")));
    assert!(r["message"].as_str().unwrap().contains("f0e1d2c3"), "{r:#}");

    // The key set cannot be fetched: 503, not 401.
    let mut down = project(Project::Jwks);
    down.vars.remove("SUPABASE_JWKS");
    down.vars.insert(
        "SUPABASE_JWKS_URL".into(),
        "http://127.0.0.1:9/auth/v1/.well-known/jwks.json".into(),
    );
    let (code, r) = inspect(
        &down,
        &[],
        &TokenBuilder::now().sign_es256(&TestKeys::new()),
    );
    assert_eq!((code, r["reason"].as_str()), (1, Some("keys_unavailable")));
    assert_eq!(r["status"], 503);
}

#[test]
fn policy_flags_admit_what_they_name() {
    for kind in [Project::Hs256, Project::Jwks] {
        let env = project(kind);
        let oauth = sign(kind, &TokenBuilder::now().claim("client_id", "mcp-client"));
        assert_eq!(
            inspect(&env, &["--allow-oauth-client", "mcp-client"], &oauth).0,
            0
        );
        let anon_role = sign(kind, &TokenBuilder::now().claim("role", "anon"));
        assert_eq!(
            inspect(&env, &["--allow-postgres-role", "anon"], &anon_role).0,
            0
        );
        let anonymous = sign(kind, &TokenBuilder::now().claim("is_anonymous", true));
        assert_eq!(inspect(&env, &[], &anonymous).0, 0);
        let (code, r) = inspect(&env, &["--refuse-anonymous"], &anonymous);
        assert_eq!(
            (code, r["reason"].as_str()),
            (1, Some("forbidden_anonymous")),
            "{r:#}"
        );
        assert_eq!(r["status"], 403);
    }
}

#[test]
fn a_valid_token_shows_header_and_claims_and_exits_0() {
    for kind in [Project::Hs256, Project::Jwks] {
        let env = project(kind);
        let token = sign(kind, &TokenBuilder::now());
        for input in [
            token.clone(),
            format!("Authorization: Bearer {token}\n"),
            format!("  \"{token}\"  "),
        ] {
            let (code, r) = inspect(&env, &[], &input);
            assert_eq!(code, 0, "{r:#}");
            assert_eq!(r["verdict"], "valid");
            assert!(r["reason"].is_null() && r["fix"].is_null());
            assert_eq!(r["claims"]["sub"], TokenBuilder::DEFAULT_SUB);
            assert!(r["header"]["alg"].is_string());
            assert!(r["message"].as_str().unwrap().contains("expires in"));
        }
    }
}

#[test]
fn the_token_argument_and_text_output() {
    let env = project(Project::Jwks);
    let token = TokenBuilder::now()
        .issued_at(now() - 7200, 3600)
        .sign_es256(&TestKeys::new());
    let ran = common::run(&["inspect", token.as_str()], "", &env.vars());
    let (code, text) = (ran.code, ran.out);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("verdict  refused: expired 60 minutes ago"),
        "{text}"
    );
    assert!(text.contains("reason `expired`"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("fix ")), "{text}");
}

#[test]
fn usage_errors_exit_2() {
    let none = Vec::new();
    let ran = common::run(&["inspect", "a.b.c"], "", &none);
    assert_eq!(ran.code, 2);
    assert!(ran.err.contains("SUPABASE_URL: not set"), "{}", ran.err);
    assert_eq!(common::run(&["inspect", "--nope"], "", &none).code, 2);
    assert_eq!(common::run::<&str>(&[], "", &none).code, 2);
    // Standard input that is not text, or too long.
    let local = ["inspect", "--url", "http://127.0.0.1:54321"];
    assert_eq!(common::run(&local, [0xff_u8, 0xfe], &none).code, 2);
    assert_eq!(common::run(&local, vec![b'a'; 70_000], &none).code, 2);
}

#[test]
fn the_installed_binary_exits_with_the_documented_codes() {
    let bin = env!("CARGO_BIN_EXE_supagate");
    let run = |args: &[&str], envs: &[(&str, &str)], stdin: &str| {
        use std::io::Write as _;
        let mut child = std::process::Command::new(bin)
            .args(args)
            .env_clear()
            .envs(envs.iter().copied())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let jwks = TestKeys::new().jwks_json();
    let envs = [
        ("SUPABASE_URL", TestKeys::SUPABASE_URL),
        ("SUPABASE_JWKS", jwks.as_str()),
    ];
    let good = TokenBuilder::now().sign_es256(&TestKeys::new());
    assert_eq!(run(&["inspect"], &envs, &good).0, Some(0));
    assert_eq!(run(&["inspect", "-"], &envs, "nope").0, Some(1));
    assert_eq!(run(&["inspect", "--bogus"], &envs, "").0, Some(2));
    let (code, help) = run(&["--help"], &[], "");
    assert_eq!(code, Some(0));
    assert!(
        help.contains("inspect")
            && help.contains("doctor")
            && help.contains("cookie")
            && help.contains("mint")
    );
}

#[test]
fn a_jwt_shaped_secret_is_blamed_only_for_hmac_tokens() {
    let mut env = project(Project::Jwks);
    env.vars
        .insert("SUPABASE_JWT_SECRET".into(), legacy_key("anon"));
    let t = TokenBuilder::now().sign_es256(&TestKeys::new());
    let (head, sig) = t.rsplit_once('.').unwrap();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    let forged = format!("{head}.{flipped}{}", &sig[1..]);
    let (code, r) = inspect(&env, &[], &forged);
    assert_eq!((code, r["reason"].as_str()), (1, Some("bad_signature")));
    assert_eq!(r["diagnosis"], "bad_signature", "{r:#}");
}

#[test]
fn words_of_an_unquoted_paste_are_one_input_and_never_echoed() {
    let env = project(Project::Jwks);
    let token = TokenBuilder::now().sign_es256(&TestKeys::new());
    let sig = token.rsplit('.').next().unwrap().to_owned();
    let run = |argv: Vec<&str>| {
        let ran = common::run(&argv[1..], "", &env.vars());
        let (code, all) = (ran.code, format!("{}{}", ran.out, ran.err));
        assert!(!all.contains(&sig), "a signature was printed: {all}");
        (code, all)
    };
    // `supagate inspect Bearer eyJ…` (unquoted): the two words are the header's value.
    assert_eq!(run(vec!["supagate", "inspect", "Bearer", &token]).0, 0);
    // Two tokens: refused, and neither is echoed.
    let (code, text) = run(vec!["supagate", "inspect", "--json", &token, &token]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("\"whitespace\""), "{text}");
    // A usage error that quotes an argument cuts what looks like a credential.
    let (code, text) = run(vec!["supagate", "cookie", "--bogus", &token]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("--bogus"), "{text}");
}
