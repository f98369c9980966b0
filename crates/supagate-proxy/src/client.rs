//! The HTTP client for the auth server: hyper-util's pooled client over rustls (AWS-LC,
//! webpki roots). It never follows redirects, and every call is bounded in time and size.
//! The upstream has a pool of its own (`pool.rs`), on the same connectors.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::body::{Guarded, ProxyBody, full};
use crate::error::ProxyConfigError;

/// Size and time limits for the proxy's HTTP traffic. Start from [`Limits::default`] and
/// change fields.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use supagate_proxy::Limits;
///
/// let mut limits = Limits::default();
/// limits.request_body = 1024 * 1024;
/// limits.upstream_timeout = Duration::from_secs(10);
/// assert_eq!(limits.connect_timeout, Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest request body forwarded upstream (413 beyond). Default 10 MiB.
    pub request_body: u64,
    /// Largest upstream response body passed back (the stream is cut beyond; 502 when the
    /// declared length is already larger). Default 50 MiB.
    pub response_body: u64,
    /// TCP (and TLS) connection set-up. Default 5 s.
    pub connect_timeout: Duration,
    /// From sending the request to the upstream's response headers (504 beyond). Default 30 s.
    pub upstream_timeout: Duration,
    /// Longest pause between two body chunks, either direction. Default 30 s.
    pub idle_timeout: Duration,
    /// A whole call to the auth server (refresh, sign-in, code exchange, sign-out). Default
    /// 10 s.
    pub auth_timeout: Duration,
    /// Largest auth-server response body read. Default 256 KiB.
    pub auth_response_body: u64,
    /// Largest sign-in form accepted. Default 16 KiB.
    pub form_body: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            request_body: 10 * 1024 * 1024,
            response_body: 50 * 1024 * 1024,
            connect_timeout: Duration::from_secs(5),
            upstream_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
            auth_timeout: Duration::from_secs(10),
            auth_response_body: 256 * 1024,
            form_body: 16 * 1024,
        }
    }
}

pub(crate) type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// What the auth server answered: `status` is `None` when it did not answer in time, the
/// connection failed, or the body was too large.
#[derive(Debug, Clone)]
pub(crate) struct AuthAnswer {
    pub(crate) status: Option<StatusCode>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl AuthAnswer {
    pub(crate) fn none() -> Self {
        AuthAnswer {
            status: None,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct HttpClient {
    client: Client<Connector, ProxyBody>,
    limits: Arc<Limits>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient").finish_non_exhaustive()
    }
}

/// The connectors every client here dials with: rustls on AWS-LC with the webpki roots
/// (`https`, and `http` too), and the bare TCP one for `http://` targets (a backend on the
/// same host or network: no TLS wrapper to pass every read and write through). Both set
/// `TCP_NODELAY` and the connect timeout.
pub(crate) fn connectors(limits: &Limits) -> Result<(Connector, HttpConnector), ProxyConfigError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| ProxyConfigError {
            what: "tls protocol versions",
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.set_connect_timeout(Some(limits.connect_timeout));
    let plain = http.clone();
    http.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok((connector, plain))
}

impl HttpClient {
    pub(crate) fn new(limits: Arc<Limits>) -> Result<Self, ProxyConfigError> {
        let (connector, _) = connectors(&limits)?;
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256);
        Ok(HttpClient {
            client: builder.build(connector),
            limits,
        })
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Calls the auth server, reading the whole (bounded) answer within the auth timeout.
    pub(crate) async fn auth_call(&self, req: Request<Vec<u8>>) -> AuthAnswer {
        let (parts, body) = req.into_parts();
        let req = Request::from_parts(parts, full(body));
        let limit = self.limits.auth_response_body;
        let idle = self.limits.auth_timeout;
        let call = async {
            let res = self.client.request(req).await.ok()?;
            let (parts, body) = res.into_parts();
            let bytes = Guarded::new(body, limit, idle)
                .collect()
                .await
                .ok()?
                .to_bytes();
            Some(AuthAnswer {
                status: Some(parts.status),
                headers: parts.headers,
                body: bytes,
            })
        };
        match tokio::time::timeout(self.limits.auth_timeout, call).await {
            Ok(Some(answer)) => answer,
            _ => AuthAnswer::none(),
        }
    }
}
