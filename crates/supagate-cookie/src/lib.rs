#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod encoding;
mod error;
mod name;
mod pkce;
mod reader;
mod session;
mod shape;
mod writer;

pub use encoding::{BASE64_PREFIX, MAX_CHUNK_SIZE};
pub use error::{CookieConfigError, CookieError};
pub use name::CookieName;
pub use pkce::PkceVerifiers;
pub use reader::{SessionReader, cookie_pairs};
pub use session::Session;
pub use writer::{CookieOptions, CookieScope, Encoding, SameSite, SessionWriter, no_cache_headers};
