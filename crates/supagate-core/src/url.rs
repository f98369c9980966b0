//! The one URL parser of the crate family. Every URL supagate is configured with (the project
//! URL, a JWK set URL, an allowed origin, the upstream of the proxy) goes through [`parse`],
//! under one rule set: `https://`, or `http://` on a loopback host (`localhost`, `127.0.0.0/8`,
//! `[::1]`; for a browser origin also `*.localhost`; for the proxy's upstream any host); a host of letters, digits, `-`, `_` and `.` (or a bracketed IPv6 literal); an
//! optional port in `1..=65535`; no userinfo, query or fragment; a path of visible ASCII.

use std::net::{Ipv4Addr, Ipv6Addr};

/// A parsed `http(s)` URL. Borrowed from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HttpUrl<'a> {
    /// `https` (else `http` on a loopback host).
    pub(crate) https: bool,
    /// The host as written (an IPv6 literal keeps its brackets).
    pub(crate) host: &'a str,
    /// The explicit port, if any.
    pub(crate) port: Option<u16>,
    /// `scheme://host[:port]`, as written.
    pub(crate) origin: &'a str,
    /// Everything after the authority: empty or starting with `/`.
    pub(crate) path: &'a str,
}

/// Parses `url` under the rule set above; `None` when it breaks any rule.
pub(crate) fn parse(url: &str) -> Option<HttpUrl<'_>> {
    parse_with(url, Http::Loopback)
}

/// Where plain `http` is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Http {
    /// A URL this process fetches (the project, a JWK set): `localhost`, `127.0.0.0/8`,
    /// `[::1]` only. Not `*.localhost`: the system resolver sends such names to DNS.
    Loopback,
    /// An origin a browser shows: also `*.localhost`, which browsers resolve to loopback
    /// themselves (a potentially trustworthy origin).
    BrowserLoopback,
    /// Any host (a service on a private network: the proxy's upstream).
    Anywhere,
}

/// [`parse`] with the given `http` rule.
pub(crate) fn parse_with(url: &str, http: Http) -> Option<HttpUrl<'_>> {
    if url
        .bytes()
        .any(|b| !b.is_ascii_graphic() || matches!(b, b'?' | b'#' | b'\\'))
    {
        return None;
    }
    let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else {
        (false, url.strip_prefix("http://")?)
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.contains('@') {
        return None;
    }
    let (host, port) = split_port(authority)?;
    if !valid_host(host) {
        return None;
    }
    let http_ok = match http {
        Http::Anywhere => true,
        Http::BrowserLoopback => is_loopback(host) || is_sub_localhost(host),
        Http::Loopback => is_loopback(host),
    };
    if !https && !http_ok {
        return None;
    }
    let origin = url.get(..url.len() - path.len())?;
    Some(HttpUrl {
        https,
        host,
        port,
        origin,
        path,
    })
}

fn split_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if authority.starts_with('[') {
        let close = authority.find(']')?;
        let (host, after) = authority.split_at(close + 1);
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().ok().filter(|&n| n != 0)?)
        }
        Some(_) => return None,
    };
    Some((host, port))
}

fn valid_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[') {
        return inner
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<Ipv6Addr>().is_ok());
    }
    !host.is_empty()
        && host.len() <= 253
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-'))
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// A name under `localhost` (RFC 6761), which browsers resolve to loopback themselves.
fn is_sub_localhost(host: &str) -> bool {
    host.to_ascii_lowercase().ends_with(".localhost")
}

/// `localhost`, an IPv4 literal in `127.0.0.0/8`, or `[::1]`.
pub(crate) fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host == "[::1]"
        || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted() {
        let u = parse("https://abc.supabase.co/auth/v1").unwrap();
        assert_eq!(
            (u.https, u.host, u.port, u.origin, u.path),
            (
                true,
                "abc.supabase.co",
                None,
                "https://abc.supabase.co",
                "/auth/v1"
            )
        );
        let u = parse("http://127.0.0.1:54321").unwrap();
        assert_eq!((u.host, u.port, u.path), ("127.0.0.1", Some(54321), ""));
        let u = parse("http://[::1]:80/jwks").unwrap();
        assert_eq!((u.host, u.port), ("[::1]", Some(80)));
        for ok in [
            "http://localhost",
            "http://LOCALHOST:3000/",
            "http://127.8.9.10/x",
            "https://a-b.example.com:443",
            "https://[2001:db8::1]/",
            "https://host_with_underscore.internal",
        ] {
            assert!(parse(ok).is_some(), "{ok}");
        }
    }

    #[test]
    fn sub_localhost_only_for_browser_origins() {
        assert!(parse("http://app.localhost:3000").is_none());
        assert!(parse_with("http://app.localhost:3000", Http::BrowserLoopback).is_some());
        assert!(parse_with("http://backend:8000", Http::BrowserLoopback).is_none());
        assert!(parse_with("http://backend:8000", Http::Anywhere).is_some());
    }

    #[test]
    fn refused() {
        for bad in [
            "",
            "abc.supabase.co",
            "ftp://abc.supabase.co",
            "HTTPS://abc.supabase.co",
            "http://abc.supabase.co",
            "http://127.0.0.1.evil.example",
            "http://localhost.evil.example",
            "http://jwks.localhost/j",
            "http://[::2]",
            "https://user:pw@abc.supabase.co",
            "https://@abc.supabase.co",
            "https://abc.supabase.co?x=1",
            "https://abc.supabase.co/#f",
            "https://abc.supabase.co/a b",
            "https://abc.supabase.co\\evil",
            "https://",
            "https://:443",
            "https://abc..co",
            "https://-abc.co",
            "https://abc.co:",
            "https://abc.co:0",
            "https://abc.co:65536",
            "https://abc.co:+80",
            "https://abc.co:80:80",
            "https://[::1",
            "https://[::1]x",
            "https://[zz]",
            "https://ab\u{e9}.co",
            "https://abc.co/\u{7f}",
        ] {
            assert!(parse(bad).is_none(), "{bad:?}");
        }
    }
}
