//! The commands themselves, over the library's client, registry and `micro::describe`.

use super::{Command, Env, Failure, GetWhat, ListWhat, RecordWhat};
use futures::StreamExt;
use micro::registry::{RegisterOptions, RegistryError, Service};
use micro::server::debug::proto::{HealthRequest, HealthResponse, StatsRequest, StatsResponse};
use micro::CallOptions;
use std::io::Write;
use std::time::Duration;

/// `micro call` arguments.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct CallArgs {
    /// The service, e.g. go.micro.srv.greeter.
    pub service: String,
    /// The endpoint, e.g. Greeter.Call.
    pub endpoint: String,
    /// The request, as JSON (default `{}`).
    pub request: Option<String>,
    #[command(flatten)]
    pub opts: Opts,
    /// Output: `json` (indented) or `raw` (as received).
    #[arg(long, default_value = "json", value_parser = ["json", "raw"])]
    pub output: String,
}

/// `micro stream` arguments.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct StreamArgs {
    /// The service.
    pub service: String,
    /// The endpoint, e.g. Greeter.Stream.
    pub endpoint: String,
    /// The request, as JSON (default `{}`); ignored with --stdin.
    pub request: Option<String>,
    /// Send JSON lines read from stdin as the request stream.
    #[arg(long)]
    pub stdin: bool,
    #[command(flatten)]
    pub opts: Opts,
}

/// Options of calls and streams.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Opts {
    /// Call this node (host:port) instead of asking the registry.
    #[arg(long)]
    pub address: Option<String>,
    /// Metadata sent with the call, `key=value`; repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    pub metadata: Vec<String>,
    /// Timeout: `5s`, `500ms`, `1m` or seconds.
    #[arg(long)]
    pub timeout: Option<String>,
}

impl Opts {
    fn call_options(&self) -> Result<CallOptions, Failure> {
        let mut opts = CallOptions::default();
        if let Some(address) = &self.address {
            opts = opts.address(address.clone());
        }
        for pair in &self.metadata {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                Failure::usage(format!("invalid --metadata {pair:?}: expected key=value"))
            })?;
            opts = opts.metadata(k.trim(), v.trim());
        }
        if let Some(t) = &self.timeout {
            opts = opts.timeout(parse_duration(t).ok_or_else(|| {
                Failure::usage(format!(
                    "invalid --timeout {t:?}: expected e.g. 5s, 500ms, 1m"
                ))
            })?);
        }
        Ok(opts)
    }
}

pub(crate) fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().ok()?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => return None,
    };
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// Parses a JSON argument, saying where it is invalid; nothing is sent when it is.
fn parse_json(what: &str, text: Option<&str>) -> Result<serde_json::Value, Failure> {
    let text = text.unwrap_or("{}");
    serde_json::from_str(text).map_err(|e| Failure::new(format!("invalid JSON in {what}: {e}")))
}

fn io(e: std::io::Error) -> Failure {
    Failure::output(e)
}

fn call_error(service: &str, endpoint: &str, e: &micro::Error) -> Failure {
    // A service nobody registered: say it plainly.
    if e.is_not_found() && e.is_from_client() {
        return Failure::new(format!(
            "error calling {service}.{endpoint}: service not found"
        ));
    }
    Failure::new(format!("error calling {service}.{endpoint}: {e}"))
}

fn lookup_error(service: &str, e: RegistryError) -> Failure {
    match e {
        RegistryError::NotFound => Failure::new(format!("service not found: {service}")),
        e => Failure::new(e.to_string()),
    }
}

/// Runs one command (everything but the interactive shell), writing its output to `out`.
pub(crate) async fn execute(
    env: &Env,
    command: &Command,
    out: &mut (dyn Write + Send),
) -> Result<(), Failure> {
    match command {
        Command::List {
            what: ListWhat::Services,
        } => {
            let names = micro::describe::service_names(env.registry.as_ref())
                .await
                .map_err(|e| Failure::new(e.to_string()))?;
            for name in names {
                writeln!(out, "{name}").map_err(io)?;
            }
        }
        Command::Get {
            what: GetWhat::Service { name },
        } => {
            let versions = env
                .registry
                .get_service(name)
                .await
                .map_err(|e| lookup_error(name, e))?;
            writeln!(out, "{}", micro::describe::service(&versions)).map_err(io)?;
        }
        Command::Call(args) => {
            let request = parse_json("the request", args.request.as_deref())?;
            let opts = args.opts.call_options()?;
            let reply = env
                .client
                .call_json(&args.service, &args.endpoint, &request, opts)
                .await
                .map_err(|e| call_error(&args.service, &args.endpoint, &e))?;
            let text = if args.output == "raw" {
                reply.to_string()
            } else {
                micro::describe::json(&reply)
            };
            writeln!(out, "{text}").map_err(io)?;
        }
        Command::Stream(args) => stream(env, args, out).await?,
        Command::Publish { topic, message } => {
            let message = parse_json("the message", Some(message))?;
            env.client
                .publish_json(topic, &message)
                .await
                .map_err(|e| Failure::new(format!("error publishing to {topic}: {e}")))?;
            writeln!(out, "ok").map_err(io)?;
        }
        Command::Health { service } => health(env, service, out).await?,
        Command::Stats { service } => stats(env, service, out).await?,
        Command::Register {
            what: RecordWhat::Service { json },
        } => {
            let record: Service = serde_json::from_str(json)
                .map_err(|e| Failure::new(format!("invalid service JSON: {e}")))?;
            env.registry
                .register(&record, RegisterOptions::default())
                .await
                .map_err(|e| Failure::new(e.to_string()))?;
            writeln!(out, "ok").map_err(io)?;
        }
        Command::Deregister {
            what: RecordWhat::Service { json },
        } => {
            let record: Service = serde_json::from_str(json)
                .map_err(|e| Failure::new(format!("invalid service JSON: {e}")))?;
            env.registry
                .deregister(&record)
                .await
                .map_err(|e| Failure::new(e.to_string()))?;
            writeln!(out, "ok").map_err(io)?;
        }
        Command::Cli => return Err(Failure::new("already in the interactive shell")),
        Command::Api(_) => return Err(Failure::new("micro api runs from the command line")),
        Command::Proxy(_) => return Err(Failure::new("micro proxy runs from the command line")),
        Command::Web(_) => return Err(Failure::new("micro web runs from the command line")),
        Command::Bot(_) => return Err(Failure::new("micro bot runs from the command line")),
        Command::New(_) => return Err(Failure::new("micro new runs from the command line")),
        Command::Auth { what } => crate::auth::run(what, out)?,
    }
    Ok(())
}

async fn stream(
    env: &Env,
    args: &super::commands::StreamArgs,
    out: &mut (dyn Write + Send),
) -> Result<(), Failure> {
    let opts = args.opts.call_options()?;
    let requests: Vec<serde_json::Value> = if args.stdin {
        let mut lines = Vec::new();
        for (n, line) in std::io::stdin().lines().enumerate() {
            let line = line.map_err(|e| Failure::new(format!("reading stdin: {e}")))?;
            if line.trim().is_empty() {
                continue;
            }
            lines.push(parse_json(&format!("stdin line {}", n + 1), Some(&line))?);
        }
        lines
    } else {
        vec![parse_json("the request", args.request.as_deref())?]
    };
    let mut replies = env
        .client
        .stream_json(
            &args.service,
            &args.endpoint,
            futures::stream::iter(requests),
            opts,
        )
        .await
        .map_err(|e| call_error(&args.service, &args.endpoint, &e))?;
    while let Some(reply) = replies.next().await {
        let reply = reply.map_err(|e| call_error(&args.service, &args.endpoint, &e))?;
        writeln!(out, "{}", micro::describe::json(&reply)).map_err(io)?;
        out.flush().map_err(io)?;
    }
    Ok(())
}

async fn health(env: &Env, service: &str, out: &mut (dyn Write + Send)) -> Result<(), Failure> {
    let versions = env
        .registry
        .get_service(service)
        .await
        .map_err(|e| lookup_error(service, e))?;
    let mut failed = 0;
    for node in versions.iter().flat_map(|v| v.nodes.iter()) {
        let opts = CallOptions::default()
            .address(node.address.clone())
            .timeout(Duration::from_secs(5));
        let health: micro::Result<HealthResponse> = env
            .client
            .call(service, "Debug.Health", &HealthRequest::default(), opts)
            .await;
        let status = match health {
            Ok(reply) => reply.status,
            Err(e) => {
                failed += 1;
                format!("error: {}", e.detail)
            }
        };
        writeln!(out, "{}  {}  {status}", node.id, node.address).map_err(io)?;
    }
    if failed > 0 {
        return Err(Failure::new(format!(
            "{failed} node(s) of {service} unhealthy"
        )));
    }
    Ok(())
}

async fn stats(env: &Env, service: &str, out: &mut (dyn Write + Send)) -> Result<(), Failure> {
    let versions = env
        .registry
        .get_service(service)
        .await
        .map_err(|e| lookup_error(service, e))?;
    writeln!(
        out,
        "node\taddress\tstarted\tuptime\tmemory\tthreads\trequests\terrors"
    )
    .map_err(io)?;
    let mut failed = 0;
    for node in versions.iter().flat_map(|v| v.nodes.iter()) {
        let opts = CallOptions::default()
            .address(node.address.clone())
            .timeout(Duration::from_secs(5));
        let stats: micro::Result<StatsResponse> = env
            .client
            .call(service, "Debug.Stats", &StatsRequest::default(), opts)
            .await;
        match stats {
            Ok(s) => {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}s\t{}\t{}\t{}\t{}",
                    node.id,
                    node.address,
                    format_unix(s.started),
                    s.uptime,
                    human_bytes(s.memory),
                    s.threads,
                    s.requests,
                    s.errors
                )
                .map_err(io)?;
            }
            Err(e) => {
                failed += 1;
                writeln!(out, "{}\t{}\terror: {}", node.id, node.address, e.detail).map_err(io)?;
            }
        }
    }
    if failed > 0 {
        return Err(Failure::new(format!(
            "{failed} node(s) of {service} did not answer"
        )));
    }
    Ok(())
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n}B")
    } else {
        format!("{value:.1}{}", UNITS[unit])
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` from a unix timestamp.
fn format_unix(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_dates() {
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(format_unix(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_unix(1_796_000_000), "2026-11-30 00:53:20 UTC");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0MiB");
    }
}
