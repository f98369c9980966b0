//! The README's first example, run as a newcomer would run it misconfigured: what it prints
//! on its standard error names the variable and the fix (the message, not `SecretTooShort
//! { min: 32 }` or `NotPresent`). And the program is the README's block, verbatim.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

/// Runs the program with only `vars` in its environment; its exit status and standard error.
fn run(vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_readme-main"))
        .env_clear()
        .envs(vars.iter().copied())
        .output()
        .expect("the program runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const URL: (&str, &str) = ("SUPABASE_URL", "https://abcdefghijklmnopqrst.supabase.co");

/// A misconfiguration (the variables set) and the words its message must have.
type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<String>);

#[test]
fn each_misconfiguration_names_the_variable_and_the_fix() {
    let dir = std::env::temp_dir().join(format!("readme-main-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let broken = dir.join("jwks.json");
    std::fs::write(&broken, "{\"keys\": [\n").unwrap();
    let broken_url = format!("file://{}", broken.display());
    let cases: Vec<Case<'_>> = vec![
        // Nothing set: the variable, not `NotPresent`.
        (
            vec![],
            vec!["Error: SUPABASE_URL: ".into(), "set it".into()],
        ),
        (
            vec![("SUPABASE_URL", "supabase.co/project")],
            vec!["Error: SUPABASE_URL: ".into(), "https://".into()],
        ),
        // A short legacy secret: the message, not `SecretTooShort { min: 32 }`.
        (
            vec![URL, ("SUPABASE_JWT_SECRET", "too-short")],
            vec![
                "Error: SUPABASE_JWT_SECRET: hmac secret must be at least 32 bytes".into(),
                "; ".into(),
            ],
        ),
        (
            vec![URL, ("SUPABASE_JWKS", "{\"keys\":[]}")],
            vec!["Error: SUPABASE_JWKS: no usable key in the jwk set: it has no keys".into()],
        ),
        (
            vec![URL, ("SUPABASE_JWKS", "{\"keys\": [,]}")],
            vec!["Error: SUPABASE_JWKS: jwk set is not json (line 1, column 11)".into()],
        ),
        // A file's fault names the file.
        (
            vec![URL, ("SUPABASE_JWKS_URL", broken_url.as_str())],
            vec![format!(
                "Error: SUPABASE_JWKS_URL: {}: jwk set is not json",
                broken.display()
            )],
        ),
        (
            vec![URL, ("SUPABASE_JWKS_URL", "file:///no/such/jwks.json")],
            vec!["Error: SUPABASE_JWKS_URL: cannot read /no/such/jwks.json".into()],
        ),
    ];
    for (vars, expected) in &cases {
        let (code, stderr) = run(vars);
        assert_eq!(code, Some(1), "{vars:?}: {stderr}");
        for words in expected {
            assert!(stderr.contains(words.as_str()), "{vars:?}: {stderr}");
        }
        assert!(
            !stderr.contains(" { ") && !stderr.contains("NotPresent"),
            "a struct or variant's name instead of the message: {stderr}"
        );
        assert!(
            !stderr.contains("too-short"),
            "the secret is never printed: {stderr}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_program_is_the_readmes_first_block() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let start = readme
        .find("## Verifying a token")
        .and_then(|at| readme[at..].find("```rust").map(|b| at + b))
        .expect("the README's block");
    let body = &readme[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    let block = &body[..body.find("```").unwrap()];
    let main =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/main.rs")).unwrap();
    assert!(
        main.ends_with(block),
        "examples/readme-main/src/main.rs no longer ends with the README's block"
    );
}
