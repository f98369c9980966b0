//! `supagate doctor`: each misconfiguration reported on its own line with its fix, every problem
//! at once, exit status 1; a clean configuration exits 0.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::PathBuf;

use serde_json::{Value, json};
use supagate_testkit::{MockJwks, TestKeys, TestPostgres, sign_raw_hs256};

/// Runs `supagate doctor --json --env-file <file of vars>`.
fn doctor(vars: &[(&str, &str)], extra: &[&str]) -> (u8, Value) {
    let dir = std::env::temp_dir().join(format!(
        "supagate-doctor-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file: PathBuf = dir.join(".env");
    let text: String = vars.iter().map(|(k, v)| format!("{k}='{v}'\n")).collect();
    std::fs::write(&file, text).unwrap();
    let mut argv = vec![
        "doctor".to_owned(),
        "--json".to_owned(),
        "--env-file".to_owned(),
        file.display().to_string(),
    ];
    argv.extend(extra.iter().map(|s| (*s).to_owned()));
    let ran = common::run(&argv, "", &[]);
    let _ = std::fs::remove_dir_all(&dir);
    let (code, text) = (ran.code, ran.out);
    assert!(ran.err.is_empty(), "{}", ran.err);
    for (_, v) in vars {
        if v.len() > 30 && !v.starts_with("http") && !v.starts_with('{') && !v.starts_with('[') {
            assert!(!text.contains(v), "a value was printed: {text}");
        }
    }
    (code, serde_json::from_str(&text).unwrap())
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

fn failures(report: &Value) -> Vec<(String, String, String)> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| {
            (
                c["check"].as_str().unwrap().to_owned(),
                c["message"].as_str().unwrap().to_owned(),
                c["fix"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn legacy_key(role: &str, project_ref: &str) -> String {
    let payload = json!({"iss": "supabase", "ref": project_ref, "role": role, "iat": 1, "exp": 4_000_000_000_i64});
    sign_raw_hs256(
        br#"{"alg":"HS256","typ":"JWT"}"#,
        payload.to_string().as_bytes(),
        b"k",
    )
}

/// What is wrong, the variables, the check that must fail, words of its message, words of
/// its fix.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str, &'a str, &'a str);

const URL: &str = TestKeys::SUPABASE_URL;
const SECRET: &str = TestKeys::HS256_SECRET;

#[test]
fn each_misconfiguration_is_named_with_its_fix() {
    let jwks = TestKeys::new().jwks_json();
    let empty = MockJwks::start(r#"{"keys":[]}"#);
    let empty_url = empty.url();
    let anon = legacy_key("anon", "testkitprojectref00");
    let service = legacy_key("service_role", "testkitprojectref00");
    let other_anon = legacy_key("anon", "someotherprojectref0");
    let mut private = serde_json::from_str::<Value>(&jwks).unwrap();
    private["keys"][0]["d"] = json!("private-scalar");
    let private = private.to_string();
    let cases: Vec<Case<'_>> = vec![
        // (what, variables, check, words of the message, words of the fix)
        (
            "no SUPABASE_URL",
            vec![("SUPABASE_JWT_SECRET", SECRET)],
            "SUPABASE_URL",
            "not set",
            "project URL",
        ),
        (
            "a URL that is not one",
            vec![
                ("SUPABASE_URL", "supabase.co/project"),
                ("SUPABASE_JWT_SECRET", SECRET),
            ],
            "SUPABASE_URL",
            "",
            "https://<project-ref>.supabase.co",
        ),
        (
            "a short secret",
            vec![("SUPABASE_URL", URL), ("SUPABASE_JWT_SECRET", "short")],
            "SUPABASE_JWT_SECRET",
            "32 bytes",
            "Legacy JWT Secret",
        ),
        (
            "the anon key as the secret",
            vec![("SUPABASE_URL", URL), ("SUPABASE_JWT_SECRET", &anon)],
            "SUPABASE_JWT_SECRET",
            "holds a JWT (role `anon`",
            "never to an API key",
        ),
        (
            "the published local secret on a hosted project",
            vec![
                ("SUPABASE_URL", URL),
                (
                    "SUPABASE_JWT_SECRET",
                    "super-secret-jwt-token-with-at-least-32-characters-long",
                ),
            ],
            "SUPABASE_JWT_SECRET",
            "anyone could sign tokens",
            "",
        ),
        (
            "a rate limit that is not a number",
            vec![
                ("SUPABASE_URL", URL),
                ("SUPABASE_JWT_SECRET", SECRET),
                ("RATE_LIMIT_PER_MINUTE", "lots"),
            ],
            "RATE_LIMIT_PER_MINUTE",
            "`lots`",
            "",
        ),
        (
            "an unknown session check",
            vec![
                ("SUPABASE_URL", URL),
                ("SUPABASE_JWT_SECRET", SECRET),
                ("DATABASE_URL", "postgres://u:p@127.0.0.1:9/db"),
                ("SESSION_CHECK", "maybe"),
            ],
            "SESSION_CHECK",
            "`maybe`",
            "db",
        ),
        (
            "an allowed origin with a path",
            vec![
                ("SUPABASE_URL", URL),
                ("SUPABASE_JWT_SECRET", SECRET),
                ("ALLOWED_ORIGINS", "https://app.example.com/path"),
            ],
            "ALLOWED_ORIGINS",
            "",
            "https://",
        ),
        (
            "an upstream that is not http(s)",
            vec![
                ("SUPABASE_URL", URL),
                ("SUPABASE_JWT_SECRET", SECRET),
                ("API_URL", "ftp://backend"),
            ],
            "API_URL",
            "ftp://backend",
            "",
        ),
        (
            "a guessable secret",
            vec![
                ("SUPABASE_URL", URL),
                (
                    "SUPABASE_JWT_SECRET",
                    "0123456789abcdefghijklmnopqrstuvwxyz",
                ),
            ],
            "SUPABASE_JWT_SECRET",
            "guessable",
            "openssl rand",
        ),
        (
            "an API key as the secret",
            vec![
                ("SUPABASE_URL", URL),
                ("SUPABASE_JWT_SECRET", TestKeys::SECRET_KEY),
            ],
            "SUPABASE_JWT_SECRET",
            "API key",
            "SUPABASE_SECRET_KEY",
        ),
        (
            "a JWK set that is not JSON",
            vec![("SUPABASE_URL", URL), ("SUPABASE_JWKS", "{\"keys\": [")],
            "SUPABASE_JWKS",
            "line 1",
            "JWK set",
        ),
        (
            "a JWK set with a private key",
            vec![("SUPABASE_URL", URL), ("SUPABASE_JWKS", &private)],
            "SUPABASE_JWKS",
            "private key material",
            "public keys",
        ),
        (
            "a JWK set with no key",
            vec![("SUPABASE_URL", URL), ("SUPABASE_JWKS", "{\"keys\":[]}")],
            "SUPABASE_JWKS",
            "no usable key",
            "",
        ),
        (
            "both JWKS variables",
            vec![
                ("SUPABASE_URL", URL),
                ("SUPABASE_JWKS", &jwks),
                ("SUPABASE_JWKS_URL", "https://example.com/jwks.json"),
            ],
            "SUPABASE_JWKS_URL",
            "together",
            "unset one",
        ),
        (
            "a key set that cannot be fetched",
            vec![
                ("SUPABASE_URL", URL),
                ("SUPABASE_JWKS_URL", "http://127.0.0.1:9/jwks.json"),
            ],
            "jwks",
            "cannot fetch",
            "reaches the project",
        ),
        (
            "an empty published set and no secret",
            vec![("SUPABASE_URL", URL), ("SUPABASE_JWKS_URL", &empty_url)],
            "jwks",
            "every token would be refused",
            "SUPABASE_JWT_SECRET",
        ),
        (
            "a secret key as the publishable key",
            vec![
                ("SUPABASE_URL", URL),
                ("SUPABASE_JWT_SECRET", SECRET),
                ("SUPABASE_PUBLISHABLE_KEY", TestKeys::SECRET_KEY),
            ],
            "SUPABASE_PUBLISHABLE_KEY",
            "secret key",
            "rotate",
        ),
        (
            "a publishable key as the secret key",
            vec![
                ("SUPABASE_URL", URL),
                ("SUPABASE_JWT_SECRET", SECRET),
                ("SUPABASE_SECRET_KEY", TestKeys::PUBLISHABLE_KEY),
            ],
            "SUPABASE_SECRET_KEY",
            "sb_secret_",
            "API Keys",
        ),
        (
            "the service_role key as the anon key",
            vec![
                ("SUPABASE_URL", URL),
                ("SUPABASE_JWT_SECRET", SECRET),
                ("SUPABASE_ANON_KEY", &service),
            ],
            "SUPABASE_ANON_KEY",
            "service_role",
            "rotate",
        ),
        (
            "another project's anon key",
            vec![
                ("SUPABASE_URL", URL),
                ("SUPABASE_JWT_SECRET", SECRET),
                ("SUPABASE_ANON_KEY", &other_anon),
            ],
            "SUPABASE_ANON_KEY",
            "someotherprojectref0",
            "",
        ),
        (
            "a secret key in a browser variable",
            vec![
                ("SUPABASE_URL", URL),
                ("SUPABASE_JWT_SECRET", SECRET),
                ("NEXT_PUBLIC_SUPABASE_KEY", TestKeys::SECRET_KEY),
            ],
            "browser variables",
            "NEXT_PUBLIC_SUPABASE_KEY holds a secret API key",
            "rotate",
        ),
        (
            "the service_role key in a browser variable",
            vec![
                ("SUPABASE_URL", URL),
                ("SUPABASE_JWT_SECRET", SECRET),
                ("VITE_SUPABASE_ANON_KEY", &service),
            ],
            "browser variables",
            "service_role",
            "",
        ),
        (
            "a misspelled variable",
            vec![
                ("SUPABASE_URL", URL),
                ("SUPABASE_JWT_SECRET", SECRET),
                ("SUPABASE_JWT_SECERT", SECRET),
            ],
            "spelling",
            "SUPABASE_JWT_SECERT",
            "SUPABASE_JWT_SECRET",
        ),
        (
            "an http public origin",
            vec![
                ("SUPABASE_URL", URL),
                ("SUPABASE_JWT_SECRET", SECRET),
                ("PUBLIC_ORIGIN", "http://app.example.com"),
            ],
            "PUBLIC_ORIGIN",
            "https unless on a loopback host",
            "https://",
        ),
        (
            "an unknown cookie encoding",
            vec![
                ("SUPABASE_URL", URL),
                ("SUPABASE_JWT_SECRET", SECRET),
                ("COOKIE_ENCODE", "json"),
            ],
            "COOKIE_ENCODE",
            "`json`",
            "tokens-only",
        ),
        (
            "third-party issuers that are not JSON",
            vec![
                ("SUPABASE_URL", URL),
                ("SUPABASE_JWT_SECRET", SECRET),
                ("SUPABASE_THIRD_PARTY_ISSUERS", "clerk"),
            ],
            "SUPABASE_THIRD_PARTY_ISSUERS",
            "",
            "JSON list",
        ),
        (
            "a database that is not there",
            vec![
                ("SUPABASE_URL", URL),
                ("SUPABASE_JWT_SECRET", SECRET),
                ("DATABASE_URL", "postgres://u:p@127.0.0.1:9/db"),
            ],
            "DATABASE_URL",
            "cannot connect to 127.0.0.1:9",
            "host, port",
        ),
        (
            "a database URL that is not one",
            vec![
                ("SUPABASE_URL", URL),
                ("SUPABASE_JWT_SECRET", SECRET),
                ("DATABASE_URL", "mysql://x"),
            ],
            "DATABASE_URL",
            "not a PostgreSQL",
            "postgres://",
        ),
    ];
    assert!(cases.len() >= 20);
    for (what, vars, check, says, fix) in &cases {
        // A key set inline where the case is not about key sets: nothing is fetched.
        let mut vars = vars.clone();
        if !vars.iter().any(|(k, _)| k.starts_with("SUPABASE_JWKS")) {
            vars.push(("SUPABASE_JWKS", &jwks));
        }
        let (code, report) = doctor(&vars, &[]);
        assert_eq!(code, 1, "{what}: {report:#}");
        assert_eq!(report["verdict"], "failed", "{what}");
        let failed = failures(&report);
        let hit = failed.iter().find(|(c, _, _)| c == check);
        let Some((_, message, got_fix)) = hit else {
            panic!("{what}: no failed `{check}` check in {failed:#?}");
        };
        assert!(message.contains(says), "{what}: {message}");
        assert!(
            got_fix.contains(fix) && got_fix.len() > 5,
            "{what}: {got_fix}"
        );
    }
    drop(empty);
}

#[test]
fn every_problem_is_reported_not_only_the_first() {
    let anon = legacy_key("service_role", "testkitprojectref00");
    let (code, report) = doctor(
        &[
            ("SUPABASE_JWT_SECRET", "short"),
            ("SUPABASE_ANON_KEY", &anon),
            ("SUPABASE_PUBLISHABLE_KEY", TestKeys::SECRET_KEY),
            ("SUPABASE_JWKS", "not json"),
            ("SUPABASE_SECRETKEY", "x"),
        ],
        &["--offline"],
    );
    assert_eq!(code, 1);
    let checks: Vec<String> = failures(&report).into_iter().map(|(c, _, _)| c).collect();
    for expected in [
        "SUPABASE_URL",
        "SUPABASE_JWT_SECRET",
        "SUPABASE_JWKS",
        "SUPABASE_PUBLISHABLE_KEY",
        "SUPABASE_ANON_KEY",
        "spelling",
    ] {
        assert!(
            checks.iter().any(|c| c == expected),
            "{expected} missing from {checks:?}"
        );
    }
    assert_eq!(report["failures"], checks.len());
}

#[test]
fn a_clean_configuration_exits_0_and_fetches_the_key_set() {
    let keys = MockJwks::start(&TestKeys::new().jwks_json());
    let url = keys.url();
    let (code, report) = doctor(
        &[
            ("SUPABASE_URL", URL),
            ("SUPABASE_JWT_SECRET", SECRET),
            ("SUPABASE_JWKS_URL", &url),
            ("SUPABASE_PUBLISHABLE_KEY", TestKeys::PUBLISHABLE_KEY),
            ("SUPABASE_SECRET_KEY", TestKeys::SECRET_KEY),
            ("PUBLIC_ORIGIN", "https://app.example.com"),
            ("NEXT_PUBLIC_SUPABASE_ANON_KEY", TestKeys::PUBLISHABLE_KEY),
        ],
        &[],
    );
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["verdict"], "clean");
    let jwks = common::check(&report, "jwks");
    assert!(
        jwks["message"]
            .as_str()
            .unwrap()
            .contains(TestKeys::ES256_KID),
        "{jwks}"
    );
    assert!(keys.requests() >= 1);
    // Text output: one line per check, the last says it is clean.
    let dir = std::env::temp_dir().join(format!("supagate-doctor-text-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(".env");
    std::fs::write(
        &file,
        format!("SUPABASE_URL={URL}\nSUPABASE_JWT_SECRET={SECRET}\nSUPABASE_JWKS_URL={url}\n"),
    )
    .unwrap();
    let ran = common::run(&["doctor", "--env-file", file.to_str().unwrap()], "", &[]);
    let _ = std::fs::remove_dir_all(&dir);
    let (code, text) = (ran.code, ran.out);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.lines()
            .all(|l| l.starts_with("ok ") || l.starts_with("skip ") || l.starts_with("clean")),
        "{text}"
    );
    assert!(!text.contains(SECRET));
}

#[test]
fn postgres_reachability_and_auth_sessions_access() {
    let pg = match TestPostgres::start() {
        Ok(pg) => pg,
        Err(e) => panic!("PostgreSQL is needed for this test: {e}"),
    };
    let jwks = TestKeys::new().jwks_json();
    let base = [("SUPABASE_URL", URL), ("SUPABASE_JWKS", jwks.as_str())];
    // The superuser reads auth.sessions.
    let superuser = pg.superuser_url();
    let mut vars = base.to_vec();
    vars.push(("DATABASE_URL", &superuser));
    let (_, report) = doctor(&vars, &[]);
    let sessions = common::check(&report, "auth.sessions");
    assert_eq!(sessions["status"], "ok", "{report:#}");
    // `authenticator` (what PostgREST logs in as) may not.
    let authenticator = pg.url("authenticator");
    let mut vars = base.to_vec();
    vars.push(("DATABASE_URL", &authenticator));
    let (code, report) = doctor(&vars, &[]);
    assert_eq!(code, 1, "{report:#}");
    let failed = failures(&report);
    assert!(
        failed.iter().any(|(c, m, f)| c == "auth.sessions"
            && m.contains("may not read")
            && f.contains("grant usage on schema auth")),
        "{failed:#?}"
    );
    // The sessions role of SESSION_DATABASE_URL is the one that must read auth.sessions.
    let mut vars = base.to_vec();
    vars.push(("DATABASE_URL", &authenticator));
    vars.push(("SESSION_DATABASE_URL", &superuser));
    let (code, report) = doctor(&vars, &[]);
    assert_eq!(code, 0, "{report:#}");
    // Liveness from the auth server: auth.sessions is not read.
    let mut vars = base.to_vec();
    vars.push(("DATABASE_URL", &authenticator));
    vars.push(("SESSION_CHECK", "auth"));
    let (code, report) = doctor(&vars, &[]);
    assert_eq!(code, 0, "{report:#}");
    // A database without the auth schema.
    pg.psql("create database plain").unwrap();
    let plain = superuser
        .rsplit_once('/')
        .map(|(head, _)| format!("{head}/plain"))
        .unwrap();
    let mut vars = base.to_vec();
    vars.push(("DATABASE_URL", &plain));
    let (code, report) = doctor(&vars, &[]);
    assert_eq!(code, 1);
    assert!(
        failures(&report)
            .iter()
            .any(|(c, m, _)| c == "auth.sessions" && m.contains("not a Supabase database")),
        "{report:#}"
    );
}

#[test]
fn what_is_right_is_not_reported() {
    let jwks = TestKeys::new().jwks_json();
    let base = [("SUPABASE_URL", URL), ("SUPABASE_JWKS", jwks.as_str())];
    let ok = |extra: &[(&str, &str)]| {
        let mut vars = base.to_vec();
        vars.extend_from_slice(extra);
        let (code, report) = doctor(&vars, &[]);
        assert_eq!(code, 0, "{extra:?}: {report:#}");
    };
    // The library's own values.
    ok(&[("COOKIE_ENCODE", "user-and-tokens")]);
    // The builders trim a trailing `/`; the upstream may be an internal http host.
    ok(&[
        ("PUBLIC_ORIGIN", "https://app.example.com/"),
        (
            "ALLOWED_ORIGINS",
            "https://a.example.com/, https://b.example.com",
        ),
        ("API_URL", "http://backend:8000"),
    ]);
    ok(&[
        ("COOKIE_ENCODE", "tokens-only"),
        ("PUBLIC_ORIGIN", "http://localhost:3000"),
    ]);
    // Supabase's own variables are not misspellings of ours.
    ok(&[
        ("SUPABASE_DB_URL", "postgres://x"),
        ("SUPABASE_KEY", "k"),
        ("SUPABASE_SERVICE_ROLE_KEY", "k"),
    ]);
    // A custom domain's anon key names the project ref, not the domain.
    let anon = legacy_key("anon", "abcdefghijklmnopqrst");
    let (code, report) = doctor(
        &[
            ("SUPABASE_URL", "https://api.example.com"),
            ("SUPABASE_JWKS", &jwks),
            ("SUPABASE_ANON_KEY", &anon),
        ],
        &[],
    );
    assert!(
        failures(&report)
            .iter()
            .all(|(c, _, _)| c != "SUPABASE_ANON_KEY"),
        "{code} {report:#}"
    );
}

#[test]
fn an_unusable_url_does_not_make_other_checks_fail_wrongly() {
    // The local stack's published secret is fine on a local stack: with SUPABASE_URL mistyped,
    // only SUPABASE_URL fails.
    let (code, report) = doctor(
        &[
            ("SUPABASE_URL", "http://127.0.0.1:5432l"),
            (
                "SUPABASE_JWT_SECRET",
                "super-secret-jwt-token-with-at-least-32-characters-long",
            ),
        ],
        &[],
    );
    assert_eq!(code, 1);
    let failed = failures(&report);
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0].0, "SUPABASE_URL");
}

#[test]
fn urls_are_shown_without_their_credentials() {
    for extra in [&["--offline"][..], &[][..]] {
        let dir_vars = [
            ("SUPABASE_URL", URL),
            (
                "SUPABASE_JWKS_URL",
                "http://user:hunter2@127.0.0.1:9/jwks.json?token=hunter3#frag",
            ),
        ];
        let (code, report) = doctor(&dir_vars, extra);
        let text = report.to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("hunter3") && !text.contains("user:"),
            "{text}"
        );
        assert!(text.contains("127.0.0.1:9/jwks.json"), "{text}");
        if extra.is_empty() {
            assert_eq!(code, 1);
        }
    }
    let (_, report) = doctor(
        &[
            ("SUPABASE_URL", URL),
            ("SUPABASE_JWT_SECRET", SECRET),
            ("DATABASE_URL", "postgres://app:hunter2@127.0.0.1:9/db"),
        ],
        &[],
    );
    assert!(!report.to_string().contains("hunter2"));
}
