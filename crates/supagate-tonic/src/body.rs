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
    /// The watch is armed the first time the service has no frame ready (a stream waiting
    /// for its next message), so a unary answer, whose frames are ready at once, costs no
    /// timer.
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
        watch: Option<Watch>,
        ending: Option<Ending>,
        state: State,
    }
}

enum State {
    Streaming,
    /// The watch ended: these trailers go next, then the stream ends.
    Ending(HeaderMap),
    Done,
}

impl<B> fmt::Debug for Watched<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watched")
            .field("watch", &self.watch)
            .field("armed", &self.ending.is_some())
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
            watch: Some(watch),
            ending: None,
            state: State::Streaming,
        }
    }
}

/// The trailers of a stream its credential ended.
fn trailers_of(rejection: &Rejection) -> HeaderMap {
    let mut trailers = HeaderMap::new();
    // `add_header` fails only on a message that is no header value, which a percent-encoded
    // description never is; the status line then still goes out.
    if status(rejection).add_header(&mut trailers).is_err() {
        trailers.insert(
            tonic::Status::GRPC_STATUS,
            http::HeaderValue::from_static("16"),
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
        match std::mem::replace(this.state, State::Done) {
            State::Done => return Poll::Ready(None),
            State::Ending(trailers) => return Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            State::Streaming => *this.state = State::Streaming,
        }
        // Armed: the end comes before any further frame.
        if let Some(ending) = this.ending.as_mut()
            && let Poll::Ready(rejection) = ending.as_mut().poll(cx)
        {
            *this.state = State::Done;
            *this.ending = None;
            return Poll::Ready(Some(Ok(Frame::trailers(trailers_of(&rejection)))));
        }
        match this.inner.poll_frame(cx) {
            Poll::Ready(None) => {
                *this.state = State::Done;
                Poll::Ready(None)
            }
            Poll::Ready(Some(frame)) => Poll::Ready(Some(frame.map_err(Into::into))),
            Poll::Pending => {
                if this.ending.is_none()
                    && let Some(watch) = this.watch.take()
                {
                    let mut ending: Ending = Box::pin(watch.ended());
                    if let Poll::Ready(rejection) = ending.as_mut().poll(cx) {
                        *this.state = State::Ending(trailers_of(&rejection));
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    *this.ending = Some(ending);
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, State::Done)
            || (matches!(self.state, State::Streaming) && self.inner.is_end_stream())
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
