//! Streamed messages per second: `Greeter.Stream` with 10,000 replies, micro client and server
//! next to raw tonic client and server on the same proto, in one run.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use examples::greeter::proto::{StreamingRequest, StreamingResponse};
use examples::greeter::{Greeter, SERVICE};
use futures::StreamExt;
use micro::registry::MemoryRegistry;
use micro::{CallOptions, Client};
use micro_benches::raw;
use std::sync::Arc;

const COUNT: i64 = 10_000;

fn streams(c: &mut Criterion) {
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
    let raw_address = rt.block_on(micro_benches::serve_raw_greeter());
    let mut raw_client = rt.block_on(async {
        raw::greeter_client::GreeterClient::connect(format!("http://{raw_address}"))
            .await
            .unwrap()
    });

    let mut group = c.benchmark_group("stream_10k");
    group.throughput(Throughput::Elements(COUNT as u64));
    group.bench_function("raw_tonic", |b| {
        b.to_async(&rt).iter(|| {
            let mut raw_client = raw_client.clone();
            async move {
                let replies = raw_client
                    .stream(raw::StreamingRequest { count: COUNT })
                    .await
                    .unwrap()
                    .into_inner();
                assert_eq!(replies.count().await as i64, COUNT);
            }
        })
    });
    group.bench_function("micro_proto", |b| {
        b.to_async(&rt).iter(|| async {
            let replies = client
                .server_stream::<_, StreamingResponse>(
                    SERVICE,
                    "Greeter.Stream",
                    &StreamingRequest { count: COUNT },
                    CallOptions::default(),
                )
                .await
                .unwrap();
            assert_eq!(replies.count().await as i64, COUNT);
        })
    });
    group.bench_function("micro_json", |b| {
        b.to_async(&rt).iter(|| async {
            let request = futures::stream::once(async { serde_json::json!({"count": COUNT}) });
            let replies = client
                .stream_json(SERVICE, "Greeter.Stream", request, CallOptions::default())
                .await
                .unwrap();
            assert_eq!(replies.count().await as i64, COUNT);
        })
    });
    group.finish();
    let _ = &mut raw_client;
    rt.block_on(service.stop()).unwrap();
}

criterion_group!(benches, streams);
criterion_main!(benches);
