//! Upgrade in place: lakes written by earlier releases keep working under this one. Two are
//! kept as fixtures, written from the same input: one by the release before the binary ledger
//! (format 1, `tests/fixtures/upgrade/`: JSON documents), one by the release before commits in
//! columns (`tests/fixtures/upgrade_rows/`: commits and checkpoints in rows, manifests in
//! columns with their sequence numbers whole). In each, new batches commit on top of its
//! chains, retries of its records are recognised as such, a lost data file of one of its
//! batches is rebuilt from its old manifest, and every chain read back cold mixes the old
//! layout and today's without a misread.

use crate::common;

use common::{check_invariant, file_records, read_lake};
use ingest::batch::{BatchProcessor, ProcessorConfig};
use ingest::ledger::document::{BINARY_MAGIC, COMMIT_COLUMNS_MAGIC};
use ingest::registry_dir;
use ingest::run::{Input, RunOptions, RunSummary, run};
use ingest::storage::{Lake, StoreOptions};
use schemas::Registry;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

/// The inputs' modification time when the fixture was written: `ingest run` takes a file's
/// mtime as its records' arrival time, which dates their quarantine chains.
const FIXTURE_ARRIVAL_SECONDS: u64 = 1_793_491_200;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

async fn ingest(lake_dir: &Path, registry: &Registry, input: &Path) -> RunSummary {
    let lake = Lake::open(lake_dir.to_str().expect("utf8"), &StoreOptions::default()).expect("lake");
    let mut processor = BatchProcessor::open(lake, registry, "upgrade-test", ProcessorConfig::default())
        .await
        .expect("an older lake opens");
    let options = RunOptions {
        batch_size: 16,
        ..RunOptions::default()
    };
    run(
        &mut processor,
        &Input::File(input.to_path_buf()),
        options,
        &mut |_, _| {},
    )
    .await
    .expect("run")
}

#[tokio::test]
async fn a_format_1_lake_takes_new_batches_retries_and_roll_forwards() {
    // Format 1's documents are zstd frames, with no magic of ours.
    upgrade("upgrade", |commit| !commit.starts_with(b"ELB")).await;
}

#[tokio::test]
async fn a_lake_with_commits_in_rows_takes_new_batches_retries_and_roll_forwards() {
    upgrade("upgrade_rows", |commit| commit.starts_with(BINARY_MAGIC)).await;
}

/// Ingests the fixture's second input, then both again, into a copy of the fixture's lake, and
/// checks exactness; `is_old_commit` tells the fixture's own commits by their bytes.
async fn upgrade(name: &str, is_old_commit: fn(&[u8]) -> bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&fixture(name), dir.path());
    let arrival = UNIX_EPOCH + Duration::from_secs(FIXTURE_ARRIVAL_SECONDS);
    for name in ["first.jsonl", "second.jsonl"] {
        let file = std::fs::File::options()
            .write(true)
            .open(dir.path().join(name))
            .expect("open input");
        file.set_modified(arrival).expect("set mtime");
    }
    let lake_dir = dir.path().join("lake");
    let registry = registry_dir::load(&dir.path().join("registry")).expect("fixture registry");
    let (first, second) = (dir.path().join("first.jsonl"), dir.path().join("second.jsonl"));

    let lost = files_under(&lake_dir.join("events"))
        .into_iter()
        .next()
        .expect("the fixture has events files");
    std::fs::remove_file(&lost).expect("lose a data file");

    let new = ingest(&lake_dir, &registry, &second).await.counts;
    assert_eq!(
        (
            new.records_in,
            new.written,
            new.duplicates,
            new.quarantined,
            new.already_committed
        ),
        (171, 120, 50, 1, 0),
        "40 re-sends of the old release's events are recognised as duplicates"
    );
    let retried = ingest(&lake_dir, &registry, &first).await.counts;
    assert_eq!((retried.records_in, retried.already_committed), (390, 390));
    assert!(lost.exists(), "the lost file is rebuilt from its old manifest");
    let again = ingest(&lake_dir, &registry, &second).await.counts;
    assert_eq!((again.records_in, again.already_committed), (171, 171));

    let lake = Lake::open(lake_dir.to_str().expect("utf8"), &StoreOptions::default()).expect("lake");
    let rows = read_lake(&lake).await;
    let mut records = file_records(&first);
    records.extend(file_records(&second));
    check_invariant(&records, &rows).expect("exactly once across the upgrade");
    assert_eq!(rows.events.len(), 480);

    let chain = lake_dir.join("_ledger/events/date=2026-11-01/bucket=0001");
    let (mut old, mut new, mut other) = (0, 0, 0);
    for commit in files_under(&chain) {
        let name = commit.file_name().expect("name").to_string_lossy().into_owned();
        if name.starts_with('v') {
            let bytes = std::fs::read(&commit).expect("read commit");
            if is_old_commit(&bytes) {
                old += 1;
            } else if bytes.starts_with(COMMIT_COLUMNS_MAGIC) {
                new += 1;
            } else {
                other += 1;
            }
        }
    }
    assert_eq!(
        (old, other),
        (49, 0),
        "the old release's commits stay as they were"
    );
    assert!(new > 0, "new commits are in columns, on top of them");
}
