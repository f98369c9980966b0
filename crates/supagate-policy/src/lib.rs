#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod policy;

pub use error::PolicyError;
pub use policy::{
    Decision, Denial, Failure, Policy, PolicyBuilder, PolicyConfig, Requirement, RoleSource,
};
