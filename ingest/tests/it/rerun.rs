//! Running `ingest run` twice on the same file is a retry: the three tables are unchanged
//! (same files, same rows, no new duplicates). The same events in a file with another name
//! are duplicates.

use crate::common;

use common::{check_invariant, file_records, read_lake, registry};
use ingest::batch::{BatchProcessor, ProcessorConfig};
use ingest::generate::{GenerateConfig, generate};
use ingest::run::{Input, RunOptions, RunSummary, run};
use ingest::storage::{Lake, StoreOptions};
use std::path::Path;

async fn ingest_file(lake_dir: &Path, input: &Path) -> RunSummary {
    let lake = Lake::open(lake_dir.to_str().expect("utf8"), &StoreOptions::default()).expect("lake");
    let mut p = BatchProcessor::open(lake, registry(), "rerun-test", ProcessorConfig::default())
        .await
        .expect("open");
    let options = RunOptions {
        batch_size: 700,
        ..RunOptions::default()
    };
    run(&mut p, &Input::File(input.to_path_buf()), options, &mut |_, _| {})
        .await
        .expect("run")
}

#[tokio::test]
async fn rerunning_a_file_changes_nothing_and_a_copy_is_all_duplicates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = dir.path().join("day.jsonl");
    let config = GenerateConfig {
        records: 3_000,
        seed: 99,
        ..GenerateConfig::default()
    };
    generate(
        registry(),
        config,
        &mut std::fs::File::create(&first).expect("create"),
    )
    .expect("generate");
    let lake_dir = dir.path().join("lake");
    let lake = Lake::open(lake_dir.to_str().expect("utf8"), &StoreOptions::default()).expect("lake");

    let once = ingest_file(&lake_dir, &first).await;
    let after_once = read_lake(&lake).await;
    assert_eq!(once.counts.already_committed, 0);
    assert_eq!(
        once.counts.records_in,
        once.counts.written + once.counts.duplicates + once.counts.quarantined
    );

    let twice = ingest_file(&lake_dir, &first).await;
    let after_twice = read_lake(&lake).await;
    assert_eq!(
        after_twice, after_once,
        "a rerun must not add or change any file or row"
    );
    assert_eq!(twice.counts.already_committed, twice.counts.records_in);
    assert_eq!(
        (twice.files, twice.counts.written, twice.counts.duplicates),
        (0, once.counts.written, once.counts.duplicates)
    );

    let copy = dir.path().join("copy.jsonl");
    std::fs::copy(&first, &copy).expect("copy");
    let third = ingest_file(&lake_dir, &copy).await;
    assert_eq!(
        third.counts.written, 0,
        "every event of the copy is already in the lake"
    );
    assert_eq!(
        third.counts.duplicates,
        once.counts.written + once.counts.duplicates
    );
    assert_eq!(third.counts.quarantined, once.counts.quarantined);
    check_invariant(
        &[file_records(&first), file_records(&copy)].concat(),
        &read_lake(&lake).await,
    )
    .expect("invariant");
}
