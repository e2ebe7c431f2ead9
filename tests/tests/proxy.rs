//! The service proxy in process: a micro client that knows nothing of the test service reaches
//! it through a proxy (the `MICRO_PROXY` path, `ClientBuilder::proxy`), streams, deadlines and
//! cancellation pass through it, errors are precise, and server layers put on the proxy see
//! every forwarded call.

use futures::StreamExt;
use micro::client::Via;
use micro::layer::{from_fn, Next};
use micro::registry::{MemoryRegistry, Registry};
use micro::server::{Reply, Request};
use micro::{CallOptions, Client, Error};
use micro_proxy::{Backend, Proxy};
use micro_tests::proto::{
    EchoRequest, EchoResponse, FailRequest, FailResponse, FloodItem, FloodRequest, SleepRequest,
    SleepResponse,
};
use micro_tests::{start, TestHandler, SERVICE};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn registry() -> Arc<dyn Registry> {
    Arc::new(MemoryRegistry::new())
}

/// A proxy finding services in `registry`, its service builder finished by `more`.
async fn proxy_with(
    registry: Arc<dyn Registry>,
    backend: Backend,
    more: impl FnOnce(micro::service::ServiceBuilder) -> micro::service::ServiceBuilder,
) -> micro::service::RunningService {
    let client = Client::builder()
        .registry(Arc::clone(&registry))
        .no_proxy()
        .build();
    let proxy = Proxy::new(client.clone(), backend);
    let builder = micro::Service::builder()
        .flags(micro::Flags::default())
        .name(micro::client::PROXY_SERVICE)
        .address("127.0.0.1:0")
        .registry(registry)
        .client(client)
        .forward(proxy.forwarder());
    let running = more(builder).build().unwrap().start().await.unwrap();
    proxy.listening_on(running.local_addr());
    running
}

async fn proxy(registry: Arc<dyn Registry>) -> micro::service::RunningService {
    proxy_with(registry, Backend::Discover, |b| b).await
}

/// A client whose own registry is empty: whatever it reaches, it reaches through `proxy`.
fn client_through(proxy: &micro::service::RunningService) -> Client {
    Client::builder()
        .registry(registry())
        .proxy(Via::Address(proxy.local_addr().to_string()))
        .build()
}

#[tokio::test]
async fn a_client_that_knows_no_service_calls_through_the_proxy() {
    let services = registry();
    let svc = start(Arc::clone(&services), TestHandler::default()).await;
    let proxy = proxy(Arc::clone(&services)).await;
    let client = client_through(&proxy);

    let reply: EchoResponse = client
        .call(
            SERVICE,
            "Test.Echo",
            &EchoRequest {
                message: "through".into(),
                ..Default::default()
            },
            CallOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(reply.message, "through");

    // JSON frames go through as they are.
    let reply = client
        .call_json(
            SERVICE,
            "Test.Echo",
            &serde_json::json!({"message": "as json"}),
            CallOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(reply["message"], "as json");

    // The service's own error comes back intact.
    let err = client
        .call::<_, FailResponse>(
            SERVICE,
            "Test.Fail",
            &FailRequest {
                code: 409,
                detail: "taken".into(),
            },
            CallOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!((err.code, err.detail.as_str()), (409, "taken"));

    // Without the proxy the same client finds nothing.
    let direct = Client::builder().registry(registry()).no_proxy().build();
    let err = direct
        .call::<_, EchoResponse>(
            SERVICE,
            "Test.Echo",
            &EchoRequest::default(),
            CallOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, 404, "{err:?}");

    // The proxy answers its own Debug endpoints.
    let health = client
        .call_json(
            micro::client::PROXY_SERVICE,
            "Debug.Health",
            &serde_json::json!({}),
            CallOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    proxy.stop().await.unwrap();
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn a_thousand_messages_each_way_in_order() {
    let services = registry();
    let svc = start(Arc::clone(&services), TestHandler::default()).await;
    let proxy = proxy(Arc::clone(&services)).await;
    let client = client_through(&proxy);
    let requests = futures::stream::iter((0..1000).map(|i| EchoRequest {
        message: i.to_string(),
        ..Default::default()
    }));
    let mut replies = client
        .stream::<_, EchoResponse>(SERVICE, "Test.Chat", requests, CallOptions::default())
        .await
        .unwrap();
    let mut got = Vec::new();
    while let Some(reply) = replies.message().await.unwrap() {
        got.push(reply.message);
    }
    let want: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    assert_eq!(got, want);
    proxy.stop().await.unwrap();
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn cancelling_behind_the_proxy() {
    let services = registry();
    let handler = TestHandler::default();
    let dropped = handler.flood_dropped.clone();
    let svc = start(Arc::clone(&services), handler).await;
    let proxy = proxy(Arc::clone(&services)).await;
    let client = client_through(&proxy);
    let flood = FloodRequest {
        count: 1_000_000,
        delay_ms: 1,
        ..Default::default()
    };
    let mut items = client
        .server_stream::<_, FloodItem>(SERVICE, "Test.Flood", &flood, CallOptions::default())
        .await
        .unwrap();
    for _ in 0..5 {
        items.message().await.unwrap().unwrap();
    }
    assert!(!dropped.load(Ordering::SeqCst));
    drop(items);
    micro_tests::eventually(
        "the handler's stream is dropped once the client behind the proxy drops its end",
        Duration::from_secs(5),
        || dropped.load(Ordering::SeqCst),
    )
    .await;
    proxy.stop().await.unwrap();
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn the_callers_deadline_ends_the_call_at_the_handler() {
    let services = registry();
    let handler = TestHandler::default();
    let (seen, dropped) = (handler.seen_deadline.clone(), handler.flood_dropped.clone());
    let svc = start(Arc::clone(&services), handler).await;
    let proxy = proxy(Arc::clone(&services)).await;
    let client = client_through(&proxy);

    // Unary: the handler sees (at most) the caller's deadline, and the call ends with it.
    let err = client
        .call::<_, SleepResponse>(
            SERVICE,
            "Test.Sleep",
            &SleepRequest { millis: 10_000 },
            CallOptions::default().timeout(Duration::from_millis(400)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, 408, "{err:?}");
    let at_handler = seen.lock().unwrap().expect("Sleep was called");
    let at_handler = at_handler.expect("the handler had a deadline");
    assert!(
        at_handler <= Duration::from_millis(400),
        "the handler's deadline {at_handler:?} is the caller's"
    );

    // A stream: the handler's replies stop at the deadline, though the caller keeps reading.
    let flood = FloodRequest {
        count: 1_000_000,
        delay_ms: 1,
        ..Default::default()
    };
    let mut items = client
        .server_stream::<_, FloodItem>(
            SERVICE,
            "Test.Flood",
            &flood,
            CallOptions::default().timeout(Duration::from_millis(300)),
        )
        .await
        .unwrap();
    let ended = loop {
        match items.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the stream ended cleanly instead of at its deadline"),
            Err(e) => break e,
        }
    };
    assert_eq!(ended.code, 408, "{ended:?}");
    micro_tests::eventually(
        "the handler's stream ends at the deadline",
        Duration::from_secs(5),
        || dropped.load(Ordering::SeqCst),
    )
    .await;
    proxy.stop().await.unwrap();
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_services_and_unreachable_nodes_are_precise_errors() {
    let services = registry();
    let proxy = proxy(Arc::clone(&services)).await;
    let client = client_through(&proxy);

    let err = client
        .call::<_, EchoResponse>(
            "go.micro.nope",
            "Test.Echo",
            &EchoRequest::default(),
            CallOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, 404, "{err:?}");
    assert_eq!(err.id, "go.micro.proxy");
    assert_eq!(err.detail, "service go.micro.nope not found");

    // A service whose only node is gone.
    let dead = format!("127.0.0.1:{}", micro_tests::free_port());
    services
        .register(
            &micro::registry::Service {
                name: "go.micro.gone".into(),
                version: "latest".into(),
                nodes: vec![micro::registry::Node {
                    id: "go.micro.gone-1".into(),
                    address: dead.clone(),
                    metadata: Default::default(),
                }],
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .unwrap();
    let err = client
        .call::<_, EchoResponse>(
            "go.micro.gone",
            "Test.Echo",
            &EchoRequest::default(),
            CallOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, 503, "{err:?}");
    assert!(
        err.detail.starts_with(&format!(
            "no node of go.micro.gone could be reached for Test.Echo: tried {dead} ("
        )),
        "{}",
        err.detail
    );

    // The proxy is still serving.
    let health = client
        .call_json(
            "go.micro.proxy",
            "Debug.Health",
            &serde_json::json!({}),
            CallOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    proxy.stop().await.unwrap();
}

#[tokio::test]
async fn a_fixed_endpoint_and_never_itself() {
    let services = registry();
    let svc = start(Arc::clone(&services), TestHandler::default()).await;
    // --endpoint host:port: every call goes there, whatever the registry says.
    let fixed = proxy_with(
        registry(),
        Backend::Address(svc.local_addr().to_string()),
        |b| b,
    )
    .await;
    let reply: EchoResponse = client_through(&fixed)
        .call(
            SERVICE,
            "Test.Echo",
            &EchoRequest {
                message: "fixed".into(),
                ..Default::default()
            },
            CallOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(reply.message, "fixed");
    fixed.stop().await.unwrap();

    // A backend that is the proxy itself is refused, not looped into.
    let port = micro_tests::free_port();
    let client = Client::builder().registry(registry()).no_proxy().build();
    let proxy = Proxy::new(
        client.clone(),
        Backend::Address(format!("127.0.0.1:{port}")),
    );
    let looping = micro::Service::builder()
        .flags(micro::Flags::default())
        .name(micro::client::PROXY_SERVICE)
        .address(format!("127.0.0.1:{port}"))
        .registry(registry())
        .client(client)
        .forward(proxy.forwarder())
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    proxy.listening_on(looping.local_addr());
    let err = client_through(&looping)
        .call::<_, EchoResponse>(
            SERVICE,
            "Test.Echo",
            &EchoRequest::default(),
            CallOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, 503, "{err:?}");
    assert!(err.detail.contains("(this proxy)"), "{}", err.detail);
    looping.stop().await.unwrap();
    svc.stop().await.unwrap();
}

type Recorded = Arc<Mutex<Vec<String>>>;
type Answered = futures::future::BoxFuture<'static, micro::Result<Reply>>;

/// A layer for the proxy: refuses calls without `x-api-key`, adds `x-proxied` for the service
/// behind, and records each forwarded call and how it ended.
fn guard(
    log: &Recorded,
) -> micro::layer::FromFnLayer<
    impl Fn(Request, Next<Request, Reply>) -> Answered + Clone + Send + Sync + 'static,
> {
    let log = Arc::clone(log);
    from_fn(move |mut request: Request, next: Next<Request, Reply>| {
        let log = Arc::clone(&log);
        Box::pin(async move {
            if !request.metadata().contains_key("x-api-key") {
                return Err(Error::new("auth", "x-api-key is missing", 401));
            }
            let what = format!(
                "{}.{} forwarded={}",
                request.service(),
                request.endpoint(),
                request.is_forwarded()
            );
            request
                .metadata_mut()
                .insert("x-proxied".into(), "yes".into());
            let reply = next.run(request).await?;
            Ok(reply.on_end(move |outcome| {
                let outcome = match outcome {
                    Ok(()) => "ok".to_string(),
                    Err(e) => e.code.to_string(),
                };
                log.lock().unwrap().push(format!("{what} {outcome}"));
            }))
        }) as Answered
    })
}

#[tokio::test]
async fn server_layers_on_the_proxy_see_every_forwarded_call() {
    let services = registry();
    let svc = start(Arc::clone(&services), TestHandler::default()).await;
    let log = Recorded::default();
    let proxy = proxy_with(Arc::clone(&services), Backend::Discover, |b| {
        b.layer(guard(&log))
    })
    .await;
    let client = client_through(&proxy);

    let err = client
        .call::<_, EchoResponse>(
            SERVICE,
            "Test.Echo",
            &EchoRequest::default(),
            CallOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.id.as_str(), err.code, err.detail.as_str()),
        ("auth", 401, "x-api-key is missing")
    );

    let mut opts = CallOptions::default();
    opts.metadata.insert("x-api-key".into(), "secret".into());
    let reply: EchoResponse = client
        .call(
            SERVICE,
            "Test.Echo",
            &EchoRequest {
                message: "hi".into(),
                ..Default::default()
            },
            opts.clone(),
        )
        .await
        .unwrap();
    // The metadata the layer added reached the handler behind the proxy.
    assert_eq!(
        reply.metadata.get("x-proxied").map(String::as_str),
        Some("yes"),
        "{:?}",
        reply.metadata
    );
    assert_eq!(
        reply.metadata.get("x-api-key").map(String::as_str),
        Some("secret")
    );

    let err = client
        .call::<_, FailResponse>(
            SERVICE,
            "Test.Fail",
            &FailRequest {
                code: 409,
                detail: "taken".into(),
            },
            opts.clone(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, 409);

    let requests = futures::stream::iter((0..3).map(|i| EchoRequest {
        message: i.to_string(),
        ..Default::default()
    }));
    let replies: Vec<_> = client
        .stream::<_, EchoResponse>(SERVICE, "Test.Chat", requests, opts)
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(replies.len(), 3);

    micro_tests::eventually(
        "the stream's end is recorded",
        Duration::from_secs(5),
        || log.lock().unwrap().len() == 3,
    )
    .await;
    assert_eq!(
        *log.lock().unwrap(),
        [
            "go.micro.test.Test.Echo forwarded=true ok",
            "go.micro.test.Test.Fail forwarded=true 409",
            "go.micro.test.Test.Chat forwarded=true ok",
        ]
    );
    proxy.stop().await.unwrap();
    svc.stop().await.unwrap();
}
