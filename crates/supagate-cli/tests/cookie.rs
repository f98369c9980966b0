//! `supagate cookie` on the real @supabase/ssr corpus: the session, its chunks and its user, as a
//! Cookie header, a browser's JSON export and a cookies.txt; tokens redacted unless asked.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;

use serde_json::{Value, json};

const URL: &str = "https://abcdefghijklmnopqrst.supabase.co";

fn corpus(prefix: &str) -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/supabase-ssr/cases");
    let mut cases: Vec<Value> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with(prefix))
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect();
    cases.sort_by_key(|c| c["id"].as_str().unwrap().to_owned());
    cases
}

fn cookie(args: &[&str], input: &str) -> (u8, String) {
    let mut argv = vec!["cookie"];
    argv.extend_from_slice(args);
    let ran = common::run(&argv, input, &[]);
    assert!(ran.err.is_empty(), "{}", ran.err);
    (ran.code, ran.out)
}

fn pairs(header: &str) -> Vec<(String, String)> {
    header
        .split("; ")
        .filter_map(|p| p.split_once('='))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn every_session_ssr_wrote_decodes_in_every_export_form() {
    let mut checked = 0;
    for case in corpus("w") {
        let id = case["id"].as_str().unwrap();
        let header = case["cookie_header"].as_str().unwrap();
        let project: &[&str] = if id.starts_with("w07") {
            &[]
        } else {
            &["--url", URL]
        };
        let access = case["expected_access_token"].as_str().unwrap();
        let refresh = case["expected_refresh_token"].as_str().unwrap();
        let json_export = Value::Array(
            pairs(header)
                .into_iter()
                .map(|(n, v)| json!({"name": n, "value": v, "domain": "localhost", "path": "/", "httpOnly": true}))
                .collect(),
        )
        .to_string();
        let netscape: String = pairs(header)
            .into_iter()
            .map(|(n, v)| format!("#HttpOnly_localhost\tFALSE\t/\tTRUE\t0\t{n}\t{v}\n"))
            .collect();
        let forms = [format!("Cookie: {header}"), json_export, netscape];
        for input in &forms {
            if id.starts_with("w07") {
                // A custom cookie name: neither given nor `sb-*-auth-token`, so nothing is found.
                let (code, out) = cookie(&["--json"], input);
                assert_eq!(code, 1, "{id}: {out}");
                continue;
            }
            let mut args = vec!["--json"];
            args.extend_from_slice(project);
            let (code, out) = cookie(&args, input);
            assert_eq!(code, 0, "{id}: {out}");
            assert!(
                !out.contains(access) && !out.contains(&format!("\"{refresh}\"")),
                "{id}: a token was printed"
            );
            let report: Value = serde_json::from_str(&out).unwrap();
            let s = &report["sessions"][0];
            assert_eq!(report["verdict"], "valid", "{id}");
            assert_eq!(
                s["chunks"].as_array().unwrap().len() as u64,
                case["chunk_count"].as_u64().unwrap(),
                "{id}"
            );
            assert_eq!(
                s["session"]["user_id"], case["access_token_claims"]["sub"],
                "{id}"
            );
            assert_eq!(
                s["session"]["expires_at"], case["expected_session"]["expires_at"],
                "{id}"
            );
            assert_eq!(
                s["session"]["access_token_bytes"].as_u64().unwrap() as usize,
                access.len(),
                "{id}"
            );
            assert_eq!(
                s["encoding"],
                if header.contains("=base64-") {
                    "base64"
                } else {
                    "raw"
                },
                "{id}"
            );
            // Asked for, the tokens are the ones ssr stored.
            args.push("--show-tokens");
            let (_, out) = cookie(&args, input);
            let report: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(
                report["sessions"][0]["session"]["access_token"], access,
                "{id}"
            );
            assert_eq!(
                report["sessions"][0]["session"]["refresh_token"], refresh,
                "{id}"
            );
            checked += 1;
        }
        // Found without being told the project (the name is `sb-<ref>-auth-token`).
        if !id.starts_with("w07") {
            let (code, _) = cookie(&["--json"], header);
            assert_eq!(code, 0, "{id}");
        }
    }
    assert!(checked >= 30, "{checked}");
}

#[test]
fn sessions_ssr_does_not_read_are_never_valid_here() {
    for case in corpus("r") {
        let id = case["id"].as_str().unwrap();
        let (code, out) = cookie(
            &["--json", "--url", URL],
            case["cookie_header"].as_str().unwrap(),
        );
        let report: Value = serde_json::from_str(&out).unwrap();
        if case["result"]["session_is_null"] == true {
            assert_eq!(code, 1, "{id}: more lenient than @supabase/ssr: {out}");
        }
        if code == 1 {
            let s = &report["sessions"][0];
            assert!(
                s["reason"].as_str().is_some_and(|r| !r.is_empty()),
                "{id}: {out}"
            );
            assert!(
                s["fix"].as_str().is_some_and(|f| f.len() > 10),
                "{id}: {out}"
            );
        }
    }
}

#[test]
fn text_output_names_chunks_user_and_expiry() {
    let case = corpus("w03").remove(0);
    let (code, out) = cookie(&["--url", URL], case["cookie_header"].as_str().unwrap());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 chunks"), "{out}");
    assert!(
        out.contains(case["access_token_claims"]["sub"].as_str().unwrap()),
        "{out}"
    );
    assert!(out.contains("expires  "), "{out}");
    assert!(out.contains("redacted"), "{out}");
    assert!(!out.contains(case["expected_access_token"].as_str().unwrap()));
}

#[test]
fn no_session_and_bad_input() {
    for input in [
        "",
        "a=b; c=d",
        "[]",
        "{\"cookies\":[]}",
        "sb-x-auth-token.0=base64-%%%",
        "\u{0}",
    ] {
        let (code, out) = cookie(&["--json"], input);
        assert_eq!(code, 1, "{input:?}: {out}");
        let report: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(report["verdict"], "refused", "{input:?}");
    }
    // A chunk that does not decode: the library's reason.
    let (code, out) = cookie(&["--json"], "sb-abcdefghijklmnopqrst-auth-token=base64-!!!");
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["sessions"][0]["reason"], "session_bad_encoding",
        "{out}"
    );
}

#[test]
fn extreme_expiry_and_export_order() {
    use base64::Engine as _;
    // expires_at at i64::MIN: no overflow, no panic.
    let session = json!({"access_token": "a.b.c", "refresh_token": "r", "expires_at": i64::MIN, "token_type": "bearer"});
    let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(session.to_string());
    for args in [&["--json"][..], &[][..]] {
        let (code, out) = cookie(args, &format!("sb-abc-auth-token=base64-{value}"));
        assert_eq!(code, 0, "{out}");
    }
    // A browser export listing `.1` before `.0`: still the base64 session ssr wrote.
    let case = corpus("w03").remove(0);
    let mut pairs = pairs(case["cookie_header"].as_str().unwrap());
    pairs.reverse();
    let export = Value::Array(
        pairs
            .into_iter()
            .map(|(n, v)| json!({"name": n, "value": v}))
            .collect(),
    )
    .to_string();
    let (code, out) = cookie(&["--json", "--url", URL], &export);
    assert_eq!(code, 0, "{out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["sessions"][0]["encoding"], "base64", "{out}");
}
