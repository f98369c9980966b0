//! The quickstart in a real headless Chromium, driven through WebDriver (`chromedriver`).
//!
//! With JavaScript on, each demo user signs in with the page's form, the server-rendered
//! dashboard shows their email and role, the page's JavaScript gets the profile and 403 (user)
//! or 200 (admin) on admin stats through `/api`; `document.cookie` stays empty; after the
//! access token expires the dashboard still loads through a refresh; after sign-out the API
//! answers 401.
//!
//! With JavaScript off (`--blink-settings=scriptEnabled=false`), everything goes through plain
//! HTML forms and server-rendered pages: the protected dashboard sends the browser to the
//! sign-in page, the form signs in, the dashboard shows the email rendered by the server, a
//! reload past the access token's expiry is still signed in with exactly one refresh at the
//! mock auth server and new cookies, a note is added through a form, the form signs out.
//!
//! Screenshots go to `target/quickstart-screenshots/`.
//!
//! Runs when `SUPAGATE_BROWSER=1` (as `.ci/test` sets it, after `.ci/run` installed the Debian
//! packages `chromium` and `chromium-driver`), and fails loudly then if they are missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use backend_common::drive::request;
use base64::Engine as _;
use quickstart::{ADMIN, USER};
use serde_json::{Value, json};
use supagate_testkit::Endpoint;

const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1000,900",
];

/// `chromedriver` on a free loopback port, killed on drop.
struct Driver {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    /// Starts `chromedriver` on a free port and waits until it answers `GET /status` as a
    /// ready WebDriver. The port is free when picked but not reserved: another test's server
    /// (the tests run in parallel and bind port 0) can take it before `chromedriver` does, and
    /// then a bare TCP connect would succeed against the wrong server. So readiness is the
    /// WebDriver's own answer, and a `chromedriver` that exits (it could not bind) is retried
    /// on another port.
    fn start() -> Driver {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let child = Command::new("chromedriver")
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver is installed (apt-get install chromium chromium-driver)");
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let mut driver = Driver { child, addr };
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if driver.child.try_wait().ok().flatten().is_some() {
                    break; // exited: the port was taken; try another
                }
                if webdriver_ready(addr) {
                    return driver;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        panic!("chromedriver did not start");
    }

    fn call(&self, method: &str, path: &str, body: &Value) -> Value {
        let body = if method == "GET" || method == "DELETE" {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let r = request(
            self.addr,
            method,
            path,
            &[("content-type", "application/json")],
            &body,
        );
        let v = r.json();
        assert!(
            r.status == 200,
            "WebDriver {method} {path}: {} {}",
            r.status,
            r.body
        );
        v["value"].clone()
    }
}

/// Whether `addr` answers `GET /status` as a ready WebDriver (and not some other server).
fn webdriver_ready(addr: SocketAddr) -> bool {
    use std::io::{Read as _, Write as _};
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200") && answer.contains("\"ready\":true")
}

/// A browser session.
struct Browser<'a> {
    driver: &'a Driver,
    id: String,
}

impl Drop for Browser<'_> {
    fn drop(&mut self) {
        let _ = request(
            self.driver.addr,
            "DELETE",
            &format!("/session/{}", self.id),
            &[],
            b"",
        );
    }
}

impl<'a> Browser<'a> {
    fn open(driver: &'a Driver) -> Browser<'a> {
        Browser::open_with(driver, true)
    }

    /// A browser session with JavaScript on or off.
    fn open_with(driver: &'a Driver, javascript: bool) -> Browser<'a> {
        let mut args: Vec<&str> = FLAGS.to_vec();
        if !javascript {
            args.push("--blink-settings=scriptEnabled=false");
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium(), "args": args},
        }}});
        let v = driver.call("POST", "/session", &caps);
        Browser {
            driver,
            id: v["sessionId"].as_str().unwrap().to_owned(),
        }
    }

    fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        self.driver
            .call(method, &format!("/session/{}{path}", self.id), &body)
    }

    fn go(&self, url: &str) {
        self.cmd("POST", "/url", json!({ "url": url }));
    }

    fn element(&self, css: &str) -> String {
        let v = self.cmd(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap()
            .to_owned()
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.element(css);
        self.cmd(
            "POST",
            &format!("/element/{e}/value"),
            json!({ "text": text }),
        );
    }

    fn click(&self, css: &str) {
        let e = self.element(css);
        self.cmd("POST", &format!("/element/{e}/click"), json!({}));
    }

    fn js(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
    }

    fn loaded_mark(&self) -> String {
        self.js("return (document.body && document.body.dataset.loaded) || ''")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until the dashboard finished loading after `before` (a previous mark).
    fn wait_loaded(&self, before: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mark = self.loaded_mark();
            if !mark.is_empty() && mark != before {
                return;
            }
            assert!(Instant::now() < deadline, "the dashboard did not load");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn text(&self, id: &str) -> String {
        self.js(&format!(
            "return document.getElementById('{id}').textContent"
        ))
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// An element's rendered text, through WebDriver (no page JavaScript needed).
    fn element_text(&self, css: &str) -> String {
        let e = self.element(css);
        self.cmd("GET", &format!("/element/{e}/text"), json!({}))
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Whether an element matching `css` is on the page.
    fn has(&self, css: &str) -> bool {
        let r = request(
            self.driver.addr,
            "POST",
            &format!("/session/{}/elements", self.id),
            &[("content-type", "application/json")],
            json!({"using": "css selector", "value": css})
                .to_string()
                .as_bytes(),
        );
        r.json()["value"].as_array().is_some_and(|a| !a.is_empty())
    }

    /// The current URL's path and query.
    fn path(&self) -> String {
        let url = self.cmd("GET", "/url", json!({}));
        let url = url.as_str().unwrap_or_default();
        let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
        after_scheme
            .find('/')
            .map_or("/".to_owned(), |i| after_scheme[i..].to_owned())
    }

    /// The session cookies the browser holds (`name -> (value, httpOnly)`), HttpOnly ones
    /// included: WebDriver sees what page JavaScript cannot.
    fn session_cookies(&self) -> Vec<(String, String, bool)> {
        let v = self.cmd("GET", "/cookie", json!({}));
        v.as_array()
            .unwrap()
            .iter()
            .filter(|c| c["name"].as_str().unwrap_or_default().starts_with("sb-"))
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_owned(),
                    c["value"].as_str().unwrap().to_owned(),
                    c["httpOnly"].as_bool().unwrap_or(false),
                )
            })
            .collect()
    }

    /// Waits until the path is `target` (with any query; a `target` ending in `=` is a
    /// prefix): a form post's redirect landed.
    /// Waits until an element matching `css` is on the page.
    fn wait_for(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.has(css) {
            assert!(Instant::now() < deadline, "{css} did not appear");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_path(&self, target: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let p = self.path();
            let path_only = p.split('?').next().unwrap_or_default();
            if path_only == target || (target.ends_with('=') && p.starts_with(target)) {
                return;
            }
            assert!(Instant::now() < deadline, "still at {p}, not {target}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.cmd("GET", "/screenshot", json!({}));
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        let dir =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/quickstart-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

fn chromium() -> String {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .map_or_else(|| "chromium".to_owned(), |p| (*p).to_owned())
}

#[test]
fn both_demo_users_in_a_real_browser() {
    if std::env::var("SUPAGATE_BROWSER").as_deref() != Ok("1") {
        eprintln!(
            "skipped: set SUPAGATE_BROWSER=1 with chromium and chromium-driver installed (.ci/test does)"
        );
        return;
    }
    // Access tokens live 6 s and are refreshed within 2 s of expiry, so that the test can
    // wait past an expiry.
    let (_runtime, stack) = quickstart::start_on_runtime(6, 2).unwrap();
    let home = format!("http://{}/", stack.frontend);
    let driver = Driver::start();

    for (who, (email, password), admin_status) in [("user", USER, "403"), ("admin", ADMIN, "200")] {
        let b = Browser::open(&driver);
        b.go(&home);
        assert!(b.has("#sign-in"), "{who}: signed out at first");
        assert!(!b.has("#noscript"), "JavaScript is on");
        assert_eq!(b.js("return document.cookie"), json!(""));
        b.type_into("#email", email);
        b.type_into("#password", password);
        b.click("#signin");
        b.wait_path("/dashboard");
        b.wait_loaded("");
        assert_eq!(b.text("who-email"), email, "{who}: rendered by the server");
        assert_eq!(
            b.text("who-role"),
            if who == "admin" { "admin" } else { "(none)" }
        );
        assert_eq!(b.text("server-profile-status"), "200", "{who}");
        assert_eq!(
            b.text("profile-status"),
            "200",
            "{who}: {}",
            b.text("profile")
        );
        let profile: Value = serde_json::from_str(&b.text("profile")).unwrap();
        assert_eq!(profile["email"], email);
        assert_eq!(b.text("admin-status"), admin_status, "{who}");
        // HttpOnly: the page's JavaScript sees no cookie at all, let alone a token.
        let cookies = b.js("return document.cookie");
        assert_eq!(cookies, json!(""), "{who}: document.cookie = {cookies}");
        let page = b
            .js("return document.documentElement.outerHTML")
            .to_string();
        assert!(!page.contains("eyJ"), "no JWT anywhere in the page");
        // With PostgreSQL (`.ci/test` installs it), the notes: added through the page's form,
        // listed by the server and by the page's JavaScript, under Row Level Security.
        if stack.postgres.is_ok() {
            let before = b.loaded_mark();
            b.type_into("#note-body", &format!("a note of the {who}"));
            b.click("#note-add");
            b.wait_loaded(&before);
            assert_eq!(b.path(), "/dashboard");
            assert_eq!(
                b.element_text("#server-notes .note-body"),
                format!("a note of the {who}")
            );
            assert_eq!(b.text("notes-status"), "200", "{who}: {}", b.text("notes"));
            let notes: Value = serde_json::from_str(&b.text("notes")).unwrap();
            let bodies: Vec<&str> = notes
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["body"].as_str().unwrap())
                .collect();
            // Private notes: each user sees their own only.
            assert_eq!(bodies, [format!("a note of the {who}")], "{who}");
        }
        let shot = b.screenshot(who);
        eprintln!("{who}: dashboard screenshot at {}", shot.display());

        // Past the access token's expiry: the next load refreshes through the proxy.
        let refreshes = stack.auth.count(Endpoint::Refresh);
        std::thread::sleep(Duration::from_secs(7));
        let before = b.loaded_mark();
        b.click("#reload");
        b.wait_loaded(&before);
        assert_eq!(
            b.text("profile-status"),
            "200",
            "{who} after expiry: {}",
            b.text("profile")
        );
        assert!(
            stack.auth.count(Endpoint::Refresh) > refreshes,
            "a refresh happened"
        );
        assert_eq!(b.js("return document.cookie"), json!(""));

        // Sign out through the form: the cookies go, the API answers 401, the dashboard is
        // protected again.
        b.click("#signout");
        b.wait_path("/");
        assert!(b.has("#sign-in"), "{who}: signed out");
        assert_eq!(b.js("return document.cookie"), json!(""));
        let status = b.js("return fetch('/api/profile').then(r => r.status)");
        assert_eq!(status, json!(401), "{who} after sign-out");
        b.go(&format!("{home}dashboard"));
        assert_eq!(b.path(), "/sign-in?next=%2Fdashboard");
    }
}

#[test]
fn the_server_rendered_pages_without_javascript() {
    if std::env::var("SUPAGATE_BROWSER").as_deref() != Ok("1") {
        eprintln!(
            "skipped: set SUPAGATE_BROWSER=1 with chromium and chromium-driver installed (.ci/test does)"
        );
        return;
    }
    let (_runtime, stack) = quickstart::start_on_runtime(6, 2).unwrap();
    let origin = format!("http://{}", stack.frontend);
    let driver = Driver::start();
    let b = Browser::open_with(&driver, false);
    let (email, password) = USER;

    // The protected dashboard sends a signed-out browser to the sign-in page.
    b.go(&format!("{origin}/dashboard"));
    assert_eq!(b.path(), "/sign-in?next=%2Fdashboard");
    assert!(b.has("#noscript"), "JavaScript is off");
    assert!(b.session_cookies().is_empty());

    // A wrong password: back to the sign-in page with the reason, no cookie.
    b.type_into("#email", email);
    b.type_into("#password", "not the password");
    b.click("#signin");
    b.wait_path("/sign-in?error=");
    assert_eq!(b.element_text("#sign-in-error"), "Wrong email or password.");
    assert!(b.session_cookies().is_empty());

    // Sign in through the form: the dashboard, rendered by the server.
    b.type_into("#email", email);
    b.type_into("#password", password);
    b.click("#signin");
    b.wait_path("/dashboard");
    assert_eq!(b.element_text("#who-email"), email);
    assert_eq!(b.element_text("#server-profile-status"), "200");
    assert!(b.element_text("#server-profile").contains(email));
    assert_eq!(b.element_text("#profile-status"), "", "no script ran");
    let first = b.session_cookies();
    assert!(!first.is_empty(), "the session cookies");
    assert!(
        first.iter().all(|(_, _, http_only)| *http_only),
        "{first:?}"
    );
    let shot = b.screenshot("no-js-dashboard");
    eprintln!("dashboard without JavaScript: {}", shot.display());

    // Past the access token's expiry, a reload: still signed in, exactly one refresh at the
    // auth server, new cookies.
    let refreshes = stack.auth.count(Endpoint::Refresh);
    std::thread::sleep(Duration::from_secs(7));
    b.cmd("POST", "/refresh", json!({}));
    assert_eq!(b.path(), "/dashboard");
    assert_eq!(b.element_text("#who-email"), email, "still signed in");
    assert_eq!(
        stack.auth.count(Endpoint::Refresh),
        refreshes + 1,
        "exactly one refresh"
    );
    let second = b.session_cookies();
    assert!(!second.is_empty());
    assert_ne!(first, second, "new cookies");
    let shot = b.screenshot("no-js-after-refresh");
    eprintln!("after the refresh: {}", shot.display());

    // An app form: a note, through the server (with PostgreSQL).
    if stack.postgres.is_ok() {
        b.type_into("#note-body", "written without JavaScript");
        b.click("#note-add");
        // The form posts from /dashboard and comes back to /dashboard: the path says nothing
        // about whether the new page is in yet, so wait for the note itself.
        b.wait_for("#server-notes .note-body");
        assert_eq!(b.path(), "/dashboard");
        assert_eq!(
            b.element_text("#server-notes .note-body"),
            "written without JavaScript"
        );
        let shot = b.screenshot("no-js-note");
        eprintln!("with a note: {}", shot.display());
    }

    // Sign out through the form: no session cookie is left.
    b.click("#signout");
    b.wait_path("/");
    assert!(b.has("#sign-in"), "signed out");
    assert!(b.session_cookies().is_empty(), "{:?}", b.session_cookies());
    b.go(&format!("{origin}/dashboard"));
    assert_eq!(b.path(), "/sign-in?next=%2Fdashboard");
}
