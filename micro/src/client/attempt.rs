//! One attempt of a call, stream or publish, as the client's layers see it: the [`Attempt`]
//! going out and the [`Answer`] coming back.

use super::error::Attempted;
use super::wire::grpc_path;
use super::{Client, Inner};
use crate::broker;
use crate::codec::Codec;
use crate::metadata::Metadata;
use crate::registry::Node;
use crate::selector::{Chosen, Outcome};
use crate::streaming::Frames;
use crate::{Error, Result};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use std::sync::Weak;
use std::task::{Context, Poll};
use std::time::Duration;

/// What the client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A unary call.
    Call,
    /// A stream (client, server or both ways).
    Stream,
    /// A message published to a topic.
    Publish,
}

/// One attempt: a call to one node (a retry is another attempt, to the next node), a stream
/// opened on one node, or a message published.
pub struct Attempt {
    pub(crate) kind: Kind,
    pub(crate) service: String,
    pub(crate) endpoint: String,
    pub(crate) node: Option<Chosen>,
    pub(crate) number: u32,
    pub(crate) codec: Codec,
    pub(crate) timeout: Option<Duration>,
    pub(crate) metadata: Metadata,
    pub(crate) payload: Payload,
    /// The call's whole timeout, for the error when it runs out.
    pub(crate) call_timeout: Duration,
    /// Whether the node is a proxy's (whose certificate names the proxy, not the service).
    pub(crate) via_proxy: bool,
}

/// An attempt's parts, borrowed: what a call without layers sends, with no [`Attempt`] built.
pub(crate) struct Parts<'a> {
    pub(crate) service: &'a str,
    pub(crate) endpoint: &'a str,
    pub(crate) node: Option<&'a Node>,
    pub(crate) codec: Codec,
    pub(crate) timeout: Option<Duration>,
    pub(crate) metadata: &'a Metadata,
    pub(crate) payload: Payload,
    pub(crate) call_timeout: Duration,
    pub(crate) via_proxy: bool,
}

/// Where an attempt goes: a node of `service`, or a proxy's node forwarding to it.
#[derive(Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) node: &'a Node,
    pub(crate) service: &'a str,
    pub(crate) via_proxy: bool,
}

/// What an attempt carries.
pub(crate) enum Payload {
    Call(Bytes),
    Stream(BoxStream<'static, Bytes>),
    Publish(broker::Message),
}

impl std::fmt::Debug for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attempt")
            .field("kind", &self.kind)
            .field("service", &self.service)
            .field("endpoint", &self.endpoint)
            .field("node", &self.node.as_ref().map(|n| &n.address))
            .field("number", &self.number)
            .finish_non_exhaustive()
    }
}

impl Attempt {
    /// A call, a stream or a publish.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The service called; for a publish, the topic.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The endpoint called, `Handler.Method`; empty for a publish.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The node the selector chose (or the address the call was given); `None` for a publish.
    pub fn node(&self) -> Option<&Node> {
        self.node.as_deref()
    }

    /// Which attempt of the call this is: 0 for the first, 1 for the first retry, ...
    pub fn number(&self) -> u32 {
        self.number
    }

    /// The codec of the body (and of the reply).
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// The time this attempt has; `None` for a stream without a timeout, or a publish.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The metadata sent with it (as headers; for a publish, as the message's headers).
    pub fn metadata(&self) -> &Metadata {
        match &self.payload {
            Payload::Publish(message) => &message.header,
            _ => &self.metadata,
        }
    }

    /// The metadata, to add to or change before it is sent.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        match &mut self.payload {
            Payload::Publish(message) => &mut message.header,
            _ => &mut self.metadata,
        }
    }

    /// The encoded request of a call, or the body of a published message; `None` for a stream.
    pub fn body(&self) -> Option<&Bytes> {
        match &self.payload {
            Payload::Call(body) => Some(body),
            Payload::Publish(message) => Some(&message.body),
            Payload::Stream(_) => None,
        }
    }
}

/// What came back of an attempt.
pub enum Answer {
    /// The reply of a call, encoded in the call's codec.
    Call(Bytes),
    /// The replies of a stream, as frames.
    Stream(Frames),
    /// The message was handed to the broker.
    Published,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Call(body) => f.debug_tuple("Call").field(&body.len()).finish(),
            Answer::Stream(_) => f.write_str("Stream"),
            Answer::Published => f.write_str("Published"),
        }
    }
}

/// The layers around every attempt of a client.
pub type ClientLayers = crate::layer::Layers<Attempt, Answer>;
/// An attempt with the client's layers around it.
pub type ClientStack = crate::layer::Stack<Attempt, Answer>;

impl Client {
    /// Sends one attempt as it is: the innermost service of every client layer stack, and what
    /// calls without layers do directly. Tells the selector how the node did.
    pub(crate) async fn send(&self, attempt: Attempt) -> Result<Answer> {
        let Attempt {
            service,
            endpoint,
            node,
            codec,
            timeout,
            metadata,
            payload,
            call_timeout,
            via_proxy,
            ..
        } = attempt;
        self.send_parts(Parts {
            service: &service,
            endpoint: &endpoint,
            node: node.as_deref(),
            codec,
            timeout,
            metadata: &metadata,
            payload,
            call_timeout,
            via_proxy,
        })
        .await
    }

    /// [`send`](Self::send) of an attempt's borrowed parts.
    pub(crate) async fn send_parts(&self, parts: Parts<'_>) -> Result<Answer> {
        let (service, endpoint, metadata) = (parts.service, parts.endpoint, parts.metadata);
        let (node, payload) = match (parts.node, parts.payload) {
            (_, Payload::Publish(message)) => {
                self.broker()?
                    .publish(service, message)
                    .await
                    .map_err(Error::from)?;
                return Ok(Answer::Published);
            }
            (Some(node), payload) => (node, payload),
            (None, _) => {
                return Err(Error::internal_server_error(
                    super::CLIENT_ID,
                    format!("a call to {service}.{endpoint} reached the wire without a node"),
                ))
            }
        };
        self.inner.selector.started(service, node);
        let sent = match payload {
            Payload::Call(body) => {
                let path = grpc_path(service, endpoint);
                let remaining = parts.timeout.unwrap_or(parts.call_timeout);
                let to = Target {
                    node,
                    service,
                    via_proxy: parts.via_proxy,
                };
                self.attempt(to, &path, parts.codec, body, remaining, metadata)
                    .await
                    .map(Answer::Call)
            }
            Payload::Stream(requests) => self
                .open(
                    Target {
                        node,
                        service,
                        via_proxy: parts.via_proxy,
                    },
                    endpoint,
                    parts.codec,
                    requests,
                    parts.timeout,
                    metadata,
                )
                .await
                .map(Answer::Stream),
            Payload::Publish(_) => unreachable!("published above"),
        };
        match sent {
            Ok(answer) => {
                self.mark(service, node, Outcome::Succeeded);
                Ok(answer)
            }
            Err(err) => {
                let timeout = parts.timeout.unwrap_or(parts.call_timeout);
                self.mark(service, node, err.outcome(service, timeout));
                Err(err.into_error(&Attempted {
                    service,
                    endpoint,
                    node: &node.address,
                    timeout: parts.call_timeout,
                }))
            }
        }
    }

    /// Sends `attempt` through the client's layers, or straight when it has none.
    pub(crate) async fn dispatch(&self, attempt: Attempt) -> Result<Answer> {
        match &self.inner.stack {
            None => self.send(attempt).await,
            Some(stack) => {
                use tower::ServiceExt;
                stack.clone().oneshot(attempt).await
            }
        }
    }
}

/// The innermost service of the client's stack: sends the attempt. It holds the client weakly,
/// as the client holds the stack.
#[derive(Debug, Clone)]
pub(crate) struct Wire {
    pub(crate) inner: Weak<Inner>,
}

impl tower::Service<Attempt> for Wire {
    type Response = Answer;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Answer>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, attempt: Attempt) -> Self::Future {
        let inner = self.inner.upgrade();
        Box::pin(async move {
            match inner {
                Some(inner) => Client { inner }.send(attempt).await,
                None => Err(Error::unavailable(
                    super::CLIENT_ID,
                    "the client was dropped before the call was sent",
                )),
            }
        })
    }
}
