//! Crash at every step: a batch touching several partitions, with in-batch and cross-batch
//! duplicates and invalid records, is cut off at request k for every k, then retried the way
//! Lambda retries (whole, bisected, from the lowest failed sequence number). Afterwards the
//! lake must hold exactly one events row per uuid, every re-send once in duplicates and every
//! invalid record once in quarantine.

use crate::common;

use common::moto::Moto;
use common::*;
use ingest::source::SourceRecord;
use ingest::storage::Lake;
use ingest::testing::{FaultPlan, FaultStore};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

const DAY1: i64 = 1_793_491_200; // 2026-11-01
const DAY2: i64 = DAY1 + 86_400;

/// Batch A (already in the lake) and batch B (the one that crashes).
fn scenario() -> (Vec<SourceRecord>, Vec<SourceRecord>) {
    let names = [
        "account:created",
        "payment:order:completed",
        "lesson:completed",
        "heartbeat",
    ];
    let a: Vec<_> = (1..=6)
        .map(|i| {
            record(
                "shard-a",
                i,
                event_json(
                    &format!("e{i}"),
                    names[i as usize % 3],
                    if i % 2 == 0 { DAY1 } else { DAY2 },
                ),
            )
        })
        .collect();
    let mut b = Vec::new();
    let mut seq = 100u64;
    let mut push = |data: String| {
        seq += 7;
        b.push(record("shard-b", seq, data));
    };
    for i in 7..=14 {
        push(event_json(
            &format!("e{i}"),
            names[i % 4],
            if i % 2 == 0 { DAY1 } else { DAY2 + 60 },
        ));
    }
    push(event_json("e7", names[7 % 4], DAY2 + 60)); // in-batch duplicate
    push(event_json("e2", names[2], DAY1)); // cross-batch duplicate of A
    push("{not json".into());
    push(event_json("e5", names[5 % 3], DAY2)); // cross-batch duplicate of A
    push(r#"{"event_name":"account:created","created_at":1793491200}"#.into());
    push(event_json("e15", "../../x:y", DAY1));
    push(event_json("e9", names[9 % 4], DAY2 + 60)); // in-batch duplicate
    (a, b)
}

static S3_RUN: AtomicUsize = AtomicUsize::new(0);

/// Where a test's lake lives.
#[derive(Clone, Copy)]
enum Backend<'a> {
    Memory,
    Local,
    S3(&'a Moto),
}

impl std::fmt::Debug for Backend<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Memory => "in-memory store",
            Backend::Local => "local filesystem",
            Backend::S3(_) => "S3 (moto on loopback)",
        })
    }
}

async fn fresh_lake(backend: Backend<'_>) -> (FaultStore, Lake, Option<tempfile::TempDir>) {
    let (inner, dir): (Arc<dyn ObjectStore>, _) = match backend {
        Backend::Memory => (Arc::new(InMemory::new()), None),
        Backend::S3(moto) => {
            let bucket = format!("crash-{}", S3_RUN.fetch_add(1, AtomicOrdering::SeqCst));
            moto.create_bucket(&bucket);
            (moto.lake(&bucket, "lake").store, None)
        }
        Backend::Local => {
            let dir = tempfile::tempdir().expect("tempdir");
            (
                Arc::new(LocalFileSystem::new_with_prefix(dir.path()).expect("local")),
                Some(dir),
            )
        }
    };
    let store = FaultStore::new(inner);
    let root = if matches!(backend, Backend::S3(_)) {
        Path::from("lake")
    } else {
        Path::default()
    };
    let lake = Lake::new(Arc::new(store.clone()), root, format!("{backend:?}"));
    (store, lake, dir)
}

/// Requests batch B makes on a clean run after A.
async fn requests_of_b(backend: Backend<'_>) -> u64 {
    let (store, lake, _dir) = fresh_lake(backend).await;
    let (a, b) = scenario();
    let clock = Clock::new();
    let mut p = processor(&lake, "setup").await;
    p.process(&a, clock.now()).await.expect("batch A");
    let mut p = processor(&lake, "probe").await;
    store.reset_counts();
    let report = p.process(&b, clock.now()).await.expect("batch B");
    assert!(all_succeeded(&report.outcomes));
    store.total()
}

async fn crash_and_recover(backend: Backend<'_>, plan: FaultPlan, mode: RetryMode) -> Result<(), String> {
    let (store, lake, _dir) = fresh_lake(backend).await;
    let (a, b) = scenario();
    let clock = Clock::new();
    let mut p = processor(&lake, "setup").await;
    p.process(&a, clock.now()).await.map_err(|e| e.to_string())?;
    // A cold writer (a new Lambda container) meets the crash.
    let mut p = processor(&lake, "victim").await;
    store.set_plan(plan);
    let first = p.process(&b, clock.now()).await;
    let warm = matches!(plan, FaultPlan::FailAt(_));
    store.set_plan(FaultPlan::None);
    if let Ok(report) = &first
        && all_succeeded(&report.outcomes)
        && !store.crashed()
    {
        return check_invariant(&[a.clone(), b.clone()].concat(), &read_lake(&lake).await);
    }
    clock.advance(LEASE_MILLIS / 2 + 1);
    // After a crash the retry runs in a new container; after a transient error, in the same.
    let mut retry = if warm { p } else { processor(&lake, "retry").await };
    let store_for_retry = store.clone();
    let lake_for_retry = lake.clone();
    let mut on_error = async move |proc: &mut ingest::batch::BatchProcessor| {
        store_for_retry.set_plan(FaultPlan::None);
        *proc = processor(&lake_for_retry, "retry-after-error").await;
    };
    deliver(&mut retry, &b, mode, &clock, &mut on_error).await?;
    check_invariant(&[a, b].concat(), &read_lake(&lake).await)
}

async fn crash_at_every_step(backend: Backend<'_>) {
    let total = requests_of_b(backend).await;
    assert!(
        total >= 10,
        "batch B should take a fair number of requests, took {total}"
    );
    let mut runs = 0;
    for k in 1..=total {
        for plan in [
            FaultPlan::CrashBefore(k),
            FaultPlan::CrashAfter(k),
            FaultPlan::FailAt(k),
        ] {
            // Over the network one retry mode per fault (rotating) keeps the run short; all
            // three run in memory and on the local filesystem.
            let rotate = (k as usize) % RETRY_MODES.len();
            let modes = if matches!(backend, Backend::S3(_)) {
                &RETRY_MODES[rotate..=rotate]
            } else {
                &RETRY_MODES[..]
            };
            for &mode in modes {
                crash_and_recover(backend, plan, mode).await.unwrap_or_else(|e| {
                    panic!("{backend:?}: {plan:?} then {mode:?} retries broke the guarantee: {e}")
                });
                runs += 1;
            }
        }
    }
    eprintln!("{backend:?}: {runs} crash/recovery runs over {total} request positions held the invariant");
}

#[tokio::test]
async fn crash_at_every_step_in_memory() {
    crash_at_every_step(Backend::Memory).await;
}

#[tokio::test]
async fn crash_at_every_step_on_the_local_filesystem() {
    crash_at_every_step(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_at_every_step_on_s3_moto() {
    let moto = Moto::start();
    crash_at_every_step(Backend::S3(&moto)).await;
}

#[tokio::test]
async fn a_clean_run_writes_the_expected_tables() {
    let (_store, lake, _dir) = fresh_lake(Backend::Memory).await;
    let (a, b) = scenario();
    let clock = Clock::new();
    let mut p = processor(&lake, "w").await;
    p.process(&a, clock.now()).await.expect("A");
    let report = p.process(&b, clock.now()).await.expect("B");
    let counts = report.counts();
    assert_eq!(
        (counts.written, counts.duplicates, counts.quarantined),
        (8, 4, 3),
        "{counts:?}"
    );
    let rows = read_lake(&lake).await;
    assert_eq!(rows.events.len(), 14);
    assert_eq!(rows.duplicates.len(), 4);
    assert_eq!(rows.quarantine.len(), 3);
    check_invariant(&[a, b].concat(), &rows).expect("invariant");
}
