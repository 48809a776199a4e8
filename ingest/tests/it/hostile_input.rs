//! Hostile input through the real pipeline (`ingest::run::run` into a lake directory, read
//! back with the query crate). Each case is one line; its expected outcome is the second
//! dot-separated part of its fixture name in `fixtures/hostile/` (`written`, `duplicate` or a
//! quarantine reason), and the large cases are generated here. Checked: no panic, the
//! outcome of every line, written values kept exactly, quarantine rows with their reasons
//! and raw bytes, and `records in = written + duplicates + quarantined`.

use crate::common;

use arrow::array::AsArray;
use arrow::record_batch::RecordBatch;
use ingest::batch::BatchProcessor;
use ingest::decode::MAX_RECORD_BYTES;
use ingest::run::{Input, RunOptions, run};
use ingest::storage::{Lake, StoreOptions};
use query::LakeSession;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// One input line and what must become of it.
struct Case {
    name: String,
    line: Vec<u8>,
    expect: String,
}

fn fixtures() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let name = path.file_name().expect("name").to_string_lossy().into_owned();
            let mut line = std::fs::read(&path).expect("read fixture");
            assert_eq!(line.pop(), Some(b'\n'), "{name}: one line ending in a newline");
            assert!(!line.contains(&b'\n'), "{name}: one line");
            let expect = name.split('.').nth(1).expect("outcome in the name").to_owned();
            Case { name, line, expect }
        })
        .collect()
}

fn envelope(uuid: &str, rest: &str) -> String {
    format!(r#"{{"event_uuid":"{uuid}","event_name":"shop:cart:added","created_at":1644838800{rest}}}"#)
}

/// A valid event padded with a string field to exactly `len` bytes.
fn padded(uuid: &str, len: usize) -> Vec<u8> {
    let bare = envelope(uuid, r#","pad":"""#).len();
    envelope(uuid, &format!(r#","pad":"{}""#, "p".repeat(len - bare))).into_bytes()
}

fn generated() -> Vec<Case> {
    let case = |name: &str, expect: &str, line: Vec<u8>| Case {
        name: name.to_owned(),
        line,
        expect: expect.to_owned(),
    };
    let deep_arrays = envelope(
        "g-deep-arrays",
        &format!(r#","x":{}{}"#, "[".repeat(100_000), "]".repeat(100_000)),
    );
    let deep_objects = envelope(
        "g-deep-objects",
        &format!(r#","x":{}1{}"#, r#"{"a":"#.repeat(100_000), "}".repeat(100_000)),
    );
    let fields: String = (0..10_000).map(|i| format!(r#","hf{i}":{i}"#)).collect();
    let parts: Vec<String> = (0..1_000).map(|i| format!("p{i}")).collect();
    let many_parts = format!(
        r#"{{"event_uuid":"g-parts","event_name":"a:{}","created_at":1644838800}}"#,
        parts.join(":")
    );
    vec![
        case("deep arrays", "invalid_json", deep_arrays.into_bytes()),
        case("deep objects", "invalid_json", deep_objects.into_bytes()),
        case("exactly 1 MiB", "written", padded("g-1mib", MAX_RECORD_BYTES)),
        case(
            "1 MiB + 1",
            "too_large",
            padded("g-1mib-plus", MAX_RECORD_BYTES + 1),
        ),
        case("3 MiB line", "too_large", padded("g-3mib", 3 * MAX_RECORD_BYTES)),
        case(
            "10,000 fields",
            "written",
            envelope("g-fields", &fields).into_bytes(),
        ),
        case("1,000 name parts", "written", many_parts.into_bytes()),
    ]
}

async fn sql(session: &LakeSession, query: &str) -> Vec<RecordBatch> {
    session
        .ctx
        .sql(query)
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run")
}

/// `(sequence_number, other)` pairs of a two-column text query.
async fn pairs(session: &LakeSession, query: &str) -> BTreeMap<u64, String> {
    let mut out = BTreeMap::new();
    for batch in sql(session, query).await {
        for i in 0..batch.num_rows() {
            let text =
                |c: usize| arrow::util::display::array_value_to_string(batch.column(c), i).expect("text");
            let sequence: u64 = text(0).parse().expect("sequence number");
            assert!(
                out.insert(sequence, text(1)).is_none(),
                "line {sequence} has two rows"
            );
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_lines_get_their_documented_outcome() {
    let cases: Vec<Case> = fixtures().into_iter().chain(generated()).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("hostile.jsonl");
    let mut text = Vec::new();
    for case in &cases {
        text.extend_from_slice(&case.line);
        text.push(b'\n');
    }
    std::fs::write(&input, &text).expect("write input");
    let lake_dir = dir.path().join("lake");
    let lake_url = lake_dir.to_str().expect("utf8");
    let lake = Lake::open(lake_url, &StoreOptions::default()).expect("lake");
    let mut processor = BatchProcessor::open(lake, common::registry(), "hostile", common::config())
        .await
        .expect("open");
    // Small batches by count and by bytes: the big lines are cut into batches of their own.
    let options = RunOptions {
        batch_size: 8,
        batch_bytes: 2 * MAX_RECORD_BYTES,
        ..RunOptions::default()
    };
    let summary = run(
        &mut processor,
        &Input::File(input.clone()),
        options,
        &mut |_, _| {},
    )
    .await
    .expect("run");

    let by = |outcome: &str| cases.iter().filter(|c| c.expect == outcome).count() as u64;
    let c = &summary.counts;
    assert_eq!(c.records_in, cases.len() as u64);
    assert_eq!((c.failed, c.already_committed), (0, 0));
    assert_eq!(c.written, by("written"));
    assert_eq!(c.duplicates, by("duplicate"));
    assert_eq!(c.records_in, c.written + c.duplicates + c.quarantined);
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    for case in cases
        .iter()
        .filter(|c| !matches!(c.expect.as_str(), "written" | "duplicate"))
    {
        *reasons.entry(case.expect.clone()).or_default() += 1;
    }
    assert_eq!(c.quarantined_by_reason, reasons);
    assert!(summary.batches >= 4, "{} batches", summary.batches);

    let session = LakeSession::open(lake_url, &StoreOptions::default(), common::registry())
        .await
        .expect("session");
    let quarantined = pairs(&session, "SELECT sequence_number, reason FROM quarantine").await;
    let events = pairs(&session, "SELECT sequence_number, event_uuid FROM events").await;
    let duplicates = pairs(&session, "SELECT sequence_number, event_uuid FROM duplicates").await;
    assert_eq!(
        (quarantined.len(), events.len(), duplicates.len()),
        (c.quarantined as usize, c.written as usize, c.duplicates as usize)
    );
    for (i, case) in cases.iter().enumerate() {
        let line = i as u64 + 1;
        let found = match case.expect.as_str() {
            "written" => events.get(&line).map(|_| "written"),
            "duplicate" => duplicates.get(&line).map(|_| "duplicate"),
            reason => quarantined
                .get(&line)
                .filter(|r| *r == reason)
                .map(String::as_str),
        };
        assert_eq!(
            found,
            Some(case.expect.as_str()),
            "line {line} ({}): written {:?}, duplicate {:?}, quarantined {:?}",
            case.name,
            events.get(&line),
            duplicates.get(&line),
            quarantined.get(&line)
        );
        if case.expect == "written" {
            let sent: Value = serde_json::from_slice(&case.line).expect("a written line is JSON");
            assert_eq!(
                Some(&events[&line]),
                sent["event_uuid"].as_str().map(str::to_owned).as_ref(),
                "{}: uuid stored exactly",
                case.name
            );
        }
    }
    check_written_values(&session).await;
    check_quarantined_bytes(&session, &cases).await;
}

/// Values of written hostile events are stored exactly.
async fn check_written_values(session: &LakeSession) {
    let names = pairs(
        session,
        "SELECT sequence_number, event_type || '|' || coalesce(event_subtype, '') || '|' || event_name \
         FROM events WHERE event_uuid IN ('h-n10', 'h-n26x', 'g-parts')",
    )
    .await;
    let names: Vec<&String> = names.values().collect();
    assert_eq!(names[0], "a|🚀\u{200f}/x=%..\\\\|a:🚀\u{200f}/x=%..\\\\:z");
    assert_eq!(names[1], "nullable|x|nullable:x");
    assert!(names[2].starts_with("a|p0|a:p0:p1:"), "{}", names[2]);
    assert_eq!(names[2].split(':').count(), 1_001);
    let dates = pairs(
        session,
        "SELECT sequence_number, CAST(date AS VARCHAR) FROM events WHERE event_uuid = 'h-ts-2099'",
    )
    .await;
    assert_eq!(dates.values().next().map(String::as_str), Some("2099-12-31"));
    for (uuid, check) in [("h-u64", 2usize), ("g-fields", 10_000), ("g-1mib", 1)] {
        let batches = sql(
            session,
            &format!("SELECT extra FROM events WHERE event_uuid = '{uuid}'"),
        )
        .await;
        let batch = batches.iter().find(|b| b.num_rows() > 0).expect(uuid);
        let extra: Value = serde_json::from_str(batch.column(0).as_string::<i32>().value(0)).expect("extra");
        let extra = extra.as_object().expect("object");
        assert_eq!(extra.len(), check, "{uuid}: fields in extra");
        if uuid == "h-u64" {
            assert_eq!(extra["n"].as_u64(), Some(u64::MAX));
            assert_eq!(extra["m"].as_i64(), Some(i64::MIN));
        }
        if uuid == "g-1mib" {
            let pad = extra["pad"].as_str().expect("pad");
            assert_eq!(padded("g-1mib", MAX_RECORD_BYTES).len(), MAX_RECORD_BYTES);
            assert!(pad.len() > MAX_RECORD_BYTES - 100 && pad.bytes().all(|b| b == b'p'));
        }
    }
}

/// Quarantine keeps each record's bytes (an over-long line: its first limit + 1 bytes).
async fn check_quarantined_bytes(session: &LakeSession, cases: &[Case]) {
    let batches = sql(session, "SELECT sequence_number, raw, event_uuid FROM quarantine").await;
    let mut seen = 0;
    for batch in &batches {
        let sequences = batch.column(0).as_string::<i32>();
        let raw = batch.column(1).as_binary::<i32>();
        for i in 0..batch.num_rows() {
            let line: usize = sequences.value(i).parse().expect("sequence");
            let sent = &cases[line - 1].line;
            let kept = &sent[..sent.len().min(MAX_RECORD_BYTES + 1)];
            assert_eq!(raw.value(i), kept, "line {line} ({})", cases[line - 1].name);
            seen += 1;
        }
    }
    assert_eq!(
        seen,
        cases
            .iter()
            .filter(|c| !matches!(c.expect.as_str(), "written" | "duplicate"))
            .count()
    );
    let ids = pairs(
        session,
        "SELECT sequence_number, coalesce(event_uuid, '-') FROM quarantine WHERE reason = 'bad_uuid'",
    )
    .await;
    let mut ids: Vec<&str> = ids.values().map(String::as_str).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [" h-space", "h-\u{7}", "h-space "],
        "bad uuids are kept as sent"
    );
}
