//! The real `@supabase/ssr` 0.12.7 cookie corpus (`testdata/supabase-ssr/`): every
//! write case reads back and writes byte-identical cookie names and values; every read case
//! gives the result `testdata/README.md` asks for; k01 gives the same storage keys.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use http::{HeaderMap, HeaderValue, header::COOKIE};
use serde_json::Value;
use supagate_cookie::{
    CookieError, CookieName, CookieOptions, Encoding, SameSite, Session, SessionReader,
    SessionWriter,
};

fn case(id: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/supabase-ssr/cases")
        .join(format!("{id}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn all_cases(prefix: &str) -> Vec<Value> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/supabase-ssr/cases");
    let mut ids: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".json")
                .to_owned()
        })
        .filter(|n| n.starts_with(prefix))
        .collect();
    ids.sort();
    ids.iter().map(|id| case(id)).collect()
}

fn headers(cookie_header: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    if !cookie_header.is_empty() {
        h.append(COOKIE, HeaderValue::from_str(cookie_header).unwrap());
    }
    h
}

fn name_value(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

fn writer_for(c: &Value) -> SessionWriter {
    let name = CookieName::custom(c["storage_key"].as_str().unwrap()).unwrap();
    let mut options = CookieOptions::default();
    let opts = &c["options"]["cookieOptions"];
    if let Some(d) = opts["domain"].as_str() {
        options = options.with_domain(d);
    }
    if opts["sameSite"] == "strict" {
        options = options.with_same_site(SameSite::Strict);
    }
    let writer = SessionWriter::new(name, options).unwrap();
    if c["options"]["cookieEncoding"] == "raw" {
        writer.with_encoding(Encoding::Raw)
    } else {
        writer
    }
}

#[test]
fn write_cases_read_back_exactly() {
    let cases = all_cases("w");
    assert!(cases.len() >= 10);
    for c in cases {
        let id = c["id"].as_str().unwrap();
        let reader =
            SessionReader::new(CookieName::custom(c["storage_key"].as_str().unwrap()).unwrap());
        let s = reader
            .read(&headers(c["cookie_header"].as_str().unwrap()))
            .unwrap()
            .unwrap_or_else(|| panic!("{id}: no session"));
        assert_eq!(
            s.expose_json(),
            c["expected_session_json"].as_str().unwrap(),
            "{id}"
        );
        assert_eq!(
            s.access_token().expose(),
            c["expected_access_token"].as_str().unwrap(),
            "{id}"
        );
        assert_eq!(
            s.refresh_token().expose(),
            c["expected_refresh_token"].as_str().unwrap(),
            "{id}"
        );
    }
}

#[test]
fn write_cases_write_the_same_cookies() {
    for c in all_cases("w") {
        let id = c["id"].as_str().unwrap();
        let writer = writer_for(&c);
        let session = Session::from_json(c["expected_session_json"].as_str().unwrap()).unwrap();
        let before: Vec<String> = c["request_cookies_before"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                format!(
                    "{}={}",
                    k["name"].as_str().unwrap(),
                    k["value"].as_str().unwrap()
                )
            })
            .collect();
        let ours: Vec<String> = writer
            .set(&session, &headers(&before.join("; ")))
            .unwrap()
            .iter()
            .map(|h| name_value(h.to_str().unwrap()))
            .collect();
        let theirs: Vec<String> = c["set_cookie_headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| name_value(h.as_str().unwrap()))
            .collect();
        assert_eq!(ours, theirs, "{id}");
        // Attributes: theirs plus our secure defaults, nothing else.
        for (o, t) in writer
            .set(&session, &headers(&before.join("; ")))
            .unwrap()
            .iter()
            .zip(c["set_cookie_headers"].as_array().unwrap())
        {
            let o = o.to_str().unwrap();
            let t = t.as_str().unwrap();
            let expected = t
                .replace("; SameSite=", "; HttpOnly; Secure; SameSite=")
                .replace(
                    "; HttpOnly; Secure; HttpOnly; Secure;",
                    "; HttpOnly; Secure;",
                );
            assert_eq!(o, expected, "{id}");
        }
    }
}

#[test]
fn read_cases_follow_our_stricter_rules() {
    let expect: &[(&str, Result<bool, CookieError>)] = &[
        ("r01", Err(CookieError::Ambiguous)),
        ("r02", Err(CookieError::BadEncoding)),
        ("r03", Err(CookieError::BadEncoding)),
        ("r04", Ok(true)),
        ("r05", Ok(true)),
        ("r07", Err(CookieError::BadEncoding)),
        ("r08", Err(CookieError::Ambiguous)),
        ("r09", Err(CookieError::NotASession)),
        ("r10", Err(CookieError::BadJson)),
        ("r11", Err(CookieError::NotASession)),
        ("r12", Ok(false)),
        ("r13", Ok(true)),
    ];
    let cases = all_cases("r");
    assert_eq!(cases.len(), expect.len());
    for (c, (prefix, want)) in cases.iter().zip(expect) {
        let id = c["id"].as_str().unwrap();
        assert!(id.starts_with(prefix));
        let reader =
            SessionReader::new(CookieName::custom(c["storage_key"].as_str().unwrap()).unwrap());
        let got = reader.read(&headers(c["cookie_header"].as_str().unwrap()));
        match (want, &got) {
            (Ok(true), Ok(Some(s))) => {
                // Where we accept, we agree with @supabase/ssr byte for byte.
                assert_eq!(
                    s.expose_json(),
                    c["result"]["session_json"].as_str().unwrap(),
                    "{id}"
                );
                assert_eq!(
                    s.access_token().expose(),
                    c["result"]["access_token"].as_str().unwrap(),
                    "{id}"
                );
            }
            (Ok(false), Ok(None)) => {}
            (Err(e), Err(g)) => assert_eq!(e, g, "{id}"),
            _ => panic!(
                "{id}: expected {want:?}, got {:?}",
                got.as_ref().map(Option::is_some)
            ),
        }
    }
}

#[test]
fn k01_storage_keys() {
    for r in case("k01-storage-key-derivation")["results"]
        .as_array()
        .unwrap()
    {
        let url = r["url"].as_str().unwrap();
        assert_eq!(
            CookieName::from_supabase_url(url).unwrap().as_str(),
            r["storageKey"].as_str().unwrap(),
            "{url}"
        );
    }
}

#[test]
fn w09_pair_deletes_stale_chunks_before_the_new_cookie() {
    let before = case("w09a-before-shrink");
    let after = case("w09-shrink-deletes-stale-chunks");
    let writer = writer_for(&after);
    let session = Session::from_json(after["expected_session_json"].as_str().unwrap()).unwrap();
    let out = writer
        .set(
            &session,
            &headers(before["cookie_header"].as_str().unwrap()),
        )
        .unwrap();
    let out: Vec<&str> = out.iter().map(|h| h.to_str().unwrap()).collect();
    assert_eq!(out.len(), 6);
    for (i, h) in out.iter().take(5).enumerate() {
        assert!(
            h.starts_with(&format!(
                "sb-abcdefghijklmnopqrst-auth-token.{i}=; Max-Age=0;"
            )),
            "{h}"
        );
    }
    assert!(out[5].starts_with("sb-abcdefghijklmnopqrst-auth-token=base64-"));
}

#[test]
fn p01_pkce_verifiers_read_and_clear() {
    let c = case("p01-pkce-code-verifier");
    let name = CookieName::custom("sb-abcdefghijklmnopqrst-auth-token").unwrap();
    let h = headers(c["cookie_header"].as_str().unwrap());
    let found = supagate_cookie::PkceVerifiers::read(&name, &h).unwrap();
    let decoded = c["decoded_values"].as_object().unwrap();
    let legacy: String = serde_json::from_str(
        decoded["sb-abcdefghijklmnopqrst-auth-token-code-verifier"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(found.latest().unwrap().expose(), legacy);
    let index: Vec<String> = serde_json::from_str(
        decoded["sb-abcdefghijklmnopqrst-auth-token-flows-code-verifier"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(found.pending_flows(), index.as_slice());
    assert_eq!(found.for_flow(&index[0]).unwrap().expose(), legacy);
    assert!(!format!("{found:?}").contains(&legacy));
    let writer = SessionWriter::new(name, CookieOptions::default()).unwrap();
    let cleared: Vec<String> = writer
        .clear_pkce(&h)
        .unwrap()
        .iter()
        .map(|v| name_value(v.to_str().unwrap()))
        .collect();
    assert_eq!(cleared.len(), 3);
    assert!(cleared.iter().all(|c| c.ends_with("-code-verifier=")));
}

/// x01, recorded from the real `@supabase/ssr`: whitespace inside a `base64-` value is skipped;
/// clearing a request without session cookies writes nothing; with a `Domain`, every host-only
/// deletion comes before every `Domain` one.
#[test]
fn x01_parity_whitespace_clear_and_domain_order() {
    let c = case("x01-parity-whitespace-clear-domain");
    let name = CookieName::custom(c["storage_key"].as_str().unwrap()).unwrap();
    let read = &c["input"]["reads"][0];
    let session = SessionReader::new(name.clone())
        .read(&headers(read["cookie_header"].as_str().unwrap()))
        .unwrap()
        .unwrap();
    assert_eq!(session.expose_json(), c["session_json"].as_str().unwrap());
    assert_eq!(
        serde_json::from_str::<Value>(session.expose_json()).unwrap(),
        c["result"]["reads"][0]["session"]
    );
    let clears = c["input"]["clears"].as_array().unwrap();
    assert_eq!(clears.len(), 5);
    for (input, recorded) in clears.iter().zip(c["result"]["clears"].as_array().unwrap()) {
        let id = input["id"].as_str().unwrap();
        let mut options = CookieOptions::default();
        if let Some(d) = input["domain"].as_str() {
            options = options.with_domain(d);
        }
        let writer = SessionWriter::new(name.clone(), options).unwrap();
        let header = input["cookie_header"].as_str().unwrap();
        let request = if header.is_empty() {
            HeaderMap::new()
        } else {
            headers(header)
        };
        let ours: Vec<(String, bool)> = writer
            .clear(&request)
            .unwrap()
            .iter()
            .map(|v| {
                let s = v.to_str().unwrap();
                assert!(s.contains("Max-Age=0"), "{id}: {s}");
                (
                    s.split('=').next().unwrap().to_owned(),
                    s.contains("; Domain="),
                )
            })
            .collect();
        let theirs: Vec<(String, bool)> = recorded["cookies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    k["name"].as_str().unwrap().to_owned(),
                    !k["domain"].is_null(),
                )
            })
            .collect();
        assert_eq!(ours, theirs, "{id}");
    }
}
