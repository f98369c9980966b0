//! The real `@supabase/supabase-js` against the example backend: a client created with a
//! publishable key calls `/public/whoami` (modes `user, none`) with the headers supabase-js
//! itself sends, signed out (`{"mode":"none"}`: its key as the bearer is no user) and signed
//! in against `MockAuth` (`{"mode":"user",…}`).
//!
//! Needs Node and `npm ci` in `interop/node`; runs when `SUPAGATE_INTEROP=1` (as `.ci/test`
//! sets it).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use backend_common::drive::{Server, node};
use serde_json::json;
use supagate_testkit::{MockAuth, TestKeys};

#[test]
fn supabase_js_signed_out_and_signed_in() {
    if std::env::var("SUPAGATE_INTEROP").as_deref() != Ok("1") {
        eprintln!("skipped: set SUPAGATE_INTEROP=1 after `npm ci` in interop/node (.ci/test does)");
        return;
    }
    let auth = MockAuth::start();
    let user_id = auth.add_user("js@example.com", "correct horse battery", json!({}));
    let server = Server::spawn(
        env!("CARGO_BIN_EXE_backend-axum"),
        &[
            ("SUPABASE_URL", &auth.url()),
            ("SUPABASE_JWKS_URL", &auth.jwks_url()),
            ("SUPABASE_PUBLISHABLE_KEY", TestKeys::PUBLISHABLE_KEY),
            ("BIND", "127.0.0.1:0"),
        ],
    );
    let out = node(
        "whoami.mjs",
        &[
            &auth.url(),
            TestKeys::PUBLISHABLE_KEY,
            &format!("http://{}", server.addr),
            "js@example.com",
            "correct horse battery",
        ],
    );
    let none = json!({ "status": 200, "body": { "mode": "none" } });
    assert_eq!(out["signed_out"]["fetch"], none, "{out}");
    assert_eq!(out["signed_out"]["functions"], none, "{out}");
    // What supabase-js sent while signed out: its key in `apikey`, and as the bearer.
    assert_eq!(out["headers"]["apikey"], "<publishable key>", "{out}");
    assert_eq!(
        out["headers"]["authorization"], "Bearer <publishable key>",
        "{out}"
    );
    let user = json!({ "status": 200, "body": { "mode": "user", "user_id": user_id } });
    assert_eq!(out["signed_in"]["fetch"], user, "{out}");
    assert_eq!(out["signed_in"]["functions"], user, "{out}");
}
