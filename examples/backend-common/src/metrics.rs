//! `METRICS`: the examples' Prometheus exporter, shared by `backend-axum` and
//! `frontend-proxy`.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use supagate::core::observe;

/// The variable that turns the exporter on: `METRICS=prometheus`; unset (or empty, or `off`)
/// leaves it off, and then nothing is recorded at all.
pub const VARIABLE: &str = "METRICS";

/// Installs the Prometheus recorder when `value` (the `METRICS` variable) says so, with real
/// histogram buckets ([`observe::DURATION_BUCKETS`]) for the duration metrics, describes the
/// metrics to it, and drains it every 5 s on a task of its own (called within a tokio
/// runtime). The handle renders `GET /metrics`.
///
/// # Errors
///
/// A value other than `prometheus`, `off` or empty, or a recorder installed already.
pub fn install(value: Option<&str>) -> Result<Option<PrometheusHandle>, String> {
    match value.map(str::trim) {
        None | Some("" | "off") => Ok(None),
        Some("prometheus") => {
            // Prometheus's naming: `_total` on counters, the unit (`_seconds`) on durations.
            let handle = PrometheusBuilder::new()
                .with_recommended_naming(true)
                .set_buckets_for_metric(
                    Matcher::Full(observe::AUTHENTICATION_DURATION.to_owned()),
                    observe::DURATION_BUCKETS,
                )
                .map_err(|e| format!("{VARIABLE}: {e}"))?
                .install_recorder()
                .map_err(|e| format!("{VARIABLE}: {e}"))?;
            supagate::describe_metrics();
            // The recorder keeps every histogram sample until it is drained: drained every
            // 5 s here, whether or not anyone scrapes, so that memory stays bounded.
            let upkeep = handle.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    upkeep.run_upkeep();
                }
            });
            Ok(Some(handle))
        }
        Some(other) => Err(format!(
            "{VARIABLE}: `{other}` is not `prometheus` (leave it unset for no metrics)"
        )),
    }
}

/// [`install`] from the process environment.
///
/// # Errors
///
/// As [`install`].
pub fn from_env() -> Result<Option<PrometheusHandle>, String> {
    let vars = supagate::Variables::snapshot([VARIABLE], |n| std::env::var(n).ok());
    install(vars.get(VARIABLE).as_deref())
}
