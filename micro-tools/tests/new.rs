//! `micro new`: the generated service builds, passes its test, runs, and does the seed's
//! walkthrough with the real `micro` binary (list, get, call, publish, and the api gateway).

use micro_tests::{free_port, Child, Etcd};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn micro(envs: &[(&str, String)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_micro"))
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The generated crate builds in a target dir of its own under the workspace's `target/`, so
/// it never waits on the lock of the build running these tests.
fn cargo(dir: &Path, args: &[&str]) {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let status = Command::new(env!("CARGO"))
        .args(args)
        .arg("--offline")
        .env("CARGO_TARGET_DIR", workspace.join("target/micro-new"))
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success(), "cargo {args:?} in {}", dir.display());
}

#[test]
fn the_generated_service_does_the_seed_walkthrough() {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let tmp = std::env::temp_dir().join(format!("micro-new-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let dir = tmp.join("example");
    // The walkthrough runs on etcd here (mDNS would need a network namespace): compile it in.
    let out = text(&micro(
        &[],
        &[
            "new",
            dir.to_str().unwrap(),
            "--micro_path",
            workspace.to_str().unwrap(),
            "--plugin",
            "registry=etcd",
        ],
    ));
    for file in [
        "Cargo.toml",
        "build.rs",
        "Dockerfile",
        "README.md",
        ".gitignore",
        "proto/example.proto",
        "src/main.rs",
        "src/handler.rs",
        "src/subscriber.rs",
    ] {
        assert!(dir.join(file).exists(), "{file} written");
        assert!(out.contains(file), "{out}");
    }
    assert!(
        out.contains("cd ")
            && out.contains("cargo run")
            && out.contains("micro call go.micro.srv.example Example.Call")
    );
    let proto = std::fs::read_to_string(dir.join("proto/example.proto")).unwrap();
    assert!(proto.contains("package go.micro.srv.example;"));

    // Refusals: an existing directory, an invalid alias; nothing is written.
    let again = micro(&[], &["new", dir.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let bad = micro(&[], &["new", tmp.join("Bad-Name").to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).starts_with("invalid alias \"Bad-Name\""));
    assert!(!tmp.join("Bad-Name").exists());

    cargo(&dir, &["build"]);
    cargo(&dir, &["test"]);

    let etcd = Etcd::start();
    let envs = [
        ("MICRO_REGISTRY", "etcd".to_string()),
        ("MICRO_REGISTRY_ADDRESS", etcd.address()),
    ];
    let binary = workspace.join("target/micro-new/debug/example");
    // No MICRO_REGISTRY: `--plugin registry=etcd` made etcd the generated default.
    let mut service = Child(
        Command::new(&binary)
            .env_remove("MICRO_REGISTRY")
            .env("MICRO_REGISTRY_ADDRESS", etcd.address())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let listed = loop {
        let out = text(&micro(&envs, &["list", "services"]));
        if out.contains("go.micro.srv.example") && out.contains("topic:topic.go.micro.srv.example")
        {
            break out;
        }
        assert!(Instant::now() < deadline, "not registered: {out}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(listed.lines().any(|l| l == "go.micro.srv.example"));

    let described = text(&micro(&envs, &["get", "service", "go.micro.srv.example"]));
    for needle in [
        "Endpoint: Example.Call\nMetadata: stream=false",
        "Endpoint: Example.Stream\nMetadata: stream=true",
        "Endpoint: Example.PingPong\nMetadata: stream=true",
        "Endpoint: Func\nMetadata: subscriber=true,topic=topic.go.micro.srv.example\n\nRequest: {\n\tsay string\n}",
        "Endpoint: Example.Handle\nMetadata: subscriber=true,topic=topic.go.micro.srv.example",
    ] {
        assert!(described.contains(needle), "{needle:?} in\n{described}");
    }

    let called = text(&micro(
        &envs,
        &[
            "call",
            "go.micro.srv.example",
            "Example.Call",
            r#"{"name": "John"}"#,
        ],
    ));
    assert!(called.contains("\"msg\": \"Hello John\""), "{called}");

    assert_eq!(
        text(&micro(
            &envs,
            &["publish", "topic.go.micro.srv.example", r#"{"say":"hi"}"#]
        )),
        "ok\n"
    );
    let stdout = service.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("both subscribers print the message");
        if line.contains("received message") {
            seen.push(line);
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        ["Func received message: hi", "Handler received message: hi"]
    );

    // Through the gateway, as in the seed.
    let address = format!("127.0.0.1:{}", free_port());
    let _api = Child(
        Command::new(env!("CARGO_BIN_EXE_micro"))
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .env("MICRO_API_HANDLER", "rpc")
            .env("MICRO_API_NAMESPACE", "go.micro.srv")
            .args(["api", "--address", &address])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&address).is_err() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = Command::new("curl")
        .args([
            "-s",
            "-XPOST",
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"name": "John"}"#,
            &format!("http://{address}/example/call"),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        r#"{"msg":"Hello John"}"#
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
