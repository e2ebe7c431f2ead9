//! The response body of a streaming call: the handler's replies as gRPC frames, several to a
//! write when they come quickly, then the final status as trailers.

use super::guard::{handler_error, panicked, stopping};
use super::handler::Replies;
use super::request::EndHooks;
use super::Shared;
use crate::Error;
use bytes::{Bytes, BytesMut};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio_util::sync::WaitForCancellationFutureOwned;
use tonic::{Code, Status};

/// Replies are sent once this much is written, or when the handler has no more ready.
const FLUSH_AT: usize = 32 << 10;

/// A handler error ends the stream with its status, a panic with Internal, a reply over the size
/// limit with 413, the deadline with DeadlineExceeded, and the server's drain running out with
/// Unavailable; the replies before each still arrive.
pub(super) struct ReplyBody {
    replies: Box<dyn Replies>,
    /// Frames written and not yet sent.
    buf: BytesMut,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Ready when the server stops waiting for streams to end.
    cut: Pin<Box<WaitForCancellationFutureOwned>>,
    /// The endpoint, `Handler.Method`.
    name: String,
    shared: Arc<Shared>,
    /// How the stream ends, once known; sent after the frames before it.
    end: Option<Status>,
    done: bool,
    /// The layers' hooks, told how the stream ended.
    hooks: Option<EndHooks>,
}

impl ReplyBody {
    pub(super) fn new(
        replies: Box<dyn Replies>,
        deadline: Option<Instant>,
        name: String,
        shared: Arc<Shared>,
        hooks: Option<EndHooks>,
    ) -> ReplyBody {
        ReplyBody {
            replies,
            buf: BytesMut::with_capacity(FLUSH_AT),
            deadline: deadline.map(|d| Box::pin(tokio::time::sleep_until(d.into()))),
            cut: Box::pin(shared.cut.clone().cancelled_owned()),
            name,
            shared,
            end: None,
            done: false,
            hooks,
        }
    }

    /// Writes replies while the handler has them ready, until the buffer is full or the stream
    /// has ended.
    fn fill(&mut self, cx: &mut Context<'_>) {
        let limit = self.shared.max_message_size;
        let service = self.shared.name.as_str();
        // A stream whose replies are always ready is cut too.
        if self.end.is_none() && self.shared.cut.is_cancelled() {
            self.end = Some(stopping(service, &self.name).to_status());
        }
        while self.end.is_none() && self.buf.len() < FLUSH_AT {
            let start = self.buf.len();
            let polled = std::panic::catch_unwind(AssertUnwindSafe(|| {
                self.replies.poll_frame(cx, &mut self.buf)
            }));
            self.end = match polled {
                Ok(Poll::Ready(Some(Ok(len)))) if len <= limit => continue,
                Ok(Poll::Ready(Some(Ok(len)))) => {
                    self.buf.truncate(start);
                    let detail = format!(
                        "a reply of {} is {len} bytes, over the limit of {limit} bytes",
                        self.name
                    );
                    Some(Error::too_large(service, detail).to_status())
                }
                Ok(Poll::Ready(Some(Err(err)))) => {
                    self.buf.truncate(start);
                    Some(handler_error(service, err))
                }
                Ok(Poll::Ready(None)) => Some(Status::ok("")),
                Ok(Poll::Pending) => {
                    let late = self.deadline.as_mut().map(|d| d.as_mut().poll(cx));
                    if late == Some(Poll::Ready(())) {
                        let detail = format!("{} passed the caller's deadline", self.name);
                        Some(Error::timeout(service, detail).to_status())
                    } else if self.cut.as_mut().poll(cx).is_ready() {
                        Some(stopping(service, &self.name).to_status())
                    } else {
                        return;
                    }
                }
                Err(panic) => {
                    self.buf.truncate(start);
                    Some(panicked(service, &self.name, &*panic))
                }
            };
        }
    }
}

impl http_body::Body for ReplyBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Status>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        this.fill(cx);
        if !this.buf.is_empty() {
            let frames = this.buf.split().freeze();
            return Poll::Ready(Some(Ok(http_body::Frame::data(frames))));
        }
        let Some(end) = this.end.take() else {
            return Poll::Pending;
        };
        this.done = true;
        let ok = end.code() == Code::Ok;
        if !ok {
            this.shared.stats.errors.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(hooks) = this.hooks.take() {
            match ok {
                true => hooks.ended(Ok(())),
                false => hooks.ended(Err(&Error::from_status(&this.shared.name, &end))),
            }
        }
        let mut trailers = http::HeaderMap::new();
        if let Err(e) = end.add_header(&mut trailers) {
            return Poll::Ready(Some(Err(e)));
        }
        Poll::Ready(Some(Ok(http_body::Frame::trailers(trailers))))
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two replies, then a panic.
    struct PanicsAfterTwo(usize);

    impl Replies for PanicsAfterTwo {
        fn poll_frame(
            &mut self,
            _cx: &mut Context<'_>,
            buf: &mut BytesMut,
        ) -> Poll<Option<crate::Result<usize>>> {
            self.0 += 1;
            if self.0 > 2 {
                panic!("boom");
            }
            let reply = crate::server::debug::proto::HealthResponse {
                status: self.0.to_string(),
            };
            let msg = crate::codec::Codec::Json.encode_frame(&reply, buf);
            Poll::Ready(Some(
                msg.map_err(|e| Error::internal_server_error("t", e.to_string())),
            ))
        }
    }

    #[tokio::test]
    async fn a_panic_mid_stream_ends_it_with_internal_after_the_replies_before() {
        use http_body_util::BodyExt;
        let shared = Arc::new(Shared {
            name: "svc".into(),
            router: Default::default(),
            max_message_size: 1 << 20,
            stats: Default::default(),
            stack: None,
            layer_debug: false,
            internal_stack: None,
            forward: None,
            body_timeout: std::time::Duration::from_secs(60),
            cut: Default::default(),
        });
        let body = ReplyBody::new(
            Box::new(PanicsAfterTwo(0)),
            None,
            "Svc.Stream".into(),
            Arc::clone(&shared),
            None,
        );
        let collected = body.collect().await.unwrap();
        let trailers = collected.trailers().cloned().expect("trailers");
        let data = collected.to_bytes();
        // Two frames: flag, length, JSON.
        assert_eq!(
            &data[..],
            b"\0\0\0\0\x0e{\"status\":\"1\"}\0\0\0\0\x0e{\"status\":\"2\"}"
        );
        let status = Status::from_header_map(&trailers).expect("a status");
        assert_eq!(status.code(), Code::Internal);
        let err = Error::from_status("svc", &status);
        assert_eq!(err.detail, "Svc.Stream panicked: boom");
        assert_eq!(shared.stats.errors.load(Ordering::Relaxed), 1);
    }
}
