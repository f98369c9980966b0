//! Connections that outlive the token that opened them, on actix-web: a WebSocket of
//! [`actix-ws`](actix_ws) ([`LiveSocket`]) or a server-sent-events body ([`live_events`])
//! bound to the caller's credential, closed when the token expires or the session is revoked,
//! kept open across a refreshed token presented on the socket. What ends a connection, and
//! which messages present a token, is decided by [`supagate_auth::live`]; this module reads
//! and writes actix's messages.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use actix_web::dev::Payload;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use actix_ws::{
    AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, MessageStream,
    ProtocolError, Session,
};
use futures_core::Stream;
use supagate_auth::live::{
    CLOSE_TIMEOUT, Close, ENDED_EVENT, LiveConnection, UntilEnded, ended_json, until_ended,
};
use supagate_auth::{Admission, AuthError, Gate, Rejection, Watch};

use crate::extract::{ActixHeaders, AuthRejection, authenticator};

/// The [`Watch`] of the request's caller, for a handler that upgrades to a WebSocket or
/// answers with an event stream: the admission of the route's gate ([`Require`], [`Admit`]),
/// or, without one, the authenticator's default modes deciding now.
///
/// [`Require`]: crate::Require
/// [`Admit`]: crate::Admit
///
/// # Examples
///
/// ```
/// use actix_web::{App, Error, HttpRequest, HttpResponse, web};
/// use supagate_actix::live::{Live, LiveSocket};
///
/// async fn echo(req: HttpRequest, body: web::Payload, Live(watch): Live) -> Result<HttpResponse, Error> {
///     let (response, session, messages) = actix_ws::handle(&req, body)?;
///     actix_web::rt::spawn(async move {
///         let mut socket = LiveSocket::new(session, messages, watch);
///         // `None` once the client hangs up, or the credential ended (then the client got
///         // a close frame, 1008 and the reason).
///         while let Some(Ok(msg)) = socket.recv().await {
///             if let actix_ws::AggregatedMessage::Text(text) = msg {
///                 if socket.text(text).await.is_err() {
///                     break;
///                 }
///             }
///         }
///     });
///     Ok(response)
/// }
///
/// # let auth = supagate_auth::Authenticator::new(supagate_testkit::TestKeys::new().verifier());
/// let app = App::new().app_data(auth).route("/ws", web::get().to(echo));
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct Live(pub Watch);

impl FromRequest for Live {
    type Error = AuthRejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { watch_of(&req).await.map(Live) })
    }
}

/// The watch of the request's caller: its gate's admission (read again if an extraction took
/// the caller out of it), or the authenticator's default modes deciding now.
async fn watch_of(req: &HttpRequest) -> Result<Watch, AuthRejection> {
    let Some(auth) = authenticator(req) else {
        return Err(AuthRejection(Rejection::without_authenticator(
            AuthError::Internal {
                what: "no supagate Authenticator registered with App::app_data",
            },
        )));
    };
    let headers = ActixHeaders(req.headers());
    // Cloned out: the extensions are borrowed for the synchronous step only.
    let admission = req.extensions().get::<Admission>().cloned();
    if let Some(admission) = admission {
        return Watch::for_request(&auth, &admission, &headers)
            .await
            .map_err(AuthRejection);
    }
    let gate = Gate::modes(auth.clone(), auth.default_modes().clone());
    let admission = gate.decide(&headers).await.map_err(AuthRejection)?;
    Ok(Watch::of(&auth, &admission, &headers))
}

/// The close reason of a connection's end: its code and reason (never the token).
fn close_reason(close: &Close) -> CloseReason {
    CloseReason {
        code: CloseCode::from(close.code()),
        description: Some(close.reason().to_owned()),
    }
}

/// An [`actix-ws`](actix_ws) WebSocket bound to the credential it was opened with, as
/// [`LiveConnection`] decides:
///
/// - it is closed (close code 1008, the reason `token expired` or `session ended`; 1013 when
///   session liveness cannot be checked) when the token expires (`exp` plus the verifier's
///   leeway) or, with session liveness, when the session is revoked; [`recv`](Self::recv)
///   then answers `None` and the senders an error;
/// - a client keeps it open by presenting its refreshed token as a text message
///   `{"type": "access_token", "access_token": "<jwt>"}` (as a Supabase Realtime client
///   re-authenticates its socket): the token must pass what a new request would (verified,
///   the route's policy, a live session) and be the same user's. Such messages are taken by
///   the socket, never handed to the app. A refused token closes the socket with its reason.
///
/// A socket of a caller that is no user (an API key, anyone) is never closed this way. Messages
/// sent in fragments come whole ([`AggregatedMessage`], up to [`MAX_MESSAGE_BYTES`]), so a
/// token presented in fragments is taken too. As with `actix-ws` itself, pings and the client's
/// close are the app's to answer ([`pong`](Self::pong), [`close_with`](Self::close_with)).
/// Send only through the socket: a cloned [`Session`] would send past the credential's end.
///
/// # Examples
///
/// See [`Live`]; for a socket that only sends, await [`ended`](Self::ended) beside the
/// app's own events.
pub struct LiveSocket {
    session: Session,
    messages: AggregatedMessageStream,
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

/// Why a send on a [`LiveSocket`] failed.
#[derive(Debug)]
pub enum LiveSocketError {
    /// The credential ended: the socket was closed with its reason.
    Ended(Rejection),
    /// The socket was closed already.
    Closed,
}

impl fmt::Display for LiveSocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LiveSocketError::Ended(r) => write!(f, "the credential ended: {r}"),
            LiveSocketError::Closed => f.write_str("the socket is closed"),
        }
    }
}

impl std::error::Error for LiveSocketError {}

impl LiveSocket {
    /// The session and message stream of [`actix_ws::handle`], bound to `watch`.
    ///
    /// # Examples
    ///
    /// See [`Live`].
    #[must_use]
    pub fn new(session: Session, messages: MessageStream, watch: Watch) -> Self {
        LiveSocket {
            session,
            messages: messages
                .aggregate_continuations()
                .max_continuation_size(MAX_MESSAGE_BYTES),
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
    /// client went away or because the credential ended (the client was sent a close frame
    /// with the reason). Presented tokens are handled here and never returned.
    ///
    /// Cancel-safe (in a `select!`): a message is never lost, and a presented token being
    /// checked when the future is dropped is checked on by the next call.
    pub async fn recv(&mut self) -> Option<Result<AggregatedMessage, ProtocolError>> {
        loop {
            if self.closed {
                return None;
            }
            let next = std::future::poll_fn(|cx| {
                // The end first: a message that arrives with it is not the app's any more.
                if let Poll::Ready(close) = self.live.poll_closing(cx) {
                    return Poll::Ready(Err(close));
                }
                Pin::new(&mut self.messages).poll_next(cx).map(Ok)
            })
            .await;
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
                AggregatedMessage::Text(text) => self.live.offer_text(text),
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

    /// Sends a text message, unless the credential ended (then the socket is closed with the
    /// reason first, and the message is not sent).
    ///
    /// # Errors
    ///
    /// [`LiveSocketError::Ended`] when the credential ended, [`LiveSocketError::Closed`] on a
    /// closed socket.
    pub async fn text(
        &mut self,
        text: impl Into<bytestring::ByteString>,
    ) -> Result<(), LiveSocketError> {
        self.ready().await?;
        self.session.text(text).await.map_err(|_| self.gone())
    }

    /// Sends a binary message, as [`text`](Self::text).
    ///
    /// # Errors
    ///
    /// As [`text`](Self::text).
    pub async fn binary(&mut self, bytes: impl Into<Bytes>) -> Result<(), LiveSocketError> {
        self.ready().await?;
        self.session.binary(bytes).await.map_err(|_| self.gone())
    }

    /// Sends a ping (a heartbeat), as [`text`](Self::text).
    ///
    /// # Errors
    ///
    /// As [`text`](Self::text).
    pub async fn ping(&mut self, payload: &[u8]) -> Result<(), LiveSocketError> {
        self.ready().await?;
        self.session.ping(payload).await.map_err(|_| self.gone())
    }

    /// Answers a client's ping, as [`text`](Self::text).
    ///
    /// # Errors
    ///
    /// As [`text`](Self::text).
    pub async fn pong(&mut self, payload: &[u8]) -> Result<(), LiveSocketError> {
        self.ready().await?;
        self.session.pong(payload).await.map_err(|_| self.gone())
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

    /// Closes the socket with `reason` (the app's own close, or its answer to the client's).
    pub async fn close_with(&mut self, reason: Option<CloseReason>) {
        if self.closed {
            return;
        }
        self.closed = true;
        // The client may be gone already, or have stopped reading (the session's queue is
        // full): the socket is over either way, and a close that cannot be queued within the
        // timeout is given up.
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.session.clone().close(reason)).await;
    }

    /// The session and the message stream, unbound (no end, no presented tokens taken).
    #[must_use]
    pub fn into_inner(self) -> (Session, AggregatedMessageStream) {
        (self.session, self.messages)
    }

    /// Closes the socket first when the credential ended.
    async fn ready(&mut self) -> Result<(), LiveSocketError> {
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
        Ok(())
    }

    /// The session refused a message: it is closed.
    fn gone(&mut self) -> LiveSocketError {
        self.closed = true;
        LiveSocketError::Closed
    }

    async fn close(&mut self, close: &Close) {
        self.close_with(Some(close_reason(close))).await;
    }
}

/// The largest message a [`LiveSocket`] reassembles from fragments (1 MiB); a longer one is a
/// protocol error.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// The body made by [`live_events`].
pub type LiveEvents<S, E> = UntilEnded<S, fn(&Rejection) -> Result<Bytes, E>>;

/// A server-sent-events body bound to `watch`: `events` (each item one or more whole events,
/// `event: …\ndata: …\n\n`) pass through until the credential ends, then one last event
/// `supagate.ended` carries the refusal (`{"error": …, "error_description": …}`) and the
/// stream ends. An `EventSource` reconnects by itself, with the session's fresh cookies or
/// token; a stream has no way to present a new token in place.
///
/// # Examples
///
/// ```
/// use actix_web::{HttpResponse, web::Bytes};
/// use std::convert::Infallible;
/// use supagate_actix::live::{Live, live_events};
///
/// async fn events(Live(watch): Live) -> HttpResponse {
///     let ticks = futures_util::stream::repeat_with(|| Ok::<_, Infallible>(Bytes::from_static(b"data: tick\n\n")));
///     HttpResponse::Ok()
///         .content_type("text/event-stream")
///         .streaming(live_events(ticks, watch))
/// }
/// # let _ = events;
/// ```
pub fn live_events<S, E>(events: S, watch: Watch) -> LiveEvents<S, E>
where
    S: Stream<Item = Result<Bytes, E>>,
{
    until_ended(events, watch, ended_event::<E>)
}

/// The last event of a stream whose credential ended, after a line end and a blank line
/// (harmless after whole events; they end and dispatch one the app left open, so that the
/// last event is always one of its own).
fn ended_event<E>(rejection: &Rejection) -> Result<Bytes, E> {
    Ok(Bytes::from(format!(
        "\n\nevent: {ENDED_EVENT}\ndata: {}\n\n",
        ended_json(rejection)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_close_reason_is_the_decided_one() {
        let reason = close_reason(&Close::too_many_renewals());
        assert_eq!(reason.code, CloseCode::Policy);
        assert_eq!(
            reason.description.as_deref(),
            Some("too many token renewals")
        );
    }
}
