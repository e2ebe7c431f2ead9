//! Whole-process time of `micro list services` and `micro call` (etcd registry, a running
//! greeter): what a person waits for at the terminal.

use criterion::{criterion_group, criterion_main, Criterion};
use examples::greeter::{Greeter, SERVICE};
use micro::registry::EtcdRegistry;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

/// The release `micro` binary, built here if needed.
fn micro_binary() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "-p", "micro-tools", "--bin", "micro"])
        .current_dir(&root)
        .status()
        .unwrap();
    assert!(status.success(), "building micro");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    target.join("release/micro")
}

fn cli(c: &mut Criterion) {
    let micro = micro_binary();
    let etcd = micro_tests::Etcd::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let registry = Arc::new(EtcdRegistry::new([etcd.address()]));
    let service = rt.block_on(async {
        micro::Service::builder()
            .flags(micro::Flags::default())
            .name(SERVICE)
            .registry(registry)
            .handler(Greeter)
            .build()
            .unwrap()
            .start()
            .await
            .unwrap()
    });
    let run = |args: &[&str]| {
        let out = Command::new(&micro)
            .args(["--registry", "etcd", "--registry_address", &etcd.address()])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let mut group = c.benchmark_group("micro_cli_process");
    group.sample_size(20);
    group.bench_function("list_services", |b| b.iter(|| run(&["list", "services"])));
    group.bench_function("call", |b| {
        b.iter(|| run(&["call", SERVICE, "Greeter.Call", r#"{"name":"John"}"#]))
    });
    group.finish();
    rt.block_on(service.stop()).unwrap();
}

criterion_group!(benches, cli);
criterion_main!(benches);
