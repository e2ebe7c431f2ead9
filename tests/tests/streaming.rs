//! Streaming RPC: server, client and bidirectional streams in protobuf and JSON, cancellation,
//! errors and deadlines mid-stream, flow control, and bad input mid-stream.

use examples::greeter::proto::{GreeterClient, Ping, StreamingRequest};
use futures::StreamExt;
use micro::codec::Codec;
use micro::registry::{MemoryRegistry, Registry};
use micro::{CallOptions, Client, Error};
use micro_tests::proto::{EchoRequest, EchoResponse, FloodItem, FloodRequest};
use micro_tests::{python_client, start, TestHandler, SERVICE};
use serde_json::json;
use std::sync::atomic::Ordering;
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

async fn greeter(registry: Arc<dyn Registry>) -> micro::service::RunningService {
    micro::Service::builder()
        .flags(micro::Flags::default())
        .name(examples::greeter::SERVICE)
        .registry(registry)
        .handler(examples::greeter::Greeter)
        .build()
        .unwrap()
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn three_shapes_in_protobuf() {
    let reg = registry();
    let svc = start(
        reg.clone(),
        TestHandler {
            instance: "t".into(),
            ..Default::default()
        },
    )
    .await;
    let client = Client::new(reg);

    let flood = FloodRequest {
        count: 10,
        ..Default::default()
    };
    let items: Vec<FloodItem> = client
        .server_stream(SERVICE, "Test.Flood", &flood, CallOptions::default())
        .await
        .unwrap()
        .map(|i| i.unwrap())
        .collect()
        .await;
    assert_eq!(
        items.iter().map(|i| i.index).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );

    let requests = futures::stream::iter((0..7).map(|i| echo(&i.to_string())));
    let total: EchoResponse = client
        .client_stream(SERVICE, "Test.Collect", requests, CallOptions::default())
        .await
        .unwrap();
    assert_eq!(total.count, 7);

    let requests = futures::stream::iter(["a", "b", "c"].map(echo));
    let replies: Vec<String> = client
        .stream::<_, EchoResponse>(SERVICE, "Test.Chat", requests, CallOptions::default())
        .await
        .unwrap()
        .map(|r| r.unwrap().message)
        .collect()
        .await;
    assert_eq!(replies, ["a", "b", "c"]);
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn three_shapes_in_json() {
    let reg = registry();
    let svc = start(reg.clone(), TestHandler::default()).await;
    let client = Client::new(reg);
    let once = |v: serde_json::Value| futures::stream::once(async move { v });

    let items: Vec<serde_json::Value> = client
        .stream_json(
            SERVICE,
            "Test.Flood",
            once(json!({"count": 3, "size": 2})),
            CallOptions::default(),
        )
        .await
        .unwrap()
        .map(|v| v.unwrap())
        .collect()
        .await;
    // proto3 JSON: int64 as a string, bytes as base64, defaults left out.
    assert_eq!(
        items,
        [
            json!({"payload": "Bwc="}),
            json!({"index": "1", "payload": "Bwc="}),
            json!({"index": "2", "payload": "Bwc="})
        ]
    );

    let requests = futures::stream::iter((0..4).map(|i| json!({"message": i.to_string()})));
    let mut total = client
        .stream_json(SERVICE, "Test.Collect", requests, CallOptions::default())
        .await
        .unwrap();
    assert_eq!(total.message().await.unwrap(), Some(json!({"count": "4"})));
    assert_eq!(total.message().await.unwrap(), None);

    let requests = futures::stream::iter(["x", "y"].map(|m| json!({"message": m})));
    let replies: Vec<serde_json::Value> = client
        .stream_json(SERVICE, "Test.Chat", requests, CallOptions::default())
        .await
        .unwrap()
        .map(|v| v.unwrap())
        .collect()
        .await;
    assert_eq!(replies, [json!({"message": "x"}), json!({"message": "y"})]);
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn the_generated_client_streams_and_the_registry_says_so() {
    let reg = registry();
    let svc = greeter(reg.clone()).await;
    let greeter = GreeterClient::new(Client::new(reg.clone()), examples::greeter::SERVICE);

    let counts: Vec<i64> = greeter
        .stream(StreamingRequest { count: 4 })
        .await
        .unwrap()
        .map(|r| r.unwrap().count)
        .collect()
        .await;
    assert_eq!(counts, [0, 1, 2, 3]);

    let pings = futures::stream::iter((1..=3).map(|stroke| Ping { stroke }));
    let strokes: Vec<i64> = greeter
        .ping_pong(pings)
        .await
        .unwrap()
        .map(|p| p.unwrap().stroke)
        .collect()
        .await;
    assert_eq!(strokes, [1, 2, 3]);

    let record = &reg.get_service(examples::greeter::SERVICE).await.unwrap()[0];
    let stream_flags: Vec<(String, String)> = record
        .endpoints
        .iter()
        .map(|e| (e.name.clone(), e.metadata["stream"].clone()))
        .collect();
    assert_eq!(
        stream_flags,
        [
            ("Greeter.Call".to_string(), "false".to_string()),
            ("Greeter.PingPong".to_string(), "true".to_string()),
            ("Greeter.Stream".to_string(), "true".to_string())
        ]
    );
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn grpcio_streams_with_the_greeter_and_the_test_service() {
    let svc = greeter(registry()).await;
    let address = svc.local_addr().to_string();
    let a = address.clone();
    let (ok, out, err) = tokio::task::spawn_blocking(move || python_client(&["stream", &a, "5"]))
        .await
        .unwrap();
    assert!(ok, "{err}");
    assert_eq!(out, "0 1 2 3 4");
    let (ok, out, err) =
        tokio::task::spawn_blocking(move || python_client(&["pingpong", &address, "3"]))
            .await
            .unwrap();
    assert!(ok, "{err}");
    assert_eq!(out, "1 2 3");
    svc.stop().await.unwrap();

    let svc = start(registry(), TestHandler::default()).await;
    let address = svc.local_addr().to_string();
    let (ok, out, err) =
        tokio::task::spawn_blocking(move || python_client(&["collect", &address, "6"]))
            .await
            .unwrap();
    assert!(ok, "{err}");
    assert_eq!(out, "6");
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn dropping_the_stream_cancels_the_handler() {
    let reg = registry();
    let handler = TestHandler::default();
    let dropped = handler.flood_dropped.clone();
    let svc = start(reg.clone(), handler).await;
    let client = Client::new(reg);
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
    let mut observed = false;
    for _ in 0..100 {
        if dropped.load(Ordering::SeqCst) {
            observed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        observed,
        "the handler's stream was not dropped within 2 s of the client dropping its end"
    );
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn a_handler_error_mid_stream_arrives_intact() {
    let reg = registry();
    let svc = start(reg.clone(), TestHandler::default()).await;
    let client = Client::new(reg);
    let flood = FloodRequest {
        count: 100,
        fail_at: 10,
        ..Default::default()
    };
    let mut items = client
        .server_stream::<_, FloodItem>(SERVICE, "Test.Flood", &flood, CallOptions::default())
        .await
        .unwrap();
    for i in 0..10 {
        assert_eq!(items.message().await.unwrap().unwrap().index, i);
    }
    let err = items.message().await.unwrap_err();
    assert_eq!(
        err,
        Error {
            id: SERVICE.into(),
            code: 409,
            detail: "failed at 10".into(),
            status: "Conflict".into()
        }
    );
    assert!(
        items.message().await.unwrap().is_none(),
        "the stream ends after the error"
    );
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn a_deadline_ends_the_stream_with_408() {
    let reg = registry();
    let svc = start(reg.clone(), TestHandler::default()).await;
    let client = Client::new(reg);
    let flood = FloodRequest {
        count: 1_000,
        delay_ms: 50,
        ..Default::default()
    };
    let opts = CallOptions::default().timeout(Duration::from_millis(500));
    let mut items = client
        .server_stream::<_, FloodItem>(SERVICE, "Test.Flood", &flood, opts)
        .await
        .unwrap();
    let mut received = 0;
    let err = loop {
        match items.message().await {
            Ok(Some(_)) => received += 1,
            Ok(None) => panic!("the stream ended without the deadline error"),
            Err(e) => break e,
        }
    };
    assert_eq!(err.code, 408, "{err}");
    assert!(
        received > 0 && received < 1_000,
        "{received} items before the deadline"
    );
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn a_slow_reader_slows_the_producer() {
    let reg = registry();
    let handler = TestHandler::default();
    let produced = handler.produced.clone();
    let svc = start(reg.clone(), handler).await;
    let client = Client::new(reg);
    const TOTAL: usize = 100_000;
    let flood = FloodRequest {
        count: TOTAL as i64,
        size: 256,
        ..Default::default()
    };
    let mut items = client
        .server_stream::<_, FloodItem>(SERVICE, "Test.Flood", &flood, CallOptions::default())
        .await
        .unwrap();
    let mut consumed = 0usize;
    let mut most_ahead = 0usize;
    while let Some(item) = items.message().await.unwrap() {
        assert_eq!(item.index as usize, consumed);
        consumed += 1;
        most_ahead = most_ahead.max(produced.load(Ordering::SeqCst) - consumed);
        if consumed.is_multiple_of(1_000) {
            // The slow part: pause, giving the producer every chance to run ahead.
            tokio::time::sleep(Duration::from_millis(5)).await;
            most_ahead = most_ahead.max(produced.load(Ordering::SeqCst) - consumed);
        }
    }
    assert_eq!(consumed, TOTAL);
    eprintln!("the producer ran at most {most_ahead} items ahead of the reader");
    // HTTP/2 flow control windows bound what is in flight: a few MiB of 256-byte items.
    assert!(
        most_ahead < TOTAL / 5,
        "the producer ran {most_ahead} items ahead: not bounded by the reader"
    );
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn an_undecodable_frame_mid_stream_ends_it_with_invalid_argument() {
    let reg = registry();
    let svc = start(reg.clone(), TestHandler::default()).await;
    let client = Client::new(reg);
    let frames = futures::stream::iter([
        bytes::Bytes::from_static(br#"{"message": "ok"}"#),
        bytes::Bytes::from_static(b"{not json"),
        bytes::Bytes::from_static(br#"{"message": "never"}"#),
    ]);
    let mut replies = client
        .stream_raw(
            SERVICE,
            "Test.Chat",
            Codec::Json,
            frames.boxed(),
            CallOptions::default(),
        )
        .await
        .unwrap();
    let first = replies.next().await.unwrap().unwrap();
    assert_eq!(&first[..], br#"{"message":"ok"}"#);
    let status = replies.next().await.unwrap().unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let err = Error::from(status);
    assert!(
        err.detail
            .starts_with("cannot decode a message of Test.Chat: invalid JSON"),
        "{err}"
    );
    assert!(replies.next().await.is_none());

    // The server keeps serving.
    let reply: EchoResponse = client
        .call(SERVICE, "Test.Echo", &echo("after"), CallOptions::default())
        .await
        .unwrap();
    assert_eq!(reply.message, "after");
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn a_reply_over_the_size_limit_ends_the_stream_with_413() {
    let reg = registry();
    let svc = micro::Service::builder()
        .flags(micro::Flags::default())
        .name(SERVICE)
        .address("127.0.0.1:0")
        .registry(reg.clone())
        .max_message_size(64 << 10)
        .handler(TestHandler::default())
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let client = Client::new(reg);
    let flood = FloodRequest {
        count: 3,
        size: 100_000,
        ..Default::default()
    };
    let mut items = client
        .server_stream::<_, FloodItem>(SERVICE, "Test.Flood", &flood, CallOptions::default())
        .await
        .unwrap();
    let err = items.message().await.unwrap_err();
    assert_eq!((err.code, err.id.as_str()), (413, SERVICE), "{err}");
    assert!(
        err.detail.starts_with("a reply of Test.Flood is ")
            && err
                .detail
                .ends_with(" bytes, over the limit of 65536 bytes"),
        "{err}"
    );
    assert!(items.message().await.unwrap().is_none(), "the stream ends");
    // Within the limit, the same endpoint streams on.
    let small = FloodRequest {
        count: 3,
        size: 1_000,
        ..Default::default()
    };
    let mut items = client
        .server_stream::<_, FloodItem>(SERVICE, "Test.Flood", &small, CallOptions::default())
        .await
        .unwrap();
    let mut got = 0;
    while let Some(item) = items.message().await.unwrap() {
        assert_eq!(item.payload.len(), 1_000);
        got += 1;
    }
    assert_eq!(got, 3);
    svc.stop().await.unwrap();
}
