//! Layers: a user's own tower layers around the server's endpoints, its subscribers and the
//! client's attempts.

use futures::StreamExt;
use micro::client::{Answer, Attempt};
use micro::layer::{from_fn, Next};
use micro::registry::{MemoryRegistry, Registry};
use micro::server::{Delivery, Reply, Request};
use micro::{CallOptions, Client, Error};
use micro_tests::proto::{EchoRequest, EchoResponse, FloodItem, FloodRequest};
use micro_tests::{python_client, TestHandler, SERVICE};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Log = Arc<Mutex<Vec<String>>>;
type Answered = futures::future::BoxFuture<'static, micro::Result<Reply>>;

/// What a server layer made with `from_fn` is.
trait ServerLayerFn:
    Fn(Request, Next<Request, Reply>) -> Answered + Clone + Send + Sync + 'static
{
}
impl<F: Fn(Request, Next<Request, Reply>) -> Answered + Clone + Send + Sync + 'static> ServerLayerFn
    for F
{
}

/// A layer that writes `name>` as a request passes in and `<name` (with the outcome) as it
/// ends: at once for a unary call, at a stream's end for a stream.
fn recorder(name: &'static str, log: &Log) -> micro::layer::FromFnLayer<impl ServerLayerFn> {
    let log = Arc::clone(log);
    from_fn(move |request: Request, next: Next<Request, Reply>| {
        let log = Arc::clone(&log);
        Box::pin(async move {
            let what = format!(
                "{}{}",
                request.endpoint(),
                if request.is_stream() { " (stream)" } else { "" }
            );
            log.lock().unwrap().push(format!("{name}> {what}"));
            match next.run(request).await {
                Ok(reply) => {
                    let log = Arc::clone(&log);
                    Ok(reply.on_end(move |outcome| {
                        let outcome = match outcome {
                            Ok(()) => "ok".to_string(),
                            Err(e) => e.code.to_string(),
                        };
                        log.lock().unwrap().push(format!("<{name} {outcome}"));
                    }))
                }
                Err(e) => {
                    log.lock().unwrap().push(format!("<{name} {}", e.code));
                    Err(e)
                }
            }
        }) as Answered
    })
}

async fn layered_service(registry: Arc<dyn Registry>, log: &Log) -> micro::service::RunningService {
    let require_key = from_fn(|request: Request, next: Next<Request, Reply>| async move {
        if !request.metadata().contains_key("x-api-key") {
            return Err(Error::new("auth", "x-api-key is missing", 401));
        }
        next.run(request).await
    });
    let add_metadata = from_fn(
        |mut request: Request, next: Next<Request, Reply>| async move {
            request
                .metadata_mut()
                .insert("x-added".into(), "by a layer".into());
            next.run(request).await
        },
    );
    micro::Service::builder()
        .flags(micro::Flags::default())
        .name(SERVICE)
        .registry(registry)
        .handler(TestHandler::default())
        .layer(recorder("outer", log))
        .layer(require_key)
        .layer(add_metadata)
        .layer(recorder("inner", log))
        .build()
        .unwrap()
        .start()
        .await
        .unwrap()
}

fn echo(message: &str) -> EchoRequest {
    EchoRequest {
        message: message.into(),
        ..Default::default()
    }
}

fn with_key() -> CallOptions {
    CallOptions::default().metadata("x-api-key", "secret")
}

#[tokio::test]
async fn a_server_layer_rejects_calls_without_a_key_and_the_caller_gets_its_exact_error() {
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let log = Log::default();
    let svc = layered_service(Arc::clone(&registry), &log).await;
    let client = Client::new(Arc::clone(&registry));

    let err = client
        .call::<_, EchoResponse>(SERVICE, "Test.Echo", &echo("hi"), CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        (err.id.as_str(), err.code, err.detail.as_str()),
        ("auth", 401, "x-api-key is missing")
    );
    // The outer recorder saw it refused; the inner one never saw it.
    assert_eq!(*log.lock().unwrap(), ["outer> Test.Echo", "<outer 401"]);
    log.lock().unwrap().clear();

    let reply: EchoResponse = client
        .call(SERVICE, "Test.Echo", &echo("hi"), with_key())
        .await
        .unwrap();
    assert_eq!(reply.message, "hi");
    assert_eq!(
        reply.metadata.get("x-added").map(String::as_str),
        Some("by a layer")
    );
    assert_eq!(
        reply.metadata.get("x-api-key").map(String::as_str),
        Some("secret")
    );
    // Outermost first in, last out.
    assert_eq!(
        *log.lock().unwrap(),
        [
            "outer> Test.Echo",
            "inner> Test.Echo",
            "<inner ok",
            "<outer ok"
        ]
    );

    // A stock grpcio client gets the same error, and the same metadata through.
    let address = svc.local_addr().to_string();
    let (ok, out, err) = tokio::task::spawn_blocking({
        let address = address.clone();
        move || python_client(&["echo", &address, "hi"])
    })
    .await
    .unwrap();
    assert!(ok, "python client failed: {err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("UNAUTHENTICATED"));
    let details: serde_json::Value = serde_json::from_str(lines.next().unwrap_or("")).unwrap();
    assert_eq!(
        details,
        serde_json::json!({"id": "auth", "code": 401, "detail": "x-api-key is missing", "status": "Unauthorized"})
    );
    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        python_client(&["echo", &address, "from python", "x-api-key=secret"])
    })
    .await
    .unwrap();
    assert!(ok, "python client failed: {err}");
    let reply: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(reply["message"], "from python");
    assert_eq!(reply["metadata"]["x-added"], "by a layer");

    // Health checks pass without the key: the layers leave the built-in endpoints alone.
    let health: serde_json::Value = client
        .call_json(
            SERVICE,
            "Debug.Health",
            &serde_json::json!({}),
            CallOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn streams_pass_through_the_layers_which_see_their_end() {
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let log = Log::default();
    let svc = layered_service(Arc::clone(&registry), &log).await;
    let client = Client::new(Arc::clone(&registry));

    let refused = client
        .server_stream::<_, FloodItem>(
            SERVICE,
            "Test.Flood",
            &FloodRequest {
                count: 3,
                ..Default::default()
            },
            CallOptions::default(),
        )
        .await;
    let err = match refused {
        Ok(mut items) => items.next().await.expect("an error").unwrap_err(),
        Err(e) => e,
    };
    assert_eq!((err.id.as_str(), err.code), ("auth", 401));
    log.lock().unwrap().clear();

    let items: Vec<FloodItem> = client
        .server_stream(
            SERVICE,
            "Test.Flood",
            &FloodRequest {
                count: 3,
                ..Default::default()
            },
            with_key(),
        )
        .await
        .unwrap()
        .map(|i| i.unwrap())
        .collect()
        .await;
    assert_eq!(items.len(), 3);
    // The end is told once the stream's trailers are out: wait for it (bounded).
    micro_tests::eventually(
        "both layers see the stream end",
        Duration::from_secs(5),
        || log.lock().unwrap().len() == 4,
    )
    .await;
    assert_eq!(
        *log.lock().unwrap(),
        [
            "outer> Test.Flood (stream)",
            "inner> Test.Flood (stream)",
            "<inner ok",
            "<outer ok"
        ]
    );
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn a_client_layer_sees_every_attempt_and_the_node_chosen() {
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    // Two nodes; one is stopped abruptly, so its registration stays and calls to it fail to
    // connect and are retried on the other.
    let alive = micro_tests::start(Arc::clone(&registry), TestHandler::default()).await;
    let dead = micro_tests::start(Arc::clone(&registry), TestHandler::default()).await;
    let dead_address = dead.local_addr().to_string();
    let alive_address = alive.local_addr().to_string();
    dead.kill();

    let seen: Arc<Mutex<Vec<(u32, String, String)>>> = Arc::default();
    let client = Client::builder()
        .registry(Arc::clone(&registry))
        .retries(3)
        .layer(from_fn({
            let seen = Arc::clone(&seen);
            move |attempt: Attempt, next: Next<Attempt, Answer>| {
                let seen = Arc::clone(&seen);
                async move {
                    let node = attempt
                        .node()
                        .map(|n| n.address.clone())
                        .unwrap_or_default();
                    let number = attempt.number();
                    let result = next.run(attempt).await;
                    let outcome = match &result {
                        Ok(_) => "ok".to_string(),
                        Err(e) => e.code.to_string(),
                    };
                    seen.lock().unwrap().push((number, node, outcome));
                    result
                }
            }
        }))
        .build();

    // Until a call happened to pick the dead node first (random strategy; bounded).
    let mut calls = 0;
    while !seen
        .lock()
        .unwrap()
        .iter()
        .any(|(_, node, _)| *node == dead_address)
    {
        calls += 1;
        assert!(
            calls <= 50,
            "50 calls never chose the dead node: {:?}",
            seen.lock().unwrap()
        );
        seen.lock().unwrap().clear();
        let reply: EchoResponse = client
            .call(SERVICE, "Test.Echo", &echo("x"), CallOptions::default())
            .await
            .unwrap();
        assert_eq!(reply.message, "x");
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            (0, dead_address.clone(), "503".to_string()),
            (1, alive_address.clone(), "ok".to_string())
        ],
        "the failed attempt, then the retry on the other node"
    );
    alive.stop().await.unwrap();
}

#[tokio::test]
async fn a_client_layer_wraps_streams_and_publishes_too() {
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let svc = micro_tests::start(Arc::clone(&registry), TestHandler::default()).await;
    let kinds: Arc<Mutex<Vec<String>>> = Arc::default();
    let broker: Arc<dyn micro::broker::Broker> = Arc::new(micro::broker::MemoryBroker::new());
    let client = Client::builder()
        .registry(Arc::clone(&registry))
        .broker(Arc::clone(&broker))
        .layer(from_fn({
            let kinds = Arc::clone(&kinds);
            move |mut attempt: Attempt, next: Next<Attempt, Answer>| {
                kinds.lock().unwrap().push(format!(
                    "{:?} {} {}",
                    attempt.kind(),
                    attempt.service(),
                    attempt.endpoint()
                ));
                attempt
                    .metadata_mut()
                    .insert("x-client-layer".into(), "yes".into());
                next.run(attempt)
            }
        }))
        .build();

    let reply: EchoResponse = client
        .call(SERVICE, "Test.Echo", &echo("a"), CallOptions::default())
        .await
        .unwrap();
    assert_eq!(
        reply.metadata.get("x-client-layer").map(String::as_str),
        Some("yes"),
        "metadata a client layer adds reaches the handler"
    );
    let requests = futures::stream::iter(["a", "b"].map(echo));
    let replies: Vec<EchoResponse> = client
        .stream::<_, EchoResponse>(SERVICE, "Test.Chat", requests, CallOptions::default())
        .await
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
        .await;
    assert_eq!(replies.len(), 2);

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let _subscription = broker
        .subscribe(
            "events",
            Arc::new(move |event: micro::broker::Event| {
                let _ = tx.send(event.message.header);
                Box::pin(async { Ok(()) })
            }),
            Default::default(),
        )
        .await
        .unwrap();
    client.publish("events", &echo("published")).await.unwrap();
    let header = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        header.get("x-client-layer").map(String::as_str),
        Some("yes")
    );
    assert_eq!(
        *kinds.lock().unwrap(),
        [
            "Call go.micro.test Test.Echo",
            "Stream go.micro.test Test.Chat",
            "Publish events "
        ]
    );
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn subscriber_layers_see_each_delivery_and_can_refuse_it() {
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let broker: Arc<dyn micro::broker::Broker> = Arc::new(micro::broker::MemoryBroker::new());
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let delivered: Arc<Mutex<Vec<String>>> = Arc::default();
    let svc = micro::Service::builder()
        .flags(micro::Flags::default())
        .name("go.micro.srv.layered")
        .registry(Arc::clone(&registry))
        .broker(Arc::clone(&broker))
        .subscriber("events", Recorder(Arc::clone(&delivered)))
        .subscriber_layer(from_fn({
            let seen = Arc::clone(&seen);
            move |delivery: Delivery, next: Next<Delivery, ()>| {
                let seen = Arc::clone(&seen);
                async move {
                    let message: EchoRequest = delivery.decode()?;
                    seen.lock().unwrap().push(format!(
                        "{} {} {}",
                        delivery.topic(),
                        delivery.subscriber(),
                        message.message
                    ));
                    if message.message == "refuse" {
                        return Err(Error::new("layer", "refused", 403));
                    }
                    next.run(delivery).await
                }
            }
        }))
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let client = Client::builder()
        .registry(Arc::clone(&registry))
        .broker(Arc::clone(&broker))
        .build();
    for message in ["one", "refuse", "two"] {
        client.publish("events", &echo(message)).await.unwrap();
    }
    micro_tests::eventually("three deliveries seen", Duration::from_secs(5), || {
        seen.lock().unwrap().len() == 3
    })
    .await;
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "events Recorder.Handle one",
            "events Recorder.Handle refuse",
            "events Recorder.Handle two"
        ]
    );
    micro_tests::eventually("two delivered", Duration::from_secs(5), || {
        delivered.lock().unwrap().len() == 2
    })
    .await;
    assert_eq!(*delivered.lock().unwrap(), ["one", "two"]);
    svc.stop().await.unwrap();
}

/// Records each message it gets.
#[derive(Clone)]
struct Recorder(Arc<Mutex<Vec<String>>>);

#[micro::subscriber]
impl Recorder {
    async fn handle(&self, _ctx: &micro::Context, msg: EchoRequest) -> micro::Result<()> {
        self.0.lock().unwrap().push(msg.message);
        Ok(())
    }
}

#[tokio::test]
async fn the_built_in_endpoints_pass_through_the_layers_when_asked() {
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let svc = micro::Service::builder()
        .flags(micro::Flags::default())
        .name(SERVICE)
        .registry(Arc::clone(&registry))
        .handler(TestHandler::default())
        .layer(from_fn(
            |_request: Request, _next: Next<Request, Reply>| async {
                Err::<Reply, _>(Error::new("layer", "closed", 503))
            },
        ))
        .layer_debug_endpoints(true)
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let client = Client::new(registry);
    let err = client
        .call_json(
            SERVICE,
            "Debug.Health",
            &serde_json::json!({}),
            CallOptions::default().retries(0),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.id.as_str(), err.code, err.detail.as_str()),
        ("layer", 503, "closed")
    );
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn a_panicking_layer_is_answered_as_internal_and_the_server_keeps_serving() {
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let svc = micro::Service::builder()
        .flags(micro::Flags::default())
        .name(SERVICE)
        .registry(Arc::clone(&registry))
        .handler(TestHandler::default())
        .layer(from_fn(
            |request: Request, next: Next<Request, Reply>| async move {
                if request.metadata().contains_key("x-panic") {
                    panic!("layer boom");
                }
                next.run(request).await
            },
        ))
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let client = Client::new(registry);
    let err = client
        .call::<_, EchoResponse>(
            SERVICE,
            "Test.Echo",
            &echo("x"),
            CallOptions::default().retries(0).metadata("x-panic", "1"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, 500);
    assert_eq!(err.detail, "Test.Echo panicked: layer boom");
    let reply: EchoResponse = client
        .call(SERVICE, "Test.Echo", &echo("after"), CallOptions::default())
        .await
        .unwrap();
    assert_eq!(reply.message, "after");
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn a_circuit_breaker_stops_calls_to_a_failing_node_until_it_recovers() {
    use micro::wrappers::breaker::{CircuitBreakerLayer, State};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    // The node fails every call while `sick`, and counts the calls that reach it.
    let sick = Arc::new(AtomicBool::new(true));
    let reached = Arc::new(AtomicUsize::new(0));
    let svc = micro::Service::builder()
        .flags(micro::Flags::default())
        .name(SERVICE)
        .registry(Arc::clone(&registry))
        .handler(TestHandler::default())
        .layer(from_fn({
            let (sick, reached) = (Arc::clone(&sick), Arc::clone(&reached));
            move |request: Request, next: Next<Request, Reply>| {
                let (sick, reached) = (Arc::clone(&sick), Arc::clone(&reached));
                async move {
                    reached.fetch_add(1, Ordering::SeqCst);
                    if sick.load(Ordering::SeqCst) {
                        return Err(Error::internal_server_error(SERVICE, "sick"));
                    }
                    next.run(request).await
                }
            }
        }))
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let node = svc.local_addr().to_string();
    let cool_down = Duration::from_millis(300);
    let breaker = CircuitBreakerLayer::new(3, cool_down);
    let client = Client::builder()
        .registry(Arc::clone(&registry))
        .retries(0)
        .layer(breaker.clone())
        .build();
    let request = echo("x");
    let call =
        || client.call::<_, EchoResponse>(SERVICE, "Test.Echo", &request, CallOptions::default());
    // The circuit's state as this process's metrics show it (0 closed, 1 half-open, 2 open).
    let gauge = || {
        let line = format!(
            "micro_circuit_state{{node=\"{node}\",service=\"{SERVICE}\",endpoint=\"Test.Echo\"}} "
        );
        micro::wrappers::metrics::encode()
            .lines()
            .find_map(|l| l.strip_prefix(&line).map(str::to_string))
    };
    assert_eq!(gauge(), None, "no metric before the circuit changes");

    for _ in 0..3 {
        assert_eq!(call().await.unwrap_err().detail, "sick");
    }
    assert!(matches!(
        breaker.state(&node, SERVICE, "Test.Echo"),
        State::Open(_)
    ));
    assert_eq!(gauge().as_deref(), Some("2"));
    // Open: calls fail at once, naming the circuit, and never reach the node.
    for _ in 0..5 {
        let err = call().await.unwrap_err();
        assert_eq!(err.code, 503);
        assert!(
            err.detail.starts_with(&format!(
                "the circuit of {SERVICE}.Test.Echo at {node} is open after 3 failures in a row"
            )),
            "{}",
            err.detail
        );
    }
    assert_eq!(reached.load(Ordering::SeqCst), 3);

    // After the cool-down one call tests the node; it is still sick: open again.
    tokio::time::sleep(cool_down).await;
    assert_eq!(call().await.unwrap_err().detail, "sick");
    assert_eq!(reached.load(Ordering::SeqCst), 4);
    assert_eq!(call().await.unwrap_err().code, 503);
    assert_eq!(reached.load(Ordering::SeqCst), 4);
    assert_eq!(gauge().as_deref(), Some("2"));

    // It recovers: the next test call closes the circuit and calls flow again.
    sick.store(false, Ordering::SeqCst);
    tokio::time::sleep(cool_down).await;
    for _ in 0..3 {
        assert_eq!(call().await.unwrap().message, "x");
    }
    assert_eq!(breaker.state(&node, SERVICE, "Test.Echo"), State::Closed(0));
    assert_eq!(gauge().as_deref(), Some("0"));
    assert_eq!(reached.load(Ordering::SeqCst), 7);
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn a_server_rate_limit_answers_the_excess_429_and_serves_the_limit() {
    use micro::wrappers::RateLimitLayer;
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let per_second = 20.0;
    // When each call reached the server, before the limit: the span the limit applies to.
    let arrivals: Arc<Mutex<Vec<std::time::Instant>>> = Arc::default();
    let svc = micro::Service::builder()
        .flags(micro::Flags::default())
        .name(SERVICE)
        .registry(Arc::clone(&registry))
        .handler(TestHandler::default())
        .layer(from_fn({
            let arrivals = Arc::clone(&arrivals);
            move |request: Request, next: Next<Request, Reply>| {
                arrivals.lock().unwrap().push(std::time::Instant::now());
                next.run(request)
            }
        }))
        .layer(RateLimitLayer::new(per_second).per_endpoint())
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let client = Client::new(Arc::clone(&registry));
    // Three times the limit, evenly over one second: 60 calls, one every 16.7 ms.
    let start = tokio::time::Instant::now();
    let mut calls = Vec::new();
    for i in 0..60u32 {
        tokio::time::sleep_until(start + Duration::from_secs(1) * i / 60).await;
        let client = client.clone();
        calls.push(tokio::spawn(async move {
            client
                .call::<_, EchoResponse>(
                    SERVICE,
                    "Test.Echo",
                    &echo("x"),
                    CallOptions::default().retries(0),
                )
                .await
        }));
    }
    let (mut served, mut refused) = (0, 0);
    for call in calls {
        match call.await.unwrap() {
            Ok(_) => served += 1,
            Err(e) => {
                assert_eq!((e.id.as_str(), e.code), (SERVICE, 429), "{e:?}");
                assert!(
                    e.detail.starts_with(
                        "go.micro.test.Test.Echo is over its rate limit of 20 requests a second"
                    ),
                    "{}",
                    e.detail
                );
                refused += 1;
            }
        }
    }
    let span = {
        let arrivals = arrivals.lock().unwrap();
        (arrivals[arrivals.len() - 1] - arrivals[0]).as_secs_f64()
    };
    // The burst (2) at the start, then one each 50 ms of the span: within one tick of that.
    let expected = 2.0 + per_second * span;
    eprintln!("served {served}, refused {refused}, over {span:.3} s (expected {expected:.1})");
    assert_eq!(served + refused, 60);
    assert!(
        (served as f64 - expected).abs() <= 1.0 + f64::EPSILON,
        "served {served} of 60 over {span:.3} s: expected {expected:.1}"
    );
    // Another endpoint has its own limit.
    let health: serde_json::Value = client
        .call_json(
            SERVICE,
            "Test.Sleep",
            &serde_json::json!({}),
            CallOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(health["had_deadline"], true);
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn a_client_rate_limit_waits_its_turn_or_refuses() {
    use micro::wrappers::RateLimitLayer;
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let svc = micro_tests::start(Arc::clone(&registry), TestHandler::default()).await;
    let waiting = Client::builder()
        .registry(Arc::clone(&registry))
        .layer(RateLimitLayer::new(20.0).wait())
        .build();
    let start = std::time::Instant::now();
    for _ in 0..10 {
        waiting
            .call::<_, EchoResponse>(SERVICE, "Test.Echo", &echo("x"), CallOptions::default())
            .await
            .unwrap();
    }
    // Ten calls at 20 a second, two at once, cannot take less than eight intervals of 50 ms.
    assert!(
        start.elapsed() >= Duration::from_millis(400),
        "{:?}",
        start.elapsed()
    );

    let refusing = Client::builder()
        .registry(Arc::clone(&registry))
        .layer(RateLimitLayer::new(1.0).burst(1))
        .build();
    refusing
        .call::<_, EchoResponse>(SERVICE, "Test.Echo", &echo("x"), CallOptions::default())
        .await
        .unwrap();
    let err = refusing
        .call::<_, EchoResponse>(SERVICE, "Test.Echo", &echo("x"), CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!((err.id.as_str(), err.code), ("go.micro.client", 429));
    svc.stop().await.unwrap();
}
