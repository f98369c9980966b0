#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod api_keys;
mod authenticator;
mod bearer;
mod error;
mod gate;
#[cfg(feature = "watch")]
#[cfg_attr(docsrs, doc(cfg(feature = "watch")))]
pub mod live;
mod liveness;
mod modes;
mod observe;
pub mod openapi;
mod refusal;
mod resource;
mod server_keys;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;
#[cfg(feature = "watch")]
mod watch;

pub use api_keys::{ApiKeyError, ApiKeyKind, ApiKeys, ApiKeysBuilder};
pub use authenticator::{Authenticator, AuthenticatorBuilder, RequestHeaders, TokenSource};
pub use error::{AuthConfigError, AuthError};
pub use gate::{Admission, CallerLookup, Gate, UserLookup};
pub use liveness::{
    BoxFuture, SessionEnd, SessionKey, SessionLiveness, SessionLivenessBuilder, SessionSource,
    SessionState, SourceUnavailable,
};
pub use modes::{AuthMode, AuthModeError, AuthModes, Caller, KeySelector};
pub use refusal::{Refusal, RefusalBody, Rejection};
pub use resource::ProtectedResource;
pub use server_keys::{AuthServerKeys, KeyFormatError, PublishableKey, SecretKey, is_secret_key};
#[cfg(feature = "watch")]
#[cfg_attr(docsrs, doc(cfg(feature = "watch")))]
pub use watch::{MIN_LIVENESS_INTERVAL, Watch};
