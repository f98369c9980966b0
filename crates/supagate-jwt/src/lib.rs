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
mod cache;
mod claims;
mod crypto;
pub mod dangerous;
mod env;
mod error;
mod header;
mod keys;
#[cfg(feature = "remote_jwks")]
mod remote;
mod third_party;
mod verifier;
#[cfg(all(test, any(feature = "aws_lc_rs", feature = "rust_crypto")))]
mod wycheproof_tests;

pub use algorithm::Algorithm;
pub use cache::TokenCacheConfig;
pub use claims::{Aal, AmrEntry, Audience, Claims, IssuedBy, Subject};
pub use crypto::CryptoBackend;
pub use env::SupabaseConfig;
pub use error::{ConfigError, Error};
pub use keys::{Hs256Secret, JwkSet, KeyRejection, KeySource, PreparedKeys, RejectedKey};

#[cfg(feature = "remote_jwks")]
pub use remote::{RemoteJwks, RemoteJwksBuilder};
pub use third_party::ThirdPartyIssuer;
pub use verifier::{Verified, Verifier, VerifierBuilder};

// The shared vocabulary, from `supagate-core`, where it lives.
pub use supagate_core::{
    Clock, EnvError, FixedClock, IntoProject, Origin, RequestError, SupabaseProject, SystemClock,
    Token, UrlError, Variables,
};
