//! What the observing layers (metrics, tracing) need of a request on any side: its names, its
//! metadata, and when its response is over.

use crate::client::{Answer, Attempt, Kind};
use crate::metadata::Metadata;
use crate::server::{Delivery, Reply, Request};
use crate::streaming::Frames;
use crate::Error;
use futures::Stream;
use std::pin::Pin;
use std::task::{Context, Poll};

/// How a request ended, told once.
pub(crate) type End = Box<dyn FnOnce(Result<(), &Error>) + Send>;

/// The other end of a request.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub enum Peer<'a> {
    /// The caller of a server.
    Caller(std::net::SocketAddr),
    /// The node a client calls, `host:port`.
    Node(&'a str),
}

/// A request of a server ([`Request`]), a client ([`Attempt`]) or a subscriber ([`Delivery`]).
pub trait Observed: Send + 'static {
    /// What comes back.
    type Response: Send + 'static;
    /// The service (for a publish or a delivery, the topic's service or the topic) and the
    /// endpoint (the subscriber for a delivery; empty for a publish).
    fn names(&self) -> (&str, &str);
    /// The metadata travelling with it, to read or add to.
    #[doc(hidden)]
    fn carrier(&mut self) -> &mut Metadata;
    /// The other end: the caller of a server, the node of a client's call.
    #[doc(hidden)]
    fn peer(&self) -> Option<Peer<'_>>;
    /// The topic, for a message published or delivered.
    #[doc(hidden)]
    fn topic(&self) -> Option<&str>;
    /// Calls `end` when the response is over: at once, or when a stream ends.
    #[doc(hidden)]
    fn finish(response: Self::Response, end: End) -> Self::Response;
}

impl Observed for Request {
    type Response = Reply;
    fn names(&self) -> (&str, &str) {
        (self.service(), self.endpoint())
    }
    fn carrier(&mut self) -> &mut Metadata {
        self.metadata_mut()
    }
    fn peer(&self) -> Option<Peer<'_>> {
        Request::peer(self).map(Peer::Caller)
    }
    fn topic(&self) -> Option<&str> {
        None
    }
    fn finish(reply: Reply, end: End) -> Reply {
        reply.on_end(end)
    }
}

impl Observed for Attempt {
    type Response = Answer;
    fn names(&self) -> (&str, &str) {
        (self.service(), self.endpoint())
    }
    fn carrier(&mut self) -> &mut Metadata {
        self.metadata_mut()
    }
    fn peer(&self) -> Option<Peer<'_>> {
        self.node().map(|n| Peer::Node(&n.address))
    }
    fn topic(&self) -> Option<&str> {
        (self.kind() == Kind::Publish).then(|| self.service())
    }
    fn finish(answer: Answer, end: End) -> Answer {
        match answer {
            Answer::Stream(frames) => Answer::Stream(Box::pin(UntilEnd {
                frames,
                end: Some(end),
            })),
            answer => {
                end(Ok(()));
                answer
            }
        }
    }
}

impl Observed for Delivery {
    type Response = ();
    fn names(&self) -> (&str, &str) {
        (self.context().service(), self.subscriber())
    }
    fn carrier(&mut self) -> &mut Metadata {
        self.metadata_mut()
    }
    fn peer(&self) -> Option<Peer<'_>> {
        None
    }
    fn topic(&self) -> Option<&str> {
        Some(Delivery::topic(self))
    }
    fn finish(_: (), end: End) {
        end(Ok(()))
    }
}

/// A client stream's replies, telling `end` how the stream ended: cleanly, with the server's
/// error, or dropped by the caller before its end (499, as a server sees a caller go away).
struct UntilEnd {
    frames: Frames,
    end: Option<End>,
}

impl UntilEnd {
    fn ended(&mut self, outcome: Result<(), &Error>) {
        if let Some(end) = self.end.take() {
            end(outcome);
        }
    }
}

impl Stream for UntilEnd {
    type Item = Result<bytes::Bytes, tonic::Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = self.frames.as_mut().poll_next(cx);
        match &next {
            Poll::Ready(None) => self.ended(Ok(())),
            Poll::Ready(Some(Err(status))) => {
                let err = Error::from(status.clone());
                self.ended(Err(&err));
            }
            _ => {}
        }
        next
    }
}

impl Drop for UntilEnd {
    fn drop(&mut self) {
        if self.end.is_some() {
            let err = Error::new(
                crate::client::CLIENT_ID,
                "the caller dropped the stream before its end",
                499,
            );
            self.ended(Err(&err));
        }
    }
}
