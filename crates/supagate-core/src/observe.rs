//! The names of the metrics the crate family emits through the `metrics` facade (each crate's
//! `metrics` feature), and of their labels: a stable interface, documented in
//! `docs/observability.md`. Renamed only in a major release.
//!
//! The hot paths (every request's authentication, every token-cache lookup) keep the
//! handles they register once [`recorder_installed`] was called (`supagate::describe_metrics`
//! calls it): call it after installing the process-wide recorder.
//!
//! Every label has a closed set of values (modes, results, reason codes, limiter names): no
//! token, key, cookie, email, user id or session id is ever a label value.
//!
//! # Examples
//!
//! ```
//! use supagate_core::observe;
//!
//! assert_eq!(observe::AUTHENTICATION_DURATION, "supagate.authentication.duration");
//! // The Prometheus exporter renders dots as underscores, the unit and `_total` as suffixes:
//! // supagate_authentication_duration_seconds, supagate_token_cache_requests_total.
//! ```

/// Histogram, seconds: how long deciding a request's credentials took (verification, a key
/// fetch waited for, a liveness question), labelled [`MODE`], [`RESULT`] (`success`,
/// `failure`, `none`) and [`ERROR_TYPE`]. Every attempt is observed: a request with no
/// credentials is mode and result `none` (admitted as anyone or refused, as the route
/// decides), a refused credential mode `unknown` and result `failure`.
pub const AUTHENTICATION_DURATION: &str = "supagate.authentication.duration";

/// Counter: role-policy checks of a verified user, labelled [`RESULT`] (`success`,
/// `failure`) and, on failure, [`REQUIREMENT`] (the kind of requirement that refused, never
/// its value).
pub const AUTHORIZATION_ATTEMPTS: &str = "supagate.authorization.attempts";

/// Counter: verified-token cache lookups, labelled [`RESULT`] (`hit`, `miss`).
pub const TOKEN_CACHE_REQUESTS: &str = "supagate.token_cache.requests";

/// Counter: verified tokens dropped from the cache to stay within its bound.
pub const TOKEN_CACHE_EVICTIONS: &str = "supagate.token_cache.evictions";

/// Counter: fetches of a published key set (`RemoteJwks`), labelled [`RESULT`] (`success`,
/// `failure`).
pub const JWKS_FETCHES: &str = "supagate.jwks.fetches";

/// Gauge: the keys held from the last good key-set fetch.
pub const JWKS_KEYS: &str = "supagate.jwks.keys";

/// Counter: session liveness decisions, labelled [`SOURCE`] (`cache`, `source`) and
/// [`RESULT`] (`live`, `ended`, `refused`, `unavailable`).
pub const SESSION_LIVENESS_CHECKS: &str = "supagate.session_liveness.checks";

/// Counter: the frontend proxy's session refreshes, labelled [`OUTCOME`] (`refreshed`,
/// `ended`, `unavailable`).
pub const PROXY_REFRESHES: &str = "supagate.proxy.refreshes";

/// Counter: requests refused by a rate limit, labelled [`LIMITER`].
pub const RATE_LIMIT_REFUSALS: &str = "supagate.rate_limit.refusals";

/// Label: how the caller was admitted: `user`, `publishable`, `secret`, `none` (no
/// credentials), or `unknown` for a refused credential.
pub const MODE: &str = "mode";

/// Label: the result (values per metric, above).
pub const RESULT: &str = "result";

/// Label: why an authentication failed: the error's stable reason code (`expired`,
/// `bad_signature`, `unknown_key`, `forbidden_role`, …; the `reason` of `tracing` events),
/// empty otherwise. Rendered `error_type` by Prometheus exporters.
pub const ERROR_TYPE: &str = "error.type";

/// Label: the kind of a role-policy requirement (`role`, `permission`, `aal2`, …).
pub const REQUIREMENT: &str = "requirement";

/// Label: where a liveness answer came from.
pub const SOURCE: &str = "source";

/// Label: how a refresh ended.
pub const OUTCOME: &str = "outcome";

/// Label: which rate limit refused (`sign_in_ip`, `refresh_ip`, `user`, …).
pub const LIMITER: &str = "limiter";

/// The buckets of the duration histograms, in seconds: from a cached verification (a few
/// microseconds) to a key fetch or a slow session store (seconds). Exporters that need
/// explicit buckets (Prometheus) take these.
pub const DURATION_BUCKETS: &[f64] = &[
    0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005,
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static INSTALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Says that the process-wide `metrics` recorder is installed: from now on the hot paths keep
/// the handles they register (a handle registered before would be the no-op recorder's, so
/// none is kept until then). `supagate::describe_metrics` calls it.
///
/// # Examples
///
/// ```
/// supagate_core::observe::recorder_installed();
/// assert!(supagate_core::observe::handles_kept());
/// ```
pub fn recorder_installed() {
    INSTALLED.store(true, std::sync::atomic::Ordering::Release);
}

/// Whether [`recorder_installed`] was called: the hot paths' handles may be kept.
///
/// # Examples
///
/// See [`recorder_installed`].
#[must_use]
pub fn handles_kept() -> bool {
    INSTALLED.load(std::sync::atomic::Ordering::Acquire)
}
