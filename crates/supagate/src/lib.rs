#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use supagate_auth::{
    AuthError, Authenticator, AuthenticatorBuilder, Refusal, RefusalBody, Rejection, TokenSource,
};
pub use supagate_cookie::{
    CookieError, CookieName, CookieOptions, SameSite, Session, SessionReader, SessionWriter,
};
pub use supagate_core::{
    Clock, EnvError, FixedClock, Origin, RequestError, SupabaseProject, SystemClock, Token,
    UrlError, Variables,
};

pub mod config;
pub use config::Config;
/// Why an access token was refused: [`supagate_jwt::Error`], named for what it is at the root
/// (the crates' other request errors are [`AuthError`], [`CookieError`], [`Denial`]).
pub use supagate_jwt::Error as TokenError;
#[cfg(feature = "remote_jwks")]
#[cfg_attr(docsrs, doc(cfg(feature = "remote_jwks")))]
pub use supagate_jwt::RemoteJwks;
pub use supagate_jwt::{
    Aal, Claims, ConfigError, Hs256Secret, IssuedBy, JwkSet, Subject, SupabaseConfig,
    ThirdPartyIssuer, Verified, Verifier, VerifierBuilder,
};
pub use supagate_policy::{Decision, Denial, Policy, PolicyConfig, Requirement, RoleSource};

pub mod core {
    //! The shared vocabulary of the crate family: [`supagate_core`].
    pub use supagate_core::*;
}

pub mod jwt {
    #![doc = include_str!("../crate-docs/jwt.md")]
    pub use supagate_jwt::*;
}

pub mod cookie {
    #![doc = include_str!("../crate-docs/cookie.md")]
    pub use supagate_cookie::*;
}

pub mod policy {
    #![doc = include_str!("../crate-docs/policy.md")]
    pub use supagate_policy::*;
}

pub mod auth {
    #![doc = include_str!("../crate-docs/auth.md")]
    pub use supagate_auth::*;
}

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum {
    #![doc = include_str!("../crate-docs/axum.md")]
    pub use supagate_axum::*;
}

#[cfg(feature = "proxy")]
#[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
pub mod proxy {
    #![doc = include_str!("../crate-docs/proxy.md")]
    pub use supagate_proxy::*;
}

#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod postgres {
    //! Row Level Security from Rust, as PostgREST applies it: [`supagate_postgres`].
    pub use supagate_postgres::*;
}

#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub mod actix {
    #![doc = include_str!("../crate-docs/actix.md")]
    pub use supagate_actix::*;
}

#[cfg(feature = "testkit")]
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
pub mod testkit {
    //! Test helpers: [`supagate_testkit`] (access tokens minted from fixed test keys, mock
    //! key sets, auth server and OpenID issuer, session cookies as `@supabase/ssr` writes
    //! them; with `postgres`, a private PostgreSQL). For tests and examples only.
    pub use supagate_testkit::*;
}

#[cfg(feature = "metrics")]
mod metrics;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub use metrics::describe_metrics;

#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
pub mod tonic {
    //! gRPC services on tonic: [`supagate_tonic`] (a gate per service or method, refusals as
    //! gRPC statuses, server streams that end with their token).
    pub use supagate_tonic::*;
}

/// The guides of `docs/` in the repository: architecture, the frontend proxy, server-rendered pages, deployment, key
/// migration and rotation, auth modes (which callers a route admits), Row Level Security and session liveness, common errors, security, migration from other crates, benchmarks.
/// Every Rust example in them is a doctest.
#[cfg(all(
    feature = "axum",
    feature = "actix",
    feature = "proxy",
    feature = "remote_jwks",
    feature = "postgres"
))]
#[cfg_attr(
    docsrs,
    doc(cfg(all(
        feature = "axum",
        feature = "actix",
        feature = "proxy",
        feature = "remote_jwks",
        feature = "postgres"
    )))
)]
#[doc = include_str!(concat!(env!("OUT_DIR"), "/guide/README.md"))]
pub mod guide {
    #[doc = include_str!(concat!(env!("OUT_DIR"), "/guide/architecture.md"))]
    pub mod architecture {}
    #[doc = include_str!(concat!(env!("OUT_DIR"), "/guide/frontend-proxy.md"))]
    pub mod frontend_proxy {}
    #[doc = include_str!(concat!(env!("OUT_DIR"), "/guide/pages.md"))]
    pub mod pages {}
    #[doc = include_str!(concat!(env!("OUT_DIR"), "/guide/deployment.md"))]
    pub mod deployment {}
    #[doc = include_str!(concat!(env!("OUT_DIR"), "/guide/key-migration.md"))]
    pub mod key_migration {}
    #[doc = include_str!(concat!(env!("OUT_DIR"), "/guide/key-rotation.md"))]
    pub mod key_rotation {}
    #[doc = include_str!(concat!(env!("OUT_DIR"), "/guide/auth-modes.md"))]
    pub mod auth_modes {}
    #[doc = include_str!(concat!(env!("OUT_DIR"), "/guide/errors.md"))]
    pub mod errors {}
    #[doc = include_str!(concat!(env!("OUT_DIR"), "/guide/security.md"))]
    pub mod security {}
    #[doc = include_str!(concat!(env!("OUT_DIR"), "/guide/migration.md"))]
    pub mod migration {}
    #[doc = include_str!(concat!(env!("OUT_DIR"), "/guide/postgres.md"))]
    pub mod postgres {}
    #[doc = include_str!(concat!(env!("OUT_DIR"), "/guide/benchmarks.md"))]
    pub mod benchmarks {}
    #[doc = include_str!(concat!(env!("OUT_DIR"), "/guide/frameworks.md"))]
    pub mod frameworks {}
    #[doc = include_str!(concat!(env!("OUT_DIR"), "/guide/observability.md"))]
    pub mod observability {}
    #[cfg(all(feature = "utoipa", feature = "aide"))]
    #[doc = include_str!(concat!(env!("OUT_DIR"), "/guide/openapi.md"))]
    pub mod openapi {}
    #[cfg(feature = "tonic")]
    #[doc = include_str!(concat!(env!("OUT_DIR"), "/guide/grpc.md"))]
    pub mod grpc {}
    #[cfg(all(feature = "live", feature = "axum", feature = "actix"))]
    #[doc = include_str!(concat!(env!("OUT_DIR"), "/guide/live.md"))]
    pub mod live {}
}
