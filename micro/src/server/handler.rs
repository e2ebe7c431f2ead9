//! Handlers and their endpoints: what the server dispatches to.

use crate::codec::{Codec, Message};
use crate::context::Context;
use crate::registry;
use crate::streaming::{Frames, Side, Streaming};
use crate::{Error, Result};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, Stream, StreamExt};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

/// A type whose methods are endpoints. Implemented by `#[micro::handler]` on an `impl` block.
pub trait Handler: Send + Sync + 'static {
    /// The endpoints this handler serves, each calling into the shared handler.
    fn endpoints(self: Arc<Self>) -> Vec<HandlerEndpoint>;
}

/// A unary endpoint: the request's bytes in, the reply's bytes out, in the request's codec.
pub(crate) type UnaryFn =
    dyn Fn(Context, Codec, Bytes) -> BoxFuture<'static, Result<Bytes>> + Send + Sync;

/// A streaming endpoint: the request frames in, the replies to write out.
pub(crate) type StreamFn =
    dyn Fn(Context, Codec, Frames) -> BoxFuture<'static, Result<Box<dyn Replies>>> + Send + Sync;

/// A streaming endpoint's replies, written as gRPC frames straight into the response buffer (no
/// bytes of their own per message).
pub(crate) trait Replies: Send {
    /// Appends the next reply to `buf` as a gRPC frame and returns its length; `None` when the
    /// stream has ended.
    fn poll_frame(
        &mut self,
        cx: &mut std::task::Context<'_>,
        buf: &mut bytes::BytesMut,
    ) -> std::task::Poll<Option<Result<usize>>>;
}

/// The handler's typed reply stream and the call's codec.
struct TypedReplies<Rsp> {
    replies: BoxStream<'static, Result<Rsp>>,
    codec: Codec,
    service: String,
    endpoint: String,
}

impl<Rsp: Message> Replies for TypedReplies<Rsp> {
    fn poll_frame(
        &mut self,
        cx: &mut std::task::Context<'_>,
        buf: &mut bytes::BytesMut,
    ) -> std::task::Poll<Option<Result<usize>>> {
        let reply = match std::task::ready!(self.replies.poll_next_unpin(cx)) {
            None => return std::task::Poll::Ready(None),
            Some(reply) => reply,
        };
        let written = reply.and_then(|reply| {
            self.codec.encode_frame(&reply, buf).map_err(|e| {
                Error::internal_server_error(
                    &self.service,
                    format!("cannot encode a reply of {}: {e}", self.endpoint),
                )
            })
        });
        std::task::Poll::Ready(Some(written))
    }
}

/// How an endpoint is served.
#[derive(Clone)]
pub(crate) enum Call {
    /// One request, one reply.
    Unary(Arc<UnaryFn>),
    /// Any of the three streaming shapes, seen as frames in and frames out.
    Stream(Arc<StreamFn>),
}

/// One endpoint: its registry description and the function that serves it.
#[derive(Clone)]
pub struct HandlerEndpoint {
    pub(crate) info: registry::Endpoint,
    pub(crate) call: Call,
    /// Served by the framework itself (`Debug.*`, health), not by the user's handlers.
    pub(crate) internal: bool,
}

fn info<Req: Message, Rsp: Message>(name: &str, stream: bool) -> registry::Endpoint {
    registry::Endpoint {
        name: name.to_string(),
        request: Some(Req::schema()),
        response: Some(Rsp::schema()),
        metadata: BTreeMap::from([("stream".to_string(), stream.to_string())]),
    }
}

impl std::fmt::Debug for HandlerEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandlerEndpoint")
            .field("name", &self.info.name)
            .finish()
    }
}

impl HandlerEndpoint {
    /// A request-response endpoint named `name` (`Handler.Method`) served by `f`.
    ///
    /// The request is decoded with the codec of the call (protobuf or JSON) and the reply
    /// encoded with the same one.
    pub fn unary<Req, Rsp, F, Fut>(name: &str, f: F) -> Self
    where
        Req: Message,
        Rsp: Message,
        F: Fn(Context, Req) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Rsp>> + Send + 'static,
    {
        let f = Arc::new(f);
        let call = move |ctx: Context, codec: Codec, body: Bytes| {
            let f = Arc::clone(&f);
            async move {
                let request: Req = codec.decode(&body).map_err(|e| {
                    Error::bad_request(
                        ctx.service(),
                        format!("cannot decode request of {}: {e}", ctx.endpoint()),
                    )
                })?;
                let service = ctx.service.clone();
                let endpoint = ctx.endpoint.clone();
                let reply = f(ctx, request).await?;
                codec.encode(&reply).map_err(|e| {
                    Error::internal_server_error(
                        service,
                        format!("cannot encode reply of {endpoint}: {e}"),
                    )
                })
            }
            .boxed()
        };
        HandlerEndpoint {
            info: info::<Req, Rsp>(name, false),
            call: Call::Unary(Arc::new(call)),
            internal: false,
        }
    }

    /// A server-streaming endpoint: one request, a stream of replies.
    pub fn server_stream<Req, Rsp, F, Fut, S>(name: &str, f: F) -> Self
    where
        Req: Message,
        Rsp: Message,
        F: Fn(Context, Req) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<S>> + Send + 'static,
        S: Stream<Item = Result<Rsp>> + Send + 'static,
    {
        let f = Arc::new(f);
        Self::streaming::<Req, Rsp, _>(name, move |ctx, codec, frames| {
            let f = Arc::clone(&f);
            async move {
                let mut requests = Streaming::<Req>::new(
                    frames,
                    codec,
                    Side::Server,
                    ctx.service(),
                    ctx.endpoint(),
                );
                let request = requests.message().await?.ok_or_else(|| {
                    Error::bad_request(
                        ctx.service(),
                        format!("no request message for {}", ctx.endpoint()),
                    )
                })?;
                let replies = f(ctx, request).await?;
                Ok(replies.boxed())
            }
            .boxed()
        })
    }

    /// A client-streaming endpoint: a stream of requests, one reply.
    pub fn client_stream<Req, Rsp, F, Fut>(name: &str, f: F) -> Self
    where
        Req: Message,
        Rsp: Message,
        F: Fn(Context, Streaming<Req>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Rsp>> + Send + 'static,
    {
        let f = Arc::new(f);
        Self::streaming::<Req, Rsp, _>(name, move |ctx, codec, frames| {
            let f = Arc::clone(&f);
            async move {
                let requests =
                    Streaming::new(frames, codec, Side::Server, ctx.service(), ctx.endpoint());
                let reply = f(ctx, requests).await?;
                Ok(futures::stream::once(async { Ok(reply) }).boxed())
            }
            .boxed()
        })
    }

    /// A bidirectional endpoint: a stream of requests, a stream of replies.
    pub fn bidi_stream<Req, Rsp, F, Fut, S>(name: &str, f: F) -> Self
    where
        Req: Message,
        Rsp: Message,
        F: Fn(Context, Streaming<Req>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<S>> + Send + 'static,
        S: Stream<Item = Result<Rsp>> + Send + 'static,
    {
        let f = Arc::new(f);
        Self::streaming::<Req, Rsp, _>(name, move |ctx, codec, frames| {
            let f = Arc::clone(&f);
            async move {
                let requests =
                    Streaming::new(frames, codec, Side::Server, ctx.service(), ctx.endpoint());
                Ok(f(ctx, requests).await?.boxed())
            }
            .boxed()
        })
    }

    /// The shared part of the streaming shapes: replies are encoded in the call's codec.
    fn streaming<Req, Rsp, F>(name: &str, f: F) -> Self
    where
        Req: Message,
        Rsp: Message,
        F: Fn(
                Context,
                Codec,
                Frames,
            ) -> BoxFuture<'static, Result<BoxStream<'static, Result<Rsp>>>>
            + Send
            + Sync
            + 'static,
    {
        let call = move |ctx: Context, codec: Codec, frames: Frames| {
            let service = ctx.service.clone();
            let endpoint = ctx.endpoint.clone();
            let replies = f(ctx, codec, frames);
            async move {
                let replies: Box<dyn Replies> = Box::new(TypedReplies {
                    replies: replies.await?,
                    codec,
                    service,
                    endpoint,
                });
                Ok(replies)
            }
            .boxed()
        };
        HandlerEndpoint {
            info: info::<Req, Rsp>(name, true),
            call: Call::Stream(Arc::new(call)),
            internal: false,
        }
    }

    /// The endpoint's name, `Handler.Method`.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// Its registry description.
    pub fn info(&self) -> &registry::Endpoint {
        &self.info
    }

    /// Adds a metadata pair to its registry description.
    pub fn with_metadata(mut self, key: &str, value: &str) -> Self {
        self.info
            .metadata
            .insert(key.to_string(), value.to_string());
        self
    }
}
