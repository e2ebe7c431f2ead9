//! Server processes: this binary started again as `micro-bench serve <kind> [args]`, announcing
//! itself with one `READY <json>` line on stdout, and readings of any process from `/proc`.

use serde::de::DeserializeOwned;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long a server may take to start before the case fails.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A server process, killed when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pid: u32,
}

impl Server {
    /// Starts `micro-bench serve <kind> <args>` and waits for its `READY` line, whose JSON it
    /// returns (addresses, registry records).
    pub async fn start<T: DeserializeOwned>(
        kind: &str,
        args: &[String],
    ) -> Result<(Self, T), String> {
        let exe = std::env::current_exe().map_err(|e| format!("own binary: {e}"))?;
        let mut command = Command::new(exe);
        command.arg("serve").arg(kind).args(args);
        let (server, line) = Self::spawn(command, "READY ").await?;
        let ready = serde_json::from_str(&line)
            .map_err(|e| format!("server {kind} announced {line:?}: {e}"))?;
        Ok((server, ready))
    }

    /// Starts `command` and waits for a stdout line beginning with `prefix`; returns the rest.
    pub async fn spawn(mut command: Command, prefix: &str) -> Result<(Self, String), String> {
        let what = format!("{:?}", command.as_std());
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting {what}: {e}"))?;
        let pid = child.id().ok_or("server exited at once")?;
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let line = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await.map_err(|e| e.to_string())? {
                if let Some(rest) = line.strip_prefix(prefix) {
                    return Ok(rest.to_string());
                }
            }
            Err(format!("{what} exited before saying {prefix:?}"))
        })
        .await
        .map_err(|_| format!("{what} did not start within {START_TIMEOUT:?}"))??;
        // Keep reading stdout so a chatty server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok((Server { child, pid }, line))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits for the process to end by itself (it closes when its stdin does).
    pub async fn finish(mut self) {
        drop(self.child.stdin.take());
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// Readings of one process from `/proc`.
#[derive(Debug, Clone, Copy)]
pub struct Proc(pub u32);

impl Proc {
    /// This process.
    pub fn me() -> Self {
        Proc(std::process::id())
    }

    /// User plus system CPU time of every thread so far, in seconds.
    pub fn cpu_seconds(self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.0)).unwrap_or_default();
        // The command name may hold spaces; fields are counted after its closing parenthesis.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        // utime and stime (fields 14 and 15 of proc(5)), in USER_HZ, which is 100 on Linux.
        (ticks(11) + ticks(12)) as f64 / 100.0
    }

    /// Peak resident memory (`VmHWM`) in MiB.
    pub fn peak_rss_mib(self) -> f64 {
        self.status_kib("VmHWM:") / 1024.0
    }

    /// Resident memory now (`VmRSS`) in MiB.
    pub fn rss_mib(self) -> f64 {
        self.status_kib("VmRSS:") / 1024.0
    }

    fn status_kib(self, key: &str) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.0))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0)
    }
}

/// Reads the CPU time of `procs` at the opening and closing of a measured window.
#[derive(Debug, Default)]
pub struct CpuWindow {
    procs: Vec<Proc>,
    opened: f64,
    seconds: f64,
}

impl CpuWindow {
    /// A window over these processes.
    pub fn new(procs: Vec<Proc>) -> Self {
        CpuWindow {
            procs,
            ..Default::default()
        }
    }

    fn total(&self) -> f64 {
        self.procs.iter().map(|p| p.cpu_seconds()).sum()
    }

    /// Called by [`super::drive`] as the window opens (`true`) and closes.
    pub fn mark(&mut self, open: bool) {
        if open {
            self.opened = self.total();
        } else {
            self.seconds = self.total() - self.opened;
        }
    }

    /// CPU seconds spent inside the window.
    pub fn seconds(&self) -> f64 {
        self.seconds
    }
}
