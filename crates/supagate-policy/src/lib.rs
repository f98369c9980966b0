#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod decision;
mod error;
mod policy;
mod requirement;
mod role;

pub use decision::{Decision, Denial, Failure};
pub use error::PolicyError;
pub use policy::{Policy, PolicyBuilder, PolicyConfig};
pub use requirement::Requirement;
pub use role::RoleSource;
