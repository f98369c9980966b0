#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod extract;
mod middleware;

pub use extract::{AuthRejection, Authenticated, MaybeAuthenticated};
pub use middleware::{Require, RequireMiddleware};
