//! Invariant checks on arbitrary input, one per fuzz target in `fuzz/`: each takes any bytes
//! and panics when a property of the write path's decoders is violated. The cargo-fuzz
//! targets call them, and `tests/it/fuzz_replay.rs` replays the committed seeds and regressions
//! through them in a plain `cargo test`, so the checks keep running without cargo-fuzz.

use crate::decode::{Event, MAX_RECORD_BYTES, MAX_UUID_BYTES, QuarantineReason, decode, decode_shared};
use crate::ledger::chain::ChainState;
use crate::ledger::document::{
    self, BatchStatus, ChainDoc, CommitDoc, HEADER_COMMITTED, Hash128, LegacyManifestDoc, ManifestDoc,
    decode_doc, decode_manifest, encode_doc, manifest_status,
};
use schemas::partition::{MAX_CREATED_AT_EXCLUSIVE, MIN_CREATED_AT, check_event_type};
use schemas::registry::check_field_name;
use schemas::{EventName, EventSchema, FieldType, PartitionDate, Registry, event_type_segment};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

/// `decode` target: any record decodes deterministically; an accepted one is a well-formed,
/// enriched event that survives re-encoding; a rejected one carries the reason of the first
/// failed check.
pub fn check_decode(data: &[u8]) {
    let outcome = decode(data);
    assert_eq!(outcome, decode(data), "decode must be deterministic");
    // As `ingest run` reads it: a slice of a block shared with the records around it.
    let mut block = Vec::with_capacity(data.len() + 2);
    block.extend_from_slice(b"{");
    block.extend_from_slice(data);
    block.extend_from_slice(b"}");
    let shared = bytes::Bytes::from(block).slice(1..1 + data.len());
    assert_eq!(
        decode_shared(&shared),
        outcome,
        "a record in a shared buffer must decode the same"
    );
    let parsed = (data.len() <= MAX_RECORD_BYTES).then(|| serde_json::from_slice::<Value>(data));
    match outcome {
        Ok(event) => {
            assert!(data.len() <= MAX_RECORD_BYTES);
            check_event(&event);
            let record = reencode(&event);
            assert_eq!(
                decode(&record).as_ref(),
                Ok(&event),
                "re-encoding an accepted event must decode to the same event: {}",
                String::from_utf8_lossy(&record)
            );
        }
        Err(bad) => {
            let expected = match &parsed {
                None => Some(QuarantineReason::TooLarge),
                Some(Err(_)) => Some(QuarantineReason::InvalidJson),
                Some(Ok(Value::Object(_))) => None,
                // serde_json's Value takes a duplicate key (the last wins); decode refuses it
                // anywhere in the record, also inside an array that is not an event.
                Some(Ok(_))
                    if bad.reason == QuarantineReason::InvalidJson
                        && bad.detail.contains("duplicate key") =>
                {
                    None
                }
                Some(Ok(_)) => Some(QuarantineReason::NotAnObject),
            };
            if let Some(expected) = expected {
                assert_eq!(bad.reason, expected, "{}", bad.detail);
            }
            assert!(!bad.detail.is_empty(), "every rejection says why");
            if bad.reason > QuarantineReason::BadType {
                assert!(
                    bad.event_uuid.is_some() && bad.event_name.is_some(),
                    "a record rejected after the type checks keeps its ids: {bad:?}"
                );
            }
        }
    }
}

/// What every accepted event satisfies.
fn check_event(event: &Event) {
    let uuid = event.event_uuid();
    assert!(!uuid.is_empty() && uuid.len() <= MAX_UUID_BYTES && !uuid.chars().any(char::is_control));
    let name = EventName::parse(event.event_name()).expect("an accepted name parses");
    assert_eq!(name.event_type, event.event_type());
    assert_eq!(name.event_subtype, event.event_subtype());
    let segment = event_type_segment(event.event_type()).expect("an accepted type is a partition value");
    check_segment(&segment, "event_type", event.event_type());
    assert!((MIN_CREATED_AT..MAX_CREATED_AT_EXCLUSIVE).contains(&event.created_at));
    assert_eq!(
        PartitionDate::from_unix_seconds(event.created_at),
        Some(event.date)
    );
    for envelope in [
        schemas::columns::EVENT_UUID,
        schemas::columns::EVENT_NAME,
        schemas::columns::CREATED_AT,
    ] {
        assert!(
            !event.payload.contains_key(envelope),
            "{envelope} stays out of the payload"
        );
    }
}

/// The record an event came from, with the envelope after the payload (field order must not
/// matter).
pub fn reencode(event: &Event) -> Vec<u8> {
    let mut object: Map<String, Value> = event.payload.to_map();
    object.insert(
        schemas::columns::EVENT_UUID.into(),
        event.event_uuid().to_owned().into(),
    );
    object.insert(
        schemas::columns::EVENT_NAME.into(),
        event.event_name().to_owned().into(),
    );
    object.insert(schemas::columns::CREATED_AT.into(), event.created_at.into());
    serde_json::to_vec(&Value::Object(object)).expect("a JSON map serializes")
}

/// A partition path segment `key=value` that needs no escaping anywhere: one `=`, and a value
/// made only of URL-unreserved characters (so percent-encoding and -decoding leave it as it
/// is), which is neither `.` nor `..` on its own.
pub fn check_segment(segment: &str, key: &str, value: &str) {
    assert_eq!(segment, format!("{key}={value}"));
    assert_eq!(segment.matches('=').count(), 1, "{segment:?}");
    assert!(!value.is_empty() && value.len() <= schemas::envelope::MAX_EVENT_TYPE_LEN);
    assert!(
        value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')),
        "{value:?} has characters a reader would escape"
    );
    assert!(!segment.contains(['/', '\\', '%']));
    assert_eq!(
        percent_decode(segment),
        segment,
        "percent-decoding changes {segment:?}"
    );
    assert_ne!(segment, "..");
    assert_ne!(segment, ".");
}

/// Percent-decoding as a Hive reader applies it to partition values (invalid escapes kept).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = if bytes[i] == b'%' {
            bytes.get(i + 1..i + 3)
        } else {
            None
        };
        let escaped = hex.and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `partition` target: the input is tried as an event type, an event name and (first 8
/// bytes, little-endian) Unix seconds.
pub fn check_partition(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    check_event_type_value(&text);
    if let Ok(name) = EventName::parse(&text) {
        assert_eq!(name.full, &*text);
        assert!(text.split(':').all(|part| !part.is_empty()));
        assert_eq!(Some(name.event_type), text.split(':').next());
        assert_eq!(name.event_subtype, text.split(':').nth(1));
        check_event_type_value(name.event_type);
    }
    let mut seconds = [0u8; 8];
    let n = data.len().min(8);
    seconds[..n].copy_from_slice(&data[..n]);
    check_date(i64::from_le_bytes(seconds));
}

/// An event type is accepted exactly when it is a safe segment value, and then its segment is.
pub fn check_event_type_value(value: &str) {
    let safe = !value.is_empty()
        && value.len() <= schemas::envelope::MAX_EVENT_TYPE_LEN
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        && value.starts_with(|c: char| c.is_ascii_alphabetic())
        && !["null", "nan", "inf", "infinity", "epoch"]
            .iter()
            .any(|word| value.to_ascii_lowercase() == *word);
    let segment = event_type_segment(value);
    assert_eq!(check_event_type(value).is_ok(), segment.is_ok());
    assert_eq!(segment.is_ok(), safe, "{value:?}: accepted exactly when safe");
    match segment {
        Ok(segment) => check_segment(&segment, "event_type", value),
        Err(reason) => assert!(!safe && !reason.is_empty(), "{value:?} was refused: {reason}"),
    }
}

/// Dates exist exactly inside the accepted range, print as `YYYY-MM-DD` and parse back; the
/// microsecond variant clamps into the range.
pub fn check_date(seconds: i64) {
    let in_range = (MIN_CREATED_AT..MAX_CREATED_AT_EXCLUSIVE).contains(&seconds);
    let date = PartitionDate::from_unix_seconds(seconds);
    assert_eq!(date.is_some(), in_range, "{seconds}");
    if let Some(date) = date {
        let segment = date.segment();
        assert_eq!(segment.len(), "date=YYYY-MM-DD".len());
        let text = segment.strip_prefix("date=").expect("date= prefix");
        assert_eq!(
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok(),
            Some(date.0)
        );
        let midnight = date
            .0
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp();
        assert!((midnight..midnight + 86_400).contains(&seconds));
    }
    let clamped = PartitionDate::from_unix_micros(seconds);
    let low = PartitionDate::from_unix_seconds(MIN_CREATED_AT).expect("min");
    let high = PartitionDate::from_unix_seconds(MAX_CREATED_AT_EXCLUSIVE - 1).expect("max");
    assert!((low..=high).contains(&clamped));
}

/// `registry` target: the input holds documents separated by NUL bytes. Loading either fails
/// or yields a registry whose invariants hold; the outcome depends neither on the documents'
/// order nor on their formatting.
pub fn check_registry(data: &[u8]) {
    let texts: Vec<String> = data
        .split(|&b| b == 0)
        .map(|d| String::from_utf8_lossy(d).into_owned())
        .collect();
    let names: Vec<String> = (0..texts.len()).map(|i| format!("d{i}.json")).collect();
    let docs: Vec<(&str, &str)> = names
        .iter()
        .map(String::as_str)
        .zip(texts.iter().map(String::as_str))
        .collect();
    let loaded = Registry::from_documents(docs.iter().copied());
    assert_eq!(
        loaded,
        Registry::from_documents(docs.iter().copied()),
        "deterministic"
    );
    let reversed = Registry::from_documents(docs.iter().rev().copied());
    assert_eq!(
        loaded.is_ok(),
        reversed.is_ok(),
        "order must not decide acceptance"
    );
    let Ok(registry) = loaded else {
        return;
    };
    let contents = |r: &Registry| {
        let events: Vec<EventSchema> = r.events().cloned().collect();
        let fields: Vec<(String, FieldType)> = r.fields().map(|(f, t)| (f.to_owned(), t)).collect();
        (events, fields)
    };
    let expected = contents(&registry);
    assert_eq!(
        reversed.as_ref().map(contents),
        Ok(expected.clone()),
        "same registry either way"
    );
    assert_eq!(registry.events().count(), docs.len(), "one event per document");
    let mut union = BTreeMap::new();
    let mut types = BTreeSet::new();
    for schema in registry.events() {
        let name = EventName::parse(&schema.event_name).expect("registered names parse");
        check_event_type_value(name.event_type);
        types.insert(name.event_type.to_owned());
        for (field, ty) in &schema.fields {
            check_field_name(field).expect("registered field names are valid");
            assert_eq!(registry.field_type(field), Some(*ty), "one type per field");
            union.insert(field.as_str(), *ty);
        }
    }
    assert_eq!(registry.fields().collect::<BTreeMap<_, _>>(), union);
    assert_eq!(registry.event_types(), types.into_iter().collect::<Vec<_>>());
    let rewritten: Vec<String> = registry
        .events()
        .map(|s| serde_json::to_string_pretty(s).expect("a schema serializes"))
        .collect();
    let again = Registry::from_documents(
        names
            .iter()
            .map(String::as_str)
            .zip(rewritten.iter().map(String::as_str)),
    );
    assert_eq!(
        again.as_ref().map(contents),
        Ok(expected),
        "re-serialized documents load the same"
    );
}

/// A checkpoint and the commits after it, as the `ledger` target reads its input.
#[derive(Debug, Deserialize)]
pub struct ChainCase {
    #[serde(default)]
    pub checkpoint: Option<ChainDoc>,
    #[serde(default)]
    pub commits: Vec<CommitDoc<'static>>,
}

/// Longest commit run the chain check replays (it is quadratic in it).
const MAX_COMMITS: usize = 32;

/// `ledger` target: the input is both a ledger object as stored and the JSON inside one.
/// Decoders never panic and agree with plain JSON parsing; what they accept re-encodes to
/// itself; a manifest's status is its header; and when the JSON is a [`ChainCase`], the chain
/// state obeys the rules in [`check_chain`].
pub fn check_ledger(data: &[u8]) {
    // As stored: any bytes.
    let status = manifest_status(data, "m");
    assert_eq!(
        status.is_ok(),
        data.len() >= 8 && manifest_status(&data[..8], "m").is_ok()
    );
    if let Ok(doc) = decode_manifest(data, "m") {
        assert_eq!(
            status.ok(),
            Some(BatchStatus::Committed),
            "only committed manifests decode"
        );
        roundtrip_manifest(&doc);
    }
    roundtrip_stored::<CommitDoc>(data);
    roundtrip_stored::<ChainDoc>(data);
    checkpoint_reads_agree(data);
    // The JSON inside a stored object.
    let framed = zstd::bulk::compress(data, 1).expect("zstd compresses any bytes");
    agree_with_json::<CommitDoc>(data, &framed);
    agree_with_json::<ChainDoc>(data, &framed);
    checkpoint_reads_agree(&framed);
    for magic in [document::BINARY_MAGIC, document::ERASURES_MAGIC] {
        checkpoint_reads_agree(&[magic.as_slice(), &framed].concat());
    }
    // The input as the plain part of the layouts in columns: a manifest body either way, and
    // a commit whose hashes are the input's first bytes.
    for magic in [document::MANIFEST_COLUMNS_MAGIC, document::WHOLE_SEQUENCES_MAGIC] {
        let body = [HEADER_COMMITTED.as_slice(), magic, &framed].concat();
        if let Ok(doc) = decode_manifest(&body, "m") {
            roundtrip_manifest(&doc);
        }
    }
    roundtrip_stored::<CommitDoc>(&commit_in_columns(data));
    let mut manifest = HEADER_COMMITTED.to_vec();
    manifest.extend_from_slice(&framed);
    let plain = serde_json::from_slice::<LegacyManifestDoc>(data).map(ManifestDoc::from);
    assert_eq!(decode_manifest(&manifest, "m").ok(), plain.as_ref().ok().cloned());
    if let Ok(doc) = plain {
        roundtrip_manifest(&doc);
        let legacy = document::encode_legacy_manifest(&doc).expect("encode format 1");
        let mut again = decode_manifest(&legacy, "m").expect("format 1 re-decodes");
        again.format = doc.format;
        assert_eq!(again, doc, "format 1 round trip");
    }
    if let Ok(case) = serde_json::from_slice::<ChainCase>(data) {
        check_chain(&case);
    }
}

/// `data` stored as a commit in columns: its first byte says how many 16-byte hashes follow
/// (as many as there are, at most), the rest is the plain part, compressed.
fn commit_in_columns(data: &[u8]) -> Vec<u8> {
    let (count, rest) = data.split_first().map_or((0, data), |(&n, rest)| {
        (usize::from(n).min(rest.len() / 16), rest)
    });
    let (hashes, plain) = rest.split_at(16 * count);
    let frame = zstd::bulk::compress(plain, 1).expect("zstd compresses any bytes");
    [
        document::COMMIT_COLUMNS_MAGIC.as_slice(),
        &(count as u32).to_le_bytes(),
        hashes,
        &frame,
    ]
    .concat()
}

/// A document read from stored bytes (any format or layout) is written in format 2, in its
/// layout of today and in rows, and reads back the same from both.
fn roundtrip_stored<T: document::LedgerDocument + PartialEq + Debug>(data: &[u8]) {
    if let Ok(doc) = decode_doc::<T>(data, "x") {
        for bytes in [
            encode_doc(&doc).expect("encode"),
            document::encode_rows(&doc).expect("rows"),
        ] {
            assert_eq!(decode_doc::<T>(&bytes, "x").expect("re-decode"), doc);
        }
    }
}

fn agree_with_json<T: document::LedgerDocument + PartialEq + Debug>(json: &[u8], framed: &[u8]) {
    let decoded = decode_doc::<T>(framed, "x").ok();
    assert_eq!(decoded, serde_json::from_slice::<T>(json).ok());
    if decoded.is_some() {
        roundtrip_stored::<T>(framed);
    }
}

/// A manifest reads back the same from columns (written) and from rows (written before).
fn roundtrip_manifest(doc: &ManifestDoc) {
    let columns = document::encode_manifest(doc).expect("encode");
    let whole = document::encode_whole_sequence_manifest(doc).expect("encode ELB4");
    let rows = document::encode_row_manifest(doc).expect("encode in rows");
    for bytes in [columns, whole, rows] {
        assert_eq!(manifest_status(&bytes, "m").ok(), Some(BatchStatus::Committed));
        assert_eq!(decode_manifest(&bytes, "m").expect("re-decode"), *doc);
    }
}

/// The chain rules, for a checkpoint (or none) followed by commits:
/// - a failed apply leaves the state as it was, and so does a version out of order;
/// - a checkpoint of any state restores to the same state, through its stored bytes;
/// - replaying from the checkpoint at any version gives the same state as replaying all;
/// - an original claim changes only by a takeover naming the batch that held it.
pub fn check_chain(case: &ChainCase) {
    let mut state = match &case.checkpoint {
        Some(doc) => match ChainState::from_doc(doc, "cp") {
            Ok(state) => state,
            Err(_) => return,
        },
        None => ChainState::default(),
    };
    let mut checkpoints = vec![checkpoint_round_trip(&state)];
    let mut applied = Vec::new();
    for commit in case.commits.iter().take(MAX_COMMITS) {
        let before = state.to_doc();
        let Some(next) = state.version.checked_add(1) else {
            assert!(state.apply(0, commit, "v").is_err());
            assert_eq!(state.to_doc(), before);
            break;
        };
        assert!(
            state.apply(next.wrapping_add(1), commit, "v").is_err(),
            "versions are consecutive"
        );
        assert_eq!(state.to_doc(), before, "a refused commit changes nothing");
        if state.apply(next, commit, "v").is_err() {
            assert_eq!(state.to_doc(), before, "a failed commit changes nothing");
            break;
        }
        check_takeovers(&before, &state.to_doc(), commit);
        applied.push(commit);
        checkpoints.push(checkpoint_round_trip(&state));
    }
    let last = state.to_doc();
    for (i, checkpoint) in checkpoints.iter().enumerate() {
        let mut restored = ChainState::from_doc(checkpoint, "cp").expect("a written checkpoint loads");
        let stored = encode_doc(checkpoint).expect("encode");
        let mut in_place =
            ChainState::from_checkpoint(&stored, "cp").expect("a written checkpoint loads in place");
        for (offset, commit) in applied[i..].iter().enumerate() {
            let version = checkpoint.version + 1 + offset as u64;
            restored.apply(version, commit, "v").expect("it applied before");
            in_place.apply(version, commit, "v").expect("it applied before");
        }
        assert_eq!(
            restored.to_doc(),
            last,
            "checkpoint at {} + later commits",
            checkpoint.version
        );
        assert_eq!(
            in_place.checkpoint_bytes().expect("encode in place"),
            encode_doc(&last).expect("encode"),
            "checkpoint at {} read in place + later commits",
            checkpoint.version
        );
    }
}

/// A stored checkpoint read in place is the state its document gives, and what one way
/// refuses the other refuses.
fn checkpoint_reads_agree(stored: &[u8]) {
    let in_place = ChainState::from_checkpoint(stored, "cp").map(|s| s.to_doc());
    let through_doc = decode_doc::<ChainDoc>(stored, "cp")
        .and_then(|doc| ChainState::from_doc(&doc, "cp"))
        .map(|s| s.to_doc());
    assert_eq!(in_place.ok(), through_doc.ok());
}

/// A state's checkpoint, after a trip through its stored bytes; restoring it is lossless.
/// The state writes the bytes its document encodes to, and reads them back in place.
fn checkpoint_round_trip(state: &ChainState) -> ChainDoc {
    let doc = state.to_doc();
    let bytes = encode_doc(&doc).expect("encode");
    assert_eq!(state.checkpoint_bytes().expect("encode in place"), bytes);
    checkpoint_reads_agree(&bytes);
    let in_place = ChainState::from_checkpoint(&bytes, "cp").expect("a written checkpoint loads in place");
    assert_eq!(
        in_place.checkpoint_bytes().expect("re-encode"),
        bytes,
        "read in place, written again"
    );
    let stored: ChainDoc = decode_doc(&bytes, "cp").expect("decode");
    assert_eq!(stored, doc);
    let restored = ChainState::from_doc(&stored, "cp").expect("a written checkpoint loads");
    assert_eq!(restored.to_doc(), doc, "checkpoints restore exactly");
    stored
}

fn check_takeovers(before: &ChainDoc, after: &ChainDoc, commit: &CommitDoc<'_>) {
    let after_by_uuid: BTreeMap<Hash128, _> = after.originals.iter().map(|c| (c.uuid, c)).collect();
    for old in &before.originals {
        let new = after_by_uuid
            .get(&old.uuid)
            .expect("an original claim is never dropped");
        if *new != old {
            assert!(
                commit
                    .claims
                    .iter()
                    .any(|c| c.uuid == old.uuid && c.replaces.as_deref() == Some(old.batch.as_str())),
                "{} changed hands without a takeover of {}",
                old.uuid,
                old.batch
            );
            assert_eq!(new.batch, commit.batch);
        }
    }
}

#[cfg(test)]
mod tests {
    //! The same checks, driven by generators that reach deep states far more often than bytes
    //! do: well-formed registries and their breakages, commit runs with colliding uuids and
    //! takeovers, hostile path values.
    use super::*;
    use crate::ledger::document::ClaimDoc;
    use crate::storage::BatchId;
    use proptest::prelude::*;

    fn batch(i: u8) -> String {
        BatchId::new(1_700_000_000_000 + i64::from(i), u64::from(i)).to_string()
    }

    /// Claims over a pool of eight uuids, plain or replacing one of the first batches.
    fn claim() -> impl Strategy<Value = ClaimDoc<'static>> {
        (0u8..8, "[a-z]{1,3}", 0u64..1000, proptest::option::of(0u8..6)).prop_map(
            |(uuid, shard, sequence, replaces)| ClaimDoc {
                uuid: Hash128(u128::from(uuid)),
                shard: shard.into(),
                sequence: sequence.to_string().into(),
                event_type: "t".into(),
                replaces: replaces.map(|i| batch(i).into()),
            },
        )
    }

    fn commits() -> impl Strategy<Value = Vec<CommitDoc<'static>>> {
        let commit = (
            proptest::collection::vec(claim(), 0..5),
            proptest::collection::vec(0u8..16, 0..3),
            0i64..1_000,
            // Erasures name uuids of the same pool as the claims.
            proptest::collection::vec(0u8..8, 0..2),
        );
        proptest::collection::vec(commit, 0..10).prop_map(|commits| {
            commits
                .into_iter()
                .enumerate()
                .map(|(i, (claims, others, at, erased))| CommitDoc {
                    format: document::FORMAT,
                    batch: batch(i as u8),
                    writer: "w".into(),
                    committed_at_millis: at,
                    claims,
                    others: others.iter().map(|fp| Hash128(1000 + u128::from(*fp))).collect(),
                    erased: erased.iter().map(|uuid| Hash128(u128::from(*uuid))).collect(),
                })
                .collect()
        })
    }

    fn registry_docs() -> impl Strategy<Value = Vec<String>> {
        let ty = prop_oneof![
            Just("string"),
            Just("integer"),
            Just("float"),
            Just("boolean"),
            Just("timestamp"),
            Just("json")
        ];
        // Field types are fixed per name across documents, so a registry of these is valid.
        let types = proptest::collection::btree_map("[a-z][a-z0-9_]{0,6}", ty, 1..8);
        (
            types,
            // Event types a registry refuses ("nan", "inf", "null": words engines read as
            // something else) would make the registry invalid.
            proptest::collection::btree_set(
                "[a-z]{1,4}:[a-z]{1,4}".prop_filter("an event type registries accept", |name| {
                    name.split_once(':')
                        .is_some_and(|(event_type, _)| check_event_type(event_type).is_ok())
                }),
                1..6,
            ),
        )
            .prop_flat_map(|(types, names)| {
                let names: Vec<String> = names.into_iter().collect();
                let pick = proptest::collection::vec(
                    proptest::sample::subsequence(types.keys().cloned().collect::<Vec<_>>(), 0..types.len()),
                    names.len(),
                );
                (Just(types), Just(names), pick)
            })
            .prop_map(|(types, names, picks)| {
                names
                    .iter()
                    .zip(picks)
                    .map(|(name, fields)| {
                        let fields: BTreeMap<&str, &str> = fields
                            .iter()
                            .filter(|f| check_field_name(f).is_ok())
                            .map(|f| (f.as_str(), types[f]))
                            .collect();
                        serde_json::json!({"event_name": name, "fields": fields}).to_string()
                    })
                    .collect()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn replaying_from_any_checkpoint_equals_replaying_all(commits in commits()) {
            check_chain(&ChainCase { checkpoint: None, commits });
        }

        #[test]
        fn commits_round_trip_through_their_stored_bytes(commits in commits()) {
            for commit in &commits {
                let bytes = encode_doc(commit).expect("encode");
                prop_assert!(bytes.starts_with(document::COMMIT_COLUMNS_MAGIC));
                prop_assert_eq!(&decode_doc::<CommitDoc>(&bytes, "v").expect("decode"), commit);
                let rows = document::encode_rows(commit).expect("encode in rows");
                prop_assert_eq!(&decode_doc::<CommitDoc>(&rows, "v").expect("decode rows"), commit);
                let legacy = document::encode_legacy_json(commit).expect("encode format 1");
                prop_assert_eq!(&decode_doc::<CommitDoc>(&legacy, "v").expect("decode format 1"), commit);
            }
        }

        #[test]
        fn a_corrupt_entry_refuses_the_whole_commit(commits in commits(), bad in 0usize..3) {
            let Some(mut last) = commits.last().cloned() else { return Ok(()) };
            let mut state = ChainState::default();
            for (i, commit) in commits[..commits.len() - 1].iter().enumerate() {
                state.apply(i as u64 + 1, commit, "v").expect("generated commits apply");
            }
            let before = state.to_doc();
            match bad {
                0 => last.claims.insert(0, ClaimDoc { sequence: "".into(), ..claim_of(&last) }),
                1 => last.claims.push(ClaimDoc { sequence: "12a".into(), ..claim_of(&last) }),
                _ => last.batch = "not-a-batch".into(),
            }
            prop_assert!(state.apply(commits.len() as u64, &last, "v").is_err());
            prop_assert_eq!(state.to_doc(), before);
        }

        #[test]
        fn valid_registries_load_whatever_their_order(docs in registry_docs()) {
            check_registry(docs.join("\0").as_bytes());
            prop_assert!(Registry::from_documents(docs.iter().map(|d| ("d.json", d.as_str()))).is_ok());
        }

        #[test]
        fn a_duplicated_or_conflicting_document_is_refused(docs in registry_docs(), conflict in any::<bool>()) {
            let mut broken = docs.clone();
            let first: Value = serde_json::from_str(&docs[0]).expect("generated JSON");
            let extra = if conflict {
                // Every type differs from "json" but "json" itself: declare each field twice over.
                let fields: Map<String, Value> = first["fields"]
                    .as_object()
                    .expect("fields")
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::from(if v == "json" { "string" } else { "json" })))
                    .collect();
                if fields.is_empty() {
                    return Ok(());
                }
                serde_json::json!({"event_name": "zz:conflict", "fields": fields}).to_string()
            } else {
                docs[0].clone()
            };
            broken.push(extra);
            check_registry(broken.join("\0").as_bytes());
            prop_assert!(Registry::from_documents(broken.iter().map(|d| ("d.json", d.as_str()))).is_err());
        }

        #[test]
        fn partition_values_are_safe_or_refused(
            value in prop_oneof!["[A-Za-z0-9_.:/%=\\\\ -]{0,70}", any::<String>()],
            seconds in any::<i64>(),
        ) {
            check_partition(value.as_bytes());
            check_date(seconds);
        }

        #[test]
        fn dates_follow_time(a in MIN_CREATED_AT..MAX_CREATED_AT_EXCLUSIVE, b in MIN_CREATED_AT..MAX_CREATED_AT_EXCLUSIVE) {
            let (da, db) = (PartitionDate::from_unix_seconds(a), PartitionDate::from_unix_seconds(b));
            if a <= b {
                prop_assert!(da <= db);
            }
            prop_assert_eq!(da == db, a.div_euclid(86_400) == b.div_euclid(86_400));
        }
    }

    fn claim_of(commit: &CommitDoc<'static>) -> ClaimDoc<'static> {
        commit.claims.first().cloned().unwrap_or(ClaimDoc {
            uuid: Hash128(1),
            shard: "s".into(),
            sequence: "1".into(),
            event_type: "t".into(),
            replaces: None,
        })
    }

    #[test]
    fn a_chain_at_the_last_version_refuses_more_commits() {
        // Found while writing the ledger target: at u64::MAX, `apply` overflowed computing the
        // next version (a panic in debug builds, a wrap to 0 in release).
        let data = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fuzz/regressions/ledger/checkpoint_at_u64_max"
        ))
        .expect("fixture");
        let case: ChainCase = serde_json::from_slice(&data).expect("a chain case");
        let mut state =
            ChainState::from_doc(case.checkpoint.as_ref().expect("checkpoint"), "cp").expect("loads");
        assert_eq!(state.version, u64::MAX);
        assert!(state.apply(0, &case.commits[0], "v").is_err());
        check_ledger(&data);
    }
}
