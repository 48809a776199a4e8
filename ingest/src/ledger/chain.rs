//! One ledger chain: the append-only sequence of commits for a (kind, date, bucket), and the
//! state they add up to. A commit is applied in version order; the state after version N is
//! a pure function of commits 1..=N (or of a checkpoint at N' and commits N'+1..=N).
//!
//! State per chain:
//! - `originals`: uuid hash -> the claim of the source whose row is the event (first wins);
//! - `others`: source fingerprint -> the batch that recorded it as a duplicate or as
//!   quarantined, so a retry of that record is recognised;
//! - `erased`: uuid hashes whose event `lakeq erase` removed (the claim stays, so a retry of
//!   the original is still a retry; a re-send is counted, never stored).
//!
//! An events chain never removes a claim (a takeover replaces its batch), and records a
//! source in `others` only for a duplicate, in the commit that claims its uuid or after it.
//! So a uuid without a claim has no source in `others`: the batch processor relies on this to
//! skip the lookup (and the fingerprint) for a first-time event. A rule that records other
//! sources, or drops claims, must change that too.

use super::claims::ClaimIndex;
use super::document::{
    self, ChainDoc, CheckpointClaim, CheckpointColumnsIn, CheckpointColumnsOut, ClaimDoc, CommitDoc, Hash128,
    StoredCheckpoint,
};
use crate::error::IngestError;
use crate::source::{SequenceNumber, SourceId};
use crate::storage::{BatchId, Layout};
use schemas::PartitionDate;
use std::collections::HashMap;

/// The ledger's hash tables (uuid hashes, fingerprints, interned strings and stamps):
/// foldhash, seeded per process (the keys derive from input that senders choose, so the seed
/// must not be predictable), instead of SipHash.
pub(crate) type HashTable<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
use std::fmt;
use std::sync::Arc;

/// Which records a chain tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChainKind {
    /// Valid events, keyed by the hash of `event_uuid`, dated by `created_at`.
    Events,
    /// Invalid records, keyed by source fingerprint, dated by arrival.
    Quarantine,
}

/// The identity of one chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChainKey {
    pub kind: ChainKind,
    pub date: PartitionDate,
    pub bucket: u32,
}

impl ChainKey {
    /// The chain's folder, relative to the lake root.
    pub fn dir(&self) -> String {
        let kind = match self.kind {
            ChainKind::Events => "events",
            ChainKind::Quarantine => "quarantine",
        };
        format!(
            "{}/{kind}/{}/bucket={:04}",
            Layout::LEDGER,
            self.date.segment(),
            self.bucket
        )
    }

    pub fn version_path(&self, version: u64) -> String {
        format!("{}/v{version:012}", self.dir())
    }

    pub fn checkpoint_path(&self, version: u64) -> String {
        format!("{}/checkpoint-{version:012}", self.dir())
    }
}

impl fmt::Display for ChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.dir())
    }
}

/// The bucket of a 128-bit key among `buckets`: a range split of the key space, so bucket
/// order follows Kinesis' hash-key order (MD5 of the partition key, which is `event_uuid`)
/// and a shard's records fall into a contiguous run of buckets.
pub fn bucket_of(hash: u128, buckets: u32) -> u32 {
    let top = (hash >> 64) as u64;
    ((u128::from(top) * u128::from(buckets.max(1))) >> 64) as u32
}

/// Small strings repeated across many entries (shard ids, batch ids, event types), stored once.
#[derive(Debug, Default, Clone)]
struct Interner {
    values: Vec<Arc<str>>,
    index: HashTable<Arc<str>, u32>,
    /// The index the last call returned.
    last: u32,
}

impl Interner {
    fn intern(&mut self, value: &str) -> u32 {
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

    fn get(&self, i: u32) -> &str {
        &self.values[i as usize]
    }

    /// The string itself, shared.
    fn shared(&self, i: u32) -> Arc<str> {
        self.values[i as usize].clone()
    }

    fn len(&self) -> usize {
        self.values.len()
    }
}

/// What one interned string costs, roughly: its `Arc`, its slot in the list and in the index.
const INTERNED_VALUE_BYTES: usize = 96;

/// The least an arena grows by, in bytes.
const ARENA_MIN_GROWTH: usize = 4096;

/// Sequence numbers (1 to 129 decimal digits) packed two digits to a byte behind a length
/// byte, end to end in one buffer: a Kinesis sequence number takes 29 bytes instead of a
/// 56-byte heap string and its pointer.
#[derive(Debug, Default, Clone)]
struct SequenceArena {
    bytes: Vec<u8>,
}

impl SequenceArena {
    /// The bytes a sequence number takes in the arena.
    fn packed_len(sequence: &SequenceNumber) -> usize {
        Self::packed_digits_len(sequence.as_str())
    }

    fn packed_digits_len(digits: &str) -> usize {
        1 + digits.len().div_ceil(2)
    }

    /// Whether `extra` more bytes keep every offset within `u32` (about 148 million Kinesis
    /// sequence numbers in one chain).
    fn has_room(&self, extra: usize) -> bool {
        self.bytes.len().saturating_add(extra) <= u32::MAX as usize
    }

    /// Stores a validated sequence number and returns its offset; the caller checked
    /// [`SequenceArena::has_room`].
    fn push(&mut self, sequence: &SequenceNumber) -> u32 {
        self.push_digits(sequence.as_str())
    }

    /// [`SequenceArena::push`] of canonical digits ([`SequenceNumber::canonical`]).
    fn push_digits(&mut self, digits: &str) -> u32 {
        let offset = u32::try_from(self.bytes.len()).unwrap_or(u32::MAX);
        let digits = digits.as_bytes();
        // Grown by an eighth at a time, not doubled: the arena is a third of a chain's memory,
        // and doubling would leave up to half of it unused.
        let needed = 1 + digits.len().div_ceil(2);
        if self.bytes.capacity() - self.bytes.len() < needed {
            self.bytes
                .reserve_exact(needed.max(self.bytes.capacity() / 8).max(ARENA_MIN_GROWTH));
        }
        let mut packed = [0u8; 1 + MAX_SEQUENCE_DIGITS.div_ceil(2)];
        packed[0] = digits.len() as u8;
        for (slot, pair) in packed[1..].iter_mut().zip(digits.chunks(2)) {
            let high = pair[0] - b'0';
            let low = pair.get(1).map_or(0, |d| d - b'0');
            *slot = high << 4 | low;
        }
        self.bytes.extend_from_slice(&packed[..needed]);
        offset
    }

    /// Room for `bytes` more at once (a checkpoint knows how many it will push).
    fn reserve(&mut self, bytes: usize) {
        self.bytes.reserve_exact(bytes);
    }

    fn get(&self, offset: u32) -> SequenceNumber {
        let mut buffer = [0u8; MAX_SEQUENCE_DIGITS];
        // Only parsed (so canonical, all-digit) numbers are pushed.
        SequenceNumber::parse(self.digits(offset, &mut buffer)).unwrap_or_else(|| SequenceNumber::from_u64(0))
    }

    /// The digits stored at `offset`, unpacked into `buffer`.
    fn digits<'b>(&self, offset: u32, buffer: &'b mut [u8; MAX_SEQUENCE_DIGITS]) -> &'b str {
        let start = offset as usize;
        let len = usize::from(self.bytes[start]).min(MAX_SEQUENCE_DIGITS);
        for (i, byte) in self.bytes[start + 1..start + 1 + len.div_ceil(2)]
            .iter()
            .enumerate()
        {
            buffer[2 * i] = b'0' + (byte >> 4);
            if 2 * i + 1 < len {
                buffer[2 * i + 1] = b'0' + (byte & 0x0f);
            }
        }
        std::str::from_utf8(&buffer[..len]).unwrap_or("0")
    }
}

/// The most digits a sequence number has ([`SequenceNumber::parse`]).
const MAX_SEQUENCE_DIGITS: usize = 129;

/// The claim that makes a source's record the event row for a uuid: 16 bytes, every string
/// interned or packed elsewhere in the chain.
#[derive(Debug, Clone, Copy)]
struct Claim {
    sequence: u32,
    shard: u32,
    /// The committing batch and its commit time ([`ChainState::stamps`]).
    stamp: u32,
    event_type: u32,
}

/// A claim as the processor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimView {
    pub source: SourceId,
    pub batch: BatchId,
    pub event_type: String,
    pub committed_at_millis: i64,
}

/// A recorded duplicate or quarantined source as the processor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherView {
    pub batch: BatchId,
    pub committed_at_millis: i64,
}

/// The state of one chain after `version` commits.
#[derive(Debug, Clone, Default)]
pub struct ChainState {
    pub version: u64,
    originals: ClaimIndex<Claim>,
    /// Source fingerprint -> stamp.
    others: HashTable<u128, u32>,
    sequences: SequenceArena,
    shards: Interner,
    batches: Interner,
    /// (interned batch, commit time): every entry keeps the batch and the time of the
    /// commit that made it, and there are about as many distinct pairs as commits.
    stamps: Vec<(u32, i64)>,
    stamp_index: HashTable<(u32, i64), u32>,
    types: Interner,
    erased: std::collections::HashSet<u128, foldhash::fast::RandomState>,
}

impl ChainState {
    pub fn original(&self, uuid_hash: u128) -> Option<ClaimView> {
        self.originals.get(uuid_hash).map(|c| self.claim_view(c))
    }

    pub fn other(&self, source_fp: u128) -> Option<OtherView> {
        self.others.get(&source_fp).map(|&stamp| OtherView {
            batch: self.batch_id(stamp),
            committed_at_millis: self.stamp_time(stamp),
        })
    }

    /// Whether `lakeq erase` removed the event with this uuid hash.
    pub fn is_erased(&self, uuid_hash: u128) -> bool {
        !self.erased.is_empty() && self.erased.contains(&uuid_hash)
    }

    /// The batches that committed to this chain at or after `since_millis`, with the time
    /// of their commit.
    pub fn batches_since(&self, since_millis: i64) -> Vec<(BatchId, i64)> {
        let mut batches: Vec<(BatchId, i64)> = self
            .stamps
            .iter()
            .enumerate()
            .filter(|(_, (_, at))| *at >= since_millis)
            .map(|(i, &(_, at))| (self.batch_id(i as u32), at))
            .collect();
        batches.sort();
        batches.dedup();
        batches
    }

    fn claim_view(&self, c: &Claim) -> ClaimView {
        ClaimView {
            source: SourceId::new(self.shards.shared(c.shard), self.sequences.get(c.sequence)),
            batch: self.batch_id(c.stamp),
            event_type: self.types.get(c.event_type).to_owned(),
            committed_at_millis: self.stamp_time(c.stamp),
        }
    }

    fn batch_id(&self, stamp: u32) -> BatchId {
        // Only ids that parsed are interned.
        BatchId::parse(self.batch_text(stamp)).unwrap_or_else(|| BatchId::new(0, 0))
    }

    fn batch_text(&self, stamp: u32) -> &str {
        self.batches.get(self.stamps[stamp as usize].0)
    }

    fn stamp_time(&self, stamp: u32) -> i64 {
        self.stamps[stamp as usize].1
    }

    /// The stamp of a (validated) batch id committing at `at`.
    fn stamp(&mut self, batch: &str, at: i64) -> u32 {
        let batch = self.batches.intern(batch);
        let stamps = &mut self.stamps;
        *self.stamp_index.entry((batch, at)).or_insert_with(|| {
            stamps.push((batch, at));
            (stamps.len() - 1) as u32
        })
    }

    pub fn uuids(&self) -> usize {
        self.originals.len()
    }

    pub fn entries(&self) -> usize {
        self.originals.len() + self.others.len()
    }

    /// Applies the commit that follows `self.version`. Every entry is checked first: a
    /// corrupt commit is refused as a whole and leaves the state as it was.
    pub fn apply(&mut self, version: u64, doc: &CommitDoc<'_>, path: &str) -> Result<(), IngestError> {
        let expected = self
            .version
            .checked_add(1)
            .ok_or_else(|| corrupt(path, format!("no version can follow {}", self.version)))?;
        if version != expected {
            return Err(corrupt(
                path,
                format!("expected version {expected}, got {version}"),
            ));
        }
        let batch_id = BatchId::parse(&doc.batch).ok_or_else(|| corrupt(path, "bad batch id".into()))?;
        let claims = doc
            .claims
            .iter()
            .map(|claim| {
                let uuid = claim.uuid.0;
                let digits = SequenceNumber::canonical(&claim.sequence)
                    .ok_or_else(|| corrupt(path, "bad sequence number".into()))?;
                Ok((uuid, digits, claim))
            })
            .collect::<Result<Vec<_>, IngestError>>()?;
        let packed: usize = claims
            .iter()
            .map(|(_, digits, _)| SequenceArena::packed_digits_len(digits))
            .sum();
        if !self.sequences.has_room(packed) {
            return Err(chain_full(path));
        }
        if !doc.claims.is_empty() || !doc.others.is_empty() {
            let stamp = self.stamp(batch_id.as_str(), doc.committed_at_millis);
            for (uuid, digits, claim) in claims {
                self.apply_claim(uuid, digits, claim, stamp);
            }
            for fp in &doc.others {
                self.others.insert(fp.0, stamp);
            }
        }
        self.erased.extend(doc.erased.iter().map(|h| h.0));
        self.version = version;
        Ok(())
    }

    fn apply_claim(&mut self, uuid: u128, digits: &str, claim: &ClaimDoc<'_>, stamp: u32) {
        let (current, place) = self.originals.find(uuid);
        let current_batch = current.map(|c| self.batch_text(c.stamp));
        // A writer commits version N+1 only from the state at N, so a plain claim meets an
        // empty slot and a takeover meets the aborted claim it names. Anything else is
        // ignored: the first claim stands.
        let takes_slot = match (&claim.replaces, current_batch) {
            (None, None) => true,
            (Some(replaced), Some(current)) => replaced == current,
            _ => false,
        };
        if takes_slot {
            let entry = Claim {
                sequence: self.sequences.push_digits(digits),
                shard: self.shards.intern(&claim.shard),
                stamp,
                event_type: self.types.intern(&claim.event_type),
            };
            self.originals.insert_at(place, uuid, entry);
        }
    }

    /// The whole state as a checkpoint document.
    pub fn to_doc(&self) -> ChainDoc {
        let mut doc = ChainDoc {
            version: self.version,
            ..ChainDoc::default()
        };
        for (uuid, c) in self.originals.iter() {
            doc.originals.push(CheckpointClaim {
                uuid: Hash128(uuid),
                shard: self.shards.get(c.shard).to_owned(),
                sequence: self.sequences.get(c.sequence).to_string(),
                event_type: self.types.get(c.event_type).to_owned(),
                batch: self.batch_text(c.stamp).to_owned(),
                committed_at_millis: self.stamp_time(c.stamp),
            });
        }
        for (fp, &stamp) in &self.others {
            doc.others.push((
                Hash128(*fp),
                self.batch_text(stamp).to_owned(),
                self.stamp_time(stamp),
            ));
        }
        doc.erased = self.erased.iter().map(|&h| Hash128(h)).collect();
        doc.originals.sort_unstable_by_key(|c| c.uuid);
        doc.others.sort();
        doc.erased.sort();
        doc
    }

    /// The stored checkpoint of this state: the bytes `encode_doc(&self.to_doc())` gives,
    /// written from the state's own tables (a cold start and every checkpoint read or write
    /// tens of thousands of claims; a document of owned strings per claim was most of it).
    pub fn checkpoint_bytes(&self) -> Result<bytes::Bytes, IngestError> {
        let mut claims: Vec<(u128, Claim)> = self.originals.iter().map(|(uuid, c)| (uuid, *c)).collect();
        claims.sort_unstable_by_key(|&(uuid, _)| uuid);
        // Fingerprints are distinct, so this is the document's order by (fingerprint, batch, time).
        let mut others: Vec<(u128, u32)> = self.others.iter().map(|(&fp, &stamp)| (fp, stamp)).collect();
        others.sort_unstable();
        let mut erased: Vec<Hash128> = self.erased.iter().map(|&h| Hash128(h)).collect();
        erased.sort();
        let mut tables = CheckpointTables::new(self);
        let n = claims.len();
        let mut columns = CheckpointColumnsOut {
            version: self.version,
            strings: Vec::new(),
            stamps: Vec::new(),
            uuids: Vec::with_capacity(n),
            sequences: ArenaSequences {
                arena: &self.sequences,
                offsets: Vec::with_capacity(n),
            },
            shards: Vec::with_capacity(n),
            event_types: Vec::with_capacity(n),
            claim_stamps: Vec::with_capacity(n),
            other_fingerprints: Vec::with_capacity(others.len()),
            other_stamps: Vec::with_capacity(others.len()),
        };
        // The order of the calls is the order in which a document's strings enter its table.
        for (uuid, claim) in &claims {
            columns.uuids.push(Hash128(*uuid));
            columns.sequences.offsets.push(claim.sequence);
            columns.shards.push(tables.shard(claim.shard));
            columns.event_types.push(tables.event_type(claim.event_type));
            columns.claim_stamps.push(tables.stamp(claim.stamp));
        }
        for &(fp, stamp) in &others {
            columns.other_fingerprints.push(Hash128(fp));
            columns.other_stamps.push(tables.stamp(stamp));
        }
        (columns.strings, columns.stamps) = (tables.strings, tables.stamps);
        document::encode_checkpoint(&columns, &erased)
    }

    /// A state from a stored checkpoint of any format; a binary one is read in place,
    /// without a [`ChainDoc`] in between. Accepts and refuses what `decode_doc` and
    /// [`ChainState::from_doc`] together do.
    pub fn from_checkpoint(bytes: &[u8], path: &str) -> Result<Self, IngestError> {
        match document::stored_checkpoint(bytes, path)? {
            StoredCheckpoint::Json(doc) => ChainState::from_doc(&doc, path),
            StoredCheckpoint::Binary { plain, erasures } => {
                let (columns, erased) = document::checkpoint_columns(&plain, erasures, path)?;
                ChainState::from_columns(&columns, &erased, path)
            }
        }
    }

    fn from_columns(
        columns: &CheckpointColumnsIn<'_>,
        erased: &[Hash128],
        path: &str,
    ) -> Result<Self, IngestError> {
        let mut state = ChainState {
            version: columns.version,
            ..ChainState::default()
        };
        let mut strings = ColumnStrings::new(columns);
        let mut originals = Vec::with_capacity(columns.uuids.len());
        // At most this much (leading zeros are dropped), trimmed below: one allocation
        // instead of growing the arena an eighth at a time.
        let packed: usize = columns
            .sequences
            .iter()
            .map(|s| SequenceArena::packed_digits_len(s))
            .sum();
        state.sequences.reserve(packed.min(u32::MAX as usize));
        for (i, (uuid, sequence)) in columns.uuids.iter().zip(&columns.sequences).enumerate() {
            let stamp = strings.stamp(&mut state, columns.claim_stamps[i], path)?;
            let digits = SequenceNumber::canonical(sequence)
                .ok_or_else(|| corrupt(path, "bad sequence number".into()))?;
            if !state.sequences.has_room(SequenceArena::packed_digits_len(digits)) {
                return Err(chain_full(path));
            }
            let claim = Claim {
                sequence: state.sequences.push_digits(digits),
                shard: strings.shard(&mut state, columns.shards[i], path)?,
                stamp,
                event_type: strings.event_type(&mut state, columns.event_types[i], path)?,
            };
            originals.push((uuid.0, claim));
        }
        state.sequences.bytes.shrink_to_fit();
        state.originals = ClaimIndex::from_entries(originals)
            .map_err(|uuid| corrupt(path, format!("uuid hash {} is listed twice", Hash128(uuid))))?;
        state.others.reserve(columns.other_fingerprints.len());
        for (fp, &stamp) in columns.other_fingerprints.iter().zip(&columns.other_stamps) {
            let stamp = strings.stamp(&mut state, stamp, path)?;
            if state.others.insert(fp.0, stamp).is_some() {
                return Err(corrupt(
                    path,
                    format!("source fingerprint {:032x} is listed twice", fp.0),
                ));
            }
        }
        state.erased.extend(erased.iter().map(|h| h.0));
        Ok(state)
    }

    /// Rebuilds a state from a checkpoint document.
    pub fn from_doc(doc: &ChainDoc, path: &str) -> Result<Self, IngestError> {
        let mut state = ChainState {
            version: doc.version,
            ..ChainState::default()
        };
        state.others.reserve(doc.others.len());
        let mut originals = Vec::with_capacity(doc.originals.len());
        for c in &doc.originals {
            BatchId::parse(&c.batch).ok_or_else(|| corrupt(path, "bad batch id".into()))?;
            let sequence = SequenceNumber::parse(&c.sequence)
                .ok_or_else(|| corrupt(path, "bad sequence number".into()))?;
            if !state.sequences.has_room(SequenceArena::packed_len(&sequence)) {
                return Err(chain_full(path));
            }
            let claim = Claim {
                sequence: state.sequences.push(&sequence),
                shard: state.shards.intern(&c.shard),
                stamp: state.stamp(&c.batch, c.committed_at_millis),
                event_type: state.types.intern(&c.event_type),
            };
            originals.push((c.uuid.0, claim));
        }
        state.sequences.bytes.shrink_to_fit();
        state.originals = ClaimIndex::from_entries(originals)
            .map_err(|uuid| corrupt(path, format!("uuid hash {} is listed twice", Hash128(uuid))))?;
        for (fp, batch, at) in &doc.others {
            let fp = fp.0;
            BatchId::parse(batch).ok_or_else(|| corrupt(path, "bad batch id".into()))?;
            if state.others.contains_key(&fp) {
                return Err(corrupt(
                    path,
                    format!("source fingerprint {fp:032x} is listed twice"),
                ));
            }
            let stamp = state.stamp(batch, *at);
            state.others.insert(fp, stamp);
        }
        state.erased.extend(doc.erased.iter().map(|h| h.0));
        Ok(state)
    }

    /// Approximate heap bytes held by this state, in constant time (the cache budget reads
    /// it for every chain before every batch).
    pub fn approx_bytes(&self) -> usize {
        // A hash table allocates a slot and a control byte per bucket, and holds at most 7
        // entries per 8 buckets.
        let table = |capacity: usize, slot: usize| capacity.div_ceil(7) * 8 * (slot + 1);
        self.originals.approx_bytes()
            + table(self.others.capacity(), size_of::<(u128, u32)>())
            + self.sequences.bytes.capacity()
            + self.stamps.capacity() * size_of::<(u32, i64)>()
            + table(self.stamp_index.capacity(), size_of::<((u32, i64), u32)>())
            + (self.shards.len() + self.batches.len() + self.types.len()) * INTERNED_VALUE_BYTES
            + table(self.erased.capacity(), size_of::<u128>())
    }
}

/// The string and stamp tables of a checkpoint being written from a state: each of the
/// state's interned values enters the table once, in the order a document's would.
struct CheckpointTables<'s> {
    state: &'s ChainState,
    strings: Vec<&'s str>,
    string_index: HashTable<&'s str, u32>,
    stamps: Vec<(u32, i64)>,
    stamp_index: HashTable<(u32, i64), u32>,
    shards: Vec<Option<u32>>,
    types: Vec<Option<u32>>,
    state_stamps: Vec<Option<u32>>,
}

impl<'s> CheckpointTables<'s> {
    fn new(state: &'s ChainState) -> Self {
        CheckpointTables {
            state,
            strings: Vec::new(),
            string_index: HashTable::default(),
            stamps: Vec::new(),
            stamp_index: HashTable::default(),
            shards: vec![None; state.shards.len()],
            types: vec![None; state.types.len()],
            state_stamps: vec![None; state.stamps.len()],
        }
    }

    fn string(&mut self, text: &'s str) -> u32 {
        let next = self.strings.len() as u32;
        let i = *self.string_index.entry(text).or_insert(next);
        if i == next {
            self.strings.push(text);
        }
        i
    }

    fn shard(&mut self, id: u32) -> u32 {
        let i = self.shards[id as usize].unwrap_or_else(|| self.string(self.state.shards.get(id)));
        *self.shards[id as usize].insert(i)
    }

    fn event_type(&mut self, id: u32) -> u32 {
        let i = self.types[id as usize].unwrap_or_else(|| self.string(self.state.types.get(id)));
        *self.types[id as usize].insert(i)
    }

    fn stamp(&mut self, id: u32) -> u32 {
        if let Some(i) = self.state_stamps[id as usize] {
            return i;
        }
        let batch = self.string(self.state.batch_text(id));
        let entry = (batch, self.state.stamp_time(id));
        let next = self.stamps.len() as u32;
        let i = *self.stamp_index.entry(entry).or_insert(next);
        if i == next {
            self.stamps.push(entry);
        }
        self.state_stamps[id as usize] = Some(i);
        i
    }
}

/// A checkpoint's sequence numbers, unpacked from the arena as they are serialized.
struct ArenaSequences<'s> {
    arena: &'s SequenceArena,
    offsets: Vec<u32>,
}

impl serde::Serialize for ArenaSequences<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut buffer = [0u8; MAX_SEQUENCE_DIGITS];
        let mut seq = serializer.serialize_seq(Some(self.offsets.len()))?;
        for &offset in &self.offsets {
            seq.serialize_element(self.arena.digits(offset, &mut buffer))?;
        }
        seq.end()
    }
}

/// A checkpoint's string and stamp tables as a state being read interns them: each entry
/// is validated and interned once, however many claims name it.
struct ColumnStrings<'c> {
    columns: &'c CheckpointColumnsIn<'c>,
    shards: Vec<Option<u32>>,
    types: Vec<Option<u32>>,
    stamps: Vec<Option<u32>>,
}

impl<'c> ColumnStrings<'c> {
    fn new(columns: &'c CheckpointColumnsIn<'c>) -> Self {
        ColumnStrings {
            columns,
            shards: vec![None; columns.strings.len()],
            types: vec![None; columns.strings.len()],
            stamps: vec![None; columns.stamps.len()],
        }
    }

    fn text(&self, i: u32, path: &str) -> Result<&'c str, IngestError> {
        self.columns.strings.get(i as usize).copied().ok_or_else(|| {
            corrupt(
                path,
                format!("bad binary document: string {i} is not in the table"),
            )
        })
    }

    // `text` checks `i` against the string table, which the memos are as long as.
    fn shard(&mut self, state: &mut ChainState, i: u32, path: &str) -> Result<u32, IngestError> {
        let text = self.text(i, path)?;
        Ok(*self.shards[i as usize].get_or_insert_with(|| state.shards.intern(text)))
    }

    fn event_type(&mut self, state: &mut ChainState, i: u32, path: &str) -> Result<u32, IngestError> {
        let text = self.text(i, path)?;
        Ok(*self.types[i as usize].get_or_insert_with(|| state.types.intern(text)))
    }

    fn stamp(&mut self, state: &mut ChainState, i: u32, path: &str) -> Result<u32, IngestError> {
        if let Some(Some(id)) = self.stamps.get(i as usize) {
            return Ok(*id);
        }
        let &(batch, at) = self.columns.stamps.get(i as usize).ok_or_else(|| {
            corrupt(
                path,
                format!("bad binary document: stamp {i} is not in the table"),
            )
        })?;
        let batch = self.text(batch, path)?;
        BatchId::parse(batch).ok_or_else(|| corrupt(path, "bad batch id".into()))?;
        let id = state.stamp(batch, at);
        self.stamps[i as usize] = Some(id);
        Ok(id)
    }
}

fn chain_full(path: &str) -> IngestError {
    IngestError::Config(format!(
        "ledger chain {path} has reached its limit of about 148 million claims; \
         write new lakes with more ledger buckets (--ledger-buckets, EVENTLAKE_LEDGER_BUCKETS)"
    ))
}

fn corrupt(path: &str, message: String) -> IngestError {
    IngestError::CorruptLedger {
        path: path.to_owned(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interned_string_keeps_its_index_whatever_came_before() {
        let mut interner = Interner::default();
        let order = ["a", "a", "b", "a", "c", "c", "b", "a", "", ""];
        let indexes: Vec<u32> = order.iter().map(|v| interner.intern(v)).collect();
        assert_eq!(indexes, [0, 0, 1, 0, 2, 2, 1, 0, 3, 3]);
        assert_eq!(interner.len(), 4);
        assert!(order.iter().all(|v| interner.get(interner.index[*v]) == *v));
    }

    /// A checkpoint's stored bytes from columns as given (any of them may be inconsistent).
    fn stored(
        columns: &CheckpointColumnsOut<'_, Vec<&str>>,
        erased: Option<&[Hash128]>,
        trailing: &[u8],
    ) -> Vec<u8> {
        let (magic, mut plain) = match erased {
            None => (
                document::BINARY_MAGIC,
                postcard::to_stdvec(columns).expect("postcard"),
            ),
            Some(erased) => (
                document::ERASURES_MAGIC,
                postcard::to_stdvec(&(columns, erased)).expect("postcard"),
            ),
        };
        plain.extend_from_slice(trailing);
        [magic.as_slice(), &zstd::bulk::compress(&plain, 1).expect("zstd")].concat()
    }

    fn valid_columns<'a>(batch: &'a str) -> CheckpointColumnsOut<'a, Vec<&'a str>> {
        CheckpointColumnsOut {
            version: 3,
            strings: vec!["shardId-0", "account", batch],
            stamps: vec![(2, 7)],
            uuids: vec![Hash128(1), Hash128(2)],
            sequences: vec!["10", "0011"],
            shards: vec![0, 0],
            event_types: vec![1, 1],
            claim_stamps: vec![0, 0],
            other_fingerprints: vec![Hash128(9)],
            other_stamps: vec![0],
        }
    }

    /// Both readers of a stored checkpoint: in place, and through its document.
    fn read_both(bytes: &[u8]) -> (Result<ChainDoc, IngestError>, Result<ChainDoc, IngestError>) {
        let in_place = ChainState::from_checkpoint(bytes, "cp").map(|s| s.to_doc());
        let through_doc = document::decode_doc::<ChainDoc>(bytes, "cp")
            .and_then(|doc| ChainState::from_doc(&doc, "cp"))
            .map(|s| s.to_doc());
        (in_place, through_doc)
    }

    #[test]
    fn a_checkpoint_read_in_place_refuses_what_its_document_refuses() {
        let batch = BatchId::new(5, 1).to_string();
        let (in_place, through_doc) = read_both(&stored(&valid_columns(&batch), None, b""));
        let state = in_place.expect("a valid checkpoint loads in place");
        assert_eq!(Some(state), through_doc.ok());
        let erased = [Hash128(1)];
        let (in_place, through_doc) = read_both(&stored(&valid_columns(&batch), Some(&erased), b""));
        assert_eq!(in_place.ok(), through_doc.ok(), "with erasures");

        type Damage = fn(&mut CheckpointColumnsOut<'_, Vec<&str>>);
        let damages: [(&str, Damage); 9] = [
            ("a shard outside the string table", |c| c.shards[1] = 3),
            ("an event type outside the string table", |c| c.event_types[0] = 9),
            ("a claim stamp outside the stamp table", |c| c.claim_stamps[0] = 1),
            ("a stamp's batch outside the string table", |c| c.stamps[0].0 = 3),
            ("columns of different lengths", |c| {
                c.sequences.pop();
            }),
            ("a uuid listed twice", |c| c.uuids[1] = Hash128(1)),
            ("a sequence number that is not one", |c| c.sequences[0] = "1a"),
            ("a batch id that is not one", |c| c.strings[2] = "batch"),
            ("a fingerprint listed twice", |c| {
                c.other_fingerprints.push(Hash128(9));
                c.other_stamps.push(0);
            }),
        ];
        for (what, damage) in damages {
            let mut columns = valid_columns(&batch);
            damage(&mut columns);
            let (in_place, through_doc) = read_both(&stored(&columns, None, b""));
            assert!(
                in_place.is_err() && through_doc.is_err(),
                "{what}: {in_place:?} / {through_doc:?}"
            );
        }
        // The batch id of a stamp only `others` use is checked too.
        let mut columns = valid_columns(&batch);
        columns.strings.push("batch");
        columns.stamps.push((3, 8));
        columns.other_stamps[0] = 1;
        let (in_place, through_doc) = read_both(&stored(&columns, None, b""));
        assert!(
            in_place.is_err() && through_doc.is_err(),
            "a bad batch id only others use"
        );
        // The ledger fuzz target's seeds hold these columns (framed under both magics there).
        for (magic, seed) in [
            (
                document::BINARY_MAGIC,
                &include_bytes!("../../../fuzz/seeds/ledger/checkpoint_columns")[..],
            ),
            (
                document::ERASURES_MAGIC,
                &include_bytes!("../../../fuzz/seeds/ledger/checkpoint_columns_erased")[..],
            ),
        ] {
            let framed = [magic.as_slice(), &zstd::bulk::compress(seed, 1).expect("zstd")].concat();
            let (in_place, through_doc) = read_both(&framed);
            assert!(in_place.is_ok(), "the seed is a checkpoint: {in_place:?}");
            assert_eq!(in_place.ok(), through_doc.ok());
        }
        for (what, bytes) in [
            (
                "ELB3 without erasures",
                stored(&valid_columns(&batch), Some(&[]), b""),
            ),
            (
                "bytes after the document",
                stored(&valid_columns(&batch), None, b"\0"),
            ),
        ] {
            let (in_place, through_doc) = read_both(&bytes);
            assert!(in_place.is_err() && through_doc.is_err(), "{what}");
        }
    }

    fn commit(batch: &BatchId, claims: Vec<ClaimDoc<'static>>, others: Vec<Hash128>) -> CommitDoc<'static> {
        CommitDoc {
            format: 2,
            batch: batch.to_string(),
            writer: "t".into(),
            committed_at_millis: 7,
            claims,
            others,
            erased: vec![],
        }
    }

    fn claim(uuid: u128, seq: u64, replaces: Option<&BatchId>) -> ClaimDoc<'static> {
        ClaimDoc {
            uuid: Hash128(uuid),
            shard: "s".into(),
            sequence: seq.to_string().into(),
            event_type: "t".into(),
            replaces: replaces.map(|b| b.to_string().into()),
        }
    }

    #[test]
    fn first_claim_wins_and_takeover_needs_the_named_batch() {
        let (b1, b2, b3) = (BatchId::new(1, 1), BatchId::new(2, 2), BatchId::new(3, 3));
        let mut state = ChainState::default();
        state
            .apply(1, &commit(&b1, vec![claim(10, 1, None)], vec![]), "v1")
            .expect("apply");
        state
            .apply(2, &commit(&b2, vec![claim(10, 2, None)], vec![Hash128(99)]), "v2")
            .expect("apply");
        assert_eq!(state.original(10).expect("claimed").batch, b1);
        assert_eq!(state.other(99).expect("recorded").batch, b2);
        state
            .apply(3, &commit(&b3, vec![claim(10, 3, Some(&b2))], vec![]), "v3")
            .expect("apply");
        assert_eq!(
            state.original(10).expect("claimed").batch,
            b1,
            "takeover naming the wrong batch is ignored"
        );
        state
            .apply(4, &commit(&b3, vec![claim(10, 3, Some(&b1))], vec![]), "v4")
            .expect("apply");
        assert_eq!(state.original(10).expect("claimed").source.sequence.as_str(), "3");
        assert!(
            state.apply(6, &commit(&b3, vec![], vec![]), "v6").is_err(),
            "gaps are corruption"
        );
        let restored = ChainState::from_doc(&state.to_doc(), "cp").expect("restore");
        assert_eq!(restored.original(10), state.original(10));
        assert_eq!(restored.other(99), state.other(99));
        assert_eq!(restored.version, 4);
    }

    #[test]
    fn sequence_numbers_pack_and_unpack_exactly() {
        let mut arena = SequenceArena::default();
        let texts = [
            "0",
            "7",
            "10",
            "123",
            "4959033827149025660855969253836157109592157598913000001",
        ];
        let long = "9".repeat(129);
        let numbers: Vec<SequenceNumber> = texts
            .iter()
            .copied()
            .chain([long.as_str()])
            .map(|t| SequenceNumber::parse(t).expect("valid"))
            .collect();
        let offsets: Vec<u32> = numbers.iter().map(|n| arena.push(n)).collect();
        for (n, offset) in numbers.iter().zip(offsets) {
            assert_eq!(&arena.get(offset), n);
        }
        // A length byte, then half a byte per digit: "0", "7", "10", "123", 55 digits, 129 digits.
        assert_eq!(arena.bytes.len(), 2 + 2 + 2 + 3 + (1 + 28) + (1 + 65));
    }

    #[test]
    fn buckets_split_the_hash_range_in_order() {
        assert_eq!(bucket_of(0, 64), 0);
        assert_eq!(bucket_of(u128::MAX, 64), 63);
        assert_eq!(bucket_of(u128::MAX / 2, 2), 0);
        assert_eq!(bucket_of(u128::MAX / 2 + 1, 2), 1);
        assert_eq!(bucket_of(12345, 1), 0);
    }
}
