//! Verifies Supabase access tokens and shows what a backend answers for each.
//!
//! With no arguments it runs on built-in test keys (no Supabase project needed): it mints a
//! handful of good and hostile tokens and prints the verdict for each. With a token argument it
//! verifies that token against your project:
//!
//! ```text
//! SUPABASE_URL=https://<ref>.supabase.co \
//! SUPABASE_JWT_SECRET=...            # legacy HS256 secret (optional)
//! SUPABASE_JWKS_FILE=jwks.json       # saved from <url>/auth/v1/.well-known/jwks.json (optional)
//! cargo run -p verify-token -- <access token>
//! ```

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};
use supagate_jwt::RequestError as _;

use supagate_jwt::{Error, Hs256Secret, JwkSet, Verifier};
use supagate_testkit::{TestKeys, TokenBuilder, encode_segments};

fn challenge(e: &Error) -> String {
    match e.error_code() {
        Some(code) => format!(
            "Bearer realm=\"api\", error=\"{code}\", error_description=\"{}\"",
            e.description()
        ),
        None => "(none)".to_owned(),
    }
}

fn report(name: &str, verifier: &Verifier, token: &str) {
    match verifier.verify(token) {
        Ok(c) => println!(
            "  {name:<38} 200  sub={} postgres_role={} aal={} anonymous={}",
            c.sub,
            c.postgres_role.as_deref().unwrap_or("-"),
            c.aal.map_or("-", |a| a.as_str()),
            c.is_anonymous,
        ),
        Err(e) => println!(
            "  {name:<38} {}  reason={:<20} WWW-Authenticate: {}",
            e.status().as_u16(),
            e.reason(),
            challenge(&e)
        ),
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn demo() -> Result<(), Box<dyn std::error::Error>> {
    let keys = TestKeys::new();
    // Built once at start-up: the legacy HS256 secret and the published JWK set together, as
    // in a project migrating to asymmetric keys.
    let verifier = Verifier::from_supabase_url(TestKeys::SUPABASE_URL)
        .hs256_secret(Hs256Secret::new(TestKeys::HS256_SECRET)?)
        .jwk_set(JwkSet::from_json(&keys.jwks_json())?)
        .build()?;
    println!("supagate-jwt demo: project {}", TestKeys::SUPABASE_URL);
    println!("verifier: {verifier:?}\n");

    let t = now();
    let fresh = || TokenBuilder::new().issued_at(t, 3600);
    let anon_key = serde_json::json!({"iss": "supabase", "ref": "testkitprojectref00", "role": "anon", "iat": t - 86400, "exp": t + 10 * 365 * 86400});
    let claims_json = serde_json::Value::Object(fresh().claims().clone()).to_string();
    let unsigned = format!(
        "{}.",
        encode_segments(br#"{"alg":"none","typ":"JWT"}"#, claims_json.as_bytes())
    );
    let good_es = fresh().sign_es256(&keys);
    let (head, rest) = good_es.split_once('.').ok_or("token")?;
    let (_, sig) = rest.split_once('.').ok_or("token")?;
    let forged_claims = fresh().claim("app_metadata", serde_json::json!({"role": "admin"}));
    let forged_payload = encode_segments(
        b"{}",
        serde_json::Value::Object(forged_claims.claims().clone())
            .to_string()
            .as_bytes(),
    );
    let tampered = format!(
        "{head}.{}.{sig}",
        forged_payload.split_once('.').ok_or("segments")?.1
    );

    let cases: Vec<(&str, String)> = vec![
        ("HS256, legacy secret", fresh().sign_hs256(&keys)),
        ("ES256, JWK set", good_es.clone()),
        ("RS256, JWK set", fresh().sign_rs256(&keys)),
        ("EdDSA, JWK set", fresh().sign_eddsa(&keys)),
        (
            "MFA session (aal2)",
            fresh().claim("aal", "aal2").sign_es256(&keys),
        ),
        (
            "anonymous user",
            fresh().claim("is_anonymous", true).sign_es256(&keys),
        ),
        (
            "expired an hour ago",
            TokenBuilder::new()
                .issued_at(t - 7200, 3600)
                .sign_es256(&keys),
        ),
        (
            "OIDC ID token (aud = client id)",
            fresh().claim("aud", "my-oauth-client").sign_es256(&keys),
        ),
        (
            "anon API key as bearer",
            supagate_testkit::sign_raw_hs256(
                br#"{"alg":"HS256","typ":"JWT"}"#,
                anon_key.to_string().as_bytes(),
                TestKeys::HS256_SECRET.as_bytes(),
            ),
        ),
        ("alg: none", unsigned),
        (
            "HS256 MACed with the ES256 public key",
            fresh()
                .header("kid", TestKeys::ES256_KID)
                .sign_hmac(keys.jwks_json().as_bytes()),
        ),
        (
            "crit header",
            fresh()
                .header("crit", serde_json::json!(["exp"]))
                .sign_es256(&keys),
        ),
        ("claims edited (admin), not re-signed", tampered),
        (
            "another project's issuer",
            fresh()
                .claim("iss", "https://otherproject.supabase.co/auth/v1")
                .sign_es256(&keys),
        ),
    ];
    for (name, token) in &cases {
        report(name, &verifier, token);
    }
    println!(
        "\nTry it on your own project: SUPABASE_URL=... SUPABASE_JWT_SECRET=... cargo run -p verify-token -- <token>"
    );
    Ok(())
}

fn verify_one(token: &str) -> Result<bool, Box<dyn std::error::Error>> {
    let vars = supagate_jwt::Variables::from_env();
    let url = vars
        .get("SUPABASE_URL")
        .ok_or("set SUPABASE_URL to verify a token")?;
    let mut builder = Verifier::from_supabase_url(url);
    if let Some(secret) = vars.get("SUPABASE_JWT_SECRET") {
        builder = builder.hs256_secret(Hs256Secret::new(secret)?);
    }
    if let Some(path) = vars.get("SUPABASE_JWKS_FILE") {
        let set = JwkSet::from_json(&std::fs::read_to_string(path)?)?;
        for r in set.rejected() {
            eprintln!("left out key {:?}: {}", r.kid, r.reason);
        }
        builder = builder.jwk_set(set);
    }
    let verifier = builder.build()?;
    match verifier.verify(token) {
        Ok(claims) => {
            println!("{}", serde_json::to_string_pretty(&claims)?);
            Ok(true)
        }
        Err(e) => {
            eprintln!(
                "refused: {e} ({}; HTTP {}; WWW-Authenticate: {})",
                e.reason(),
                e.status(),
                challenge(&e)
            );
            Ok(false)
        }
    }
}

fn main() -> ExitCode {
    let result = match std::env::args().nth(1) {
        None => demo().map(|()| true),
        Some(token) => verify_one(&token),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
