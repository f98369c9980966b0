#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "client")]
mod body;
#[cfg(feature = "client")]
mod client;
mod csrf;
mod error;
mod headers;
#[cfg(feature = "client")]
mod lifecycle;
mod path;
#[cfg(feature = "client")]
mod proxy;
#[cfg(feature = "client")]
mod rate;
mod refresh;
#[cfg(feature = "client")]
mod session_cache;
#[cfg(feature = "client")]
mod single_flight;

#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use body::{BoxError, ProxyBody};
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use client::Limits;
pub use csrf::CsrfGate;
pub use error::{ProxyConfigError, ProxyError};
pub use headers::{
    HeaderPolicy, Observed, filter_upstream_response_headers, prepare_upstream_headers,
};
pub use path::Routes;
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use proxy::{Proxy, ProxyBuilder};
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use rate::RateLimit;
pub use refresh::{AuthEndpoint, DEFAULT_REFRESH_MARGIN, LogoutScope, RefreshNeed, RefreshOutcome};
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use single_flight::{DEFAULT_MAX_REFRESHES, DEFAULT_REUSE_WINDOW, RefreshCoordinator};
