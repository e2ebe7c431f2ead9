//! The etcd registry on a three-member etcd cluster on loopback, under load: the leader killed
//! while services start and stop, then the whole cluster down for 30 s and back. Calls keep
//! succeeding throughout and registrations converge. Figures are printed.

use micro::registry::{EtcdRegistry, Registry};
use micro::{CallOptions, Client};
use micro_tests::proto::{EchoRequest, EchoResponse};
use micro_tests::{free_port, http_get, Child, SERVICE};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    data_dir: std::path::PathBuf,
    child: Option<Child>,
}

struct Cluster {
    members: Vec<Member>,
}

impl Cluster {
    fn start() -> Cluster {
        let base = std::env::temp_dir().join(format!("micro-etcd-cluster-{}", free_port()));
        let members: Vec<Member> = (0..3)
            .map(|i| Member {
                name: format!("m{i}"),
                client_port: free_port(),
                peer_port: free_port(),
                data_dir: base.join(format!("m{i}")),
                child: None,
            })
            .collect();
        let mut cluster = Cluster { members };
        for i in 0..3 {
            cluster.launch(i);
        }
        cluster.wait_healthy();
        cluster
    }

    fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn launch(&mut self, i: usize) {
        let initial = self.initial_cluster();
        let m = &mut self.members[i];
        let client = format!("http://127.0.0.1:{}", m.client_port);
        let peer = format!("http://127.0.0.1:{}", m.peer_port);
        let child = std::process::Command::new("etcd")
            .args(["--name", &m.name, "--data-dir"])
            .arg(&m.data_dir)
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args([
                "--initial-cluster",
                &initial,
                "--initial-cluster-state",
                "new",
            ])
            .args([
                "--initial-cluster-token",
                "micro-test-cluster",
                "--log-level",
                "error",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("etcd is needed: apt-get install -y etcd-server etcd-client ({e})")
            });
        m.child = Some(Child(child));
    }

    fn kill(&mut self, i: usize) {
        self.members[i].child = None;
    }

    fn addresses(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.client_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Waits until every running member says it is healthy (which needs a quorum).
    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        for m in self.members.iter().filter(|m| m.child.is_some()) {
            let address = format!("127.0.0.1:{}", m.client_port);
            while !http_get(&address, "/health").is_some_and(|b| b.contains("\"health\":\"true\""))
            {
                assert!(
                    Instant::now() < deadline,
                    "etcd member {} not healthy",
                    m.name
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// The index of the member that leads now.
    fn leader(&self) -> usize {
        let out = std::process::Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.addresses()))
            .args(["endpoint", "status", "-w", "json"])
            .output()
            .expect("etcdctl is needed: apt-get install -y etcd-client");
        let statuses: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("etcdctl endpoint status JSON");
        let statuses = statuses.as_array().expect("a list");
        for status in statuses {
            let member = &status["Status"]["header"]["member_id"];
            if status["Status"]["leader"] == *member {
                let endpoint = status["Endpoint"].as_str().unwrap_or("");
                return self
                    .members
                    .iter()
                    .position(|m| endpoint.ends_with(&format!(":{}", m.client_port)))
                    .expect("the leader is a member");
            }
        }
        panic!("no leader in {statuses:?}");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for m in &mut self.members {
            m.child = None;
        }
        if let Some(base) = self.members.first().and_then(|m| m.data_dir.parent()) {
            let _ = std::fs::remove_dir_all(base);
        }
    }
}

/// A test-service process registering in the cluster, and the address it serves on.
fn service(addresses: &str) -> (Child, String) {
    let address = format!("127.0.0.1:{}", free_port());
    let child = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_test-service"))
            .env("MICRO_REGISTRY", "etcd")
            .env("MICRO_REGISTRY_ADDRESS", addresses)
            .env("MICRO_REGISTER_TTL", "10")
            .env("MICRO_REGISTER_INTERVAL", "2")
            .env("MICRO_SERVER_ADDRESS", &address)
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting test-service"),
    );
    (child, address)
}

/// Waits until a registry read straight from the cluster lists exactly these instances.
async fn converge(addresses: &str, want: &BTreeSet<String>, what: &str) -> Duration {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(60);
    let endpoints: Vec<String> = addresses.split(',').map(String::from).collect();
    let registry = EtcdRegistry::new(endpoints);
    loop {
        let seen: BTreeSet<String> = registry
            .get_service(SERVICE)
            .await
            .map(|versions| {
                versions
                    .iter()
                    .flat_map(|v| v.nodes.iter())
                    .map(|n| n.address.clone())
                    .collect()
            })
            .unwrap_or_default();
        if &seen == want {
            return started.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "{what}: registry shows {seen:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_member_cluster_loses_its_leader_then_everything_and_calls_keep_succeeding() {
    let mut cluster = Cluster::start();
    let addresses = cluster.addresses();
    let (a, a_address) = service(&addresses);
    let (b, b_address) = service(&addresses);
    let want: BTreeSet<String> = [a_address.clone(), b_address].into();
    converge(&addresses, &want, "two services registered").await;

    let registry = micro::registry::by_name("etcd", Some(&addresses)).unwrap();
    let client = Client::new(Arc::clone(&registry));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(std::sync::Mutex::new(Vec::new()));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (client, ok, failed, stop, errors) = (
                client.clone(),
                ok.clone(),
                failed.clone(),
                stop.clone(),
                errors.clone(),
            );
            tokio::spawn(async move {
                let started = Instant::now();
                // Bounded in count and in time.
                for _ in 0..200_000 {
                    if stop.load(Ordering::SeqCst) || started.elapsed() > Duration::from_secs(150) {
                        return;
                    }
                    let request = EchoRequest {
                        message: "hi".into(),
                        ..Default::default()
                    };
                    match client
                        .call::<_, EchoResponse>(
                            SERVICE,
                            "Test.Echo",
                            &request,
                            CallOptions::default(),
                        )
                        .await
                    {
                        Ok(_) => ok.fetch_add(1, Ordering::SeqCst),
                        Err(e) => {
                            errors.lock().unwrap().push(e.to_string());
                            failed.fetch_add(1, Ordering::SeqCst)
                        }
                    };
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The leader dies while a service starts and another stops.
    let leader = cluster.leader();
    cluster.kill(leader);
    let (c, c_address) = service(&addresses);
    let mut b = b;
    b.terminate();
    let _ = b.wait_for_exit(Duration::from_secs(20));
    let want: BTreeSet<String> = [a_address, c_address].into();
    let took = converge(&addresses, &want, "churn without the leader").await;
    println!(
        "leader m{leader} killed; one service started, one stopped: the registry agreed after {took:?}; calls so far {} ok, {} failed",
        ok.load(Ordering::SeqCst),
        failed.load(Ordering::SeqCst)
    );
    cluster.launch(leader);
    cluster.wait_healthy();

    // All of it down for 30 s.
    for i in 0..3 {
        cluster.kill(i);
    }
    let before = ok.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(30)).await;
    let during = ok.load(Ordering::SeqCst) - before;
    for i in 0..3 {
        cluster.launch(i);
    }
    cluster.wait_healthy();
    let took = converge(&addresses, &want, "after the outage").await;
    stop.store(true, Ordering::SeqCst);
    for worker in load {
        worker.await.unwrap();
    }
    println!(
        "whole cluster down 30 s: {during} calls served meanwhile; back and agreed after {took:?}; in all {} ok, {} failed",
        ok.load(Ordering::SeqCst),
        failed.load(Ordering::SeqCst)
    );
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "{:?}",
        errors.lock().unwrap().iter().take(5).collect::<Vec<_>>()
    );
    assert!(during > 0, "no call was served while etcd was down");
    drop(a);
    drop(c);
}
