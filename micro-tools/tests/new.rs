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
    // Output captured, shown on failure: the inner `cargo test`'s result lines must not mix
    // with the workspace's own in scripts/test's count.
    let out = Command::new(env!("CARGO"))
        .args(args)
        .arg("--offline")
        .env("CARGO_TARGET_DIR", workspace.join("target/micro-new"))
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo {args:?} in {}:\n{}\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Its own tests ran and passed (a crate whose tests vanished would pass with 0).
    if args[0] == "test" {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("test result: ok. 1 passed"), "{stdout}");
    }
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
    // The walkthrough runs on etcd here (mDNS would need a network namespace); a generated
    // service takes it with no plugin chosen, as the seed's `MICRO_REGISTRY=etcd` does.
    let out = text(&micro(
        &[],
        &[
            "new",
            dir.to_str().unwrap(),
            "--micro_path",
            workspace.to_str().unwrap(),
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

    let binary = build_and_test(&dir);

    let etcd = Etcd::start();
    let envs = [
        ("MICRO_REGISTRY", "etcd".to_string()),
        ("MICRO_REGISTRY_ADDRESS", etcd.address()),
    ];
    let mut service = Child(
        Command::new(&binary)
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
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

    // The other types, each called as its README says; the service above is their backend.
    function_type(&tmp, &workspace, &etcd);
    api_type(&tmp, &workspace, &etcd);
    web_type(&tmp, &workspace, &etcd);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Builds the generated crate in `dir` and runs its tests; returns a copy of its binary (every
/// type's alias is `example`, so the shared target dir holds one binary of that name at a time).
fn build_and_test(dir: &Path) -> PathBuf {
    cargo(dir, &["build"]);
    cargo(dir, &["test"]);
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let copy = dir.join("example-bin");
    std::fs::copy(workspace.join("target/micro-new/debug/example"), &copy).unwrap();
    copy
}

/// `micro new --type=TYPE` of alias `example` under `tmp/TYPE`, with `extra` flags.
fn generate(tmp: &Path, workspace: &Path, kind: &str, extra: &[&str]) -> PathBuf {
    let dir = tmp.join(kind).join("example");
    let mut args = vec![
        "new",
        dir.to_str().unwrap(),
        "--type",
        kind,
        "--micro_path",
        workspace.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = text(&micro(&[], &args));
    assert!(out.starts_with(&format!("creating {kind} ")), "{out}");
    dir
}

/// Starts `micro api` with `handler` and `namespace` on etcd; returns it and its address.
fn gateway(etcd: &Etcd, handler: &str, namespace: &str) -> (Child, String) {
    let address = format!("127.0.0.1:{}", free_port());
    let api = Child(
        Command::new(env!("CARGO_BIN_EXE_micro"))
            .args(["--registry=etcd", "--registry_address", &etcd.address()])
            .args(["api", "--address", &address, "--handler", handler])
            .args(["--namespace", namespace])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&address).is_err() {
        assert!(Instant::now() < deadline, "micro api did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    (api, address)
}

/// GETs `url` with curl, retrying while the gateway does not route to the service yet (its
/// registry has not caught up) until `done` holds of the body; returns the last body.
fn get_when_routed(url: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = Command::new("curl").args(["-s", url]).output().unwrap();
        let body = String::from_utf8_lossy(&out.stdout).into_owned();
        if done(&body) || Instant::now() > deadline {
            return body;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A function: registers, serves one call, deregisters and exits 0. `--plugin registry=etcd`
/// makes etcd its default, so it runs with only the address given.
fn function_type(tmp: &Path, workspace: &Path, etcd: &Etcd) {
    let dir = generate(tmp, workspace, "function", &["--plugin", "registry=etcd"]);
    let binary = build_and_test(&dir);
    let mut function = Child(
        Command::new(&binary)
            .env_remove("MICRO_REGISTRY")
            .env("MICRO_REGISTRY_ADDRESS", etcd.address())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let envs = [
        ("MICRO_REGISTRY", "etcd".to_string()),
        ("MICRO_REGISTRY_ADDRESS", etcd.address()),
    ];
    let deadline = Instant::now() + Duration::from_secs(30);
    while !text(&micro(&envs, &["list", "services"])).contains("go.micro.fnc.example") {
        assert!(Instant::now() < deadline, "the function never registered");
        std::thread::sleep(Duration::from_millis(100));
    }
    let called = text(&micro(
        &envs,
        &[
            "call",
            "go.micro.fnc.example",
            "Example.Call",
            r#"{"name": "John"}"#,
        ],
    ));
    assert!(called.contains("\"msg\": \"Hello John\""), "{called}");
    let status = function.wait_for_exit(Duration::from_secs(20));
    assert!(
        status.success(),
        "the function exits 0 after its call: {status:?}"
    );
    assert!(!text(&micro(&envs, &["list", "services"])).contains("go.micro.fnc.example"));
}

/// An API service behind `micro api --handler=api`, calling the service as its backend; it
/// takes the registry from its flags.
fn api_type(tmp: &Path, workspace: &Path, etcd: &Etcd) {
    let dir = generate(tmp, workspace, "api", &[]);
    let binary = build_and_test(&dir);
    let _api_service = Child(
        Command::new(&binary)
            .env_remove("MICRO_REGISTRY")
            .args(["--registry", "etcd", "--registry_address", &etcd.address()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (_gateway, address) = gateway(etcd, "api", "go.micro.api");
    let expected = r#"{"msg":"Hello John"}"#;
    let body = get_when_routed(&format!("http://{address}/example/call?name=John"), |b| {
        b == expected
    });
    assert_eq!(body, expected);
}

/// A web service behind `micro api --handler=web`; its page and its call to the backend.
fn web_type(tmp: &Path, workspace: &Path, etcd: &Etcd) {
    let dir = generate(tmp, workspace, "web", &[]);
    let binary = build_and_test(&dir);
    let _web = Child(
        Command::new(&binary)
            .env_remove("MICRO_REGISTRY")
            .args([
                "--registry=etcd",
                &format!("--registry_address={}", etcd.address()),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (_gateway, address) = gateway(etcd, "web", "go.micro.web");
    let expected = r#"{"msg":"Hello John"}"#;
    let body = get_when_routed(&format!("http://{address}/example/call?name=John"), |b| {
        b == expected
    });
    assert_eq!(body, expected);
    let page = get_when_routed(&format!("http://{address}/example/"), |b| {
        b.contains("<h1>")
    });
    assert!(page.contains("<h1>Example</h1>"), "{page}");
}
