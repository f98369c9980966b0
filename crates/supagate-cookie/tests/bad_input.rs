//! Bad input for the reader and writer: rows 78–94 of `docs/security-catalog.md` §1 E
//! that concern this crate, and property tests (no panic; the answer does not depend on how
//! the cookies are split into `Cookie` fields).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{HeaderMap, HeaderValue, header::COOKIE};
use proptest::prelude::*;
use supagate_cookie::{
    CookieError, CookieName, CookieOptions, Session, SessionReader, SessionWriter,
};
use supagate_core::RequestError as _;

const NAME: &str = "sb-ref-auth-token";
const SESSION: &str = r#"{"access_token":"eyJ.a.b","token_type":"bearer","expires_in":3600,"expires_at":1798765140,"refresh_token":"r1","user":{"id":"u"}}"#;

fn reader() -> SessionReader {
    SessionReader::new(CookieName::custom(NAME).unwrap())
}

fn b64(json: &str) -> String {
    format!("base64-{}", URL_SAFE_NO_PAD.encode(json))
}

fn read(fields: &[&str]) -> Result<Option<Session>, CookieError> {
    let raw: Vec<&[u8]> = fields.iter().map(|f| f.as_bytes()).collect();
    reader().read_fields(&raw)
}

fn big_session() -> String {
    SESSION.replace(
        r#""id":"u""#,
        &format!(r#""id":"u","bio":"{}""#, "é".repeat(3000)),
    )
}

/// Cookie pairs that the writer produces for `json` (name=value, in order).
fn written(json: &str) -> Vec<String> {
    let w =
        SessionWriter::new(CookieName::custom(NAME).unwrap(), CookieOptions::default()).unwrap();
    w.set(&Session::from_json(json).unwrap(), &HeaderMap::new())
        .unwrap()
        .iter()
        .map(|h| h.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect()
}

#[test]
fn row_78_same_name_twice_is_ambiguous() {
    let v = b64(SESSION);
    assert_eq!(
        read(&[&format!("{NAME}={v}; {NAME}={v}")]).unwrap_err(),
        CookieError::Ambiguous
    );
    assert_eq!(
        read(&[&format!("{NAME}={v}"), &format!("{NAME}={v}")]).unwrap_err(),
        CookieError::Ambiguous
    );
    let chunks = written(&big_session());
    let dup_chunk = format!("{}; {}; {}", chunks[0], chunks[0], chunks[1..].join("; "));
    assert_eq!(read(&[&dup_chunk]).unwrap_err(), CookieError::Ambiguous);
}

#[test]
fn row_79_unchunked_next_to_chunks_is_ambiguous_unless_empty() {
    let chunks = written(&big_session()).join("; ");
    let planted = format!("{NAME}={}; {chunks}", b64(SESSION));
    assert_eq!(read(&[&planted]).unwrap_err(), CookieError::Ambiguous);
    let empty = format!("{NAME}=; {chunks}");
    assert_eq!(
        read(&[&empty]).unwrap().unwrap().expose_json(),
        big_session()
    );
}

#[test]
fn row_80_chunk_gaps_and_odd_names() {
    let chunks = written(&big_session());
    assert!(chunks.len() >= 2);
    // A gap: .0 and .2 only.
    let gap: Vec<String> = chunks
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, c)| c.clone())
        .collect();
    assert!(read(&[&gap.join("; ")]).is_err());
    // A lone .1: no .0, so no session value at all.
    assert!(read(&[&chunks[1]]).is_err());
    // Non-canonical indices are not chunks.
    for suffix in [".00", ".01", ".+1", ".1e3", ".99999999999999999999"] {
        let c = format!("{NAME}{suffix}={}", b64(SESSION));
        assert_eq!(
            read(&[&c]).unwrap().map(|s| s.expose_json().to_owned()),
            None,
            "{suffix}"
        );
    }
}

#[test]
fn row_81_chunk_count_and_size_bombs() {
    let many: Vec<String> = (0..1000).map(|i| format!("{NAME}.{i}=a")).collect();
    assert!(matches!(
        read(&[&many.join("; ")]),
        Err(CookieError::TooManyChunks | CookieError::TooLarge)
    ));
    let few: Vec<String> = (0..17).map(|i| format!("{NAME}.{i}=a")).collect();
    assert_eq!(
        read(&[&few.join("; ")]).unwrap_err(),
        CookieError::TooManyChunks
    );
    let huge = format!("x={}", "a".repeat(400 * 1024));
    assert_eq!(read(&[&huge]).unwrap_err(), CookieError::TooLarge);
    let e = CookieError::TooLarge;
    assert_eq!(
        e.status(),
        http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
}

#[test]
fn row_82_base64_outside_the_alphabet() {
    let good = URL_SAFE_NO_PAD.encode(SESSION);
    let std = STANDARD.encode(SESSION.replace("r1", "r1??>>"));
    let (head, tail) = good.split_at(20);
    for bad in [
        format!("base64-{std}"),
        format!("base64-A{good}"),
        format!("base64-{head}.{tail}"),
    ] {
        assert!(read(&[&format!("{NAME}={bad}")]).is_err());
    }
    // Trailing padding is tolerated, nothing else.
    let padded = format!(
        "base64-{}",
        STANDARD.encode(SESSION).replace('+', "-").replace('/', "_")
    );
    assert!(read(&[&format!("{NAME}={padded}")]).unwrap().is_some());
}

#[test]
fn row_83_not_utf8_not_json_or_bombs() {
    for payload in [&b"\xff\xfe"[..], b"not json", b"[1,2]", b"\"str\""] {
        let v = format!("base64-{}", URL_SAFE_NO_PAD.encode(payload));
        assert!(read(&[&format!("{NAME}={v}")]).is_err());
    }
    let deep = format!(
        "{{\"access_token\":\"a\",\"refresh_token\":\"r\",\"expires_at\":1,\"x\":{}1{}}}",
        "[".repeat(40),
        "]".repeat(40)
    );
    assert_eq!(
        read(&[&format!("{NAME}={}", b64(&deep))]).unwrap_err(),
        CookieError::BadJson
    );
}

#[test]
fn row_84_session_shape_confusion() {
    for json in [
        r#"{"refresh_token":"r","expires_at":1}"#,
        r#"{"access_token":"","refresh_token":"r","expires_at":1}"#,
        r#"{"access_token":7,"refresh_token":"r","expires_at":1}"#,
        r#"{"access_token":"a","expires_at":1}"#,
        r#"{"access_token":"a","refresh_token":"r"}"#,
        r#"{"access_token":"a","refresh_token":"r","expires_at":"1"}"#,
        r#"["eyJ.a.b","refresh",null,null,[]]"#,
    ] {
        assert_eq!(
            read(&[&format!("{NAME}={}", b64(json))]).unwrap_err(),
            CookieError::NotASession,
            "{json}"
        );
    }
    // expires_at: null passes, as in auth-js.
    let s = read(&[&format!(
        "{NAME}={}",
        b64(r#"{"access_token":"a","refresh_token":"r","expires_at":null}"#)
    )])
    .unwrap()
    .unwrap();
    assert_eq!(s.expires_at(), None);
}

#[test]
fn row_86_one_pair_of_quotes_is_stripped() {
    assert!(
        read(&[&format!("{NAME}=\"{}\"", b64(SESSION))])
            .unwrap()
            .is_some()
    );
    assert!(read(&[&format!("{NAME}=\"\"{}\"\"", b64(SESSION))]).is_err());
}

#[test]
fn row_87_percent_decoding_exactly_once_and_only_for_raw_json() {
    let raw = SESSION
        .replace('"', "%22")
        .replace('{', "%7B")
        .replace('}', "%7D")
        .replace(':', "%3A")
        .replace(',', "%2C");
    assert_eq!(
        read(&[&format!("{NAME}={raw}")])
            .unwrap()
            .unwrap()
            .expose_json(),
        SESSION
    );
    for bad in ["%ZZ", "%FF", "%7"] {
        assert_eq!(
            read(&[&format!("{NAME}={raw}{bad}")]).unwrap_err(),
            CookieError::BadEncoding,
            "{bad}"
        );
    }
    let double = raw.replace('%', "%25");
    assert!(read(&[&format!("{NAME}={double}")]).is_err());
    let b64_escaped = format!("base64-%65{}", &b64(SESSION)["base64-".len() + 1..]);
    assert!(read(&[&format!("{NAME}={b64_escaped}")]).is_err());
}

#[test]
fn row_88_a_bad_unrelated_pair_does_not_sink_the_session() {
    let mut h = HeaderMap::new();
    let field = format!("x=\u{e9}; broken; ={}; {NAME}={}; y=\"", "z", b64(SESSION));
    h.append(COOKIE, HeaderValue::from_bytes(field.as_bytes()).unwrap());
    assert!(reader().read(&h).unwrap().is_some());
    let mut h = HeaderMap::new();
    let mut bytes = b"tossed=\xff\xfe; ".to_vec();
    bytes.extend_from_slice(format!("{NAME}={}", b64(SESSION)).as_bytes());
    h.append(COOKIE, HeaderValue::from_bytes(&bytes).unwrap());
    assert!(reader().read(&h).unwrap().is_some());
}

#[test]
fn row_89_chunks_across_several_cookie_fields() {
    let chunks = written(&big_session());
    let fields: Vec<&str> = chunks.iter().rev().map(String::as_str).collect();
    assert_eq!(read(&fields).unwrap().unwrap().expose_json(), big_session());
}

#[test]
fn row_91_names_match_exactly_and_prefixes_never_fall_back() {
    for name in [
        "SB-REF-AUTH-TOKEN",
        "sb-ref-auth-token-x",
        "xsb-ref-auth-token",
    ] {
        assert_eq!(
            read(&[&format!("{name}={}", b64(SESSION))])
                .unwrap()
                .map(|_| ()),
            None,
            "{name}"
        );
    }
    let host = SessionReader::new(CookieName::custom(NAME).unwrap().with_host_prefix());
    let plain = format!("{NAME}={}", b64(SESSION));
    assert!(host.read_fields(&[plain.as_bytes()]).unwrap().is_none());
    let lower = format!("__host-{NAME}={}", b64(SESSION));
    assert!(host.read_fields(&[lower.as_bytes()]).unwrap().is_none());
    let right = format!("__Host-{NAME}={}", b64(SESSION));
    assert!(host.read_fields(&[right.as_bytes()]).unwrap().is_some());
}

#[test]
fn row_93_only_values_we_generate_are_written() {
    assert!(CookieName::custom("a; Domain=evil.com").is_err());
    assert!(CookieName::custom("a\r\nb").is_err());
    let name = || CookieName::custom(NAME).unwrap();
    assert!(
        SessionWriter::new(
            name(),
            CookieOptions::default().with_domain("x; Domain=evil.com")
        )
        .is_err()
    );
    assert!(
        SessionWriter::new(
            name(),
            CookieOptions::default().with_path("/\r\nSet-Cookie: a=b")
        )
        .is_err()
    );
    assert!(SessionWriter::new(name(), CookieOptions::default().with_path("relative")).is_err());
    // Session JSON with `;`, quotes, CR/LF in values is percent-encoded or base64url on the wire.
    let nasty = SESSION.replace(r#""id":"u""#, r#""id":"u; Domain=evil.com\r\n""#);
    for pair in written(&nasty) {
        assert!(!pair.contains(';') && !pair.contains('\r') && !pair.contains(' '));
    }
}

#[test]
fn row_94_secure_defaults_and_prefix_rules() {
    let w =
        SessionWriter::new(CookieName::custom(NAME).unwrap(), CookieOptions::default()).unwrap();
    let h = w
        .set(&Session::from_json(SESSION).unwrap(), &HeaderMap::new())
        .unwrap();
    let s = h[0].to_str().unwrap();
    assert!(
        s.ends_with("; Max-Age=34560000; Path=/; HttpOnly; Secure; SameSite=Lax"),
        "{s}"
    );
    assert!(!s.contains("Domain"));
    assert!(h[0].is_sensitive());
    let host = CookieName::custom(NAME).unwrap().with_host_prefix();
    assert!(
        SessionWriter::new(
            host.clone(),
            CookieOptions::default().with_domain("example.com")
        )
        .is_err()
    );
    assert!(SessionWriter::new(host, CookieOptions::default().insecure_allow_http()).is_err());
}

#[test]
fn sign_out_clears_every_form_present() {
    let w = SessionWriter::new(
        CookieName::custom(NAME).unwrap(),
        CookieOptions::default().with_domain("example.com"),
    )
    .unwrap();
    let chunks = written(&big_session()).join("; ");
    let mut h = HeaderMap::new();
    h.append(COOKIE, HeaderValue::from_str(&chunks).unwrap());
    let out: Vec<String> = w
        .clear(&h)
        .unwrap()
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    // Every chunk present, as `@supabase/ssr` removes them: first every host-only deletion,
    // then every deletion with the domain (a store keyed by name keeps the domain one).
    let n = written(&big_session()).len();
    assert_eq!(out.len(), 2 * n);
    assert!(out.iter().all(|c| c.contains("=; Max-Age=0;")));
    for (i, c) in out.iter().enumerate() {
        assert_eq!(c.contains("; Domain=example.com"), i >= n, "{i}: {c}");
        assert!(c.starts_with(&format!("{NAME}.{}=", i % n)), "{i}: {c}");
    }
}

#[test]
fn clearing_a_request_without_a_session_writes_nothing() {
    for domain in [None, Some("example.com")] {
        let mut options = CookieOptions::default();
        if let Some(d) = domain {
            options = options.with_domain(d);
        }
        let w = SessionWriter::new(CookieName::custom(NAME).unwrap(), options).unwrap();
        assert!(w.clear(&HeaderMap::new()).unwrap().is_empty());
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_static("theme=dark; sb-other-auth-token=x"),
        );
        assert!(w.clear(&h).unwrap().is_empty(), "{domain:?}");
    }
}

#[test]
fn whitespace_inside_a_base64_value_is_skipped_as_supabase_ssr_does() {
    let value = b64(SESSION);
    let (head, tail) = value.split_at(30);
    let (mid, tail) = tail.split_at(20);
    for spaced in [
        format!("{head} {mid}\t{tail}"),
        format!("{head}  {mid} {tail}"),
        format!("{head}{mid}\t\t{tail}"),
    ] {
        let header = format!("{NAME}={spaced}");
        let s = read(&[&header]).unwrap().unwrap();
        assert_eq!(s.expose_json(), SESSION, "{spaced:?}");
    }
    // Chunks with whitespace join and decode the same way.
    let (a, b) = value.split_at(value.len() / 2);
    let header = format!("{NAME}.0={a} ; {NAME}.1=\t{b}");
    assert_eq!(read(&[&header]).unwrap().unwrap().expose_json(), SESSION);
    // Anything else outside the alphabet is still refused.
    let header = format!("{NAME}={head}*{mid}{tail}");
    assert!(read(&[&header]).is_err());
}

fn split_into_fields(header: &str, cuts: &[usize]) -> Vec<String> {
    let pairs: Vec<&str> = header.split("; ").collect();
    let mut fields = Vec::new();
    let mut start = 0;
    for &c in cuts {
        let c = c % (pairs.len() + 1);
        if c > start {
            fields.push(pairs[start..c].join("; "));
            start = c;
        }
    }
    fields.push(pairs[start..].join("; "));
    fields
}

proptest! {
    #[test]
    fn reader_never_panics(fields in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..4)) {
        let raw: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
        let _ = reader().read_fields(&raw);
    }

    #[test]
    fn reader_never_panics_on_cookie_shaped_input(pairs in proptest::collection::vec(("(sb-ref-auth-token(\\.[0-9]{1,3})?|x)", "[ -~]{0,60}"), 0..8)) {
        let header: Vec<String> = pairs.iter().map(|(n, v)| format!("{n}={v}")).collect();
        let joined = header.join("; ");
        let _ = read(&[&joined]);
    }

    #[test]
    fn answer_does_not_depend_on_field_splitting(cuts in proptest::collection::vec(0usize..12, 0..5), noise in proptest::collection::vec("[a-z]{1,5}=[a-z0-9]{0,8}", 0..4)) {
        let mut pairs = written(&big_session());
        pairs.extend(noise);
        let header = pairs.join("; ");
        let whole = read(&[&header]).map(|s| s.map(|s| s.expose_json().to_owned()));
        let fields = split_into_fields(&header, &cuts);
        let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
        let split = read(&refs).map(|s| s.map(|s| s.expose_json().to_owned()));
        prop_assert_eq!(whole, split);
    }
}

#[test]
fn row_92_legacy_pair_is_opt_in_and_never_merged() {
    let legacy = "sb-access-token=eyJ.a.b; sb-refresh-token=r%2F1";
    assert_eq!(read(&[legacy]).unwrap().map(|_| ()), None, "off by default");
    let on = reader().with_legacy_pair(true);
    let s = on.read_fields(&[legacy.as_bytes()]).unwrap().unwrap();
    assert_eq!(s.access_token().expose(), "eyJ.a.b");
    assert_eq!(s.refresh_token().expose(), "r/1");
    let both = format!("{legacy}; {NAME}={}", b64(SESSION));
    assert_eq!(
        on.read_fields(&[both.as_bytes()]).unwrap_err(),
        CookieError::Ambiguous
    );
    let dup = format!("{legacy}; sb-access-token=eyJ.c.d");
    assert_eq!(
        on.read_fields(&[dup.as_bytes()]).unwrap_err(),
        CookieError::Ambiguous
    );
    let refresh_only = "sb-refresh-token=r1";
    assert_eq!(
        on.read_fields(&[refresh_only.as_bytes()]).unwrap_err(),
        CookieError::NotASession
    );
}

#[test]
fn sign_out_also_clears_the_legacy_pair() {
    let w =
        SessionWriter::new(CookieName::custom(NAME).unwrap(), CookieOptions::default()).unwrap();
    let mut h = HeaderMap::new();
    h.append(
        COOKIE,
        HeaderValue::from_static("sb-access-token=a; sb-refresh-token=b; other=c"),
    );
    let out: Vec<String> = w
        .clear(&h)
        .unwrap()
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    // No `sb-ref-auth-token` in the request: nothing to delete for it (as `@supabase/ssr`).
    assert_eq!(
        out,
        vec![
            "sb-access-token=".to_owned(),
            "sb-refresh-token=".to_owned()
        ]
    );
}

#[test]
fn row_85_tampered_session_fields_grant_nothing() {
    // A victim's user id, a far-future expires_at and an admin role edited into the cookie:
    // the reader hands back only the tokens (and the unverified expires_at, documented so);
    // identity and roles come from the verified access token alone.
    let tampered = SESSION
        .replace(
            r#""id":"u""#,
            r#""id":"victim","app_metadata":{"role":"admin"}"#,
        )
        .replace("1798765140", "99999999999");
    let s = read(&[&format!("{NAME}={}", b64(&tampered))])
        .unwrap()
        .unwrap();
    assert_eq!(s.access_token().expose(), "eyJ.a.b");
    assert_eq!(s.expires_at(), Some(99_999_999_999));
    assert!(s.has_user());
}

#[test]
fn row_90_set_cookie_syntax_in_a_request_header_is_just_pairs() {
    // `Cookie::parse` would read `a=1` and treat the rest as attributes; we read every pair.
    let header = format!("a=1; {NAME}={}; Secure; HttpOnly", b64(SESSION));
    assert!(read(&[&header]).unwrap().is_some());
}
