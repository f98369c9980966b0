//! The session of a forwarded request: read from the cookies (or the session cache),
//! refreshed once per refresh token when due, verified, admitted by the base policy.

#![allow(clippy::result_large_err)]

use std::net::IpAddr;
use std::sync::Arc;

use http::StatusCode;
use http::header::{self, HeaderMap, HeaderValue};
use supagate_auth::AuthError;
use supagate_cookie::Session;
use supagate_jwt::{Token, Verified, dangerous};

use super::{Sessions, safe_code};
use crate::client::AuthAnswer;
use crate::decision::{CookieDelta, Refused};
use crate::error::ProxyError;
use crate::headers::bearer_value;
use crate::rate::AuthCall;
use crate::refresh::{RefreshNeed, RefreshOutcome};
use crate::session_cache::Hit;

/// A session ready to be forwarded with.
pub(crate) struct Active {
    /// `Bearer <access token>`, sensitive, built once per session.
    pub(crate) bearer: HeaderValue,
    pub(crate) sub: uuid::Uuid,
    /// The verified claims of the access token.
    pub(crate) claims: Arc<supagate_jwt::Claims>,
    /// The cookies of a refreshed session (none when not refreshed).
    pub(crate) cookies: CookieDelta,
}

pub(crate) enum Resolved {
    Anonymous,
    Active(Active),
}

/// What a refresh attempt came to.
pub(crate) enum Refreshing {
    Answered(Arc<AuthAnswer>),
    /// The client's auth-call budget is spent: nothing was sent.
    OverBudget(ProxyError),
}

/// The auth server's `Retry-After` in seconds (1 s to 1 h), when it sent a number.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(|s| s.clamp(1, 3600))
}

impl Active {
    /// The access token (for the sign-out call).
    pub(crate) fn token(&self) -> Token {
        Token::new(
            self.bearer
                .to_str()
                .unwrap_or_default()
                .strip_prefix("Bearer ")
                .unwrap_or_default(),
        )
    }
}

/// `token` verified, its claims shared with the verifier's cache (no copy).
async fn shared_claims(
    verifier: &supagate_jwt::Verifier,
    token: &str,
) -> Result<Arc<supagate_jwt::Claims>, supagate_jwt::Error> {
    verifier
        .verify_payload_async(token)
        .await
        .map(Verified::into_shared_claims)
}

impl Sessions {
    /// Resolves the session of a request from `client`: none, a verified (possibly just
    /// refreshed) one, or the refusal, each with the cookie changes it needs.
    ///
    /// The auth server is called only for a session whose access token is ours: it verifies
    /// with every check but `exp` (a token whose key left the set is refreshed only within the
    /// per-address budget for unverifiable refreshes). Its transient answers (429, 408, 5xx,
    /// no answer) keep the cookies (503 with `Retry-After`); only its definitive answers about
    /// this session end it.
    pub(crate) async fn session(
        &self,
        headers: &HeaderMap,
        client: IpAddr,
    ) -> Result<Resolved, Refused> {
        self.resolve(headers, client, false).await
    }

    /// [`Sessions::session`]; with `force`, a session that would not need a refresh yet is
    /// refreshed all the same (the auth server refused its access token: its clock is ahead
    /// of ours), once per refresh token as always, within the same budgets.
    pub(crate) async fn resolve(
        &self,
        headers: &HeaderMap,
        client: IpAddr,
        force: bool,
    ) -> Result<Resolved, Refused> {
        let i = &*self.inner;
        let verifier = i.auth.verifier();
        // One clock: the verifier's (`VerifierBuilder::clock`).
        let now = verifier.now();
        let key = i
            .cache
            .as_ref()
            .filter(|_| !force)
            .and_then(|c| c.key(headers, &i.family));
        if let (Some(cache), Some(key)) = (&i.cache, key)
            && let Some(hit) = cache.get(key)
        {
            let fresh = hit
                .expires_at
                .is_some_and(|exp| exp > now.saturating_add(i.margin));
            if fresh {
                return Ok(Resolved::Active(Active {
                    bearer: hit.bearer,
                    sub: hit.sub,
                    claims: hit.claims,
                    cookies: CookieDelta::none(),
                }));
            }
        }
        // Boxed: the cached answer above is what most requests get, and the future of every
        // caller (a forwarded call's included) stays as small as that path needs.
        Box::pin(self.resolve_uncached(headers, client, force, key, now)).await
    }

    /// [`Sessions::resolve`] past the session cache: the cookies read, the token verified or
    /// the session refreshed.
    async fn resolve_uncached(
        &self,
        headers: &HeaderMap,
        client: IpAddr,
        force: bool,
        key: Option<crate::session_cache::Key>,
        now: i64,
    ) -> Result<Resolved, Refused> {
        let i = &*self.inner;
        let verifier = i.auth.verifier();
        let session = match i.reader.read(headers) {
            Ok(Some(s)) => s,
            Ok(None) => return Ok(Resolved::Anonymous),
            // Cookies that cannot be read as one session say nothing about the user's session:
            // a sibling subdomain can set junk (431 when oversized) or a second copy of the
            // session cookie (ambiguous). Clearing would delete the user's own cookies and
            // leave the planted ones, for ever; only a session that was read and refused is
            // cleared. A new sign-in (or a sign-out) deletes the host-only copies and, for an
            // ambiguous jar, the copies at the public host's parent domains, where a sibling
            // can plant them (`Sessions::tossed_copies`); a copy at another path stays until it
            // expires (a `__Host-` cookie name keeps siblings out altogether).
            Err(e) => return Err(AuthError::Session(e).into()),
        };
        let token = session.access_token().expose();
        let mut need = i.endpoint.needs_refresh(&session, now);
        if force && need == RefreshNeed::NotYet {
            need = RefreshNeed::Proactive;
        }
        if need == RefreshNeed::NotYet {
            match shared_claims(verifier, token).await {
                Ok(claims) => {
                    self.admit(&claims)?;
                    let active =
                        self.active(session.access_token(), claims, CookieDelta::none())?;
                    if let (Some(cache), Some(key)) = (&i.cache, key) {
                        let hit = Hit {
                            bearer: active.bearer.clone(),
                            sub: active.sub,
                            claims: active.claims.clone(),
                            expires_at: session.expires_at(),
                        };
                        cache.insert(key, hit, active.claims.exp, now);
                    }
                    return Ok(Resolved::Active(active));
                }
                // `expires_at` and the token disagree: trust the token. A key we do not hold
                // (yet, or any more) cannot be checked now: a refresh brings a token signed
                // with the current key.
                Err(supagate_jwt::Error::Expired | supagate_jwt::Error::UnknownKey) => {
                    need = RefreshNeed::Expired;
                }
                Err(e) => return Err(self.token_refusal(e, headers)),
            }
        }
        // Refresh only what could be a real session.
        let call = match dangerous::verify_allowing_expiry(verifier, token).await {
            // A third-party issuer's token is no session of this project: nothing to refresh
            // (and, as for a valid one, nothing cleared).
            Ok(claims) if claims.issued_by != supagate_jwt::IssuedBy::Supabase => {
                return Err(AuthError::Token(supagate_jwt::Error::IssuerMismatch).into());
            }
            Ok(claims) => {
                self.admit(&claims)?;
                self.refresh_token_fits(&session, claims.session_id.as_deref(), headers)?;
                AuthCall::Session(self.session_key(&claims))
            }
            // A third-party issuer's token with a `kid` nobody knows: no session of ours.
            Err(supagate_jwt::Error::UnknownKey) if verifier.names_third_party_issuer(token) => {
                return Err(AuthError::Token(supagate_jwt::Error::IssuerMismatch).into());
            }
            // Its key was rotated out of the set: possibly a real session, budgeted. Its
            // `session_id` is unverified, but a refresh token of another session can only be
            // a forgery or a mix-up either way.
            Err(supagate_jwt::Error::UnknownKey) => {
                self.refresh_token_fits(
                    &session,
                    unverified_session_id(token).as_deref(),
                    headers,
                )?;
                AuthCall::Unverifiable
            }
            Err(e) => return Err(self.token_refusal(e, headers)),
        };
        let answer = match self.refresh(&session, client, call).await {
            Refreshing::Answered(answer) => answer,
            // Over a budget with a token still valid: forward with it, nothing sent.
            Refreshing::OverBudget(_) if need == RefreshNeed::Proactive => {
                Arc::new(AuthAnswer::none())
            }
            // Over a budget otherwise: nothing was sent, the session is untouched.
            Refreshing::OverBudget(e) => return Err(e.into()),
        };
        match i
            .endpoint
            .refresh_outcome(need, answer.status, &answer.body)
        {
            RefreshOutcome::Refreshed(new) => {
                // Written whatever happens next: the old refresh token is spent.
                let cookies = CookieDelta::of(i.writer.set(&new, headers).unwrap_or_default());
                tracing::debug!(target: "supagate", "session refreshed");
                match shared_claims(verifier, new.access_token().expose()).await {
                    Ok(claims) => {
                        if let Err(r) = self.admit(&claims) {
                            return Err(r.with_cookies(cookies));
                        }
                        Ok(Resolved::Active(self.active(
                            new.access_token(),
                            claims,
                            cookies,
                        )?))
                    }
                    Err(e) => Err(Refused::from(AuthError::Token(e)).with_cookies(cookies)),
                }
            }
            RefreshOutcome::KeepOld => match shared_claims(verifier, token).await {
                Ok(claims) => {
                    self.admit(&claims)?;
                    Ok(Resolved::Active(self.active(
                        session.access_token(),
                        claims,
                        CookieDelta::none(),
                    )?))
                }
                Err(e) => Err(self.token_refusal(e, headers)),
            },
            RefreshOutcome::EndSession { code } => {
                tracing::info!(target: "supagate", code = code.as_deref().map(safe_code), "session ended by the auth server");
                let clear = CookieDelta::of(i.writer.clear(headers).unwrap_or_default());
                Err(Refused::from(AuthError::SessionEnded).with_cookies(clear))
            }
            _ => {
                tracing::warn!(target: "supagate", status = answer.status.map(|s| s.as_u16()), "refresh not possible now; session kept");
                Err(Refused::from(AuthError::AuthServerUnavailable)
                    .retry_after(retry_after(&answer.headers)))
            }
        }
    }

    /// Deletions of copies of the session cookie that another host of the site planted with
    /// its own `Domain` (the jar is ambiguous: a name twice, or a whole cookie beside chunks):
    /// at each parent domain of the public host, `Path=/`, before a sign-in writes the new
    /// session or a sign-out clears it. Host-only deletions cannot remove such a copy, and
    /// while it stays, every request's session is refused as ambiguous.
    pub(crate) fn tossed_copies(&self, headers: &HeaderMap) -> CookieDelta {
        let i = &*self.inner;
        match i.reader.read(headers) {
            Err(supagate_cookie::CookieError::Ambiguous) => CookieDelta::of(
                i.writer
                    .clear_at_scopes(headers, &i.sibling_scopes)
                    .unwrap_or_default(),
            ),
            _ => CookieDelta::none(),
        }
    }

    /// Refuses, before any call, a refresh token that cannot be this session's: GoTrue's v2
    /// shape with a checksum or layout that does not hold, or a v2 session id that is not the
    /// access token's `session_id` ([`RefreshTokenShape`](crate::core::RefreshTokenShape)). The
    /// session that was read is cleared, as for any session refused for good; no budget is
    /// spent and the auth server is not asked. v1 and unknown formats pass to the auth server.
    fn refresh_token_fits(
        &self,
        session: &Session,
        session_id: Option<&str>,
        headers: &HeaderMap,
    ) -> Result<(), Refused> {
        let shape = crate::refresh_token::RefreshTokenShape::of(session.refresh_token().expose());
        if shape.may_belong_to(session_id) {
            return Ok(());
        }
        tracing::info!(target: "supagate", broken = shape == crate::refresh_token::RefreshTokenShape::Broken, "refresh token cannot be this session's (v2 checksum or session id); session cleared, auth server not called");
        let clear = CookieDelta::of(self.inner.writer.clear(headers).unwrap_or_default());
        Err(Refused::from(AuthError::SessionEnded).with_cookies(clear))
    }

    /// The app's base policy, and the first-party rule of every cookie session (Postgres role
    /// `authenticated`, no OAuth client, whatever the app allows for its API): a session is used
    /// only when a bare extractor of the app would admit it as a user of its own. 403, cookies
    /// kept.
    pub(crate) fn admit(&self, claims: &supagate_jwt::Claims) -> Result<(), Refused> {
        let i = &*self.inner;
        i.auth.check_base_policy(claims)?;
        i.first_party
            .check_at(claims, i.auth.verifier().now())
            .into_result()
            .map_err(AuthError::Forbidden)?;
        Ok(())
    }

    /// A keyed hash of a verified token's session (`session_id`, else `sub`), for the
    /// per-session refresh budget.
    pub(crate) fn session_key(&self, claims: &supagate_jwt::Claims) -> u64 {
        use std::hash::BuildHasher;
        match &claims.session_id {
            Some(id) => self.inner.seed.hash_one(id.as_str()),
            None => self.inner.seed.hash_one(&claims.sub),
        }
    }

    /// Spends one auth-server call of `client`'s budget.
    pub(crate) fn check_auth_call(&self, client: IpAddr, call: AuthCall) -> Result<(), Refused> {
        Ok(self.inner.limiter.check_auth_call(client, call)?)
    }

    /// The session of `token`, ready to forward with, carrying `cookies`; a token that
    /// cannot be a header value is refused with the same cookies.
    pub(crate) fn active(
        &self,
        token: &Token,
        claims: Arc<supagate_jwt::Claims>,
        cookies: CookieDelta,
    ) -> Result<Active, Refused> {
        // A session cookie holds a Supabase Auth session: issued by the project, its user a
        // UUID. A token of a third-party issuer the verifier also trusts is no session of
        // this project.
        if claims.issued_by != supagate_jwt::IssuedBy::Supabase {
            return Err(
                Refused::from(AuthError::Token(supagate_jwt::Error::IssuerMismatch))
                    .with_cookies(cookies),
            );
        }
        let Some(sub) = claims.sub.as_uuid() else {
            return Err(
                Refused::from(AuthError::Token(supagate_jwt::Error::InvalidClaim {
                    claim: "sub",
                }))
                .with_cookies(cookies),
            );
        };
        match bearer_value(token) {
            Ok(bearer) => Ok(Active {
                bearer,
                sub,
                claims,
                cookies,
            }),
            Err(_) => Err(
                Refused::from(AuthError::Token(supagate_jwt::Error::Malformed))
                    .with_cookies(cookies),
            ),
        }
    }

    /// One refresh per refresh token, shared and briefly reused, run on a task of its own so
    /// that a client going away does not cancel it. A call to the auth server spends
    /// `client`'s budget; joining a refresh already under way spends nothing.
    pub(crate) async fn refresh(
        &self,
        session: &Session,
        client: IpAddr,
        call: AuthCall,
    ) -> Refreshing {
        let i = &*self.inner;
        let token = session.refresh_token();
        let mut over_budget = None;
        let answer = i
            .coordinator
            .run_or(
                token,
                || {
                    if let Err(e) = i.limiter.check_auth_call(client, call) {
                        over_budget = Some(e);
                        return Err(AuthAnswer::none());
                    }
                    let http = i.client.clone();
                    let request = i
                        .endpoint
                        .for_client(i.endpoint.refresh_request(token), client);
                    Ok(async move {
                        let answer = http.auth_call(request).await;
                        tracing::debug!(
                            target: "supagate",
                            status = answer.status.map(|s| s.as_u16()),
                            "refresh call answered"
                        );
                        // Once per call to the auth server, however many requests share it.
                        observe_refresh(answer.status);
                        answer
                    })
                },
                |answer| {
                    // Rate limited or timed out reading our request: the token was not spent,
                    // and the next request may try again.
                    !matches!(
                        answer.status,
                        Some(StatusCode::TOO_MANY_REQUESTS | StatusCode::REQUEST_TIMEOUT)
                    )
                },
            )
            .await;
        match (over_budget, answer) {
            (Some(e), _) => Refreshing::OverBudget(e),
            (None, Some(answer)) => Refreshing::Answered(answer),
            // The refresh task died without an answer: as if the auth server had not answered.
            (None, None) => Refreshing::Answered(Arc::new(AuthAnswer::none())),
        }
    }

    pub(crate) fn token_refusal(&self, e: supagate_jwt::Error, headers: &HeaderMap) -> Refused {
        // A token that will never verify (bad signature, wrong audience) makes the session
        // useless: clear it. A transient failure (keys unavailable, a key not fetched yet)
        // keeps it.
        let clear = if matches!(
            e,
            supagate_jwt::Error::KeysUnavailable | supagate_jwt::Error::UnknownKey
        ) {
            CookieDelta::none()
        } else {
            CookieDelta::of(self.inner.writer.clear(headers).unwrap_or_default())
        };
        Refused::from(AuthError::Token(e)).with_cookies(clear)
    }
}

/// The `session_id` of a token whose signature cannot be checked now (its key left the set),
/// read without trusting it.
fn unverified_session_id(token: &str) -> Option<String> {
    use base64::Engine as _;
    #[derive(serde::Deserialize)]
    struct Of {
        session_id: Option<String>,
    }
    let payload = token.split('.').nth(1)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice::<Of>(&json).ok()?.session_id
}

/// Counts a refresh call by the auth server's answer (`supagate.proxy.refreshes`):
/// `refreshed` (2xx), `unavailable` (no answer, 408, 429, 5xx), `ended` (any other 4xx).
#[allow(unused_variables)]
fn observe_refresh(status: Option<StatusCode>) {
    #[cfg(feature = "metrics")]
    {
        let outcome = match status {
            Some(s) if s.is_success() => "refreshed",
            Some(StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS) | None => {
                "unavailable"
            }
            Some(s) if s.is_server_error() => "unavailable",
            Some(_) => "ended",
        };
        metrics::counter!(
            supagate_core::observe::PROXY_REFRESHES,
            supagate_core::observe::OUTCOME => outcome,
        )
        .increment(1);
    }
}
