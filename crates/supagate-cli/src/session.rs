//! `supagate cookie`: the session a `Cookie` header or a browser's export holds.

use std::io::{Read, Write};

use serde_json::{Value, json};
use supagate::{CookieName, RequestError as _, SessionReader};

use crate::decode::Unverified;
use crate::export::cookie_pairs;
use crate::vars::Vars;
use crate::{CookieArgs, EXIT_OK, EXIT_REFUSED, Object, Usage, human_duration, unix_now, utc};

/// The most bytes of cookies read (a browser sends at most a few tens of KiB).
const MAX_COOKIES: usize = 1024 * 1024;

pub(crate) fn run(
    args: CookieArgs,
    input: &mut dyn Read,
    out: &mut dyn Write,
    env: supagate::Variables,
) -> Result<u8, Usage> {
    let text = match args.cookies.as_slice() {
        [] => crate::read_input(input, MAX_COOKIES, "the cookies")?,
        [one] if one == "-" => crate::read_input(input, MAX_COOKIES, "the cookies")?,
        words => words.join(" "),
    };
    let vars = Vars::new(&args.project, env)?;
    let pairs = cookie_pairs(&text);
    let names = match vars.get("SUPABASE_URL") {
        Some(url) => vec![
            CookieName::from_supabase_url(url.trim())
                .map_err(|e| Usage(format!("SUPABASE_URL gives no cookie name: {e}")))?,
        ],
        None => storage_keys(&pairs),
    };
    let now = unix_now();
    let mut found = Vec::new();
    let mut code = EXIT_REFUSED;
    for name in &names {
        let report = one(name, &pairs, now, args.show_tokens);
        if report.get("verdict").and_then(Value::as_str) == Some("valid") {
            code = EXIT_OK;
        }
        found.push(report);
    }
    let mut whole = Object::new();
    whole.insert("cookies_read", json!(pairs.len()));
    if found.is_empty() {
        whole.insert("verdict", json!("refused"));
        whole.insert("reason", json!("missing_credentials"));
        whole.insert(
            "fix",
            json!(
                "no Supabase session cookie (sb-<project-ref>-auth-token, or its .0, .1 chunks) in the input: copy the Cookie header of a request to the site after signing in, or export the site's cookies"
            ),
        );
    } else {
        whole.insert(
            "verdict",
            json!(if code == EXIT_OK { "valid" } else { "refused" }),
        );
    }
    whole.insert("sessions", Value::Array(found));
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &whole)
            .map_err(|e| Usage(format!("cannot write: {e}")))?;
        writeln!(out)?;
    } else {
        write_human(out, &whole)?;
    }
    Ok(code)
}

/// The session cookie names in `pairs` (`sb-<ref>-auth-token`, chunked or not).
fn storage_keys(pairs: &[(String, String)]) -> Vec<CookieName> {
    let mut names: Vec<String> = Vec::new();
    for (name, _) in pairs {
        let base = match name.rsplit_once('.') {
            Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
            _ => name.as_str(),
        };
        if base.starts_with("sb-")
            && base.ends_with("-auth-token")
            && !names.iter().any(|n| n == base)
        {
            names.push(base.to_owned());
        }
    }
    names
        .into_iter()
        .filter_map(|n| CookieName::custom(n).ok())
        .collect()
}

fn one(name: &CookieName, pairs: &[(String, String)], now: i64, show: bool) -> Value {
    let mut chunks = Vec::new();
    let mut header = String::new();
    for (n, v) in pairs {
        if name.covers(n.as_bytes()) {
            chunks.push(json!({"name": n, "bytes": v.len()}));
            if !header.is_empty() {
                header.push_str("; ");
            }
            header.push_str(&format!("{n}={v}"));
        }
    }
    // The encoding is the first chunk's (`.0`), or the unchunked cookie's.
    let first = format!("{}.0", name.as_str());
    let encoding = pairs
        .iter()
        .find(|(n, _)| n == name.as_str() || *n == first)
        .map(|(_, v)| {
            if v.starts_with("base64-") {
                "base64"
            } else {
                "raw"
            }
        });
    let mut r = Object::new();
    r.insert("name", json!(name.as_str()));
    r.insert("chunks", Value::Array(chunks));
    r.insert("encoding", json!(encoding));
    let total: usize = pairs
        .iter()
        .filter(|(n, _)| name.covers(n.as_bytes()))
        .map(|(_, v)| v.len())
        .sum();
    r.insert("bytes", json!(total));
    let reader = SessionReader::new(name.clone());
    match reader.read_fields(&[header.as_bytes()]) {
        Ok(Some(session)) => {
            let access = session.access_token().expose();
            let d = Unverified::decode(access);
            let user: Value = serde_json::from_str::<Value>(session.expose_json())
                .ok()
                .and_then(|v| v.get("user").cloned())
                .unwrap_or(Value::Null);
            let mut s = Object::new();
            s.insert(
                "user_id",
                json!(
                    d.claim_str("sub")
                        .or_else(|| user.get("id").and_then(Value::as_str))
                ),
            );
            s.insert(
                "email",
                json!(
                    d.claim_str("email")
                        .or_else(|| user.get("email").and_then(Value::as_str))
                ),
            );
            s.insert("session_id", json!(d.claim_str("session_id")));
            s.insert("role", json!(d.claim_str("role")));
            s.insert("issuer", json!(d.claim_str("iss")));
            s.insert("alg", json!(d.header_str("alg")));
            s.insert("kid", json!(d.header_str("kid")));
            s.insert("expires_at", json!(session.expires_at()));
            s.insert(
                "expires_in",
                json!(session.expires_at().map(|e| e.saturating_sub(now))),
            );
            s.insert("has_user", json!(session.has_user()));
            s.insert("access_token_bytes", json!(access.len()));
            s.insert(
                "refresh_token_bytes",
                json!(session.refresh_token().expose().len()),
            );
            if show {
                s.insert("access_token", json!(access));
                s.insert("refresh_token", json!(session.refresh_token().expose()));
            }
            r.insert("session", json!(s));
            r.insert("verdict", json!("valid"));
            r.insert("reason", Value::Null);
            r.insert("fix", Value::Null);
        }
        Ok(None) => {
            r.insert("verdict", json!("refused"));
            r.insert("reason", json!("missing_credentials"));
            r.insert(
                "fix",
                json!(format!(
                    "no `{}` cookie (or its chunks) in the input",
                    name.as_str()
                )),
            );
        }
        Err(e) => {
            r.insert("verdict", json!("refused"));
            r.insert("reason", json!(e.reason()));
            r.insert("message", json!(e.to_string()));
            r.insert("fix", json!(cookie_fix(e.reason())));
        }
    }
    json!(r)
}

fn cookie_fix(reason: &str) -> &'static str {
    match reason {
        "session_too_large" => {
            "the session is larger than a reader accepts: keep user metadata small, or write tokens-only cookies (COOKIE_ENCODE=tokens-only)"
        }
        "session_too_many_chunks" => {
            "more chunks than a session needs: stale chunks were left behind by a writer that did not delete them; sign out and in again"
        }
        "session_ambiguous" => {
            "both an unchunked cookie and chunks are present, so the session is ambiguous: sign out and in again (a writer left the other form behind)"
        }
        _ => {
            "the cookie is not a session @supabase/ssr wrote: sign in again; if it was written by hand, compare with `base64-<base64url of the session JSON>`"
        }
    }
}

fn write_human(out: &mut dyn Write, whole: &Object) -> std::io::Result<()> {
    let sessions = whole
        .get("sessions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if sessions.is_empty() {
        let fix = whole.get("fix").and_then(Value::as_str).unwrap_or_default();
        writeln!(out, "no session: {fix}")?;
        return Ok(());
    }
    for r in sessions {
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let chunks: Vec<String> = r
            .get("chunks")
            .and_then(Value::as_array)
            .map(|c| {
                c.iter()
                    .map(|c| {
                        format!(
                            "{} ({} bytes)",
                            s(c, "name").unwrap_or_default(),
                            c.get("bytes").and_then(Value::as_u64).unwrap_or(0)
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        writeln!(
            out,
            "cookie   {}: {} chunk{}, {} encoded: {}",
            s(&r, "name").unwrap_or_default(),
            chunks.len(),
            if chunks.len() == 1 { "" } else { "s" },
            s(&r, "encoding").unwrap_or_else(|| "?".to_owned()),
            chunks.join(", ")
        )?;
        match r.get("session") {
            Some(sess) => {
                writeln!(
                    out,
                    "session  user {} ({}), role {}, session {}",
                    s(sess, "user_id").unwrap_or_else(|| "?".into()),
                    s(sess, "email").unwrap_or_else(|| "no email".into()),
                    s(sess, "role").unwrap_or_else(|| "?".into()),
                    s(sess, "session_id").unwrap_or_else(|| "?".into()),
                )?;
                if let Some(exp) = sess.get("expires_at").and_then(Value::as_i64) {
                    let left = sess.get("expires_in").and_then(Value::as_i64).unwrap_or(0);
                    let when = if left >= 0 {
                        format!("in {}", human_duration(left))
                    } else {
                        format!(
                            "{} ago; the next request refreshes it",
                            human_duration(left)
                        )
                    };
                    writeln!(out, "expires  {} ({when})", utc(exp))?;
                }
                writeln!(
                    out,
                    "tokens   access {} bytes ({}, kid {}, issuer {}), refresh {} bytes{}",
                    sess.get("access_token_bytes")
                        .and_then(Value::as_u64)
                        .unwrap_or(0),
                    s(sess, "alg").unwrap_or_else(|| "?".into()),
                    s(sess, "kid").unwrap_or_else(|| "none".into()),
                    s(sess, "issuer").unwrap_or_else(|| "?".into()),
                    sess.get("refresh_token_bytes")
                        .and_then(Value::as_u64)
                        .unwrap_or(0),
                    if sess.get("access_token").is_some() {
                        ""
                    } else {
                        "; redacted (--show-tokens prints them)"
                    }
                )?;
                if let (Some(a), Some(rt)) = (s(sess, "access_token"), s(sess, "refresh_token")) {
                    writeln!(out, "access   {a}")?;
                    writeln!(out, "refresh  {rt}")?;
                }
                writeln!(
                    out,
                    "stored   {}",
                    if sess.get("has_user").and_then(Value::as_bool) == Some(true) {
                        "the whole session (tokens and user)"
                    } else {
                        "tokens only"
                    }
                )?;
            }
            None => {
                writeln!(
                    out,
                    "refused  {} (reason `{}`); {}",
                    s(&r, "message").unwrap_or_else(|| "no session".into()),
                    s(&r, "reason").unwrap_or_default(),
                    s(&r, "fix").unwrap_or_default()
                )?;
            }
        }
    }
    Ok(())
}
