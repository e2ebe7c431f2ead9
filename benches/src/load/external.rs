//! The server side measured from outside: `h2load` (nghttp2's HTTP/2 load generator, in C)
//! sends the same gRPC request (`Greeter.Call {"name": "John"}`, framed, `content-type:
//! application/grpc`, `te: trailers`) over one connection with N streams in flight, to the
//! raw tonic greeter, the micro greeter and the volo-grpc greeter, rounds alternating. No Rust
//! client is on the measured path, so the servers are not judged only by our own client.

use super::process::{CpuWindow, Proc, Server};
use super::servers::Ready;
use super::Timing;
use std::path::PathBuf;
use tokio::process::Command;

/// The servers, baseline first.
const SERVERS: [(&str, &str); 3] = [
    ("tonic-greeter", "raw tonic server (baseline)"),
    ("micro-greeter", "micro greeter"),
    ("volo-greeter", "volo-grpc server"),
];

/// Streams in flight on the one connection.
const CONCURRENCY: [usize; 2] = [16, 64];

/// `Request { name: "John" }` as a gRPC message: no compression, length 6, then protobuf.
const REQUEST: &[u8] = b"\x00\x00\x00\x00\x06\x0a\x04John";

/// One round of one server at one concurrency.
#[derive(Debug, Clone, Copy)]
struct Round {
    rate: f64,
    mean_us: f64,
    server_cpu_us: f64,
}

/// What h2load printed, or why the round does not count.
fn parse(output: &str) -> Result<(f64, f64, u64), String> {
    let line = |prefix: &str| {
        output
            .lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .ok_or_else(|| format!("h2load printed no {prefix:?} line:\n{output}"))
    };
    // "finished in 1.50s, 68252.00 req/s, 3.12MB/s"
    let finished = line("finished in")?;
    let rate: f64 = finished
        .split(',')
        .nth(1)
        .and_then(|s| s.trim().strip_suffix(" req/s"))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("unreadable {finished:?}"))?;
    // "requests: N total, N started, N done, N succeeded, 0 failed, 0 errored, 0 timeout"
    let requests = line("requests:")?;
    let count = |what: &str| -> Option<u64> {
        requests
            .split(',')
            .find(|p| p.trim().ends_with(what))
            .and_then(|p| {
                p.trim()
                    .trim_start_matches("requests:")
                    .split_whitespace()
                    .next()
            })
            .and_then(|n| n.parse().ok())
    };
    let (done, failed, errored) = (count("succeeded"), count("failed"), count("errored"));
    if failed != Some(0) || errored != Some(0) {
        return Err(format!("h2load saw failures: {requests}"));
    }
    // "time for request:       85us      8.68ms       910us       406us    75.35%"
    let timing = line("time for request:")?;
    let mean = timing
        .trim_start_matches("time for request:")
        .split_whitespace()
        .nth(2)
        .and_then(micros)
        .ok_or_else(|| format!("unreadable {timing:?}"))?;
    Ok((rate, mean, done.unwrap_or(0)))
}

/// `85us`, `8.68ms`, `1.2s` in microseconds.
fn micros(text: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1_000.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1_000_000.0)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

async fn round(
    kind: &str,
    concurrency: usize,
    timing: Timing,
    request: &PathBuf,
) -> Result<Round, String> {
    let (server, ready): (Server, Ready) = match kind {
        "volo-greeter" => super::volo::server().await?,
        _ => Server::start(kind, &[]).await?,
    };
    let url = format!("http://{}/go.micro.srv.greeter.Greeter/Call", ready.address);
    let warmup_ms = (timing.warmup.as_millis() as u64).max(100);
    let run_s = timing.run.as_secs_f64().max(1.0).round() as u64;
    let h2load = Command::new("h2load")
        .args(["-c", "1", "-t", "1", "-m", &concurrency.to_string()])
        .args([
            "-D",
            &run_s.to_string(),
            &format!("--warm-up-time={warmup_ms}ms"),
        ])
        .args([
            "-H",
            "content-type: application/grpc",
            "-H",
            "te: trailers",
            "-d",
        ])
        .arg(request)
        .arg(&url)
        .kill_on_drop(true)
        .output();
    let mut window = CpuWindow::new(vec![Proc(server.pid())]);
    // The server's CPU over h2load's measured phase, which starts after its warm-up.
    let measured = async {
        tokio::time::sleep(std::time::Duration::from_millis(warmup_ms)).await;
        window.mark(true);
        tokio::time::sleep(std::time::Duration::from_secs(run_s)).await;
        window.mark(false);
    };
    let (output, ()) = tokio::join!(h2load, measured);
    let output = output.map_err(|e| {
        format!(
            "h2load is needed: apt-get install -y nghttp2-client (scripts/bench installs it): {e}"
        )
    })?;
    server.finish().await;
    let text = String::from_utf8_lossy(&output.stdout);
    let (rate, mean_us, done) = parse(&text)?;
    Ok(Round {
        rate,
        mean_us,
        server_cpu_us: window.seconds() * 1e6 / done.max(1) as f64,
    })
}

/// Runs every server at every concurrency, `rounds` alternating rounds each; prints the
/// medians with their ratio to the raw tonic server.
pub async fn run(timing: Timing, rounds: usize, peer: bool) -> Result<(), String> {
    let servers: Vec<(&str, &str)> = SERVERS
        .into_iter()
        .filter(|(kind, _)| peer || *kind != "volo-greeter")
        .collect();
    let request = std::env::temp_dir().join(format!("micro-bench-grpc-{}.bin", std::process::id()));
    std::fs::write(&request, REQUEST).map_err(|e| format!("{}: {e}", request.display()))?;
    println!("external: h2load, one connection, {rounds} alternating rounds, medians");
    println!(
        "{:<30} {:>5} {:>14} {:>10} {:>10} {:>7}",
        "server", "conc", "rate", "mean", "srv cpu", "ratio"
    );
    for concurrency in CONCURRENCY {
        let mut results: Vec<Vec<Round>> = vec![Vec::new(); servers.len()];
        for _ in 0..rounds {
            for (i, (kind, _)) in servers.iter().enumerate() {
                results[i].push(round(kind, concurrency, timing, &request).await?);
            }
        }
        let medians: Vec<Round> = results.into_iter().map(median).collect();
        for (i, (_, name)) in servers.iter().enumerate() {
            let m = medians[i];
            println!(
                "{:<30} {:>5} {:>8.0} req/s {:>8.0}us {:>8.1}us {:>7.2}",
                name,
                concurrency,
                m.rate,
                m.mean_us,
                m.server_cpu_us,
                m.rate / medians[0].rate
            );
        }
    }
    let _ = std::fs::remove_file(&request);
    Ok(())
}

fn median(mut rounds: Vec<Round>) -> Round {
    rounds.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    rounds[rounds.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h2loads_report_is_read() {
        let out = "finished in 1.50s, 68252.00 req/s, 3.12MB/s\n\
                   requests: 68252 total, 68252 started, 68252 done, 68252 succeeded, 0 failed, 0 errored, 0 timeout\n\
                   time for request:       85us      8.68ms       910us       406us    75.35%\n";
        assert_eq!(parse(out), Ok((68252.0, 910.0, 68252)));
        let failed = out.replace("0 failed", "3 failed");
        assert!(parse(&failed).unwrap_err().contains("failures"));
        assert_eq!(micros("1.2ms"), Some(1200.0));
    }
}
