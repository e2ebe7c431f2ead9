//! One call as the server's layers see it: the [`Request`] going in, the [`Reply`] coming out.

use super::forward::{Forward, ForwardRequest, ForwardResponse, Target};
use super::handler::{Call, HandlerEndpoint, Replies};
use crate::codec::{Codec, Message};
use crate::context::Context;
use crate::metadata::Metadata;
use crate::streaming::Frames;
use crate::{Error, Result};
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A call arriving at an endpoint: who calls what, with which metadata and deadline, and the
/// request, still encoded (decode it on demand with [`decode`](Self::decode)).
pub struct Request {
    pub(crate) context: Context,
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) codec: Codec,
    pub(crate) body: Body,
    pub(crate) to: To,
}

/// Who answers a request.
pub(crate) enum To {
    /// An endpoint of this server.
    Endpoint(Arc<HandlerEndpoint>),
    /// Another service, through the server's forwarder (a proxy's call).
    Forward(Arc<dyn Forward>),
}

/// The request of a unary call, the frames of a stream, or a call forwarded as it came.
pub(crate) enum Body {
    Unary(Bytes),
    Stream(Frames),
    Forward(Box<ForwardRequest>),
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("context", &self.context)
            .field("peer", &self.peer)
            .field("codec", &self.codec)
            .field("stream", &self.is_stream())
            .field("forwarded", &self.is_forwarded())
            .finish()
    }
}

impl Request {
    /// What the handler will see: service, endpoint, metadata, deadline.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The service serving the call.
    pub fn service(&self) -> &str {
        &self.context.service
    }

    /// The endpoint called, `Handler.Method`.
    pub fn endpoint(&self) -> &str {
        &self.context.endpoint
    }

    /// The caller's metadata (lower-case keys).
    pub fn metadata(&self) -> &Metadata {
        &self.context.metadata
    }

    /// The metadata, to add to or change before the handler sees it.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.context.metadata
    }

    /// When the caller stops waiting.
    pub fn deadline(&self) -> Option<Instant> {
        self.context.deadline
    }

    /// The caller's address.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The codec the request came in, and the reply will go out in.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Whether the endpoint streams (client, server or both ways).
    pub fn is_stream(&self) -> bool {
        matches!(self.body, Body::Stream(_))
    }

    /// Whether the call is forwarded, undecoded, to another service (a proxy's call; its
    /// service and endpoint are the target's).
    pub fn is_forwarded(&self) -> bool {
        matches!(self.body, Body::Forward(_))
    }

    /// The request's bytes, as they came, for a unary call; `None` for a stream or a call
    /// forwarded.
    pub fn body(&self) -> Option<&Bytes> {
        match &self.body {
            Body::Unary(bytes) => Some(bytes),
            Body::Stream(_) | Body::Forward(_) => None,
        }
    }

    /// The request of a unary call, decoded as `M`; a stream's messages are its handler's to
    /// read.
    pub fn decode<M: Message>(&self) -> Result<M> {
        let bytes = match &self.body {
            Body::Unary(bytes) => bytes,
            Body::Stream(_) => {
                return Err(Error::bad_request(
                    self.service(),
                    format!(
                        "{} streams: its requests are read by the handler",
                        self.endpoint()
                    ),
                ))
            }
            Body::Forward(_) => {
                return Err(Error::bad_request(
                    self.service(),
                    format!(
                        "{} is forwarded as it came, not decoded here",
                        self.endpoint()
                    ),
                ))
            }
        };
        self.codec.decode(bytes).map_err(|e| {
            Error::bad_request(
                self.service(),
                format!("cannot decode request of {}: {e}", self.endpoint()),
            )
        })
    }

    /// Runs the endpoint: the innermost service of every layer stack.
    pub(crate) async fn dispatch(self) -> Result<Reply> {
        let Request {
            context,
            codec,
            body,
            to,
            peer,
        } = self;
        let endpoint = match to {
            To::Endpoint(endpoint) => endpoint,
            To::Forward(forward) => {
                let Body::Forward(request) = body else {
                    return Err(Error::internal_server_error(
                        &context.service,
                        format!("{} was forwarded without its request", context.endpoint),
                    ));
                };
                // What the layers made of the metadata goes on.
                let mut request = *request;
                crate::metadata::into_headers(&context.metadata, request.headers_mut());
                let target = Target {
                    service: context.service,
                    endpoint: context.endpoint,
                };
                return Ok(Reply::forwarded(
                    forward.forward(target, request, peer).await,
                ));
            }
        };
        match (&endpoint.call, body) {
            (Call::Unary(f), Body::Unary(bytes)) => {
                f(context, codec, bytes).await.map(Reply::unary)
            }
            (Call::Stream(f), Body::Stream(frames)) => {
                f(context, codec, frames).await.map(Reply::stream)
            }
            _ => Err(Error::internal_server_error(
                &context.service,
                format!(
                    "{} was called in a shape it does not serve",
                    context.endpoint
                ),
            )),
        }
    }
}

/// What a call ends with, told to the hooks of [`Reply::on_end`].
pub type Outcome<'a> = std::result::Result<(), &'a Error>;

type EndHook = Box<dyn FnOnce(Outcome<'_>) + Send>;

/// The endpoint's answer: the reply of a unary call, or a stream of replies still to come.
pub struct Reply {
    pub(crate) kind: ReplyKind,
    /// Called with the outcome once a stream has ended.
    pub(crate) on_end: Vec<EndHook>,
}

pub(crate) enum ReplyKind {
    Unary(Bytes),
    Stream(Box<dyn Replies>),
    /// The answer of the service a call was forwarded to, as it comes.
    Forwarded(ForwardResponse),
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("stream", &self.is_stream())
            .finish()
    }
}

impl Reply {
    fn unary(bytes: Bytes) -> Reply {
        Reply {
            kind: ReplyKind::Unary(bytes),
            on_end: Vec::new(),
        }
    }

    fn stream(replies: Box<dyn Replies>) -> Reply {
        Reply {
            kind: ReplyKind::Stream(replies),
            on_end: Vec::new(),
        }
    }

    fn forwarded(response: ForwardResponse) -> Reply {
        Reply {
            kind: ReplyKind::Forwarded(response),
            on_end: Vec::new(),
        }
    }

    /// Whether replies are still to come (a streaming endpoint).
    pub fn is_stream(&self) -> bool {
        matches!(self.kind, ReplyKind::Stream(_))
    }

    /// Whether this is the answer of another service, passed on as it comes (a proxy's).
    pub fn is_forwarded(&self) -> bool {
        matches!(self.kind, ReplyKind::Forwarded(_))
    }

    /// The encoded reply of a unary call; `None` for a stream or a forwarded answer.
    pub fn body(&self) -> Option<&Bytes> {
        match &self.kind {
            ReplyKind::Unary(bytes) => Some(bytes),
            ReplyKind::Stream(_) | ReplyKind::Forwarded(_) => None,
        }
    }

    /// Calls `hook` once the call is over: at once for a unary reply, and when a stream or a
    /// forwarded answer ends, with how it ended (its error or status, a panic, the deadline,
    /// or the caller going away).
    pub fn on_end(mut self, hook: impl FnOnce(Outcome<'_>) + Send + 'static) -> Reply {
        match self.kind {
            ReplyKind::Unary(_) => hook(Ok(())),
            ReplyKind::Stream(_) | ReplyKind::Forwarded(_) => self.on_end.push(Box::new(hook)),
        }
        self
    }
}

/// The hooks of a stream, called once with its outcome, or, if the stream is dropped before it
/// ended, with the caller having gone away.
pub(crate) struct EndHooks {
    hooks: Mutex<Vec<EndHook>>,
    service: String,
    endpoint: String,
}

impl EndHooks {
    pub(crate) fn new(hooks: Vec<EndHook>, service: &str, endpoint: &str) -> EndHooks {
        EndHooks {
            hooks: Mutex::new(hooks),
            service: service.to_string(),
            endpoint: endpoint.to_string(),
        }
    }

    pub(crate) fn ended(&self, outcome: Outcome<'_>) {
        let hooks = std::mem::take(&mut *self.hooks.lock().unwrap_or_else(|e| e.into_inner()));
        for hook in hooks {
            hook(outcome);
        }
    }
}

impl Drop for EndHooks {
    fn drop(&mut self) {
        let hooks = self.hooks.get_mut().unwrap_or_else(|e| e.into_inner());
        if !hooks.is_empty() {
            let gone = Error::new(
                &self.service,
                format!(
                    "the caller of {} went away before the stream ended",
                    self.endpoint
                ),
                499,
            );
            self.ended(Err(&gone));
        }
    }
}
