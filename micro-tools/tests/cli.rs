//! The real `micro` binary against real greeter and pubsub example processes, with etcd and with
//! mDNS (inside a private network namespace).

use micro_tests::{free_port, run_in_private_netns, Child, Etcd, Nats};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// An example binary next to `micro`, built first if a lone `cargo test -p micro-tools` has not.
fn example(name: &str) -> PathBuf {
    micro_tests::sibling_binary(env!("CARGO_BIN_EXE_micro"), name)
}

fn micro(envs: &[(&str, String)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_micro"));
    cmd.args(args)
        .env_remove("MICRO_REGISTRY")
        .env_remove("MICRO_REGISTRY_ADDRESS")
        .env_remove("MICRO_BROKER");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

fn spawn(name: &str, envs: &[(&str, String)], out: Stdio) -> Child {
    let mut cmd = Command::new(example(name));
    cmd.env_remove("MICRO_SERVER_ADDRESS")
        .stdout(out)
        .stderr(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    Child(cmd.spawn().unwrap())
}

/// Every command against a greeter and a pubsub subscriber that use the registry `envs` names.
fn exercise(envs: &[(&str, String)], lasting_registry: bool) {
    let _greeter = spawn("greeter", envs, Stdio::null());
    let mut subscriber = spawn("pubsub-subscriber", envs, Stdio::piped());

    // list services: wait (bounded) until both registered.
    let deadline = Instant::now() + Duration::from_secs(30);
    let listed = loop {
        let out = ok(micro(envs, &["list", "services"]));
        if out.contains("go.micro.srv.greeter") && out.contains("topic:go.micro.topic.events") {
            break out;
        }
        assert!(Instant::now() < deadline, "services never listed: {out}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let names: Vec<&str> = listed.lines().collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "sorted, one a line");
    assert!(names.contains(&"go.micro.srv.subscriber"));

    // get service: the seed's layout, line by line.
    let text = ok(micro(envs, &["get", "service", "go.micro.srv.greeter"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..5],
        [
            "service  go.micro.srv.greeter",
            "",
            "version latest",
            "",
            "ID\tAddress\tPort\tMetadata"
        ]
    );
    let node: Vec<&str> = lines[5].split('\t').collect();
    assert!(
        node[0].starts_with("go.micro.srv.greeter-")
            && node[1] == "127.0.0.1"
            && node[2].parse::<u16>().is_ok(),
        "{}",
        lines[5]
    );
    assert!(node[3].contains("server=grpc"), "{}", lines[5]);
    let call_block = [
        "",
        "Endpoint: Greeter.Call",
        "Metadata: stream=false",
        "",
        "Request: {",
        "\tname string",
        "}",
        "",
        "Response: {",
        "\tmsg string",
        "}",
    ];
    assert_eq!(lines[6..17], call_block, "{text}");
    assert!(
        text.contains(
            "Endpoint: Greeter.Stream\nMetadata: stream=true\n\nRequest: {\n\tcount int64\n}"
        ),
        "{text}"
    );

    // call, in both output forms, with metadata, address and timeout.
    let reply = ok(micro(
        envs,
        &[
            "call",
            "go.micro.srv.greeter",
            "Greeter.Call",
            r#"{"name": "John"}"#,
        ],
    ));
    assert_eq!(reply, "{\n\t\"msg\": \"Hello John\"\n}\n");
    let raw = ok(micro(
        envs,
        &[
            "call",
            "--output",
            "raw",
            "--metadata",
            "user=john",
            "--timeout",
            "2s",
            "go.micro.srv.greeter",
            "Greeter.Call",
            r#"{"name":"J"}"#,
        ],
    ));
    assert_eq!(raw, "{\"msg\":\"Hello J\"}\n");
    let address = format!("{}:{}", node[1], node[2]);
    let pinned = ok(micro(
        envs,
        &[
            "call",
            "--address",
            &address,
            "go.micro.srv.greeter",
            "Greeter.Call",
            r#"{"name":"P"}"#,
        ],
    ));
    assert!(pinned.contains("Hello P"));

    // stream: server stream, then requests from stdin.
    let streamed = ok(micro(
        envs,
        &[
            "stream",
            "go.micro.srv.greeter",
            "Greeter.Stream",
            r#"{"count": 3}"#,
        ],
    ));
    assert_eq!(
        streamed,
        "{}\n{\n\t\"count\": \"1\"\n}\n{\n\t\"count\": \"2\"\n}\n"
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_micro"));
    cmd.args([
        "stream",
        "--stdin",
        "go.micro.srv.greeter",
        "Greeter.PingPong",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        b"{\"stroke\": 1}\n{\"stroke\": 2}\n",
    )
    .unwrap();
    drop(child.stdin.take());
    let pongs = ok(child.wait_with_output().unwrap());
    assert_eq!(
        pongs,
        "{\n\t\"stroke\": \"1\"\n}\n{\n\t\"stroke\": \"2\"\n}\n"
    );

    // publish: the subscriber process prints the event.
    let published = ok(micro(
        envs,
        &[
            "publish",
            "go.micro.topic.events",
            r#"{"id": "cli-1", "message": "from the cli"}"#,
        ],
    ));
    assert_eq!(published, "ok\n");
    let printed = first_line(&mut subscriber, Duration::from_secs(10));
    assert_eq!(printed, "received cli-1 from ?: from the cli");

    // health and stats of every node.
    let health = ok(micro(envs, &["health", "go.micro.srv.greeter"]));
    assert!(
        health.trim_end().ends_with(&format!("  {address}  ok")),
        "{health}"
    );
    let stats = ok(micro(envs, &["stats", "go.micro.srv.greeter"]));
    let rows: Vec<&str> = stats.lines().collect();
    assert_eq!(
        rows[0],
        "node\taddress\tstarted\tuptime\tmemory\tthreads\trequests\terrors"
    );
    assert!(
        rows[1].contains(&address) && rows[1].contains(" UTC\t"),
        "{stats}"
    );

    // register / deregister a record by hand. An mDNS record lives as long as the process that
    // announces it, so only a lasting registry (etcd) still lists it after `micro` exits.
    let record = r#"{"name":"go.micro.srv.manual","version":"1.0","nodes":[{"id":"manual-1","address":"127.0.0.1:9","metadata":{}}]}"#;
    assert_eq!(ok(micro(envs, &["register", "service", record])), "ok\n");
    if !lasting_registry {
        assert_eq!(ok(micro(envs, &["deregister", "service", record])), "ok\n");
        errors(envs);
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok(micro(envs, &["list", "services"])).contains("go.micro.srv.manual") {
        assert!(Instant::now() < deadline, "the registered record is listed");
    }
    assert_eq!(ok(micro(envs, &["deregister", "service", record])), "ok\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    while ok(micro(envs, &["list", "services"])).contains("go.micro.srv.manual") {
        assert!(
            Instant::now() < deadline,
            "the deregistered record leaves the list"
        );
    }
    errors(envs);
}

/// Every error case, with its exit code.
fn errors(envs: &[(&str, String)]) {
    let unknown = micro(envs, &["frobnicate"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).starts_with("error: unrecognized subcommand 'frobnicate'"),
        "{}",
        stderr(&unknown)
    );
    assert!(
        stderr(&unknown).contains("Usage: micro"),
        "{}",
        stderr(&unknown)
    );

    let bad_args = micro(envs, &["call", "go.micro.srv.greeter"]);
    assert_eq!(bad_args.status.code(), Some(2));
    assert!(
        stderr(&bad_args).contains("Usage: micro call"),
        "{}",
        stderr(&bad_args)
    );

    let missing = micro(envs, &["call", "go.micro.srv.nobody", "X.Y", "{}"]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        stderr(&missing),
        "error calling go.micro.srv.nobody.X.Y: service not found\n"
    );
    let missing = micro(envs, &["get", "service", "go.micro.srv.nobody"]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(stderr(&missing), "service not found: go.micro.srv.nobody\n");

    let invalid = micro(
        envs,
        &[
            "call",
            "go.micro.srv.greeter",
            "Greeter.Call",
            r#"{"name": }"#,
        ],
    );
    assert_eq!(invalid.status.code(), Some(1));
    assert_eq!(
        stderr(&invalid),
        "invalid JSON in the request: expected value at line 1 column 10\n"
    );
    assert!(stdout(&invalid).is_empty());
    let invalid = micro(envs, &["publish", "go.micro.topic.events", "nope"]);
    assert_eq!(invalid.status.code(), Some(1));
    assert!(
        stderr(&invalid)
            .starts_with("invalid JSON in the message: expected ident at line 1 column 2"),
        "{}",
        stderr(&invalid)
    );
}

fn first_line(child: &mut Child, limit: Duration) -> String {
    use std::io::BufRead;
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line.trim_end().to_string());
    });
    rx.recv_timeout(limit)
        .expect("the subscriber printed nothing")
}

#[test]
fn every_command_with_etcd() {
    let etcd = Etcd::start();
    exercise(
        &[
            ("MICRO_REGISTRY", "etcd".into()),
            ("MICRO_REGISTRY_ADDRESS", etcd.address()),
        ],
        true,
    );
}

#[test]
fn every_command_with_mdns() {
    if !run_in_private_netns("every_command_with_mdns") {
        return;
    }
    exercise(&[("MICRO_REGISTRY", "mdns".into())], false);
}

#[test]
fn flags_and_env_name_the_registry_alike() {
    let etcd = Etcd::start();
    let envs = [
        ("MICRO_REGISTRY", "etcd".to_string()),
        ("MICRO_REGISTRY_ADDRESS", etcd.address()),
    ];
    let _greeter = spawn("greeter", &envs, Stdio::null());
    let address = etcd.address();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let by_flag = stdout(&micro(
            &[],
            &[
                "--registry=etcd",
                &format!("--registry_address={address}"),
                "list",
                "services",
            ],
        ));
        let by_kebab = stdout(&micro(
            &[],
            &[
                "list",
                "services",
                "--registry",
                "etcd",
                "--registry-address",
                &address,
            ],
        ));
        let by_env = stdout(&micro(&envs, &["list", "services"]));
        if by_flag.contains("go.micro.srv.greeter") {
            assert_eq!(by_flag, by_env);
            assert_eq!(by_flag, by_kebab);
            break;
        }
        assert!(Instant::now() < deadline, "the greeter never registered");
        std::thread::sleep(Duration::from_millis(100));
    }
    let version = ok(micro(&[], &["--version"]));
    assert_eq!(version, format!("micro {}\n", env!("CARGO_PKG_VERSION")));
    let help = ok(micro(&[], &["help", "call"]));
    assert!(
        help.contains("micro call go.micro.srv.greeter Greeter.Call"),
        "{help}"
    );
}

#[test]
fn the_interactive_shell_through_a_pty() {
    let etcd = Etcd::start();
    let envs = [
        ("MICRO_REGISTRY", "etcd".to_string()),
        ("MICRO_REGISTRY_ADDRESS", etcd.address()),
    ];
    let _greeter = spawn("greeter", &envs, Stdio::null());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !stdout(&micro(&envs, &["list", "services"])).contains("go.micro.srv.greeter") {
        assert!(Instant::now() < deadline, "the greeter never registered");
        std::thread::sleep(Duration::from_millis(100));
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/shell.py");
    let out = Command::new(micro_tests::python())
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_micro"))
        .env("MICRO_REGISTRY", "etcd")
        .env("MICRO_REGISTRY_ADDRESS", etcd.address())
        .env("HOME", std::env::temp_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert_eq!(stdout(&out).trim(), "shell ok");
}

/// Polls `micro list services` on `envs` until `name` is listed.
fn wait_listed(envs: &[(&str, String)], name: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !stdout(&micro(envs, &["list", "services"])).contains(name) {
        assert!(Instant::now() < deadline, "{name} never registered");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_service_takes_go_micros_flags_over_the_environment() {
    let etcd = Etcd::start();
    let help = Command::new(example("greeter"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success(), "{}", stderr(&help));
    for flag in [
        "--registry ",
        "--registry_address",
        "--broker ",
        "--broker_address",
        "--server_address",
        "--server_name",
        "--server_version",
        "--register_ttl",
        "--register_interval",
        "MICRO_REGISTRY_ADDRESS",
    ] {
        assert!(
            stdout(&help).contains(flag),
            "--help lists {flag}:\n{}",
            stdout(&help)
        );
    }
    let bad = Command::new(example("greeter"))
        .arg("--registy=etcd")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("unexpected argument '--registy'"),
        "{}",
        stderr(&bad)
    );

    // The environment names the in-process registry, which nobody else can see: only the
    // flags make the greeter findable on etcd, on the port they give.
    let port = free_port();
    let greeter = Command::new(example("greeter"))
        .args([
            "--registry=etcd",
            &format!("--registry_address={}", etcd.address()),
            &format!("--server_address=127.0.0.1:{port}"),
            "--register_ttl",
            "30",
        ])
        .env("MICRO_REGISTRY", "memory")
        .env("MICRO_SERVER_ADDRESS", "127.0.0.1:1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _greeter = Child(greeter);
    let envs = [
        ("MICRO_REGISTRY", "etcd".to_string()),
        ("MICRO_REGISTRY_ADDRESS", etcd.address()),
    ];
    wait_listed(&envs, "go.micro.srv.greeter");
    let described = ok(micro(&envs, &["get", "service", "go.micro.srv.greeter"]));
    assert!(
        described.contains(&format!("127.0.0.1\t{port}")),
        "{described}"
    );
    let lease = etcd.etcdctl(&["lease", "list"]);
    let id = lease.lines().nth(1).expect("one lease").trim().to_string();
    let ttl = etcd.etcdctl(&["lease", "timetolive", &id]);
    assert!(ttl.contains("granted with TTL(30s)"), "{ttl}");
}

#[test]
fn errors_from_main_print_one_line_and_exit_1() {
    let known = "mdns, memory, etcd";
    let greeter = Command::new(example("greeter"))
        .arg("--registry=nope")
        .output()
        .unwrap();
    assert_eq!(greeter.status.code(), Some(1));
    assert_eq!(
        stderr(&greeter),
        format!("Error: unknown registry \"nope\" (this build knows: {known})\n")
    );
    let tool = micro(&[], &["--registry=nope", "list", "services"]);
    assert_eq!(tool.status.code(), Some(1));
    assert_eq!(
        stderr(&tool),
        format!("unknown registry \"nope\" (this build knows: {known})\n")
    );
}

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let etcd = Etcd::start();
    let envs = [
        ("MICRO_REGISTRY", "etcd".to_string()),
        ("MICRO_REGISTRY_ADDRESS", etcd.address()),
    ];
    for i in 0..3 {
        let record = format!(
            r#"{{"name":"go.micro.srv.s{i}","version":"1","nodes":[{{"id":"s{i}-1","address":"127.0.0.1:9"}}]}}"#
        );
        ok(micro(&envs, &["register", "service", &record]));
    }
    // `micro list services | head -0`: the reader is gone before the first line is written.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_micro"));
    cmd.args(["list", "services"])
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(stderr(&out), "", "nothing on stderr");
    assert_eq!(
        out.status.code(),
        Some(141),
        "128 + SIGPIPE, as other tools end"
    );
}

#[test]
fn every_publish_that_says_ok_reaches_nats() {
    const N: usize = 40;
    let nats = Nats::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut subscriber = runtime.block_on(async {
        let client = async_nats::connect(nats.address()).await.unwrap();
        let subscriber = client.subscribe(">").await.unwrap();
        client.flush().await.unwrap();
        (client, subscriber)
    });
    for i in 0..N {
        let out = micro(
            &[],
            &[
                "--registry=memory",
                "--broker=nats",
                &format!("--broker_address={}", nats.address()),
                "publish",
                "t.x",
                &format!(r#"{{"i":{i}}}"#),
            ],
        );
        assert_eq!(ok(out).trim(), "ok");
    }
    let received = runtime.block_on(async {
        use futures::StreamExt;
        let mut bodies = Vec::new();
        // Every message is at the server before its `ok`; a short wait lets them arrive here.
        while let Ok(Some(m)) =
            tokio::time::timeout(Duration::from_secs(2), subscriber.1.next()).await
        {
            bodies.push(String::from_utf8_lossy(&m.payload).into_owned());
        }
        bodies
    });
    let expected: Vec<String> = (0..N).map(|i| format!(r#"{{"i":{i}}}"#)).collect();
    assert_eq!(received, expected, "each of {N} publishes, once, in order");
}

/// `micro` on the default registry (mDNS, in this private namespace), counting the lines of
/// its output that start with `prefix`.
fn lines_starting(args: &[&str], prefix: &str) -> (usize, String) {
    let out = ok(micro(&[("MICRO_REGISTRY", "mdns".into())], args));
    (out.lines().filter(|l| l.starts_with(prefix)).count(), out)
}

/// The test service as its own process on mDNS, named `name`.
fn mdns_service(name: &str) -> Child {
    spawn(
        "test-service",
        &[
            ("MICRO_REGISTRY", "mdns".into()),
            ("MICRO_SERVER_NAME", name.into()),
        ],
        Stdio::null(),
    )
}

#[test]
fn mdns_sees_every_service_and_every_node_at_once() {
    if !run_in_private_netns("mdns_sees_every_service_and_every_node_at_once") {
        return;
    }
    // A long-lived view, from before any service starts: it learns of them by their
    // announcements alone (the gateway's and dashboard's case).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let registry = rt.block_on(async { micro::registry::MdnsRegistry::shared().unwrap() });
    let long_lived_names = || -> Vec<String> {
        rt.block_on(registry.list_services())
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect()
    };

    // 1, 3, then 30 services, each its own process: every `micro list services` of 50 in a
    // row lists every one (after the first listing that shows them all: start-up).
    let mut services = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for count in [1, 3, 30] {
        while names.len() < count {
            let name = format!("go.micro.test.s{:02}", names.len());
            services.push(mdns_service(&name));
            names.push(name);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while !names.iter().all(|n| {
            ok(micro(
                &[("MICRO_REGISTRY", "mdns".into())],
                &["list", "services"],
            ))
            .contains(n.as_str())
        }) {
            assert!(
                Instant::now() < deadline,
                "{count} services never all listed"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        for run in 1..=50 {
            let out = ok(micro(
                &[("MICRO_REGISTRY", "mdns".into())],
                &["list", "services"],
            ));
            let listed: Vec<&str> = out.lines().collect();
            for name in &names {
                assert!(
                    listed.contains(&name.as_str()),
                    "run {run} of 50 with {count} services: {name} missing from\n{out}"
                );
            }
        }
        let known = long_lived_names();
        for name in &names {
            assert!(
                known.contains(name),
                "the long-lived view lacks {name}: {known:?}"
            );
        }
    }
    drop(services);

    // One service run as three processes: `get service` and `health` show all three nodes on
    // every run.
    let trio = "go.micro.test.trio";
    let mut nodes: Vec<Child> = (0..3).map(|_| mdns_service(trio)).collect();
    let node_prefix = format!("{trio}-");
    let deadline = Instant::now() + Duration::from_secs(30);
    while lines_starting(&["get", "service", trio], &node_prefix).0 != 3 {
        assert!(Instant::now() < deadline, "three nodes never listed");
        std::thread::sleep(Duration::from_millis(100));
    }
    for run in 1..=20 {
        let (listed, out) = lines_starting(&["get", "service", trio], &node_prefix);
        assert_eq!(listed, 3, "get service, run {run}:\n{out}");
        let (healthy, out) = lines_starting(&["health", trio], &node_prefix);
        assert_eq!(healthy, 3, "health, run {run}:\n{out}");
        assert_eq!(out.matches("  ok").count(), 3, "{out}");
    }

    // The long-lived view has all three nodes, and a client with round robin reaches them.
    let deadline = Instant::now() + Duration::from_secs(10);
    while rt
        .block_on(registry.get_service(trio))
        .map_or(0, |v| v[0].nodes.len())
        != 3
    {
        assert!(
            Instant::now() < deadline,
            "the long-lived view never had three nodes"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let selector = std::sync::Arc::new(
        micro::selector::RegistrySelector::new(registry.clone())
            .strategy(micro::selector::Strategy::RoundRobin),
    );
    let client = micro::Client::builder()
        .registry(registry.clone())
        .selector(selector)
        .build();
    let instances = |calls: usize| -> std::collections::BTreeSet<String> {
        rt.block_on(async {
            let mut seen = std::collections::BTreeSet::new();
            for _ in 0..calls {
                let reply: micro_tests::proto::EchoResponse = client
                    .call(
                        trio,
                        "Test.Echo",
                        &micro_tests::proto::EchoRequest::default(),
                        Default::default(),
                    )
                    .await
                    .unwrap();
                seen.insert(reply.instance);
            }
            seen
        })
    };
    let pids: std::collections::BTreeSet<String> =
        nodes.iter().map(|n| n.0.id().to_string()).collect();
    assert_eq!(instances(9), pids, "round robin reaches every node");

    // A node that stops leaves the others' listings with its goodbye: a fresh process's and
    // this long-lived one's.
    let stopped = nodes.remove(0);
    stopped.terminate();
    let mut stopped = stopped;
    assert!(stopped.wait_for_exit(Duration::from_secs(20)).success());
    let (listed, out) = lines_starting(&["get", "service", trio], &node_prefix);
    assert_eq!(listed, 2, "{out}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while rt
        .block_on(registry.get_service(trio))
        .map_or(0, |v| v[0].nodes.len())
        != 2
    {
        assert!(
            Instant::now() < deadline,
            "the goodbye never reached the long-lived view"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let rest: std::collections::BTreeSet<String> =
        nodes.iter().map(|n| n.0.id().to_string()).collect();
    assert_eq!(instances(6), rest);
}
