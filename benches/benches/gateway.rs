//! HTTP through `micro api` (rpc handler, to the greeter) next to a bare axum JSON echo, in one
//! run: 16 concurrent keep-alive clients for 3 s each after a warm-up; req/s, p50, p99.
//! Run: `cargo bench -p micro-benches --bench gateway`.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONCURRENCY: usize = 16;
const RUN: Duration = Duration::from_secs(3);
const WARMUP: Duration = Duration::from_millis(500);

async fn measure(url: &str) -> (f64, Duration, Duration) {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let body = Bytes::from_static(br#"{"name":"John"}"#);
    let one = |client: Client<_, Full<Bytes>>, url: String, body: Bytes| async move {
        let req = http::Request::post(url)
            .header("content-type", "application/json")
            .body(Full::new(body))
            .unwrap();
        let rsp = client.request(req).await.unwrap();
        assert!(rsp.status().is_success());
        rsp.into_body().collect().await.unwrap();
    };
    let warm_until = Instant::now() + WARMUP;
    while Instant::now() < warm_until {
        one(client.clone(), url.to_string(), body.clone()).await;
    }
    let until = Instant::now() + RUN;
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (client, url, body) = (client.clone(), url.to_string(), body.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < until {
                    let t = Instant::now();
                    one(client.clone(), url.clone(), body.clone()).await;
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    all.sort();
    let rps = all.len() as f64 / RUN.as_secs_f64();
    (rps, all[all.len() / 2], all[all.len() * 99 / 100])
}

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let registry: Arc<dyn micro::registry::Registry> = Arc::new(micro::registry::MemoryRegistry::new());
        let _greeter = micro::Service::builder()
            .name(examples::greeter::SERVICE)
            .registry(registry.clone())
            .handler(examples::greeter::Greeter)
            .build()
            .unwrap()
            .start()
            .await
            .unwrap();
        let options = micro_api::Options { namespace: "go.micro.srv".into(), ..Default::default() };
        let gateway = serve(micro_api::router(micro::Client::new(registry.clone()), registry, options)).await;
        let echo = serve(axum::Router::new().route(
            "/echo",
            axum::routing::post(|body: axum::Json<serde_json::Value>| async move { axum::Json(serde_json::json!({"msg": format!("Hello {}", body["name"].as_str().unwrap_or(""))})) }),
        ))
        .await;

        let (base_rps, base_p50, base_p99) = measure(&format!("{echo}/echo")).await;
        let (rps, p50, p99) = measure(&format!("{gateway}/greeter/call")).await;
        println!("case                          conc   req/s      p50        p99        ratio");
        println!("axum JSON echo (baseline)     {CONCURRENCY:<6} {base_rps:<10.0} {base_p50:<10.2?} {base_p99:<10.2?} 1.00");
        println!("micro api rpc -> greeter      {CONCURRENCY:<6} {rps:<10.0} {p50:<10.2?} {p99:<10.2?} {:.2}", rps / base_rps);
    });
}
