//! [`BackendClient`]: the backend called from server code (a page handler, a job) on a user's
//! behalf, through the proxy's upstream client.

use super::*;

use crate::path::upstream_target;
use crate::sessions::SessionUser;

impl Proxy {
    /// A backend handle for server code that is not a page handler (a background job
    /// acting for a user it holds a [`SessionUser`] of); `peer` goes into the forwarding
    /// headers. Page handlers use [`PageContext::backend`](crate::PageContext::backend).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn job(proxy: supagate_proxy::Proxy) {
    /// let backend = proxy.backend(std::net::IpAddr::from([127, 0, 0, 1]));
    /// # let _ = backend;
    /// # }
    /// ```
    #[must_use]
    pub fn backend(&self, peer: IpAddr) -> BackendClient {
        BackendClient {
            proxy: self.clone(),
            client: peer,
        }
    }
}

/// The backend, called from the server on a user's behalf (the seed's `authHeaders()` and
/// `fetch(API_URL…, { cache: "no-store" })`): through the proxy's upstream client, to its fixed
/// upstream origin, with the user's verified bearer and the forwarding headers, never a
/// cookie. Paths are checked as forwarded ones are (no `..`, no `//`, no encoded separators:
/// 400 [`ProxyError::BadPath`]); the answer is read whole within the response limits, its
/// `sb-*` `Set-Cookie`s removed. A path is taken as written, its query included: percent-encode
/// what you interpolate into it (`form_urlencoded::byte_serialize`), or `name = "me?role=admin"`
/// becomes a query.
///
/// # Examples
///
/// ```
/// use supagate_proxy::{BackendClient, ProxyError, SessionUser};
///
/// async fn profile(backend: &BackendClient, user: &SessionUser) -> Result<serde_json::Value, ProxyError> {
///     let res = backend.get(user, "/profile/me").await?;
///     res.json()
/// }
/// # let _ = profile;
/// ```
#[derive(Clone)]
pub struct BackendClient {
    proxy: Proxy,
    client: IpAddr,
}

impl fmt::Debug for BackendClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.proxy.inner;
        f.debug_struct("BackendClient")
            .field("upstream", &format_args!("{}://{}", i.scheme, i.authority))
            .finish_non_exhaustive()
    }
}

/// The backend's answer to a [`BackendClient`] call, read whole.
#[derive(Debug, Clone)]
pub struct BackendResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl BackendResponse {
    /// The status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers (hop-by-hop fields and session `Set-Cookie`s removed).
    #[must_use]
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body.
    #[must_use]
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body as JSON.
    ///
    /// # Errors
    ///
    /// [`ProxyError::UpstreamUnavailable`] when it is not JSON of that shape.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ProxyError> {
        serde_json::from_slice(&self.body).map_err(|_| ProxyError::UpstreamUnavailable)
    }
}

impl BackendClient {
    /// `GET path` as `user`.
    ///
    /// # Errors
    ///
    /// As [`BackendClient::send`].
    pub async fn get(&self, user: &SessionUser, path: &str) -> Result<BackendResponse, ProxyError> {
        self.send(Some(user), Method::GET, path, None).await
    }

    /// `DELETE path` as `user`.
    ///
    /// # Errors
    ///
    /// As [`BackendClient::send`].
    pub async fn delete(
        &self,
        user: &SessionUser,
        path: &str,
    ) -> Result<BackendResponse, ProxyError> {
        self.send(Some(user), Method::DELETE, path, None).await
    }

    /// `POST path` as `user` with `body` as JSON.
    ///
    /// # Errors
    ///
    /// As [`BackendClient::send`].
    pub async fn post_json<T: serde::Serialize + ?Sized>(
        &self,
        user: &SessionUser,
        path: &str,
        body: &T,
    ) -> Result<BackendResponse, ProxyError> {
        let json = serde_json::to_vec(body).map_err(|_| ProxyError::BadForm {
            reason: "body is not serializable as json",
        })?;
        let body = (
            HeaderValue::from_static("application/json"),
            Bytes::from(json),
        );
        self.send(Some(user), Method::POST, path, Some(body)).await
    }

    /// Calls the backend: `method path` with the bearer of `user` (none: without
    /// credentials, as for a signed-out visitor) and an optional body with its content type.
    ///
    /// # Errors
    ///
    /// [`ProxyError::BadPath`] for a refused path, [`ProxyError::BodyTooLarge`] over the
    /// request limit, [`ProxyError::UpstreamTimeout`] or
    /// [`ProxyError::UpstreamUnavailable`] when the backend does not answer in time or in full.
    /// A backend answer of any status is `Ok`.
    pub async fn send(
        &self,
        user: Option<&SessionUser>,
        method: Method,
        path: &str,
        body: Option<(HeaderValue, Bytes)>,
    ) -> Result<BackendResponse, ProxyError> {
        let i = &*self.proxy.inner;
        let path = upstream_target(path)?;
        let uri = self.proxy.upstream_uri(path)?;
        let limits = i.upstream.limits();
        let mut headers = HeaderMap::new();
        crate::headers::prepare_in_place(
            &mut headers,
            &i.headers,
            user.map(|u| u.bearer.clone()),
            user.map(|u| &u.id),
            &i.observed.with_client(self.client),
        );
        let bytes = match body {
            Some((content_type, bytes)) => {
                headers.insert(header::CONTENT_TYPE, content_type);
                bytes
            }
            None => Bytes::new(),
        };
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > limits.request_body {
            return Err(ProxyError::BodyTooLarge);
        }
        if !bytes.is_empty() || method == Method::POST || method == Method::PUT {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        }
        let mut req = Request::new(full(bytes));
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        *req.version_mut() = Version::HTTP_11;
        *req.headers_mut() = headers;
        let res = i.upstream.send(req).await.inspect_err(|e| {
            tracing::warn!(target: "supagate", status = e.status().as_u16(), reason = e.reason(), "backend call failed");
        })?;
        let (mut parts, body) = res.into_parts();
        filter_upstream_response_headers(&mut parts.headers, &i.headers);
        if content_length(&parts.headers).is_some_and(|n| n > limits.response_body) {
            return Err(ProxyError::UpstreamUnavailable);
        }
        let body = Guarded::new(body, limits.response_body, limits.idle_timeout)
            .collect()
            .await
            .map_err(|_| ProxyError::UpstreamUnavailable)?
            .to_bytes();
        Ok(BackendResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}
