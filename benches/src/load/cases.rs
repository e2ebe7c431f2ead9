//! The cases, each next to its baseline in the same run: same proto, same payload, same machine.
//!
//! | group     | case                              | baseline                                |
//! |-----------|-----------------------------------|-----------------------------------------|
//! | `unary`   | micro client -> micro service, protobuf and JSON | raw tonic client -> raw tonic server |
//! | `stream`  | `Greeter.Stream`, 1,000 replies   | the same on raw tonic                   |
//! | `unary`   | the volo-grpc greeter, under volo's client and raw tonic's | the same |
//! | `unary`, `stream` | each pair split: micro client -> raw server, raw client -> micro server | the same |
//! | `gateway` | HTTP -> `micro api` (rpc) -> greeter | HTTP -> axum handler + raw tonic client -> greeter |
//! | `proxy`   | micro client -> `micro proxy` -> micro greeter; and the direct call | the same through a hand-written raw-frame forwarder on tonic's channel |
//! | `broker`  | publish -> deliver, micro on NATS; the http broker | raw async-nats              |
//! | `idle`    | RSS of an idle greeter and `micro api` | -                                  |

use super::process::{CpuWindow, Proc, Server};
use super::servers::{registry_of, BrokerRun, Ready};
use super::{drive, Sample, Timing};
use crate::raw::greeter_client::GreeterClient;
use bytes::Bytes;
use examples::greeter::proto::{Request, Response, StreamingRequest, StreamingResponse};
use examples::greeter::SERVICE;
use futures::StreamExt;
use http_body_util::{BodyExt, Full};
use micro::{CallOptions, Client};
use serde::Serialize;
use std::future::Future;
use std::time::Duration;

/// Groups of cases, in the order they run.
pub const GROUPS: &[&str] = &[
    "unary", "stream", "gateway", "proxy", "tls", "broker", "idle",
];

/// Replies per streamed call.
const STREAMED: i64 = 1_000;

/// How a case is measured.
#[derive(Debug, Clone, Copy)]
enum Runner {
    UnaryTonic,
    UnaryMicro {
        json: bool,
        /// The metrics layers on server and client.
        metrics: bool,
        /// The tracing layers on server and client (spans sampled, exported nowhere).
        traces: bool,
    },
    StreamTonic,
    StreamMicro,
    /// A mixed pair, unary or streamed: micro client -> raw tonic server, or raw tonic client
    /// -> micro server.
    Cross {
        stream: bool,
        micro_client: bool,
    },
    /// Through this gateway server kind.
    Gateway(&'static str),
    /// A micro client's call through this forwarding server kind, or straight (`None`).
    Proxy(Option<&'static str>),
    /// The volo-grpc greeter server, called by volo's own client or by raw tonic's.
    Volo {
        tonic_client: bool,
    },
    /// This broker loop kind.
    Broker(&'static str),
    /// A unary call over TLS: raw tonic on both sides, or micro (verifying a token on every
    /// call with `auth`).
    Tls {
        micro: bool,
        auth: bool,
    },
}

/// A measured case.
#[derive(Debug)]
struct Case {
    group: &'static str,
    name: &'static str,
    baseline: bool,
    unit: &'static str,
    /// Whether the group's baseline is this case's floor (the http broker has none: raw NATS
    /// is another transport).
    compared: bool,
    /// Run at the group's highest concurrency only (the split pairs: that is where the gaps
    /// are, and the quick run stays short).
    top_only: bool,
    runner: Runner,
}

/// Every measured case, each group's baseline first.
const CASES: &[Case] = &[
    Case {
        group: "unary",
        name: "raw tonic",
        baseline: true,
        unit: "req/s",
        compared: true,
        top_only: false,
        runner: Runner::UnaryTonic,
    },
    Case {
        group: "unary",
        name: "micro proto",
        baseline: false,
        unit: "req/s",
        compared: true,
        top_only: false,
        runner: Runner::UnaryMicro {
            json: false,
            metrics: false,
            traces: false,
        },
    },
    Case {
        group: "unary",
        name: "micro JSON",
        baseline: false,
        unit: "req/s",
        compared: true,
        top_only: false,
        runner: Runner::UnaryMicro {
            json: true,
            metrics: false,
            traces: false,
        },
    },
    Case {
        group: "unary",
        name: "micro proto, metrics",
        baseline: false,
        unit: "req/s",
        compared: true,
        top_only: true,
        runner: Runner::UnaryMicro {
            json: false,
            metrics: true,
            traces: false,
        },
    },
    Case {
        group: "unary",
        name: "micro proto, metrics + traces",
        baseline: false,
        unit: "req/s",
        compared: true,
        top_only: true,
        runner: Runner::UnaryMicro {
            json: false,
            metrics: true,
            traces: true,
        },
    },
    Case {
        group: "unary",
        name: "micro client, tonic server",
        baseline: false,
        unit: "req/s",
        compared: true,
        top_only: true,
        runner: Runner::Cross {
            stream: false,
            micro_client: true,
        },
    },
    Case {
        group: "unary",
        name: "tonic client, micro server",
        baseline: false,
        unit: "req/s",
        compared: true,
        top_only: false,
        runner: Runner::Cross {
            stream: false,
            micro_client: false,
        },
    },
    Case {
        group: "unary",
        name: "tonic client, volo-grpc server",
        baseline: false,
        unit: "req/s",
        compared: true,
        top_only: false,
        runner: Runner::Volo { tonic_client: true },
    },
    Case {
        group: "unary",
        name: "volo-grpc",
        baseline: false,
        unit: "req/s",
        compared: true,
        top_only: false,
        runner: Runner::Volo {
            tonic_client: false,
        },
    },
    Case {
        group: "stream",
        name: "raw tonic",
        baseline: true,
        unit: "msg/s",
        compared: true,
        top_only: false,
        runner: Runner::StreamTonic,
    },
    Case {
        group: "stream",
        name: "micro proto",
        baseline: false,
        unit: "msg/s",
        compared: true,
        top_only: false,
        runner: Runner::StreamMicro,
    },
    Case {
        group: "stream",
        name: "micro client, tonic server",
        baseline: false,
        unit: "msg/s",
        compared: true,
        top_only: true,
        runner: Runner::Cross {
            stream: true,
            micro_client: true,
        },
    },
    Case {
        group: "stream",
        name: "tonic client, micro server",
        baseline: false,
        unit: "msg/s",
        compared: true,
        top_only: true,
        runner: Runner::Cross {
            stream: true,
            micro_client: false,
        },
    },
    Case {
        group: "gateway",
        name: "axum -> raw tonic",
        baseline: true,
        unit: "req/s",
        compared: true,
        top_only: false,
        runner: Runner::Gateway("axum-forwarder"),
    },
    Case {
        group: "gateway",
        name: "micro api (rpc)",
        baseline: false,
        unit: "req/s",
        compared: true,
        top_only: false,
        runner: Runner::Gateway("micro-api"),
    },
    Case {
        group: "proxy",
        name: "tonic forwarder",
        baseline: true,
        unit: "req/s",
        compared: true,
        top_only: false,
        runner: Runner::Proxy(Some("tonic-forwarder")),
    },
    Case {
        group: "proxy",
        name: "micro proxy",
        baseline: false,
        unit: "req/s",
        compared: true,
        top_only: false,
        runner: Runner::Proxy(Some("micro-proxy")),
    },
    Case {
        group: "proxy",
        name: "direct, no proxy",
        baseline: false,
        unit: "req/s",
        compared: false,
        top_only: false,
        runner: Runner::Proxy(None),
    },
    Case {
        group: "tls",
        name: "raw tonic, TLS",
        baseline: true,
        unit: "req/s",
        compared: true,
        top_only: false,
        runner: Runner::Tls {
            micro: false,
            auth: false,
        },
    },
    Case {
        group: "tls",
        name: "micro proto, TLS",
        baseline: false,
        unit: "req/s",
        compared: true,
        top_only: false,
        runner: Runner::Tls {
            micro: true,
            auth: false,
        },
    },
    Case {
        group: "tls",
        name: "micro proto, TLS + auth",
        baseline: false,
        unit: "req/s",
        compared: true,
        top_only: false,
        runner: Runner::Tls {
            micro: true,
            auth: true,
        },
    },
    Case {
        group: "broker",
        name: "raw async-nats",
        baseline: true,
        unit: "msg/s",
        compared: true,
        top_only: false,
        runner: Runner::Broker("raw-nats"),
    },
    Case {
        group: "broker",
        name: "micro nats, buffered",
        baseline: false,
        unit: "msg/s",
        compared: true,
        top_only: false,
        runner: Runner::Broker("micro-nats-buffered"),
    },
    Case {
        group: "broker",
        name: "micro nats, each publish written",
        baseline: false,
        unit: "msg/s",
        compared: true,
        top_only: false,
        runner: Runner::Broker("micro-nats"),
    },
    Case {
        group: "broker",
        name: "micro http broker",
        baseline: false,
        unit: "msg/s",
        compared: false,
        top_only: false,
        runner: Runner::Broker("micro-http"),
    },
];

/// Concurrency levels of each measured group, in the order the groups run (broker cases keep
/// a batch of messages in flight instead of concurrent callers).
const LEVELS: &[(&str, &[usize])] = &[
    ("unary", &[1, 16, 64]),
    ("stream", &[1, 16]),
    ("gateway", &[1, 16, 64]),
    ("proxy", &[1, 16, 64]),
    ("tls", &[1, 16, 64]),
    ("broker", &[super::servers::BATCH as usize]),
];

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Warm-up and measured window of each case.
    pub timing: Timing,
    /// How many times each case runs, alternating with the others of its group; rows show the
    /// median round.
    pub rounds: usize,
    /// Groups to run (all of [`GROUPS`] by default).
    pub groups: Vec<String>,
    /// Only cases whose name holds this (any case), e.g. `micro` or `tonic`.
    pub case: Option<String>,
    /// Whether the volo-grpc peer's rows run (its binary is built by `scripts/bench` only).
    pub peer: bool,
}

/// One line of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The group (`unary`, `stream`, ...).
    pub group: &'static str,
    /// What ran.
    pub case: String,
    /// True for the floor the group's other cases are compared with.
    pub baseline: bool,
    /// Concurrent callers (for broker cases: messages in flight).
    pub concurrency: usize,
    /// What the rate counts: `req/s` or `msg/s`.
    pub unit: &'static str,
    /// Rate, latencies; none for idle rows.
    pub sample: Option<Sample>,
    /// Server CPU time per request or message, in microseconds.
    pub cpu_us_per_item: Option<f64>,
    /// The load generator's CPU time per request or message (the framework's client side, for
    /// unary and stream cases), in microseconds.
    pub client_cpu_us_per_item: Option<f64>,
    /// Peak resident memory of the measured server process (for idle rows: resident now).
    pub rss_mib: f64,
    /// Rate over the baseline's rate at the same concurrency.
    pub ratio: Option<f64>,
    /// p99 over the baseline's p99 at the same concurrency.
    pub p99_ratio: Option<f64>,
}

impl Row {
    fn measured(
        group: &'static str,
        case: &str,
        baseline: bool,
        concurrency: usize,
        unit: &'static str,
        m: Measured,
    ) -> Self {
        Row {
            group,
            case: case.to_string(),
            baseline,
            concurrency,
            unit,
            cpu_us_per_item: per_item(m.cpu_seconds, &m.sample),
            client_cpu_us_per_item: m.client_cpu_seconds.and_then(|c| per_item(c, &m.sample)),
            sample: Some(m.sample),
            rss_mib: m.rss_mib,
            ratio: None,
            p99_ratio: None,
        }
    }
}

/// The round with the median rate (the upper one of an even count).
fn median(mut rounds: Vec<Measured>) -> Measured {
    rounds.sort_by(|a, b| a.sample.rate().total_cmp(&b.sample.rate()));
    rounds.swap_remove(rounds.len() / 2)
}

fn per_item(seconds: f64, sample: &Sample) -> Option<f64> {
    (sample.items > 0).then(|| seconds * 1e6 / sample.items as f64)
}

/// A sample with the measured server's CPU time and peak memory.
struct Measured {
    sample: Sample,
    cpu_seconds: f64,
    client_cpu_seconds: Option<f64>,
    rss_mib: f64,
}

/// Runs the plan's groups and returns every row, ratios filled in. `progress` sees each row
/// as it is measured.
pub async fn run(plan: &Plan, mut progress: impl FnMut(&Row)) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let mut push = |row: Row, rows: &mut Vec<Row>| {
        progress(&row);
        rows.push(row);
    };
    let t = plan.timing;
    let wanted = |g: &str| plan.groups.iter().any(|w| w == g);
    let picked = |case: &str| {
        plan.case
            .as_ref()
            .is_none_or(|c| case.to_lowercase().contains(&c.to_lowercase()))
    };
    let mut nats = None;
    let mut pki = None;
    for (group, levels) in LEVELS {
        if !wanted(group) {
            continue;
        }
        for &conc in *levels {
            let top = levels.last() == Some(&conc);
            let cases: Vec<&Case> = CASES
                .iter()
                .filter(|c| c.group == *group && picked(c.name) && (top || !c.top_only))
                .filter(|c| plan.peer || !matches!(c.runner, Runner::Volo { .. }))
                .collect();
            // Rounds alternate the cases, so a machine that slows down or speeds up during the
            // run weighs on the framework and its baseline alike; each row is its median round.
            let mut rounds: Vec<Vec<Measured>> = cases.iter().map(|_| Vec::new()).collect();
            for _ in 0..plan.rounds.max(1) {
                for (case, taken) in cases.iter().zip(rounds.iter_mut()) {
                    let measured = match case.runner {
                        Runner::UnaryTonic => unary_tonic(conc, t).await?,
                        Runner::UnaryMicro {
                            json,
                            metrics,
                            traces,
                        } => unary_micro(conc, t, json, metrics, traces).await?,
                        Runner::StreamTonic => stream_tonic(conc, t).await?,
                        Runner::Cross {
                            stream,
                            micro_client,
                        } => cross(conc, t, stream, micro_client).await?,
                        Runner::StreamMicro => stream_micro(conc, t).await?,
                        Runner::Gateway(kind) => gateway(conc, t, kind).await?,
                        Runner::Proxy(kind) => proxied(conc, t, kind).await?,
                        Runner::Volo { tonic_client: raw } => unary_volo(conc, t, raw).await?,
                        Runner::Tls { micro, auth } => {
                            if pki.is_none() {
                                pki = Some(
                                    tokio::task::spawn_blocking(BenchPki::new)
                                        .await
                                        .map_err(|e| format!("making certificates: {e}"))?,
                                );
                            }
                            let pki = pki.as_ref().ok_or("no certificates")?;
                            if micro {
                                unary_micro_tls(conc, t, pki, auth).await?
                            } else {
                                unary_tonic_tls(conc, t, pki).await?
                            }
                        }
                        Runner::Broker(kind) => {
                            if nats.is_none() {
                                nats = Some(
                                    tokio::task::spawn_blocking(micro_tests::Nats::start)
                                        .await
                                        .map_err(|e| format!("starting nats-server: {e}"))?,
                                );
                            }
                            let address = nats.as_ref().map(|n| n.address()).unwrap_or_default();
                            broker(kind, &address, t).await?
                        }
                    };
                    taken.push(measured);
                }
            }
            for (case, taken) in cases.iter().zip(rounds) {
                let measured = median(taken);
                let row = Row::measured(group, case.name, case.baseline, conc, case.unit, measured);
                push(row, &mut rows);
            }
        }
    }
    if wanted("idle") && picked("idle") {
        for (binary, args, case) in [
            ("greeter", &[][..], "greeter"),
            (
                "micro",
                &["api", "--address", "127.0.0.1:0"][..],
                "micro api",
            ),
        ] {
            let (rss, registry) = idle(binary, args).await?;
            push(
                Row {
                    group: "idle",
                    case: format!("{case} ({registry} registry)"),
                    baseline: false,
                    concurrency: 0,
                    unit: "",
                    sample: None,
                    cpu_us_per_item: None,
                    client_cpu_us_per_item: None,
                    rss_mib: rss,
                    ratio: None,
                    p99_ratio: None,
                },
                &mut rows,
            );
        }
    }
    fill_ratios(&mut rows);
    Ok(rows)
}

/// Each measured row's rate and p99 over its group's baseline at the same concurrency.
pub fn fill_ratios(rows: &mut [Row]) {
    let baselines: Vec<(&'static str, usize, Sample)> = rows
        .iter()
        .filter(|r| r.baseline)
        .filter_map(|r| Some((r.group, r.concurrency, r.sample.clone()?)))
        .collect();
    for row in rows.iter_mut() {
        let base = baselines
            .iter()
            .find(|(g, c, _)| *g == row.group && *c == row.concurrency);
        if let (Some((_, _, base)), Some(sample)) = (base, &row.sample) {
            let compared = CASES
                .iter()
                .any(|c| c.group == row.group && c.name == row.case && c.compared);
            if !compared {
                continue;
            }
            row.ratio = Some(sample.rate() / base.rate());
            row.p99_ratio = Some(sample.p99_us / base.p99_us);
        }
    }
}

/// Drives `op` against `servers`, reading the CPU time of `measured` (a subset of them) over
/// the window and its peak memory after.
async fn measure<F, Fut>(
    measured: &Server,
    conc: usize,
    t: Timing,
    op: F,
) -> Result<Measured, String>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<u64, String>> + Send,
{
    let proc = Proc(measured.pid());
    let (mut cpu, mut client_cpu) = (CpuWindow::new(vec![proc]), CpuWindow::new(vec![Proc::me()]));
    let sample = drive(conc, t, op, |open| {
        cpu.mark(open);
        client_cpu.mark(open);
    })
    .await?;
    Ok(Measured {
        sample,
        cpu_seconds: cpu.seconds(),
        client_cpu_seconds: Some(client_cpu.seconds()),
        rss_mib: proc.peak_rss_mib(),
    })
}

async fn tonic_client(address: &str) -> Result<GreeterClient<tonic::transport::Channel>, String> {
    GreeterClient::connect(format!("http://{address}"))
        .await
        .map_err(|e| format!("connecting to {address}: {e}"))
}

async fn unary_tonic(conc: usize, t: Timing) -> Result<Measured, String> {
    let (server, ready) = Server::start::<Ready>("tonic-greeter", &[]).await?;
    let client = tonic_client(&ready.address).await?;
    measure(&server, conc, t, move || tonic_call(client.clone())).await
}

/// The volo-grpc greeter, under raw tonic's client (in this process) or volo's (in its own).
async fn unary_volo(conc: usize, t: Timing, raw_caller: bool) -> Result<Measured, String> {
    let (server, ready) = super::volo::server().await?;
    if raw_caller {
        let client = tonic_client(&ready.address).await?;
        return measure(&server, conc, t, move || tonic_call(client.clone())).await;
    }
    let run = super::volo::load(&server, &ready.address, conc, t).await?;
    Ok(Measured {
        sample: run.sample,
        cpu_seconds: run.cpu_seconds,
        client_cpu_seconds: Some(run.client_cpu_seconds),
        rss_mib: Proc(server.pid()).peak_rss_mib(),
    })
}

/// One greeter call with the raw tonic client.
async fn tonic_call(mut client: GreeterClient<tonic::transport::Channel>) -> Result<u64, String> {
    let name = "John".to_string();
    let reply = client
        .call(crate::raw::Request { name })
        .await
        .map_err(|s| s.to_string())?;
    expect(reply.into_inner().msg == "Hello John", "raw tonic reply")
}

/// One greeter call with the micro client, in protobuf.
async fn micro_call(client: Client) -> Result<u64, String> {
    let request = Request {
        name: "John".into(),
    };
    let reply: Response = client
        .call(SERVICE, "Greeter.Call", &request, CallOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    expect(reply.msg == "Hello John", "micro reply")
}

/// A pair split by side, to tell which half of a gap is the client's and which the server's.
async fn cross(
    conc: usize,
    t: Timing,
    stream: bool,
    micro_client: bool,
) -> Result<Measured, String> {
    if micro_client {
        let (server, ready) = Server::start::<Ready>("tonic-greeter", &[]).await?;
        // The raw server answers the same paths, so a record of it is all the client needs.
        let record = micro::registry::Service {
            name: SERVICE.into(),
            version: "latest".into(),
            nodes: vec![micro::registry::Node {
                id: "tonic-greeter".into(),
                address: ready.address.clone(),
                metadata: Default::default(),
            }],
            ..Default::default()
        };
        let client = Client::new(registry_of(&[record]).await);
        if stream {
            measure(&server, conc, t, move || micro_stream(client.clone())).await
        } else {
            measure(&server, conc, t, move || micro_call(client.clone())).await
        }
    } else {
        let (server, ready) = Server::start::<Ready>("micro-greeter", &[]).await?;
        let client = tonic_client(&ready.address).await?;
        if stream {
            measure(&server, conc, t, move || tonic_stream(client.clone())).await
        } else {
            measure(&server, conc, t, move || tonic_call(client.clone())).await
        }
    }
}

async fn micro_client(ready: &Ready) -> Client {
    Client::new(registry_of(&ready.records).await)
}

async fn unary_micro(
    conc: usize,
    t: Timing,
    json: bool,
    metrics: bool,
    traces: bool,
) -> Result<Measured, String> {
    let mut args = Vec::new();
    if metrics {
        args.push("metrics".to_string());
    }
    if traces {
        args.push("traces".to_string());
    }
    let (server, ready) = Server::start::<Ready>("micro-greeter", &args).await?;
    let client = if metrics || traces {
        let registry = registry_of(&ready.records).await;
        let mut builder = Client::builder().registry(registry);
        if traces {
            let tracer = micro::wrappers::trace::Tracer::new("micro-bench");
            builder = builder.layer(tracer.client());
        }
        if metrics {
            builder = builder.layer(micro::wrappers::metrics::MetricsLayer::client());
        }
        builder.build()
    } else {
        micro_client(&ready).await
    };
    if json {
        measure(&server, conc, t, move || {
            let client = client.clone();
            async move {
                let request = serde_json::json!({ "name": "John" });
                let reply = client
                    .call_json(SERVICE, "Greeter.Call", &request, CallOptions::default())
                    .await
                    .map_err(|e| e.to_string())?;
                expect(reply["msg"] == "Hello John", "micro JSON reply")
            }
        })
        .await
    } else {
        measure(&server, conc, t, move || micro_call(client.clone())).await
    }
}

/// The TLS cases' files, made with openssl once per run: a CA, the greeter's certificate
/// (naming the service, as a micro client checks), and the auth key pair.
struct BenchPki {
    dir: std::path::PathBuf,
    ca: std::path::PathBuf,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
    auth: micro_tests::AuthKeys,
}

impl BenchPki {
    fn new() -> BenchPki {
        let dir = std::env::temp_dir().join(format!("micro-bench-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let pki = micro_tests::Pki::new(&dir, "bench");
        let (cert, key) = pki.server("greeter", &[&format!("DNS:{SERVICE}")]);
        BenchPki {
            ca: pki.ca(),
            cert,
            key,
            auth: micro_tests::AuthKeys::new(&dir, "auth"),
            dir,
        }
    }
}

impl Drop for BenchPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn unary_tonic_tls(conc: usize, t: Timing, pki: &BenchPki) -> Result<Measured, String> {
    let files = [
        pki.cert.display().to_string(),
        pki.key.display().to_string(),
    ];
    let (server, ready) = Server::start::<Ready>("tonic-greeter-tls", &files).await?;
    let ca = std::fs::read(&pki.ca).map_err(|e| e.to_string())?;
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(ca))
        .domain_name(SERVICE);
    let channel = tonic::transport::Endpoint::from_shared(format!("https://{}", ready.address))
        .map_err(|e| e.to_string())?
        .tls_config(tls)
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| format!("connecting over TLS: {e}"))?;
    let client = GreeterClient::new(channel);
    measure(&server, conc, t, move || tonic_call(client.clone())).await
}

async fn unary_micro_tls(
    conc: usize,
    t: Timing,
    pki: &BenchPki,
    auth: bool,
) -> Result<Measured, String> {
    let mut args = vec![format!("tls={},{}", pki.cert.display(), pki.key.display())];
    if auth {
        args.push(format!("auth={}", pki.auth.public.display()));
    }
    let (server, ready) = Server::start::<Ready>("micro-greeter", &args).await?;
    let tls = micro::client::ClientTls::from_files(&micro::tls::ClientTlsFiles {
        ca: Some(pki.ca.clone()),
        ..Default::default()
    })
    .map_err(|e| e.to_string())?;
    let mut builder = Client::builder()
        .registry(registry_of(&ready.records).await)
        .tls(tls)
        .no_token();
    if auth {
        let signer =
            micro::auth::Signer::from_file(&pki.auth.private).map_err(|e| e.to_string())?;
        let token = signer
            .sign("micro-bench", &[], std::time::Duration::from_secs(3600))
            .map_err(|e| e.to_string())?;
        builder = builder.token(token);
    }
    let client = builder.build();
    measure(&server, conc, t, move || micro_call(client.clone())).await
}

async fn stream_tonic(conc: usize, t: Timing) -> Result<Measured, String> {
    let (server, ready) = Server::start::<Ready>("tonic-greeter", &[]).await?;
    let client = tonic_client(&ready.address).await?;
    measure(&server, conc, t, move || tonic_stream(client.clone())).await
}

async fn stream_micro(conc: usize, t: Timing) -> Result<Measured, String> {
    let (server, ready) = Server::start::<Ready>("micro-greeter", &[]).await?;
    let client = micro_client(&ready).await;
    measure(&server, conc, t, move || micro_stream(client.clone())).await
}

/// One streamed call with the raw tonic client, counting the replies.
async fn tonic_stream(mut client: GreeterClient<tonic::transport::Channel>) -> Result<u64, String> {
    let request = crate::raw::StreamingRequest { count: STREAMED };
    let replies = client
        .stream(request)
        .await
        .map_err(|s| s.to_string())?
        .into_inner();
    counted(replies.count().await as u64)
}

/// One streamed call with the micro client, counting the replies.
async fn micro_stream(client: Client) -> Result<u64, String> {
    let replies = client
        .server_stream::<_, StreamingResponse>(
            SERVICE,
            "Greeter.Stream",
            &StreamingRequest { count: STREAMED },
            CallOptions::default(),
        )
        .await
        .map_err(|e| e.to_string())?;
    counted(replies.count().await as u64)
}

/// HTTP through `gateway` (`micro-api` or `axum-forwarder`) to a micro greeter; the gateway
/// process is the one measured, the greeter behind it is the same for both.
async fn gateway(conc: usize, t: Timing, gateway: &str) -> Result<Measured, String> {
    let (_greeter, greeter) = Server::start::<Ready>("micro-greeter", &[]).await?;
    let arg = if gateway == "micro-api" {
        serde_json::to_string(&greeter.records).expect("json")
    } else {
        greeter.address.clone()
    };
    let (server, ready) = Server::start::<Ready>(gateway, &[arg]).await?;
    let url: http::Uri = format!("http://{}/greeter/call", ready.address)
        .parse()
        .map_err(|e| format!("gateway address: {e}"))?;
    // One keep-alive connection per caller, as any HTTP load generator does.
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(conc)
        .build_http::<Full<Bytes>>();
    measure(&server, conc, t, move || {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let request = http::Request::post(url)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from_static(br#"{"name":"John"}"#)))
                .expect("request");
            let reply = client.request(request).await.map_err(|e| e.to_string())?;
            let status = reply.status();
            let body = reply
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            let ok = status.is_success() && body.windows(10).any(|w| w == b"Hello John");
            expect(
                ok,
                &format!(
                    "gateway answered {status} {}",
                    String::from_utf8_lossy(&body)
                ),
            )
        }
    })
    .await
}

/// Greeter calls of a micro client through forwarder `kind` (measuring the forwarder's CPU), or
/// straight to the greeter (measuring its CPU).
async fn proxied(conc: usize, t: Timing, kind: Option<&str>) -> Result<Measured, String> {
    let (greeter_server, greeter) = Server::start::<Ready>("micro-greeter", &[]).await?;
    let Some(kind) = kind else {
        let client = Client::new(registry_of(&greeter.records).await);
        return measure(&greeter_server, conc, t, move || micro_call(client.clone())).await;
    };
    let arg = if kind == "micro-proxy" {
        serde_json::to_string(&greeter.records).expect("json")
    } else {
        greeter.address.clone()
    };
    let (server, ready) = Server::start::<Ready>(kind, &[arg]).await?;
    // The caller knows the forwarder only, as under MICRO_PROXY.
    let client = Client::builder()
        .registry(registry_of(&[]).await)
        .proxy(micro::client::Via::Address(ready.address.clone()))
        .build();
    measure(&server, conc, t, move || micro_call(client.clone())).await
}

/// A broker loop in its own process, which measures itself ([`super::servers::broker`]).
async fn broker(kind: &str, nats: &str, t: Timing) -> Result<Measured, String> {
    let exe = std::env::current_exe().map_err(|e| format!("own binary: {e}"))?;
    let mut command = tokio::process::Command::new(exe);
    command.args([
        "broker",
        kind,
        nats,
        &t.warmup.as_secs_f64().to_string(),
        &t.run.as_secs_f64().to_string(),
    ]);
    let (process, line) = Server::spawn(command, "RESULT ").await?;
    process.finish().await;
    let run: BrokerRun = serde_json::from_str(&line).map_err(|e| format!("broker {kind}: {e}"))?;
    Ok(Measured {
        sample: run.sample,
        cpu_seconds: run.cpu_seconds,
        client_cpu_seconds: None,
        rss_mib: run.peak_rss_mib,
    })
}

/// How long an idle process is left to settle (register, announce) before its memory is read.
const SETTLE: Duration = Duration::from_secs(2);

/// Resident memory of `binary` (built next to this one) left idle, and the registry it used:
/// the default, mDNS, inside a private network namespace when this runs as root (mDNS must not
/// leave the machine), otherwise the memory registry.
async fn idle(binary: &str, args: &[&str]) -> Result<(f64, &'static str), String> {
    let exe = std::env::current_exe().map_err(|e| format!("own binary: {e}"))?;
    let path = exe.with_file_name(binary);
    if !path.exists() {
        return Err(format!(
            "{} is missing: cargo build --release -p examples -p micro-tools (scripts/bench does)",
            path.display()
        ));
    }
    let in_netns = std::process::Command::new("unshare")
        .args(["-n", "true"])
        .status()
        .is_ok_and(|s| s.success());
    let (mut command, registry) = if in_netns {
        let mut c = tokio::process::Command::new("unshare");
        c.args(["-n", "sh", "-c", r#"ip link set lo up && exec "$0" "$@""#])
            .arg(&path)
            .args(args);
        (c, "mdns")
    } else {
        let mut c = tokio::process::Command::new(&path);
        c.args(args).env("MICRO_REGISTRY", "memory");
        (c, "memory")
    };
    let mut child = command
        .env("MICRO_BROKER", "http")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("starting {binary}: {e}"))?;
    tokio::time::sleep(SETTLE).await;
    if let Ok(Some(status)) = child.try_wait() {
        return Err(format!("{binary} exited while idle: {status}"));
    }
    let pid = child.id().ok_or_else(|| format!("{binary} exited"))?;
    Ok((Proc(pid).rss_mib(), registry))
}

fn expect(ok: bool, what: &str) -> Result<u64, String> {
    if ok {
        Ok(1)
    } else {
        Err(format!("unexpected answer: {what}"))
    }
}

fn counted(n: u64) -> Result<u64, String> {
    if n == STREAMED as u64 {
        Ok(n)
    } else {
        Err(format!("stream ended after {n} of {STREAMED} replies"))
    }
}
