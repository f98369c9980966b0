//! OpenAPI through aide: the extractors state their requirement and refusals, `access` states
//! a layer's gate, and `document` adds the schemes of the authenticator and turns "a signed-in
//! user" into the schemes its token source reads.
#![cfg(feature = "aide")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aide::axum::ApiRouter;
use aide::axum::routing::{get, get_with};
use aide::openapi::OpenApi;
use serde_json::{Value, json};
use supagate_auth::openapi::Access;
use supagate_auth::{Authenticator, Gate, TokenSource};
use supagate_axum::{AdmitLayer, Admitted, Authenticated, RequireLayer};
use supagate_cookie::{CookieName, SessionReader};
use supagate_policy::{Policy, Requirement};
use supagate_testkit::TestKeys;

async fn me(Authenticated(c): Authenticated) -> String {
    c.sub.to_string()
}

async fn whoami(Admitted(c): Admitted) -> &'static str {
    c.mode()
}

async fn healthz() -> &'static str {
    "ok"
}

async fn stats() -> &'static str {
    "{}"
}

fn document(auth: &Authenticator) -> Value {
    let modes = "user, none".parse().unwrap();
    let admins = Policy::require(Requirement::role("admin")).unwrap();
    let admin_gate = Gate::policy(auth.clone(), admins.clone());
    let mut api = OpenApi::default();
    let _router: axum::Router = ApiRouter::new()
        .api_route("/me", get(me))
        .api_route(
            "/whoami",
            get_with(
                whoami,
                supagate_axum::aide::access(&Access::of_modes(auth, &modes)),
            )
            .layer(AdmitLayer::new(auth.clone(), modes)),
        )
        .api_route(
            "/admin/stats",
            get_with(
                stats,
                supagate_axum::aide::access(&Access::of_gate(&admin_gate)),
            )
            .route_layer(RequireLayer::new(auth.clone(), admins)),
        )
        .api_route(
            "/healthz",
            get_with(healthz, supagate_axum::aide::access(&Access::public())),
        )
        .finish_api(&mut api)
        .with_state(auth.clone());
    supagate_axum::aide::document(&mut api, auth);
    serde_json::to_value(&api).unwrap()
}

#[test]
fn routes_state_their_requirements_and_refusals() {
    let auth = Authenticator::new(TestKeys::new().verifier());
    let doc = document(&auth);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["supabase_bearer"]["scheme"],
        "bearer"
    );
    let op = |path: &str| doc["paths"][path]["get"].clone();
    assert_eq!(op("/me")["security"], json!([{ "supabase_bearer": [] }]));
    for code in ["401", "403"] {
        assert!(op("/me")["responses"][code].is_object(), "/me {code}");
        assert!(
            op("/admin/stats")["responses"][code].is_object(),
            "/admin/stats {code}"
        );
    }
    assert_eq!(
        op("/admin/stats")["security"],
        json!([{ "supabase_bearer": [] }])
    );
    assert_eq!(
        op("/whoami")["security"],
        json!([{ "supabase_bearer": [] }, {}])
    );
    assert_eq!(op("/healthz")["security"], json!([{}]));
    assert!(op("/healthz")["responses"]["401"].is_null());
    // No placeholder survives the finishing.
    assert!(!doc.to_string().contains("supabase_user"));
}

#[test]
fn a_cookie_authenticator_documents_the_session_cookie() {
    let reader = SessionReader::new(CookieName::from_supabase_url(TestKeys::SUPABASE_URL).unwrap());
    let auth = Authenticator::builder(TestKeys::new().verifier())
        .token_source(TokenSource::AuthorizationHeaderOrSessionCookie(reader))
        .build()
        .unwrap();
    let doc = document(&auth);
    let cookie = &doc["components"]["securitySchemes"]["supabase_session"];
    assert_eq!(cookie["type"], "apiKey");
    assert_eq!(cookie["in"], "cookie");
    assert!(cookie["name"].as_str().unwrap().starts_with("sb-"));
    assert_eq!(
        doc["paths"]["/me"]["get"]["security"],
        json!([{ "supabase_bearer": [] }, { "supabase_session": [] }])
    );
}
