#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod notify;
mod plan;
mod rls;
mod sessions;
mod sql;
#[cfg(feature = "sqlx09")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlx09")))]
pub mod sqlx09;
#[cfg(feature = "tokio-postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio-postgres")))]
pub mod tokio_pg;

pub use error::{BoxError, RlsConfigError, RlsError};
pub use notify::{
    SESSION_CHANNEL, SESSION_NOTIFY_MIGRATION, SessionNotifications, SessionNotificationsBuilder,
};
pub use plan::TxPlan;
pub use rls::{Access, AsVerified, DbRole, RequestInfo, Rls, RlsBuilder, Scope, ScopedTx};
pub use sessions::DbSessions;
