//! Golden tests of `lakeq dups`, `quality`, `stats` and `compact --dry-run` on a reproducible
//! lake (seeded input, seeded batch ids): the output must match the snapshot in
//! `tests/fixtures/golden/`. Wall-clock figures are masked. To accept a deliberate change:
//! `EVENTLAKE_BLESS=1 cargo test -p query --test it reports_golden::`.

use crate::common;

use common::{build_lake, records};
use ingest::storage::{Lake, StoreOptions};
use std::path::Path;
use std::process::Command;

fn lakeq(lake: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_lakeq"))
        .arg("--lake")
        .arg(lake)
        .args(args)
        .output()
        .expect("run lakeq");
    assert!(
        output.status.success(),
        "lakeq {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

/// Replaces the value of every `"seconds"` JSON field (wall-clock time) with 0.
fn mask_timings(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("\"seconds\":") {
        let (head, tail) = rest.split_at(at + "\"seconds\":".len());
        out.push_str(head);
        out.push('0');
        let end = tail.find([',', '}']).unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn check(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/golden")
        .join(name);
    if std::env::var_os("EVENTLAKE_BLESS").is_some() {
        std::fs::write(&path, actual).expect("bless");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} missing: run with EVENTLAKE_BLESS=1", path.display()));
    assert!(
        expected == actual,
        "{name} differs from its snapshot.\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_outputs_match_their_snapshots() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake_dir = dir.path().join("lake");
    let lake = Lake::open(lake_dir.to_str().expect("utf-8"), &StoreOptions::default()).expect("lake");
    build_lake(&lake, &records(4_000, 2026), 1_000).await;

    check("dups.txt", &lakeq(&lake_dir, &["dups", "--top", "5"]));
    check(
        "dups.json",
        &lakeq(&lake_dir, &["--format", "json", "dups", "--top", "5"]),
    );
    check("quality.txt", &lakeq(&lake_dir, &["quality"]));
    check("stats.txt", &lakeq(&lake_dir, &["stats"]));
    check(
        "compact-dry-run.txt",
        &lakeq(&lake_dir, &["compact", "--dry-run", "--event-type", "account"]),
    );
    check(
        "compact.json",
        &mask_timings(&lakeq(
            &lake_dir,
            &["--format", "json", "compact", "--table", "events"],
        )),
    );
    check("stats-after-compact.txt", &lakeq(&lake_dir, &["stats"]));
}

#[test]
fn bad_arguments_get_one_line_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope");
    for args in [
        vec!["--lake", missing.to_str().expect("utf-8"), "stats"],
        vec![
            "--lake",
            dir.path().to_str().expect("utf-8"),
            "compact",
            "--date",
            "2026/01/01",
        ],
        vec![
            "--lake",
            dir.path().to_str().expect("utf-8"),
            "compact",
            "--target-file-size",
            "12 parsecs",
        ],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_lakeq"))
            .args(&args)
            .output()
            .expect("run");
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.trim().lines().count() <= 3, "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
