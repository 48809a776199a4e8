//! Criterion benches of the write path's hot steps, on generated events (100 event names, 5%
//! re-sends, 0.2% invalid):
//!
//! - `decode/record`: decode + validate + enrich one record (`ingest::decode::decode`);
//! - `encode/arrow_10k`: 10,000 decoded events -> one Arrow record batch (all types);
//! - `encode/parquet_10k`: that record batch -> Parquet bytes (zstd, page index, bloom filter);
//! - `encode/files_10k`: the processor's encode step for a 10,000-record batch: rows grouped
//!   by (table, event_type, date), one record batch and one Parquet file per partition;
//! - `ledger/classify_10k_warm_1m`: the per-record ledger lookups of a 10,000-record batch
//!   against chain states holding 1,000,000 uuids (the processor's `classify_chain` is
//!   private; its per-record work is MD5 of the uuid, the bucket, `ChainState::original` and
//!   `ChainState::other`, which are public; 5% of the batch are re-sends of warm uuids);
//! - `batch/process_10k_warm_1m`: `BatchProcessor::process` of 10,000 records with fresh
//!   uuids into an in-memory lake whose ledger holds 1,000,000 uuids (loaded once, warm);
//! - `lambda/deserialize_10k` and `lambda/handle_10k`: a 10,000-record Kinesis event
//!   (base64 JSON, as the Lambda runtime receives it) read into a `KinesisBatch` as the runtime
//!   reads it (through `serde_path_to_error`), then
//!   `handle_kinesis_event` on a warm processor over an in-memory lake;
//!   `lambda/deserialize_10k_library_model` reads the same event into `aws_lambda_events`'
//!   `KinesisEvent` instead, without copying the records out of it.
//!
//! Every `process`/`handle` iteration gets new records (new uuids from a new generator seed,
//! new sequence numbers) on the same warm processor, so it measures real claims and writes,
//! never replays; the data files of the previous iteration are deleted (untimed) to bound
//! memory. Run: `cargo bench -p ingest --bench hot_path`.

#[path = "support/mod.rs"]
mod support;

use aws_lambda_events::event::kinesis::KinesisEvent;
use criterion::measurement::WallTime;
use criterion::{
    BatchSize, BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use ingest::batch::files::{Row, encode_files};
use ingest::batch::{BatchProcessor, ProcessorConfig, Role};
use ingest::decode::decode_shared;
use ingest::encode::{EventRow, ParquetOptions, RowEncoder, encode_parquet_as};
use ingest::kinesis::lambda_event::KinesisBatch;
use ingest::lambda::handle_kinesis_event;
use ingest::ledger::DEFAULT_BUCKETS;
use ingest::ledger::chain::{ChainKey, ChainKind, bucket_of};
use ingest::storage::{BatchId, Lake};
use object_store::memory::InMemory;
use std::hint::black_box;
use std::time::{Duration, Instant};
use support::{memory_lake, registry};

const BATCH: usize = 10_000;
const WARM_UUIDS: u64 = 1_000_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn open_processor(rt: &tokio::runtime::Runtime, lake: &Lake, writer: &str) -> BatchProcessor {
    rt.block_on(BatchProcessor::open(
        lake.clone(),
        registry(),
        writer,
        ProcessorConfig::default(),
    ))
    .expect("open the processor")
}

/// A group for benches whose iteration is a whole 10,000-record batch (hundreds of ms).
fn whole_batch_group<'c>(c: &'c mut Criterion, name: &str) -> BenchmarkGroup<'c, WallTime> {
    let mut group = c.benchmark_group(name);
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(BATCH as u64));
    group
}

/// Sums the times `step` reports over `iters` batches; each batch's data files are deleted
/// afterwards, untimed, so memory stays bounded (the ledger is kept).
fn timed_batches(
    rt: &tokio::runtime::Runtime,
    memory: &InMemory,
    iters: u64,
    mut step: impl FnMut() -> Duration,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        total += step();
        rt.block_on(support::drop_data_files(memory));
    }
    total
}

fn decode_bench(c: &mut Criterion) {
    let lines = support::lines(1_000, 1);
    let bytes: usize = lines.iter().map(|l| l.len()).sum();
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.bench_function("record", |b| {
        b.iter(|| {
            for line in &lines {
                let _ = black_box(decode_shared(black_box(line)));
            }
        })
    });
    group.finish();
    eprintln!(
        "decode: {} lines, {:.0} bytes/line on average",
        lines.len(),
        bytes as f64 / lines.len() as f64
    );
}

fn encode_bench(c: &mut Criterion) {
    let lines = support::lines(BATCH, 2);
    let records = support::source_records(&lines, "shardId-000000000001", 1, support::START * 1_000_000);
    let decoded: Vec<_> = records.iter().map(|r| decode_shared(&r.data)).collect();
    let events: Vec<EventRow<'_>> = records
        .iter()
        .zip(&decoded)
        .filter_map(|(r, d)| {
            d.as_ref().ok().map(|event| EventRow {
                event,
                source: &r.source,
                arrival_micros: r.arrival_micros,
            })
        })
        .collect();
    let encoder = RowEncoder::new(registry()).expect("encoder");
    let options = ParquetOptions::default();
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("arrow_10k", |b| {
        b.iter(|| black_box(encoder.events(black_box(&events)).expect("record batch")))
    });
    let batch = encoder.events(&events).expect("record batch");
    group.bench_function("parquet_10k", |b| {
        b.iter(|| {
            black_box(
                encode_parquet_as(&encoder.files().events, black_box(&batch), options).expect("parquet"),
            )
        })
    });
    // What the processor encodes for a batch of new events: events rows for valid records,
    // quarantine rows for invalid ones (re-sends within the batch count as events here).
    let roles: Vec<Role> = decoded
        .iter()
        .map(|d| if d.is_ok() { Role::Event } else { Role::Quarantine })
        .collect();
    let rows: Vec<Row<'_>> = records
        .iter()
        .zip(&decoded)
        .zip(&roles)
        .map(|((r, d), role)| Row {
            source: &r.source,
            arrival_micros: r.arrival_micros,
            data: &r.data,
            decoded: d,
            role,
        })
        .collect();
    let batch_id = BatchId::new(support::WARM_COMMITTED_AT, 7);
    let files = encode_files(&encoder, &batch_id, &rows, options).expect("files");
    group.throughput(Throughput::Elements(rows.len() as u64));
    group.bench_function("files_10k", |b| {
        b.iter(|| black_box(encode_files(&encoder, &batch_id, black_box(&rows), options).expect("files")))
    });
    group.finish();
    eprintln!(
        "encode: {} events in one record batch ({} Parquet bytes); files_10k writes {} files, {} bytes",
        events.len(),
        encode_parquet_as(&encoder.files().events, &batch, options)
            .expect("parquet")
            .len(),
        files.len(),
        files.iter().map(|f| f.bytes.len()).sum::<usize>()
    );
}

fn classify_bench(c: &mut Criterion) {
    let warm = support::warm_ledger(WARM_UUIDS);
    let date = support::day();
    // 95% new uuids, 5% re-sends of warm ones, each from its own Kinesis position.
    let lines = support::lines(BATCH, 3);
    let records = support::source_records(&lines, "shardId-000000000002", 1, support::START * 1_000_000);
    let mut uuids: Vec<String> = records
        .iter()
        .map(|r| {
            decode_shared(&r.data)
                .map(|e| e.event_uuid().to_owned())
                .unwrap_or_default()
        })
        .collect();
    for (i, uuid) in uuids.iter_mut().enumerate().filter(|(i, _)| i % 20 == 0) {
        *uuid = support::warm_uuid(i as u64 * 97);
    }
    let mut group = c.benchmark_group("ledger");
    group.throughput(Throughput::Elements(records.len() as u64));
    group.bench_function("classify_10k_warm_1m", |b| {
        b.iter(|| {
            let mut hits = 0usize;
            for (record, uuid) in records.iter().zip(&uuids) {
                let hash = support::uuid_hash(uuid);
                let key = ChainKey {
                    kind: ChainKind::Events,
                    date,
                    bucket: bucket_of(hash, DEFAULT_BUCKETS),
                };
                let Some(state) = warm.states.get(&key) else {
                    continue;
                };
                let other = state.other(record.fingerprint());
                let original = state.original(hash);
                hits += usize::from(original.is_some()) + usize::from(other.is_some());
            }
            black_box(hits)
        })
    });
    group.finish();
    eprintln!(
        "ledger: {} uuids in {} chain states",
        warm.uuids(),
        warm.states.len()
    );
}

fn process_bench(c: &mut Criterion) {
    let rt = runtime();
    let (lake, memory) = memory_lake();
    rt.block_on(support::warm_ledger(WARM_UUIDS).store(&lake));
    let mut processor = open_processor(&rt, &lake, "bench");
    let mut seed = 1_000;
    let mut next_batch = || {
        seed += 1;
        let lines = support::lines(BATCH, seed);
        support::source_records(
            &lines,
            "shardId-000000000003",
            seed * BATCH as u64,
            support::START * 1_000_000,
        )
    };
    // The first batch loads every chain (LIST + checkpoint GET), as a cold Lambda would.
    let started = Instant::now();
    let first = rt
        .block_on(processor.process(&next_batch(), ingest::run::now_millis()))
        .expect("first batch");
    eprintln!(
        "process: first (cold) batch {:.0} ms, {} written; ledger cache {} uuids",
        started.elapsed().as_secs_f64() * 1e3,
        first.counts().written,
        processor.ledger().memory().0
    );
    let mut group = whole_batch_group(c, "batch");
    group.bench_function("process_10k_warm_1m", |b| {
        b.iter_custom(|iters| {
            timed_batches(&rt, &memory, iters, || {
                let records = next_batch();
                let started = Instant::now();
                let report = rt
                    .block_on(processor.process(&records, ingest::run::now_millis()))
                    .expect("process");
                let elapsed = started.elapsed();
                assert_eq!(report.counts().failed, 0);
                elapsed
            })
        })
    });
    group.finish();
}

fn lambda_bench(c: &mut Criterion) {
    let rt = runtime();
    let (lake, memory) = memory_lake();
    let mut processor = open_processor(&rt, &lake, "bench-lambda");
    let mut seed = 5_000;
    let mut next_event = || {
        seed += 1;
        let lines = support::lines(BATCH, seed);
        let event = support::kinesis_event(
            &lines,
            "shardId-000000000004",
            seed * BATCH as u64,
            support::START,
        );
        serde_json::to_vec(&event).expect("event JSON")
    };
    let warm_up: KinesisBatch = support::read_as_the_runtime(&next_event());
    rt.block_on(handle_kinesis_event(
        &mut processor,
        &warm_up,
        ingest::run::now_millis(),
    ))
    .expect("warm-up invocation");
    let sample = next_event();
    eprintln!(
        "lambda: a {BATCH}-record event is {:.1} MB of JSON (Lambda's invocation payload limit is 6 MB)",
        sample.len() as f64 / 1e6
    );
    let mut group = whole_batch_group(c, "lambda");
    group.bench_function("deserialize_10k", |b| {
        b.iter_batched_ref(
            || sample.clone(),
            |json| black_box(support::read_as_the_runtime::<KinesisBatch>(json)),
            BatchSize::PerIteration,
        )
    });
    // The library's model of the same event (the records not yet copied out of it): how the
    // function read its events before `KinesisBatch`.
    group.bench_function("deserialize_10k_library_model", |b| {
        b.iter_batched_ref(
            || sample.clone(),
            |json| black_box(support::read_as_the_runtime::<KinesisEvent>(json)),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("handle_10k", |b| {
        b.iter_custom(|iters| {
            timed_batches(&rt, &memory, iters, || {
                let event: KinesisBatch = support::read_as_the_runtime(&next_event());
                let started = Instant::now();
                let invocation = rt
                    .block_on(handle_kinesis_event(
                        &mut processor,
                        &event,
                        ingest::run::now_millis(),
                    ))
                    .expect("invocation");
                let elapsed = started.elapsed();
                assert!(invocation.response.batch_item_failures.is_empty());
                elapsed
            })
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    decode_bench,
    encode_bench,
    classify_bench,
    process_bench,
    lambda_bench
);
criterion_main!(benches);
