//! What a service and the gateway hold after work: resident memory and open descriptors of
//! `micro api` and a test-service process (etcd registry) before and after 20,000 calls through
//! the gateway, and after lookups of 100,000 service names that do not exist. Each must stay
//! within the bound stated here; the figures are printed.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use micro_tests::{free_port, Child, Etcd};
use std::time::{Duration, Instant};

/// Growth allowed after 20,000 calls.
const CALLS_RSS_BOUND_KIB: i64 = 16 << 10;
/// Growth allowed after 100,000 unknown names (each was once kept for good: ~15 MiB).
const UNKNOWN_RSS_BOUND_KIB: i64 = 6 << 10;
/// Descriptors allowed beyond those open before.
const FD_BOUND: i64 = 16;

/// (resident KiB, open descriptors) of process `pid`.
fn usage(pid: u32) -> (i64, i64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count() as i64;
    (rss, fds)
}

type HttpClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

/// `count` requests made 8 at a time over keep-alive connections; `request(i)` makes each.
/// Returns how many answered with `want`.
async fn requests(
    client: &HttpClient,
    count: usize,
    want: u16,
    request: impl Fn(usize) -> http::Request<Full<Bytes>> + Send + Sync + 'static,
) -> usize {
    let request = std::sync::Arc::new(request);
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (client, request, next) = (client.clone(), request.clone(), next.clone());
            tokio::spawn(async move {
                let mut matched = 0;
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if i >= count {
                        return matched;
                    }
                    if let Ok(rsp) = client.request(request(i)).await {
                        let status = rsp.status().as_u16();
                        let _ = rsp.into_body().collect().await;
                        if status == want {
                            matched += 1;
                        }
                    }
                }
            })
        })
        .collect();
    let mut matched = 0;
    for w in workers {
        matched += w.await.unwrap();
    }
    matched
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_and_descriptors_stay_bounded_after_calls_and_unknown_names() {
    let etcd = Etcd::start();
    let service = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_test-service"))
            .env("MICRO_REGISTRY", "etcd")
            .env("MICRO_REGISTRY_ADDRESS", etcd.address())
            .env("MICRO_SERVER_ADDRESS", format!("127.0.0.1:{}", free_port()))
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting test-service"),
    );
    let api_address = format!("127.0.0.1:{}", free_port());
    let micro = micro_tests::sibling_binary(env!("CARGO_BIN_EXE_test-service"), "micro");
    let api = Child(
        std::process::Command::new(micro)
            .args(["api", "--address", &api_address, "--namespace", "go.micro"])
            .env("MICRO_REGISTRY", "etcd")
            .env("MICRO_REGISTRY_ADDRESS", etcd.address())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting micro api"),
    );
    micro_tests::wait_for_listener(&api_address, Duration::from_secs(20)).await;
    let client: HttpClient =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let url = format!("http://{api_address}/test/echo");
    let echo = move |_| {
        http::Request::post(url.as_str())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(b"{\"message\":\"hi\"}")))
            .unwrap()
    };
    // Registered and warm.
    let deadline = Instant::now() + Duration::from_secs(30);
    while requests(&client, 1, 200, echo.clone()).await == 0 {
        assert!(
            Instant::now() < deadline,
            "the test service never answered through the gateway"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    requests(&client, 500, 200, echo.clone()).await;
    let (api_pid, svc_pid) = (api.0.id(), service.0.id());
    let (api0, svc0) = (usage(api_pid), usage(svc_pid));

    let started = Instant::now();
    let served = requests(&client, 20_000, 200, echo.clone()).await;
    let took = started.elapsed();
    let (api1, svc1) = (usage(api_pid), usage(svc_pid));
    println!(
        "20,000 calls through the gateway in {took:?} ({served} answered 200): gateway RSS {} -> {} KiB, fds {} -> {}; service RSS {} -> {} KiB, fds {} -> {}",
        api0.0, api1.0, api0.1, api1.1, svc0.0, svc1.0, svc0.1, svc1.1
    );
    assert_eq!(served, 20_000);
    assert!(
        api1.0 - api0.0 < CALLS_RSS_BOUND_KIB,
        "gateway RSS grew {} KiB",
        api1.0 - api0.0
    );
    assert!(
        svc1.0 - svc0.0 < CALLS_RSS_BOUND_KIB,
        "service RSS grew {} KiB",
        svc1.0 - svc0.0
    );
    assert!(
        api1.1 - api0.1 < FD_BOUND,
        "gateway fds {} -> {}",
        api0.1,
        api1.1
    );
    assert!(
        svc1.1 - svc0.1 < FD_BOUND,
        "service fds {} -> {}",
        svc0.1,
        svc1.1
    );

    let base = format!("http://{api_address}");
    let started = Instant::now();
    let unknown = requests(&client, 100_000, 404, move |i| {
        http::Request::get(format!("{base}/nosuch{i}/call"))
            .body(Full::new(Bytes::new()))
            .unwrap()
    })
    .await;
    let took = started.elapsed();
    let api2 = usage(api_pid);
    println!(
        "100,000 unknown service names in {took:?} ({unknown} answered 404): gateway RSS {} -> {} KiB, fds {} -> {}",
        api1.0, api2.0, api1.1, api2.1
    );
    assert_eq!(unknown, 100_000);
    assert!(
        api2.0 - api1.0 < UNKNOWN_RSS_BOUND_KIB,
        "gateway RSS grew {} KiB after unknown names",
        api2.0 - api1.0
    );
    assert!(
        api2.1 - api1.1 < FD_BOUND,
        "gateway fds {} -> {}",
        api1.1,
        api2.1
    );
    drop(api);
    drop(service);
}
