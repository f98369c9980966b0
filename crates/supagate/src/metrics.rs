//! Descriptions of the crate family's metrics for the installed `metrics` recorder.

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use supagate_core::observe as names;

/// Describes every metric of [`supagate::core::observe`](crate::core::observe) to the
/// installed recorder (its unit and help text): call it once, after installing one, so that a
/// Prometheus exporter renders `HELP` lines and the `_seconds` unit.
///
/// # Examples
///
/// ```
/// supagate::describe_metrics(); // harmless without a recorder
/// ```
pub fn describe_metrics() {
    describe_histogram!(
        names::AUTHENTICATION_DURATION,
        Unit::Seconds,
        "Time to decide a request's credentials, by mode, result and error.type"
    );
    describe_counter!(
        names::AUTHORIZATION_ATTEMPTS,
        Unit::Count,
        "Role-policy checks of verified users, by result and the requirement kind that refused"
    );
    describe_counter!(
        names::TOKEN_CACHE_REQUESTS,
        Unit::Count,
        "Verified-token cache lookups, by result (hit, miss)"
    );
    describe_counter!(
        names::TOKEN_CACHE_EVICTIONS,
        Unit::Count,
        "Verified tokens dropped from the cache to stay within its bound"
    );
    describe_counter!(
        names::JWKS_FETCHES,
        Unit::Count,
        "Fetches of the published key set, by result"
    );
    describe_gauge!(
        names::JWKS_KEYS,
        Unit::Count,
        "Keys held from the last good key-set fetch"
    );
    describe_counter!(
        names::SESSION_LIVENESS_CHECKS,
        Unit::Count,
        "Session liveness decisions, by source (cache, source) and result"
    );
    describe_counter!(
        names::PROXY_REFRESHES,
        Unit::Count,
        "Session refreshes by the frontend proxy, by outcome"
    );
    describe_counter!(
        names::RATE_LIMIT_REFUSALS,
        Unit::Count,
        "Requests refused by a rate limit, by limiter"
    );
}
