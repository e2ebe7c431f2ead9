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
    /// Whether a publish returns once queued (see [`NatsBroker::buffered`]).
    buffered: bool,
}

impl std::fmt::Debug for NatsBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBroker")
            .field("addresses", &self.addresses)
            .field("buffered", &self.buffered)
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
            buffered: false,
        }
    }

    /// Publishes return once the message is queued, in order, on the connection, as raw
    /// async-nats and nats.go do: many times the throughput of one publish after another,
    /// since they share writes. Ok then no longer means the message left this process:
    /// [`Broker::flush`], [`Broker::disconnect`] or the end of
    /// [`Service::run`](crate::Service::run) write what is queued, and a program that exits
    /// without one of them may lose its last messages.
    pub fn buffered(mut self) -> Self {
        self.buffered = true;
        self
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

/// Writes what `client` has queued. While the server is away this waits for the reconnect, up
/// to a bound.
async fn flush(client: &async_nats::Client) -> Result<(), String> {
    match tokio::time::timeout(FLUSH_TIMEOUT, client.flush()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "the messages were not written to the server within {} s",
            FLUSH_TIMEOUT.as_secs()
        )),
    }
}

/// Waits until the server has processed everything `client` sent before: a message to our own
/// inbox comes back only after the server read all that was queued ahead of it, in order.
/// Stronger than `Client::flush`, which only empties the write buffer and, while the socket
/// pushes back, may return with bytes still queued.
async fn round_trip(client: &async_nats::Client) -> Result<(), String> {
    let inbox = client.new_inbox();
    let mut probe = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| e.to_string())?;
    client
        .publish(inbox, bytes::Bytes::new())
        .await
        .map_err(|e| e.to_string())?;
    let answered = tokio::time::timeout(FLUSH_TIMEOUT, probe.next()).await;
    let _ = probe.unsubscribe().await;
    match answered {
        Ok(Some(_)) => Ok(()),
        _ => Err(format!(
            "the server did not answer within {} s",
            FLUSH_TIMEOUT.as_secs()
        )),
    }
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
        if self.buffered {
            return Ok(());
        }
        // async-nats only queues the message; Ok must mean it left this process, so a program
        // that publishes and exits (`micro publish`) loses nothing. Concurrent publishes share
        // one flush.
        flush(client)
            .await
            .map_err(|e| backend(format!("publishing to {topic}: {e}")))
    }

    async fn flush(&self) -> Result<(), BrokerError> {
        match self.client.get() {
            Some(client) => round_trip(client)
                .await
                .map_err(|e| backend(format!("flushing: {e}"))),
            None => Ok(()),
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
        // Return only once the server has the subscription.
        round_trip(client)
            .await
            .map_err(|e| backend(format!("subscribing to {topic}: {e}")))?;
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
                if let Err(e) = handler(Event {
                    topic: name.clone(),
                    message,
                })
                .await
                {
                    // The id from the NATS headers kept aside: no copy of it on success.
                    let id = msg.headers.as_ref().and_then(|h| h.get(super::ID));
                    let id = id.map_or("", |v| v.as_str());
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
