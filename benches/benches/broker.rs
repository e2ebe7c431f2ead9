//! Publish -> deliver: 1,000 messages per iteration, published then all received, for micro on
//! NATS next to raw async-nats (same server, same payload, one run), and for the http broker.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures::StreamExt;
use micro::broker::{Broker, Event, HttpBroker, Message, NatsBroker, SubscribeOptions};
use micro::registry::MemoryRegistry;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

const BATCH: usize = 1_000;

struct Counter {
    seen: AtomicUsize,
    notify: Notify,
}

impl Counter {
    fn hit(&self) {
        if self.seen.fetch_add(1, Ordering::SeqCst) + 1 >= BATCH {
            self.notify.notify_one();
        }
    }

    async fn wait_batch(&self) {
        while self.seen.load(Ordering::SeqCst) < BATCH {
            self.notify.notified().await;
        }
        self.seen.fetch_sub(BATCH, Ordering::SeqCst);
    }
}

fn message() -> Message {
    Message {
        header: [("Content-Type".to_string(), "application/json".to_string())].into(),
        body: bytes::Bytes::from_static(br#"{"message":"hello"}"#),
    }
}

async fn micro_subscriber(broker: &dyn Broker, topic: &str) -> Arc<Counter> {
    let counter = Arc::new(Counter {
        seen: AtomicUsize::new(0),
        notify: Notify::new(),
    });
    let c = Arc::clone(&counter);
    let handler: micro::broker::MessageHandler = Arc::new(move |_: Event| {
        c.hit();
        Box::pin(async { Ok(()) })
    });
    // Subscriptions live for the whole bench.
    std::mem::forget(
        broker
            .subscribe(topic, handler, SubscribeOptions::default())
            .await
            .unwrap(),
    );
    counter
}

fn brokers(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let nats = micro_tests::Nats::start();
    let mut group = c.benchmark_group("publish_deliver_1k");
    group.throughput(Throughput::Elements(BATCH as u64));

    let raw = rt.block_on(async_nats::connect(nats.address())).unwrap();
    let counter = Arc::new(Counter {
        seen: AtomicUsize::new(0),
        notify: Notify::new(),
    });
    let mut sub = rt.block_on(raw.subscribe("bench.raw")).unwrap();
    let c = Arc::clone(&counter);
    rt.spawn(async move {
        while sub.next().await.is_some() {
            c.hit();
        }
    });
    group.bench_function("raw_async_nats", |b| {
        b.to_async(&rt).iter(|| async {
            for _ in 0..BATCH {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("Content-Type", "application/json");
                raw.publish_with_headers("bench.raw", headers, message().body)
                    .await
                    .unwrap();
            }
            counter.wait_batch().await;
        })
    });

    let nats_broker = NatsBroker::new(&nats.address());
    let counter = rt.block_on(micro_subscriber(&nats_broker, "bench.micro"));
    group.bench_function("micro_nats", |b| {
        b.to_async(&rt).iter(|| async {
            for _ in 0..BATCH {
                nats_broker.publish("bench.micro", message()).await.unwrap();
            }
            counter.wait_batch().await;
        })
    });

    let registry = Arc::new(MemoryRegistry::new());
    let (subscriber, publisher) = (HttpBroker::new(registry.clone()), HttpBroker::new(registry));
    let counter = rt.block_on(micro_subscriber(&subscriber, "bench.http"));
    group.sample_size(10);
    group.bench_function("micro_http", |b| {
        b.to_async(&rt).iter(|| async {
            for _ in 0..BATCH {
                publisher.publish("bench.http", message()).await.unwrap();
            }
            counter.wait_batch().await;
        })
    });
    group.finish();
}

criterion_group!(benches, brokers);
criterion_main!(benches);
