//! Replays the fuzz targets' committed inputs without cargo-fuzz: every file under
//! `fuzz/seeds/<target>/` and `fuzz/regressions/<target>/` (inputs that once broke a check)
//! goes through the same `ingest::fuzzing` check as the target, so a regression fails here.

use std::path::{Path, PathBuf};

type Check = fn(&[u8]);

const TARGETS: [(&str, Check); 4] = [
    ("decode", ingest::fuzzing::check_decode),
    ("partition", ingest::fuzzing::check_partition),
    ("registry", ingest::fuzzing::check_registry),
    ("ledger", ingest::fuzzing::check_ledger),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of a folder, sorted; none if it does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != ".gitkeep"))
        .collect();
    files.sort();
    files
}

fn replay(kind: &str) -> usize {
    let mut replayed = 0;
    for (target, check) in TARGETS {
        for file in inputs(&fuzz_dir().join(kind).join(target)) {
            let data = std::fs::read(&file).expect("read input");
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{target}: {} breaks its check", file.display());
            replayed += 1;
        }
    }
    replayed
}

#[test]
fn seeds_pass_every_check() {
    let replayed = replay("seeds");
    assert!(replayed >= TARGETS.len() * 4, "only {replayed} seeds found");
}

#[test]
fn regressions_stay_fixed() {
    // Each file here is an input a fuzz run once found breaking a check (see fuzz/README.md).
    replay("regressions");
}
