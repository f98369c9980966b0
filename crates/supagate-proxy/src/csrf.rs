//! [`CsrfGate`]: refuse cross-site state-changing requests that ride the session cookie.

use http::header::{HeaderMap, ORIGIN};
use http::{HeaderName, Method};

use supagate_jwt::Origin;

use crate::error::{ProxyConfigError, ProxyError};

const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// The CSRF gate for unsafe methods (anything but `GET` and `HEAD`; `OPTIONS` and `TRACE`
/// included):
/// `Sec-Fetch-Site` must be `same-origin` (or `same-site` when allowed); otherwise the single
/// `Origin` must be one of the allowed origins, compared exactly. `Origin: null`, several
/// `Origin` fields, or neither header is refused (403): fail safe, stricter than Next.js.
///
/// # Examples
///
/// ```
/// use http::{HeaderMap, Method};
/// use supagate_proxy::core::CsrfGate;
///
/// let gate = CsrfGate::new(["https://app.example.com"])?;
/// let mut h = HeaderMap::new();
/// assert!(gate.check(&Method::POST, &h).is_err()); // neither header
/// h.insert("sec-fetch-site", "same-origin".parse().unwrap());
/// assert!(gate.check(&Method::POST, &h).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrfGate {
    origins: Vec<Origin>,
    same_site: bool,
}

impl CsrfGate {
    /// Allowed origins, as browsers send them (`https://app.example.com`, no path, no trailing
    /// `/`). The list may be empty (then only `Sec-Fetch-Site: same-origin` passes).
    ///
    /// # Errors
    ///
    /// [`ProxyConfigError`](crate::ProxyConfigError) for `*`, `null`, a value with a path, or anything else
    /// [`supagate_jwt::Origin::parse`] refuses.
    pub fn new<I, S>(origins: I) -> Result<Self, ProxyConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let origins = origins
            .into_iter()
            .map(|o| Origin::parse(&o.into()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| ProxyConfigError {
                what: "allowed origins must be scheme://host[:port] (https unless on a loopback host)",
            })?;
        Ok(CsrfGate {
            origins,
            same_site: false,
        })
    }

    /// Also accepts `Sec-Fetch-Site: same-site` (a sibling subdomain). Default: off.
    #[must_use]
    pub fn allow_same_site(mut self, yes: bool) -> Self {
        self.same_site = yes;
        self
    }

    /// Checks a request.
    ///
    /// # Errors
    ///
    /// [`ProxyError::CsrfRejected`] (403).
    pub fn check(&self, method: &Method, headers: &HeaderMap) -> Result<(), ProxyError> {
        // Only GET and HEAD are safe here: an OPTIONS that is not a CORS preflight, and TRACE,
        // would otherwise reach the backend with the user's bearer from any site.
        if matches!(*method, Method::GET | Method::HEAD) {
            return Ok(());
        }
        let mut sites = headers.get_all(SEC_FETCH_SITE).iter();
        if let (Some(site), None) = (sites.next(), sites.next()) {
            let site = site.as_bytes();
            if site.eq_ignore_ascii_case(b"same-origin")
                || (self.same_site && site.eq_ignore_ascii_case(b"same-site"))
            {
                return Ok(());
            }
        }
        let mut origins = headers.get_all(ORIGIN).iter();
        match (origins.next(), origins.next()) {
            (Some(origin), None)
                if origin.as_bytes() != b"null"
                    && self.origins.iter().any(|o| o.matches(origin.as_bytes())) =>
            {
                Ok(())
            }
            _ => Err(ProxyError::CsrfRejected),
        }
    }
}
