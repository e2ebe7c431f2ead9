//! What the server processes run. Each announces itself with `READY <json>` ([`Ready`]) and
//! serves until its stdin closes; the broker loops instead print `RESULT <json>` ([`BrokerRun`]).

use super::process::Proc;
use super::{Sample, Timing, OP_TIMEOUT};
use crate::raw::greeter_client::GreeterClient;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use examples::greeter::{Greeter, SERVICE};
use futures::StreamExt;
use micro::broker::{Broker, Event, HttpBroker, Message, NatsBroker, SubscribeOptions};
use micro::registry::{MemoryRegistry, RegisterOptions, Registry};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::sync::Notify;

/// What a server announces: where it listens and, for micro services, their registry records.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ready {
    /// `host:port`.
    pub address: String,
    /// The records a registry would hold for it.
    #[serde(default)]
    pub records: Vec<micro::registry::Service>,
}

/// A memory registry holding `records`: the client side of a discovery the bench does not
/// measure (a registry cache answers every lookup after the first, whatever the backend).
pub async fn registry_of(records: &[micro::registry::Service]) -> Arc<dyn Registry> {
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    for record in records {
        registry
            .register(record, RegisterOptions::default())
            .await
            .expect("memory registry");
    }
    registry
}

/// Runs server `kind` (see `micro-bench --help`) until stdin closes.
pub async fn serve(kind: &str, args: &[String]) -> Result<(), String> {
    let arg = |i: usize| {
        args.get(i)
            .cloned()
            .ok_or_else(|| format!("serve {kind}: argument {} missing", i + 1))
    };
    // The micro service, which must live while serving.
    let mut service = None;
    let ready = match kind {
        "micro-greeter" => {
            let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
            let mut builder = micro::Service::builder()
                .flags(micro::Flags::default())
                .name(SERVICE)
                .address("127.0.0.1:0")
                .registry(Arc::clone(&registry))
                .handler(Greeter);
            // `micro-greeter [traces] [metrics] [tls=CERT,KEY] [auth=PUBLIC_KEY]`: with those
            // layers (the harness's layer cost cases), traces outermost as a service with
            // OTEL_EXPORTER_OTLP_ENDPOINT has them; over TLS; checking a token on every call.
            for arg in args {
                if let Some(files) = arg.strip_prefix("tls=") {
                    let (cert, key) = files.split_once(',').ok_or("tls=CERT,KEY")?;
                    let tls = micro::server::tls::Tls::from_pem_files(
                        std::path::Path::new(cert),
                        std::path::Path::new(key),
                        &[b"h2"],
                    )
                    .map_err(|e| e.to_string())?;
                    builder = builder.tls(tls);
                }
                if let Some(public) = arg.strip_prefix("auth=") {
                    let verifier =
                        micro::auth::Verifier::from_setting(public).map_err(|e| e.to_string())?;
                    let policy = micro::auth::Policy::new(verifier, micro::auth::Rules::new());
                    builder = builder.auth(Arc::new(policy));
                }
            }
            if args.iter().any(|a| a == "traces") {
                let tracer = micro::wrappers::trace::Tracer::new(SERVICE);
                builder = builder.layer(tracer.server());
            }
            if args.iter().any(|a| a == "metrics") {
                builder = builder.layer(micro::wrappers::metrics::MetricsLayer::server());
            }
            let running = builder
                .build()
                .map_err(|e| e.to_string())?
                .start()
                .await
                .map_err(|e| e.to_string())?;
            let ready = Ready {
                address: running.local_addr().to_string(),
                records: registry
                    .get_service(SERVICE)
                    .await
                    .map_err(|e| e.to_string())?
                    .to_vec(),
            };
            service = Some(running);
            ready
        }
        "tonic-greeter" => Ready {
            address: crate::serve_raw_greeter().await.to_string(),
            records: Vec::new(),
        },
        // `tonic-greeter-tls CERT KEY`
        "tonic-greeter-tls" => {
            let read = |path: String| std::fs::read(&path).map_err(|e| format!("{path}: {e}"));
            let (cert, key) = (read(arg(0)?)?, read(arg(1)?)?);
            Ready {
                address: crate::serve_raw_greeter_tls(&cert, &key).await.to_string(),
                records: Vec::new(),
            }
        }
        "micro-api" => {
            let records: Vec<micro::registry::Service> =
                serde_json::from_str(&arg(0)?).map_err(|e| format!("records: {e}"))?;
            let registry = registry_of(&records).await;
            let options = micro_api::Options {
                namespace: "go.micro.srv".into(),
                handler: micro_api::HandlerKind::Rpc,
                ..Default::default()
            };
            let app =
                micro_api::router(micro::Client::new(Arc::clone(&registry)), registry, options);
            let listener = loopback_listener().await?;
            let address = listener.local_addr().map_err(|e| e.to_string())?;
            let listener = micro_api::listener(listener);
            tokio::spawn(micro_api::serve(listener, app, std::future::pending()));
            Ready {
                address: address.to_string(),
                records: Vec::new(),
            }
        }
        "axum-forwarder" => {
            let client = GreeterClient::connect(format!("http://{}", arg(0)?))
                .await
                .map_err(|e| format!("connecting to the greeter: {e}"))?;
            let app = axum::Router::new()
                .route("/greeter/call", axum::routing::post(forward))
                .with_state(client);
            let listener = loopback_listener().await?;
            let address = listener.local_addr().map_err(|e| e.to_string())?;
            // Served by axum's own server: the floor micro api's listener is measured against.
            tokio::spawn(async move { axum::serve(listener, app).await });
            Ready {
                address: address.to_string(),
                records: Vec::new(),
            }
        }
        // `micro-proxy RECORDS`: `micro proxy` as `micro proxy` runs it, finding the greeter
        // in a registry holding its records.
        "micro-proxy" => {
            let records: Vec<micro::registry::Service> =
                serde_json::from_str(&arg(0)?).map_err(|e| format!("records: {e}"))?;
            let registry = registry_of(&records).await;
            let client = micro::Client::builder()
                .registry(Arc::clone(&registry))
                .no_proxy()
                .build();
            let proxy = micro_proxy::Proxy::new(client.clone(), micro_proxy::Backend::Discover);
            let running = micro::Service::builder()
                .flags(micro::Flags::default())
                .name(micro::client::PROXY_SERVICE)
                .address("127.0.0.1:0")
                .registry(registry)
                .client(client)
                .forward(proxy.forwarder())
                .build()
                .map_err(|e| e.to_string())?
                .start()
                .await
                .map_err(|e| e.to_string())?;
            proxy.listening_on(running.local_addr());
            let ready = Ready {
                address: running.local_addr().to_string(),
                records: Vec::new(),
            };
            service = Some(running);
            ready
        }
        // `tonic-forwarder ADDRESS`: the proxy's floor, hand-written: every HTTP/2 request
        // passed as it is (raw frames, trailers) over a tonic channel to the greeter.
        "tonic-forwarder" => {
            let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", arg(0)?))
                .map_err(|e| e.to_string())?
                .tcp_nodelay(true)
                .connect()
                .await
                .map_err(|e| format!("connecting to the greeter: {e}"))?;
            let listener = loopback_listener().await?;
            let address = listener.local_addr().map_err(|e| e.to_string())?;
            tokio::spawn(serve_forwarder(listener, channel));
            Ready {
                address: address.to_string(),
                records: Vec::new(),
            }
        }
        other => return Err(format!("unknown server kind {other:?}")),
    };
    println!("READY {}", serde_json::to_string(&ready).expect("json"));
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    while stdin.read(&mut buf).await.map(|n| n > 0).unwrap_or(false) {}
    drop(service);
    Ok(())
}

async fn loopback_listener() -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("listening on loopback: {e}"))
}

/// Serves the hand-written forwarder on `listener`: h2c, each request sent on `channel` as it
/// came and its response returned as it comes.
async fn serve_forwarder(listener: tokio::net::TcpListener, channel: tonic::transport::Channel) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let _ = stream.set_nodelay(true);
        let channel = channel.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let mut channel = channel.clone();
                    async move {
                        use tower::Service;
                        let req = req.map(tonic::body::Body::new);
                        let response = match std::future::poll_fn(|cx| channel.poll_ready(cx)).await
                        {
                            Ok(()) => channel.call(req).await,
                            Err(e) => Err(e),
                        };
                        Ok::<_, std::convert::Infallible>(response.unwrap_or_else(|e| {
                            tonic::Status::unavailable(e.to_string()).into_http()
                        }))
                    }
                });
            let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The gateway floor: parse the JSON, call the greeter with a raw tonic client, answer JSON.
async fn forward(
    State(mut client): State<GreeterClient<tonic::transport::Channel>>,
    Json(body): Json<serde_json::Value>,
) -> Result<Json<serde_json::Value>, (StatusCode, String)> {
    let name = body["name"].as_str().unwrap_or_default().to_string();
    let reply = client
        .call(crate::raw::Request { name })
        .await
        .map_err(|s| (StatusCode::BAD_GATEWAY, s.message().to_string()))?;
    Ok(Json(serde_json::json!({ "msg": reply.into_inner().msg })))
}

/// What a broker loop measured about itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BrokerRun {
    /// Messages delivered and their publish -> deliver latencies.
    pub sample: Sample,
    /// CPU seconds of the whole process (publisher and subscriber) in the window.
    pub cpu_seconds: f64,
    /// Peak resident memory of the process.
    pub peak_rss_mib: f64,
}

/// Messages published before waiting for all of them to be delivered.
pub const BATCH: u64 = 1_000;

/// Publish -> deliver in one process, publisher and subscriber on `kind` (`raw-nats`,
/// `micro-nats`, `micro-nats-buffered`, `micro-http`): batches of [`BATCH`] messages, each batch published and then
/// awaited until delivered, for `timing.warmup` and then `timing.run`.
pub async fn broker(kind: &str, nats: &str, timing: Timing) -> Result<BrokerRun, String> {
    let tally = Arc::new(Tally::default());
    let topic = "bench.events";
    let (publisher, _subscription): (Publisher, Box<dyn std::any::Any>) = match kind {
        "raw-nats" => {
            let client = async_nats::connect(nats).await.map_err(|e| e.to_string())?;
            let mut sub = client.subscribe(topic).await.map_err(|e| e.to_string())?;
            client.flush().await.map_err(|e| e.to_string())?;
            let t = Arc::clone(&tally);
            let task = tokio::spawn(async move {
                while let Some(msg) = sub.next().await {
                    t.hit(&msg.payload);
                }
            });
            (Publisher::Raw(client), Box::new(AbortOnDrop(task)))
        }
        "micro-nats" | "micro-nats-buffered" | "micro-http" => {
            let (subscriber, publisher): (Arc<dyn Broker>, Arc<dyn Broker>) =
                if kind == "micro-nats" {
                    let broker: Arc<dyn Broker> = Arc::new(NatsBroker::new(nats));
                    (Arc::clone(&broker), broker)
                } else if kind == "micro-nats-buffered" {
                    let broker: Arc<dyn Broker> = Arc::new(NatsBroker::new(nats).buffered());
                    (Arc::clone(&broker), broker)
                } else {
                    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
                    (
                        Arc::new(HttpBroker::new(Arc::clone(&registry))),
                        Arc::new(HttpBroker::new(registry)),
                    )
                };
            let t = Arc::clone(&tally);
            let handler: micro::broker::MessageHandler = Arc::new(move |event: Event| {
                t.hit(&event.message.body);
                Box::pin(async { Ok(()) })
            });
            let subscription = subscriber
                .subscribe(topic, handler, SubscribeOptions::default())
                .await
                .map_err(|e| e.to_string())?;
            (
                Publisher::Micro(publisher),
                Box::new((subscription, subscriber)),
            )
        }
        other => return Err(format!("unknown broker kind {other:?}")),
    };

    let mut sent = 0;
    publish_batches(
        &publisher,
        &tally,
        topic,
        Instant::now() + timing.warmup,
        &mut sent,
    )
    .await?;
    tally.latencies.lock().expect("lock").clear();
    let (me, start) = (Proc::me(), Instant::now());
    let (cpu_before, sent_before) = (me.cpu_seconds(), tally.delivered.load(Ordering::SeqCst));
    publish_batches(&publisher, &tally, topic, start + timing.run, &mut sent).await?;
    let sent_after = sent;
    let seconds = start.elapsed().as_secs_f64();
    let cpu_seconds = me.cpu_seconds() - cpu_before;
    let latencies = std::mem::take(&mut *tally.latencies.lock().expect("lock"));
    Ok(BrokerRun {
        sample: Sample::new(sent_after - sent_before, seconds, latencies),
        cpu_seconds,
        peak_rss_mib: me.peak_rss_mib(),
    })
}

/// Publishes batches until `until`, each awaited until delivered; `sent` counts them all.
async fn publish_batches(
    publisher: &Publisher,
    tally: &Tally,
    topic: &str,
    until: Instant,
    sent: &mut u64,
) -> Result<(), String> {
    while Instant::now() < until {
        for _ in 0..BATCH {
            publisher.publish(topic, tally.payload()).await?;
        }
        *sent += BATCH;
        tally.wait_for(*sent).await?;
    }
    Ok(())
}

enum Publisher {
    Raw(async_nats::Client),
    Micro(Arc<dyn Broker>),
}

impl Publisher {
    /// Both sides send the same JSON body with the same content type header.
    async fn publish(&self, topic: &str, body: bytes::Bytes) -> Result<(), String> {
        match self {
            Publisher::Raw(client) => {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("Content-Type", "application/json");
                client
                    .publish_with_headers(topic.to_string(), headers, body)
                    .await
                    .map_err(|e| e.to_string())
            }
            Publisher::Micro(broker) => {
                let message = Message {
                    header: [("Content-Type".to_string(), "application/json".to_string())].into(),
                    body,
                };
                broker
                    .publish(topic, message)
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Deliveries counted, with the latency of each from the send time in its body.
struct Tally {
    base: Instant,
    delivered: AtomicU64,
    wanted: AtomicU64,
    all_in: Notify,
    latencies: Mutex<Vec<Duration>>,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            base: Instant::now(),
            delivered: AtomicU64::new(0),
            wanted: AtomicU64::new(u64::MAX),
            all_in: Notify::new(),
            latencies: Mutex::new(Vec::new()),
        }
    }
}

#[derive(Deserialize)]
struct Payload {
    sent: u64,
}

impl Tally {
    /// `{"message":"hello","sent":<ns since base>}`.
    fn payload(&self) -> bytes::Bytes {
        let sent = self.base.elapsed().as_nanos();
        format!(r#"{{"message":"hello","sent":{sent}}}"#).into()
    }

    fn hit(&self, body: &[u8]) {
        if let Ok(p) = serde_json::from_slice::<Payload>(body) {
            let latency = self
                .base
                .elapsed()
                .saturating_sub(Duration::from_nanos(p.sent));
            self.latencies.lock().expect("lock").push(latency);
        }
        if self.delivered.fetch_add(1, Ordering::SeqCst) + 1 >= self.wanted.load(Ordering::SeqCst) {
            self.all_in.notify_one();
        }
    }

    /// Waits until `n` messages in all were delivered.
    async fn wait_for(&self, n: u64) -> Result<(), String> {
        self.wanted.store(n, Ordering::SeqCst);
        let wait = async {
            while self.delivered.load(Ordering::SeqCst) < n {
                self.all_in.notified().await;
            }
        };
        tokio::time::timeout(OP_TIMEOUT, wait).await.map_err(|_| {
            let got = self.delivered.load(Ordering::SeqCst);
            format!("only {got} of {n} messages delivered within {OP_TIMEOUT:?}")
        })
    }
}
