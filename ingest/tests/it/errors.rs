//! The errors a person can cause with `ingest` and `eventlake-lambda`, each one line that
//! names the cause and the fix, with exit 2 (a person must change something) or 1 (a failure
//! at run time): exact stderr and exit codes in `tests/fixtures/errors/ingest.txt`. S3 answers
//! come from moto's server (one with auth enforced) and from a canned S3 on loopback that
//! answers as AWS does for a bucket in another region or a denied key. To accept a
//! deliberate change: `EVENTLAKE_BLESS=1 cargo test -p ingest --test it errors::`.

use crate::common::error_table::{
    Case, check, closed_port, run_reader_closing_early, shared_fixtures, table, write,
};
use crate::common::moto::Moto;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;

const INGEST: &str = env!("CARGO_BIN_EXE_ingest");
const LAMBDA: &str = env!("CARGO_BIN_EXE_eventlake-lambda");
const BLESS: &str = "EVENTLAKE_BLESS=1 cargo test -p ingest --test it errors::";

const HEADER: &str = "\
# Errors of ingest and eventlake-lambda: each row's command, the variables it sets (every row
# runs with an empty environment plus PATH, and AWS_EC2_METADATA_DISABLED=true unless set),
# its stdin, exit code and stderr. Written by ingest/tests/it/errors.rs; to accept a change:
# EVENTLAKE_BLESS=1 cargo test -p ingest --test it errors::";

/// A one-line record on stdin, for rows that fail before reading it.
const RECORD: &str =
    r#"{"event_uuid":"00000000-0000-4000-8000-000000000001","event_name":"a:b","created_at":1}"#;

fn ingest(title: &'static str, args: &[&str]) -> Case {
    Case::new(title, "ingest", INGEST, args)
}

fn lambda(title: &'static str) -> Case {
    Case::new(title, "eventlake-lambda", LAMBDA, &[])
}

/// An S3 look-alike that gives every request the same answer, as AWS words it.
fn canned_s3(status: &'static str, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let mut stream = &stream;
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    endpoint
}

/// Lakes and registry directories the rows point at.
fn fixtures(dir: &Path) {
    shared_fixtures(dir);
    write(
        &dir.join("registry-two-types/a.b.json"),
        r#"{"event_name":"a:b","fields":{"n":"integer"}}"#,
    );
    write(
        &dir.join("registry-two-types/c.d.json"),
        r#"{"event_name":"c:d","fields":{"n":"string"}}"#,
    );
    std::fs::create_dir_all(dir.join("registry-empty")).expect("dir");
}

/// The S3 servers of the rows: moto, moto checking credentials, canned AWS answers, and a
/// port nothing listens on.
struct Servers {
    moto: Moto,
    auth: Moto,
    closed: u16,
    region: String,
    redirect: String,
    denied: String,
}

impl Servers {
    fn start() -> Servers {
        let moto = Moto::start();
        moto.create_bucket("lake");
        moto.create_stream("events", 1);
        Servers {
            moto,
            auth: Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]),
            closed: closed_port(),
            region: canned_s3(
                "400 Bad Request",
                "<Error><Code>AuthorizationHeaderMalformed</Code><Message>The authorization header is \
                 malformed; the region 'us-east-1' is wrong; expecting 'eu-west-1'</Message>\
                 <Region>eu-west-1</Region></Error>",
            ),
            redirect: canned_s3(
                "301 Moved Permanently",
                "<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access \
                 must be addressed using the specified endpoint.</Message></Error>",
            ),
            denied: canned_s3(
                "403 Forbidden",
                "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
            ),
        }
    }

    fn masks(&self) -> Vec<(String, String)> {
        let canned = "http://127.0.0.1:<CANNED>".to_owned();
        vec![
            (
                self.auth.endpoint.clone(),
                "http://127.0.0.1:<MOTO_AUTH>".to_owned(),
            ),
            (self.moto.endpoint.clone(), "http://127.0.0.1:<MOTO>".to_owned()),
            (
                format!("127.0.0.1:{}", self.closed),
                "127.0.0.1:<CLOSED>".to_owned(),
            ),
            (self.region.clone(), canned.clone()),
            (self.redirect.clone(), canned.clone()),
            (self.denied.clone(), canned),
        ]
    }
}

fn s3_rows(servers: &Servers) -> Vec<Case> {
    let keys = [
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
    ];
    let case = |title: &'static str, lake: &str, endpoint: &str| {
        ingest(
            title,
            &["run", "--input", "-", "--lake", lake, "--endpoint-url", endpoint],
        )
        .stdin(RECORD)
    };
    let moto = &servers.moto.endpoint;
    let closed = format!("http://127.0.0.1:{}", servers.closed);
    vec![
        case(
            "no AWS credentials (none set, instance metadata off)",
            "s3://lake/x",
            moto,
        ),
        case(
            "no AWS credentials (the instance metadata service does not answer)",
            "s3://lake/x",
            moto,
        )
        .env("AWS_EC2_METADATA_DISABLED", "false")
        .env("AWS_METADATA_ENDPOINT", &closed),
        case("a bucket that does not exist", "s3://nobucket/x", moto).envs(&keys),
        case(
            "credentials the server does not know",
            "s3://lake/x",
            &servers.auth.endpoint,
        )
        .envs(&keys),
        case("access denied", "s3://lake/x", &servers.denied).envs(&keys),
        case(
            "a bucket in another region (AuthorizationHeaderMalformed)",
            "s3://lake/x",
            &servers.region,
        )
        .envs(&keys),
        case(
            "a bucket in another region (301 PermanentRedirect)",
            "s3://lake/x",
            &servers.redirect,
        )
        .envs(&keys),
        case("a wrong --endpoint-url (nothing listens)", "s3://lake/x", &closed).envs(&keys),
    ]
}

/// Kinesis failures a person fixes, through `ingest consume` (its lake is a local directory).
fn kinesis_rows(servers: &Servers, dir: &Path) -> Vec<Case> {
    let keys = [
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
    ];
    let lake = dir.join("kinesis-lake").display().to_string();
    let consume = |title: &'static str, endpoint: &str| {
        ingest(
            title,
            &[
                "consume",
                "--stream",
                "nostream",
                "--lake",
                &lake,
                "--endpoint-url",
                endpoint,
            ],
        )
    };
    let closed = format!("http://127.0.0.1:{}", servers.closed);
    vec![
        consume("a Kinesis stream that does not exist", &servers.moto.endpoint).envs(&keys),
        consume("Kinesis without AWS credentials", &servers.moto.endpoint).env("AWS_REGION", "us-east-1"),
        consume(
            "Kinesis credentials the server does not know",
            &servers.auth.endpoint,
        )
        .envs(&keys),
        consume("a wrong Kinesis --endpoint-url (nothing listens)", &closed).envs(&keys),
        ingest(
            "invoke with checkpoints in a bucket that does not exist (fails before any record)",
            &[
                "invoke",
                "--stream",
                "events",
                "--endpoint-url",
                &servers.moto.endpoint,
                "--lambda-endpoint",
                &closed,
                "--checkpoints",
                "s3://nobucket/checkpoints",
            ],
        )
        .envs(&keys),
    ]
}

fn local_rows(dir: &Path) -> Vec<Case> {
    let at = |name: &str| dir.join(name).display().to_string();
    let lake = at("lake");
    let run_with_registry = |title: &'static str, registry: &str| {
        ingest(
            title,
            &[
                "run",
                "--input",
                "-",
                "--lake",
                &lake,
                "--registry",
                &at(registry),
            ],
        )
        .stdin(RECORD)
    };
    vec![
        ingest(
            "an input file that does not exist",
            &["run", "--input", &at("nope.jsonl"), "--lake", &lake],
        ),
        ingest(
            "a lake URL of an unknown scheme",
            &["run", "--input", "-", "--lake", "ftp://host/lake"],
        )
        .stdin(RECORD),
        ingest(
            "a lake of a newer format",
            &["run", "--input", "-", "--lake", &at("newer")],
        )
        .stdin(RECORD),
        ingest(
            "a corrupt ledger config (a failure, not a mistake: exit 1)",
            &["run", "--input", "-", "--lake", &at("corrupt")],
        )
        .stdin(RECORD),
        run_with_registry("a registry document that is not JSON", "registry-bad-json"),
        run_with_registry("a registry with a field of two types", "registry-two-types"),
        run_with_registry("a registry directory without documents", "registry-empty"),
        run_with_registry("a registry directory that does not exist", "nope"),
        ingest(
            "a flag value out of range",
            &["run", "--input", "-", "--lake", &lake, "--batch-size", "0"],
        ),
        ingest("a misspelt flag", &["run", "--input", "-", "--lak", &lake]),
        ingest(
            "flags that do not go together",
            &[
                "generate",
                "--events",
                "10",
                "--duplicate-rate",
                "0.6",
                "--invalid-rate",
                "0.6",
            ],
        ),
        ingest(
            "a replay position without its sequence number",
            &["consume", "--stream", "s", "--lake", &lake, "--at", "shardId-1"],
        ),
    ]
}

fn lambda_rows() -> Vec<Case> {
    vec![
        lambda("the Lambda without its lake"),
        lambda("the Lambda with a lake URL of an unknown scheme")
            .env("EVENTLAKE_LAKE_URL", "ftp://host/lake"),
        lambda("the Lambda with a setting that is not a number")
            .env("EVENTLAKE_LAKE_URL", "s3://lake/x")
            .env("EVENTLAKE_LEDGER_CACHE_MIB", "abc"),
        lambda("the Lambda with a bad log filter")
            .env("EVENTLAKE_LAKE_URL", "s3://lake/x")
            .env("RUST_LOG", "ingest=loud"),
        lambda("the Lambda without AWS credentials").env("EVENTLAKE_LAKE_URL", "s3://lake/x"),
    ]
}

#[test]
fn every_error_is_one_line_with_its_cause_and_fix() {
    let servers = Servers::start();
    let dir = tempfile::tempdir().expect("tempdir");
    fixtures(dir.path());
    let cases: Vec<Case> = s3_rows(&servers)
        .into_iter()
        .chain(kinesis_rows(&servers, dir.path()))
        .chain(local_rows(dir.path()))
        .chain(lambda_rows())
        .collect();
    let mut masks = servers.masks();
    masks.push((dir.path().display().to_string(), "<TMP>".to_owned()));
    let actual = table(HEADER, &cases, &masks);
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/errors/ingest.txt");
    check(&golden, &actual, BLESS);
}

/// `ingest generate | head`: the reader has what it wanted, so `ingest` stops quietly.
#[test]
fn a_reader_that_closes_early_ends_the_command_quietly() {
    let outcome = run_reader_closing_early(INGEST, &["generate", "--events", "20000"]);
    assert_eq!((outcome.code, outcome.stderr.as_str()), (0, ""));
}
