//! One of three nodes fails under load, seen through each way in: the client (registry),
//! `micro api` (HTTP) and `micro proxy` (gRPC). SIGTERM (graceful) and SIGKILL (a crash) cost
//! no call; SIGSTOP (a hang) costs at most the calls already on the node when it froze, after
//! which it is out of rotation. Three test-service processes in a real etcd; figures printed.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use micro::client::Via;
use micro::{CallOptions, Client};
use micro_tests::proto::{EchoRequest, EchoResponse};
use micro_tests::{free_port, Child, Etcd, SERVICE};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Calls in flight on each way in.
const CONCURRENCY: usize = 8;
/// Calls per way in, per fault.
const CALLS: usize = 400;

fn node(etcd: &Etcd) -> Child {
    Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_test-service"))
            .env("MICRO_REGISTRY", "etcd")
            .env("MICRO_REGISTRY_ADDRESS", etcd.address())
            .env("MICRO_SERVER_ADDRESS", format!("127.0.0.1:{}", free_port()))
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting test-service"),
    )
}

fn tool(etcd: &Etcd, args: &[&str]) -> Child {
    let micro = micro_tests::sibling_binary(env!("CARGO_BIN_EXE_test-service"), "micro");
    Child(
        std::process::Command::new(micro)
            .args(args)
            .env("MICRO_REGISTRY", "etcd")
            .env("MICRO_REGISTRY_ADDRESS", etcd.address())
            .env_remove("MICRO_PROXY")
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting micro"),
    )
}

/// Waits until etcd lists at least `n` nodes of the test service (a killed node stays listed
/// until its registration expires).
async fn nodes_up(etcd: &Etcd, n: usize) {
    use micro::registry::Registry;
    let registry = micro::registry::EtcdRegistry::new([etcd.address()]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let up = registry
            .get_service(SERVICE)
            .await
            .map_or(0, |v| v.iter().map(|s| s.nodes.len()).sum::<usize>());
        if up >= n {
            return;
        }
        assert!(Instant::now() < deadline, "{up} nodes registered, not {n}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn signal(child: &Child, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &child.0.id().to_string()])
        .status()
        .expect("running kill");
    assert!(status.success(), "kill {signal} failed");
}

#[derive(Clone, Copy, Debug)]
enum Way {
    Client,
    Gateway,
    Proxy,
}

struct Ways {
    client: Client,
    proxied: Client,
    http: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Full<Bytes>,
    >,
    gateway: String,
}

impl Ways {
    async fn call(&self, way: Way) -> Result<(), String> {
        let request = EchoRequest {
            message: "hi".into(),
            ..Default::default()
        };
        match way {
            Way::Client | Way::Proxy => {
                let client = match way {
                    Way::Client => &self.client,
                    _ => &self.proxied,
                };
                client
                    .call::<_, EchoResponse>(SERVICE, "Test.Echo", &request, CallOptions::default())
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            Way::Gateway => {
                let request = http::Request::post(format!("http://{}/test/echo", self.gateway))
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from_static(b"{\"message\":\"hi\"}")))
                    .unwrap();
                let rsp = self
                    .http
                    .request(request)
                    .await
                    .map_err(|e| e.to_string())?;
                let status = rsp.status();
                let body = rsp.into_body().collect().await.map_err(|e| e.to_string())?;
                match status.as_u16() {
                    200 => Ok(()),
                    other => Err(format!(
                        "{other} {}",
                        String::from_utf8_lossy(&body.to_bytes())
                    )),
                }
            }
        }
    }

    /// `CALLS` calls `CONCURRENCY` at a time on each way in, with `fault` done once a fifth of
    /// them are made; the failures of each way.
    async fn under_fault(self: &Arc<Self>, fault: impl FnOnce()) -> Vec<(Way, Vec<String>)> {
        let made = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for way in [Way::Client, Way::Gateway, Way::Proxy] {
            let next = Arc::new(AtomicUsize::new(0));
            for _ in 0..CONCURRENCY {
                let (ways, next, made) = (Arc::clone(self), next.clone(), made.clone());
                tasks.push(tokio::spawn(async move {
                    let mut failed = Vec::new();
                    while next.fetch_add(1, Ordering::SeqCst) < CALLS {
                        if let Err(e) = ways.call(way).await {
                            failed.push(e);
                        }
                        made.fetch_add(1, Ordering::SeqCst);
                    }
                    (way, failed)
                }));
            }
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while made.load(Ordering::SeqCst) < 3 * CALLS / 5 {
            assert!(Instant::now() < deadline, "the load did not get going");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        fault();
        let mut by_way: Vec<(Way, Vec<String>)> = Vec::new();
        for task in tasks {
            let (way, failed) = task.await.unwrap();
            match by_way
                .iter_mut()
                .find(|(w, _)| std::mem::discriminant(w) == std::mem::discriminant(&way))
            {
                Some((_, all)) => all.extend(failed),
                None => by_way.push((way, failed)),
            }
        }
        by_way
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_three_nodes_terminated_killed_or_frozen_through_the_client_gateway_and_proxy() {
    let etcd = Etcd::start();
    let mut nodes: Vec<Child> = (0..3).map(|_| node(&etcd)).collect();
    nodes_up(&etcd, 3).await;
    let gateway = format!("127.0.0.1:{}", free_port());
    let proxy = format!("127.0.0.1:{}", free_port());
    let _api = tool(
        &etcd,
        &["api", "--address", &gateway, "--namespace", "go.micro"],
    );
    let _proxy = tool(&etcd, &["proxy", "--address", &proxy]);
    micro_tests::wait_for_listener(&gateway, Duration::from_secs(20)).await;
    micro_tests::wait_for_listener(&proxy, Duration::from_secs(20)).await;
    let registry = micro::registry::by_name("etcd", Some(&etcd.address())).unwrap();
    let ways = Arc::new(Ways {
        client: Client::builder().registry(registry).no_proxy().build(),
        proxied: Client::builder().proxy(Via::Address(proxy.clone())).build(),
        http: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http(),
        gateway,
    });
    // Every way answers before the faults.
    let deadline = Instant::now() + Duration::from_secs(30);
    for way in [Way::Client, Way::Gateway, Way::Proxy] {
        while ways.call(way).await.is_err() {
            assert!(Instant::now() < deadline, "{way:?} never answered");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    for fault in ["-TERM", "-KILL", "-STOP"] {
        let victim = nodes.remove(0);
        let started = Instant::now();
        let failed = ways.under_fault(|| signal(&victim, fault)).await;
        let figures: Vec<String> = failed
            .iter()
            .map(|(way, f)| format!("{way:?} {}/{CALLS} failed", f.len()))
            .collect();
        println!(
            "kill {fault} of one of three nodes, {CONCURRENCY} calls in flight per way: {} ({:?})",
            figures.join(", "),
            started.elapsed()
        );
        for (way, f) in &failed {
            match fault {
                // The calls on the node when it froze wait out their deadline; then it is out.
                "-STOP" => assert!(
                    f.len() <= CONCURRENCY,
                    "{way:?}: {} failed: {:?}",
                    f.len(),
                    f
                ),
                _ => assert!(f.is_empty(), "{way:?}: {f:?}"),
            }
        }
        if fault == "-STOP" {
            signal(&victim, "-CONT");
        }
        drop(victim);
        nodes.push(node(&etcd));
        let listed = match fault {
            "-TERM" => 3,
            // The killed node is listed until its registration expires.
            _ => 4,
        };
        nodes_up(&etcd, listed).await;
    }
}
