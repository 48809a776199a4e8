//! Ledger memory and cold-start figures for a day at 1M events/hour (24M uuids), spread over
//! the default 64 buckets: builds one bucket's chain state for a day (375,000 uuids) from
//! commits shaped like real ones (10,000-record batches, Kinesis-sized sequence numbers),
//! then reports state bytes per uuid in memory (also with `ingest run`'s line numbers as
//! sequence numbers) and the checkpoint a cold start reads.
//!
//! Run: `cargo bench -p ingest --bench ledger_memory` (prints a Markdown table).

use ingest::ledger::chain::ChainState;
use ingest::ledger::document::{self, ClaimDoc, CommitDoc, Hash128};
use ingest::ledger::policy::CheckpointPolicy;
use ingest::storage::BatchId;
use std::time::Instant;

const EVENTS_PER_HOUR: u64 = 1_000_000;
const BUCKETS: u64 = ingest::ledger::DEFAULT_BUCKETS as u64;
const BATCH: u64 = 10_000;

/// One bucket's chain state for a day, from commits of `claims_per_commit` claims whose
/// sequence numbers `sequence` gives; with the bytes of its first 200 commits.
struct Bucket {
    state: ChainState,
    version: u64,
    commit_bytes: usize,
    commits: usize,
}

fn build_bucket(per_bucket: u64, claims_per_commit: u64, sequence: impl Fn(u64) -> String) -> Bucket {
    let mut bucket = Bucket {
        state: ChainState::default(),
        version: 0,
        commit_bytes: 0,
        commits: 0,
    };
    let mut n = 0u64;
    while n < per_bucket {
        let claims: Vec<ClaimDoc> = (0..claims_per_commit.min(per_bucket - n))
            .map(|i| {
                let k = n + i;
                ClaimDoc {
                    uuid: Hash128(u128::from(k).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)),
                    shard: format!("shardId-{:012}", k % 4).into(),
                    sequence: sequence(k).into(),
                    event_type: ["account", "payment", "lesson", "session"][(k % 4) as usize].into(),
                    replaces: None,
                }
            })
            .collect();
        n += claims.len() as u64;
        bucket.version += 1;
        let doc = CommitDoc {
            format: document::FORMAT,
            batch: BatchId::new(1_793_491_200_000 + bucket.version as i64, bucket.version).to_string(),
            writer: "bench".into(),
            committed_at_millis: 1_793_491_200_000,
            claims,
            others: Vec::new(),
            erased: Vec::new(),
        };
        if bucket.commits < 200 {
            bucket.commit_bytes += document::encode_doc(&doc).expect("encode").len();
            bucket.commits += 1;
        }
        bucket.state.apply(bucket.version, &doc, "bench").expect("apply");
    }
    bucket
}

fn main() {
    let per_day = EVENTS_PER_HOUR * 24;
    let per_bucket = per_day / BUCKETS;
    let claims_per_commit = BATCH / BUCKETS;
    let started = Instant::now();
    let Bucket {
        state,
        version,
        commit_bytes,
        commits,
    } = build_bucket(per_bucket, claims_per_commit, |k| {
        format!(
            "4959033827149025660855969253836157109592157598913{:07}",
            k % 10_000_000
        )
    });
    let build = started.elapsed();
    let memory = state.approx_bytes();
    let started = Instant::now();
    let checkpoint = document::encode_doc(&state.to_doc()).expect("checkpoint");
    let encode = started.elapsed();
    let started = Instant::now();
    let doc: document::ChainDoc = document::decode_doc(&checkpoint, "bench").expect("decode");
    let restored = ChainState::from_doc(&doc, "bench").expect("restore");
    let load = started.elapsed();
    assert_eq!(restored.uuids(), state.uuids());
    let per_commit = commit_bytes as f64 / commits as f64;
    let every = CheckpointPolicy::default().every_versions as f64;
    let cold_bucket = checkpoint.len() as f64 + every * per_commit;

    println!("| figure (one bucket = 1/{BUCKETS} of a day at 1M events/hour) | value |");
    println!("|---|---|");
    println!("| uuids in the bucket | {} |", state.uuids());
    println!(
        "| state in memory | {:.1} MiB ({:.0} bytes/uuid) |",
        mib(memory),
        memory as f64 / state.uuids() as f64
    );
    println!(
        "| checkpoint on the store (format 2: postcard, zstd level 1) | {:.1} MiB ({:.1} bytes/uuid) |",
        mib(checkpoint.len()),
        checkpoint.len() as f64 / state.uuids() as f64
    );
    println!(
        "| one commit of a 10,000-record batch ({claims_per_commit} claims) | {:.1} KiB |",
        per_commit / 1024.0
    );
    println!(
        "| cold start, one bucket: checkpoint + up to {every} commits | {:.1} MiB, decoded in {:.2} s |",
        cold_bucket / 1048576.0,
        load.as_secs_f64()
    );
    // `ingest run` numbers records by line: every sequence number is below 2^31.
    let lines = build_bucket(per_bucket, claims_per_commit, |k| (k + 1).to_string()).state;
    println!(
        "| state in memory, sequence numbers below 2^31 (`ingest run`'s line numbers) | {:.1} MiB ({:.0} bytes/uuid) |",
        mib(lines.approx_bytes()),
        lines.approx_bytes() as f64 / lines.uuids() as f64
    );
    println!(
        "| a whole day (all {BUCKETS} buckets) in memory | {:.2} GiB |",
        memory as f64 * BUCKETS as f64 / 1073741824.0
    );
    println!(
        "| cold start, a writer owning 1/4 of the key space (4 shards) | {:.0} MiB read |",
        cold_bucket * BUCKETS as f64 / 4.0 / 1048576.0
    );
    println!(
        "| building the state from {version} commits / encoding the checkpoint | {:.2} s / {:.2} s |",
        build.as_secs_f64(),
        encode.as_secs_f64()
    );
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / 1048576.0
}
