//! Preparing the upstream request's headers, and filtering the upstream response's.

use std::borrow::Cow;
use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use supagate_jwt::Token;

use crate::error::ProxyError;

/// Hop-by-hop fields (RFC 9110 §7.6.1) and their legacy relatives: never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// What the proxy itself observed about the request, for the forwarding headers. Nothing here
/// comes from a client-supplied `Forwarded`/`X-Forwarded-*` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    client: IpAddr,
    host: std::sync::Arc<str>,
    https: bool,
    /// `X-Forwarded-Host`, built once.
    host_value: HeaderValue,
}

impl Observed {
    /// The peer address of the connection, the public host the proxy serves (from
    /// configuration, not from the request's `Host`), and whether it is served over https.
    ///
    /// # Errors
    ///
    /// [`ProxyError::InvalidConfig`] when `host` is not a valid header value.
    pub fn new(client: IpAddr, host: impl Into<String>, https: bool) -> Result<Self, ProxyError> {
        let host = host.into();
        let bad = || ProxyError::InvalidConfig {
            what: "public host",
        };
        if host.is_empty() || host.contains([',', ';', '"']) {
            return Err(bad());
        }
        let host_value = HeaderValue::from_str(&host).map_err(|_| bad())?;
        Ok(Observed {
            client,
            host: host.into(),
            https,
            host_value,
        })
    }
}

#[cfg(feature = "client")]
impl Observed {
    /// The same observation for another peer address.
    pub(crate) fn with_client(&self, client: IpAddr) -> Observed {
        Observed {
            client,
            host: self.host.clone(),
            https: self.https,
            host_value: self.host_value.clone(),
        }
    }
}

/// Which incoming headers are removed before the proxy adds its own, and whether it adds
/// `X-User-Id`.
///
/// Always removed: `Authorization`, every `X-User-*` (case-insensitive, `_` same as `-`),
/// hop-by-hop fields and those named in `Connection`, `Forwarded`, `X-Forwarded-*`,
/// `X-Real-IP`, `Host`, and the `sb-*` auth cookies (the backend gets only the access token).
///
/// # Examples
///
/// ```
/// use supagate_proxy::HeaderPolicy;
///
/// let policy = HeaderPolicy::default()
///     .also_strip(["X-Supabase-Role", "X-Tenant"])
///     .with_user_id_header(true);
/// # let _ = policy;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderPolicy {
    extra: Vec<String>,
    user_id: bool,
}

impl HeaderPolicy {
    /// Also removes these client headers (compared case-insensitively, `_` same as `-`).
    /// Default: none beyond the fixed list.
    #[must_use]
    pub fn also_strip<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.extra.extend(
            names
                .into_iter()
                .map(|n| normalize(n.as_ref()).into_owned()),
        );
        self
    }

    /// Adds `X-User-Id: <sub>` (canonical hyphenated lower-case UUID) for the backend. Default:
    /// off (the backend should verify the bearer token itself).
    #[must_use]
    pub fn with_user_id_header(mut self, yes: bool) -> Self {
        self.user_id = yes;
        self
    }

    /// `n` is a [`normalize`]d name.
    fn strips(&self, n: &str) -> bool {
        n == "authorization"
            || n == "x-user"
            || n.starts_with("x-user-")
            || n == "forwarded"
            || n.starts_with("x-forwarded-")
            || n == "x-real-ip"
            || n == "host"
            || HOP_BY_HOP.contains(&n)
            || self.extra.iter().any(|e| e == n)
    }
}

/// Lower case, trimmed, `_` as `-`; borrowed when already so (header names from `http` are
/// lower case, so the common case allocates nothing).
fn normalize(name: &str) -> Cow<'_, str> {
    let t = name.trim();
    if t.bytes().any(|b| b == b'_' || b.is_ascii_uppercase()) {
        Cow::Owned(t.to_ascii_lowercase().replace('_', "-"))
    } else {
        Cow::Borrowed(t)
    }
}

/// The names listed in every `Connection` field (lower-cased, `_` as `-`).
fn connection_named(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| normalize(n).into_owned())
        .filter(|n| !n.is_empty())
        .collect()
}

/// Whether a cookie name is one of Supabase's auth cookies (`sb-*`, with or without a
/// `__Host-`/`__Secure-` prefix).
fn is_auth_cookie(name: &[u8]) -> bool {
    let name = name
        .strip_prefix(b"__Host-")
        .or_else(|| name.strip_prefix(b"__Secure-"))
        .unwrap_or(name);
    name.len() >= 3
        && name
            .get(..3)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"sb-"))
}

/// The incoming `Cookie` pairs that are not auth cookies, joined into one field.
fn forwardable_cookies(headers: &HeaderMap) -> Option<HeaderValue> {
    let mut out: Vec<u8> = Vec::new();
    for field in headers.get_all(header::COOKIE) {
        for pair in field.as_bytes().split(|&b| b == b';') {
            let pair = pair.trim_ascii();
            if pair.is_empty() {
                continue;
            }
            let name = pair
                .split(|&b| b == b'=')
                .next()
                .unwrap_or(pair)
                .trim_ascii();
            if is_auth_cookie(name) {
                continue;
            }
            if !out.is_empty() {
                out.extend_from_slice(b"; ");
            }
            out.extend_from_slice(pair);
        }
    }
    if out.is_empty() {
        return None;
    }
    HeaderValue::from_bytes(&out).ok()
}

/// The headers of the upstream request: the incoming ones minus everything a client could use
/// to claim an identity or spoof the proxy's observations, plus `Authorization: Bearer
/// <access token>` (marked sensitive), the forwarding headers from `observed`, and optionally
/// `X-User-Id` from the verified `sub`.
///
/// Removal happens before insertion, and the proxy's own headers are inserted once (never
/// appended), so no client value survives next to them.
///
/// # Errors
///
/// [`ProxyError::InvalidConfig`] if the token cannot be a header value (it always can after
/// verification: a JWS is base64url and dots).
///
/// # Examples
///
/// ```
/// use supagate_jwt::Token;
/// use supagate_proxy::{HeaderPolicy, Observed, prepare_upstream_headers};
///
/// let mut incoming = http::HeaderMap::new();
/// incoming.insert("x-user-id", "victim".parse()?);
/// incoming.insert("authorization", "Bearer attacker".parse()?);
/// incoming.insert("cookie", "sb-ref-auth-token=base64-abc; theme=dark".parse()?);
/// let observed = Observed::new("203.0.113.7".parse()?, "app.example.com", true)?;
///
/// let out = prepare_upstream_headers(
///     &incoming,
///     &HeaderPolicy::default(),
///     Some(&Token::new("eyJ.a.b")),
///     None,
///     &observed,
/// )?;
/// assert_eq!(out["authorization"], "Bearer eyJ.a.b");
/// assert!(out.get("x-user-id").is_none());
/// assert_eq!(out["cookie"], "theme=dark");
/// assert_eq!(out["x-forwarded-for"], "203.0.113.7");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn prepare_upstream_headers(
    incoming: &HeaderMap,
    policy: &HeaderPolicy,
    access_token: Option<&Token>,
    sub: Option<&uuid::Uuid>,
    observed: &Observed,
) -> Result<HeaderMap, ProxyError> {
    let bearer = access_token.map(bearer_value).transpose()?;
    Ok(prepare_with_bearer(incoming, policy, bearer, sub, observed))
}

/// `Bearer <token>` as a sensitive header value.
pub(crate) fn bearer_value(token: &Token) -> Result<HeaderValue, ProxyError> {
    let mut bearer =
        HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
            ProxyError::InvalidConfig {
                what: "access token is not a header value",
            }
        })?;
    bearer.set_sensitive(true);
    Ok(bearer)
}

/// [`prepare_upstream_headers`] with the `Authorization` value already built.
pub(crate) fn prepare_with_bearer(
    incoming: &HeaderMap,
    policy: &HeaderPolicy,
    bearer: Option<HeaderValue>,
    sub: Option<&uuid::Uuid>,
    observed: &Observed,
) -> HeaderMap {
    let named = connection_named(incoming);
    let mut out = HeaderMap::with_capacity(incoming.len() + 6);
    for (name, value) in incoming {
        let n = normalize(name.as_str());
        if name == header::COOKIE || policy.strips(&n) || named.iter().any(|m| *m == n) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    if let Some(cookies) = forwardable_cookies(incoming) {
        out.insert(header::COOKIE, cookies);
    }
    if let Some(bearer) = bearer {
        out.insert(header::AUTHORIZATION, bearer);
    }
    if policy.user_id
        && let Some(sub) = sub
        // The canonical hyphenated lower-case UUID, never the raw claim text.
        && let Ok(v) = HeaderValue::from_str(&sub.hyphenated().to_string())
    {
        out.insert(HeaderName::from_static("x-user-id"), v);
    }
    use std::fmt::Write as _;
    let proto = if observed.https { "https" } else { "http" };
    let mut client = String::with_capacity(48);
    let _ = write!(client, "{}", observed.client);
    let mut forwarded = String::with_capacity(64 + observed.host.len());
    let _ = match observed.client {
        IpAddr::V4(_) => write!(forwarded, "for={client};proto={proto};host=\""),
        IpAddr::V6(_) => write!(forwarded, "for=\"[{client}]\";proto={proto};host=\""),
    };
    forwarded.push_str(&observed.host);
    forwarded.push('"');
    if let Ok(v) = HeaderValue::from_str(&client) {
        out.insert(HeaderName::from_static("x-forwarded-for"), v);
    }
    out.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(proto),
    );
    out.insert(
        HeaderName::from_static("x-forwarded-host"),
        observed.host_value.clone(),
    );
    if let Ok(v) = HeaderValue::from_str(&forwarded) {
        out.insert(HeaderName::from_static("forwarded"), v);
    }
    out
}

/// Cleans the upstream response's headers before they go back to the browser: hop-by-hop
/// fields and those named in `Connection` are removed, and so is every `Set-Cookie` for an
/// `sb-*` name (only the proxy writes the session cookies).
pub fn filter_upstream_response_headers(headers: &mut HeaderMap) {
    let named = connection_named(headers);
    let drop: Vec<HeaderName> = headers
        .keys()
        .filter(|k| {
            let n = normalize(k.as_str());
            HOP_BY_HOP.contains(&&*n) || named.iter().any(|m| *m == n)
        })
        .cloned()
        .collect();
    for name in drop {
        headers.remove(&name);
    }
    let has_auth_cookie = headers.get_all(header::SET_COOKIE).iter().any(|v| {
        let name = v
            .as_bytes()
            .split(|&b| b == b'=')
            .next()
            .unwrap_or_default();
        is_auth_cookie(name.trim_ascii())
    });
    if !has_auth_cookie {
        return;
    }
    let kept: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter(|v| {
            let name = v
                .as_bytes()
                .split(|&b| b == b'=')
                .next()
                .unwrap_or_default();
            !is_auth_cookie(name.trim_ascii())
        })
        .cloned()
        .collect();
    headers.remove(header::SET_COOKIE);
    for v in kept {
        headers.append(header::SET_COOKIE, v);
    }
}
