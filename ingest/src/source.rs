//! Where a record came from: (shard id, sequence number), its arrival time and its bytes.
//! A replay of the same source is a retry, never a duplicate. Sequence numbers are decimal
//! strings of up to 129 digits; they compare as numbers (length first, then digits).

use bytes::{Bytes, BytesMut};
use md5::{Digest, Md5};
use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

/// A Kinesis sequence number: a decimal string, compared numerically.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SequenceNumber(String);

impl SequenceNumber {
    /// Accepts 1 to 129 decimal digits; leading zeros are dropped so equal numbers are equal.
    pub fn parse(text: &str) -> Option<Self> {
        Self::canonical(text).map(|digits| SequenceNumber(digits.to_owned()))
    }

    /// The digits [`SequenceNumber::parse`] keeps of `text`, without allocating.
    pub fn canonical(text: &str) -> Option<&str> {
        // Every byte is looked at (no early exit), which the compiler turns into vector
        // compares: a batch validates 10,000 numbers of 56 digits when it applies its commit.
        if text.is_empty()
            || text.len() > 129
            || !text
                .as_bytes()
                .iter()
                .fold(true, |all, b| all & b.is_ascii_digit())
        {
            return None;
        }
        let trimmed = text.trim_start_matches('0');
        Some(if trimmed.is_empty() { "0" } else { trimmed })
    }

    pub fn from_u64(n: u64) -> Self {
        SequenceNumber(n.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Ord for SequenceNumber {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for SequenceNumber {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The position of a record in its stream: the identity that makes a replay a retry.
/// The records of a batch mostly come from one shard, so they share its id (`Arc`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId {
    pub shard_id: Arc<str>,
    pub sequence: SequenceNumber,
}

impl SourceId {
    pub fn new(shard_id: impl Into<Arc<str>>, sequence: SequenceNumber) -> Self {
        SourceId {
            shard_id: shard_id.into(),
            sequence,
        }
    }
}

/// Shard ids as a batch's records name them, one shared copy per run of records from the
/// same shard (a Kinesis event's records, a manifest's).
#[derive(Debug, Default)]
pub struct ShardIds {
    last: Option<Arc<str>>,
}

impl ShardIds {
    /// The shared id equal to `shard`: the previous one when it is the same.
    pub fn get(&mut self, shard: &str) -> Arc<str> {
        match &self.last {
            Some(last) if **last == *shard => last.clone(),
            _ => self.last.insert(Arc::from(shard)).clone(),
        }
    }
}

/// Where a batch's records' bytes are copied: consecutive records share a block of
/// [`RecordBlocks::BLOCK_BYTES`], so a batch is a few large allocations read in order rather
/// than one per record, and a record's clone (a decoded event keeps one) only counts a
/// reference. A block lives until the last record in it is dropped and, for the current
/// block, until the `RecordBlocks` moves on or is dropped.
#[derive(Debug, Default)]
pub struct RecordBlocks {
    block: BytesMut,
}

impl RecordBlocks {
    pub const BLOCK_BYTES: usize = 1 << 20;

    /// `data`, copied into the current block (or a new one).
    pub fn copy(&mut self, data: &[u8]) -> Bytes {
        if !self.make_room(data.len()) {
            return Bytes::copy_from_slice(data);
        }
        self.block.extend_from_slice(data);
        self.block.split().freeze()
    }

    /// Whether a record of `len` bytes goes into the current block, starting a new block when
    /// it does not fit there. A long record that does not fit gets an allocation of its own
    /// (`false`), so that the room a block is left with (held until its records are dropped)
    /// is under a quarter.
    fn make_room(&mut self, len: usize) -> bool {
        if self.block.capacity() - self.block.len() >= len {
            return true;
        }
        if len >= Self::BLOCK_BYTES / 4 {
            return false;
        }
        self.block = BytesMut::with_capacity(Self::BLOCK_BYTES);
        true
    }

    /// The bytes `write` puts into a buffer of `room` bytes (returning how many it wrote):
    /// a record decoded straight into place, placed as [`RecordBlocks::copy`] places a record
    /// of `room` bytes. When `write` fails, nothing is kept.
    pub fn fill<E>(
        &mut self,
        room: usize,
        write: impl FnOnce(&mut [u8]) -> Result<usize, E>,
    ) -> Result<Bytes, E> {
        if !self.make_room(room) {
            let mut own = vec![0; room];
            let written = write(&mut own)?;
            own.truncate(written);
            return Ok(Bytes::from(own));
        }
        let start = self.block.len();
        self.block.resize(start + room, 0);
        match write(&mut self.block[start..]) {
            Ok(written) => {
                self.block.truncate(start + written);
                Ok(self.block.split().freeze())
            }
            Err(e) => {
                self.block.truncate(start);
                Err(e)
            }
        }
    }
}

impl fmt::Display for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.shard_id, self.sequence)
    }
}

/// One input record as the batch processor sees it, whatever transport brought it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    pub source: SourceId,
    /// Arrival time in microseconds since the Unix epoch (Kinesis' approximate arrival
    /// timestamp; for files, the file's modification time). Stable across retries.
    pub arrival_micros: i64,
    pub data: Bytes,
}

impl SourceRecord {
    /// A 128-bit fingerprint of the record: its source position and its bytes. A replay of
    /// the same record matches. It keys the ledger's duplicate and quarantine entries, so
    /// different bytes at a position recorded there are not taken for that record; an
    /// original claim is matched by position alone (Kinesis never changes the bytes at a
    /// sequence number; for files see `run`).
    pub fn fingerprint(&self) -> u128 {
        let mut hasher = Md5::new();
        hasher.update(self.source.shard_id.as_bytes());
        hasher.update([0u8]);
        hasher.update(self.source.sequence.as_str().as_bytes());
        hasher.update([0u8]);
        hasher.update(&self.data);
        u128::from_be_bytes(hasher.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filled_records_are_placed_as_copied_ones_and_a_failed_fill_keeps_nothing() {
        const BLOCK: usize = RecordBlocks::BLOCK_BYTES;
        let write = |text: &'static [u8]| {
            move |buffer: &mut [u8]| {
                buffer[..text.len()].copy_from_slice(text);
                Ok::<_, &str>(text.len())
            }
        };
        let follows = |next: &Bytes, last: &Bytes| next.as_ptr() == last[last.len()..].as_ptr();
        let mut blocks = RecordBlocks::default();
        let first = blocks.copy(b"ab");
        let decoded = blocks.fill(8, write(b"xyz")).expect("filled");
        assert_eq!(&decoded[..], b"xyz");
        assert!(follows(&decoded, &first), "right after the first");
        assert_eq!(blocks.fill(8, |_| Err("bad")), Err("bad"));
        let next = blocks.copy(b"c");
        assert!(follows(&next, &decoded), "the failed fill left no bytes");
        // Filled to the end of the block, then a fill that does not fit starts a new one.
        let start = first.as_ptr() as usize;
        let mut last = next;
        while BLOCK - (last.as_ptr() as usize + last.len() - start) >= 1000 {
            let next = blocks
                .fill(1000, |buffer| Ok::<_, ()>(buffer.len()))
                .expect("filled");
            assert!(follows(&next, &last));
            last = next;
        }
        let across = blocks.fill(1000, write(b"new block")).expect("filled");
        assert!(
            !(start..start + BLOCK).contains(&(across.as_ptr() as usize)),
            "a new block"
        );
        assert_eq!(
            (&first[..], &decoded[..], &across[..]),
            (&b"ab"[..], &b"xyz"[..], &b"new block"[..])
        );
        // A long record that does not fit gets its own allocation; failing there keeps nothing.
        assert_eq!(blocks.fill(BLOCK, |_| Err("bad")), Err("bad"));
        let long = blocks
            .fill(BLOCK, |buffer| Ok::<_, ()>(buffer.len()))
            .expect("filled");
        assert_eq!(long.len(), BLOCK);
        let small = blocks.copy(b"d");
        assert!(follows(&small, &across), "the block goes on after a long record");
    }

    #[test]
    fn consecutive_records_share_a_block_and_a_long_one_has_its_own() {
        const BLOCK: usize = RecordBlocks::BLOCK_BYTES;
        let mut blocks = RecordBlocks::default();
        let first = blocks.copy(b"{\"a\":1}");
        let second = blocks.copy(b"{\"b\":22}");
        assert_eq!((&first[..], &second[..]), (&b"{\"a\":1}"[..], &b"{\"b\":22}"[..]));
        let follows = |next: &Bytes, last: &Bytes| next.as_ptr() == last[last.len()..].as_ptr();
        assert!(follows(&second, &first), "right after the first");
        let start = first.as_ptr() as usize;
        let room = |last: &Bytes| BLOCK - (last.as_ptr() as usize + last.len() - start);
        // Filled until less than a quarter is left: a quarter-block record does not fit.
        let mut last = second;
        while room(&last) >= BLOCK / 4 {
            let next = blocks.copy(&[b'y'; 1000]);
            assert!(follows(&next, &last));
            last = next;
        }
        let long = blocks.copy(&vec![b'x'; BLOCK / 4]);
        assert!(
            !(start..start + BLOCK).contains(&(long.as_ptr() as usize)),
            "a block of its own"
        );
        let small = blocks.copy(b"3");
        assert!(follows(&small, &last), "the block goes on");
        // A record that does not fit the room left, and is short, starts a new block.
        last = small;
        while room(&last) >= 1000 {
            let next = blocks.copy(&[b'y'; 1000]);
            assert!(follows(&next, &last));
            last = next;
        }
        let next = blocks.copy(&[b'z'; 1000]);
        assert!(
            !(start..start + BLOCK).contains(&(next.as_ptr() as usize)),
            "a new block"
        );
        assert_eq!(&next[..], &[b'z'; 1000][..]);
    }

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        fn seq(s: &str) -> SequenceNumber {
            SequenceNumber::parse(s).expect("digits")
        }
        assert!(seq("9") < seq("10"));
        assert!(
            seq("49590338271490256608559692538361571095921575989136588898") > seq("9".repeat(55).as_str())
        );
        assert_eq!(seq("007"), seq("7"));
        assert_eq!(seq("000"), seq("0"));
        assert!(SequenceNumber::parse("").is_none());
        assert!(SequenceNumber::parse("12a").is_none());
        assert!(SequenceNumber::parse(&"1".repeat(130)).is_none());
        assert!(SequenceNumber::parse(&"1".repeat(129)).is_some());
    }

    #[test]
    fn a_run_of_one_shard_shares_its_id() {
        let mut shards = ShardIds::default();
        let (a, b, c, d) = (
            shards.get("s-1"),
            shards.get("s-1"),
            shards.get("s-2"),
            shards.get("s-1"),
        );
        assert!(Arc::ptr_eq(&a, &b), "the same shard twice in a row: one copy");
        assert_eq!((&*c, &*d), ("s-2", "s-1"));
        assert!(!Arc::ptr_eq(&a, &d), "after another shard, a new copy");
    }

    #[test]
    fn fingerprints_separate_shard_sequence_and_bytes() {
        let record = |shard: &str, seq, data: &'static str| SourceRecord {
            source: SourceId::new(shard, SequenceNumber::from_u64(seq)),
            arrival_micros: 0,
            data: Bytes::from_static(data.as_bytes()),
        };
        let a = record("shard-1", 23, "x");
        assert_ne!(a.fingerprint(), record("shard-12", 3, "x").fingerprint());
        assert_ne!(a.fingerprint(), record("shard-1", 23, "y").fingerprint());
        assert_eq!(a.fingerprint(), record("shard-1", 23, "x").fingerprint());
    }
}
