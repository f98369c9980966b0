//! The real Supabase clients against the quickstart: `@supabase/supabase-js` signs in with a
//! password against the mock auth server (so the mock speaks GoTrue's protocol as the real
//! client expects it), `@supabase/ssr`'s `createServerClient` stores that session as cookies,
//! and the running frontend proxy serves `/api/profile` for those cookies.
//!
//! Needs Node and `npm ci` in `interop/node`; runs when `SUPAGATE_INTEROP=1` (as `.ci/test`
//! sets it).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use backend_common::drive::{cookie_header, node, request};
use quickstart::{ADMIN, USER};
use supagate_testkit::Endpoint;

#[test]
fn supabase_js_session_through_ssr_cookies_to_the_proxy() {
    if std::env::var("SUPAGATE_INTEROP").as_deref() != Ok("1") {
        eprintln!("skipped: set SUPAGATE_INTEROP=1 after `npm ci` in interop/node (.ci/test does)");
        return;
    }
    let (_runtime, stack) = quickstart::start_on_runtime(3600, 90).unwrap();
    for (email, password, admin) in [(USER.0, USER.1, 403), (ADMIN.0, ADMIN.1, 200)] {
        let cookies = node(
            "proxy-session.mjs",
            &[
                "supabase-js",
                &stack.auth.url(),
                stack.auth.publishable_key(),
                email,
                password,
            ],
        );
        let cookie = cookie_header(&cookies);
        assert!(cookie.starts_with("sb-127-auth-token"), "{cookie}");
        let r = request(
            stack.frontend,
            "GET",
            "/api/profile",
            &[("cookie", &cookie)],
            b"",
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["email"], email);
        let r = request(
            stack.frontend,
            "GET",
            "/api/admin/stats",
            &[("cookie", &cookie)],
            b"",
        );
        assert_eq!(r.status, admin, "{}", r.body);
    }
    // supabase-js really talked to the mock: a password grant per user, and setSession's user
    // lookup.
    assert_eq!(stack.auth.count(Endpoint::Password), 2);
    assert!(stack.auth.count(Endpoint::User) >= 2);
}
