//! Shared by the query tests: a reproducible lake (seeded batch ids, arrival times derived
//! from the input) and a reader that turns every table's rows into comparable text.
#![allow(dead_code)]

/// moto's server on a free loopback port: the ingest tests' harness, shared rather than copied.
#[path = "../../../../ingest/tests/it/common/moto.rs"]
pub mod moto;

use futures::TryStreamExt;
use ingest::batch::{BatchProcessor, ProcessorConfig};
use ingest::generate::{GenerateConfig, generate};
use ingest::source::{SequenceNumber, SourceId, SourceRecord};
use ingest::storage::Lake;
use object_store::ObjectStoreExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use schemas::Registry;
use std::collections::BTreeMap;
use std::sync::OnceLock;

pub const NOW: i64 = 1_795_000_000_000;

pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry::embedded().expect("shipped registry"))
}

/// Generated records with stable sources; each arrives 0 to 10 minutes after its
/// `created_at`, a re-send later than its original.
pub fn records(count: u64, seed: u64) -> Vec<SourceRecord> {
    let mut bytes = Vec::new();
    let config = GenerateConfig {
        records: count,
        seed,
        invalid_rate: 0.01,
        ..GenerateConfig::default()
    };
    generate(registry(), config, &mut bytes).expect("generate");
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, line)| {
            let created = serde_json::from_slice::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("created_at").and_then(serde_json::Value::as_i64))
                .unwrap_or(1_790_000_000);
            let lag_seconds = (i as i64 * 7919) % 600;
            SourceRecord {
                source: SourceId::new("shardId-000000000000", SequenceNumber::from_u64(i as u64 + 1)),
                arrival_micros: (created + lag_seconds) * 1_000_000 + i as i64,
                data: bytes::Bytes::copy_from_slice(line),
            }
        })
        .collect()
}

/// Writes `records` in batches of `batch` with a seeded processor: the same lake every time.
pub async fn build_lake(lake: &Lake, records: &[SourceRecord], batch: usize) -> BatchProcessor {
    let config = ProcessorConfig {
        buckets: 4,
        ..ProcessorConfig::default()
    };
    let mut processor = BatchProcessor::open(lake.clone(), registry(), "golden", config)
        .await
        .expect("processor")
        .with_seed(7);
    for (i, chunk) in records.chunks(batch).enumerate() {
        let report = processor.process(chunk, NOW + i as i64).await.expect("batch");
        assert_eq!(report.counts().failed, 0);
    }
    processor
}

/// Every row of every table, as text, per partition directory (sorted: a multiset).
pub async fn rows_by_partition(lake: &Lake) -> BTreeMap<String, Vec<String>> {
    let objects: Vec<_> = lake
        .store
        .list(Some(&lake.root))
        .try_collect()
        .await
        .expect("list");
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for meta in objects {
        let relative = lake.relative(&meta.location).to_owned();
        if relative.starts_with("_ledger") || !relative.ends_with(".parquet") {
            continue;
        }
        let dir = relative
            .rsplit_once('/')
            .map(|(d, _)| d.to_owned())
            .unwrap_or_default();
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
            for row in 0..batch.num_rows() {
                let text: Vec<String> = (0..batch.num_columns())
                    .map(|c| {
                        arrow::util::display::array_value_to_string(batch.column(c), row).expect("display")
                    })
                    .collect();
                out.entry(dir.clone()).or_default().push(text.join("|"));
            }
        }
    }
    for rows in out.values_mut() {
        rows.sort();
    }
    out
}

/// Data files per table prefix (not the ledger).
pub async fn data_files(lake: &Lake) -> usize {
    let objects: Vec<_> = lake
        .store
        .list(Some(&lake.root))
        .try_collect()
        .await
        .expect("list");
    objects
        .iter()
        .filter(|m| {
            let r = lake.relative(&m.location);
            !r.starts_with("_ledger") && r.ends_with(".parquet")
        })
        .count()
}

/// A copy of a lake in a new in-memory store.
pub async fn copy_lake(lake: &Lake) -> Lake {
    let store = std::sync::Arc::new(object_store::memory::InMemory::new());
    let objects: Vec<_> = lake.store.list(None).try_collect().await.expect("list");
    for meta in objects {
        let bytes = lake
            .store
            .get(&meta.location)
            .await
            .expect("get")
            .bytes()
            .await
            .expect("bytes");
        store.put(&meta.location, bytes.into()).await.expect("put");
    }
    Lake::new(store, lake.root.clone(), "memory://copy")
}
