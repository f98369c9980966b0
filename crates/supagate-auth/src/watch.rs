//! [`Watch`]: what ends a long-lived response (a gRPC server stream, a WebSocket, a
//! server-sent-events stream) that outlives the token it was admitted with.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use supagate_jwt::{Claims, Verified};
use supagate_policy::Policy;
use zeroize::Zeroizing;

use crate::authenticator::{Authenticator, RequestHeaders};
use crate::error::AuthError;
use crate::gate::Admission;
use crate::modes::Caller;
use crate::refusal::Rejection;

/// The shortest time between two session liveness checks of one watch, whatever the
/// liveness TTL (a TTL of zero asks the source on every request, not on every tick).
pub const MIN_LIVENESS_INTERVAL: Duration = Duration::from_millis(400);

/// The end of an admitted user's credential, for a response that stays open: it comes when
/// the token expires (at `exp` plus the verifier's leeway, the moment a new request with it
/// would be refused) or, with [session liveness](crate::SessionLiveness), when the session is
/// revoked (checked every liveness TTL, at least every [`MIN_LIVENESS_INTERVAL`]).
///
/// A watch of a caller that is no user (an API key, anyone) never ends: nothing it holds
/// expires. Time is the verifier's clock: under a `FixedClock` that is never moved, a token
/// never expires either.
///
/// Adapters make one with [`Watch::of`] when they admit a request and race
/// [`Watch::ended`] against the response's own end. `Debug` never prints the token.
///
/// # Examples
///
/// ```
/// use supagate_auth::{Authenticator, Gate, Watch};
/// use supagate_testkit::{TestKeys, TokenBuilder};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let keys = TestKeys::new();
/// let auth = Authenticator::new(keys.verifier());
/// let gate = Gate::modes(auth.clone(), "user".parse()?);
/// let mut headers = http::HeaderMap::new();
/// // A token that expired a second ago, still inside the verifier's 30 s leeway.
/// let now = auth.verifier().now();
/// let token = TokenBuilder::new().issued_at(now - 10, 9).sign_es256(&keys);
/// headers.insert("authorization", format!("Bearer {token}").parse()?);
/// let admission = gate.decide(&headers).await?;
/// let watch = Watch::of(&auth, &admission, &headers);
/// assert_eq!(watch.ends_at(), Some(now - 1 + 30));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Watch {
    auth: Authenticator,
    user: Option<Watched>,
    /// The policies of the admitting gates, which a renewed token must pass too (none: the
    /// base policy, as the `user` mode applies it).
    policies: Vec<Arc<Policy>>,
    /// When the session was last known live (the admission, a renewal, a check), shared by
    /// the watch's clones: a new [`Watch::ended`] keeps the schedule instead of starting it
    /// again (a client re-presenting its token must not put the next question off).
    checked: Arc<std::sync::Mutex<tokio::time::Instant>>,
}

#[derive(Clone)]
struct Watched {
    claims: Arc<Claims>,
    /// Kept only when the authenticator checks session liveness (the auth-server source asks
    /// about the session with it).
    token: Option<Arc<Zeroizing<String>>>,
}

impl fmt::Debug for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch")
            .field("ends_at", &self.ends_at())
            .field(
                "liveness",
                &self.user.as_ref().is_some_and(|u| u.token.is_some()),
            )
            .finish()
    }
}

impl Watch {
    /// The watch of what `admission` admitted, from the request `headers` it decided on.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::{Authenticator, Gate, Watch};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
    /// let anyone = Gate::modes(auth.clone(), "none".parse()?);
    /// let headers = http::HeaderMap::new();
    /// let watch = Watch::of(&auth, &anyone.decide(&headers).await?, &headers);
    /// assert_eq!(watch.ends_at(), None); // no user: nothing expires
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn of<H: RequestHeaders>(auth: &Authenticator, admission: &Admission, headers: &H) -> Self {
        let user = match admission.caller() {
            Some(Caller::User(v)) => Some(v.clone()),
            _ => None,
        };
        Watch::from_verified(auth, user, admission, headers)
    }

    /// [`Watch::of`] for a request whose caller an extraction may have taken out of its
    /// admission already (an `Admitted` before the handler's watch): a taken user is
    /// verified again from `headers` under the same rule, as
    /// [`Admission::read_user`] reads it, rather than taken for no user.
    ///
    /// # Errors
    ///
    /// The [`Rejection`] of that verification.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::{Authenticator, Gate, Watch};
    /// use supagate_testkit::{TestKeys, TokenBuilder};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let keys = TestKeys::new();
    /// let auth = Authenticator::new(keys.verifier());
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("authorization", format!("Bearer {}", TokenBuilder::now().sign_es256(&keys)).parse()?);
    /// let mut admission = Gate::modes(auth.clone(), "user".parse()?).decide(&headers).await?;
    /// let _caller = admission.take()?; // an `Admitted` extraction
    /// let watch = Watch::for_request(&auth, &admission, &headers).await?;
    /// assert!(watch.ends_at().is_some()); // still the user's, not "no user"
    /// # Ok(())
    /// # }
    /// ```
    pub async fn for_request<H: RequestHeaders + Sync>(
        auth: &Authenticator,
        admission: &Admission,
        headers: &H,
    ) -> Result<Self, Rejection> {
        if admission.caller().is_some() {
            return Ok(Watch::of(auth, admission, headers));
        }
        let user = Admission::read_user(Some(admission))
            .resolve(auth, headers)
            .await
            .map_err(|e| auth.reject(e))?;
        Ok(Watch::from_verified(auth, user, admission, headers))
    }

    fn from_verified<H: RequestHeaders>(
        auth: &Authenticator,
        user: Option<Verified>,
        admission: &Admission,
        headers: &H,
    ) -> Self {
        let user = user.map(|v| Watched {
            claims: v.into_shared_claims(),
            token: auth
                .session_liveness()
                .and_then(|_| auth.user_token(headers))
                .map(Arc::new),
        });
        Watch {
            auth: auth.clone(),
            user,
            policies: admission.policies(),
            checked: Arc::new(std::sync::Mutex::new(tokio::time::Instant::now())),
        }
    }

    fn checked(&self) -> tokio::time::Instant {
        *self
            .checked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn mark_checked(&self) {
        *self
            .checked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = tokio::time::Instant::now();
    }

    /// Takes `token`, presented on the open connection (a refreshed session's new access
    /// token, as a Supabase Realtime client sends one), as the credential the watch ends
    /// with: verified, checked against the admitting gate's policy (a user who lost the role
    /// the route needs is refused), its session asked about when liveness is on, and of the
    /// same user (`sub` and issuer; another session of theirs is accepted, and is the one
    /// asked about from then on). The end moves to the new token's; a refused token changes
    /// nothing. The token the watch holds already is accepted without a question.
    ///
    /// # Errors
    ///
    /// The [`Rejection`] the token would get on a new request (401 invalid or expired, 403 a
    /// policy refusal, 503 keys or liveness unavailable); 403 for another user's token or on
    /// a watch of a caller that is no user.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::{Authenticator, Gate, Watch};
    /// use supagate_testkit::{TestKeys, TokenBuilder};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let keys = TestKeys::new();
    /// let auth = Authenticator::new(keys.verifier());
    /// let now = auth.verifier().now();
    /// let mut headers = http::HeaderMap::new();
    /// let first = TokenBuilder::new().issued_at(now, 60).sign_es256(&keys);
    /// headers.insert("authorization", format!("Bearer {first}").parse()?);
    /// let admission = Gate::modes(auth.clone(), "user".parse()?).decide(&headers).await?;
    /// let mut watch = Watch::of(&auth, &admission, &headers);
    ///
    /// let refreshed = TokenBuilder::new().issued_at(now, 3600).sign_es256(&keys);
    /// watch.renew(&refreshed).await?;
    /// assert_eq!(watch.ends_at(), Some(now + 3600 + 30));
    ///
    /// let someone_else = TokenBuilder::now().claim("sub", "11111111-2222-4333-8444-555555555555").sign_es256(&keys);
    /// assert_eq!(watch.renew(&someone_else).await.unwrap_err().refusal().status(), 403);
    /// assert_eq!(watch.ends_at(), Some(now + 3600 + 30)); // unchanged
    /// # Ok(())
    /// # }
    /// ```
    pub async fn renew(&mut self, token: &str) -> Result<(), Rejection> {
        let not_admitted = |what| self.auth.reject(AuthError::NotAdmitted { what });
        let Some(user) = &self.user else {
            return Err(not_admitted("no user credential to renew"));
        };
        if user.token.as_deref().is_some_and(|t| t.as_str() == token) {
            // The token it holds already: nothing to verify, nothing to ask.
            return Ok(());
        }
        let verified = self
            .auth
            .reverify(token, &self.policies)
            .await
            .map_err(|e| self.auth.reject(e))?;
        let (new, old) = (verified.claims(), &user.claims);
        if new.sub != old.sub || new.iss != old.iss {
            return Err(not_admitted("a token of another user"));
        }
        let keep_token = user.token.is_some();
        self.user = Some(Watched {
            claims: verified.into_shared_claims(),
            token: keep_token.then(|| Arc::new(Zeroizing::new(token.to_owned()))),
        });
        if keep_token {
            // Its session was just asked about (or answered from the liveness cache, at most
            // a TTL old).
            self.mark_checked();
        }
        Ok(())
    }

    /// When the token stops being accepted, in Unix seconds of the verifier's clock (`exp`
    /// plus the leeway); `None` for a caller that is no user.
    #[must_use]
    pub fn ends_at(&self) -> Option<i64> {
        let leeway = i64::try_from(self.auth.verifier().leeway().as_secs()).unwrap_or(0);
        self.user
            .as_ref()
            .map(|u| u.claims.exp.saturating_add(leeway))
    }

    /// Whether the token is over now by the verifier's clock: a cheap check (no timer, no
    /// question to the session source) for code that looks before it acts. Always `false`
    /// for a caller that is no user.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::{Authenticator, Gate, Watch};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
    /// let headers = http::HeaderMap::new();
    /// let anyone = Gate::modes(auth.clone(), "none".parse()?).decide(&headers).await?;
    /// assert!(!Watch::of(&auth, &anyone, &headers).expired());
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn expired(&self) -> bool {
        self.ends_at()
            .is_some_and(|end| self.auth.verifier().now() >= end)
    }

    /// Resolves when the credential ends, with the refusal a new request would get: the
    /// expired token's 401, a revoked session's 401, or the 503 of a liveness source that
    /// cannot answer (liveness fails closed). Never resolves for a caller that is no user.
    ///
    /// Cancel-safe: dropping the future loses nothing, and a new call starts again.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::{Authenticator, Gate, Watch};
    /// use supagate_testkit::{TestKeys, TokenBuilder};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let keys = TestKeys::new();
    /// let verifier = keys.verifier_builder().leeway(std::time::Duration::ZERO).build()?;
    /// let now = verifier.now();
    /// let auth = Authenticator::new(verifier);
    /// let mut headers = http::HeaderMap::new();
    /// let token = TokenBuilder::new().issued_at(now, 1).sign_es256(&keys);
    /// headers.insert("authorization", format!("Bearer {token}").parse()?);
    /// let admission = Gate::modes(auth.clone(), "user".parse()?).decide(&headers).await?;
    /// let ended = Watch::of(&auth, &admission, &headers).ended().await;
    /// assert_eq!(ended.refusal().status(), 401); // at most a second later
    /// # Ok(())
    /// # }
    /// ```
    pub fn ended(&self) -> impl Future<Output = Rejection> + Send + 'static {
        let watch = self.clone();
        async move { watch.auth.reject(watch.end().await) }
    }

    async fn end(&self) -> AuthError {
        let Some(user) = &self.user else {
            return std::future::pending().await;
        };
        let verifier = self.auth.verifier();
        let liveness = self.auth.session_liveness();
        let interval = liveness.map(|l| l.ttl().max(MIN_LIVENESS_INTERVAL));
        let end = self.ends_at().unwrap_or(i64::MIN);
        let expired = || AuthError::Token(supagate_jwt::Error::Expired);
        loop {
            let now = verifier.now();
            if now >= end {
                return expired();
            }
            // The next question is due an interval after the last answer, whenever this
            // future was made.
            let due = interval.map(|every| self.checked() + every);
            // Never one long sleep: the verifier's clock is read again at least every
            // `MAX_SLEEP` (a wall-clock step, a suspended host, a test clock moved on).
            let mut wait = until(end, now).min(MAX_SLEEP);
            if let Some(due) = due {
                wait = wait.min(due.saturating_duration_since(tokio::time::Instant::now()));
            }
            tokio::time::sleep(wait).await;
            let now = verifier.now();
            if now >= end {
                // Expired: no question about the session of a token that is over.
                return expired();
            }
            if due.is_some_and(|due| tokio::time::Instant::now() < due) {
                continue;
            }
            if let (Some(l), Some(every)) = (liveness, interval) {
                let Some(token) = &user.token else {
                    // A user whose token could not be kept cannot be asked about: fail
                    // closed, as liveness does.
                    return AuthError::SessionUnchecked;
                };
                // A slow source never holds the connection past the token's own end.
                tokio::select! {
                    answer = l.check_watched(&user.claims, token, now, every) => {
                        if let Err(e) = answer {
                            return e;
                        }
                        self.mark_checked();
                    }
                    () = tokio::time::sleep(until(end, now)) => return expired(),
                }
            }
        }
    }
}

/// The longest single wait of a watch before it reads the clock again.
const MAX_SLEEP: Duration = Duration::from_secs(15);

/// Real time from `now` (whole seconds of the verifier's clock) to `end`: the whole seconds
/// between them, less the fraction of the current second the system clock has already run,
/// so that a watch on the system clock wakes at the second `end` begins, not up to a second
/// after. Never less than a millisecond (a loop that checks again).
fn until(end: i64, now: i64) -> Duration {
    let whole = Duration::from_secs(u64::try_from(end.saturating_sub(now)).unwrap_or(0));
    let into_second = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| Duration::from_nanos(u64::from(d.subsec_nanos())))
        .unwrap_or_default();
    whole
        .saturating_sub(into_second)
        .max(Duration::from_millis(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Gate;
    use supagate_testkit::{TestKeys, TokenBuilder};

    #[test]
    fn the_wait_ends_at_the_second_the_end_begins() {
        assert_eq!(until(10, 20), Duration::from_millis(1));
        let d = until(102, 100);
        assert!(
            d <= Duration::from_secs(2) && d > Duration::from_secs(1),
            "{d:?}"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn debug_never_prints_the_token() {
        let keys = TestKeys::new();
        let auth = Authenticator::new(keys.verifier());
        let token = TokenBuilder::now().sign_es256(&keys);
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
        let admission = Gate::modes(auth.clone(), "user".parse().unwrap())
            .decide(&headers)
            .await
            .unwrap();
        let watch = Watch::of(&auth, &admission, &headers);
        let shown = format!("{watch:?}");
        assert!(
            !shown.contains(&token) && shown.contains("ends_at"),
            "{shown}"
        );
    }
}
