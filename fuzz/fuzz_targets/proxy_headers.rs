//! Arbitrary incoming headers and request targets through the proxy core: never panics, the
//! output always carries exactly our `Authorization`, no client `X-User-*`, no `sb-*` or
//! configured-name cookie; the same fields as an upstream response keep no `Set-Cookie` that
//! could plant an auth cookie; an accepted path never contains a dot segment or leaves its
//! prefix.
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use supagate_jwt::Token;
use supagate_cookie::CookieName;
use supagate_proxy::HeaderPolicy;
use supagate_proxy::core::{Observed, Routes, filter_upstream_response_headers, prepare_upstream_headers};

/// What a browser would store as the cookie name of a `Set-Cookie` value.
fn stored_name(v: &[u8]) -> Vec<u8> {
    let pair = v.split(|&b| b == b';').next().unwrap_or_default();
    match pair.iter().position(|&b| b == b'=') {
        Some(i) => pair[..i].trim_ascii().to_vec(),
        None => Vec::new(),
    }
}

fuzz_target!(|input: (Vec<(Vec<u8>, Vec<u8>)>, String)| {
    let (fields, target) = input;
    let mut incoming = HeaderMap::new();
    for (k, v) in &fields {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(k), HeaderValue::from_bytes(v)) {
            incoming.append(n, v);
        }
    }
    let Ok(observed) = Observed::new([127, 0, 0, 1].into(), "app.example.com", true) else {
        return;
    };
    let name = CookieName::custom("app-session").expect("a valid name");
    let policy = HeaderPolicy::default().session_cookie(name.clone());
    let out = prepare_upstream_headers(
        &incoming,
        &policy,
        Some(&Token::new("a.b.c")),
        None,
        &observed,
    )
    .expect("a valid token always prepares");
    assert_eq!(out.get_all("authorization").iter().count(), 1);
    for name in out.keys() {
        assert!(!name.as_str().replace('_', "-").starts_with("x-user"));
    }
    if let Some(c) = out.get("cookie") {
        for pair in c.as_bytes().split(|&b| b == b';') {
            let pair = pair.trim_ascii();
            assert!(!pair.to_ascii_lowercase().starts_with(b"sb-"));
            let cookie = pair.split(|&b| b == b'=').next().unwrap_or_default();
            assert!(!name.covers(cookie.trim_ascii()));
        }
    }
    let mut response = incoming.clone();
    filter_upstream_response_headers(&mut response, &policy);
    for v in response.get_all("set-cookie") {
        let stored = stored_name(v.as_bytes());
        assert!(!stored.is_empty(), "a nameless Set-Cookie passed");
        assert!(!stored.to_ascii_lowercase().starts_with(b"sb-"));
        assert!(!name.covers(&stored));
    }
    let routes = Routes::new([("/api/", "/")]).expect("valid routes");
    if let Ok(path) = routes.upstream_path(&target) {
        let p = path.split('?').next().unwrap_or_default();
        assert!(p.starts_with('/') && !p.starts_with("//"));
        assert!(!p.split('/').any(|s| s == ".." || s == "."));
        assert!(!p.to_ascii_lowercase().contains("%3b") && !p.contains(';'));
    }
});
