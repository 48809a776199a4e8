//! A chain's claims keyed by 128-bit uuid hashes, in about 28 bytes per claim (a 16-byte key
//! and the chain's 12-byte claim): a sorted, dense run of keys beside a run of values, plus
//! a small hash table of recent claims that is merged into the runs once it holds an eighth
//! of them. Invariant: a key is in at most one of the two. A hash table alone costs about 55
//! bytes per claim here (a 32-byte slot and a control byte per bucket, buckets kept at most
//! 7/8 full, capacity doubling).
//!
//! Keys derive from MD5, so they spread evenly over the chain's range: a lookup in the run
//! starts where the key's value puts it (interpolation) and gallops from there, a cache miss
//! or two instead of a binary search's twenty; skewed keys only make it a binary search.

use super::chain::{HashTable, hash_table_bytes};

/// Recent claims are merged into the runs past this many, or an eighth of the runs.
const MIN_RECENT: usize = 4_096;

#[derive(Debug, Clone)]
pub(crate) struct ClaimIndex<V: Copy> {
    /// Sorted and distinct.
    keys: Vec<u128>,
    values: Vec<V>,
    recent: HashTable<u128, V>,
}

/// Where a key's claim sits or would sit, as [`ClaimIndex::find`] saw it: its index in the
/// run, or the recent table (tagged with the run's length, which every merge changes: the
/// run only grows, since claims are never removed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    Run(usize),
    Recent { run_len: usize },
}

impl<V: Copy> Default for ClaimIndex<V> {
    fn default() -> Self {
        ClaimIndex {
            keys: Vec::new(),
            values: Vec::new(),
            recent: HashTable::default(),
        }
    }
}

impl<V: Copy> ClaimIndex<V> {
    /// An index of these entries; `Err(key)` names a key given twice.
    pub(crate) fn from_entries(mut entries: Vec<(u128, V)>) -> Result<Self, u128> {
        entries.sort_unstable_by_key(|(key, _)| *key);
        if let Some(pair) = entries.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(pair[0].0);
        }
        let (keys, values) = entries.into_iter().unzip();
        Ok(ClaimIndex {
            keys,
            values,
            recent: HashTable::default(),
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len() + self.recent.len()
    }

    pub(crate) fn get(&self, key: u128) -> Option<&V> {
        match self.position(key) {
            Ok(i) => Some(&self.values[i]),
            Err(_) => self.recent.get(&key),
        }
    }

    /// The claim on `key`, and where a claim on it is to be set: one lookup in the run for a
    /// caller that reads a claim and then may set it ([`ClaimIndex::insert_at`]).
    pub(crate) fn find(&self, key: u128) -> (Option<&V>, Place) {
        match self.position(key) {
            Ok(i) => (Some(&self.values[i]), Place::Run(i)),
            Err(_) => (
                self.recent.get(&key),
                Place::Recent {
                    run_len: self.keys.len(),
                },
            ),
        }
    }

    /// Sets the claim on `key`, replacing any.
    pub(crate) fn insert(&mut self, key: u128, value: V) {
        match self.position(key) {
            Ok(i) => self.values[i] = value,
            Err(_) => self.insert_recent(key, value),
        }
    }

    /// Sets the claim on `key` at the place [`ClaimIndex::find`] gave for it; a place that
    /// changes since (a merge moved the run) is looked up again.
    pub(crate) fn insert_at(&mut self, place: Place, key: u128, value: V) {
        match place {
            Place::Run(i) if self.keys.get(i) == Some(&key) => self.values[i] = value,
            Place::Recent { run_len } if run_len == self.keys.len() => self.insert_recent(key, value),
            _ => self.insert(key, value),
        }
    }

    /// Adds or replaces a claim on a key that is not in the run.
    fn insert_recent(&mut self, key: u128, value: V) {
        self.recent.insert(key, value);
        if self.recent.len() > MIN_RECENT.max(self.keys.len() / 8) {
            self.merge_recent();
        }
    }

    /// Every claim, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u128, &V)> {
        self.keys
            .iter()
            .copied()
            .zip(&self.values)
            .chain(self.recent.iter().map(|(k, v)| (*k, v)))
    }

    /// Heap bytes held, from capacities (constant time).
    pub(crate) fn approx_bytes(&self) -> usize {
        self.keys.capacity() * size_of::<u128>()
            + self.values.capacity() * size_of::<V>()
            + hash_table_bytes(self.recent.capacity(), size_of::<(u128, V)>())
    }

    /// Moves the recent claims into the runs, which are allocated to their exact size.
    fn merge_recent(&mut self) {
        let mut recent: Vec<(u128, V)> = self.recent.drain().collect();
        recent.sort_unstable_by_key(|(key, _)| *key);
        let total = self.keys.len() + recent.len();
        let mut keys = Vec::with_capacity(total);
        let mut values = Vec::with_capacity(total);
        let mut old = self
            .keys
            .iter()
            .copied()
            .zip(self.values.iter().copied())
            .peekable();
        let mut new = recent.into_iter().peekable();
        // The two are disjoint (a key in the runs is replaced in place, never added again).
        loop {
            let next = match (old.peek(), new.peek()) {
                (Some(a), Some(b)) if a.0 < b.0 => old.next(),
                (_, Some(_)) => new.next(),
                (Some(_), None) => old.next(),
                (None, None) => None,
            };
            let Some((key, value)) = next else { break };
            keys.push(key);
            values.push(value);
        }
        self.keys = keys;
        self.values = values;
        self.recent = HashTable::default();
    }

    /// Where `key` is in the sorted run (`Ok`), or would go (`Err`).
    fn position(&self, key: u128) -> Result<usize, usize> {
        let keys = &self.keys;
        let (Some(&first), Some(&last)) = (keys.first(), keys.last()) else {
            return Err(0);
        };
        if key <= first || key >= last {
            return if key == first {
                Ok(0)
            } else if key < first {
                Err(0)
            } else if key == last {
                Ok(keys.len() - 1)
            } else {
                Err(keys.len())
            };
        }
        let guess = interpolate(first, last, key, keys.len());
        // Gallop from the guess towards the key, then search the bracket found.
        // The bracket [low, end) holds the key's place: keys[low] <= key, and key <= keys[end]
        // or end is the run's length.
        let (mut low, mut end) = (guess, guess + 1);
        let mut step = 1;
        if keys[guess] < key {
            let mut high = guess + 1;
            while high < keys.len() && keys[high] < key {
                low = high;
                high = (high + step).min(keys.len());
                step *= 2;
            }
            end = (high + 1).min(keys.len());
        } else {
            while low > 0 && keys[low] > key {
                end = low;
                low = low.saturating_sub(step);
                step *= 2;
            }
        }
        keys[low..end]
            .binary_search(&key)
            .map(|i| low + i)
            .map_err(|i| low + i)
    }
}

/// Where `key` falls among `len` sorted keys spread evenly from `first` to `last` (exclusive
/// of both ends, which the caller handled): by the top 64 bits, which is precision enough.
fn interpolate(first: u128, last: u128, key: u128, len: usize) -> usize {
    let span = ((last - first) >> 64) as u64;
    let offset = ((key - first) >> 64) as u64;
    if span == 0 {
        return len / 2;
    }
    let guess = (u128::from(offset) * (len as u128 - 1) / u128::from(span)) as usize;
    guess.min(len - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn claims_are_found_before_and_after_a_merge() {
        let mut index = ClaimIndex::default();
        let keys: Vec<u128> = (0..20_000u128)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835))
            .collect();
        for (i, &k) in keys.iter().enumerate() {
            index.insert(k, i as u32);
        }
        assert!(!index.keys.is_empty(), "merged at least once");
        assert!(index.recent.len() <= MIN_RECENT.max(index.keys.len() / 8));
        assert_eq!(index.len(), keys.len());
        for (i, &k) in keys.iter().enumerate() {
            assert_eq!(index.get(k), Some(&(i as u32)));
            assert_eq!(index.get(k ^ 1), None);
        }
        index.insert(keys[7], 99);
        assert_eq!(index.get(keys[7]), Some(&99));
        assert_eq!(index.len(), keys.len(), "replacing adds nothing");
        assert!(
            index.keys.windows(2).all(|w| w[0] < w[1]),
            "the run stays sorted and distinct"
        );
    }

    #[test]
    fn a_place_found_before_a_merge_is_looked_up_again() {
        let mut index =
            ClaimIndex::from_entries((0..100u128).map(|k| (k * 10, 0u32)).collect()).expect("distinct");
        let (found, in_run) = index.find(990);
        assert_eq!((found, in_run), (Some(&0), Place::Run(99)));
        let (found, recent) = index.find(505);
        assert_eq!(found, None);
        index.insert(505, 1);
        // Enough new keys to merge the recent table into the run: both places are stale.
        for k in 0..=MIN_RECENT as u128 {
            index.insert(10_000 + k, 2);
        }
        assert!(index.keys.binary_search(&505).is_ok(), "merged into the run");
        // 505 now sits before 990 in the run: index 99 holds 980.
        index.insert_at(in_run, 990, 3);
        index.insert_at(recent, 505, 4);
        assert_eq!(
            (index.get(980), index.get(990), index.get(505)),
            (Some(&0), Some(&3), Some(&4))
        );
        assert_eq!(index.len(), 100 + 1 + MIN_RECENT + 1, "each key once");
        assert_eq!(index.iter().filter(|(k, _)| *k == 505).count(), 1);
    }

    #[test]
    fn from_entries_refuses_a_key_given_twice() {
        let index = ClaimIndex::from_entries(vec![(5, 1u32), (1, 2), (9, 3)]).expect("distinct");
        assert_eq!(
            (index.get(1), index.get(5), index.get(9), index.get(2)),
            (Some(&2), Some(&1), Some(&3), None)
        );
        assert_eq!(
            ClaimIndex::from_entries(vec![(5, 1u32), (1, 2), (5, 3)]).err(),
            Some(5)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any mix of inserts (skewed or even keys, repeats) answers lookups as a HashMap does.
        #[test]
        fn behaves_as_a_map(
            ops in proptest::collection::vec((any::<u16>(), any::<u64>(), any::<u32>(), any::<bool>()), 0..12_000),
            seed in proptest::collection::vec((any::<u16>(), any::<u32>()), 0..300),
        ) {
            // Keys from a small domain (repeats, clusters) or anywhere in the range.
            let key = |small: u16, wide: u64, even: bool| if even {
                u128::from(wide) << 64 | u128::from(small)
            } else {
                u128::from(small)
            };
            let start: Vec<(u128, u32)> = seed
                .iter()
                .map(|&(k, v)| (u128::from(k) << 100, v))
                .collect::<HashMap<_, _>>()
                .into_iter()
                .collect();
            let mut index = ClaimIndex::from_entries(start.clone()).expect("distinct");
            let mut model: HashMap<u128, u32> = start.into_iter().collect();
            for &(small, wide, value, even) in &ops {
                let k = key(small, wide, even);
                if value % 2 == 0 {
                    let (found, place) = index.find(k);
                    prop_assert_eq!(found, model.get(&k));
                    index.insert_at(place, k, value);
                } else {
                    index.insert(k, value);
                }
                model.insert(k, value);
            }
            prop_assert_eq!(index.len(), model.len());
            for (&k, v) in &model {
                prop_assert_eq!(index.get(k), Some(v));
            }
            for &(small, wide, _, even) in ops.iter().take(200) {
                let absent = key(small, wide, even).wrapping_add(1 << 90);
                prop_assert_eq!(index.get(absent), model.get(&absent));
            }
            let listed: HashMap<u128, u32> = index.iter().map(|(k, v)| (k, *v)).collect();
            prop_assert_eq!(listed, model);
        }
    }
}
