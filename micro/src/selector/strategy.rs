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
    /// The node with the fewest calls in flight from this client first, ties broken at random.
    LeastOutstanding,
}

/// Round-robin positions, one counter per service, so rotation survives across calls; and
/// the calls in flight per node, for least outstanding requests.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    by_service: Mutex<HashMap<String, Arc<AtomicUsize>>>,
    in_flight: Mutex<HashMap<String, usize>>,
    /// Set once least outstanding is first used: until then calls are not counted, so the
    /// other strategies pay nothing for it.
    counting: std::sync::atomic::AtomicBool,
}

impl Counters {
    fn next(&self, service: &str) -> usize {
        let counter = {
            let mut map = self.by_service.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(service.to_string()).or_default().clone()
        };
        counter.fetch_add(1, Ordering::Relaxed)
    }

    /// A call to node `id` started.
    pub(crate) fn started(&self, id: &str) {
        if !self.counting.load(Ordering::Relaxed) {
            return;
        }
        let mut map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry(id.to_string()).or_default() += 1;
    }

    /// A call to node `id` ended.
    pub(crate) fn ended(&self, id: &str) {
        if !self.counting.load(Ordering::Relaxed) {
            return;
        }
        let mut map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(id) {
            *n -= 1;
            if *n == 0 {
                map.remove(id);
            }
        }
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
            Strategy::LeastOutstanding => {
                counters.counting.store(true, Ordering::Relaxed);
                // Shuffled first: the stable sort then breaks ties at random.
                items.shuffle(&mut rand::rng());
                let map = counters.in_flight.lock().unwrap_or_else(|e| e.into_inner());
                items.sort_by_key(|item| map.get(id(item)).copied().unwrap_or(0));
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

    #[test]
    fn least_outstanding_puts_the_idlest_node_first_and_breaks_ties_at_random() {
        let counters = Counters::default();
        let ids = ["a", "b", "c"];
        counters.counting.store(true, Ordering::Relaxed);
        for _ in 0..2 {
            counters.started("a");
        }
        counters.started("b");
        let mut firsts = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let mut order = vec![0, 1, 2];
            Strategy::LeastOutstanding.order("svc", &mut order, |&i| ids[i], &counters);
            assert_eq!(
                order.iter().map(|&i| ids[i]).collect::<Vec<_>>(),
                ["c", "b", "a"]
            );
        }
        counters.ended("a");
        counters.ended("a");
        counters.ended("b");
        for _ in 0..200 {
            let mut order = vec![0, 1, 2];
            Strategy::LeastOutstanding.order("svc", &mut order, |&i| ids[i], &counters);
            firsts.insert(ids[order[0]]);
        }
        assert_eq!(firsts.len(), 3, "all idle: each node comes first sometimes");
    }
}
