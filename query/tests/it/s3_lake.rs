//! `lakeq` on an `s3://` lake served by moto's S3 on loopback (started here): every command
//! works through the S3 API, and compaction keeps the rows.

use crate::common;
use common::moto;

use common::{build_lake, records, rows_by_partition};
use serde_json::Value;
use std::process::Command;

fn lakeq(moto: &moto::Moto, args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_lakeq"))
        .args(["--lake", "s3://lake/prod", "--format", "json"])
        .args(args)
        .envs(moto.env())
        .output()
        .expect("run lakeq");
    assert!(
        output.status.success(),
        "lakeq {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lakeq_reads_measures_and_compacts_an_s3_lake() {
    let moto = moto::Moto::start();
    moto.create_bucket("lake");
    let lake = moto.lake("lake", "prod");
    build_lake(&lake, &records(2_000, 3), 500).await;
    let before = rows_by_partition(&lake).await;
    let events: usize = before
        .iter()
        .filter(|(d, _)| d.starts_with("events/"))
        .map(|(_, r)| r.len())
        .sum();

    let counted = lakeq(&moto, &["sql", "SELECT count(*) AS n FROM events"]);
    assert_eq!(counted[0]["n"], events);
    let dups = lakeq(&moto, &["dups", "--check"]);
    assert_eq!(dups["overall"][0]["unique_events"], events);
    assert_eq!(dups["residual"][0]["residual_duplicates"], 0);
    let quality = lakeq(&moto, &["quality"]);
    assert_eq!(quality["quarantine"][0]["records_in"], 2_000);
    let stats = lakeq(&moto, &["stats"]);
    let lake_row = stats["tables"]
        .as_array()
        .expect("rows")
        .last()
        .expect("lake")
        .clone();
    assert_eq!(lake_row["rows"], 2_000);

    let compacted = lakeq(&moto, &["compact", "--takeover-after", "0"]);
    assert!(
        compacted["summary"][0]["partitions_compacted"]
            .as_u64()
            .expect("n")
            > 0
    );
    assert_eq!(rows_by_partition(&lake).await, before);
    let after = lakeq(&moto, &["stats"]);
    let files = |s: &Value| s["tables"].as_array().expect("rows").last().expect("lake")["files"].as_u64();
    assert!(files(&after) < files(&stats));
}
