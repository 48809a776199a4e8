//! `ingest run` reading ahead (the next batch read and decoded on another thread while one
//! commits) writes exactly what reading in line writes, and an input that fails to read
//! part way ends the run after the same batches in both modes.

use crate::common;

use common::{LakeRows, check_invariant, file_records, read_lake, registry};
use flate2::Compression;
use flate2::write::GzEncoder;
use ingest::IngestError;
use ingest::batch::{BatchProcessor, ProcessorConfig};
use ingest::generate::{GenerateConfig, generate};
use ingest::run::{Input, RunOptions, RunSummary, run};
use ingest::storage::{Lake, StoreOptions};
use std::io::Write;
use std::path::Path;

const BATCH: usize = 300;

async fn ingest_file(lake_dir: &Path, input: &Path, read_ahead: bool) -> Result<RunSummary, IngestError> {
    let lake = Lake::open(lake_dir.to_str().expect("utf8"), &StoreOptions::default()).expect("lake");
    let mut p = BatchProcessor::open(lake, registry(), "read-ahead-test", ProcessorConfig::default())
        .await
        .expect("open");
    let options = RunOptions {
        batch_size: BATCH,
        read_ahead,
        ..RunOptions::default()
    };
    run(&mut p, &Input::File(input.to_path_buf()), options, &mut |_, _| {}).await
}

fn generated(path: &Path, records: u64) {
    let config = GenerateConfig {
        records,
        seed: 7,
        ..GenerateConfig::default()
    };
    generate(
        registry(),
        config,
        &mut std::fs::File::create(path).expect("create"),
    )
    .expect("generate");
}

/// The rows, sorted, without file names (each run names its files by its own batch ids).
fn sorted(rows: LakeRows) -> LakeRows {
    LakeRows {
        files: Default::default(),
        ..rows.sorted()
    }
}

#[tokio::test]
async fn reading_ahead_writes_the_rows_reading_in_line_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("day.jsonl");
    generated(&input, 3_000);
    let mut lakes = Vec::new();
    let mut summaries = Vec::new();
    for read_ahead in [false, true] {
        let lake_dir = dir.path().join(format!("lake-{read_ahead}"));
        let summary = ingest_file(&lake_dir, &input, read_ahead).await.expect("run");
        let lake = Lake::open(lake_dir.to_str().expect("utf8"), &StoreOptions::default()).expect("lake");
        let rows = read_lake(&lake).await;
        check_invariant(&file_records(&input), &rows).expect("invariant");
        assert_eq!(rows.files.len() as u64, summary.files);
        lakes.push(sorted(rows));
        summaries.push(summary);
    }
    let (in_line, ahead) = (&summaries[0], &summaries[1]);
    assert_eq!(ahead.counts, in_line.counts);
    assert_eq!(ahead.batches, 3_000 / BATCH as u64);
    assert_eq!(
        (ahead.batches, ahead.files, &ahead.rows_per_partition),
        (in_line.batches, in_line.files, &in_line.rows_per_partition)
    );
    assert!(in_line.counts.duplicates > 0 && in_line.counts.quarantined > 0);
    assert_eq!(lakes[1], lakes[0]);
}

#[tokio::test]
async fn an_input_failing_part_way_ends_the_run_after_the_batches_before_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let whole = dir.path().join("whole.jsonl");
    generated(&whole, 1_000);
    let text = std::fs::read(&whole).expect("read");
    for read_ahead in [false, true] {
        // The same file name in two directories is the same source: the broken gzip first,
        // then the plain lines it holds.
        let broken_dir = dir.path().join(format!("broken-{read_ahead}"));
        let plain_dir = dir.path().join(format!("plain-{read_ahead}"));
        std::fs::create_dir_all(&broken_dir).expect("mkdir");
        std::fs::create_dir_all(&plain_dir).expect("mkdir");
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(&text).expect("gzip");
        let mut broken = gz.finish().expect("gzip");
        broken.extend_from_slice(b"\x1f\x8b but not a gzip member");
        std::fs::write(broken_dir.join("day.jsonl.gz"), broken).expect("write");
        std::fs::write(plain_dir.join("day.jsonl.gz"), &text).expect("write");

        let lake_dir = dir.path().join(format!("lake-{read_ahead}"));
        let failed = ingest_file(&lake_dir, &broken_dir.join("day.jsonl.gz"), read_ahead).await;
        match failed {
            Err(IngestError::Input { path, .. }) => assert!(path.ends_with("day.jsonl.gz"), "{path}"),
            other => panic!("read_ahead {read_ahead}: expected an input error, got {other:?}"),
        }
        // The last batch's 100 lines were read but the input failed before its end.
        let rest = ingest_file(&lake_dir, &plain_dir.join("day.jsonl.gz"), read_ahead)
            .await
            .expect("run");
        assert_eq!(
            (rest.counts.records_in, rest.counts.already_committed),
            (1_000, 900),
            "read_ahead {read_ahead}: three whole batches committed before the error"
        );
        let lake = Lake::open(lake_dir.to_str().expect("utf8"), &StoreOptions::default()).expect("lake");
        check_invariant(
            &file_records(&plain_dir.join("day.jsonl.gz")),
            &read_lake(&lake).await,
        )
        .expect("invariant");
    }
}
