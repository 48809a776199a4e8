//! Lambda-shaped figures for `bench/run.py`, in-process against an in-memory store (no
//! network), each printed as one JSON object:
//!
//! - `latency`: a warm container (a processor whose ledger holds `--warm-uuids` uuids of the
//!   day, loaded by a first, cold invocation) handles `--batches` Kinesis events of
//!   `--batch-size` records each: the event's JSON (base64 data, as the runtime receives it)
//!   is read into a `KinesisBatch` as the Lambda runtime reads it (serde_json through
//!   `serde_path_to_error`), then `handle_kinesis_event` runs. Every event has new uuids and
//!   sequence numbers. Reports p50/p99/max milliseconds of each step and of both, and apart the
//!   batches that also wrote chain checkpoints (each chain's every 50th commit). Also times
//!   a cold reading of the day's chains through a store where every request waits 20 ms:
//!   one chain after another, then as a batch reads them (`Ledger::prefetch`).
//! - `requests`: for each of `--sizes`, a warm processor over a request-counting store
//!   (`ingest::testing::FaultStore`) handles `--batches` batches of that size, holding the
//!   records of one shard of `--shards` (a shard's uuids fall into a run of ledger buckets,
//!   so it touches fewer chains than the whole stream); reports the
//!   store requests per batch by kind (what S3 would bill), files and ledger commits per
//!   batch and the in-process time, then the requests of a cold container's first batch.
//!
//! Data files are deleted between batches (uncounted, untimed): a Lambda keeps none either.
//!
//! Run: `cargo run --release -p ingest --example lambda_probe -- latency --batches 100`
//! or `... -- requests --sizes 100,1000,10000` (`--buckets 16`: a lake with fewer ledger chains).

#[path = "../benches/support/mod.rs"]
mod support;

use clap::{Parser, Subcommand};
use ingest::batch::{BatchProcessor, ProcessorConfig};
use ingest::kinesis::lambda_event::KinesisBatch;
use ingest::lambda::handle_kinesis_event;
use ingest::ledger::chain::ChainKey;
use ingest::ledger::{DEFAULT_BUCKETS, Ledger};
use ingest::run::now_millis;
use ingest::storage::Lake;
use ingest::testing::{FaultStore, RequestKind};
use object_store::memory::InMemory;
use object_store::path::Path;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{memory_lake, registry};

#[derive(Debug, Parser)]
#[command(about = "Lambda-shaped latency and request-count probes (in memory)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Milliseconds to handle one Kinesis event, warm, over many events
    Latency {
        #[arg(long, default_value_t = 100)]
        batches: usize,
        #[arg(long, default_value_t = 10_000)]
        batch_size: usize,
        #[arg(long, default_value_t = 1_000_000)]
        warm_uuids: u64,
    },
    /// Store requests per batch by kind, for several batch sizes
    Requests {
        #[arg(long, value_delimiter = ',', default_value = "100,1000,10000")]
        sizes: Vec<usize>,
        #[arg(long, default_value_t = 50)]
        batches: usize,
        #[arg(long, default_value_t = 1_000_000)]
        warm_uuids: u64,
        /// Batches hold one shard's records: the first of this many hash-key ranges
        #[arg(long, default_value_t = 1)]
        shards: u32,
        /// Ledger buckets of the lake (`--ledger-buckets`). With other than the default 64 the
        /// lake starts empty (the warm ledger is laid out in 64 buckets); a warm batch's
        /// requests do not depend on how many uuids its chains already hold.
        #[arg(long, default_value_t = DEFAULT_BUCKETS)]
        buckets: u32,
    },
}

fn main() {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let report = match cli.command {
        Command::Latency {
            batches,
            batch_size,
            warm_uuids,
        } => runtime.block_on(latency(batches, batch_size, warm_uuids)),
        Command::Requests {
            sizes,
            batches,
            warm_uuids,
            shards,
            buckets,
        } => runtime.block_on(requests(&sizes, batches, warm_uuids, shards, buckets)),
    };
    println!("{report}");
}

fn millis(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1e3
}

fn summary(mut values: Vec<f64>) -> Value {
    values.sort_by(f64::total_cmp);
    let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
    json!({
        "p50": support::percentile(&values, 50.0),
        "p99": support::percentile(&values, 99.0),
        "max": values.last().copied().unwrap_or(f64::NAN),
        "mean": mean,
        "n": values.len(),
    })
}

async fn latency(batches: usize, batch_size: usize, warm_uuids: u64) -> Value {
    let (lake, memory) = memory_lake();
    let started = Instant::now();
    let warm = support::warm_ledger(warm_uuids);
    warm.store(&lake).await;
    let warm_ms = millis(started);
    let chains: Vec<ChainKey> = warm.states.keys().copied().collect();
    let sequential_load_ms = load_chains_ms(&memory, &chains, 1).await;
    let concurrent_load_ms = load_chains_ms(&memory, &chains, ProcessorConfig::default().chain_reads).await;
    let mut processor = BatchProcessor::open(lake, registry(), "probe", ProcessorConfig::default())
        .await
        .expect("open the processor");
    let shard = "shardId-000000000000";
    let event_json = |seed: u64| {
        let lines = support::lines(batch_size, seed);
        let event = support::kinesis_event(&lines, shard, seed * batch_size as u64, support::START);
        serde_json::to_vec(&event).expect("event JSON")
    };

    let first = event_json(1);
    let started = Instant::now();
    let event: KinesisBatch = support::read_as_the_runtime(&first);
    handle_kinesis_event(&mut processor, &event, now_millis())
        .await
        .expect("first invocation");
    let cold_ms = millis(started);
    support::drop_data_files(&memory).await;

    let (mut parse, mut handle, mut total, mut sizes) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Batches that also wrote chain checkpoints (every 50th commit of a chain), apart.
    let (mut plain, mut checkpointing, mut checkpoints) = (Vec::new(), Vec::new(), 0);
    for i in 0..batches {
        let json = event_json(2 + i as u64);
        sizes.push(json.len() as f64);
        let checkpoints_before = processor.ledger().stats.checkpoints;
        let started = Instant::now();
        let event: KinesisBatch = support::read_as_the_runtime(&json);
        let parsed_at = Instant::now();
        let invocation = handle_kinesis_event(&mut processor, &event, now_millis())
            .await
            .expect("invocation");
        let done = Instant::now();
        assert!(
            invocation.response.batch_item_failures.is_empty(),
            "every record lands"
        );
        parse.push((parsed_at - started).as_secs_f64() * 1e3);
        handle.push((done - parsed_at).as_secs_f64() * 1e3);
        let written = processor.ledger().stats.checkpoints - checkpoints_before;
        checkpoints += written;
        if written == 0 {
            plain.push((done - parsed_at).as_secs_f64() * 1e3);
        } else {
            checkpointing.push((done - parsed_at).as_secs_f64() * 1e3);
        }
        total.push((done - started).as_secs_f64() * 1e3);
        support::drop_data_files(&memory).await;
    }
    let (uuids, state_bytes) = processor.ledger().memory();
    json!({
        "batch_size": batch_size,
        "batches": batches,
        "warm_uuids": warm_uuids,
        "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "event_json_bytes_mean": sizes.iter().sum::<f64>() / sizes.len().max(1) as f64,
        "build_warm_ledger_ms": warm_ms,
        "cold_first_invocation_ms": cold_ms,
        "request_latency_ms": LOAD_LATENCY_MS,
        "cold_chains": chains.len(),
        "cold_load_chains_sequential_ms": sequential_load_ms,
        "cold_load_chains_concurrent_ms": concurrent_load_ms,
        "cold_load_chain_reads": ProcessorConfig::default().chain_reads,
        "parse_event_ms": summary(parse),
        "handle_ms": summary(handle),
        "handle_ms_without_checkpoints": summary(plain),
        "handle_ms_with_checkpoints": summary(checkpointing),
        "checkpoints_written": checkpoints,
        "total_ms": summary(total),
        "ledger_uuids_after": uuids,
        "ledger_state_mib_after": state_bytes as f64 / 1048576.0,
    })
}

/// The round trip assumed for each request when timing cold chain loads.
const LOAD_LATENCY_MS: u64 = 20;

/// A cold container reading the day's chains (LIST, then the checkpoint) where every
/// request takes [`LOAD_LATENCY_MS`], as S3 can: `parallelism` chains at a time.
async fn load_chains_ms(memory: &Arc<InMemory>, chains: &[ChainKey], parallelism: usize) -> f64 {
    let store = FaultStore::new(memory.clone()).with_latency(Duration::from_millis(LOAD_LATENCY_MS));
    let lake = Lake::new(Arc::new(store), Path::default(), "memory://cold-load");
    let mut ledger = Ledger::open(lake, "probe-load", DEFAULT_BUCKETS)
        .await
        .expect("open the ledger");
    let started = Instant::now();
    ledger
        .prefetch(chains, parallelism)
        .await
        .expect("load the chains");
    millis(started)
}

fn by_kind(counts: &BTreeMap<RequestKind, u64>, batches: usize) -> Value {
    let mut out = serde_json::Map::new();
    let mut total = 0;
    for (kind, n) in counts {
        total += n;
        let name = format!("{kind:?}").to_lowercase();
        out.insert(name, json!(*n as f64 / batches.max(1) as f64));
    }
    out.insert("total".into(), json!(total as f64 / batches.max(1) as f64));
    Value::Object(out)
}

async fn requests(sizes: &[usize], batches: usize, warm_uuids: u64, shards: u32, buckets: u32) -> Value {
    let warm_uuids = if buckets == DEFAULT_BUCKETS { warm_uuids } else { 0 };
    let warm = support::warm_ledger(warm_uuids);
    let config = || ProcessorConfig {
        buckets,
        ..ProcessorConfig::default()
    };
    let mut seed = 10_000;
    let mut results = Vec::new();
    for &size in sizes {
        let (plain, memory) = memory_lake();
        warm.store(&plain).await;
        let counted = FaultStore::new(memory.clone());
        let lake = Lake::new(Arc::new(counted.clone()), Path::default(), "memory://counted");
        let mut processor = BatchProcessor::open(lake, registry(), "probe", config())
            .await
            .expect("open the processor");
        let shard = "shardId-000000000000";
        let mut batch = |n: usize| {
            seed += 1;
            let lines = support::shard_lines(n, seed, shards);
            support::source_records(&lines, shard, seed * 10_000, support::START * 1_000_000)
        };
        // A container that has been running: every chain of the day is in its cache.
        processor
            .process(&batch(10_000), now_millis())
            .await
            .expect("warm-up batch");
        support::drop_data_files(&memory).await;
        counted.reset_counts();
        let stats_before = processor.ledger().stats;
        let (mut files, mut times, mut written) = (0usize, Vec::new(), 0u64);
        for _ in 0..batches {
            let records = batch(size);
            let started = Instant::now();
            let report = processor.process(&records, now_millis()).await.expect("batch");
            times.push(millis(started));
            files += report.files.len();
            written += report.counts().written;
            support::drop_data_files(&memory).await;
        }
        let warm_counts = counted.counts();
        let stats = processor.ledger().stats;
        let per_batch = |n: u64| n as f64 / batches.max(1) as f64;

        // A new container on the same lake: it lists and reads each chain it touches.
        let cold_store = FaultStore::new(memory.clone());
        let cold_lake = Lake::new(Arc::new(cold_store.clone()), Path::default(), "memory://cold");
        let mut cold = BatchProcessor::open(cold_lake, registry(), "probe-cold", config())
            .await
            .expect("open the cold processor");
        cold_store.reset_counts();
        let records = batch(size);
        let started = Instant::now();
        cold.process(&records, now_millis()).await.expect("cold batch");
        let cold_ms = millis(started);
        support::drop_data_files(&memory).await;

        results.push(json!({
            "batch_size": size,
            "batches": batches,
            "warm": by_kind(&warm_counts, batches),
            "files_per_batch": files as f64 / batches.max(1) as f64,
            "ledger_commits_per_batch": per_batch(stats.commits - stats_before.commits),
            "checkpoints_per_batch": per_batch(stats.checkpoints - stats_before.checkpoints),
            "written_per_batch": per_batch(written),
            "ms_per_batch": summary(times),
            "cold": by_kind(&cold_store.counts(), 1),
            "cold_ms": cold_ms,
            "cold_bytes_read": cold.ledger().stats.cold_load_bytes,
        }));
    }
    json!({ "warm_uuids": warm_uuids, "shards": shards, "buckets": buckets, "results": results })
}
