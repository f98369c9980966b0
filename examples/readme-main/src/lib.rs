//! The repository's README, its Rust blocks compiled as this crate's doctests with the
//! `supagate` facade's paths only: what a newcomer copies must compile. Here, in a crate
//! that is never published, since the README is outside every published package.
#![forbid(unsafe_code)]

/// The README's Rust blocks (doctests; nothing to use).
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct RepositoryReadme;
