//! Brokers (memory, http, nats), subscribers and publishing, against a real nats-server.

use futures::StreamExt;
use micro::broker::{
    Broker, Event, HttpBroker, MemoryBroker, Message, MessageHandler, NatsBroker, SubscribeOptions,
};
use micro::registry::{MemoryRegistry, Registry};
use micro::{Client, Context};
use micro_tests::proto::EchoRequest;
use micro_tests::{eventually, Nats};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Counts what each subscriber got: subscriber index -> message ids.
type Received = Arc<Mutex<HashMap<usize, Vec<String>>>>;

fn recorder(received: &Received, who: usize) -> MessageHandler {
    let received = Arc::clone(received);
    Arc::new(move |event: Event| {
        let id = event
            .message
            .header(micro::broker::ID)
            .unwrap_or_default()
            .to_string();
        received.lock().unwrap().entry(who).or_default().push(id);
        Box::pin(async { Ok(()) })
    })
}

fn message(i: usize) -> Message {
    Message {
        header: [
            (micro::broker::ID.to_string(), format!("m{i}")),
            ("Content-Type".to_string(), "application/json".to_string()),
        ]
        .into(),
        body: bytes::Bytes::from(format!("{{\"message\":\"{i}\"}}")),
    }
}

/// 10 broadcast subscribers each get all 1,000 messages; a queue group of 3 gets each message
/// exactly once. `brokers(n)` makes n brokers that see each other (one per "process").
async fn broadcast_and_queue(brokers: impl Fn(usize) -> Vec<Arc<dyn Broker>>) {
    const MESSAGES: usize = 1_000;
    let topic = format!("go.micro.test.{}", uuid::Uuid::new_v4());
    let subscribers = brokers(14);
    let received: Received = Arc::default();
    let mut subscriptions = Vec::new();
    for (i, broker) in subscribers.iter().take(10).enumerate() {
        subscriptions.push(
            broker
                .subscribe(&topic, recorder(&received, i), SubscribeOptions::default())
                .await
                .unwrap(),
        );
    }
    for (i, broker) in subscribers.iter().enumerate().skip(10).take(3) {
        let opts = SubscribeOptions::default().queue("workers");
        subscriptions.push(
            broker
                .subscribe(&topic, recorder(&received, i), opts)
                .await
                .unwrap(),
        );
    }
    let publisher = &subscribers[13];
    for i in 0..MESSAGES {
        publisher.publish(&topic, message(i)).await.unwrap();
    }
    let done = || {
        let r = received.lock().unwrap();
        let queue: usize = (10..13).map(|i| r.get(&i).map_or(0, Vec::len)).sum();
        (0..10).all(|i| r.get(&i).map_or(0, Vec::len) == MESSAGES) && queue == MESSAGES
    };
    eventually("every delivery", Duration::from_secs(60), done).await;
    let r = received.lock().unwrap().clone();
    for i in 0..10 {
        let mut ids = r[&i].clone();
        ids.sort();
        ids.dedup();
        assert_eq!(
            ids.len(),
            MESSAGES,
            "broadcast subscriber {i} got each message once"
        );
    }
    let mut group: Vec<String> = (10..13)
        .flat_map(|i| r.get(&i).cloned().unwrap_or_default())
        .collect();
    group.sort();
    group.dedup();
    assert_eq!(
        group.len(),
        MESSAGES,
        "the queue group got each message exactly once"
    );
    for s in subscriptions {
        s.unsubscribe().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_broadcast_and_queue() {
    let broker: Arc<dyn Broker> = Arc::new(MemoryBroker::new());
    broadcast_and_queue(|n| vec![Arc::clone(&broker); n]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_broadcast_and_queue() {
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    broadcast_and_queue(|n| {
        (0..n)
            .map(|_| Arc::new(HttpBroker::new(Arc::clone(&registry))) as Arc<dyn Broker>)
            .collect()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_broadcast_and_queue() {
    let nats = Nats::start();
    let address = nats.address();
    broadcast_and_queue(|n| {
        (0..n)
            .map(|_| Arc::new(NatsBroker::new(&address)) as Arc<dyn Broker>)
            .collect()
    })
    .await;
}

#[tokio::test]
async fn a_topic_nobody_listens_to_is_not_an_error() {
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    HttpBroker::new(registry)
        .publish("go.micro.nobody", message(0))
        .await
        .unwrap();
    MemoryBroker::new()
        .publish("go.micro.nobody", message(0))
        .await
        .unwrap();
}

#[tokio::test]
async fn micro_events_and_raw_nats_speak_the_same_wire_format() {
    let nats = Nats::start();
    let raw = async_nats::connect(nats.address()).await.unwrap();
    let mut raw_sub = raw.subscribe("go.micro.test.wire").await.unwrap();
    raw.flush().await.unwrap();

    // micro publishes: a raw client sees the subject, the JSON body alone, and the headers.
    let client = Client::builder()
        .broker(Arc::new(NatsBroker::new(&nats.address())))
        .from_service("go.micro.srv.pub")
        .build();
    client
        .publish_json("go.micro.test.wire", &serde_json::json!({"message": "hi"}))
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), raw_sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.subject.as_str(), "go.micro.test.wire");
    assert_eq!(&got.payload[..], br#"{"message":"hi"}"#);
    let headers = got.headers.unwrap();
    assert_eq!(
        headers.get("Content-Type").unwrap().as_str(),
        "application/json"
    );
    assert_eq!(
        headers.get("Micro-Topic").unwrap().as_str(),
        "go.micro.test.wire"
    );
    assert_eq!(headers.get("Micro-Id").unwrap().as_str().len(), 36);
    assert_eq!(
        headers.get("micro-from-service").unwrap().as_str(),
        "go.micro.srv.pub"
    );

    // Protobuf too: the payload is the encoded message alone.
    client
        .publish(
            "go.micro.test.wire",
            &EchoRequest {
                message: "pb".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), raw_sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        got.headers.unwrap().get("Content-Type").unwrap().as_str(),
        "application/protobuf"
    );
    let decoded: EchoRequest = prost::Message::decode(&got.payload[..]).unwrap();
    assert_eq!(decoded.message, "pb");

    // A raw NATS publish reaches a micro subscriber.
    let received: Received = Arc::default();
    let broker = NatsBroker::new(&nats.address());
    let sub = broker
        .subscribe(
            "go.micro.test.raw",
            recorder(&received, 0),
            SubscribeOptions::default(),
        )
        .await
        .unwrap();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Content-Type", "application/json");
    headers.insert("Micro-Id", "raw-1");
    raw.publish_with_headers("go.micro.test.raw", headers, r#"{"message":"raw"}"#.into())
        .await
        .unwrap();
    raw.flush().await.unwrap();
    eventually("the raw message", Duration::from_secs(5), || {
        received
            .lock()
            .unwrap()
            .get(&0)
            .is_some_and(|v| v == &["raw-1"])
    })
    .await;
    sub.unsubscribe().await.unwrap();
}

#[tokio::test]
async fn a_subscription_survives_a_nats_restart() {
    let mut nats = Nats::start();
    let broker = NatsBroker::new(&nats.address());
    let received: Received = Arc::default();
    let _sub = broker
        .subscribe(
            "go.micro.test.restart",
            recorder(&received, 0),
            SubscribeOptions::default(),
        )
        .await
        .unwrap();
    broker
        .publish("go.micro.test.restart", message(1))
        .await
        .unwrap();
    eventually("before the restart", Duration::from_secs(5), || {
        received
            .lock()
            .unwrap()
            .get(&0)
            .is_some_and(|v| v.len() == 1)
    })
    .await;

    nats.restart();
    // Publish until one gets through: the client reconnects on its own, with its subscription.
    let mut i = 2;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while received.lock().unwrap().get(&0).is_none_or(|v| v.len() < 2) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing delivered after the restart"
        );
        let _ = broker.publish("go.micro.test.restart", message(i)).await;
        i += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The seed's subscribers: a function (`Func`) and a method (`Example.Handle`).
mod seed {
    use super::*;

    pub(crate) static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

    #[micro::subscriber]
    pub(crate) async fn func(_ctx: &Context, msg: EchoRequest) -> micro::Result<()> {
        SEEN.lock().unwrap().push(format!("Func {}", msg.message));
        Ok(())
    }

    pub(crate) struct Example;

    #[micro::subscriber]
    impl Example {
        async fn handle(&self, ctx: &Context, msg: EchoRequest) -> micro::Result<()> {
            SEEN.lock()
                .unwrap()
                .push(format!("{} {}", ctx.endpoint(), msg.message));
            Ok(())
        }
    }
}

/// What the log says, captured for one test (a current-thread runtime: every task logs on
/// the test's thread).
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn lines_with(&self, needle: &str) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect()
    }
}

#[tokio::test]
async fn subscribers_are_registry_endpoints_and_skip_undecodable_messages() {
    use tracing_subscriber::util::SubscriberInitExt;
    let log = Log::default();
    let writer = log.clone();
    let _logging = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish()
        .set_default();
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let broker: Arc<dyn Broker> = Arc::new(HttpBroker::new(Arc::clone(&registry)));
    let topic = "topic.go.micro.srv.example";
    let svc = micro::Service::builder()
        .flags(micro::Flags::default())
        .name("go.micro.srv.example")
        .registry(Arc::clone(&registry))
        .broker(Arc::clone(&broker))
        .subscriber(topic, seed::Func)
        .subscriber(topic, seed::Example)
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();

    let record = &registry.get_service("go.micro.srv.example").await.unwrap()[0];
    assert_eq!(record.nodes[0].metadata["broker"], "http");
    for name in ["Func", "Example.Handle"] {
        let e = record
            .endpoints
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("{name} listed"));
        assert_eq!(e.metadata["subscriber"], "true");
        assert_eq!(e.metadata["topic"], topic);
        assert_eq!(e.request.as_ref().unwrap().values[0].name, "message");
    }
    let subs = registry
        .get_service(&format!("topic:{topic}"))
        .await
        .unwrap();
    assert_eq!(subs[0].version, micro::broker::HttpBroker::BROADCAST);
    assert_eq!(subs[0].nodes.len(), 2, "one node per subscription");

    // An undecodable message is skipped; the subscribers keep going.
    let client = svc.client();
    client
        .publish_raw(
            topic,
            micro::codec::Codec::Json,
            bytes::Bytes::from_static(b"{not json"),
            Default::default(),
        )
        .await
        .unwrap();
    client
        .publish_json(topic, &serde_json::json!({"message": "John"}))
        .await
        .unwrap();
    client
        .publish(
            topic,
            &EchoRequest {
                message: "Jane".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    eventually(
        "both subscribers got both good messages",
        Duration::from_secs(10),
        || seed::SEEN.lock().unwrap().len() == 4,
    )
    .await;
    let mut seen = seed::SEEN.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        [
            "Example.Handle Jane",
            "Example.Handle John",
            "Func Jane",
            "Func John"
        ]
    );
    // The bad message did reach both subscribers, and each skipped it, saying so.
    let skipped = log.lines_with("skipping a message that cannot be decoded");
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    let by = |name: &str| skipped.iter().filter(|l| l.contains(name)).count();
    assert_eq!((by("Example.Handle"), by("Func")), (1, 1), "{skipped:?}");

    svc.stop().await.unwrap();
    assert!(
        registry
            .get_service(&format!("topic:{topic}"))
            .await
            .is_err(),
        "subscriptions leave the registry on stop"
    );
}

// Multi-threaded: the test blocks a thread while children start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_broker_delivers_across_processes_and_skips_a_killed_node() {
    let etcd = micro_tests::Etcd::start();
    let dir = std::env::temp_dir().join(format!("micro-events-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let spawn = |name: &str| {
        micro_tests::Child(
            std::process::Command::new(env!("CARGO_BIN_EXE_test-service"))
                .env("MICRO_REGISTRY", "etcd")
                .env("MICRO_REGISTRY_ADDRESS", etcd.address())
                .env("MICRO_BROKER", "http")
                .env("MICRO_TEST_EVENTS_FILE", dir.join(name))
                .env_remove("MICRO_SERVER_ADDRESS")
                .spawn()
                .unwrap(),
        )
    };
    let (a, _b) = (spawn("a"), spawn("b"));
    let registry: Arc<dyn Registry> =
        Arc::new(micro::registry::EtcdRegistry::new([etcd.address()]));
    let topic = format!("topic:{}", micro_tests::EVENTS);
    let subscribers = || {
        let registry = Arc::clone(&registry);
        let topic = topic.clone();
        async move {
            registry
                .get_service(&topic)
                .await
                .map(|s| s[0].nodes.len())
                .unwrap_or(0)
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while subscribers().await < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "both subscriber processes register"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let client = Client::builder()
        .registry(Arc::clone(&registry))
        .broker(Arc::new(HttpBroker::new(Arc::clone(&registry))))
        .build();
    let lines = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    };
    for i in 0..5 {
        client
            .publish(
                micro_tests::EVENTS,
                &EchoRequest {
                    message: format!("m{i}"),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }
    eventually(
        "both processes got 5 events",
        Duration::from_secs(10),
        || lines("a") == 5 && lines("b") == 5,
    )
    .await;

    // Kill `a`: its node stays registered (no goodbye), publishing skips it without failing.
    let status = std::process::Command::new("kill")
        .args(["-KILL", &a.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    drop(a);
    for i in 5..10 {
        client
            .publish(
                micro_tests::EVENTS,
                &EchoRequest {
                    message: format!("m{i}"),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }
    eventually(
        "the live process got all 10",
        Duration::from_secs(10),
        || lines("b") == 10,
    )
    .await;
    assert_eq!(lines("a"), 5);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Subscribes a raw NATS client to `subject`, in its own runtime.
fn raw_subscriber(
    nats: &Nats,
    subject: &str,
) -> (
    tokio::runtime::Runtime,
    async_nats::Client,
    async_nats::Subscriber,
) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (raw, sub) = runtime.block_on(async {
        let raw = async_nats::connect(nats.address()).await.unwrap();
        let sub = raw.subscribe(subject.to_string()).await.unwrap();
        raw.flush().await.unwrap();
        (raw, sub)
    });
    (runtime, raw, sub)
}

/// Waits for `n` messages on `sub`, then checks they are `{"i":0}`, `{"i":1}`, ... in order.
fn assert_received_in_order(
    runtime: &tokio::runtime::Runtime,
    sub: &mut async_nats::Subscriber,
    n: usize,
) {
    let got = runtime.block_on(async {
        let mut got = Vec::with_capacity(n);
        while got.len() < n {
            match tokio::time::timeout(Duration::from_secs(5), sub.next()).await {
                Ok(Some(m)) => got.push(m.payload),
                _ => break,
            }
        }
        got
    });
    assert_eq!(
        got.len(),
        n,
        "every message published before the flush arrived"
    );
    for (i, body) in got.iter().enumerate() {
        assert_eq!(&body[..], format!(r#"{{"i":{i}}}"#).as_bytes(), "in order");
    }
}

/// A buffered NATS broker only queues a publish; its flush writes everything queued, so a
/// program that flushes and exits at once (its runtime dropped, async-nats's connection task
/// with it) loses nothing.
#[test]
fn a_buffered_nats_broker_loses_nothing_it_flushed() {
    const N: usize = 20_000;
    let nats = Nats::start();
    let (watcher, _raw, mut sub) = raw_subscriber(&nats, "go.micro.test.buffered");
    let publisher = tokio::runtime::Runtime::new().unwrap();
    publisher.block_on(async {
        let broker = NatsBroker::new(&nats.address()).buffered();
        for i in 0..N {
            let body = bytes::Bytes::from(format!(r#"{{"i":{i}}}"#));
            let message = Message {
                header: Default::default(),
                body,
            };
            broker
                .publish("go.micro.test.buffered", message)
                .await
                .unwrap();
        }
        broker.flush().await.unwrap();
    });
    // Whatever was still queued in this runtime would die with it.
    drop(publisher);
    assert_received_in_order(&watcher, &mut sub, N);
}

/// Stopping a service flushes its broker: what its client published is at the server.
#[test]
fn a_service_on_a_buffered_nats_broker_flushes_when_it_stops() {
    const N: usize = 2_000;
    let nats = Nats::start();
    let (watcher, _raw, mut sub) = raw_subscriber(&nats, "go.micro.test.stopped");
    let publisher = tokio::runtime::Runtime::new().unwrap();
    publisher.block_on(async {
        let broker: Arc<dyn Broker> = Arc::new(NatsBroker::new(&nats.address()).buffered());
        let svc = micro::Service::builder()
            .flags(micro::Flags::default())
            .name("go.micro.srv.buffered")
            .registry(Arc::new(MemoryRegistry::new()))
            .broker(broker)
            .build()
            .unwrap();
        let running = svc.start().await.unwrap();
        let client = running.client();
        for i in 0..N {
            client
                .publish_json("go.micro.test.stopped", &serde_json::json!({ "i": i }))
                .await
                .unwrap();
        }
        running.stop().await.unwrap();
    });
    drop(publisher);
    assert_received_in_order(&watcher, &mut sub, N);
}
