//! `supagate inspect`: a token verified as the service would verify it, and the refusal
//! explained.

use std::io::{Read, Write};

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use supagate::{AuthError, Config, Decision, Policy, RequestError as _, TokenError};

use crate::decode::{MAX_INPUT, Unverified, strip_input};
use crate::vars::Vars;
use crate::{EXIT_OK, EXIT_REFUSED, InspectArgs, Object, Usage, human_duration, utc};

/// What the project says, for the explanations.
struct Project {
    issuer: String,
    url: String,
    label: String,
    has_secret: bool,
    secret_is_jwt: bool,
    keys: String,
    leeway: i64,
    now: i64,
    third_party: Vec<String>,
}

pub(crate) async fn run(
    args: InspectArgs,
    input: &mut dyn Read,
    out: &mut dyn Write,
    env: supagate::Variables,
) -> Result<u8, Usage> {
    let raw = match args.token.as_slice() {
        [] => crate::read_input(input, MAX_INPUT, "the token")?,
        [one] if one == "-" => crate::read_input(input, MAX_INPUT, "the token")?,
        words => words.join(" "),
    };
    let token = strip_input(&raw);
    let vars = Vars::new(&args.project, env)?;
    let config = Config::from_variables(vars.variables()).map_err(|e| {
        Usage(format!(
            "the project is not configured: {e}\n  (set the variables, or give --url and --env-file; `supagate doctor` checks them all)"
        ))
    })?;
    let mut builder = config
        .authenticator()
        .map_err(|e| Usage(format!("the project is not configured: {e}")))?;
    if !args.allow_postgres_role.is_empty() {
        builder = builder.allow_postgres_roles(args.allow_postgres_role.clone());
    }
    if !args.allow_oauth_client.is_empty() {
        builder = builder.allow_oauth_clients(args.allow_oauth_client.clone());
    }
    let auth = builder
        .build()
        .map_err(|e| Usage(format!("the authenticator does not build: {e}")))?;
    let verifier = auth.verifier();
    let secret = vars.get("SUPABASE_JWT_SECRET");
    let project = Project {
        issuer: verifier.issuer().unwrap_or_default().to_owned(),
        url: config.project().url().to_owned(),
        label: config.project().cookie_label().to_owned(),
        has_secret: secret.is_some(),
        secret_is_jwt: secret
            .as_deref()
            .is_some_and(|s| Unverified::decode(s.trim()).header.is_some()),
        keys: config.describe(),
        leeway: i64::try_from(verifier.leeway().as_secs()).unwrap_or(i64::MAX),
        now: verifier.now(),
        third_party: verifier.third_party_issuers().map(str::to_owned).collect(),
    };
    let decoded = Unverified::decode(token);

    // Let a remote key set load (the synchronous decision below never waits for it).
    if !token.is_empty() {
        let _ = verifier.verify_async(token).await;
    }
    let outcome = if token.is_empty() {
        Err(AuthError::MissingCredentials)
    } else {
        match HeaderValue::from_str(&format!("Bearer {token}")) {
            Ok(value) => {
                let mut headers = HeaderMap::new();
                headers.insert(AUTHORIZATION, value);
                auth.authenticate(&headers)
            }
            Err(_) => Err(AuthError::InvalidRequest {
                reason: "token has bytes outside visible ASCII",
            }),
        }
    };
    let outcome = outcome.and_then(|claims| {
        if args.refuse_anonymous
            && let Decision::Deny(denial) = Policy::authenticated().check(&claims)
        {
            return Err(AuthError::Forbidden(denial));
        }
        Ok(claims)
    });

    let mut report = Object::new();
    report.insert(
        "header",
        decoded.header.clone().map_or(Value::Null, Value::Object),
    );
    report.insert(
        "claims",
        decoded.claims.clone().map_or(Value::Null, Value::Object),
    );
    let code = match &outcome {
        Ok(claims) => {
            let exp = claims.exp;
            let who = describe_user(&decoded);
            let message = format!(
                "valid: {who}; expires in {} ({})",
                human_duration(exp.saturating_sub(project.now)),
                utc(exp)
            );
            report.insert("verdict", json!("valid"));
            report.insert("reason", Value::Null);
            report.insert("status", json!(200));
            report.insert("message", json!(message));
            report.insert("fix", Value::Null);
            report.insert("diagnosis", Value::Null);
            EXIT_OK
        }
        Err(err) => {
            let explained = explain(err, token, &decoded, &project);
            report.insert("verdict", json!("refused"));
            report.insert("reason", json!(err.reason()));
            report.insert("status", json!(err.status().as_u16()));
            report.insert("message", json!(explained.message));
            report.insert("fix", json!(explained.fix));
            report.insert("diagnosis", json!(explained.diagnosis));
            EXIT_REFUSED
        }
    };
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &report)
            .map_err(|e| Usage(format!("cannot write: {e}")))?;
        writeln!(out)?;
    } else {
        write_human(out, &report, &decoded, &project)?;
    }
    Ok(code)
}

fn write_human(
    out: &mut dyn Write,
    report: &Object,
    decoded: &Unverified,
    project: &Project,
) -> std::io::Result<()> {
    let s = |k: &str| report.get(k).and_then(Value::as_str).unwrap_or_default();
    writeln!(out, "project  {} ({})", project.url, project.keys)?;
    if let Some(header) = &decoded.header {
        let mut parts = Vec::new();
        for (name, value) in header {
            let shown = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            parts.push(format!("{name} {shown}"));
        }
        writeln!(out, "header   {}", parts.join(", "))?;
    }
    if let Some(claims) = &decoded.claims {
        writeln!(out, "claims   (as the token states them)")?;
        for (name, value) in claims {
            let mut shown = value.to_string();
            if let Some(n) = value
                .as_i64()
                .filter(|_| matches!(name.as_str(), "exp" | "iat" | "nbf"))
            {
                shown = format!("{n} ({})", utc(n));
            }
            writeln!(out, "  {name:<14} {shown}")?;
        }
    }
    if s("verdict") == "valid" {
        writeln!(out, "verdict  {}", s("message"))?;
    } else {
        let status = report.get("status").and_then(Value::as_u64).unwrap_or(0);
        writeln!(
            out,
            "verdict  refused: {} ({status}, reason `{}`)",
            s("message"),
            s("reason")
        )?;
        writeln!(out, "fix      {}", s("fix"))?;
    }
    Ok(())
}

fn describe_user(d: &Unverified) -> String {
    let mut who = format!("user {}", d.claim_str("sub").unwrap_or("?"));
    if let Some(email) = d.claim_str("email").filter(|e| !e.is_empty()) {
        who.push_str(&format!(" ({email})"));
    }
    if d.claim("is_anonymous").and_then(Value::as_bool) == Some(true) {
        who.push_str(", anonymous");
    }
    if let Some(role) = d.claim_str("role") {
        who.push_str(&format!(", role {role}"));
    }
    if let Some(aal) = d.claim_str("aal") {
        who.push_str(&format!(", {aal}"));
    }
    if let Some(session) = d.claim_str("session_id") {
        who.push_str(&format!(", session {session}"));
    }
    who
}

struct Explained {
    message: String,
    fix: String,
    diagnosis: &'static str,
}

fn said(message: impl Into<String>, fix: impl Into<String>, diagnosis: &'static str) -> Explained {
    Explained {
        message: message.into(),
        fix: fix.into(),
        diagnosis,
    }
}

const SEND_TOKEN: &str = "send the user's access token as `Authorization: Bearer <access_token>` (supabase-js: `(await supabase.auth.getSession()).data.session.access_token`; through the frontend proxy the cookie session is forwarded as that header)";

/// The refusal in plain words, and the fix. `err` is the library's verdict: this only
/// explains it, from what the token says of itself and what the project is.
fn explain(err: &AuthError, token: &str, d: &Unverified, p: &Project) -> Explained {
    if let Some(e) = shape_mistake(token, d) {
        return e;
    }
    match err {
        AuthError::MissingCredentials => said(
            "no token: the request would carry no credentials",
            format!("{SEND_TOKEN}; a client component or a fetch without the session sends none"),
            "missing_token",
        ),
        AuthError::InvalidRequest { reason } => said(
            format!("not a bearer token: {reason}"),
            "send one token, with no spaces, quotes or line breaks, as `Authorization: Bearer <access_token>`",
            "invalid_request",
        ),
        AuthError::Forbidden(denial) => explain_denial(denial.reason(), d),
        AuthError::Token(e) => explain_token(e, d, p),
        other => said(
            other.to_string(),
            "see docs/errors.md for this refusal",
            "other",
        ),
    }
}

/// Things pasted that are not access tokens at all.
fn shape_mistake(token: &str, d: &Unverified) -> Option<Explained> {
    if token.starts_with("sb_publishable_") || token.starts_with("sb_secret_") {
        let kind = if token.starts_with("sb_secret_") {
            "secret"
        } else {
            "publishable"
        };
        return Some(said(
            format!("this is the project's {kind} API key, not a user's access token"),
            format!(
                "API keys go in the `apikey` header (a route admits them with the `{kind}` auth mode); a user's request carries `Authorization: Bearer <access_token>`{}",
                if kind == "secret" {
                    "; never send a secret key from a browser"
                } else {
                    ""
                }
            ),
            "api_key",
        ));
    }
    if token.starts_with("base64-") || token.starts_with('{') || token.starts_with("%7B") {
        return Some(said(
            "this is a session cookie's value (the whole session), not an access token",
            "decode it with `supagate cookie`; the access token is its `access_token`",
            "session_cookie",
        ));
    }
    if token.contains(char::is_whitespace) {
        return Some(said(
            "it contains whitespace: two tokens pasted together, or one broken across lines",
            "send one token, with no spaces, quotes or line breaks, as `Authorization: Bearer <access_token>`",
            "whitespace",
        ));
    }
    match d.legacy_api_key_role() {
        Some("anon") => Some(said(
            "this is the project's legacy anon key, not a user's access token: it names no user",
            format!(
                "{SEND_TOKEN}; the anon key is the `apikey` of a signed-out client (set SUPABASE_ANON_KEY and a route with the `publishable` auth mode admits it)"
            ),
            "anon_key",
        )),
        Some("service_role") => Some(said(
            "this is the project's legacy service_role key, a server credential that bypasses Row Level Security, not a user's access token",
            "a server calling this API uses a secret API key (sb_secret_..., SUPABASE_SECRET_KEY) on a route with the `secret` auth mode; rotate the service_role key if it ever reached a browser",
            "service_role_key",
        )),
        _ => None,
    }
}

fn explain_denial(reason: &str, d: &Unverified) -> Explained {
    let role = d.claim_str("role").unwrap_or("?");
    match reason {
        "forbidden_postgres_role" if role == "service_role" => said(
            "a token with the Postgres role `service_role`: the base policy admits only `authenticated`, and never takes `role` as an app role",
            "a server uses a secret API key (SUPABASE_SECRET_KEY) with the `secret` auth mode; for a user token, mint it through Supabase Auth",
            "service_role_token",
        ),
        "forbidden_postgres_role" => said(
            format!(
                "the Postgres role `{role}` is not admitted: the base policy admits only `authenticated`"
            ),
            format!(
                "a signed-in user's token has role `authenticated`; to admit `{role}` on purpose, `AuthenticatorBuilder::allow_postgres_roles([\"{role}\"])` (here: --allow-postgres-role {role})"
            ),
            "postgres_role",
        ),
        "forbidden_oauth_client" => {
            let client = d.claim_str("client_id").unwrap_or("?");
            said(
                format!(
                    "a token Supabase Auth issued to the OAuth client `{client}`, not to a first-party session"
                ),
                format!(
                    "admit that client with `AuthenticatorBuilder::allow_oauth_clients([\"{client}\"])` (here: --allow-oauth-client {client}), or sign in to the app itself"
                ),
                "oauth_client",
            )
        }
        "forbidden_anonymous" | "forbidden_permanent" => said(
            "an anonymous user (`is_anonymous: true`), and this policy requires a permanent account",
            "sign in with a permanent account (or link the anonymous one), or allow anonymous users with `Policy::allow_anonymous()`",
            "anonymous_user",
        ),
        "forbidden_aal2" => said(
            "the policy requires multi-factor authentication (aal2)",
            "complete the MFA challenge (supabase.auth.mfa.challengeAndVerify), then use the new token",
            "aal",
        ),
        _ => said(
            format!("the policy refuses it ({reason})"),
            "give the user what the policy requires (app roles live in `app_metadata`), or change the policy",
            "policy",
        ),
    }
}

fn explain_token(e: &TokenError, d: &Unverified, p: &Project) -> Explained {
    let alg = d.header_str("alg").unwrap_or("?");
    let kid = d.header_str("kid");
    let hmac = alg.starts_with("HS");
    if matches!(
        e,
        TokenError::UnknownKey | TokenError::BadSignature | TokenError::IssuerMismatch
    ) && let Some(other) = other_project(d, p)
    {
        return wrong_project(&other, p);
    }
    match e {
        TokenError::TooLong => said(
            "longer than any access token Supabase issues",
            "send only the access token, not a session, a cookie or several tokens",
            "too_long",
        ),
        TokenError::Malformed => said(
            format!(
                "not a compact JWT: it has {} dot-separated part{} where a token has three base64url parts (`eyJ...`)",
                d.segments,
                if d.segments == 1 { "" } else { "s" }
            ),
            format!("{SEND_TOKEN}; copy it whole (a truncated token is common)"),
            "malformed",
        ),
        TokenError::HeaderNotAllowed { member } => said(
            format!(
                "its header carries `{member}`, which Supabase never writes: a token that names its own key or extensions is refused"
            ),
            "use a token Supabase Auth issued (or `supagate mint` for a local project)",
            "header_member",
        ),
        TokenError::TypeNotAllowed => said(
            format!(
                "its header's `typ` is `{}`, not `JWT`",
                d.header_str("typ").unwrap_or("?")
            ),
            "use a token Supabase Auth issued; it is not an access token",
            "typ",
        ),
        TokenError::AlgNotAllowed if alg.eq_ignore_ascii_case("none") => said(
            "an unsigned token (`alg: none`)",
            "use a token Supabase Auth signed; unsigned tokens are never accepted",
            "alg_none",
        ),
        TokenError::AlgNotAllowed | TokenError::UnknownKey if hmac && !p.has_secret => said(
            format!(
                "an {alg} token, signed with a legacy JWT secret, but this service has no SUPABASE_JWT_SECRET: it verifies the project's asymmetric signing keys only"
            ),
            "the project now signs with asymmetric keys: sign in again (or refresh) for a new token; while legacy tokens are still in use, also set SUPABASE_JWT_SECRET to the legacy secret (docs/key-migration.md)",
            "hs256_on_asymmetric_project",
        ),
        TokenError::AlgNotAllowed => said(
            format!(
                "the algorithm `{alg}` is not the one pinned to the key it names (algorithm confusion is refused)"
            ),
            "use a token Supabase Auth issued for this project",
            "alg",
        ),
        TokenError::UnsupportedAlg => said(
            format!(
                "the algorithm `{alg}` is not one Supabase signs with (HS256, ES256, RS256, EdDSA)"
            ),
            "use a token Supabase Auth issued",
            "unsupported_alg",
        ),
        TokenError::UnknownKey => match foreign_issuer(d, p) {
            Some(iss) => third_party(iss, p),
            None => said(
                format!(
                    "no key of this project matches it: {} is not in the key set ({})",
                    kid.map_or_else(
                        || "a token without a `kid`".to_owned(),
                        |k| format!("the key `{k}`")
                    ),
                    p.keys
                ),
                "a key the project does not publish: one revoked or rotated out (sign in again), a standby key not yet in use, or another project's key (check SUPABASE_URL)",
                "unknown_key",
            ),
        },
        TokenError::BadSignature if hmac && p.secret_is_jwt => said(
            "the signature does not match: SUPABASE_JWT_SECRET holds a JWT (the anon or service_role key?), not the JWT secret",
            "set SUPABASE_JWT_SECRET to the JWT secret (Dashboard: Project Settings > JWT Keys > Legacy JWT Secret), never to an API key",
            "secret_is_an_api_key",
        ),
        TokenError::BadSignature if hmac => said(
            "the signature does not match SUPABASE_JWT_SECRET: the secret is not the one that signed this token",
            "set SUPABASE_JWT_SECRET to this project's JWT secret (Dashboard: Project Settings > JWT Keys > Legacy JWT Secret); check SUPABASE_URL is the same project",
            "wrong_secret",
        ),
        TokenError::BadSignature => said(
            format!(
                "the signature does not verify with the key `{}` it names",
                kid.unwrap_or("?")
            ),
            "the token was altered or truncated; copy it whole from the session",
            "bad_signature",
        ),
        TokenError::MalformedClaims => said(
            "its claims are not one JSON object (or a claim appears twice)",
            "use a token Supabase Auth issued",
            "malformed_claims",
        ),
        TokenError::MissingClaim { claim } => said(
            format!("the required claim `{claim}` is missing"),
            "Supabase access tokens carry iss, sub, aud, exp, iat, role and session_id; use one Supabase Auth issued",
            "missing_claim",
        ),
        TokenError::InvalidClaim { claim } => said(
            format!(
                "the claim `{claim}` has the wrong type or format ({})",
                d.claim(claim).map_or("absent".to_owned(), kind_of)
            ),
            "use a token Supabase Auth issued; minted by hand, `exp`/`iat` are whole seconds and `sub` a UUID",
            "invalid_claim",
        ),
        TokenError::Expired => {
            let exp = d.claim_i64("exp");
            said(
                match exp {
                    Some(exp) => format!(
                        "expired {} ago ({})",
                        human_duration(p.now.saturating_sub(exp)),
                        utc(exp)
                    ),
                    None => "expired".to_owned(),
                },
                "access tokens live an hour by default: refresh the session (supabase-js refreshes on its own while the tab is open; the frontend proxy refreshes before it forwards)",
                "expired",
            )
        }
        TokenError::NotYetValid | TokenError::IssuedInFuture => {
            let claim = if matches!(e, TokenError::NotYetValid) {
                "nbf"
            } else {
                "iat"
            };
            let ahead = d.claim_i64(claim).map_or(0, |t| t.saturating_sub(p.now));
            said(
                format!(
                    "`{claim}` is {} in the future, beyond the {} s of leeway",
                    human_duration(ahead),
                    p.leeway
                ),
                "a clock is wrong: sync this machine's clock (NTP), or the issuer's",
                "clock_skew",
            )
        }
        TokenError::LifetimeTooLong => {
            let life = match (d.claim_i64("exp"), d.claim_i64("iat")) {
                (Some(exp), Some(iat)) => {
                    format!(
                        " ({} from iat to exp)",
                        human_duration(exp.saturating_sub(iat))
                    )
                }
                _ => String::new(),
            };
            said(
                format!("it lives longer than an access token may{life}"),
                "Supabase issues tokens for an hour (at most a week); a token that lasts years is an API key, not a user's token",
                "lifetime",
            )
        }
        TokenError::AudienceMismatch => said(
            format!(
                "its audience {} is not accepted (user tokens have `authenticated`)",
                d.claim("aud").map_or("(none)".to_owned(), Value::to_string)
            ),
            "use a user's access token; to accept another audience, `VerifierBuilder::audiences`",
            "audience",
        ),
        TokenError::IssuerMismatch => {
            let iss = d.claim_str("iss").unwrap_or("(none)");
            match iss.strip_suffix("/auth/v1") {
                Some(base) => said(
                    format!(
                        "issued by `{iss}`, a Supabase auth server other than the one SUPABASE_URL names (`{}`): the same project under another spelling (localhost or 127.0.0.1, http or https, a custom domain), or another project",
                        p.issuer
                    ),
                    format!(
                        "set SUPABASE_URL to exactly the URL the clients sign in through (`{base}` for this token), or sign in through the project this service is for"
                    ),
                    "issuer_spelling",
                ),
                None => third_party(iss, p),
            }
        }
        TokenError::RoleMismatch => said(
            format!(
                "a token of the third-party issuer `{}` without the `role` claim `authenticated`",
                d.claim_str("iss").unwrap_or("?")
            ),
            "configure the provider to add `\"role\": \"authenticated\"` to its tokens, as Supabase requires of third-party auth",
            "third_party_role",
        ),
        TokenError::KeysUnavailable => said(
            "the project's signing keys could not be fetched (the service would answer 503)",
            format!(
                "check that {}/auth/v1/.well-known/jwks.json (or SUPABASE_JWKS_URL) is reachable from here; `supagate doctor` fetches it",
                p.url
            ),
            "keys_unavailable",
        ),
        other => said(other.to_string(), "see docs/errors.md", "other"),
    }
}

/// The issuer of a token that names neither this project nor another Supabase auth server.
fn foreign_issuer<'a>(d: &'a Unverified, p: &Project) -> Option<&'a str> {
    let iss = d.claim_str("iss")?;
    (iss != p.issuer && !iss.ends_with("/auth/v1") && iss != "supabase").then_some(iss)
}

fn third_party(iss: &str, p: &Project) -> Explained {
    let accepted = if p.third_party.is_empty() {
        String::new()
    } else {
        format!(" and {}", p.third_party.join(", "))
    };
    said(
        format!(
            "issued by `{iss}`, a third-party issuer this service does not accept (it accepts `{}`{accepted})",
            p.issuer
        ),
        format!(
            "to accept it, add it to SUPABASE_THIRD_PARTY_ISSUERS: [{{\"issuer\":\"{iss}\",\"audience\":[\"<your audience>\"]}}] (and enable the provider under Authentication > Third-party Auth)"
        ),
        "third_party",
    )
}

/// The project ref a Supabase token names when it is not this one.
fn other_project(d: &Unverified, p: &Project) -> Option<String> {
    let iss = d.claim_str("iss")?;
    if iss == p.issuer {
        return None;
    }
    let host = iss.strip_prefix("https://")?.strip_suffix("/auth/v1")?;
    let label = host.split('.').next()?;
    (host.ends_with(".supabase.co") && label != p.label).then(|| label.to_owned())
}

fn wrong_project(other: &str, p: &Project) -> Explained {
    said(
        format!(
            "a token of another project (`{other}`): this service is configured for `{}` ({})",
            p.label, p.url
        ),
        "point SUPABASE_URL (and the keys) at the project that issued the token, or sign in to this project",
        "other_project",
    )
}

fn kind_of(v: &Value) -> String {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a fraction",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
    .to_owned()
}
