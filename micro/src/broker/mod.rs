//! Events: publish a message to a topic, subscribe a handler to a topic.
//!
//! Without a queue every subscriber of a topic gets every message; subscribers that share a
//! queue name form a group, and each message goes to exactly one member of the group.
//!
//! - [`MemoryBroker`] — in-process.
//! - [`HttpBroker`] — the default, needs no server: subscriptions are registry entries
//!   `topic:<topic>`, publishers deliver to them over HTTP.
//! - `NatsBroker` (feature `nats`) — NATS subjects and queue groups, at most once.
//! - `JetStreamBroker` (feature `nats`) — the same on NATS JetStream: stored, acknowledged,
//!   redelivered, at least once.

mod http;
#[cfg(feature = "nats")]
pub mod jetstream;
mod memory;
#[cfg(feature = "nats")]
mod nats;

pub use self::http::HttpBroker;
#[cfg(feature = "nats")]
pub use jetstream::JetStreamBroker;
pub use memory::MemoryBroker;
#[cfg(feature = "nats")]
pub use nats::NatsBroker;

use crate::metadata::Metadata;
use crate::registry::Registry;
use bytes::Bytes;
use futures::future::BoxFuture;
use std::sync::Arc;

/// Header naming the codec of the body, e.g. `application/json`.
pub const CONTENT_TYPE: &str = "Content-Type";
/// Header naming the topic a message was published to.
pub const TOPIC: &str = "Micro-Topic";
/// Header carrying the message's unique id.
pub const ID: &str = "Micro-Id";

/// A message: headers and an encoded body.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    /// Headers: `Content-Type`, `Micro-Topic`, `Micro-Id` and the publisher's metadata.
    #[serde(default)]
    pub header: Metadata,
    /// The encoded message.
    #[serde(default, with = "body_base64")]
    pub body: Bytes,
}

impl Message {
    /// A header's value, matched without regard to case (NATS and HTTP change case).
    pub fn header(&self, key: &str) -> Option<&str> {
        self.header
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

mod body_base64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(body: &bytes::Bytes, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(body))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<bytes::Bytes, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map(bytes::Bytes::from)
            .map_err(serde::de::Error::custom)
    }
}

/// A message as a subscriber receives it.
#[derive(Debug, Clone)]
pub struct Event {
    /// The topic it was published to.
    pub topic: String,
    /// The message.
    pub message: Message,
}

/// What a subscription calls for each message. An error is logged (and, without auto-ack, counts
/// as a failed delivery).
pub type MessageHandler = Arc<dyn Fn(Event) -> BoxFuture<'static, crate::Result<()>> + Send + Sync>;

/// Options of a subscription.
#[derive(Debug, Clone)]
pub struct SubscribeOptions {
    /// Queue group: each message goes to one member of the group. `None`: every subscriber.
    pub queue: Option<String>,
    /// Acknowledge a message as soon as it arrives (default). When false, a handler error makes
    /// the delivery fail, so brokers that can (http) deliver it to another member of the group.
    pub auto_ack: bool,
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        SubscribeOptions {
            queue: None,
            auto_ack: true,
        }
    }
}

impl SubscribeOptions {
    /// With this queue group.
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = Some(queue.into());
        self
    }
}

/// A live subscription; [`unsubscribe`](Subscription::unsubscribe) ends it.
pub struct Subscription {
    topic: String,
    queue: Option<String>,
    stop: Option<BoxFuture<'static, Result<(), BrokerError>>>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("topic", &self.topic)
            .field("queue", &self.queue)
            .finish()
    }
}

impl Subscription {
    /// A subscription that `stop` ends.
    pub fn new(
        topic: &str,
        queue: Option<String>,
        stop: BoxFuture<'static, Result<(), BrokerError>>,
    ) -> Self {
        Subscription {
            topic: topic.to_string(),
            queue,
            stop: Some(stop),
        }
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The queue group, if any.
    pub fn queue(&self) -> Option<&str> {
        self.queue.as_deref()
    }

    /// Stops receiving messages.
    pub async fn unsubscribe(mut self) -> Result<(), BrokerError> {
        match self.stop.take() {
            Some(stop) => stop.await,
            None => Ok(()),
        }
    }
}

/// A broker operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerError {
    /// The broker could not be reached or refused.
    #[error("broker {broker}: {detail}")]
    Backend {
        /// Which broker.
        broker: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// Unknown broker name in configuration.
    #[error("unknown broker {0:?} (this build knows: {known})", known = KNOWN.join(", "))]
    Unknown(String),
}

impl From<BrokerError> for crate::Error {
    fn from(e: BrokerError) -> Self {
        crate::Error::internal_server_error("go.micro.broker", e.to_string())
    }
}

/// Publish and subscribe.
#[async_trait::async_trait]
pub trait Broker: Send + Sync + std::fmt::Debug + 'static {
    /// `memory`, `http`, `nats` or `jetstream`, as node metadata shows it.
    fn name(&self) -> &'static str;

    /// Connects (brokers connect on first use too).
    async fn connect(&self) -> Result<(), BrokerError> {
        Ok(())
    }

    /// Disconnects; subscriptions end.
    async fn disconnect(&self) -> Result<(), BrokerError> {
        Ok(())
    }

    /// Publishes `message` to `topic`. No subscriber is not an error. Unless the broker was
    /// made to buffer (see [`NatsBroker::buffered`]), Ok means the message left this process.
    async fn publish(&self, topic: &str, message: Message) -> Result<(), BrokerError>;

    /// Waits until every message published so far has left this process. Only a buffering
    /// broker has anything to do; [`RunningService::stop`](crate::service::RunningService::stop) calls it.
    async fn flush(&self) -> Result<(), BrokerError> {
        Ok(())
    }

    /// Calls `handler` for messages published to `topic`.
    async fn subscribe(
        &self,
        topic: &str,
        handler: MessageHandler,
        opts: SubscribeOptions,
    ) -> Result<Subscription, BrokerError>;
}

/// Broker names this build knows, the default first.
pub const KNOWN: &[&str] = &[
    "http",
    "memory",
    #[cfg(feature = "nats")]
    "nats",
    #[cfg(feature = "nats")]
    "jetstream",
];

/// A broker by name: `http`, `memory`, `nats`, `jetstream`.
pub fn by_name(
    name: &str,
    address: Option<&str>,
    registry: Arc<dyn Registry>,
) -> Result<Arc<dyn Broker>, BrokerError> {
    let _ = address;
    match name.trim() {
        "" | "http" => Ok(Arc::new(HttpBroker::with_address(
            registry,
            address.unwrap_or("127.0.0.1:0"),
        ))),
        "memory" => Ok(MemoryBroker::shared()),
        #[cfg(feature = "nats")]
        "nats" => Ok(Arc::new(NatsBroker::new(
            address.unwrap_or(nats::DEFAULT_ADDRESS),
        ))),
        #[cfg(feature = "nats")]
        "jetstream" => Ok(Arc::new(JetStreamBroker::new(
            address.unwrap_or(nats::DEFAULT_ADDRESS),
        ))),
        other => Err(BrokerError::Unknown(other.to_string())),
    }
}
