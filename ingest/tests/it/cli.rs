//! The `ingest` binary end to end: bad arguments and inputs get a one-line error and a
//! non-zero exit; `run` into an s3:// lake on moto's server writes what its summary says.

use crate::common;

use common::moto::Moto;
use common::{check_invariant, file_records, read_lake};
use std::process::{Command, Output};

fn ingest(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ingest"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run ingest")
}

const FAILURE_RECORD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/kinesis_failure_record.json"
);

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_arguments_get_one_line_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let lake = lake.to_str().expect("utf8");
    let cases: &[(&[&str], &str)] = &[
        (
            &["run", "--input", "/nonexistent.jsonl", "--lake", lake],
            "not a readable file",
        ),
        (
            &["run", "--input", "-", "--lake", "ftp://x/y"],
            "unsupported scheme",
        ),
        (
            &["run", "--input", "-", "--lake", lake, "--batch-size", "0"],
            "--batch-size",
        ),
        (
            &["generate", "--events", "10", "--duplicate-rate", "1.5"],
            "between 0 and 1",
        ),
        (&["generate", "--events", "10", "--start", "5"], "--start"),
        (
            &["consume", "--stream", "s", "--lake", lake, "--at", "shardId-1"],
            "SHARD_ID=SEQUENCE_NUMBER",
        ),
        (
            &[
                "consume",
                "--stream",
                "s",
                "--lake",
                lake,
                "--at",
                "shardId-1=0x1f",
            ],
            "decimal digits",
        ),
        (
            &[
                "consume",
                "--stream",
                "s",
                "--lake",
                lake,
                "--at",
                "shardId-1=9",
                "--until",
                "shardId-1=3",
            ],
            "ends before its start",
        ),
        (
            &[
                "consume",
                "--stream",
                "s",
                "--lake",
                lake,
                "--failure-record",
                "/nonexistent.json",
            ],
            "cannot read --failure-record",
        ),
        (
            &[
                "consume",
                "--stream",
                "s",
                "--lake",
                lake,
                "--failure-record",
                FAILURE_RECORD,
            ],
            "not s: pass --stream eventlake-events",
        ),
        (
            &["invoke", "--stream", "s", "--failure-record", "Cargo.toml"],
            "is not JSON",
        ),
    ];
    for (args, expected) in cases {
        let out = ingest(args, &[]);
        assert!(!out.status.success(), "{args:?} must fail");
        let err = stderr(&out);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(
            err.trim().lines().count() <= 3,
            "{args:?}: error should be short: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn run_into_an_s3_lake_on_moto() {
    let moto = Moto::start();
    moto.create_bucket("lake-bucket");
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.jsonl");
    let generated = ingest(
        &[
            "generate",
            "--events",
            "3000",
            "--seed",
            "4",
            "--output",
            input.to_str().expect("utf8"),
        ],
        &[],
    );
    assert!(generated.status.success(), "{}", stderr(&generated));
    let args = [
        "run",
        "--input",
        input.to_str().expect("utf8"),
        "--lake",
        "s3://lake-bucket/prod/lake",
        "--summary",
        "json",
        "--batch-size",
        "1000",
    ];
    let out = ingest(&args, &moto.env());
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary JSON");
    assert_eq!(summary["records_in"], 3000);
    let lake = moto.lake("lake-bucket", "prod/lake");
    let rows = tokio::runtime::Runtime::new()
        .expect("rt")
        .block_on(read_lake(&lake));
    assert_eq!(
        rows.events.len() as u64,
        summary["written"].as_u64().expect("written")
    );
    assert_eq!(
        rows.duplicates.len() as u64,
        summary["duplicates"].as_u64().expect("duplicates")
    );
    assert_eq!(
        rows.quarantine.len() as u64,
        summary["quarantined"].as_u64().expect("quarantined")
    );
    check_invariant(&file_records(&input), &rows).expect("invariant on S3");
}

#[test]
fn no_read_ahead_decodes_one_batch_at_a_time_and_writes_the_same_lake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.jsonl");
    let input = input.to_str().expect("utf8");
    let generated = ingest(
        &["generate", "--events", "2000", "--seed", "9", "--output", input],
        &[],
    );
    assert!(generated.status.success(), "{}", stderr(&generated));
    let cores_allow = std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
    let mut counts = Vec::new();
    for (i, (flag, read_ahead)) in [(None, cores_allow), (Some("--no-read-ahead"), false)]
        .into_iter()
        .enumerate()
    {
        let lake = dir.path().join(format!("lake-{i}"));
        let mut args = vec![
            "run",
            "--input",
            input,
            "--lake",
            lake.to_str().expect("utf8"),
            "--batch-size",
            "500",
            "--summary",
            "json",
        ];
        args.extend(flag);
        let out = ingest(&args, &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary JSON");
        assert_eq!(summary["read_ahead"], read_ahead, "{flag:?}");
        assert_eq!(summary["batches"], 4);
        let rows = tokio::runtime::Runtime::new().expect("rt").block_on(read_lake(
            &ingest::storage::Lake::open(
                lake.to_str().expect("utf8"),
                &ingest::storage::StoreOptions::default(),
            )
            .expect("lake"),
        ));
        check_invariant(&file_records(std::path::Path::new(input)), &rows).expect("invariant");
        counts.push((rows.events.len(), rows.duplicates.len(), rows.quarantine.len()));
    }
    assert_eq!(counts[0], counts[1]);
}
