//! Ingest generated events into a temporary directory with the library `ingest run` uses,
//! then read the lake back through DataFusion: row counts per table and partition agree with
//! the run's summary, types are as documented, and no uuid appears twice in `events`.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::arrow::util::display::array_value_to_string;
use ingest::batch::{BatchProcessor, ProcessorConfig};
use ingest::generate::{GenerateConfig, generate};
use ingest::run::{Input, RunOptions, run};
use ingest::storage::{Lake, StoreOptions};
use query::LakeSession;
use schemas::Registry;
use std::collections::BTreeMap;

fn text(column: &dyn Array, row: usize) -> String {
    array_value_to_string(column, row).expect("displayable")
}

async fn scalar(session: &LakeSession, sql: &str) -> i64 {
    let batches = session
        .ctx
        .sql(sql)
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
    batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

#[tokio::test]
async fn datafusion_reads_what_ingest_wrote() {
    let registry = Registry::embedded().expect("registry");
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("events.jsonl");
    let mut file = std::fs::File::create(&input).expect("create");
    generate(
        &registry,
        GenerateConfig {
            records: 5_000,
            seed: 11,
            ..GenerateConfig::default()
        },
        &mut file,
    )
    .expect("generate");
    let lake_dir = dir.path().join("lake");
    let lake = Lake::open(lake_dir.to_str().expect("utf8"), &StoreOptions::default()).expect("lake");
    let mut processor = BatchProcessor::open(lake, &registry, "test", ProcessorConfig::default())
        .await
        .expect("open");
    let options = RunOptions {
        batch_size: 1_000,
        ..RunOptions::default()
    };
    let summary = run(&mut processor, &Input::File(input), options, &mut |_, _| {})
        .await
        .expect("run");
    assert_eq!(summary.counts.records_in, 5_000);
    assert!(summary.counts.duplicates > 100 && summary.counts.quarantined > 0);

    let session = LakeSession::open(
        lake_dir.to_str().expect("utf8"),
        &StoreOptions::default(),
        &registry,
    )
    .await
    .expect("session");
    assert_eq!(
        scalar(&session, "SELECT count(*) FROM events").await as u64,
        summary.counts.written
    );
    assert_eq!(
        scalar(&session, "SELECT count(*) FROM duplicates").await as u64,
        summary.counts.duplicates
    );
    assert_eq!(
        scalar(&session, "SELECT count(*) FROM quarantine").await as u64,
        summary.counts.quarantined
    );
    assert_eq!(
        scalar(
            &session,
            "SELECT count(*) - count(DISTINCT event_uuid) FROM events"
        )
        .await,
        0
    );
    let dangling = "SELECT count(*) FROM duplicates d LEFT JOIN events e ON d.event_uuid = e.event_uuid WHERE e.event_uuid IS NULL";
    assert_eq!(
        scalar(&session, dangling).await,
        0,
        "every duplicate's original is in events"
    );

    // Per partition, DataFusion agrees with what the run says it wrote.
    let sql = "SELECT event_type, CAST(date AS VARCHAR) AS d, count(*) AS n FROM events GROUP BY 1, 2";
    let batches = session
        .ctx
        .sql(sql)
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
    let mut seen = BTreeMap::new();
    for b in &batches {
        for i in 0..b.num_rows() {
            let key = format!(
                "events/event_type={}/date={}",
                text(b.column(0), i),
                text(b.column(1), i)
            );
            seen.insert(key, b.column(2).as_primitive::<Int64Type>().value(i) as u64);
        }
    }
    let expected: BTreeMap<_, _> = summary
        .rows_per_partition
        .iter()
        .filter(|(k, _)| k.starts_with("events/"))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert_eq!(seen, expected);

    let types = "SELECT arrow_typeof(created_datetime), arrow_typeof(date), arrow_typeof(event_type), arrow_typeof(amount) FROM events LIMIT 1";
    let batches = session
        .ctx
        .sql(types)
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
    let row: Vec<String> = (0..4).map(|c| text(batches[0].column(c), 0)).collect();
    assert_eq!(row[0], "Timestamp(µs, \"UTC\")");
    assert_eq!(row[1], "Date32");
    assert!(row[2].contains("Utf8"), "{}", row[2]);
    assert_eq!(row[3], "Float64");
}
