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
use super::interner::Interner;
use super::sequence_arena::{MAX_SEQUENCE_DIGITS, SequenceArena};
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

/// (shard, event type) pairs, interned: a chain's claims come from a few shards and a few
/// event types, so a claim names both with one index.
#[derive(Debug, Default, Clone)]
struct Origins {
    pairs: Vec<(u32, u32)>,
    index: HashTable<(u32, u32), u32>,
    /// The index the last call returned.
    last: u32,
}

impl Origins {
    fn intern(&mut self, shard: u32, event_type: u32) -> u32 {
        let pair = (shard, event_type);
        // A commit's claims mostly repeat the pair before them (one shard, a few types).
        if self.pairs.get(self.last as usize) == Some(&pair) {
            return self.last;
        }
        let pairs = &mut self.pairs;
        let i = *self.index.entry(pair).or_insert_with(|| {
            pairs.push(pair);
            (pairs.len() - 1) as u32
        });
        self.last = i;
        i
    }

    /// The (shard, event type) of an interned pair.
    fn get(&self, origin: u32) -> (u32, u32) {
        self.pairs[origin as usize]
    }

    fn approx_bytes(&self) -> usize {
        self.pairs.capacity() * size_of::<(u32, u32)>()
            + hash_table_bytes(self.index.capacity(), size_of::<((u32, u32), u32)>())
    }
}

/// The heap bytes of a hash table that can hold `capacity` entries of `slot` bytes: a slot
/// and a control byte per bucket, at most 7 entries per 8 buckets.
pub(super) fn hash_table_bytes(capacity: usize, slot: usize) -> usize {
    capacity.div_ceil(7) * 8 * (slot + 1)
}

/// The claim that makes a source's record the event row for a uuid: 12 bytes, every string
/// interned or packed elsewhere in the chain.
#[derive(Debug, Clone, Copy)]
struct Claim {
    /// A reference into [`ChainState::sequences`].
    sequence: u32,
    /// The committing batch and its commit time ([`ChainState::stamps`]).
    stamp: u32,
    /// The source's shard and the event's type ([`ChainState::origins`]).
    origin: u32,
}

const _: () = assert!(size_of::<Claim>() == 12);

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
    origins: Origins,
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
        let (shard, event_type) = self.origins.get(c.origin);
        ClaimView {
            source: SourceId::new(self.shards.shared(shard), self.sequences.get(c.sequence)),
            batch: self.batch_id(c.stamp),
            event_type: self.types.get(event_type).to_owned(),
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

    /// The interned (shard, event type) pair of a claim.
    fn origin(&mut self, shard: &str, event_type: &str) -> u32 {
        let shard = self.shards.intern(shard);
        let event_type = self.types.intern(event_type);
        self.origins.intern(shard, event_type)
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
        let bounds: usize = claims
            .iter()
            .map(|(_, digits, _)| SequenceArena::bound(digits))
            .sum();
        if !self.sequences.has_room(bounds) {
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
                stamp,
                origin: self.origin(&claim.shard, &claim.event_type),
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
            let (shard, event_type) = self.origins.get(c.origin);
            doc.originals.push(CheckpointClaim {
                uuid: Hash128(uuid),
                shard: self.shards.get(shard).to_owned(),
                sequence: self.sequences.get(c.sequence).to_string(),
                event_type: self.types.get(event_type).to_owned(),
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
                references: Vec::with_capacity(n),
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
            let (shard, event_type) = self.origins.get(claim.origin);
            columns.sequences.references.push(claim.sequence);
            columns.shards.push(tables.shard(shard));
            columns.event_types.push(tables.event_type(event_type));
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
        // About this much, trimmed below: one allocation instead of growing the arena an
        // eighth at a time.
        let estimate: usize = columns
            .sequences
            .iter()
            .map(|s| SequenceArena::estimate(s.trim_start_matches('0')))
            .sum();
        state.sequences.reserve(estimate);
        for (i, (uuid, sequence)) in columns.uuids.iter().zip(&columns.sequences).enumerate() {
            let stamp = strings.stamp(&mut state, columns.claim_stamps[i], path)?;
            let digits = SequenceNumber::canonical(sequence)
                .ok_or_else(|| corrupt(path, "bad sequence number".into()))?;
            if !state.sequences.has_room(SequenceArena::bound(digits)) {
                return Err(chain_full(path));
            }
            let shard = strings.shard(&mut state, columns.shards[i], path)?;
            let event_type = strings.event_type(&mut state, columns.event_types[i], path)?;
            let claim = Claim {
                sequence: state.sequences.push_digits(digits),
                stamp,
                origin: state.origins.intern(shard, event_type),
            };
            originals.push((uuid.0, claim));
        }
        state.sequences.shrink_to_fit();
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
            if !state.sequences.has_room(SequenceArena::bound(sequence.as_str())) {
                return Err(chain_full(path));
            }
            let claim = Claim {
                sequence: state.sequences.push(&sequence),
                stamp: state.stamp(&c.batch, c.committed_at_millis),
                origin: state.origin(&c.shard, &c.event_type),
            };
            originals.push((c.uuid.0, claim));
        }
        state.sequences.shrink_to_fit();
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
        self.originals.approx_bytes()
            + hash_table_bytes(self.others.capacity(), size_of::<(u128, u32)>())
            + self.sequences.approx_bytes()
            + self.origins.approx_bytes()
            + self.stamps.capacity() * size_of::<(u32, i64)>()
            + hash_table_bytes(self.stamp_index.capacity(), size_of::<((u32, i64), u32)>())
            + self.shards.approx_bytes()
            + self.batches.approx_bytes()
            + self.types.approx_bytes()
            + hash_table_bytes(self.erased.capacity(), size_of::<u128>())
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
    references: Vec<u32>,
}

impl serde::Serialize for ArenaSequences<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut buffer = [0u8; MAX_SEQUENCE_DIGITS];
        let mut seq = serializer.serialize_seq(Some(self.references.len()))?;
        for &reference in &self.references {
            seq.serialize_element(self.arena.digits(reference, &mut buffer))?;
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
        "ledger chain {path} has reached its limit of about 79 million claims with Kinesis sequence numbers; \
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
    fn each_claim_keeps_its_shard_type_and_sequence_through_both_checkpoints() {
        let shards = ["shardId-000000000000", "shardId-000000000001"];
        let types = ["payment", "account"];
        let sequence = |i: u64| match i % 3 {
            0 => (i + 1).to_string(),
            1 => format!("49590338271490256608559692538361571095921575989136{:06}", i),
            _ => format!("{}{:038}", 7 + i, i),
        };
        let claims: Vec<ClaimDoc<'static>> = (0..40u64)
            .map(|i| ClaimDoc {
                uuid: Hash128(u128::from(i) << 100 | 5),
                shard: shards[(i % 2) as usize].into(),
                sequence: sequence(i).into(),
                event_type: types[(i / 2 % 2) as usize].into(),
                replaces: None,
            })
            .collect();
        let batch = BatchId::new(1, 1);
        let mut state = ChainState::default();
        state
            .apply(1, &commit(&batch, claims.clone(), vec![]), "v1")
            .expect("apply");
        let from_bytes =
            ChainState::from_checkpoint(&state.checkpoint_bytes().expect("encode"), "cp").expect("read back");
        let from_doc = ChainState::from_doc(&state.to_doc(), "cp").expect("restore");
        for claim in &claims {
            let view = state.original(claim.uuid.0).expect("claimed");
            assert_eq!(*view.source.shard_id, *claim.shard);
            assert_eq!(view.source.sequence.as_str(), claim.sequence);
            assert_eq!(view.event_type, claim.event_type);
            assert_eq!(from_bytes.original(claim.uuid.0), Some(view.clone()));
            assert_eq!(from_doc.original(claim.uuid.0), Some(view));
        }
        assert_eq!(state.origins.pairs.len(), 4, "two shards by two types");
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
