//! Session liveness from the auth server (`GET /auth/v1/user` on `MockAuth`), and a sign-out
//! through the proxy ending the session at once in a liveness check it shares.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;
use supagate_core::RequestError as _;

use http::{HeaderMap, Method, Request, StatusCode};
use supagate_auth::{AuthError, Authenticator, SessionLiveness};
use supagate_cookie::{CookieName, CookieOptions, Session, SessionWriter};
use supagate_jwt::Verifier;
use supagate_proxy::{AuthServerSessions, LogoutScope, Proxy, Sessions};
use supagate_testkit::{Endpoint, Fault, MockAuth, TestKeys};

const PUBLIC: &str = "https://app.example.com";

struct Fixture {
    auth: MockAuth,
    liveness: SessionLiveness,
    backend: Authenticator,
}

impl Fixture {
    fn new(fail_open: bool) -> Fixture {
        let auth = MockAuth::start();
        auth.add_user("alice@example.com", "correct horse", serde_json::json!({}));
        let source = AuthServerSessions::new(auth.url(), "anon-key").unwrap();
        let liveness = SessionLiveness::builder(source)
            .ttl(Duration::from_secs(30))
            .allow_when_unavailable(fail_open)
            .build()
            .unwrap();
        let backend = Authenticator::builder(Self::verifier_for(&auth))
            .session_liveness(liveness.clone())
            .build()
            .unwrap();
        Fixture {
            auth,
            liveness,
            backend,
        }
    }

    fn verifier_for(auth: &MockAuth) -> Verifier {
        Verifier::from_supabase_url(auth.url())
            .jwk_set(TestKeys::new().jwk_set())
            .build()
            .unwrap()
    }

    fn proxy(&self, scope: LogoutScope) -> Proxy {
        // The app's own authenticator, liveness and all: one pipeline for pages, the proxy
        // and the backend's extractors.
        let sessions = Sessions::builder(self.auth.url(), "anon-key", self.backend.clone())
            .public_origin(PUBLIC)
            .logout_scope(scope)
            .build()
            .unwrap();
        Proxy::builder(sessions)
            .upstream("http://127.0.0.1:9")
            .route("/api/", "/")
            .build()
            .unwrap()
    }

    /// A new session of alice: its access token and the cookie `@supabase/ssr` would send.
    fn session(&self) -> (String, String) {
        let json = self.auth.session_json("alice@example.com", 3600);
        let session = Session::from_json(&json).unwrap();
        let writer = SessionWriter::new(
            CookieName::custom("sb-127-auth-token").unwrap(),
            CookieOptions::default(),
        )
        .unwrap();
        let cookie = writer
            .set(&session, &HeaderMap::new())
            .unwrap()
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join("; ");
        (session.access_token().expose().to_owned(), cookie)
    }

    async fn check(&self, token: &str) -> Result<(), AuthError> {
        let mut h = HeaderMap::new();
        h.insert("authorization", format!("Bearer {token}").parse().unwrap());
        supagate_auth::Gate::modes(self.backend.clone(), "user".parse().unwrap())
            .decide(&h)
            .await
            .map(|_| ())
            .map_err(|r| r.error().clone())
    }
}

async fn sign_out(proxy: &Proxy, cookie: &str) -> StatusCode {
    let req = Request::builder()
        .method(Method::POST)
        .uri("/auth/sign-out")
        .header("cookie", cookie)
        .header("sec-fetch-site", "same-origin")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    proxy
        .sessions()
        .sign_out(req, "127.0.0.1".parse().unwrap())
        .await
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auth_server_says_when_a_session_is_gone() {
    let f = Fixture::new(false);
    let (token, cookie) = f.session();
    let (other, _) = f.session();
    f.check(&token).await.unwrap();
    f.check(&token).await.unwrap();
    f.check(&other).await.unwrap();
    assert_eq!(
        f.auth.count(Endpoint::User),
        2,
        "once per session, then cached"
    );

    // A local sign-out through the proxy that shares the check: refused at once, without
    // asking the auth server again.
    let proxy = f.proxy(LogoutScope::Local);
    assert_eq!(sign_out(&proxy, &cookie).await, StatusCode::NO_CONTENT);
    assert_eq!(
        f.check(&token).await,
        Err(AuthError::SessionRevoked {
            reason: "session_not_found"
        })
    );
    assert_eq!(f.auth.count(Endpoint::User), 2);
    // The other session is still live (local scope), from the cache.
    f.check(&other).await.unwrap();

    // A global sign-out from a third session: the user's sessions are asked about again, and
    // the auth server says they are gone.
    let (third, cookie) = f.session();
    f.check(&third).await.unwrap();
    let proxy = f.proxy(LogoutScope::Global);
    assert_eq!(sign_out(&proxy, &cookie).await, StatusCode::NO_CONTENT);
    let before = f.auth.count(Endpoint::User);
    assert!(matches!(
        f.check(&third).await,
        Err(AuthError::SessionRevoked { .. })
    ));
    assert!(matches!(
        f.check(&other).await,
        Err(AuthError::SessionRevoked { .. })
    ));
    assert_eq!(
        f.auth.count(Endpoint::User),
        before + 1,
        "only the other session is asked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auth_server_down_is_503_and_its_refusals_are_not_trusted_blindly() {
    let f = Fixture::new(false);
    let (token, _) = f.session();
    f.auth
        .inject(Endpoint::User, Fault::error(503, "unexpected_failure"), 1);
    let err = f.check(&token).await.unwrap_err();
    assert_eq!(err, AuthError::SessionStoreUnavailable);
    assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
    // 429 is "unavailable" too, never "signed out".
    let (token, _) = f.session();
    f.auth.inject(
        Endpoint::User,
        Fault::error(429, "over_request_rate_limit"),
        1,
    );
    assert_eq!(
        f.check(&token).await,
        Err(AuthError::SessionStoreUnavailable)
    );

    // A 401 that is no verdict on the session (a gateway refusing a rotated API key, an
    // unknown code) or a 404 (a wrong URL): unavailable, never "every user signed out".
    for (status, code) in [
        (401, "invalid_api_key"),
        (403, "no_authorization"),
        (404, "not_found"),
    ] {
        let (token, _) = f.session();
        f.auth.inject(Endpoint::User, Fault::error(status, code), 1);
        assert_eq!(
            f.check(&token).await,
            Err(AuthError::SessionStoreUnavailable),
            "{status} {code}"
        );
    }
    // A 200 that is not JSON: unavailable too.
    let (token, _) = f.session();
    f.auth.inject(Endpoint::User, Fault::Garbage, 1);
    assert_eq!(
        f.check(&token).await,
        Err(AuthError::SessionStoreUnavailable)
    );
    // The known verdicts end the session.
    for (code, reason) in [
        ("session_not_found", "session_not_found"),
        ("session_expired", "session_expired"),
        ("user_banned", "user_banned"),
        ("user_not_found", "user_not_found"),
    ] {
        let (token, _) = f.session();
        f.auth.inject(Endpoint::User, Fault::error(403, code), 1);
        assert_eq!(
            f.check(&token).await,
            Err(AuthError::SessionRevoked { reason }),
            "{code}"
        );
    }

    // The named opt-out admits while the auth server is down.
    let f = Fixture::new(true);
    let (token, _) = f.session();
    f.auth
        .inject(Endpoint::User, Fault::error(500, "unexpected_failure"), 1);
    f.check(&token).await.unwrap();
}

/// Review finding: the auth server's `bad_jwt` was taken as "session not found" and cached for
/// the whole session. The auth server allows no leeway on `exp`, the verifier 30 s: one
/// request with a token 10 s past `exp` made every later token of that live session "session
/// ended" for 30 s, and the page layer deleted its cookies. `bad_jwt` is about the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_the_auth_server_finds_expired_never_ends_its_session() {
    let f = Fixture::new(false);
    // A session whose access token expired 10 s ago: inside the verifier's leeway, past the
    // auth server's (none; MockAuth checks `exp` as GoTrue does).
    let json = f.auth.session_json("alice@example.com", -10);
    let stale = Session::from_json(&json).unwrap();
    let stale = stale.access_token().expose().to_owned();
    let claims = Fixture::verifier_for(&f.auth).verify(&stale).unwrap();
    let session_id = claims.session_id.clone().unwrap();
    assert_eq!(f.check(&stale).await, Err(AuthError::TokenRefused));
    assert_eq!(AuthError::TokenRefused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(f.auth.requests().last().unwrap().status, 403);
    // The same request again: the refusal of that token is remembered (no second call).
    assert_eq!(f.check(&stale).await, Err(AuthError::TokenRefused));
    assert_eq!(f.auth.count(Endpoint::User), 1);

    // A fresh token of the same session (what a refresh gives) is asked about, and is live.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let fresh = supagate_testkit::TokenBuilder::new()
        .issued_at(now, 3600)
        .claim("iss", f.auth.issuer())
        .claim("sub", claims.sub.to_string())
        .claim("session_id", session_id.as_str())
        .sign_es256(&TestKeys::new());
    f.check(&fresh).await.unwrap();
    assert_eq!(f.auth.count(Endpoint::User), 2);
    f.check(&fresh).await.unwrap();
    assert_eq!(f.auth.count(Endpoint::User), 2, "cached as live");

    // The page layer sharing the check keeps the session and its cookies.
    let cookie = {
        let session = Session::from_json(
            &serde_json::json!({
                "access_token": fresh, "token_type": "bearer", "expires_in": 3600,
                "expires_at": now + 3600, "refresh_token": "abcdefghijkl",
            })
            .to_string(),
        )
        .unwrap();
        SessionWriter::new(
            CookieName::custom("sb-127-auth-token").unwrap(),
            CookieOptions::default(),
        )
        .unwrap()
        .set(&session, &HeaderMap::new())
        .unwrap()
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
    };
    let proxy = f.proxy(LogoutScope::Local);
    let mut headers = HeaderMap::new();
    headers.insert("cookie", cookie.parse().unwrap());
    let page = proxy
        .sessions()
        .page_session(&Method::GET, &headers, "127.0.0.1".parse().unwrap())
        .await;
    assert!(page.user().is_some(), "{page:?}");
    let (_, cookies) = page.into_parts().unwrap();
    assert!(!cookies.sets_cookies(), "nothing deleted");
}

/// Review finding (of this change): a refused token's answer was never replaced by the refusal
/// of a later one, so the later token was asked about on every request until the ttl ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refused_token_is_asked_about_once() {
    let f = Fixture::new(false);
    let json = f.auth.session_json("alice@example.com", -20);
    let older = Session::from_json(&json)
        .unwrap()
        .access_token()
        .expose()
        .to_owned();
    let claims = Fixture::verifier_for(&f.auth).verify(&older).unwrap();
    // A later token of the same session, also past exp at the auth server (inside the leeway).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let later = supagate_testkit::TokenBuilder::new()
        .issued_at(now - 3605, 3600)
        .claim("iss", f.auth.issuer())
        .claim("sub", claims.sub.to_string())
        .claim("session_id", claims.session_id.as_deref().unwrap())
        .sign_es256(&TestKeys::new());
    assert_eq!(f.check(&older).await, Err(AuthError::TokenRefused));
    for _ in 0..10 {
        assert_eq!(f.check(&later).await, Err(AuthError::TokenRefused));
    }
    assert_eq!(f.auth.count(Endpoint::User), 2, "once per token");
    // And the older one is still known refused.
    assert_eq!(f.check(&older).await, Err(AuthError::TokenRefused));
    assert_eq!(f.auth.count(Endpoint::User), 2);
}

/// Review finding (of this change): a page whose access token the auth server refuses
/// (`bad_jwt`: it allows no leeway, and its clock may be a little ahead of the proxy's) was
/// answered 401 until the proxy's own margin made it refresh. It is refreshed at once and asked
/// about again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_whose_token_the_auth_server_refuses_is_refreshed_at_once() {
    let f = Fixture::new(false);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // The proxy's clock runs 20 s behind the auth server's (inside the verifier's leeway for a
    // fresh token's `iat`), and it refreshes 10 s before expiry.
    let auth = Authenticator::builder(
        Verifier::from_supabase_url(f.auth.url())
            .jwk_set(TestKeys::new().jwk_set())
            .clock(supagate_jwt::FixedClock::new(now - 20))
            .build()
            .unwrap(),
    )
    .session_liveness(f.liveness.clone())
    .build()
    .unwrap();
    let sessions = Sessions::builder(f.auth.url(), "anon-key", auth)
        .public_origin(PUBLIC)
        .refresh_margin(Duration::from_secs(10))
        .build()
        .unwrap();
    let proxy = Proxy::builder(sessions)
        .upstream("http://127.0.0.1:9")
        .build()
        .unwrap();
    // A live session whose access token expired 5 s ago by the auth server's clock: 15 s left
    // by the proxy's, so it does not refresh on its own.
    let mut json: serde_json::Value =
        serde_json::from_str(&f.auth.session_json("alice@example.com", 3600)).unwrap();
    let claims = Fixture::verifier_for(&f.auth)
        .verify(json["access_token"].as_str().unwrap())
        .unwrap();
    json["access_token"] = supagate_testkit::TokenBuilder::new()
        .iat(now - 3605)
        .exp(now - 5)
        .claim("iss", f.auth.issuer())
        .claim("sub", claims.sub.to_string())
        .claim("session_id", claims.session_id.as_deref().unwrap())
        .sign_es256(&TestKeys::new())
        .into();
    json["expires_at"] = (now - 5).into();
    let cookie = SessionWriter::new(
        CookieName::custom("sb-127-auth-token").unwrap(),
        CookieOptions::default(),
    )
    .unwrap()
    .set(
        &Session::from_json(&json.to_string()).unwrap(),
        &HeaderMap::new(),
    )
    .unwrap()
    .iter()
    .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
    .collect::<Vec<_>>()
    .join("; ");
    let mut headers = HeaderMap::new();
    headers.insert("cookie", cookie.parse().unwrap());
    let page = proxy
        .sessions()
        .page_session(&Method::GET, &headers, "127.0.0.1".parse().unwrap())
        .await;
    assert!(page.refusal_status().is_none(), "{page:?}");
    assert_eq!(page.user().unwrap().email(), Some("alice@example.com"));
    let (_, cookies) = page.into_parts().unwrap();
    assert!(cookies.sets_cookies(), "the refreshed session is written");
    assert_eq!(f.auth.count(Endpoint::Refresh), 1);
    assert_eq!(
        f.auth.count(Endpoint::User),
        2,
        "the refused token, then the new one"
    );
}
