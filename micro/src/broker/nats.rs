//! The NATS broker, for production, via `async-nats`.
//!
//! Wire format, so that any NATS client can publish and consume micro events: the subject is the
//! topic, the payload is the encoded body alone, and the headers (`Content-Type`, `Micro-Topic`,
//! `Micro-Id`, the publisher's metadata) are NATS headers. Queue subscriptions are NATS queue
//! groups. async-nats reconnects by itself and subscriptions survive a server restart.

use super::{Broker, BrokerError, Event, Message, MessageHandler, SubscribeOptions, Subscription};
use futures::{FutureExt, StreamExt};
use std::time::Duration;
use tokio::sync::OnceCell;

/// How long a publish waits for its message to be written to the server.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Where NATS is unless `MICRO_BROKER_ADDRESS` says otherwise.
pub(super) const DEFAULT_ADDRESS: &str = "nats://127.0.0.1:4222";

pub(super) fn backend(e: impl std::fmt::Display) -> BrokerError {
    BrokerError::Backend {
        broker: "nats",
        detail: e.to_string(),
    }
}

/// Broker over a NATS server (or cluster: addresses separated by commas).
pub struct NatsBroker {
    addresses: Vec<String>,
    client: OnceCell<async_nats::Client>,
}

impl std::fmt::Debug for NatsBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBroker")
            .field("addresses", &self.addresses)
            .finish_non_exhaustive()
    }
}

impl NatsBroker {
    /// A broker for `address` (`nats://host:port`, comma-separated for a cluster); it connects
    /// on first use.
    pub fn new(address: &str) -> Self {
        NatsBroker {
            addresses: parse_addresses(address),
            client: OnceCell::new(),
        }
    }

    async fn client(&self) -> Result<&async_nats::Client, BrokerError> {
        self.client
            .get_or_try_init(|| connect(&self.addresses))
            .await
    }
}

/// `message`'s headers as NATS headers: the wire format both NATS brokers share.
pub(super) fn nats_headers(message: &Message) -> async_nats::HeaderMap {
    let mut headers = async_nats::HeaderMap::new();
    for (k, v) in &message.header {
        headers.insert(k.as_str(), v.as_str());
    }
    headers
}

/// A delivered message's NATS headers as its header map (the first value of each).
pub(super) fn metadata_of(headers: Option<&async_nats::HeaderMap>) -> crate::metadata::Metadata {
    let mut header = crate::metadata::Metadata::new();
    for (k, values) in headers.into_iter().flat_map(|h| h.iter()) {
        if let Some(v) = values.first() {
            header.insert(k.to_string(), v.as_str().to_string());
        }
    }
    header
}

/// `nats://` addresses from a comma-separated list (the scheme may be left out).
pub(super) fn parse_addresses(address: &str) -> Vec<String> {
    address
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            if a.contains("://") {
                a.to_string()
            } else {
                format!("nats://{a}")
            }
        })
        .collect()
}

/// A client of the server (or cluster) at `addresses`; it reconnects by itself.
pub(super) async fn connect(addresses: &[String]) -> Result<async_nats::Client, BrokerError> {
    let servers: Vec<async_nats::ServerAddr> = addresses
        .iter()
        .map(|a| a.parse().map_err(backend))
        .collect::<Result<_, _>>()?;
    async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(5))
        .connect(servers)
        .await
        .map_err(|e| backend(format!("connecting to {}: {e}", addresses.join(","))))
}

#[async_trait::async_trait]
impl Broker for NatsBroker {
    fn name(&self) -> &'static str {
        "nats"
    }

    async fn connect(&self) -> Result<(), BrokerError> {
        self.client().await.map(|_| ())
    }

    async fn disconnect(&self) -> Result<(), BrokerError> {
        match self.client.get() {
            Some(client) => client.drain().await.map_err(backend),
            None => Ok(()),
        }
    }

    async fn publish(&self, topic: &str, message: Message) -> Result<(), BrokerError> {
        let client = self.client().await?;
        client
            .publish_with_headers(topic.to_string(), nats_headers(&message), message.body)
            .await
            .map_err(|e| backend(format!("publishing to {topic}: {e}")))?;
        // async-nats only queues the message; Ok must mean it left this process, so a program
        // that publishes and exits (`micro publish`) loses nothing. Concurrent publishes share
        // one flush. While the server is away the flush waits for the reconnect, up to a bound.
        match tokio::time::timeout(FLUSH_TIMEOUT, client.flush()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(backend(format!("publishing to {topic}: {e}"))),
            Err(_) => Err(backend(format!(
                "publishing to {topic}: the message was not written to the server within {} s",
                FLUSH_TIMEOUT.as_secs()
            ))),
        }
    }

    async fn subscribe(
        &self,
        topic: &str,
        handler: MessageHandler,
        opts: SubscribeOptions,
    ) -> Result<Subscription, BrokerError> {
        let client = self.client().await?;
        let mut subscriber = match &opts.queue {
            Some(queue) => {
                client
                    .queue_subscribe(topic.to_string(), queue.clone())
                    .await
            }
            None => client.subscribe(topic.to_string()).await,
        }
        .map_err(|e| backend(format!("subscribing to {topic}: {e}")))?;
        // Return only once the server has the subscription: a message to our own inbox, sent
        // after the subscription, comes back only after the server processed both in order.
        // (`flush` alone only empties our write buffer.)
        let inbox = client.new_inbox();
        let mut probe = client.subscribe(inbox.clone()).await.map_err(backend)?;
        client
            .publish(inbox, bytes::Bytes::new())
            .await
            .map_err(backend)?;
        match tokio::time::timeout(Duration::from_secs(5), probe.next()).await {
            Ok(Some(_)) => {}
            _ => {
                return Err(backend(format!(
                    "the server did not confirm the subscription to {topic} within 5 s"
                )))
            }
        }
        let _ = probe.unsubscribe().await;
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let name = topic.to_string();
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    m = subscriber.next() => m,
                    _ = &mut stop_rx => {
                        let _ = subscriber.unsubscribe().await;
                        return;
                    }
                };
                let Some(msg) = next else { return };
                let message = Message {
                    header: metadata_of(msg.headers.as_ref()),
                    body: msg.payload,
                };
                let id = message.header(super::ID).unwrap_or("").to_string();
                if let Err(e) = handler(Event {
                    topic: name.clone(),
                    message,
                })
                .await
                {
                    tracing::warn!(topic = %name, %id, error = %e, "subscriber failed");
                }
            }
        });
        let stop = async move {
            let _ = stop_tx.send(());
            Ok(())
        };
        Ok(Subscription::new(topic, opts.queue, stop.boxed()))
    }
}
