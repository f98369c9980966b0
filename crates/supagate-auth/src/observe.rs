//! The metrics this crate emits (feature `metrics`), under the names of
//! [`supagate_core::observe`]. Without the feature every function here is empty.

#[cfg(feature = "metrics")]
use supagate_core::observe as names;

use supagate_jwt::Verified;

use crate::authenticator::Authenticator;
use crate::error::AuthError;
use crate::modes::Caller;

/// The start of one authentication, for its duration.
pub(crate) struct Timer {
    #[cfg(feature = "metrics")]
    started: std::time::Instant,
}

impl Timer {
    pub(crate) fn start() -> Self {
        Timer {
            #[cfg(feature = "metrics")]
            started: std::time::Instant::now(),
        }
    }

    /// Records an admission of `caller` by `auth`.
    pub(crate) fn admitted(self, auth: &Authenticator, caller: &Caller<Verified>) {
        let mode = caller.mode();
        let result = if mode == "none" { "none" } else { "success" };
        decided(auth, mode, result, caller.user());
        self.record(mode, result, "");
    }

    /// Records a user extraction that verified its user.
    pub(crate) fn user(self, auth: &Authenticator, user: &Verified) {
        decided(auth, "user", "success", Some(user));
        self.record("user", "success", "");
    }

    /// Records a user extraction that found no credentials and needed none.
    pub(crate) fn no_user(self, auth: &Authenticator) {
        decided(auth, "none", "none", None);
        self.record("none", "none", "");
    }

    /// Records a refusal: no credentials is mode and result `none` (as an admission of
    /// anyone: no credentials were presented, whatever the route then decides), anything
    /// else a `failure` with its reason.
    pub(crate) fn refused(self, err: &AuthError) {
        use supagate_core::RequestError as _;
        match err {
            AuthError::MissingCredentials => self.record("none", "none", ""),
            other => self.record("unknown", "failure", other.reason()),
        }
    }

    #[cfg(feature = "metrics")]
    fn record(self, mode: &'static str, result: &'static str, error: &'static str) {
        let seconds = self.started.elapsed().as_secs_f64();
        // The outcomes of nearly every request, as literals: a key built once, at compile
        // time (no allocation, no hashing per request). The names are those of
        // `supagate_core::observe` (checked by a test).
        // The handle registered with the recorder in place is kept; under another recorder
        // (one installed later, a test's own) the handle is registered again.
        macro_rules! admitted {
            ($mode:literal, $result:literal) => {{
                static KEPT: std::sync::OnceLock<(usize, metrics::Histogram)> =
                    std::sync::OnceLock::new();
                let make = || {
                    metrics::histogram!(
                        "supagate.authentication.duration",
                        "mode" => $mode,
                        "result" => $result,
                        "error.type" => ""
                    )
                };
                let recorder = recorder_id();
                match KEPT.get_or_init(|| (recorder, make())) {
                    (kept, handle) if *kept == recorder => handle.record(seconds),
                    _ => make().record(seconds),
                }
            }};
        }
        match (mode, result, error) {
            ("user", "success", "") => admitted!("user", "success"),
            ("publishable", "success", "") => admitted!("publishable", "success"),
            ("secret", "success", "") => admitted!("secret", "success"),
            ("none", "none", "") => admitted!("none", "none"),
            _ => metrics::histogram!(
                names::AUTHENTICATION_DURATION,
                names::MODE => mode,
                names::RESULT => result,
                names::ERROR_TYPE => error,
            )
            .record(seconds),
        }
    }

    #[cfg(not(feature = "metrics"))]
    #[allow(clippy::unused_self)]
    fn record(self, _mode: &'static str, _result: &'static str, _error: &'static str) {}
}

/// The `authentication decided` event (debug, target `supagate`): the result, the mode, and
/// for a user the verifying key's algorithm and the issuer's host; the user and session ids only when `auth` was built with
/// `trace_identities`. A refusal is the `request refused` event of the refusal path instead.
fn decided(
    auth: &Authenticator,
    mode: &'static str,
    result: &'static str,
    user: Option<&Verified>,
) {
    if !tracing::enabled!(target: "supagate", tracing::Level::DEBUG) {
        return;
    }
    let issuer_host = user.and_then(|v| issuer_host(v.claims().iss.as_deref()));
    let algorithm = user.map(|v| v.algorithm().name());
    match user.filter(|_| auth.traces_identities()) {
        Some(v) => tracing::debug!(
            target: "supagate",
            result,
            mode,
            algorithm,
            issuer_host,
            user_id = %v.claims().sub,
            session_id = v.claims().session_id.as_deref(),
            "authentication decided"
        ),
        None => tracing::debug!(
            target: "supagate",
            result,
            mode,
            algorithm,
            issuer_host,
            "authentication decided"
        ),
    }
}

/// The host of a verified issuer URL (`https://<ref>.supabase.co/auth/v1` →
/// `<ref>.supabase.co`): a closed set, the issuers the verifier trusts.
fn issuer_host(iss: Option<&str>) -> Option<&str> {
    let rest = iss?.split_once("://").map_or(iss?, |(_, r)| r);
    rest.split(['/', '?', '#']).next().filter(|h| !h.is_empty())
}

#[cfg(feature = "metrics")]
/// The identity of the recorder in place (its address): a kept handle is valid under it only.
#[cfg(feature = "metrics")]
fn recorder_id() -> usize {
    metrics::with_recorder(|r| std::ptr::from_ref(r).cast::<()>().addr())
}

/// Records a role-policy check: `None` when it passed, else the kind of requirement that
/// refused.
#[allow(unused_variables)]
pub(crate) fn authorization(refused_by: Option<&'static str>) {
    #[cfg(feature = "metrics")]
    match refused_by {
        None => metrics::counter!(names::AUTHORIZATION_ATTEMPTS, names::RESULT => "success")
            .increment(1),
        Some(kind) => metrics::counter!(
            names::AUTHORIZATION_ATTEMPTS,
            names::RESULT => "failure",
            names::REQUIREMENT => kind,
        )
        .increment(1),
    }
}

/// Records a session liveness decision: where its answer came from (`cache`, `source`, or
/// `shared`: a question another request asked) and what it was (`live`, `ended`, `refused`,
/// `unavailable`, the last also when liveness admits anyway).
#[allow(unused_variables)]
pub(crate) fn liveness(source: &'static str, result: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(
        names::SESSION_LIVENESS_CHECKS,
        names::SOURCE => source,
        names::RESULT => result,
    )
    .increment(1);
}
