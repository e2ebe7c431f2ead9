//! The few values an observing layer makes again and again (a span's name and attributes, a
//! metric's handles, a peer's address as text), kept per thread by what they were made from.
//!
//! A service has a handful of endpoints and peers, so a short list searched by equality finds
//! them faster than a shared map with its lock and hashing, and needs no lock at all. The list
//! is bounded: past [`CAPACITY`] the oldest entry makes room.

/// Entries kept per list.
pub(crate) const CAPACITY: usize = 32;

/// Values of type `V` by keys of type `K`.
pub(crate) struct Recent<K, V> {
    entries: Vec<(K, V)>,
    /// Where the next entry goes once the list is full.
    next: usize,
}

impl<K, V: Clone> Recent<K, V> {
    pub(crate) const fn new() -> Self {
        Recent {
            entries: Vec::new(),
            next: 0,
        }
    }

    /// The value of the first key that `matches`, else the one `make` makes (and keeps).
    pub(crate) fn get_or_make(
        &mut self,
        matches: impl Fn(&K) -> bool,
        make: impl FnOnce() -> (K, V),
    ) -> V {
        if let Some((_, value)) = self.entries.iter().find(|(key, _)| matches(key)) {
            return value.clone();
        }
        let (key, value) = make();
        if self.entries.len() < CAPACITY {
            self.entries.push((key, value.clone()));
        } else {
            self.entries[self.next] = (key, value.clone());
            self.next = (self.next + 1) % CAPACITY;
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_it_made_and_stays_bounded() {
        let mut recent = Recent::<usize, String>::new();
        let mut made = 0;
        for round in 0..2 {
            for n in 0..CAPACITY {
                let value = recent.get_or_make(
                    |k| *k == n,
                    || {
                        made += 1;
                        (n, n.to_string())
                    },
                );
                assert_eq!(value, n.to_string(), "round {round}");
            }
        }
        assert_eq!(made, CAPACITY, "the second round finds every value");
        recent.get_or_make(|k| *k == CAPACITY, || (CAPACITY, "new".into()));
        assert_eq!(recent.entries.len(), CAPACITY);
        let mut remade = false;
        recent.get_or_make(
            |k| *k == 0,
            || {
                remade = true;
                (0, "0".into())
            },
        );
        assert!(remade, "the oldest entry made room for the new one");
    }
}
