#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod csrf;
mod error;
mod headers;
mod path;
mod refresh;
mod single_flight;

pub use csrf::CsrfGate;
pub use error::ProxyError;
pub use headers::{
    HeaderPolicy, Observed, filter_upstream_response_headers, prepare_upstream_headers,
};
pub use path::Routes;
pub use refresh::{AuthEndpoint, DEFAULT_REFRESH_MARGIN, RefreshNeed, RefreshOutcome};
pub use single_flight::{DEFAULT_REUSE_WINDOW, RefreshCoordinator};
