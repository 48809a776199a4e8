//! The ledger's warm cache is bounded by what a writer still writes, not by all it has seen:
//! chains idle for longer than the cache policy are dropped, so are the least recently used
//! ones while the cache is over its byte budget, and dropping one is only a cache miss. A re-send of an evicted day's event is still a duplicate and a replay of an
//! evicted day's batch still a retry, because the chain is read back from the store.

use crate::common;

use common::registry;
use ingest::batch::{BatchProcessor, Counts, ProcessorConfig};
use ingest::ledger::policy::CachePolicy;
use ingest::source::{SequenceNumber, SourceId, SourceRecord};
use ingest::storage::{Lake, StoreOptions};

const DAY: i64 = 86_400;
const START: i64 = 1_793_491_200; // 2026-11-01T00:00:00Z
const PER_DAY: u64 = 300;

fn day_records(day: i64, shard: &str, first_sequence: u64) -> Vec<SourceRecord> {
    (0..PER_DAY)
        .map(|i| {
            let line = format!(
                r#"{{"event_uuid":"day{day}-{i}","event_name":"app:opened","created_at":{}}}"#,
                START + day * DAY + i as i64
            );
            SourceRecord {
                source: SourceId::new(shard, SequenceNumber::from_u64(first_sequence + i)),
                arrival_micros: 0,
                data: bytes::Bytes::from(line),
            }
        })
        .collect()
}

async fn process(processor: &mut BatchProcessor, records: &[SourceRecord], total: &mut Counts) -> Counts {
    let report = processor
        .process(records, 1_800_000_000_000)
        .await
        .expect("batch");
    let counts = report.counts();
    total.add(&counts);
    counts
}

#[tokio::test]
async fn idle_days_leave_the_cache_and_still_deduplicate_when_they_come_back() {
    let lake = Lake::open("memory://", &StoreOptions::default()).expect("lake");
    let config = ProcessorConfig {
        cache: CachePolicy {
            idle_batches: 1,
            ..CachePolicy::default()
        },
        ..ProcessorConfig::default()
    };
    let mut processor = BatchProcessor::open(lake, registry(), "cache-test", config)
        .await
        .expect("open");
    let mut total = Counts::default();
    let days: Vec<Vec<SourceRecord>> = (0..5)
        .map(|day| day_records(day, "shard-a", day as u64 * PER_DAY + 1))
        .collect();
    for batch in &days {
        let counts = process(&mut processor, batch, &mut total).await;
        assert_eq!(counts.written, PER_DAY);
    }
    let (cached_uuids, _) = processor.ledger().memory();
    assert!(
        cached_uuids <= 2 * PER_DAY as usize,
        "only the last two days stay warm, not all five: {cached_uuids} uuids cached"
    );
    assert!(processor.ledger().stats.evictions > 0, "idle chains were dropped");

    let cold_loads = processor.ledger().stats.cold_loads;
    let resent = day_records(0, "shard-b", 1);
    let counts = process(&mut processor, &resent, &mut total).await;
    assert_eq!(
        (counts.written, counts.duplicates),
        (0, PER_DAY),
        "day 0's events sent again from another shard are duplicates after eviction"
    );
    assert!(
        processor.ledger().stats.cold_loads > cold_loads,
        "day 0 was read back from the store"
    );

    let counts = process(&mut processor, &days[1], &mut total).await;
    assert_eq!(
        (counts.written, counts.duplicates, counts.already_committed),
        (PER_DAY, 0, PER_DAY),
        "day 1's batch replayed from the same sources is a retry after eviction: its rows are \
         the ones already in the lake"
    );

    assert_eq!(total.records_in, 7 * PER_DAY);
    assert_eq!(total.already_committed, PER_DAY);
    assert_eq!(
        total.records_in,
        total.written + total.duplicates + total.quarantined + total.failed
    );
}

/// Eight days, each batch holding the day's events and re-sends (from another shard) of a
/// few of every earlier day's, so no day ever goes idle.
async fn resends_to_every_past_day(cache: CachePolicy) -> (BatchProcessor, Counts) {
    const RESENT_PER_DAY: usize = 20;
    let lake = Lake::open("memory://", &StoreOptions::default()).expect("lake");
    let config = ProcessorConfig {
        cache,
        ..ProcessorConfig::default()
    };
    let mut processor = BatchProcessor::open(lake, registry(), "budget-test", config)
        .await
        .expect("open");
    let mut total = Counts::default();
    for day in 0..8 {
        let mut batch = day_records(day, "shard-a", day as u64 * PER_DAY + 1);
        for past in 0..day {
            let resent = day_records(past, "shard-b", (day * 1_000 + past) as u64 * PER_DAY + 1);
            batch.extend(resent.into_iter().step_by(PER_DAY as usize / RESENT_PER_DAY));
        }
        let counts = process(&mut processor, &batch, &mut total).await;
        assert_eq!(
            (counts.written, counts.duplicates),
            (PER_DAY, RESENT_PER_DAY as u64 * day as u64),
            "day {day}: every re-send of an earlier day is a duplicate, evicted or not"
        );
    }
    // An empty batch applies the policy and touches nothing.
    process(&mut processor, &[], &mut total).await;
    assert_eq!(total.written, 8 * PER_DAY);
    assert_eq!(
        total.records_in,
        total.written + total.duplicates + total.quarantined + total.failed
    );
    (processor, total)
}

#[tokio::test]
async fn a_byte_budget_bounds_the_cache_when_resends_keep_every_day_busy() {
    const BUDGET: u64 = 48 * 1024;
    let unbounded = CachePolicy {
        idle_batches: u64::MAX,
        max_bytes: u64::MAX,
    };
    let (control, _) = resends_to_every_past_day(unbounded).await;
    let (_, control_bytes) = control.ledger().memory();
    assert!(
        control_bytes as u64 > 2 * BUDGET,
        "the unbounded cache holds more than the budget ({control_bytes} bytes), or this test proves nothing"
    );
    assert_eq!(control.ledger().stats.evictions, 0);

    let budget = CachePolicy {
        max_bytes: BUDGET,
        ..unbounded
    };
    let (bounded, _) = resends_to_every_past_day(budget).await;
    let (cached_uuids, cached_bytes) = bounded.ledger().memory();
    assert!(
        cached_bytes as u64 <= BUDGET,
        "{cached_bytes} bytes cached against a {BUDGET}-byte budget"
    );
    assert!(cached_uuids > 0, "the budget keeps what fits, not nothing");
    assert!(bounded.ledger().stats.evictions > 0, "the budget dropped chains");
    assert!(
        bounded.ledger().stats.cold_loads > control.ledger().stats.cold_loads,
        "evicted chains were read back when re-sends reached them"
    );
}
