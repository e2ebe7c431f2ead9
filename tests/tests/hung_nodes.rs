//! A node that hangs under load (SIGSTOP: its sockets stay open, nothing answers): taken out
//! of rotation by the first timeouts, probed while it stays frozen, and back in rotation once it
//! answers again (SIGCONT). Three test-service processes registered in a real etcd; the
//! figures are printed.

use micro::{CallOptions, Client};
use micro_tests::proto::{EchoRequest, EchoResponse};
use micro_tests::{free_port, Child, Etcd, SERVICE};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONCURRENCY: usize = 16;

fn signal(child: &Child, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &child.0.id().to_string()])
        .status()
        .expect("running kill");
    assert!(status.success(), "kill {signal} failed");
}

/// The outcome of `calls` calls made `CONCURRENCY` at a time: failures (in the order they
/// ended, with how long after the start), and the replies per instance.
#[derive(Debug, Default)]
struct Load {
    failed: Vec<(Duration, micro::Error)>,
    by_instance: HashMap<String, usize>,
    took: Duration,
}

async fn load(client: &Client, calls: usize) -> Load {
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (client, next) = (client.clone(), next.clone());
            tokio::spawn(async move {
                let mut results = Vec::new();
                while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < calls {
                    let request = EchoRequest {
                        message: "hi".into(),
                        ..Default::default()
                    };
                    let reply = client
                        .call::<_, EchoResponse>(
                            SERVICE,
                            "Test.Echo",
                            &request,
                            CallOptions::default(),
                        )
                        .await;
                    results.push((started.elapsed(), reply));
                }
                results
            })
        })
        .collect();
    let mut outcome = Load::default();
    for worker in workers {
        for (at, reply) in worker.await.unwrap() {
            match reply {
                Ok(reply) => *outcome.by_instance.entry(reply.instance).or_default() += 1,
                Err(e) => outcome.failed.push((at, e)),
            }
        }
    }
    outcome.failed.sort_by_key(|(at, _)| *at);
    outcome.took = started.elapsed();
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_node_leaves_rotation_after_its_first_timeouts_and_returns_when_thawed() {
    let etcd = Etcd::start();
    let nodes: Vec<Child> = (0..3)
        .map(|_| {
            Child(
                std::process::Command::new(env!("CARGO_BIN_EXE_test-service"))
                    .env("MICRO_REGISTRY", "etcd")
                    .env("MICRO_REGISTRY_ADDRESS", etcd.address())
                    .env("MICRO_SERVER_ADDRESS", format!("127.0.0.1:{}", free_port()))
                    .spawn()
                    .expect("starting test-service"),
            )
        })
        .collect();
    let registry = micro::registry::by_name("etcd", Some(&etcd.address())).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let up = registry
            .get_service(SERVICE)
            .await
            .map_or(0, |v| v.iter().map(|s| s.nodes.len()).sum::<usize>());
        if up == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "3 nodes never registered ({up})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let frozen = nodes[0].0.id().to_string();
    // go-micro's defaults but a 3 s call timeout; and one that gives each attempt 500 ms.
    let plain = Client::builder()
        .registry(Arc::clone(&registry))
        .timeout(Duration::from_secs(3))
        .build();
    let sliced = Client::builder()
        .registry(Arc::clone(&registry))
        .timeout(Duration::from_secs(3))
        .attempt_timeout(Duration::from_millis(500))
        .build();

    let healthy = load(&plain, 300).await;
    assert!(healthy.failed.is_empty(), "{:?}", healthy.failed);
    assert_eq!(healthy.by_instance.len(), 3, "{:?}", healthy.by_instance);

    signal(&nodes[0], "-STOP");
    let stopped_at = Instant::now();
    let with_slices = load(&sliced, 600).await;
    let without = load(&plain, 600).await;
    println!(
        "one of three nodes frozen, {CONCURRENCY} calls at a time: with 500 ms attempts {} of 600 failed ({:?}); with the whole 3 s per attempt {} of 600 failed ({:?}), the last {:?} into the load",
        with_slices.failed.len(),
        with_slices.took,
        without.failed.len(),
        without.took,
        without.failed.last().map(|(at, _)| *at),
    );
    assert!(
        with_slices.failed.is_empty(),
        "each hung attempt is retried on another node: {:?}",
        with_slices.failed
    );
    // Without slices only the calls already on the frozen node when it froze can fail: the
    // first timeouts take it out.
    assert!(
        without.failed.len() <= CONCURRENCY,
        "{} failed: {:?}",
        without.failed.len(),
        without.failed
    );
    assert!(
        without.failed.iter().all(|(_, e)| e.code == 408),
        "{:?}",
        without.failed
    );
    assert!(!with_slices.by_instance.contains_key(&frozen));
    assert!(!without.by_instance.contains_key(&frozen));

    // While it stays frozen, nothing more fails: the probes keep it out.
    let still = load(&plain, 300).await;
    println!(
        "still frozen {:?} later: {} of 300 failed",
        stopped_at.elapsed(),
        still.failed.len()
    );
    assert!(still.failed.is_empty(), "{:?}", still.failed);

    signal(&nodes[0], "-CONT");
    let thawed_at = Instant::now();
    let mut back = None;
    while thawed_at.elapsed() < Duration::from_secs(20) {
        let round = load(&plain, 60).await;
        assert!(round.failed.is_empty(), "{:?}", round.failed);
        if round.by_instance.contains_key(&frozen) {
            back = Some(thawed_at.elapsed());
            break;
        }
    }
    println!("thawed: back in rotation after {back:?}");
    assert!(
        back.is_some(),
        "the thawed node never came back into rotation"
    );
    drop(nodes);
    drop(etcd);
}
