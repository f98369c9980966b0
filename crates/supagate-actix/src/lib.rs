#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod admit;
mod extract;
mod middleware;
mod resource;

pub use admit::{Admit, AdmitMiddleware, Admitted};
pub use extract::{AuthRejection, Authenticated, MaybeAuthenticated};
pub use middleware::{Require, RequireMiddleware};
pub use resource::ResourceMetadata;
