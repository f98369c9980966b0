#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod admit;
#[cfg(feature = "aide")]
#[cfg_attr(docsrs, doc(cfg(feature = "aide")))]
pub mod aide;
pub mod ext;
mod extract;
mod layer;
#[cfg(feature = "live")]
#[cfg_attr(docsrs, doc(cfg(feature = "live")))]
pub mod live;
#[cfg(feature = "proxy")]
#[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
pub mod pages;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "proxy")]
#[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
pub mod proxy;
mod resource;

pub use admit::{AdmitLayer, Admitted};
pub use extract::{AuthRejection, Authenticated};
pub use layer::RequireLayer;
#[cfg(feature = "tokio-postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio-postgres")))]
pub use postgres::PgRlsTx;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::{RlsRejection, RlsScope, RlsTx};
pub use resource::ResourceMetadata;
/// The generic gate layer that [`RequireLayer`] and [`AdmitLayer`] are uses of, for any tower
/// service: [`GateLayer`], [`GateService`] and its future.
pub use supagate_auth::tower::{GateFuture, GateLayer, GateService};
