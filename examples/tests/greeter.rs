//! The greeter and greeter-client binaries, as separate processes.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the child when dropped, so a failed test leaves nothing behind.
struct Guard(std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_listener(addr: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "greeter never listened on {addr}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn greeter_client_calls_greeter_across_processes_and_sigterm_stops_it() {
    let address = format!("127.0.0.1:{}", free_port());
    let mut greeter = Guard(
        Command::new(env!("CARGO_BIN_EXE_greeter"))
            .env("MICRO_SERVER_ADDRESS", &address)
            .env("MICRO_REGISTRY", "memory")
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_listener(&address);

    // It calls the address directly; the registry is named anyway, so that no default mDNS
    // starts outside a private network namespace.
    let out = Command::new(env!("CARGO_BIN_EXE_greeter-client"))
        .arg("John")
        .env("MICRO_SERVER_ADDRESS", &address)
        .env("MICRO_REGISTRY", "memory")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Hello John");

    let status = Command::new("kill")
        .args(["-TERM", &greeter.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(s) = greeter.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "greeter ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "greeter exited with {exit:?}");
}

#[test]
fn greeter_client_reports_a_service_it_cannot_find() {
    let out = Command::new(env!("CARGO_BIN_EXE_greeter-client"))
        .env("MICRO_REGISTRY", "memory")
        .env_remove("MICRO_SERVER_ADDRESS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("service go.micro.srv.greeter not found"),
        "{err}"
    );
}

#[test]
fn an_unknown_registry_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_greeter"))
        .env("MICRO_REGISTRY", "zookeeper")
        .env("MICRO_SERVER_ADDRESS", "127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Error: unknown registry \"zookeeper\" (this build knows: mdns, memory, etcd)\n"
    );
}

fn run_client(envs: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_greeter-client"));
    cmd.arg("John").env_remove("MICRO_SERVER_ADDRESS");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "greeter-client: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn spawn_greeter(envs: &[(&str, &str)]) -> Guard {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_greeter"));
    cmd.env_remove("MICRO_SERVER_ADDRESS").stderr(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    Guard(cmd.spawn().unwrap())
}

/// Retries the client until the greeter has registered (bounded).
fn call_until_found(envs: &[(&str, &str)]) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_greeter-client"));
        cmd.arg("John").env_remove("MICRO_SERVER_ADDRESS");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).trim().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "greeter never found: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn greeter_and_client_meet_through_etcd_with_no_fixed_address() {
    let etcd = micro_tests::Etcd::start();
    let envs = [
        ("MICRO_REGISTRY", "etcd"),
        ("MICRO_REGISTRY_ADDRESS", &etcd.address() as &str),
    ];
    let _greeter = spawn_greeter(&envs);
    assert_eq!(call_until_found(&envs), "Hello John");
    assert_eq!(run_client(&envs), "Hello John");
}

#[test]
fn greeter_and_client_meet_over_mdns_the_default_registry() {
    if !micro_tests::run_in_private_netns("greeter_and_client_meet_over_mdns_the_default_registry")
    {
        return;
    }
    let envs = [("MICRO_REGISTRY", "")];
    let _greeter = spawn_greeter(&envs);
    assert_eq!(call_until_found(&envs), "Hello John");
}

#[test]
fn mdns_refuses_to_start_outside_a_private_network_namespace_when_told_to() {
    if micro::registry::network_is_private() {
        eprintln!("inside a private network namespace already: nothing to refuse");
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_greeter"))
        .env("MICRO_REGISTRY", "mdns")
        .env(micro::registry::MDNS_REQUIRE_PRIVATE_NETWORK, "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing to start outside a private network namespace"),
        "{stderr}"
    );
}
