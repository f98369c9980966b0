//! Bodies: the boxed body the proxy answers with, and the guard that bounds a streamed body
//! by size and by idle time.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use tokio::time::{Instant, Sleep};

/// The error type of [`ProxyBody`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response the proxy produces: the upstream's body streamed through (size
/// and idle-time bounded), or a small body of its own.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

/// A complete body.
pub(crate) fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Why a guarded body stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyLimit {
    /// More bytes than allowed.
    TooLarge,
    /// No data within the idle timeout.
    Idle,
}

impl fmt::Display for BodyLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BodyLimit::TooLarge => "body exceeds the configured limit",
            BodyLimit::Idle => "body idle for longer than the configured timeout",
        })
    }
}

impl std::error::Error for BodyLimit {}

/// Whether `err` (or its sources) is a [`BodyLimit::TooLarge`].
pub(crate) fn is_too_large(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if e.downcast_ref::<BodyLimit>() == Some(&BodyLimit::TooLarge) {
            return true;
        }
        cur = e.source();
    }
    false
}

pin_project_lite::pin_project! {
    /// Streams `inner`, failing once more than `remaining` bytes went through or when no frame
    /// arrives within `idle`.
    pub(crate) struct Guarded<B> {
        #[pin]
        inner: B,
        remaining: u64,
        idle: Duration,
        // Armed only while the inner body is pending: a body that is ready at once (the
        // common small response) never touches the timer wheel.
        timer: Option<Pin<Box<Sleep>>>,
    }
}

impl<B> Guarded<B> {
    pub(crate) fn new(inner: B, limit: u64, idle: Duration) -> Self {
        Guarded {
            inner,
            remaining: limit,
            idle,
            timer: None,
        }
    }
}

impl<B> Body for Guarded<B>
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
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let n = u64::try_from(data.len()).unwrap_or(u64::MAX);
                    if n > *this.remaining {
                        *this.remaining = 0;
                        return Poll::Ready(Some(Err(Box::new(BodyLimit::TooLarge))));
                    }
                    *this.remaining -= n;
                }
                *this.timer = None;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let idle = *this.idle;
                let timer = this.timer.get_or_insert_with(|| {
                    Box::pin(tokio::time::sleep_until(Instant::now() + idle))
                });
                if timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Some(Err(Box::new(BodyLimit::Idle))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limits_size() {
        let body = Guarded::new(
            Full::new(Bytes::from_static(b"0123456789")),
            4,
            Duration::from_secs(5),
        );
        let err = body.collect().await.err().map(|e| is_too_large(&*e));
        assert_eq!(err, Some(true));
        let body = Guarded::new(
            Full::new(Bytes::from_static(b"0123")),
            4,
            Duration::from_secs(5),
        );
        assert_eq!(
            body.collect().await.ok().map(|c| c.to_bytes()),
            Some(Bytes::from_static(b"0123"))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn idle_timeout() {
        let body = Guarded::new(Silent, 100, Duration::from_secs(2));
        let err = body.collect().await.err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("body idle for longer than the configured timeout")
        );
    }

    /// A body that never sends anything.
    struct Silent;

    impl Body for Silent {
        type Data = Bytes;
        type Error = BoxError;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            Poll::Pending
        }
    }
}
