//! The ledger's object formats, one logical model in two encodings.
//!
//! - **Format 2** (written): a 4-byte magic, then zstd (level 1) of the document in postcard,
//!   a compact serde format with a specified, stable wire layout: 128-bit hashes as 16 raw
//!   bytes, record bytes as one length-prefixed slice, no base64, no field names. Commits are
//!   written in columns (`ELB6`, see `commit_columns`: their hashes as plain bytes before the
//!   zstd frame); checkpoints in their columns behind `ELB2`, or `ELB3` when they carry
//!   erasures (the uuids `lakeq erase` removed), so a release from before erasure refuses
//!   (never misreads) those. Commits in rows (`ELB2`, `ELB3`) are still read.
//! - **Format 1** (read, never written): zstd of the same documents in JSON, hashes as 32 hex
//!   digits, record bytes in base64. A lake written by an earlier release keeps working: its
//!   chains may hold every layout, and every reader tells them apart by the first 4 bytes
//!   (a zstd frame starts with `28 b5 2f fd`, never with `ELB`).
//!
//! A batch manifest starts with an 8-byte status header (`ELM1 OK\n` or `ELM1 AB\n`), read
//! with a ranged GET, followed by the body: in columns (`ELB5`, written; see
//! `manifest_columns`), in columns with whole sequence numbers (`ELB4`), in rows (`ELB2`) or
//! in format 1 (all read).

pub use super::commit_columns::{COMMIT_COLUMNS_MAGIC, EncodedColumns};
pub use super::manifest_columns::{MANIFEST_COLUMNS_MAGIC, WHOLE_SEQUENCES_MAGIC};
use super::{commit_columns, manifest_columns};
use crate::error::IngestError;
use base64::Engine as _;
use bytes::Bytes;
use serde::de::{self, DeserializeOwned};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;

/// The ledger format of lakes this build creates; it reads [`OLDEST_FORMAT`]`..=FORMAT`.
pub const FORMAT: u32 = 2;
/// The oldest ledger format this build reads (and keeps writing to, in format 2 documents).
pub const OLDEST_FORMAT: u32 = 1;

/// Leads a format-2 checkpoint, and a commit or manifest body in rows as written before
/// commits and manifests in columns.
pub const BINARY_MAGIC: &[u8; 4] = b"ELB2";
/// Leads a format-2 checkpoint (or a commit in rows) that carries erased uuids.
pub const ERASURES_MAGIC: &[u8; 4] = b"ELB3";
/// The most bytes of strings a document in columns may have copied into each of its rows on
/// decoding (a commit's shards and event types, a manifest's shards): the columns store each
/// string once, so without a cap a small hostile object could ask for any amount of memory.
/// Far above what a batch writes: 50,000 claims with 4 KiB shard names are 210 MB.
pub(super) const MAX_COPIED_STRING_BYTES: usize = 256 << 20;

/// Checks a column of `indexes` into `table`, whose strings decoding copies into rows: every
/// index is in the table, and the copies stay within [`MAX_COPIED_STRING_BYTES`]. `entry`
/// names a table entry ("shard"), `copies` the copied strings ("shard names").
pub(super) fn check_copied_strings<S: AsRef<str>>(
    table: &[S],
    mut indexes: impl Iterator<Item = u32>,
    entry: &str,
    copies: &str,
) -> Result<(), String> {
    let copied = indexes.try_fold(0usize, |total, i| match table.get(i as usize) {
        Some(text) => Ok(total.saturating_add(text.as_ref().len())),
        None => Err(format!("{entry} index {i} beyond the {} {entry}s", table.len())),
    })?;
    if copied > MAX_COPIED_STRING_BYTES {
        return Err(format!(
            "{copied} bytes of {copies} (at most {MAX_COPIED_STRING_BYTES})"
        ));
    }
    Ok(())
}

/// Ledger documents are small and written on the hot path: the fastest zstd level.
const ZSTD_LEVEL: i32 = 1;

/// `_ledger/config.json`: fixed when the lake is first written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigDoc {
    pub format: u32,
    pub buckets: u32,
}

/// A 128-bit hash (of a uuid, or a source fingerprint): 32 hex digits in JSON, 16 big-endian
/// bytes in binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash128(pub u128);

impl fmt::Display for Hash128 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl Serialize for Hash128 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            self.0.to_be_bytes().serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Hash128 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            parse_hash(&text)
                .map(Hash128)
                .ok_or_else(|| de::Error::custom(format_args!("bad 128-bit hash {text:?}")))
        } else {
            <[u8; 16]>::deserialize(deserializer).map(|bytes| Hash128(u128::from_be_bytes(bytes)))
        }
    }
}

/// A 128-bit hash written as 32 hex digits (`from_str_radix` alone would also take a sign).
pub(crate) fn parse_hash(text: &str) -> Option<u128> {
    (text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u128::from_str_radix(text, 16).ok())
        .flatten()
}

/// A record's bytes: base64 in JSON, a plain byte string in binary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordBytes(pub Vec<u8>);

impl Serialize for RecordBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
        } else {
            serializer.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for RecordBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            base64::engine::general_purpose::STANDARD
                .decode(&text)
                .map(RecordBytes)
                .map_err(|e| de::Error::custom(format_args!("bad base64 record: {e}")))
        } else {
            serde_bytes::ByteBuf::deserialize(deserializer).map(|bytes| RecordBytes(bytes.into_vec()))
        }
    }
}

/// One chain commit: every entry belongs to the committing batch. A writer builds it
/// borrowing its claims' strings from the batch's records; a reader owns them (`'static`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitDoc<'a> {
    pub format: u32,
    pub batch: String,
    pub writer: String,
    pub committed_at_millis: i64,
    /// New originals, and takeovers of claims whose batch was aborted.
    pub claims: Vec<ClaimDoc<'a>>,
    /// Source fingerprints recorded as duplicates or quarantined.
    pub others: Vec<Hash128>,
    /// Uuid hashes whose event `lakeq erase` removed: their claims stand (a retry of the
    /// original is still recognised), but a re-send is counted and never stored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub erased: Vec<Hash128>,
}

/// [`CommitDoc`] as `ELB2` lays it out: without erasures. (The derived layout of a commit
/// without erasures is the same bytes, since the empty list is skipped.)
#[derive(Deserialize)]
struct CommitLayout2 {
    format: u32,
    batch: String,
    writer: String,
    committed_at_millis: i64,
    claims: Vec<ClaimDoc<'static>>,
    others: Vec<Hash128>,
}

/// What a ledger document needs to be written: its serde layout, whether it carries erasures
/// (`ELB3`) or not (`ELB2`), and its layout in columns if it has one (a commit's, `ELB6`).
pub trait EncodeDocument: Serialize {
    fn has_erasures(&self) -> bool {
        false
    }

    /// The document in columns, to go behind [`COMMIT_COLUMNS_MAGIC`].
    fn columns(&self) -> Option<postcard::Result<EncodedColumns>> {
        None
    }
}

/// A ledger document that can also be read back: in `ELB2` (a document without erasures, in
/// its layout of before erasures), `ELB3` (the derived layout) or format-1 JSON.
pub trait LedgerDocument: EncodeDocument + DeserializeOwned {
    /// Reads the `ELB2` layout.
    fn from_layout_2(plain: &[u8]) -> postcard::Result<(Self, &[u8])> {
        postcard::take_from_bytes(plain)
    }

    /// Reads the layout in columns; `Err` says what does not add up, or that the document has
    /// no such layout.
    fn from_columns(_hashes: &[u8], _plain: &[u8]) -> Result<Self, String> {
        Err("a commit where another document was expected".into())
    }
}

impl EncodeDocument for ManifestDoc {}
impl LedgerDocument for ManifestDoc {}
impl EncodeDocument for LegacyManifestDoc {}
impl LedgerDocument for LegacyManifestDoc {}

impl EncodeDocument for CommitDoc<'_> {
    fn has_erasures(&self) -> bool {
        !self.erased.is_empty()
    }

    fn columns(&self) -> Option<postcard::Result<EncodedColumns>> {
        Some(commit_columns::encode(self))
    }
}

impl LedgerDocument for CommitDoc<'static> {
    fn from_layout_2(plain: &[u8]) -> postcard::Result<(Self, &[u8])> {
        let (doc, rest) = postcard::take_from_bytes::<CommitLayout2>(plain)?;
        let doc = CommitDoc {
            format: doc.format,
            batch: doc.batch,
            writer: doc.writer,
            committed_at_millis: doc.committed_at_millis,
            claims: doc.claims,
            others: doc.others,
            erased: Vec::new(),
        };
        Ok((doc, rest))
    }

    fn from_columns(hashes: &[u8], plain: &[u8]) -> Result<Self, String> {
        commit_columns::decode(hashes, plain)
    }
}

impl EncodeDocument for ChainDoc {
    fn has_erasures(&self) -> bool {
        !self.erased.is_empty()
    }
}

impl LedgerDocument for ChainDoc {
    fn from_layout_2(plain: &[u8]) -> postcard::Result<(Self, &[u8])> {
        let (columns, rest) = postcard::take_from_bytes::<CheckpointColumns>(plain)?;
        let doc = columns
            .into_doc(Vec::new())
            .map_err(|_| postcard::Error::DeserializeBadEncoding)?;
        Ok((doc, rest))
    }
}

/// One claim of a commit. Its strings serialize as `String`s would (same bytes in both
/// formats); borrowed when written, owned when read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimDoc<'a> {
    pub uuid: Hash128,
    pub shard: Cow<'a, str>,
    pub sequence: Cow<'a, str>,
    pub event_type: Cow<'a, str>,
    /// The aborted batch whose claim this one replaces.
    #[serde(default)]
    pub replaces: Option<Cow<'a, str>>,
}

/// A checkpoint: the merged state of a chain at `version`. In JSON (format 1) a list of
/// claims, each with its strings; in binary (format 2) columns over a table of the strings
/// ([`CheckpointColumns`]), since a chain's claims share a few shards, event types and batches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainDoc {
    pub version: u64,
    pub originals: Vec<CheckpointClaim>,
    /// (source fingerprint, batch, committed at)
    pub others: Vec<(Hash128, String, i64)>,
    /// Uuid hashes erased by `lakeq erase`, in order.
    pub erased: Vec<Hash128>,
}

/// [`ChainDoc`] as format 1 wrote it.
#[derive(Deserialize)]
struct CheckpointRows {
    version: u64,
    originals: Vec<CheckpointClaim>,
    others: Vec<(Hash128, String, i64)>,
    #[serde(default)]
    erased: Vec<Hash128>,
}

#[derive(Serialize)]
struct CheckpointRowsRef<'a> {
    version: u64,
    originals: &'a [CheckpointClaim],
    others: &'a [(Hash128, String, i64)],
    #[serde(skip_serializing_if = "<[Hash128]>::is_empty")]
    erased: &'a [Hash128],
}

/// [`ChainDoc`] in format 2: one column per field, strings and (batch, time) stamps as
/// indexes into tables. Claims keep the document's order (uuid order when a ledger writes it).
#[derive(Serialize, Deserialize)]
struct CheckpointColumns {
    version: u64,
    strings: Vec<String>,
    /// (batch, committed at millis), the batch an index into `strings`.
    stamps: Vec<(u32, i64)>,
    uuids: Vec<Hash128>,
    sequences: Vec<String>,
    shards: Vec<u32>,
    event_types: Vec<u32>,
    claim_stamps: Vec<u32>,
    other_fingerprints: Vec<Hash128>,
    other_stamps: Vec<u32>,
}

/// The string and stamp tables of a checkpoint being written.
#[derive(Default)]
struct Tables {
    strings: Vec<String>,
    string_index: super::chain::HashTable<String, u32>,
    stamps: Vec<(u32, i64)>,
    stamp_index: super::chain::HashTable<(u32, i64), u32>,
}

impl Tables {
    fn string(&mut self, text: &str) -> u32 {
        if let Some(&i) = self.string_index.get(text) {
            return i;
        }
        let i = self.strings.len() as u32;
        self.strings.push(text.to_owned());
        self.string_index.insert(text.to_owned(), i);
        i
    }

    fn stamp(&mut self, batch: &str, at: i64) -> u32 {
        let batch = self.string(batch);
        let next = self.stamps.len() as u32;
        let i = *self.stamp_index.entry((batch, at)).or_insert(next);
        if i == next {
            self.stamps.push((batch, at));
        }
        i
    }
}

impl CheckpointColumns {
    fn of(doc: &ChainDoc) -> Self {
        let n = doc.originals.len();
        let mut tables = Tables::default();
        let mut columns = CheckpointColumns {
            version: doc.version,
            strings: Vec::new(),
            stamps: Vec::new(),
            uuids: Vec::with_capacity(n),
            sequences: Vec::with_capacity(n),
            shards: Vec::with_capacity(n),
            event_types: Vec::with_capacity(n),
            claim_stamps: Vec::with_capacity(n),
            other_fingerprints: Vec::with_capacity(doc.others.len()),
            other_stamps: Vec::with_capacity(doc.others.len()),
        };
        for c in &doc.originals {
            columns.uuids.push(c.uuid);
            columns.sequences.push(c.sequence.clone());
            columns.shards.push(tables.string(&c.shard));
            columns.event_types.push(tables.string(&c.event_type));
            columns
                .claim_stamps
                .push(tables.stamp(&c.batch, c.committed_at_millis));
        }
        for (fp, batch, at) in &doc.others {
            columns.other_fingerprints.push(*fp);
            columns.other_stamps.push(tables.stamp(batch, *at));
        }
        columns.strings = tables.strings;
        columns.stamps = tables.stamps;
        columns
    }

    /// The document, or what makes the columns inconsistent.
    fn into_doc(self, erased: Vec<Hash128>) -> Result<ChainDoc, String> {
        let n = self.uuids.len();
        if [
            self.sequences.len(),
            self.shards.len(),
            self.event_types.len(),
            self.claim_stamps.len(),
        ]
        .iter()
        .any(|&len| len != n)
            || self.other_stamps.len() != self.other_fingerprints.len()
        {
            return Err("checkpoint columns of different lengths".into());
        }
        let text = |i: u32| {
            self.strings
                .get(i as usize)
                .cloned()
                .ok_or_else(|| format!("string {i} is not in the table"))
        };
        let stamp = |i: u32| {
            let &(batch, at) = self
                .stamps
                .get(i as usize)
                .ok_or_else(|| format!("stamp {i} is not in the table"))?;
            Ok::<_, String>((text(batch)?, at))
        };
        let mut originals = Vec::with_capacity(n);
        for (i, (uuid, sequence)) in self.uuids.into_iter().zip(self.sequences).enumerate() {
            let (batch, committed_at_millis) = stamp(self.claim_stamps[i])?;
            originals.push(CheckpointClaim {
                uuid,
                shard: text(self.shards[i])?,
                sequence,
                event_type: text(self.event_types[i])?,
                batch,
                committed_at_millis,
            });
        }
        let others = self
            .other_fingerprints
            .iter()
            .zip(&self.other_stamps)
            .map(|(fp, &s)| stamp(s).map(|(batch, at)| (*fp, batch, at)))
            .collect::<Result<_, _>>()?;
        Ok(ChainDoc {
            version: self.version,
            originals,
            others,
            erased,
        })
    }
}

/// [`CheckpointColumns`] from borrowed parts, as a chain's state writes them without a
/// [`ChainDoc`] in between: the same bytes. `sequences` serializes as a sequence of strings.
#[derive(Serialize)]
pub(crate) struct CheckpointColumnsOut<'a, S: Serialize> {
    pub version: u64,
    pub strings: Vec<&'a str>,
    pub stamps: Vec<(u32, i64)>,
    pub uuids: Vec<Hash128>,
    pub sequences: S,
    pub shards: Vec<u32>,
    pub event_types: Vec<u32>,
    pub claim_stamps: Vec<u32>,
    pub other_fingerprints: Vec<Hash128>,
    pub other_stamps: Vec<u32>,
}

/// [`CheckpointColumns`] borrowing their strings from the decompressed checkpoint.
#[derive(Deserialize)]
pub(crate) struct CheckpointColumnsIn<'a> {
    pub version: u64,
    #[serde(borrow)]
    pub strings: Vec<&'a str>,
    pub stamps: Vec<(u32, i64)>,
    pub uuids: Vec<Hash128>,
    #[serde(borrow)]
    pub sequences: Vec<&'a str>,
    pub shards: Vec<u32>,
    pub event_types: Vec<u32>,
    pub claim_stamps: Vec<u32>,
    pub other_fingerprints: Vec<Hash128>,
    pub other_stamps: Vec<u32>,
}

impl CheckpointColumnsIn<'_> {
    /// Whether the columns have consistent lengths (indexes are checked as they are read).
    pub fn lengths_agree(&self) -> bool {
        let n = self.uuids.len();
        [
            self.sequences.len(),
            self.shards.len(),
            self.event_types.len(),
            self.claim_stamps.len(),
        ]
        .iter()
        .all(|&len| len == n)
            && self.other_stamps.len() == self.other_fingerprints.len()
    }
}

/// A stored checkpoint: binary ones decompressed, to be read in place; format 1 as a document.
pub(crate) enum StoredCheckpoint {
    Binary { plain: Vec<u8>, erasures: bool },
    Json(ChainDoc),
}

/// Reads a stored checkpoint's frame (see [`decode_doc`], which reads it into a [`ChainDoc`]).
pub(crate) fn stored_checkpoint(bytes: &[u8], path: &str) -> Result<StoredCheckpoint, IngestError> {
    let corrupt = |message: String| IngestError::CorruptLedger {
        path: path.to_owned(),
        message,
    };
    let (erasures, frame) = if let Some(rest) = bytes.strip_prefix(BINARY_MAGIC) {
        (false, rest)
    } else if let Some(rest) = bytes.strip_prefix(ERASURES_MAGIC) {
        (true, rest)
    } else {
        return decode_doc(bytes, path).map(StoredCheckpoint::Json);
    };
    let plain = decompress(frame).map_err(|e| corrupt(format!("not zstd: {e}")))?;
    Ok(StoredCheckpoint::Binary { plain, erasures })
}

/// The columns (and erasures) of a binary checkpoint's decompressed bytes.
pub(crate) fn checkpoint_columns<'a>(
    plain: &'a [u8],
    erasures: bool,
    path: &str,
) -> Result<(CheckpointColumnsIn<'a>, Vec<Hash128>), IngestError> {
    let corrupt = |message: String| IngestError::CorruptLedger {
        path: path.to_owned(),
        message,
    };
    let read = if erasures {
        postcard::take_from_bytes::<(CheckpointColumnsIn<'a>, Vec<Hash128>)>(plain)
    } else {
        postcard::take_from_bytes::<CheckpointColumnsIn<'a>>(plain).map(|(c, rest)| ((c, Vec::new()), rest))
    };
    let ((columns, erased), rest) = read.map_err(|e| corrupt(format!("bad binary document: {e}")))?;
    if !rest.is_empty() {
        return Err(corrupt(format!("{} bytes after the document", rest.len())));
    }
    if erasures && erased.is_empty() {
        return Err(corrupt("an ELB3 document without erasures".into()));
    }
    if !columns.lengths_agree() {
        return Err(corrupt(
            "bad binary document: checkpoint columns of different lengths".into(),
        ));
    }
    Ok((columns, erased))
}

/// A checkpoint written from [`CheckpointColumnsOut`]: what [`encode_doc`] writes for the
/// [`ChainDoc`] of the same state.
pub(crate) fn encode_checkpoint<S: Serialize>(
    columns: &CheckpointColumnsOut<'_, S>,
    erased: &[Hash128],
) -> Result<Bytes, IngestError> {
    let failed = IngestError::encode("a ledger checkpoint (postcard)");
    let (magic, plain) = if erased.is_empty() {
        (BINARY_MAGIC, postcard::to_stdvec(columns).map_err(failed)?)
    } else {
        (
            ERASURES_MAGIC,
            postcard::to_stdvec(&(columns, erased)).map_err(failed)?,
        )
    };
    let compressed = compress(&plain)?;
    let mut out = Vec::with_capacity(magic.len() + compressed.len());
    out.extend_from_slice(magic);
    out.extend_from_slice(&compressed);
    Ok(Bytes::from(out))
}

impl Serialize for ChainDoc {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            CheckpointRowsRef {
                version: self.version,
                originals: &self.originals,
                others: &self.others,
                erased: &self.erased,
            }
            .serialize(serializer)
        } else if self.erased.is_empty() {
            CheckpointColumns::of(self).serialize(serializer)
        } else {
            (CheckpointColumns::of(self), &self.erased).serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for ChainDoc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let rows = CheckpointRows::deserialize(deserializer)?;
            Ok(ChainDoc {
                version: rows.version,
                originals: rows.originals,
                others: rows.others,
                erased: rows.erased,
            })
        } else {
            // The derived (`ELB3`) layout; `ELB2` is read by `from_layout_2`.
            let (columns, erased) = <(CheckpointColumns, Vec<Hash128>)>::deserialize(deserializer)?;
            columns.into_doc(erased).map_err(de::Error::custom)
        }
    }
}

/// One original claim in a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointClaim {
    pub uuid: Hash128,
    pub shard: String,
    pub sequence: String,
    pub event_type: String,
    pub batch: String,
    pub committed_at_millis: i64,
}

/// Whether a batch's records count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BatchStatus {
    Committed,
    Aborted,
}

pub(crate) const HEADER_COMMITTED: &[u8; 8] = b"ELM1 OK\n";
const HEADER_ABORTED: &[u8; 8] = b"ELM1 AB\n";
pub const HEADER_LEN: u64 = 8;

/// The role a record plays in a committed batch. Format 1 tagged it inline (`"role"`);
/// format 2 writes the variant's index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleDoc {
    Event,
    Duplicate(OriginalDoc),
    Quarantine,
}

/// Where the event row a duplicate was dropped for lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginalDoc {
    pub original_shard: String,
    pub original_sequence: String,
    pub original_file: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestRecord {
    pub shard: String,
    pub sequence: String,
    pub arrival_micros: i64,
    pub data: RecordBytes,
    pub role: RoleDoc,
}

/// The commit record of a batch: everything needed to (re)write its files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestDoc {
    pub format: u32,
    pub batch: String,
    pub writer: String,
    pub committed_at_millis: i64,
    pub records: Vec<ManifestRecord>,
}

/// A manifest as the writer encodes it (in columns, `ELB4`): the fields of [`ManifestDoc`],
/// borrowed from the batch instead of copied into owned records first (a batch's manifest
/// holds every raw record, so the copy was a second pass over megabytes).
#[derive(Debug)]
pub struct ManifestView<'a> {
    pub format: u32,
    pub batch: &'a str,
    pub writer: &'a str,
    pub committed_at_millis: i64,
    pub records: Vec<ManifestRecordView<'a>>,
}

/// One record of a [`ManifestView`]: the fields of a [`ManifestRecord`].
#[derive(Debug)]
pub struct ManifestRecordView<'a> {
    pub shard: &'a str,
    pub sequence: &'a str,
    pub arrival_micros: i64,
    pub data: &'a [u8],
    pub role: RoleView<'a>,
}

/// [`RoleDoc`], borrowed: the same variants in the same order.
#[derive(Debug, Serialize)]
pub enum RoleView<'a> {
    Event,
    Duplicate(OriginalView<'a>),
    Quarantine,
}

/// [`OriginalDoc`], borrowed.
#[derive(Debug, Serialize)]
pub struct OriginalView<'a> {
    pub original_shard: &'a str,
    pub original_sequence: &'a str,
    pub original_file: &'a str,
}

impl<'a> From<&'a ManifestDoc> for ManifestView<'a> {
    fn from(doc: &'a ManifestDoc) -> Self {
        ManifestView {
            format: doc.format,
            batch: &doc.batch,
            writer: &doc.writer,
            committed_at_millis: doc.committed_at_millis,
            records: doc
                .records
                .iter()
                .map(|r| ManifestRecordView {
                    shard: &r.shard,
                    sequence: &r.sequence,
                    arrival_micros: r.arrival_micros,
                    data: &r.data.0,
                    role: match &r.role {
                        RoleDoc::Event => RoleView::Event,
                        RoleDoc::Duplicate(o) => RoleView::Duplicate(OriginalView {
                            original_shard: &o.original_shard,
                            original_sequence: &o.original_sequence,
                            original_file: &o.original_file,
                        }),
                        RoleDoc::Quarantine => RoleView::Quarantine,
                    },
                })
                .collect(),
        }
    }
}

/// A format-1 manifest: the role was tagged inside each record (`"role": "duplicate", ...`),
/// a layout only self-describing formats can read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacyManifestDoc {
    pub format: u32,
    pub batch: String,
    pub writer: String,
    pub committed_at_millis: i64,
    pub records: Vec<LegacyManifestRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacyManifestRecord {
    pub shard: String,
    pub sequence: String,
    pub arrival_micros: i64,
    pub data: RecordBytes,
    #[serde(flatten)]
    pub role: LegacyRole,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum LegacyRole {
    Event,
    Duplicate(OriginalDoc),
    Quarantine,
}

impl From<LegacyRole> for RoleDoc {
    fn from(role: LegacyRole) -> Self {
        match role {
            LegacyRole::Event => RoleDoc::Event,
            LegacyRole::Duplicate(original) => RoleDoc::Duplicate(original),
            LegacyRole::Quarantine => RoleDoc::Quarantine,
        }
    }
}

impl From<RoleDoc> for LegacyRole {
    fn from(role: RoleDoc) -> Self {
        match role {
            RoleDoc::Event => LegacyRole::Event,
            RoleDoc::Duplicate(original) => LegacyRole::Duplicate(original),
            RoleDoc::Quarantine => LegacyRole::Quarantine,
        }
    }
}

impl From<LegacyManifestDoc> for ManifestDoc {
    fn from(doc: LegacyManifestDoc) -> Self {
        ManifestDoc {
            format: doc.format,
            batch: doc.batch,
            writer: doc.writer,
            committed_at_millis: doc.committed_at_millis,
            records: doc
                .records
                .into_iter()
                .map(|r| ManifestRecord {
                    shard: r.shard,
                    sequence: r.sequence,
                    arrival_micros: r.arrival_micros,
                    data: r.data,
                    role: r.role.into(),
                })
                .collect(),
        }
    }
}

impl From<&ManifestDoc> for LegacyManifestDoc {
    fn from(doc: &ManifestDoc) -> Self {
        LegacyManifestDoc {
            format: OLDEST_FORMAT,
            batch: doc.batch.clone(),
            writer: doc.writer.clone(),
            committed_at_millis: doc.committed_at_millis,
            records: doc
                .records
                .iter()
                .map(|r| LegacyManifestRecord {
                    shard: r.shard.clone(),
                    sequence: r.sequence.clone(),
                    arrival_micros: r.arrival_micros,
                    data: r.data.clone(),
                    role: r.role.clone().into(),
                })
                .collect(),
        }
    }
}

/// Reads `_ledger/config.json` (`path`) of the lake at `lake_url`: a format newer than
/// [`FORMAT`] is a lake this build cannot write or read safely ([`IngestError::NewerLake`]);
/// an unreadable document, a format before [`OLDEST_FORMAT`] or zero buckets is a corrupt
/// ledger.
pub fn parse_config(bytes: &[u8], path: &str, lake_url: &str) -> Result<ConfigDoc, IngestError> {
    let corrupt = |message: String| IngestError::CorruptLedger {
        path: path.to_owned(),
        message,
    };
    /// Only the format, so a newer lake is recognised whatever else its config holds.
    #[derive(Deserialize)]
    struct Format {
        format: u32,
    }
    let format: Format = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    if format.format > FORMAT {
        return Err(IngestError::NewerLake {
            url: lake_url.to_owned(),
            found: format.format,
            supported: FORMAT,
        });
    }
    let doc: ConfigDoc = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    if !(OLDEST_FORMAT..=FORMAT).contains(&doc.format) || doc.buckets == 0 {
        return Err(corrupt(format!(
            "unsupported format {} or zero buckets",
            doc.format
        )));
    }
    Ok(doc)
}

thread_local! {
    /// One zstd context per thread: creating one per document cost more than compressing
    /// a small commit.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
}

/// The largest window the streaming decoder accepts (zstd's `ZSTD_WINDOWLOG_LIMIT_DEFAULT`);
/// the one-shot decoder does not check it, so larger frames are left to the streaming one.
const MAX_WINDOW: u64 = 1 << 27;

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// A zstd frame's content. Every frame this crate writes declares its size, so the output is
/// allocated once; growing it while streaming copied a chain's checkpoint several times over.
/// The one-shot path is taken only where it accepts what the streaming decoder accepts, and
/// whatever it refuses is left to the streaming decoder: the result is always `decode_all`'s.
fn decompress(frame: &[u8]) -> std::io::Result<Vec<u8>> {
    if let Some(size) = one_shot_size(frame)
        && let Ok(plain) = zstd::bulk::decompress(frame, size)
    {
        return Ok(plain);
    }
    zstd::stream::decode_all(frame)
}

/// The content size of `frame` if it is exactly one standard frame that declares its size,
/// with content and window within [`MAX_WINDOW`].
fn one_shot_size(frame: &[u8]) -> Option<usize> {
    if frame.get(..4)? != ZSTD_MAGIC {
        return None;
    }
    let size = zstd::zstd_safe::get_frame_content_size(frame).ok()??;
    let whole = zstd::zstd_safe::find_frame_compressed_size(frame).ok()? == frame.len();
    let window = frame_window_size(frame, size)?;
    (whole && size <= MAX_WINDOW && window <= MAX_WINDOW).then_some(size as usize)
}

/// A frame's window size (RFC 8878, 3.1.1.1): its content size if it is a single segment,
/// else what its window descriptor says.
fn frame_window_size(frame: &[u8], content_size: u64) -> Option<u64> {
    const SINGLE_SEGMENT: u8 = 0x20;
    if frame.get(4)? & SINGLE_SEGMENT != 0 {
        return Some(content_size);
    }
    let descriptor = *frame.get(5)?;
    let base = 1u64 << (10 + u32::from(descriptor >> 3));
    Some(base + base / 8 * u64::from(descriptor & 7))
}

fn compress(bytes: &[u8]) -> Result<Vec<u8>, IngestError> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let compressor = match slot.as_mut() {
            Some(compressor) => compressor,
            None => slot.insert(
                zstd::bulk::Compressor::new(ZSTD_LEVEL)
                    .map_err(IngestError::encode("a ledger document (zstd)"))?,
            ),
        };
        compressor
            .compress(bytes)
            .map_err(IngestError::encode("a ledger document (zstd)"))
    })
}

/// A document in format 2: the magic, then zstd of its postcard bytes; a commit in columns:
/// [`COMMIT_COLUMNS_MAGIC`], its number of hashes (`u32`, little-endian), the hashes, then zstd
/// of the rest of its columns in postcard.
pub fn encode_doc<T: EncodeDocument>(value: &T) -> Result<Bytes, IngestError> {
    let Some(columns) = value.columns() else {
        return encode_rows(value);
    };
    let columns = columns.map_err(IngestError::encode("a ledger document in columns (postcard)"))?;
    let compressed = compress(&columns.plain)?;
    let mut out = Vec::with_capacity(8 + columns.hashes.len() + compressed.len());
    out.extend_from_slice(COMMIT_COLUMNS_MAGIC);
    out.extend_from_slice(&((columns.hashes.len() / 16) as u32).to_le_bytes());
    out.extend_from_slice(&columns.hashes);
    out.extend_from_slice(&compressed);
    Ok(Bytes::from(out))
}

/// A document in its derived layout (`ELB2`, or `ELB3` with erasures), as every document was
/// written before commits in columns: also for the upgrade tests and the fuzz targets.
pub fn encode_rows<T: EncodeDocument>(value: &T) -> Result<Bytes, IngestError> {
    let plain = postcard::to_stdvec(value).map_err(IngestError::encode("a ledger document (postcard)"))?;
    let magic = if value.has_erasures() {
        ERASURES_MAGIC
    } else {
        BINARY_MAGIC
    };
    framed(magic, &plain)
}

/// `magic`, then zstd of `plain`.
fn framed(magic: &[u8; 4], plain: &[u8]) -> Result<Bytes, IngestError> {
    let mut out = Vec::with_capacity(plain.len() / 2 + 64);
    out.extend_from_slice(magic);
    out.extend_from_slice(&compress(plain)?);
    Ok(Bytes::from(out))
}

/// Turns a message about the ledger object at `path` into its error.
fn corrupt_at(path: &str) -> impl Fn(String) -> IngestError + '_ {
    move |message| IngestError::CorruptLedger {
        path: path.to_owned(),
        message,
    }
}

/// A document in either format (see the module docs).
pub fn decode_doc<T: LedgerDocument>(bytes: &[u8], path: &str) -> Result<T, IngestError> {
    let corrupt = corrupt_at(path);
    if let Some(rest) = bytes.strip_prefix(COMMIT_COLUMNS_MAGIC) {
        let (count, rest) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| corrupt("cut short before its hashes".into()))?;
        let hash_bytes = (u32::from_le_bytes(*count) as usize).saturating_mul(16);
        let (hashes, frame) = rest
            .split_at_checked(hash_bytes)
            .ok_or_else(|| corrupt(format!("cut short inside its {hash_bytes} bytes of hashes")))?;
        let plain = decompress(frame).map_err(|e| corrupt(format!("not zstd: {e}")))?;
        return T::from_columns(hashes, &plain).map_err(corrupt);
    }
    let (layout, frame) = if let Some(rest) = bytes.strip_prefix(BINARY_MAGIC) {
        (Some(2), rest)
    } else if let Some(rest) = bytes.strip_prefix(ERASURES_MAGIC) {
        (Some(3), rest)
    } else {
        (None, bytes)
    };
    let plain = decompress(frame).map_err(|e| corrupt(format!("not zstd: {e}")))?;
    let binary = match layout {
        Some(2) => T::from_layout_2(&plain),
        Some(_) => postcard::take_from_bytes::<T>(&plain),
        None => return serde_json::from_slice(&plain).map_err(|e| corrupt(format!("bad JSON: {e}"))),
    };
    let (doc, rest) = binary.map_err(|e| corrupt(format!("bad binary document: {e}")))?;
    if !rest.is_empty() {
        return Err(corrupt(format!("{} bytes after the document", rest.len())));
    }
    if layout == Some(3) && !doc.has_erasures() {
        return Err(corrupt("an ELB3 document without erasures".into()));
    }
    Ok(doc)
}

/// A format-1 document (zstd JSON), as earlier releases wrote them: for the upgrade tests and
/// the fuzz targets, which check that both formats read the same.
pub fn encode_legacy_json<T: Serialize>(value: &T) -> Result<Bytes, IngestError> {
    let json = serde_json::to_vec(value).map_err(IngestError::encode("a format-1 ledger document (JSON)"))?;
    zstd::bulk::compress(&json, 3)
        .map(Bytes::from)
        .map_err(IngestError::encode("a format-1 ledger document (zstd)"))
}

/// A committed manifest in columns (`ELB5`, [`super::manifest_columns`]).
pub fn encode_manifest(doc: &ManifestDoc) -> Result<Bytes, IngestError> {
    encode_manifest_view(&ManifestView::from(doc))
}

/// [`encode_manifest`] of the manifest `view` describes, without building it.
pub fn encode_manifest_view(view: &ManifestView<'_>) -> Result<Bytes, IngestError> {
    let plain = manifest_columns::encode(view).map_err(IngestError::encode("a manifest (postcard)"))?;
    Ok(committed_manifest(&[MANIFEST_COLUMNS_MAGIC, &compress(&plain)?]))
}

/// A committed manifest in columns with its sequence numbers whole (`ELB4`), as written for a
/// few hours of 2026-12-02: for the upgrade tests and the fuzz targets.
pub fn encode_whole_sequence_manifest(doc: &ManifestDoc) -> Result<Bytes, IngestError> {
    let plain = manifest_columns::encode_whole_sequences(&ManifestView::from(doc))
        .map_err(IngestError::encode("a manifest (postcard)"))?;
    Ok(committed_manifest(&[WHOLE_SEQUENCES_MAGIC, &compress(&plain)?]))
}

/// A committed manifest in rows (`ELB2`), as releases before 2026-12-02 wrote it: for the
/// upgrade tests and the fuzz targets, which check that it still reads.
pub fn encode_row_manifest(doc: &ManifestDoc) -> Result<Bytes, IngestError> {
    Ok(committed_manifest(&[&encode_rows(doc)?]))
}

/// The committed header, then `parts`.
fn committed_manifest(parts: &[&[u8]]) -> Bytes {
    let len = parts.iter().map(|p| p.len()).sum::<usize>();
    let mut out = Vec::with_capacity(HEADER_COMMITTED.len() + len);
    out.extend_from_slice(HEADER_COMMITTED);
    for part in parts {
        out.extend_from_slice(part);
    }
    Bytes::from(out)
}

/// A manifest in format 1, as earlier releases wrote it (upgrade tests, fuzz targets).
pub fn encode_legacy_manifest(doc: &ManifestDoc) -> Result<Bytes, IngestError> {
    let body = encode_legacy_json(&LegacyManifestDoc::from(doc))?;
    let mut out = HEADER_COMMITTED.to_vec();
    out.extend_from_slice(&body);
    Ok(Bytes::from(out))
}

pub fn tombstone() -> Bytes {
    Bytes::from_static(HEADER_ABORTED)
}

pub fn manifest_status(header: &[u8], path: &str) -> Result<BatchStatus, IngestError> {
    match header.get(..8) {
        Some(h) if h == HEADER_COMMITTED => Ok(BatchStatus::Committed),
        Some(h) if h == HEADER_ABORTED => Ok(BatchStatus::Aborted),
        _ => Err(IngestError::CorruptLedger {
            path: path.to_owned(),
            message: "unknown manifest header".into(),
        }),
    }
}

pub fn decode_manifest(bytes: &[u8], path: &str) -> Result<ManifestDoc, IngestError> {
    match manifest_status(bytes, path)? {
        BatchStatus::Committed
            if matches!(
                bytes[8..].first_chunk::<4>(),
                Some(MANIFEST_COLUMNS_MAGIC | WHOLE_SEQUENCES_MAGIC)
            ) =>
        {
            let corrupt = corrupt_at(path);
            let plain = decompress(&bytes[12..]).map_err(|e| corrupt(format!("not zstd: {e}")))?;
            manifest_columns::decode(&bytes[8..12], &plain).map_err(corrupt)
        }
        BatchStatus::Committed if bytes[8..].starts_with(BINARY_MAGIC) => decode_doc(&bytes[8..], path),
        BatchStatus::Committed => decode_doc::<LegacyManifestDoc>(&bytes[8..], path).map(ManifestDoc::from),
        BatchStatus::Aborted => Err(IngestError::CorruptLedger {
            path: path.to_owned(),
            message: "batch was aborted".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> ManifestDoc {
        ManifestDoc {
            format: FORMAT,
            batch: "0000000000001-0000000000000001".into(),
            writer: "w".into(),
            committed_at_millis: 1,
            records: vec![
                ManifestRecord {
                    shard: "s".into(),
                    sequence: "1".into(),
                    arrival_micros: 2,
                    data: RecordBytes(b"\xff raw".to_vec()),
                    role: RoleDoc::Duplicate(OriginalDoc {
                        original_shard: "s".into(),
                        original_sequence: "0".into(),
                        original_file: "f".into(),
                    }),
                },
                ManifestRecord {
                    shard: "s".into(),
                    sequence: "2".into(),
                    arrival_micros: 3,
                    data: RecordBytes(b"{}".to_vec()),
                    role: RoleDoc::Event,
                },
            ],
        }
    }

    #[test]
    fn frames_with_and_without_a_declared_size_decompress_alike() {
        let plain: Vec<u8> = (0..100_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        let declared = compress(&plain).expect("compress");
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(&declared).ok(),
            Some(Some(plain.len() as u64))
        );
        let streamed = zstd::stream::encode_all(&plain[..], 1).expect("stream");
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(&streamed).ok(),
            Some(None)
        );
        let two_frames = [declared.as_slice(), &streamed].concat();
        assert_eq!(decompress(&declared).expect("declared"), plain);
        assert_eq!(decompress(&streamed).expect("streamed"), plain);
        assert_eq!(
            decompress(&two_frames).expect("two frames"),
            [plain.as_slice(), &plain].concat()
        );
        assert!(decompress(&declared[..declared.len() - 1]).is_err());
    }

    /// A frame of one raw block (RFC 8878), declaring its content size, with a window of
    /// `2^window_log` bytes that is not a single segment.
    fn raw_frame(content: &[u8], window_log: u8) -> Vec<u8> {
        let mut frame = ZSTD_MAGIC.to_vec();
        frame.push(0x80); // a 4-byte content size, not a single segment, no checksum
        frame.push((window_log - 10) << 3);
        frame.extend_from_slice(&(content.len() as u32).to_le_bytes());
        let header = 1 | (content.len() as u32) << 3; // the last block, raw
        frame.extend_from_slice(&header.to_le_bytes()[..3]);
        frame.extend_from_slice(content);
        frame
    }

    #[test]
    fn a_window_the_streaming_decoder_refuses_is_refused() {
        let content: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        for window_log in [20, 27, 28, 31] {
            for content in [&content[..], b"small"] {
                let frame = raw_frame(content, window_log);
                let streamed = zstd::stream::decode_all(&frame[..]).ok();
                assert_eq!(
                    decompress(&frame).ok(),
                    streamed,
                    "window 2^{window_log}, {} bytes",
                    content.len()
                );
                if window_log <= 27 {
                    assert_eq!(streamed.as_deref(), Some(content), "a valid frame");
                }
            }
        }
        assert!(
            zstd::stream::decode_all(&raw_frame(&content, 28)[..]).is_err(),
            "the limit is real"
        );
    }

    #[test]
    fn a_borrowed_manifest_encodes_in_columns_to_the_bytes_of_the_owned_one() {
        let mut doc = manifest();
        doc.records.push(ManifestRecord {
            shard: "shardId-000000000007".into(),
            sequence: "49590338271490256608559692538361571095921575989136588898".into(),
            arrival_micros: -4,
            data: RecordBytes(vec![0; 300]),
            role: RoleDoc::Quarantine,
        });
        let view = ManifestView::from(&doc);
        let bytes = encode_manifest_view(&view).expect("encode view");
        assert_eq!(bytes, encode_manifest(&doc).expect("encode doc"));
        assert!(bytes[8..].starts_with(MANIFEST_COLUMNS_MAGIC));
        assert_eq!(decode_manifest(&bytes, "m").expect("decode"), doc);
    }

    #[test]
    fn manifests_round_trip_in_every_layout_and_carry_their_status() {
        let doc = manifest();
        let columns = encode_manifest(&doc).expect("encode");
        assert!(columns[8..].starts_with(MANIFEST_COLUMNS_MAGIC));
        let rows = encode_row_manifest(&doc).expect("encode in rows");
        assert!(rows[8..].starts_with(BINARY_MAGIC));
        let legacy = encode_legacy_manifest(&doc).expect("encode format 1");
        for bytes in [&columns, &rows, &legacy] {
            assert_eq!(
                manifest_status(bytes, "m").expect("status"),
                BatchStatus::Committed
            );
            let mut decoded = decode_manifest(bytes, "m").expect("decode");
            decoded.format = doc.format;
            assert_eq!(decoded, doc);
        }
        let json = zstd::stream::decode_all(&legacy[8..]).expect("zstd");
        let json = String::from_utf8(json).expect("utf-8");
        assert!(
            json.contains(r#""data":"/yByYXc=","role":"duplicate""#),
            "format 1 keeps its layout: {json}"
        );
        assert_eq!(
            manifest_status(&tombstone(), "m").expect("status"),
            BatchStatus::Aborted
        );
        assert!(manifest_status(b"garbage!", "m").is_err());
    }

    #[test]
    fn commits_read_the_same_from_either_format() {
        let commit = CommitDoc {
            format: FORMAT,
            batch: "b".into(),
            writer: "w".into(),
            committed_at_millis: 7,
            claims: vec![ClaimDoc {
                uuid: Hash128(u128::MAX - 5),
                shard: "shardId-000000000001".into(),
                sequence: "49590338271490256608559692538361571095921575989136588898".into(),
                event_type: "payment".into(),
                replaces: Some("a".into()),
            }],
            others: vec![Hash128(1), Hash128(0)],
            erased: vec![],
        };
        let binary = encode_doc(&commit).expect("encode");
        let legacy = encode_legacy_json(&commit).expect("encode format 1");
        assert!(
            binary.len() < legacy.len(),
            "{} vs {}",
            binary.len(),
            legacy.len()
        );
        for bytes in [&binary, &legacy] {
            assert_eq!(decode_doc::<CommitDoc>(bytes, "v").expect("decode"), commit);
        }
        let json = String::from_utf8(zstd::stream::decode_all(&legacy[..]).expect("zstd")).expect("utf-8");
        assert!(
            json.contains(&format!(r#""uuid":"{:032x}""#, u128::MAX - 5)),
            "{json}"
        );
    }

    /// Claims borrow their strings when written; the bytes are those of the owned `String`
    /// fields that releases before that wrote, in both formats, with and without `replaces`.
    #[test]
    fn borrowed_claims_write_the_bytes_of_owned_ones() {
        #[derive(Serialize)]
        struct OwnedClaim {
            uuid: Hash128,
            shard: String,
            sequence: String,
            event_type: String,
            replaces: Option<String>,
        }
        #[derive(Serialize)]
        struct OwnedCommit {
            format: u32,
            batch: String,
            writer: String,
            committed_at_millis: i64,
            claims: Vec<OwnedClaim>,
            others: Vec<Hash128>,
        }
        let (shard, sequence, replaced) = (
            String::from("shardId-000000000003"),
            String::from("49590338271490256608559692538361571095921575989136588898"),
            String::from("0001700000000000-00000000000000aa"),
        );
        let borrowed = CommitDoc {
            format: FORMAT,
            batch: "b".into(),
            writer: "w".into(),
            committed_at_millis: 7,
            claims: [None, Some(Cow::Borrowed(replaced.as_str()))]
                .into_iter()
                .enumerate()
                .map(|(i, replaces)| ClaimDoc {
                    uuid: Hash128(i as u128 + 1),
                    shard: Cow::Borrowed(&shard),
                    sequence: Cow::Borrowed(&sequence),
                    event_type: Cow::Borrowed("payment"),
                    replaces,
                })
                .collect(),
            others: vec![Hash128(9)],
            erased: vec![],
        };
        let owned = OwnedCommit {
            format: FORMAT,
            batch: "b".into(),
            writer: "w".into(),
            committed_at_millis: 7,
            claims: [None, Some(replaced.clone())]
                .into_iter()
                .enumerate()
                .map(|(i, replaces)| OwnedClaim {
                    uuid: Hash128(i as u128 + 1),
                    shard: shard.clone(),
                    sequence: sequence.clone(),
                    event_type: "payment".into(),
                    replaces,
                })
                .collect(),
            others: vec![Hash128(9)],
        };
        assert_eq!(
            postcard::to_stdvec(&borrowed).expect("postcard"),
            postcard::to_stdvec(&owned).expect("postcard")
        );
        assert_eq!(
            serde_json::to_string(&borrowed).expect("json"),
            serde_json::to_string(&owned).expect("json")
        );
        let written = encode_doc(&borrowed).expect("encode");
        assert_eq!(decode_doc::<CommitDoc>(&written, "v").expect("decode"), borrowed);
    }

    #[test]
    fn checkpoints_are_columns_in_binary_and_rows_in_json() {
        let claim = |uuid: u128, batch: &str| CheckpointClaim {
            uuid: Hash128(uuid),
            shard: "shardId-000000000001".into(),
            sequence: format!("4959033827149025660855969253836157109592157598913{uuid:07}"),
            event_type: "payment".into(),
            batch: batch.into(),
            committed_at_millis: 1_793_491_200_000,
        };
        let doc = ChainDoc {
            version: 9,
            // Not in uuid order: a checkpoint keeps the order it is given.
            originals: vec![claim(7, "b1"), claim(3, "b2"), claim(5, "b1")],
            others: vec![
                (Hash128(1), "b2".into(), 1_793_491_200_000),
                (Hash128(2), "b3".into(), 5),
            ],
            erased: vec![],
        };
        let binary = encode_doc(&doc).expect("encode");
        let legacy = encode_legacy_json(&doc).expect("encode format 1");
        for bytes in [&binary, &legacy] {
            assert_eq!(decode_doc::<ChainDoc>(bytes, "cp").expect("decode"), doc);
        }
        let json = String::from_utf8(zstd::stream::decode_all(&legacy[..]).expect("zstd")).expect("utf-8");
        assert!(
            json.starts_with(r#"{"version":9,"originals":[{"uuid":"#),
            "{json}"
        );

        let mut columns = CheckpointColumns::of(&doc);
        assert_eq!(
            columns.strings,
            ["shardId-000000000001", "payment", "b1", "b2", "b3"]
        );
        columns.event_types[1] = 99;
        let mut framed = BINARY_MAGIC.to_vec();
        framed.extend(
            zstd::bulk::compress(&postcard::to_stdvec(&columns).expect("postcard"), 1).expect("zstd"),
        );
        // postcard keeps no custom message: the error names the object, not the index.
        assert!(matches!(
            decode_doc::<ChainDoc>(&framed, "cp"),
            Err(IngestError::CorruptLedger { .. })
        ));
    }

    #[test]
    fn erasures_take_the_elb3_layout_and_nothing_else_changes() {
        let plain = CommitDoc {
            format: FORMAT,
            batch: "b".into(),
            writer: "w".into(),
            committed_at_millis: 7,
            claims: vec![],
            others: vec![Hash128(9)],
            erased: vec![],
        };
        let erasing = CommitDoc {
            erased: vec![Hash128(3), Hash128(u128::MAX)],
            ..plain.clone()
        };
        // Commits are written in columns, with or without erasures; rows still read.
        for doc in [&plain, &erasing] {
            let columns = encode_doc(doc).expect("encode");
            assert!(columns.starts_with(COMMIT_COLUMNS_MAGIC));
            assert_eq!(&decode_doc::<CommitDoc>(&columns, "v").expect("decode"), doc);
            // A commit is not a checkpoint.
            assert!(decode_doc::<ChainDoc>(&columns, "v").is_err());
        }
        let (v2, v3) = (
            encode_rows(&plain).expect("encode"),
            encode_rows(&erasing).expect("encode"),
        );
        assert!(v2.starts_with(BINARY_MAGIC) && v3.starts_with(ERASURES_MAGIC));
        assert_eq!(decode_doc::<CommitDoc>(&v2, "v").expect("decode"), plain);
        assert_eq!(decode_doc::<CommitDoc>(&v3, "v").expect("decode"), erasing);
        // The ELB2 bytes are those of a release without erasures: the layout is unchanged.
        let zstd_frame = zstd::stream::decode_all(&v2[4..]).expect("zstd");
        #[derive(Serialize)]
        struct Before<'a> {
            format: u32,
            batch: &'a str,
            writer: &'a str,
            committed_at_millis: i64,
            claims: Vec<ClaimDoc<'a>>,
            others: Vec<Hash128>,
        }
        let before = Before {
            format: FORMAT,
            batch: "b",
            writer: "w",
            committed_at_millis: 7,
            claims: vec![],
            others: vec![Hash128(9)],
        };
        assert_eq!(zstd_frame, postcard::to_stdvec(&before).expect("postcard"));
        // An ELB3 magic on an ELB2 body is corrupt, not a commit without erasures.
        let mut relabelled = ERASURES_MAGIC.to_vec();
        relabelled.extend_from_slice(&v2[4..]);
        assert!(decode_doc::<CommitDoc>(&relabelled, "v").is_err());
        let json = encode_legacy_json(&erasing).expect("json");
        assert_eq!(decode_doc::<CommitDoc>(&json, "v").expect("decode"), erasing);

        let checkpoint = ChainDoc {
            version: 4,
            originals: vec![],
            others: vec![(Hash128(1), "b".into(), 2)],
            erased: vec![Hash128(5)],
        };
        let bytes = encode_doc(&checkpoint).expect("encode");
        assert!(bytes.starts_with(ERASURES_MAGIC));
        assert_eq!(decode_doc::<ChainDoc>(&bytes, "cp").expect("decode"), checkpoint);
        let json = encode_legacy_json(&checkpoint).expect("json");
        assert_eq!(decode_doc::<ChainDoc>(&json, "cp").expect("decode"), checkpoint);
    }

    #[test]
    fn damaged_documents_are_corrupt_never_misread() {
        let commit = CommitDoc {
            format: FORMAT,
            batch: "b".into(),
            writer: "w".into(),
            committed_at_millis: 7,
            claims: vec![],
            others: vec![Hash128(9)],
            erased: vec![],
        };
        let good = encode_doc(&commit).expect("encode");
        let mut trailing = postcard::to_stdvec(&commit).expect("postcard");
        trailing.push(0);
        let mut framed = BINARY_MAGIC.to_vec();
        framed.extend(zstd::bulk::compress(&trailing, 1).expect("zstd"));
        let bad_hex = zstd::bulk::compress(br#"{"format":1,"batch":"b","writer":"w","committed_at_millis":7,"claims":[],"others":["-0000000000000000000000000000009"]}"#, 1).expect("zstd");
        for bytes in [&good[..good.len() - 3], &framed[..], &bad_hex[..], b"ELB2"] {
            assert!(
                matches!(
                    decode_doc::<CommitDoc>(bytes, "v"),
                    Err(IngestError::CorruptLedger { .. })
                ),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn a_newer_format_is_its_own_error() {
        let parse = |json: &str| parse_config(json.as_bytes(), "_ledger/config.json", "s3://b/lake");
        for format in [1, 2] {
            assert_eq!(
                parse(&format!(r#"{{"format":{format},"buckets":4}}"#)).expect("readable"),
                ConfigDoc { format, buckets: 4 }
            );
        }
        let newer = parse(r#"{"format":3,"shards":8}"#).expect_err("newer");
        assert!(
            matches!(
                newer,
                IngestError::NewerLake {
                    found: 3,
                    supported: 2,
                    ..
                }
            ),
            "{newer}"
        );
        assert!(newer.to_string().contains("s3://b/lake"), "{newer}");
        for corrupt in [r#"{"format":0,"buckets":4}"#, r#"{"format":1,"buckets":0}"#, "{"] {
            assert!(
                matches!(parse(corrupt), Err(IngestError::CorruptLedger { .. })),
                "{corrupt}"
            );
        }
    }
}
