//! `examples/deploy/nginx/supagate.conf` for real: Debian's nginx terminates TLS (a self-signed
//! certificate made here with `openssl`) in front of `frontend-proxy`, itself in front of
//! `backend-axum`, with `MockAuth` as Supabase Auth, all on loopback. curl is the browser; it
//! connects from 127.0.0.3 so that the client address differs from nginx's (127.0.0.1).
//!
//! Runs when `SUPAGATE_NGINX=1` (`.ci/test` sets it, `.ci/run` installs nginx).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::middleware::{Next, from_fn};
use serde_json::{Value, json};
use supagate_testkit::MockAuth;

const CLIENT_IP: &str = "127.0.0.3";

/// What the backend received: path and headers (lower-case names).
type Seen = Arc<Mutex<Vec<(String, Vec<(String, String)>)>>>;

fn enabled() -> bool {
    std::env::var("SUPAGATE_NGINX").is_ok_and(|v| v == "1")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

/// Every value of `name` in a header list with lower-case names.
fn values<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        values(&self.headers, name).first().copied()
    }

    fn all(&self, name: &str) -> Vec<&str> {
        values(&self.headers, name)
    }
}

/// `nginx` with this test's prefix, configuration and error log.
fn nginx(dir: &Path, conf: &Path) -> Command {
    let mut cmd = Command::new("nginx");
    cmd.arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(conf)
        .arg("-e")
        .arg(dir.join("error.log"));
    cmd
}

struct Nginx {
    child: Child,
    dir: PathBuf,
    conf: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // Through the pid file, so that the workers stop with the master.
        let _ = nginx(&self.dir, &self.conf)
            .args(["-s", "stop"])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Deployment {
    auth: MockAuth,
    seen: Seen,
    https: u16,
    http: u16,
    dir: PathBuf,
    _nginx: Nginx,
    _runtime: tokio::runtime::Runtime,
}

impl Deployment {
    fn start() -> Deployment {
        let dir = std::env::temp_dir().join(format!("supagate-nginx-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();

        // A self-signed certificate for `localhost`, as a test stands in for a real one.
        run(Command::new("openssl").current_dir(&dir).args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
        ]));

        let auth = MockAuth::start();
        auth.add_user(
            "admin@example.com",
            "admin-password",
            json!({"provider": "email", "role": "admin"}),
        );
        // An OAuth user with a large profile: a 12 KB access token, a ~33 KB session cookie.
        auth.add_user(
            "oauth@example.com",
            "oauth-password",
            json!({"provider": "github"}),
        );
        auth.set_user_metadata(
            "oauth@example.com",
            json!({"avatar_url": "https://example.com/a.png", "bio": "b".repeat(11_500)}),
        );
        let (https, http) = (free_port(), free_port());
        let public = format!("https://localhost:{https}");
        let seen: Seen = Arc::default();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let url = auth.url();
        let log = seen.clone();
        let frontend: SocketAddr = runtime.block_on(async move {
            // backend-axum as its binary builds it, plus a layer recording what reaches it.
            let config = backend_common::Config::from_lookup(|name| match name {
                "SUPABASE_URL" => Some(url.clone()),
                _ => None,
            })
            .unwrap();
            let backend = backend_axum::app(config.auth, config.resource)
                .unwrap()
                .layer(from_fn(move |req: Request, next: Next| {
                    let log = log.clone();
                    async move {
                        let headers = req
                            .headers()
                            .iter()
                            .map(|(k, v)| {
                                (
                                    k.as_str().to_owned(),
                                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                                )
                            })
                            .collect();
                        log.lock()
                            .unwrap()
                            .push((req.uri().path().to_owned(), headers));
                        next.run(req).await
                    }
                }));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let backend_addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, backend).await });

            // frontend-proxy as its binary builds it, configured as the recipe says.
            let api = format!("http://{backend_addr}");
            let config = frontend_proxy::Config::from_lookup(|name| match name {
                "SUPABASE_URL" => Some(url.clone()),
                "SUPABASE_PUBLISHABLE_KEY" => {
                    Some(supagate_testkit::TestKeys::PUBLISHABLE_KEY.to_owned())
                }
                "API_URL" => Some(api.clone()),
                "BIND" => Some("127.0.0.1:0".to_owned()),
                "PUBLIC_ORIGIN" => Some(public.clone()),
                "TRUSTED_PROXIES" => Some("127.0.0.1".to_owned()),
                _ => None,
            })
            .unwrap();
            let app =
                frontend_proxy::app(&config).into_make_service_with_connect_info::<SocketAddr>();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await });
            addr
        });

        // The recipe itself, with this test's ports and paths.
        let mut site = deploy::NGINX_CONF.to_owned();
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        for (from, to, count) in [
            (
                "server 127.0.0.1:3000;".to_owned(),
                format!("server {frontend};"),
                1,
            ),
            (
                "listen 80;".to_owned(),
                format!("listen 127.0.0.1:{http};"),
                1,
            ),
            (
                "listen 443 ssl http2;".to_owned(),
                format!("listen 127.0.0.1:{https} ssl http2;"),
                1,
            ),
            (
                "server_name app.example.com;".to_owned(),
                "server_name localhost;".to_owned(),
                2,
            ),
            (
                "/etc/ssl/certs/app.example.com.pem".to_owned(),
                cert.display().to_string(),
                1,
            ),
            (
                "/etc/ssl/private/app.example.com.key".to_owned(),
                key.display().to_string(),
                1,
            ),
        ] {
            assert_eq!(site.matches(&from).count(), count, "recipe changed: {from}");
            site = site.replace(&from, &to);
        }
        std::fs::write(dir.join("site.conf"), site).unwrap();
        let d = dir.display();
        let conf = dir.join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "pid {d}/nginx.pid;\nerror_log {d}/error.log warn;\nworker_processes 1;\n\
                 events {{ worker_connections 256; }}\n\
                 http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  \
                 proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
                 uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
                 include {d}/site.conf;\n}}\n"
            ),
        )
        .unwrap();
        run(nginx(&dir, &conf).arg("-t"));
        let child = nginx(&dir, &conf)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .spawn()
            .expect("nginx (Debian package `nginx`) must be installed");
        let nginx = Nginx {
            child,
            dir: dir.clone(),
            conf,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", https)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Deployment {
            auth,
            seen,
            https,
            http,
            dir,
            _nginx: nginx,
            _runtime: runtime,
        }
    }

    /// curl from 127.0.0.1's neighbour 127.0.0.3, trusting only the test certificate, with the
    /// cookie jar when `jar` is set; never follows redirects.
    fn curl(&self, url: &str, jar: bool, args: &[&str]) -> Reply {
        let headers = self.dir.join("headers.txt");
        let body = self.dir.join("body.txt");
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "10", "--interface", CLIENT_IP])
            .arg("--cacert")
            .arg(self.dir.join("cert.pem"))
            .arg("--resolve")
            .arg(format!("localhost:{}:127.0.0.1", self.https))
            .arg("--resolve")
            .arg(format!("localhost:{}:127.0.0.1", self.http))
            .arg("-D")
            .arg(&headers)
            .arg("-o")
            .arg(&body)
            .args(["-w", "%{http_code}"]);
        if jar {
            let jar: &Path = &self.dir.join("jar.txt");
            cmd.arg("-c").arg(jar).arg("-b").arg(jar);
        }
        let out = cmd.args(args).arg(url).output().unwrap();
        assert!(
            out.status.success(),
            "curl {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let status = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        let text = std::fs::read_to_string(&headers).unwrap();
        let headers = text
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Reply {
            status,
            headers,
            body: std::fs::read_to_string(&body).unwrap_or_default(),
        }
    }

    fn https(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.https)
    }

    fn seen(&self) -> Vec<(String, Vec<(String, String)>)> {
        self.seen.lock().unwrap().clone()
    }
}

#[test]
fn nginx_recipe_terminates_tls_in_front_of_the_proxy() {
    if !enabled() {
        eprintln!("skipped: set SUPAGATE_NGINX=1 with Debian's nginx installed");
        return;
    }
    let d = Deployment::start();
    let origin = format!("Origin: https://localhost:{}", d.https);

    // Plain HTTP only redirects: no session cookie can travel over it.
    let r = d.curl(
        &format!("http://localhost:{}/api/profile", d.http),
        false,
        &[],
    );
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("https://localhost/api/profile"));

    // The page, over TLS with HSTS.
    let r = d.curl(&d.https("/"), false, &[]);
    assert_eq!(r.status, 200);
    assert!(
        r.body
            .contains(r#"<form id="sign-in" method="post" action="/auth/sign-in">"#)
    );
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=63072000")
    );

    // Sign in through the form: session cookies are Secure, HttpOnly, SameSite=Lax.
    let r = d.curl(
        &d.https("/auth/sign-in"),
        true,
        &[
            "-H",
            &origin,
            "--data",
            "email=admin%40example.com&password=admin-password&next=%2F",
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let cookies = r.all("set-cookie");
    assert!(!cookies.is_empty());
    for c in &cookies {
        assert!(c.starts_with("sb-"), "{c}");
        assert!(
            c.contains("; Secure") && c.contains("; HttpOnly") && c.contains("; SameSite=Lax"),
            "{c}"
        );
    }
    assert!(!r.body.contains("eyJ"));

    // Through the defined path, with forged identity and forwarding headers from the client.
    let before = d.seen().len();
    let r = d.curl(
        &d.https("/api/profile"),
        true,
        &[
            "-H",
            "X-Forwarded-For: 6.6.6.6",
            "-H",
            "X-Forwarded-Host: evil.example",
            "-H",
            "X-Forwarded-Proto: http",
            "-H",
            "Forwarded: for=6.6.6.6;host=evil.example;proto=http",
            "-H",
            "X-Real-IP: 6.6.6.6",
            "-H",
            "X-User-Id: 00000000-0000-0000-0000-000000000000",
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let profile: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(profile["email"], "admin@example.com");
    let seen = d.seen();
    assert_eq!(seen.len(), before + 1);
    let (path, headers) = seen.last().unwrap();
    assert_eq!(path, "/profile/me");
    let get = |name: &str| values(headers, name);
    assert_eq!(get("x-forwarded-for"), [CLIENT_IP], "{headers:?}");
    assert_eq!(get("x-forwarded-proto"), ["https"]);
    let host = format!("localhost:{}", d.https);
    assert_eq!(get("x-forwarded-host"), [host.as_str()]);
    assert_eq!(
        get("forwarded"),
        [format!("for={CLIENT_IP};proto=https;host=\"{host}\"").as_str()]
    );
    assert!(get("x-user-id").is_empty() && get("x-real-ip").is_empty());
    assert!(get("authorization")[0].starts_with("Bearer eyJ"));
    assert!(get("cookie").is_empty());
    for (name, value) in headers {
        assert!(
            !value.contains("6.6.6.6") && !value.contains("evil.example"),
            "{name}: {value}"
        );
    }

    // A bearer token sent by the client on the cookie route is not trusted.
    let session: Value =
        serde_json::from_str(&d.auth.session_json("admin@example.com", 3600)).unwrap();
    let token = session["access_token"].as_str().unwrap();
    let before = d.seen().len();
    let r = d.curl(
        &d.https("/api/profile"),
        false,
        &["-H", &format!("Authorization: Bearer {token}")],
    );
    assert_eq!(r.status, 401, "{}", r.body);
    // Forwarded without a session (the backend answers 401 itself), the client's bearer
    // stripped.
    let seen = d.seen();
    assert_eq!(seen.len(), before + 1);
    assert!(
        seen.last()
            .unwrap()
            .1
            .iter()
            .all(|(k, _)| k != "authorization")
    );
    let before = seen.len();

    // The backend's own paths are not reachable through nginx, only /api/ via the proxy.
    for path in ["/profile/me", "/admin/stats", "/healthz", "/billing"] {
        let r = d.curl(&d.https(path), true, &[]);
        assert!(r.status >= 400, "{path}: {}", r.status);
    }
    let r = d.curl(&d.https("/api/../healthz"), true, &["--path-as-is"]);
    assert!(r.status >= 400, "/api/../healthz: {}", r.status);
    assert_eq!(d.seen().len(), before);

    // The admin route through the proxy, then sign-out ends the session.
    let r = d.curl(&d.https("/api/admin/stats"), true, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = d.curl(
        &d.https("/auth/sign-out?next=/"),
        true,
        &["-X", "POST", "-H", &origin],
    );
    assert!(matches!(r.status, 200 | 204 | 303), "{}", r.status);
    let r = d.curl(&d.https("/api/profile"), true, &[]);
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer"))
    );

    // A large session (12 KB access token, several chunks) passes nginx's header buffers
    // both ways: the Set-Cookie headers of the sign-in and the Cookie header after it.
    let r = d.curl(
        &d.https("/auth/sign-in"),
        true,
        &[
            "-H",
            &origin,
            "--data",
            "email=oauth%40example.com&password=oauth-password&next=%2F",
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let chunks: Vec<&str> = r
        .all("set-cookie")
        .into_iter()
        .filter(|c| !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap())
        .collect();
    assert!(chunks.len() >= 4, "chunked: {chunks:?}");
    // curl sends at most 8 KB of cookies from its jar; a browser sends them all, so send the
    // header as a browser would.
    let cookie = format!("Cookie: {}", chunks.join("; "));
    assert!(cookie.len() > 30_000, "{}", cookie.len());
    let r = d.curl(&d.https("/api/profile"), false, &["-H", &cookie]);
    assert_eq!(r.status, 200, "{}", r.body);
    let profile: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(profile["email"], "oauth@example.com");
}
