//! The names of the metrics the crate family emits through the `metrics` facade (each crate's
//! `metrics` feature), and of their labels: a stable interface, documented in
//! `docs/observability.md`. Renamed only in a major release.
//!
//! The hot paths (every request's authentication, every token-cache lookup) keep the handle
//! they registered with the recorder in place, and register again only under another
//! recorder: install the process-wide recorder before serving.
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

/// Histogram, seconds: how long a decision on a request's credentials took (a gate's, or an
/// extractor's on a route without one: verification, a key fetch waited for, a liveness
/// question), labelled [`MODE`], [`RESULT`] (`success`, `failure`, `none`) and
/// [`ERROR_TYPE`]. Every decision is observed once: a request with no credentials is mode
/// and result `none` (admitted as anyone or refused, as the route decides), a refused
/// credential mode `unknown` and result `failure`. A handler that decides twice (nested
/// gates, the caller taken and the user read again) is observed twice. The frontend proxy's
/// cookie sessions are observed as [`PROXY_REFRESHES`], not here.
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

/// Counter: session liveness decisions of sessions it applies to, labelled [`SOURCE`]
/// (`cache`; `source`, the question asked; `shared`, another request's question waited for)
/// and [`RESULT`] (`live`, `ended`, `refused`, `unavailable`, the last also when
/// `allow_when_unavailable` admits anyway).
pub const SESSION_LIVENESS_CHECKS: &str = "supagate.session_liveness.checks";

/// Counter: the frontend proxy's refresh calls to the auth server (one per call, however many
/// requests share it), labelled [`OUTCOME`] by its answer: `refreshed` (2xx), `ended` (a
/// 4xx other than 408 and 429), `unavailable` (no answer, 408, 429, 5xx).
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

/// Label: the requirement that refused, as the refusal's reason code (`forbidden_role`,
/// `forbidden_permission`, `forbidden_aal2`, …), never its value.
pub const REQUIREMENT: &str = "requirement";

/// Label: where a liveness answer came from.
pub const SOURCE: &str = "source";

/// Label: how a refresh ended.
pub const OUTCOME: &str = "outcome";

/// Label: which rate limit refused: `client_address`, `auth_calls`, `session_auth_calls`,
/// `unverifiable_refresh`, `user`.
pub const LIMITER: &str = "limiter";

/// The buckets of the duration histograms, in seconds: from a cached verification (a few
/// microseconds) to a key fetch or a slow session store (seconds). Exporters that need
/// explicit buckets (Prometheus) take these.
pub const DURATION_BUCKETS: &[f64] = &[
    0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005,
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
