//! Rows 96-107 and 110 of `docs/security-catalog.md` §1 F, for the parts this crate
//! implements (header preparation, paths, CSRF). Refresh-related rows come with the refresh.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use proptest::prelude::*;
use supagate_core::RequestError as _;
use supagate_jwt::Token;
use supagate_proxy::core::{
    CsrfGate, Observed, Routes, filter_upstream_response_headers, prepare_upstream_headers,
};
use supagate_proxy::{HeaderPolicy, ProxyError};

const TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";
const SUB: &str = "8d0fd6e2-4c5a-4b7e-9f3a-2b1c0d9e8f7a";

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

fn observed() -> Observed {
    Observed::new("203.0.113.7".parse().unwrap(), "app.example.com", true).unwrap()
}

fn prepare(incoming: &HeaderMap, policy: &HeaderPolicy) -> HeaderMap {
    let sub = uuid::Uuid::parse_str(SUB).unwrap();
    prepare_upstream_headers(
        incoming,
        policy,
        Some(&Token::new(TOKEN)),
        Some(&sub),
        &observed(),
    )
    .unwrap()
}

#[test]
fn row_096_client_identity_headers_are_removed() {
    let out = prepare(
        &headers(&[
            ("x-user-id", "victim"),
            ("x-user-role", "admin"),
            ("x-supabase-role", "service_role"),
        ]),
        &HeaderPolicy::default().also_strip(["X-Supabase-Role"]),
    );
    assert!(out.get("x-user-id").is_none());
    assert!(out.get("x-user-role").is_none());
    assert!(out.get("x-supabase-role").is_none());
}

#[test]
fn row_097_aliases_and_repeats_are_removed_then_set_once() {
    let incoming = headers(&[
        ("x-user-id", "a"),
        ("X-USER-ID", "b"),
        ("x_user_id", "c"),
        ("X_User_Id", "d"),
        ("x-user", "e"),
    ]);
    let out = prepare(
        &incoming,
        &HeaderPolicy::default().with_user_id_header(true),
    );
    let values: Vec<_> = out.get_all("x-user-id").iter().collect();
    assert_eq!(values, [SUB]);
    assert!(out.get("x_user_id").is_none());
    assert!(out.get("x-user").is_none());
    let out = prepare(&incoming, &HeaderPolicy::default());
    assert!(out.get("x-user-id").is_none(), "off by default");
}

#[test]
fn row_098_a_client_authorization_is_overwritten() {
    let out = prepare(
        &headers(&[
            ("authorization", "Bearer attacker"),
            ("Authorization", "Basic x"),
        ]),
        &HeaderPolicy::default(),
    );
    let values: Vec<_> = out.get_all("authorization").iter().collect();
    assert_eq!(values.len(), 1);
    assert_eq!(values[0], format!("Bearer {TOKEN}").as_str());
    assert!(values[0].is_sensitive(), "row 114: marked sensitive");
}

#[test]
fn row_101_hop_by_hop_and_connection_named_fields_are_removed() {
    let out = prepare(
        &headers(&[
            ("connection", "close, X-Custom-Secret, x_debug"),
            ("x-custom-secret", "s"),
            ("x-debug", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("proxy-authorization", "Basic x"),
            ("proxy-connection", "keep-alive"),
            ("transfer-encoding", "chunked"),
            ("accept", "application/json"),
        ]),
        &HeaderPolicy::default(),
    );
    for gone in [
        "connection",
        "x-custom-secret",
        "x-debug",
        "keep-alive",
        "te",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
        "transfer-encoding",
    ] {
        assert!(out.get(gone).is_none(), "{gone}");
    }
    assert_eq!(out["accept"], "application/json");
}

#[test]
fn row_102_forwarding_headers_come_from_the_proxy() {
    let out = prepare(
        &headers(&[
            ("x-forwarded-for", "10.0.0.1"),
            ("X-Forwarded-Host", "evil.example"),
            ("x-forwarded-proto", "http"),
            ("forwarded", "for=10.0.0.1;host=evil.example"),
            ("x-real-ip", "10.0.0.1"),
            ("host", "evil.example"),
        ]),
        &HeaderPolicy::default(),
    );
    assert_eq!(out["x-forwarded-for"], "203.0.113.7");
    assert_eq!(out["x-forwarded-host"], "app.example.com");
    assert_eq!(out["x-forwarded-proto"], "https");
    assert_eq!(
        out["forwarded"],
        "for=203.0.113.7;proto=https;host=\"app.example.com\""
    );
    assert_eq!(out.get_all("x-forwarded-for").iter().count(), 1);
    assert!(out.get("x-real-ip").is_none());
    assert!(out.get("host").is_none());
    let v6 = Observed::new("2001:db8::1".parse().unwrap(), "app.example.com", false).unwrap();
    let out = prepare_upstream_headers(
        &HeaderMap::new(),
        &HeaderPolicy::default(),
        Some(&Token::new(TOKEN)),
        None,
        &v6,
    )
    .unwrap();
    assert_eq!(
        out["forwarded"],
        "for=\"[2001:db8::1]\";proto=http;host=\"app.example.com\""
    );
    assert!(Observed::new("203.0.113.7".parse().unwrap(), "a.example, evil", true).is_err());
}

#[test]
fn row_103_104_upstream_paths() {
    let routes = Routes::new([("/api/", "/")]).unwrap();
    assert_eq!(
        routes.upstream_path("/api/profile/me").unwrap(),
        "/profile/me"
    );
    assert_eq!(
        routes.upstream_path("/api/a/b?x=1&y=%20").unwrap(),
        "/a/b?x=1&y=%20"
    );
    for bad in [
        "//evil.example/x",
        "http://evil.example/",
        "@evil.example",
        "\\\\evil",
        "/api/\\evil",
        "/api/%2F%2Fevil",
        "/api/%2f..",
        "/api/../admin",
        "/api/./x",
        "/api/%2e%2e/admin",
        "/api/..%2fadmin",
        "/api/%252e%252e/admin",
        "/api/x;jsessionid=1",
        "/api/x%00",
        "/api/x y",
        "/api/\u{e9}",
        "/api/x?a\u{7f}",
        // Found by the proxy_headers fuzz target: with the prefix replaced, an empty segment
        // became a network-path reference ("/api//o//" -> "//o//").
        "/api//o//",
        "/api//evil.example/x",
        "/api/a//b",
    ] {
        let err = routes.upstream_path(bad).unwrap_err();
        assert_eq!(
            err.status(),
            http::StatusCode::BAD_REQUEST,
            "{bad:?}: {err}"
        );
    }
    assert_eq!(
        routes.upstream_path("/admin").unwrap_err(),
        ProxyError::NotForwarded
    );
    assert_eq!(
        routes.upstream_path("/apix/y").unwrap_err(),
        ProxyError::NotForwarded
    );
    assert!(Routes::new([("api", "/")]).is_err());
    assert!(Routes::new([("/api/", "//evil/")]).is_err());
}

#[test]
fn row_106_auth_cookies_never_go_upstream_or_come_back() {
    let out = prepare(
        &headers(&[
            ("cookie", "sb-ref-auth-token.0=base64-aaa; theme=dark"),
            (
                "cookie",
                "sb-ref-auth-token.1=bbb; SB-access-token=x; __Host-sb-ref-auth-token=y; lang=en",
            ),
        ]),
        &HeaderPolicy::default(),
    );
    assert_eq!(out["cookie"], "theme=dark; lang=en");
    let out = prepare(
        &headers(&[("cookie", "sb-ref-auth-token=x")]),
        &HeaderPolicy::default(),
    );
    assert!(out.get("cookie").is_none());

    let mut response = headers(&[
        ("set-cookie", "sb-ref-auth-token=evil; Path=/"),
        ("set-cookie", "__Secure-sb-x=evil"),
        ("set-cookie", "theme=light; Path=/"),
        ("connection", "x-internal"),
        ("x-internal", "1"),
        ("transfer-encoding", "chunked"),
        ("content-type", "application/json"),
    ]);
    filter_upstream_response_headers(&mut response, &HeaderPolicy::default());
    let cookies: Vec<_> = response.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["theme=light; Path=/"]);
    assert!(response.get("x-internal").is_none());
    assert!(response.get("transfer-encoding").is_none());
    assert_eq!(response["content-type"], "application/json");
}

#[test]
fn row_107_csrf_gate() {
    let gate = CsrfGate::new(["https://app.example.com"]).unwrap();
    let ok = |h: &[(&str, &str)]| gate.check(&Method::POST, &headers(h)).is_ok();
    assert!(ok(&[("sec-fetch-site", "same-origin")]));
    assert!(!ok(&[("sec-fetch-site", "same-site")]));
    assert!(!ok(&[("sec-fetch-site", "cross-site")]));
    assert!(ok(&[
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://app.example.com")
    ]));
    assert!(ok(&[("origin", "https://app.example.com")]));
    assert!(!ok(&[("origin", "https://app.example.com.evil.example")]));
    assert!(!ok(&[("origin", "null")]));
    assert!(!ok(&[]), "both missing: refuse");
    assert!(!ok(&[
        ("origin", "https://app.example.com"),
        ("origin", "https://app.example.com")
    ]));
    assert!(!ok(&[
        ("sec-fetch-site", "same-origin"),
        ("sec-fetch-site", "cross-site")
    ]));
    for m in [Method::GET, Method::HEAD] {
        assert!(gate.check(&m, &HeaderMap::new()).is_ok());
    }
    // OPTIONS that is not a CORS preflight and TRACE reach the backend with the bearer: they
    // pass the gate only from our own origin (finding 12).
    for m in [
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::TRACE,
    ] {
        assert_eq!(
            gate.check(&m, &HeaderMap::new()).unwrap_err(),
            ProxyError::CsrfRejected
        );
    }
    let sibling = CsrfGate::new(Vec::<String>::new())
        .unwrap()
        .allow_same_site(true);
    assert!(
        sibling
            .check(&Method::POST, &headers(&[("sec-fetch-site", "same-site")]))
            .is_ok()
    );
    for bad in ["*", "null", "https://app.example.com/", "app.example.com"] {
        assert!(CsrfGate::new([bad]).is_err(), "{bad}");
    }
}

#[test]
fn row_110_x_user_id_only_from_the_verified_uuid() {
    let out = prepare(
        &HeaderMap::new(),
        &HeaderPolicy::default().with_user_id_header(true),
    );
    assert_eq!(out["x-user-id"], SUB);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever the client sends, the output carries exactly one Authorization (ours), no
    /// client X-User-* and no sb-* cookie.
    #[test]
    fn no_client_identity_survives(
        fields in proptest::collection::vec(("[A-Za-z_-]{1,16}", "[ -~]{0,40}"), 0..12),
    ) {
        let mut incoming = HeaderMap::new();
        for (k, v) in &fields {
            if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
                incoming.append(n, v);
            }
        }
        let out = prepare(&incoming, &HeaderPolicy::default());
        let auths: Vec<_> = out.get_all("authorization").iter().collect();
        prop_assert_eq!(auths.len(), 1);
        let expected = format!("Bearer {TOKEN}");
        prop_assert_eq!(auths[0].as_bytes(), expected.as_bytes());
        for name in out.keys() {
            let n = name.as_str().replace('_', "-");
            prop_assert!(!n.starts_with("x-user"), "{}", n);
        }
        if let Some(c) = out.get("cookie") {
            for pair in c.to_str().unwrap().split("; ") {
                prop_assert!(!pair.to_ascii_lowercase().starts_with("sb-"));
            }
        }
    }
}
