//! The registry's lifecycle end to end, with the registry versions in
//! tests/fixtures/registry: `lakeq schema check` accepts additions and refuses removals and
//! type changes (from a directory and from a git revision); one lake written first with v1,
//! then with v2, reads across both in DataFusion (old rows NULL in the new columns); the Glue
//! columns of v2 have the new columns; and `lakeq schema suggest` on the v1 lake proposes
//! exactly the v2 declarations (plus a field that only another event name declared).

use datafusion::arrow::util::pretty::pretty_format_batches;
use ingest::batch::{BatchProcessor, ProcessorConfig};
use ingest::source::{SequenceNumber, SourceId, SourceRecord};
use ingest::storage::{Lake, StoreOptions};
use query::LakeSession;
use query::schema::suggest::{Status, suggest};
use schemas::glue::{GlueColumn, GlueTables};
use schemas::{FieldType, Registry};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CREATED_AT: i64 = 1_790_000_000;

fn fixture(version: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/registry")
        .join(version)
}

fn registry(version: &str) -> Registry {
    ingest::registry_dir::load(&fixture(version)).expect("fixture registry")
}

fn lakeq(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lakeq"))
        .args(args)
        .output()
        .expect("lakeq runs")
}

fn check(previous: &Path, current: &Path) -> Output {
    lakeq(&[
        "schema",
        "check",
        "--previous",
        previous.to_str().expect("utf8"),
        "--current",
        current.to_str().expect("utf8"),
    ])
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn an_added_field_and_a_new_event_type_are_accepted() {
    let output = check(&fixture("v1"), &fixture("v2"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "registry evolution accepted (3 additions):\n\
         \x20 event shop:order:placed: field coupon (string) added\n\
         \x20 event refund:issued: added\n\
         \x20 event refund:issued: field refund_cents (integer) added\n"
    );
}

#[test]
fn a_type_change_is_refused_with_its_remedy() {
    let output = check(&fixture("v1"), &fixture("type_changed"));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "refused: event shop:order:placed: field amount changed type from float to string; files \
         already written hold float, so keep amount as float and add a new field name for the \
         string values\n"
    );
}

#[test]
fn removals_are_refused_one_line_each() {
    let output = check(&fixture("v1"), &fixture("field_removed"));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).starts_with("refused: event shop:order:placed: field sku (string) removed;"),
        "{}",
        stderr(&output)
    );
    let back = check(&fixture("v2"), &fixture("v1"));
    assert_eq!(back.status.code(), Some(1));
    let lines: Vec<String> = stderr(&back).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(lines[0].starts_with("refused: event refund:issued: removed;"));
    assert!(lines[1].starts_with("refused: event shop:order:placed: field coupon (string) removed;"));
}

/// A git repository whose one commit holds `version` under `schemas/events`.
fn repository_with(version: &str) -> tempfile::TempDir {
    let repo = tempfile::tempdir().expect("temp dir");
    let events = repo.path().join("schemas/events");
    copy_registry(version, &events);
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .arg("-C")
            .arg(repo.path())
            .args(args)
            .status()
            .expect("git runs");
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "--quiet"]);
    git(&["add", "."]);
    git(&["commit", "--quiet", "-m", version]);
    repo
}

fn copy_registry(version: &str, to: &Path) {
    if to.exists() {
        std::fs::remove_dir_all(to).expect("clear registry");
    }
    std::fs::create_dir_all(to).expect("registry dir");
    for entry in std::fs::read_dir(fixture(version)).expect("fixture") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, to.join(path.file_name().expect("name"))).expect("copy");
    }
}

#[test]
fn a_git_revision_is_a_previous_version() {
    let repo = repository_with("v1");
    let events = repo.path().join("schemas/events");
    let head = |current: &Path| {
        lakeq(&[
            "schema",
            "check",
            "--previous",
            "HEAD",
            "--current",
            current.to_str().expect("utf8"),
        ])
    };
    copy_registry("v2", &events);
    let accepted = head(&events);
    assert!(accepted.status.success(), "{}", stderr(&accepted));
    copy_registry("type_changed", &events);
    let refused = head(&events);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("field amount changed type from float to string"));
    let unknown = lakeq(&[
        "schema",
        "check",
        "--previous",
        "no-such-rev",
        "--current",
        events.to_str().expect("utf8"),
    ]);
    assert_eq!(
        unknown.status.code(),
        Some(2),
        "a revision to fix, not a refused change"
    );
    let message = stderr(&unknown);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.contains("git revision no-such-rev") && message.contains("pass a directory"));
}

fn record(sequence: u64, uuid: &str, name: &str, payload: serde_json::Value) -> SourceRecord {
    let mut event = serde_json::json!({"event_uuid": uuid, "event_name": name, "created_at": CREATED_AT});
    if let (Some(event), serde_json::Value::Object(payload)) = (event.as_object_mut(), payload) {
        event.extend(payload);
    }
    SourceRecord {
        source: SourceId::new("shardId-000000000000", SequenceNumber::from_u64(sequence)),
        arrival_micros: (CREATED_AT + 60) * 1_000_000,
        data: bytes::Bytes::from(event.to_string()),
    }
}

/// Four orders (two with a coupon, undeclared in v1), two shipments (one with a sku, which
/// only orders declare) and two refunds (an event type v1 does not know).
fn v1_records() -> Vec<SourceRecord> {
    use serde_json::json;
    vec![
        record(1, "a1", "shop:order:placed", json!({"amount": 10.5, "sku": "S1"})),
        record(
            2,
            "a2",
            "shop:order:placed",
            json!({"amount": 3, "sku": "S2", "coupon": "SPRING"}),
        ),
        record(
            3,
            "a3",
            "shop:order:placed",
            json!({"amount": 7.25, "sku": "S3", "coupon": "FALL"}),
        ),
        record(4, "a4", "shop:order:placed", json!({"amount": 1.0, "sku": "S4"})),
        record(
            5,
            "a5",
            "shop:order:shipped",
            json!({"carrier": "ups", "shipped_at": CREATED_AT}),
        ),
        record(6, "a6", "refund:issued", json!({"refund_cents": 250})),
        record(7, "a7", "refund:issued", json!({"refund_cents": 99})),
        record(
            8,
            "a8",
            "shop:order:shipped",
            json!({"carrier": "dhl", "sku": "S3"}),
        ),
    ]
}

fn v2_records() -> Vec<SourceRecord> {
    use serde_json::json;
    vec![
        record(
            8,
            "b1",
            "shop:order:placed",
            json!({"amount": 2.0, "sku": "S5", "coupon": "WINTER"}),
        ),
        record(10, "b2", "refund:issued", json!({"refund_cents": 1000})),
    ]
}

async fn write(lake_dir: &Path, registry: &Registry, records: &[SourceRecord], now_millis: i64) {
    let lake = Lake::open(lake_dir.to_str().expect("utf8"), &StoreOptions::default()).expect("lake");
    let mut processor = BatchProcessor::open(lake, registry, "lifecycle", ProcessorConfig::default())
        .await
        .expect("processor");
    let report = processor.process(records, now_millis).await.expect("batch");
    assert_eq!(report.counts().failed, 0);
}

async fn table(session: &LakeSession, sql: &str) -> String {
    let batches = session.run_statements(sql).await.expect("sql").concat();
    pretty_format_batches(&batches).expect("format").to_string()
}

#[tokio::test]
async fn one_lake_written_with_v1_then_v2_reads_across_both() {
    let dir = tempfile::tempdir().expect("temp dir");
    let lake_dir = dir.path().join("lake");
    let (v1, v2) = (registry("v1"), registry("v2"));
    write(&lake_dir, &v1, &v1_records(), 1_795_000_000_000).await;
    write(&lake_dir, &v2, &v2_records(), 1_795_000_100_000).await;
    let session = LakeSession::open(lake_dir.to_str().expect("utf8"), &StoreOptions::default(), &v2)
        .await
        .expect("session");
    let rows = table(
        &session,
        "SELECT event_uuid, event_type, amount, coupon, refund_cents, extra FROM events \
         WHERE event_name <> 'shop:order:shipped' ORDER BY event_uuid",
    )
    .await;
    let expected = "\
+------------+------------+--------+--------+--------------+----------------------+
| event_uuid | event_type | amount | coupon | refund_cents | extra                |
+------------+------------+--------+--------+--------------+----------------------+
| a1         | shop       | 10.5   |        |              |                      |
| a2         | shop       | 3.0    |        |              | {\"coupon\":\"SPRING\"}  |
| a3         | shop       | 7.25   |        |              | {\"coupon\":\"FALL\"}    |
| a4         | shop       | 1.0    |        |              |                      |
| a6         | refund     |        |        |              | {\"refund_cents\":250} |
| a7         | refund     |        |        |              | {\"refund_cents\":99}  |
| b1         | shop       | 2.0    | WINTER |              |                      |
| b2         | refund     |        |        | 1000         |                      |
+------------+------------+--------+--------+--------------+----------------------+";
    assert_eq!(rows, expected);
    let nulls = table(
        &session,
        "SELECT count(*) AS old_rows FROM events WHERE coupon IS NULL AND refund_cents IS NULL",
    )
    .await;
    assert!(nulls.contains("| 8 "), "{nulls}");
}

#[test]
fn glue_columns_of_v2_have_the_new_columns() {
    let column = |name: &str, hive: &str| GlueColumn {
        name: name.into(),
        hive_type: hive.into(),
    };
    let v1 = GlueTables::new(&registry("v1"));
    let v2 = GlueTables::new(&registry("v2"));
    for new in [column("coupon", "string"), column("refund_cents", "bigint")] {
        assert!(!v1.events.contains(&new), "{new:?} is not in v1");
        assert!(v2.events.contains(&new), "{new:?} is missing from v2's events");
        assert!(
            v2.duplicates.contains(&new),
            "{new:?} is missing from v2's duplicates"
        );
    }
    assert_eq!(v2.event_types, vec!["refund".to_owned(), "shop".to_owned()]);
}

const PROPOSED_REFUND: &str = r#"{
  "event_name": "refund:issued",
  "description": "Proposed by lakeq schema suggest from 2 events: describe the event.",
  "fields": {
    "refund_cents": "integer"
  }
}
"#;

#[tokio::test]
async fn suggest_on_the_v1_lake_proposes_the_v2_declarations() {
    let dir = tempfile::tempdir().expect("temp dir");
    let lake_dir = dir.path().join("lake");
    let v1 = registry("v1");
    write(&lake_dir, &v1, &v1_records(), 1_795_000_000_000).await;
    let session = LakeSession::open(lake_dir.to_str().expect("utf8"), &StoreOptions::default(), &v1)
        .await
        .expect("session");
    let report = suggest(&session, &v1, None, 1).await.expect("suggest");
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    let [refund, placed, shipped] = &report.suggestions[..] else {
        panic!("three suggestions expected: {report:#?}");
    };
    assert_eq!((refund.status, refund.events), (Status::New, 2));
    assert_eq!(refund.document_text().expect("text"), PROPOSED_REFUND);
    assert_eq!((placed.status, placed.events), (Status::Extends, 4));
    assert_eq!(placed.added[0].frequency, 0.5);
    let sku = &shipped.added[..];
    assert_eq!(sku.len(), 1, "{sku:?}");
    assert_eq!(
        (sku[0].name.as_str(), sku[0].field_type, sku[0].events),
        ("sku", FieldType::String, 1)
    );
    assert_eq!(sku[0].note.as_deref(), Some("string, as other events declare it"));
    let v2_placed = std::fs::read_to_string(fixture("v2").join("shop.order.placed.json")).expect("v2");
    assert_eq!(placed.document_text().expect("text"), v2_placed);
    let rare = suggest(&session, &v1, None, 3).await.expect("suggest");
    assert!(rare.suggestions.is_empty(), "{rare:#?}");
    let one = suggest(&session, &v1, Some("refund:issued"), 1)
        .await
        .expect("suggest");
    assert_eq!(one.suggestions.len(), 1);

    let out = dir.path().join("proposed");
    let written = lakeq(&[
        "--lake",
        lake_dir.to_str().expect("utf8"),
        "--registry",
        fixture("v1").to_str().expect("utf8"),
        "schema",
        "suggest",
        "--out",
        out.to_str().expect("utf8"),
    ]);
    assert!(written.status.success(), "{}", stderr(&written));
    let read = |name: &str| std::fs::read_to_string(out.join(name)).expect("written document");
    assert_eq!(read("shop.order.placed.json"), v2_placed);
    assert_eq!(read("refund.issued.json"), PROPOSED_REFUND);
}

#[test]
fn bad_schema_arguments_say_what_to_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("events")).expect("an empty lake");
    let lake = dir.path().to_str().expect("utf8");
    let cases: [(&[&str], &str); 4] = [
        (&["schema", "suggest", "--min-count", "0"], "--min-count"),
        (
            &["--lake", lake, "--format", "csv", "schema", "suggest"],
            "--format table or json",
        ),
        (
            &["--registry", "/no/such/registry", "schema", "suggest"],
            "/no/such/registry",
        ),
        (
            &[
                "schema",
                "check",
                "--previous",
                "HEAD",
                "--current",
                "/no/such/dir",
            ],
            "--current /no/such/dir",
        ),
    ];
    for (args, expected) in cases {
        let output = lakeq(args);
        assert!(!output.status.success(), "{args:?} must fail");
        let message = stderr(&output);
        let first = message.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error:") && first.contains(expected),
            "{args:?}: {message}"
        );
    }
}
