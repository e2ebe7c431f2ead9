//! Streams of messages: what a streaming handler receives and what a streaming call returns.

use crate::codec::{Codec, CodecError, Message};
use crate::Error;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A stream of handler replies, for handlers that name their return type instead of writing
/// `impl Stream<Item = micro::Result<Rsp>>`.
pub type ResponseStream<T> = BoxStream<'static, crate::Result<T>>;

/// Encoded gRPC messages as they come off the wire (a stream's request or reply frames).
pub(crate) type Frames = BoxStream<'static, Result<Bytes, tonic::Status>>;

/// Which side reads the stream; it decides who is to blame for a message that does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// The server reads requests: a bad message is the caller's fault (400).
    Server,
    /// The client reads replies: a bad message is the server's fault (500).
    Client,
}

/// A stream of messages decoded from gRPC frames in the call's codec.
///
/// Read it as a [`Stream`] of `micro::Result<T>`, or with [`message`](Self::message). It ends
/// after the first error: an undecodable frame, the peer's error, or the deadline.
pub struct Streaming<T> {
    frames: Frames,
    decode: fn(Codec, &[u8]) -> Result<T, CodecError>,
    codec: Codec,
    side: Side,
    /// `service.Endpoint` (or the service name), for error messages and ids.
    id: String,
    what: String,
    done: bool,
    _t: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Streaming<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streaming")
            .field("what", &self.what)
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

fn decode_message<T: Message>(codec: Codec, buf: &[u8]) -> Result<T, CodecError> {
    codec.decode(buf)
}

fn decode_json(_codec: Codec, buf: &[u8]) -> Result<serde_json::Value, CodecError> {
    if buf.is_empty() {
        return Ok(serde_json::Value::Object(Default::default()));
    }
    Ok(serde_json::from_slice(buf)?)
}

impl<T: Message> Streaming<T> {
    pub(crate) fn new(frames: Frames, codec: Codec, side: Side, id: &str, what: &str) -> Self {
        Streaming::with_decoder(frames, codec, side, id, what, decode_message::<T>)
    }
}

impl Streaming<serde_json::Value> {
    pub(crate) fn json(frames: Frames, id: &str, what: &str) -> Self {
        Streaming::with_decoder(frames, Codec::Json, Side::Client, id, what, decode_json)
    }
}

impl<T> Streaming<T> {
    fn with_decoder(
        frames: Frames,
        codec: Codec,
        side: Side,
        id: &str,
        what: &str,
        decode: fn(Codec, &[u8]) -> Result<T, CodecError>,
    ) -> Self {
        Streaming {
            frames,
            decode,
            codec,
            side,
            id: id.to_string(),
            what: what.to_string(),
            done: false,
            _t: PhantomData,
        }
    }

    /// The next message; `Ok(None)` once the stream ended cleanly.
    pub async fn message(&mut self) -> crate::Result<Option<T>> {
        self.next().await.transpose()
    }

    fn error(&self, status: tonic::Status) -> Error {
        match self.side {
            // The caller's stream broke (reset, too large): say which stream.
            Side::Server => {
                let detail = format!(
                    "reading the request stream of {}: {}",
                    self.what,
                    status.message()
                );
                match status.code() {
                    tonic::Code::OutOfRange | tonic::Code::ResourceExhausted => {
                        Error::too_large(&self.id, detail)
                    }
                    tonic::Code::Cancelled => Error::new(&self.id, detail, 499),
                    _ => Error::bad_request(&self.id, detail),
                }
            }
            Side::Client => Error::from_status(&self.id, &status),
        }
    }
}

impl<T> Stream for Streaming<T> {
    type Item = crate::Result<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let item = match futures::ready!(self.frames.poll_next_unpin(cx)) {
            None => {
                self.done = true;
                return Poll::Ready(None);
            }
            Some(Err(status)) => Err(self.error(status)),
            Some(Ok(frame)) => (self.decode)(self.codec, &frame).map_err(|e| match self.side {
                Side::Server => Error::bad_request(
                    &self.id,
                    format!("cannot decode a message of {}: {e}", self.what),
                ),
                Side::Client => Error::internal_server_error(
                    &self.id,
                    format!("cannot decode a reply of {}: {e}", self.what),
                ),
            }),
        };
        if item.is_err() {
            self.done = true;
        }
        Poll::Ready(Some(item))
    }
}

impl<T> Unpin for Streaming<T> {}
