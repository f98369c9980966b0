//! Prints a Supabase-shaped access token for given claims, signed with the testkit's fixed keys
//! (or your own HS256 secret): for curl sessions against a local backend.
//!
//! ```sh
//! cargo run -p supagate-testkit --example mint -- app_metadata='{"role":"admin"}'
//! cargo run -p supagate-testkit --example mint -- --alg es256 --ttl 600 -email sub=8d0fd6e2-4c5a-4b7e-9f3a-2b1c0d9e8f7a
//! cargo run -p supagate-testkit --example mint -- --url http://127.0.0.1:54321 --secret "$SUPABASE_JWT_SECRET"
//! ```
//!
//! `name=value` sets a claim (`value` parsed as JSON when it is JSON, else taken as a string);
//! `-name` removes one. Issued now; `--ttl` seconds (default 3600).

use std::process::ExitCode;

use supagate_jwt::SupabaseProject;
use supagate_testkit::{TestKeys, TokenBuilder};

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "mint: {e}\nusage: mint [--alg hs256|es256|rs256|eddsa] [--url <supabase-url>] [--secret <hs256-secret>] [--ttl <secs>] [name=value ...] [-name ...]"
            );
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<String, String> {
    let mut alg = "hs256".to_owned();
    let mut ttl = 3600_i64;
    let mut secret: Option<String> = None;
    let mut builder = TokenBuilder::now();
    let mut args = args.into_iter();
    let mut edits = Vec::new();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().ok_or(format!("{flag} needs a value"));
        match arg.as_str() {
            "--alg" => alg = value("--alg")?.to_ascii_lowercase(),
            "--ttl" => {
                ttl = value("--ttl")?
                    .parse()
                    .map_err(|_| "--ttl is not a number")?
            }
            "--secret" => secret = Some(value("--secret")?),
            "--url" => {
                let project =
                    SupabaseProject::parse(&value("--url")?).map_err(|e| e.to_string())?;
                builder = builder.claim("iss", project.issuer());
            }
            _ => edits.push(arg),
        }
    }
    let now = builder
        .claims()
        .get("iat")
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(0);
    builder = builder.issued_at(now, ttl);
    for edit in edits {
        if let Some(name) = edit.strip_prefix('-') {
            builder = builder.remove(name);
        } else if let Some((name, raw)) = edit.split_once('=') {
            let v = serde_json::from_str(raw).unwrap_or_else(|_| serde_json::Value::from(raw));
            builder = builder.claim(name, v);
        } else {
            return Err(format!("`{edit}` is neither name=value nor -name"));
        }
    }
    let keys = TestKeys::new();
    Ok(match (alg.as_str(), &secret) {
        ("hs256", Some(s)) => builder.sign_hmac(s.as_bytes()),
        ("hs256", None) => builder.sign_hs256(&keys),
        ("es256", None) => builder.sign_es256(&keys),
        ("rs256", None) => builder.sign_rs256(&keys),
        ("eddsa", None) => builder.sign_eddsa(&keys),
        (_, Some(_)) => return Err("--secret signs HS256 only".to_owned()),
        (other, None) => return Err(format!("unknown --alg {other}")),
    })
}
