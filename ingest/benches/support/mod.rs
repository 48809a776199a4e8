//! Inputs shared by the hot-path benches and the bench examples (`ingest/examples/`): generated
//! JSON lines with fresh uuids per seed, Kinesis-shaped records and Lambda events built from
//! them, and a dedup ledger warmed with many uuids, stored the way a cold writer finds it.
#![allow(dead_code)]

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_sdk_kinesis::primitives::{Blob, DateTime};
use aws_sdk_kinesis::types::Record;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use ingest::generate::{GenerateConfig, generate};
use ingest::kinesis::event::lambda_event;
use ingest::ledger::chain::{ChainKey, ChainKind, ChainState, bucket_of};
use ingest::ledger::document::{self, ClaimDoc, CommitDoc, Hash128, ManifestDoc};
use ingest::ledger::{DEFAULT_BUCKETS, put_create};
use ingest::source::{SequenceNumber, SourceId, SourceRecord};
use ingest::storage::{BatchId, Lake, Layout};
use md5::{Digest, Md5};
use object_store::ObjectStore;
use object_store::memory::InMemory;
use object_store::path::Path;
use schemas::{PartitionDate, Registry};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// 2026-11-01T00:00:00Z, the generator's default start.
pub const DAY: i64 = 1_793_491_200;
/// `created_at` of the first generated event: an hour into the day, so that a batch's
/// events (a few minutes of traffic at 1M/hour, minus the generator's 30 s jitter) all fall
/// on `DAY` and meet the warm ledger's chains.
pub const START: i64 = DAY + 3600;
/// Commit time of the warm ledger's batches (ms); any value works, they are committed.
pub const WARM_COMMITTED_AT: i64 = 1_793_491_200_000;
/// Records per commit when warming a ledger: the Lambda's largest batch.
pub const WARM_BATCH: u64 = 10_000;
pub const STREAM_ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/events";

pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry::embedded().expect("the embedded registry"))
}

pub fn day() -> PartitionDate {
    PartitionDate::from_unix_seconds(DAY).expect("a date in range")
}

/// `n` generated JSON lines (100 event names, 5% re-sends within the batch, 0.2% invalid).
/// Each seed gives fresh uuids.
pub fn lines(n: usize, seed: u64) -> Vec<Bytes> {
    let config = GenerateConfig {
        records: n as u64,
        seed,
        start: START,
        ..GenerateConfig::default()
    };
    let mut out = Vec::with_capacity(n * 256);
    generate(registry(), config, &mut out).expect("generate into memory");
    out.split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .map(Bytes::copy_from_slice)
        .collect()
}

/// `n` generated lines that Kinesis would put on the first of `shards` equal hash-key ranges
/// (the partition key is `event_uuid`, MD5-hashed; a line without a usable uuid is keyed by
/// the MD5 of its bytes, as `ingest produce` does). Re-sends follow their original.
pub fn shard_lines(n: usize, seed: u64, shards: u32) -> Vec<Bytes> {
    let limit = u128::MAX / u128::from(shards.max(1));
    let mut out = Vec::with_capacity(n);
    let mut round = 0;
    while out.len() < n {
        let want = (n - out.len()) * shards.max(1) as usize * 11 / 10 + 16;
        for line in lines(want, seed.wrapping_add(round * 1_000_003)) {
            let key = match ingest::decode::decode(&line) {
                Ok(event) => uuid_hash(event.event_uuid()),
                Err(_) => u128::from_be_bytes(Md5::digest(&line).into()),
            };
            if key <= limit && out.len() < n {
                out.push(line);
            }
        }
        round += 1;
    }
    out
}

/// A Kinesis-sized sequence number (56 digits), increasing with `k`.
pub fn sequence(k: u64) -> String {
    format!("49590338271490256608559692538361{k:024}")
}

/// Lines as the processor sees records of one shard, from sequence number `first`.
pub fn source_records(lines: &[Bytes], shard: &str, first: u64, arrival_micros: i64) -> Vec<SourceRecord> {
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| SourceRecord {
            source: SourceId::new(
                shard,
                SequenceNumber::parse(&sequence(first + i as u64)).expect("digits"),
            ),
            arrival_micros,
            data: line.clone(),
        })
        .collect()
}

/// The Lambda event the Kinesis event source mapping would send for these lines (the same
/// shape `ingest invoke` sends: base64 data, `eventID` = `shardId:sequenceNumber`).
pub fn kinesis_event(lines: &[Bytes], shard: &str, first: u64, arrival_secs: i64) -> KinesisEvent {
    let records: Vec<Record> = lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            Record::builder()
                .sequence_number(sequence(first + i as u64))
                .data(Blob::new(line.to_vec()))
                .partition_key(hex::encode(Md5::digest(line)))
                .approximate_arrival_timestamp(DateTime::from_secs(arrival_secs))
                .build()
                .expect("a complete Kinesis record")
        })
        .collect();
    lambda_event(STREAM_ARN, "us-east-1", shard, &records)
}

/// The uuid of the k-th event of a warm ledger.
pub fn warm_uuid(k: u64) -> String {
    format!("warm-{k:012}")
}

/// MD5 of a uuid, the ledger's key for it.
pub fn uuid_hash(uuid: &str) -> u128 {
    u128::from_be_bytes(Md5::digest(uuid.as_bytes()).into())
}

/// Ledger state for `uuids` events of `DAY`, committed in batches of 10,000 across the
/// default 64 buckets, as a day of traffic leaves it.
#[derive(Debug)]
pub struct WarmLedger {
    pub states: BTreeMap<ChainKey, ChainState>,
    pub batches: Vec<BatchId>,
}

pub fn warm_ledger(uuids: u64) -> WarmLedger {
    let date = day();
    let mut states: BTreeMap<ChainKey, ChainState> = BTreeMap::new();
    let mut batches = Vec::new();
    let mut first = 0;
    while first < uuids {
        let n = WARM_BATCH.min(uuids - first);
        let batch = BatchId::new(WARM_COMMITTED_AT + batches.len() as i64, batches.len() as u64 + 1);
        let mut claims: BTreeMap<u32, Vec<ClaimDoc>> = BTreeMap::new();
        for k in first..first + n {
            let hash = uuid_hash(&warm_uuid(k));
            claims
                .entry(bucket_of(hash, DEFAULT_BUCKETS))
                .or_default()
                .push(ClaimDoc {
                    uuid: Hash128(hash),
                    shard: format!("shardId-{:012}", k % 4).into(),
                    sequence: sequence(k).into(),
                    event_type: "account".into(),
                    replaces: None,
                });
        }
        for (bucket, claims) in claims {
            let key = ChainKey {
                kind: ChainKind::Events,
                date,
                bucket,
            };
            let state = states.entry(key).or_default();
            let doc = CommitDoc {
                format: document::FORMAT,
                batch: batch.to_string(),
                writer: "warm".into(),
                committed_at_millis: WARM_COMMITTED_AT,
                claims,
                others: Vec::new(),
                erased: Vec::new(),
            };
            let version = state.version + 1;
            state.apply(version, &doc, "warm").expect("a well-formed commit");
        }
        batches.push(batch);
        first += n;
    }
    WarmLedger { states, batches }
}

impl WarmLedger {
    pub fn uuids(&self) -> usize {
        self.states.values().map(ChainState::uuids).sum()
    }

    /// Writes each chain as one checkpoint and each batch's (empty) manifest, so a processor
    /// opened on the lake loads the state as a cold Lambda would: LIST, then the checkpoint.
    pub async fn store(&self, lake: &Lake) {
        for (key, state) in &self.states {
            let bytes = document::encode_doc(&state.to_doc()).expect("encode a checkpoint");
            put_create(lake, &key.checkpoint_path(state.version), bytes)
                .await
                .expect("store a checkpoint");
        }
        for batch in &self.batches {
            let manifest = ManifestDoc {
                format: document::FORMAT,
                batch: batch.to_string(),
                writer: "warm".into(),
                committed_at_millis: WARM_COMMITTED_AT,
                records: Vec::new(),
            };
            let bytes = document::encode_manifest(&manifest).expect("encode a manifest");
            put_create(lake, &Layout::manifest(batch), bytes)
                .await
                .expect("store a manifest");
        }
    }
}

/// A lake in memory, with the store itself for clean-ups that should not be counted.
pub fn memory_lake() -> (Lake, Arc<InMemory>) {
    let memory = Arc::new(InMemory::new());
    let lake = Lake::new(memory.clone(), Path::default(), "memory://bench");
    (lake, memory)
}

/// Deletes the data files (not the ledger) so a long benchmark does not hold every batch's
/// Parquet in memory; a Lambda keeps none of it either.
pub async fn drop_data_files(store: &InMemory) {
    for table in ["events", "duplicates", "quarantine"] {
        let prefix = Path::from(table);
        let paths = store.list(Some(&prefix)).map_ok(|meta| meta.location).boxed();
        store
            .delete_stream(paths)
            .try_collect::<Vec<_>>()
            .await
            .expect("delete data files");
    }
}

/// Percentile (0..=100) of sorted values, nearest rank.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `json` read as the Lambda runtime reads an invocation's payload (lambda_runtime 1.x:
/// serde_json through `serde_path_to_error`, so that an error names its field).
pub fn read_as_the_runtime<T: serde::de::DeserializeOwned>(json: &[u8]) -> T {
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(json))
        .expect("a Kinesis event")
}
