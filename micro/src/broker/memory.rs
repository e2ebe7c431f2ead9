//! An in-process broker.

use super::{Broker, BrokerError, Event, Message, MessageHandler, SubscribeOptions, Subscription};
use futures::FutureExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::mpsc;

/// Messages each subscriber may have waiting before publishers wait for it.
const BACKLOG: usize = 1024;

/// Broker inside one process. Each subscriber gets its messages in order, from a bounded queue
/// drained by a task of its own.
#[derive(Debug, Clone, Default)]
pub struct MemoryBroker {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// topic -> subscribers.
    topics: Mutex<HashMap<String, Vec<Sub>>>,
    next_id: AtomicUsize,
    /// Round-robin position per queue group.
    turns: Mutex<HashMap<(String, String), usize>>,
}

#[derive(Debug, Clone)]
struct Sub {
    id: usize,
    queue: Option<String>,
    tx: mpsc::Sender<Event>,
}

impl MemoryBroker {
    /// A broker of its own.
    pub fn new() -> Self {
        Self::default()
    }

    /// The broker every `memory` lookup in this process shares.
    pub fn shared() -> Arc<dyn Broker> {
        static SHARED: OnceLock<MemoryBroker> = OnceLock::new();
        Arc::new(SHARED.get_or_init(MemoryBroker::new).clone())
    }

    /// The subscribers that get a message: all without a queue, one per queue group.
    fn recipients(&self, topic: &str) -> Vec<mpsc::Sender<Event>> {
        let topics = self.inner.topics.lock().unwrap_or_else(|e| e.into_inner());
        let Some(subs) = topics.get(topic) else {
            return Vec::new();
        };
        let mut out: Vec<mpsc::Sender<Event>> = subs
            .iter()
            .filter(|s| s.queue.is_none())
            .map(|s| s.tx.clone())
            .collect();
        let mut groups: HashMap<&str, Vec<&Sub>> = HashMap::new();
        for s in subs {
            if let Some(q) = &s.queue {
                groups.entry(q.as_str()).or_default().push(s);
            }
        }
        let mut turns = self.inner.turns.lock().unwrap_or_else(|e| e.into_inner());
        for (queue, members) in groups {
            let turn = turns
                .entry((topic.to_string(), queue.to_string()))
                .or_default();
            out.push(members[*turn % members.len()].tx.clone());
            *turn = turn.wrapping_add(1);
        }
        out
    }
}

#[async_trait::async_trait]
impl Broker for MemoryBroker {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn publish(&self, topic: &str, message: Message) -> Result<(), BrokerError> {
        for tx in self.recipients(topic) {
            let event = Event {
                topic: topic.to_string(),
                message: message.clone(),
            };
            // A subscriber that left meanwhile just misses it.
            let _ = tx.send(event).await;
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        topic: &str,
        handler: MessageHandler,
        opts: SubscribeOptions,
    ) -> Result<Subscription, BrokerError> {
        let (tx, mut rx) = mpsc::channel::<Event>(BACKLOG);
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.inner
            .topics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(topic.to_string())
            .or_default()
            .push(Sub {
                id,
                queue: opts.queue.clone(),
                tx,
            });
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                let (topic, id) = (
                    event.topic.clone(),
                    event.message.header(super::ID).unwrap_or("").to_string(),
                );
                if let Err(e) = handler(event).await {
                    tracing::warn!(%topic, id, error = %e, "subscriber failed");
                }
            }
        });
        let inner = Arc::clone(&self.inner);
        let topic_owned = topic.to_string();
        let stop = async move {
            let mut topics = inner.topics.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(subs) = topics.get_mut(&topic_owned) {
                subs.retain(|s| s.id != id);
            }
            Ok(())
        };
        Ok(Subscription::new(topic, opts.queue, stop.boxed()))
    }
}
