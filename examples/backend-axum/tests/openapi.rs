//! `GET /openapi.json`: an OpenAPI 3.1 document, served without a token, whose security
//! schemes come from the authenticator and whose routes each state their requirement and
//! their refusals, as the router applies them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use http::Request;
use serde_json::{Value, json};
use supagate::Authenticator;
use supagate::auth::{ApiKeys, ProtectedResource};
use supagate::core::Origin;
use supagate_testkit::TestKeys;
use tower::ServiceExt;

fn auth() -> Authenticator {
    let keys = ApiKeys::builder()
        .publishable("default", TestKeys::PUBLISHABLE_KEY)
        .secret("default", TestKeys::SECRET_KEY)
        .build()
        .unwrap();
    Authenticator::builder(TestKeys::new().verifier())
        .api_keys(keys)
        .build()
        .unwrap()
}

fn app() -> axum::Router {
    let resource = ProtectedResource::new(
        Origin::parse("https://api.example.com").unwrap(),
        "/",
        TestKeys::SUPABASE_URL,
    )
    .unwrap();
    backend_axum::app(auth(), resource).unwrap()
}

async fn get(app: &axum::Router, path: &str) -> (u16, Vec<u8>) {
    let res = app
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, bytes.to_vec())
}

#[tokio::test]
async fn the_document_states_each_routes_requirement_and_refusals() {
    let app = app();
    let (status, bytes) = get(&app, "/openapi.json").await;
    assert_eq!(status, 200, "served without a token");
    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );

    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(
        schemes["supabase_bearer"],
        json!({ "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "A Supabase access token (a JWT) of a signed-in user." })
    );
    assert_eq!(schemes["supabase_apikey"]["type"], "apiKey");
    assert_eq!(schemes["supabase_apikey"]["in"], "header");
    assert_eq!(schemes["supabase_apikey"]["name"], "apikey");

    let op = |path: &str| doc["paths"][path]["get"].clone();
    let codes = |path: &str| -> Vec<String> {
        let mut c: Vec<String> = op(path)["responses"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        c.sort();
        c
    };
    // Public: stated as no credentials, no refusal.
    assert_eq!(op("/healthz")["security"], json!([{}]));
    assert_eq!(codes("/healthz"), ["200"]);
    // A user.
    assert_eq!(
        op("/profile/me")["security"],
        json!([{ "supabase_bearer": [] }])
    );
    assert_eq!(codes("/profile/me"), ["200", "400", "401", "403", "503"]);
    assert_eq!(
        op("/admin/stats")["security"],
        json!([{ "supabase_bearer": [] }])
    );
    assert!(codes("/admin/stats").contains(&"403".to_owned()));
    // Modes, in order; `none` as `{}`.
    assert_eq!(
        op("/public/whoami")["security"],
        json!([{ "supabase_bearer": [] }, {}])
    );
    assert_eq!(
        op("/client/ping")["security"],
        json!([{ "supabase_apikey": [] }])
    );
    assert_eq!(codes("/client/ping"), ["200", "400", "401", "403"]);
    assert_eq!(
        op("/internal/stats")["security"],
        json!([{ "supabase_apikey": [] }])
    );

    // The document and the router agree: every documented route exists, and its refusals
    // are what the router answers without credentials.
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(paths.len(), 10);
    for (path, item) in paths {
        let (status, _) = get(&app, path).await;
        let public = item["get"]["security"] == json!([{}])
            || item["get"]["security"]
                .as_array()
                .unwrap()
                .contains(&json!({}));
        if public {
            assert_eq!(status, 200, "{path}");
        } else {
            assert_eq!(status, 401, "{path}");
            assert!(item["get"]["responses"]["401"].is_object(), "{path}");
        }
    }
    // Nothing secret in it.
    let text = String::from_utf8(bytes).unwrap();
    assert!(!text.contains(TestKeys::PUBLISHABLE_KEY) && !text.contains(TestKeys::SECRET_KEY));
    assert!(!text.contains(TestKeys::HS256_SECRET));
}
