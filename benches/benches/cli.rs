//! Whole-process time of the `micro` commands a person runs at the terminal — `list services`,
//! `get service`, `health`, `call` — with three services registered, on the default registry
//! (mDNS) and on etcd. The bench runs itself inside a private network namespace, so mDNS
//! multicast never leaves it.
//!
//! `cargo bench -p micro-benches --bench cli` (as root, for `unshare -n`).

use criterion::{criterion_group, criterion_main, Criterion};
use examples::greeter::{Greeter, SERVICE};
use micro::registry::{EtcdRegistry, MdnsRegistry, Registry};
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

/// Runs this bench again inside `unshare -n` (loopback up, multicast routed to it) and exits
/// with its status, unless it is in a private network namespace already.
fn into_private_network() {
    if micro::registry::network_is_private() {
        return;
    }
    let script = "ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo && exec \"$@\"";
    let status = Command::new("unshare")
        .args(["--net", "--", "sh", "-c", script, "sh"])
        .arg(std::env::current_exe().unwrap())
        .args(std::env::args().skip(1))
        .status()
        .unwrap_or_else(|e| panic!("unshare is needed (util-linux, iproute2; run as root): {e}"));
    std::process::exit(status.code().unwrap_or(1));
}

/// Three greeter-like services (the greeter under three names) on `registry`.
async fn three_services(registry: Arc<dyn Registry>) -> Vec<micro::service::RunningService> {
    let mut running = Vec::new();
    for name in [SERVICE, "go.micro.srv.second", "go.micro.srv.third"] {
        let service = micro::Service::builder()
            .flags(micro::Flags::default())
            .name(name)
            .registry(Arc::clone(&registry))
            .handler(Greeter)
            .build()
            .unwrap()
            .start()
            .await
            .unwrap();
        running.push(service);
    }
    running
}

fn group(c: &mut Criterion, name: &str, micro: &PathBuf, registry_flags: &[String]) {
    let run = |args: &[&str]| {
        let out = Command::new(micro)
            .args(registry_flags)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stdout.is_empty());
    };
    let mut group = c.benchmark_group(name);
    group.sample_size(20);
    group.bench_function("list_services", |b| b.iter(|| run(&["list", "services"])));
    group.bench_function("get_service", |b| {
        b.iter(|| run(&["get", "service", SERVICE]))
    });
    group.bench_function("health", |b| b.iter(|| run(&["health", SERVICE])));
    group.bench_function("call", |b| {
        b.iter(|| run(&["call", SERVICE, "Greeter.Call", r#"{"name":"John"}"#]))
    });
    group.finish();
}

fn cli(c: &mut Criterion) {
    into_private_network();
    let micro = micro_binary();
    let rt = tokio::runtime::Runtime::new().unwrap();

    let mdns: Arc<dyn Registry> = Arc::new(MdnsRegistry::new().unwrap());
    let services = rt.block_on(three_services(mdns));
    // Past the services' own announcements, as a user's terminal is.
    std::thread::sleep(std::time::Duration::from_secs(2));
    group(c, "micro_cli_mdns", &micro, &["--registry=mdns".into()]);
    for s in services {
        rt.block_on(s.stop()).unwrap();
    }

    let etcd = micro_tests::Etcd::start();
    let registry: Arc<dyn Registry> = Arc::new(EtcdRegistry::new([etcd.address()]));
    let services = rt.block_on(three_services(registry));
    let flags = [
        "--registry=etcd".to_string(),
        format!("--registry_address={}", etcd.address()),
    ];
    group(c, "micro_cli_etcd", &micro, &flags);
    for s in services {
        rt.block_on(s.stop()).unwrap();
    }
}

criterion_group!(benches, cli);
criterion_main!(benches);
