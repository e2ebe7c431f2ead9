//! One message on its way to a subscriber, as the subscriber layers see it.

use super::subscriber::HandleFn;
use crate::broker;
use crate::codec::{Codec, Message};
use crate::context::Context;
use crate::metadata::Metadata;
use crate::{Error, Result};
use std::sync::Arc;

/// A message delivered to a subscriber: its topic, its headers as metadata, its body still
/// encoded (decode it on demand with [`decode`](Self::decode)).
pub struct Delivery {
    pub(crate) context: Context,
    pub(crate) topic: String,
    pub(crate) message: broker::Message,
    pub(crate) handle: Arc<HandleFn>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("topic", &self.topic)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

impl Delivery {
    /// What the subscriber will see: service, subscriber name (as the endpoint), metadata.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The topic the message was published to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The subscriber it is delivered to (`Func`, `Example.Handle`).
    pub fn subscriber(&self) -> &str {
        &self.context.endpoint
    }

    /// The message's headers (lower-case keys), as the subscriber's context has them.
    pub fn metadata(&self) -> &Metadata {
        &self.context.metadata
    }

    /// The metadata, to add to or change before the subscriber sees it.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.context.metadata
    }

    /// The message as the broker delivered it: headers and encoded body.
    pub fn message(&self) -> &broker::Message {
        &self.message
    }

    /// The body decoded as `M`, by its content type (protobuf when it has none).
    pub fn decode<M: Message>(&self) -> Result<M> {
        let content_type = self
            .message
            .header(broker::CONTENT_TYPE)
            .unwrap_or(Codec::Proto.content_type());
        let codec = Codec::from_content_type(content_type).ok_or_else(|| {
            Error::bad_request(
                &self.context.service,
                format!(
                    "unsupported content type {content_type:?} on {}",
                    self.topic
                ),
            )
        })?;
        codec.decode(&self.message.body).map_err(|e| {
            Error::bad_request(
                &self.context.service,
                format!("cannot decode a message of {}: {e}", self.topic),
            )
        })
    }

    /// Runs the subscriber: the innermost service of every subscriber layer stack.
    pub(crate) async fn dispatch(self) -> Result<()> {
        (self.handle)(self.context, self.message).await
    }
}
