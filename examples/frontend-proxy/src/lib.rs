//! The frontend proxy of the reference architecture (the role a Next.js route handler plays):
//! the browser holds its Supabase session in HttpOnly cookies, and this service forwards its
//! API calls to the backend with `Authorization: Bearer <verified access token>`, refreshing
//! the session when it is about to expire. Configuration and router, shared by `main` and the
//! integration tests.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::net::SocketAddr;

mod pages;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{any, get, post};
use supagate::auth::AuthenticatorBuilder;
use supagate::axum::pages::SessionLayer;
use supagate::axum::proxy::{callback, forward, forward_to, sign_in, sign_out, start_oauth};
use supagate::proxy::{Proxy, Sessions};

/// The default `BIND` address.
pub const DEFAULT_BIND: &str = "127.0.0.1:3000";
/// The default `SUPABASE_URL`: a local `supabase start`.
pub const DEFAULT_SUPABASE_URL: &str = "http://127.0.0.1:54321";
/// The default `SUPABASE_PUBLISHABLE_KEY`: the public demo publishable key of a local
/// `supabase start`.
pub const DEFAULT_PUBLISHABLE_KEY: &str = "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH";
/// The default `API_URL`: the backend examples' default address.
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:8000";

/// The proxy's configuration, read from the environment.
#[derive(Debug)]
pub struct Config {
    /// The configured proxy.
    pub proxy: Proxy,
    /// Where to listen.
    pub bind: SocketAddr,
    /// A one-line description for the start-up banner (no secrets).
    pub banner: String,
    /// The absolute URL of `/auth/callback` (for OAuth redirects).
    pub callback_url: String,
}

impl Config {
    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    ///
    /// - `SUPABASE_URL` (default `http://127.0.0.1:54321`, a local `supabase start`);
    /// - `SUPABASE_PUBLISHABLE_KEY` (default: the local CLI's public demo key; the legacy
    ///   `SUPABASE_ANON_KEY` is still read, with a deprecation warning): sent as `apikey`;
    /// - `SUPABASE_SECRET_KEY` (optional): with it, every auth-server call made for a client
    ///   carries `Sb-Forwarded-For: <client address>`, so that the auth server rate-limits
    ///   each client instead of this proxy's address (the project must allow IP address
    ///   forwarding);
    /// - `SUPABASE_JWT_SECRET` / `SUPABASE_JWKS_URL`: the verification keys, as the backends
    ///   read them (the JWKS defaults to `<SUPABASE_URL>/auth/v1/.well-known/jwks.json`);
    /// - `API_URL` (default `http://127.0.0.1:8000`): the backend origin;
    /// - `BIND` (default `127.0.0.1:3000`);
    /// - `PUBLIC_ORIGIN` (default `http://<BIND>`): the origin browsers use;
    /// - `ALLOWED_ORIGINS`: other origins allowed to post and to read with credentials,
    ///   comma-separated;
    /// - `TRUSTED_PROXIES`: addresses of reverse proxies in front (such as `127.0.0.1` for
    ///   nginx on the same host), comma-separated, whose `X-Forwarded-For` gives the client
    ///   address;
    /// - `COOKIE_ENCODE` (default `user-and-tokens`): `tokens-only` writes sessions without
    ///   their `user` object, as `@supabase/ssr`'s `cookies.encode: "tokens-only"` (about half
    ///   the cookie);
    /// - `SUPAGATE_TOKEN_CACHE` (default `1` here): the verified-token cache;
    /// - `REFRESH_MARGIN_SECS` (default 90, auth-js's margin): refresh sessions expiring within;
    /// - `RATE_LIMIT_PER_MINUTE` / `RATE_LIMIT_BURST` (default 1200 / 200 per client address,
    ///   half that per user; `0` turns limiting off);
    /// - `AUTH_CALLS_PER_MINUTE` / `AUTH_CALLS_BURST` (default 30 / 10): the calls to the auth
    ///   server (refresh, sign-in, code exchange, sign-out) made for one client address; all of
    ///   them leave from this proxy's address, which the auth server rate-limits (`0` turns the
    ///   budget off, except with `SUPABASE_SECRET_KEY`: then 30 / 10).
    ///
    /// # Errors
    ///
    /// A message naming the invalid variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        Config::from_lookup_with(lookup, |b| b)
    }

    /// [`Config::from_lookup`], with `extra` applied to the app's authenticator last (the
    /// session liveness check of a backend in the same process, say): its pages and its
    /// forwarded calls then use it.
    ///
    /// # Errors
    ///
    /// As [`Config::from_lookup`].
    pub fn from_lookup_with(
        lookup: impl Fn(&str) -> Option<String>,
        extra: impl FnOnce(AuthenticatorBuilder) -> AuthenticatorBuilder,
    ) -> Result<Config, String> {
        Config::from_variables(backend_common::snapshot(lookup, &["BIND"]), extra)
    }

    /// Reads the process environment, once.
    ///
    /// # Errors
    ///
    /// As [`Config::from_lookup`].
    pub fn from_env() -> Result<Config, String> {
        Config::from_variables(supagate::Variables::from_env(), |b| b)
    }

    /// [`Config::from_lookup`] from `vars`: the library's [`supagate::Config`] with this
    /// example's defaults under it.
    ///
    /// # Errors
    ///
    /// As [`Config::from_lookup`].
    pub fn from_variables(
        vars: supagate::Variables,
        extra: impl FnOnce(AuthenticatorBuilder) -> AuthenticatorBuilder,
    ) -> Result<Config, String> {
        let mut vars = vars
            .with_default("SUPABASE_URL", DEFAULT_SUPABASE_URL)
            .with_default("API_URL", DEFAULT_API_URL)
            .with_default("BIND", DEFAULT_BIND)
            // A session's token repeats on every request: verify it once (until it expires,
            // at most 60 s, dropped when its key leaves the JWKS).
            .with_default("SUPAGATE_TOKEN_CACHE", "1");
        // The local CLI's demo key, unless a publishable (or legacy anon) key is given.
        if !vars.is_set("SUPABASE_PUBLISHABLE_KEY") && !vars.is_set("SUPABASE_ANON_KEY") {
            vars = vars.with_default("SUPABASE_PUBLISHABLE_KEY", DEFAULT_PUBLISHABLE_KEY);
        }
        let bind_text = vars.get("BIND").unwrap_or_default().trim().to_owned();
        let bind: SocketAddr = bind_text
            .parse()
            .map_err(|_| format!("BIND: `{bind_text}` is not an address such as {DEFAULT_BIND}"))?;
        let vars = vars.with_default("PUBLIC_ORIGIN", format!("http://{bind_text}"));
        let config = supagate::Config::from_variables(vars).map_err(|e| e.to_string())?;
        // The app's authenticator: the one its pages and its forwarded calls share.
        let auth = extra(config.authenticator().map_err(|e| e.to_string())?)
            .build()
            .map_err(|e| format!("configuration: {e}"))?;
        let sessions = config
            .sessions_builder(auth)
            .map_err(|e| e.to_string())?
            .build()
            .map_err(|e| format!("configuration: {e}"))?;
        let proxy = config
            .proxy_builder(sessions)
            .map_err(|e| e.to_string())?
            .route("/api/", "/")
            .build()
            .map_err(|e| format!("configuration: {e}"))?;
        let p = config.proxy().map_err(|e| e.to_string())?;
        let secret = config.auth_server_keys().secret().is_some();
        let public = p.public_origin.clone().unwrap_or_default();
        let banner = format!(
            "auth {}, backend {}, public origin {public}, keys: {}, rate limit {}, auth calls {}{}",
            config.project(),
            p.upstream.as_deref().unwrap_or_default(),
            config.describe(),
            if p.rate_per_minute == 0 {
                "off".to_owned()
            } else {
                format!("{}/min per address", p.rate_per_minute)
            },
            if p.auth_calls_per_minute == 0 && secret {
                // SessionsBuilder::secret_key keeps a budget on (calls with the key skip CAPTCHA).
                "30/min per address".to_owned()
            } else if p.auth_calls_per_minute == 0 {
                "unlimited".to_owned()
            } else {
                format!("{}/min per address", p.auth_calls_per_minute)
            },
            if secret {
                " (sent with Sb-Forwarded-For: the auth server limits each client)"
            } else {
                ""
            }
        );
        Ok(Config {
            proxy,
            bind,
            banner,
            callback_url: format!("{}/auth/callback", public.trim_end_matches('/')),
        })
    }
}

/// The routes:
///
/// - the app's own pages, server-rendered for the signed-in user under the page session layer
///   (`supagate::axum::pages`): `GET /` (public), `GET /sign-in`, `GET /dashboard`
///   (protected: a browser without a session is sent to `/sign-in?next=%2Fdashboard`),
///   `POST /dashboard/notes` and `POST /dashboard/notes/{id}/delete` (plain HTML forms,
///   the CSRF gate included);
/// - the proxy's routes for browser JavaScript and the session lifecycle: `GET /api/profile`
///   (to the backend's `/profile/me`), `ANY /api/{*path}` (to `/{path}`), `POST
///   /auth/sign-in`, `GET /auth/callback`, `POST /auth/sign-out`, `GET
///   /auth/oauth/{provider}`.
pub fn app(config: &Config) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/sign-in", get(pages::sign_in))
        .route("/dashboard", get(pages::dashboard))
        .route("/dashboard/notes", post(pages::add_note))
        .route("/dashboard/notes/{id}/delete", post(pages::delete_note))
        // Only the pages above: the proxy's own routes below read the session themselves.
        .layer(SessionLayer::with_backend(config.proxy.clone()))
        .route("/api/profile", get(forward_to("/profile/me")))
        .route("/api/{*path}", any(forward))
        .route("/auth/sign-in", post(sign_in))
        .route("/auth/callback", get(callback))
        .route("/auth/sign-out", post(sign_out))
        .route(
            "/auth/oauth/{provider}",
            get(start_oauth(config.callback_url.as_str())),
        )
        .with_state(State {
            sessions: config.proxy.sessions().clone(),
            proxy: config.proxy.clone(),
        })
}

/// The router's state: the proxy for the forwarding routes, its sessions for the sign-in ones.
#[derive(Clone)]
struct State {
    proxy: Proxy,
    sessions: Sessions,
}

impl FromRef<State> for Proxy {
    fn from_ref(state: &State) -> Proxy {
        state.proxy.clone()
    }
}

impl FromRef<State> for Sessions {
    fn from_ref(state: &State) -> Sessions {
        state.sessions.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, String> {
        Config::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn a_secret_key_where_the_publishable_one_belongs_stops_start_up() {
        let secret = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz";
        let e = config(&[("SUPABASE_PUBLISHABLE_KEY", secret)]).unwrap_err();
        assert!(
            e.starts_with("SUPABASE_PUBLISHABLE_KEY: this is a secret key"),
            "{e}"
        );
        assert!(!e.contains("N7UND0"), "{e}");
        let e = config(&[("SUPABASE_SECRET_KEY", DEFAULT_PUBLISHABLE_KEY)]).unwrap_err();
        assert!(
            e.starts_with("SUPABASE_SECRET_KEY: this is a publishable key"),
            "{e}"
        );
        let c = config(&[("SUPABASE_SECRET_KEY", secret)]).unwrap();
        assert!(c.banner.contains("Sb-Forwarded-For"), "{}", c.banner);
        assert!(!c.banner.contains("N7UND0") && !format!("{c:?}").contains("N7UND0"));
    }

    #[test]
    fn a_blank_supabase_url_is_an_error_not_the_local_default() {
        // The local default would also lift the refusal of published secrets.
        let e = config(&[("SUPABASE_URL", " ")]).unwrap_err();
        assert!(e.starts_with("SUPABASE_URL: not set"), "{e}");
        let e = config(&[
            ("SUPABASE_URL", ""),
            (
                "SUPABASE_JWT_SECRET",
                "super-secret-jwt-token-with-at-least-32-characters-long",
            ),
        ])
        .unwrap_err();
        assert!(e.starts_with("SUPABASE_URL"), "{e}");
    }

    #[test]
    fn trusted_proxies_are_addresses() {
        assert!(config(&[("TRUSTED_PROXIES", "127.0.0.1, ::1,")]).is_ok());
        let e = config(&[("TRUSTED_PROXIES", "127.0.0.1,nginx")]).unwrap_err();
        assert!(
            e.starts_with("TRUSTED_PROXIES: `nginx` is not an IP address"),
            "{e}"
        );
    }
}
