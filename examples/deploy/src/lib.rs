//! Deployment recipes for the reference architecture (`docs/deployment.md`):
//!
//! - [`NGINX_CONF`] (`nginx/supagate.conf`): nginx terminating TLS in front of
//!   `frontend-proxy`, tested in CI by `tests/nginx.rs` against Debian's nginx;
//! - `systemd/*.service`: units for `frontend-proxy` and `backend-axum` (documented, not run);
//! - `Dockerfile`: one image with both services (documented, not built: no Docker engine on
//!   the test machine).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// The nginx site configuration, as shipped in `nginx/supagate.conf`.
pub const NGINX_CONF: &str = include_str!("../nginx/supagate.conf");
