//! The load harness behind `scripts/bench` (binary `micro-bench`): each case runs N concurrent
//! callers against servers in their own processes, for a fixed time after a warm-up, next to its
//! baseline in the same run. Servers are separate processes so their CPU time and peak memory
//! can be read from `/proc` without counting the load generator.
//!
//! - [`drive`]: the closed loop of N callers and the latencies they saw;
//! - [`process`]: server processes (this binary re-run as `serve <kind>`) and `/proc` readings;
//! - [`servers`]: what each server process runs (micro, raw tonic, gateways, broker loops);
//! - [`cases`]: the cases and their baselines;
//! - [`report`]: the table, the JSON and the SVG chart.

pub mod cases;
pub mod external;
pub mod process;
pub mod report;
pub mod servers;
pub mod volo;

use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::{Duration, Instant};

/// No single operation may take longer: a stuck call fails the case instead of the run hanging.
pub const OP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a case warms up and then runs.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Load before measuring: connections made, caches filled, allocator warm.
    pub warmup: Duration,
    /// The measured window.
    pub run: Duration,
}

/// What one measured window saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sample {
    /// Operations completed in the window (calls, streams, published batches).
    pub ops: u64,
    /// Items those carried: one per call, each streamed or delivered message.
    pub items: u64,
    /// Length of the window.
    pub seconds: f64,
    /// Latency percentiles of the operations (for broker cases: publish -> deliver per message).
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
}

impl Sample {
    /// A sample from counts and the (unsorted) latencies of each operation.
    pub fn new(items: u64, seconds: f64, mut latencies: Vec<Duration>) -> Self {
        latencies.sort_unstable();
        let at = |q: f64| {
            if latencies.is_empty() {
                return 0.0;
            }
            let i = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
            latencies[i].as_nanos() as f64 / 1000.0
        };
        Sample {
            ops: latencies.len() as u64,
            items,
            seconds,
            p50_us: at(0.50),
            p99_us: at(0.99),
            p999_us: at(0.999),
        }
    }

    /// Items per second.
    pub fn rate(&self) -> f64 {
        self.items as f64 / self.seconds
    }
}

/// Runs `op` from `concurrency` callers in a closed loop (each starts its next operation when
/// the last one answered): first for `timing.warmup`, unmeasured, then for `timing.run`.
/// `window` is called as the measured window opens (`true`) and closes (`false`), so the caller
/// can read the servers' CPU time at the same instants. `op` returns how many items it carried.
/// The first failed or timed-out operation fails the case.
pub async fn drive<F, Fut>(
    concurrency: usize,
    timing: Timing,
    op: F,
    mut window: impl FnMut(bool),
) -> Result<Sample, String>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<u64, String>> + Send,
{
    let opened = Instant::now() + timing.warmup;
    let closed = opened + timing.run;
    let callers: Vec<_> = (0..concurrency)
        .map(|_| {
            let op = op.clone();
            tokio::spawn(async move {
                let (mut items, mut latencies) = (0, Vec::new());
                loop {
                    let start = Instant::now();
                    if start >= closed {
                        return Ok((items, latencies));
                    }
                    let carried = match tokio::time::timeout(OP_TIMEOUT, op()).await {
                        Ok(result) => result?,
                        Err(_) => return Err(format!("no answer within {OP_TIMEOUT:?}")),
                    };
                    let end = Instant::now();
                    if start >= opened && end <= closed {
                        items += carried;
                        latencies.push(end - start);
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep_until(opened.into()).await;
    window(true);
    tokio::time::sleep_until(closed.into()).await;
    window(false);
    let (mut items, mut latencies) = (0, Vec::new());
    for caller in callers {
        let (n, l) = caller
            .await
            .map_err(|e| format!("caller panicked: {e}"))??;
        items += n;
        latencies.extend(l);
    }
    Ok(Sample::new(items, timing.run.as_secs_f64(), latencies))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let latencies = (1..=1000).rev().map(Duration::from_micros).collect();
        let s = Sample::new(2000, 2.0, latencies);
        assert_eq!((s.ops, s.items), (1000, 2000));
        assert_eq!((s.p50_us, s.p99_us, s.p999_us), (500.0, 990.0, 999.0));
        assert_eq!(s.rate(), 1000.0);
        assert_eq!(Sample::new(0, 1.0, Vec::new()).p99_us, 0.0);
    }

    #[tokio::test]
    async fn drive_counts_only_the_window_and_stops_by_itself() {
        let timing = Timing {
            warmup: Duration::from_millis(50),
            run: Duration::from_millis(200),
        };
        let mut marks = Vec::new();
        let op = || async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(3)
        };
        let s = drive(4, timing, op, |open| marks.push(open)).await.unwrap();
        assert_eq!(marks, [true, false]);
        assert!(s.ops > 0 && s.ops <= 4 * 40, "{s:?}");
        assert_eq!(s.items, 3 * s.ops);
        let failing = || async { Err::<u64, _>("refused".to_string()) };
        let err = drive(2, timing, failing, |_| {}).await.unwrap_err();
        assert_eq!(err, "refused");
    }
}
