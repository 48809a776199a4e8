//! Cost shape: the store requests of a batch grow with the partitions it touches, not with
//! its events. A warm writer puts 100 and then 10,000 new events into the same partitions;
//! both batches must cost the same number of requests (within a small constant).

use crate::common;

use common::{T0, event_json, record};
use ingest::batch::{BatchProcessor, ProcessorConfig};
use ingest::source::SourceRecord;
use ingest::storage::Lake;
use ingest::testing::FaultStore;
use object_store::memory::InMemory;
use object_store::path::Path;
use std::sync::Arc;

const DAY: i64 = 1_793_491_200;

fn batch(first: usize, n: usize) -> Vec<SourceRecord> {
    let names = ["account:created", "payment:order:completed"];
    (first..first + n)
        .map(|i| {
            record(
                "shard-0",
                i as u64 + 1,
                event_json(&format!("uuid-{i}"), names[i % 2], DAY + (i % 3600) as i64),
            )
        })
        .collect()
}

#[tokio::test]
async fn requests_grow_with_partitions_not_events() {
    let store = FaultStore::new(Arc::new(InMemory::new()));
    let lake = Lake::new(Arc::new(store.clone()), Path::default(), "memory://cost");
    let config = ProcessorConfig {
        buckets: 8,
        ..ProcessorConfig::default()
    };
    let mut p = BatchProcessor::open(lake, common::registry(), "cost", config)
        .await
        .expect("open");
    p.process(&batch(0, 1_000), T0).await.expect("warm-up");

    let mut costs = Vec::new();
    for (first, n) in [(10_000, 100), (20_000, 10_000)] {
        store.reset_counts();
        let report = p.process(&batch(first, n), T0).await.expect("batch");
        assert_eq!(report.counts().written, n as u64);
        costs.push((n, store.total(), store.counts()));
    }
    for (n, total, by_kind) in &costs {
        eprintln!("{n:>6} events: {total} requests {by_kind:?}");
    }
    let (small, large) = (costs[0].1, costs[1].1);
    // 8 ledger chains + 1 manifest + 2 event files, warm: nothing read.
    assert_eq!(small, 11, "100 events: {:?}", costs[0].2);
    assert!(
        large.abs_diff(small) <= 2,
        "10,000 events cost {large} requests, 100 cost {small}"
    );
}
