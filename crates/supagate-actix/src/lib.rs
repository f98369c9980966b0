#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod admit;
mod convert;
mod extract;
#[cfg(feature = "live")]
#[cfg_attr(docsrs, doc(cfg(feature = "live")))]
pub mod live;
mod middleware;
#[cfg(feature = "proxy")]
#[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
pub mod pages;
#[cfg(feature = "postgres")]
mod postgres;
mod resource;

pub use admit::Admitted;
pub use extract::{AuthRejection, Authenticated, MaybeAuthenticated};
pub use middleware::{Admit, GateMiddleware, GateMiddlewareService, Require};
#[cfg(feature = "tokio-postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio-postgres")))]
pub use postgres::PgRlsTx;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::{RlsRejection, RlsScope, RlsTx};
pub use resource::ResourceMetadata;
