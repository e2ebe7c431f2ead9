//! Durable events on NATS JetStream (`MICRO_BROKER=jetstream`): at-least-once delivery that
//! survives a subscriber's restart and the server's.
//!
//! - Each topic is kept in a stream of its own, `MICRO_<topic>` (dots and wildcards as `_`),
//!   on disk, for 24 hours; made on first use by whoever publishes or subscribes.
//! - A publish returns once the server has stored the message.
//! - A queue group is a durable consumer named after the queue: its members share the messages,
//!   and a member that restarts resumes where the group left off. A subscriber without a queue
//!   gets a consumer of its own, from the messages published after it subscribed, which the
//!   server forgets a while after it goes away.
//! - A message is acknowledged once the handler returns `Ok`. A handler error redelivers it
//!   after a delay that doubles (1 s, 2 s, 4 s, ... by default) when the subscription does not auto-ack
//!   (`auto_ack: false`); after [`MAX_DELIVERIES`] it goes to the dead-letter topic
//!   `<topic>.dead` with the error in a `Micro-Error` header. With auto-ack an error is logged
//!   and the message acknowledged all the same.
//! - A message whose handler crashes the subscriber is redelivered after 30 s without an ack; a
//!   handler that is merely slow keeps its message, told to the server as in progress.
//! - Topics are named in full: wildcards are refused (their streams would overlap).
//!
//! The wire format is the NATS broker's (subject = topic, payload = body, headers as NATS
//! headers), so a plain NATS publisher to a topic's subject is stored and delivered too.

use super::nats::{backend, connect, metadata_of, nats_headers, parse_addresses};
use super::{Broker, BrokerError, Event, Message, MessageHandler, SubscribeOptions, Subscription};
use async_nats::jetstream::{self, consumer, stream, AckKind};
use futures::{FutureExt, StreamExt};
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::OnceCell;

/// Deliveries of one message before it goes to the dead-letter topic.
pub const MAX_DELIVERIES: i64 = 5;
/// The header a dead letter carries its last error in.
pub const ERROR_HEADER: &str = "Micro-Error";
/// How long a topic's messages are kept.
const KEEP_FOR: Duration = Duration::from_secs(24 * 60 * 60);
/// How long a delivery may go unacknowledged before the server redelivers it.
const ACK_WAIT: Duration = Duration::from_secs(30);
/// How long the server keeps the consumer of a subscriber without a queue after it went away.
const OWN_CONSUMER_KEPT: Duration = Duration::from_secs(60);
/// The first redelivery delay after a handler error; it doubles with each delivery.
const FIRST_REDELIVERY: Duration = Duration::from_secs(1);

/// Broker over NATS JetStream (a server started with `-js`, or a cluster: addresses separated
/// by commas).
pub struct JetStreamBroker {
    addresses: Vec<String>,
    context: OnceCell<jetstream::Context>,
    /// Topics whose stream is known to exist.
    streams: Mutex<HashSet<String>>,
    /// The first redelivery delay after a handler error.
    first_redelivery: Duration,
}

impl std::fmt::Debug for JetStreamBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamBroker")
            .field("addresses", &self.addresses)
            .finish_non_exhaustive()
    }
}

/// `name` with the characters JetStream stream and consumer names cannot hold as `_`.
fn jetstream_name(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '.' | '*' | '>' | ' ' | '\t' | '/' | '\\' => '_',
            c => c,
        })
        .collect()
}

/// The stream that keeps `topic`.
pub fn stream_name(topic: &str) -> String {
    format!("MICRO_{}", jetstream_name(topic))
}

/// The stream that keeps `topic`: on disk, for a day.
fn stream_config(topic: &str) -> stream::Config {
    stream::Config {
        name: stream_name(topic),
        subjects: vec![topic.to_string()],
        storage: stream::StorageType::File,
        max_age: KEEP_FOR,
        ..Default::default()
    }
}

/// The durable consumer name of a queue group.
fn durable_name(queue: &str) -> String {
    jetstream_name(queue)
}

/// The topic dead letters of `topic` go to.
pub fn dead_letter_topic(topic: &str) -> String {
    format!("{topic}.dead")
}

impl JetStreamBroker {
    /// A broker for `address` (`nats://host:port`, comma-separated for a cluster); it connects
    /// on first use.
    pub fn new(address: &str) -> Self {
        JetStreamBroker {
            addresses: parse_addresses(address),
            context: OnceCell::new(),
            streams: Mutex::new(HashSet::new()),
            first_redelivery: FIRST_REDELIVERY,
        }
    }

    /// With this first delay before a failed message is delivered again (1 s by default); it
    /// doubles with each delivery, up to a minute.
    pub fn redelivery_delay(mut self, first: Duration) -> Self {
        self.first_redelivery = first;
        self
    }

    async fn context(&self) -> Result<&jetstream::Context, BrokerError> {
        self.context
            .get_or_try_init(|| async {
                let client = connect(&self.addresses).await?;
                Ok(jetstream::new(client))
            })
            .await
    }

    /// The stream of `topic`, made if it is not there.
    async fn stream(&self, topic: &str) -> Result<stream::Stream, BrokerError> {
        let context = self.context().await?;
        let name = stream_name(topic);
        let stream = context
            .get_or_create_stream(stream_config(topic))
            .await
            .map_err(|e| backend(format!("the stream {name} of {topic}: {e}")))?;
        // A stream of that name made for another topic (`a.b` and `a_b` share a name).
        let subjects = &stream.cached_info().config.subjects;
        if !subjects.iter().any(|s| s == topic) {
            return Err(backend(format!(
                "the stream {name} keeps {subjects:?}, not {topic}: topics whose names differ only in '.' and '_' cannot both be durable"
            )));
        }
        self.streams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(topic.to_string());
        Ok(stream)
    }

    async fn ensure_stream(&self, topic: &str) -> Result<(), BrokerError> {
        let known = self
            .streams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(topic);
        if !known {
            self.stream(topic).await?;
        }
        Ok(())
    }
}

/// Publishes to `topic`'s stream and waits until the server has stored the message.
async fn store(
    context: &jetstream::Context,
    topic: &str,
    message: &Message,
) -> Result<(), BrokerError> {
    let failed = |e: &dyn std::fmt::Display| backend(format!("publishing to {topic}: {e}"));
    let ack = context
        .publish_with_headers(
            topic.to_string(),
            nats_headers(message),
            message.body.clone(),
        )
        .await
        .map_err(|e| failed(&e))?;
    ack.await.map_err(|e| failed(&e))?;
    Ok(())
}

#[async_trait::async_trait]
impl Broker for JetStreamBroker {
    fn name(&self) -> &'static str {
        "jetstream"
    }

    async fn connect(&self) -> Result<(), BrokerError> {
        self.context().await.map(|_| ())
    }

    async fn disconnect(&self) -> Result<(), BrokerError> {
        match self.context.get() {
            Some(context) => context.client().drain().await.map_err(backend),
            None => Ok(()),
        }
    }

    async fn publish(&self, topic: &str, message: Message) -> Result<(), BrokerError> {
        refuse_wildcards(topic)?;
        self.ensure_stream(topic).await?;
        store(self.context().await?, topic, &message).await
    }

    async fn subscribe(
        &self,
        topic: &str,
        handler: MessageHandler,
        opts: SubscribeOptions,
    ) -> Result<Subscription, BrokerError> {
        refuse_wildcards(topic)?;
        let stream = self.stream(topic).await?;
        let context = self.context().await?.clone();
        let config = consumer::pull::Config {
            durable_name: opts.queue.as_deref().map(durable_name),
            deliver_policy: match opts.queue {
                Some(_) => consumer::DeliverPolicy::All,
                None => consumer::DeliverPolicy::New,
            },
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: ACK_WAIT,
            // A backstop for messages whose handler crashes the subscriber every time: past
            // it the server stops delivering them.
            max_deliver: MAX_DELIVERIES + 2,
            inactive_threshold: match opts.queue {
                Some(_) => Duration::ZERO,
                None => OWN_CONSUMER_KEPT,
            },
            ..Default::default()
        };
        // The first consumer here, so that a subscription that cannot start says so.
        let messages = consume(&stream, &config)
            .await
            .map_err(|e| backend(format!("subscribing to {topic}: {e}")))?;
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let name = topic.to_string();
        let auto_ack = opts.auto_ack;
        let first_redelivery = self.first_redelivery;
        tokio::spawn(async move {
            let mut messages = Some(messages);
            let mut retry = FIRST_REDELIVERY;
            loop {
                let Some(current) = messages.as_mut() else {
                    // The consumer went (deleted during an outage, say): make it again.
                    tokio::select! {
                        _ = tokio::time::sleep(retry) => {}
                        _ = &mut stop_rx => return,
                    }
                    match consume(&stream, &config).await {
                        Ok(m) => {
                            tracing::info!(topic = %name, "jetstream consumer back");
                            messages = Some(m);
                            retry = FIRST_REDELIVERY;
                        }
                        Err(e) => {
                            tracing::warn!(topic = %name, error = %e, ?retry, "cannot make the jetstream consumer again; retrying");
                            retry = (retry * 2).min(Duration::from_secs(30));
                        }
                    }
                    continue;
                };
                let next = tokio::select! {
                    m = current.next() => m,
                    _ = &mut stop_rx => return,
                };
                match next {
                    Some(Ok(msg)) => {
                        deliver(&context, &name, &handler, msg, auto_ack, first_redelivery).await
                    }
                    // Heartbeats missed, a reconnect: the stream carries on.
                    Some(Err(e)) => {
                        tracing::debug!(topic = %name, error = %e, "jetstream delivery")
                    }
                    None => {
                        tracing::warn!(topic = %name, "the jetstream consumer ended; making it again");
                        messages = None;
                    }
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

/// Messages handed to one handler at a time: so few are fetched ahead that none waits past
/// the ack wait before its turn.
const FETCH_AHEAD: usize = 8;

/// The consumer `config` of `stream` (made, or found), and its messages.
async fn consume(
    stream: &stream::Stream,
    config: &consumer::pull::Config,
) -> Result<consumer::pull::Stream, String> {
    let consumer = match &config.durable_name {
        Some(name) => stream.get_or_create_consumer(name, config.clone()).await,
        None => stream.create_consumer(config.clone()).await,
    }
    .map_err(|e| e.to_string())?;
    consumer
        .stream()
        .max_messages_per_batch(FETCH_AHEAD)
        .messages()
        .await
        .map_err(|e| e.to_string())
}

/// Wildcard topics cannot be kept: their streams would overlap the streams of the topics they
/// match.
fn refuse_wildcards(topic: &str) -> Result<(), BrokerError> {
    if topic.split('.').any(|token| token == "*" || token == ">") {
        return Err(backend(format!(
            "{topic} is a wildcard: durable topics are named in full (subscribe to each, or use the nats broker)"
        )));
    }
    Ok(())
}

/// Hands one delivery to the handler, then acknowledges it, asks for it again later, or sends
/// it to the dead-letter topic.
async fn deliver(
    context: &jetstream::Context,
    topic: &str,
    handler: &MessageHandler,
    msg: jetstream::Message,
    auto_ack: bool,
    first_redelivery: Duration,
) {
    let message = Message {
        header: metadata_of(msg.headers.as_ref()),
        body: msg.payload.clone(),
    };
    let id = message.header(super::ID).unwrap_or("").to_string();
    let delivered = msg.info().map(|i| i.delivered).unwrap_or(1);
    let handling = handler(Event {
        topic: topic.to_string(),
        message: message.clone(),
    });
    // A long handler keeps its message: "in progress" before each ack wait runs out.
    tokio::pin!(handling);
    let handled = loop {
        tokio::select! {
            handled = &mut handling => break handled,
            _ = tokio::time::sleep(ACK_WAIT / 3) => {
                let _ = msg.ack_with(AckKind::Progress).await;
            }
        }
    };
    let ack = match handled {
        Ok(()) => AckKind::Ack,
        Err(e) if auto_ack => {
            tracing::warn!(%topic, %id, error = %e, "subscriber failed; acknowledged (auto-ack)");
            AckKind::Ack
        }
        Err(e) if delivered >= MAX_DELIVERIES => {
            let mut dead = message;
            dead.header.insert(ERROR_HEADER.into(), e.to_string());
            let to = dead_letter_topic(topic);
            match store_dead_letter(context, &to, &dead).await {
                Ok(()) => {
                    tracing::warn!(%topic, %id, delivered, error = %e, dead_letter = %to, "subscriber failed on every delivery; sent to the dead-letter topic");
                    AckKind::Term
                }
                Err(store_error) => {
                    tracing::error!(%topic, %id, error = %store_error, "cannot store a dead letter; delivering again");
                    AckKind::Nak(Some(redelivery_delay(first_redelivery, delivered)))
                }
            }
        }
        Err(e) => {
            let delay = redelivery_delay(first_redelivery, delivered);
            tracing::warn!(%topic, %id, delivered, error = %e, ?delay, "subscriber failed; delivering again");
            AckKind::Nak(Some(delay))
        }
    };
    if let Err(e) = msg.ack_with(ack).await {
        // Unacknowledged, it comes again after the ack wait: at least once still holds.
        tracing::warn!(%topic, %id, error = %e, "cannot acknowledge");
    }
}

/// The dead letter goes to a stream of its own, so it waits for whoever looks.
async fn store_dead_letter(
    context: &jetstream::Context,
    topic: &str,
    message: &Message,
) -> Result<(), BrokerError> {
    context
        .get_or_create_stream(stream_config(topic))
        .await
        .map_err(|e| backend(format!("the dead-letter stream of {topic}: {e}")))?;
    store(context, topic, message).await
}

/// `first` after the first delivery, doubling, at most a minute.
fn redelivery_delay(first: Duration, delivered: i64) -> Duration {
    let doublings = u32::try_from(delivered.saturating_sub(1).clamp(0, 6)).unwrap_or(6);
    first
        .saturating_mul(1 << doublings)
        .min(Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_delays() {
        assert_eq!(
            stream_name("go.micro.test.events"),
            "MICRO_go_micro_test_events"
        );
        assert!(refuse_wildcards("orders.*").is_err());
        assert!(refuse_wildcards("orders.>").is_err());
        assert!(refuse_wildcards("orders.created").is_ok());
        assert_eq!(durable_name("go.micro.srv.worker"), "go_micro_srv_worker");
        assert_eq!(dead_letter_topic("orders"), "orders.dead");
        let first = FIRST_REDELIVERY;
        assert_eq!(redelivery_delay(first, 1), Duration::from_secs(1));
        assert_eq!(redelivery_delay(first, 3), Duration::from_secs(4));
        assert_eq!(redelivery_delay(first, 100), Duration::from_secs(60));
    }
}
