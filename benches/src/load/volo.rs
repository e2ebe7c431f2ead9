//! The volo-grpc peer: `volo-greeter` (crate `benches/volo`, its own workspace, built by
//! `scripts/bench` next to this binary) serves the greeter proto on volo-grpc, and drives load
//! with volo's own client in a process of its own, the same loop as [`drive`](super::drive).
//!
//! `volo-greeter serve` says `READY {"address":...}`; `volo-greeter load ADDRESS CONCURRENCY
//! WARMUP RUN` (seconds) says `OPEN` and `CLOSED` around its measured window, then
//! `SAMPLE <json>`: the measured calls and the latency of each.

use super::process::{CpuWindow, Proc, Server};
use super::servers::Ready;
use super::{Sample, Timing, OP_TIMEOUT};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// What `volo-greeter load` reports: the measured calls and each one's latency.
#[derive(Debug, serde::Deserialize)]
struct Report {
    items: u64,
    seconds: f64,
    latencies_ns: Vec<u64>,
}

/// What a load run of volo's client measured.
#[derive(Debug)]
pub struct VoloRun {
    /// The window.
    pub sample: Sample,
    /// CPU seconds of the server in the window.
    pub cpu_seconds: f64,
    /// CPU seconds of the load process in the window.
    pub client_cpu_seconds: f64,
}

/// `volo-greeter`, next to this binary.
fn binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("own binary: {e}"))?;
    let path = exe.with_file_name("volo-greeter");
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing: scripts/bench builds it (cargo build --release --manifest-path \
             benches/volo/Cargo.toml --target-dir target)",
            path.display()
        ))
    }
}

/// Starts the volo-grpc greeter server.
pub async fn server() -> Result<(Server, Ready), String> {
    let mut command = Command::new(binary()?);
    command.arg("serve");
    let (server, line) = Server::spawn(command, "READY ").await?;
    let ready =
        serde_json::from_str(&line).map_err(|e| format!("volo-greeter announced {line:?}: {e}"))?;
    Ok((server, ready))
}

/// Drives `server` (at `address`) with volo's client at `concurrency` for `timing`.
pub async fn load(
    server: &Server,
    address: &str,
    concurrency: usize,
    timing: Timing,
) -> Result<VoloRun, String> {
    let mut child = Command::new(binary()?)
        .arg("load")
        .arg(address)
        .arg(concurrency.to_string())
        .arg(timing.warmup.as_secs_f64().to_string())
        .arg(timing.run.as_secs_f64().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("starting volo-greeter load: {e}"))?;
    let pid = child.id().ok_or("volo-greeter load exited at once")?;
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let (mut cpu, mut client_cpu) = (
        CpuWindow::new(vec![Proc(server.pid())]),
        CpuWindow::new(vec![Proc(pid)]),
    );
    let bound = timing.warmup + timing.run + OP_TIMEOUT;
    let sample = tokio::time::timeout(bound, async {
        while let Some(line) = lines.next_line().await.map_err(|e| e.to_string())? {
            match line.as_str() {
                "OPEN" | "CLOSED" => {
                    cpu.mark(line == "OPEN");
                    client_cpu.mark(line == "OPEN");
                }
                _ => {
                    if let Some(json) = line.strip_prefix("SAMPLE ") {
                        let report: Report = serde_json::from_str(json)
                            .map_err(|e| format!("volo-greeter load's sample: {e}"))?;
                        let latencies = report.latencies_ns.into_iter();
                        let latencies = latencies.map(Duration::from_nanos).collect();
                        return Ok(Sample::new(report.items, report.seconds, latencies));
                    }
                }
            }
        }
        Err("volo-greeter load ended without a sample".to_string())
    })
    .await
    .map_err(|_| format!("volo-greeter load did not finish within {bound:?}"))??;
    let _ = child.wait().await;
    Ok(VoloRun {
        sample,
        cpu_seconds: cpu.seconds(),
        client_cpu_seconds: client_cpu.seconds(),
    })
}
