//! Connections that outlive the token that opened them, decided once for every framework:
//! [`LiveConnection`] (a WebSocket's end, and the refreshed tokens its client presents) and
//! [`until_ended`] (an event stream's end). The adapters (`supagate_axum::live`,
//! `supagate_actix::live`) only read and write their framework's messages.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use supagate_core::RequestError as _;

use crate::refusal::Rejection;
use crate::watch::Watch;

type Ending = Pin<Box<dyn Future<Output = Rejection> + Send>>;
type Renewing = Pin<Box<dyn Future<Output = Result<Watch, Rejection>> + Send>>;

/// The longest message that can present a token (a token is at most 48 KiB to the
/// verifier; Supabase's are a kilobyte or two): anything longer is the app's, never parsed.
pub const MAX_PRESENTED_BYTES: usize = 16 * 1024;

/// The shortest time between two presented tokens: a client refreshes hourly; one that
/// presents tokens faster is closed rather than served a verification (and perhaps a session
/// question) per message.
pub const MIN_RENEWAL_INTERVAL: Duration = Duration::from_secs(1);

/// How long an adapter waits to hand the close frame to a client that stopped reading: after
/// it, the connection is over all the same (its task ends, the socket is dropped).
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a live connection is closed: the close code and reason to send the client, and the
/// refusal a new request would get (none for a client that presented tokens too fast).
///
/// # Examples
///
/// ```
/// use supagate_auth::live::Close;
///
/// let close = Close::too_many_renewals();
/// assert_eq!((close.code(), close.reason()), (1008, "too many token renewals"));
/// assert!(close.rejection().is_none());
/// ```
#[derive(Debug)]
pub struct Close {
    code: u16,
    reason: &'static str,
    rejection: Option<Rejection>,
}

impl Close {
    /// The close of a credential that ended: 1008 (policy violation) for a client error (a
    /// 401, a 403), 1013 (try again later) for a 503, 1011 otherwise; the refusal's client-safe
    /// description as the reason (never the token).
    #[must_use]
    pub fn of(rejection: Rejection) -> Close {
        let code = match rejection.refusal().status().as_u16() {
            400..=499 => 1008,
            503 => 1013,
            _ => 1011,
        };
        Close {
            code,
            reason: rejection.error().description(),
            rejection: Some(rejection),
        }
    }

    /// The close of a client that presents tokens faster than [`MIN_RENEWAL_INTERVAL`], or
    /// presents one while the last is still being checked.
    #[must_use]
    pub fn too_many_renewals() -> Close {
        Close {
            code: 1008,
            reason: "too many token renewals",
            rejection: None,
        }
    }

    /// The WebSocket close code (RFC 6455 §7.4.1).
    #[must_use]
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The close reason: the refusal's description, at most a few dozen bytes (a close
    /// frame's reason is at most 123).
    #[must_use]
    pub fn reason(&self) -> &'static str {
        self.reason
    }

    /// The refusal a new request would get, when the credential ended.
    #[must_use]
    pub fn rejection(&self) -> Option<&Rejection> {
        self.rejection.as_ref()
    }

    /// [`Close::rejection`], by value.
    #[must_use]
    pub fn into_rejection(self) -> Option<Rejection> {
        self.rejection
    }
}

impl fmt::Display for Close {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "closed ({}): {}", self.code, self.reason)
    }
}

impl std::error::Error for Close {}

/// A token a client presents on the open socket: a text message
/// `{"type": "access_token", "access_token": "<jwt>"}`.
#[derive(serde::Deserialize)]
struct Presented {
    #[serde(rename = "type")]
    kind: String,
    access_token: String,
}

/// The token of a text message that presents one; `None` for any other message.
fn presented_token(text: &str) -> Option<String> {
    // Only a short JSON object can present one; skip parsing anything else (a name spelled
    // with `\u` escapes is parsed: it may still present one).
    if text.len() > MAX_PRESENTED_BYTES
        || !text.trim_start().starts_with('{')
        || !(text.contains("access_token") || text.contains("\\u"))
    {
        return None;
    }
    serde_json::from_str::<Presented>(text)
        .ok()
        .filter(|p| p.kind == "access_token")
        .map(|p| p.access_token)
}

/// The state of a connection bound to the credential it was opened with, for any framework's
/// WebSocket:
///
/// - [`closing`](Self::closing) resolves when the connection must be closed: the token
///   expired (`exp` plus the verifier's leeway), the session was revoked (with session
///   liveness), or a token the client presented was refused;
/// - [`offer_text`](Self::offer_text) takes a text message that presents a refreshed token,
///   `{"type": "access_token", "access_token": "<jwt>"}` (as a Supabase Realtime client
///   re-authenticates its socket). The token must pass what a new request would (verified,
///   every admitting gate's policy, a live session) and be the same user's; the end then moves
///   to the new token's. A client that presents tokens faster than [`MIN_RENEWAL_INTERVAL`]
///   is closed.
///
/// A connection of a caller that is no user (an API key, anyone) never closes this way.
///
/// # Examples
///
/// An adapter's receive loop: race the end against the next message, let the binding take
/// presented tokens, hand the rest to the app.
///
/// ```
/// use supagate_auth::live::LiveConnection;
/// use supagate_auth::{Authenticator, Gate, Watch};
/// use supagate_testkit::{TestKeys, TokenBuilder};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let keys = TestKeys::new();
/// let auth = Authenticator::new(keys.verifier());
/// let now = auth.verifier().now();
/// let mut headers = http::HeaderMap::new();
/// let token = TokenBuilder::new().issued_at(now, 60).sign_es256(&keys);
/// headers.insert("authorization", format!("Bearer {token}").parse()?);
/// let admission = Gate::modes(auth.clone(), "user".parse()?).decide(&headers).await?;
/// let mut live = LiveConnection::new(Watch::of(&auth, &admission, &headers));
///
/// let refreshed = TokenBuilder::new().issued_at(now, 3600).sign_es256(&keys);
/// let message = format!(r#"{{"type":"access_token","access_token":"{refreshed}"}}"#);
/// assert!(live.offer_text(&message)?); // taken: never the app's
/// assert!(!live.offer_text("hello")?); // the app's
/// // The renewal is checked while `closing` is polled (here, for 50 ms).
/// let closing = tokio::time::timeout(std::time::Duration::from_millis(50), live.closing());
/// assert!(closing.await.is_err());
/// assert_eq!(live.watch().ends_at(), Some(now + 3600 + 30));
/// # Ok(())
/// # }
/// ```
pub struct LiveConnection {
    watch: Watch,
    ending: Ending,
    /// A presented token being checked: kept across a cancelled `closing`, finished by the next.
    renewing: Option<Renewing>,
    last_renewal: Option<tokio::time::Instant>,
    over: bool,
}

impl fmt::Debug for LiveConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveConnection")
            .field("watch", &self.watch)
            .field("renewing", &self.renewing.is_some())
            .field("over", &self.over)
            .finish_non_exhaustive()
    }
}

impl LiveConnection {
    /// A connection bound to `watch`.
    ///
    /// # Examples
    ///
    /// See [`LiveConnection`].
    #[must_use]
    pub fn new(watch: Watch) -> Self {
        LiveConnection {
            ending: Box::pin(watch.ended()),
            watch,
            renewing: None,
            last_renewal: None,
            over: false,
        }
    }

    /// The watch of the credential the connection is bound to now.
    #[must_use]
    pub fn watch(&self) -> &Watch {
        &self.watch
    }

    /// Whether [`closing`](Self::closing) resolved already: the connection is to be closed,
    /// and nothing more may be sent on it.
    #[must_use]
    pub fn is_over(&self) -> bool {
        self.over
    }

    /// Resolves once, when the connection must be closed, with the code and reason to close
    /// it with; pending forever after that. Checks a presented token while it is polled.
    ///
    /// Cancel-safe (in a `select!` beside the socket's next message): the end and a token
    /// being checked are kept, and the next call goes on with them.
    pub async fn closing(&mut self) -> Close {
        std::future::poll_fn(|cx| self.poll_closing(cx)).await
    }

    /// [`closing`](Self::closing) as a poll: for a check without waiting
    /// (`Poll::Pending` when the connection goes on) and for hand-written futures and streams.
    pub fn poll_closing(&mut self, cx: &mut Context<'_>) -> Poll<Close> {
        if self.over {
            return Poll::Pending;
        }
        loop {
            if self.watch.expired() {
                // Over by the clock (a late timer, a clock moved on): a fresh end is at once.
                self.ending = Box::pin(self.watch.ended());
            }
            // The end first: a token that ran out while a renewal is checked closes.
            if let Poll::Ready(rejection) = self.ending.as_mut().poll(cx) {
                return Poll::Ready(self.finish(Close::of(rejection)));
            }
            let Some(renewing) = self.renewing.as_mut() else {
                return Poll::Pending;
            };
            match renewing.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(rejection)) => {
                    return Poll::Ready(self.finish(Close::of(rejection)));
                }
                Poll::Ready(Ok(watch)) => {
                    self.renewing = None;
                    self.ending = Box::pin(watch.ended());
                    self.watch = watch;
                }
            }
        }
    }

    /// Whether the connection must close now, without waiting: what to check before sending.
    ///
    /// # Examples
    ///
    /// ```
    /// use supagate_auth::live::LiveConnection;
    /// use supagate_auth::{Authenticator, Gate, Watch};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let auth = Authenticator::new(supagate_testkit::TestKeys::new().verifier());
    /// let headers = http::HeaderMap::new();
    /// let anyone = Gate::modes(auth.clone(), "none".parse()?).decide(&headers).await?;
    /// let mut live = LiveConnection::new(Watch::of(&auth, &anyone, &headers));
    /// assert!(live.closing_now().is_none()); // no user: never closes
    /// # Ok(())
    /// # }
    /// ```
    pub fn closing_now(&mut self) -> Option<Close> {
        let waker = std::task::Waker::noop();
        match self.poll_closing(&mut Context::from_waker(waker)) {
            Poll::Ready(close) => Some(close),
            Poll::Pending => None,
        }
    }

    /// A text message from the client: `Ok(true)` when it presented a token, which the
    /// connection took (it is checked while [`closing`](Self::closing) is polled, and never
    /// the app's); `Ok(false)` for any other message, the app's. The app's messages go on
    /// while a token is checked: they come under the credential still in force. Once the
    /// connection is over, every message is taken (none is the app's).
    ///
    /// # Errors
    ///
    /// [`Close::too_many_renewals`] for a token presented within [`MIN_RENEWAL_INTERVAL`] of
    /// the last, or while the last is still being checked: the connection is over.
    pub fn offer_text(&mut self, text: &str) -> Result<bool, Close> {
        if self.over {
            return Ok(true);
        }
        let Some(token) = presented_token(text) else {
            return Ok(false);
        };
        let now = tokio::time::Instant::now();
        if self.renewing.is_some()
            || self
                .last_renewal
                .is_some_and(|at| now.duration_since(at) < MIN_RENEWAL_INTERVAL)
        {
            // Never a second check beside the first, nor one that silently drops it (a token
            // only a slow liveness source would refuse must close the connection).
            return Err(self.finish(Close::too_many_renewals()));
        }
        self.last_renewal = Some(now);
        let mut watch = self.watch.clone();
        self.renewing = Some(Box::pin(async move {
            watch.renew(&token).await.map(|()| watch)
        }));
        Ok(true)
    }

    /// Marks the connection over and disarms it: nothing left to poll again.
    fn finish(&mut self, close: Close) -> Close {
        self.over = true;
        self.ending = Box::pin(std::future::pending());
        self.renewing = None;
        close
    }
}

/// The JSON of a credential's end for an event stream: the refusal's RFC 6750 code and
/// description (`{"error": …, "error_description": …}`), whatever the authenticator's own
/// refusal body, so that an `EventSource` dispatches it as data.
#[must_use]
pub fn ended_json(rejection: &Rejection) -> String {
    let err = rejection.error();
    serde_json::json!({
        "error": err.error_code(),
        "error_description": err.description(),
    })
    .to_string()
}

/// The name of the last event of a stream whose credential ended.
pub const ENDED_EVENT: &str = "supagate.ended";

pin_project_lite::pin_project! {
    /// The stream made by [`until_ended`].
    pub struct UntilEnded<S, F> {
        #[pin]
        items: S,
        watch: Watch,
        ending: Option<Ending>,
        last: Option<F>,
    }
}

impl<S, F> fmt::Debug for UntilEnded<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UntilEnded")
            .field("watch", &self.watch)
            .field("done", &self.last.is_none())
            .finish_non_exhaustive()
    }
}

/// `items` until `watch`'s credential ends, then one last item made by `last` from the
/// refusal, then the end: what an event stream of any framework is wrapped in (the adapters
/// render `last` as their framework's event named [`ENDED_EVENT`], with [`ended_json`]).
///
/// # Examples
///
/// ```
/// use supagate_auth::live::until_ended;
/// use supagate_auth::{Authenticator, Gate, Watch};
/// use supagate_testkit::{TestKeys, TokenBuilder};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let keys = TestKeys::new();
/// let verifier = keys.verifier_builder().leeway(std::time::Duration::ZERO).build()?;
/// let now = verifier.now();
/// let auth = Authenticator::new(verifier);
/// let mut headers = http::HeaderMap::new();
/// let token = TokenBuilder::new().issued_at(now, 1).sign_es256(&keys);
/// headers.insert("authorization", format!("Bearer {token}").parse()?);
/// let admission = Gate::modes(auth.clone(), "user".parse()?).decide(&headers).await?;
/// let watch = Watch::of(&auth, &admission, &headers);
///
/// let forever = futures_util::stream::repeat("tick".to_owned());
/// let mut stream = std::pin::pin!(until_ended(forever, watch, |r| format!("ended: {}", r.refusal().status())));
/// use futures_util::StreamExt;
/// while let Some(item) = stream.next().await {
///     if item != "tick" {
///         assert_eq!(item, "ended: 401 Unauthorized"); // at most a second later
///     }
/// #   tokio::time::sleep(std::time::Duration::from_millis(20)).await;
/// }
/// # Ok(())
/// # }
/// ```
pub fn until_ended<S, F>(items: S, watch: Watch, last: F) -> UntilEnded<S, F>
where
    S: Stream,
    F: FnOnce(&Rejection) -> S::Item,
{
    UntilEnded {
        items,
        ending: Some(Box::pin(watch.ended())),
        watch,
        last: Some(last),
    }
}

impl<S, F> Stream for UntilEnded<S, F>
where
    S: Stream,
    F: FnOnce(&Rejection) -> S::Item,
{
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        if this.last.is_none() {
            return Poll::Ready(None);
        }
        if let Some(ending) = this.ending.as_mut() {
            if this.watch.expired() {
                // Over by the clock: a fresh end resolves at once.
                *ending = Box::pin(this.watch.ended());
            }
            if let Poll::Ready(rejection) = ending.as_mut().poll(cx) {
                *this.ending = None;
                return match this.last.take() {
                    Some(last) => Poll::Ready(Some(last(&rejection))),
                    None => Poll::Ready(None),
                };
            }
        }
        match this.items.poll_next(cx) {
            Poll::Ready(None) => {
                *this.last = None;
                *this.ending = None;
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
        assert_eq!(
            presented_token(r#"  {"access_token":"a.b.c","type":"access_token"}"#).as_deref(),
            Some("a.b.c")
        );
        for other in [
            "access_token",
            r#"{"type":"chat","access_token":"a.b.c"}"#,
            r#"{"access_token":"a.b.c"}"#,
            r#"{"type":"access_token","access_token":7}"#,
            r#"{"type":"chat","text":"\u0041"}"#,
            r#"{"type":"access_token""#,
            "",
        ] {
            assert_eq!(presented_token(other), None, "{other}");
        }
        let long = format!(
            r#"{{"type":"access_token","access_token":"{}"}}"#,
            "a".repeat(MAX_PRESENTED_BYTES)
        );
        assert_eq!(presented_token(&long), None, "too long to be parsed");
        // Escaped names are what serde reads: still a presented token.
        assert_eq!(
            presented_token(r#"{"type":"\u0061ccess_token","\u0061ccess_token":"a.b.c"}"#)
                .as_deref(),
            Some("a.b.c")
        );
    }

    #[test]
    fn close_codes_by_status() {
        let too_many = Close::too_many_renewals();
        assert_eq!(
            (too_many.code(), too_many.reason()),
            (1008, "too many token renewals")
        );
        assert!(too_many.rejection().is_none());
        assert!(too_many.to_string().contains("1008"));
    }
}
