//! `micro web`, the dashboard, against real services on a real etcd: its JSON API and its
//! refusals through curl, and its pages in real headless Chromium (`tests/python/dashboard.py`,
//! Selenium over chromedriver): the overview and its search, the service page, the call form,
//! the terminal, live updates, a web app and its WebSocket, a cross-site form post refused.
//! Screenshots of each page are left in `target/screenshots/`.

use micro_tests::{free_port, Child, Etcd};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const GREETER: &str = "go.micro.srv.greeter";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn example(name: &str) -> PathBuf {
    micro_tests::sibling_binary(env!("CARGO_BIN_EXE_micro"), name)
}

struct Setup {
    etcd: Etcd,
    children: Vec<Child>,
}

impl Setup {
    fn command(&self, path: PathBuf) -> Command {
        let mut cmd = Command::new(path);
        cmd.env("MICRO_REGISTRY", "etcd")
            .env("MICRO_REGISTRY_ADDRESS", self.etcd.address())
            .env_remove("MICRO_SERVER_ADDRESS")
            .env_remove("MICRO_PROXY")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }

    fn spawn(&mut self, path: PathBuf, args: &[&str]) {
        let mut cmd = self.command(path);
        cmd.args(args);
        self.children.push(Child(cmd.spawn().unwrap()));
    }
}

fn curl(url: &str, args: &[&str]) -> (u16, String) {
    micro_tests::curl_status(url, args)
}

fn post(url: &str, body: &str, extra: &[&str]) -> (u16, serde_json::Value) {
    let mut args = vec!["-H", "Content-Type: application/json", "-d", body];
    args.extend_from_slice(extra);
    let (status, body) = curl(url, &args);
    (
        status,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
    )
}

/// Chromium, chromedriver and Selenium are there, or the test fails saying how to get them.
fn check_browser() {
    for (binary, package) in [
        ("chromium", "chromium"),
        ("chromedriver", "chromium-driver"),
    ] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {binary}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "{binary} is needed: apt-get install -y {package} (scripts/test installs it)"
        );
    }
    let selenium = Command::new(micro_tests::python())
        .args(["-c", "import selenium"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(selenium, "Selenium is needed in the test venv: .venv/bin/pip install selenium (scripts/test installs it)");
}

#[test]
fn the_dashboard_in_a_real_browser() {
    check_browser();
    let mut setup = Setup {
        etcd: Etcd::start(),
        children: Vec::new(),
    };
    setup.spawn(example("greeter"), &[]);
    setup.spawn(example("pubsub-subscriber"), &[]);
    setup.spawn(example("web-greeter"), &[]);
    for service in [GREETER, "go.micro.srv.subscriber", "go.micro.web.greeter"] {
        setup.etcd.wait_for_service(service);
    }
    let address = format!("127.0.0.1:{}", free_port());
    setup.spawn(
        env!("CARGO_BIN_EXE_micro").into(),
        &["web", "--address", &address, "--max_body", "4096"],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&address).is_err() {
        assert!(Instant::now() < deadline, "micro web never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = format!("http://{address}");

    // The JSON API.
    let (status, body) = curl(&format!("{url}/"), &["-H", "Accept: application/json"]);
    assert_eq!(status, 200, "{body}");
    let overview: serde_json::Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = overview["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert!(names.contains(&GREETER), "{body}");
    assert_eq!(overview["apps"][0]["path"], "/greeter/", "{body}");
    let (status, body) = curl(
        &format!("{url}/service/{GREETER}"),
        &["-H", "Accept: application/json"],
    );
    assert_eq!(status, 200);
    let records: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(records[0]["name"], GREETER, "{body}");
    let rpc = format!("{url}/rpc");
    let call = r#"{"service": "go.micro.srv.greeter", "endpoint": "Greeter.Call", "request": {"name": "John"}}"#;
    let (status, reply) = post(&rpc, call, &[]);
    assert_eq!(
        (status, &reply["msg"]),
        (200, &"Hello John".into()),
        "{reply}"
    );
    let (status, reply) = post(
        &rpc,
        r#"{"service": "go.micro.srv.nope", "endpoint": "X.Y"}"#,
        &[],
    );
    assert_eq!((status, &reply["code"]), (404, &404.into()), "{reply}");
    let (status, reply) = post(&rpc, "{not json", &[]);
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["detail"].as_str().unwrap().contains("invalid JSON"),
        "{reply}"
    );
    let big = format!(
        r#"{{"service": "{GREETER}", "endpoint": "Greeter.Call", "request": {{"name": "{}"}}}}"#,
        "x".repeat(5000)
    );
    let (status, reply) = post(&rpc, &big, &[]);
    assert_eq!(status, 413, "{reply}");
    let foreign = format!(
        r#"{{"service": "{GREETER}", "endpoint": "Greeter.Call", "address": "{}"}}"#,
        setup.etcd.address().trim_start_matches("http://")
    );
    let (status, reply) = post(&rpc, &foreign, &[]);
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["detail"]
            .as_str()
            .unwrap()
            .contains("is not a node of"),
        "{reply}"
    );

    // Cross-site: another origin, a form's content type, another host name: each refused.
    let (status, reply) = post(&rpc, call, &["-H", "Origin: http://evil.example"]);
    assert_eq!(status, 403, "{reply}");
    let (status, body) = curl(&rpc, &["-H", "Content-Type: text/plain", "-d", call]);
    assert_eq!(status, 415, "{body}");
    let (status, reply) = post(&rpc, call, &["-H", "Host: rebound.example"]);
    assert_eq!(status, 403, "{reply}");
    let (status, reply) = post(
        &format!("{url}/terminal/run"),
        r#"{"line": "list services"}"#,
        &["-H", "Origin: http://evil.example"],
    );
    assert_eq!(status, 403, "{reply}");
    let (status, headers) = curl(
        &rpc,
        &[
            "-X",
            "OPTIONS",
            "-H",
            "Origin: http://evil.example",
            "-D",
            "-",
        ],
    );
    assert!(
        !headers.to_lowercase().contains("access-control-allow"),
        "{status} {headers}"
    );

    // The pages, in Chromium.
    let cli = Command::new(env!("CARGO_BIN_EXE_micro"))
        .env("MICRO_REGISTRY", "etcd")
        .env("MICRO_REGISTRY_ADDRESS", setup.etcd.address())
        .args(["call", GREETER, "Greeter.Call", r#"{"name": "John"}"#])
        .output()
        .unwrap();
    assert!(cli.status.success(), "{}", text(&cli.stderr));
    let shots = micro_tests::workspace_root().join("target/screenshots");
    let out = Command::new(micro_tests::python())
        .arg(micro_tests::workspace_root().join("tests/python/dashboard.py"))
        .arg(&url)
        .arg(&shots)
        .env("MICRO_TEST_CLI_CALL", text(&cli.stdout))
        .env("MICRO_TEST_GREETER", example("greeter"))
        .env("MICRO_REGISTRY", "etcd")
        .env("MICRO_REGISTRY_ADDRESS", setup.etcd.address())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dashboard.py:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    println!("{}", text(&out.stdout));
    for page in ["overview", "service", "client", "terminal", "web-app"] {
        assert!(
            shots.join(format!("{page}.png")).exists(),
            "no screenshot of {page}"
        );
    }
}
