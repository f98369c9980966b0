//! The frontend proxy of the reference architecture (the role a Next.js route handler plays):
//! the browser holds its Supabase session in HttpOnly cookies, and this service forwards its
//! API calls to the backend with `Authorization: Bearer <verified access token>`, refreshing
//! the session when it is about to expire. Configuration and router, shared by `main` and the
//! integration tests.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::net::SocketAddr;

use axum::Router;
use axum::response::Html;
use axum::routing::{any, get, post};
use supagate::axum::proxy::{callback, forward, forward_to, sign_in, sign_out, start_oauth};
use supagate::proxy::{Proxy, RateLimit};

/// The default `BIND` address.
pub const DEFAULT_BIND: &str = "127.0.0.1:3000";
/// The default `SUPABASE_URL`: a local `supabase start`.
pub const DEFAULT_SUPABASE_URL: &str = "http://127.0.0.1:54321";
/// The default `SUPABASE_ANON_KEY`: the public demo anon key of a local `supabase start`.
pub const DEFAULT_ANON_KEY: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0";
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
    /// - `SUPABASE_ANON_KEY` (default: the local CLI's public demo key): sent as `apikey`;
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
    /// - `SUPAGATE_TOKEN_CACHE` (default `1` here): the verified-token cache;
    /// - `REFRESH_MARGIN_SECS` (default 90, auth-js's margin): refresh sessions expiring within;
    /// - `RATE_LIMIT_PER_MINUTE` / `RATE_LIMIT_BURST` (default 1200 / 200 per client address,
    ///   half that per user; `0` turns limiting off);
    /// - `AUTH_CALLS_PER_MINUTE` / `AUTH_CALLS_BURST` (default 30 / 10): the calls to the auth
    ///   server (refresh, sign-in, code exchange, sign-out) made for one client address; all of
    ///   them leave from this proxy's address, which the auth server rate-limits (`0` turns the
    ///   budget off).
    ///
    /// # Errors
    ///
    /// A message naming the invalid variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        Config::from_lookup_with(lookup, |b| b)
    }

    /// [`Config::from_lookup`], with `extra` applied to the proxy's builder last (the session
    /// liveness check of a backend in the same process, say).
    ///
    /// # Errors
    ///
    /// As [`Config::from_lookup`].
    pub fn from_lookup_with(
        lookup: impl Fn(&str) -> Option<String>,
        extra: impl FnOnce(supagate::proxy::ProxyBuilder) -> supagate::proxy::ProxyBuilder,
    ) -> Result<Config, String> {
        let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let url = get("SUPABASE_URL").unwrap_or_else(|| DEFAULT_SUPABASE_URL.to_owned());
        let key = get("SUPABASE_ANON_KEY").unwrap_or_else(|| DEFAULT_ANON_KEY.to_owned());
        let bind_text = get("BIND").unwrap_or_else(|| DEFAULT_BIND.to_owned());
        // The verifier exactly as the backends build it.
        let backend = backend_common::Config::from_lookup(|name| match name {
            "SUPABASE_URL" => Some(url.clone()),
            "BIND" => Some(bind_text.clone()),
            // A session's token repeats on every request: verify it once (until it expires,
            // at most 60 s, dropped when its key leaves the JWKS).
            "SUPAGATE_TOKEN_CACHE" => Some(lookup(name).unwrap_or_else(|| "1".to_owned())),
            other => lookup(other),
        })?;
        let bind = backend.bind;
        let api = get("API_URL").unwrap_or_else(|| DEFAULT_API_URL.to_owned());
        let public = get("PUBLIC_ORIGIN").unwrap_or_else(|| format!("http://{bind_text}"));
        // A comma-separated list, empty entries ignored.
        let list = |name: &str| -> Vec<String> {
            get(name)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|e| !e.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let origins = list("ALLOWED_ORIGINS");
        let trusted = list("TRUSTED_PROXIES")
            .iter()
            .map(|a| {
                a.parse::<std::net::IpAddr>()
                    .map_err(|_| format!("TRUSTED_PROXIES: `{a}` is not an IP address"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let number = |name: &str, default: u32| -> Result<u32, String> {
            match get(name) {
                None => Ok(default),
                Some(v) => v
                    .parse()
                    .map_err(|_| format!("{name}: `{v}` is not a number")),
            }
        };
        let per_minute = number("RATE_LIMIT_PER_MINUTE", 1200)?;
        let margin = number("REFRESH_MARGIN_SECS", 90)?;
        let burst = number("RATE_LIMIT_BURST", 200)?;
        let auth_per_minute = number("AUTH_CALLS_PER_MINUTE", 30)?;
        let auth_burst = number("AUTH_CALLS_BURST", 10)?;
        let proxy = Proxy::builder(url.as_str(), key, backend.auth.verifier().clone())
            .upstream(api.as_str())
            .public_origin(public.as_str())
            .allowed_origins(origins.iter().cloned())
            .trusted_proxies(trusted)
            .route("/api/", "/")
            .refresh_margin(std::time::Duration::from_secs(u64::from(margin)))
            .rate_limit(
                RateLimit::new()
                    .per_client_address(per_minute, burst)
                    .per_user(per_minute / 2, burst / 2)
                    .auth_calls_per_client_address(auth_per_minute, auth_burst),
            );
        let proxy = extra(proxy)
            .build()
            .map_err(|e| format!("configuration: {e}"))?;
        let banner = format!(
            "auth {url}, backend {api}, public origin {public}, keys: {}, rate limit {}, auth calls {}",
            backend.keys,
            if per_minute == 0 {
                "off".to_owned()
            } else {
                format!("{per_minute}/min per address")
            },
            if auth_per_minute == 0 {
                "unlimited".to_owned()
            } else {
                format!("{auth_per_minute}/min per address")
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

/// A page with a sign-in form and a button that calls the API through the proxy: the whole
/// browser side, with no token in JavaScript.
const INDEX: &str = r#"<!doctype html>
<html lang="en"><meta charset="utf-8"><title>supagate frontend proxy</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; color: #222; }
  section { border: 1px solid #ccc; border-radius: 6px; padding: 0.8rem 1rem; margin: 1rem 0; }
  pre { background: #f6f6f6; padding: 0.5rem; white-space: pre-wrap; word-break: break-all; }
  .ok { color: #0a7a2f; } .no { color: #b00020; }
</style>
<h1>supagate frontend proxy</h1>
<p>The session lives in HttpOnly cookies: this page's JavaScript never sees a token. It calls
<code>/api/…</code> and the proxy forwards with <code>Authorization: Bearer</code>.</p>
<section>
  <h2>Sign in</h2>
  <form method="post" action="/auth/sign-in">
    <input type="hidden" name="next" value="/">
    <label>Email <input id="email" name="email" type="email" autocomplete="username"></label>
    <label>Password <input id="password" name="password" type="password" autocomplete="current-password"></label>
    <button id="signin">Sign in</button>
  </form>
  <form method="post" action="/auth/sign-out?next=/"><button id="signout">Sign out</button></form>
</section>
<section>
  <h2>Dashboard <button id="reload">Reload</button></h2>
  <p>GET /api/profile <span id="profile-status"></span></p><pre id="profile"></pre>
  <p>GET /api/admin/stats <span id="admin-status"></span></p><pre id="admin"></pre>
  <p>document.cookie: <code id="cookies"></code></p>
</section>
<section>
  <h2>Notes <small>(Row Level Security: when the backend has them)</small></h2>
  <p>GET /api/notes <span id="notes-status"></span></p><pre id="notes"></pre>
  <form id="note-form">
    <input id="note-body" placeholder="a note" maxlength="200">
    <label><input id="note-public" type="checkbox"> public</label>
    <button id="note-add">Add</button> <span id="note-add-status"></span>
  </form>
</section>
<script>
async function call(path, id) {
  const r = await fetch(path);
  const status = document.getElementById(id + "-status");
  status.textContent = r.status;
  status.className = r.ok ? "ok" : "no";
  document.getElementById(id).textContent = await r.text();
}
async function load() {
  await Promise.all([
    call("/api/profile", "profile"),
    call("/api/admin/stats", "admin"),
    call("/api/notes", "notes"),
  ]);
  document.getElementById("cookies").textContent = JSON.stringify(document.cookie);
  document.body.dataset.loaded = String(Date.now());
}
document.getElementById("reload").onclick = load;
document.getElementById("note-form").onsubmit = async (e) => {
  e.preventDefault();
  const r = await fetch("/api/notes", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      body: document.getElementById("note-body").value,
      public: document.getElementById("note-public").checked,
    }),
  });
  document.getElementById("note-add-status").textContent = r.status;
  await load();
};
load();
</script>
</html>
"#;

/// The routes: `GET /api/profile` (to the backend's `/profile/me`), `ANY /api/{*path}` (to
/// `/{path}`), `POST /auth/sign-in`, `GET /auth/callback`, `POST /auth/sign-out`,
/// `GET /auth/oauth/{provider}`, and `/` (a minimal page).
pub fn app(config: &Config) -> Router {
    Router::new()
        .route("/", get(|| async { Html(INDEX) }))
        .route("/api/profile", get(forward_to("/profile/me")))
        .route("/api/{*path}", any(forward))
        .route("/auth/sign-in", post(sign_in))
        .route("/auth/callback", get(callback))
        .route("/auth/sign-out", post(sign_out))
        .route(
            "/auth/oauth/{provider}",
            get(start_oauth(config.callback_url.as_str())),
        )
        .with_state(config.proxy.clone())
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
    fn trusted_proxies_are_addresses() {
        assert!(config(&[("TRUSTED_PROXIES", "127.0.0.1, ::1,")]).is_ok());
        assert_eq!(
            config(&[("TRUSTED_PROXIES", "127.0.0.1,nginx")]).unwrap_err(),
            "TRUSTED_PROXIES: `nginx` is not an IP address"
        );
    }
}
