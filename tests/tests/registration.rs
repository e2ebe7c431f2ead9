//! What a running service puts in the registry, and how it keeps it there.

use futures::StreamExt;
use micro::registry::{Action, MemoryRegistry, Registry, Value, WatchOptions};
use micro_tests::{TestHandler, SERVICE};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn the_record_has_node_metadata_and_endpoint_schemas() {
    let reg: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let svc = micro::Service::builder()
        .flags(micro::Flags::default())
        .name(SERVICE)
        .version("1.2.0")
        .metadata("team", "core")
        .registry(reg.clone())
        .handler(TestHandler::default())
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let record = reg.get_service(SERVICE).await.unwrap()[0].clone();
    assert_eq!(
        (record.name.as_str(), record.version.as_str()),
        (SERVICE, "1.2.0")
    );
    assert_eq!(
        record.metadata.get("team").map(String::as_str),
        Some("core")
    );
    let node = &record.nodes[0];
    assert!(
        node.id.starts_with(&format!("{SERVICE}-")) && node.id.len() == SERVICE.len() + 37,
        "{}",
        node.id
    );
    assert_eq!(node.address, svc.local_addr().to_string());
    for (k, v) in [
        ("registry", "memory"),
        ("broker", "http"),
        ("server", "grpc"),
        ("transport", "grpc"),
        ("protocol", "grpc"),
    ] {
        assert_eq!(
            node.metadata.get(k).map(String::as_str),
            Some(v),
            "node metadata {k}"
        );
    }

    let echo = record
        .endpoints
        .iter()
        .find(|e| e.name == "Test.Echo")
        .unwrap();
    assert_eq!(
        echo.metadata.get("stream").map(String::as_str),
        Some("false")
    );
    let v = |name: &str, ty: &str, values: Vec<Value>| Value::new(name, ty, values);
    let expected = v(
        "EchoRequest",
        "EchoRequest",
        vec![
            v("message", "string", vec![]),
            v("payload", "bytes", vec![]),
            v(
                "nested",
                "Nested",
                vec![
                    v("count", "int64", vec![]),
                    // Depth 3 is the last level listed: Inner's fields appear, Deep's do not.
                    v(
                        "inner",
                        "Inner",
                        vec![v("flag", "bool", vec![]), v("deep", "Deep", vec![])],
                    ),
                ],
            ),
            v("tags", "[]string", vec![]),
            v("count", "int64", vec![]),
        ],
    );
    assert_eq!(echo.request.as_ref(), Some(&expected));
    let response = echo.response.as_ref().unwrap();
    let metadata = response
        .values
        .iter()
        .find(|f| f.name == "metadata")
        .unwrap();
    assert_eq!(metadata.r#type, "map<string,string>");

    // The JSON is go-micro's.
    let json = serde_json::to_value(&record).unwrap();
    assert_eq!(json["nodes"][0]["address"], svc.local_addr().to_string());
    assert_eq!(json["endpoints"][0]["request"]["type"], "EchoRequest");
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn it_registers_again_before_the_ttl_runs_out_and_leaves_on_stop() {
    let reg: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let mut watch = reg
        .watch(WatchOptions {
            service: Some(SERVICE.into()),
        })
        .await
        .unwrap();
    let svc = micro::Service::builder()
        .flags(micro::Flags::default())
        .name(SERVICE)
        .registry(reg.clone())
        .handler(TestHandler::default())
        .register_ttl(Duration::from_millis(400))
        .register_interval(Duration::from_millis(100))
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    assert_eq!(watch.next().await.unwrap().unwrap().action, Action::Create);
    // Several heartbeats arrive; each is an update of the same node.
    for _ in 0..3 {
        let event = tokio::time::timeout(Duration::from_secs(5), watch.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(event.action, Action::Update);
    }
    assert_eq!(reg.get_service(SERVICE).await.unwrap()[0].nodes.len(), 1);
    svc.stop().await.unwrap();
    let event = watch.next().await.unwrap().unwrap();
    assert_eq!(event.action, Action::Delete);
    assert!(reg.get_service(SERVICE).await.is_err());
}

#[tokio::test]
async fn heartbeats_keep_a_node_registered_for_many_ttls() {
    let reg: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let ttl = Duration::from_millis(600);
    let svc = micro::Service::builder()
        .flags(micro::Flags::default())
        .name(SERVICE)
        .registry(reg.clone())
        .handler(TestHandler::default())
        .register_ttl(ttl)
        .register_interval(Duration::from_millis(100))
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    // Five TTLs: without heartbeats that extend it, the record would expire after the first.
    let until = tokio::time::Instant::now() + ttl * 5;
    while tokio::time::Instant::now() < until {
        let nodes = reg.get_service(SERVICE).await.map(|v| v[0].nodes.len());
        assert_eq!(nodes, Ok(1), "still registered, one node");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn a_killed_node_expires_with_its_ttl() {
    let reg: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let mut watch = reg
        .watch(WatchOptions {
            service: Some(SERVICE.into()),
        })
        .await
        .unwrap();
    let svc = micro::Service::builder()
        .flags(micro::Flags::default())
        .name(SERVICE)
        .registry(reg.clone())
        .handler(TestHandler::default())
        .register_ttl(Duration::from_millis(200))
        .register_interval(Duration::from_millis(100))
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    svc.kill();
    // No heartbeat any more: within a bounded wait the record is gone.
    let mut gone = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if reg.get_service(SERVICE).await.is_err() {
            gone = true;
            break;
        }
    }
    assert!(gone, "the record outlived its TTL");
    let mut actions = Vec::new();
    while let Ok(Some(Ok(e))) = tokio::time::timeout(Duration::from_millis(100), watch.next()).await
    {
        actions.push(e.action);
    }
    assert_eq!(actions.last(), Some(&Action::Delete));
}
