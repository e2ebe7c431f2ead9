//! `micro api` (the real binary) with curl and raw HTTP clients, against real example and test
//! services registered in etcd.

use micro_tests::{free_port, Child, Etcd};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn example(name: &str) -> PathBuf {
    micro_tests::sibling_binary(env!("CARGO_BIN_EXE_micro"), name)
}

struct Setup {
    etcd: Etcd,
    _children: Vec<Child>,
}

impl Setup {
    fn envs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("MICRO_REGISTRY", "etcd".into()),
            ("MICRO_REGISTRY_ADDRESS", self.etcd.address()),
        ]
    }

    fn spawn(&mut self, binary: &str, extra: &[(&str, &str)]) -> u32 {
        let mut cmd = Command::new(example(binary));
        cmd.envs(self.envs())
            .env_remove("MICRO_SERVER_ADDRESS")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = Child(cmd.spawn().unwrap());
        let pid = child.0.id();
        self._children.push(child);
        pid
    }

    /// Starts `micro api` with these extra env vars and flags; returns its address.
    fn api(&mut self, env: &[(&str, &str)], flags: &[&str]) -> String {
        let address = format!("127.0.0.1:{}", free_port());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_micro"));
        cmd.envs(self.envs())
            .arg("api")
            .arg("--address")
            .arg(&address)
            .args(flags)
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        self._children.push(Child(cmd.spawn().unwrap()));
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&address).is_err() {
            assert!(Instant::now() < deadline, "micro api never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        address
    }

    /// Waits for `service` to be in the registry; returns its registered versions.
    fn wait_registered(&self, service: &str) -> Vec<micro::registry::Service> {
        let registry = micro::registry::EtcdRegistry::new([self.etcd.address()]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = rt.block_on(micro::registry::Registry::get_service(&registry, service));
            match found {
                Ok(versions) if versions.iter().any(|v| !v.nodes.is_empty()) => {
                    return versions.to_vec()
                }
                _ => assert!(Instant::now() < deadline, "{service} never registered"),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn setup() -> Setup {
    Setup {
        etcd: Etcd::start(),
        _children: Vec::new(),
    }
}

/// curl; returns (status, headers, body).
fn curl(args: &[&str]) -> (u16, String, String) {
    let out: Output = Command::new("curl")
        .args(["-s", "-S", "-D", "-"])
        .args(args)
        .output()
        .expect("curl is needed: apt-get install -y curl");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_lowercase(), body.to_string())
}

#[test]
fn the_seed_example_and_the_rpc_handler() {
    let mut s = setup();
    s.spawn("greeter", &[]);
    s.spawn("test-service", &[]);
    s.wait_registered("go.micro.srv.greeter");
    s.wait_registered("go.micro.test");
    let api = s.api(
        &[
            ("MICRO_API_HANDLER", "rpc"),
            ("MICRO_API_NAMESPACE", "go.micro.srv"),
        ],
        &[],
    );

    // The seed, exactly.
    let (status, headers, body) = curl(&[
        "-XPOST",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"name": "John"}"#,
        &format!("http://{api}/greeter/call"),
    ]);
    assert_eq!((status, body.as_str()), (200, r#"{"msg":"Hello John"}"#));
    assert!(headers.contains("content-type: application/json"));

    // One segment: Greeter.Call; the query fills the request.
    let (status, _, body) = curl(&[&format!("http://{api}/greeter?name=Query")]);
    assert_eq!((status, body.as_str()), (200, r#"{"msg":"Hello Query"}"#));

    // GET / answers the version.
    let (status, _, body) = curl(&[&format!("http://{api}/")]);
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["version"],
        env!("CARGO_PKG_VERSION")
    );

    // Query values typed by the schema: a numeric-looking string stays a string, ints are ints.
    let api2 = s.api(
        &[
            ("MICRO_API_HANDLER", "rpc"),
            ("MICRO_API_NAMESPACE", "go.micro"),
        ],
        &[
            "--enable_rpc",
            "--max_body",
            "1000",
            "--cors_allowed_origins",
            "http://example.test",
        ],
    );
    let (status, _, body) = curl(&[&format!(
        "http://{api2}/test/echo?message=123&count=5&tags=a&tags=b"
    )]);
    assert_eq!(status, 200, "{body}");
    let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (&reply["message"], &reply["count"]),
        (&serde_json::json!("123"), &serde_json::json!("5")),
        "{body}"
    );

    // Errors, always micro's JSON.
    let (status, e) = json_reply(&[&format!("http://{api2}/nobody/call")]);
    assert_eq!((status, e["code"].as_i64()), (404, Some(404)));
    assert_eq!(e["detail"], "service go.micro.nobody not found");
    let (status, e) = json_reply(&[&format!("http://{api2}/test/nope")]);
    assert_eq!(
        (status, e["detail"].as_str()),
        (
            404,
            Some("unknown endpoint Test.Nope of service go.micro.test")
        )
    );
    let (status, e) = json_reply(&[
        "-XPOST",
        "-d",
        r#"{"message": }"#,
        &format!("http://{api2}/test/echo"),
    ]);
    assert_eq!(status, 400);
    assert_eq!(
        e["detail"],
        "invalid JSON: expected value at line 1 column 13"
    );
    let big = format!(r#"{{"message": "{}"}}"#, "x".repeat(2000));
    let (status, e) = json_reply(&["-XPOST", "-d", &big, &format!("http://{api2}/test/echo")]);
    assert_eq!((status, e["code"].as_i64()), (413, Some(413)));
    let (status, e) = json_reply(&[
        "-XPOST",
        "-d",
        r#"{"code": 409, "detail": "exists"}"#,
        &format!("http://{api2}/test/fail"),
    ]);
    assert_eq!(
        (status, e["detail"].as_str(), e["id"].as_str()),
        (409, Some("exists"), Some("go.micro.test"))
    );

    // No reachable node: 503.
    let dead = format!(
        r#"{{"name":"go.micro.dead","version":"1","nodes":[{{"id":"dead-1","address":"127.0.0.1:{}"}}]}}"#,
        free_port()
    );
    let out = Command::new(env!("CARGO_BIN_EXE_micro"))
        .envs(s.envs())
        .args(["register", "service", &dead])
        .output()
        .unwrap();
    assert!(out.status.success());
    let (status, e) = json_reply(&[&format!("http://{api2}/dead/call")]);
    assert_eq!((status, e["code"].as_i64()), (503, Some(503)), "{e}");

    // /rpc.
    let (status, _, body) = curl(&[
        "-XPOST",
        "-d",
        r#"{"service": "go.micro.srv.greeter", "endpoint": "Greeter.Call", "request": {"name": "Rpc"}}"#,
        &format!("http://{api2}/rpc"),
    ]);
    assert_eq!((status, body.as_str()), (200, r#"{"msg":"Hello Rpc"}"#));

    // CORS preflight.
    let (status, headers, _) = curl(&[
        "-X",
        "OPTIONS",
        "-H",
        "Origin: http://example.test",
        "-H",
        "Access-Control-Request-Method: POST",
        &format!("http://{api2}/test/echo"),
    ]);
    assert_eq!(status, 200);
    assert!(
        headers.contains("access-control-allow-origin: http://example.test"),
        "{headers}"
    );
    assert!(
        headers.contains("access-control-allow-credentials: true"),
        "{headers}"
    );
    // An origin not listed gets no grant.
    let (_, headers, _) = curl(&[
        "-X",
        "OPTIONS",
        "-H",
        "Origin: http://evil.test",
        "-H",
        "Access-Control-Request-Method: POST",
        &format!("http://{api2}/test/echo"),
    ]);
    assert!(
        !headers.contains("access-control-allow-origin"),
        "{headers}"
    );

    // The deadline passing on the way: 504.
    let (status, e) = json_reply(&[
        "-XPOST",
        "-d",
        r#"{"millis": 6000}"#,
        &format!("http://{api2}/test/sleep"),
    ]);
    assert_eq!((status, e["code"].as_i64()), (504, Some(408)), "{e}");
}

/// curl for a JSON reply (errors are always micro's JSON): (status, the JSON).
fn json_reply(args: &[&str]) -> (u16, serde_json::Value) {
    let (status, headers, body) = curl(args);
    assert!(
        headers.contains("content-type: application/json"),
        "{headers}"
    );
    let json = serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    (status, json)
}

#[test]
fn rpc_stays_within_its_namespace_and_debug_endpoints_are_not_served() {
    let mut s = setup();
    s.spawn("greeter", &[]);
    let greeter = s.wait_registered("go.micro.srv.greeter");
    let node = greeter[0].nodes[0].address.clone();
    let api = s.api(
        &[("MICRO_API_NAMESPACE", "go.micro.srv")],
        &["--enable_rpc"],
    );
    let rpc = format!("http://{api}/rpc");
    let post = |body: &str| json_reply(&["-XPOST", "-d", body, &rpc]);

    // A node of the service named: served.
    let (status, reply) = post(&format!(
        r#"{{"service": "go.micro.srv.greeter", "endpoint": "Greeter.Call", "request": {{"name": "Rpc"}}, "address": "{node}"}}"#
    ));
    assert_eq!(
        (status, reply),
        (200, serde_json::json!({"msg": "Hello Rpc"}))
    );

    // Any other address (here etcd's) is refused before connecting, and the reply does not
    // tell what listens there.
    let etcd = s.etcd.address();
    let etcd = etcd.trim_start_matches("http://");
    let (status, e) = post(&format!(
        r#"{{"service": "go.micro.srv.greeter", "endpoint": "Greeter.Call", "address": "{etcd}"}}"#
    ));
    assert_eq!(status, 400, "{e}");
    assert_eq!(
        e["detail"],
        format!("address {etcd} is not a node of go.micro.srv.greeter")
    );

    // Outside the namespace: forbidden.
    let (status, e) =
        post(r#"{"service": "go.micro.config", "endpoint": "Config.Read", "request": {}}"#);
    assert_eq!(status, 403, "{e}");
    assert_eq!(
        e["detail"],
        "service go.micro.config is outside the gateway's namespace go.micro.srv"
    );
    // A name that only starts like the namespace is outside it too.
    let (status, _) = post(r#"{"service": "go.micro.srvx", "endpoint": "X.Y"}"#);
    assert_eq!(status, 403);

    // Debug.* is not served, by path or through /rpc.
    let (status, e) = json_reply(&[&format!("http://{api}/greeter/debug/stats")]);
    assert_eq!(status, 404, "{e}");
    assert_eq!(
        e["detail"],
        "Debug.Stats of go.micro.srv.greeter is not served through the gateway"
    );
    let (status, _) = post(r#"{"service": "go.micro.srv.greeter", "endpoint": "Debug.Health"}"#);
    assert_eq!(status, 404);

    // Unless asked for.
    let open = s.api(
        &[("MICRO_API_NAMESPACE", "go.micro.srv")],
        &["--enable_debug"],
    );
    let (status, stats) = json_reply(&[&format!("http://{open}/greeter/debug/stats")]);
    assert_eq!(status, 200, "{stats}");
    assert!(stats.get("memory").is_some(), "{stats}");
}

#[test]
fn the_event_handler_publishes_the_request() {
    let mut s = setup();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let registry: std::sync::Arc<dyn micro::registry::Registry> =
        std::sync::Arc::new(micro::registry::EtcdRegistry::new([s.etcd.address()]));
    let broker = micro::broker::HttpBroker::new(registry);
    let (tx, rx) = std::sync::mpsc::channel::<micro::broker::Message>();
    let handler: micro::broker::MessageHandler =
        std::sync::Arc::new(move |event: micro::broker::Event| {
            let _ = tx.send(event.message);
            Box::pin(async { Ok(()) })
        });
    let _sub = rt
        .block_on(micro::broker::Broker::subscribe(
            &broker,
            "go.micro.evt.user",
            handler,
            Default::default(),
        ))
        .unwrap();
    let api = s.api(
        &[
            ("MICRO_API_HANDLER", "event"),
            ("MICRO_API_NAMESPACE", "go.micro.evt"),
        ],
        &[],
    );
    let (status, _, _) = curl(&[
        "-XPOST",
        "-H",
        "X-Trace: t1",
        "-d",
        r#"{"user": "john"}"#,
        &format!("http://{api}/user/login"),
    ]);
    assert_eq!(status, 204);
    let message = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the event arrives");
    let event: serde_json::Value = serde_json::from_slice(&message.body).unwrap();
    assert_eq!(event["name"], "login");
    assert_eq!(event["data"], r#"{"user": "john"}"#);
    assert_eq!(event["header"]["x-trace"], serde_json::json!(["t1"]));
    assert_eq!(event["id"].as_str().unwrap().len(), 36);
    assert!(event["timestamp"].as_u64().unwrap() > 1_700_000_000);
}

/// Raw HTTP/1.1 POST on loopback; the status code.
fn post(address: &str, path: &str, body: &str) -> u16 {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(address) else {
        return 0;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
    let request = format!("POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    if stream.write_all(request.as_bytes()).is_err() {
        return 0;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Requests served so far by the greeter at `address` (its `Debug.Stats`), through the CLI.
fn requests_served(address: &str) -> u64 {
    let out = Command::new(env!("CARGO_BIN_EXE_micro"))
        .args(["--registry=memory", "call", "--address", address])
        .args([
            "go.micro.srv.greeter",
            "Debug.Stats",
            "{}",
            "--output",
            "raw",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    stats["requests"]
        .as_u64()
        .or_else(|| stats["requests"].as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("no request count in {stats}"))
}

#[test]
fn two_hundred_concurrent_requests_survive_a_killed_node() {
    use std::os::unix::process::ExitStatusExt;
    let mut s = setup();
    let dead = format!("127.0.0.1:{}", free_port());
    let live = format!("127.0.0.1:{}", free_port());
    s.spawn("greeter", &[("MICRO_SERVER_ADDRESS", &dead)]);
    s.spawn("greeter", &[("MICRO_SERVER_ADDRESS", &live)]);
    let registry = micro::registry::EtcdRegistry::new([s.etcd.address()]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let addresses = || -> Vec<String> {
        let mut nodes: Vec<String> = rt
            .block_on(micro::registry::Registry::get_service(
                &registry,
                "go.micro.srv.greeter",
            ))
            .map(|v| v[0].nodes.iter().map(|n| n.address.clone()).collect())
            .unwrap_or_default();
        nodes.sort();
        nodes
    };
    let mut both = vec![dead.clone(), live.clone()];
    both.sort();
    let deadline = Instant::now() + Duration::from_secs(20);
    while addresses() != both {
        assert!(Instant::now() < deadline, "both greeters register");
        std::thread::sleep(Duration::from_millis(50));
    }
    let api = s.api(
        &[
            ("MICRO_API_HANDLER", "rpc"),
            ("MICRO_API_NAMESPACE", "go.micro.srv"),
        ],
        &[],
    );
    // The gateway has looked the service up (both nodes) before the kill.
    assert_eq!(post(&api, "/greeter/call", r#"{"name": "warm"}"#), 200);

    // Kill the first node, and check it is dead: killed by SIGKILL, its port refused.
    let mut first = s._children.remove(0);
    first.0.kill().unwrap();
    let status = first.0.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "the first greeter was killed: {status:?}"
    );
    assert!(
        std::net::TcpStream::connect(&dead).is_err(),
        "nothing listens on the dead node's port"
    );
    // SIGKILL skips deregistration: the registry still offers the dead node (TTL 60 s), so the
    // gateway's selector picks it for about half of the first attempts until it is marked.
    assert_eq!(addresses(), both, "the dead node is still registered");

    let before = requests_served(&live);
    let threads: Vec<_> = (0..200)
        .map(|_| {
            let api = api.clone();
            std::thread::spawn(move || post(&api, "/greeter/call", r#"{"name": "load"}"#))
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let failed: Vec<&u16> = statuses.iter().filter(|s| **s != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of 200 requests failed: {failed:?}",
        failed.len()
    );
    // Every one of the 200 was served by the live node, those the dead node was picked for
    // included (the stats call before counts itself too).
    let after = requests_served(&live);
    assert_eq!(
        after - before,
        200 + 1,
        "the live node served every request"
    );
    assert_eq!(
        addresses(),
        both,
        "the dead node stayed registered throughout"
    );
    // And the gateway is still up.
    assert_eq!(post(&api, "/greeter/call", r#"{"name": "after"}"#), 200);
}

#[test]
fn streaming_endpoints_over_websocket() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let mut s = setup();
    s.spawn("greeter", &[]);
    s.wait_registered("go.micro.srv.greeter");
    let api = s.api(
        &[
            ("MICRO_API_HANDLER", "rpc"),
            ("MICRO_API_NAMESPACE", "go.micro.srv"),
        ],
        &[],
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let texts = |ws: tokio_tungstenite::WebSocketStream<_>| async move {
            let mut out = Vec::new();
            let mut ws = ws;
            while let Some(Ok(m)) = ws.next().await {
                if let Message::Text(t) = m {
                    out.push(t.to_string());
                }
            }
            out
        };
        // Server stream: one request, every reply, then the server closes.
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{api}/greeter/stream"))
            .await
            .unwrap();
        ws.send(Message::Text(r#"{"count": 3}"#.into()))
            .await
            .unwrap();
        assert_eq!(
            texts(ws).await,
            ["{}", r#"{"count":"1"}"#, r#"{"count":"2"}"#]
        );

        // Bidirectional: each ping answered; closing our side ends the stream.
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{api}/greeter/ping-pong"))
            .await
            .unwrap();
        for stroke in 1..=3 {
            ws.send(Message::Text(format!(r#"{{"stroke": {stroke}}}"#).into()))
                .await
                .unwrap();
            let reply = ws.next().await.unwrap().unwrap();
            assert_eq!(
                reply.into_text().unwrap().to_string(),
                format!(r#"{{"stroke":"{stroke}"}}"#)
            );
        }
        ws.close(None).await.unwrap();

        // Invalid JSON: the error, then the close.
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{api}/greeter/ping-pong"))
            .await
            .unwrap();
        ws.send(Message::Text("{nope".into())).await.unwrap();
        let got = texts(ws).await;
        let last = got
            .last()
            .unwrap_or_else(|| panic!("no message before the close: {got:?}"));
        let e: serde_json::Value = serde_json::from_str(last).unwrap();
        assert_eq!(e["code"], 400);
        assert!(
            e["detail"]
                .as_str()
                .unwrap()
                .starts_with("invalid JSON: key must be a string"),
            "{e}"
        );
    });
    // Plain HTTP to a streaming endpoint says how to reach it.
    let (status, _, body) = curl(&[
        "-XPOST",
        "-d",
        "{}",
        &format!("http://{api}/greeter/stream"),
    ]);
    assert_eq!(status, 400);
    assert!(
        body.contains("Greeter.Stream is a streaming endpoint: connect with a WebSocket"),
        "{body}"
    );
}

#[test]
fn tls_with_a_generated_certificate() {
    let mut s = setup();
    s.spawn("greeter", &[]);
    s.wait_registered("go.micro.srv.greeter");
    let dir = std::env::temp_dir().join(format!("micro-api-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    micro_tests::make_certificates(&dir);
    let cert = dir.join("server.pem").display().to_string();
    let key = dir.join("server.key").display().to_string();
    let api = s.api(
        &[
            ("MICRO_API_HANDLER", "rpc"),
            ("MICRO_API_NAMESPACE", "go.micro.srv"),
        ],
        &[
            "--enable_tls",
            "--tls_cert_file",
            &cert,
            "--tls_key_file",
            &key,
        ],
    );
    let ca = dir.join("ca.pem").display().to_string();
    let (status, _, body) = curl(&[
        "--cacert",
        &ca,
        "-XPOST",
        "-d",
        r#"{"name": "TLS"}"#,
        &format!("https://{api}/greeter/call"),
    ]);
    assert_eq!((status, body.as_str()), (200, r#"{"msg":"Hello TLS"}"#));
    // Without trusting the CA, curl refuses: it really is TLS with that certificate.
    let out = Command::new("curl")
        .args(["-s", &format!("https://{api}/")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn declared_routes_match_first() {
    let mut s = setup();
    let service = s.spawn("test-service", &[]);
    s.wait_registered("go.micro.test");
    // The routes are in the registry, in go-micro's api metadata.
    let out = Command::new(env!("CARGO_BIN_EXE_micro"))
        .envs(s.envs())
        .args(["get", "service", "go.micro.test"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("Endpoint: Test.Echo\nMetadata: endpoint=Test.Echo,method=GET,path=/echo/{message},stream=false"), "{text}");

    let api = s.api(&[], &[]); // meta handler, namespace go.micro.api: only declared routes reach go.micro.test
                               // Give the route table a moment to load (it refreshes every second), bounded.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (status, body) = loop {
        let (status, _, body) = curl(&[&format!("http://{api}/echo/hello%20there?count=2")]);
        if status == 200 || Instant::now() > deadline {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status, 200, "{body}");
    let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (&reply["message"], &reply["count"]),
        (&serde_json::json!("hello there"), &serde_json::json!("2"))
    );

    // A regex route: the named group is a typed field (code is an int32).
    let (status, _, body) = curl(&[
        "-XPOST",
        "-d",
        r#"{"detail": "taken"}"#,
        &format!("http://{api}/fail/409"),
    ]);
    assert_eq!(status, 409, "{body}");
    assert!(body.contains(r#""detail":"taken""#), "{body}");

    // The path matches, the method does not: 405, saying what is allowed.
    let (status, _, body) = curl(&[&format!("http://{api}/fail/409")]);
    assert_eq!(status, 405, "{body}");
    assert!(
        body.contains("GET /fail/409 is not allowed; the route takes POST"),
        "{body}"
    );

    // A competing route: under namespace go.micro, `/test/panic` resolves by path alone to
    // go.micro.test's Test.Panic, while Test.Sleep declares that very path. The declared
    // route wins; the path rule still serves paths no route declares.
    let api = s.api(&[("MICRO_API_NAMESPACE", "go.micro")], &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let (status, body) = loop {
        let (status, _, body) = curl(&[&format!("http://{api}/test/panic")]);
        if status == 200 || Instant::now() > deadline {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status, 200, "{body}");
    let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reply["had_deadline"], true, "Test.Sleep answered: {body}");
    let (status, _, body) = curl(&[&format!("http://{api}/test/echo?message=path")]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""message":"path""#), "{body}");

    // The table follows the registry: the service stops (and deregisters), its routes go; it
    // comes back, they return, with no gateway restarted.
    let echo = format!("http://{api}/echo/back");
    let until = |want: u16| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, _, body) = curl(&[&echo]);
            if status == want || Instant::now() > deadline {
                break (status, body);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let stopped = Command::new("kill")
        .args(["-TERM", &service.to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let (status, body) = until(404);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("service go.micro.echo not found"), "{body}");
    s.spawn("test-service", &[]);
    let (status, body) = until(200);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""message":"back""#), "{body}");
}

#[test]
fn the_api_handler_passes_the_whole_request() {
    let mut s = setup();
    s.spawn("test-service", &[]);
    s.wait_registered("go.micro.test");
    let api = s.api(
        &[
            ("MICRO_API_HANDLER", "api"),
            ("MICRO_API_NAMESPACE", "go.micro"),
        ],
        &[],
    );
    let (status, headers, body) = curl(&[
        "-XPOST",
        "-d",
        "hello",
        &format!("http://{api}/test/http?name=Jo"),
    ]);
    assert_eq!(status, 201, "{body}");
    assert!(headers.contains("x-seen-path: /test/http"), "{headers}");
    assert_eq!(body, "POST /test/http name=Jo body=hello");
}

#[test]
fn http_and_web_handlers_proxy_to_a_registered_web_service() {
    let mut s = setup();
    s.spawn("web-greeter", &[]);
    s.wait_registered("go.micro.web.greeter");
    let web = s.api(
        &[
            ("MICRO_API_HANDLER", "web"),
            ("MICRO_API_NAMESPACE", "go.micro.web"),
        ],
        &[],
    );
    let (status, _, body) = curl(&[&format!("http://{web}/greeter/call?name=Web")]);
    assert_eq!((status, body.as_str()), (200, r#"{"msg":"Hello Web"}"#));
    let http = s.api(
        &[
            ("MICRO_API_HANDLER", "http"),
            ("MICRO_API_NAMESPACE", "go.micro.web"),
        ],
        &[],
    );
    let (status, _, body) = curl(&[&format!("http://{http}/greeter/call?name=Http")]);
    assert_eq!((status, body.as_str()), (200, r#"{"msg":"Hello Http"}"#));
    let (status, _, body) = curl(&[&format!("http://{http}/nobody/call")]);
    assert_eq!(status, 404, "{body}");

    // The web handler tunnels WebSockets.
    use futures::{SinkExt, StreamExt};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{web}/greeter/echo"))
            .await
            .unwrap();
        ws.send(tokio_tungstenite::tungstenite::Message::Text(
            "through the tunnel".into(),
        ))
        .await
        .unwrap();
        let echoed = ws.next().await.unwrap().unwrap();
        assert_eq!(
            echoed.into_text().unwrap().to_string(),
            "through the tunnel"
        );
    });
}

#[test]
fn each_resolution_rule_through_the_gateway() {
    let mut s = setup();
    s.spawn("test-service", &[]);
    s.wait_registered("go.micro.test");
    // A second service under a version segment, in this process.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let v1 = rt.block_on(async {
        micro::Service::builder()
            .flags(micro::Flags::default())
            .name("go.micro.v1.test")
            .registry(std::sync::Arc::new(micro::registry::EtcdRegistry::new([s
                .etcd
                .address()])))
            .handler(micro_tests::TestHandler {
                instance: "v1".into(),
                ..Default::default()
            })
            .build()
            .unwrap()
            .start()
            .await
            .unwrap()
    });
    let api = s.api(
        &[
            ("MICRO_API_HANDLER", "rpc"),
            ("MICRO_API_NAMESPACE", "go.micro"),
        ],
        &[],
    );
    let get = |path: &str| {
        let (status, _, body) = curl(&[&format!("http://{api}{path}")]);
        (
            status,
            serde_json::from_str::<serde_json::Value>(&body).unwrap_or_default(),
        )
    };
    // One segment: Handler.Call.
    let (status, e) = get("/test");
    assert_eq!(
        (status, e["detail"].as_str()),
        (
            404,
            Some("unknown endpoint Test.Call of service go.micro.test")
        )
    );
    // Two segments.
    let (status, r) = get("/test/echo?message=two");
    assert_eq!((status, r["message"].as_str()), (200, Some("two")));
    // A version first, three segments: the version joins the service.
    let (status, r) = get("/v1/test/echo?message=three");
    assert_eq!(
        (status, r["message"].as_str(), r["instance"].as_str()),
        (200, Some("three"), Some("v1"))
    );
    // More segments: all but the last two are the service.
    let (status, r) = get("/test/test/echo?message=more");
    assert_eq!((status, r["message"].as_str()), (200, Some("more")));
    // Hyphens fold to CamelCase.
    let (status, e) = get("/test/test/no-such-thing");
    assert_eq!(
        (status, e["detail"].as_str()),
        (
            404,
            Some("unknown endpoint Test.NoSuchThing of service go.micro.test")
        )
    );
    rt.block_on(v1.stop()).unwrap();
}

#[test]
fn limits_between_the_gateway_and_a_service_answer_413_and_431() {
    let mut s = setup();
    s.spawn("test-service", &[]);
    s.wait_registered("go.micro.test");
    let api = s.api(&[("MICRO_API_NAMESPACE", "go.micro")], &[]);
    let url = format!("http://{api}/test/echo");
    let detail = |body: &str| -> String {
        let v: serde_json::Value = serde_json::from_str(body).expect("a micro error");
        v["detail"].as_str().unwrap_or("").to_string()
    };

    // Under the gateway's 10 MiB, over the 4 MiB a call may carry.
    let big = std::env::temp_dir().join(format!("micro-big-{}.json", free_port()));
    std::fs::write(
        &big,
        serde_json::json!({"message": "x".repeat(5 << 20)}).to_string(),
    )
    .unwrap();
    let (status, _, body) = curl(&[
        "-H",
        "Content-Type: application/json",
        // No 100 Continue before the answer.
        "-H",
        "Expect:",
        "--data-binary",
        &format!("@{}", big.display()),
        &url,
    ]);
    let _ = std::fs::remove_file(&big);
    println!("5 MiB body: {status} {}", detail(&body));
    assert_eq!(status, 413, "{body}");
    // The request as the gateway encodes it for the call: about the body's size.
    let said = detail(&body);
    assert!(
        said.starts_with("the request to go.micro.test.Test.Echo is 52428")
            && said.ends_with(" bytes, over the limit of 4194304 bytes"),
        "{said}"
    );

    // Headers the gateway reads, but more than a service takes as metadata.
    for size in [16 << 10, 64 << 10] {
        let header = format!("X-Big: {}", "a".repeat(size));
        let (status, _, body) = curl(&["-H", &header, "-d", "{}", &url]);
        println!("{size}-byte header: {status} {}", detail(&body));
        assert_eq!(status, 431, "{body}");
        assert!(
            detail(&body).ends_with("bytes of headers a server accepts"),
            "{body}"
        );
    }

    let (status, _, body) = curl(&["-d", r#"{"message":"fine"}"#, &url]);
    assert_eq!(status, 200, "{body}");
}

#[test]
fn a_websocket_open_at_shutdown_is_told_and_the_gateway_still_exits() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let mut s = setup();
    s.spawn("greeter", &[]);
    s.wait_registered("go.micro.srv.greeter");
    let api = s.api(
        &[
            ("MICRO_API_HANDLER", "rpc"),
            ("MICRO_API_NAMESPACE", "go.micro.srv"),
        ],
        &[],
    );
    let api_pid = s._children.last().expect("micro api").0.id();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (told, took) = rt.block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{api}/greeter/ping-pong"))
            .await
            .unwrap();
        ws.send(Message::Text(r#"{"stroke": 1}"#.into()))
            .await
            .unwrap();
        ws.next().await.unwrap().unwrap();
        let status = Command::new("kill")
            .args(["-INT", &api_pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let started = Instant::now();
        let mut told = Vec::new();
        let read = async {
            while let Some(Ok(m)) = ws.next().await {
                if let Message::Text(t) = m {
                    told.push(t.to_string());
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .expect("the socket ends at the gateway's shutdown");
        (told, started.elapsed())
    });
    println!("websocket at shutdown, after {took:?}: {told:?}");
    assert!(
        told.iter().any(|t| t.contains("go.micro.api is stopping")),
        "{told:?}"
    );
    let api = s._children.last_mut().unwrap();
    let exited = api.wait_for_exit(Duration::from_secs(30));
    assert!(exited.success(), "{exited:?}");
}

#[test]
fn outside_callers_get_no_cors_grant_and_cannot_speak_for_a_service() {
    let mut s = setup();
    s.spawn("test-service", &[]);
    s.wait_registered("go.micro.test");
    let api = s.api(&[("MICRO_API_NAMESPACE", "go.micro")], &[]);

    // No origins listed (the default): a credentialed cross-origin call gets no CORS grant.
    for method in ["OPTIONS", "POST"] {
        let (_, headers, _) = curl(&[
            "-X",
            method,
            "-H",
            "Origin: http://evil.test",
            "-H",
            "Access-Control-Request-Method: POST",
            "-H",
            "Cookie: session=secret",
            "-d",
            "{}",
            &format!("http://{api}/test/echo"),
        ]);
        assert!(
            !headers.contains("access-control-allow"),
            "{method}: {headers}"
        );
    }

    // The framework's own headers and cookies from outside do not reach the service.
    let (status, _, body) = curl(&[
        "-H",
        "Micro-From-Service: go.micro.srv.admin",
        "-H",
        "Grpc-Timeout: 1n",
        "-H",
        "Cookie: session=secret",
        "-H",
        "X-Kept: yes",
        "-d",
        r#"{"message": "hi"}"#,
        &format!("http://{api}/test/echo"),
    ]);
    assert_eq!(status, 200, "{body}");
    let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
    let metadata = reply["metadata"].as_object().cloned().unwrap_or_default();
    println!("the service saw: {metadata:?}");
    assert_eq!(metadata.get("x-kept").and_then(|v| v.as_str()), Some("yes"));
    assert!(!body.contains("go.micro.srv.admin"), "{body}");
    assert!(!body.contains("secret"), "{body}");
    assert!(!metadata.contains_key("cookie"), "{metadata:?}");
}
