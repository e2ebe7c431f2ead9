//! Prometheus metrics: a service with `MICRO_METRICS_ADDRESS` counts what it serves, sends and
//! receives; a scrape, parsed by Python's prometheus_client, shows exactly that.

use futures::StreamExt;
use micro::config::Config;
use micro::registry::{MemoryRegistry, Registry};
use micro::{CallOptions, Error};
use micro_tests::proto::{
    EchoRequest, EchoResponse, FailRequest, FailResponse, FloodItem, FloodRequest,
};
use micro_tests::{free_port, TestHandler, SERVICE};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One sample of a scrape: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// Scrapes `http://address/metrics` with curl and parses it with prometheus_client.
fn scrape(address: &str) -> Vec<Sample> {
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--fail",
            "--max-time",
            "10",
            &format!("http://{address}/metrics"),
        ])
        .output()
        .expect("curl (apt-get install curl)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut parser = std::process::Command::new(micro_tests::python())
        .arg(micro_tests::workspace_root().join("tests/python/metrics.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    parser
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let parsed = parser.wait_with_output().unwrap();
    assert!(
        parsed.status.success(),
        "prometheus_client refused the text: {}\n{text}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    String::from_utf8(parsed.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let labels = v["labels"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            (
                v["name"].as_str().unwrap().to_string(),
                labels,
                v["value"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// The value of `name` with exactly these labels (0 when absent).
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .iter()
        .filter(|(n, l, _)| n == name && *l == want)
        .map(|(_, _, v)| *v)
        .sum()
}

/// The requests counted for one side, service, endpoint and status.
fn requests(samples: &[Sample], side: &str, service: &str, endpoint: &str, status: &str) -> f64 {
    value(
        samples,
        "micro_request_total",
        &[
            ("side", side),
            ("service", service),
            ("endpoint", endpoint),
            ("status", status),
        ],
    )
}

#[derive(Clone)]
struct Recorder(Arc<Mutex<Vec<String>>>);

#[micro::subscriber]
impl Recorder {
    async fn handle(&self, _ctx: &micro::Context, msg: EchoRequest) -> micro::Result<()> {
        self.0.lock().unwrap().push(msg.message);
        Ok(())
    }
}

#[tokio::test]
async fn a_scrape_shows_exactly_the_calls_made() {
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let broker: Arc<dyn micro::broker::Broker> = Arc::new(micro::broker::MemoryBroker::new());
    let metrics = format!("127.0.0.1:{}", free_port());
    let delivered = Arc::new(Mutex::new(Vec::new()));
    let svc = micro::Service::builder()
        .flags(micro::Flags::default())
        .defaults(Config {
            metrics_address: Some(metrics.clone()),
            ..Config::default()
        })
        .name(SERVICE)
        .registry(Arc::clone(&registry))
        .broker(Arc::clone(&broker))
        .handler(TestHandler::default())
        .subscriber("events", Recorder(Arc::clone(&delivered)))
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    // The service's own client: it counts as the client side.
    let client = svc.client();

    let echo = EchoRequest {
        message: "m".into(),
        ..Default::default()
    };
    for _ in 0..3 {
        let _: EchoResponse = client
            .call(SERVICE, "Test.Echo", &echo, CallOptions::default())
            .await
            .unwrap();
    }
    let fail = FailRequest {
        code: 409,
        detail: "taken".into(),
    };
    for _ in 0..2 {
        let err: Error = client
            .call::<_, FailResponse>(SERVICE, "Test.Fail", &fail, CallOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.code, 409);
    }
    let items: Vec<FloodItem> = client
        .server_stream(
            SERVICE,
            "Test.Flood",
            &FloodRequest {
                count: 4,
                ..Default::default()
            },
            CallOptions::default(),
        )
        .await
        .unwrap()
        .map(|i| i.unwrap())
        .collect()
        .await;
    assert_eq!(items.len(), 4);
    client.publish("events", &echo).await.unwrap();
    micro_tests::eventually("the message is delivered", Duration::from_secs(5), || {
        delivered.lock().unwrap().len() == 1
    })
    .await;

    // The stream and the delivery are counted as they end: scrape until both are in (bounded).
    let mut samples = Vec::new();
    for _ in 0..50 {
        // Blocking (curl, Python) off the runtime that serves the metrics.
        let address = metrics.clone();
        samples = tokio::task::spawn_blocking(move || scrape(&address))
            .await
            .unwrap();
        let stream = requests(&samples, "server", SERVICE, "Test.Flood", "ok");
        let delivery = requests(&samples, "subscriber", SERVICE, "Recorder.Handle", "ok");
        if stream == 1.0 && delivery == 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for side in ["server", "client"] {
        assert_eq!(
            requests(&samples, side, SERVICE, "Test.Echo", "ok"),
            3.0,
            "{side}"
        );
        assert_eq!(
            requests(&samples, side, SERVICE, "Test.Fail", "409"),
            2.0,
            "{side}"
        );
        assert_eq!(
            requests(&samples, side, SERVICE, "Test.Flood", "ok"),
            1.0,
            "{side}"
        );
    }
    assert_eq!(requests(&samples, "client", "events", "", "ok"), 1.0);
    assert_eq!(
        requests(&samples, "subscriber", SERVICE, "Recorder.Handle", "ok"),
        1.0
    );
    // Exactly those: 3 + 2 + 1 on each side, the publish and the delivery; the built-in
    // Debug endpoints are not counted.
    let total: f64 = samples
        .iter()
        .filter(|(n, _, _)| n == "micro_request_total")
        .map(|(_, _, v)| v)
        .sum();
    assert_eq!(total, 14.0, "{samples:?}");

    // The histogram of the server's Test.Echo: cumulative buckets ending in +Inf = count = 3.
    let call = [
        ("side", "server"),
        ("service", SERVICE),
        ("endpoint", "Test.Echo"),
    ];
    let mut buckets: Vec<(f64, f64)> = samples
        .iter()
        .filter(|(n, l, _)| {
            n == "micro_request_duration_seconds_bucket"
                && call
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(v))
        })
        .map(|(_, l, v)| {
            let le = l["le"].parse::<f64>().unwrap();
            (le, *v)
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert_eq!(buckets.len(), 12, "11 buckets and +Inf: {buckets:?}");
    assert!(
        buckets.windows(2).all(|w| w[0].1 <= w[1].1),
        "cumulative: {buckets:?}"
    );
    assert_eq!(buckets.last().unwrap(), &(f64::INFINITY, 3.0));
    assert_eq!(
        value(&samples, "micro_request_duration_seconds_count", &call),
        3.0
    );
    assert!(value(&samples, "micro_request_duration_seconds_sum", &call) > 0.0);
    // Nothing is in flight any more.
    assert_eq!(value(&samples, "micro_request_in_flight", &call), 0.0);
    svc.stop().await.unwrap();
}
