//! One table of HTTP cases, run in-process against the axum and the actix-web adapter,
//! against a plain `tower::Service` behind the generic `GateLayer` (no framework at all), and
//! against the tonic adapter: the first three must give the same status, `WWW-Authenticate`,
//! `Retry-After` and body for every case, and tonic the same decision as a gRPC client sees
//! it (the status's code for the HTTP status, its message the `error_description`, the same
//! challenge and `Retry-After` as metadata, the same answer).
#![cfg(all(feature = "axum", feature = "actix", feature = "tonic"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use supagate::RequestError as _;

use serde::Deserialize;
use serde_json::{Value, json};
use supagate::auth::ProtectedResource;
use supagate::jwt::{Error as JwtError, KeySource, PreparedKeys};
use supagate::{
    Authenticator, CookieName, FixedClock, Hs256Secret, Origin, Policy, RefusalBody, Requirement,
    SessionReader, TokenSource, Verifier,
};
use supagate_testkit::{MockOidc, TestKeys, TokenBuilder, session_cookie_header};

const NOW: i64 = TokenBuilder::DEFAULT_NOW;
const OTHER_SUB: &str = "11111111-2222-4333-8444-555555555555";
const OAUTH_CLIENT: &str = "9a1b2c3d-0000-4000-8000-00000000c11e";
/// The third-party issuer the auth-mode routes trust (keys: the testkit's mock provider).
const CLERK: &str = "https://clerk.example.com";

/// A key source that never has keys: every asymmetric token gets 503.
#[derive(Debug)]
struct KeysDown;

impl KeySource for KeysDown {
    fn current(&self) -> Result<Arc<PreparedKeys>, JwtError> {
        Err(JwtError::KeysUnavailable)
    }
}

struct Setup {
    bearer: Authenticator,
    /// Admits `service_role` and one OAuth client on plain extractor routes.
    internal: Authenticator,
    cookie: Authenticator,
    custom: Authenticator,
    down: Authenticator,
    /// Names its RFC 9728 metadata in 401 challenges.
    mcp: Authenticator,
    resource: ProtectedResource,
    admin: Policy,
    billing: Policy,
    signed_in: Policy,
    /// `RecentSignIn` within 10 minutes: checked with the verifier's `FixedClock` (`NOW`, a
    /// time the system clock has not reached), never the system clock.
    recent: Policy,
    /// Scope `notes:read`, for tokens of the project's OAuth client (user sessions carry no
    /// `scope`).
    notes: Policy,
    /// The app's own users, or the OAuth client with scope `notes:read`.
    client_notes: Policy,
    /// The test project's API keys and legacy anon key, for the auth-mode routes.
    keyed: Authenticator,
}

fn setup() -> Setup {
    let keys = TestKeys::new();
    let verifier = keys.verifier_at(NOW);
    let reader = SessionReader::new(CookieName::from_supabase_url(TestKeys::SUPABASE_URL).unwrap());
    let down_verifier = Verifier::from_supabase_url(TestKeys::SUPABASE_URL)
        .hs256_secret(Hs256Secret::new(TestKeys::HS256_SECRET).unwrap())
        .key_source(KeysDown)
        .clock(FixedClock::new(NOW))
        .build()
        .unwrap();
    let resource = ProtectedResource::new(
        Origin::parse("https://api.example.com").unwrap(),
        "/mcp",
        TestKeys::SUPABASE_URL,
    )
    .unwrap()
    .scopes_supported(["notes:read"]);
    Setup {
        mcp: Authenticator::builder(verifier.clone())
            .protected_resource(&resource)
            .build()
            .unwrap(),
        resource,
        bearer: Authenticator::new(verifier.clone()),
        internal: Authenticator::builder(verifier.clone())
            .allow_postgres_roles(["service_role"])
            .allow_oauth_clients([OAUTH_CLIENT])
            .build()
            .unwrap(),
        cookie: Authenticator::builder(verifier.clone())
            .token_source(TokenSource::SessionCookie(reader))
            .build()
            .unwrap(),
        custom: Authenticator::builder(verifier)
            .realm("example")
            .error_body(|err| {
                RefusalBody::json(&json!({ "message": err.description(), "custom": true }))
            })
            .build()
            .unwrap(),
        down: Authenticator::new(down_verifier),
        admin: Policy::require(Requirement::role("admin")).unwrap(),
        billing: Policy::require(Requirement::all([
            Requirement::Permanent,
            Requirement::Aal2,
        ]))
        .unwrap(),
        signed_in: Policy::authenticated(),
        recent: Policy::require(Requirement::RecentSignIn { max_age_secs: 600 }).unwrap(),
        notes: Policy::builder()
            .require(Requirement::Scope("notes:read".into()))
            .allow_oauth_clients([OAUTH_CLIENT])
            .build()
            .unwrap(),
        client_notes: Policy::builder()
            .require(Requirement::ClientScope("notes:read".into()))
            .allow_oauth_clients([OAUTH_CLIENT])
            .build()
            .unwrap(),
        keyed: Authenticator::builder(
            keys.verifier_builder()
                .clock(FixedClock::new(NOW))
                .third_party_issuer(
                    supagate::ThirdPartyIssuer::new(CLERK)
                        .audience(MockOidc::AUDIENCE)
                        .jwk_set(MockOidc::jwk_set()),
                )
                .build()
                .unwrap(),
        )
        .api_keys(supagate::auth::ApiKeys::from_variables(&TestKeys::api_key_variables()).unwrap())
        .legacy_anon_key(TestKeys::legacy_anon_key())
        .build()
        .unwrap(),
    }
}

/// The auth-mode routes: path and modes, the same on both adapters.
const MODE_ROUTES: [(&str, &str); 5] = [
    ("/modes/user", "user"),
    ("/modes/whoami", "user, none"),
    ("/modes/client", "publishable"),
    ("/modes/web", "publishable:web"),
    ("/modes/internal", "secret:*"),
];

fn caller_json(c: &supagate::auth::Caller) -> Value {
    json!({ "mode": c.mode(), "key": c.key(), "user_id": c.user().map(|u| u.sub.clone()) })
}

/// The routes whose handler takes `Admitted` and the user extractor in both orders (modes
/// `publishable, user`), and `Admitted` twice (modes `none`).
const BOTH_FIRST: &str = "/modes/admitted-then-user";
const USER_FIRST: &str = "/modes/user-then-admitted";
const TWICE: &str = "/modes/twice";
const BOTH_MODES: &str = "publishable, user";

fn both_json(c: &supagate::auth::Caller, user: Option<&supagate::Claims>) -> Value {
    json!({ "caller": caller_json(c), "authenticated": user.map(|u| u.sub.clone()) })
}

#[derive(Deserialize)]
struct AdminView {
    app_metadata: Value,
}

fn profile(c: &supagate::Claims) -> Value {
    json!({ "user_id": c.sub, "email": c.email })
}

// ----------------------------------------------------------------------------------- axum

mod on_axum {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use axum::{Json, http};
    use supagate::axum::{AdmitLayer, Admitted, Authenticated, RequireLayer, ResourceMetadata};
    use tower::ServiceExt;

    pub(super) fn app(s: &Setup) -> Router {
        let admin = Router::new()
            .route(
                "/admin",
                get(|Authenticated(c): Authenticated<AdminView>| async move {
                    Json(json!({ "ok": true, "role": c.app_metadata["role"] }))
                }),
            )
            .route_layer(RequireLayer::new(s.bearer.clone(), s.admin.clone()));
        let billing = Router::new()
            .route("/billing", get(|| async { Json(json!({ "ok": true })) }))
            .route_layer(RequireLayer::new(s.bearer.clone(), s.billing.clone()));
        let recent = Router::new()
            .route("/recent", get(|| async { Json(json!({ "ok": true })) }))
            .route_layer(RequireLayer::new(s.bearer.clone(), s.recent.clone()));
        let notes = Router::new()
            .route("/notes", get(|| async { Json(json!({ "ok": true })) }))
            .route_layer(RequireLayer::new(s.bearer.clone(), s.notes.clone()));
        let client_notes = Router::new()
            .route(
                "/client-notes",
                get(|| async { Json(json!({ "ok": true })) }),
            )
            .route_layer(RequireLayer::new(s.bearer.clone(), s.client_notes.clone()));
        let resource = s.resource.clone();
        let mcp = Router::new()
            .route("/mcp", get(|| async { Json(json!({ "ok": true })) }))
            .route_layer(RequireLayer::new(s.mcp.clone(), s.signed_in.clone()))
            .route(
                &s.resource.metadata_path(),
                get(move || std::future::ready(ResourceMetadata(resource.clone()))),
            );
        let mut modes = Router::new().route(
            "/modes/optional",
            get(|c: Option<Authenticated>| async move {
                Json(json!({ "user_id": c.map(|Authenticated(c)| c.sub) }))
            }),
        );
        for (path, list) in MODE_ROUTES {
            modes = modes.route(
                path,
                get(|Admitted(c): Admitted| async move { Json(caller_json(&c)) })
                    .layer(AdmitLayer::new(s.keyed.clone(), list.parse().unwrap())),
            );
        }
        let layer = |list: &str| AdmitLayer::new(s.keyed.clone(), list.parse().unwrap());
        let modes = modes
            .route(
                BOTH_FIRST,
                get(
                    |Admitted(c): Admitted, u: Option<Authenticated>| async move {
                        Json(both_json(&c, u.as_ref().map(|Authenticated(u)| u)))
                    },
                )
                .layer(layer(BOTH_MODES)),
            )
            .route(
                USER_FIRST,
                get(
                    |u: Option<Authenticated>, Admitted(c): Admitted| async move {
                        Json(both_json(&c, u.as_ref().map(|Authenticated(u)| u)))
                    },
                )
                .layer(layer(BOTH_MODES)),
            )
            .route(
                TWICE,
                get(|Admitted(a): Admitted, Admitted(_b): Admitted| async move {
                    Json(caller_json(&a))
                })
                .layer(layer("none")),
            )
            .with_state(s.keyed.clone());
        let cookie = Router::new()
            .route(
                "/cookie",
                get(|Authenticated(c): Authenticated| async move { Json(profile(&c)) }),
            )
            .route_layer(RequireLayer::new(s.cookie.clone(), s.signed_in.clone()));
        let custom = Router::new()
            .route("/custom", get(|| async { Json(json!({ "ok": true })) }))
            .route_layer(RequireLayer::new(s.custom.clone(), s.signed_in.clone()));
        let down = Router::new()
            .route("/keys-down", get(|| async { Json(json!({ "ok": true })) }))
            .route_layer(RequireLayer::new(s.down.clone(), s.signed_in.clone()));
        Router::new()
            .route(
                "/profile",
                get(|Authenticated(c): Authenticated| async move { Json(profile(&c)) }),
            )
            .route(
                "/optional",
                get(|c: Option<Authenticated>| async move {
                    Json(json!({ "user_id": c.map(|Authenticated(c)| c.sub) }))
                }),
            )
            .merge(admin)
            .merge(billing)
            .merge(recent)
            .merge(notes)
            .merge(client_notes)
            .merge(mcp)
            .merge(cookie)
            .merge(custom)
            .merge(down)
            .with_state(s.bearer.clone())
            .merge(modes)
            .merge(
                Router::new()
                    .route(
                        "/internal",
                        get(|Authenticated(c): Authenticated| async move { Json(profile(&c)) }),
                    )
                    .with_state(s.internal.clone()),
            )
    }

    pub(super) fn run(app: &Router, case: &Case) -> Observed {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut req = http::Request::builder().uri(case.path);
        for (k, v) in &case.headers {
            req = req.header(*k, v.as_bytes());
        }
        let res = rt
            .block_on(app.clone().oneshot(req.body(Body::empty()).unwrap()))
            .unwrap();
        let header = |n: &str| res.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
        let (status, www, retry, ctype) = (
            res.status().as_u16(),
            header("www-authenticate"),
            header("retry-after"),
            header("content-type"),
        );
        let bytes = rt
            .block_on(axum::body::to_bytes(res.into_body(), 1 << 20))
            .unwrap();
        Observed::new(status, www, retry, ctype, &bytes)
    }
}

// ----------------------------------------------------------------------------------- actix

mod on_actix {
    use super::*;
    use actix_web::{App, HttpResponse, test, web};
    use supagate::actix::{
        Admit, Admitted, Authenticated, MaybeAuthenticated, Require, ResourceMetadata,
    };

    pub(super) fn run_all(s: &Setup, cases: &[Case]) -> Vec<Observed> {
        actix_web::rt::System::new().block_on(async {
            let internal = s.internal.clone();
            let (mcp, resource) = (s.mcp.clone(), s.resource.clone());
            let (bearer, cookie, custom, down) = (
                s.bearer.clone(),
                s.cookie.clone(),
                s.custom.clone(),
                s.down.clone(),
            );
            let (admin, billing, signed_in, recent, notes, client_notes) = (
                s.admin.clone(),
                s.billing.clone(),
                s.signed_in.clone(),
                s.recent.clone(),
                s.notes.clone(),
                s.client_notes.clone(),
            );
            let keyed = s.keyed.clone();
            let mode_routes = move |cfg: &mut web::ServiceConfig| {
                cfg.service(
                    web::resource("/modes/optional")
                        .app_data(keyed.clone())
                        .route(web::get().to(
                            |MaybeAuthenticated(c): MaybeAuthenticated| async move {
                                HttpResponse::Ok().json(json!({ "user_id": c.map(|c| c.sub) }))
                            },
                        )),
                );
                for (path, list) in MODE_ROUTES {
                    cfg.service(
                        web::resource(path)
                            .app_data(keyed.clone())
                            .wrap(Admit::new(keyed.clone(), list.parse().unwrap()))
                            .route(web::get().to(|Admitted(c): Admitted| async move {
                                HttpResponse::Ok().json(caller_json(&c))
                            })),
                    );
                }
                let admit = |list: &str| Admit::new(keyed.clone(), list.parse().unwrap());
                cfg.service(
                    web::resource(BOTH_FIRST)
                        .app_data(keyed.clone())
                        .wrap(admit(BOTH_MODES))
                        .route(web::get().to(
                            |Admitted(c): Admitted, MaybeAuthenticated(u): MaybeAuthenticated| async move {
                                HttpResponse::Ok().json(both_json(&c, u.as_ref()))
                            },
                        )),
                )
                .service(
                    web::resource(USER_FIRST)
                        .app_data(keyed.clone())
                        .wrap(admit(BOTH_MODES))
                        .route(web::get().to(
                            |MaybeAuthenticated(u): MaybeAuthenticated, Admitted(c): Admitted| async move {
                                HttpResponse::Ok().json(both_json(&c, u.as_ref()))
                            },
                        )),
                )
                .service(
                    web::resource(TWICE)
                        .app_data(keyed.clone())
                        .wrap(admit("none"))
                        .route(web::get().to(
                            |Admitted(a): Admitted, Admitted(_b): Admitted| async move {
                                HttpResponse::Ok().json(caller_json(&a))
                            },
                        )),
                );
            };
            let app =
                test::init_service(
                    App::new()
                        .app_data(bearer.clone())
                        .route(
                            "/profile",
                            web::get().to(|Authenticated(c): Authenticated| async move {
                                HttpResponse::Ok().json(profile(&c))
                            }),
                        )
                        .route(
                            "/optional",
                            web::get().to(|MaybeAuthenticated(c): MaybeAuthenticated| async move {
                                HttpResponse::Ok().json(json!({ "user_id": c.map(|c| c.sub) }))
                            }),
                        )
                        .service(web::resource("/internal").app_data(internal).route(
                            web::get().to(|Authenticated(c): Authenticated| async move {
                                HttpResponse::Ok().json(profile(&c))
                            }),
                        ))
                        .service(
                            web::resource("/admin")
                                .wrap(Require::new(bearer.clone(), admin))
                                .route(web::get().to(
                                    |Authenticated(c): Authenticated<AdminView>| async move {
                                        HttpResponse::Ok().json(
                                            json!({ "ok": true, "role": c.app_metadata["role"] }),
                                        )
                                    },
                                )),
                        )
                        .service(
                            web::resource("/billing")
                                .wrap(Require::new(bearer.clone(), billing))
                                .route(web::get().to(|| async {
                                    HttpResponse::Ok().json(json!({ "ok": true }))
                                })),
                        )
                        .service(
                            web::resource("/recent")
                                .wrap(Require::new(bearer.clone(), recent))
                                .route(web::get().to(|| async {
                                    HttpResponse::Ok().json(json!({ "ok": true }))
                                })),
                        )
                        .service(
                            web::resource("/mcp")
                                .wrap(Require::new(mcp, signed_in.clone()))
                                .route(web::get().to(|| async {
                                    HttpResponse::Ok().json(json!({ "ok": true }))
                                })),
                        )
                        .service(
                            web::resource(resource.metadata_path()).route(web::get().to(
                                move || std::future::ready(ResourceMetadata(resource.clone())),
                            )),
                        )
                        .service(
                            web::resource("/client-notes")
                                .wrap(Require::new(bearer.clone(), client_notes))
                                .route(web::get().to(|| async {
                                    HttpResponse::Ok().json(json!({ "ok": true }))
                                })),
                        )
                        .configure(mode_routes)
                        .service(
                            web::resource("/notes")
                                .wrap(Require::new(bearer.clone(), notes))
                                .route(web::get().to(|| async {
                                    HttpResponse::Ok().json(json!({ "ok": true }))
                                })),
                        )
                        .service(
                            web::resource("/cookie")
                                .wrap(Require::new(cookie, signed_in.clone()))
                                .route(web::get().to(
                                    |Authenticated(c): Authenticated| async move {
                                        HttpResponse::Ok().json(profile(&c))
                                    },
                                )),
                        )
                        .service(
                            web::resource("/custom")
                                .wrap(Require::new(custom, signed_in.clone()))
                                .route(web::get().to(|| async {
                                    HttpResponse::Ok().json(json!({ "ok": true }))
                                })),
                        )
                        .service(
                            web::resource("/keys-down")
                                .wrap(Require::new(down, signed_in))
                                .route(web::get().to(|| async {
                                    HttpResponse::Ok().json(json!({ "ok": true }))
                                })),
                        ),
                )
                .await;
            let mut out = Vec::new();
            for case in cases {
                let mut req = test::TestRequest::get().uri(case.path);
                for (k, v) in &case.headers {
                    req = req.append_header((*k, v.as_str()));
                }
                let res = test::call_service(&app, req.to_request()).await;
                let header = |n: &str| res.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
                let (status, www, retry, ctype) = (
                    res.status().as_u16(),
                    header("www-authenticate"),
                    header("retry-after"),
                    header("content-type"),
                );
                let bytes = test::read_body(res).await;
                out.push(Observed::new(status, www, retry, ctype, &bytes));
            }
            out
        })
    }
}

// ----------------------------------------------------------------------------------- tower

/// The same routes as a plain `tower::Service` on `http` types: the generic `GateLayer` for
/// the gated routes, and the framework-free extraction rules (`Admission::read_user`,
/// `Admission::take_caller`) where a handler reads the user or the caller, with no framework
/// in between. A path router of a few lines stands in for one.
mod on_tower {
    use super::*;
    use std::convert::Infallible;
    use std::future::Future;
    use supagate::auth::tower::GateLayer;
    use supagate::auth::{Admission, AuthError, Caller, Gate};
    use tower::util::BoxCloneService;
    use tower::{Layer, ServiceExt, service_fn};

    type Req = http::Request<()>;
    type Res = http::Response<Vec<u8>>;
    type Svc = BoxCloneService<Req, Res, Infallible>;

    fn json(v: Value) -> Res {
        let mut res = http::Response::new(serde_json::to_vec(&v).unwrap());
        res.headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        res
    }

    fn refused(auth: &Authenticator, e: AuthError) -> Res {
        auth.reject(e).into_refusal().into_response()
    }

    /// What `Authenticated<T>` / `Option<Authenticated<T>>` do.
    async fn user<T: serde::de::DeserializeOwned + 'static>(
        auth: &Authenticator,
        req: &Req,
    ) -> Result<Option<T>, Res> {
        Admission::read_user(req.extensions().get())
            .resolve(auth, req.headers())
            .await
            .and_then(|v| {
                v.map(|v| v.into_typed::<T>().map_err(AuthError::Token))
                    .transpose()
            })
            .map_err(|e| refused(auth, e))
    }

    /// What `Admitted` does.
    async fn caller(auth: &Authenticator, req: &mut Req) -> Result<Caller, Res> {
        let lookup = Admission::take_caller(req.extensions_mut().get_mut());
        lookup
            .resolve(auth, req.headers())
            .await
            .and_then(|c| c.try_map(|v| v.into_typed()).map_err(AuthError::Token))
            .map_err(|e| refused(auth, e))
    }

    fn handler<F, Fut>(f: F) -> Svc
    where
        F: Fn(Req) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Res> + Send + 'static,
    {
        BoxCloneService::new(service_fn(move |req: Req| {
            let f = f.clone();
            async move { Ok::<_, Infallible>(f(req).await) }
        }))
    }

    fn gated(gate: Gate, svc: Svc) -> Svc {
        BoxCloneService::new(GateLayer::new(gate).layer(svc))
    }

    fn ok() -> Svc {
        handler(|_| async { json(json!({ "ok": true })) })
    }

    fn profile_of(auth: Authenticator) -> Svc {
        handler(move |req| {
            let auth = auth.clone();
            async move {
                match user::<supagate::Claims>(&auth, &req).await {
                    Ok(Some(c)) => json(profile(&c)),
                    Ok(None) => refused(&auth, AuthError::MissingCredentials),
                    Err(res) => res,
                }
            }
        })
    }

    fn optional_of(auth: Authenticator) -> Svc {
        handler(move |req| {
            let auth = auth.clone();
            async move {
                match user::<supagate::Claims>(&auth, &req).await {
                    Ok(c) => json(json!({ "user_id": c.map(|c| c.sub) })),
                    Err(res) => res,
                }
            }
        })
    }

    pub(super) fn routes(s: &Setup) -> Vec<(String, Svc)> {
        let policy = |auth: &Authenticator, p: &Policy| Gate::policy(auth.clone(), p.clone());
        let modes = |list: &str| Gate::modes(s.keyed.clone(), list.parse().unwrap());
        let bearer = s.bearer.clone();
        let admin_view = handler(move |req| {
            let auth = bearer.clone();
            async move {
                match user::<AdminView>(&auth, &req).await {
                    Ok(Some(c)) => json(json!({ "ok": true, "role": c.app_metadata["role"] })),
                    Ok(None) => refused(&auth, AuthError::MissingCredentials),
                    Err(res) => res,
                }
            }
        });
        let keyed = s.keyed.clone();
        let admitted = handler(move |mut req| {
            let auth = keyed.clone();
            async move {
                match caller(&auth, &mut req).await {
                    Ok(c) => json(caller_json(&c)),
                    Err(res) => res,
                }
            }
        });
        let keyed = s.keyed.clone();
        let admitted_then_user = handler(move |mut req| {
            let auth = keyed.clone();
            async move {
                let c = match caller(&auth, &mut req).await {
                    Ok(c) => c,
                    Err(res) => return res,
                };
                match user::<supagate::Claims>(&auth, &req).await {
                    Ok(u) => json(both_json(&c, u.as_ref())),
                    Err(res) => res,
                }
            }
        });
        let keyed = s.keyed.clone();
        let user_then_admitted = handler(move |mut req| {
            let auth = keyed.clone();
            async move {
                let u = match user::<supagate::Claims>(&auth, &req).await {
                    Ok(u) => u,
                    Err(res) => return res,
                };
                match caller(&auth, &mut req).await {
                    Ok(c) => json(both_json(&c, u.as_ref())),
                    Err(res) => res,
                }
            }
        });
        let keyed = s.keyed.clone();
        let twice = handler(move |mut req| {
            let auth = keyed.clone();
            async move {
                let a = match caller(&auth, &mut req).await {
                    Ok(c) => c,
                    Err(res) => return res,
                };
                match caller(&auth, &mut req).await {
                    Ok(_) => json(caller_json(&a)),
                    Err(res) => res,
                }
            }
        });
        let resource = s.resource.clone();
        let metadata = handler(move |_| {
            let res = resource.response();
            async move { res }
        });
        let mut routes = vec![
            ("/profile".to_owned(), profile_of(s.bearer.clone())),
            ("/optional".to_owned(), optional_of(s.bearer.clone())),
            ("/internal".to_owned(), profile_of(s.internal.clone())),
            (
                "/admin".to_owned(),
                gated(policy(&s.bearer, &s.admin), admin_view),
            ),
            (
                "/billing".to_owned(),
                gated(policy(&s.bearer, &s.billing), ok()),
            ),
            (
                "/recent".to_owned(),
                gated(policy(&s.bearer, &s.recent), ok()),
            ),
            (
                "/notes".to_owned(),
                gated(policy(&s.bearer, &s.notes), ok()),
            ),
            (
                "/client-notes".to_owned(),
                gated(policy(&s.bearer, &s.client_notes), ok()),
            ),
            ("/mcp".to_owned(), gated(policy(&s.mcp, &s.signed_in), ok())),
            (s.resource.metadata_path(), metadata),
            ("/modes/optional".to_owned(), optional_of(s.keyed.clone())),
            (
                "/cookie".to_owned(),
                gated(
                    policy(&s.cookie, &s.signed_in),
                    profile_of(s.bearer.clone()),
                ),
            ),
            (
                "/custom".to_owned(),
                gated(policy(&s.custom, &s.signed_in), ok()),
            ),
            (
                "/keys-down".to_owned(),
                gated(policy(&s.down, &s.signed_in), ok()),
            ),
            (
                BOTH_FIRST.to_owned(),
                gated(modes(BOTH_MODES), admitted_then_user),
            ),
            (
                USER_FIRST.to_owned(),
                gated(modes(BOTH_MODES), user_then_admitted),
            ),
            (TWICE.to_owned(), gated(modes("none"), twice)),
        ];
        for (path, list) in MODE_ROUTES {
            routes.push((path.to_owned(), gated(modes(list), admitted.clone())));
        }
        routes
    }

    pub(super) fn run(routes: &[(String, Svc)], case: &Case) -> Observed {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let svc = routes
            .iter()
            .find(|(p, _)| p == case.path)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| panic!("no tower route for {}", case.path));
        let mut req = http::Request::builder().uri(case.path);
        for (k, v) in &case.headers {
            req = req.header(*k, v.as_bytes());
        }
        let res = rt.block_on(svc.oneshot(req.body(()).unwrap())).unwrap();
        let header = |n: &str| res.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
        Observed::new(
            res.status().as_u16(),
            header("www-authenticate"),
            header("retry-after"),
            header("content-type"),
            res.body(),
        )
    }
}

// ----------------------------------------------------------------------------------- tonic

/// The same routes as a tonic service: `supagate::tonic::GateLayer` for the gated routes,
/// `supagate::tonic::{user, caller}` where a handler reads the user or the caller, and every
/// refusal as a gRPC status (`supagate::tonic::status`). The calls carry gRPC's content type;
/// a refusal is read back from the response's `grpc-status` (tonic's trailers-only form).
mod on_tonic {
    use super::*;
    use std::convert::Infallible;
    use std::future::Future;
    use supagate::auth::{AuthError, Caller, Gate};
    use supagate::tonic::GateLayer;
    use tonic::body::Body;
    use tower::util::BoxCloneService;
    use tower::{Layer, ServiceExt, service_fn};

    type Req = http::Request<Body>;
    type Res = http::Response<Body>;
    type Svc = BoxCloneService<Req, Res, Infallible>;

    fn json(v: Value) -> Res {
        let bytes = bytes::Bytes::from(serde_json::to_vec(&v).unwrap());
        let mut res = http::Response::new(Body::new(http_body_util::Full::new(bytes)));
        res.headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        res
    }

    fn refused(auth: &Authenticator, e: AuthError) -> Res {
        supagate::tonic::status(&auth.reject(e)).into_http()
    }

    /// The handler's view of the call, as tonic hands it to a generated service method.
    fn grpc(req: Req) -> tonic::Request<()> {
        let (parts, _) = req.into_parts();
        tonic::Request::from_parts(
            tonic::metadata::MetadataMap::from_headers(parts.headers),
            parts.extensions,
            (),
        )
    }

    async fn user<T: serde::de::DeserializeOwned + 'static>(
        auth: &Authenticator,
        req: &tonic::Request<()>,
    ) -> Result<Option<T>, Res> {
        supagate::tonic::user::<T, _>(auth, req)
            .await
            .map_err(|s| s.into_http())
    }

    async fn caller(auth: &Authenticator, req: &mut tonic::Request<()>) -> Result<Caller, Res> {
        let c = supagate::tonic::caller(auth, req)
            .await
            .map_err(|s| s.into_http())?;
        c.try_map(|v| v.into_typed())
            .map_err(|e| refused(auth, AuthError::Token(e)))
    }

    fn handler<F, Fut>(f: F) -> Svc
    where
        F: Fn(tonic::Request<()>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Res> + Send + 'static,
    {
        BoxCloneService::new(service_fn(move |req: Req| {
            let f = f.clone();
            async move { Ok::<_, Infallible>(f(grpc(req)).await) }
        }))
    }

    fn gated(gate: Gate, svc: Svc) -> Svc {
        BoxCloneService::new(GateLayer::new(gate).layer(svc))
    }

    fn ok() -> Svc {
        handler(|_| async { json(json!({ "ok": true })) })
    }

    fn profile_of(auth: Authenticator) -> Svc {
        handler(move |req| {
            let auth = auth.clone();
            async move {
                match user::<supagate::Claims>(&auth, &req).await {
                    Ok(Some(c)) => json(profile(&c)),
                    Ok(None) => refused(&auth, AuthError::MissingCredentials),
                    Err(res) => res,
                }
            }
        })
    }

    fn optional_of(auth: Authenticator) -> Svc {
        handler(move |req| {
            let auth = auth.clone();
            async move {
                match user::<supagate::Claims>(&auth, &req).await {
                    Ok(c) => json(json!({ "user_id": c.map(|c| c.sub) })),
                    Err(res) => res,
                }
            }
        })
    }

    /// `first` then `second` read from one call: the caller (`true`) or the user (`false`).
    fn both(auth: Authenticator, caller_first: bool) -> Svc {
        handler(move |mut req| {
            let auth = auth.clone();
            async move {
                let (c, u) = if caller_first {
                    let c = match caller(&auth, &mut req).await {
                        Ok(c) => c,
                        Err(res) => return res,
                    };
                    match user::<supagate::Claims>(&auth, &req).await {
                        Ok(u) => (c, u),
                        Err(res) => return res,
                    }
                } else {
                    let u = match user::<supagate::Claims>(&auth, &req).await {
                        Ok(u) => u,
                        Err(res) => return res,
                    };
                    match caller(&auth, &mut req).await {
                        Ok(c) => (c, u),
                        Err(res) => return res,
                    }
                };
                json(both_json(&c, u.as_ref()))
            }
        })
    }

    pub(super) fn routes(s: &Setup) -> Vec<(String, Svc)> {
        let policy = |auth: &Authenticator, p: &Policy| Gate::policy(auth.clone(), p.clone());
        let modes = |list: &str| Gate::modes(s.keyed.clone(), list.parse().unwrap());
        let bearer = s.bearer.clone();
        let admin_view = handler(move |req| {
            let auth = bearer.clone();
            async move {
                match user::<AdminView>(&auth, &req).await {
                    Ok(Some(c)) => json(json!({ "ok": true, "role": c.app_metadata["role"] })),
                    Ok(None) => refused(&auth, AuthError::MissingCredentials),
                    Err(res) => res,
                }
            }
        });
        let keyed = s.keyed.clone();
        let admitted = handler(move |mut req| {
            let auth = keyed.clone();
            async move {
                match caller(&auth, &mut req).await {
                    Ok(c) => json(caller_json(&c)),
                    Err(res) => res,
                }
            }
        });
        let keyed = s.keyed.clone();
        let twice = handler(move |mut req| {
            let auth = keyed.clone();
            async move {
                let a = match caller(&auth, &mut req).await {
                    Ok(c) => c,
                    Err(res) => return res,
                };
                match caller(&auth, &mut req).await {
                    Ok(_) => json(caller_json(&a)),
                    Err(res) => res,
                }
            }
        });
        let resource = s.resource.clone();
        let metadata = handler(move |_| {
            let (parts, body) = resource.response().into_parts();
            let res = http::Response::from_parts(
                parts,
                Body::new(http_body_util::Full::new(bytes::Bytes::from(body))),
            );
            async move { res }
        });
        let mut routes = vec![
            ("/profile".to_owned(), profile_of(s.bearer.clone())),
            ("/optional".to_owned(), optional_of(s.bearer.clone())),
            ("/internal".to_owned(), profile_of(s.internal.clone())),
            (
                "/admin".to_owned(),
                gated(policy(&s.bearer, &s.admin), admin_view),
            ),
            (
                "/billing".to_owned(),
                gated(policy(&s.bearer, &s.billing), ok()),
            ),
            (
                "/recent".to_owned(),
                gated(policy(&s.bearer, &s.recent), ok()),
            ),
            (
                "/notes".to_owned(),
                gated(policy(&s.bearer, &s.notes), ok()),
            ),
            (
                "/client-notes".to_owned(),
                gated(policy(&s.bearer, &s.client_notes), ok()),
            ),
            ("/mcp".to_owned(), gated(policy(&s.mcp, &s.signed_in), ok())),
            (s.resource.metadata_path(), metadata),
            ("/modes/optional".to_owned(), optional_of(s.keyed.clone())),
            (
                "/cookie".to_owned(),
                gated(
                    policy(&s.cookie, &s.signed_in),
                    profile_of(s.bearer.clone()),
                ),
            ),
            (
                "/custom".to_owned(),
                gated(policy(&s.custom, &s.signed_in), ok()),
            ),
            (
                "/keys-down".to_owned(),
                gated(policy(&s.down, &s.signed_in), ok()),
            ),
            (
                BOTH_FIRST.to_owned(),
                gated(modes(BOTH_MODES), both(s.keyed.clone(), true)),
            ),
            (
                USER_FIRST.to_owned(),
                gated(modes(BOTH_MODES), both(s.keyed.clone(), false)),
            ),
            (TWICE.to_owned(), gated(modes("none"), twice)),
        ];
        for (path, list) in MODE_ROUTES {
            routes.push((path.to_owned(), gated(modes(list), admitted.clone())));
        }
        routes
    }

    /// What a gRPC client sees of a call: its status (code, message, metadata), or the
    /// answer's body.
    #[derive(Debug, PartialEq)]
    pub(super) enum Seen {
        Answer(Value),
        Status {
            code: tonic::Code,
            message: String,
            www_authenticate: Option<String>,
            retry_after: Option<String>,
        },
    }

    pub(super) fn run(routes: &[(String, Svc)], case: &Case) -> Seen {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let svc = routes
            .iter()
            .find(|(p, _)| p == case.path)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| panic!("no tonic route for {}", case.path));
        let mut req = http::Request::builder()
            .method("POST")
            .uri(case.path)
            .header("content-type", "application/grpc")
            .header("te", "trailers");
        for (k, v) in &case.headers {
            req = req.header(*k, v.as_bytes());
        }
        let res = rt
            .block_on(svc.oneshot(req.body(Body::empty()).unwrap()))
            .unwrap();
        let header = |n: &str| res.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
        match tonic::Status::from_header_map(res.headers()) {
            Some(status) => Seen::Status {
                code: status.code(),
                message: status.message().to_owned(),
                www_authenticate: header("www-authenticate"),
                retry_after: header("retry-after"),
            },
            None => {
                let bytes = rt
                    .block_on(http_body_util::BodyExt::collect(res.into_body()))
                    .unwrap()
                    .to_bytes();
                Seen::Answer(serde_json::from_slice(&bytes).unwrap())
            }
        }
    }

    /// What an HTTP adapter's answer is to a gRPC client: the same body, or the status of the
    /// same refusal (the code of its HTTP status, its description as the message, the same
    /// challenge and `Retry-After` as metadata).
    pub(super) fn expected(http: &Observed) -> Seen {
        if http.status == 200 {
            return Seen::Answer(http.body.clone());
        }
        let description = http
            .body
            .get("error_description")
            .or_else(|| http.body.get("message"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        Seen::Status {
            code: match http.status {
                400 | 431 => tonic::Code::InvalidArgument,
                401 => tonic::Code::Unauthenticated,
                403 => tonic::Code::PermissionDenied,
                500 => tonic::Code::Internal,
                503 => tonic::Code::Unavailable,
                other => panic!("no gRPC code expected for {other}"),
            },
            message: description.to_owned(),
            www_authenticate: http.www_authenticate.clone(),
            retry_after: http.retry_after.clone(),
        }
    }
}

// ----------------------------------------------------------------------------------- table

struct Case {
    name: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    status: u16,
    /// Expected `WWW-Authenticate`, exactly.
    challenge: Option<&'static str>,
    /// Expected JSON body, exactly.
    body: Value,
}

#[derive(Debug, PartialEq)]
struct Observed {
    status: u16,
    www_authenticate: Option<String>,
    retry_after: Option<String>,
    content_type: Option<String>,
    body: Value,
}

impl Observed {
    fn new(
        status: u16,
        www_authenticate: Option<String>,
        retry_after: Option<String>,
        content_type: Option<String>,
        bytes: &[u8],
    ) -> Self {
        let body = serde_json::from_slice(bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()));
        Observed {
            status,
            www_authenticate,
            retry_after,
            content_type,
            body,
        }
    }
}

fn bearer(token: &str) -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {token}"))]
}

const CHALLENGE: &str = r#"Bearer realm="supagate""#;
const INVALID_TOKEN: &str =
    r#"Bearer realm="supagate", error="invalid_token", error_description="invalid token""#;

fn refusal(code: &str, description: &str) -> Value {
    json!({ "error": code, "error_description": description })
}

fn cases() -> Vec<Case> {
    let keys = TestKeys::new();
    let user = TokenBuilder::new().sign_hs256(&keys);
    let user_es256 = TokenBuilder::new().sign_es256(&keys);
    let admin = TokenBuilder::new()
        .claim(
            "app_metadata",
            json!({ "provider": "email", "role": "admin" }),
        )
        .sign_hs256(&keys);
    let admin_in_user_metadata = TokenBuilder::new()
        .claim("user_metadata", json!({ "role": "admin" }))
        .sign_hs256(&keys);
    let service_role_admin = TokenBuilder::new()
        .claim("role", "service_role")
        .claim("app_metadata", json!({ "role": "admin" }))
        .sign_hs256(&keys);
    let expired = TokenBuilder::new()
        .issued_at(NOW - 7200, 3600)
        .sign_hs256(&keys);
    let wrong_aud = TokenBuilder::new()
        .claim("aud", "someone-else")
        .sign_hs256(&keys);
    let anon_key = TokenBuilder::new()
        .remove("sub")
        .remove("aud")
        .remove("email")
        .claim("role", "anon")
        .sign_hs256(&keys);
    let anonymous_user = TokenBuilder::new()
        .claim("is_anonymous", true)
        .sign_hs256(&keys);
    // A user-shaped token (aud, sub) whose Postgres role is not `authenticated`.
    let service_role = TokenBuilder::new()
        .claim("role", "service_role")
        .sign_hs256(&keys);
    let anon_role = TokenBuilder::new().claim("role", "anon").sign_hs256(&keys);
    let no_role = TokenBuilder::new().remove("role").sign_hs256(&keys);
    let oauth_client = TokenBuilder::new()
        .claim("client_id", OAUTH_CLIENT)
        .sign_hs256(&keys);
    let scoped_client = |scope: &str| {
        TokenBuilder::new()
            .claim("client_id", OAUTH_CLIENT)
            .claim("scope", scope)
            .sign_hs256(&keys)
    };
    let scope_missing = (
        Some(
            r#"Bearer realm="supagate", error="insufficient_scope", error_description="insufficient scope", scope="notes:read""#,
        ),
        refusal("insufficient_scope", "insufficient scope"),
    );
    let other_client = TokenBuilder::new()
        .claim("client_id", "another-client")
        .sign_es256(&keys);
    let role_not_allowed = || {
        (
            Some(
                r#"Bearer realm="supagate", error="insufficient_scope", error_description="role not allowed""#,
            ),
            refusal("insufficient_scope", "role not allowed"),
        )
    };
    let client_not_allowed = || {
        (
            Some(
                r#"Bearer realm="supagate", error="insufficient_scope", error_description="client not allowed""#,
            ),
            refusal("insufficient_scope", "client not allowed"),
        )
    };
    let aal2 = TokenBuilder::new().claim("aal", "aal2").sign_hs256(&keys);
    let signed_in_at = |t: i64| {
        TokenBuilder::new()
            .claim("amr", json!([{ "method": "password", "timestamp": t }]))
            .sign_hs256(&keys)
    };
    let (recent_sign_in, old_sign_in) = (signed_in_at(NOW - 60), signed_in_at(NOW - 3600));
    let anonymous_aal2 = TokenBuilder::new()
        .claim("aal", "aal2")
        .claim("is_anonymous", true)
        .sign_hs256(&keys);
    let mut bad_sig = user.clone();
    bad_sig.pop();
    bad_sig.push(if user.ends_with('A') { 'B' } else { 'A' });
    let other = TokenBuilder::new()
        .claim("sub", OTHER_SUB)
        .sign_hs256(&keys);
    let cookie = session_cookie_header(TestKeys::SUPABASE_URL, &user).unwrap();
    let expired_cookie = session_cookie_header(TestKeys::SUPABASE_URL, &expired).unwrap();
    let me = json!({ "user_id": TokenBuilder::DEFAULT_SUB, "email": "user@example.com" });
    let ok = json!({ "ok": true });

    vec![
        Case {
            name: "no token",
            path: "/profile",
            headers: vec![],
            status: 401,
            challenge: Some(CHALLENGE),
            body: refusal("unauthorized", "authentication required"),
        },
        Case {
            name: "basic scheme is no bearer credential",
            path: "/profile",
            headers: vec![("authorization", "Basic dXNlcjpwYXNz".into())],
            status: 401,
            challenge: Some(CHALLENGE),
            body: refusal("unauthorized", "authentication required"),
        },
        Case {
            name: "lower-case scheme",
            path: "/profile",
            headers: vec![("authorization", format!("bearer {user}"))],
            status: 200,
            challenge: None,
            body: me.clone(),
        },
        Case {
            name: "two authorization fields",
            path: "/profile",
            headers: vec![
                ("authorization", format!("Bearer {user}")),
                ("authorization", format!("Bearer {user}")),
            ],
            status: 400,
            challenge: Some(
                r#"Bearer realm="supagate", error="invalid_request", error_description="several authorization fields""#,
            ),
            body: refusal("invalid_request", "several authorization fields"),
        },
        Case {
            name: "empty bearer",
            path: "/profile",
            headers: vec![("authorization", "Bearer ".into())],
            status: 400,
            challenge: Some(
                r#"Bearer realm="supagate", error="invalid_request", error_description="empty bearer token""#,
            ),
            body: refusal("invalid_request", "empty bearer token"),
        },
        Case {
            name: "valid user token",
            path: "/profile",
            headers: bearer(&user),
            status: 200,
            challenge: None,
            body: me.clone(),
        },
        Case {
            name: "valid ES256 token",
            path: "/profile",
            headers: bearer(&user_es256),
            status: 200,
            challenge: None,
            body: me.clone(),
        },
        Case {
            name: "client X-User-Id is ignored",
            path: "/profile",
            headers: vec![
                ("authorization", format!("Bearer {user}")),
                ("x-user-id", OTHER_SUB.into()),
            ],
            status: 200,
            challenge: None,
            body: me.clone(),
        },
        Case {
            name: "bad signature",
            path: "/profile",
            headers: bearer(&bad_sig),
            status: 401,
            challenge: Some(INVALID_TOKEN),
            body: refusal("invalid_token", "invalid token"),
        },
        Case {
            name: "RFC 9728: a 401 names the protected-resource metadata",
            path: "/mcp",
            headers: vec![],
            status: 401,
            challenge: Some(
                r#"Bearer realm="supagate", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/mcp""#,
            ),
            body: refusal("unauthorized", "authentication required"),
        },
        Case {
            name: "RFC 9728: an invalid token's 401 names it too",
            path: "/mcp",
            headers: bearer(&expired),
            status: 401,
            challenge: Some(
                r#"Bearer realm="supagate", error="invalid_token", error_description="token expired", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/mcp""#,
            ),
            body: refusal("invalid_token", "token expired"),
        },
        Case {
            name: "RFC 9728: a valid token passes",
            path: "/mcp",
            headers: bearer(&user),
            status: 200,
            challenge: None,
            body: json!({ "ok": true }),
        },
        Case {
            name: "RFC 9728: the metadata document",
            path: "/.well-known/oauth-protected-resource/mcp",
            headers: vec![],
            status: 200,
            challenge: None,
            body: json!({
                "resource": "https://api.example.com/mcp",
                "authorization_servers": [format!("{}/auth/v1", TestKeys::SUPABASE_URL)],
                "bearer_methods_supported": ["header"],
                "scopes_supported": ["notes:read"],
            }),
        },
        Case {
            name: "expired",
            path: "/profile",
            headers: bearer(&expired),
            status: 401,
            challenge: Some(
                r#"Bearer realm="supagate", error="invalid_token", error_description="token expired""#,
            ),
            body: refusal("invalid_token", "token expired"),
        },
        Case {
            name: "wrong audience",
            path: "/profile",
            headers: bearer(&wrong_aud),
            status: 401,
            challenge: Some(INVALID_TOKEN),
            body: refusal("invalid_token", "invalid token"),
        },
        Case {
            name: "anon key",
            path: "/profile",
            headers: bearer(&anon_key),
            status: 401,
            challenge: Some(INVALID_TOKEN),
            body: refusal("invalid_token", "invalid token"),
        },
        Case {
            name: "token chars outside b64token",
            path: "/profile",
            headers: vec![("authorization", "Bearer a;b".into())],
            status: 401,
            challenge: Some(INVALID_TOKEN),
            body: refusal("invalid_token", "invalid token"),
        },
        Case {
            name: "optional: anonymous access",
            path: "/optional",
            headers: vec![],
            status: 200,
            challenge: None,
            body: json!({ "user_id": null }),
        },
        Case {
            name: "optional: good token",
            path: "/optional",
            headers: bearer(&user),
            status: 200,
            challenge: None,
            body: json!({ "user_id": TokenBuilder::DEFAULT_SUB }),
        },
        Case {
            name: "optional: bad token still refused",
            path: "/optional",
            headers: bearer(&expired),
            status: 401,
            challenge: Some(
                r#"Bearer realm="supagate", error="invalid_token", error_description="token expired""#,
            ),
            body: refusal("invalid_token", "token expired"),
        },
        Case {
            name: "admin",
            path: "/admin",
            headers: bearer(&admin),
            status: 200,
            challenge: None,
            body: json!({ "ok": true, "role": "admin" }),
        },
        Case {
            name: "non-admin",
            path: "/admin",
            headers: bearer(&user),
            status: 403,
            challenge: Some(
                r#"Bearer realm="supagate", error="insufficient_scope", error_description="insufficient privileges""#,
            ),
            body: refusal("insufficient_scope", "insufficient privileges"),
        },
        Case {
            name: "admin in user_metadata is not admin",
            path: "/admin",
            headers: bearer(&admin_in_user_metadata),
            status: 403,
            challenge: Some(
                r#"Bearer realm="supagate", error="insufficient_scope", error_description="insufficient privileges""#,
            ),
            body: refusal("insufficient_scope", "insufficient privileges"),
        },
        Case {
            name: "service_role Postgres role is refused",
            path: "/admin",
            headers: bearer(&service_role_admin),
            status: 403,
            challenge: Some(
                r#"Bearer realm="supagate", error="insufficient_scope", error_description="role not allowed""#,
            ),
            body: refusal("insufficient_scope", "role not allowed"),
        },
        Case {
            name: "no token on a policy route",
            path: "/admin",
            headers: vec![],
            status: 401,
            challenge: Some(CHALLENGE),
            body: refusal("unauthorized", "authentication required"),
        },
        Case {
            name: "RecentSignIn under the verifier's FixedClock: signed in a minute ago",
            path: "/recent",
            headers: bearer(&recent_sign_in),
            status: 200,
            challenge: None,
            body: ok.clone(),
        },
        Case {
            name: "RecentSignIn under the verifier's FixedClock: signed in an hour ago",
            path: "/recent",
            headers: bearer(&old_sign_in),
            status: 403,
            challenge: Some(
                r#"Bearer realm="supagate", error="insufficient_scope", error_description="recent sign-in required""#,
            ),
            body: refusal("insufficient_scope", "recent sign-in required"),
        },
        Case {
            name: "scope requirement: an OAuth-client token with notes:read among its scopes",
            path: "/notes",
            headers: bearer(&scoped_client("openid notes:read email")),
            status: 200,
            challenge: None,
            body: ok.clone(),
        },
        Case {
            name: "scope requirement: an OAuth-client token without it names the scope",
            path: "/notes",
            headers: bearer(&scoped_client("openid notes:readx notes:write")),
            status: 403,
            challenge: scope_missing.0,
            body: scope_missing.1.clone(),
        },
        Case {
            name: "scope requirement: a user session carries no scope",
            path: "/notes",
            headers: bearer(&user),
            status: 403,
            challenge: scope_missing.0,
            body: scope_missing.1.clone(),
        },
        Case {
            name: "aal1 on billing",
            path: "/billing",
            headers: bearer(&user),
            status: 403,
            challenge: Some(
                r#"Bearer realm="supagate", error="insufficient_scope", error_description="aal2 required""#,
            ),
            body: refusal("insufficient_scope", "aal2 required"),
        },
        Case {
            name: "aal2 on billing",
            path: "/billing",
            headers: bearer(&aal2),
            status: 200,
            challenge: None,
            body: ok.clone(),
        },
        Case {
            name: "anonymous user on billing",
            path: "/billing",
            headers: bearer(&anonymous_aal2),
            status: 403,
            challenge: Some(
                r#"Bearer realm="supagate", error="insufficient_scope", error_description="permanent account required""#,
            ),
            body: refusal("insufficient_scope", "permanent account required"),
        },
        Case {
            name: "anonymous user on a plain Authenticated route",
            path: "/profile",
            headers: bearer(&anonymous_user),
            status: 200,
            challenge: None,
            body: me.clone(),
        },
        Case {
            name: "service_role token on a plain Authenticated route",
            path: "/profile",
            headers: bearer(&service_role),
            status: 403,
            challenge: role_not_allowed().0,
            body: role_not_allowed().1,
        },
        Case {
            name: "service_role token on an optional route",
            path: "/optional",
            headers: bearer(&service_role),
            status: 403,
            challenge: role_not_allowed().0,
            body: role_not_allowed().1,
        },
        Case {
            name: "anon Postgres role on a plain Authenticated route",
            path: "/profile",
            headers: bearer(&anon_role),
            status: 403,
            challenge: role_not_allowed().0,
            body: role_not_allowed().1,
        },
        Case {
            name: "no Postgres role on a plain Authenticated route",
            path: "/profile",
            headers: bearer(&no_role),
            status: 403,
            challenge: role_not_allowed().0,
            body: role_not_allowed().1,
        },
        Case {
            name: "OAuth-client token on a plain Authenticated route",
            path: "/profile",
            headers: bearer(&oauth_client),
            status: 403,
            challenge: client_not_allowed().0,
            body: client_not_allowed().1,
        },
        Case {
            name: "OAuth-client token on an optional route",
            path: "/optional",
            headers: bearer(&oauth_client),
            status: 403,
            challenge: client_not_allowed().0,
            body: client_not_allowed().1,
        },
        Case {
            name: "anonymous user on an optional route",
            path: "/optional",
            headers: bearer(&anonymous_user),
            status: 200,
            challenge: None,
            body: json!({ "user_id": TokenBuilder::DEFAULT_SUB }),
        },
        Case {
            name: "service_role where the authenticator allows it",
            path: "/internal",
            headers: bearer(&service_role),
            status: 200,
            challenge: None,
            body: me.clone(),
        },
        Case {
            name: "the allowed OAuth client where the authenticator allows it",
            path: "/internal",
            headers: bearer(&oauth_client),
            status: 200,
            challenge: None,
            body: me.clone(),
        },
        Case {
            name: "another OAuth client where only one is allowed",
            path: "/internal",
            headers: bearer(&other_client),
            status: 403,
            challenge: client_not_allowed().0,
            body: client_not_allowed().1,
        },
        Case {
            name: "anon role still refused where only service_role is allowed",
            path: "/internal",
            headers: bearer(&anon_role),
            status: 403,
            challenge: role_not_allowed().0,
            body: role_not_allowed().1,
        },
        Case {
            name: "anonymous user where the authenticator allows service_role",
            path: "/internal",
            headers: bearer(&anonymous_user),
            status: 200,
            challenge: None,
            body: me.clone(),
        },
        Case {
            name: "cookie-sourced token",
            path: "/cookie",
            headers: vec![("cookie", cookie.clone())],
            status: 200,
            challenge: None,
            body: me.clone(),
        },
        Case {
            name: "cookie route ignores a client Authorization",
            path: "/cookie",
            headers: vec![
                ("cookie", cookie.clone()),
                ("authorization", format!("Bearer {other}")),
            ],
            status: 200,
            challenge: None,
            body: me.clone(),
        },
        Case {
            name: "cookie route without cookie, with Authorization",
            path: "/cookie",
            headers: bearer(&user),
            status: 401,
            challenge: Some(CHALLENGE),
            body: refusal("unauthorized", "authentication required"),
        },
        Case {
            name: "expired token in cookie",
            path: "/cookie",
            headers: vec![("cookie", expired_cookie)],
            status: 401,
            challenge: Some(
                r#"Bearer realm="supagate", error="invalid_token", error_description="token expired""#,
            ),
            body: refusal("invalid_token", "token expired"),
        },
        Case {
            name: "duplicate session cookie",
            path: "/cookie",
            headers: vec![("cookie", format!("{cookie}; {cookie}"))],
            status: 401,
            challenge: Some(
                r#"Bearer realm="supagate", error="invalid_token", error_description="invalid session""#,
            ),
            body: refusal("invalid_token", "invalid session"),
        },
        Case {
            name: "oversized cookie header",
            path: "/cookie",
            headers: vec![("cookie", format!("big={}", "x".repeat(70 * 1024)))],
            status: 431,
            challenge: None,
            body: refusal("request_header_fields_too_large", "cookie header too large"),
        },
        Case {
            name: "custom error body keeps status and challenge",
            path: "/custom",
            headers: vec![],
            status: 401,
            challenge: Some(r#"Bearer realm="example""#),
            body: json!({ "message": "authentication required", "custom": true }),
        },
        Case {
            name: "custom error body on a bad token",
            path: "/custom",
            headers: bearer(&bad_sig),
            status: 401,
            challenge: Some(
                r#"Bearer realm="example", error="invalid_token", error_description="invalid token""#,
            ),
            body: json!({ "message": "invalid token", "custom": true }),
        },
        Case {
            name: "keys unavailable is 503, never 401",
            path: "/keys-down",
            headers: bearer(&user_es256),
            status: 503,
            challenge: None,
            body: refusal("temporarily_unavailable", "signing keys unavailable"),
        },
    ]
    .into_iter()
    .chain(mode_cases())
    .collect()
}

fn with(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

/// Auth modes, client-scoped OAuth access, on both adapters.
fn mode_cases() -> Vec<Case> {
    let keys = TestKeys::new();
    let user = TokenBuilder::new().sign_hs256(&keys);
    let user_bearer = format!("Bearer {user}");
    let expired = TokenBuilder::new()
        .issued_at(NOW - 7200, 3600)
        .sign_hs256(&keys);
    let service_role = TokenBuilder::new()
        .claim("role", "service_role")
        .sign_hs256(&keys);
    let (p, pw, sk, sa) = (
        TestKeys::PUBLISHABLE_KEY,
        TestKeys::PUBLISHABLE_WEB_KEY,
        TestKeys::SECRET_KEY,
        TestKeys::SECRET_AUTOMATIONS_KEY,
    );
    let bp = format!("Bearer {p}");
    let anon = TestKeys::legacy_anon_key();
    let anon_bearer = format!("Bearer {anon}");
    let caller = |mode: &str, key: Option<&str>, user: Option<&str>| json!({ "mode": mode, "key": key, "user_id": user });
    let not_admitted = |what: &str| refusal("forbidden", what);
    let key_refused = not_admitted("this api key is not admitted here");
    let oauth = |scope: Option<&str>| {
        let t = TokenBuilder::new().claim("client_id", OAUTH_CLIENT);
        match scope {
            Some(sc) => t.claim("scope", sc),
            None => t,
        }
        .sign_hs256(&keys)
    };
    vec![
        Case {
            name: "modes: user then none, signed out",
            path: "/modes/whoami",
            headers: vec![],
            status: 200,
            challenge: None,
            body: caller("none", None, None),
        },
        Case {
            name: "modes: user then none, signed in",
            path: "/modes/whoami",
            headers: bearer(&user),
            status: 200,
            challenge: None,
            body: caller("user", None, Some(TokenBuilder::DEFAULT_SUB)),
        },
        Case {
            name: "modes: no downgrade, an expired token is refused, not `none`",
            path: "/modes/whoami",
            headers: bearer(&expired),
            status: 401,
            challenge: Some(
                r#"Bearer realm="supagate", error="invalid_token", error_description="token expired""#,
            ),
            body: refusal("invalid_token", "token expired"),
        },
        Case {
            name: "modes: no downgrade, a forged token is refused",
            path: "/modes/whoami",
            headers: bearer(&format!("{user}x")),
            status: 401,
            challenge: Some(INVALID_TOKEN),
            body: refusal("invalid_token", "invalid token"),
        },
        Case {
            name: "modes: no downgrade, a service_role token is 403, not `none`",
            path: "/modes/whoami",
            headers: bearer(&service_role),
            status: 403,
            challenge: Some(
                r#"Bearer realm="supagate", error="insufficient_scope", error_description="role not allowed""#,
            ),
            body: refusal("insufficient_scope", "role not allowed"),
        },
        Case {
            name: "modes: signed-out supabase-js (bearer = apikey = publishable key) is `none`",
            path: "/modes/whoami",
            headers: with(&[("authorization", &bp), ("apikey", p)]),
            status: 200,
            challenge: None,
            body: caller("none", None, None),
        },
        Case {
            name: "modes: the legacy anon key as the bearer is `none`",
            path: "/modes/whoami",
            headers: with(&[("authorization", &anon_bearer), ("apikey", &anon)]),
            status: 200,
            challenge: None,
            body: caller("none", None, None),
        },
        Case {
            name: "modes: a configured publishable key as the bearer, alone, is `none`",
            path: "/modes/whoami",
            headers: with(&[("authorization", &bp)]),
            status: 200,
            challenge: None,
            body: caller("none", None, None),
        },
        Case {
            name: "modes: Option<Authenticated> sees no user for bearer = apikey",
            path: "/modes/optional",
            headers: with(&[("authorization", &bp), ("apikey", p)]),
            status: 200,
            challenge: None,
            body: json!({ "user_id": null }),
        },
        Case {
            name: "modes: the default publishable key",
            path: "/modes/client",
            headers: with(&[("apikey", p)]),
            status: 200,
            challenge: None,
            body: caller("publishable", Some("default"), None),
        },
        Case {
            name: "modes: a signed-in supabase-js on a publishable route",
            path: "/modes/client",
            headers: with(&[("apikey", p), ("authorization", &user_bearer)]),
            status: 200,
            challenge: None,
            body: caller("publishable", Some("default"), None),
        },
        Case {
            name: "modes: a named key opens only its routes (web on default)",
            path: "/modes/client",
            headers: with(&[("apikey", pw)]),
            status: 403,
            challenge: None,
            body: key_refused.clone(),
        },
        Case {
            name: "modes: the named key on its route",
            path: "/modes/web",
            headers: with(&[("apikey", pw)]),
            status: 200,
            challenge: None,
            body: caller("publishable", Some("web"), None),
        },
        Case {
            name: "modes: a secret key on a publishable route is 403",
            path: "/modes/client",
            headers: with(&[("apikey", sk)]),
            status: 403,
            challenge: None,
            body: key_refused.clone(),
        },
        Case {
            name: "modes: an unknown key is 401",
            path: "/modes/client",
            headers: with(&[("apikey", "sb_publishable_notthisprojects000000")]),
            status: 401,
            challenge: Some(CHALLENGE),
            body: refusal("invalid_api_key", "invalid api key"),
        },
        Case {
            name: "modes: no key is 401",
            path: "/modes/client",
            headers: vec![],
            status: 401,
            challenge: Some(CHALLENGE),
            body: refusal("unauthorized", "authentication required"),
        },
        Case {
            name: "modes: wildcard secret, named key",
            path: "/modes/internal",
            headers: with(&[("apikey", sa)]),
            status: 200,
            challenge: None,
            body: caller("secret", Some("automations"), None),
        },
        Case {
            name: "modes: wildcard secret, default key, header name in odd case",
            path: "/modes/internal",
            headers: with(&[("ApiKey", sk)]),
            status: 200,
            challenge: None,
            body: caller("secret", Some("default"), None),
        },
        Case {
            name: "modes: a secret key with Origin is refused",
            path: "/modes/internal",
            headers: with(&[("apikey", sk), ("origin", "https://app.example.com")]),
            status: 403,
            challenge: None,
            body: not_admitted("secret api key used from a browser"),
        },
        Case {
            name: "modes: a secret key with Sec-Fetch-Mode is refused",
            path: "/modes/internal",
            headers: with(&[("apikey", sa), ("sec-fetch-mode", "cors")]),
            status: 403,
            challenge: None,
            body: not_admitted("secret api key used from a browser"),
        },
        Case {
            name: "modes: a secret key with Sec-Fetch-Site is refused, even on a public route",
            path: "/modes/whoami",
            headers: with(&[("apikey", sk), ("sec-fetch-site", "cross-site")]),
            status: 403,
            challenge: None,
            body: not_admitted("secret api key used from a browser"),
        },
        Case {
            name: "modes: an API key in Authorization is no API key",
            path: "/modes/internal",
            headers: with(&[("authorization", &format!("Bearer {sk}"))]),
            status: 401,
            challenge: Some(INVALID_TOKEN),
            body: refusal("invalid_token", "invalid token"),
        },
        Case {
            name: "modes: a valid user on a service route is 403",
            path: "/modes/internal",
            headers: bearer(&user),
            status: 403,
            challenge: None,
            body: not_admitted("user tokens are not admitted here"),
        },
        Case {
            name: "modes: two apikey fields are 400",
            path: "/modes/internal",
            headers: with(&[("apikey", sk), ("apikey", sa)]),
            status: 400,
            challenge: Some(
                r#"Bearer realm="supagate", error="invalid_request", error_description="several apikey fields""#,
            ),
            body: refusal("invalid_request", "several apikey fields"),
        },
        Case {
            name: "modes: an expired token copied into apikey is still refused",
            path: "/modes/whoami",
            headers: with(&[
                ("authorization", &format!("Bearer {expired}")),
                ("apikey", &expired),
            ]),
            status: 401,
            challenge: Some(
                r#"Bearer realm="supagate", error="invalid_token", error_description="token expired""#,
            ),
            body: refusal("invalid_token", "token expired"),
        },
        Case {
            name: "modes: a service_role key in both fields is still 403, not `none`",
            path: "/modes/whoami",
            headers: with(&[
                ("authorization", &format!("Bearer {service_role}")),
                ("apikey", &service_role),
            ]),
            status: 403,
            challenge: Some(
                r#"Bearer realm="supagate", error="insufficient_scope", error_description="role not allowed""#,
            ),
            body: refusal("insufficient_scope", "role not allowed"),
        },
        Case {
            name: "modes: signed-out supabase-js on a users-only route is 401 with a challenge",
            path: "/modes/user",
            headers: with(&[("authorization", &bp), ("apikey", p)]),
            status: 401,
            challenge: Some(CHALLENGE),
            body: refusal("unauthorized", "authentication required"),
        },
        Case {
            name: "modes: a user extractor after Admitted sees no user when a key was admitted",
            path: BOTH_FIRST,
            headers: with(&[("apikey", p), ("authorization", &user_bearer)]),
            status: 200,
            challenge: None,
            body: json!({ "caller": caller("publishable", Some("default"), None), "authenticated": null }),
        },
        Case {
            name: "modes: a user extractor before Admitted sees no user when a key was admitted",
            path: USER_FIRST,
            headers: with(&[("apikey", p), ("authorization", &user_bearer)]),
            status: 200,
            challenge: None,
            body: json!({ "caller": caller("publishable", Some("default"), None), "authenticated": null }),
        },
        Case {
            name: "modes: a user extractor after Admitted sees the admitted user",
            path: BOTH_FIRST,
            headers: bearer(&user),
            status: 200,
            challenge: None,
            body: json!({
                "caller": caller("user", None, Some(TokenBuilder::DEFAULT_SUB)),
                "authenticated": TokenBuilder::DEFAULT_SUB,
            }),
        },
        Case {
            name: "modes: Admitted extracted twice is a server error, not a second decision",
            path: TWICE,
            headers: vec![],
            status: 500,
            challenge: None,
            body: refusal("server_error", "internal server error"),
        },
        Case {
            name: "client scope: the app's own user passes",
            path: "/client-notes",
            headers: bearer(&user),
            status: 200,
            challenge: None,
            body: json!({ "ok": true }),
        },
        Case {
            name: "client scope: the OAuth client without the scope is 403",
            path: "/client-notes",
            headers: bearer(&oauth(Some("openid"))),
            status: 403,
            challenge: Some(
                r#"Bearer realm="supagate", error="insufficient_scope", error_description="insufficient scope", scope="notes:read""#,
            ),
            body: refusal("insufficient_scope", "insufficient scope"),
        },
        Case {
            name: "client scope: the OAuth client with the scope passes",
            path: "/client-notes",
            headers: bearer(&oauth(Some("openid notes:read"))),
            status: 200,
            challenge: None,
            body: json!({ "ok": true }),
        },
    ]
    .into_iter()
    .chain(third_party_cases())
    .collect()
}

/// Third-party issuers (the auth-mode routes' verifier trusts `CLERK`).
fn third_party_cases() -> Vec<Case> {
    let keys = TestKeys::new();
    let provider = || TokenBuilder::third_party(CLERK);
    let user = |sub: &str| json!({ "mode": "user", "key": null, "user_id": sub });
    let invalid = || {
        (
            Some(INVALID_TOKEN),
            refusal("invalid_token", "invalid token"),
        )
    };
    let mut cases = vec![
        Case {
            name: "third party: a provider token is a user, with the provider's sub",
            path: "/modes/whoami",
            headers: bearer(&provider().sign_provider()),
            status: 200,
            challenge: None,
            body: user(MockOidc::SUB),
        },
        Case {
            name: "third party: a provider token on a users-only route",
            path: "/modes/user",
            headers: bearer(&provider().claim("sub", "auth0|64f1c2").sign_provider()),
            status: 200,
            challenge: None,
            body: user("auth0|64f1c2"),
        },
        Case {
            name: "third party: a provider token beside the publishable key (supabase-js with accessToken)",
            path: "/modes/whoami",
            headers: {
                let mut h = bearer(&provider().sign_provider());
                h.push(("apikey", TestKeys::PUBLISHABLE_KEY.to_owned()));
                h
            },
            status: 200,
            challenge: None,
            body: user(MockOidc::SUB),
        },
    ];
    for (name, token) in [
        (
            "third party: wrong audience is refused, not `none`",
            provider().claim("aud", "another-app").sign_provider(),
        ),
        (
            "third party: an unlisted issuer is refused",
            provider()
                .claim("iss", "https://other-provider.example.com")
                .sign_provider(),
        ),
        (
            "third party: HS256 claiming the provider's iss (the project secret) is refused",
            provider().sign_hs256(&keys),
        ),
        (
            "third party: a Supabase-signed token claiming the provider's iss is refused",
            TokenBuilder::new().claim("iss", CLERK).sign_es256(&keys),
        ),
        (
            "third party: a provider-signed token claiming the project's iss is refused",
            provider().claim("iss", TestKeys::ISSUER).sign_provider(),
        ),
        (
            "third party: a provider token without role: authenticated is refused",
            provider().claim("role", "service_role").sign_provider(),
        ),
    ] {
        let (challenge, body) = invalid();
        cases.push(Case {
            name,
            path: "/modes/whoami",
            headers: bearer(&token),
            status: 401,
            challenge,
            body,
        });
    }
    cases
}

#[test]
fn every_adapter_and_a_plain_tower_service_answer_every_case_identically() {
    let setup = setup();
    let cases = cases();
    let axum_app = on_axum::app(&setup);
    let from_axum: Vec<Observed> = cases.iter().map(|c| on_axum::run(&axum_app, c)).collect();
    let from_actix = on_actix::run_all(&setup, &cases);
    let tower_routes = on_tower::routes(&setup);
    let from_tower: Vec<Observed> = cases
        .iter()
        .map(|c| on_tower::run(&tower_routes, c))
        .collect();
    let tonic_routes = on_tonic::routes(&setup);
    let from_tonic: Vec<on_tonic::Seen> = cases
        .iter()
        .map(|c| on_tonic::run(&tonic_routes, c))
        .collect();
    for ((((case, ax), ac), tw), tn) in cases
        .iter()
        .zip(&from_axum)
        .zip(&from_actix)
        .zip(&from_tower)
        .zip(&from_tonic)
    {
        assert_eq!(
            *tn,
            on_tonic::expected(ax),
            "{}: axum and tonic (gRPC codes for statuses) differ",
            case.name
        );
        assert_eq!(ax, ac, "{}: axum and actix differ", case.name);
        assert_eq!(
            ax, tw,
            "{}: axum and a plain tower service differ",
            case.name
        );
        assert_eq!(ax.status, case.status, "{}", case.name);
        assert_eq!(
            ax.www_authenticate.as_deref(),
            case.challenge,
            "{}",
            case.name
        );
        assert_eq!(ax.body, case.body, "{}", case.name);
        assert_eq!(
            ax.content_type.as_deref(),
            Some("application/json"),
            "{}",
            case.name
        );
        assert_eq!(
            ax.retry_after.is_some(),
            case.status == 503,
            "{}: Retry-After only on 503",
            case.name
        );
    }
    assert_eq!(from_axum.len(), cases.len());
    assert_eq!(from_actix.len(), cases.len());
    assert_eq!(from_tower.len(), cases.len());
    assert_eq!(from_tonic.len(), cases.len());
}
