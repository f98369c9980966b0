#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod clock;
mod error;
pub mod observe;
mod project;
mod refusal;
mod token;
mod url;
mod variables;

pub use clock::{Clock, FixedClock, SystemClock};
pub use error::{EnvError, RequestError, UrlError};
pub use project::{IntoProject, Origin, SupabaseProject, is_fetch_url};
pub use refusal::{refusal_body, refusal_response, retry_after};
pub use token::Token;
pub use variables::Variables;
