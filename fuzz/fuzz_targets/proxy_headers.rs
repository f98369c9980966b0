//! Arbitrary incoming headers and request targets through the proxy core: never panics, the
//! output always carries exactly our `Authorization`, no client `X-User-*`, no `sb-*` cookie;
//! an accepted path never contains a dot segment or leaves its prefix.
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use supagate_jwt::Token;
use supagate_proxy::{HeaderPolicy, Observed, Routes, prepare_upstream_headers};

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
    let out = prepare_upstream_headers(
        &incoming,
        &HeaderPolicy::default(),
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
            assert!(!pair.trim_ascii().to_ascii_lowercase().starts_with(b"sb-"));
        }
    }
    let routes = Routes::new([("/api/", "/")]).expect("valid routes");
    if let Ok(path) = routes.upstream_path(&target) {
        let p = path.split('?').next().unwrap_or_default();
        assert!(p.starts_with('/') && !p.starts_with("//"));
        assert!(!p.split('/').any(|s| s == ".." || s == "."));
    }
});
