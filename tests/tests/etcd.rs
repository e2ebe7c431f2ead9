//! The etcd registry and the registry cache against a real etcd that the tests start.

use futures::StreamExt;
use micro::registry::{
    Action, EtcdRegistry, Node, RegisterOptions, Registry, RegistryError, Service, WatchOptions,
};
use micro::{CallOptions, Client};
use micro_tests::{Child, Etcd, TestHandler, SERVICE};
use std::sync::Arc;
use std::time::Duration;

fn record(name: &str, version: &str, node: &str, port: u16) -> Service {
    Service {
        name: name.into(),
        version: version.into(),
        nodes: vec![Node {
            id: format!("{name}-{node}"),
            address: format!("127.0.0.1:{port}"),
            ..Default::default()
        }],
        ..Default::default()
    }
}

const TTL: RegisterOptions = RegisterOptions {
    ttl: Some(Duration::from_secs(30)),
};

#[tokio::test]
async fn register_get_list_deregister_watch() {
    let etcd = Etcd::start();
    let registry = EtcdRegistry::new([etcd.address()]);
    let mut watch = registry
        .watch(WatchOptions {
            service: Some("go.micro.srv.a".into()),
        })
        .await
        .unwrap();

    for (version, node, port) in [("v1", "n1", 1001), ("v1", "n2", 1002), ("v2", "n3", 1003)] {
        registry
            .register(&record("go.micro.srv.a", version, node, port), TTL)
            .await
            .unwrap();
    }
    registry
        .register(&record("go.micro.srv.b", "latest", "n4", 1004), TTL)
        .await
        .unwrap();

    let a = registry.get_service("go.micro.srv.a").await.unwrap();
    assert_eq!(
        a.iter().map(|s| s.version.as_str()).collect::<Vec<_>>(),
        ["v1", "v2"]
    );
    let v1: Vec<&str> = a[0].nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(
        v1,
        ["go.micro.srv.a-n1", "go.micro.srv.a-n2"],
        "nodes of one version are merged"
    );

    let names: Vec<(String, String)> = registry
        .list_services()
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.name, s.version))
        .collect();
    assert_eq!(
        names,
        [
            ("go.micro.srv.a".into(), "v1".into()),
            ("go.micro.srv.a".into(), "v2".into()),
            ("go.micro.srv.b".into(), "latest".into())
        ]
    );

    // Registering again with the same record is an update of the same key.
    registry
        .register(&record("go.micro.srv.a", "v1", "n1", 1001), TTL)
        .await
        .unwrap();
    registry
        .deregister(&record("go.micro.srv.a", "v2", "n3", 1003))
        .await
        .unwrap();

    let mut actions = Vec::new();
    while actions.len() < 4 {
        let event = tokio::time::timeout(Duration::from_secs(5), watch.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(event.service.name, "go.micro.srv.a");
        actions.push(event.action);
    }
    // n1, n2, n3 created; the refresh of n1 wrote nothing (unchanged record, lease kept alive);
    // then n3 deleted.
    assert_eq!(
        actions,
        [
            Action::Create,
            Action::Create,
            Action::Create,
            Action::Delete
        ]
    );

    for (version, node, port) in [("v1", "n1", 1001), ("v1", "n2", 1002)] {
        registry
            .deregister(&record("go.micro.srv.a", version, node, port))
            .await
            .unwrap();
    }
    assert_eq!(
        registry.get_service("go.micro.srv.a").await,
        Err(RegistryError::NotFound)
    );
}

#[tokio::test]
async fn heartbeats_keep_the_record_and_its_lease_for_many_ttls() {
    let etcd = Etcd::start();
    let registry: Arc<dyn Registry> = Arc::new(EtcdRegistry::new([etcd.address()]));
    // 3 s: above etcd's smallest lease TTL, so the lease is granted as asked.
    let svc = micro::Service::builder()
        .flags(micro::Flags::default())
        .name(SERVICE)
        .registry(registry.clone())
        .handler(TestHandler::default())
        .register_ttl(Duration::from_secs(3))
        .register_interval(Duration::from_millis(500))
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let key = format!("/micro/registry/{SERVICE}/{}", svc.node_id());
    let leases = etcd.etcdctl(&["lease", "list"]);
    assert!(leases.starts_with("found 1 leases"), "{leases}");
    let lease_id = leases.lines().nth(1).unwrap().trim().to_string();
    // Four TTLs: a heartbeat that did not keep the lease alive would lose key and lease.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let keys = etcd.etcdctl(&["get", "--prefix", "--keys-only", "/micro/registry/"]);
        assert_eq!(keys.trim(), key, "the record is still there");
        let ttl = etcd.etcdctl(&["lease", "timetolive", &lease_id]);
        assert!(
            ttl.contains("granted with TTL(3s)") && !ttl.contains("already expired"),
            "the same lease, alive: {ttl}"
        );
    }
    svc.stop().await.unwrap();
    assert_eq!(
        etcd.etcdctl(&["get", "--prefix", "--keys-only", "/micro/registry/"])
            .trim(),
        ""
    );
}

#[tokio::test]
async fn etcdctl_shows_the_go_micro_layout_under_one_long_lived_lease() {
    let etcd = Etcd::start();
    let registry: Arc<dyn Registry> = Arc::new(EtcdRegistry::new([etcd.address()]));
    let svc = micro::Service::builder()
        .flags(micro::Flags::default())
        .name(SERVICE)
        .registry(registry.clone())
        .handler(TestHandler::default())
        .register_ttl(Duration::from_secs(5))
        .register_interval(Duration::from_millis(200))
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();

    let out = etcd.etcdctl(&["get", "--prefix", "/micro/registry/"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "one key and its value: {out}");
    assert_eq!(
        lines[0],
        format!("/micro/registry/{SERVICE}/{}", svc.node_id())
    );
    let value: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(value["name"], SERVICE);
    assert_eq!(value["version"], "latest");
    assert_eq!(value["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(value["nodes"][0]["id"], svc.node_id());
    assert_eq!(value["nodes"][0]["address"], svc.local_addr().to_string());
    assert_eq!(value["nodes"][0]["metadata"]["registry"], "etcd");
    let echo = value["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "Test.Echo")
        .unwrap();
    assert_eq!(echo["request"]["values"][0]["name"], "message");

    // One lease, kept alive across heartbeats rather than replaced.
    let leases = || etcd.etcdctl(&["lease", "list"]);
    let first = leases();
    assert!(first.starts_with("found 1 leases"), "{first}");
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(
        leases(),
        first,
        "still the same single lease after several heartbeats"
    );
    let lease_id = first.lines().nth(1).unwrap().trim();
    let ttl = etcd.etcdctl(&["lease", "timetolive", lease_id]);
    assert!(ttl.contains("granted with TTL(5s)"), "{ttl}");

    // Slashes inside names become dashes.
    let odd = record("a/b", "latest", "c/d", 1);
    registry
        .register(
            &Service {
                nodes: vec![Node {
                    id: "c/d".into(),
                    ..odd.nodes[0].clone()
                }],
                ..odd
            },
            TTL,
        )
        .await
        .unwrap();
    assert!(etcd
        .etcdctl(&["get", "--prefix", "--keys-only", "/micro/registry/a-b/"])
        .contains("/micro/registry/a-b/c-d"));

    svc.stop().await.unwrap();
    assert!(!etcd
        .etcdctl(&["get", "--prefix", "--keys-only", "/micro/registry/"])
        .contains(SERVICE));
}

fn spawn_test_service(etcd: &Etcd) -> Child {
    Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_test-service"))
            .env("MICRO_REGISTRY", "etcd")
            .env("MICRO_REGISTRY_ADDRESS", etcd.address())
            .env("MICRO_REGISTER_TTL", "2")
            .env("MICRO_REGISTER_INTERVAL", "1")
            .env_remove("MICRO_SERVER_ADDRESS")
            .spawn()
            .expect("starting test-service"),
    )
}

async fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// Multi-threaded: the test blocks a thread waiting for the child.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_leaves_with_the_ttl_and_sigterm_at_once() {
    let etcd = Etcd::start();
    let keys = || etcd.etcdctl(&["get", "--prefix", "--keys-only", "/micro/registry/"]);

    let killed = spawn_test_service(&etcd);
    wait_until("the service registers", Duration::from_secs(20), || {
        keys().contains(SERVICE)
    })
    .await;
    let status = std::process::Command::new("kill")
        .args(["-KILL", &killed.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Gone within its TTL (2 s), give or take etcd's lease checking.
    wait_until(
        "the killed node leaves etcd",
        Duration::from_secs(6),
        || !keys().contains(SERVICE),
    )
    .await;
    drop(killed);

    let mut stopped = spawn_test_service(&etcd);
    wait_until("the service registers", Duration::from_secs(20), || {
        keys().contains(SERVICE)
    })
    .await;
    stopped.terminate();
    assert!(stopped.wait_for_exit(Duration::from_secs(20)).success());
    assert!(
        !keys().contains(SERVICE),
        "a node stopped with SIGTERM is gone when the process exits"
    );
}

#[tokio::test]
async fn the_cache_serves_while_etcd_is_down_and_catches_up_after() {
    let mut etcd = Etcd::start();
    // As a service gets it from `--registry=etcd`: behind the cache.
    let registry = micro::registry::by_name("etcd", Some(&etcd.address())).unwrap();
    let start = |instance: &str| {
        micro::Service::builder()
            .flags(micro::Flags::default())
            .name(SERVICE)
            .registry(registry.clone())
            .handler(TestHandler {
                instance: instance.into(),
                ..Default::default()
            })
            .register_ttl(Duration::from_secs(2))
            .register_interval(Duration::from_millis(500))
            .build()
            .unwrap()
            .start()
    };
    let a = start("a").await.unwrap();
    let client = Client::new(Arc::clone(&registry));
    let echo = |client: Client| async move {
        client
            .call_json(
                SERVICE,
                "Test.Echo",
                &serde_json::json!({"message": "x"}),
                CallOptions::default(),
            )
            .await
            .map(|r| r["instance"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(echo(client.clone()).await.unwrap(), "a");

    etcd.stop();
    for i in 0..50 {
        let answer = echo(client.clone())
            .await
            .unwrap_or_else(|e| panic!("call {i} with etcd down: {e}"));
        assert_eq!(answer, "a");
    }
    // Meanwhile: `b` starts (its registration waits for etcd) and `a` dies without a goodbye.
    let b = start("b").await.unwrap();
    a.kill();

    etcd.restart();
    // `b` is found and `a`'s stale node is gone once its lease runs out (TTL 2 s).
    let mut answers = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let nodes = client
            .selector()
            .select(SERVICE, &Default::default())
            .await
            .map(|n| n.len());
        let answer = echo(client.clone()).await;
        if nodes == Ok(1) && answer.as_deref() == Ok("b") {
            break;
        }
        answers.push(format!("{nodes:?} {answer:?}"));
        assert!(
            tokio::time::Instant::now() < deadline,
            "no catch-up after etcd came back: {answers:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    b.stop().await.unwrap();
}

#[tokio::test]
async fn a_thousand_calls_make_a_handful_of_etcd_requests() {
    let etcd = Etcd::start();
    // As a service gets it from `--registry=etcd`: behind the cache.
    let registry = micro::registry::by_name("etcd", Some(&etcd.address())).unwrap();
    let svc = micro_tests::start(registry.clone(), TestHandler::default()).await;
    let client = Client::new(registry);
    let before = etcd.range_requests();
    for _ in 0..1_000 {
        client
            .call_json(
                SERVICE,
                "Test.Echo",
                &serde_json::json!({}),
                CallOptions::default(),
            )
            .await
            .unwrap();
    }
    let made = etcd.range_requests() - before;
    eprintln!("1000 calls made {made} etcd range requests");
    assert!(made <= 5, "1000 calls made {made} etcd range requests");

    // Without the cache, every lookup is a request: the count above is the cache's doing.
    let direct = EtcdRegistry::new([etcd.address()]);
    let before = etcd.range_requests();
    for _ in 0..20 {
        direct.get_service(SERVICE).await.unwrap();
    }
    assert!(etcd.range_requests() - before >= 20);
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn tls_with_client_certificates() {
    let etcd = Etcd::start_tls();
    let dir = etcd.tls.clone().unwrap();
    let tls = micro::registry::EtcdTls {
        ca: Some(dir.join("ca.pem")),
        cert: Some(dir.join("client.pem")),
        key: Some(dir.join("client.key")),
    };
    let options = micro::registry::EtcdOptions {
        tls: Some(tls),
        ..Default::default()
    };
    let registry = EtcdRegistry::with_options([etcd.address()], options);
    registry
        .register(&record("go.micro.srv.tls", "latest", "n1", 1), TTL)
        .await
        .unwrap();
    assert_eq!(
        registry.get_service("go.micro.srv.tls").await.unwrap()[0]
            .nodes
            .len(),
        1
    );
    assert!(etcd
        .etcdctl(&["get", "--prefix", "--keys-only", "/micro/registry/"])
        .contains("go.micro.srv.tls"));

    // Plain text to a TLS-only etcd fails, with an error saying where it failed.
    let plain = EtcdRegistry::with_options(
        [etcd.address()],
        micro::registry::EtcdOptions {
            timeout: Some(Duration::from_secs(2)),
            ..Default::default()
        },
    );
    let err = plain.get_service("go.micro.srv.tls").await.unwrap_err();
    assert!(err.to_string().starts_with("registry etcd:"), "{err}");
}
