#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod extract;
mod layer;
#[cfg(feature = "proxy")]
#[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
pub mod proxy;

pub use extract::{AuthRejection, Claims};
pub use layer::{Require, RequireLayer, ResponseFuture};
pub use supagate_auth::{
    AuthError, Authenticator, AuthenticatorBuilder, Refusal, RefusalBody, Rejection, TokenSource,
};
