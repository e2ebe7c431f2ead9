//! Strategies: the order in which a service's nodes are tried.

use crate::registry::Node;
use rand::seq::SliceRandom;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// How a selector orders nodes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Strategy {
    /// A random node first (go-micro's default).
    #[default]
    Random,
    /// Each call starts at the node after the previous call's, per service.
    RoundRobin,
}

/// Round-robin positions, one counter per service, so rotation survives across calls.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    by_service: Mutex<HashMap<String, Arc<AtomicUsize>>>,
}

impl Counters {
    fn next(&self, service: &str) -> usize {
        let counter = {
            let mut map = self.by_service.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(service.to_string()).or_default().clone()
        };
        counter.fetch_add(1, Ordering::Relaxed)
    }
}

impl Strategy {
    /// Puts `nodes` in the order this strategy tries them.
    pub(crate) fn order(self, service: &str, nodes: &mut [Node], counters: &Counters) {
        if nodes.len() < 2 {
            return;
        }
        match self {
            Strategy::Random => nodes.shuffle(&mut rand::rng()),
            Strategy::RoundRobin => {
                // Registries need not list nodes in a stable order: sort first.
                nodes.sort_by(|a, b| a.id.cmp(&b.id));
                let start = counters.next(service) % nodes.len();
                nodes.rotate_left(start);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_rotates_across_calls() {
        let counters = Counters::default();
        let nodes: Vec<Node> = ["a", "b", "c"]
            .iter()
            .map(|id| Node {
                id: id.to_string(),
                ..Default::default()
            })
            .collect();
        let firsts: Vec<String> = (0..6)
            .map(|_| {
                let mut n = nodes.clone();
                Strategy::RoundRobin.order("svc", &mut n, &counters);
                n[0].id.clone()
            })
            .collect();
        assert_eq!(firsts, ["a", "b", "c", "a", "b", "c"]);
    }
}
