//! Names a cache looked up and did not find, remembered for a while so that repeated lookups of
//! a missing service do not each reach the registry; bounded in number and in age, so that
//! lookups of endless made-up names cost neither memory nor a refetch when the registry
//! returns.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a name is known to be absent (a watch event that registers it ends that sooner).
pub(crate) const ABSENT_TTL: Duration = Duration::from_secs(10);
/// The most absent names remembered; past it the oldest is forgotten.
pub(crate) const MAX_ABSENT: usize = 4096;

/// Names not found, each with when it was found missing.
#[derive(Debug, Default)]
pub(crate) struct Absent {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// When each name was found missing.
    since: HashMap<String, Instant>,
    /// Names in the order they were found missing (a name may appear more than once: only the
    /// entry matching `since` counts).
    order: VecDeque<(String, Instant)>,
}

impl Absent {
    /// Whether `name` was found missing within [`ABSENT_TTL`].
    pub(crate) fn contains(&self, name: &str) -> bool {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .since
            .get(name)
            .is_some_and(|at| at.elapsed() < ABSENT_TTL)
    }

    /// Remembers that `name` was not found.
    pub(crate) fn insert(&self, name: &str) {
        let now = Instant::now();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.since.insert(name.to_string(), now);
        inner.order.push_back((name.to_string(), now));
        // Forget the expired, and the oldest past the bound.
        while let Some((oldest, at)) = inner.order.front() {
            let expired = at.elapsed() >= ABSENT_TTL;
            if !expired && inner.since.len() <= MAX_ABSENT && inner.order.len() <= 2 * MAX_ABSENT {
                break;
            }
            let (oldest, at) = (oldest.clone(), *at);
            inner.order.pop_front();
            if inner.since.get(&oldest) == Some(&at) {
                inner.since.remove(&oldest);
            }
        }
    }

    /// Forgets `name`: it was registered.
    pub(crate) fn remove(&self, name: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.since.remove(name);
    }

    /// Forgets every name: after an outage nothing known about absence holds.
    pub(crate) fn clear(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.since.clear();
        inner.order.clear();
    }

    /// How many names are remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .since
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_in_number_and_forgotten_when_registered() {
        let absent = Absent::default();
        for i in 0..3 * MAX_ABSENT {
            absent.insert(&format!("junk-{i}"));
        }
        assert_eq!(absent.len(), MAX_ABSENT);
        assert!(!absent.contains("junk-0"), "the oldest is forgotten");
        assert!(absent.contains(&format!("junk-{}", 3 * MAX_ABSENT - 1)));

        absent.insert("again");
        absent.insert("again");
        assert!(absent.contains("again"));
        absent.remove("again");
        assert!(!absent.contains("again"));
        absent.clear();
        assert_eq!(absent.len(), 0);
    }
}
