//! `ingest run --lake s3://...` against a failing S3: a loopback proxy in front of moto's
//! S3 answers `503 SlowDown` to chosen requests. With intermittent 503s the run completes
//! with exact counts (the store client retries); with every request failing it exits
//! non-zero with a one-line, retryable error; a re-run after the store heals leaves exactly
//! the expected lake (nothing lost, nothing doubled).

use crate::common;

use common::moto::Moto;
use common::{check_invariant, file_records, read_lake};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Which requests the proxy fails.
#[derive(Debug, Default)]
struct Faults {
    /// Fail every n-th request (0: none).
    every: AtomicU64,
    /// Fail every request after this many (0: no outage).
    outage_after: AtomicU64,
    requests: AtomicU64,
    injected: AtomicU64,
    stop: AtomicBool,
}

impl Faults {
    fn should_fail(&self) -> bool {
        let n = self.requests.fetch_add(1, Ordering::SeqCst) + 1;
        let every = self.every.load(Ordering::SeqCst);
        let after = self.outage_after.load(Ordering::SeqCst);
        let fail = (every > 0 && n.is_multiple_of(every)) || (after > 0 && n > after);
        if fail {
            self.injected.fetch_add(1, Ordering::SeqCst);
        }
        fail
    }

    fn set(&self, every: u64, outage_after: u64) {
        self.every.store(every, Ordering::SeqCst);
        self.outage_after.store(outage_after, Ordering::SeqCst);
        self.requests.store(0, Ordering::SeqCst);
        self.injected.store(0, Ordering::SeqCst);
    }
}

/// A proxy on a loopback port: one request per connection, forwarded to `upstream` with
/// `Connection: close`, or answered with 503 SlowDown. Serves until `faults.stop`.
fn start_proxy(upstream: &str, faults: Arc<Faults>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
    let address = listener.local_addr().expect("addr");
    listener.set_nonblocking(true).expect("nonblocking");
    let upstream = upstream.trim_start_matches("http://").to_owned();
    std::thread::spawn(move || {
        while !faults.stop.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((client, _)) => {
                    let faults = Arc::clone(&faults);
                    let upstream = upstream.clone();
                    std::thread::spawn(move || {
                        let _ = serve(client, &upstream, &faults);
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    format!("http://{address}")
}

fn serve(client: TcpStream, upstream: &str, faults: &Faults) -> std::io::Result<()> {
    client.set_nonblocking(false)?;
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        if !lower.starts_with("connection:") {
            head.extend_from_slice(line.as_bytes());
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut client = client;
    if faults.should_fail() {
        let xml = "<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
        write!(
            client,
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
            xml.len()
        )?;
        return Ok(());
    }
    let mut server = TcpStream::connect(upstream)?;
    server.set_read_timeout(Some(Duration::from_secs(30)))?;
    server.write_all(&head)?;
    server.write_all(b"Connection: close\r\n\r\n")?;
    server.write_all(&body)?;
    std::io::copy(&mut server, &mut client)?;
    Ok(())
}

fn ingest(args: &[&str], env: &[(&'static str, String)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ingest"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("run ingest")
}

/// `ingest run` arguments; `quick_failure` gives up after few retries (for the outage).
fn run_args<'a>(input: &'a str, lake: &'a str, quick_failure: bool) -> Vec<&'a str> {
    let mut args = vec![
        "run",
        "--input",
        input,
        "--lake",
        lake,
        "--summary",
        "json",
        "--batch-size",
        "150",
        "--lease-seconds",
        "1",
    ];
    if quick_failure {
        args.extend([
            "--store-retries",
            "2",
            "--store-retry-seconds",
            "10",
            "--attempts",
            "2",
        ]);
    }
    args
}

fn summary_of(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("summary JSON")
}

#[test]
fn s3_faults_are_retried_reported_and_healed() {
    let moto = Moto::start();
    moto.create_bucket("faulty");
    let faults = Arc::new(Faults::default());
    let proxy = start_proxy(&moto.endpoint, Arc::clone(&faults));
    let mut env = moto.env();
    for (key, value) in &mut env {
        if *key == "AWS_ENDPOINT_URL" {
            *value = proxy.clone();
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.jsonl");
    let input_text = input.to_str().expect("utf8");
    let generated = ingest(
        &[
            "generate", "--events", "600", "--seed", "11", "--output", input_text,
        ],
        &[],
    );
    assert!(generated.status.success());
    let records = file_records(&input);
    let rt = tokio::runtime::Runtime::new().expect("runtime");

    // Every third request is refused: the store client retries (default settings: 10 times,
    // so even a request that keeps drawing refusals among concurrent ones gets through).
    faults.set(3, 0);
    let summary = summary_of(&ingest(
        &run_args(input_text, "s3://faulty/intermittent", false),
        &env,
    ));
    assert!(
        faults.injected.load(Ordering::SeqCst) > 10,
        "faults were injected"
    );
    assert_eq!(summary["records_in"], 600);
    assert_eq!(summary["failed"], 0);
    let rows = rt.block_on(read_lake(&moto.lake("faulty", "intermittent")));
    check_invariant(&records, &rows).expect("exact lake despite 503s");
    assert_eq!(rows.events.len() as u64, summary["written"].as_u64().expect("n"));

    // An outage from the 40th request on: the run fails, on one line, as retryable.
    faults.set(0, 40);
    let failed = ingest(&run_args(input_text, "s3://faulty/outage", true), &env);
    assert!(!failed.status.success(), "a run against a dead store must fail");
    let stderr = String::from_utf8_lossy(&failed.stderr);
    let last = stderr.trim().lines().last().unwrap_or_default();
    assert!(last.starts_with("error: "), "{stderr}");
    assert!(last.contains("transient; run the same command again"), "{last}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // The store heals; after the lease of the interrupted batch, a re-run completes it.
    faults.set(0, 0);
    std::thread::sleep(Duration::from_millis(1_100));
    let healed = summary_of(&ingest(&run_args(input_text, "s3://faulty/outage", false), &env));
    assert_eq!(healed["records_in"], 600);
    assert_eq!(healed["failed"], 0);
    let rows = rt.block_on(read_lake(&moto.lake("faulty", "outage")));
    check_invariant(&records, &rows).expect("no loss, no duplicates after the outage");
    faults.stop.store(true, Ordering::SeqCst);
}
