//! Preparing the upstream request's headers, and filtering the upstream response's.

use std::borrow::Cow;
use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use supagate_cookie::CookieName;
use supagate_jwt::Token;

use crate::error::{ProxyConfigError, ProxyError};

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
    /// [`ProxyConfigError`](crate::ProxyConfigError) when `host` is not a valid header value.
    pub fn new(
        client: IpAddr,
        host: impl Into<String>,
        https: bool,
    ) -> Result<Self, ProxyConfigError> {
        let host = host.into();
        let bad = || ProxyConfigError {
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

/// Identity, client-address and routing headers a client must never choose for the backend
/// (exact names, normalised). Prefixes are in [`STRIPPED_PREFIXES`]. Why each is here:
/// `docs/security.md`.
const STRIPPED: &[&str] = &[
    "authorization",
    "x-user",
    "forwarded",
    "x-real-ip",
    "host",
    // identity set by an authenticating proxy in front of an app (oauth2-proxy, Apache, nginx)
    "remote-user",
    "x-remote-user",
    // client addresses that CDNs and load balancers set and backends believe
    "true-client-ip",
    "cf-connecting-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "fastly-client-ip",
    // the path or method the backend should "really" serve (IIS, Symfony, Express, ...)
    "x-original-url",
    "x-original-uri",
    "x-rewrite-url",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-original-host",
    // more identity and address headers that gateways and platforms set for their apps
    "x-webauth-user",
    "client-ip",
    "x-originating-ip",
    "cf-access-authenticated-user-email",
    "cf-access-jwt-assertion",
    // the client address Supabase Auth believes from a caller holding a secret key
    "sb-forwarded-for",
];

/// Header name prefixes (normalised) removed for the same reasons.
const STRIPPED_PREFIXES: &[&str] = &[
    "x-user-",
    "x-forwarded-",
    "x-supabase-",
    "x-auth-request-",
    // Azure App Service, AWS ALB, Google IAP, TLS client certificates passed by a proxy
    "x-ms-client-principal",
    "x-amzn-oidc-",
    "x-goog-authenticated-user-",
    "x-ssl-client-",
];

/// Which incoming headers are removed before the proxy adds its own, which cookies are the
/// session's, and whether it adds `X-User-Id`.
///
/// Always removed (names compared case-insensitively, `_` same as `-`): `Authorization`,
/// every `X-User-*`, `X-Supabase-*` and `X-Auth-Request-*`, `Remote-User`, `X-Remote-User`,
/// the client-address headers (`Forwarded`, `X-Forwarded-*`, `X-Real-IP`, `True-Client-IP`,
/// `CF-Connecting-IP`, `X-Client-IP`, `X-Cluster-Client-IP`, `Fastly-Client-IP`), the routing
/// overrides (`X-Original-URL`, `X-Original-URI`, `X-Rewrite-URL`, `X-HTTP-Method-Override`,
/// `X-HTTP-Method`, `X-Method-Override`, `X-Original-Host`), platform identity headers
/// (`X-WebAuth-User`, `X-MS-Client-Principal*`, `X-Amzn-OIDC-*`, `X-Goog-Authenticated-User-*`,
/// `Cf-Access-Authenticated-User-Email`, `Cf-Access-Jwt-Assertion`, `X-SSL-Client-*`,
/// `Client-IP`, `X-Originating-IP`), Supabase Auth's `Sb-Forwarded-For`, `Host`, hop-by-hop fields and those named in
/// `Connection`; and the auth cookies: every `sb-*` cookie and, when a session cookie name is
/// set ([`HeaderPolicy::session_cookie`], done by the proxy from its configuration), that
/// name's whole family (chunks, PKCE slots). The backend gets only the access token.
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
    cookie: Option<CookieName>,
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

    /// The session cookie name whose family (the name, its `.N` chunks, its `-code-verifier`
    /// slots) is removed toward the backend and refused from the backend's `Set-Cookie`, in
    /// addition to every `sb-*` name. [`Proxy`](crate::Proxy) sets its configured name here.
    /// Default: none (only `sb-*`).
    #[must_use]
    pub fn session_cookie(mut self, name: CookieName) -> Self {
        self.cookie = Some(name);
        self
    }

    /// `n` is a [`normalize`]d name.
    fn strips(&self, n: &str) -> bool {
        STRIPPED.contains(&n)
            // Every stripped prefix starts with `x-`: most names are decided by this test.
            || (n.starts_with("x-") && STRIPPED_PREFIXES.iter().any(|p| n.starts_with(p)))
            || HOP_BY_HOP.contains(&n)
            || self.extra.iter().any(|e| e == n)
    }

    /// Whether a cookie name is an auth cookie: `sb-*` (any case, with or without a
    /// `__Host-`/`__Secure-` prefix) or in the configured session cookie's family.
    pub(crate) fn is_auth_cookie(&self, name: &[u8]) -> bool {
        is_sb_cookie(name) || self.cookie.as_ref().is_some_and(|c| c.covers(name))
    }
}

/// A header name as [`normalize`] would give it: `http` names are already lower case and
/// never padded, so only a `_` can need changing (the common case looks at each byte once
/// and allocates nothing).
fn normalize_name(name: &HeaderName) -> Cow<'_, str> {
    let n = name.as_str();
    if has_underscore(n.as_bytes()) {
        Cow::Owned(n.replace('_', "-"))
    } else {
        Cow::Borrowed(n)
    }
}

/// Whether `bytes` has a `_`, eight bytes at a time (header names are short: a search
/// routine's set-up would cost more than the search).
fn has_underscore(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const UNDERSCORES: u64 = u64::from_ne_bytes([b'_'; 8]);
    let mut chunks = bytes.chunks_exact(8);
    let found = chunks.by_ref().any(|c| {
        let mut word = [0u8; 8];
        word.copy_from_slice(c);
        // A zero byte in `x` (a `_` in the chunk) sets its high bit here; a chunk with no
        // zero byte sets none.
        let x = u64::from_ne_bytes(word) ^ UNDERSCORES;
        x.wrapping_sub(ONES) & !x & HIGHS != 0
    });
    found || chunks.remainder().contains(&b'_')
}

/// Lower case, trimmed, `_` as `-`; borrowed when already so (header names from `http` are
/// lower case, so the common case allocates nothing).
fn normalize(name: &str) -> Cow<'_, str> {
    // ASCII trimming: names and `to_str` values are ASCII (and `str::trim` decodes chars).
    let t = name.trim_ascii();
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

/// Whether a `Connection` field lists `token` (an option such as `close`, any case), without
/// collecting the names as [`connection_named`] does.
#[cfg(feature = "client")]
pub(crate) fn connection_lists(headers: &HeaderMap, token: &str) -> bool {
    headers.get_all(header::CONNECTION).iter().any(|v| {
        v.as_bytes()
            .split(|b| *b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// Whether a cookie name is one of Supabase's auth cookies (`sb-*`, any case, with or without
/// a `__Host-`/`__Secure-` prefix in any case).
fn is_sb_cookie(name: &[u8]) -> bool {
    let mut name = name;
    for prefix in [&b"__host-"[..], b"__secure-"] {
        if name
            .get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
        {
            name = name.get(prefix.len()..).unwrap_or_default();
            break;
        }
    }
    name.get(..3)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"sb-"))
}

/// The name and value of a `Set-Cookie` field as a browser reads them (RFC 6265bis §5.6):
/// the part before the first `;`, split at its first `=`; without `=`, the name is empty and
/// the whole part is the value.
fn set_cookie_pair(field: &[u8]) -> (&[u8], &[u8]) {
    let pair = field.split(|&b| b == b';').next().unwrap_or_default();
    match pair.iter().position(|&b| b == b'=') {
        Some(i) => (
            pair.get(..i).unwrap_or_default().trim_ascii(),
            pair.get(i + 1..).unwrap_or_default().trim_ascii(),
        ),
        None => (&[][..], pair.trim_ascii()),
    }
}

/// Whether an upstream `Set-Cookie` could plant or replace an auth cookie: an auth-cookie name
/// (any case), an empty name (browsers store the value as a nameless cookie and send it back
/// bare, so `=sb-…-auth-token=…` arrives as that cookie), or a value that itself starts with an
/// auth-cookie name and `=`.
fn plants_auth_cookie(policy: &HeaderPolicy, field: &[u8]) -> bool {
    let (name, value) = set_cookie_pair(field);
    if name.is_empty() || policy.is_auth_cookie(name) {
        return true;
    }
    value
        .iter()
        .position(|&b| b == b'=')
        .is_some_and(|i| policy.is_auth_cookie(value.get(..i).unwrap_or_default().trim_ascii()))
}

/// The incoming `Cookie` pairs that are not auth cookies, joined into one field.
fn forwardable_cookies(headers: &HeaderMap, policy: &HeaderPolicy) -> Option<HeaderValue> {
    let mut out: Vec<u8> = Vec::new();
    for field in headers.get_all(header::COOKIE) {
        for (pair, name) in supagate_cookie::cookie_pairs(field.as_bytes()) {
            if policy.is_auth_cookie(name) {
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
/// [`ProxyError::Internal`] if the token cannot be a header value (it always can after
/// verification: a JWS is base64url and dots).
///
/// # Examples
///
/// ```
/// use supagate_jwt::Token;
/// use supagate_proxy::HeaderPolicy;
/// use supagate_proxy::core::{Observed, prepare_upstream_headers};
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
    let mut out = incoming.clone();
    prepare_in_place(&mut out, policy, bearer, sub, observed);
    Ok(out)
}

/// `Bearer <token>` as a sensitive header value.
pub(crate) fn bearer_value(token: &Token) -> Result<HeaderValue, ProxyError> {
    let mut bearer =
        HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
            ProxyError::Internal {
                what: "access token is not a header value",
            }
        })?;
    bearer.set_sensitive(true);
    Ok(bearer)
}

/// Writes `ip` as its `Display` does, IPv4 without the formatting machinery (it runs for
/// every forwarded request).
fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                let (h, t, u) = (octet / 100, octet / 10 % 10, octet % 10);
                if h > 0 {
                    out.push(char::from(b'0' + h));
                }
                if h > 0 || t > 0 {
                    out.push(char::from(b'0' + t));
                }
                out.push(char::from(b'0' + u));
            }
        }
        IpAddr::V6(v6) => {
            use std::fmt::Write as _;
            let _ = write!(out, "{v6}");
        }
    }
}

// The names the proxy adds, made once at compile time (`from_static` checks its text each
// time it runs otherwise).
const X_USER_ID: HeaderName = HeaderName::from_static("x-user-id");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");

/// [`prepare_upstream_headers`] on the request's own map (a forwarded request's headers are
/// not needed afterwards), with the `Authorization` value already built: the fields a client
/// may not choose removed, the proxy's added.
pub(crate) fn prepare_in_place(
    headers: &mut HeaderMap,
    policy: &HeaderPolicy,
    bearer: Option<HeaderValue>,
    sub: Option<&uuid::Uuid>,
    observed: &Observed,
) {
    let named = connection_named(headers);
    let cookies = forwardable_cookies(headers, policy);
    // Names, not fields: removing a name removes all its values.
    let removed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            let n = normalize_name(name);
            *name == header::COOKIE || policy.strips(&n) || named.iter().any(|m| *m == n)
        })
        .cloned()
        .collect();
    for name in &removed {
        headers.remove(name);
    }
    if let Some(cookies) = cookies {
        headers.insert(header::COOKIE, cookies);
    }
    if let Some(bearer) = bearer {
        headers.insert(header::AUTHORIZATION, bearer);
    }
    if policy.user_id
        && let Some(sub) = sub
        // The canonical hyphenated lower-case UUID, never the raw claim text.
        && let Ok(v) = HeaderValue::from_str(&sub.hyphenated().to_string())
    {
        headers.insert(X_USER_ID, v);
    }
    let proto = if observed.https { "https" } else { "http" };
    let mut client = String::with_capacity(39);
    push_ip(&mut client, observed.client);
    let mut forwarded = String::with_capacity(40 + client.len() + observed.host.len());
    match observed.client {
        IpAddr::V4(_) => {
            forwarded.push_str("for=");
            forwarded.push_str(&client);
        }
        IpAddr::V6(_) => {
            forwarded.push_str("for=\"[");
            forwarded.push_str(&client);
            forwarded.push_str("]\"");
        }
    }
    forwarded.push_str(";proto=");
    forwarded.push_str(proto);
    forwarded.push_str(";host=\"");
    forwarded.push_str(&observed.host);
    forwarded.push('"');
    // The strings become the values as they are (checked, not copied).
    if let Ok(v) = HeaderValue::from_maybe_shared(bytes::Bytes::from(client)) {
        headers.insert(X_FORWARDED_FOR, v);
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    headers.insert(X_FORWARDED_HOST, observed.host_value.clone());
    if let Ok(v) = HeaderValue::from_maybe_shared(bytes::Bytes::from(forwarded)) {
        headers.insert(FORWARDED, v);
    }
}

/// Cleans the upstream response's headers before they go back to the browser: hop-by-hop
/// fields and those named in `Connection` are removed, and so is every `Set-Cookie` that
/// could plant or replace an auth cookie (only the proxy writes the session cookies): an
/// `sb-*` name or one of `policy`'s session cookie family, in any case; an empty name; a value
/// that starts with such a name and `=`.
///
/// # Examples
///
/// ```
/// use supagate_cookie::CookieName;
/// use supagate_proxy::HeaderPolicy;
/// use supagate_proxy::core::filter_upstream_response_headers;
///
/// let policy = HeaderPolicy::default().session_cookie(CookieName::custom("app-session")?);
/// let mut h = http::HeaderMap::new();
/// for v in ["theme=dark", "app-session.0=forged", "=sb-ref-auth-token=base64-x", "SB-REF-AUTH-TOKEN=x"] {
///     h.append("set-cookie", v.parse()?);
/// }
/// filter_upstream_response_headers(&mut h, &policy);
/// let kept: Vec<_> = h.get_all("set-cookie").iter().collect();
/// assert_eq!(kept, ["theme=dark"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn filter_upstream_response_headers(headers: &mut HeaderMap, policy: &HeaderPolicy) {
    let named = connection_named(headers);
    let drop: Vec<HeaderName> = headers
        .keys()
        .filter(|k| {
            let n = normalize_name(k);
            HOP_BY_HOP.contains(&&*n) || named.iter().any(|m| *m == n)
        })
        .cloned()
        .collect();
    for name in drop {
        headers.remove(&name);
    }
    let planted = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| plants_auth_cookie(policy, v.as_bytes()));
    if !planted {
        return;
    }
    let kept: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter(|v| !plants_auth_cookie(policy, v.as_bytes()))
        .cloned()
        .collect();
    headers.remove(header::SET_COOKIE);
    for v in kept {
        headers.append(header::SET_COOKIE, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `HeaderPolicy::strips` looks at the prefixes only for names that start with `x-`.
    #[test]
    fn every_stripped_prefix_starts_with_x() {
        assert!(STRIPPED_PREFIXES.iter().all(|p| p.starts_with("x-")));
        let policy = HeaderPolicy::default();
        for p in STRIPPED_PREFIXES {
            assert!(policy.strips(&format!("{p}anything")), "{p}");
        }
        assert!(!policy.strips("x-request-id") && !policy.strips("accept"));
    }

    #[test]
    fn an_underscore_is_found_at_every_place() {
        for len in 0..40 {
            let clean = "a".repeat(len);
            assert!(!has_underscore(clean.as_bytes()), "{len}");
            for at in 0..len {
                let mut b = clean.clone().into_bytes();
                b[at] = b'_';
                assert!(has_underscore(&b), "{len} {at}");
                // Bytes next to `_` in value (`^`, `` ` ``, DEL, high bytes) are not `_`.
                for other in [b'^', b'`', 0x7f, 0xdf, 0x5e, 0x00, 0xff] {
                    b[at] = other;
                    assert!(!has_underscore(&b), "{len} {at} {other}");
                }
            }
        }
    }

    /// A name from `http` with `_` is normalised as any other text is.
    #[test]
    fn a_header_name_normalises_as_its_text_does() {
        for n in ["x_forwarded_for", "x-user-id", "accept", "x__a_"] {
            let name = HeaderName::from_bytes(n.as_bytes()).unwrap();
            assert_eq!(normalize_name(&name), normalize(n), "{n}");
        }
    }

    /// Every value of a stripped name goes, whatever its spelling, and each field the proxy
    /// sets is there once: a client's second `Authorization` or `Forwarded` line never
    /// follows ours.
    #[test]
    fn in_place_every_value_of_a_stripped_name_goes_and_ours_are_single() {
        let mut h = HeaderMap::new();
        for (name, value) in [
            ("authorization", "Bearer attacker"),
            ("authorization", "Bearer attacker-2"),
            ("forwarded", "for=10.0.0.1"),
            ("forwarded", "for=10.0.0.2"),
            ("x-forwarded-for", "10.0.0.3"),
            ("x_forwarded_for", "10.0.0.4"),
            ("X-USER-ID", "victim"),
            ("x_user_email", "victim@example.com"),
            ("sb-forwarded-for", "10.0.0.5"),
            ("host", "evil.example"),
            ("connection", "X-Secret, keep-alive"),
            ("x-secret", "hop"),
            ("keep-alive", "timeout=5"),
            ("cookie", "sb-ref-auth-token=base64-e30; theme=dark"),
            ("cookie", "SB-REF-AUTH-TOKEN.0=x; lang=en"),
            ("accept", "application/json"),
            ("accept", "text/html"),
            // Prefixes in their `_` spellings and odd cases (only `x-` names try them).
            ("X_Amzn_Oidc_Data", "forged"),
            ("x_ms_client_principal_name", "victim"),
            ("X-SSL-CLIENT-CERT", "forged"),
        ] {
            h.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static(value),
            );
        }
        let observed =
            Observed::new("203.0.113.7".parse().unwrap(), "app.example.com", true).unwrap();
        prepare_in_place(
            &mut h,
            &HeaderPolicy::default(),
            Some(HeaderValue::from_static("Bearer ours")),
            None,
            &observed,
        );
        let all =
            |n: &str| -> Vec<&str> { h.get_all(n).iter().map(|v| v.to_str().unwrap()).collect() };
        assert_eq!(all("authorization"), ["Bearer ours"]);
        assert_eq!(
            all("forwarded"),
            ["for=203.0.113.7;proto=https;host=\"app.example.com\""]
        );
        assert_eq!(all("x-forwarded-for"), ["203.0.113.7"]);
        assert!(all("x_forwarded_for").is_empty());
        assert!(all("x-user-id").is_empty() && all("x_user_email").is_empty());
        assert!(all("sb-forwarded-for").is_empty() && all("host").is_empty());
        assert!(all("connection").is_empty() && all("x-secret").is_empty());
        assert!(all("keep-alive").is_empty());
        assert!(
            all("x_amzn_oidc_data").is_empty()
                && all("x_ms_client_principal_name").is_empty()
                && all("x-ssl-client-cert").is_empty()
        );
        assert_eq!(all("cookie"), ["theme=dark; lang=en"]);
        assert_eq!(all("accept"), ["application/json", "text/html"]);
    }

    #[test]
    fn push_ip_writes_what_display_writes() {
        let mut samples: Vec<IpAddr> = ["::1", "2001:db8::7", "::ffff:10.0.0.1", "fe80::1:2:3:4"]
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect();
        for a in [0u8, 1, 9, 10, 99, 100, 101, 199, 200, 255] {
            for b in [0u8, 7, 10, 255] {
                samples.push(IpAddr::from([a, b, b.wrapping_add(a), 255 - a]));
            }
        }
        for ip in samples {
            let mut out = String::new();
            push_ip(&mut out, ip);
            assert_eq!(out, ip.to_string());
        }
    }
}
