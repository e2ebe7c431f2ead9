//! TLS between real processes, set up only through the environment: the example greeter serves
//! TLS from `MICRO_SERVER_TLS_*` and registers `secure=true` in a real etcd; the real `micro`
//! binary (`micro call`, `micro api`) reaches it with `MICRO_CLIENT_TLS_CA`, or with the
//! registry's word and the system's roots (`SSL_CERT_FILE`), and is refused by anything else.

use micro_tests::{free_port, Child, Etcd, Pki};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const GREETER: &str = "go.micro.srv.greeter";

/// `micro` with the etcd registry and only the `extra` TLS settings.
fn micro(etcd: &Etcd, extra: &[(&str, &Path)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_micro"));
    cmd.args(args)
        .env("MICRO_REGISTRY", "etcd")
        .env("MICRO_REGISTRY_ADDRESS", etcd.address())
        .env_remove("MICRO_PROXY")
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR");
    for var in [
        "MICRO_CLIENT_TLS_CA",
        "MICRO_CLIENT_TLS_CERT",
        "MICRO_CLIENT_TLS_KEY",
        "MICRO_CLIENT_TLS_SERVER_NAME",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn call(etcd: &Etcd, extra: &[(&str, &Path)]) -> Output {
    micro(
        etcd,
        extra,
        &["call", GREETER, "Greeter.Call", r#"{"name": "John"}"#],
    )
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The greeter's registered nodes' metadata, once it has registered.
fn registered_metadata(etcd: &Etcd) -> std::collections::BTreeMap<String, String> {
    let registry = micro::registry::EtcdRegistry::new([etcd.address()]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = rt
            .block_on(micro::registry::Registry::get_service(&registry, GREETER))
            .unwrap_or_default();
        if let Some(node) = found.iter().flat_map(|s| s.nodes.iter()).next() {
            return node.metadata.clone().into_iter().collect();
        }
        assert!(Instant::now() < deadline, "the greeter never registered");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The call succeeded and the greeter answered it.
fn assert_greeted(out: &std::process::Output) {
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Hello John"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn services_and_tools_speak_tls_from_their_environment() {
    let etcd = Etcd::start();
    let dir: PathBuf = std::env::temp_dir().join(format!("micro-tools-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pki = Pki::new(&dir, "test");
    let other = Pki::new(&dir, "other");
    let san = format!("DNS:{GREETER}");
    let (cert, key) = pki.server("greeter", &[san.as_str()]);

    let mut greeter = Command::new(micro_tests::sibling_binary(
        env!("CARGO_BIN_EXE_micro"),
        "greeter",
    ));
    greeter
        .env("MICRO_REGISTRY", "etcd")
        .env("MICRO_REGISTRY_ADDRESS", etcd.address())
        .env("MICRO_SERVER_ADDRESS", format!("127.0.0.1:{}", free_port()))
        .env("MICRO_SERVER_TLS_CERT", &cert)
        .env("MICRO_SERVER_TLS_KEY", &key)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _greeter = Child(greeter.spawn().unwrap());

    // The node says it serves TLS.
    let metadata = registered_metadata(&etcd);
    assert_eq!(
        metadata.get("secure").map(String::as_str),
        Some("true"),
        "{metadata:?}"
    );

    // Trusting the test CA by setting.
    let ca = pki.ca();
    let out = call(&etcd, &[("MICRO_CLIENT_TLS_CA", &ca)]);
    assert_greeted(&out);

    // No client setting at all: the registry says secure, the system's roots (here the test CA,
    // through SSL_CERT_FILE) vouch for the certificate.
    let out = call(&etcd, &[("SSL_CERT_FILE", &ca)]);
    assert_greeted(&out);

    // Roots that do not vouch for it: refused, and told why.
    let out = call(&etcd, &[("SSL_CERT_FILE", &other.ca())]);
    assert!(!out.status.success(), "an unknown issuer was trusted");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");

    // The gateway is a client like the others.
    let api = format!("127.0.0.1:{}", free_port());
    let mut gateway = Command::new(env!("CARGO_BIN_EXE_micro"));
    gateway
        .args(["api", "--address", &api])
        .env("MICRO_REGISTRY", "etcd")
        .env("MICRO_REGISTRY_ADDRESS", etcd.address())
        .env("MICRO_API_HANDLER", "rpc")
        .env("MICRO_API_NAMESPACE", "go.micro.srv")
        .env("MICRO_CLIENT_TLS_CA", &ca)
        .env_remove("MICRO_PROXY")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _gateway = Child(gateway.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&api).is_err() {
        assert!(Instant::now() < deadline, "micro api never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = Command::new("curl")
        .args(["-s", "-XPOST", "-H", "Content-Type: application/json"])
        .args(["-d", r#"{"name": "John"}"#])
        .arg(format!("http://{api}/greeter/call"))
        .output()
        .expect("curl is needed: apt-get install -y curl");
    assert_eq!(text(&out.stdout), r#"{"msg":"Hello John"}"#);

    let _ = std::fs::remove_dir_all(&dir);
}
