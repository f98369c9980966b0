//! [`AuthServerSessions`]: session liveness from the auth server, for projects without
//! database access.

use std::fmt;
use std::sync::Arc;

use http::header::{AUTHORIZATION, HeaderValue};
use http::{Method, Request, StatusCode};
use supagate_auth::{
    BoxFuture, SessionEnd, SessionKey, SessionSource, SessionState, SourceUnavailable,
};
use supagate_jwt::IntoProject;

use crate::client::{HttpClient, Limits};
use crate::error::ProxyConfigError;
use crate::refresh::error_code;

/// A [`SessionSource`] that asks Supabase Auth: `GET /auth/v1/user` with the user's access
/// token, which the auth server answers with `403 session_not_found` once the token's session
/// is gone. For projects whose backend has no database access; with one,
/// `supagate_postgres::DbSessions` is cheaper and also sees `not_after`.
///
/// - 200 with the token's user: live (another user's id: ended);
/// - 401 or 403 with `session_not_found`, `session_expired`, `user_not_found` or
///   `user_banned`: ended;
/// - 401 or 403 with `bad_jwt`: the auth server refused *this token* (it allows no leeway on
///   `exp`, the verifier 30 s): [`SessionState::TokenRefused`], a verdict about the token that
///   is never cached for the session;
/// - anything else: a 401 or 403 without one of those codes (a gateway refusing a wrong or
///   rotated API key), 404, 429, 5xx, no answer within the auth timeout (10 s,
///   [`Limits::auth_timeout`]), a body over [`Limits::auth_response_body`]: unavailable (503
///   unless the liveness check is told otherwise), logged at `error` when the server answered.
///
/// Each question is one call the auth server counts against the project's rate limits:
/// [`SessionLiveness`](supagate_auth::SessionLiveness) asks once per session per ttl.
///
/// # Examples
///
/// ```
/// use supagate_auth::SessionLiveness;
/// use supagate_proxy::AuthServerSessions;
///
/// let source = AuthServerSessions::new("https://abcdefghijklmnopqrst.supabase.co", "sb_publishable_x")?;
/// let liveness = SessionLiveness::builder(source).build()?;
/// # let _ = liveness;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct AuthServerSessions {
    client: HttpClient,
    user_url: Arc<str>,
    api_key: HeaderValue,
    /// The secret key, sent instead with `Sb-Forwarded-For` when the client is known.
    secret: Option<HeaderValue>,
}

impl fmt::Debug for AuthServerSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthServerSessions")
            .field("url", &self.user_url)
            .field("api_key", &"<redacted>")
            .field("forwards_client_address", &self.secret.is_some())
            .finish()
    }
}

impl AuthServerSessions {
    /// Asks the auth server of `project` (its URL, `https://<ref>.supabase.co`, or `http://`
    /// on loopback for tests), sending `api_key` (the publishable or anon key) as `apikey`,
    /// with the default [`Limits`].
    ///
    /// # Errors
    ///
    /// [`ProxyConfigError`](crate::ProxyConfigError) for a URL that is not a project URL or a key that is
    /// not a header value.
    pub fn new(project: impl IntoProject, api_key: &str) -> Result<Self, ProxyConfigError> {
        Self::with_limits(project, api_key, Limits::default())
    }

    /// As [`AuthServerSessions::new`], with `limits` (`connect_timeout`, `auth_timeout` and
    /// `auth_response_body` apply).
    ///
    /// # Errors
    ///
    /// As [`AuthServerSessions::new`].
    pub fn with_limits(
        project: impl IntoProject,
        api_key: &str,
        limits: Limits,
    ) -> Result<Self, ProxyConfigError> {
        let project = project.into_project().map_err(|_| ProxyConfigError {
            what: "supabase url must be https://<host>",
        })?;
        let mut api_key = HeaderValue::from_str(api_key).map_err(|_| ProxyConfigError {
            what: "api key is not a header value",
        })?;
        api_key.set_sensitive(true);
        Ok(AuthServerSessions {
            client: HttpClient::new(Arc::new(limits))?,
            user_url: format!("{}/user", project.auth_url()).into(),
            api_key,
            secret: None,
        })
    }

    /// Asks with `secret` as `apikey` and `Sb-Forwarded-For: <client>` when the question
    /// names its client ([`SessionKey::with_client`]: the proxy's page sessions do), as the
    /// proxy's other auth-server calls ([`SessionsBuilder::secret_key`](crate::SessionsBuilder::secret_key)).
    /// Default: none.
    #[must_use]
    pub fn with_secret_key(mut self, secret: &supagate_auth::SecretKey) -> Self {
        self.secret = crate::refresh::sensitive(secret.expose());
        self
    }

    async fn ask(
        &self,
        token: &str,
        user: uuid::Uuid,
        client: Option<std::net::IpAddr>,
    ) -> Result<SessionState, SourceUnavailable> {
        let Ok(mut bearer) = HeaderValue::from_str(&format!("Bearer {token}")) else {
            return Ok(SessionState::Ended(SessionEnd::NotFound));
        };
        bearer.set_sensitive(true);
        let mut req = Request::builder()
            .method(Method::GET)
            .uri(&*self.user_url)
            .header("apikey", self.api_key.clone())
            .header(AUTHORIZATION, bearer)
            .body(Vec::new())
            .map_err(|_| SourceUnavailable::new("auth server url"))?;
        let forwarded = client.and_then(crate::refresh::forwarded_address);
        if let (Some(secret), Some(address)) = (&self.secret, forwarded) {
            req.headers_mut().insert("apikey", secret.clone());
            req.headers_mut()
                .insert(crate::refresh::SB_FORWARDED_FOR, address);
        }
        let answer = self.client.auth_call(req).await;
        let Some(status) = answer.status else {
            return Err(SourceUnavailable::new("auth server did not answer"));
        };
        if status == StatusCode::OK {
            // The user the auth server answers for must be the token's.
            #[derive(serde::Deserialize)]
            struct User {
                id: uuid::Uuid,
            }
            return match serde_json::from_slice::<User>(&answer.body) {
                Ok(u) if u.id == user => Ok(SessionState::Live { not_after: None }),
                Ok(_) => Ok(SessionState::Ended(SessionEnd::UserMismatch)),
                Err(_) => Err(SourceUnavailable::new("auth server answer unreadable")),
            };
        }
        // Only an answer about this session ends it. Anything else (a gateway's 401 for a
        // wrong or rotated API key, a 404 from a wrong URL, 429, 5xx) says nothing about the
        // session: unavailable, so that a misconfiguration is a 503 and an error log, not every
        // user signed out.
        let code = error_code(&answer.body);
        let end = match (status, code.as_deref()) {
            (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, Some(code)) => match code {
                "session_not_found" => Some(SessionState::Ended(SessionEnd::NotFound)),
                "session_expired" => Some(SessionState::Ended(SessionEnd::Expired)),
                "user_not_found" => Some(SessionState::Ended(SessionEnd::UserDeleted)),
                "user_banned" => Some(SessionState::Ended(SessionEnd::UserBanned)),
                // About the token (expired by the auth server's clock), not the session.
                "bad_jwt" => Some(SessionState::TokenRefused),
                _ => None,
            },
            _ => None,
        };
        match end {
            Some(state) => Ok(state),
            None => {
                tracing::error!(
                    target: "supagate",
                    status = status.as_u16(),
                    code = code.as_deref().map(crate::sessions::safe_code),
                    "GET /auth/v1/user answered without a session verdict; check SUPABASE_URL and the api key"
                );
                Err(SourceUnavailable::new(
                    "auth server answered without a verdict",
                ))
            }
        }
    }
}

impl SessionSource for AuthServerSessions {
    fn session_state<'a>(
        &'a self,
        session: SessionKey<'a>,
    ) -> BoxFuture<'a, Result<SessionState, SourceUnavailable>> {
        Box::pin(self.ask(session.token(), session.user_id(), session.client()))
    }
}
