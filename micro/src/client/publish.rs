//! Publishing events through the client's broker, with go-micro's headers.

use super::attempt::{Attempt, Kind, Payload};
use super::{Client, CLIENT_ID};
use crate::broker::{self, Broker, Message};
use crate::codec::Codec;
use crate::metadata::{Metadata, FROM_SERVICE};
use crate::Error;
use bytes::Bytes;
use std::sync::Arc;

impl Client {
    /// The broker publishes go through: the one given to the builder, else `MICRO_BROKER` over
    /// the client's registry, made on first use.
    pub fn broker(&self) -> crate::Result<Arc<dyn Broker>> {
        if let Some(b) = self.inner.broker.get() {
            return Ok(Arc::clone(b));
        }
        let registry = self
            .inner
            .registry
            .clone()
            .unwrap_or_else(crate::registry::MemoryRegistry::shared);
        let broker = crate::config::Config::from_env().broker(registry)?;
        Ok(Arc::clone(self.inner.broker.get_or_init(|| broker)))
    }

    /// Publishes `msg` to `topic` in protobuf.
    pub async fn publish<M: crate::codec::Message>(
        &self,
        topic: &str,
        msg: &M,
    ) -> crate::Result<()> {
        self.publish_raw(
            topic,
            Codec::Proto,
            Bytes::from(prost::Message::encode_to_vec(msg)),
            Metadata::new(),
        )
        .await
    }

    /// Publishes a JSON value to `topic`, with no compiled types.
    pub async fn publish_json(&self, topic: &str, msg: &serde_json::Value) -> crate::Result<()> {
        let body =
            serde_json::to_vec(msg).map_err(|e| Error::bad_request(CLIENT_ID, e.to_string()))?;
        self.publish_raw(topic, Codec::Json, Bytes::from(body), Metadata::new())
            .await
    }

    /// Publishes a body already encoded by `codec`, with extra metadata headers. Sets
    /// `Content-Type`, `Micro-Topic`, `Micro-Id` and, for a service's client, who published.
    pub async fn publish_raw(
        &self,
        topic: &str,
        codec: Codec,
        body: Bytes,
        metadata: Metadata,
    ) -> crate::Result<()> {
        let mut header = metadata;
        header.insert(broker::CONTENT_TYPE.into(), codec.content_type().into());
        header.insert(broker::TOPIC.into(), topic.into());
        header.insert(broker::ID.into(), uuid::Uuid::new_v4().to_string());
        if let Some(from) = &self.inner.from_service {
            header.insert(FROM_SERVICE.into(), from.clone());
        }
        let attempt = Attempt {
            kind: Kind::Publish,
            service: topic.to_string(),
            endpoint: String::new(),
            node: None,
            number: 0,
            codec,
            timeout: None,
            metadata: Metadata::new(),
            payload: Payload::Publish(Message { header, body }),
            call_timeout: Default::default(),
            via_proxy: false,
        };
        self.dispatch(attempt).await.map(drop)
    }
}
