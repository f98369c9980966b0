//! Connections that outlive the token that opened them: a WebSocket ([`LiveSocket`]) or a
//! server-sent-events stream ([`live_events`]) bound to the caller's credential, closed when
//! the token expires or the session is revoked, kept open across a refreshed token presented
//! on the socket.

use std::fmt;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::response::sse::Event;
use axum_core::extract::{FromRef, FromRequestParts};
use futures_core::Stream;
use http::request::Parts;
use supagate_auth::live::{
    CLOSE_TIMEOUT, Close, ENDED_EVENT, LiveConnection, UntilEnded, ended_json, until_ended,
};
use supagate_auth::{Admission, Authenticator, Gate, Rejection, Watch};

use crate::extract::AuthRejection;

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

/// The close frame of a connection's end: its code and reason (never the token).
fn close_frame(close: &Close) -> CloseFrame {
    CloseFrame {
        code: close.code(),
        reason: close.reason().into(),
    }
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
    live: LiveConnection,
    closed: bool,
}

impl fmt::Debug for LiveSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveSocket")
            .field("live", &self.live)
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
        LiveSocket {
            socket,
            live: LiveConnection::new(watch),
            closed: false,
        }
    }

    /// The watch of the credential the socket is bound to now.
    #[must_use]
    pub fn watch(&self) -> &Watch {
        self.live.watch()
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
            let next = {
                let live = &mut self.live;
                let socket = &mut self.socket;
                tokio::select! {
                    biased;
                    close = live.closing() => Err(close),
                    msg = socket.recv() => Ok(msg),
                }
            };
            let msg = match next {
                Err(close) => {
                    self.close(&close).await;
                    return None;
                }
                Ok(None) => {
                    self.closed = true;
                    return None;
                }
                Ok(Some(Err(e))) => return Some(Err(e)),
                Ok(Some(Ok(msg))) => msg,
            };
            let taken = match &msg {
                Message::Text(text) => self.live.offer_text(text.as_str()),
                _ => Ok(false),
            };
            match taken {
                Ok(false) => return Some(Ok(msg)),
                Ok(true) => {}
                Err(close) => {
                    self.close(&close).await;
                    return None;
                }
            }
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
        if let Some(close) = self.live.closing_now() {
            self.close(&close).await;
            return Err(match close.into_rejection() {
                Some(rejection) => LiveSocketError::Ended(rejection),
                None => LiveSocketError::Closed,
            });
        }
        self.socket.send(msg).await.map_err(LiveSocketError::Socket)
    }

    /// Resolves when the credential ends, after closing the socket with the reason: for a
    /// socket that only sends, to `select!` beside the app's own events. Once the socket is
    /// closed it never resolves.
    pub async fn ended(&mut self) -> Rejection {
        loop {
            if self.closed {
                return std::future::pending().await;
            }
            let close = self.live.closing().await;
            self.close(&close).await;
            if let Some(rejection) = close.into_rejection() {
                return rejection;
            }
        }
    }

    /// The socket, unbound (no end, no presented tokens taken).
    #[must_use]
    pub fn into_inner(self) -> WebSocket {
        self.socket
    }

    async fn close(&mut self, close: &Close) {
        if self.closed {
            return;
        }
        // Marked closed before the frame is sent: a close that is cancelled (a client that
        // stopped reading) is not sent again.
        self.closed = true;
        // The client may be gone already, or have stopped reading: the socket is over either
        // way, and a close frame that cannot be handed over within the timeout is given up.
        let frame = Message::Close(Some(close_frame(close)));
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.socket.send(frame)).await;
    }
}

/// The stream made by [`live_events`].
pub type LiveEvents<S, E> = UntilEnded<S, fn(&Rejection) -> Result<Event, E>>;

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
pub fn live_events<S, E>(events: S, watch: Watch) -> LiveEvents<S, E>
where
    S: Stream<Item = Result<Event, E>>,
{
    until_ended(events, watch, ended_event::<E>)
}

/// The last event of a stream whose credential ended: `supagate.ended`, with the refusal's
/// RFC 6750 code and description as JSON data.
fn ended_event<E>(rejection: &Rejection) -> Result<Event, E> {
    Ok(Event::default()
        .event(ENDED_EVENT)
        .data(ended_json(rejection)))
}
