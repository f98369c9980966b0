//! The quickstart in a real headless Chromium, driven through WebDriver (`chromedriver`): each
//! demo user signs in with the page's form, sees the profile, gets 403 (user) or 200 (admin)
//! on admin stats; `document.cookie` holds no token; after the access token expires the
//! dashboard still loads through a refresh; after sign-out the API answers 401. Screenshots of
//! the signed-in dashboards go to `target/quickstart-screenshots/`.
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
    fn start() -> Driver {
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
        let driver = Driver { child, addr };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        driver
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
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium(), "args": FLAGS},
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
        b.wait_loaded("");
        assert_eq!(b.text("profile-status"), "401", "signed out at first");
        let before = b.loaded_mark();
        b.type_into("#email", email);
        b.type_into("#password", password);
        b.click("#signin");
        b.wait_loaded(&before);
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
        // With PostgreSQL (`.ci/test` installs it), the page's notes: added through the form,
        // listed by the backend under Row Level Security.
        if stack.postgres.is_ok() {
            assert_eq!(b.text("notes-status"), "200", "{who}: {}", b.text("notes"));
            let before = b.loaded_mark();
            b.type_into("#note-body", &format!("a note of the {who}"));
            b.click("#note-add");
            b.wait_loaded(&before);
            assert_eq!(b.text("note-add-status"), "201", "{who}");
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

        // Sign out: the cookies go, the API answers 401.
        let before = b.loaded_mark();
        b.click("#signout");
        b.wait_loaded(&before);
        assert_eq!(b.text("profile-status"), "401", "{who} after sign-out");
        assert_eq!(b.text("admin-status"), "401");
    }
}
