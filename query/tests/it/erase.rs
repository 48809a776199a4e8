//! `lakeq erase` removes every copy of the matching events and keeps them out: the rows are
//! gone from all three tables and from the manifests while every other row stays; a re-send
//! is counted and stores nothing; the original input again and a roll-forward write
//! nothing; a crash at any request followed by a rerun gives the same lake as a clean run.

use crate::common;

use common::{NOW, build_lake, copy_lake, records, registry, rows_by_partition};
use futures::TryStreamExt;
use ingest::batch::{BatchProcessor, ProcessorConfig, RecordOutcome};
use ingest::ledger::document::decode_manifest;
use ingest::ledger::policy::LeasePolicy;
use ingest::source::{SequenceNumber, SourceId, SourceRecord};
use ingest::storage::{Lake, StoreOptions};
use ingest::testing::{FaultPlan, FaultStore};
use object_store::ObjectStoreExt;
use query::LakeSession;
use query::erase::{EraseOptions, EraseSummary, audit, erase};
use std::collections::BTreeMap;
use std::sync::Arc;

fn options() -> EraseOptions {
    EraseOptions {
        takeover_millis: 0,
        lease: LeasePolicy { lease_millis: 1 },
        ..EraseOptions::default()
    }
}

async fn run(lake: &Lake, options: &EraseOptions) -> Result<EraseSummary, query::QueryError> {
    erase(lake, registry(), options, NOW + 1_000_000, &mut |_, _| {}).await
}

async fn strings(lake: &Lake, sql: &str) -> Vec<String> {
    let session = LakeSession::for_lake(lake.clone(), registry())
        .await
        .expect("session");
    let batches = session
        .ctx
        .sql(sql)
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
    let mut out = Vec::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            out.push(arrow::util::display::array_value_to_string(batch.column(0), row).expect("display"));
        }
    }
    out
}

/// Every row of every table that does not mention any of `needles`.
fn without(rows: &BTreeMap<String, Vec<String>>, needles: &[String]) -> BTreeMap<String, Vec<String>> {
    rows.iter()
        .map(|(dir, rows)| {
            let kept: Vec<String> = rows
                .iter()
                .filter(|r| !needles.iter().any(|n| r.contains(n.as_str())))
                .cloned()
                .collect();
            (dir.clone(), kept)
        })
        .filter(|(_, rows)| !rows.is_empty())
        .collect()
}

/// Raw bytes of every committed manifest record.
async fn manifest_records(lake: &Lake) -> Vec<Vec<u8>> {
    let prefix = lake.path("_ledger/batches");
    let objects: Vec<_> = lake.store.list(Some(&prefix)).try_collect().await.expect("list");
    let mut out = Vec::new();
    for meta in objects {
        let bytes = lake
            .store
            .get(&meta.location)
            .await
            .expect("get")
            .bytes()
            .await
            .expect("bytes");
        if let Ok(doc) = decode_manifest(&bytes, "m") {
            out.extend(doc.records.into_iter().map(|r| r.data.0));
        }
    }
    out
}

fn mentions(records: &[Vec<u8>], needle: &str) -> usize {
    records
        .iter()
        .filter(|r| memchr_find(r, needle.as_bytes()))
        .count()
}

fn memchr_find(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A uuid that has a row in `duplicates` (so it has at least two copies).
async fn duplicated_uuid(lake: &Lake) -> String {
    strings(
        lake,
        "SELECT event_uuid FROM duplicates ORDER BY event_uuid LIMIT 1",
    )
    .await
    .pop()
    .expect("the generated lake has duplicates")
}

async fn processor(lake: &Lake) -> BatchProcessor {
    let config = ProcessorConfig {
        buckets: 4,
        ..ProcessorConfig::default()
    };
    BatchProcessor::open(lake.clone(), registry(), "later", config)
        .await
        .expect("processor")
        .with_seed(99)
}

#[tokio::test]
async fn erasing_a_uuid_removes_every_copy_and_keeps_it_out() {
    let lake = Lake::open("memory://", &StoreOptions::default()).expect("lake");
    let input = records(1_500, 21);
    build_lake(&lake, &input, 250).await;
    let uuid = duplicated_uuid(&lake).await;
    let before = rows_by_partition(&lake).await;
    assert!(mentions(&manifest_records(&lake).await, &uuid) >= 2);

    let dry = run(
        &lake,
        &EraseOptions {
            uuids: vec![uuid.clone()],
            dry_run: true,
            ..options()
        },
    )
    .await
    .expect("dry run");
    assert_eq!(dry.uuids, 1);
    assert!(dry.rows(ingest::storage::TableKind::Events) == 1 && dry.manifest_records >= 2);
    assert_eq!(
        rows_by_partition(&lake).await,
        before,
        "a dry run changes nothing"
    );

    let summary = run(
        &lake,
        &EraseOptions {
            uuids: vec![uuid.clone()],
            reason: "ticket 17".into(),
            ..options()
        },
    )
    .await
    .expect("erase");
    assert_eq!(summary.files, dry.files, "the dry run planned what was done");
    assert_eq!(
        rows_by_partition(&lake).await,
        without(&before, std::slice::from_ref(&uuid)),
        "the erased rows are gone, every other row is unchanged"
    );
    assert_eq!(mentions(&manifest_records(&lake).await, &uuid), 0);

    // The original input again (a Kinesis replay: same sources) and a re-send of the event.
    let original = input
        .iter()
        .find(|r| memchr_find(&r.data, uuid.as_bytes()))
        .expect("the input has the uuid")
        .clone();
    let resend = SourceRecord {
        source: SourceId::new("shardId-000000000009", SequenceNumber::from_u64(1)),
        arrival_micros: original.arrival_micros + 1,
        data: original.data.clone(),
    };
    let mut later = processor(&lake).await;
    for (i, chunk) in input.chunks(250).enumerate() {
        let report = later
            .process(chunk, NOW + 2_000_000 + i as i64)
            .await
            .expect("replay");
        assert_eq!(report.counts().failed, 0);
    }
    let report = later
        .process(std::slice::from_ref(&resend), NOW + 3_000_000)
        .await
        .expect("re-send");
    assert_eq!(report.outcomes, [RecordOutcome::ErasedResend]);
    assert_eq!(report.counts().erased_resends, 1);
    // Delivered again (a retry), it is counted once.
    later.process(&[resend], NOW + 3_000_001).await.expect("again");
    assert_eq!(audit::erased_resends(&lake).await.expect("count"), 1);
    assert_eq!(
        rows_by_partition(&lake).await,
        without(&before, std::slice::from_ref(&uuid)),
        "nothing came back"
    );
    assert_eq!(mentions(&manifest_records(&lake).await, &uuid), 0);

    let entries = audit::list(&lake).await.expect("audit");
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(
        (entry.status.as_str(), entry.reason.as_str()),
        ("finished", "ticket 17")
    );
    assert_eq!(entry.uuids, 1);
    assert!(entry.events_rows == 1 && entry.duplicates_rows >= 1, "{entry:?}");
    assert_eq!(
        entry.predicate_sha256,
        audit::predicate_hash(None, std::slice::from_ref(&uuid))
    );
    let text = String::from_utf8(
        lake.store
            .get(&lake.path(&entry.key()))
            .await
            .expect("get")
            .bytes()
            .await
            .expect("bytes")
            .to_vec(),
    )
    .expect("utf-8");
    assert!(!text.contains(&uuid), "the audit entry holds no personal data");
}

#[tokio::test]
async fn erasing_by_a_declared_field_takes_its_events_and_quarantined_mentions() {
    let lake = Lake::open("memory://", &StoreOptions::default()).expect("lake");
    let mut input = records(1_200, 22);
    build_lake(&lake, &input, 300).await;
    let account = strings(
        &lake,
        "SELECT account_id FROM events WHERE account_id IS NOT NULL ORDER BY account_id LIMIT 1",
    )
    .await
    .pop()
    .expect("an account");
    let uuids = strings(
        &lake,
        &format!("SELECT event_uuid FROM events WHERE account_id = '{account}' ORDER BY 1"),
    )
    .await;
    // An invalid record that names the account lands in quarantine; the erasure takes it too.
    let invalid = SourceRecord {
        source: SourceId::new("shardId-000000000007", SequenceNumber::from_u64(5)),
        arrival_micros: input[0].arrival_micros,
        data: bytes::Bytes::from(format!(r#"{{"account_id":"{account}","broken":"#)),
    };
    input.push(invalid.clone());
    let mut later = processor(&lake).await;
    later.process(&[invalid], NOW + 5).await.expect("invalid record");
    let before = rows_by_partition(&lake).await;

    let summary = run(
        &lake,
        &EraseOptions {
            predicate: Some(format!("account_id = '{account}'")),
            ..options()
        },
    )
    .await
    .expect("erase");
    assert_eq!(summary.uuids as usize, uuids.len());
    assert_eq!(summary.rows(ingest::storage::TableKind::Quarantine), 1);
    let mut needles = uuids.clone();
    // Quarantine's raw bytes read back as hex.
    needles.push(hex::encode(&account));
    assert_eq!(rows_by_partition(&lake).await, without(&before, &needles));
    assert!(
        strings(
            &lake,
            &format!("SELECT event_uuid FROM events WHERE account_id = '{account}'")
        )
        .await
        .is_empty()
    );
}

#[tokio::test]
async fn a_mistyped_predicate_is_refused_and_an_empty_request_is_recorded() {
    let lake = Lake::open("memory://", &StoreOptions::default()).expect("lake");
    build_lake(&lake, &records(400, 23), 200).await;
    let before = rows_by_partition(&lake).await;
    let error = run(
        &lake,
        &EraseOptions {
            predicate: Some("true".into()),
            max_rows: 100,
            ..options()
        },
    )
    .await
    .expect_err("too many rows");
    assert!(error.to_string().contains("--max-rows"), "{error}");
    assert!(run(&lake, &options()).await.is_err(), "no predicate and no uuids");
    assert_eq!(rows_by_partition(&lake).await, before);
    assert!(audit::list(&lake).await.expect("audit").is_empty());

    // A request for an event the lake never had changes nothing, and is recorded.
    let nothing = run(
        &lake,
        &EraseOptions {
            uuids: vec!["00000000-0000-4000-8000-000000000000".into()],
            ..options()
        },
    )
    .await
    .expect("erase");
    assert!(nothing.files.is_empty() && nothing.chains_marked == 0);
    assert_eq!(rows_by_partition(&lake).await, before);
    let entries = audit::list(&lake).await.expect("audit");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].status, "finished");
}

// The crash points in two tests, crashes before a request and crashes after it, so the
// harness runs the halves on both cores. Each crash point copies the lake and erases twice, so
// the test's time grows with the square of the lake's files: 100 records in two batches give
// 27 partition directories and 107 requests (300 records gave 42 and 166, at 2.3 times the
// time); the run crashes before or after each of them.
#[tokio::test]
async fn a_crash_before_any_request_then_a_rerun_gives_the_clean_result() {
    crash_at_every_request_then_rerun(FaultPlan::CrashBefore).await;
}

#[tokio::test]
async fn a_crash_after_any_request_then_a_rerun_gives_the_clean_result() {
    crash_at_every_request_then_rerun(FaultPlan::CrashAfter).await;
}

async fn crash_at_every_request_then_rerun(crash_at: fn(u64) -> FaultPlan) {
    let original = Lake::open("memory://", &StoreOptions::default()).expect("lake");
    build_lake(&original, &records(100, 24), 50).await;
    // By a predicate, which a rerun must find again after a crash part way (the events are
    // rewritten last for that): a person with a re-sent event.
    let mut pair = strings(
        &original,
        "SELECT concat(e.user_id, ' ', e.event_uuid) FROM events e JOIN duplicates d \
         ON e.event_uuid = d.event_uuid WHERE e.user_id IS NOT NULL ORDER BY 1 LIMIT 1",
    )
    .await;
    let pair = pair.pop().expect("a re-sent event with a user_id");
    let (user, uuid) = pair.split_once(' ').expect("two words");
    let uuid = uuid.to_owned();
    let erase_it = EraseOptions {
        predicate: Some(format!("user_id = '{user}'")),
        ..options()
    };
    let clean = copy_lake(&original).await;
    let faults = Arc::new(FaultStore::new(clean.store.clone()));
    let counted = Lake::new(faults.clone(), clean.root.clone(), "memory://count");
    run(&counted, &erase_it).await.expect("clean run");
    let requests = faults.total();
    let expected = rows_by_partition(&clean).await;
    assert!(
        expected.values().flatten().all(|row| !row.contains(&uuid)),
        "the clean run erased the event and its copy"
    );
    assert!(requests > 10, "{requests} requests");
    assert!(expected.len() >= 20, "{} partition directories", expected.len());

    for plan in (1..=requests).map(crash_at) {
        let copy = copy_lake(&original).await;
        let faults = Arc::new(FaultStore::new(copy.store.clone()));
        faults.set_plan(plan);
        let crashing = Lake::new(faults.clone(), copy.root.clone(), "memory://crash");
        let _ = run(&crashing, &erase_it).await;
        run(&copy, &erase_it).await.expect("rerun");
        assert_eq!(rows_by_partition(&copy).await, expected, "{plan:?}");
        assert_eq!(mentions(&manifest_records(&copy).await, &uuid), 0, "{plan:?}");
        let journals: Vec<_> = copy
            .store
            .list(Some(&copy.path("_ledger/compactions")))
            .try_collect()
            .await
            .expect("list");
        assert!(journals.is_empty(), "{plan:?}: a journal was left");
    }
}
