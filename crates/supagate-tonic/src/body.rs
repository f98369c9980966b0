//! A response body that ends with the credential it was admitted with.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use supagate_auth::{Rejection, Watch};

use crate::status::status;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Ending = Pin<Box<dyn Future<Output = Rejection> + Send>>;

pin_project_lite::pin_project! {
    /// A gRPC response body bound to its caller's credential: it passes the service's frames
    /// through until the [`Watch`] ends (the token expired, the session was revoked), then
    /// ends the stream with trailers carrying the refusal's status (`Unauthenticated`, or
    /// `Unavailable` when liveness cannot be checked) instead of streaming on. What
    /// [`GateLayer`](crate::GateLayer) wraps every admitted user's response in.
    ///
    /// The first message, when it is ready at once, is the answer of a call the gate admitted
    /// and goes as it is (a unary answer is never cut, nor costs a timer). The watch is armed
    /// once the body proves to be a stream: its second message, or a wait for one. A stream
    /// whose messages are always ready (an export, a replay) is armed all the same, and no
    /// message ready after the end is sent.
    ///
    /// # Examples
    ///
    /// ```
    /// use http_body_util::BodyExt;
    /// use supagate_auth::{Authenticator, Gate, Watch};
    /// use supagate_testkit::{TestKeys, TokenBuilder};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let keys = TestKeys::new();
    /// let verifier = keys.verifier_builder().leeway(std::time::Duration::ZERO).build()?;
    /// let token = TokenBuilder::new().issued_at(verifier.now(), 1).sign_es256(&keys);
    /// let auth = Authenticator::new(verifier);
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("authorization", format!("Bearer {token}").parse()?);
    /// let admission = Gate::modes(auth.clone(), "user".parse()?).decide(&headers).await?;
    /// // A stream that never sends anything: it ends when the token does, within a second.
    /// let forever = http_body_util::StreamBody::new(futures_util::stream::pending::<
    ///     Result<http_body::Frame<bytes::Bytes>, std::convert::Infallible>,
    /// >());
    /// let body = supagate_tonic::Watched::new(forever, Watch::of(&auth, &admission, &headers));
    /// let collected = body.collect().await.map_err(|e| e.to_string())?;
    /// let trailers = collected.trailers().cloned().expect("trailers");
    /// assert_eq!(trailers["grpc-status"], "16"); // Unauthenticated
    /// # Ok(())
    /// # }
    /// ```
    pub struct Watched<B> {
        #[pin]
        inner: B,
        guard: Guard,
        state: State,
    }
}

enum State {
    Streaming,
    Done,
}

/// One direction of a call, watched. Its first message, ready when first asked for, is the
/// answer (or request) of a call the gate admitted and is never cut. From the second message
/// on, or once the body waits for a message, it is a stream: the watch is armed (a timer, the
/// liveness questions; its first poll reads the clock) and each further message comes only
/// before the end.
struct Guard {
    watch: Watch,
    ending: Option<Ending>,
    messages: u32,
}

impl Guard {
    fn new(watch: Watch) -> Self {
        Guard {
            watch,
            ending: None,
            messages: 0,
        }
    }

    /// `Ready` with the refusal once the credential ended, for an armed watch (unarmed, the
    /// next message checks: a frame that is no message, the service's trailers after a
    /// unary answer, goes as it is).
    fn poll_end(&mut self, cx: &mut Context<'_>) -> Poll<Rejection> {
        match &mut self.ending {
            Some(ending) => ending.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }

    /// Arms the watch (once) and polls it.
    fn arm(&mut self, cx: &mut Context<'_>) -> Poll<Rejection> {
        let watch = &self.watch;
        self.ending
            .get_or_insert_with(|| Box::pin(watch.ended()))
            .as_mut()
            .poll(cx)
    }

    /// Counts a message that is ready: the first goes as it is; from the second on, the
    /// direction is a stream, armed, and the message goes only before the end.
    fn message(&mut self, cx: &mut Context<'_>) -> Poll<Rejection> {
        self.messages = self.messages.saturating_add(1);
        if self.messages >= 2 {
            self.arm(cx)
        } else {
            Poll::Pending
        }
    }
}

impl<B> fmt::Debug for Watched<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watched")
            .field("watch", &self.guard.watch)
            .field("armed", &self.guard.ending.is_some())
            .finish_non_exhaustive()
    }
}

impl<B> Watched<B> {
    /// `inner`, ended by `watch`.
    ///
    /// # Examples
    ///
    /// See [`Watched`].
    pub fn new(inner: B, watch: Watch) -> Self {
        Watched {
            inner,
            guard: Guard::new(watch),
            state: State::Streaming,
        }
    }
}

/// The trailers of a stream its credential ended.
fn trailers_of(rejection: &Rejection) -> HeaderMap {
    let status = status(rejection);
    let mut trailers = HeaderMap::new();
    // `add_header` fails only on a message that is no header value, which a percent-encoded
    // description never is; the code then still goes out.
    if status.add_header(&mut trailers).is_err() {
        trailers.insert(
            tonic::Status::GRPC_STATUS,
            http::HeaderValue::from(status.code() as i32),
        );
    }
    trailers
}

impl<B> Body for Watched<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        if matches!(this.state, State::Done) {
            return Poll::Ready(None);
        }
        let ended = |state: &mut State, rejection: Rejection| {
            *state = State::Done;
            Poll::Ready(Some(Ok(Frame::trailers(trailers_of(&rejection)))))
        };
        // The end comes before any further frame.
        if let Poll::Ready(rejection) = this.guard.poll_end(cx) {
            return ended(this.state, rejection);
        }
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if frame.is_data() {
                    // A message ready after the end is not sent: the end goes instead.
                    if let Poll::Ready(rejection) = this.guard.message(cx) {
                        return ended(this.state, rejection);
                    }
                } else {
                    // The service's own trailers end the stream: nothing follows them.
                    *this.state = State::Done;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                *this.state = State::Done;
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(None) => {
                *this.state = State::Done;
                Poll::Ready(None)
            }
            // Waiting for the next message: a stream, armed now.
            Poll::Pending => match this.guard.arm(cx) {
                Poll::Ready(rejection) => ended(this.state, rejection),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn size_hint(&self) -> SizeHint {
        // Never exact: the watch may end the stream before the service does.
        let mut hint = SizeHint::new();
        if let (State::Streaming, Some(upper)) = (&self.state, self.inner.size_hint().upper()) {
            hint.set_upper(upper);
        }
        hint
    }
}

pin_project_lite::pin_project! {
    /// A call's request body bound to its caller's credential (client and bidirectional
    /// streams): the client's messages reach the service until the watch ends, then the
    /// service reads the refusal's status as the stream's error (`Unauthenticated`,
    /// `token expired`) and never a message sent after it.
    pub(crate) struct WatchedRequest<B> {
        #[pin]
        inner: B,
        guard: Guard,
        done: bool,
    }
}

impl<B> WatchedRequest<B> {
    pub(crate) fn new(inner: B, watch: Watch) -> Self {
        WatchedRequest {
            inner,
            guard: Guard::new(watch),
            done: false,
        }
    }
}

impl<B> Body for WatchedRequest<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        let ended = |done: &mut bool, rejection: Rejection| {
            *done = true;
            Poll::Ready(Some(Err(BoxError::from(status(&rejection)))))
        };
        if let Poll::Ready(rejection) = this.guard.poll_end(cx) {
            return ended(this.done, rejection);
        }
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if frame.is_data()
                    && let Poll::Ready(rejection) = this.guard.message(cx)
                {
                    return ended(this.done, rejection);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => {
                *this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
