//! Shared test harness: build records, deliver batches the way the Kinesis event source
//! mapping does (whole, bisected, from the lowest failed sequence number), read the lake
//! back with the parquet crate, and check the exactly-once invariant.
#![allow(dead_code)]

pub mod error_table;
pub mod moto;

use arrow::array::{Array, AsArray};
use bytes::Bytes;
use futures::TryStreamExt;
use ingest::batch::{BatchProcessor, ProcessorConfig, RecordOutcome};
use ingest::decode::decode;
use ingest::ledger::policy::{CommitRetryPolicy, LeasePolicy};
use ingest::source::{SequenceNumber, SourceId, SourceRecord};
use ingest::storage::Lake;
use object_store::ObjectStoreExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use schemas::Registry;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;
use std::time::Duration;

pub const LEASE_MILLIS: i64 = 10_000;
pub const T0: i64 = 1_700_000_000_000;

pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry::embedded().expect("shipped registry"))
}

pub fn config() -> ProcessorConfig {
    // Simulated time: writers need no real backoff between conflicting commits.
    let commit_retry = CommitRetryPolicy {
        base_backoff: Duration::ZERO,
        ..CommitRetryPolicy::default()
    };
    ProcessorConfig {
        lease: LeasePolicy {
            lease_millis: LEASE_MILLIS,
        },
        buckets: 4,
        commit_retry,
        ..ProcessorConfig::default()
    }
}

pub async fn processor(lake: &Lake, writer: &str) -> BatchProcessor {
    BatchProcessor::open(lake.clone(), registry(), writer, config())
        .await
        .expect("open processor")
}

pub fn event_json(uuid: &str, name: &str, created_at: i64) -> String {
    format!(
        r#"{{"event_uuid":"{uuid}","event_name":"{name}","created_at":{created_at},"user_id":"u-{uuid}","amount":1.5}}"#
    )
}

pub fn record(shard: &str, seq: u64, data: impl Into<String>) -> SourceRecord {
    SourceRecord {
        source: SourceId::new(shard, SequenceNumber::from_u64(seq)),
        arrival_micros: T0 * 1000,
        data: Bytes::from(data.into()),
    }
}

/// The records `ingest run` makes of a JSON Lines file: source `file:<name>`, line numbers
/// from 1 (arrival times are not part of a record's identity).
pub fn file_records(path: &std::path::Path) -> Vec<SourceRecord> {
    let name = path.file_name().expect("name").to_string_lossy();
    std::fs::read_to_string(path)
        .expect("read")
        .lines()
        .enumerate()
        .map(|(i, line)| SourceRecord {
            source: SourceId::new(format!("file:{name}"), SequenceNumber::from_u64(i as u64 + 1)),
            arrival_micros: 0,
            data: Bytes::from(line.to_owned()),
        })
        .collect()
}

/// How the event source mapping retries a failed batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryMode {
    Whole,
    Bisect,
    FromLowestFailure,
}

pub const RETRY_MODES: [RetryMode; 3] = [RetryMode::Whole, RetryMode::Bisect, RetryMode::FromLowestFailure];

/// A simulated clock shared by the writers of a test.
#[derive(Debug)]
pub struct Clock(std::sync::atomic::AtomicI64);

impl Clock {
    pub fn new() -> Self {
        Clock(std::sync::atomic::AtomicI64::new(T0))
    }
    pub fn now(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
    pub fn advance(&self, millis: i64) -> i64 {
        self.0.fetch_add(millis, std::sync::atomic::Ordering::SeqCst) + millis
    }
}

/// Delivers `records` until every one has succeeded, retrying like Lambda's event source
/// mapping. `on_error` is called after every failed attempt, so a test can clear a crash
/// and decide whether the next attempt runs in a fresh (cold) processor.
pub async fn deliver<F>(
    processor: &mut BatchProcessor,
    records: &[SourceRecord],
    mode: RetryMode,
    clock: &Clock,
    on_error: &mut F,
) -> Result<(), String>
where
    F: AsyncFnMut(&mut BatchProcessor),
{
    let mut queue: Vec<Vec<SourceRecord>> = vec![records.to_vec()];
    let mut attempts = 0;
    while let Some(batch) = queue.pop() {
        attempts += 1;
        if attempts > 200 {
            return Err(format!("gave up after {attempts} attempts"));
        }
        match processor.process(&batch, clock.now()).await {
            Ok(report) => {
                let lowest = report.lowest_failure(&batch).cloned();
                if let Some(lowest) = lowest {
                    clock.advance(LEASE_MILLIS / 3);
                    let rest: Vec<_> = match mode {
                        RetryMode::FromLowestFailure => batch
                            .iter()
                            .filter(|r| r.source.shard_id != lowest.shard_id || r.source >= lowest)
                            .cloned()
                            .collect(),
                        _ => batch.clone(),
                    };
                    queue.push(rest);
                }
            }
            Err(_) => {
                clock.advance(LEASE_MILLIS / 2 + 1);
                on_error(processor).await;
                if mode == RetryMode::Bisect && batch.len() > 1 {
                    let (a, b) = batch.split_at(batch.len() / 2);
                    queue.push(b.to_vec());
                    queue.push(a.to_vec());
                } else {
                    queue.push(batch);
                }
            }
        }
    }
    Ok(())
}

/// Rows of the three tables, reduced to what the invariant needs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LakeRows {
    /// (event_uuid, source)
    pub events: Vec<(String, SourceId)>,
    /// (event_uuid, source, original source)
    pub duplicates: Vec<(String, SourceId, SourceId)>,
    pub quarantine: Vec<SourceId>,
    pub files: BTreeSet<String>,
}

impl LakeRows {
    /// The same rows in a fixed order, to compare lakes written in other orders.
    pub fn sorted(mut self) -> LakeRows {
        self.events.sort();
        self.duplicates.sort();
        self.quarantine.sort();
        self
    }
}

pub async fn read_lake(lake: &Lake) -> LakeRows {
    let objects: Vec<_> = lake
        .store
        .list(Some(&lake.root))
        .try_collect()
        .await
        .expect("list lake");
    let mut rows = LakeRows::default();
    for meta in objects {
        let relative = lake.relative(&meta.location).to_owned();
        if !relative.ends_with(".parquet") || relative.starts_with("_ledger") {
            continue;
        }
        let bytes = lake
            .store
            .get(&meta.location)
            .await
            .expect("get")
            .bytes()
            .await
            .expect("bytes");
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .expect("parquet")
            .build()
            .expect("reader");
        for batch in reader {
            let batch = batch.expect("batch");
            let text = |name: &str| batch.column_by_name(name).map(|c| c.as_string::<i32>().clone());
            let shard = text("shard_id").expect("shard_id");
            let seq = text("sequence_number").expect("sequence_number");
            let source =
                |i: usize| SourceId::new(shard.value(i), SequenceNumber::parse(seq.value(i)).expect("seq"));
            for i in 0..batch.num_rows() {
                if relative.starts_with("events/") {
                    rows.events
                        .push((text("event_uuid").expect("uuid").value(i).to_owned(), source(i)));
                } else if relative.starts_with("duplicates/") {
                    let os = text("original_shard_id").expect("orig shard");
                    let oq = text("original_sequence_number").expect("orig seq");
                    let original =
                        SourceId::new(os.value(i), SequenceNumber::parse(oq.value(i)).expect("seq"));
                    rows.duplicates.push((
                        text("event_uuid").expect("uuid").value(i).to_owned(),
                        source(i),
                        original,
                    ));
                } else if relative.starts_with("quarantine/") {
                    rows.quarantine.push(source(i));
                    let uuid = batch.column_by_name("event_uuid").expect("col");
                    assert!(uuid.len() == batch.num_rows());
                }
            }
        }
        rows.files.insert(relative);
    }
    rows
}

/// Checks the guarantee for every record ever delivered: each valid uuid has exactly one
/// events row, from one of its occurrences; every other occurrence is exactly one duplicates
/// row pointing at that original; every invalid record is exactly one quarantine row.
pub fn check_invariant(all_records: &[SourceRecord], rows: &LakeRows) -> Result<(), String> {
    let mut occurrences: BTreeMap<String, BTreeSet<SourceId>> = BTreeMap::new();
    let mut invalid: BTreeSet<SourceId> = BTreeSet::new();
    for r in all_records {
        match decode(&r.data) {
            Ok(e) => {
                occurrences
                    .entry(e.event_uuid().to_owned())
                    .or_default()
                    .insert(r.source.clone());
            }
            Err(_) => {
                invalid.insert(r.source.clone());
            }
        }
    }
    let mut originals: BTreeMap<&str, &SourceId> = BTreeMap::new();
    for (uuid, source) in &rows.events {
        if originals.insert(uuid, source).is_some() {
            return Err(format!("uuid {uuid} has more than one events row"));
        }
        let known = occurrences
            .get(uuid)
            .ok_or_else(|| format!("events row for unknown uuid {uuid}"))?;
        if !known.contains(source) {
            return Err(format!(
                "events row of {uuid} comes from {source}, not one of its occurrences"
            ));
        }
    }
    let expected_uuids: BTreeSet<&str> = occurrences.keys().map(String::as_str).collect();
    let actual_uuids: BTreeSet<&str> = originals.keys().copied().collect();
    if expected_uuids != actual_uuids {
        let missing: Vec<_> = expected_uuids.difference(&actual_uuids).take(5).collect();
        return Err(format!(
            "events lacks uuids {missing:?} ({} expected, {} present)",
            expected_uuids.len(),
            actual_uuids.len()
        ));
    }
    let mut dup_sources: BTreeMap<&str, BTreeSet<&SourceId>> = BTreeMap::new();
    for (uuid, source, original) in &rows.duplicates {
        if !dup_sources.entry(uuid).or_default().insert(source) {
            return Err(format!(
                "duplicate occurrence {source} of {uuid} appears twice in duplicates"
            ));
        }
        if originals.get(uuid.as_str()) != Some(&original) {
            return Err(format!(
                "duplicate {source} of {uuid} points at {original}, not at the events row"
            ));
        }
    }
    for (uuid, sources) in &occurrences {
        let original = originals[uuid.as_str()];
        let expected: BTreeSet<&SourceId> = sources.iter().filter(|s| *s != original).collect();
        let actual = dup_sources.remove(uuid.as_str()).unwrap_or_default();
        if expected != actual {
            return Err(format!(
                "duplicates of {uuid}: expected {expected:?}, found {actual:?}"
            ));
        }
    }
    let quarantined: BTreeSet<&SourceId> = rows.quarantine.iter().collect();
    if quarantined.len() != rows.quarantine.len() {
        return Err("a quarantined record appears twice".into());
    }
    if quarantined != invalid.iter().collect() {
        return Err(format!(
            "quarantine holds {} records, expected {}",
            quarantined.len(),
            invalid.len()
        ));
    }
    Ok(())
}

/// True when no outcome of a report failed.
pub fn all_succeeded(outcomes: &[RecordOutcome]) -> bool {
    outcomes
        .iter()
        .all(|o| !matches!(o, RecordOutcome::Failed { .. }))
}
