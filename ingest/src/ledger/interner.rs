//! Small strings repeated across many entries of a chain (shard ids, batch ids, event types,
//! the leading digits of sequence numbers), each stored once behind a `u32` index.
//! Invariant: a string keeps the index it was first given.

use super::chain::HashTable;
use std::sync::Arc;

/// Small strings repeated across many entries (shard ids, batch ids, event types), stored once.
#[derive(Debug, Default, Clone)]
pub(crate) struct Interner {
    values: Vec<Arc<str>>,
    index: HashTable<Arc<str>, u32>,
    /// The index the last [`Interner::intern`] or successful [`Interner::find_recent`]
    /// returned: where both look first.
    last: u32,
}

impl Interner {
    pub(crate) fn intern(&mut self, value: &str) -> u32 {
        // A commit's claims mostly repeat the string before them (one shard, a few types).
        if self
            .values
            .get(self.last as usize)
            .is_some_and(|last| **last == *value)
        {
            return self.last;
        }
        let i = match self.index.get(value) {
            Some(&i) => i,
            None => {
                let arc: Arc<str> = Arc::from(value);
                let i = self.values.len() as u32;
                self.values.push(arc.clone());
                self.index.insert(arc, i);
                i
            }
        };
        self.last = i;
        i
    }

    /// The index of `value`, if it was interned.
    pub(crate) fn find(&self, value: &str) -> Option<u32> {
        self.index.get(value).copied()
    }

    /// [`Interner::find`], first trying the string the last call (this or
    /// [`Interner::intern`]) returned: a chain's sequence numbers mostly share their leading
    /// digits with the one before.
    pub(crate) fn find_recent(&mut self, value: &str) -> Option<u32> {
        if self
            .values
            .get(self.last as usize)
            .is_some_and(|last| **last == *value)
        {
            return Some(self.last);
        }
        let found = self.find(value);
        if let Some(i) = found {
            self.last = i;
        }
        found
    }

    pub(crate) fn get(&self, i: u32) -> &str {
        &self.values[i as usize]
    }

    /// The string itself, shared.
    pub(crate) fn shared(&self, i: u32) -> Arc<str> {
        self.values[i as usize].clone()
    }

    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    /// Heap bytes held, roughly, in constant time.
    pub(crate) fn approx_bytes(&self) -> usize {
        self.len() * INTERNED_VALUE_BYTES
    }
}

/// What one interned string costs, roughly: its `Arc`, its slot in the list and in the index.
const INTERNED_VALUE_BYTES: usize = 96;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recent_find_is_a_find() {
        let mut interner = Interner::default();
        assert_eq!(interner.find_recent("a"), None);
        let (a, b) = (interner.intern("a"), interner.intern("b"));
        for value in ["a", "a", "b", "c", "b", "a", "c"] {
            assert_eq!(interner.find_recent(value), interner.find(value), "{value}");
        }
        assert_eq!(
            (interner.find_recent("b"), interner.find_recent("a")),
            (Some(b), Some(a))
        );
        assert_eq!(interner.len(), 2, "finding interns nothing");
        // Interning after a recent find keeps every string's first index.
        let c = interner.intern("c");
        for (value, index) in [("b", b), ("a", a), ("c", c), ("a", a), ("b", b)] {
            assert_eq!(interner.find_recent(value), Some(index));
            assert_eq!(interner.intern(value), index);
        }
        assert_eq!((a, b, c), (0, 1, 2));
    }

    #[test]
    fn an_interned_string_keeps_its_index_whatever_came_before() {
        let mut interner = Interner::default();
        let order = ["a", "a", "b", "a", "c", "c", "b", "a", "", ""];
        let indexes: Vec<u32> = order.iter().map(|v| interner.intern(v)).collect();
        assert_eq!(indexes, [0, 0, 1, 0, 2, 2, 1, 0, 3, 3]);
        assert_eq!(interner.len(), 4);
        assert!(order.iter().all(|v| interner.get(interner.index[*v]) == *v));
    }
}
