//! The Lambda handler on recorded, real-shaped Kinesis events: what lands in the lake, what
//! the function answers in `batchItemFailures`, and how a retry from that answer completes
//! the batch exactly once.

use crate::common;

use aws_lambda_events::event::kinesis::KinesisEvent;
use common::{LEASE_MILLIS, T0, check_invariant, processor, read_lake, record};
use ingest::kinesis::lambda_event::KinesisBatch;
use ingest::lambda::handle_kinesis_event;
use ingest::storage::{Lake, StoreOptions};
use ingest::testing::{FaultPlan, FaultStore};
use object_store::memory::InMemory;
use std::sync::Arc;

fn fixture_text() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/kinesis_event.json"
    ))
    .expect("fixture")
}

/// The recorded event as the function reads it from the runtime.
fn fixture() -> KinesisBatch {
    serde_json::from_str(&fixture_text()).expect("a Kinesis event")
}

fn failures(response: &aws_lambda_events::event::streams::KinesisEventResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .filter_map(|f| f.item_identifier.clone())
        .collect()
}

#[tokio::test]
async fn a_recorded_event_lands_once_and_its_replay_adds_nothing() {
    let lake = Lake::open("memory://", &StoreOptions::default()).expect("lake");
    let mut processor = processor(&lake, "fn-a").await;
    let event = fixture();

    let first = handle_kinesis_event(&mut processor, &event, T0)
        .await
        .expect("invocation");
    assert!(failures(&first.response).is_empty());
    let m = &first.metrics;
    assert_eq!(
        (m.records_in, m.written, m.duplicates, m.quarantined, m.failed),
        (5, 2, 1, 2, 0)
    );
    assert!(m.files >= 3 && m.bytes > 0, "{m:?}");
    let json = serde_json::to_string(&first.response).expect("json");
    assert_eq!(json, r#"{"batchItemFailures":[]}"#);

    // The event source mapping may deliver the same batch again (timeout, redeploy).
    let again = handle_kinesis_event(&mut processor, &event, T0 + 1000)
        .await
        .expect("replay");
    assert!(failures(&again.response).is_empty());
    assert_eq!(again.metrics.files, 0, "a replay writes nothing");
    assert_eq!((again.metrics.written, again.metrics.duplicates), (2, 1));

    let rows = read_lake(&lake).await;
    assert_eq!(
        (rows.events.len(), rows.duplicates.len(), rows.quarantine.len()),
        (2, 1, 2)
    );
    let records = event.records().expect("records");
    assert_eq!(&*records[0].source.shard_id, "shardId-000000000002");
    check_invariant(records, &rows).expect("exactly once");
}

/// A record blocked behind another batch's unfinished claim fails alone: the answer names
/// it (the lowest failed sequence number), the records around it are written, and the retry
/// from there, once the other claim's lease has run out, completes the shard.
#[tokio::test]
async fn a_failure_mid_batch_is_answered_with_the_lowest_failed_sequence_number() {
    let memory: Arc<dyn object_store::ObjectStore> = Arc::new(InMemory::new());
    let faults = Arc::new(FaultStore::new(Arc::clone(&memory)));
    let faulty_lake = Lake::new(
        faults.clone(),
        object_store::path::Path::default(),
        "memory://faulty",
    );
    let lake = Lake::new(memory, object_store::path::Path::default(), "memory://");

    // Another shard's batch claims the order event, then its function dies before the
    // batch manifest (the commit point): the claim is in flight until its lease runs out.
    let uuid = "7b0c6a1e-3f7d-4c2a-9e61-2d5f0b8a9c01";
    let other = vec![record(
        "shardId-000000000007",
        11,
        common::event_json(uuid, "payment:order:completed", 1_732_406_400),
    )];
    let requests = requests_to_write(&other).await;
    let mut crashed = processor(&faulty_lake, "fn-crashed").await;
    faults.reset_counts();
    faults.set_plan(FaultPlan::CrashBefore(requests - 1));
    assert!(
        crashed.process(&other, T0).await.is_err(),
        "the crash must land before the manifest"
    );

    let event = fixture();
    let records = event.records().expect("records").to_vec();
    let mut live = processor(&lake, "fn-live").await;
    let first = handle_kinesis_event(&mut live, &event, T0 + 1000)
        .await
        .expect("invocation");
    // Records 0 and 2 carry the claimed uuid; record 0 is the lowest that cannot proceed.
    assert_eq!(failures(&first.response), [records[0].source.sequence.as_str()]);
    assert_eq!(first.metrics.failed, 2);
    assert_eq!((first.metrics.written, first.metrics.quarantined), (1, 2));

    // The mapping retries from the failed sequence number (here the first record, so the
    // whole batch); the lease has run out by now.
    let retry = event.clone();
    let second = handle_kinesis_event(&mut live, &retry, T0 + 1000 + LEASE_MILLIS)
        .await
        .expect("retry");
    assert!(failures(&second.response).is_empty(), "{:?}", second.response);
    assert_eq!((second.metrics.written, second.metrics.duplicates), (2, 1));

    // The crashed batch is retried too, and its copy is now a duplicate.
    let mut restarted = processor(&lake, "fn-crashed-2").await;
    let report = restarted
        .process(&other, T0 + 2000 + LEASE_MILLIS)
        .await
        .expect("retry of the crashed batch");
    assert_eq!(report.counts().duplicates, 1);

    let rows = read_lake(&lake).await;
    let mut all = records.clone();
    all.extend(other);
    check_invariant(&all, &rows).expect("exactly once");
    assert_eq!((rows.events.len(), rows.duplicates.len()), (2, 2));
}

/// Requests the processor makes for `batch` on a fresh lake: the last one writes the single
/// data file, the one before it the batch manifest.
async fn requests_to_write(batch: &[ingest::source::SourceRecord]) -> u64 {
    let faults = Arc::new(FaultStore::new(Arc::new(InMemory::new())));
    let lake = Lake::new(
        faults.clone(),
        object_store::path::Path::default(),
        "memory://count",
    );
    let mut processor = processor(&lake, "counter").await;
    faults.reset_counts();
    let report = processor.process(batch, T0).await.expect("clean run");
    assert_eq!(report.files.len(), 1);
    faults.total()
}

#[tokio::test]
async fn a_malformed_event_fails_the_invocation() {
    let lake = Lake::open("memory://", &StoreOptions::default()).expect("lake");
    let mut processor = processor(&lake, "fn-b").await;
    let mut event: KinesisEvent = serde_json::from_str(&fixture_text()).expect("a Kinesis event");
    event.records[1].event_id = None;
    let event = KinesisBatch::from_event(&event).expect("read as the runtime reads it");
    let err = handle_kinesis_event(&mut processor, &event, T0)
        .await
        .expect_err("no eventID");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("record 1"), "{err}");
    let no_records = KinesisBatch::from_event(&KinesisEvent::default()).expect("an empty event");
    let empty = handle_kinesis_event(&mut processor, &no_records, T0)
        .await
        .expect("empty");
    assert!(failures(&empty.response).is_empty());
}
