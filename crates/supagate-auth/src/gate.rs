//! [`Gate`]: what a route admits, decided once, framework-free; [`Admission`]: the decision,
//! carried in the request's extensions for the extractors.

use std::fmt;
use std::sync::Arc;

use supagate_jwt::Verified;
use supagate_policy::Policy;

use crate::authenticator::{Authenticator, RequestHeaders};
use crate::error::AuthError;
use crate::modes::{AuthModes, Caller};
use crate::observe::Timer;
use crate::refusal::Rejection;

/// What a route admits: the app's [`Authenticator`] (its verifier, keys, base policy,
/// refusals and session liveness) with either a role [`Policy`] (a signed-in user it allows)
/// or a list of [`AuthModes`] (a user, a publishable or secret key, anyone).
///
/// Every adapter applies a gate the same way: [`Gate::decide_now`] answers at once when it
/// can (no waiting, no allocation for the future); when the token's key is being fetched it
/// says so, and the adapter awaits [`Gate::decide`] off the worker. The outcome is an
/// [`Admission`] to put in the request's extensions, or the [`Rejection`] to answer with.
/// Cheap to clone.
///
/// # Examples
///
/// ```
/// use supagate_auth::{Authenticator, Gate};
/// use supagate_policy::{Policy, Requirement};
/// use supagate_testkit::{TestKeys, TokenBuilder};
///
/// let keys = TestKeys::new();
/// let auth = Authenticator::new(keys.verifier_at(TokenBuilder::DEFAULT_NOW));
/// let editors = Gate::policy(auth.clone(), Policy::require(Requirement::role("editor"))?);
///
/// let token = TokenBuilder::new().claim("app_metadata", serde_json::json!({"role": "editor"})).sign_es256(&keys);
/// let mut headers = http::HeaderMap::new();
/// headers.insert("authorization", format!("Bearer {token}").parse()?);
/// let admission = editors.decide_now(&headers).expect("no key to wait for")?;
/// assert!(admission.caller().is_some_and(|c| c.user().is_some()));
///
/// let nobody = http::HeaderMap::new();
/// let refused = editors.decide_now(&nobody).expect("no key to wait for").unwrap_err();
/// assert_eq!(refused.refusal().status(), 401);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Gate {
    auth: Authenticator,
    rule: Rule,
}

#[derive(Clone)]
enum Rule {
    Policy(Arc<Policy>),
    Modes(AuthModes),
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Gate");
        match &self.rule {
            Rule::Policy(p) => d.field("policy", p),
            Rule::Modes(m) => d.field("modes", &m.to_string()),
        };
        d.finish_non_exhaustive()
    }
}

impl Gate {
    /// Admits a signed-in user whose verified claims `policy` allows (`policy` replaces the
    /// authenticator's base policy here).
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::{Authenticator, Gate};
    /// use supagate_policy::{Policy, Requirement};
    /// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
    /// let admins = Gate::policy(auth, Policy::require(Requirement::role("admin"))?);
    /// # let _ = admins;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn policy(auth: Authenticator, policy: Policy) -> Self {
        Gate {
            auth,
            rule: Rule::Policy(Arc::new(policy)),
        }
    }

    /// Admits by the first of `modes` that matches (a user by the base policy, a publishable
    /// or secret key, anyone; see [`AuthModes`] for the rules).
    ///
    /// Refusals: 400 for malformed credentials, 401 ([`AuthError::MissingCredentials`],
    /// [`AuthError::InvalidApiKey`], a bad token) when nothing admitted the request and a
    /// credential is missing or wrong, 403 ([`AuthError::NotAdmitted`],
    /// [`AuthError::SecretKeyFromBrowser`], the base policy) when a good credential is not
    /// admitted.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::{ApiKeys, AuthError, Authenticator, Caller, Gate};
    /// use supagate_testkit::{TestKeys, TokenBuilder};
    ///
    /// let keys = TestKeys::new();
    /// let auth = Authenticator::builder(keys.verifier_at(TokenBuilder::DEFAULT_NOW))
    ///     .api_keys(ApiKeys::from_variables(&TestKeys::api_key_variables())?)
    ///     .build()?;
    /// let whoami = Gate::modes(auth, "user, none".parse()?);
    /// let caller = |h: &http::HeaderMap| whoami.decide_now(h).expect("decided now");
    ///
    /// let mut headers = http::HeaderMap::new();
    /// assert!(matches!(caller(&headers)?.caller(), Some(Caller::None)));
    ///
    /// headers.insert("authorization", format!("Bearer {}", TokenBuilder::new().sign_es256(&keys)).parse()?);
    /// assert_eq!(caller(&headers)?.caller().map(|c| c.mode()), Some("user"));
    ///
    /// // A bad token is refused, never downgraded to `none`.
    /// let expired = TokenBuilder::new().exp(TokenBuilder::DEFAULT_NOW - 3600).sign_es256(&keys);
    /// headers.insert("authorization", format!("Bearer {expired}").parse()?);
    /// let refused = caller(&headers).unwrap_err();
    /// assert_eq!(refused.error(), &AuthError::Token(supagate_jwt::Error::Expired));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn modes(auth: Authenticator, modes: AuthModes) -> Self {
        Gate {
            auth,
            rule: Rule::Modes(modes),
        }
    }

    /// The authenticator this gate decides and refuses with.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::{Authenticator, Gate};
    /// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
    /// let gate = Gate::modes(auth, "user".parse()?);
    /// assert!(gate.authenticator().session_liveness().is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn authenticator(&self) -> &Authenticator {
        &self.auth
    }

    /// The modes a modes gate admits; `None` for a policy gate (a signed-in user the policy
    /// allows).
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::{Authenticator, Gate};
    /// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
    /// let gate = Gate::modes(auth, "user, none".parse()?);
    /// assert_eq!(gate.admitted_modes().map(|m| m.to_string()).as_deref(), Some("user, none"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn admitted_modes(&self) -> Option<&AuthModes> {
        match &self.rule {
            Rule::Modes(m) => Some(m),
            Rule::Policy(_) => None,
        }
    }

    /// The decision, when it can be made without waiting: `Some` admission or rejection, or
    /// `None` when the request's token needs a key that is being fetched (or a session
    /// liveness answer not cached yet): then await [`Gate::decide`].
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::{Authenticator, Gate};
    /// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
    /// let gate = Gate::modes(auth, "user".parse()?);
    /// let refused = gate.decide_now(&http::HeaderMap::new()).expect("decided now");
    /// assert_eq!(refused.unwrap_err().refusal().status(), 401);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decide_now<H: RequestHeaders>(
        &self,
        headers: &H,
    ) -> Option<Result<Admission, Rejection>> {
        let timer = Timer::start();
        let decided = match &self.rule {
            Rule::Policy(p) => self.auth.authorize(headers, p).map(Caller::User),
            Rule::Modes(m) => self.auth.admit(headers, m),
        };
        match decided {
            Ok(caller) => {
                timer.admitted(&self.auth, &caller);
                Some(Ok(self.admission(caller)))
            }
            // Decided again, and observed, by `decide`.
            Err(e) if e.may_settle_async() => None,
            Err(e) => {
                timer.refused(&e);
                Some(Err(self.auth.reject(e)))
            }
        }
    }

    /// The decision, waiting (without blocking) for a key fetch or a session liveness answer
    /// when the request needs one: the same decision as [`Gate::decide_now`], which adapters
    /// try first (it costs no allocation); call this one when that says to wait, or always
    /// where simplicity counts more than a few hundred nanoseconds.
    ///
    /// # Errors
    ///
    /// The [`Rejection`] to answer with (401, 400, 403, 503, …, rendered by the
    /// authenticator).
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::{Authenticator, Gate};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
    /// let gate = Gate::modes(auth, "none".parse()?);
    /// let admission = gate.decide(&http::HeaderMap::new()).await?;
    /// assert_eq!(admission.caller().map(|c| c.mode()), Some("none"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn decide<H: RequestHeaders + Sync>(
        &self,
        headers: &H,
    ) -> Result<Admission, Rejection> {
        let timer = Timer::start();
        let decided = match &self.rule {
            Rule::Policy(p) => self
                .auth
                .authorize_async(headers, p)
                .await
                .map(Caller::User),
            Rule::Modes(m) => self.auth.admit_async(headers, m).await,
        };
        match decided {
            Ok(caller) => {
                timer.admitted(&self.auth, &caller);
                Ok(self.admission(caller))
            }
            Err(e) => {
                timer.refused(&e);
                Err(self.auth.reject(e))
            }
        }
    }

    /// The admission of `caller` by this gate (a policy gate's policy kept for re-reads).
    fn admission(&self, caller: Caller<Verified>) -> Admission {
        Admission {
            state: State::Caller(caller),
            policy: match &self.rule {
                Rule::Policy(p) => Some(Arc::clone(p)),
                Rule::Modes(_) => None,
            },
            outer: Vec::new(),
        }
    }
}

/// A [`Gate`]'s decision for one request, kept in its extensions (the one extension type of
/// every adapter) with the rules for reading it:
///
/// - the [`Admitted`-style extraction](Admission::take_caller) takes the caller out once, in
///   place (no copy of the claims); a second one in the same request is refused (500), never
///   decided again;
/// - the [`Authenticated`-style extraction](Admission::read_user) reads the admitted user
///   (or no user, when the gate admitted a key or anyone); once the caller was taken, it
///   verifies the same header again (a token-cache hit) under the same rule: the gate's
///   policy for a policy gate, the base policy otherwise.
///
/// Without an admission (no gate on the route) each extraction decides by the
/// authenticator's defaults. Only a [`Gate`] makes one, and an inner gate's admission replaces
/// an outer one's: with gates nested, the extractors see the innermost decision.
///
/// # Examples
///
/// ```
/// use supagate_auth::{Authenticator, Gate};
/// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
/// let gate = Gate::modes(auth, "none".parse()?);
/// let mut admission = gate.decide_now(&http::HeaderMap::new()).expect("decided now")?;
/// assert!(admission.caller().is_some());
/// assert!(admission.take().is_ok());
/// assert!(admission.take().is_err()); // taken once
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Admission {
    state: State,
    /// A policy gate's policy: a user read again after the take is checked against it.
    policy: Option<Arc<Policy>>,
    /// The policies of the gates around this one (an outer `RequireLayer`), which a token
    /// presented later on an open connection must pass too.
    outer: Vec<Arc<Policy>>,
}

#[derive(Clone)]
// One boxed extension per request; boxing the caller inside it would add a second allocation.
#[allow(clippy::large_enum_variant)]
enum State {
    Caller(Caller<Verified>),
    Taken { user: bool },
}

impl fmt::Debug for Admission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.state {
            State::Caller(c) => f.debug_tuple("Admission").field(&c.mode()).finish(),
            State::Taken { user } => f.debug_struct("Taken").field("user", user).finish(),
        }
    }
}

/// Why a second caller extraction in one request is refused.
const TWICE: &str = "the caller was extracted twice in one request";

impl Admission {
    /// The admission of `caller` by no policy (tests).
    #[cfg(test)]
    fn new(caller: Caller<Verified>) -> Self {
        Admission {
            state: State::Caller(caller),
            policy: None,
            outer: Vec::new(),
        }
    }

    /// Every policy a user of this admission passed: its own gate's (a policy gate) and
    /// those of the gates around it; empty when only modes gates decided (the base policy).
    #[cfg(feature = "watch")]
    pub(crate) fn policies(&self) -> Vec<Arc<Policy>> {
        self.policy.iter().chain(&self.outer).cloned().collect()
    }

    /// Records the gate around this one (whose admission this one replaces in the request):
    /// its policies still apply to a token presented later on an open connection. Adapters
    /// call it (or [`Admission::insert_into`]) when a gate decides inside another.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::{Authenticator, Gate};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
    /// let headers = http::HeaderMap::new();
    /// let outer = Gate::modes(auth.clone(), "none".parse()?).decide(&headers).await?;
    /// let mut inner = Gate::modes(auth, "none".parse()?).decide(&headers).await?;
    /// inner.inherit(&outer);
    /// # Ok(())
    /// # }
    /// ```
    pub fn inherit(&mut self, outer: &Admission) {
        for p in outer.policy.iter().chain(&outer.outer) {
            if !self.outer.iter().any(|q| Arc::ptr_eq(p, q)) {
                self.outer.push(Arc::clone(p));
            }
        }
    }

    /// Puts this admission into a request's `extensions`, in place of the admission of a
    /// gate around this one (whose policies it [inherits](Admission::inherit)).
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::{Admission, Authenticator, Gate};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
    /// let mut extensions = http::Extensions::new();
    /// Gate::modes(auth, "none".parse()?).decide(&http::HeaderMap::new()).await?.insert_into(&mut extensions);
    /// assert!(extensions.get::<Admission>().is_some());
    /// # Ok(())
    /// # }
    /// ```
    pub fn insert_into(mut self, extensions: &mut http::Extensions) {
        if let Some(outer) = extensions.get::<Admission>() {
            self.inherit(outer);
        }
        extensions.insert(self);
    }

    /// The admitted caller, until it is taken.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::{Authenticator, Gate};
    /// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
    /// let mut a = Gate::modes(auth, "none".parse()?).decide_now(&http::HeaderMap::new()).expect("now")?;
    /// let _ = a.take();
    /// assert!(a.caller().is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn caller(&self) -> Option<&Caller<Verified>> {
        match &self.state {
            State::Caller(c) => Some(c),
            State::Taken { .. } => None,
        }
    }

    /// Takes the caller out, leaving a mark in its place (in place: no allocation).
    ///
    /// # Errors
    ///
    /// [`AuthError::Internal`] when it was taken already.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::{Authenticator, Caller, Gate};
    /// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
    /// let mut a = Gate::modes(auth, "none".parse()?).decide_now(&http::HeaderMap::new()).expect("now")?;
    /// assert!(matches!(a.take(), Ok(Caller::None)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn take(&mut self) -> Result<Caller<Verified>, AuthError> {
        let user = match &self.state {
            State::Caller(c) => c.user().is_some(),
            State::Taken { .. } => return Err(AuthError::Internal { what: TWICE }),
        };
        match std::mem::replace(&mut self.state, State::Taken { user }) {
            State::Caller(c) => Ok(c),
            State::Taken { .. } => Err(AuthError::Internal { what: TWICE }),
        }
    }

    /// The caller extraction's first, synchronous step: takes the caller out of the
    /// request's admission (`None`: the route has no gate). Then
    /// [`CallerLookup::resolve`] finishes, off any lock the adapter holds.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::{Admission, Authenticator, Gate};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
    /// let gate = Gate::modes(auth.clone(), "none".parse()?);
    /// let mut extensions = http::Extensions::new();
    /// extensions.insert(gate.decide(&http::HeaderMap::new()).await?);
    /// let lookup = Admission::take_caller(extensions.get_mut::<Admission>());
    /// let caller = lookup.resolve(&auth, &http::HeaderMap::new()).await?;
    /// assert_eq!(caller.mode(), "none");
    /// # Ok(())
    /// # }
    /// ```
    pub fn take_caller(admission: Option<&mut Admission>) -> CallerLookup {
        CallerLookup(admission.map(Admission::take))
    }

    /// The user extraction's first, synchronous step: the admitted user (a copy of the
    /// verified token), no user when the gate admitted a key or anyone, or, without a gate or
    /// once the user was taken, a fresh verification by [`UserLookup::resolve`].
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::{Admission, Authenticator, Gate};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
    /// let anyone = Gate::modes(auth.clone(), "none".parse()?);
    /// let admission = anyone.decide(&http::HeaderMap::new()).await?;
    /// let user = Admission::read_user(Some(&admission)).resolve(&auth, &http::HeaderMap::new()).await?;
    /// assert!(user.is_none()); // anyone, not a user
    /// # Ok(())
    /// # }
    /// ```
    pub fn read_user(admission: Option<&Admission>) -> UserLookup {
        let Some(a) = admission else {
            return UserLookup(Lookup::Verify(None));
        };
        UserLookup(match &a.state {
            State::Caller(Caller::User(v)) => Lookup::User(v.clone()),
            State::Caller(_) | State::Taken { user: false } => Lookup::NoUser,
            State::Taken { user: true } => Lookup::Verify(a.policy.clone()),
        })
    }
}

/// The rest of a caller extraction, made by [`Admission::take_caller`].
#[must_use = "resolve it to get the caller"]
pub struct CallerLookup(Option<Result<Caller<Verified>, AuthError>>);

impl fmt::Debug for CallerLookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallerLookup").finish_non_exhaustive()
    }
}

impl CallerLookup {
    /// The caller: the one taken, or, without a gate, the request admitted by `auth`'s
    /// [default modes](crate::AuthenticatorBuilder::modes).
    ///
    /// # Errors
    ///
    /// A second extraction ([`AuthError::Internal`]), or the authenticator's refusal.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::{Admission, Authenticator};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
    /// // No gate on the route: the default modes (a user) decide.
    /// let refused = Admission::take_caller(None).resolve(&auth, &http::HeaderMap::new()).await;
    /// assert!(refused.is_err());
    /// # }
    /// ```
    pub async fn resolve<H: RequestHeaders + Sync>(
        self,
        auth: &Authenticator,
        headers: &H,
    ) -> Result<Caller<Verified>, AuthError> {
        match self.0 {
            Some(taken) => taken,
            None => {
                let timer = Timer::start();
                let decided = auth.admit_async(headers, auth.default_modes()).await;
                match &decided {
                    Ok(caller) => timer.admitted(auth, caller),
                    Err(e) => timer.refused(e),
                }
                decided
            }
        }
    }
}

/// The rest of a user extraction, made by [`Admission::read_user`].
#[must_use = "resolve it to get the user"]
pub struct UserLookup(Lookup);

// Lives on the stack for one extraction.
#[allow(clippy::large_enum_variant)]
enum Lookup {
    User(Verified),
    NoUser,
    /// Verify the header: under this policy (a policy gate's), else the base policy.
    Verify(Option<Arc<Policy>>),
}

impl fmt::Debug for UserLookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserLookup").finish_non_exhaustive()
    }
}

impl UserLookup {
    /// The user: the admitted one, none, or the request's own token verified by `auth` under
    /// the gate's policy when a policy gate admitted it, else the base policy (a key fetch
    /// under way is awaited).
    ///
    /// # Errors
    ///
    /// The authenticator's refusal of the request's token.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::{Admission, Authenticator};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
    /// let user = Admission::read_user(None).resolve(&auth, &http::HeaderMap::new()).await?;
    /// assert!(user.is_none()); // no credentials at all
    /// # Ok(())
    /// # }
    /// ```
    pub async fn resolve<H: RequestHeaders + Sync>(
        self,
        auth: &Authenticator,
        headers: &H,
    ) -> Result<Option<Verified>, AuthError> {
        let policy = match self.0 {
            Lookup::User(v) => return Ok(Some(v)),
            Lookup::NoUser => return Ok(None),
            Lookup::Verify(policy) => policy,
        };
        let timer = Timer::start();
        let verified = match policy {
            None => auth.authenticate_verified_async(headers).await,
            Some(policy) => auth.authorize_async(headers, &policy).await.map(Some),
        };
        match &verified {
            Ok(Some(v)) => timer.user(auth, v),
            Ok(None) => timer.no_user(auth),
            Err(e) => timer.refused(e),
        }
        verified
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use supagate_testkit::{TestKeys, TokenBuilder};

    fn auth() -> (TestKeys, Authenticator) {
        let keys = TestKeys::new();
        let auth = Authenticator::new(keys.verifier_at(TokenBuilder::DEFAULT_NOW));
        (keys, auth)
    }

    fn bearer(token: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert("authorization", format!("Bearer {token}").parse().unwrap());
        h
    }

    #[test]
    fn a_policy_gate_admits_the_users_it_allows_and_refuses_the_rest() {
        let (keys, auth) = auth();
        let gate = Gate::policy(
            auth,
            Policy::require(supagate_policy::Requirement::role("editor")).unwrap(),
        );
        let editor = TokenBuilder::new()
            .claim("app_metadata", serde_json::json!({"role": "editor"}))
            .sign_es256(&keys);
        let viewer = TokenBuilder::new()
            .claim("app_metadata", serde_json::json!({"role": "viewer"}))
            .sign_es256(&keys);
        let ok = gate.decide_now(&bearer(&editor)).unwrap().unwrap();
        assert!(ok.caller().and_then(Caller::user).is_some());
        let no = gate.decide_now(&bearer(&viewer)).unwrap().unwrap_err();
        assert_eq!(no.refusal().status(), 403);
        let bad = gate
            .decide_now(&bearer("not.a.token"))
            .unwrap()
            .unwrap_err();
        assert_eq!(bad.refusal().status(), 401);
    }

    #[test]
    fn taking_is_once_and_reading_follows_the_take() {
        let (keys, auth) = auth();
        let token = TokenBuilder::new().sign_es256(&keys);
        let gate = Gate::modes(auth, "user".parse().unwrap());
        let mut a = gate.decide_now(&bearer(&token)).unwrap().unwrap();
        assert!(matches!(Admission::read_user(Some(&a)).0, Lookup::User(_)));
        assert!(a.take().is_ok());
        // The user was taken: a later read verifies the header again.
        assert!(matches!(
            Admission::read_user(Some(&a)).0,
            Lookup::Verify(None)
        ));
        assert!(matches!(a.take(), Err(AuthError::Internal { .. })));
        // A key's admission: no user, then still no user once taken.
        let mut key = Admission::new(Caller::Secret { key: "ops".into() });
        assert!(matches!(Admission::read_user(Some(&key)).0, Lookup::NoUser));
        let _ = key.take();
        assert!(matches!(Admission::read_user(Some(&key)).0, Lookup::NoUser));
        assert!(matches!(Admission::read_user(None).0, Lookup::Verify(None)));
    }

    #[test]
    fn a_policy_gates_user_read_again_after_the_take_is_checked_against_its_policy() {
        let (keys, auth) = auth();
        let service = TokenBuilder::new()
            .claim("role", "service_role")
            .sign_es256(&keys);
        // The route's policy allows `service_role`; the base policy does not.
        let policy = Policy::builder()
            .allow_postgres_roles(["service_role"])
            .build()
            .unwrap();
        let gate = Gate::policy(auth.clone(), policy);
        let h = bearer(&service);
        let mut a = gate.decide_now(&h).unwrap().unwrap();
        let _ = a.take().unwrap();
        let lookup = Admission::read_user(Some(&a));
        assert!(matches!(lookup.0, Lookup::Verify(Some(_))));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let user = rt.block_on(lookup.resolve(&auth, &h)).unwrap();
        assert!(
            user.is_some(),
            "read again under the route's policy, not the base one"
        );
        // Without the gate, the base policy refuses it.
        let refused = rt.block_on(Admission::read_user(None).resolve(&auth, &h));
        assert!(matches!(refused, Err(AuthError::Forbidden(_))));
    }

    #[test]
    fn decide_now_and_decide_agree() {
        let (keys, auth) = auth();
        let user = TokenBuilder::new().sign_es256(&keys);
        let expired = TokenBuilder::new()
            .exp(TokenBuilder::DEFAULT_NOW - 3600)
            .sign_es256(&keys);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for modes in ["user", "user, none", "none"] {
            let gate = Gate::modes(auth.clone(), modes.parse().unwrap());
            for h in [
                bearer(&user),
                bearer(&expired),
                bearer("x.y.z"),
                http::HeaderMap::new(),
            ] {
                let now = gate.decide_now(&h).unwrap();
                let later = rt.block_on(gate.decide(&h));
                assert_eq!(
                    now.as_ref()
                        .map(|a| a.caller().map(Caller::mode))
                        .map_err(|r| r.error().clone()),
                    later
                        .as_ref()
                        .map(|a| a.caller().map(Caller::mode))
                        .map_err(|r| r.error().clone()),
                    "{modes}"
                );
            }
        }
    }

    #[test]
    fn debug_shows_the_mode_only() {
        let a = Admission::new(Caller::Publishable { key: "web".into() });
        assert_eq!(format!("{a:?}"), r#"Admission("publishable")"#);
    }
}
