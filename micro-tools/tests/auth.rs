//! Auth between real processes, set up only through the command line and the environment:
//! `micro auth keys` writes the key pair and `micro auth token` mints tokens (PyJWT mints the
//! forgeries); the test service checks them from `MICRO_AUTH*`; `micro call` sends
//! `MICRO_AUTH_TOKEN`; `micro api`, `micro web` and `micro proxy` pass the caller's token on,
//! and with `--auth` refuse at the edge with the same statuses. No log line, `Debug.Stats` reply or
//! error message of any of them shows a token or the private key.

use micro_tests::{free_port, python_client, AuthKeys, Child, Etcd};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const SERVICE: &str = "go.micro.test";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

struct Setup {
    etcd: Etcd,
    dir: PathBuf,
    children: Vec<Child>,
}

impl Setup {
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
        for var in [
            "MICRO_AUTH",
            "MICRO_AUTH_PUBLIC_KEY",
            "MICRO_AUTH_RULES",
            "MICRO_AUTH_TOKEN",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    /// `micro ARGS` with these variables; its output.
    fn micro(&self, env: &[(&str, &str)], args: &[&str]) -> Output {
        let mut cmd = self.command("micro");
        cmd.args(args).envs(env.iter().copied());
        cmd.output().unwrap()
    }

    /// Starts `binary ARGS` with these variables, debug logs to `LOG.log`; waits for `listens`.
    fn spawn(&mut self, binary: &str, args: &[&str], env: &[(&str, &str)], log: &str) {
        let log = std::fs::File::create(self.dir.join(format!("{log}.log"))).unwrap();
        let mut cmd = self.command(binary);
        cmd.args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(log);
        self.children.push(Child(cmd.spawn().unwrap()));
    }

    /// Waits until something listens at `address`.
    fn wait_listening(&self, address: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(address).is_err() {
            assert!(Instant::now() < deadline, "nothing listens at {address}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every log the processes wrote.
    fn logs(&self) -> String {
        let mut all = String::new();
        for entry in std::fs::read_dir(&self.dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "log") {
                all.push_str(&std::fs::read_to_string(path).unwrap());
            }
        }
        all
    }
}

/// curl posting `{"message": "hi"}` with `Authorization: Bearer token` when given; (status,
/// body).
fn curl(url: &str, token: Option<&str>) -> (u16, String) {
    let header = token.map(|t| format!("Authorization: Bearer {t}"));
    let mut args = vec![
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"message":"hi"}"#,
    ];
    if let Some(header) = &header {
        args.extend(["-H", header.as_str()]);
    }
    micro_tests::curl_status(url, &args)
}

/// The grpcio client's Test.Echo at `address` with the token: the reply, or code and details.
fn grpcio(address: &str, token: Option<&str>) -> String {
    let header = token.map(|t| format!("authorization=Bearer {t}"));
    let mut args = vec!["echo", address, "hi"];
    args.extend(header.as_deref());
    let (ok, out, err) = python_client(&args);
    assert!(ok, "grpc_client.py: {err}");
    out
}

/// `micro auth keys --out DIR`: the files, the private one readable by its owner only.
fn keys(setup: &Setup, dir: &Path) -> AuthKeys {
    let out = setup.micro(&[], &["auth", "keys", "--out", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let keys = AuthKeys {
        private: dir.join("private.pem"),
        public: dir.join("public.pem"),
    };
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&keys.private)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "private.pem is {mode:o}");
    keys
}

/// The cases every enforcing hop must answer alike: token name, HTTP status, gRPC code.
const CASES: [(&str, u16, &str); 7] = [
    ("", 401, "UNAUTHENTICATED"),
    ("other_scope", 403, "PERMISSION_DENIED"),
    ("expired", 401, "UNAUTHENTICATED"),
    ("altered", 401, "UNAUTHENTICATED"),
    ("other_key", 401, "UNAUTHENTICATED"),
    ("none", 401, "UNAUTHENTICATED"),
    ("hs256", 401, "UNAUTHENTICATED"),
];

#[test]
fn tokens_through_the_cli_the_gateway_and_the_proxy() {
    let dir = std::env::temp_dir().join(format!("micro-tools-auth-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut setup = Setup {
        etcd: Etcd::start(),
        dir: dir.clone(),
        children: Vec::new(),
    };
    let keys = keys(&setup, &dir.join("keys"));
    let other = keys_in(&setup, &dir.join("other"));
    let mut tokens: HashMap<String, String> =
        micro_tests::pyjwt_tokens(&keys, &other, "john", "test");
    let mint = |scope: &str| {
        let private = keys.private.to_str().unwrap();
        let out = setup.micro(
            &[],
            &[
                "auth",
                "token",
                "--subject",
                "ops",
                "--scope",
                scope,
                "--expiry",
                "1h",
                "--private_key",
                private,
            ],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    };
    tokens.insert("micro".into(), mint("test"));
    tokens.insert("micro_other".into(), mint("other"));
    let inspected = setup.micro(&[], &["auth", "inspect", &tokens["micro"]]);
    let inspected: serde_json::Value = serde_json::from_slice(&inspected.stdout).unwrap();
    assert_eq!(
        (&inspected["sub"], &inspected["scopes"], &inspected["alg"]),
        (&"ops".into(), &serde_json::json!(["test"]), &"ES256".into())
    );

    let rules = dir.join("rules.json");
    std::fs::write(
        &rules,
        format!(r#"[{{"service": "{SERVICE}", "endpoint": "Test.*", "scopes": ["test"]}}]"#),
    )
    .unwrap();
    let (public, rules) = (keys.public.to_str().unwrap(), rules.to_str().unwrap());
    let auth_env = [
        ("MICRO_AUTH", "jwt"),
        ("MICRO_AUTH_PUBLIC_KEY", public),
        ("MICRO_AUTH_RULES", rules),
    ];
    let service_address = format!("127.0.0.1:{}", free_port());
    let mut service_env = auth_env.to_vec();
    service_env.push(("MICRO_SERVER_ADDRESS", &service_address));
    setup.spawn("test-service", &[], &service_env, "service");
    setup.wait_listening(&service_address);

    // micro call with MICRO_AUTH_TOKEN, without, and with a token of another scope.
    let call = |token: Option<&str>| {
        let env: Vec<(&str, &str)> = token.map(|t| ("MICRO_AUTH_TOKEN", t)).into_iter().collect();
        setup.micro(
            &env,
            &["call", SERVICE, "Test.Echo", r#"{"message": "hi"}"#],
        )
    };
    let out = call(Some(&tokens["micro"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(r#""subject": "ops""#),
        "{}",
        text(&out.stdout)
    );
    let out = call(None);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("needs a token"),
        "{}",
        text(&out.stderr)
    );
    let out = call(Some(&tokens["micro_other"]));
    assert!(
        text(&out.stderr).contains("needs scope test"),
        "{}",
        text(&out.stderr)
    );

    // The stock grpcio client straight to the service.
    for (name, _, code) in CASES {
        let out = grpcio(&service_address, tokens.get(name).map(String::as_str));
        assert!(out.starts_with(code), "{name}: {out}");
    }

    // The gateway passes the caller's token on (the service decides), and with --auth decides
    // itself: the same statuses, the service behind sees the caller's subject.
    let open = format!("127.0.0.1:{}", free_port());
    let edge = format!("127.0.0.1:{}", free_port());
    let api_flags = |address: &str| {
        vec![
            "api".to_string(),
            "--address".into(),
            address.into(),
            "--handler".into(),
            "rpc".into(),
            "--namespace".into(),
            "go.micro".into(),
        ]
    };
    let open_flags = api_flags(&open);
    let open_flags: Vec<&str> = open_flags.iter().map(String::as_str).collect();
    setup.spawn("micro", &open_flags, &[], "api-open");
    let mut edge_flags = api_flags(&edge);
    edge_flags.extend(
        [
            "--auth",
            "jwt",
            "--auth_public_key",
            public,
            "--auth_rules",
            rules,
        ]
        .map(String::from),
    );
    let edge_flags: Vec<&str> = edge_flags.iter().map(String::as_str).collect();
    // Its own MICRO_AUTH_TOKEN is never lent to a caller.
    setup.spawn(
        "micro",
        &edge_flags,
        &[("MICRO_AUTH_TOKEN", &tokens["micro"])],
        "api-edge",
    );
    setup.wait_listening(&open);
    setup.wait_listening(&edge);
    for (gateway, refuser) in [(&open, SERVICE), (&edge, "go.micro.api")] {
        let url = format!("http://{gateway}/test/echo");
        for (name, status, _) in CASES {
            let (got, body) = curl(&url, tokens.get(name).map(String::as_str));
            assert_eq!(got, status, "{gateway} {name}: {body}");
            let error: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(error["id"], refuser, "{body}");
        }
        let (got, body) = curl(&url, Some(&tokens["right"]));
        assert_eq!(got, 200, "{body}");
        let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(reply["subject"], "john", "{body}");
    }

    // The proxy: the same through grpcio, passing the token on, and with --auth refusing at
    // the proxy.
    let proxy_open = format!("127.0.0.1:{}", free_port());
    let proxy_edge = format!("127.0.0.1:{}", free_port());
    setup.spawn(
        "micro",
        &["proxy", "--address", &proxy_open],
        &[],
        "proxy-open",
    );
    setup.spawn(
        "micro",
        &["proxy", "--address", &proxy_edge, "--auth", "jwt"],
        &auth_env[1..],
        "proxy-edge",
    );
    setup.wait_listening(&proxy_open);
    setup.wait_listening(&proxy_edge);
    for proxy in [&proxy_open, &proxy_edge] {
        for (name, _, code) in CASES {
            let out = grpcio(proxy, tokens.get(name).map(String::as_str));
            assert!(out.starts_with(code), "{proxy} {name}: {out}");
        }
        let out = grpcio(proxy, Some(&tokens["right"]));
        let reply: serde_json::Value = serde_json::from_str(&out).expect(&out);
        assert_eq!(reply["subject"], "john", "{out}");
    }

    // The dashboard: /rpc passes the caller's token on, and with --auth checks it first (its
    // terminal, which calls as the dashboard's operator, is then off).
    let web_open = format!("127.0.0.1:{}", free_port());
    let web_edge = format!("127.0.0.1:{}", free_port());
    setup.spawn("micro", &["web", "--address", &web_open], &[], "web-open");
    setup.spawn(
        "micro",
        &["web", "--address", &web_edge, "--auth", "jwt"],
        &[
            auth_env[1],
            auth_env[2],
            ("MICRO_AUTH_TOKEN", &tokens["micro"]),
        ],
        "web-edge",
    );
    setup.wait_listening(&web_open);
    setup.wait_listening(&web_edge);
    let rpc = |web: &str, token: Option<&str>| {
        let header = token.map(|t| format!("Authorization: Bearer {t}"));
        let body = format!(
            r#"{{"service": "{SERVICE}", "endpoint": "Test.Echo", "request": {{"message": "hi"}}}}"#
        );
        let mut args = vec!["-H", "Content-Type: application/json", "-d", body.as_str()];
        if let Some(header) = &header {
            args.extend(["-H", header.as_str()]);
        }
        micro_tests::curl_status(&format!("http://{web}/rpc"), &args)
    };
    for (web, refuser) in [(&web_open, SERVICE), (&web_edge, "go.micro.web")] {
        for (name, status, _) in CASES {
            let (got, body) = rpc(web, tokens.get(name).map(String::as_str));
            assert_eq!(got, status, "{web} {name}: {body}");
            let error: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(error["id"], refuser, "{body}");
        }
        let (got, body) = rpc(web, Some(&tokens["right"]));
        assert_eq!(got, 200, "{body}");
        let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(reply["subject"], "john", "{body}");
    }
    let (got, body) = micro_tests::curl_status(
        &format!("http://{web_edge}/terminal/run"),
        &[
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"line": "list services"}"#,
        ],
    );
    assert_eq!(got, 403, "{body}");

    // Debug.Stats of the service, read with a token: it and every log show no secret.
    let stats = setup.micro(
        &[("MICRO_AUTH_TOKEN", &tokens["micro"])],
        &["stats", SERVICE],
    );
    assert!(stats.status.success(), "{}", text(&stats.stderr));
    let seen = format!("{}{}", text(&stats.stdout), setup.logs());
    assert!(
        setup.logs().contains("DEBUG"),
        "the processes logged at debug level"
    );
    let private = std::fs::read_to_string(&keys.private).unwrap();
    let key_body = private.lines().nth(1).unwrap();
    assert!(!seen.contains(key_body), "a log shows the private key");
    for (name, token) in &tokens {
        // Each token's signature: what makes it a credential.
        let signature = token.rsplit('.').next().unwrap();
        if signature.is_empty() {
            continue;
        }
        assert!(
            !seen.contains(signature),
            "a log or Debug.Stats shows the {name} token"
        );
    }
    drop(setup);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A second key pair, for forgeries.
fn keys_in(setup: &Setup, dir: &Path) -> AuthKeys {
    keys(setup, dir)
}
