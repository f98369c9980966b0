//! `supagate doctor`: the configuration checked as the library reads it, every problem at once.

use std::io::Write;
use std::time::Duration;

use serde_json::{Value, json};
use supagate::config::SessionCheck;
use supagate::jwt::KeySource as _;
use supagate::{Config, CookieName, RemoteJwks, SupabaseConfig, SupabaseProject};

use crate::decode::Unverified;
use crate::vars::Vars;
use crate::{DoctorArgs, EXIT_OK, EXIT_REFUSED, Object, Usage};

/// How long a network check may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// A project URL for the checks of one variable when `SUPABASE_URL` itself is unusable: a
/// local one, so that no check concludes "a public secret on a hosted project" from a URL the
/// user did not give.
const PLACEHOLDER_URL: &str = "http://127.0.0.1:54321";

/// A key for the checks of one variable that need some key to be configured (never used to
/// verify anything).
const PLACEHOLDER_SECRET: &str = "doctor-placeholder-secret-not-a-real-one-0123456789";

/// Variables of Supabase's own tools (the CLI, Edge Functions, client templates): not the
/// library's, and not misspellings of its names.
const SUPABASE_OWN: &[&str] = &[
    "SUPABASE_DB_URL",
    "SUPABASE_KEY",
    "SUPABASE_SERVICE_ROLE_KEY",
    "SUPABASE_PROJECT_REF",
    "SUPABASE_PROJECT_ID",
    "SUPABASE_ACCESS_TOKEN",
    "SUPABASE_DB_PASSWORD",
    "SUPABASE_AUTH_URL",
    "SUPABASE_INTERNAL_HOST_PORT",
];

/// The library's variables from `first` to `last` (`supagate::config::VARIABLES` lists them
/// by group): the proxy's, the database's.
fn group(first: &str, last: &str) -> &'static [&'static str] {
    let all = supagate::config::VARIABLES;
    let at = |name: &str| all.iter().position(|n| *n == name);
    match (at(first), at(last)) {
        (Some(a), Some(b)) => all.get(a..=b).unwrap_or_default(),
        _ => &[],
    }
}

/// The proxy's variables, each checked by the library on its own.
fn proxy_variables() -> &'static [&'static str] {
    group("API_URL", "AUTH_CALLS_BURST")
}

/// The database's variables besides `DATABASE_URL`, each checked by the library on its own
/// (`SESSION_DATABASE_URL` is also connected to, later).
fn database_variables() -> &'static [&'static str] {
    group("DATABASE_POOL_SIZE", "PRE_REQUEST")
}

/// Prefixes of variables that front-end build tools put into browser bundles.
const BROWSER_PREFIXES: &[&str] = &[
    "NEXT_PUBLIC_",
    "VITE_",
    "EXPO_PUBLIC_",
    "REACT_APP_",
    "NUXT_PUBLIC_",
    "GATSBY_",
    "VUE_APP_",
    "PUBLIC_SUPABASE_",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Fail,
    Skip,
}

struct Check {
    name: &'static str,
    status: Status,
    message: String,
    fix: Option<String>,
}

#[derive(Default)]
struct Report(Vec<Check>);

impl Report {
    fn ok(&mut self, name: &'static str, message: impl Into<String>) {
        self.0.push(Check {
            name,
            status: Status::Ok,
            message: message.into(),
            fix: None,
        });
    }
    fn skip(&mut self, name: &'static str, message: impl Into<String>) {
        self.0.push(Check {
            name,
            status: Status::Skip,
            message: message.into(),
            fix: None,
        });
    }
    fn fail(&mut self, name: &'static str, message: impl Into<String>, fix: impl Into<String>) {
        self.0.push(Check {
            name,
            status: Status::Fail,
            message: message.into(),
            fix: Some(fix.into()),
        });
    }
    /// The library's own message for a variable: `EnvError`'s "VAR: problem; fix".
    fn env_error(&mut self, name: &'static str, e: &supagate::EnvError) {
        let text = e.to_string();
        let text = text
            .strip_prefix(e.variable())
            .and_then(|t| t.strip_prefix(": "))
            .unwrap_or(&text);
        let (problem, fix) = text
            .split_once("; ")
            .unwrap_or((text, "see docs/errors.md"));
        self.fail(name, problem, fix);
    }
    fn failed(&self) -> usize {
        self.0.iter().filter(|c| c.status == Status::Fail).count()
    }
}

pub(crate) async fn run(
    args: DoctorArgs,
    out: &mut dyn Write,
    env: supagate::Variables,
) -> Result<u8, Usage> {
    let vars = Vars::new(&args.project, env)?;
    let mut r = Report::default();

    let url = vars.get("SUPABASE_URL");
    let project = match url.as_deref().map(|u| SupabaseProject::parse(u.trim())) {
        None => {
            r.fail(
                "SUPABASE_URL",
                "not set",
                "set it to the project URL, e.g. https://<project-ref>.supabase.co or http://127.0.0.1:54321 (`supabase start`)",
            );
            None
        }
        Some(Err(e)) => {
            r.fail(
                "SUPABASE_URL",
                e.to_string(),
                "set it to the project URL, e.g. https://<project-ref>.supabase.co (https unless on a loopback host)",
            );
            None
        }
        Some(Ok(p)) => {
            r.ok(
                "SUPABASE_URL",
                format!(
                    "{} (project `{}`, {})",
                    p.url(),
                    p.cookie_label(),
                    if p.is_local() {
                        "a local stack"
                    } else {
                        "hosted"
                    }
                ),
            );
            Some(p)
        }
    };
    let base_url = project
        .as_ref()
        .map_or(PLACEHOLDER_URL, SupabaseProject::url)
        .to_owned();

    secret(&mut r, &vars, &base_url);
    jwks(&mut r, &vars, &base_url, project.as_ref(), args.offline).await;
    third_party(&mut r, &vars, &base_url);
    api_keys(&mut r, &vars, &base_url, project.as_ref());
    browser_variables(&mut r, &vars);
    spelling(&mut r, &vars);
    cookie(&mut r, project.as_ref());
    proxy(&mut r, &vars);
    postgres(&mut r, &vars, args.offline).await;

    // What the library makes of all of it together (a problem of several variables at once).
    if r.failed() == 0 {
        match Config::from_variables(vars.variables()).and_then(|c| c.authenticator()) {
            Ok(b) => match b.build() {
                Ok(_) => r.ok("startup", "the library starts on this configuration"),
                Err(e) => r.fail("startup", e.to_string(), "see docs/errors.md"),
            },
            Err(e) => r.env_error("startup", &e),
        }
    }

    let failed = r.failed();
    if args.json {
        let checks: Vec<Value> = r
            .0
            .iter()
            .map(|c| {
                json!({
                    "check": c.name,
                    "status": match c.status { Status::Ok => "ok", Status::Fail => "fail", Status::Skip => "skip" },
                    "message": c.message,
                    "fix": c.fix,
                })
            })
            .collect();
        let mut report = Object::new();
        report.insert(
            "verdict",
            json!(if failed == 0 { "clean" } else { "failed" }),
        );
        report.insert("failures", json!(failed));
        report.insert("checks", Value::Array(checks));
        serde_json::to_writer_pretty(&mut *out, &report)
            .map_err(|e| Usage(format!("cannot write: {e}")))?;
        writeln!(out)?;
    } else {
        for c in &r.0 {
            let tag = match c.status {
                Status::Ok => "ok  ",
                Status::Fail => "FAIL",
                Status::Skip => "skip",
            };
            match &c.fix {
                Some(fix) => writeln!(out, "{tag} {}: {}; fix: {fix}", c.name, c.message)?,
                None => writeln!(out, "{tag} {}: {}", c.name, c.message)?,
            }
        }
        if failed == 0 {
            writeln!(out, "clean: no problem found")?;
        } else {
            writeln!(
                out,
                "{failed} problem{} found",
                if failed == 1 { "" } else { "s" }
            )?;
        }
    }
    Ok(if failed == 0 { EXIT_OK } else { EXIT_REFUSED })
}

fn secret(r: &mut Report, vars: &Vars, url: &str) {
    let Some(secret) = vars.get("SUPABASE_JWT_SECRET").map(zeroize::Zeroizing::new) else {
        r.skip(
            "SUPABASE_JWT_SECRET",
            "not set: legacy HS256 tokens are refused (right once the project signs with asymmetric keys only)",
        );
        return;
    };
    let trimmed = secret.trim();
    let decoded = Unverified::decode(trimmed);
    if decoded.header.is_some() {
        let role = decoded.claim_str("role").unwrap_or("?").to_owned();
        r.fail(
            "SUPABASE_JWT_SECRET",
            format!("holds a JWT (role `{role}`, the {role} API key?), not the JWT secret"),
            "set it to the JWT secret (Dashboard: Project Settings > JWT Keys > Legacy JWT Secret), never to an API key",
        );
        return;
    }
    if trimmed.starts_with("sb_publishable_") || trimmed.starts_with("sb_secret_") {
        r.fail(
            "SUPABASE_JWT_SECRET",
            "holds an API key (sb_...), not the JWT secret",
            "set it to the JWT secret (Dashboard: Project Settings > JWT Keys > Legacy JWT Secret); the key belongs in SUPABASE_PUBLISHABLE_KEY or SUPABASE_SECRET_KEY",
        );
        return;
    }
    let only = vars.only(&["SUPABASE_JWT_SECRET"], &[("SUPABASE_URL", url)]);
    match SupabaseConfig::from_variables(&only) {
        Err(e) if e.variable() == "SUPABASE_JWT_SECRET" => r.env_error("SUPABASE_JWT_SECRET", &e),
        _ if guessable(trimmed) && url != PLACEHOLDER_URL && !url.starts_with("http://") => r.fail(
            "SUPABASE_JWT_SECRET",
            "long enough, but made of a few characters repeated or a run: guessable, and whoever guesses it signs tokens",
            "use the project's generated secret (Dashboard: Project Settings > JWT Keys), or 32 random bytes (`openssl rand -base64 32`) for a self-hosted GoTrue",
        ),
        _ => r.ok(
            "SUPABASE_JWT_SECRET",
            format!("an HS256 secret of {} bytes", trimmed.len()),
        ),
    }
}

/// A secret of few distinct characters (`aaaa…`, `abababab…`) or a run (`0123456789…`,
/// `abcdef…`): long enough for the library, and found by the first guesses.
fn guessable(secret: &str) -> bool {
    let bytes = secret.as_bytes();
    let mut seen = [false; 256];
    for b in bytes {
        if let Some(s) = seen.get_mut(usize::from(*b)) {
            *s = true;
        }
    }
    let distinct = seen.iter().filter(|s| **s).count();
    let steps = bytes
        .windows(2)
        .filter(|w| matches!(w, [a, b] if b.wrapping_sub(*a) == 1))
        .count();
    distinct < 8 || steps * 2 > bytes.len()
}

async fn jwks(
    r: &mut Report,
    vars: &Vars,
    url: &str,
    project: Option<&SupabaseProject>,
    offline: bool,
) {
    let inline = vars.get("SUPABASE_JWKS");
    let remote = vars.get("SUPABASE_JWKS_URL");
    if inline.is_some() && remote.is_some() {
        // The library refuses the pair before it reads either; its words.
        let both = vars.only(
            &["SUPABASE_JWKS", "SUPABASE_JWKS_URL"],
            &[("SUPABASE_URL", url)],
        );
        if let Err(e) = SupabaseConfig::from_variables(&both) {
            r.env_error(e.variable(), &e);
        }
        return;
    }
    if let Some(json) = &inline {
        if let Some(what) = private_material(json) {
            r.fail(
                "SUPABASE_JWKS",
                format!("holds private key material ({what}): whoever reads it can sign tokens"),
                "publish only public keys: copy the set from <project URL>/auth/v1/.well-known/jwks.json",
            );
            return;
        }
        let only = vars.only(&["SUPABASE_JWKS"], &[("SUPABASE_URL", url)]);
        match SupabaseConfig::from_variables(&only) {
            Ok(c) => r.ok("SUPABASE_JWKS", c.describe_keys()),
            Err(e) => r.env_error("SUPABASE_JWKS", &e),
        }
        return;
    }
    let target = match &remote {
        Some(u) if u.trim().starts_with("file://") => {
            let only = vars.only(&["SUPABASE_JWKS_URL"], &[("SUPABASE_URL", url)]);
            match SupabaseConfig::from_variables(&only) {
                Ok(c) => r.ok("SUPABASE_JWKS_URL", c.describe_keys()),
                Err(e) => r.env_error("SUPABASE_JWKS_URL", &e),
            }
            return;
        }
        Some(u) => u.trim().to_owned(),
        None if project.is_none() => {
            r.skip("jwks", "not fetched: SUPABASE_URL is unusable");
            return;
        }
        None => format!(
            "{}/auth/v1/.well-known/jwks.json",
            url.trim_end_matches('/')
        ),
    };
    let shown = display_url(&target);
    let source = match RemoteJwks::builder(target.clone()).timeout(TIMEOUT).build() {
        Ok(s) => s,
        Err(e) => {
            r.fail(
                "SUPABASE_JWKS_URL",
                format!("{shown}: {e}"),
                "set it to an https URL of a JWK set (http only on a loopback host) or file://<path>, or unset it",
            );
            return;
        }
    };
    if offline {
        r.skip("jwks", format!("not fetched (--offline): {shown}"));
        return;
    }
    let fetched = tokio::time::timeout(TIMEOUT * 2, source.refresh_now()).await;
    match fetched {
        Ok(Ok(())) => match source.current() {
            Ok(keys) if keys.is_empty() => {
                let has_secret = vars.get("SUPABASE_JWT_SECRET").is_some();
                if has_secret {
                    r.ok("jwks", format!("{shown}: no asymmetric key published yet (tokens are HS256, verified with the secret)"));
                } else {
                    r.fail(
                        "jwks",
                        format!("{shown}: the set has no usable key, and SUPABASE_JWT_SECRET is not set: every token would be refused"),
                        "the project still signs with the legacy secret: set SUPABASE_JWT_SECRET, or create an asymmetric signing key (Dashboard: Project Settings > JWT Keys)",
                    );
                }
            }
            Ok(keys) => {
                let list: Vec<String> = keys.keys().map(|(kid, alg)| format!("{kid} ({})", alg.name())).collect();
                r.ok("jwks", format!("{shown}: {} key(s): {}", list.len(), list.join(", ")));
            }
            Err(e) => r.fail("jwks", format!("{shown}: {e}"), "check the URL serves the project's JWK set"),
        },
        Ok(Err(e)) => r.fail(
            "jwks",
            format!("{shown}: cannot fetch the key set: {e}"),
            "check that this host reaches the project (DNS, proxy, firewall) and that SUPABASE_URL/SUPABASE_JWKS_URL are right; or give the set inline in SUPABASE_JWKS",
        ),
        Err(_) => r.fail(
            "jwks",
            format!("{shown}: no answer within {} s", (TIMEOUT * 2).as_secs()),
            "check that this host reaches the project, or give the set inline in SUPABASE_JWKS",
        ),
    }
}

/// A URL as it may be shown: scheme, host, port and path; never a user, a password, a query
/// or a fragment (where credentials of a URL live).
fn display_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    // Everything up to the last `@` may be a user and a password (which may themselves hold
    // `/`, `?` or `#`): it goes first, then the query and the fragment.
    let rest = rest.rsplit_once('@').map_or(rest, |(_, after)| after);
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    if scheme.is_empty() {
        rest.to_owned()
    } else {
        format!("{scheme}://{rest}")
    }
}

/// `name` alone, on the project at `url` with a placeholder key: one variable checked by the
/// library at a time, so that each problem is reported on its own.
fn alone(vars: &Vars, name: &str, url: &str) -> supagate::Variables {
    vars.only(
        &[name],
        &[
            ("SUPABASE_URL", url),
            ("SUPABASE_JWT_SECRET", PLACEHOLDER_SECRET),
        ],
    )
}

/// Which private member a JWK set carries, if any.
fn private_material(json: &str) -> Option<&'static str> {
    let value: Value = serde_json::from_str(json).ok()?;
    let keys = match &value {
        Value::Array(k) => k.clone(),
        Value::Object(o) => o.get("keys")?.as_array()?.clone(),
        _ => return None,
    };
    for key in keys {
        if key.get("kty").and_then(Value::as_str) == Some("oct") {
            continue;
        }
        for member in ["d", "p", "q", "dp", "dq", "qi"] {
            if key.get(member).is_some() {
                return Some(match member {
                    "d" => "the private exponent `d`",
                    _ => "RSA private factors",
                });
            }
        }
    }
    None
}

fn third_party(r: &mut Report, vars: &Vars, url: &str) {
    if vars.get("SUPABASE_THIRD_PARTY_ISSUERS").is_none() {
        return;
    }
    match SupabaseConfig::from_variables(&alone(vars, "SUPABASE_THIRD_PARTY_ISSUERS", url)) {
        Ok(c) => r.ok("SUPABASE_THIRD_PARTY_ISSUERS", c.describe_keys()),
        Err(e) if e.variable() == "SUPABASE_THIRD_PARTY_ISSUERS" => {
            r.env_error("SUPABASE_THIRD_PARTY_ISSUERS", &e);
        }
        Err(_) => r.ok("SUPABASE_THIRD_PARTY_ISSUERS", "issuers read"),
    }
}

fn api_keys(r: &mut Report, vars: &Vars, url: &str, project: Option<&SupabaseProject>) {
    for (name, expect) in [
        ("SUPABASE_PUBLISHABLE_KEY", "sb_publishable_"),
        ("SUPABASE_PUBLISHABLE_KEYS", "sb_publishable_"),
        ("SUPABASE_SECRET_KEY", "sb_secret_"),
        ("SUPABASE_SECRET_KEYS", "sb_secret_"),
        ("SUPABASE_ANON_KEY", "eyJ"),
    ] {
        let Some(value) = vars.get(name) else {
            continue;
        };
        let value = zeroize::Zeroizing::new(value);
        let v = value.trim();
        if name.starts_with("SUPABASE_PUBLISHABLE") && v.contains("sb_secret_") {
            r.fail(
                name,
                "holds a secret key (sb_secret_...): a publishable key is public, a secret key must never be",
                "put the publishable key (sb_publishable_...) here and the secret key in SUPABASE_SECRET_KEY; rotate the secret key if this value ever reached a browser",
            );
            continue;
        }
        if name == "SUPABASE_ANON_KEY" {
            let d = Unverified::decode(v);
            if d.claim_str("role") == Some("service_role") {
                r.fail(
                    name,
                    "holds the service_role key, which bypasses Row Level Security, not the anon key",
                    "set it to the project's anon key (Dashboard: Project Settings > API Keys > Legacy API keys), and rotate the service_role key if it was ever shipped",
                );
                continue;
            }
            if let (Some(p), Some(key_ref)) = (project, d.claim_str("ref"))
                && !p.is_local()
                && p.url().contains(".supabase.co")
                && key_ref != p.cookie_label()
            {
                r.fail(
                    name,
                    format!(
                        "is the anon key of project `{key_ref}`, not of `{}`",
                        p.cookie_label()
                    ),
                    "copy the anon key of the project SUPABASE_URL names",
                );
                continue;
            }
        }
        if !(v.starts_with(expect) || name.contains("KEYS") && v.contains(expect)) {
            let hint = if v.starts_with("eyJ") {
                " (a legacy JWT key: put the anon key in SUPABASE_ANON_KEY)"
            } else {
                ""
            };
            r.fail(
                name,
                format!("does not look like a `{expect}` key{hint}"),
                "copy it from Dashboard: Project Settings > API Keys",
            );
            continue;
        }
        match Config::from_variables(alone(vars, name, url)) {
            Ok(_) => r.ok(name, "a key of the right kind"),
            Err(e) if e.variable() == name => r.env_error(name, &e),
            Err(_) => r.ok(name, "a key of the right kind"),
        }
    }
}

/// Secrets in variables that front-end tools bundle into browser code.
fn browser_variables(r: &mut Report, vars: &Vars) {
    let secret = vars.get("SUPABASE_JWT_SECRET").map(zeroize::Zeroizing::new);
    let mut found = false;
    for name in vars.names() {
        if !BROWSER_PREFIXES.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let Some(value) = vars.get(&name).map(zeroize::Zeroizing::new) else {
            continue;
        };
        let v = value.trim();
        let what = if v.starts_with("sb_secret_") {
            Some("a secret API key")
        } else if Unverified::decode(v).claim_str("role") == Some("service_role") {
            Some("the service_role key")
        } else if secret.as_ref().is_some_and(|s| s.trim() == v) {
            Some("the JWT secret")
        } else {
            None
        };
        if let Some(what) = what {
            found = true;
            r.fail(
                "browser variables",
                format!("{name} holds {what}, and `{}` variables are built into browser code", prefix_of(&name)),
                format!("remove it from {name} (only the publishable or anon key belongs there) and rotate that credential"),
            );
        }
    }
    if !found {
        r.ok(
            "browser variables",
            "no secret in a variable meant for browser code",
        );
    }
}

fn prefix_of(name: &str) -> &'static str {
    BROWSER_PREFIXES
        .iter()
        .copied()
        .find(|p| name.starts_with(p))
        .unwrap_or("public")
}

/// `SUPABASE_*` and `SUPAGATE_*` variables the library does not read, close to one it does.
fn spelling(r: &mut Report, vars: &Vars) {
    let mut found = false;
    for name in vars.names() {
        let known = supagate::config::VARIABLES;
        if !(name.starts_with("SUPABASE_") || name.starts_with("SUPAGATE_"))
            || known.contains(&name.as_str())
            || SUPABASE_OWN.contains(&name.as_str())
        {
            continue;
        }
        let close = known
            .iter()
            .map(|k| (distance(&name, k), *k))
            .min()
            .filter(|(d, _)| *d <= 2);
        if let Some((_, known)) = close {
            found = true;
            r.fail(
                "spelling",
                format!("{name} is not read by supagate"),
                format!("did you mean {known}?"),
            );
        }
    }
    if !found {
        r.ok("spelling", "no misspelled variable");
    }
}

/// Levenshtein distance (short names only).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row.first().copied().unwrap_or(0);
        if let Some(first) = row.first_mut() {
            *first = i + 1;
        }
        for j in 0..b.len() {
            let cost = usize::from(b.get(j) != Some(&ca));
            let up = row.get(j + 1).copied().unwrap_or(usize::MAX);
            let left = row.get(j).copied().unwrap_or(usize::MAX);
            let next = (prev + cost)
                .min(up.saturating_add(1))
                .min(left.saturating_add(1));
            prev = up;
            if let Some(cell) = row.get_mut(j + 1) {
                *cell = next;
            }
        }
    }
    row.last().copied().unwrap_or(0)
}

fn cookie(r: &mut Report, project: Option<&SupabaseProject>) {
    let Some(p) = project else {
        r.skip("cookie", "no cookie name without a usable SUPABASE_URL");
        return;
    };
    match CookieName::from_supabase_url(p.url()) {
        Ok(name) => r.ok(
            "cookie",
            format!(
                "{} (what @supabase/ssr writes for this project)",
                name.as_str()
            ),
        ),
        Err(e) => r.fail("cookie", e.to_string(), "check SUPABASE_URL"),
    }
}

/// How an origin variable is parsed: a browser's origin, or an internal upstream's.
type OriginParser = fn(&str) -> Result<supagate::Origin, supagate::UrlError>;

/// The proxy's variables, one at a time, as the library reads them.
fn proxy(r: &mut Report, vars: &Vars) {
    for name in proxy_variables() {
        if vars.get(name).is_none() {
            continue;
        }
        match Config::from_variables(alone(vars, name, PLACEHOLDER_URL)).and_then(|c| c.proxy()) {
            Err(e) => r.env_error(name, &e),
            Ok(settings) => {
                // Origins are parsed where the sessions are built; parse them here the same way.
                // As the builders read them: a trailing `/` trimmed; the upstream may be an
                // internal `http://` host.
                let (origins, parse): (Vec<String>, OriginParser) = match *name {
                    "PUBLIC_ORIGIN" => (
                        settings.public_origin.into_iter().collect(),
                        supagate::Origin::parse,
                    ),
                    "ALLOWED_ORIGINS" => (settings.allowed_origins, supagate::Origin::parse),
                    "API_URL" => (
                        settings.upstream.into_iter().collect(),
                        supagate::Origin::parse_internal,
                    ),
                    _ => (Vec::new(), supagate::Origin::parse),
                };
                match origins
                    .iter()
                    .map(|o| parse(o.trim_end_matches('/')).map_err(|e| (o, e)))
                    .find_map(Result::err)
                {
                    Some((origin, e)) => r.fail(
                        name,
                        format!("`{origin}`: {e}"),
                        "give the origin browsers use, https://<host>[:port] (http only on a loopback host)",
                    ),
                    None => r.ok(name, "read"),
                }
            }
        }
    }
}

async fn postgres(r: &mut Report, vars: &Vars, offline: bool) {
    let Some(url) = vars.get("DATABASE_URL").map(zeroize::Zeroizing::new) else {
        r.skip(
            "DATABASE_URL",
            "not set: no Row Level Security or session liveness from Postgres",
        );
        return;
    };
    // The other database variables, one at a time, as the library reads them.
    let mut session_check = Some(SessionCheck::Db);
    for name in database_variables() {
        if vars.get(name).is_none() {
            continue;
        }
        let only = alone(vars, name, PLACEHOLDER_URL).with_default(
            "DATABASE_URL",
            "postgres://placeholder@127.0.0.1/placeholder",
        );
        match Config::from_variables(only).and_then(|c| c.database()) {
            Ok(settings) => {
                if *name == "SESSION_CHECK" {
                    session_check = settings.map(|s| s.session_check);
                }
                r.ok(name, "read");
            }
            Err(e) => {
                if *name == "SESSION_CHECK" {
                    session_check = None;
                }
                r.env_error(name, &e);
            }
        }
    }
    if offline {
        r.skip("DATABASE_URL", "not connected (--offline)");
        return;
    }
    let Some(conn) = connect(r, "DATABASE_URL", url.trim()).await else {
        return;
    };
    // Session liveness reads `auth.sessions` through SESSION_DATABASE_URL, or DATABASE_URL.
    match session_check {
        Some(SessionCheck::Db) => {}
        Some(_) => {
            r.skip(
                "auth.sessions",
                "not read: SESSION_CHECK asks the auth server, or nothing",
            );
            return;
        }
        None => return,
    }
    let session_url = vars
        .get("SESSION_DATABASE_URL")
        .map(zeroize::Zeroizing::new);
    let (check, mut conn) = match &session_url {
        Some(u) => {
            drop(conn);
            let Some(c) = connect(r, "SESSION_DATABASE_URL", u.trim()).await else {
                return;
            };
            ("SESSION_DATABASE_URL", c)
        }
        None => ("DATABASE_URL", conn),
    };
    // By catalog oids: a name lookup would itself fail without usage on the schema.
    let query = "select count(*) > 0, coalesce(bool_and(has_schema_privilege(n.oid, 'usage') \
                 and has_table_privilege(c.oid, 'select')), false) \
                 from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace \
                 where n.nspname = 'auth' and c.relname = 'sessions'";
    let asked = tokio::time::timeout(
        TIMEOUT,
        sqlx::query_as::<_, (bool, bool)>(query).fetch_one(&mut conn),
    )
    .await;
    match asked {
        Ok(Ok((true, true))) => r.ok(
            "auth.sessions",
            format!("readable through {check}: session liveness can use it"),
        ),
        Ok(Ok((true, false))) => r.fail(
            "auth.sessions",
            format!("exists, but the role of {check} may not read it: session liveness from Postgres would fail closed (503)"),
            "grant usage on schema auth and select on auth.sessions (and auth.users) to that role, give a role that may in SESSION_DATABASE_URL, or set SESSION_CHECK=auth",
        ),
        Ok(Ok((false, _))) => r.fail(
            "auth.sessions",
            format!("no auth.sessions table in the database of {check}: not a Supabase database"),
            "point it at the project's database (Project Settings > Database > Connection string)",
        ),
        Ok(Err(e)) => r.fail(
            "auth.sessions",
            redact_db_error(&e),
            "check the role's privileges",
        ),
        Err(_) => r.fail("auth.sessions", "no answer in time", "check the database's load"),
    }
}

/// Connects to `url` within the time limit, or reports why not under `name`.
async fn connect(
    r: &mut Report,
    name: &'static str,
    url: &str,
) -> Option<sqlx::postgres::PgConnection> {
    use sqlx::ConnectOptions as _;
    let scheme_ok = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let options = match url.parse::<sqlx::postgres::PgConnectOptions>() {
        Ok(o) if scheme_ok => o,
        _ => {
            r.fail(
                name,
                "not a PostgreSQL connection URL",
                "set it to postgres://<user>:<password>@<host>:<port>/<database>",
            );
            return None;
        }
    };
    let at = format!("{}:{}", options.get_host(), options.get_port());
    match tokio::time::timeout(TIMEOUT, options.connect()).await {
        Ok(Ok(c)) => {
            r.ok(name, format!("connected to {at}"));
            Some(c)
        }
        Ok(Err(e)) => {
            r.fail(
                name,
                format!("cannot connect to {at}: {}", redact_db_error(&e)),
                "check the host, port, user and password (Supabase: Project Settings > Database > Connection string)",
            );
            None
        }
        Err(_) => {
            r.fail(
                name,
                format!("no answer from {at} within {} s", TIMEOUT.as_secs()),
                "check the host and port, and that this host may reach the database",
            );
            None
        }
    }
}

/// A database error without anything of the connection string.
fn redact_db_error(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => format!("the server says: {}", db.message()),
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::Tls(_) => "TLS failed".to_owned(),
        sqlx::Error::PoolTimedOut => "timed out".to_owned(),
        _ => "connection failed".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_groups_are_the_librarys() {
        let proxy = proxy_variables();
        for name in [
            "API_URL",
            "PUBLIC_ORIGIN",
            "COOKIE_ENCODE",
            "AUTH_CALLS_BURST",
        ] {
            assert!(proxy.contains(&name), "{name}");
        }
        let db = database_variables();
        for name in [
            "DATABASE_POOL_SIZE",
            "SESSION_CHECK",
            "SESSION_TTL_SECS",
            "PRE_REQUEST",
        ] {
            assert!(db.contains(&name), "{name}");
        }
        for name in ["SUPABASE_URL", "DATABASE_URL"] {
            assert!(!proxy.contains(&name) && !db.contains(&name), "{name}");
        }
    }

    #[test]
    fn guessable_secrets() {
        assert!(guessable(&"a".repeat(40)));
        assert!(guessable(&"ab".repeat(20)));
        assert!(guessable("abcdefghijklmnopqrstuvwxyz0123456789ABCDEF"));
        assert!(!guessable("Zp3kQ9vX2mLr8TcW5yHn7BdF4gJs6aEu1oNi0qRt"));
        assert!(!guessable(
            "super-secret-jwt-token-with-at-least-32-characters-long"
        ));
    }

    #[test]
    fn urls_are_shown_without_credentials() {
        for (url, shown) in [
            (
                "https://admin:pa/ss?w0rd@keys.example.com/jwks.json",
                "https://keys.example.com/jwks.json",
            ),
            ("https://u:p#ss@host/x?token=y#f", "https://host/x"),
            (
                "http://127.0.0.1:9/jwks.json",
                "http://127.0.0.1:9/jwks.json",
            ),
            ("no-scheme@host/x", "host/x"),
        ] {
            assert_eq!(display_url(url), shown);
        }
    }

    #[test]
    fn distances() {
        assert_eq!(distance("SUPABASE_JWT_SECERT", "SUPABASE_JWT_SECRET"), 2);
        assert_eq!(distance("", "ab"), 2);
        assert_eq!(distance("ab", ""), 2);
        assert_eq!(distance("SUPABASE_URL", "SUPABASE_URL"), 0);
    }

    #[test]
    fn private_members_are_found() {
        assert!(private_material(r#"{"keys":[{"kty":"EC","d":"x"}]}"#).is_some());
        assert!(private_material(r#"[{"kty":"RSA","p":"x"}]"#).is_some());
        assert!(private_material(r#"{"keys":[{"kty":"oct","k":"x"}]}"#).is_none());
        assert!(private_material("not json").is_none());
    }
}
