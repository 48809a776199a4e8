//! A batch manifest's body in columns (`ELB5`, written since 2026-12-02; `ELB4`, the same with
//! its sequence numbers whole, is still read): the records' row fields each in a column of
//! their own, sequence numbers as differences, each record's canonical `event_uuid` as 16 bytes in
//! a column, and the rest of the records' bytes as one text. Invariant: decoding gives back
//! every record's bytes exactly, whatever they hold; the columns only change what zstd sees.
//!
//! Why: in the row layout (`ELB2`) each record's 32 random hex digits and its interleaved row
//! fields were most of what zstd could not compress (BENCHMARKS.md, "Where the ledger's bytes
//! go"). A uuid is cut out only where the record holds `"event_uuid":"` followed by 36 bytes of
//! lowercase 8-4-4-4-12 hex and a quote, so writing those 16 bytes back as lowercase hex
//! restores the record byte for byte; any other record is kept whole.

use super::document::{
    ManifestDoc, ManifestRecord, ManifestView, RecordBytes, RoleDoc, RoleView, check_copied_strings,
};
use super::sequence_column::SequenceColumn;
use memchr::memmem::Finder;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// Leads a manifest body in columns, after the status header.
pub const MANIFEST_COLUMNS_MAGIC: &[u8; 4] = b"ELB5";
/// Leads a manifest body in columns with its sequence numbers whole, as written on 2026-12-02
/// before [`MANIFEST_COLUMNS_MAGIC`]: still read.
pub const WHOLE_SEQUENCES_MAGIC: &[u8; 4] = b"ELB4";

const UUID_KEY: &[u8] = b"\"event_uuid\":\"";
const UUID_TEXT_BYTES: usize = 36;
/// A record without a uuid cut out of it.
const NO_UUID: u32 = u32::MAX;

#[derive(Serialize)]
struct ColumnsRef<'a, S> {
    format: u32,
    batch: &'a str,
    writer: &'a str,
    committed_at_millis: i64,
    shards: Vec<&'a str>,
    record_shards: Vec<u32>,
    sequences: S,
    /// The first arrival time, then each one's difference from the one before (wrapping).
    arrival_deltas: Vec<i64>,
    roles: Vec<&'a RoleView<'a>>,
    /// Where in its text each record's uuid was cut out, or [`NO_UUID`].
    uuid_offsets: &'a [u32],
    #[serde(with = "serde_bytes")]
    uuids: &'a [u8],
    text_lengths: Vec<u32>,
    // `text` follows, written by `encode_with` straight from the records.
}

#[derive(Deserialize)]
struct Columns<S> {
    format: u32,
    batch: String,
    writer: String,
    committed_at_millis: i64,
    shards: Vec<String>,
    record_shards: Vec<u32>,
    sequences: S,
    arrival_deltas: Vec<i64>,
    roles: Vec<RoleDoc>,
    uuid_offsets: Vec<u32>,
    #[serde(with = "serde_bytes")]
    uuids: Vec<u8>,
    text_lengths: Vec<u32>,
    #[serde(with = "serde_bytes")]
    text: Vec<u8>,
}

/// The postcard bytes of `view` in columns (to be compressed behind [`MANIFEST_COLUMNS_MAGIC`]).
pub(super) fn encode(view: &ManifestView<'_>) -> postcard::Result<Vec<u8>> {
    encode_with(
        view,
        SequenceColumn::encode(view.records.iter().map(|r| r.sequence)),
    )
}

/// [`encode`] with the sequence numbers whole (to go behind [`WHOLE_SEQUENCES_MAGIC`]), as
/// written before front coding: for the upgrade tests and the fuzz targets.
pub(super) fn encode_whole_sequences(view: &ManifestView<'_>) -> postcard::Result<Vec<u8>> {
    let sequences: Vec<&str> = view.records.iter().map(|r| r.sequence).collect();
    encode_with(view, sequences)
}

fn encode_with<S: Serialize>(view: &ManifestView<'_>, sequences: S) -> postcard::Result<Vec<u8>> {
    let n = view.records.len();
    let mut shards: Vec<&str> = Vec::new();
    let mut record_shards = Vec::with_capacity(n);
    let mut arrival_deltas = Vec::with_capacity(n);
    let mut uuid_offsets = Vec::with_capacity(n);
    let mut uuids = Vec::with_capacity(n * 16);
    let mut text_lengths = Vec::with_capacity(n);
    let mut last_arrival = 0i64;
    for record in &view.records {
        // A batch has one shard, or a few in runs: the last one is almost always the match.
        let shard = match shards.iter().rposition(|s| *s == record.shard) {
            Some(i) => i,
            None => {
                shards.push(record.shard);
                shards.len() - 1
            }
        };
        record_shards.push(shard as u32);
        arrival_deltas.push(record.arrival_micros.wrapping_sub(last_arrival));
        last_arrival = record.arrival_micros;
        let (offset, text_length) = match canonical_uuid(record.data) {
            Some((at, bytes)) => {
                uuids.extend_from_slice(&bytes);
                (at as u32, record.data.len() - UUID_TEXT_BYTES)
            }
            None => (NO_UUID, record.data.len()),
        };
        uuid_offsets.push(offset);
        text_lengths.push(text_length as u32);
    }
    let text_bytes: usize = text_lengths.iter().map(|&len| len as usize).sum();
    let columns = ColumnsRef {
        format: view.format,
        batch: view.batch,
        writer: view.writer,
        committed_at_millis: view.committed_at_millis,
        shards,
        record_shards,
        sequences,
        arrival_deltas,
        roles: view.records.iter().map(|r| &r.role).collect(),
        uuid_offsets: &uuid_offsets,
        uuids: &uuids,
        text_lengths,
    };
    let out = postcard::to_extend(&columns, Vec::with_capacity(text_bytes + n * 48 + 256))?;
    // The text goes last, as `serde_bytes` would write it (its length, then its bytes), copied
    // once from the records instead of gathered first and copied again.
    let mut out = postcard::to_extend(&(text_bytes as u64), out)?;
    for (record, &offset) in view.records.iter().zip(&uuid_offsets) {
        if offset == NO_UUID {
            out.extend_from_slice(record.data);
        } else {
            let at = offset as usize;
            out.extend_from_slice(&record.data[..at]);
            out.extend_from_slice(&record.data[at + UUID_TEXT_BYTES..]);
        }
    }
    Ok(out)
}

/// A column of sequence numbers as a layout stores it.
trait StoredSequences: DeserializeOwned {
    fn into_strings(self) -> Result<Vec<String>, String>;
}

impl StoredSequences for Vec<String> {
    fn into_strings(self) -> Result<Vec<String>, String> {
        Ok(self)
    }
}

impl StoredSequences for SequenceColumn {
    fn into_strings(self) -> Result<Vec<String>, String> {
        self.decode()
    }
}

/// The manifest `plain` (postcard in columns, behind `magic`) holds; `Err` says what does not
/// add up.
pub(super) fn decode(magic: &[u8], plain: &[u8]) -> Result<ManifestDoc, String> {
    if magic == WHOLE_SEQUENCES_MAGIC {
        decode_as::<Vec<String>>(plain)
    } else {
        decode_as::<SequenceColumn>(plain)
    }
}

fn decode_as<S: StoredSequences>(plain: &[u8]) -> Result<ManifestDoc, String> {
    let (columns, rest) =
        postcard::take_from_bytes::<Columns<S>>(plain).map_err(|e| format!("bad binary document: {e}"))?;
    if !rest.is_empty() {
        return Err(format!("{} bytes after the document", rest.len()));
    }
    let sequences = columns.sequences.into_strings()?;
    let n = columns.record_shards.len();
    let lengths = [
        sequences.len(),
        columns.arrival_deltas.len(),
        columns.roles.len(),
        columns.uuid_offsets.len(),
        columns.text_lengths.len(),
    ];
    if lengths.iter().any(|&len| len != n) {
        return Err(format!(
            "columns of unequal lengths: {n} shards, others {lengths:?}"
        ));
    }
    let indexes = columns.record_shards.iter().copied();
    check_copied_strings(&columns.shards, indexes, "shard", "shard names")?;
    let mut records = Vec::with_capacity(n);
    let (mut text_at, mut uuid_at, mut arrival) = (0usize, 0usize, 0i64);
    let rows = columns
        .record_shards
        .iter()
        .zip(sequences)
        .zip(columns.arrival_deltas)
        .zip(columns.roles)
        .zip(columns.uuid_offsets.iter().zip(&columns.text_lengths));
    for ((((&shard, sequence), delta), role), (&uuid_offset, &length)) in rows {
        let shard = columns
            .shards
            .get(shard as usize)
            .ok_or_else(|| format!("shard index {shard} beyond the {} shards", columns.shards.len()))?;
        let text = text_at
            .checked_add(length as usize)
            .and_then(|end| columns.text.get(text_at..end))
            .ok_or("record lengths run past the text")?;
        text_at += length as usize;
        let data = if uuid_offset == NO_UUID {
            text.to_vec()
        } else {
            let at = uuid_offset as usize;
            let uuid = columns
                .uuids
                .get(uuid_at..uuid_at.saturating_add(16))
                .ok_or("more uuid offsets than uuids")?;
            uuid_at += 16;
            if at > text.len() {
                return Err(format!("uuid offset {at} past its record's {} bytes", text.len()));
            }
            let mut data = Vec::with_capacity(text.len() + UUID_TEXT_BYTES);
            data.extend_from_slice(&text[..at]);
            write_canonical(uuid, &mut data);
            data.extend_from_slice(&text[at..]);
            data
        };
        arrival = arrival.wrapping_add(delta);
        records.push(ManifestRecord {
            shard: shard.clone(),
            sequence,
            arrival_micros: arrival,
            data: RecordBytes(data),
            role,
        });
    }
    if text_at != columns.text.len() || uuid_at != columns.uuids.len() {
        return Err("text or uuids left over after the last record".into());
    }
    Ok(ManifestDoc {
        format: columns.format,
        batch: columns.batch,
        writer: columns.writer,
        committed_at_millis: columns.committed_at_millis,
        records,
    })
}

/// Where `data` holds its `event_uuid` in canonical lowercase text, and its 16 bytes.
fn canonical_uuid(data: &[u8]) -> Option<(usize, [u8; 16])> {
    static FINDER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(UUID_KEY));
    // Our generator's records, and most producers', start with the key: no search then.
    let key_at = match data.get(1..1 + UUID_KEY.len()) {
        Some(key) if key == UUID_KEY => 1,
        _ => FINDER.find(data)?,
    };
    let at = key_at + UUID_KEY.len();
    let text = data.get(at..at + UUID_TEXT_BYTES)?;
    if data.get(at + UUID_TEXT_BYTES) != Some(&b'"') {
        return None;
    }
    parse_canonical(text).map(|bytes| (at, bytes))
}

const HYPHENS: [usize; 4] = [8, 13, 18, 23];

/// Where the 32 hex digits of a canonical uuid's text are.
const DIGIT_POSITIONS: [usize; 32] = {
    let mut positions = [0; 32];
    let (mut at, mut i) = (0, 0);
    while i < 32 {
        if at == HYPHENS[0] || at == HYPHENS[1] || at == HYPHENS[2] || at == HYPHENS[3] {
            at += 1;
        }
        positions[i] = at;
        at += 1;
        i += 1;
    }
    positions
};

/// Each lowercase hex digit's value; `0xff` for every other byte.
const HEX_VALUES: [u8; 256] = {
    let mut values = [0xff; 256];
    let mut i = 0;
    while i < 16 {
        values[b"0123456789abcdef"[i] as usize] = i as u8;
        i += 1;
    }
    values
};

/// `8-4-4-4-12` lowercase hex digits, exactly. On the hot path of every batch: a table per
/// digit and one check for them all, instead of a branch per character.
fn parse_canonical(text: &[u8]) -> Option<[u8; 16]> {
    let text: &[u8; UUID_TEXT_BYTES] = text.try_into().ok()?;
    if HYPHENS.iter().any(|&i| text[i] != b'-') {
        return None;
    }
    let mut out = [0u8; 16];
    let mut any_bad = 0u8;
    for (byte, pair) in out.iter_mut().zip(DIGIT_POSITIONS.chunks_exact(2)) {
        let (high, low) = (
            HEX_VALUES[usize::from(text[pair[0]])],
            HEX_VALUES[usize::from(text[pair[1]])],
        );
        any_bad |= high | low;
        *byte = (high << 4) | low;
    }
    (any_bad & 0xf0 == 0).then_some(out)
}

fn write_canonical(bytes: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push(b'-');
        }
        out.push(HEX[usize::from(byte >> 4)]);
        out.push(HEX[usize::from(byte & 15)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::document::OriginalDoc;

    const UUID: &str = "52671658-f9b2-4aa0-b042-b6bcd849e149";

    fn record(data: &[u8], sequence: u64, role: RoleDoc) -> ManifestRecord {
        ManifestRecord {
            shard: if sequence.is_multiple_of(3) {
                "shardId-1"
            } else {
                "file:in.jsonl"
            }
            .into(),
            sequence: sequence.to_string(),
            arrival_micros: 1_790_000_000_000_000 + (sequence as i64 % 5) * 7 - 20,
            data: RecordBytes(data.to_vec()),
            role,
        }
    }

    fn doc(records: Vec<ManifestRecord>) -> ManifestDoc {
        ManifestDoc {
            format: 2,
            batch: "0000000000001-0000000000000001".into(),
            writer: "w".into(),
            committed_at_millis: 1,
            records,
        }
    }

    /// How many of the document's records had their uuid cut out.
    fn cut(doc: &ManifestDoc) -> usize {
        let plain = encode(&ManifestView::from(doc)).expect("encode");
        let (columns, _) = postcard::take_from_bytes::<Columns<SequenceColumn>>(&plain).expect("columns");
        assert_eq!(
            columns.uuids.len(),
            16 * columns.uuid_offsets.iter().filter(|&&o| o != NO_UUID).count()
        );
        columns.uuid_offsets.iter().filter(|&&o| o != NO_UUID).count()
    }

    #[test]
    fn every_record_reads_back_byte_for_byte_whether_or_not_its_uuid_was_cut() {
        let canonical = format!(r#"{{"event_uuid":"{UUID}","event_name":"a:b","created_at":1}}"#);
        let upper = canonical.replace("f9b2", "F9B2");
        let uncut = [
            upper.as_bytes().to_vec(),
            // 37 characters, 35, a brace for a hyphen, no closing quote, cut short by the end.
            canonical.replace(UUID, &format!("{UUID}0")).into_bytes(),
            canonical.replace(UUID, &UUID[1..]).into_bytes(),
            canonical.replace("f9b2-", "f9b2{").into_bytes(),
            format!(r#"{{"event_uuid":"{UUID}"#).into_bytes(),
            format!(r#"{{"event_uuid":"{}"#, &UUID[..20]).into_bytes(),
            // escaped, inside another string
            format!(r#"{{"x":"\"event_uuid\":\"{UUID}\""}}"#).into_bytes(),
            Vec::new(),
            b"\xff\xfe not utf-8".to_vec(),
        ];
        let mut cut_ones = vec![
            canonical.clone().into_bytes(),
            // anywhere in the record, the first one only; bytes around it kept as they are
            format!("\u{0}\"event_uuid\":\"{UUID}\"\u{ff} and \"event_uuid\":\"{UUID}\"").into_bytes(),
            format!(r#"{{"event_uuid":"{UUID}""#).into_bytes(),
            [b"\xff\"event_uuid\":\"".as_slice(), UUID.as_bytes(), b"\"\xfe"].concat(),
        ];
        cut_ones.push(
            canonical
                .replace(UUID, "00000000-0000-0000-0000-000000000000")
                .into_bytes(),
        );
        cut_ones.push(
            canonical
                .replace(UUID, "ffffffff-ffff-ffff-ffff-ffffffffffff")
                .into_bytes(),
        );
        let duplicate = RoleDoc::Duplicate(OriginalDoc {
            original_shard: "s".into(),
            original_sequence: "0".into(),
            original_file: "events/f.parquet".into(),
        });
        let records: Vec<ManifestRecord> = uncut
            .iter()
            .chain(&cut_ones)
            .enumerate()
            .map(|(i, data)| {
                let role = [RoleDoc::Event, duplicate.clone(), RoleDoc::Quarantine][i % 3].clone();
                record(data, i as u64, role)
            })
            .collect();
        let doc = doc(records);
        assert_eq!(cut(&doc), cut_ones.len());
        let plain = encode(&ManifestView::from(&doc)).expect("encode");
        assert_eq!(decode(MANIFEST_COLUMNS_MAGIC, &plain).expect("decode"), doc);
        let whole = encode_whole_sequences(&ManifestView::from(&doc)).expect("encode ELB4");
        assert_eq!(decode(WHOLE_SEQUENCES_MAGIC, &whole).expect("decode ELB4"), doc);
    }

    #[test]
    fn only_lowercase_8_4_4_4_12_hex_parses_and_to_its_value() {
        let expected = u128::from_str_radix(&UUID.replace('-', ""), 16).expect("hex");
        assert_eq!(
            parse_canonical(UUID.as_bytes()).map(u128::from_be_bytes),
            Some(expected)
        );
        for at in 0..UUID.len() {
            for byte in 0..=255u8 {
                let mut text = UUID.as_bytes().to_vec();
                text[at] = byte;
                let canonical = if HYPHENS.contains(&at) {
                    byte == b'-'
                } else {
                    byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte)
                };
                let value = canonical.then(|| {
                    let digits: String = text.iter().filter(|&&c| c != b'-').map(|&c| c as char).collect();
                    u128::from_str_radix(&digits, 16).expect("hex")
                });
                assert_eq!(
                    parse_canonical(&text).map(u128::from_be_bytes),
                    value,
                    "{byte:#x} at {at}"
                );
            }
        }
        for len in [0, 35, 37] {
            let text = UUID.repeat(2);
            assert_eq!(parse_canonical(&text.as_bytes()[..len]), None);
        }
        let mut text = Vec::new();
        write_canonical(&expected.to_be_bytes(), &mut text);
        assert_eq!(text, UUID.as_bytes());
    }

    /// splitmix64: random-looking uuids without a generator.
    fn mix(seed: u64) -> u64 {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    #[test]
    fn columns_are_smaller_than_rows_on_generated_events() {
        let records: Vec<ManifestRecord> = (0..5_000u64)
            .map(|i| {
                let (a, b) = (mix(i), mix(i + (1 << 40)));
                let uuid = format!(
                    "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                    a >> 32,
                    (a >> 16) & 0xffff,
                    a & 0xfff,
                    b >> 52,
                    b & 0xffff_ffff_ffff
                );
                let data = format!(
                    r#"{{"event_uuid":"{uuid}","event_name":"cart:item:added","created_at":{},"currency":"GBP","price":{}.{},"user_id":"user-{}"}}"#,
                    1_793_491_172 + i,
                    mix(i) % 1000,
                    i % 100,
                    mix(i + 7) % 200_000
                );
                record(data.as_bytes(), 1_000 + i, RoleDoc::Event)
            })
            .collect();
        let doc = doc(records);
        assert_eq!(cut(&doc), 5_000);
        let columns = crate::ledger::document::encode_manifest(&doc).expect("columns");
        let rows = crate::ledger::document::encode_row_manifest(&doc).expect("rows");
        assert!(
            columns.len() * 100 < rows.len() * 92,
            "columns {} bytes, rows {} bytes",
            columns.len(),
            rows.len()
        );
    }

    #[test]
    fn damaged_columns_are_refused_without_panicking() {
        let canonical = format!(r#"{{"event_uuid":"{UUID}","event_name":"a:b"}}"#);
        let doc = doc((0..4)
            .map(|i| record(canonical.as_bytes(), i, RoleDoc::Event))
            .collect());
        let plain = encode(&ManifestView::from(&doc)).expect("encode");
        for len in 0..plain.len() {
            assert!(
                decode(MANIFEST_COLUMNS_MAGIC, &plain[..len]).is_err(),
                "cut to {len} bytes"
            );
        }
        for at in 0..plain.len() {
            for flip in [1u8, 0x80, 0xff] {
                let mut damaged = plain.clone();
                damaged[at] ^= flip;
                // Any outcome but a panic; a decoded document re-encodes to what it decoded to.
                if let Ok(read) = decode(MANIFEST_COLUMNS_MAGIC, &damaged) {
                    let again = encode(&ManifestView::from(&read)).expect("re-encode");
                    assert_eq!(decode(MANIFEST_COLUMNS_MAGIC, &again).expect("re-decode"), read);
                }
            }
        }
    }
}
