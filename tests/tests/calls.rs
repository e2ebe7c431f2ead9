//! Calls between micro services: typed and JSON, errors, deadlines, load balancing and failover.

use micro::codec::Codec;
use micro::registry::{MemoryRegistry, Registry};
use micro::selector::{RegistrySelector, Strategy};
use micro::{CallOptions, Client, Error};
use micro_tests::proto::{
    EchoRequest, EchoResponse, FailRequest, FailResponse, SleepRequest, SleepResponse,
};
use micro_tests::{start, TestHandler, SERVICE};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn registry() -> Arc<dyn Registry> {
    Arc::new(MemoryRegistry::new())
}

fn echo(message: &str) -> EchoRequest {
    EchoRequest {
        message: message.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn typed_call_in_protobuf() {
    let reg = registry();
    let svc = start(reg.clone(), TestHandler::default()).await;
    let client = Client::new(reg);
    let reply: EchoResponse = client
        .call(SERVICE, "Test.Echo", &echo("hi"), CallOptions::default())
        .await
        .unwrap();
    assert_eq!(reply.message, "hi");
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn json_call_needs_no_compiled_types() {
    let reg = registry();
    let svc = start(reg.clone(), TestHandler::default()).await;
    let client = Client::new(reg);
    let reply = client
        .call_json(
            SERVICE,
            "Test.Echo",
            &json!({"message": "John", "count": 3, "tags": ["a"]}),
            CallOptions::default(),
        )
        .await
        .unwrap();
    // proto3 JSON: int64 travels as a string.
    assert_eq!(reply, json!({"message": "John", "count": "3"}));
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn metadata_travels_as_headers() {
    let reg = registry();
    let svc = start(reg.clone(), TestHandler::default()).await;
    let client = Client::builder()
        .registry(reg)
        .from_service("go.micro.srv.caller")
        .build();
    let reply: EchoResponse = client
        .call(
            SERVICE,
            "Test.Echo",
            &echo("x"),
            CallOptions::default().metadata("User", "john"),
        )
        .await
        .unwrap();
    assert_eq!(reply.metadata.get("user").map(String::as_str), Some("john"));
    assert_eq!(
        reply.metadata.get("micro-from-service").map(String::as_str),
        Some("go.micro.srv.caller")
    );
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn handler_errors_arrive_intact() {
    let reg = registry();
    let svc = start(reg.clone(), TestHandler::default()).await;
    let client = Client::new(reg);
    let req = FailRequest {
        code: 400,
        detail: "name is empty".into(),
    };
    let err = client
        .call::<_, FailResponse>(SERVICE, "Test.Fail", &req, CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error {
            id: SERVICE.into(),
            code: 400,
            detail: "name is empty".into(),
            status: "Bad Request".into()
        }
    );

    // The JSON path gives the same error.
    let err = client
        .call_json(
            SERVICE,
            "Test.Fail",
            &json!({"code": 409, "detail": "exists"}),
            CallOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.code, err.detail.as_str(), err.status.as_str()),
        (409, "exists", "Conflict")
    );
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn a_500_is_retried_on_another_attempt() {
    let reg = registry();
    let handler = TestHandler::default();
    let failures = handler.failures.clone();
    let svc = start(reg.clone(), handler).await;
    let client = Client::new(reg);
    let opts = || {
        CallOptions::default()
            .retries(2)
            .backoff(micro::client::no_backoff)
    };
    let err = client
        .call_json(
            SERVICE,
            "Test.Fail",
            &json!({"code": 500, "detail": "boom"}),
            opts(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, 500);
    assert_eq!(
        failures.swap(0, std::sync::atomic::Ordering::SeqCst),
        3,
        "one attempt and two retries"
    );

    // A 400 is the caller's fault: no retry.
    let err = client
        .call_json(
            SERVICE,
            "Test.Fail",
            &json!({"code": 400, "detail": "bad"}),
            opts(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, 400);
    assert_eq!(failures.load(std::sync::atomic::Ordering::SeqCst), 1);
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn bad_input_gets_precise_errors_and_the_server_keeps_serving() {
    let reg = registry();
    let svc = start(reg.clone(), TestHandler::default()).await;
    let client = Client::builder()
        .registry(reg)
        .max_message_size(16 << 20)
        .build();
    let opts = CallOptions::default;

    // Malformed JSON.
    let err = client
        .call_raw(
            SERVICE,
            "Test.Echo",
            Codec::Json,
            bytes::Bytes::from_static(b"{\"message\": "),
            opts(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, 400, "{err}");
    assert!(
        err.detail.contains("cannot decode request of Test.Echo")
            && err.detail.contains("invalid JSON"),
        "{err}"
    );

    // Undecodable protobuf.
    let err = client
        .call_raw(
            SERVICE,
            "Test.Echo",
            Codec::Proto,
            bytes::Bytes::from_static(&[0xff, 0xff, 0xff]),
            opts(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, 400, "{err}");
    assert!(err.detail.contains("invalid protobuf"), "{err}");

    // Unknown endpoint.
    let err = client
        .call_json(SERVICE, "Test.Nope", &json!({}), opts())
        .await
        .unwrap_err();
    assert_eq!(
        (err.code, err.detail.as_str()),
        (501, "unknown endpoint Test.Nope of service go.micro.test")
    );

    // Oversized message: 5 MiB against the default 4 MiB limit.
    let big = EchoRequest {
        payload: vec![7u8; 5 << 20],
        ..Default::default()
    };
    let err = client
        .call::<_, EchoResponse>(SERVICE, "Test.Echo", &big, opts())
        .await
        .unwrap_err();
    assert_eq!(err.code, 413, "{err}");
    assert!(
        err.detail
            .contains("larger than the limit of 4194304 bytes"),
        "{err}"
    );

    // A panicking handler.
    let err = client
        .call_json(SERVICE, "Test.Panic", &json!({}), opts())
        .await
        .unwrap_err();
    assert_eq!(err.code, 500);
    assert!(
        err.detail
            .contains("Test.Panic panicked: the test handler panics on purpose"),
        "{err}"
    );

    // Unknown service.
    let err = client
        .call_json("go.micro.nobody", "X.Y", &json!({}), opts())
        .await
        .unwrap_err();
    assert_eq!(
        (err.code, err.detail.as_str()),
        (404, "service go.micro.nobody not found")
    );

    // After all that, the server still answers.
    let reply: EchoResponse = client
        .call(SERVICE, "Test.Echo", &echo("still here"), opts())
        .await
        .unwrap();
    assert_eq!(reply.message, "still here");
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn deadline_is_propagated_and_enforced() {
    let reg = registry();
    let handler = TestHandler::default();
    let seen = handler.seen_deadline.clone();
    let svc = start(reg.clone(), handler).await;
    let client = Client::new(reg);
    // The handler sleeps ten minutes; the call must end at its 300 ms deadline, long before.
    // (A generous bound, not a timing: a caller that waited for the handler would hit it.)
    let err = tokio::time::timeout(
        Duration::from_secs(60),
        client.call::<_, SleepResponse>(
            SERVICE,
            "Test.Sleep",
            &SleepRequest { millis: 600_000 },
            CallOptions::default().timeout(Duration::from_millis(300)),
        ),
    )
    .await
    .expect("the caller must not wait for the handler")
    .unwrap_err();
    assert_eq!(err.code, 408, "{err}");
    let seen = seen.lock().unwrap().expect("the handler ran");
    let remaining = seen.expect("the handler saw a deadline");
    assert!(
        remaining <= Duration::from_millis(300),
        "server saw {remaining:?}"
    );

    // Within the deadline, the handler reports what it saw.
    let reply: SleepResponse = client
        .call(
            SERVICE,
            "Test.Sleep",
            &SleepRequest { millis: 1 },
            CallOptions::default().timeout(Duration::from_secs(2)),
        )
        .await
        .unwrap();
    assert!(reply.had_deadline && reply.deadline_millis <= 2_000 && reply.deadline_millis > 0);
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn round_robin_alternates_and_survives_a_killed_node() {
    let reg = registry();
    let a = start(
        reg.clone(),
        TestHandler {
            instance: "a".into(),
            ..Default::default()
        },
    )
    .await;
    let b = start(
        reg.clone(),
        TestHandler {
            instance: "b".into(),
            ..Default::default()
        },
    )
    .await;
    let selector = Arc::new(RegistrySelector::new(reg.clone()).strategy(Strategy::RoundRobin));
    let client = Client::builder().selector(selector).build();

    let mut answered = Vec::new();
    for _ in 0..10 {
        let reply: EchoResponse = client
            .call(SERVICE, "Test.Echo", &echo("rr"), CallOptions::default())
            .await
            .unwrap();
        answered.push(reply.instance);
    }
    for pair in answered.windows(2) {
        assert_ne!(pair[0], pair[1], "round robin must alternate: {answered:?}");
    }

    // Kill `a` without deregistering: it stays in the registry, but every call still succeeds.
    a.kill();
    assert_eq!(reg.get_service(SERVICE).await.unwrap()[0].nodes.len(), 2);
    for i in 0..100 {
        let reply: Result<EchoResponse, _> = client
            .call(SERVICE, "Test.Echo", &echo("after"), CallOptions::default())
            .await;
        let reply = reply.unwrap_or_else(|e| panic!("call {i} after the kill failed: {e}"));
        assert_eq!(reply.instance, "b");
    }
    b.stop().await.unwrap();
}

#[tokio::test]
async fn a_fixed_address_bypasses_the_registry() {
    let reg = registry();
    let svc = start(
        reg,
        TestHandler {
            instance: "pinned".into(),
            ..Default::default()
        },
    )
    .await;
    // This client's registry knows nothing of the service.
    let client = Client::new(registry());
    let reply: EchoResponse = client
        .call(
            SERVICE,
            "Test.Echo",
            &echo("x"),
            CallOptions::default().address(svc.local_addr().to_string()),
        )
        .await
        .unwrap();
    assert_eq!(reply.instance, "pinned");
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn a_dead_address_is_a_clear_connection_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Client::new(registry());
    let err = client
        .call_json(
            SERVICE,
            "Test.Echo",
            &json!({}),
            CallOptions::default().address(format!("127.0.0.1:{port}")),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, 503, "{err}");
    assert!(
        err.detail
            .starts_with(&format!("connecting to {SERVICE} at 127.0.0.1:{port}")),
        "{err}"
    );
}

#[tokio::test]
async fn debug_endpoints_answer() {
    let reg = registry();
    let svc = start(reg.clone(), TestHandler::default()).await;
    let client = Client::new(reg.clone());
    let health = client
        .call_json(SERVICE, "Debug.Health", &json!({}), CallOptions::default())
        .await
        .unwrap();
    assert_eq!(health, json!({"status": "ok"}));
    let stats = client
        .call_json(SERVICE, "Debug.Stats", &json!({}), CallOptions::default())
        .await
        .unwrap();
    for field in ["started", "memory", "threads", "requests"] {
        let n: u64 = stats[field]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        assert!(n > 0, "{field} in {stats}");
    }
    // Debug endpoints are served but not published; the handler's are, with their schemas.
    let record = &reg.get_service(SERVICE).await.unwrap()[0];
    let names: Vec<&str> = record.endpoints.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Test.Chat",
            "Test.Collect",
            "Test.Echo",
            "Test.Fail",
            "Test.Flood",
            "Test.Http",
            "Test.Panic",
            "Test.Sleep"
        ]
    );
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn least_outstanding_sends_fewer_calls_to_a_slow_node() {
    use micro::layer::{from_fn, Next};
    use micro::server::{Reply, Request};
    let reg: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let node = |instance: &str, delay: Duration| {
        micro::Service::builder()
            .flags(micro::Flags::default())
            .name(SERVICE)
            .registry(Arc::clone(&reg))
            .handler(TestHandler {
                instance: instance.into(),
                ..Default::default()
            })
            .layer(from_fn(
                move |request: Request, next: Next<Request, Reply>| async move {
                    tokio::time::sleep(delay).await;
                    next.run(request).await
                },
            ))
            .build()
            .unwrap()
            .start()
    };
    let nodes = [
        node("slow", Duration::from_millis(50)).await.unwrap(),
        node("fast1", Duration::ZERO).await.unwrap(),
        node("fast2", Duration::ZERO).await.unwrap(),
    ];
    let selector = RegistrySelector::new(Arc::clone(&reg)).strategy(Strategy::LeastOutstanding);
    let client = Client::builder().selector(Arc::new(selector)).build();
    // 8 callers, 40 calls each, all at once.
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for _ in 0..40 {
                    let reply: EchoResponse = client
                        .call(
                            SERVICE,
                            "Test.Echo",
                            &EchoRequest::default(),
                            CallOptions::default(),
                        )
                        .await
                        .unwrap();
                    seen.push(reply.instance);
                }
                seen
            })
        })
        .collect();
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for caller in callers {
        for instance in caller.await.unwrap() {
            *counts.entry(instance).or_default() += 1;
        }
    }
    eprintln!("calls per node: {counts:?}");
    let slow = counts.get("slow").copied().unwrap_or(0);
    let (fast1, fast2) = (counts["fast1"], counts["fast2"]);
    assert_eq!(slow + fast1 + fast2, 320);
    // At random each would get about a third (107); the slow node holds its calls 50 ms.
    assert!(
        slow * 3 < fast1.min(fast2),
        "the slow node got {slow} calls, the fast ones {fast1} and {fast2}"
    );
    for node in nodes {
        node.stop().await.unwrap();
    }
}
