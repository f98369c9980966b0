//! Arbitrary page requests (method, target, headers) through `Sessions::page_session`, the
//! sign-in redirect of a protected page, the cookie changes, and a `BackendClient` call to an
//! arbitrary path. The upstream and the auth server are closed loopback ports, so nothing
//! leaves the machine. Never panics; a sign-in redirect only ever goes to the local sign-in
//! page, with `next` percent-encoded; a backend path that is accepted is a local one.
#![no_main]

use std::sync::OnceLock;

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use libfuzzer_sys::fuzz_target;
use supagate_auth::Authenticator;
use supagate_jwt::Verifier;
use supagate_proxy::{Limits, Proxy, ProxyError, Sessions};
use supagate_testkit::TestKeys;

fn setup() -> &'static (tokio::runtime::Runtime, Proxy) {
    static S: OnceLock<(tokio::runtime::Runtime, Proxy)> = OnceLock::new();
    S.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let verifier = Verifier::from_supabase_url("http://127.0.0.1:9")
            .jwk_set(TestKeys::new().jwk_set())
            .build()
            .expect("verifier");
        let mut limits = Limits::default();
        limits.auth_timeout = std::time::Duration::from_millis(200);
        limits.upstream_timeout = std::time::Duration::from_millis(200);
        let sessions =
            Sessions::builder("http://127.0.0.1:9", "anon", Authenticator::new(verifier))
                .public_origin("https://app.example.com")
                .sign_in_page("/login")
                .limits(limits.clone())
                .build()
                .expect("sessions");
        let proxy = Proxy::builder(sessions)
            .upstream("http://127.0.0.1:9")
            .route("/api/", "/")
            .limits(limits)
            .build()
            .expect("proxy");
        (rt, proxy)
    })
}

fuzz_target!(|input: (u8, String, Vec<(Vec<u8>, Vec<u8>)>, String)| {
    let (which, target, fields, path) = input;
    let (rt, proxy) = setup();
    let method = match which % 4 {
        0 => Method::GET,
        1 => Method::POST,
        2 => Method::HEAD,
        _ => Method::DELETE,
    };
    let Ok(uri) = target.parse::<Uri>() else {
        return;
    };
    let mut headers = HeaderMap::new();
    for (k, v) in &fields {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(k), HeaderValue::from_bytes(v)) {
            headers.append(n, v);
        }
    }
    let peer = [203, 0, 113, 9].into();
    rt.block_on(async {
        let session = proxy
            .sessions()
            .page_session(&method, &headers, peer)
            .await
            .with_backend(&proxy);
        match session.into_parts() {
            Err(refusal) => {
                let s = refusal.status().as_u16();
                assert!((400..600).contains(&s), "{s}");
            }
            Ok((context, cookies)) => {
                let res = context.sign_in_required(&method, &uri, &headers);
                match res.status().as_u16() {
                    303 => {
                        let location = res.headers()["location"].to_str().expect("ascii");
                        assert!(
                            location == "/login" || location.starts_with("/login?next=%2F"),
                            "{location}"
                        );
                        let next = location.strip_prefix("/login?next=").unwrap_or_default();
                        assert!(!next.contains(['/', '?', '#', '&', '\\']), "{location}");
                    }
                    401 => assert!(res.headers().contains_key("www-authenticate")),
                    s => panic!("sign-in required answered {s}"),
                }
                let mut out = HeaderMap::new();
                cookies.apply(&mut out);
                if let Some(user) = context.user() {
                    match context.backend().expect("a backend").get(user, &path).await {
                        Err(ProxyError::BadPath { .. }) => {}
                        Err(_) | Ok(_) => {
                            assert!(path.starts_with('/') && !path.starts_with("//"), "{path}");
                            assert!(!path.contains(['\\', ' ', '\r', '\n']), "{path}");
                        }
                    }
                }
            }
        }
    });
});
