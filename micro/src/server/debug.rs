//! What every service answers about itself: `Debug.Health`, `Debug.Stats`, and the standard
//! `grpc.health.v1.Health/Check`.

use super::HandlerEndpoint;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Types of `proto/debug/debug.proto` (package `go.micro.debug`).
pub mod proto {
    crate::include_proto!("go.micro.debug");
}

/// Types of the standard gRPC health protocol (package `grpc.health.v1`).
pub mod health {
    crate::include_proto!("grpc.health.v1");
}

/// Counters a server keeps for `Debug.Stats`.
#[derive(Debug)]
pub struct Stats {
    started: SystemTime,
    started_at: Instant,
    pub(crate) requests: AtomicU64,
    pub(crate) errors: AtomicU64,
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    /// Counters starting now.
    pub fn new() -> Self {
        Stats {
            started: SystemTime::now(),
            started_at: Instant::now(),
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }

    /// Counts one request served (for servers other than micro's own, such as the dashboard).
    pub fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one request that failed.
    pub fn count_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The figures now.
    pub fn snapshot(&self) -> proto::StatsResponse {
        let (memory, threads) = process_figures();
        proto::StatsResponse {
            started: self
                .started
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            uptime: self.started_at.elapsed().as_secs(),
            memory,
            threads,
            gc: 0,
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
}

/// Resident memory in bytes and thread count, from `/proc/self/status` (zero where absent).
fn process_figures() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:") * 1024, field("Threads:"))
}

/// `Debug.Health` and `Debug.Stats`.
pub(crate) fn endpoints(stats: Arc<Stats>) -> Vec<HandlerEndpoint> {
    vec![
        HandlerEndpoint::unary("Debug.Health", |_ctx, _req: proto::HealthRequest| async {
            Ok(proto::HealthResponse {
                status: "ok".into(),
            })
        }),
        HandlerEndpoint::unary("Debug.Stats", move |_ctx, _req: proto::StatsRequest| {
            let stats = Arc::clone(&stats);
            async move { Ok(stats.snapshot()) }
        }),
    ]
}

/// `grpc.health.v1.Health/Check`: serving while the server runs.
pub(crate) fn grpc_health_check() -> HandlerEndpoint {
    use health::health_check_response::ServingStatus;
    HandlerEndpoint::unary(
        "Health.Check",
        |_ctx, _req: health::HealthCheckRequest| async {
            Ok(health::HealthCheckResponse {
                status: ServingStatus::Serving.into(),
            })
        },
    )
}
