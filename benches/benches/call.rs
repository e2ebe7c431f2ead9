//! One call round trip in one process: micro client -> micro server over loopback, typed
//! (protobuf) and dynamic (JSON).

use criterion::{criterion_group, criterion_main, Criterion};
use examples::greeter::proto::{Request, Response};
use examples::greeter::{Greeter, SERVICE};
use micro::registry::MemoryRegistry;
use micro::{CallOptions, Client};
use std::sync::Arc;

fn calls(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let registry = Arc::new(MemoryRegistry::new());
    let service = rt.block_on(async {
        micro::Service::builder()
            .flags(micro::Flags::default())
            .name(SERVICE)
            .registry(registry.clone())
            .handler(Greeter)
            .build()
            .unwrap()
            .start()
            .await
            .unwrap()
    });
    let client = Client::new(registry);
    let request = Request {
        name: "John".into(),
    };
    c.bench_function("call/proto", |b| {
        b.to_async(&rt).iter(|| async {
            let _: Response = client
                .call(SERVICE, "Greeter.Call", &request, CallOptions::default())
                .await
                .unwrap();
        })
    });
    let json = serde_json::json!({"name": "John"});
    c.bench_function("call/json", |b| {
        b.to_async(&rt).iter(|| async {
            client
                .call_json(SERVICE, "Greeter.Call", &json, CallOptions::default())
                .await
                .unwrap();
        })
    });
    rt.block_on(service.stop()).unwrap();
}

criterion_group!(benches, calls);
criterion_main!(benches);
