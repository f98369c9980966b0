//! Interop with the real `@supabase/ssr` 0.12.7 running in Node (`interop/node/`).
//!
//! Cookies our writer produces for small, 2-chunk, 5-chunk and unicode sessions, in both
//! encodings, are read by `@supabase/ssr`'s `createServerClient` (`getSession()` must return the
//! same session); cookies `@supabase/ssr` writes for the same sessions are read by our reader
//! (the same JSON text) and must be byte-identical to what our writer produces.
//!
//! Needs Node and `npm ci` in `interop/node`; runs when `SUPAGATE_INTEROP=1` (as `.ci/test`
//! sets it), and fails loudly then if Node or the packages are missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue, header::COOKIE};
use serde_json::{Value, json};
use supagate_cookie::{CookieName, CookieOptions, Encoding, Session, SessionReader, SessionWriter};

const URL: &str = "https://abcdefghijklmnopqrst.supabase.co";
const KEY: &str = "sb-abcdefghijklmnopqrst-auth-token";

fn session_json(bio: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // A JWT-shaped access token (getSession does not verify it).
    let claims = json!({"sub": "3f1c0f0e-6a8b-4b1e-9a57-0c2d8f5e7a11", "aud": "authenticated", "exp": now + 3600, "iat": now, "role": "authenticated"});
    let b64 = |v: &Value| base64_url(v.to_string().as_bytes());
    let access = format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(&json!({"alg":"ES256","kid":"k","typ":"JWT"})),
        b64(&claims)
    );
    let session = json!({
        "access_token": access,
        "token_type": "bearer",
        "expires_in": 3600,
        "expires_at": now + 3600,
        "refresh_token": "ALHg8qR8PU5fipsMHS4_SlsBxYBDHr3AXRVhp6BcLrHOtXhK0xk",
        "user": {
            "id": "3f1c0f0e-6a8b-4b1e-9a57-0c2d8f5e7a11", "aud": "authenticated", "role": "authenticated",
            "email": "alice@example.com", "phone": "",
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": {"bio": bio},
            "identities": [], "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "is_anonymous": false
        }
    });
    serde_json::to_string(&session).unwrap()
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn writer(encoding: Encoding) -> SessionWriter {
    SessionWriter::new(CookieName::custom(KEY).unwrap(), CookieOptions::default())
        .unwrap()
        .with_encoding(encoding)
}

fn pairs_of(values: &[HeaderValue]) -> Vec<String> {
    values
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect()
}

#[test]
fn real_supabase_ssr_reads_ours_and_we_read_theirs() {
    let sessions = [
        ("small", session_json("short")),
        ("two-chunks", session_json(&"b".repeat(2500))),
        ("five-chunks", session_json(&"b".repeat(11_000))),
        ("unicode", session_json(&"héllo wörld 漢字 🦀 ".repeat(150))),
    ];
    let mut reads = Vec::new();
    let mut writes = Vec::new();
    let mut ours = Vec::new();
    for (id, json) in &sessions {
        for (encoding, label) in [(Encoding::Base64Url, "base64url"), (Encoding::Raw, "raw")] {
            let case_id = format!("{id}-{label}");
            let set = writer(encoding)
                .set(&Session::from_json(json).unwrap(), &HeaderMap::new())
                .unwrap();
            let pairs = pairs_of(&set);
            if *id == "five-chunks" && encoding == Encoding::Base64Url {
                assert_eq!(
                    pairs.len(),
                    5,
                    "the five-chunk session must really be five chunks"
                );
            }
            reads
                .push(json!({"id": case_id, "encoding": label, "cookie_header": pairs.join("; ")}));
            writes.push(json!({"id": case_id, "encoding": label, "session_json": json}));
            ours.push((case_id, json.clone(), pairs));
        }
    }
    let input = json!({"url": URL, "reads": reads, "writes": writes});
    let Some(result) = run_node(&input) else {
        return;
    };

    let reader = SessionReader::new(CookieName::custom(KEY).unwrap());
    for (i, (id, json, our_pairs)) in ours.iter().enumerate() {
        // @supabase/ssr reads what we wrote.
        let r = &result["reads"][i];
        assert_eq!(r["id"], id.as_str());
        assert!(r["error"].is_null(), "{id}: {}", r["error"]);
        let expected: Value = serde_json::from_str(json).unwrap();
        assert_eq!(
            r["session"], expected,
            "{id}: @supabase/ssr read a different session"
        );

        // We read what @supabase/ssr wrote, and wrote exactly the same cookies.
        let w = &result["writes"][i];
        let their_pairs: Vec<String> = w["cookies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                format!(
                    "{}={}",
                    c["name"].as_str().unwrap(),
                    c["wire"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(
            &their_pairs, our_pairs,
            "{id}: cookies differ from @supabase/ssr's"
        );
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_str(&their_pairs.join("; ")).unwrap(),
        );
        let s = reader.read(&h).unwrap().unwrap();
        assert_eq!(
            s.expose_json(),
            json.as_str(),
            "{id}: we read a different session"
        );
    }
}

/// Runs `interop/node/check.mjs` on `input`; `None` when interop is not enabled.
fn run_node(input: &Value) -> Option<Value> {
    if std::env::var("SUPAGATE_INTEROP").as_deref() != Ok("1") {
        eprintln!("skipped: set SUPAGATE_INTEROP=1 after `npm ci` in interop/node (.ci/test does)");
        return None;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/node");
    assert!(
        dir.join("node_modules/@supabase/ssr").is_dir(),
        "run `npm ci` in {}",
        dir.display()
    );
    // One file per call: the two tests of this file run in parallel.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let fixture = std::env::temp_dir().join(format!(
        "supagate-interop-{}-{}.json",
        std::process::id(),
        CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::write(&fixture, input.to_string()).unwrap();
    let output = Command::new("node")
        .arg("check.mjs")
        .arg(&fixture)
        .current_dir(&dir)
        .output()
        .expect("node runs");
    let _ = std::fs::remove_file(&fixture);
    assert!(
        output.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(serde_json::from_slice(&output.stdout).unwrap())
}

/// `(name, has Domain)` of each deletion we write, in order.
fn our_deletions(values: &[HeaderValue]) -> Vec<(String, bool)> {
    values
        .iter()
        .map(|v| {
            let s = v.to_str().unwrap();
            assert!(s.contains("Max-Age=0"), "{s}");
            let name = s.split('=').next().unwrap().to_owned();
            (name, s.contains("; Domain="))
        })
        .collect()
}

/// The three behaviours where 0.1 differed from `@supabase/ssr` without a security reason:
/// whitespace inside a `base64-` value is skipped; clearing a request with no session cookie
/// writes nothing; with a `Domain`, every host-only deletion comes before every `Domain` one.
#[test]
fn real_supabase_ssr_parity_whitespace_empty_clear_and_domain_order() {
    let json = session_json("short");
    let small = pairs_of(
        &writer(Encoding::Base64Url)
            .set(&Session::from_json(&json).unwrap(), &HeaderMap::new())
            .unwrap(),
    );
    let chunked_json = session_json(&"b".repeat(2500));
    let chunked = pairs_of(
        &writer(Encoding::Base64Url)
            .set(
                &Session::from_json(&chunked_json).unwrap(),
                &HeaderMap::new(),
            )
            .unwrap(),
    );
    assert_eq!(chunked.len(), 2);
    // Spaces and a tab inside the value (the ends are trimmed by every cookie parser).
    let (name, value) = small[0].split_once('=').unwrap();
    let spaced = format!(
        "{name}={} {} \t{}",
        &value[..20],
        &value[20..40],
        &value[40..]
    );
    let clears = [
        ("nothing", String::new(), None),
        ("unrelated", "theme=dark".to_owned(), None),
        ("one", small.join("; "), None),
        ("chunks-domain", chunked.join("; "), Some("example.com")),
        ("one-domain", small.join("; "), Some("example.com")),
    ];
    let input = json!({
        "url": URL,
        "reads": [{"id": "spaced", "encoding": "base64url", "cookie_header": spaced}],
        "writes": [],
        "clears": clears.iter().map(|(id, h, d)| json!({"id": id, "cookie_header": h, "domain": d})).collect::<Vec<_>>(),
    });
    let Some(result) = run_node(&input) else {
        return;
    };

    // Whitespace: they read the session, and so do we, the same.
    let r = &result["reads"][0];
    assert!(r["error"].is_null(), "{}", r["error"]);
    assert_eq!(r["session"], serde_json::from_str::<Value>(&json).unwrap());
    let mut h = HeaderMap::new();
    h.append(COOKIE, HeaderValue::from_str(&spaced).unwrap());
    let reader = SessionReader::new(CookieName::custom(KEY).unwrap());
    assert_eq!(reader.read(&h).unwrap().unwrap().expose_json(), json);

    // Clears: the same deletions, in the same order.
    for (i, (id, header, domain)) in clears.iter().enumerate() {
        let theirs: Vec<(String, bool)> = result["clears"][i]["cookies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                assert_eq!(c["max_age"], 0, "{id}");
                (
                    c["name"].as_str().unwrap().to_owned(),
                    !c["domain"].is_null(),
                )
            })
            .collect();
        let mut options = CookieOptions::default();
        if let Some(d) = domain {
            options = options.with_domain(*d);
        }
        let ours = SessionWriter::new(CookieName::custom(KEY).unwrap(), options).unwrap();
        let mut request = HeaderMap::new();
        if !header.is_empty() {
            request.append(COOKIE, HeaderValue::from_str(header).unwrap());
        }
        let our = our_deletions(&ours.clear(&request).unwrap());
        assert_eq!(our, theirs, "{id}: deletions differ from @supabase/ssr's");
    }
}

/// The JSON of a session without its `user`, as `@supabase/ssr` stores it with
/// `cookies.encode: "tokens-only"` (keys in the order they came).
fn tokens_only(json: &str) -> String {
    Session::from_json(json)
        .unwrap()
        .tokens_only_json()
        .to_string()
}

/// `cookies.encode: "tokens-only"` both ways: the real `@supabase/ssr` reads the cookies our
/// tokens-only writer produces (with a tokens-only client and with a default one), writes
/// byte-identical ones for the same session, and we read theirs; and `clearAuthCookiesAtScopes`
/// writes the deletions our `clear_at_scopes` writes (ours add `HttpOnly; Secure`, as every
/// cookie supagate writes).
#[test]
fn real_supabase_ssr_tokens_only_both_ways_and_the_scoped_clear() {
    use supagate_cookie::CookieScope;
    let sessions = [
        ("small", session_json("short")),
        ("big-token", {
            // The access token itself large (an OAuth profile in user_metadata): tokens-only
            // still needs chunks.
            let mut v: Value = serde_json::from_str(&session_json("short")).unwrap();
            let access = v["access_token"].as_str().unwrap().to_owned();
            v["access_token"] = format!("{access}{}", "A".repeat(8_000)).into();
            v.to_string()
        }),
        ("unicode", session_json(&"héllo 漢字 🦀 ".repeat(300))),
    ];
    let tokens_writer = |encoding| writer(encoding).with_tokens_only(true);
    let mut reads = Vec::new();
    let mut writes = Vec::new();
    let mut ours = Vec::new();
    for (id, json) in &sessions {
        for (encoding, label) in [(Encoding::Base64Url, "base64url"), (Encoding::Raw, "raw")] {
            let pairs = pairs_of(
                &tokens_writer(encoding)
                    .set(&Session::from_json(json).unwrap(), &HeaderMap::new())
                    .unwrap(),
            );
            for encode in ["tokens-only", "user-and-tokens"] {
                reads.push(
                    json!({"id": format!("{id}-{label}-{encode}"), "encoding": label,
                    "encode": encode, "cookie_header": pairs.join("; ")}),
                );
            }
            writes.push(json!({"id": format!("{id}-{label}"), "encoding": label,
                "encode": "tokens-only", "session_json": json}));
            ours.push((format!("{id}-{label}"), json.clone(), pairs));
        }
    }
    // A jar with chunks (`.5` counts, `.01` does not), a PKCE verifier and another cookie.
    let jar =
        format!("{KEY}.0=a; {KEY}.1=b; {KEY}.5=c; {KEY}.01=d; {KEY}-code-verifier=v; theme=dark");
    let scopes = json!([{"domain": ".example.com", "path": "/"}, {"path": "/app"}, {"domain": "example.com"}]);
    let input = json!({
        "url": URL, "reads": reads, "writes": writes, "clears": [],
        "scoped": [
            {"id": "jar", "cookie_header": jar, "storage_key": KEY, "scopes": scopes},
            {"id": "no-session", "cookie_header": "theme=dark", "storage_key": KEY, "scopes": scopes},
        ],
    });
    let Some(result) = run_node(&input) else {
        return;
    };

    let reader = SessionReader::new(CookieName::custom(KEY).unwrap());
    for (i, (id, json, our_pairs)) in ours.iter().enumerate() {
        let expected: Value = serde_json::from_str(&tokens_only(json)).unwrap();
        assert!(expected.get("user").is_none());
        for j in 0..2 {
            let r = &result["reads"][2 * i + j];
            assert!(r["error"].is_null(), "{}: {}", r["id"], r["error"]);
            let mut session = r["session"].clone();
            // A default client has no user for such a cookie (`undefined`, dropped by JSON).
            assert!(session.get("user").is_none(), "{}", r["id"]);
            session.as_object_mut().unwrap().remove("user");
            assert_eq!(session, expected, "{}: ssr read another session", r["id"]);
        }
        let w = &result["writes"][i];
        let theirs: Vec<String> = w["cookies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                format!(
                    "{}={}",
                    c["name"].as_str().unwrap(),
                    c["wire"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(
            &theirs, our_pairs,
            "{id}: tokens-only cookies differ from @supabase/ssr's"
        );
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_str(&theirs.join("; ")).unwrap());
        let s = reader.read(&h).unwrap().unwrap();
        assert_eq!(s.expose_json(), tokens_only(json), "{id}");
        assert!(!s.has_user());
    }

    // The scoped clear.
    let scopes_ours = [
        CookieScope::domain(".example.com").with_path("/"),
        CookieScope::path("/app"),
        CookieScope::domain("example.com"),
    ];
    let w = writer(Encoding::Base64Url);
    for (i, header) in [jar.as_str(), "theme=dark"].iter().enumerate() {
        let mut request = HeaderMap::new();
        request.append(COOKIE, HeaderValue::from_str(header).unwrap());
        let ours: Vec<String> = w
            .clear_at_scopes(&request, &scopes_ours)
            .unwrap()
            .iter()
            .map(|v| v.to_str().unwrap().replace("; HttpOnly; Secure", ""))
            .collect();
        let theirs: Vec<String> = result["scoped"][i]["set_cookies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ours, theirs, "{header}");
    }
    assert_eq!(
        result["scoped"][0]["set_cookies"].as_array().unwrap().len(),
        9
    );
}
