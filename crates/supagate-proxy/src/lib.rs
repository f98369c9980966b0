#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "client")]
mod body;
#[cfg(feature = "client")]
mod client;
mod csrf;
#[cfg(feature = "client")]
mod decision;
mod error;
mod headers;
#[cfg(feature = "client")]
mod liveness;
mod path;
#[cfg(feature = "client")]
mod pool;
#[cfg(feature = "client")]
mod proxy;
#[cfg(feature = "client")]
mod rate;
mod refresh;
mod refresh_token;
#[cfg(feature = "client")]
mod session_cache;
#[cfg(feature = "client")]
mod sessions;
#[cfg(feature = "client")]
mod single_flight;

#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use body::{BoxError, ProxyBody};
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use client::Limits;
pub use error::{ProxyConfigError, ProxyError};
pub use headers::HeaderPolicy;
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use liveness::AuthServerSessions;
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use proxy::{BackendClient, BackendResponse, Proxy, ProxyBuilder};
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use rate::RateLimit;
pub use refresh::LogoutScope;
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use sessions::{PageContext, PageCookies, PageSession, SessionUser, Sessions, SessionsBuilder};

/// The decision core the [`Proxy`] is built from, each piece a pure function of `http` types
/// (without the `client` feature, this is the whole crate): the CSRF gate, the path rules, the
/// header hygiene in both directions, the auth server's refresh exchange, and the refresh
/// single-flight. Use them to put the same rules in front of a proxy of your own; an
/// application that mounts [`Proxy`] needs none of them.
pub mod core {
    pub use crate::csrf::CsrfGate;
    pub use crate::headers::{
        Observed, filter_upstream_response_headers, prepare_upstream_headers,
    };
    pub use crate::path::Routes;
    pub use crate::refresh::{AuthEndpoint, RefreshNeed, RefreshOutcome};
    pub use crate::refresh_token::RefreshTokenShape;
    #[cfg(feature = "client")]
    #[cfg_attr(docsrs, doc(cfg(feature = "client")))]
    pub use crate::sessions::lifecycle::is_local_path;
    #[cfg(feature = "client")]
    #[cfg_attr(docsrs, doc(cfg(feature = "client")))]
    pub use crate::single_flight::RefreshCoordinator;
}
