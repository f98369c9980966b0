//! [`MockJwks`]: a loopback JWKS server for tests, whose key set can be rotated and whose
//! answers can be delayed, failed, truncated or garbled.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How the next responses of a [`MockJwks`] behave.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Behaviour {
    /// 200 with the current set (and the configured `Cache-Control`).
    Normal,
    /// Like `Normal`, after a delay.
    Delay(Duration),
    /// This status with an empty body.
    Status(u16),
    /// A 302 to this location (a client must not follow it).
    Redirect(String),
    /// A `Content-Length` larger than the body, then the connection closes.
    Truncated,
    /// 200 with a body that is not JSON.
    Garbage,
    /// 200 with a body of this many bytes (a valid JSON string, padded).
    Oversized(usize),
    /// Accept the connection and close it without answering.
    Hangup,
}

#[derive(Debug)]
struct Config {
    body: String,
    /// Bodies served at exact paths instead of `body` (the discovery document of
    /// [`MockOidc`](crate::MockOidc)).
    routes: Vec<(String, String)>,
    cache_control: Option<String>,
    behaviour: Behaviour,
}

/// A JWKS server on `127.0.0.1` (port 0), stopped on drop.
///
/// # Examples
///
/// ```
/// use supagate_testkit::{MockJwks, TestKeys};
///
/// let server = MockJwks::start(&TestKeys::new().jwks_json());
/// assert!(server.url().starts_with("http://127.0.0.1:"));
/// server.set_keys(r#"{"keys":[]}"#); // rotate everything away
/// assert_eq!(server.requests(), 0);
/// ```
#[derive(Debug)]
pub struct MockJwks {
    addr: SocketAddr,
    config: Arc<Mutex<Config>>,
    requests: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MockJwks {
    /// Starts serving `jwks_json` at every path.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound (a test environment problem).
    #[must_use]
    #[allow(clippy::expect_used)]
    pub fn start(jwks_json: &str) -> MockJwks {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let config = Arc::new(Mutex::new(Config {
            body: jwks_json.to_owned(),
            routes: Vec::new(),
            cache_control: None,
            behaviour: Behaviour::Normal,
        }));
        let requests = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (config, requests, stop) = (config.clone(), requests.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (config, requests) = (config.clone(), requests.clone());
                    std::thread::spawn(move || serve(stream, &config, &requests));
                }
            })
        };
        MockJwks {
            addr,
            config,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// The URL of the set (`http://127.0.0.1:<port>/auth/v1/.well-known/jwks.json`).
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}/auth/v1/.well-known/jwks.json", self.addr)
    }

    /// Replaces the served set (a key rotation).
    pub fn set_keys(&self, jwks_json: &str) {
        self.lock().body = jwks_json.to_owned();
    }

    /// Sets the `Cache-Control` header of successful answers (`None`: no header).
    pub fn set_cache_control(&self, value: Option<&str>) {
        self.lock().cache_control = value.map(str::to_owned);
    }

    /// Sets how the following requests are answered.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.lock().behaviour = behaviour;
    }

    /// How many requests were received.
    #[must_use]
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// Serves `body` at exactly `path` instead of the set.
    pub(crate) fn set_route(&self, path: &str, body: String) {
        let mut config = self.lock();
        config.routes.retain(|(p, _)| p != path);
        config.routes.push((path.to_owned(), body));
    }

    /// The address it listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Config> {
        self.config.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for MockJwks {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut stream: TcpStream, config: &Mutex<Config>, requests: &AtomicU64) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0_u8; 4096];
    let mut head = Vec::new();
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(buf.get(..n).unwrap_or_default()),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    requests.fetch_add(1, Ordering::SeqCst);
    // `GET /path HTTP/1.1`: the path picks a route, if one matches exactly.
    let path = head
        .split(|b| *b == b' ')
        .nth(1)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .unwrap_or_default();
    let (body, cache_control, behaviour) = {
        let c = config.lock().unwrap_or_else(PoisonError::into_inner);
        let body = c
            .routes
            .iter()
            .find(|(p, _)| *p == path)
            .map_or_else(|| c.body.clone(), |(_, b)| b.clone());
        (body, c.cache_control.clone(), c.behaviour.clone())
    };
    let ok = |body: &str| {
        let cc = cache_control
            .as_deref()
            .map(|v| format!("Cache-Control: {v}\r\n"))
            .unwrap_or_default();
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{cc}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let response = match behaviour {
        Behaviour::Normal => ok(&body),
        Behaviour::Delay(d) => {
            std::thread::sleep(d);
            ok(&body)
        }
        Behaviour::Status(code) => {
            format!("HTTP/1.1 {code} Status\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        }
        Behaviour::Redirect(location) => format!(
            "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
        Behaviour::Truncated => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            body.len() + 100,
            body.get(..body.len() / 2).unwrap_or_default()
        ),
        Behaviour::Garbage => ok("<html>not json</html>"),
        Behaviour::Oversized(n) => ok(&format!("\"{}\"", "x".repeat(n.saturating_sub(2)))),
        Behaviour::Hangup => return,
    };
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
}
