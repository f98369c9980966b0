//! The quickstart with PostgreSQL: the demo page's notes go through the proxy to backend-rls,
//! and each user sees only their own (and the public ones), by Row Level Security.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use backend_common::drive::{Response, request};
use quickstart::{ADMIN, USER, start_on_runtime};
use serde_json::{Value, json};

fn cookies_of(r: &Response) -> String {
    r.headers_named("set-cookie")
        .iter()
        .filter(|c| !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn notes_through_the_proxy_are_each_users_own() {
    let (_rt, stack) = start_on_runtime(3600, 90).unwrap();
    if let Err(why) = &stack.postgres {
        // `.ci/test` installs PostgreSQL: there, this is a failure.
        assert!(
            std::env::var("SUPAGATE_BROWSER").is_err(),
            "no PostgreSQL: {why}"
        );
        return;
    }
    let f = stack.frontend;
    let sign_in = |(email, password): (&str, &str)| {
        let body = format!("email={}&password={password}", email.replace('@', "%40"));
        let r = request(
            f,
            "POST",
            "/auth/sign-in",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("sec-fetch-site", "same-origin"),
            ],
            body.as_bytes(),
        );
        assert!(
            r.status == 303 || r.status == 200,
            "{} {}",
            r.status,
            r.body
        );
        cookies_of(&r)
    };
    let (user, admin) = (sign_in(USER), sign_in(ADMIN));
    let call = |method: &str, cookie: &str, body: Option<Value>| {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        request(
            f,
            method,
            "/api/notes",
            &[
                ("cookie", cookie),
                ("content-type", "application/json"),
                ("sec-fetch-site", "same-origin"),
                ("origin", &format!("http://{f}")),
            ],
            body.as_bytes(),
        )
    };
    let r = call("POST", &user, Some(json!({"body": "user's private note"})));
    assert_eq!(r.status, 201, "{}", r.body);
    let r = call(
        "POST",
        &admin,
        Some(json!({"body": "admin's public note", "public": true})),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let bodies = |r: Response| -> Vec<String> {
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["body"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        bodies(call("GET", &user, None)),
        ["admin's public note", "user's private note"]
    );
    assert_eq!(bodies(call("GET", &admin, None)), ["admin's public note"]);
    assert_eq!(bodies(call("GET", "", None)), ["admin's public note"]);
    // The user signs out: the old cookie's token no longer reads notes (the session check asks
    // the auth server, and the proxy cannot refresh a signed-out session).
    let r = request(
        f,
        "POST",
        "/auth/sign-out",
        &[("cookie", &user), ("sec-fetch-site", "same-origin")],
        b"",
    );
    assert!(r.status == 204 || r.status == 303, "{}", r.status);
    let r = call("GET", &user, None);
    assert_eq!(r.status, 401, "{}", r.body);
}
