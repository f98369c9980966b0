//! Apps whose router state is not theirs to shape find the authenticator in the request's
//! extensions (`supagate_axum::ext`):
//!
//! - a Loco-shaped app: its own `AppContext` as state (no `FromRef` for the authenticator), a
//!   project on asymmetric keys only (ES256 from a JWK set, where Loco's own JWT extractor
//!   verifies HS256 with a secret only), gates from `RequireLayer` / `AdmitLayer`;
//! - a Leptos-shaped server function: a handler that extracts from its request's parts with
//!   state `()`, as `leptos_axum::extract` does (Leptos itself is not built here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, RequestPartsExt, Router};
use serde_json::{Value, json};
use supagate_auth::Authenticator;
use supagate_axum::ext::{Admitted, Authenticated};
use supagate_axum::{AdmitLayer, RequireLayer};
use supagate_policy::{Policy, Requirement};
use supagate_testkit::{TestKeys, TokenBuilder};
use tower::ServiceExt;

/// What a Loco app's handlers get as state: the framework's context, not the app's choice.
#[derive(Clone)]
struct AppContext {
    environment: &'static str,
}

/// A project on asymmetric keys only: the JWK set, no HS256 secret.
fn es256_only() -> Authenticator {
    let keys = TestKeys::new();
    let verifier = supagate_jwt::Verifier::from_supabase_url(TestKeys::SUPABASE_URL)
        .jwk_set(keys.jwk_set())
        .clock(supagate_jwt::FixedClock::new(TokenBuilder::DEFAULT_NOW))
        .build()
        .unwrap();
    Authenticator::new(verifier)
}

fn loco_app(auth: &Authenticator) -> Router {
    let admins = Policy::require(Requirement::role("admin")).unwrap();
    Router::new()
        .route(
            "/notes",
            get(
                |State(ctx): State<AppContext>, Authenticated(c): Authenticated| async move {
                    Json(json!({ "user": c.sub, "env": ctx.environment }))
                },
            ),
        )
        .route(
            "/admin",
            get(|Authenticated(c): Authenticated| async move { Json(json!({ "admin": c.sub })) })
                .layer(RequireLayer::new(auth.clone(), admins)),
        )
        .route(
            "/whoami",
            get(|Admitted(c): Admitted| async move { Json(json!({ "mode": c.mode() })) })
                .layer(AdmitLayer::new(auth.clone(), "user, none".parse().unwrap())),
        )
        .route(
            "/maybe",
            get(|u: Option<Authenticated>| async move {
                Json(json!({ "user": u.map(|Authenticated(c)| c.sub) }))
            }),
        )
        .layer(Extension(auth.clone()))
        .with_state(AppContext {
            environment: "production",
        })
}

async fn call(app: &Router, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = Request::builder().uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 16)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_loco_shaped_app_with_its_own_state_and_asymmetric_keys() {
    let keys = TestKeys::new();
    let auth = es256_only();
    let app = loco_app(&auth);
    let user = TokenBuilder::new().sign_es256(&keys);
    let admin = TokenBuilder::new()
        .claim(
            "app_metadata",
            json!({ "provider": "email", "role": "admin" }),
        )
        .sign_es256(&keys);
    let hs256 = TokenBuilder::new().sign_hs256(&keys);

    let (status, body) = call(&app, "/notes", Some(&user)).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({ "user": TokenBuilder::DEFAULT_SUB, "env": "production" })
    );
    assert_eq!(call(&app, "/notes", None).await.0, 401);
    // The project has no HS256 secret: an HS256 token is refused, not accepted.
    assert_eq!(call(&app, "/notes", Some(&hs256)).await.0, 401);
    assert_eq!(call(&app, "/admin", Some(&user)).await.0, 403);
    assert_eq!(call(&app, "/admin", Some(&admin)).await.0, 200);
    assert_eq!(
        call(&app, "/whoami", None).await.1,
        json!({ "mode": "none" })
    );
    assert_eq!(
        call(&app, "/whoami", Some(&user)).await.1,
        json!({ "mode": "user" })
    );
    assert_eq!(call(&app, "/maybe", None).await.1, json!({ "user": null }));
    assert_eq!(call(&app, "/maybe", Some(&hs256)).await.0, 401);
}

/// A server function the way Leptos runs one: a plain handler (state `()`) that extracts
/// what it needs from its request's parts.
async fn server_fn(req: Request) -> Response {
    let (mut parts, _body) = req.into_parts();
    match parts.extract::<Option<Authenticated>>().await {
        Ok(Some(Authenticated(c))) => Json(json!({ "user": c.sub })).into_response(),
        Ok(None) => Json(json!({ "user": null })).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

#[tokio::test]
async fn a_leptos_shaped_server_function_extracts_with_unit_state() {
    let keys = TestKeys::new();
    let auth = es256_only();
    let app = Router::new()
        .route("/api/get_notes", post(server_fn))
        .layer(Extension(auth));
    let user = TokenBuilder::new().sign_es256(&keys);
    let post = |token: Option<String>| {
        let app = app.clone();
        async move {
            let mut req = Request::builder().method("POST").uri("/api/get_notes");
            if let Some(t) = token {
                req = req.header("authorization", format!("Bearer {t}"));
            }
            let res = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
            let status = res.status().as_u16();
            let bytes = axum::body::to_bytes(res.into_body(), 1 << 16)
                .await
                .unwrap();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }
    };
    assert_eq!(
        post(Some(user)).await,
        (200, json!({ "user": TokenBuilder::DEFAULT_SUB }))
    );
    assert_eq!(post(None).await, (200, json!({ "user": null })));
    let (status, body) = post(Some("not.a.token".into())).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_token");
}

/// Without the extension the request is refused with 500 (a set-up error, logged), never
/// served as if nobody were there: not even `Option<Authenticated>` reads "no user".
#[tokio::test]
async fn without_the_extension_every_request_is_refused() {
    let app = Router::new()
        .route(
            "/maybe",
            get(|u: Option<Authenticated>| async move { format!("{}", u.is_some()) }),
        )
        .route(
            "/whoami",
            get(|Admitted(c): Admitted| async move { c.mode() }),
        );
    assert_eq!(call(&app, "/maybe", None).await.0, 500);
    assert_eq!(call(&app, "/whoami", None).await.0, 500);
}
