//! The proxy's connections to its one upstream origin: HTTP/1.1, kept alive and reused.
//!
//! hyper-util's pooled client serves any number of origins, and pays for it on every call: it
//! hashes the `(scheme, authority)` key with SipHash three times (checkout, waiters, return),
//! works out the `Host` field and the origin-form target again from the URI, and spawns a task
//! per response to wait for the connection to become idle. The proxy's origin is fixed at
//! start-up, so this pool knows all of that once: a stack of idle senders under one lock, the
//! `Host` value built once, and a response body that hands its connection back when it ends.
//!
//! Reuse is safe by construction: a connection goes back only after its response body has
//! ended (never one dropped halfway, which hyper closes), and is taken again only when hyper
//! says it is ready for the next request. A request that a reused connection never took (the
//! upstream closed it while idle) is sent again on another one; a request that was taken is
//! never sent twice.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::HOST;
use http::uri::{Authority, Scheme};
use http::{HeaderValue, Request, Response, StatusCode, Uri, Version};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::client::legacy::connect::HttpConnector;
use tower_service::Service;

use crate::body::{ProxyBody, is_too_large};
use crate::client::{Connector, Limits, connectors};
use crate::error::{ProxyConfigError, ProxyError};
use crate::headers::connection_lists;

/// Idle connections kept at most (as hyper-util's `pool_max_idle_per_host` was set).
const MAX_IDLE: usize = 256;
/// How long a call waits for a returned connection that hyper has not marked idle yet.
const READY_WAIT: Duration = Duration::from_millis(20);
/// An idle connection older than this is closed, not reused: shorter than the keep-alive
/// timeouts of the usual backends (uvicorn's and Node's 5 s), so that the pool gives a
/// connection up before the upstream does, not in the same instant as a request goes out on it
/// (a request the upstream may have taken cannot be sent again).
const IDLE_FOR: Duration = Duration::from_secs(4);

/// The upstream origin and its idle connections.
#[derive(Clone)]
pub(crate) struct Upstream {
    shared: Arc<Shared>,
}

struct Shared {
    connect: Connect,
    /// `scheme://authority/`, what the connector dials.
    origin: Uri,
    /// The `Host` field of every request: the host, and the port unless the scheme's default.
    host: HeaderValue,
    idle: Mutex<VecDeque<Idle>>,
    limits: Arc<Limits>,
}

enum Connect {
    Plain(HttpConnector),
    Tls(Box<Connector>),
}

struct Idle {
    sender: SendRequest<ProxyBody>,
    since: Instant,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("origin", &self.shared.origin)
            .finish_non_exhaustive()
    }
}

impl Upstream {
    pub(crate) fn new(
        scheme: &Scheme,
        authority: &Authority,
        limits: Arc<Limits>,
    ) -> Result<Self, ProxyConfigError> {
        let bad = || ProxyConfigError {
            what: "upstream must be http(s)://host[:port] without a path",
        };
        let (tls, plain) = connectors(&limits)?;
        let https = *scheme == Scheme::HTTPS;
        let default_port = if https { 443 } else { 80 };
        let host = match authority.port_u16() {
            Some(p) if p != default_port => authority.as_str(),
            _ => authority.host(),
        };
        // `Authority::host` keeps an IPv6 literal's brackets, as `Host` wants them.
        let host = HeaderValue::from_str(host).map_err(|_| bad())?;
        let origin = Uri::builder()
            .scheme(scheme.clone())
            .authority(authority.clone())
            .path_and_query("/")
            .build()
            .map_err(|_| bad())?;
        Ok(Upstream {
            shared: Arc::new(Shared {
                connect: if https {
                    Connect::Tls(Box::new(tls))
                } else {
                    Connect::Plain(plain)
                },
                origin,
                host,
                idle: Mutex::new(VecDeque::new()),
                limits,
            }),
        })
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.shared.limits
    }

    /// Sends `req` (its URI in origin form, `/path?query`; its `Host` is set here). The
    /// response headers must arrive within the upstream timeout; the body is returned unread
    /// and gives the connection back when it ends.
    pub(crate) async fn send(
        &self,
        mut req: Request<ProxyBody>,
    ) -> Result<Response<Pooled>, ProxyError> {
        req.headers_mut().insert(HOST, self.shared.host.clone());
        match tokio::time::timeout(self.shared.limits.upstream_timeout, self.call(req)).await {
            Err(_) => Err(ProxyError::UpstreamTimeout),
            Ok(res) => res,
        }
    }

    async fn call(&self, mut req: Request<ProxyBody>) -> Result<Response<Pooled>, ProxyError> {
        loop {
            let (mut sender, reused) = match self.checkout() {
                Some((idle, true)) => (idle.sender, true),
                Some((mut idle, false)) => {
                    // Its last response has ended, but hyper's task may not have marked the
                    // connection idle yet (a body-less answer is handed back the moment it
                    // arrives): wait for that, briefly. Beyond it the connection is busy
                    // (its request body still going out): a new one for this call, the busy
                    // one kept, behind the others, for a later call.
                    let ready = std::future::poll_fn(|cx| idle.sender.poll_ready(cx));
                    match tokio::time::timeout(READY_WAIT, ready).await {
                        Ok(Ok(())) => (idle.sender, true),
                        Ok(Err(_)) => (self.connect().await?, false),
                        Err(_) => {
                            Upstream::checkin_behind(&self.shared, idle);
                            (self.connect().await?, false)
                        }
                    }
                }
                None => (self.connect().await?, false),
            };
            match sender.try_send_request(req).await {
                Ok(res) => {
                    // An answer after which the upstream closes (or switches protocols) never
                    // goes back, whatever the race with hyper's own closing.
                    let back = keeps_alive(&res).then(|| (sender, Arc::clone(&self.shared)));
                    return Ok(res.map(|body| Pooled { body, back }));
                }
                Err(mut e) => {
                    // Closed by the upstream while idle, before it took the request: the
                    // request is whole and unsent, so another connection may carry it. Each
                    // turn takes one idle connection away; a new one ends the loop.
                    if reused && let Some(unsent) = e.take_message() {
                        req = unsent;
                        continue;
                    }
                    let e = e.into_error();
                    return Err(if is_too_large(&e) {
                        ProxyError::BodyTooLarge
                    } else {
                        ProxyError::UpstreamUnavailable
                    });
                }
            }
        }
    }

    /// The most recently returned connection that is ready for a request (`true`), else the
    /// most recent one still finishing its last exchange (`false`); closed and stale ones
    /// found on the way are dropped.
    fn checkout(&self) -> Option<(Idle, bool)> {
        let mut stale = Vec::new();
        let found = {
            let mut idle = self
                .shared
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let unusable = |e: &Idle| unusable(e, now);
            // The oldest are mostly at the front: drop those past their time or closed.
            while idle.front().is_some_and(unusable) {
                stale.extend(idle.pop_front());
            }
            // Newest first.
            match idle
                .iter()
                .rposition(|e| e.sender.is_ready() && !unusable(e))
            {
                Some(at) => idle.remove(at).map(|e| (e, true)),
                None => loop {
                    match idle.pop_back() {
                        Some(e) if unusable(&e) => stale.push(e),
                        Some(e) => break Some((e, false)),
                        None => break None,
                    }
                },
            }
        };
        drop(stale);
        found
    }

    /// Gives a connection whose last response has ended back to the pool. When the pool is
    /// full, the closed and stale go first, wherever they are; then the oldest.
    fn checkin(shared: &Shared, sender: SendRequest<ProxyBody>) {
        if sender.is_closed() {
            return;
        }
        let now = Instant::now();
        let mut idle = shared.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() >= MAX_IDLE {
            idle.retain(|e| !unusable(e, now));
            if idle.len() >= MAX_IDLE {
                idle.pop_front();
            }
        }
        idle.push_back(Idle { sender, since: now });
    }

    /// Puts a busy connection back behind the others (tried last, dropped first), with the
    /// time it was first returned: one that stays busy still ages out.
    fn checkin_behind(shared: &Shared, busy: Idle) {
        let mut idle = shared.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE && !busy.sender.is_closed() {
            idle.push_front(busy);
        }
    }

    /// A new connection (TCP, and TLS for `https`), its task spawned.
    async fn connect(&self) -> Result<SendRequest<ProxyBody>, ProxyError> {
        let s = &*self.shared;
        match &s.connect {
            Connect::Plain(c) => dial(c, &s.origin).await,
            Connect::Tls(c) => dial(&**c, &s.origin).await,
        }
        .ok_or(ProxyError::UpstreamUnavailable)
    }
}

/// Closed, or idle for longer than [`IDLE_FOR`].
fn unusable(e: &Idle, now: Instant) -> bool {
    e.sender.is_closed() || now.duration_since(e.since) > IDLE_FOR
}

/// Whether the connection may carry another request after `res`: not when the upstream said
/// it closes (`Connection: close`, or HTTP/1.0 without `keep-alive`) or switched protocols.
fn keeps_alive<B>(res: &Response<B>) -> bool {
    let has = |token: &str| connection_lists(res.headers(), token);
    if res.status() == StatusCode::SWITCHING_PROTOCOLS || has("close") {
        return false;
    }
    res.version() != Version::HTTP_10 || has("keep-alive")
}

/// Dials `origin` with `connector` and shakes hands; the connection's task ends when it
/// closes, or when it is idle and every sender is gone.
async fn dial<C>(connector: &C, origin: &Uri) -> Option<SendRequest<ProxyBody>>
where
    C: Service<Uri> + Clone,
    C::Response: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let mut c = connector.clone();
    std::future::poll_fn(|cx| c.poll_ready(cx)).await.ok()?;
    let io = c.call(origin.clone()).await.ok()?;
    let (sender, conn) = http1::handshake(io).await.ok()?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Some(sender)
}

/// An upstream response body. Once it has ended, its connection goes back to the pool; one
/// dropped before its end, or failed, takes its connection with it.
pub(crate) struct Pooled {
    body: Incoming,
    back: Option<(SendRequest<ProxyBody>, Arc<Shared>)>,
}

impl Pooled {
    fn give_back(&mut self) {
        if let Some((sender, shared)) = self.back.take() {
            Upstream::checkin(&shared, sender);
        }
    }
}

impl Body for Pooled {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.give_back(),
            Poll::Ready(Some(Ok(_))) if this.body.is_end_stream() => this.give_back(),
            // A failed body leaves the connection in no known state.
            Poll::Ready(Some(Err(_))) => this.back = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        // Ended without a last poll (a known length read in full, or no body at all).
        if self.body.is_end_stream() {
            self.give_back();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use http::header::CONNECTION;

    fn upstream() -> Upstream {
        let authority: Authority = "127.0.0.1:9".parse().unwrap();
        Upstream::new(&Scheme::HTTP, &authority, Arc::new(Limits::default())).unwrap()
    }

    /// A sender over an in-memory stream, ready for a request, with the upstream's end of the
    /// stream (dropping it hangs up) and the connection's task.
    async fn connected() -> (
        SendRequest<ProxyBody>,
        tokio::io::DuplexStream,
        tokio::task::JoinHandle<hyper::Result<()>>,
    ) {
        let (ours, theirs) = tokio::io::duplex(1024);
        let (mut sender, conn) = http1::handshake(hyper_util::rt::TokioIo::new(ours))
            .await
            .unwrap();
        let task = tokio::spawn(conn);
        std::future::poll_fn(|cx| sender.poll_ready(cx))
            .await
            .unwrap();
        (sender, theirs, task)
    }

    /// A ready sender whose upstream stays for as long as the connection.
    async fn sender() -> SendRequest<ProxyBody> {
        let (sender, upstream, task) = connected().await;
        tokio::spawn(async move {
            let _ = task.await;
            drop(upstream);
        });
        sender
    }

    fn idle_len(u: &Upstream) -> usize {
        u.shared.idle.lock().unwrap().len()
    }

    #[tokio::test]
    async fn a_connection_idle_too_long_is_never_taken() {
        let u = upstream();
        let old = Instant::now().checked_sub(IDLE_FOR + Duration::from_secs(1));
        let Some(old) = old else { return }; // a clock too young to say
        let stale = sender().await;
        u.shared.idle.lock().unwrap().push_back(Idle {
            sender: stale,
            since: old,
        });
        assert!(u.checkout().is_none());
        assert_eq!(idle_len(&u), 0, "dropped, not kept");
        Upstream::checkin(&u.shared, sender().await);
        assert!(matches!(u.checkout(), Some((_, true))));
    }

    #[tokio::test]
    async fn at_most_max_idle_connections_are_kept() {
        let u = upstream();
        for _ in 0..MAX_IDLE + 10 {
            Upstream::checkin(&u.shared, sender().await);
        }
        assert_eq!(idle_len(&u), MAX_IDLE);
        let busy = Idle {
            sender: sender().await,
            since: Instant::now(),
        };
        Upstream::checkin_behind(&u.shared, busy);
        assert_eq!(idle_len(&u), MAX_IDLE);
    }

    #[test]
    fn keeps_alive_follows_the_answer() {
        let res = |version: Version, status: u16, connection: &[&str]| {
            let mut b = Response::builder().version(version).status(status);
            for c in connection {
                b = b.header(CONNECTION, *c);
            }
            keeps_alive(&b.body(()).unwrap())
        };
        assert!(res(Version::HTTP_11, 200, &[]));
        assert!(res(Version::HTTP_11, 204, &["keep-alive"]));
        assert!(!res(Version::HTTP_11, 200, &["close"]));
        assert!(!res(Version::HTTP_11, 200, &["Keep-Alive, CLOSE"]));
        assert!(!res(Version::HTTP_11, 200, &["x-custom", " close "]));
        assert!(!res(Version::HTTP_11, 101, &["upgrade"]));
        assert!(!res(Version::HTTP_10, 200, &[]));
        assert!(res(Version::HTTP_10, 200, &["keep-alive"]));
        assert!(!res(Version::HTTP_10, 200, &["keep-alive, close"]));
        assert!(
            res(Version::HTTP_11, 200, &["closed"]),
            "a token, not a prefix"
        );
    }

    /// When full, closed and stale connections go before a healthy oldest one.
    #[tokio::test]
    async fn a_full_pool_drops_the_dead_before_the_oldest() {
        let u = upstream();
        let oldest = sender().await;
        Upstream::checkin(&u.shared, oldest);
        let mut peers = Vec::new();
        for _ in 1..MAX_IDLE {
            let (s, peer, _) = connected().await;
            Upstream::checkin(&u.shared, s);
            peers.push(peer);
        }
        assert_eq!(idle_len(&u), MAX_IDLE);
        drop(peers); // every connection but the oldest hangs up
        tokio::time::sleep(Duration::from_millis(50)).await;
        Upstream::checkin(&u.shared, sender().await);
        assert_eq!(idle_len(&u), 2, "the dead went, the oldest stayed");
    }

    /// A request queued on a reused connection that closes before taking it is sent once, on a
    /// new connection.
    #[tokio::test(flavor = "current_thread")]
    async fn a_request_a_reused_connection_never_took_goes_on_a_new_one() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let count = Arc::clone(&count);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_req| {
                        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        async {
                            Ok::<_, std::convert::Infallible>(Response::new(crate::body::full(
                                Vec::new(),
                            )))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let authority: Authority = addr.to_string().parse().unwrap();
        let u = Upstream::new(&Scheme::HTTP, &authority, Arc::new(Limits::default())).unwrap();
        // A pooled connection, ready, whose peer hangs up before the next call: nothing has
        // run its task since, so the pool still takes it for ready.
        let (s, peer, _) = connected().await;
        Upstream::checkin(&u.shared, s);
        drop(peer);
        let mut req = Request::new(crate::body::full(Vec::new()));
        *req.uri_mut() = Uri::from_static("/once");
        let res = u.send(req).await;
        assert!(res.is_ok(), "{:?}", res.err());
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_closed_connection_is_neither_kept_nor_taken() {
        let u = upstream();
        let (sender, peer, task) = connected().await;
        Upstream::checkin(&u.shared, sender);
        drop(peer); // the upstream hangs up
        let _ = task.await;
        assert!(u.checkout().is_none());
        assert_eq!(idle_len(&u), 0);
    }
}
