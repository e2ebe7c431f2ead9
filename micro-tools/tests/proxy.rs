//! `micro proxy` (the real binary) with a stock grpcio client, curl, the example greeter client
//! under `MICRO_PROXY`, and a node killed under load; the services register in a real etcd.

use micro::CallOptions;
use micro_tests::{free_port, python_client, Child, Etcd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const GREETER: &str = "go.micro.srv.greeter";

struct Setup {
    etcd: Etcd,
    children: Vec<Child>,
}

impl Setup {
    fn new() -> Setup {
        Setup {
            etcd: Etcd::start(),
            children: Vec::new(),
        }
    }

    fn command(&self, binary: &str) -> Command {
        let path = if binary == "micro" {
            env!("CARGO_BIN_EXE_micro").into()
        } else {
            micro_tests::sibling_binary(env!("CARGO_BIN_EXE_micro"), binary)
        };
        let mut cmd = Command::new(path);
        cmd.env("MICRO_REGISTRY", "etcd")
            .env("MICRO_REGISTRY_ADDRESS", self.etcd.address())
            .env_remove("MICRO_SERVER_ADDRESS")
            .env_remove("MICRO_PROXY");
        cmd
    }

    /// Starts a greeter at `address`.
    fn greeter(&mut self, address: &str) {
        let mut cmd = self.command("greeter");
        cmd.env("MICRO_SERVER_ADDRESS", address)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.children.push(Child(cmd.spawn().unwrap()));
    }

    /// Starts `micro proxy`; returns its address once it listens.
    fn proxy(&mut self) -> String {
        self.proxy_with(&[])
    }

    /// Starts `micro proxy` with `flags`; returns its address once it listens.
    fn proxy_with(&mut self, flags: &[&str]) -> String {
        let address = format!("127.0.0.1:{}", free_port());
        let mut cmd = self.command("micro");
        // A MICRO_PROXY in the proxy's own environment is ignored.
        cmd.args(["proxy", "--address", &address])
            .args(flags)
            .env("MICRO_PROXY", &address)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.children.push(Child(cmd.spawn().unwrap()));
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&address).is_err() {
            assert!(Instant::now() < deadline, "micro proxy never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        address
    }

    /// The addresses registered for `service`, sorted.
    fn addresses(&self, service: &str) -> Vec<String> {
        let registry = micro::registry::EtcdRegistry::new([self.etcd.address()]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut nodes: Vec<String> = rt
            .block_on(micro::registry::Registry::get_service(&registry, service))
            .map(|v| {
                v.iter()
                    .flat_map(|s| s.nodes.iter().map(|n| n.address.clone()))
                    .collect()
            })
            .unwrap_or_default();
        nodes.sort();
        nodes
    }

    fn wait_registered(&self, service: &str, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.addresses(service).len() != count {
            assert!(
                Instant::now() < deadline,
                "{count} nodes of {service} register"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A gRPC frame: the 5-byte prefix and `message`.
fn frame(message: &[u8]) -> Vec<u8> {
    let mut out = vec![0];
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out
}

/// curl over h2c to `path` of the proxy with a JSON body; returns (headers and trailers, body).
fn curl_grpc_json(proxy: &str, path: &str, json: &str) -> (String, Vec<u8>) {
    let dir = std::env::temp_dir().join(format!("micro-proxy-curl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let body = dir.join(format!("body-{}", free_port()));
    std::fs::write(&body, frame(json.as_bytes())).unwrap();
    let out = Command::new("curl")
        .args(["-s", "-S", "--http2-prior-knowledge", "-D", "-", "-o"])
        .arg(dir.join("out"))
        .args([
            "-H",
            "content-type: application/grpc+json",
            "-H",
            "te: trailers",
        ])
        .arg("--data-binary")
        .arg(format!("@{}", body.display()))
        .arg(format!("http://{proxy}{path}"))
        .output()
        .expect("curl is needed: apt-get install -y curl");
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reply = std::fs::read(dir.join("out")).unwrap_or_default();
    (String::from_utf8_lossy(&out.stdout).to_lowercase(), reply)
}

#[test]
fn grpcio_and_curl_through_the_proxy() {
    let mut s = Setup::new();
    s.greeter(&format!("127.0.0.1:{}", free_port()));
    s.wait_registered(GREETER, 1);
    let proxy = s.proxy();

    // A stock grpcio client with stubs from greeter.proto, pointed at the proxy.
    let (ok, out, err) = python_client(&["greet", &proxy, "John"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "Hello John");
    let (ok, out, err) = python_client(&["stream", &proxy, "4"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "0 1 2 3");

    // curl, in grpc+json: the frames go through undecoded, the content type kept.
    let (head, reply) = curl_grpc_json(
        &proxy,
        "/go.micro.srv.greeter.Greeter/Call",
        r#"{"name":"Json"}"#,
    );
    assert!(
        head.contains("content-type: application/grpc+json"),
        "{head}"
    );
    assert!(head.contains("grpc-status: 0"), "{head}");
    assert_eq!(&reply[5..], br#"{"msg":"Hello Json"}"#);

    // A malformed path, an unknown service: precise statuses, and the proxy serves on.
    let (head, _) = curl_grpc_json(&proxy, "/nonsense", "{}");
    assert!(head.contains("grpc-status: 3"), "{head}");
    assert!(head.contains("malformed%20grpc%20path"), "{head}");
    let (head, _) = curl_grpc_json(&proxy, "/go.micro.srv.nope.Foo/Bar", "{}");
    assert!(head.contains("grpc-status: 5"), "{head}");
    assert!(
        head.contains("service%20go.micro.srv.nope%20not%20found"),
        "{head}"
    );
    let (ok, out, err) = python_client(&["greet", &proxy, "again"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "Hello again");
}

#[test]
fn micro_proxy_in_the_clients_environment() {
    let mut s = Setup::new();
    s.greeter(&format!("127.0.0.1:{}", free_port()));
    s.wait_registered(GREETER, 1);
    let proxy = s.proxy();
    s.wait_registered(micro::client::PROXY_SERVICE, 1);

    // host:port: the client's own registry (memory, empty) knows no greeter at all.
    let out = s
        .command("greeter-client")
        .env("MICRO_REGISTRY", "memory")
        .env("MICRO_PROXY", &proxy)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Hello John");
    let out = s
        .command("greeter-client")
        .env("MICRO_REGISTRY", "memory")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "without MICRO_PROXY the greeter is not found"
    );

    // A service name: the client finds the proxy in its registry (another etcd, which has the
    // proxy and nothing else), and the proxy finds the greeter in its own.
    let other = Etcd::start();
    let registry = micro::registry::EtcdRegistry::new([other.address()]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let record = micro::registry::Service {
        name: micro::client::PROXY_SERVICE.into(),
        version: "latest".into(),
        nodes: vec![micro::registry::Node {
            id: "go.micro.proxy-test".into(),
            address: proxy.clone(),
            metadata: Default::default(),
        }],
        ..Default::default()
    };
    rt.block_on(micro::registry::Registry::register(
        &registry,
        &record,
        Default::default(),
    ))
    .unwrap();
    for via in ["go.micro.proxy", "service"] {
        let out = s
            .command("greeter-client")
            .env("MICRO_REGISTRY_ADDRESS", other.address())
            .env("MICRO_PROXY", via)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{via}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Hello John");
    }

    // The CLI honours it too.
    let out = s
        .command("micro")
        .env("MICRO_REGISTRY", "memory")
        .env("MICRO_PROXY", &proxy)
        .args(["call", GREETER, "Greeter.Call", r#"{"name": "cli"}"#])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Hello cli"));
}

#[test]
fn a_node_killed_under_load_behind_the_proxy() {
    use std::os::unix::process::ExitStatusExt;
    let mut s = Setup::new();
    let dead = format!("127.0.0.1:{}", free_port());
    let live = format!("127.0.0.1:{}", free_port());
    s.greeter(&dead);
    s.greeter(&live);
    s.wait_registered(GREETER, 2);
    let proxy = s.proxy();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // The caller knows only the proxy, and makes no retries of its own through it.
    let client = micro::Client::builder()
        .registry(std::sync::Arc::new(micro::registry::MemoryRegistry::new()))
        .proxy(micro::client::Via::Address(proxy.clone()))
        .build();
    let call = |client: micro::Client, name: String| async move {
        client
            .call_json(
                GREETER,
                "Greeter.Call",
                &serde_json::json!({ "name": name }),
                CallOptions::default(),
            )
            .await
    };
    // Both nodes served before the kill.
    for i in 0..4 {
        rt.block_on(call(client.clone(), format!("warm {i}")))
            .unwrap();
    }

    let mut first = s.children.remove(0);
    let load = rt.spawn({
        let client = client.clone();
        async move {
            let mut calls = tokio::task::JoinSet::new();
            for i in 0..400 {
                calls.spawn(call(client.clone(), format!("load {i}")));
                if i % 50 == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            let mut failed = Vec::new();
            while let Some(done) = calls.join_next().await {
                if let Err(e) = done.unwrap() {
                    failed.push(e);
                }
            }
            failed
        }
    });
    std::thread::sleep(Duration::from_millis(20));
    first.0.kill().unwrap();
    let status = first.0.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "the first greeter was killed");
    let failed = rt.block_on(load).unwrap();
    assert!(
        failed.is_empty(),
        "{} of 400 calls failed: {:?}",
        failed.len(),
        failed.iter().take(3).collect::<Vec<_>>()
    );
    // SIGKILL skipped deregistration: the dead node is still offered, and still avoided.
    assert_eq!(s.addresses(GREETER).len(), 2);
    for i in 0..20 {
        rt.block_on(call(client.clone(), format!("after {i}")))
            .unwrap();
    }
}

#[test]
fn grpc_over_tls_to_the_proxy() {
    let mut s = Setup::new();
    s.greeter(&format!("127.0.0.1:{}", free_port()));
    s.wait_registered(GREETER, 1);
    let dir = std::env::temp_dir().join(format!("micro-proxy-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    micro_tests::make_certificates(&dir);
    let (cert, key) = (dir.join("server.pem"), dir.join("server.key"));
    let proxy = s.proxy_with(&[
        "--enable_tls",
        "--tls_cert_file",
        cert.to_str().unwrap(),
        "--tls_key_file",
        key.to_str().unwrap(),
    ]);
    let greet = |ca: Option<&std::path::Path>| {
        let mut cmd = Command::new(micro_tests::python());
        cmd.arg(micro_tests::workspace_root().join("tests/python/grpc_client.py"))
            .args(["greet", &proxy, "TLS"]);
        match ca {
            Some(ca) => cmd.env("MICRO_TEST_TLS_CA", ca),
            None => cmd.env_remove("MICRO_TEST_TLS_CA"),
        };
        cmd.output().unwrap()
    };
    // grpcio over TLS, trusting the test CA only: the greeter answers through the proxy.
    let out = greet(Some(&dir.join("ca.pem")));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Hello TLS");
    // In plaintext the proxy does not answer: it really is TLS.
    let out = greet(None);
    assert!(
        !out.status.success(),
        "a plaintext call to a TLS proxy failed"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
