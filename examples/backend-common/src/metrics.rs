//! `METRICS`: the examples' Prometheus exporter, shared by `backend-axum` and
//! `frontend-proxy`. The exposition is served on an address of its own (`METRICS_BIND`,
//! loopback by default), never on the service's public one: it is operational data for a
//! scraper, not for the clients of the API.

use std::net::SocketAddr;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use supagate::core::observe;

/// The variable that turns the exporter on: `METRICS=prometheus`; unset (or empty, or `off`)
/// leaves it off, and then nothing is recorded at all.
pub const VARIABLE: &str = "METRICS";

/// Where `GET /metrics` is served: an address of its own (default: the caller's, on
/// loopback).
pub const BIND_VARIABLE: &str = "METRICS_BIND";

/// An installed exporter and the address to serve it on.
#[derive(Debug)]
pub struct Metrics {
    handle: PrometheusHandle,
    bind: SocketAddr,
}

/// Installs the Prometheus recorder when `value` (the `METRICS` variable) says so, with real
/// histogram buckets ([`observe::DURATION_BUCKETS`]) for the duration metrics, describes the
/// metrics to it, and drains it every 5 s on a task of its own (called within a tokio
/// runtime).
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

/// `METRICS` and `METRICS_BIND` from the process environment (`default_bind` when the
/// latter is unset): the exporter installed, or `None` when metrics are off.
///
/// # Errors
///
/// As [`install`], or a `METRICS_BIND` that is no address.
pub fn from_env(default_bind: &str) -> Result<Option<Metrics>, String> {
    let vars = supagate::Variables::snapshot([VARIABLE, BIND_VARIABLE], |n| std::env::var(n).ok());
    let bind_text = vars
        .get(BIND_VARIABLE)
        .unwrap_or_else(|| default_bind.to_owned());
    let Some(handle) = install(vars.get(VARIABLE).as_deref())? else {
        return Ok(None);
    };
    let bind = bind_text.trim().parse().map_err(|_| {
        format!("{BIND_VARIABLE}: `{bind_text}` is not an address such as {default_bind}")
    })?;
    Ok(Some(Metrics { handle, bind }))
}

impl Metrics {
    /// Serves `GET /metrics` on the configured address, on a task of its own; the address
    /// it listens on.
    ///
    /// # Errors
    ///
    /// When the address cannot be bound.
    pub async fn serve(self) -> Result<SocketAddr, String> {
        let listener = tokio::net::TcpListener::bind(self.bind)
            .await
            .map_err(|e| format!("{BIND_VARIABLE}: cannot bind {}: {e}", self.bind))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("{BIND_VARIABLE}: {e}"))?;
        let handle = self.handle;
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || std::future::ready(handle.render())),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(addr)
    }
}
