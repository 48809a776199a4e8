//! The errors a person can cause with `lakeq`, each one line that names the cause and the fix,
//! with exit 2 (a person must change something) or 1 (a failure at run time): exact stderr
//! and exit codes in `tests/fixtures/errors/lakeq.txt`. No S3 server is needed: the S3 rows
//! fail before any request or at a loopback port nothing listens on. To accept a deliberate
//! change: `EVENTLAKE_BLESS=1 cargo test -p query --test it errors::`.

use crate::common;
#[path = "../../../ingest/tests/it/common/error_table.rs"]
mod error_table;

use common::{build_lake, records};
use error_table::{Case, check, closed_port, run_reader_closing_early, shared_fixtures, table};
use ingest::storage::{Lake, StoreOptions};
use std::path::Path;

const LAKEQ: &str = env!("CARGO_BIN_EXE_lakeq");
const BLESS: &str = "EVENTLAKE_BLESS=1 cargo test -p query --test it errors::";

const HEADER: &str = "\
# Errors of lakeq: each row's command, the variables it sets (every row runs with an empty
# environment plus PATH, and AWS_EC2_METADATA_DISABLED=true unless set), exit code and stderr.
# Written by query/tests/it/errors.rs; to accept a change:
# EVENTLAKE_BLESS=1 cargo test -p query --test it errors::";

fn lakeq(title: &'static str, args: &[&str]) -> Case {
    Case::new(title, "lakeq", LAKEQ, args)
}

/// Directories the rows point at, besides the lake itself.
fn fixtures(dir: &Path) {
    std::fs::create_dir_all(dir.join("not-a-lake/photos")).expect("dir");
    shared_fixtures(dir);
}

fn lake_rows(dir: &Path) -> Vec<Case> {
    let at = |name: &str| dir.join(name).display().to_string();
    let lake = at("lake");
    let sql = |title: &'static str, query: &str| lakeq(title, &["--lake", &lake, "sql", query]);
    vec![
        lakeq(
            "a lake directory that does not exist",
            &["--lake", &at("nope"), "sql", "select 1"],
        ),
        lakeq(
            "a directory that is not a lake",
            &["--lake", &at("not-a-lake"), "stats"],
        ),
        lakeq(
            "a lake of a newer format",
            &["--lake", &at("newer"), "sql", "select 1"],
        ),
        lakeq(
            "a corrupt ledger config (a failure, not a mistake: exit 1)",
            &["--lake", &at("corrupt"), "dups"],
        ),
        lakeq(
            "a registry document that is not JSON",
            &["--lake", &lake, "--registry", &at("registry-bad-json"), "quality"],
        ),
        sql("an unknown table", "select count(*) from eventz"),
        sql("an unknown column with close matches", "select amout from events"),
        sql("an unknown column like no other", "select zzzq from events"),
        sql(
            "an unknown column in a join",
            "select d.amout from events e join duplicates d using (event_uuid)",
        ),
        sql("SQL that does not parse", "selec 1"),
        lakeq(
            "a size that is not one",
            &["--lake", &lake, "stats", "--small-file-size", "12parsecs"],
        ),
        lakeq(
            "a date that is not YYYY-MM-DD",
            &["--lake", &lake, "compact", "--date", "2026/01/01"],
        ),
        lakeq("erase with nothing to erase", &["--lake", &lake, "erase"]),
        lakeq(
            "erase with a uuid file that is not there",
            &["--lake", &lake, "erase", "--uuids", "/nonexistent/uuids.txt"],
        ),
        lakeq(
            "erase with a predicate that does not parse",
            &["--lake", &lake, "erase", "--where", "account_id = = 'x'"],
        ),
        lakeq(
            "erase with a column no table has",
            &["--lake", &lake, "erase", "--where", "acount_id = 'x'"],
        ),
        lakeq("an unknown command", &["--lake", &lake, "sqll"]),
    ]
}

fn s3_rows(closed: u16) -> Vec<Case> {
    let endpoint = format!("http://127.0.0.1:{closed}");
    let keys = [
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
    ];
    vec![
        lakeq(
            "no AWS credentials (none set, instance metadata off)",
            &[
                "--lake",
                "s3://lake/x",
                "--endpoint-url",
                &endpoint,
                "sql",
                "select 1",
            ],
        ),
        lakeq(
            "a wrong --endpoint-url (nothing listens)",
            &["--lake", "s3://lake/x", "--endpoint-url", &endpoint, "stats"],
        )
        .envs(&keys),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_is_one_line_with_its_cause_and_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake_dir = dir.path().join("lake");
    let lake = Lake::open(lake_dir.to_str().expect("utf-8"), &StoreOptions::default()).expect("lake");
    build_lake(&lake, &records(200, 5), 200).await;
    fixtures(dir.path());
    let closed = closed_port();
    let cases: Vec<Case> = lake_rows(dir.path()).into_iter().chain(s3_rows(closed)).collect();
    let masks = [
        (dir.path().display().to_string(), "<TMP>".to_owned()),
        (format!("127.0.0.1:{closed}"), "127.0.0.1:<CLOSED>".to_owned()),
    ];
    let actual = tokio::task::spawn_blocking(move || table(HEADER, &cases, &masks))
        .await
        .expect("rows");
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/errors/lakeq.txt");
    check(&golden, &actual, BLESS);
}

/// `lakeq sql ... | head`: the reader has what it wanted, so `lakeq` stops quietly, with
/// neither a panic nor an error line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_closes_early_ends_the_command_quietly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake_dir = dir.path().join("lake");
    let lake_path = lake_dir.to_str().expect("utf-8").to_owned();
    let lake = Lake::open(&lake_path, &StoreOptions::default()).expect("lake");
    build_lake(&lake, &records(20, 1), 20).await;
    let query = "select value from generate_series(1, 200000)";
    let outcome = tokio::task::spawn_blocking(move || {
        run_reader_closing_early(LAKEQ, &["--lake", &lake_path, "--format", "csv", "sql", query])
    })
    .await
    .expect("run");
    assert_eq!((outcome.code, outcome.stderr.as_str()), (0, ""));
}
