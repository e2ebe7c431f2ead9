//! Strategies: the order in which a service's nodes are tried.

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
    /// Orders `items` (nodes, or positions of nodes) whose node ids `id` gives.
    pub(crate) fn order<'a, T>(
        self,
        service: &str,
        items: &mut [T],
        id: impl Fn(&T) -> &'a str,
        counters: &Counters,
    ) {
        if items.len() < 2 {
            return;
        }
        match self {
            Strategy::Random => items.shuffle(&mut rand::rng()),
            Strategy::RoundRobin => {
                items.sort_by(|a, b| id(a).cmp(id(b)));
                let start = counters.next(service) % items.len();
                items.rotate_left(start);
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
        // Positions of nodes given out of id order, as a registry may list them.
        let ids = ["b", "c", "a"];
        let firsts: Vec<&str> = (0..6)
            .map(|_| {
                let mut order = vec![0, 1, 2];
                Strategy::RoundRobin.order("svc", &mut order, |&i| ids[i], &counters);
                ids[order[0]]
            })
            .collect();
        assert_eq!(firsts, ["a", "b", "c", "a", "b", "c"]);
    }
}
