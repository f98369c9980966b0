//! Connections that outlive the token that opened them: a WebSocket ([`LiveSocket`]) or a
//! server-sent-events stream ([`live_events`]) bound to the caller's credential, closed when
//! the token expires or the session is revoked, kept open across a refreshed token presented
//! on the socket.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::response::sse::Event;
use axum_core::extract::{FromRef, FromRequestParts};
use futures_core::Stream;
use http::request::Parts;
use supagate_auth::{Admission, Authenticator, Gate, Rejection, Watch};

use crate::extract::AuthRejection;

type Ending = Pin<Box<dyn Future<Output = Rejection> + Send>>;

/// The [`Watch`] of the request's caller, for a handler that upgrades to a WebSocket or
/// answers with an event stream: the admission of the route's gate ([`RequireLayer`],
/// [`AdmitLayer`]), or, without one, the authenticator's default modes deciding now.
///
/// [`RequireLayer`]: crate::RequireLayer
/// [`AdmitLayer`]: crate::AdmitLayer
///
/// # Examples
///
/// ```
/// use axum::{Router, extract::ws::WebSocketUpgrade, response::Response, routing::get};
/// use supagate_auth::Authenticator;
/// use supagate_axum::live::{Live, LiveSocket};
///
/// async fn echo(upgrade: WebSocketUpgrade, Live(watch): Live) -> Response {
///     upgrade.on_upgrade(move |socket| async move {
///         let mut socket = LiveSocket::new(socket, watch);
///         // `None` once the client hangs up, or the credential ended (then the client got
///         // a close frame, 1008 and the reason).
///         while let Some(Ok(msg)) = socket.recv().await {
///             if socket.send(msg).await.is_err() {
///                 break;
///             }
///         }
///     })
/// }
///
/// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
/// let app: Router = Router::new().route("/ws", get(echo)).with_state(auth);
/// ```
#[derive(Debug, Clone)]
pub struct Live(pub Watch);

impl<S> FromRequestParts<S> for Live
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        watch_of(&Authenticator::from_ref(state), parts)
            .await
            .map(Live)
    }
}

/// The watch of the request's caller: its gate's admission (read again if an extraction
/// took the caller out of it), or the authenticator's default modes deciding now.
pub(crate) async fn watch_of(auth: &Authenticator, parts: &Parts) -> Result<Watch, AuthRejection> {
    if let Some(admission) = parts.extensions.get::<Admission>() {
        return Watch::for_request(auth, admission, &parts.headers)
            .await
            .map_err(AuthRejection);
    }
    let gate = Gate::modes(auth.clone(), auth.default_modes().clone());
    let admission = gate.decide(&parts.headers).await.map_err(AuthRejection)?;
    Ok(Watch::of(auth, &admission, &parts.headers))
}

/// The close code of a credential's end: 1008 (policy violation) for a 401 or a 403, 1013
/// (try again later) for a 503, 1011 otherwise.
fn close_code(rejection: &Rejection) -> u16 {
    match rejection.refusal().status().as_u16() {
        401 | 403 => 1008,
        503 => 1013,
        _ => 1011,
    }
}

/// The close frame of a credential's end: its code and the refusal's client-safe
/// description as the reason (never the token).
fn close_frame(rejection: &Rejection) -> CloseFrame {
    use supagate_core::RequestError as _;
    CloseFrame {
        code: close_code(rejection),
        reason: rejection.error().description().into(),
    }
}

/// The close frame of a client that presents tokens faster than [`MIN_RENEWAL_INTERVAL`].
fn too_many_renewals() -> CloseFrame {
    CloseFrame {
        code: 1008,
        reason: "too many token renewals".into(),
    }
}

type Renewing = Pin<Box<dyn Future<Output = Result<Watch, Rejection>> + Send>>;

/// A token a client presents on the open socket: a text message
/// `{"type": "access_token", "access_token": "<jwt>"}`.
#[derive(serde::Deserialize)]
struct Presented {
    #[serde(rename = "type")]
    kind: String,
    access_token: String,
}

/// The longest message that can present a token (a token is at most 48 KiB to the
/// verifier; Supabase's are a kilobyte or two): anything longer is the app's, never parsed.
const MAX_PRESENTED_BYTES: usize = 16 * 1024;

/// The shortest time between two presented tokens: a client refreshes hourly; one that
/// presents tokens faster is closed rather than served a verification (and perhaps a session
/// question) per message.
const MIN_RENEWAL_INTERVAL: Duration = Duration::from_secs(1);

/// The token of a text message that presents one; `None` for any other message.
fn presented_token(text: &str) -> Option<String> {
    // Only a short JSON object can present one; skip parsing anything else.
    if text.len() > MAX_PRESENTED_BYTES
        || !text.trim_start().starts_with('{')
        || !text.contains("access_token")
    {
        return None;
    }
    serde_json::from_str::<Presented>(text)
        .ok()
        .filter(|p| p.kind == "access_token")
        .map(|p| p.access_token)
}

/// An axum [`WebSocket`] bound to the credential it was opened with:
///
/// - it is closed (close code 1008, the reason `token expired` or `session ended`; 1013 when
///   session liveness cannot be checked) when the token expires (`exp` plus the verifier's
///   leeway) or, with session liveness, when the session is revoked; [`recv`](Self::recv)
///   then answers `None` and [`send`](Self::send) an error;
/// - a client keeps it open by presenting its refreshed token as a text message
///   `{"type": "access_token", "access_token": "<jwt>"}` (as a Supabase Realtime client
///   re-authenticates its socket): the token must pass what a new request would (verified,
///   the route's policy, a live session) and be the same user's; the end then moves to the new
///   token's. Such messages are taken by the socket, never handed to the app. A refused token
///   closes the socket with its reason.
///
/// A socket of a caller that is no user (an API key, anyone) is never closed this way.
///
/// # Examples
///
/// See [`Live`]; for a socket that only sends, await [`ended`](Self::ended) beside the
/// app's own events.
pub struct LiveSocket {
    socket: WebSocket,
    watch: Watch,
    ending: Ending,
    /// A presented token being checked: kept across a cancelled `recv`, finished by the next.
    renewing: Option<Renewing>,
    last_renewal: Option<tokio::time::Instant>,
    closed: bool,
}

impl fmt::Debug for LiveSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveSocket")
            .field("watch", &self.watch)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

/// Why [`LiveSocket::send`] failed.
#[derive(Debug)]
pub enum LiveSocketError {
    /// The credential ended: the socket was closed with its reason.
    Ended(Rejection),
    /// The socket was closed already.
    Closed,
    /// The connection failed.
    Socket(axum::Error),
}

impl fmt::Display for LiveSocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LiveSocketError::Ended(r) => write!(f, "the credential ended: {r}"),
            LiveSocketError::Closed => f.write_str("the socket is closed"),
            LiveSocketError::Socket(e) => write!(f, "websocket error: {e}"),
        }
    }
}

impl std::error::Error for LiveSocketError {}

impl LiveSocket {
    /// `socket`, bound to `watch`.
    ///
    /// # Examples
    ///
    /// See [`Live`].
    #[must_use]
    pub fn new(socket: WebSocket, watch: Watch) -> Self {
        let ending = Box::pin(watch.ended());
        LiveSocket {
            socket,
            watch,
            ending,
            renewing: None,
            last_renewal: None,
            closed: false,
        }
    }

    /// The watch of the credential the socket is bound to now.
    #[must_use]
    pub fn watch(&self) -> &Watch {
        &self.watch
    }

    /// The next message from the client: `None` once the connection is over, because the
    /// client closed it or because the credential ended (the client was sent a close frame
    /// with the reason). Presented tokens are handled here and never returned.
    ///
    /// Cancel-safe (in a `select!`): a message is never lost, and a presented token being
    /// checked when the future is dropped is checked on by the next call.
    pub async fn recv(&mut self) -> Option<Result<Message, axum::Error>> {
        loop {
            if self.closed {
                return None;
            }
            if self.watch.expired() {
                let rejection = self.watch.ended().await; // at once: the token is over
                self.close(close_frame(&rejection)).await;
                return None;
            }
            if let Some(renewing) = self.renewing.as_mut() {
                let ending = &mut self.ending;
                let outcome = tokio::select! {
                    biased;
                    rejection = ending => Err(rejection),
                    renewed = renewing => renewed,
                };
                self.renewing = None;
                match outcome {
                    Ok(watch) => {
                        self.ending = Box::pin(watch.ended());
                        self.watch = watch;
                    }
                    Err(rejection) => {
                        self.close(close_frame(&rejection)).await;
                        return None;
                    }
                }
                continue;
            }
            let next = {
                let ending = &mut self.ending;
                let socket = &mut self.socket;
                tokio::select! {
                    biased;
                    rejection = ending => Err(rejection),
                    msg = socket.recv() => Ok(msg),
                }
            };
            let msg = match next {
                Err(rejection) => {
                    self.close(close_frame(&rejection)).await;
                    return None;
                }
                Ok(None) => {
                    self.closed = true;
                    return None;
                }
                Ok(Some(Err(e))) => return Some(Err(e)),
                Ok(Some(Ok(msg))) => msg,
            };
            let token = match &msg {
                Message::Text(text) => presented_token(text.as_str()),
                _ => None,
            };
            let Some(token) = token else {
                return Some(Ok(msg));
            };
            let now = tokio::time::Instant::now();
            if self
                .last_renewal
                .is_some_and(|at| now.duration_since(at) < MIN_RENEWAL_INTERVAL)
            {
                self.close(too_many_renewals()).await;
                return None;
            }
            self.last_renewal = Some(now);
            let mut watch = self.watch.clone();
            self.renewing = Some(Box::pin(async move {
                watch.renew(&token).await.map(|()| watch)
            }));
        }
    }

    /// Sends `msg`, unless the credential ended (then the socket is closed with the reason
    /// first, and the message is not sent).
    ///
    /// # Errors
    ///
    /// [`LiveSocketError::Ended`] when the credential ended, [`LiveSocketError::Closed`] on a
    /// closed socket, [`LiveSocketError::Socket`] when the connection fails.
    pub async fn send(&mut self, msg: Message) -> Result<(), LiveSocketError> {
        if self.closed {
            return Err(LiveSocketError::Closed);
        }
        let ended = if self.watch.expired() {
            Poll::Ready(self.watch.ended().await)
        } else {
            std::future::poll_fn(|cx| Poll::Ready(self.ending.as_mut().poll(cx))).await
        };
        if let Poll::Ready(rejection) = ended {
            self.close(close_frame(&rejection)).await;
            return Err(LiveSocketError::Ended(rejection));
        }
        self.socket.send(msg).await.map_err(LiveSocketError::Socket)
    }

    /// Resolves when the credential ends, after closing the socket with the reason: for a
    /// socket that only sends, to `select!` beside the app's own events. Once the socket is
    /// closed it never resolves.
    pub async fn ended(&mut self) -> Rejection {
        if self.closed {
            return std::future::pending().await;
        }
        let rejection = (&mut self.ending).await;
        self.close(close_frame(&rejection)).await;
        rejection
    }

    /// The socket, unbound (no end, no presented tokens taken).
    #[must_use]
    pub fn into_inner(self) -> WebSocket {
        self.socket
    }

    async fn close(&mut self, frame: CloseFrame) {
        if self.closed {
            return;
        }
        // Marked closed and disarmed before the frame is sent: a close that is cancelled
        // (a client that stopped reading) never leaves a finished future to poll again.
        self.closed = true;
        self.ending = Box::pin(std::future::pending());
        self.renewing = None;
        // The client may be gone already; the socket is over either way.
        let _ = self.socket.send(Message::Close(Some(frame))).await;
    }
}

pin_project_lite::pin_project! {
    /// The stream made by [`live_events`].
    pub struct LiveEvents<S> {
        #[pin]
        events: S,
        watch: Watch,
        ending: Option<Ending>,
        done: bool,
    }
}

impl<S> fmt::Debug for LiveEvents<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveEvents")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// A server-sent-events stream bound to `watch`: `events` pass through until the credential
/// ends, then one last event `supagate.ended` carries the refusal (`{"error": …,
/// "error_description": …}`) and the stream ends. An `EventSource`
/// reconnects by itself, with the session's fresh cookies or token; a stream has no way to
/// present a new token in place.
///
/// # Examples
///
/// ```
/// use axum::response::sse::{Event, Sse};
/// use std::convert::Infallible;
/// use supagate_axum::live::{Live, live_events};
///
/// async fn events(Live(watch): Live) -> Sse<impl futures_core::Stream<Item = Result<Event, Infallible>>> {
///     let ticks = futures_util::stream::repeat_with(|| Ok(Event::default().data("tick")));
///     Sse::new(live_events(ticks, watch))
/// }
/// # let _ = events;
/// ```
pub fn live_events<S, E>(events: S, watch: Watch) -> LiveEvents<S>
where
    S: Stream<Item = Result<Event, E>>,
{
    LiveEvents {
        events,
        ending: Some(Box::pin(watch.ended())),
        watch,
        done: false,
    }
}

/// The last event of a stream whose credential ended: the refusal's RFC 6750 code and
/// description as JSON (always data, whatever the authenticator's own refusal body, so that
/// an `EventSource` dispatches it).
fn ended_event(rejection: &Rejection) -> Event {
    use supagate_core::RequestError as _;
    let err = rejection.error();
    let data = serde_json::json!({
        "error": err.error_code(),
        "error_description": err.description(),
    });
    Event::default()
        .event("supagate.ended")
        .data(data.to_string())
}

impl<S, E> Stream for LiveEvents<S>
where
    S: Stream<Item = Result<Event, E>>,
{
    type Item = Result<Event, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        if let Some(ending) = this.ending.as_mut() {
            if this.watch.expired() {
                // Over by the clock: a fresh end resolves at once.
                *ending = Box::pin(this.watch.ended());
            }
            if let Poll::Ready(rejection) = ending.as_mut().poll(cx) {
                *this.done = true;
                *this.ending = None;
                return Poll::Ready(Some(Ok(ended_event(&rejection))));
            }
        }
        match this.events.poll_next(cx) {
            Poll::Ready(None) => {
                *this.done = true;
                Poll::Ready(None)
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_access_token_message_presents_a_token() {
        assert_eq!(
            presented_token(r#"{"type":"access_token","access_token":"a.b.c"}"#).as_deref(),
            Some("a.b.c")
        );
        for other in [
            "access_token",
            r#"{"type":"chat","access_token":"a.b.c"}"#,
            r#"{"access_token":"a.b.c"}"#,
            r#"{"type":"access_token","access_token":7}"#,
            r#"{"type":"access_token""#,
            "",
        ] {
            assert_eq!(presented_token(other), None, "{other}");
        }
    }
}
