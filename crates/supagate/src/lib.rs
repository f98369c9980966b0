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
#[cfg(feature = "remote_jwks")]
#[cfg_attr(docsrs, doc(cfg(feature = "remote_jwks")))]
pub use supagate_jwt::RemoteJwks;
pub use supagate_jwt::{
    Aal, Claims, ConfigError, EnvError, Error, FixedClock, Hs256Secret, JwkSet, Origin,
    SupabaseConfig, SupabaseProject, Token, Verified, Verifier, VerifierBuilder,
};
pub use supagate_policy::{Decision, Denial, Policy, PolicyConfig, Requirement, RoleSource};

/// Token verification: the whole of [`supagate-jwt`](https://docs.rs/supagate-jwt).
pub mod jwt {
    pub use supagate_jwt::*;
}

/// Session cookies: the whole of [`supagate-cookie`](https://docs.rs/supagate-cookie).
pub mod cookie {
    pub use supagate_cookie::*;
}

/// Role policy: the whole of [`supagate-policy`](https://docs.rs/supagate-policy).
pub mod policy {
    pub use supagate_policy::*;
}

/// Framework-free request authentication: the whole of
/// [`supagate-auth`](https://docs.rs/supagate-auth).
pub mod auth {
    pub use supagate_auth::*;
}

/// axum 0.8 extractors and layers: [`supagate-axum`](https://docs.rs/supagate-axum).
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum {
    pub use supagate_axum::*;
}

/// The frontend proxy: [`supagate-proxy`](https://docs.rs/supagate-proxy).
#[cfg(feature = "proxy")]
#[cfg_attr(docsrs, doc(cfg(feature = "proxy")))]
pub mod proxy {
    pub use supagate_proxy::*;
}

/// actix-web 4 extractors and middleware: [`supagate-actix`](https://docs.rs/supagate-actix).
#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub mod actix {
    pub use supagate_actix::*;
}

/// The guides of `docs/` in the repository: architecture, the frontend proxy, deployment, key
/// migration and rotation, common errors, security, migration from other crates, benchmarks.
/// Every Rust example in them is a doctest.
#[cfg(all(
    feature = "axum",
    feature = "actix",
    feature = "proxy",
    feature = "remote_jwks"
))]
#[cfg_attr(
    docsrs,
    doc(cfg(all(
        feature = "axum",
        feature = "actix",
        feature = "proxy",
        feature = "remote_jwks"
    )))
)]
#[doc = include_str!(concat!(env!("OUT_DIR"), "/guide/README.md"))]
pub mod guide {
    #[doc = include_str!(concat!(env!("OUT_DIR"), "/guide/architecture.md"))]
    pub mod architecture {}
    #[doc = include_str!(concat!(env!("OUT_DIR"), "/guide/frontend-proxy.md"))]
    pub mod frontend_proxy {}
    #[doc = include_str!(concat!(env!("OUT_DIR"), "/guide/deployment.md"))]
    pub mod deployment {}
    #[doc = include_str!(concat!(env!("OUT_DIR"), "/guide/key-migration.md"))]
    pub mod key_migration {}
    #[doc = include_str!(concat!(env!("OUT_DIR"), "/guide/key-rotation.md"))]
    pub mod key_rotation {}
    #[doc = include_str!(concat!(env!("OUT_DIR"), "/guide/errors.md"))]
    pub mod errors {}
    #[doc = include_str!(concat!(env!("OUT_DIR"), "/guide/security.md"))]
    pub mod security {}
    #[doc = include_str!(concat!(env!("OUT_DIR"), "/guide/migration.md"))]
    pub mod migration {}
    #[doc = include_str!(concat!(env!("OUT_DIR"), "/guide/benchmarks.md"))]
    pub mod benchmarks {}
}
