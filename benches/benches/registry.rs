//! Registry costs: a selector lookup through the cache (what every call pays), and
//! `list_services` with 1,000 services in the memory registry and in a real etcd.

use criterion::{criterion_group, criterion_main, Criterion};
use micro::registry::{MemoryRegistry, Node, RegisterOptions, Registry, Service};
use micro::selector::{RegistrySelector, SelectOptions, Selector};
use std::sync::Arc;

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

async fn fill(registry: &dyn Registry, n: usize) {
    for i in 0..n {
        registry
            .register(&service(i), RegisterOptions::default())
            .await
            .unwrap();
    }
}

fn registries(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let etcd = micro_tests::Etcd::start();
    let memory: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    // As services get it from `--registry=etcd`: behind the cache.
    let etcd_registry = micro::registry::by_name("etcd", Some(&etcd.address())).unwrap();
    rt.block_on(fill(memory.as_ref(), 1_000));
    rt.block_on(fill(etcd_registry.as_ref(), 1_000));

    for (name, registry) in [("memory", &memory), ("etcd", &etcd_registry)] {
        let selector = RegistrySelector::new(Arc::clone(registry));
        let opts = SelectOptions::default();
        rt.block_on(selector.select("go.micro.srv.bench0001", &opts))
            .unwrap();
        c.bench_function(&format!("select/{name}"), |b| {
            b.to_async(&rt).iter(|| async {
                selector
                    .select("go.micro.srv.bench0001", &opts)
                    .await
                    .unwrap()
            })
        });
        c.bench_function(&format!("list_services_1000/{name}"), |b| {
            b.to_async(&rt)
                .iter(|| async { assert_eq!(registry.list_services().await.unwrap().len(), 1_000) })
        });
    }
}

criterion_group!(benches, registries);
criterion_main!(benches);
