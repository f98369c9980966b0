//! The session lifecycle without browser JavaScript: password sign-in, the OAuth / magic-link
//! PKCE callback (and starting an OAuth flow), and sign-out. Each writes or clears the
//! cookies in `@supabase/ssr` format.
// Refusals carry their error and cookie delta by value; boxing them would only add an
// allocation to every refused request.
#![allow(clippy::result_large_err, clippy::large_enum_variant)]

use std::fmt::Write as _;
use std::net::IpAddr;
use supagate_core::RequestError as _;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderMap};
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::BodyExt;
use serde::Deserialize;
use sha2::Digest as _;
use supagate_auth::AuthError;
use supagate_cookie::{PkceVerifiers, Session};
use supagate_jwt::Token;

use super::{Active, Resolved, Sessions};
use crate::body::{BoxError, Guarded, ProxyBody};
use crate::client::AuthAnswer;
use crate::decision::{Answer, CookieDelta, Decided, Refused, Why};
use crate::error::{ProxyError, sign_in_refusal};
use crate::rate::AuthCall;
use crate::refresh::{LogoutScope, error_code};

/// How long a PKCE verifier cookie written by [`Sessions::start_oauth`] lives.
const PKCE_COOKIE_SECS: i64 = 600;

#[derive(Deserialize)]
struct Credentials {
    email: Option<String>,
    password: Option<String>,
    next: Option<String>,
}

impl Sessions {
    /// `POST /auth/sign-in`: signs in with email and password (a form,
    /// `application/x-www-form-urlencoded`, or JSON with `email`, `password` and an optional
    /// `next`), and writes the session cookies. Answers 303 to `next` when it is a local path,
    /// else 200 with `{"user": {"id", "email"}}`: never a token. CSRF-checked and rate-limited
    /// like any unsafe request.
    ///
    /// Refusals: 400 for a malformed form, 401 `invalid_credentials`, 403 for an unconfirmed
    /// or banned user, 429 when the auth server limits, 503 when it is down. A plain HTML form
    /// (form-encoded, `Accept: text/html`: a browser without JavaScript) is sent back instead,
    /// 303 to the [sign-in page](crate::SessionsBuilder::sign_in_page) with `error=<code>` (such
    /// as `invalid_credentials`, `rate_limited`) and its `next`; a cross-site post is still
    /// refused 403.
    pub async fn sign_in<B>(&self, req: Request<B>, peer: IpAddr) -> Response<ProxyBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        // A browser's plain HTML form (no JavaScript to read a JSON refusal) goes back to the
        // sign-in page with the reason.
        let html_form = is_form(req.headers()) && super::accepts_html(req.headers());
        let mut next = None;
        let decision = match self.try_sign_in(req, peer, &mut next).await {
            Err(r) if html_form && !is_csrf(&r) => Ok(self.sign_in_again(r, next.as_deref())),
            d => d,
        };
        self.render(decision)
    }

    /// 303 back to the sign-in page with `error=<code>` (and the `next` the form carried),
    /// keeping the refusal's cookie changes.
    fn sign_in_again(&self, r: Refused, next: Option<&str>) -> Decided {
        let code = match &r.why {
            Why::Proxy(e) => e.body_code(),
            Why::Auth(AuthError::AuthServerUnavailable) => "temporarily_unavailable",
            Why::Auth(_) => "sign_in_failed",
        };
        let mut location = format!("{}?error={code}", self.inner.sign_in_page);
        if let Some(next) = next {
            location.push_str("&next=");
            location.extend(form_urlencoded::byte_serialize(next.as_bytes()));
        }
        Decided::new(Answer::SeeOther(location), r.cookies)
    }

    async fn try_sign_in<B>(
        &self,
        req: Request<B>,
        peer: IpAddr,
        next_out: &mut Option<String>,
    ) -> Result<Decided, Refused>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let client = self.check_address(req.headers(), peer)?;
        let (parts, body) = req.into_parts();
        if parts.method != Method::POST {
            return Err(ProxyError::BadForm {
                reason: "sign-in must be a POST",
            }
            .into());
        }
        self.check_csrf(&parts.method, &parts.headers)?;
        let p = &*self.inner;
        let bytes = Guarded::new(
            body,
            p.client.limits().form_body,
            p.client.limits().idle_timeout,
        )
        .collect()
        .await
        .map_err(|e| {
            if crate::body::is_too_large(&*e) {
                ProxyError::BodyTooLarge
            } else {
                ProxyError::BadForm {
                    reason: "unreadable body",
                }
            }
        })?
        .to_bytes();
        let creds = parse_credentials(&parts.headers, &bytes)?;
        let required = ProxyError::BadForm {
            reason: "email and password are required",
        };
        let (Some(email), Some(password)) = (creds.email, creds.password) else {
            return Err(required.into());
        };
        let password = Token::new(password);
        if email.is_empty() || email.len() > 320 || password.is_empty() {
            return Err(required.into());
        }
        let next = creds.next.as_deref().map(local_path).transpose()?;
        *next_out = next.map(str::to_owned);
        self.check_auth_call(client, AuthCall::Checked)?;
        let answer = p
            .client
            .auth_call(p.endpoint.for_client(
                p.endpoint.password_request(&email, password.expose()),
                client,
            ))
            .await;
        let (session, claims) = self.session_from(&answer).await?;
        let cookies = p
            .writer
            .set(&session, &parts.headers)
            .map_err(|_| AuthError::Internal { what: "cookie" })?;
        tracing::info!(target: "supagate", "signed in with a password");
        let answer = match next {
            Some(next) => Answer::SeeOther(next.to_owned()),
            None => Answer::Json(
                serde_json::json!({ "user": { "id": claims.sub, "email": claims.email } }),
            ),
        };
        let cookies = self
            .tossed_copies(&parts.headers)
            .then(CookieDelta::of(cookies));
        Ok(Decided::new(answer, cookies))
    }

    /// `GET /auth/callback?code=…[&next=/path]`: exchanges an OAuth or magic-link PKCE code
    /// for a session using the code-verifier cookies (`@supabase/ssr`'s, or those written by
    /// [`Sessions::start_oauth`]), writes the session cookies, clears the verifiers, and answers
    /// 303 to `next` (a local path; default `/`).
    ///
    /// Refusals: 400 for a missing code or verifier or an `error` from the provider, 400/401
    /// when the auth server refuses the code, 503 when it is down.
    pub async fn callback<B>(&self, req: Request<B>, peer: IpAddr) -> Response<ProxyBody> {
        self.render(self.try_callback(req, peer).await)
    }

    async fn try_callback<B>(&self, req: Request<B>, peer: IpAddr) -> Result<Decided, Refused> {
        let client = self.check_address(req.headers(), peer)?;
        let p = &*self.inner;
        let headers = req.headers();
        // Every answer past the rate limit clears the verifiers: a code is tried once.
        let clear_pkce = CookieDelta::of(p.writer.clear_pkce(headers).unwrap_or_default());
        self.exchange_code(req.uri().query().unwrap_or(""), headers, client)
            .await
            .map(|(next, session)| {
                Decided::new(Answer::SeeOther(next), session.then(clear_pkce.clone()))
            })
            .map_err(|r| r.with_cookies(clear_pkce))
    }

    /// The callback's code exchange: where to go next and the new session's cookies.
    async fn exchange_code(
        &self,
        query: &str,
        headers: &HeaderMap,
        client: IpAddr,
    ) -> Result<(String, CookieDelta), Refused> {
        let p = &*self.inner;
        let mut code = None;
        let mut next = None;
        let mut provider_error = false;
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match &*k {
                "code" => code = Some(v.into_owned()),
                "next" => next = Some(v.into_owned()),
                "error" | "error_code" => provider_error = true,
                _ => {}
            }
        }
        if provider_error {
            return Err(ProxyError::SignInRefused {
                status: StatusCode::BAD_REQUEST,
                code: "provider_error",
            }
            .into());
        }
        let next = next.as_deref().map(local_path).transpose()?.unwrap_or("/");
        let Some(code) = code.filter(|c| !c.is_empty() && c.len() <= 512) else {
            return Err(ProxyError::BadForm { reason: "no code" }.into());
        };
        let verifiers = PkceVerifiers::read(p.writer.name(), headers).unwrap_or_default();
        // The legacy slot mirrors the newest flow; older pending flows are tried after it.
        let mut candidates: Vec<&Token> = verifiers.latest().into_iter().collect();
        for id in verifiers.pending_flows().iter().rev() {
            if let Some(t) = verifiers.for_flow(id)
                && !candidates.iter().any(|c| c.expose() == t.expose())
            {
                candidates.push(t);
            }
        }
        if candidates.is_empty() {
            return Err(ProxyError::BadForm {
                reason: "no pkce code verifier cookie",
            }
            .into());
        }
        let mut answer = None;
        for verifier in candidates.into_iter().take(5) {
            self.check_auth_call(client, AuthCall::Checked)?;
            let a = p
                .client
                .auth_call(
                    p.endpoint
                        .for_client(p.endpoint.pkce_request(&code, verifier), client),
                )
                .await;
            let wrong_verifier = a.status == Some(StatusCode::BAD_REQUEST)
                && error_code(&a.body).as_deref() == Some("bad_code_verifier");
            answer = Some(a);
            if !wrong_verifier {
                break;
            }
        }
        let Some(answer) = answer else {
            return Err(ProxyError::UpstreamUnavailable.into());
        };
        let (session, _) = self.session_from(&answer).await?;
        let cookies = p
            .writer
            .set(&session, headers)
            .map_err(|_| AuthError::Internal { what: "cookie" })?;
        tracing::info!(target: "supagate", "signed in through the pkce callback");
        Ok((
            next.to_owned(),
            self.tossed_copies(headers).then(CookieDelta::of(cookies)),
        ))
    }

    /// Starts an OAuth sign-in with `provider` (such as `github`): writes a fresh PKCE code
    /// verifier (HttpOnly, 10 minutes) and answers 303 to the auth server's authorize URL,
    /// which comes back to `callback_url` (an absolute URL of [`Sessions::callback`], allowed in
    /// the project's redirect list).
    pub fn start_oauth(
        &self,
        headers: &HeaderMap,
        peer: IpAddr,
        provider: &str,
        callback_url: &str,
    ) -> Response<ProxyBody> {
        self.render(self.try_start_oauth(headers, peer, provider, callback_url))
    }

    fn try_start_oauth(
        &self,
        headers: &HeaderMap,
        peer: IpAddr,
        provider: &str,
        callback_url: &str,
    ) -> Result<Decided, Refused> {
        self.check_address(headers, peer)?;
        if provider.is_empty()
            || provider.len() > 32
            || !provider
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return Err(ProxyError::BadForm {
                reason: "unknown provider",
            }
            .into());
        }
        let p = &*self.inner;
        let mut random = [0u8; 56];
        getrandom::getrandom(&mut random).map_err(|_| ProxyError::Internal {
            what: "no random source",
        })?;
        // auth-js's verifier: 56 random bytes as 112 hex characters.
        let mut verifier = String::with_capacity(112);
        for b in random {
            let _ = write!(verifier, "{b:02x}");
        }
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(verifier.as_bytes()));
        let verifier = Token::new(verifier);
        let fresh = p
            .writer
            .set_pkce_verifier(&verifier, PKCE_COOKIE_SECS)
            .map_err(|_| ProxyError::Internal {
                what: "pkce cookie",
            })?;
        let cookies = CookieDelta::of(p.writer.clear_pkce(headers).unwrap_or_default())
            .then(CookieDelta::of(vec![fresh]));
        let url = p.endpoint.authorize_url(provider, callback_url, &challenge);
        Ok(Decided::new(Answer::SeeOther(url), cookies))
    }

    /// `POST /auth/sign-out[?next=/path]` (any other method: 405, nothing cleared, so that a
    /// cross-site link cannot sign the user out): ends the session at the auth server (`POST
    /// /auth/v1/logout`, scope as configured, refreshing an expired token first), clears the
    /// session and PKCE cookies, and answers 204 (or 303 to `next`). As auth-js: a 401, 403 or
    /// 404 from the auth server still signs out; a 5xx or timeout answers 503 and keeps the
    /// cookies so that the sign-out can be retried and the refresh token does not stay valid
    /// unnoticed.
    pub async fn sign_out<B>(&self, req: Request<B>, peer: IpAddr) -> Response<ProxyBody> {
        self.render(self.try_sign_out(req, peer).await)
    }

    /// The session just signed out ends at once in the authenticator's session liveness (when
    /// it has one: a service that is its own backend), and, for a global or others sign-out,
    /// the user's other sessions are asked about again.
    fn forget_signed_out(&self, active: &Active) {
        let p = &*self.inner;
        let Some(live) = p.auth.session_liveness() else {
            return;
        };
        if p.logout_scope != LogoutScope::Local {
            live.invalidate_user(active.sub);
        }
        if p.logout_scope != LogoutScope::Others
            && let Some(id) = &active.claims.session_id
        {
            live.invalidate_session(id, active.sub, p.auth.verifier().now());
        }
    }

    async fn try_sign_out<B>(&self, req: Request<B>, peer: IpAddr) -> Result<Decided, Refused> {
        let client = self.check_address(req.headers(), peer)?;
        let (parts, _body) = req.into_parts();
        if parts.method != Method::POST {
            return Err(ProxyError::MethodNotAllowed.into());
        }
        self.check_csrf(&parts.method, &parts.headers)?;
        let p = &*self.inner;
        let next = parts.uri.query().and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "next")
                .map(|(_, v)| v.into_owned())
        });
        let next = next.as_deref().map(local_path).transpose()?;
        match self.session(&parts.headers, client).await {
            Ok(Resolved::Active(active)) => {
                // Until the sign-out is confirmed, a refreshed session must still be stored.
                self.check_auth_call(client, AuthCall::Checked)
                    .map_err(|r| r.with_cookies(active.cookies.clone()))?;
                let answer = p
                    .client
                    .auth_call(p.endpoint.for_client(
                        p.endpoint.logout_request(&active.token(), p.logout_scope),
                        client,
                    ))
                    .await;
                let ended = answer.status.is_some_and(|s| {
                    s.is_success()
                        || matches!(
                            s,
                            StatusCode::UNAUTHORIZED
                                | StatusCode::FORBIDDEN
                                | StatusCode::NOT_FOUND
                        )
                });
                if !ended {
                    tracing::warn!(target: "supagate", status = answer.status.map(|s| s.as_u16()), "sign-out not confirmed by the auth server");
                    return Err(Refused::from(AuthError::AuthServerUnavailable)
                        .with_cookies(active.cookies));
                }
                self.forget_signed_out(&active);
            }
            Ok(Resolved::Anonymous) => {}
            // The session could not be checked or ended now (auth server down, a budget
            // spent, a cookie bomb): say so and keep the cookies, rather than clear them
            // while the refresh token stays valid at the auth server.
            Err(refusal)
                if matches!(
                    refusal.status(),
                    StatusCode::SERVICE_UNAVAILABLE
                        | StatusCode::TOO_MANY_REQUESTS
                        | StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
                ) =>
            {
                return Err(refusal);
            }
            // An unusable or ended session: nothing to end at the server.
            Err(_) => {}
        }
        tracing::info!(target: "supagate", "signed out");
        // Signed out: whatever the session resolution wanted to write, the answer deletes.
        let clear = self.tossed_copies(&parts.headers).then(CookieDelta::of(
            p.writer.clear(&parts.headers).unwrap_or_default(),
        ));
        let clear = clear.then(CookieDelta::of(
            p.writer.clear_pkce(&parts.headers).unwrap_or_default(),
        ));
        let answer = match next {
            Some(n) => Answer::SeeOther(n.to_owned()),
            None => Answer::NoContent,
        };
        Ok(Decided::new(answer, clear))
    }

    /// The session in a token-endpoint answer (sign-in, code exchange), verified.
    async fn session_from(
        &self,
        answer: &AuthAnswer,
    ) -> Result<(Session, supagate_jwt::Claims), Refused> {
        let p = &*self.inner;
        let Some(status) = answer.status else {
            return Err(AuthError::AuthServerUnavailable.into());
        };
        let s = status.as_u16();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let secs = answer
                .headers
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(60);
            return Err(ProxyError::RateLimited {
                retry_after_secs: secs,
            }
            .into());
        }
        if s >= 500 {
            return Err(AuthError::AuthServerUnavailable.into());
        }
        if !status.is_success() {
            let code = error_code(&answer.body);
            return Err(sign_in_refusal(code.as_deref(), s).into());
        }
        let session = std::str::from_utf8(&answer.body)
            .ok()
            .and_then(|b| Session::from_json(b).ok())
            .ok_or(AuthError::AuthServerUnavailable)?;
        let claims = p
            .auth
            .verifier()
            .verify_async(session.access_token().expose())
            .await
            .map_err(AuthError::Token)?;
        Ok((session, claims))
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

fn is_csrf(r: &Refused) -> bool {
    matches!(r.why, Why::Proxy(ProxyError::CsrfRejected))
}

fn parse_credentials(headers: &HeaderMap, body: &[u8]) -> Result<Credentials, ProxyError> {
    let bad = || ProxyError::BadForm {
        reason: "expected a form or JSON with email and password",
    };
    let ct = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match ct.as_str() {
        "application/json" => serde_json::from_slice(body).map_err(|_| bad()),
        "application/x-www-form-urlencoded" => {
            let mut c = Credentials {
                email: None,
                password: None,
                next: None,
            };
            for (k, v) in form_urlencoded::parse(body) {
                let slot = match &*k {
                    "email" => &mut c.email,
                    "password" => &mut c.password,
                    "next" => &mut c.next,
                    _ => continue,
                };
                if slot.is_some() {
                    return Err(bad());
                }
                *slot = Some(v.into_owned());
            }
            Ok(c)
        }
        _ => Err(bad()),
    }
}

/// `next` when it is a local path, else 400: an open redirect would hand the freshly
/// signed-in browser to another site. Local means: starts with `/`, visible ASCII without
/// `\`, no empty segment (`//`) and no `.` or `..` segment anywhere in the path (browsers
/// resolve `/.//evil.example` to `//evil.example`), and no `%` escape of `/`, `\` or `.`.
/// Whether `next` is a local path the proxy redirects to (after sign-in, to the sign-in
/// page): it starts with one `/`, is printable ASCII without `\`, has no empty, `.` or `..`
/// segment and no encoded `/`, `\` or `.`, and is at most 2048 bytes. Use it for any `next`
/// of your own.
///
/// # Examples
///
/// ```
/// use supagate_proxy::core::is_local_path;
///
/// assert!(is_local_path("/dashboard?tab=2"));
/// for bad in ["//evil.example", "/.//evil.example", "https://evil.example", "/a/../b", "/%2F"] {
///     assert!(!is_local_path(bad), "{bad}");
/// }
/// ```
#[must_use]
pub fn is_local_path(next: &str) -> bool {
    local_path(next).is_ok()
}

pub(crate) fn local_path(next: &str) -> Result<&str, ProxyError> {
    let path = next.split(['?', '#']).next().unwrap_or_default();
    let lower = path.to_ascii_lowercase();
    let ok = next.starts_with('/')
        && next.len() <= 2048
        && next.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
        && !path.contains("//")
        && !path.split('/').any(|seg| seg == "." || seg == "..")
        && !["%2f", "%5c", "%2e"].iter().any(|e| lower.contains(e));
    if ok {
        Ok(next)
    } else {
        Err(ProxyError::BadForm {
            reason: "next must be a local path",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HeaderValue;

    #[test]
    fn next_must_be_local() {
        assert!(local_path("/dashboard?tab=1").is_ok());
        assert!(local_path("/a/b.c/d?x=//y").is_ok());
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "dash",
            "/a b",
            "",
            "/.//evil.example",
            "/./evil",
            "/a/../b",
            "/a//b",
            "/%2F/evil.example",
            "/.%2e/x",
            "/x%5Cy",
        ] {
            assert!(local_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn credentials_from_form_and_json() {
        let mut h = HeaderMap::new();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let c = parse_credentials(&h, b"email=a%40example.com&password=p%26w&next=%2Fx").unwrap();
        assert_eq!(c.email.as_deref(), Some("a@example.com"));
        assert_eq!(c.password.as_deref(), Some("p&w"));
        assert_eq!(c.next.as_deref(), Some("/x"));
        assert!(parse_credentials(&h, b"email=a&email=b").is_err());
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        let c = parse_credentials(&h, br#"{"email":"a@example.com","password":"p"}"#).unwrap();
        assert_eq!(c.email.as_deref(), Some("a@example.com"));
        h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(parse_credentials(&h, b"{}").is_err());
    }
}
