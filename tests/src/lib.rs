//! Shared pieces of the integration tests: the test service and helpers to run it.

use futures::{Stream, StreamExt};
use micro::registry::Registry;
use micro::{Context, Error, Result};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Types of `proto/test.proto`.
// Test fixtures, named after their fields; the proto is their description.
#[allow(missing_docs)]
pub mod proto {
    micro::include_proto!("go.micro.test");
}

pub mod slack;
pub mod telegram;

/// The test service's name.
pub const SERVICE: &str = "go.micro.test";

/// The test handler.
#[derive(Debug, Clone, Default)]
pub struct TestHandler {
    /// Tells instances apart in replies.
    pub instance: String,
    /// The deadline the last `Sleep` call saw (`Some(None)`: it had none).
    pub seen_deadline: Arc<Mutex<Option<Option<Duration>>>>,
    /// How many times `Fail` was called.
    pub failures: Arc<AtomicUsize>,
    /// Items `Flood` produced so far.
    pub produced: Arc<AtomicUsize>,
    /// Set when a `Flood` reply stream is dropped (ended or cancelled).
    pub flood_dropped: Arc<std::sync::atomic::AtomicBool>,
}

/// Sets its flag when dropped.
struct DropFlag(Arc<std::sync::atomic::AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[micro::handler(name = "Test")]
impl TestHandler {
    #[api(path = "/echo/{message}", method = "GET")]
    async fn echo(&self, ctx: &Context, req: proto::EchoRequest) -> Result<proto::EchoResponse> {
        Ok(proto::EchoResponse {
            message: req.message,
            instance: self.instance.clone(),
            payload_len: req.payload.len() as i64,
            metadata: ctx.metadata().clone().into_iter().collect(),
            count: req.count,
            subject: ctx.account().map(|a| a.subject.clone()).unwrap_or_default(),
        })
    }

    /// Declared at `/test/panic`, where the path alone would resolve to `Test.Panic`: the
    /// gateway must take the declared route first.
    #[api(path = "/test/panic", method = "GET")]
    async fn sleep(&self, ctx: &Context, req: proto::SleepRequest) -> Result<proto::SleepResponse> {
        let remaining = ctx.remaining();
        *self.seen_deadline.lock().unwrap() = Some(remaining);
        tokio::time::sleep(Duration::from_millis(req.millis.max(0) as u64)).await;
        Ok(proto::SleepResponse {
            had_deadline: remaining.is_some(),
            deadline_millis: remaining.map_or(0, |d| d.as_millis() as i64),
        })
    }

    /// A HTTP request through the api handler: answers 201 with what it saw.
    async fn http(&self, _ctx: &Context, req: micro::api::Request) -> Result<micro::api::Response> {
        let name = req
            .get
            .get("name")
            .and_then(|p| p.values.first().cloned())
            .unwrap_or_default();
        let header = [(
            "x-seen-path".to_string(),
            micro::api::Pair {
                key: "X-Seen-Path".into(),
                values: vec![req.path.clone()],
            },
        )];
        Ok(micro::api::Response {
            status_code: 201,
            header: header.into_iter().collect(),
            body: format!("{} {} name={name} body={}", req.method, req.path, req.body),
        })
    }

    #[api(path = "^/fail/(?P<code>[0-9]+)$", method = "POST")]
    async fn fail(&self, ctx: &Context, req: proto::FailRequest) -> Result<proto::FailResponse> {
        self.failures.fetch_add(1, Ordering::SeqCst);
        Err(Error::new(ctx.service(), req.detail, req.code))
    }

    async fn panic(
        &self,
        _ctx: &Context,
        _req: proto::PanicRequest,
    ) -> Result<proto::PanicResponse> {
        panic!("the test handler panics on purpose")
    }

    async fn flood(
        &self,
        ctx: &Context,
        req: proto::FloodRequest,
    ) -> Result<impl Stream<Item = Result<proto::FloodItem>> + Send + 'static> {
        let produced = Arc::clone(&self.produced);
        let guard = DropFlag(Arc::clone(&self.flood_dropped));
        let service = ctx.service().to_string();
        Ok(futures::stream::unfold((0i64, guard), move |(i, guard)| {
            let produced = Arc::clone(&produced);
            let service = service.clone();
            async move {
                if i >= req.count {
                    return None;
                }
                if req.delay_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(req.delay_ms as u64)).await;
                }
                if req.fail_at > 0 && i == req.fail_at {
                    let err = Error::conflict(service, format!("failed at {i}"));
                    return Some((Err(err), (i + 1, guard)));
                }
                produced.fetch_add(1, Ordering::SeqCst);
                let item = proto::FloodItem {
                    index: i,
                    payload: vec![7; req.size.max(0) as usize],
                };
                Some((Ok(item), (i + 1, guard)))
            }
        }))
    }

    async fn collect(
        &self,
        _ctx: &Context,
        mut reqs: micro::Streaming<proto::EchoRequest>,
    ) -> Result<proto::EchoResponse> {
        let mut count = 0;
        while reqs.message().await?.is_some() {
            count += 1;
        }
        Ok(proto::EchoResponse {
            count,
            ..Default::default()
        })
    }

    async fn chat(
        &self,
        _ctx: &Context,
        reqs: micro::Streaming<proto::EchoRequest>,
    ) -> Result<impl Stream<Item = Result<proto::EchoResponse>> + Send + 'static> {
        let instance = self.instance.clone();
        Ok(reqs.map(move |req| {
            req.map(|r| proto::EchoResponse {
                message: r.message,
                instance: instance.clone(),
                ..Default::default()
            })
        }))
    }
}

/// The test service on a free loopback port with `registry`, to be built and started.
pub fn builder(
    registry: Arc<dyn Registry>,
    handler: TestHandler,
) -> micro::service::ServiceBuilder {
    micro::Service::builder()
        .flags(micro::Flags::default())
        .name(SERVICE)
        .address("127.0.0.1:0")
        .registry(registry)
        .handler(handler)
}

/// Starts the test service on a free loopback port with `registry`.
pub async fn start(
    registry: Arc<dyn Registry>,
    handler: TestHandler,
) -> micro::service::RunningService {
    builder(registry, handler)
        .build()
        .expect("building the test service")
        .start()
        .await
        .expect("starting the test service")
}

/// The workspace root.
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The Python that has grpcio: `MICRO_TEST_PYTHON`, else the venv `scripts/test` makes.
/// Panics with an install hint when it is missing: these tests never skip.
pub fn python() -> std::path::PathBuf {
    let path = std::env::var_os("MICRO_TEST_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    let ok = std::process::Command::new(&path)
        .args(["-c", "import grpc, grpc_tools"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "Python with grpcio not found at {}: run scripts/test, or python3 -m venv .venv && .venv/bin/pip install grpcio grpcio-tools",
        path.display()
    );
    path
}

/// Runs `tests/python/grpc_client.py` with `args`; returns (success, stdout, stderr).
pub fn python_client(args: &[&str]) -> (bool, String, String) {
    python_client_with(args, &[])
}

/// [`python_client`] with these variables set (`MICRO_TEST_TLS_*`).
pub fn python_client_with(
    args: &[&str],
    env: &[(&str, &std::path::Path)],
) -> (bool, String, String) {
    let script = workspace_root().join("tests/python/grpc_client.py");
    let out = std::process::Command::new(python())
        .arg(script)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("running the Python gRPC client");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

/// An ES256 key pair made with openssl in `dir` (`NAME.key`, PKCS#8, and `NAME.pub`), as a
/// user might make one without `micro auth keys`.
#[derive(Debug)]
pub struct AuthKeys {
    /// The private key (PEM).
    pub private: std::path::PathBuf,
    /// The public key (PEM).
    pub public: std::path::PathBuf,
}

impl AuthKeys {
    /// A new pair named `name` in `dir`.
    pub fn new(dir: &std::path::Path, name: &str) -> AuthKeys {
        let private = dir.join(format!("{name}.key"));
        let public = dir.join(format!("{name}.pub"));
        let openssl = |args: &[&std::ffi::OsStr]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .output()
                .unwrap_or_else(|e| panic!("openssl is needed: apt-get install -y openssl ({e})"));
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        openssl(&[
            "genpkey".as_ref(),
            "-algorithm".as_ref(),
            "EC".as_ref(),
            "-pkeyopt".as_ref(),
            "ec_paramgen_curve:P-256".as_ref(),
            "-out".as_ref(),
            private.as_os_str(),
        ]);
        openssl(&[
            "pkey".as_ref(),
            "-in".as_ref(),
            private.as_os_str(),
            "-pubout".as_ref(),
            "-out".as_ref(),
            public.as_os_str(),
        ]);
        AuthKeys { private, public }
    }
}

/// Tokens for `subject` minted by PyJWT (`tests/python/tokens.py`) with `keys`, and forgeries:
/// `right` (with `scope`), `other_scope`, `expired`, `altered`, `other_key` (signed by
/// `other`), `none`, `hs256`.
pub fn pyjwt_tokens(
    keys: &AuthKeys,
    other: &AuthKeys,
    subject: &str,
    scope: &str,
) -> std::collections::HashMap<String, String> {
    let script = workspace_root().join("tests/python/tokens.py");
    let out = std::process::Command::new(python())
        .arg(script)
        .args([&keys.private, &other.private, &keys.public])
        .args([subject, scope])
        .output()
        .expect("running tests/python/tokens.py");
    assert!(
        out.status.success(),
        "tokens.py (PyJWT is needed: scripts/test installs it, or .venv/bin/pip install pyjwt cryptography): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("tokens.py prints JSON")
}

/// A free loopback port (bound, then released for the caller to use).
///
/// Never the same port twice in one process: tests run in parallel, and a port released here
/// may be handed out again before the first taker binds it (two nats-servers on one port, one
/// of them another test's, which that test then restarts).
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("binding a free port")
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Waits until something accepts connections on `addr`; panics after `limit`.
pub async fn wait_for_listener(addr: &str, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing listens on {addr} after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A child process killed when dropped, so a failing test leaves nothing running.
#[derive(Debug)]
pub struct Child(pub std::process::Child);

impl Child {
    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the process to exit, at most `limit`.
    pub fn wait_for_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.0.try_wait().expect("waiting for the child") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "process still running after {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the test `name` of this test binary again inside a private network namespace
/// (`unshare --net`, then `ip link set lo up`), so multicast never leaves it.
///
/// Returns true in that child, where the test body runs; in the parent it waits for the child,
/// asserts it passed and returns false.
pub fn run_in_private_netns(name: &str) -> bool {
    if std::env::var_os("MICRO_TEST_NETNS").is_some() {
        assert!(
            micro::registry::network_is_private(),
            "refusing to run {name}: not inside a private network namespace"
        );
        return true;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let script = "ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo && exec \"$@\"";
    let out = std::process::Command::new("unshare")
        .args(["--net", "--", "sh", "-c", script, "sh"])
        .arg(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("MICRO_TEST_NETNS", "1")
        .output()
        .unwrap_or_else(|e| {
            panic!("unshare is needed (apt-get install util-linux iproute2; run as root): {e}")
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} in a private network namespace failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    false
}

/// A real etcd server on free loopback ports with a data dir of its own, stopped on drop.
#[derive(Debug)]
pub struct Etcd {
    child: Option<Child>,
    /// Client port.
    pub port: u16,
    peer_port: u16,
    data_dir: std::path::PathBuf,
    /// With TLS: the folder holding `ca.pem`, `server.{pem,key}` and `client.{pem,key}`.
    pub tls: Option<std::path::PathBuf>,
}

impl Etcd {
    /// Starts etcd and waits until it is healthy. Panics with an install hint when the binary
    /// is missing: these tests never skip.
    pub fn start() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let data_dir = std::env::temp_dir().join(format!(
            "micro-etcd-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let mut etcd = Etcd {
            child: None,
            port: free_port(),
            peer_port: free_port(),
            data_dir,
            tls: None,
        };
        etcd.launch();
        etcd
    }

    /// Starts etcd serving clients over TLS only, requiring client certificates; the
    /// certificates are made here with openssl, for 127.0.0.1.
    pub fn start_tls() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let base = std::env::temp_dir().join(format!(
            "micro-etcd-tls-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let certs = base.join("certs");
        std::fs::create_dir_all(&certs).expect("cert dir");
        make_certificates(&certs);
        let data_dir = base.join("data");
        let mut etcd = Etcd {
            child: None,
            port: free_port(),
            peer_port: free_port(),
            data_dir,
            tls: Some(certs),
        };
        etcd.launch();
        etcd
    }

    fn launch(&mut self) {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let client = format!("{scheme}://127.0.0.1:{}", self.port);
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let mut cmd = std::process::Command::new("etcd");
        if let Some(dir) = &self.tls {
            cmd.arg("--cert-file").arg(dir.join("server.pem"));
            cmd.arg("--key-file").arg(dir.join("server.key"));
            cmd.arg("--trusted-ca-file").arg(dir.join("ca.pem"));
            cmd.arg("--client-cert-auth");
        }
        let child = cmd
            .args(["--name", "micro-test", "--data-dir"])
            .arg(&self.data_dir)
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args([
                "--initial-cluster",
                &format!("micro-test={peer}"),
                "--log-level",
                "error",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("etcd is needed: apt-get install -y etcd-server etcd-client ({e})")
            });
        self.child = Some(Child(child));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let healthy = match self.tls {
                None => http_get(&self.address(), "/health")
                    .is_some_and(|b| b.contains("\"health\":\"true\"")),
                Some(_) => self.try_etcdctl(&["endpoint", "health"]).is_ok(),
            };
            if healthy {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "etcd did not become healthy on {}",
                self.address()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:<client port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the server (SIGKILL), keeping its data.
    pub fn stop(&mut self) {
        self.child = None;
    }

    /// Starts it again on the same ports and data.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Runs `etcdctl` against this server; returns its stdout.
    pub fn etcdctl(&self, args: &[&str]) -> String {
        self.try_etcdctl(args)
            .unwrap_or_else(|e| panic!("etcdctl {args:?}: {e}"))
    }

    fn try_etcdctl(&self, args: &[&str]) -> Result<String, String> {
        let mut cmd = std::process::Command::new("etcdctl");
        cmd.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.address()));
        if let Some(dir) = &self.tls {
            cmd.arg(format!("--cacert={}", dir.join("ca.pem").display()));
            cmd.arg(format!("--cert={}", dir.join("client.pem").display()));
            cmd.arg(format!("--key={}", dir.join("client.key").display()));
        }
        let out = cmd
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("etcdctl is needed: apt-get install -y etcd-client ({e})"));
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Waits (20 s at most) until `service` has a node registered here; its versions.
    pub fn wait_for_service(&self, service: &str) -> Vec<micro::registry::Service> {
        let registry = micro::registry::EtcdRegistry::new([self.address()]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let found = rt.block_on(registry.get_service(service));
            match found {
                Ok(versions) if versions.iter().any(|v| !v.nodes.is_empty()) => {
                    return versions.to_vec()
                }
                _ => assert!(
                    std::time::Instant::now() < deadline,
                    "{service} never registered"
                ),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// How many KV Range (get) requests the server has received, from its own metrics.
    pub fn range_requests(&self) -> u64 {
        let metrics = http_get(&self.address(), "/metrics").expect("etcd /metrics");
        metrics
            .lines()
            .filter(|l| {
                l.starts_with("grpc_server_started_total") && l.contains("grpc_method=\"Range\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.child = None;
        let _ = std::fs::remove_dir_all(&self.data_dir);
        if let Some(dir) = &self.tls {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A CA (`ca.pem`), a server certificate for 127.0.0.1 (`server.pem`, `server.key`) and a
/// client certificate (`client.pem`, `client.key`) in `dir`, made with openssl.
pub fn make_certificates(dir: &std::path::Path) {
    let pki = Pki::new(dir, "ca");
    pki.server("server", &["IP:127.0.0.1"]);
    pki.client("client");
}

/// A certificate authority made with openssl in a directory: `NAME.pem` and `NAME.key`, and
/// the certificates it signs beside them (EC P-256, valid two days).
#[derive(Debug)]
pub struct Pki {
    dir: std::path::PathBuf,
    name: String,
}

impl Pki {
    /// A new CA called `name` in `dir`.
    pub fn new(dir: &std::path::Path, name: &str) -> Pki {
        let pki = Pki {
            dir: dir.to_path_buf(),
            name: name.to_string(),
        };
        pki.new_key(name, &format!("{name}.pem"), &["-x509", "-days", "2"]);
        pki
    }

    /// The CA's certificate.
    pub fn ca(&self) -> std::path::PathBuf {
        self.dir.join(format!("{}.pem", self.name))
    }

    /// A server certificate `who.pem` (key `who.key`) naming `sans` (`DNS:x`, `IP:x`).
    pub fn server(&self, who: &str, sans: &[&str]) -> (std::path::PathBuf, std::path::PathBuf) {
        let ext = format!(
            "subjectAltName={}\nextendedKeyUsage=serverAuth\n",
            sans.join(",")
        );
        self.issue(who, &ext)
    }

    /// A client certificate `who.pem` (key `who.key`).
    pub fn client(&self, who: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        self.issue(who, "extendedKeyUsage=clientAuth\n")
    }

    /// A new P-256 key `who.key` and, in `out`, a request for `CN=micro-test-{who}` (or, with
    /// `-x509` among `args`, a self-signed certificate).
    fn new_key(&self, who: &str, out: &str, args: &[&str]) {
        let (key, subject) = (format!("{who}.key"), format!("/CN=micro-test-{who}"));
        let mut all = vec![
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ];
        all.extend_from_slice(&["-nodes", "-keyout", &key, "-out", out, "-subj", &subject]);
        all.extend_from_slice(args);
        self.openssl(&all);
    }

    fn issue(&self, who: &str, ext: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let (key, csr, pem, extfile) = (
            format!("{who}.key"),
            format!("{who}.csr"),
            format!("{who}.pem"),
            format!("{who}.ext"),
        );
        std::fs::write(self.dir.join(&extfile), ext).unwrap();
        self.new_key(who, &csr, &[]);
        let (ca, ca_key) = (format!("{}.pem", self.name), format!("{}.key", self.name));
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            &extfile,
        ]);
        (self.dir.join(pem), self.dir.join(key))
    }

    fn openssl(&self, args: &[&str]) {
        let out = std::process::Command::new("openssl")
            .current_dir(&self.dir)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("openssl is needed: apt-get install -y openssl ({e})"));
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// curl (`-s -S`) with these arguments on `url`: the HTTP status and the body. Panics with an
/// install hint when curl is missing, and when it could not make the request at all.
pub fn curl_status(url: &str, args: &[&str]) -> (u16, String) {
    let out = std::process::Command::new("curl")
        .args(["-s", "-S", "-o", "-", "-w", "\n%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .expect("curl is needed: apt-get install -y curl");
    assert!(
        out.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = out.rsplit_once('\n').unwrap_or(("", &out));
    (status.trim().parse().unwrap_or(0), body.to_string())
}

/// A plain HTTP/1.0 GET on loopback; the body, or `None` if nothing answers.
pub fn http_get(address: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
}

/// A real nats-server on a free loopback port, stopped on drop; restartable on the same port.
#[derive(Debug)]
pub struct Nats {
    child: Option<Child>,
    /// Client port.
    pub port: u16,
    /// With JetStream: where it stores streams.
    store: Option<std::path::PathBuf>,
}

impl Nats {
    /// Starts nats-server and waits until it accepts connections. Panics with an install hint
    /// when the binary is missing.
    pub fn start() -> Self {
        let mut nats = Nats {
            child: None,
            port: free_port(),
            store: None,
        };
        nats.launch();
        nats
    }

    /// Starts nats-server with JetStream, storing in a fresh folder that survives restarts.
    pub fn start_jetstream() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let store = std::env::temp_dir().join(format!(
            "micro-jetstream-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&store);
        let mut nats = Nats {
            child: None,
            port: free_port(),
            store: Some(store),
        };
        nats.launch();
        nats
    }

    fn launch(&mut self) {
        let mut command = std::process::Command::new("nats-server");
        command.args(["-a", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(store) = &self.store {
            command.arg("-js").arg("-sd").arg(store);
        }
        let child = command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("nats-server is needed: apt-get install -y nats-server ({e})")
            });
        self.child = Some(Child(child));
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "nats-server did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server and starts it again on the same port.
    pub fn restart(&mut self) {
        self.child = None;
        self.launch();
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.child = None;
        if let Some(store) = &self.store {
            let _ = std::fs::remove_dir_all(store);
        }
    }
}

/// Polls `f` until it is true; panics after `limit`, saying `what`.
pub async fn eventually(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    found(|| what.to_string(), limit, || f().then_some(())).await
}

/// Polls `f` until it finds something, and returns it; panics after `limit` with what `failed`
/// says then (it may describe what was seen instead).
pub async fn found<T>(
    failed: impl FnOnce() -> String,
    limit: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(found) = f() {
            return found;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("{}: not within {limit:?}", failed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The topic `test-service` subscribes to when `MICRO_TEST_EVENTS_FILE` is set.
pub const EVENTS: &str = "go.micro.test.events";

/// Appends each message to the file named by `MICRO_TEST_EVENTS_FILE`, one line each.
#[micro::subscriber]
pub async fn record_event(_ctx: &Context, msg: proto::EchoRequest) -> Result<()> {
    use std::io::Write;
    let path = std::env::var("MICRO_TEST_EVENTS_FILE")
        .map_err(|_| Error::internal_server_error(SERVICE, "no events file"))?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| Error::internal_server_error(SERVICE, e.to_string()))?;
    writeln!(file, "{}", msg.message)
        .map_err(|e| Error::internal_server_error(SERVICE, e.to_string()))
}

/// A binary of another workspace package, next to `anchor` (a binary of the calling test's own
/// package, e.g. `env!("CARGO_BIN_EXE_micro")`). `cargo test --workspace` builds them all first;
/// a lone `cargo test -p X` builds them here (never under a running cargo: the lock).
pub fn sibling_binary(anchor: &str, name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(anchor)
        .parent()
        .expect("binary dir")
        .to_path_buf();
    let path = dir.join(name);
    if !path.exists() {
        let status =
            std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args(["build", "-p", "examples", "-p", "micro-tests", "--bins"])
                .current_dir(workspace_root())
                .status()
                .expect("running cargo");
        assert!(status.success(), "building {name}");
    }
    path
}
