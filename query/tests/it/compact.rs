//! Compaction keeps every row exactly once and the dedup ledger consistent: the row multiset
//! of each partition is the same before and after, files are fewer, a crash injected at every
//! request of a compaction followed by a rerun loses and doubles nothing, and a retry of an
//! already-ingested batch after compaction is still recognised (nothing rewritten).

use crate::common;

use common::{NOW, build_lake, copy_lake, data_files, records, registry, rows_by_partition};
use ingest::batch::{BatchProcessor, ProcessorConfig, RecordOutcome};
use ingest::storage::{Lake, StoreOptions};
use ingest::testing::{FaultPlan, FaultStore};
use query::compact::{CompactOptions, CompactSummary, compact};
use std::sync::Arc;

fn options() -> CompactOptions {
    CompactOptions {
        takeover_millis: 0,
        ..CompactOptions::default()
    }
}

async fn run(lake: &Lake, options: &CompactOptions) -> Result<CompactSummary, query::QueryError> {
    compact(lake, registry(), options, NOW, &mut |_, _| {}).await
}

#[tokio::test]
async fn compaction_keeps_every_row_and_reduces_files() {
    let lake = Lake::open("memory://", &StoreOptions::default()).expect("lake");
    build_lake(&lake, &records(3_000, 5), 300).await;
    let before = rows_by_partition(&lake).await;
    let files_before = data_files(&lake).await;

    let dry = run(
        &lake,
        &CompactOptions {
            dry_run: true,
            ..options()
        },
    )
    .await
    .expect("dry run");
    assert!(dry.partitions_compacted > 0);
    assert_eq!(data_files(&lake).await, files_before, "a dry run changes nothing");

    let summary = run(&lake, &options()).await.expect("compact");
    assert_eq!(summary.files_before, dry.files_before);
    assert_eq!(
        rows_by_partition(&lake).await,
        before,
        "row multisets per partition"
    );
    let files_after = data_files(&lake).await;
    assert!(files_after < files_before, "{files_after} < {files_before}");
    assert_eq!(
        files_before - files_after,
        (summary.files_before - summary.files_after) as usize
    );

    // Nothing left to do the second time.
    let again = run(&lake, &options()).await.expect("again");
    assert_eq!(again.partitions_compacted, 0);
}

#[tokio::test]
async fn filters_select_partitions() {
    let lake = Lake::open("memory://", &StoreOptions::default()).expect("lake");
    build_lake(&lake, &records(2_000, 6), 200).await;
    let only = CompactOptions {
        event_type: Some("account".into()),
        ..options()
    };
    let summary = run(&lake, &only).await.expect("compact");
    assert!(summary.partitions_compacted > 0);
    assert!(
        summary
            .partitions
            .iter()
            .all(|p| p.partition.contains("event_type=account/"))
    );
}

#[tokio::test]
async fn a_crash_at_any_request_then_a_rerun_loses_and_doubles_nothing() {
    let original = Lake::open("memory://", &StoreOptions::default()).expect("lake");
    build_lake(&original, &records(600, 8), 100).await;
    let one_type = CompactOptions {
        event_type: Some("account".into()),
        ..options()
    };
    let before = rows_by_partition(&original).await;
    let requests = {
        let copy = copy_lake(&original).await;
        let faults = Arc::new(FaultStore::new(copy.store.clone()));
        let lake = Lake::new(faults.clone(), copy.root.clone(), "memory://count");
        let summary = run(&lake, &one_type).await.expect("clean");
        assert!(summary.partitions_compacted >= 1);
        faults.total()
    };
    assert!(requests > 5, "{requests}");
    for k in 1..=requests {
        for plan in [FaultPlan::CrashBefore(k), FaultPlan::CrashAfter(k)] {
            let copy = copy_lake(&original).await;
            let faults = Arc::new(FaultStore::new(copy.store.clone()));
            faults.set_plan(plan);
            let crashing = Lake::new(faults.clone(), copy.root.clone(), "memory://crash");
            let _ = run(&crashing, &one_type).await;
            // Whatever the crash left, no row is missing.
            let after_crash = rows_by_partition(&copy).await;
            for (dir, rows) in &before {
                let seen = after_crash.get(dir).cloned().unwrap_or_default();
                assert!(
                    rows.iter().all(|r| seen.contains(r)),
                    "{plan:?}: rows of {dir} lost"
                );
            }
            // The rerun finishes or undoes it: the same rows, once, and no journal left.
            run(&copy, &one_type).await.expect("rerun");
            assert_eq!(
                rows_by_partition(&copy).await,
                before,
                "{plan:?}: rows differ after the rerun"
            );
            let stats = query::reports::stats::stats(&copy, 1).await.expect("stats");
            let unfinished = stats
                .section("compactions")
                .expect("section")
                .rows
                .column(0)
                .clone();
            assert_eq!(
                arrow::util::display::array_value_to_string(&unfinished, 0).expect("n"),
                "0"
            );
        }
    }
}

#[tokio::test]
async fn a_retry_after_compaction_is_still_recognised() {
    let lake = Lake::open("memory://", &StoreOptions::default()).expect("lake");
    let input = records(1_000, 9);
    build_lake(&lake, &input, 250).await;
    run(&lake, &options()).await.expect("compact");
    let compacted = rows_by_partition(&lake).await;

    // A cold writer (no cache) receives the first batch again, as a Lambda retry would.
    let mut cold = BatchProcessor::open(lake.clone(), registry(), "cold", ProcessorConfig::default())
        .await
        .expect("processor");
    let report = cold.process(&input[..250], NOW + 60_000).await.expect("retry");
    assert!(
        report
            .outcomes
            .iter()
            .all(|o| matches!(o, RecordOutcome::AlreadyCommitted(_)))
    );
    assert!(
        report.files.is_empty(),
        "nothing is written again: {:?}",
        report.files
    );
    assert_eq!(rows_by_partition(&lake).await, compacted);
}
