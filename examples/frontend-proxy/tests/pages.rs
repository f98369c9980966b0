//! The server-rendered pages of the frontend-proxy binary over real HTTP, with plain HTML
//! forms (no JavaScript): the protected dashboard's redirect, sign-in through the form (and
//! its refusals, sent back to the sign-in page), the dashboard rendered from the verified
//! session and the backend's `/profile/me` fetched server-side, a refresh on a page load,
//! the CSRF gate on page forms, and what an attacker can put into a page.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{ORIGIN, Stack, pairs, set_cookies};
use serde_json::json;
use supagate_testkit::Endpoint;

const HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

fn sign_in(s: &Stack, body: &str) -> backend_common::drive::Response {
    s.post(
        "/auth/sign-in",
        &[("origin", ORIGIN), ("accept", HTML), FORM],
        body,
    )
}

#[test]
fn the_dashboard_is_protected_and_rendered_by_the_server() {
    let s = Stack::start();
    // Signed out: a browser is sent to the sign-in page with `next`; a script gets 401.
    let r = s.get("/dashboard?tab=1", &[("accept", HTML)]);
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("location"),
        Some("/sign-in?next=%2Fdashboard%3Ftab%3D1")
    );
    let r = s.get("/dashboard", &[("accept", "application/json")]);
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_some());
    let r = s.get("/sign-in?next=%2Fdashboard%3Ftab%3D1", &[("accept", HTML)]);
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains(r#"name="next" value="/dashboard?tab=1""#),
        "{}",
        r.body
    );

    // A wrong password through the form: back to the sign-in page with the reason.
    let r = sign_in(
        &s,
        "email=alice%40example.com&password=wrong&next=%2Fdashboard",
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.header("location"),
        Some("/sign-in?error=invalid_credentials&next=%2Fdashboard")
    );
    assert!(set_cookies(&r).is_empty());
    let r = s.get("/sign-in?error=invalid_credentials", &[("accept", HTML)]);
    assert!(r.body.contains("Wrong email or password."));

    // The right one: to the dashboard with the session cookies.
    let r = sign_in(
        &s,
        "email=alice%40example.com&password=correct+horse&next=%2Fdashboard",
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/dashboard"));
    let cookie = pairs(set_cookies(&r).into_iter());
    let r = s.get("/dashboard", &[("accept", HTML), ("cookie", &cookie)]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body
            .contains(r#"<strong id="who-email">alice@example.com</strong>"#)
    );
    assert!(r.body.contains(r#"<strong id="who-role">admin</strong>"#));
    // /profile/me, fetched by the server with alice's bearer.
    assert!(
        r.body
            .contains(r#"id="server-profile-status" class="ok">200<"#),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("&#34;email&#34;: &#34;alice@example.com&#34;"),
        "{}",
        r.body
    );
    // Never a token in the page, never cached by a shared cache.
    assert!(!r.body.contains("eyJ"), "no JWT in the page");
    assert_eq!(r.header("cache-control"), Some("private, no-store"));
    assert!(set_cookies(&r).is_empty(), "nothing to refresh");
    // Signed in, the sign-in page goes on to `next`.
    let r = s.get("/sign-in?next=%2Fdashboard", &[("cookie", &cookie)]);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/dashboard"));

    // Sign out through the form: cleared, and the dashboard is protected again.
    let r = s.post(
        "/auth/sign-out?next=/",
        &[("origin", ORIGIN), ("cookie", &cookie), FORM],
        "",
    );
    assert_eq!(r.status, 303);
    assert!(set_cookies(&r).iter().all(|c| c.contains("Max-Age=0")));
}

#[test]
fn an_expired_session_is_refreshed_on_a_page_load() {
    let s = Stack::start();
    let cookie = s.cookie("bob@example.com", -5);
    let before = s.auth.count(Endpoint::Refresh);
    let r = s.get("/dashboard", &[("accept", HTML), ("cookie", &cookie)]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.auth.count(Endpoint::Refresh), before + 1);
    assert!(r.body.contains("bob@example.com"));
    let set = set_cookies(&r);
    assert!(!set.is_empty() && set.iter().any(|c| !c.contains("Max-Age=0")));
    assert_eq!(
        r.header("cache-control"),
        Some("private, no-cache, no-store, must-revalidate, max-age=0")
    );
}

#[test]
fn page_forms_are_behind_the_csrf_gate() {
    let s = Stack::start();
    let cookie = s.cookie("bob@example.com", 3600);
    for origin in ["https://evil.example", "null", "http://app.localhost:3001"] {
        let r = s.post(
            "/dashboard/notes",
            &[("origin", origin), ("cookie", &cookie), FORM],
            "body=planted",
        );
        assert_eq!(r.status, 403, "{origin}: {}", r.body);
    }
    let r = s.post(
        "/dashboard/notes",
        &[("sec-fetch-site", "cross-site"), ("cookie", &cookie), FORM],
        "body=planted",
    );
    assert_eq!(r.status, 403);
    // A cross-site sign-in form (login CSRF) is refused, not sent back to the sign-in page.
    let r = s.post(
        "/auth/sign-in",
        &[("origin", "https://evil.example"), ("accept", HTML), FORM],
        "email=bob%40example.com&password=battery+staple",
    );
    assert_eq!(r.status, 403);
    assert!(set_cookies(&r).is_empty());
}

#[test]
fn nothing_an_attacker_controls_is_rendered_as_html() {
    let s = Stack::start();
    s.auth.add_user(
        "mallory@example.com",
        "pw",
        json!({"role": "<script>alert(1)</script>"}),
    );
    let cookie = s.cookie("mallory@example.com", 3600);
    let r = s.get("/dashboard", &[("accept", HTML), ("cookie", &cookie)]);
    assert_eq!(r.status, 200);
    assert!(!r.body.contains("<script>alert"), "escaped");
    assert!(
        r.body
            .contains(r#"id="who-role">&#60;script&#62;alert(1)&#60;/script&#62;<"#),
        "{}",
        r.body
    );
    // The sign-in page echoes neither an unknown error code nor a foreign `next`.
    let r = s.get(
        "/sign-in?error=%3Cb%3Ehi%3C%2Fb%3E&next=%2F%2Fevil.example",
        &[("accept", HTML)],
    );
    assert!(!r.body.contains("<b>hi"));
    assert!(r.body.contains("Sign-in failed."));
    assert!(r.body.contains(r#"name="next" value="/dashboard""#));
    // A redirect to the sign-in page never carries a foreign `next` either.
    let r = s.get("//evil.example/dashboard", &[("accept", HTML)]);
    assert_ne!(r.status, 200);
    if let Some(location) = r.header("location") {
        assert!(!location.contains("evil"), "{location}");
    }
    // A forged session is cleared and the visitor is signed out, without a refresh.
    let before = s.auth.count(Endpoint::Refresh);
    let forged = cookie.replace("base64-", "base64-eyJhY2Nlc3NfdG9rZW4iOiJ4In0");
    let r = s.get("/", &[("accept", HTML), ("cookie", &forged)]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(r#"id="sign-in""#), "signed out");
    assert_eq!(s.auth.count(Endpoint::Refresh), before);
}
