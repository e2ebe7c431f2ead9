//! A node's response body on its way back to the caller: passed on frame by frame, trailers
//! and all; a node lost mid-call ends it with an Unavailable status instead of a broken stream.

use bytes::Bytes;
use http_body::{Body, Frame};
use std::pin::Pin;
use std::task::{Context, Poll};

/// The body of `node`'s response for a call to `service`.
#[derive(Debug)]
pub(crate) struct Upstream {
    inner: tonic::body::Body,
    service: String,
    node: String,
    /// The status sent in place of a failed body; nothing follows it.
    failed: bool,
}

impl Upstream {
    pub(crate) fn new(inner: tonic::body::Body, service: String, node: String) -> Upstream {
        Upstream {
            inner,
            service,
            node,
            failed: false,
        }
    }
}

impl Body for Upstream {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        if self.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Err(status))) => {
                self.failed = true;
                let err = micro::Error::unavailable(
                    crate::PROXY_ID,
                    format!(
                        "the call to {} at {} broke off: {}",
                        self.service,
                        self.node,
                        status.message()
                    ),
                );
                let mut trailers = http::HeaderMap::new();
                // A status as trailers: what a gRPC server sends at the end of a call.
                let _ = err.to_status().add_header(&mut trailers);
                Poll::Ready(Some(Ok(Frame::trailers(trailers))))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
