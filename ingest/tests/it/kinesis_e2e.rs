//! The whole path on loopback, with real wire protocols: moto's Kinesis and S3, `ingest
//! produce`, then (a) the real Lambda binary under `cargo lambda watch`, fed by `ingest
//! invoke`, and (b) `ingest consume` into a second lake, including a consumer killed mid-run
//! and restarted, and (c) replays with `ingest consume --at` and `--failure-record`, into the
//! same lake (nothing changes) and into a fresh one (exactly the range lands). Each lake is
//! queried through DataFusion on its s3:// URL and must hold exactly the expected events,
//! duplicates and quarantine rows.

use crate::common;

use common::moto::Moto;
use ingest::decode::decode;
use ingest::generate::{GenerateConfig, generate};
use ingest::source::SequenceNumber;
use query::LakeSession;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BUCKET: &str = "lake";

/// What the lake must hold for a given input, computed from the input alone.
#[derive(Debug)]
struct Expected {
    records: u64,
    uuids: BTreeSet<String>,
    duplicates: u64,
    quarantined: u64,
}

fn write_input(dir: &Path, records: u64, seed: u64) -> (PathBuf, Expected) {
    let config = GenerateConfig {
        records,
        seed,
        duplicate_rate: 0.08,
        invalid_rate: 0.01,
        ..GenerateConfig::default()
    };
    let mut bytes = Vec::new();
    generate(common::registry(), config, &mut bytes).expect("generate");
    let mut expected = Expected {
        records: 0,
        uuids: BTreeSet::new(),
        duplicates: 0,
        quarantined: 0,
    };
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        expected.records += 1;
        match decode(line) {
            Ok(event) => {
                if !expected.uuids.insert(event.event_uuid().to_owned()) {
                    expected.duplicates += 1;
                }
            }
            Err(_) => expected.quarantined += 1,
        }
    }
    assert!(
        expected.duplicates > 0 && expected.quarantined > 0,
        "{expected:?}"
    );
    let path = dir.join("events.jsonl");
    std::fs::write(&path, bytes).expect("write input");
    (path, expected)
}

fn ingest(moto: &Moto, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ingest"));
    command.args(args).envs(moto.env());
    command
}

fn run_json(mut command: Command) -> Value {
    let output = command.output().expect("run ingest");
    assert!(
        output.status.success(),
        "{:?} failed: {}",
        command,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("a JSON summary")
}

fn produce(moto: &Moto, stream: &str, input: &Path) -> Value {
    let summary = run_json(ingest(
        moto,
        &[
            "produce",
            "--stream",
            stream,
            "--input",
            input.to_str().expect("utf-8"),
            "--summary",
            "json",
        ],
    ));
    assert_eq!(summary["rejected_too_large"], 0);
    summary
}

fn consume_command(moto: &Moto, stream: &str, lake: &str, extra: &[&str]) -> Command {
    let mut args = vec!["consume", "--stream", stream, "--lake", lake, "--summary", "json"];
    args.extend_from_slice(extra);
    ingest(moto, &args)
}

/// Queries the lake through DataFusion and compares it with what the input implies.
async fn assert_lake_holds(moto: &Moto, prefix: &str, expected: &Expected) {
    let session = LakeSession::for_lake(moto.lake(BUCKET, prefix), common::registry())
        .await
        .expect("session");
    assert_eq!(session.root_url, format!("s3://{BUCKET}/{prefix}/"));
    let uuids = strings(&session, "SELECT event_uuid FROM events").await;
    let distinct: BTreeSet<String> = uuids.iter().cloned().collect();
    assert_eq!(
        uuids.len(),
        distinct.len(),
        "an event_uuid appears twice in events"
    );
    assert_eq!(
        distinct, expected.uuids,
        "events differ from the input's unique events"
    );
    assert_eq!(
        count(&session, "SELECT count(*) FROM duplicates").await,
        expected.duplicates
    );
    assert_eq!(
        count(&session, "SELECT count(*) FROM quarantine").await,
        expected.quarantined
    );
    let orphans = "SELECT count(*) FROM duplicates d LEFT JOIN events e ON d.event_uuid = e.event_uuid \
                   WHERE e.event_uuid IS NULL";
    assert_eq!(
        count(&session, orphans).await,
        0,
        "a duplicate without its original"
    );
}

async fn strings(session: &LakeSession, sql: &str) -> Vec<String> {
    let batches = session
        .ctx
        .sql(sql)
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
    let mut out = Vec::new();
    for batch in batches {
        for i in 0..batch.num_rows() {
            out.push(arrow::util::display::array_value_to_string(batch.column(0), i).expect("text"));
        }
    }
    out
}

async fn count(session: &LakeSession, sql: &str) -> u64 {
    let values = strings(session, sql).await;
    values[0].parse().expect("a count")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port()
}

fn wait_for_port(port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            child.try_wait().expect("status").is_none(),
            "the server on port {port} exited"
        );
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A child process killed when the test ends, pass or fail.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn venv_bin(name: &str) -> PathBuf {
    let venv = std::env::var("EVENTLAKE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv"));
    let bin = venv.join("bin").join(name);
    assert!(bin.exists(), "{} not found: run scripts/venv.sh", bin.display());
    bin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_then_lambda_and_consume_each_build_the_exact_lake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let moto = Moto::start();
    moto.create_bucket(BUCKET);
    moto.create_stream("events", 2);
    let (input, expected) = write_input(dir.path(), 20_000, 2026);
    let produced = produce(&moto, "events", &input);
    assert_eq!(produced["records"], expected.records);
    let shards = produced["records_per_shard"].as_object().expect("shards");
    assert_eq!(shards.len(), 2, "both shards get records: {shards:?}");

    // (a) The Lambda binary under cargo lambda's runtime emulator, fed by the invoker.
    let port = free_port();
    let mut watch = Command::new(venv_bin("cargo-lambda"));
    watch
        .args([
            "lambda",
            "watch",
            "--only-lambda-apis",
            "-A",
            "127.0.0.1",
            "-P",
            &port.to_string(),
        ])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut watch = Killed(watch.spawn().expect("start cargo lambda watch"));
    wait_for_port(port, &mut watch.0);
    let function_log = dir.path().join("function.log");
    let function = Command::new(env!("CARGO_BIN_EXE_eventlake-lambda"))
        .envs(moto.env())
        .env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{port}/.rt"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "_")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        .env("EVENTLAKE_LAKE_URL", format!("s3://{BUCKET}/by-lambda"))
        .stdout(std::fs::File::create(&function_log).expect("log"))
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the function");
    let function = Killed(function);
    let invoked = run_json(ingest(
        &moto,
        &[
            "invoke",
            "--stream",
            "events",
            "--lambda-endpoint",
            &format!("http://127.0.0.1:{port}"),
            "--until-idle",
            "3",
            "--batch-size",
            "5000",
            "--summary",
            "json",
        ],
    ));
    drop(function);
    drop(watch);
    assert_eq!(invoked["records_done"], expected.records);
    assert_eq!(invoked["retried_deliveries"], 0);
    let metrics = emf_totals(&function_log);
    assert_eq!(metrics.0, expected.records, "RecordsIn over all invocations");
    assert_eq!(
        metrics.1,
        expected.uuids.len() as u64,
        "Written over all invocations"
    );
    assert_lake_holds(&moto, "by-lambda", &expected).await;

    // (b) The same stream consumed in-process into another lake.
    let consumed = run_json(consume_command(
        &moto,
        "events",
        &format!("s3://{BUCKET}/by-consumer"),
        &["--until-idle", "3"],
    ));
    assert_eq!(consumed["records_done"], expected.records);
    assert_eq!(consumed["written"], expected.uuids.len() as u64);
    assert_eq!(consumed["duplicates"], expected.duplicates);
    assert_eq!(consumed["quarantined"], expected.quarantined);
    assert_lake_holds(&moto, "by-consumer", &expected).await;

    // A second run finds the checkpoints and has nothing left to do.
    let again = run_json(consume_command(
        &moto,
        "events",
        &format!("s3://{BUCKET}/by-consumer"),
        &["--until-idle", "1"],
    ));
    assert_eq!(again["records_done"], 0);
}

/// (RecordsIn, Written) summed over the function's EMF lines.
fn emf_totals(log: &Path) -> (u64, u64) {
    let text = std::fs::read_to_string(log).expect("function log");
    let mut totals = (0, 0);
    for line in text.lines().filter(|l| l.contains("CloudWatchMetrics")) {
        let doc: Value = serde_json::from_str(line).expect("EMF is JSON");
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], "eventlake");
        totals.0 += doc["RecordsIn"].as_u64().expect("RecordsIn");
        totals.1 += doc["Written"].as_u64().expect("Written");
    }
    totals
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_killed_mid_run_resumes_without_loss_or_doubles() {
    let dir = tempfile::tempdir().expect("tempdir");
    let moto = Moto::start();
    moto.create_bucket(BUCKET);
    moto.create_stream("kills", 2);
    let (input, expected) = write_input(dir.path(), 6_000, 7);
    produce(&moto, "kills", &input);
    let lake_url = format!("s3://{BUCKET}/killed");
    let checkpoints = moto.lake(BUCKET, "killed");

    // Kill -9 twice: as soon as the first checkpoint appears, then once it has moved on.
    // A kill between a batch's claims and its manifest leaves claims that only their lease
    // ends; a short lease lets the last consumer take them over in seconds (the default
    // would make it wait 16 minutes).
    let lease = ["--lease-seconds", "3"];
    let mut last_seen = Vec::new();
    for round in 0..2 {
        let mut child = Killed(
            consume_command(
                &moto,
                "kills",
                &lake_url,
                &["--batch-size", "100", lease[0], lease[1]],
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start consume"),
        );
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let now = checkpoint_objects(&checkpoints).await;
            if !now.is_empty() && now != last_seen {
                last_seen = now;
                break;
            }
            assert!(Instant::now() < deadline, "round {round}: no checkpoint progress");
            assert!(
                child.0.try_wait().expect("status").is_none(),
                "consume exited early"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        child.0.kill().expect("kill -9");
    }

    let finished = run_json(consume_command(
        &moto,
        "kills",
        &lake_url,
        &["--until-idle", "3", lease[0], lease[1]],
    ));
    let left = finished["records_done"].as_u64().expect("records_done");
    assert!(
        left > 0 && left < expected.records,
        "the kills must land mid-run: {left} left"
    );
    assert_lake_holds(&moto, "killed", &expected).await;
}

/// The checkpoint objects and their contents, to see progress from outside.
async fn checkpoint_objects(lake: &ingest::storage::Lake) -> Vec<(String, String)> {
    use futures::TryStreamExt;
    use object_store::ObjectStoreExt;
    let prefix = lake.path("_ledger/consumers");
    let objects: Vec<_> = lake
        .store
        .list(Some(&prefix))
        .try_collect()
        .await
        .unwrap_or_default();
    let mut out = Vec::new();
    for meta in objects {
        if let Ok(got) = lake.store.get(&meta.location).await
            && let Ok(bytes) = got.bytes().await
        {
            out.push((
                meta.location.to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    out.sort();
    out
}

/// Every record's sequence number in the lake's three tables, per shard, in order.
async fn lake_sources(moto: &Moto, prefix: &str) -> BTreeMap<String, Vec<SequenceNumber>> {
    let session = LakeSession::for_lake(moto.lake(BUCKET, prefix), common::registry())
        .await
        .expect("session");
    let sql = "SELECT concat(shard_id, '=', sequence_number) FROM (\
               SELECT shard_id, sequence_number FROM events UNION ALL \
               SELECT shard_id, sequence_number FROM duplicates UNION ALL \
               SELECT shard_id, sequence_number FROM quarantine)";
    let mut out: BTreeMap<String, Vec<SequenceNumber>> = BTreeMap::new();
    for text in strings(&session, sql).await {
        let (shard, sequence) = text.split_once('=').expect("shard=sequence");
        out.entry(shard.to_owned())
            .or_default()
            .push(SequenceNumber::parse(sequence).expect("a sequence number"));
    }
    for sequences in out.values_mut() {
        sequences.sort();
    }
    out
}

/// The shipped on-failure record, pointed at a range of this test's stream.
fn failure_record(dir: &Path, stream: &str, shard: &str, range: &[SequenceNumber]) -> PathBuf {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/kinesis_failure_record.json"
    );
    let mut record: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).expect("fixture")).expect("JSON");
    let info = &mut record["KinesisBatchInfo"];
    info["shardId"] = shard.into();
    info["startSequenceNumber"] = range[0].as_str().into();
    info["endSequenceNumber"] = range[range.len() - 1].as_str().into();
    info["batchSize"] = range.len().into();
    info["streamArn"] = format!("arn:aws:kinesis:us-east-1:123456789012:stream/{stream}").into();
    let path = dir.join("failure-record.json");
    std::fs::write(&path, record.to_string()).expect("write record");
    path
}

/// A replay that only re-delivers records already in the lake: every one is a retry.
fn assert_all_retries(summary: &Value, records: usize) {
    assert_eq!(summary["records_done"], records, "{summary}");
    assert_eq!(summary["already_committed"], records, "{summary}");
    assert_eq!(summary["files"], 0, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_are_retries_and_a_failure_record_replays_exactly_its_range() {
    let dir = tempfile::tempdir().expect("tempdir");
    let moto = Moto::start();
    moto.create_bucket(BUCKET);
    moto.create_stream("replays", 2);
    let (input, expected) = write_input(dir.path(), 4_000, 11);
    produce(&moto, "replays", &input);
    let lake_url = format!("s3://{BUCKET}/replayed");
    let consumed = run_json(consume_command(
        &moto,
        "replays",
        &lake_url,
        &["--until-idle", "2"],
    ));
    assert_eq!(consumed["records_done"], expected.records);
    assert_lake_holds(&moto, "replayed", &expected).await;
    let sources = lake_sources(&moto, "replayed").await;
    let (shard, sequences) = sources
        .iter()
        .max_by_key(|(_, s)| s.len())
        .expect("records on some shard");
    assert!(sequences.len() > 1_000, "{} records on {shard}", sequences.len());

    // From a mid-stream sequence number to the shard's tip: all retries, the lake unchanged.
    let mid = sequences.len() / 2;
    let at = format!("{shard}={}", sequences[mid]);
    let replay = run_json(consume_command(
        &moto,
        "replays",
        &lake_url,
        &["--at", &at, "--until-idle", "2"],
    ));
    assert_all_retries(&replay, sequences.len() - mid);
    assert_eq!(replay["shards_seen"], 1, "only the named shard is read");
    assert_lake_holds(&moto, "replayed", &expected).await;

    // A bounded range: --at .. --until.
    let until = format!("{shard}={}", sequences[mid + 99]);
    let replay = run_json(consume_command(
        &moto,
        "replays",
        &lake_url,
        &["--at", &at, "--until", &until, "--until-idle", "30"],
    ));
    assert_all_retries(&replay, 100);

    // The batch an on-failure record names: all retries too.
    let range = &sequences[mid / 2..mid / 2 + 500];
    let record = failure_record(dir.path(), "replays", shard, range);
    let record = record.to_str().expect("utf-8");
    let replay = run_json(consume_command(
        &moto,
        "replays",
        &lake_url,
        &["--failure-record", record, "--until-idle", "30"],
    ));
    assert_all_retries(&replay, range.len());
    assert!(
        replay["seconds"].as_f64().expect("seconds") < 25.0,
        "the replay stops at the range's end, not when idle: {replay}"
    );
    assert_lake_holds(&moto, "replayed", &expected).await;

    // Replays left the consumer's checkpoints alone: a normal run has nothing to do.
    let again = run_json(consume_command(
        &moto,
        "replays",
        &lake_url,
        &["--until-idle", "1"],
    ));
    assert_eq!(again["records_done"], 0, "{again}");

    // The same record into a fresh lake writes exactly its range, and no checkpoint.
    let fresh = run_json(consume_command(
        &moto,
        "replays",
        &format!("s3://{BUCKET}/fresh"),
        &["--failure-record", record, "--until-idle", "30"],
    ));
    assert_eq!(fresh["records_done"], range.len(), "{fresh}");
    assert_eq!(fresh["already_committed"], 0, "{fresh}");
    let landed = lake_sources(&moto, "fresh").await;
    assert_eq!(landed, BTreeMap::from([(shard.clone(), range.to_vec())]));
    assert!(checkpoint_objects(&moto.lake(BUCKET, "fresh")).await.is_empty());

    // A shard the stream does not have: a one-line error naming it.
    let output = consume_command(&moto, "replays", &lake_url, &["--at", "shardId-000000000099=1"])
        .output()
        .expect("run ingest");
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("shardId-000000000099 is not in the stream") && err.trim().lines().count() == 1,
        "{err}"
    );
}

/// After `lakeq erase`, neither a replay of the whole stream (the original records again,
/// from TRIM_HORIZON under another consumer) nor re-sends of the erased event brought in
/// through Kinesis write any of its rows: the re-sends are counted instead.
#[tokio::test(flavor = "multi_thread")]
async fn an_erased_event_stays_out_of_a_kinesis_replay_and_of_its_resends() {
    use query::erase::{EraseOptions, erase};
    let dir = tempfile::tempdir().expect("tempdir");
    let moto = Moto::start();
    moto.create_bucket(BUCKET);
    moto.create_stream("erasure", 1);
    let (input, expected) = write_input(dir.path(), 400, 41);
    produce(&moto, "erasure", &input);
    let url = format!("s3://{BUCKET}/erasure");
    run_json(consume_command(&moto, "erasure", &url, &["--until-idle", "2"]));
    let lake = moto.lake(BUCKET, "erasure");
    let session = LakeSession::for_lake(lake.clone(), common::registry())
        .await
        .expect("session");
    let uuid = strings(&session, "SELECT min(event_uuid) FROM duplicates")
        .await
        .remove(0);
    let options = EraseOptions {
        uuids: vec![uuid.clone()],
        takeover_millis: 0,
        ..EraseOptions::default()
    };
    let summary = erase(
        &lake,
        common::registry(),
        &options,
        ingest::display::now_millis(),
        &mut |_, _| {},
    )
    .await
    .expect("erase");
    assert!(summary.files.len() >= 2, "{summary:?}");

    let replayed = run_json(consume_command(
        &moto,
        "erasure",
        &url,
        &[
            "--until-idle",
            "2",
            "--consumer",
            "replay",
            "--from",
            "trim-horizon",
        ],
    ));
    assert_eq!(replayed["records_done"], expected.records);
    assert_eq!(replayed["already_committed"], expected.records);

    let original = std::fs::read_to_string(&input)
        .expect("input")
        .lines()
        .find(|line| line.contains(&uuid))
        .expect("the input has the uuid")
        .to_owned();
    let resends = dir.path().join("resends.jsonl");
    std::fs::write(&resends, format!("{original}\n{original}\n")).expect("write");
    produce(&moto, "erasure", &resends);
    let consumed = run_json(consume_command(&moto, "erasure", &url, &["--until-idle", "2"]));
    assert_eq!(consumed["records_done"], 2);
    assert_eq!(consumed["erased_resends"], 2);

    let session = LakeSession::for_lake(lake, common::registry())
        .await
        .expect("session");
    for table in ["events", "duplicates"] {
        let sql = format!("SELECT count(*) FROM {table} WHERE event_uuid = '{uuid}'");
        assert_eq!(count(&session, &sql).await, 0, "{table}");
    }
    assert_eq!(
        count(&session, "SELECT count(DISTINCT event_uuid) FROM events").await,
        expected.uuids.len() as u64 - 1
    );
}
