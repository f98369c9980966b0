//! The HTTP client for the upstream and the auth server: hyper-util's pooled client over
//! rustls (AWS-LC, webpki roots). It never follows redirects, and every call is bounded in
//! time and size.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::body::{Guarded, ProxyBody, full};
use crate::error::{ProxyConfigError, ProxyError};

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

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

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
    /// For `http://` targets (a backend on the same host or network): no TLS wrapper to
    /// clone for each call or to pass every read and write through.
    plain: Client<HttpConnector, ProxyBody>,
    limits: Arc<Limits>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient").finish_non_exhaustive()
    }
}

impl HttpClient {
    pub(crate) fn new(limits: Arc<Limits>) -> Result<Self, ProxyConfigError> {
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
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256);
        Ok(HttpClient {
            client: builder.build(connector),
            plain: builder.build(plain),
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

    /// Sends an upstream request; the response headers must arrive within the upstream
    /// timeout. The response body is returned unread.
    pub(crate) async fn upstream(
        &self,
        req: Request<ProxyBody>,
    ) -> Result<Response<hyper::body::Incoming>, ProxyError> {
        let call = if req.uri().scheme() == Some(&http::uri::Scheme::HTTP) {
            self.plain.request(req)
        } else {
            self.client.request(req)
        };
        match tokio::time::timeout(self.limits.upstream_timeout, call).await {
            Err(_) => Err(ProxyError::UpstreamTimeout),
            Ok(Ok(res)) => Ok(res),
            Ok(Err(e)) if crate::body::is_too_large(&e) => Err(ProxyError::BodyTooLarge),
            Ok(Err(_)) => Err(ProxyError::UpstreamUnavailable),
        }
    }
}
