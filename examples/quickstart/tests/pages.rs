//! The quickstart's server-rendered dashboard under load over real HTTP: 50 concurrent page
//! loads (50 threads, 50 connections) carrying the same expired session cause exactly one
//! refresh at the auth server, and every one of them renders the user's dashboard with the
//! new session's cookies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::{Arc, Barrier};
use std::time::Duration;

use backend_common::drive::{Response, request};
use quickstart::{USER, start_on_runtime};
use supagate_testkit::Endpoint;

const HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

fn cookies_of(r: &Response) -> String {
    r.headers_named("set-cookie")
        .iter()
        .filter(|c| !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn fifty_concurrent_page_loads_with_one_expired_session_refresh_once() {
    // Access tokens live 6 s, refreshed within 3 s of expiry (so that every token the proxy
    // uses has 3 s left: the auth server allows no leeway on `exp` when the session is
    // checked, and a loaded machine must not make the new token expire mid-test).
    let (_rt, stack) = start_on_runtime(6, 3).unwrap();
    let f = stack.frontend;
    let body = format!(
        "email={}&password={}&next=%2Fdashboard",
        USER.0.replace('@', "%40"),
        USER.1
    );
    let r = request(
        f,
        "POST",
        "/auth/sign-in",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("sec-fetch-site", "same-origin"),
            ("accept", HTML),
        ],
        body.as_bytes(),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let cookie = Arc::new(cookies_of(&r));
    std::thread::sleep(Duration::from_millis(3500));

    let before = stack.auth.count(Endpoint::Refresh);
    let start = Arc::new(Barrier::new(50));
    let loads: Vec<_> = (0..50)
        .map(|_| {
            let (cookie, start) = (Arc::clone(&cookie), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                request(
                    f,
                    "GET",
                    "/dashboard",
                    &[("accept", HTML), ("cookie", cookie.as_str())],
                    b"",
                )
            })
        })
        .collect();
    let answers: Vec<Response> = loads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        stack.auth.count(Endpoint::Refresh) - before,
        1,
        "one refresh for 50 page loads"
    );
    let first = cookies_of(&answers[0]);
    assert!(!first.is_empty());
    for r in &answers {
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.contains(&format!(r#"id="who-email">{}<"#, USER.0)));
        assert_eq!(
            cookies_of(r),
            first,
            "every page carries the same new session"
        );
    }
    // The new session works on its own.
    let r = request(
        f,
        "GET",
        "/dashboard",
        &[("accept", HTML), ("cookie", first.as_str())],
        b"",
    );
    assert_eq!(r.status, 200);
    assert!(cookies_of(&r).is_empty(), "nothing left to refresh");
}
