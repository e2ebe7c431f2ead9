//! OpenTelemetry traces: a caller → service A → service B (and a stock grpcio peer), and a
//! published message to a subscriber, make one trace each, with W3C `traceparent` on the wire
//! and every span exported over OTLP to a real receiver (Python, opentelemetry-proto) with the
//! right parent.

use micro::config::Config;
use micro::registry::{MemoryRegistry, Registry};
use micro::wrappers::trace::Tracer;
use micro::{CallOptions, Client, Context};
use micro_tests::proto::{EchoRequest, EchoResponse};
use micro_tests::TestHandler;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

const A: &str = "go.micro.test.a";
const B: &str = "go.micro.test";
const PEER: &str = "go.micro.test.python";
const TOPIC: &str = "go.micro.test.traced";

/// tests/python/otlp_receiver.py: its port, and the lines it printed so far.
struct Receiver {
    child: Child,
    port: u16,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let mut child = Command::new(micro_tests::python())
            .arg(micro_tests::workspace_root().join("tests/python/otlp_receiver.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python with grpcio and opentelemetry-proto (scripts/test makes .venv)");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let ready: Value = serde_json::from_str(&first)
            .unwrap_or_else(|_| panic!("the receiver did not start: {first:?}"));
        let port = ready["port"].as_u64().unwrap() as u16;
        let lines: Arc<Mutex<Vec<Value>>> = Arc::default();
        std::thread::spawn({
            let lines = Arc::clone(&lines);
            move || {
                for line in stdout.lines() {
                    let Ok(line) = line else { break };
                    lines
                        .lock()
                        .unwrap()
                        .push(serde_json::from_str(&line).unwrap());
                }
            }
        });
        Receiver { child, port, lines }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn of_kind(&self, kind: &str) -> Vec<Value> {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .filter(|l| l["kind"] == kind)
            .cloned()
            .collect()
    }

    /// The one span `service` reported named `name`.
    fn span(&self, service: &str, name: &str) -> Value {
        let spans: Vec<Value> = self
            .of_kind("span")
            .into_iter()
            .filter(|s| s["service"] == service && s["name"] == name)
            .collect();
        assert_eq!(
            spans.len(),
            1,
            "spans of {service} named {name}: {spans:#?}\nall: {:#?}",
            self.of_kind("span")
        );
        spans[0].clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Service A's one endpoint: calls B through discovery, then the grpcio peer by address,
/// passing its context on as a handler does.
#[derive(Clone)]
struct Relay {
    client: Arc<OnceLock<Client>>,
    peer: String,
}

#[micro::handler(name = "Relay")]
impl Relay {
    async fn call(&self, ctx: &Context, req: EchoRequest) -> micro::Result<EchoResponse> {
        let client = self
            .client
            .get()
            .expect("the service's client is set before it starts");
        let reply: EchoResponse = client
            .call(B, "Test.Echo", &req, CallOptions::from(ctx))
            .await?;
        let _: EchoResponse = client
            .call(
                PEER,
                "Peer.Call",
                &req,
                CallOptions::from(ctx).address(self.peer.clone()),
            )
            .await?;
        Ok(reply)
    }
}

/// Keeps the metadata each delivered message came with.
struct Seen(Arc<Mutex<Vec<micro::metadata::Metadata>>>);

#[micro::subscriber]
impl Seen {
    async fn handle(&self, ctx: &Context, _msg: EchoRequest) -> micro::Result<()> {
        self.0.lock().unwrap().push(ctx.metadata().clone());
        Ok(())
    }
}

fn traced(receiver: &Receiver) -> Config {
    Config {
        otlp_endpoint: Some(receiver.endpoint()),
        ..Config::default()
    }
}

fn traceparent(trace_id: &Value, span_id: &Value) -> String {
    format!(
        "00-{}-{}-01",
        trace_id.as_str().unwrap(),
        span_id.as_str().unwrap()
    )
}

#[tokio::test]
async fn one_trace_crosses_services_the_wire_and_the_broker() {
    let receiver = tokio::task::spawn_blocking(Receiver::start).await.unwrap();
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let broker: Arc<dyn micro::broker::Broker> = Arc::new(micro::broker::MemoryBroker::new());
    let delivered: Arc<Mutex<Vec<micro::metadata::Metadata>>> = Arc::default();
    // B: the test handler, and a subscriber; traced because OTEL_EXPORTER_OTLP_ENDPOINT's
    // setting says so.
    let b = micro::Service::builder()
        .flags(micro::Flags::default())
        .defaults(traced(&receiver))
        .name(B)
        .registry(Arc::clone(&registry))
        .broker(Arc::clone(&broker))
        .handler(TestHandler::default())
        .subscriber(TOPIC, Seen(Arc::clone(&delivered)))
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let relay = Relay {
        client: Arc::default(),
        peer: format!("127.0.0.1:{}", receiver.port),
    };
    let a = micro::Service::builder()
        .flags(micro::Flags::default())
        .defaults(traced(&receiver))
        .name(A)
        .registry(Arc::clone(&registry))
        .broker(Arc::clone(&broker))
        .handler(relay.clone())
        .build()
        .unwrap();
    relay.client.set(a.client()).unwrap();
    let a = a.start().await.unwrap();

    // The caller: a plain client with the tracing layer of a tracer of its own.
    let tracer = Tracer::exporting("test.caller", &receiver.endpoint()).unwrap();
    let caller = Client::builder()
        .registry(Arc::clone(&registry))
        .broker(Arc::clone(&broker))
        .layer(tracer.client())
        .build();
    let request = EchoRequest {
        message: "traced".into(),
        ..Default::default()
    };
    let reply: EchoResponse = caller
        .call(A, "Relay.Call", &request, CallOptions::default())
        .await
        .unwrap();
    caller.publish(TOPIC, &request).await.unwrap();
    micro_tests::eventually("the message delivered", Duration::from_secs(10), || {
        !delivered.lock().unwrap().is_empty()
    })
    .await;

    // Stopping flushes each service's spans; the caller flushes its own.
    a.stop().await.unwrap();
    b.stop().await.unwrap();
    tracer.flush().await.unwrap();
    micro_tests::eventually("7 spans at the receiver", Duration::from_secs(20), || {
        receiver.of_kind("span").len() >= 7
    })
    .await;

    // The call: caller → A → B, and A → the grpcio peer, one trace, each span the child of
    // the one that made the call.
    let (client, kind_server, kind_client) = (
        receiver.span("test.caller", &format!("{A}/Relay.Call")),
        2,
        3,
    );
    let served_a = receiver.span(A, &format!("{A}/Relay.Call"));
    let a_to_b = receiver.span(A, &format!("{B}/Test.Echo"));
    let served_b = receiver.span(B, &format!("{B}/Test.Echo"));
    let a_to_peer = receiver.span(A, &format!("{PEER}/Peer.Call"));
    let trace = &client["trace_id"];
    assert_eq!(
        client["parent_span_id"], "",
        "the caller's span starts the trace"
    );
    for (span, parent, kind) in [
        (&served_a, &client, kind_server),
        (&a_to_b, &served_a, kind_client),
        (&served_b, &a_to_b, kind_server),
        (&a_to_peer, &served_a, kind_client),
    ] {
        assert_eq!(&span["trace_id"], trace, "{span:#?}");
        assert_eq!(span["parent_span_id"], parent["span_id"], "{span:#?}");
        assert_eq!(span["span_kind"], kind, "{span:#?}");
        assert_eq!(span["attributes"]["rpc.system"], "grpc");
    }
    assert_eq!(served_b["attributes"]["rpc.service"], B);
    assert_eq!(served_b["attributes"]["rpc.method"], "Test.Echo");
    // On the wire: the grpcio peer saw the traceparent of A's call to it.
    let calls = receiver.of_kind("call");
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(calls[0]["method"], format!("/{PEER}.Peer/Call"));
    assert_eq!(
        calls[0]["metadata"]["traceparent"],
        traceparent(trace, &a_to_peer["span_id"])
    );
    // B's handler ran in its own span: its metadata (echoed back) names it.
    assert_eq!(
        reply.metadata["traceparent"],
        traceparent(trace, &served_b["span_id"])
    );

    // The message: published by the caller, processed by B's subscriber, one trace.
    let publish = receiver.span("test.caller", &format!("publish {TOPIC}"));
    let process = receiver.span(B, &format!("process {TOPIC}"));
    assert_ne!(publish["trace_id"], *trace, "a new trace");
    assert_eq!(publish["span_kind"], 4, "producer");
    assert_eq!(process["span_kind"], 5, "consumer");
    assert_eq!(process["trace_id"], publish["trace_id"]);
    assert_eq!(process["parent_span_id"], publish["span_id"]);
    assert_eq!(process["attributes"]["messaging.destination.name"], TOPIC);
    assert_eq!(
        delivered.lock().unwrap()[0]["traceparent"],
        traceparent(&process["trace_id"], &process["span_id"])
    );
    assert_eq!(
        receiver.of_kind("span").len(),
        7,
        "{:#?}",
        receiver.of_kind("span")
    );
}

/// One hop of a chain: answers with the `traceparent` it was called with, then what the next
/// service answered (with the context passed on), if there is one.
#[derive(Clone)]
struct Hop {
    next: Option<(Client, &'static str)>,
}

#[micro::handler(name = "Hop")]
impl Hop {
    async fn call(&self, ctx: &Context, _req: EchoRequest) -> micro::Result<EchoResponse> {
        let mut seen = ctx
            .metadata()
            .get("traceparent")
            .cloned()
            .unwrap_or_default();
        if let Some((client, service)) = &self.next {
            let reply: EchoResponse = client
                .call(
                    service,
                    "Hop.Call",
                    &EchoRequest::default(),
                    CallOptions::from(ctx),
                )
                .await?;
            seen = format!("{seen} {}", reply.message);
        }
        Ok(EchoResponse {
            message: seen,
            ..Default::default()
        })
    }
}

/// `(trace id, span id, flags)` of a `traceparent`.
fn parts(traceparent: &str) -> (&str, &str, &str) {
    let fields: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(fields.len(), 4, "a traceparent: {traceparent:?}");
    assert_eq!(fields[0], "00", "{traceparent}");
    assert_eq!(
        (fields[1].len(), fields[2].len()),
        (32, 16),
        "{traceparent}"
    );
    (fields[1], fields[2], fields[3])
}

/// A tracer exported nowhere records nothing, but still gives each call its ids and carries the
/// trace on: caller -> A -> B share one trace id, each hop has a span id of its own, and a
/// caller's unsampled trace stays unsampled.
#[tokio::test]
async fn a_tracer_exported_nowhere_still_carries_the_trace() {
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let tracer = Tracer::new("go.micro.test.chain");
    let service = |name: &'static str, hop: Hop| {
        micro::Service::builder()
            .flags(micro::Flags::default())
            .name(name)
            .registry(Arc::clone(&registry))
            .layer(tracer.server())
            .handler(hop)
            .build()
            .unwrap()
    };
    let b = service("go.micro.test.b", Hop { next: None })
        .start()
        .await
        .unwrap();
    let a_client = Client::builder()
        .registry(Arc::clone(&registry))
        .layer(tracer.client())
        .build();
    let a = service(
        "go.micro.test.a",
        Hop {
            next: Some((a_client, "go.micro.test.b")),
        },
    )
    .start()
    .await
    .unwrap();
    let caller = Client::builder()
        .registry(Arc::clone(&registry))
        .layer(Tracer::new("test.caller").client())
        .build();

    // A new trace, sampled.
    let reply: EchoResponse = caller
        .call(
            "go.micro.test.a",
            "Hop.Call",
            &EchoRequest::default(),
            CallOptions::default(),
        )
        .await
        .unwrap();
    let (at_a, at_b) = reply.message.split_once(' ').expect("two traceparents");
    let ((trace_a, span_a, flags_a), (trace_b, span_b, flags_b)) = (parts(at_a), parts(at_b));
    assert_eq!(trace_a, trace_b, "one trace: {reply:?}");
    assert_ne!(trace_a, "0".repeat(32));
    assert_ne!(span_a, span_b, "each hop its own span");
    assert_eq!((flags_a, flags_b), ("01", "01"), "sampled");

    // The caller's own trace, unsampled: continued, and left unsampled.
    let theirs = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
    let reply: EchoResponse = caller
        .call(
            "go.micro.test.a",
            "Hop.Call",
            &EchoRequest::default(),
            CallOptions::default().metadata("traceparent", theirs),
        )
        .await
        .unwrap();
    let (at_a, at_b) = reply.message.split_once(' ').expect("two traceparents");
    let ((trace_a, span_a, flags_a), (trace_b, _, flags_b)) = (parts(at_a), parts(at_b));
    assert_eq!(trace_a, "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(trace_b, trace_a);
    assert_ne!(
        span_a, "b7ad6b7169203331",
        "the caller's client made a span of its own"
    );
    assert_eq!((flags_a, flags_b), ("00", "00"), "still unsampled");

    a.stop().await.unwrap();
    b.stop().await.unwrap();
}
