//! Randomised simulation of the dedup guarantee: per seed, 2-8 concurrent writers (one per
//! shard, as Kinesis assigns them) ingest producer duplicates spread over shards and far
//! apart, invalid records, and batches retried whole, bisected or from the lowest failure,
//! with transient errors and crashes injected at random requests. Writers interleave at
//! random request boundaries (deterministic per seed). The invariant must hold every time.
//!
//! `EVENTLAKE_SIM_SEEDS=N` runs N seeds (default 500); `EVENTLAKE_SIM_SEED=S` replays one.

use crate::common;

use common::*;
use ingest::batch::BatchProcessor;
use ingest::source::SourceRecord;
use ingest::storage::Lake;
use ingest::testing::{FaultPlan, FaultStore};
use object_store::ObjectStore;
use object_store::memory::InMemory;
use object_store::path::Path;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

const DAY1: i64 = 1_793_491_200;
const NAMES: [&str; 4] = [
    "account:created",
    "payment:order:completed",
    "cart:item:added",
    "heartbeat",
];

/// Per shard, the records a producer put there, in sequence order.
fn workload(rng: &mut ChaCha8Rng, shards: usize) -> Vec<Vec<SourceRecord>> {
    let mut per_shard: Vec<Vec<String>> = vec![Vec::new(); shards];
    let events = rng.random_range(10..60);
    for i in 0..events {
        let body = event_json(
            &format!("u{i}"),
            NAMES[rng.random_range(0..NAMES.len())],
            DAY1 + rng.random_range(0..2) * 86_400,
        );
        let copies = if rng.random_bool(0.3) {
            rng.random_range(2..=4)
        } else {
            1
        };
        for _ in 0..copies {
            per_shard[rng.random_range(0..shards)].push(body.clone());
        }
    }
    for i in 0..rng.random_range(0..6) {
        let bad = [
            "{oops",
            "[]",
            r#"{"event_uuid":"x","created_at":1793491200}"#,
            r#"{"event_uuid":"y","event_name":"a/b:c","created_at":1793491200}"#,
        ];
        per_shard[rng.random_range(0..shards)].push(format!("{} ", bad[i % bad.len()]).repeat(1 + i));
    }
    per_shard
        .into_iter()
        .enumerate()
        .map(|(shard, mut bodies)| {
            bodies.shuffle(rng);
            let mut seq = rng.random_range(1..1000u64);
            bodies
                .into_iter()
                .map(|b| {
                    seq += rng.random_range(1..50);
                    record(&format!("shardId-{shard:012}"), seq, b)
                })
                .collect()
        })
        .collect()
}

fn random_plan(rng: &mut ChaCha8Rng) -> FaultPlan {
    if !rng.random_bool(0.3) {
        return FaultPlan::None;
    }
    let k = rng.random_range(1..40);
    match rng.random_range(0..3) {
        0 => FaultPlan::FailAt(k),
        1 => FaultPlan::CrashBefore(k),
        _ => FaultPlan::CrashAfter(k),
    }
}

async fn writer(
    id: usize,
    inner: Arc<dyn ObjectStore>,
    records: Vec<SourceRecord>,
    seed: u64,
    clock: &Clock,
) -> Result<(), String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let store = FaultStore::new(inner);
    store.interleave(seed.wrapping_add(id as u64), 0.4);
    let lake = Lake::new(
        Arc::new(store.clone()),
        Path::default(),
        format!("memory://writer-{id}"),
    );
    let mut proc: BatchProcessor = processor(&lake, &format!("writer-{id}")).await;
    let mut rest = records.as_slice();
    while !rest.is_empty() {
        let n = rng.random_range(1..=rest.len().min(12));
        let (batch, tail) = rest.split_at(n);
        rest = tail;
        let mode = RETRY_MODES[rng.random_range(0..RETRY_MODES.len())];
        store.set_plan(random_plan(&mut rng));
        let store_for_retry = store.clone();
        let lake_for_retry = lake.clone();
        let mut on_error = async move |p: &mut BatchProcessor| {
            let crashed = store_for_retry.crashed();
            store_for_retry.set_plan(FaultPlan::None);
            if crashed {
                *p = processor(&lake_for_retry, "restarted").await;
            }
        };
        deliver(&mut proc, batch, mode, clock, &mut on_error)
            .await
            .map_err(|e| format!("writer {id}: {e}"))?;
        store.set_plan(FaultPlan::None);
    }
    Ok(())
}

async fn simulate(seed: u64) -> Result<(), String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let writers = rng.random_range(2..=8);
    let shards = workload(&mut rng, writers);
    let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let clock = Clock::new();
    let runs = shards
        .iter()
        .enumerate()
        .map(|(id, records)| writer(id, inner.clone(), records.clone(), seed, &clock));
    for result in futures::future::join_all(runs).await {
        result?;
    }
    let lake = Lake::new(inner, Path::default(), "memory://check");
    check_invariant(&shards.concat(), &read_lake(&lake).await)
}

fn seeds() -> Vec<u64> {
    if let Ok(seed) = std::env::var("EVENTLAKE_SIM_SEED") {
        return vec![seed.parse().expect("EVENTLAKE_SIM_SEED must be an integer")];
    }
    let n = std::env::var("EVENTLAKE_SIM_SEEDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(500);
    (0..n).collect()
}

#[tokio::test]
async fn concurrent_writers_with_faults_keep_exactly_once() {
    let seeds = seeds();
    for &seed in &seeds {
        if let Err(e) = simulate(seed).await {
            panic!(
                "seed {seed} broke the guarantee: {e}\nreplay: EVENTLAKE_SIM_SEED={seed} cargo test -p ingest --test it dedup_simulation::"
            );
        }
    }
    eprintln!("{} seeds held the invariant", seeds.len());
}
