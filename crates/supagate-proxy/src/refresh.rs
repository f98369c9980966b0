//! Session refresh against Supabase Auth, as auth-js does it: when, what request, and what to
//! do with each answer. The HTTP call itself (and single-flight across requests) belongs to the
//! caller; this module decides.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, StatusCode};
use supagate_cookie::Session;
use supagate_jwt::Token;

use crate::error::ProxyConfigError;
use supagate_jwt::IntoProject;

/// auth-js refreshes when the session expires within this margin (`EXPIRY_MARGIN_MS`).
pub(crate) const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(90);

/// Whether a session needs a refresh now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefreshNeed {
    /// Valid beyond the margin: forward as is.
    NotYet,
    /// Still valid, but inside the margin: refresh, and on failure keep using it.
    Proactive,
    /// Expired (or without `expires_at`): refresh, and on failure the session ends or the
    /// request waits for the auth server.
    Expired,
}

/// What to do after the auth server answered a refresh.
#[derive(Debug)]
#[non_exhaustive]
pub enum RefreshOutcome {
    /// A new session: write its cookies (verbatim JSON, as auth-js stores it) and forward with
    /// its access token.
    Refreshed(Session),
    /// The refresh failed but the old access token is still valid: forward with it, write no
    /// cookie.
    KeepOld,
    /// The auth server said this session is over (`refresh_token_not_found`,
    /// `refresh_token_already_used`, `session_not_found`, … see
    /// [`AuthEndpoint::refresh_outcome`]) and the access token has expired: clear the session
    /// cookies and answer 401.
    EndSession {
        /// GoTrue's `error_code` (or string `code`), when it gave one.
        code: Option<String>,
    },
    /// The auth server could not refresh now (429, 408, 5xx, no answer, or a refusal that is
    /// not about this session) and the access token has expired: keep the cookies and answer
    /// 503 with `Retry-After`.
    Unavailable,
}

/// The Supabase Auth token endpoint and the project's public API key.
///
/// # Examples
///
/// ```
/// use supagate_jwt::Token;
/// use supagate_proxy::core::AuthEndpoint;
///
/// let auth = AuthEndpoint::new("https://abcdefghijklmnopqrst.supabase.co", "sb_publishable_x")?;
/// let req = auth.refresh_request(&Token::new("refresh-token-0123"));
/// assert_eq!(
///     req.uri(),
///     "https://abcdefghijklmnopqrst.supabase.co/auth/v1/token?grant_type=refresh_token"
/// );
/// assert_eq!(req.body(), br#"{"refresh_token":"refresh-token-0123"}"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct AuthEndpoint {
    base: String,
    token_url: String,
    api_key: HeaderValue,
    bearer: HeaderValue,
    /// The secret key as `apikey` and as the bearer, for calls made on a client's behalf.
    secret: Option<(HeaderValue, HeaderValue)>,
    margin: i64,
}

impl fmt::Debug for AuthEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthEndpoint")
            .field("url", &self.base)
            .field("api_key", &"<redacted>")
            .field("forwards_client_address", &self.secret.is_some())
            .field("margin_secs", &self.margin)
            .finish()
    }
}

/// `Sb-Forwarded-For`: the client address the auth server limits a call made with a secret
/// key by.
pub(crate) const SB_FORWARDED_FOR: &str = "sb-forwarded-for";

pub(crate) fn sensitive(value: &str) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(value).ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// The value of `Sb-Forwarded-For` for `client`: an IPv4-mapped address as IPv4, nothing for
/// an unknown client (`0.0.0.0`, `::`, `::ffff:0.0.0.0`).
pub(crate) fn forwarded_address(client: IpAddr) -> Option<HeaderValue> {
    let client = client.to_canonical();
    if client.is_unspecified() {
        return None;
    }
    HeaderValue::from_str(&client.to_string()).ok()
}

impl AuthEndpoint {
    /// auth-js refreshes when the session expires within this margin (`EXPIRY_MARGIN_MS`).
    pub const DEFAULT_REFRESH_MARGIN: Duration = DEFAULT_REFRESH_MARGIN;

    /// The auth server of `project` (a [`supagate_jwt::SupabaseProject`] or its URL,
    /// `https://<ref>.supabase.co`, parsed with [`supagate_jwt::SupabaseProject::parse`]), with
    /// its anon or publishable key (sent as `apikey` and as the bearer, as supabase-js does). Refresh
    /// margin [`AuthEndpoint::DEFAULT_REFRESH_MARGIN`].
    ///
    /// # Errors
    ///
    /// [`ProxyConfigError`](crate::ProxyConfigError) for a URL that is not `https://` (or `http://` for a
    /// loopback test server) or a key that is not a header value.
    pub fn new(project: impl IntoProject, api_key: &str) -> Result<Self, ProxyConfigError> {
        let project = project.into_project().map_err(|_| ProxyConfigError {
            what: "supabase url must be https://<host>",
        })?;
        let base = project.auth_url();
        let bad_key = || ProxyConfigError {
            what: "api key is not a header value",
        };
        let mut key = HeaderValue::from_str(api_key).map_err(|_| bad_key())?;
        key.set_sensitive(true);
        let mut bearer =
            HeaderValue::from_str(&format!("Bearer {api_key}")).map_err(|_| bad_key())?;
        bearer.set_sensitive(true);
        Ok(AuthEndpoint {
            base: base.to_owned(),
            token_url: format!("{base}/token?grant_type=refresh_token"),
            api_key: key,
            bearer,
            secret: None,
            margin: i64::try_from(DEFAULT_REFRESH_MARGIN.as_secs()).unwrap_or(90),
        })
    }

    /// Sends the calls made on a client's behalf ([`AuthEndpoint::forward_for`]) with
    /// `secret` as `apikey` and `Sb-Forwarded-For: <client address>`, so that the auth
    /// server rate-limits each client's address instead of this server's one address (its
    /// token endpoint allows 150 requests per 5 minutes per address by default, all grants
    /// together). The project must have IP address forwarding enabled (Authentication > Rate
    /// Limits, or `security_sb_forwarded_for_enabled`). Default: none, and every call counts
    /// against this server's address.
    ///
    /// ```
    /// use supagate_auth::SecretKey;
    /// use supagate_proxy::core::AuthEndpoint;
    /// use supagate_jwt::Token;
    ///
    /// let auth = AuthEndpoint::new("https://abcdefghijklmnopqrst.supabase.co", "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH")?
    ///     .with_secret_key(&SecretKey::parse("sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz")?);
    /// let mut req = auth.refresh_request(&Token::new("abcdefghijkl"));
    /// auth.forward_for(&mut req, "203.0.113.9".parse()?);
    /// assert_eq!(req.headers()["apikey"], "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz");
    /// assert_eq!(req.headers()["sb-forwarded-for"], "203.0.113.9");
    /// assert!(req.headers()["apikey"].is_sensitive());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_secret_key(mut self, secret: &supagate_auth::SecretKey) -> Self {
        self.secret =
            sensitive(secret.expose()).zip(sensitive(&format!("Bearer {}", secret.expose())));
        self
    }

    /// [`AuthEndpoint::forward_for`] by value.
    #[cfg(feature = "client")]
    pub(crate) fn for_client(&self, mut req: Request<Vec<u8>>, client: IpAddr) -> Request<Vec<u8>> {
        self.forward_for(&mut req, client);
        req
    }

    /// Marks `req`, one of this endpoint's requests made on behalf of the client at `client`,
    /// as that client's: with a secret key configured, `apikey` becomes the secret key (and
    /// so does the bearer where it was the publishable key; a user's access token stays) and
    /// `Sb-Forwarded-For: <client>` is set (an IPv4-mapped address as IPv4). Without a secret
    /// key, or for an unknown client (`0.0.0.0`, `::`), `req` is left as it is: the auth
    /// server only believes the header with a secret key.
    pub fn forward_for(&self, req: &mut Request<Vec<u8>>, client: IpAddr) {
        let (Some((key, bearer)), Some(address)) = (&self.secret, forwarded_address(client)) else {
            return;
        };
        let h = req.headers_mut();
        if h.get(AUTHORIZATION) == Some(&self.bearer) {
            h.insert(AUTHORIZATION, bearer.clone());
        }
        h.insert("apikey", key.clone());
        h.insert(SB_FORWARDED_FOR, address);
    }

    /// Refreshes sessions expiring within `margin` (default 90 s, auth-js's margin).
    #[must_use]
    pub fn with_margin(mut self, margin: Duration) -> Self {
        self.margin = i64::try_from(margin.as_secs()).unwrap_or(i64::MAX);
        self
    }

    /// Whether `session` needs a refresh at `now` (Unix seconds).
    #[must_use]
    pub fn needs_refresh(&self, session: &Session, now: i64) -> RefreshNeed {
        match session.expires_at() {
            Some(exp) if exp > now.saturating_add(self.margin) => RefreshNeed::NotYet,
            Some(exp) if exp > now => RefreshNeed::Proactive,
            _ => RefreshNeed::Expired,
        }
    }

    /// The refresh request, as auth-js sends it: `POST <url>/auth/v1/token?grant_type=
    /// refresh_token` with `apikey`, `Authorization: Bearer <key>`, `Content-Type:
    /// application/json;charset=UTF-8`, `X-Supabase-Api-Version: 2024-01-01` and the JSON body
    /// `{"refresh_token": …}`. `X-Client-Info` names supagate.
    #[must_use]
    pub fn refresh_request(&self, refresh_token: &Token) -> Request<Vec<u8>> {
        let body = serde_json::json!({ "refresh_token": refresh_token.expose() });
        self.request(Method::POST, &self.token_url, Some(&body), None)
    }

    /// The password sign-in request, as auth-js's `signInWithPassword` sends it: `POST
    /// <url>/auth/v1/token?grant_type=password` with `{"email", "password",
    /// "gotrue_meta_security": {}}`.
    ///
    /// ```
    /// # use supagate_proxy::core::AuthEndpoint;
    /// let auth = AuthEndpoint::new("https://abcdefghijklmnopqrst.supabase.co", "anon")?;
    /// let req = auth.password_request("a@example.com", "hunter22");
    /// assert!(req.uri().to_string().ends_with("/auth/v1/token?grant_type=password"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn password_request(&self, email: &str, password: &str) -> Request<Vec<u8>> {
        let body = serde_json::json!({
            "email": email,
            "password": password,
            "gotrue_meta_security": {},
        });
        let url = format!("{}/token?grant_type=password", self.base);
        self.request(Method::POST, &url, Some(&body), None)
    }

    /// The PKCE code exchange, as auth-js's `exchangeCodeForSession` sends it: `POST
    /// <url>/auth/v1/token?grant_type=pkce` with `{"auth_code", "code_verifier"}`.
    #[must_use]
    pub fn pkce_request(&self, code: &str, verifier: &Token) -> Request<Vec<u8>> {
        let body = serde_json::json!({ "auth_code": code, "code_verifier": verifier.expose() });
        let url = format!("{}/token?grant_type=pkce", self.base);
        self.request(Method::POST, &url, Some(&body), None)
    }

    /// The sign-out request, as auth-js's `signOut` sends it: `POST
    /// <url>/auth/v1/logout?scope=<scope>` with the user's access token as the bearer.
    /// `scope` is `global` (auth-js's default: every session of the user), `local` or
    /// `others`.
    #[must_use]
    pub fn logout_request(&self, access_token: &Token, scope: LogoutScope) -> Request<Vec<u8>> {
        let url = format!("{}/logout?scope={}", self.base, scope.as_str());
        self.request(Method::POST, &url, None, Some(access_token))
    }

    /// The URL that starts an OAuth sign-in with `provider`, as auth-js's `signInWithOAuth`
    /// builds it: `<url>/auth/v1/authorize?provider=…&redirect_to=…&code_challenge=…&
    /// code_challenge_method=s256`.
    #[must_use]
    pub fn authorize_url(&self, provider: &str, redirect_to: &str, code_challenge: &str) -> String {
        let mut url = format!("{}/authorize?provider=", self.base);
        url.push_str(&encode_component(provider));
        url.push_str("&redirect_to=");
        url.push_str(&encode_component(redirect_to));
        url.push_str("&code_challenge=");
        url.push_str(&encode_component(code_challenge));
        url.push_str("&code_challenge_method=s256");
        url
    }

    fn request(
        &self,
        method: Method,
        url: &str,
        body: Option<&serde_json::Value>,
        user_token: Option<&Token>,
    ) -> Request<Vec<u8>> {
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let has_body = !body.is_empty();
        let mut req = Request::new(body);
        *req.method_mut() = method;
        if let Ok(uri) = url.parse() {
            *req.uri_mut() = uri;
        }
        let h = req.headers_mut();
        h.insert("apikey", self.api_key.clone());
        let bearer = user_token
            .and_then(|t| HeaderValue::from_str(&format!("Bearer {}", t.expose())).ok())
            .map(|mut v| {
                v.set_sensitive(true);
                v
            });
        h.insert(AUTHORIZATION, bearer.unwrap_or_else(|| self.bearer.clone()));
        if has_body {
            h.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/json;charset=UTF-8"),
            );
        }
        h.insert(
            "x-client-info",
            HeaderValue::from_static(concat!("supagate-proxy/", env!("CARGO_PKG_VERSION"))),
        );
        h.insert(
            "x-supabase-api-version",
            HeaderValue::from_static("2024-01-01"),
        );
        req
    }

    /// What to do with the auth server's answer (`None` status: no answer, a timeout or a
    /// connection error). 2xx is the new session. Only a definitive answer about this session
    /// ends it: a 4xx whose GoTrue code is `validation_failed` (a refresh token in none of its
    /// formats), `refresh_token_not_found`, `refresh_token_already_used`, `session_not_found`,
    /// `session_expired`, `user_not_found`, `user_banned` or the legacy `invalid_grant`.
    /// Everything else (429 rate limiting, which a flood from other clients can cause; 408; any
    /// 5xx; no answer; a 4xx without one of those codes) keeps the cookies. A failed proactive refresh keeps the still-valid
    /// session.
    ///
    /// ```
    /// use http::StatusCode;
    /// use supagate_proxy::core::{AuthEndpoint, RefreshNeed, RefreshOutcome};
    ///
    /// let auth = AuthEndpoint::new("https://abcdefghijklmnopqrst.supabase.co", "anon")?;
    /// let expired = RefreshNeed::Expired;
    /// let used = br#"{"code":"refresh_token_already_used","message":"Invalid Refresh Token"}"#;
    /// assert!(matches!(
    ///     auth.refresh_outcome(expired, Some(StatusCode::BAD_REQUEST), used),
    ///     RefreshOutcome::EndSession { .. }
    /// ));
    /// let limited = br#"{"code":"over_request_rate_limit"}"#;
    /// assert!(matches!(
    ///     auth.refresh_outcome(expired, Some(StatusCode::TOO_MANY_REQUESTS), limited),
    ///     RefreshOutcome::Unavailable
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn refresh_outcome(
        &self,
        need: RefreshNeed,
        status: Option<StatusCode>,
        body: &[u8],
    ) -> RefreshOutcome {
        let expired = need == RefreshNeed::Expired;
        let failed = |code: Option<String>| match (expired, code) {
            (false, _) => RefreshOutcome::KeepOld,
            (true, None) => RefreshOutcome::Unavailable,
            (true, Some(code)) => RefreshOutcome::EndSession { code: Some(code) },
        };
        let Some(status) = status else {
            return failed(None);
        };
        if status.is_success() {
            return match std::str::from_utf8(body).ok().map(Session::from_json) {
                Some(Ok(session)) => RefreshOutcome::Refreshed(session),
                // A 2xx that is not a session: treat as a server fault, never as sign-out.
                _ => failed(None),
            };
        }
        if !status.is_client_error()
            || status == StatusCode::REQUEST_TIMEOUT
            || status == StatusCode::TOO_MANY_REQUESTS
        {
            return failed(None);
        }
        failed(error_code(body).filter(|c| SESSION_OVER.contains(&c.as_str())))
    }
}

/// GoTrue's answers to a refresh that mean the session is over for good. `validation_failed`
/// is its answer to a refresh token that is not one of its formats, or a v2 token from the
/// future of its session ("not issued by this server"): that cookie can never refresh.
const SESSION_OVER: &[&str] = &[
    "validation_failed",
    "refresh_token_not_found",
    "refresh_token_already_used",
    "session_not_found",
    "session_expired",
    "user_not_found",
    "user_banned",
    "invalid_grant",
];

/// Which sessions `POST /logout` ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LogoutScope {
    /// Every session of the user (auth-js's default).
    #[default]
    Global,
    /// Only this session.
    Local,
    /// Every session of the user but this one.
    Others,
}

impl LogoutScope {
    fn as_str(self) -> &'static str {
        match self {
            LogoutScope::Global => "global",
            LogoutScope::Local => "local",
            LogoutScope::Others => "others",
        }
    }
}

/// `encodeURIComponent`, for query values.
fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// GoTrue's error code in either body shape: `{"code":"…"}` (API version 2024-01-01) or
/// `{"code":400,"error_code":"…"}` (legacy).
pub(crate) fn error_code(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("error_code")
        .and_then(|c| c.as_str())
        .or_else(|| v.get("code").and_then(|c| c.as_str()))
        .or_else(|| v.get("error").and_then(|c| c.as_str()))
        .map(str::to_owned)
}
