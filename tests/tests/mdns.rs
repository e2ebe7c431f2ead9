//! The mDNS registry, always inside a private network namespace made by the test, so no
//! multicast leaves it.

use futures::StreamExt;
use micro::registry::{
    Action, Endpoint, Interfaces, MdnsRegistry, Node, RegisterOptions, Registry, Service, Value,
    WatchOptions,
};
use micro_tests::run_in_private_netns;
use std::time::Duration;

fn record(name: &str, version: &str, node: &str, port: u16) -> Service {
    Service {
        name: name.into(),
        version: version.into(),
        endpoints: vec![Endpoint {
            name: "Test.Echo".into(),
            ..Default::default()
        }],
        nodes: vec![Node {
            id: format!("{name}-{node}"),
            address: format!("127.0.0.1:{port}"),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn registry() -> MdnsRegistry {
    MdnsRegistry::with_interfaces(Interfaces::Loopback).expect("starting mDNS")
}

#[tokio::test]
async fn register_get_list_deregister_watch() {
    if !run_in_private_netns("register_get_list_deregister_watch") {
        return;
    }
    let publisher = registry();
    let opts = RegisterOptions {
        ttl: Some(Duration::from_secs(60)),
    };
    for (version, node, port) in [("v1", "a", 1001), ("v1", "b", 1002), ("v2", "c", 1003)] {
        publisher
            .register(&record("go.micro.srv.mdns", version, node, port), opts)
            .await
            .unwrap();
    }
    publisher
        .register(&record("go.micro.srv.other", "latest", "d", 1004), opts)
        .await
        .unwrap();

    // Another registry (its own mDNS daemon) finds them over the network.
    let observer = registry();
    let mut watch = observer
        .watch(WatchOptions {
            service: Some("go.micro.srv.mdns".into()),
        })
        .await
        .unwrap();
    // Answers arrive over the first second: wait (bounded) until every node is in.
    let mut found = Default::default();
    for _ in 0..60 {
        found = observer
            .get_service("go.micro.srv.mdns")
            .await
            .unwrap_or_default();
        if found.iter().map(|s| s.nodes.len()).sum::<usize>() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].version, "v1");
    let ids: Vec<&str> = found[0].nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["go.micro.srv.mdns-a", "go.micro.srv.mdns-b"]);
    assert_eq!(found[1].nodes[0].address, "127.0.0.1:1003");

    // Everything else may still be arriving: wait for the other service in a bounded loop.
    let mut names = Vec::new();
    for _ in 0..50 {
        names = observer
            .list_services()
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect::<Vec<_>>();
        names.dedup();
        if names.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(names, ["go.micro.srv.mdns", "go.micro.srv.other"]);

    // Deregistering sends goodbyes: the observer sees the node leave promptly.
    publisher
        .deregister(&record("go.micro.srv.mdns", "v2", "c", 1003))
        .await
        .unwrap();
    let left = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(event) = watch.next().await {
            let event = event.unwrap();
            if event.action == Action::Delete {
                return event.service;
            }
        }
        panic!("watch ended")
    })
    .await
    .expect("the delete arrives within 5 s");
    assert_eq!(left.nodes[0].id, "go.micro.srv.mdns-c");
    let found = observer.get_service("go.micro.srv.mdns").await.unwrap();
    assert_eq!(found.len(), 1);
}

#[tokio::test]
async fn a_record_with_fifty_endpoints_round_trips() {
    if !run_in_private_netns("a_record_with_fifty_endpoints_round_trips") {
        return;
    }
    let field = |n: &str, t: &str| Value::new(n, t, vec![]);
    let mut big = record("go.micro.srv.big", "latest", "n", 2000);
    big.endpoints = (0..50)
        .map(|i| Endpoint {
            name: format!("Big.Method{i}"),
            request: Some(Value::new(
                &format!("Request{i}"),
                &format!("Request{i}"),
                vec![
                    field("name", "string"),
                    field(&format!("field_{i}"), "int64"),
                ],
            )),
            response: Some(Value::new(
                "Response",
                "Response",
                vec![field("msg", "string")],
            )),
            metadata: [("stream".to_string(), "false".to_string())].into(),
        })
        .collect();
    big.metadata.insert("team".into(), "core".into());
    let json = serde_json::to_string(&big).unwrap();
    assert!(
        json.len() > 255 * 4,
        "the record must be bigger than one TXT string"
    );

    let publisher = registry();
    publisher
        .register(&big, RegisterOptions::default())
        .await
        .unwrap();
    let observer = registry();
    let found = observer.get_service("go.micro.srv.big").await.unwrap();
    assert_eq!(*found, vec![big]);
}

// Multi-threaded: the test blocks a thread waiting for the child while the client's
// connection must keep answering the server's shutdown PING.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_find_each_other_and_a_stopped_one_leaves() {
    if !run_in_private_netns("two_processes_find_each_other_and_a_stopped_one_leaves") {
        return;
    }
    let mut child = micro_tests::Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_test-service"))
            .env_remove("MICRO_REGISTRY")
            .env_remove("MICRO_SERVER_ADDRESS")
            .spawn()
            .expect("starting test-service"),
    );
    let pid = child.0.id().to_string();
    let watcher = std::sync::Arc::new(registry());
    let client = micro::Client::new(watcher.clone());
    let mut reply = None;
    for _ in 0..100 {
        match client
            .call_json(
                micro_tests::SERVICE,
                "Test.Echo",
                &serde_json::json!({"message": "hi"}),
                Default::default(),
            )
            .await
        {
            Ok(r) => {
                reply = Some(r);
                break;
            }
            Err(e) => assert_eq!(e.code, 404, "{e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reply = reply.expect("the service process was found over mDNS within 10 s");
    assert_eq!(reply["instance"], pid.as_str());

    // A fresh registry's lookup answers at its first query unless the record was multicast in
    // the last second (RFC 6762 rate limit): wait that out, then measure.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let fresh = registry();
    let started = std::time::Instant::now();
    fresh
        .get_service(micro_tests::SERVICE)
        .await
        .expect("found");
    eprintln!(
        "mDNS lookup from a fresh registry took {:?}",
        started.elapsed()
    );

    let t = std::time::Instant::now();
    child.terminate();
    assert!(child.wait_for_exit(Duration::from_secs(20)).success());
    eprintln!("SIGTERM to exit: {:?}", t.elapsed());
    let mut gone = false;
    for _ in 0..50 {
        if watcher.get_service(micro_tests::SERVICE).await.is_err() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("SIGTERM to gone from the registry: {:?}", t.elapsed());
    assert!(
        gone,
        "a service stopped with SIGTERM leaves other processes' view"
    );
}
