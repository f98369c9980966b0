#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod plan;
mod rls;
mod sessions;
mod sql;

pub use error::{RlsConfigError, RlsError};
pub use plan::TxPlan;
pub use rls::{Access, AsVerified, DbRole, RequestInfo, Rls, RlsBuilder, Scope, ScopedTx};
pub use sessions::DbSessions;
