//! The dashboard's overview (`GET /` of `micro web`) with 1,000 registered services, in the
//! memory registry and in a real etcd behind the cache: the whole page rendered, as a browser
//! gets it (the target is under 100 ms).

use criterion::{criterion_group, criterion_main, Criterion};
use micro::registry::{MemoryRegistry, Node, RegisterOptions, Registry, Service};
use std::sync::Arc;
use tower::ServiceExt;

fn service(i: usize) -> Service {
    Service {
        name: format!("go.micro.srv.bench{i:04}"),
        version: "latest".into(),
        nodes: vec![Node {
            id: format!("node-{i}"),
            address: format!("127.0.0.1:{}", 10_000 + i),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// A terminal the overview never uses.
struct NoTerminal;

#[async_trait::async_trait]
impl micro_web::Terminal for NoTerminal {
    async fn run(&self, _line: &str) -> String {
        String::new()
    }
    async fn complete(&self, _line: &str) -> Vec<String> {
        Vec::new()
    }
}

fn overview(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let etcd = micro_tests::Etcd::start();
    let memory: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let etcd_registry = micro::registry::by_name("etcd", Some(&etcd.address())).unwrap();
    for registry in [&memory, &etcd_registry] {
        rt.block_on(async {
            for i in 0..1_000 {
                registry
                    .register(&service(i), RegisterOptions::default())
                    .await
                    .unwrap();
            }
        });
    }
    for (name, registry) in [("memory", memory), ("etcd", etcd_registry)] {
        let client = micro::Client::new(Arc::clone(&registry));
        let app = micro_web::router(
            client,
            registry,
            Arc::new(NoTerminal),
            micro_web::Options::default(),
        );
        let get = || async {
            let request = http::Request::get("/")
                .body(axum::body::Body::empty())
                .unwrap();
            let response = app.clone().oneshot(request).await.unwrap();
            assert!(response.status().is_success());
            let body = http_body_util::BodyExt::collect(response.into_body())
                .await
                .unwrap()
                .to_bytes();
            assert!(body.len() > 100_000, "{} bytes", body.len());
        };
        // The first render fills the cache; what is measured is every one after it.
        rt.block_on(get());
        c.bench_function(&format!("web_overview_1000/{name}"), |b| {
            b.to_async(&rt).iter(get)
        });
    }
}

criterion_group!(benches, overview);
criterion_main!(benches);
