//! `supagate cookie` on cookies the real `@supabase/ssr` 0.12.7 writes while the test runs
//! (`interop/node/check.mjs`, as the cookie crate's interop test drives it): small, chunked
//! and unicode sessions, in both encodings and tokens-only. The session decoded is the one
//! ssr stored, and its tokens are redacted unless asked for.
//!
//! Needs Node and `npm ci` in `interop/node`; runs when `SUPAGATE_INTEROP=1` (as `.ci/test`
//! sets it), and fails loudly then if Node or the packages are missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

const URL: &str = "https://abcdefghijklmnopqrst.supabase.co";
const SUB: &str = "3f1c0f0e-6a8b-4b1e-9a57-0c2d8f5e7a11";

fn session(bio: &str, now: u64) -> (String, String, String) {
    use base64::Engine as _;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let claims = json!({"sub": SUB, "aud": "authenticated", "exp": now + 3600, "iat": now, "role": "authenticated", "email": "alice@example.com"});
    let access = format!(
        "{}.{}.c2lnbmF0dXJlLW9mLWEtdGVzdC10b2tlbg",
        b64(&json!({"alg": "ES256", "kid": "k", "typ": "JWT"})),
        b64(&claims)
    );
    let refresh = "ALHg8qR8PU5fipsMHS4_SlsBxYBDHr3AXRVhp6BcLrHOtXhK0xk".to_owned();
    let json = json!({
        "access_token": access, "token_type": "bearer", "expires_in": 3600,
        "expires_at": now + 3600, "refresh_token": refresh,
        "user": {
            "id": SUB, "aud": "authenticated", "role": "authenticated", "email": "alice@example.com",
            "phone": "", "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": {"bio": bio}, "identities": [],
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "is_anonymous": false
        }
    });
    (json.to_string(), access, refresh)
}

fn cookie(args: &[&str], input: &str) -> (u8, Value, String) {
    let mut argv = vec!["cookie", "--json"];
    argv.extend_from_slice(args);
    let ran = common::run(&argv, input, &[]);
    assert!(ran.err.is_empty(), "{}", ran.err);
    (ran.code, serde_json::from_str(&ran.out).unwrap(), ran.out)
}

#[test]
fn cookies_the_real_supabase_ssr_writes_decode_to_its_session() {
    if std::env::var_os("SUPAGATE_INTEROP").as_deref() != Some("1".as_ref()) {
        eprintln!("skipped: set SUPAGATE_INTEROP=1 after `npm ci` in interop/node (.ci/test does)");
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/node");
    assert!(
        dir.join("node_modules/@supabase/ssr").is_dir(),
        "run `npm ci` in {}",
        dir.display()
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sessions = [
        ("small", session("short", now)),
        ("two-chunks", session(&"b".repeat(2500), now)),
        ("five-chunks", session(&"b".repeat(11_000), now)),
        ("unicode", session(&"héllo wörld 漢字 🦀 ".repeat(150), now)),
    ];
    let mut writes = Vec::new();
    let mut expected = Vec::new();
    for (id, (json, access, refresh)) in &sessions {
        for encoding in ["base64url", "raw"] {
            for encode in ["user-and-tokens", "tokens-only"] {
                writes.push(json!({"id": format!("{id}-{encoding}-{encode}"), "encoding": encoding, "encode": encode, "session_json": json}));
                expected.push((format!("{id}-{encoding}-{encode}"), access, refresh, encode));
            }
        }
    }
    let input = json!({"url": URL, "reads": [], "writes": writes});
    let fixture =
        std::env::temp_dir().join(format!("supagate-cli-interop-{}.json", std::process::id()));
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
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();

    let mut chunked = 0;
    for (i, (id, access, refresh, encode)) in expected.iter().enumerate() {
        let w = &result["writes"][i];
        assert_eq!(w["id"], id.as_str());
        let cookies = w["cookies"].as_array().unwrap();
        let header: Vec<String> = cookies
            .iter()
            .map(|c| {
                format!(
                    "{}={}",
                    c["name"].as_str().unwrap(),
                    c["wire"].as_str().unwrap()
                )
            })
            .collect();
        let header = header.join("; ");
        if cookies.len() > 1 {
            chunked += 1;
        }
        // Without being told the project: the name is `sb-<ref>-auth-token`.
        let (code, report, text) = cookie(&[], &header);
        assert_eq!(code, 0, "{id}: {text}");
        let s = &report["sessions"][0];
        assert_eq!(s["chunks"].as_array().unwrap().len(), cookies.len(), "{id}");
        assert_eq!(s["session"]["user_id"], SUB, "{id}");
        assert_eq!(s["session"]["expires_at"], now + 3600, "{id}");
        assert_eq!(
            s["session"]["has_user"],
            *encode == "user-and-tokens",
            "{id}: {text}"
        );
        assert!(
            !text.contains(access.as_str()) && !text.contains(refresh.as_str()),
            "{id}: a token was printed"
        );
        // Asked for, the tokens are the ones ssr stored.
        let (_, report, _) = cookie(&["--show-tokens", "--url", URL], &header);
        let s = &report["sessions"][0]["session"];
        assert_eq!(s["access_token"], access.as_str(), "{id}");
        assert_eq!(s["refresh_token"], refresh.as_str(), "{id}");
    }
    assert!(
        chunked >= 6,
        "{chunked} chunked sessions: the sessions must chunk"
    );
}
