#![doc = include_str!("../README.md")]
//!
//! # Feature flags
//!
//! | feature | default | what it does |
//! |---|---|---|
//! | `aws_lc_rs` | yes | AWS-LC crypto backend (fast; builds C code) |
//! | `rust_crypto` | no | pure-Rust RustCrypto backend |
//!
//! With both enabled, AWS-LC is used unless [`VerifierBuilder::backend`] says otherwise; with
//! neither, [`VerifierBuilder::build`] returns [`ConfigError::NoCryptoBackend`]. No combination
//! panics at run time.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod algorithm;
mod claims;
mod crypto;
pub mod dangerous;
mod error;
mod header;
mod keys;
mod verifier;
#[cfg(test)]
mod wycheproof_tests;

pub use algorithm::Algorithm;
pub use claims::{Aal, AmrEntry, Audience, Claims};
pub use crypto::Backend;
pub use error::{ConfigError, Error};
pub use keys::{
    Hs256Secret, JwkSet, KeyRejection, KeySet, KeySource, MAX_JWKS_KEYS, MAX_KID_LEN, RejectedKey,
    StaticKeys,
};
pub use verifier::{
    Clock, DEFAULT_AUDIENCE, DEFAULT_LEEWAY, DEFAULT_MAX_LIFETIME, DEFAULT_MAX_TOKEN_LEN,
    FixedClock, MAX_LEEWAY, MAX_MAX_LIFETIME, SystemClock, TOKEN_LEN_RANGE, Verifier,
    VerifierBuilder,
};
