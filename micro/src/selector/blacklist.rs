//! Nodes that failed to connect or to answer in time, out of rotation for a period that doubles
//! on each failure. The client probes a node taken out at once and then every half second: a
//! healthy node that merely missed one caller's deadline is back within a round trip, one that
//! hangs stays out, each failed probe renewing its period before it ends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const FIRST_PERIOD: Duration = Duration::from_secs(1);
const MAX_PERIOD: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub(crate) struct Blacklist {
    nodes: Mutex<HashMap<String, Entry>>,
    /// How many nodes `nodes` holds: while none failed, which is nearly always, calls check and
    /// clear without taking the lock.
    len: AtomicUsize,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    until: Instant,
    failures: u32,
}

impl Blacklist {
    /// Takes `node` out until a period that grows with its consecutive failures has passed.
    pub(super) fn fail(&self, node: &str) {
        let mut nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        let failures = nodes.get(node).map_or(0, |e| e.failures) + 1;
        let period = FIRST_PERIOD
            .saturating_mul(1 << (failures - 1).min(16))
            .min(MAX_PERIOD);
        nodes.insert(
            node.to_string(),
            Entry {
                until: Instant::now() + period,
                failures,
            },
        );
        self.len.store(nodes.len(), Ordering::Release);
    }

    /// The node works: back in rotation with a clean record.
    pub(super) fn succeed(&self, node: &str) {
        if self.len.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        nodes.remove(node);
        self.len.store(nodes.len(), Ordering::Release);
    }

    /// Whether `node` is out of rotation now.
    pub(super) fn is_out(&self, node: &str) -> bool {
        if self.len.load(Ordering::Acquire) == 0 {
            return false;
        }
        let nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        nodes.get(node).is_some_and(|e| e.until > Instant::now())
    }

    #[cfg(test)]
    fn period_left(&self, node: &str) -> Duration {
        let nodes = self.nodes.lock().unwrap();
        nodes[node].until.saturating_duration_since(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_grows_with_failures_and_success_clears_it() {
        let b = Blacklist::default();
        b.fail("n");
        assert!(b.is_out("n"));
        assert!(b.period_left("n") <= FIRST_PERIOD);
        b.fail("n");
        b.fail("n");
        assert!(b.period_left("n") > FIRST_PERIOD * 3);
        b.succeed("n");
        assert!(!b.is_out("n"));
    }
}
