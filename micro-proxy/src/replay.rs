//! A request body that can be sent again: what a forwarded call keeps of the caller's frames
//! until the node answers, so that a node found dead before answering can be swapped for
//! another with nothing lost.

use bytes::Bytes;
use http_body::{Body, Frame};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

/// The caller's body, shared by the attempts to send it; only the newest reads.
#[derive(Debug, Clone)]
pub(crate) struct Replay {
    source: Arc<Mutex<Source>>,
}

#[derive(Debug)]
struct Source {
    live: tonic::body::Body,
    /// Frames read from `live` and kept to send again.
    kept: Vec<Kept>,
    kept_bytes: usize,
    /// How much may be kept; past it, nothing is kept and no attempt can follow.
    limit: usize,
    /// False once a node answered (or the limit passed): frames are then only passed on.
    keeping: bool,
    /// The frames could not all be kept, or the caller's body failed.
    lost: bool,
    /// `live` has ended.
    ended: bool,
    /// The newest attempt, and how far into `kept` it is.
    generation: u64,
    position: usize,
}

#[derive(Debug, Clone)]
enum Kept {
    Data(Bytes),
    Trailers(http::HeaderMap),
}

impl Kept {
    fn frame(&self) -> Frame<Bytes> {
        match self {
            Kept::Data(data) => Frame::data(data.clone()),
            Kept::Trailers(trailers) => Frame::trailers(trailers.clone()),
        }
    }
}

impl Replay {
    /// `body`, keeping up to `limit` bytes of it to send again.
    pub(crate) fn new(body: tonic::body::Body, limit: usize) -> Replay {
        Replay {
            source: Arc::new(Mutex::new(Source {
                live: body,
                kept: Vec::new(),
                kept_bytes: 0,
                limit,
                keeping: true,
                lost: false,
                ended: false,
                generation: 0,
                position: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Source> {
        self.source.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The body for the next attempt: every frame kept so far, then the rest as it comes. The
    /// bodies of earlier attempts end at once from now on.
    pub(crate) fn attempt(&self) -> AttemptBody {
        let mut source = self.lock();
        source.generation += 1;
        source.position = 0;
        AttemptBody {
            source: Arc::clone(&self.source),
            generation: source.generation,
        }
    }

    /// Whether another attempt would send the whole body.
    pub(crate) fn can_replay(&self) -> bool {
        let source = self.lock();
        source.keeping && !source.lost
    }

    /// A node answered: keep nothing more (what the attempt has not yet sent stays for it).
    pub(crate) fn settle(&self) {
        let mut source = self.lock();
        source.keeping = false;
        let sent = source.position;
        source.kept.drain(..sent);
        source.position = 0;
    }
}

/// The body of one attempt.
#[derive(Debug)]
pub(crate) struct AttemptBody {
    source: Arc<Mutex<Source>>,
    generation: u64,
}

impl Body for AttemptBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let mut source = self.source.lock().unwrap_or_else(|e| e.into_inner());
        if source.generation != self.generation {
            // A newer attempt sends the body now.
            return Poll::Ready(None);
        }
        if let Some(kept) = source.kept.get(source.position) {
            let frame = kept.frame();
            source.position += 1;
            return Poll::Ready(Some(Ok(frame)));
        }
        if source.ended {
            return Poll::Ready(None);
        }
        match Pin::new(&mut source.live).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                source.ended = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(status))) => {
                source.lost = true;
                Poll::Ready(Some(Err(status)))
            }
            Poll::Ready(Some(Ok(frame))) => {
                if source.keeping {
                    source.keep(&frame);
                }
                // Known now, so the frame goes out with END_STREAM: a DATA frame and then an
                // empty one would double the small frames, which h2 servers budget.
                if source.live.is_end_stream() {
                    source.ended = true;
                }
                Poll::Ready(Some(Ok(frame)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        let source = self.source.lock().unwrap_or_else(|e| e.into_inner());
        source.generation != self.generation
            || (source.ended && source.position >= source.kept.len())
    }
}

impl Source {
    fn keep(&mut self, frame: &Frame<Bytes>) {
        let kept = if let Some(data) = frame.data_ref() {
            self.kept_bytes += data.len();
            Kept::Data(data.clone())
        } else if let Some(trailers) = frame.trailers_ref() {
            Kept::Trailers(trailers.clone())
        } else {
            return;
        };
        if self.kept_bytes > self.limit {
            self.keeping = false;
            self.lost = true;
            self.kept.clear();
            self.position = 0;
            return;
        }
        self.kept.push(kept);
        self.position += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn body_of(chunks: &[&'static str]) -> tonic::body::Body {
        let frames = chunks
            .iter()
            .map(|c| Ok::<_, tonic::Status>(Frame::data(Bytes::from_static(c.as_bytes()))))
            .collect::<Vec<_>>();
        tonic::body::Body::new(http_body_util_stream(frames))
    }

    // A body from frames, without another dependency.
    fn http_body_util_stream(
        frames: Vec<Result<Frame<Bytes>, tonic::Status>>,
    ) -> impl Body<Data = Bytes, Error = tonic::Status> + Send + 'static {
        struct Frames(std::collections::VecDeque<Result<Frame<Bytes>, tonic::Status>>);
        impl Body for Frames {
            type Data = Bytes;
            type Error = tonic::Status;
            fn poll_frame(
                mut self: Pin<&mut Self>,
                _: &mut Context<'_>,
            ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
                Poll::Ready(self.0.pop_front())
            }
        }
        Frames(frames.into())
    }

    async fn read(body: AttemptBody, at_most: usize) -> Vec<Bytes> {
        let frames = futures::stream::unfold(Box::pin(body), |mut b| async move {
            let frame = std::future::poll_fn(|cx| b.as_mut().poll_frame(cx)).await?;
            Some((frame.ok()?.into_data().ok()?, b))
        });
        frames.take(at_most).collect().await
    }

    #[tokio::test]
    async fn a_second_attempt_sends_what_the_first_read_then_the_rest() {
        let replay = Replay::new(body_of(&["a", "b", "c"]), 1024);
        let first = read(replay.attempt(), 2).await;
        assert_eq!(first, ["a", "b"]);
        assert!(replay.can_replay());
        let second = read(replay.attempt(), 10).await;
        assert_eq!(second, ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn an_older_attempt_reads_nothing_more() {
        let replay = Replay::new(body_of(&["a", "b"]), 1024);
        let old = replay.attempt();
        let _new = replay.attempt();
        assert!(read(old, 10).await.is_empty());
    }

    #[tokio::test]
    async fn past_the_limit_nothing_can_be_sent_again() {
        let replay = Replay::new(body_of(&["aaaa", "bbbb"]), 6);
        let first = read(replay.attempt(), 10).await;
        assert_eq!(first, ["aaaa", "bbbb"]);
        assert!(!replay.can_replay());
    }

    #[tokio::test]
    async fn settling_keeps_what_the_attempt_has_still_to_send() {
        let replay = Replay::new(body_of(&["a", "b", "c"]), 1024);
        let _ = read(replay.attempt(), 2).await;
        let mut second = Box::pin(replay.attempt());
        let frame = std::future::poll_fn(|cx| second.as_mut().poll_frame(cx)).await;
        assert_eq!(frame.unwrap().unwrap().into_data().unwrap(), "a");
        replay.settle();
        assert!(!replay.can_replay());
        let rest = read(*Pin::into_inner(second), 10).await;
        assert_eq!(rest, ["b", "c"]);
    }
}
