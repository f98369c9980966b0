//! The `supagate` command: why a token is refused, what is wrong with a service's
//! configuration, what a session cookie holds, and tokens for local testing.
//!
//! ```text
//! supagate inspect [TOKEN]     verify a token as the service would, and say why it is refused
//! supagate doctor              check the configuration the service reads, every problem at once
//! supagate cookie [COOKIES]    decode a Cookie header or a browser export into its session
//! supagate mint                sign a token for a local project (never a hosted one)
//! ```
//!
//! Each reads the project the way the library does (`SUPABASE_URL`, `SUPABASE_JWT_SECRET`,
//! `SUPABASE_JWKS`, ... from the environment, an `--env-file`, or flags). Output is for people;
//! `--json` prints one object. Exit status: 0 for a valid token or a clean report, 1 for a
//! refusal or a failed check, 2 for a usage error.
//!
//! Install with `cargo install supagate-cli`. The library part of this crate is what the command
//! is made of; [`run`] is the whole command.
//!
//! # Examples
//!
//! ```
//! let mut out = Vec::new();
//! let mut err = Vec::new();
//! // A token that is not one: refused (exit status 1), the reason the library gives.
//! let code = supagate_cli::run(
//!     ["supagate", "inspect", "--json", "--url", "http://127.0.0.1:54321", "not-a-token"],
//!     &mut std::io::empty(),
//!     &mut out,
//!     &mut err,
//!     supagate_cli::Variables::from_lookup(|_| None),
//! );
//! assert_eq!(code, 1);
//! let report: serde_json::Value = serde_json::from_slice(&out)?;
//! assert_eq!(report["verdict"], "refused");
//! assert_eq!(report["reason"], "malformed");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod decode;
mod doctor;
pub mod export;
mod inspect;
mod mint;
mod session;
mod vars;

pub use vars::parse_env_file;

/// The configuration variables, as the library reads them (re-exported from `supagate`).
pub use supagate::Variables;

use std::collections::BTreeMap;
use std::io::{Read, Write};

use clap::{Args, Parser, Subcommand};

/// Exit status: a valid token, a clean report, a decoded session.
pub const EXIT_OK: u8 = 0;
/// Exit status: a refused token, a failed check, no session found.
pub const EXIT_REFUSED: u8 = 1;
/// Exit status: the command was used wrongly (unknown flag, unreadable file, no project).
pub const EXIT_USAGE: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "supagate",
    version,
    about = "Why is my Supabase token refused? Inspect tokens, check configuration, decode session cookies.",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Decode a token and verify it as the service would; say why it is refused and how to fix it.
    Inspect(InspectArgs),
    /// Check the configuration the service reads (every problem, one line each).
    Doctor(DoctorArgs),
    /// Decode a Cookie header, or a browser's cookie export, into the session it holds.
    Cookie(CookieArgs),
    /// Sign an access token for local testing (a local project or the testkit's keys only).
    Mint(MintArgs),
}

/// Where the project comes from: the environment, an env file, and these flags, in rising
/// precedence.
#[derive(Args, Debug, Default, Clone)]
struct ProjectArgs {
    /// Read variables from this file too (KEY=VALUE lines, as in a `.env` file).
    #[arg(long, value_name = "PATH")]
    env_file: Option<String>,
    /// The project URL (SUPABASE_URL).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// The project's JWK set as JSON (SUPABASE_JWKS).
    #[arg(long, value_name = "JSON")]
    jwks: Option<String>,
    /// Where to fetch the JWK set (SUPABASE_JWKS_URL; `file://` reads a saved set).
    #[arg(long, value_name = "URL")]
    jwks_url: Option<String>,
    /// Third-party issuers as JSON (SUPABASE_THIRD_PARTY_ISSUERS).
    #[arg(long, value_name = "JSON")]
    third_party_issuers: Option<String>,
}

#[derive(Args, Debug)]
struct InspectArgs {
    /// The token (or `Authorization: Bearer …`, quoted or not). Read from standard input when
    /// absent or `-`.
    #[arg(num_args = 0.., value_name = "TOKEN")]
    token: Vec<String>,
    #[command(flatten)]
    project: ProjectArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Admit this Postgres role besides `authenticated` (as `allow_postgres_roles`).
    #[arg(long, value_name = "ROLE")]
    allow_postgres_role: Vec<String>,
    /// Admit tokens issued to this OAuth client (as `allow_oauth_clients`).
    #[arg(long, value_name = "CLIENT_ID")]
    allow_oauth_client: Vec<String>,
    /// Refuse anonymous users, as `Policy::authenticated()` does.
    #[arg(long)]
    refuse_anonymous: bool,
}

#[derive(Args, Debug)]
struct DoctorArgs {
    #[command(flatten)]
    project: ProjectArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Skip the checks that use the network (the JWK set fetch, Postgres).
    #[arg(long)]
    offline: bool,
}

#[derive(Args, Debug)]
struct CookieArgs {
    /// A Cookie header, a browser's JSON export or a cookies.txt; standard input when absent
    /// or `-`.
    #[arg(num_args = 0.., value_name = "COOKIES")]
    cookies: Vec<String>,
    #[command(flatten)]
    project: ProjectArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Print the tokens too (they are redacted otherwise).
    #[arg(long)]
    show_tokens: bool,
}

#[derive(Args, Debug)]
struct MintArgs {
    #[command(flatten)]
    project: ProjectArgs,
    /// The user id (`sub`); a fixed test user by default.
    #[arg(long, value_name = "UUID")]
    sub: Option<String>,
    /// The user's email.
    #[arg(long)]
    email: Option<String>,
    /// Lifetime in seconds (1 hour by default, as Supabase's).
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    ttl: i64,
    /// An anonymous user (`is_anonymous: true`).
    #[arg(long)]
    anonymous: bool,
    /// The authenticator assurance level (`aal1` or `aal2`).
    #[arg(long, value_name = "AAL")]
    aal: Option<String>,
    /// App roles, written to `app_metadata.roles`.
    #[arg(long = "app-role", value_name = "ROLE")]
    app_roles: Vec<String>,
    /// A claim as NAME=JSON (`--claim 'app_metadata={"plan":"pro"}'`); a bare string when not JSON.
    #[arg(long, value_name = "NAME=VALUE")]
    claim: Vec<String>,
    /// With the testkit's keys (no project configured): sign with this algorithm.
    #[arg(long, value_name = "ALG", default_value = "ES256")]
    alg: String,
    /// Print the claims too (JSON), not only the token.
    #[arg(long)]
    json: bool,
}

/// Runs the command line `args` (the program name first): reads a token or cookies from
/// `input` when the arguments give none, writes the report to `out` and problems of use to
/// `err`, and returns the exit status. `env` is the environment: `Variables::from_env()` for
/// the process's own (read once, in the one place the family reads it). The doctor's checks
/// of every variable (secrets in browser variables, misspelled names) see the names `env`
/// can list ([`Variables::names`]): none of a `Variables::from_lookup`, but those of an
/// `--env-file`.
///
/// # Examples
///
/// ```
/// let mut out = Vec::new();
/// let code = supagate_cli::run(["supagate", "--bogus"], &mut std::io::empty(), &mut out, &mut Vec::new(), supagate_cli::Variables::from_lookup(|_| None));
/// assert_eq!(code, supagate_cli::EXIT_USAGE);
/// ```
pub fn run<I, T>(
    args: I,
    input: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
    env: Variables,
) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            // clap quotes what it did not expect: a token, a cookie or a connection string
            // pasted where no argument is taken would reach the terminal (and its
            // scrollback). Quoted arguments that are not flags, and long credential-like
            // words, are cut; help and version text is left as it is.
            let rendered = e.render().to_string();
            let text = if e.use_stderr() {
                redact_words(&redact_quoted(&rendered))
            } else {
                rendered
            };
            let _ = if e.use_stderr() {
                err.write_all(text.as_bytes())
            } else {
                out.write_all(text.as_bytes())
            };
            return code;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(err, "supagate: cannot start: {e}");
            return EXIT_USAGE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Inspect(args) => inspect::run(args, input, out, env).await,
            Command::Doctor(args) => doctor::run(args, out, env).await,
            Command::Cookie(args) => session::run(args, input, out, env),
            Command::Mint(args) => mint::run(args, out, err, env),
        }
    });
    match result {
        Ok(code) => code,
        Err(Usage(message)) => {
            let _ = writeln!(err, "supagate: {message}");
            EXIT_USAGE
        }
    }
}

/// `text` with every long run of token characters (base64url, `.`, `%`, `=`) replaced by
/// `<redacted>`: what a credential looks like, and what no flag or subcommand name does.
fn redact_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.len() >= 24 {
            out.push_str("<redacted>");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || "-_.~+/=%".contains(c) {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// `text` with every single-quoted argument that is not a flag (`--name`, `-x`) and is longer
/// than a word replaced by `'<redacted>'`: clap quotes the arguments it refuses.
fn redact_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut parts = text.split('\'');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    let mut inside = true;
    for part in parts {
        out.push('\'');
        let flag = part.starts_with('-')
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if inside && !flag && part.chars().count() > 12 {
            out.push_str("<redacted>");
        } else {
            out.push_str(part);
        }
        inside = !inside;
    }
    out
}

/// A usage error: the message, for standard error; exit status 2.
#[derive(Debug)]
struct Usage(String);

impl From<std::io::Error> for Usage {
    fn from(e: std::io::Error) -> Self {
        Usage(format!("cannot write: {e}"))
    }
}

/// Reads all of `input` up to `limit` bytes, as text.
fn read_input(input: &mut dyn Read, limit: usize, what: &str) -> Result<String, Usage> {
    let mut buf = Vec::new();
    input
        .take(limit as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Usage(format!("cannot read {what} from standard input: {e}")))?;
    if buf.len() > limit {
        return Err(Usage(format!(
            "{what} on standard input is longer than {limit} bytes"
        )));
    }
    String::from_utf8(buf).map_err(|_| Usage(format!("{what} on standard input is not UTF-8")))
}

/// Unix seconds now.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// "3 minutes", "2 hours", "5 days": a duration in the largest unit that fits.
fn human_duration(secs: i64) -> String {
    let secs = secs.unsigned_abs();
    let (n, unit) = match secs {
        0..120 => (secs, "second"),
        120..7200 => (secs / 60, "minute"),
        7200..172_800 => (secs / 3600, "hour"),
        _ => (secs / 86_400, "day"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// `2026-12-06 17:00:00 UTC` for Unix seconds (the proleptic Gregorian calendar).
fn utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A JSON report's members in a stable order.
type Object = BTreeMap<&'static str, serde_json::Value>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_people_write_them() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_798_761_600), "2027-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(-300), "5 minutes");
        assert_eq!(human_duration(7200), "2 hours");
        assert_eq!(human_duration(86_400 * 400), "400 days");
        // Extremes neither panic nor overflow.
        let _ = utc(i64::MAX / 2);
        let _ = human_duration(i64::MIN);
        let _ = utc(i64::MAX);
        let _ = utc(i64::MIN);
    }

    #[test]
    fn long_words_are_cut_from_usage_errors() {
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJlLW9mLWEtdG9rZW4";
        let got = redact_words(&format!("error: unexpected argument '{token}' found"));
        assert_eq!(got, "error: unexpected argument '<redacted>' found");
        assert_eq!(
            redact_words("--allow-postgres-role"),
            "--allow-postgres-role"
        );
        let pasted = "error: unexpected argument 'DATABASE_URL=postgresql://postgres.ab:S3cr3t!pw@aws-0.pooler.supabase.com:6543/postgres' found";
        let got = redact_words(&redact_quoted(pasted));
        assert!(
            !got.contains("S3cr3t") && got.contains("'<redacted>'"),
            "{got}"
        );
        assert_eq!(
            redact_quoted("unexpected argument '--bogus-flag-name' found; tip: '--' and 'x'"),
            "unexpected argument '--bogus-flag-name' found; tip: '--' and 'x'"
        );
    }
}
