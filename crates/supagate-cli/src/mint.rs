//! `supagate mint`: access tokens for local testing, never for a hosted project.

use std::io::Write;

use serde_json::{Value, json};
use supagate::SupabaseProject;
use supagate_testkit::{TestKeys, TokenBuilder};

use crate::vars::Vars;
use crate::{EXIT_OK, EXIT_REFUSED, MintArgs, Usage};

pub(crate) fn run(
    args: MintArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
    env: supagate::Variables,
) -> Result<u8, Usage> {
    if !(1..=7 * 86_400).contains(&args.ttl) {
        return Err(Usage(format!(
            "--ttl {} is out of range: 1 to 604800 seconds (a week, Supabase's longest)",
            args.ttl
        )));
    }
    let vars = Vars::new(&args.project, env)?;
    let project = match vars.get("SUPABASE_URL") {
        Some(url) => Some(
            SupabaseProject::parse(url.trim()).map_err(|e| Usage(format!("SUPABASE_URL: {e}")))?,
        ),
        None => None,
    };
    if let Some(project) = &project
        && !project.is_local()
    {
        {
            writeln!(
                err,
                "supagate: refused: {} is not a local project. `supagate mint` signs tokens only for a local stack (http on a loopback host) or the testkit's own keys: a token minted for a hosted project would be a forged credential. Unset SUPABASE_URL to mint with the testkit's keys, or point it at `supabase start`'s http://127.0.0.1:54321.",
                project.url()
            )?;
            return Ok(EXIT_REFUSED);
        }
    }
    let mut builder = match &project {
        Some(p) => TokenBuilder::for_project(p),
        None => TokenBuilder::now(),
    };
    let now = crate::unix_now();
    builder = builder.issued_at(now, args.ttl);
    if let Some(sub) = &args.sub {
        builder = builder.claim("sub", sub.as_str());
    }
    if let Some(email) = &args.email {
        builder = builder.claim("email", email.as_str());
    }
    if args.anonymous {
        builder = builder
            .claim("is_anonymous", true)
            .claim("email", "")
            .claim(
                "app_metadata",
                json!({"provider": "anonymous", "providers": ["anonymous"]}),
            );
    }
    if let Some(aal) = &args.aal {
        if aal != "aal1" && aal != "aal2" {
            return Err(Usage(format!("--aal {aal}: use aal1 or aal2")));
        }
        builder = builder.claim("aal", aal.as_str());
    }
    if !args.app_roles.is_empty() {
        let mut meta = builder
            .claims()
            .get("app_metadata")
            .cloned()
            .unwrap_or_else(|| json!({}));
        if let Value::Object(m) = &mut meta {
            m.insert("roles".to_owned(), json!(args.app_roles));
        }
        builder = builder.claim("app_metadata", meta);
    }
    for c in &args.claim {
        let Some((name, value)) = c.split_once('=') else {
            return Err(Usage(format!("--claim {c}: write NAME=VALUE")));
        };
        if matches!(name.trim(), "iss" | "ref") {
            return Err(Usage(format!(
                "--claim {name}: the issuer is the configured local project's (or the testkit's), never another: a token naming a hosted project's issuer would be a forged credential"
            )));
        }
        let value = serde_json::from_str::<Value>(value).unwrap_or_else(|_| json!(value));
        builder = builder.claim(name, value);
    }
    // The lifetime bound holds for the claims as given, `--claim exp`/`iat` included.
    let exp = builder.claims().get("exp").and_then(Value::as_i64);
    let iat = builder.claims().get("iat").and_then(Value::as_i64);
    match (exp, iat) {
        (Some(exp), Some(iat))
            if exp.saturating_sub(iat) <= 7 * 86_400 && exp.saturating_sub(now) <= 7 * 86_400 => {}
        (None, _) | (_, None) => {
            return Err(Usage(
                "exp and iat must be whole numbers of seconds, as Supabase writes them".to_owned(),
            ));
        }
        _ => {
            return Err(Usage(
                "exp is more than a week after iat or now: Supabase issues access tokens for at most a week".to_owned(),
            ));
        }
    }
    let (token, signed_with) = match &project {
        Some(p) => {
            let Some(secret) = vars.get("SUPABASE_JWT_SECRET") else {
                return Err(Usage(format!(
                    "SUPABASE_JWT_SECRET is not set: a local stack's secret signs its tokens (`supabase status` prints it for {})",
                    p.url()
                )));
            };
            let secret = zeroize::Zeroizing::new(secret);
            (
                builder.sign_hmac(secret.trim().as_bytes()),
                "HS256 with SUPABASE_JWT_SECRET",
            )
        }
        None => {
            let keys = TestKeys::new();
            match args.alg.to_ascii_uppercase().as_str() {
                "ES256" => (builder.sign_es256(&keys), "ES256 with the testkit's key"),
                "RS256" => (builder.sign_rs256(&keys), "RS256 with the testkit's key"),
                "EDDSA" => (builder.sign_eddsa(&keys), "EdDSA with the testkit's key"),
                "HS256" => (builder.sign_hs256(&keys), "HS256 with the testkit's secret"),
                other => {
                    return Err(Usage(format!(
                        "--alg {other}: use ES256, RS256, EdDSA or HS256"
                    )));
                }
            }
        }
    };
    if args.json {
        let report = json!({
            "token": token,
            "signed_with": signed_with,
            "claims": builder.claims(),
            "supabase_url": project.as_ref().map_or(TestKeys::SUPABASE_URL, SupabaseProject::url),
            "jwks": if project.is_none() { Some(TestKeys::new().jwks_json()) } else { None },
        });
        serde_json::to_writer_pretty(&mut *out, &report)
            .map_err(|e| Usage(format!("cannot write: {e}")))?;
        writeln!(out)?;
    } else {
        writeln!(out, "{token}")?;
    }
    Ok(EXIT_OK)
}
