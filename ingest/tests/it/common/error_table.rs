//! A golden table of invocations that fail: each row's command line, environment and stdin,
//! run with the environment cleared (only `PATH`, and `AWS_EC2_METADATA_DISABLED=true`
//! unless the row sets it, so nothing asks 169.254.169.254), then its exit code and stderr
//! written as text, with temp dirs and ports masked, and compared with a file under
//! `tests/fixtures/errors/`. `EVENTLAKE_BLESS=1` rewrites the file instead. Shared by the
//! ingest and query crates' tests (query includes this file by path).
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One invocation of a binary.
#[derive(Debug, Clone)]
pub struct Case {
    pub title: &'static str,
    /// The name shown in the table (`ingest`, `lakeq`, `eventlake-lambda`).
    pub program: &'static str,
    /// The binary to run.
    pub binary: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub stdin: String,
}

impl Case {
    pub fn new(title: &'static str, program: &'static str, binary: &str, args: &[&str]) -> Case {
        Case {
            title,
            program,
            binary: binary.to_owned(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env: Vec::new(),
            stdin: String::new(),
        }
    }

    pub fn env(mut self, name: &str, value: &str) -> Case {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn envs(mut self, pairs: &[(&str, String)]) -> Case {
        for (name, value) in pairs {
            self.env.push(((*name).to_owned(), value.clone()));
        }
        self
    }

    pub fn stdin(mut self, text: &str) -> Case {
        self.stdin = text.to_owned();
        self
    }
}

/// What a row did.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stderr: String,
    pub elapsed: Duration,
}

/// `binary` with `args` and an environment of only `PATH`.
fn isolated(binary: &str, args: &[String]) -> Command {
    let mut command = Command::new(binary);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    command
}

/// `Outcome` of a finished child.
fn outcome(output: &std::process::Output, started: Instant) -> Outcome {
    Outcome {
        code: output.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// Runs one row with only `PATH`, the row's variables and (unless the row sets it)
/// `AWS_EC2_METADATA_DISABLED=true` in its environment.
pub fn run(case: &Case) -> Outcome {
    let started = Instant::now();
    let mut command = isolated(&case.binary, &case.args);
    if !case.env.iter().any(|(k, _)| k == "AWS_EC2_METADATA_DISABLED") {
        command.env("AWS_EC2_METADATA_DISABLED", "true");
    }
    let mut child = command
        .envs(case.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: cannot start {}: {e}", case.title, case.binary));
    if let Some(mut stdin) = child.stdin.take() {
        // A binary that fails before reading its input closes the pipe: not an error here.
        let _ = stdin.write_all(case.stdin.as_bytes());
    }
    let output = child.wait_with_output().expect("wait");
    outcome(&output, started)
}

/// Runs `binary` (environment cleared as in [`run`]) with its standard output read by a
/// reader that takes one byte and closes it, as `| head -c 1` does: the command must stop
/// quietly, not report a failure or panic. The output must be larger than a pipe's buffer
/// (64 KiB on Linux), so that the binary is still writing when the reader goes.
pub fn run_reader_closing_early(binary: &str, args: &[&str]) -> Outcome {
    use std::io::Read;
    let started = Instant::now();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let mut child = isolated(binary, &args)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 1];
    let read = stdout.read_exact(&mut first);
    drop(stdout);
    let output = child.wait_with_output().expect("wait");
    if let Err(e) = read {
        panic!(
            "{binary} wrote nothing ({e}); exit {:?}, stderr:\n{}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    outcome(&output, started)
}

/// Runs every row, checks the rules every row must keep (a non-zero exit, one line that
/// starts with `error: `, seconds not minutes) and renders the table.
pub fn table(header: &str, cases: &[Case], masks: &[(String, String)]) -> String {
    let mut out = format!("{}\n", header.trim_end());
    for case in cases {
        let outcome = run(case);
        let line = outcome.stderr.trim_end();
        assert!(
            outcome.code > 0 && line.starts_with("error: ") && !line.contains('\n'),
            "{}: exit {} and one `error: ` line expected, got:\n{}",
            case.title,
            outcome.code,
            outcome.stderr
        );
        assert!(
            outcome.elapsed < Duration::from_secs(20),
            "{}: took {:?}",
            case.title,
            outcome.elapsed
        );
        out.push_str(&format!("\n## {}\n$ {}\n", case.title, command_line(case)));
        let mut env: Vec<String> = case.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        env.sort();
        if !env.is_empty() {
            out.push_str(&format!("env: {}\n", env.join(" ")));
        }
        if !case.stdin.is_empty() {
            out.push_str(&format!("stdin: {}\n", case.stdin.trim_end()));
        }
        out.push_str(&format!("exit {}\n{line}\n", outcome.code));
    }
    mask(&out, masks)
}

fn command_line(case: &Case) -> String {
    let quoted = case.args.iter().map(|arg| {
        if !arg.is_empty()
            && arg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./:=<>@,".contains(c))
        {
            arg.clone()
        } else {
            format!("'{arg}'")
        }
    });
    std::iter::once(case.program.to_owned())
        .chain(quoted)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Replaces each `(text, placeholder)`, longest text first.
fn mask(text: &str, masks: &[(String, String)]) -> String {
    let mut masks = masks.to_vec();
    masks.sort_by_key(|(text, _)| std::cmp::Reverse(text.len()));
    masks
        .iter()
        .fold(text.to_owned(), |out, (from, to)| out.replace(from.as_str(), to))
}

/// Compares `actual` with the golden file, or writes it under `EVENTLAKE_BLESS=1`.
pub fn check(golden: &Path, actual: &str, bless_command: &str) {
    if std::env::var_os("EVENTLAKE_BLESS").is_some() {
        std::fs::create_dir_all(golden.parent().expect("parent")).expect("fixtures dir");
        std::fs::write(golden, actual).expect("bless");
        return;
    }
    let expected = std::fs::read_to_string(golden)
        .unwrap_or_else(|_| panic!("{} missing: run {bless_command}", golden.display()));
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the errors printed now, first at line {}:\n--- expected\n{}\n--- actual\n{}\n\
             (to accept a deliberate change: {bless_command})",
            golden.display(),
            first + 1,
            expected.lines().nth(first).unwrap_or("<end>"),
            actual.lines().nth(first).unwrap_or("<end>"),
        );
    }
}

/// A loopback port nothing listens on: port 1 when it refuses connections (below the
/// ephemeral range, so no test server takes it meanwhile), else one bound and released.
pub fn closed_port() -> u16 {
    let refused = std::net::TcpStream::connect(("127.0.0.1", 1))
        .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused);
    if refused {
        return 1;
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Writes `text` at `path`, creating its directory.
pub fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
    std::fs::write(path, text).expect("write");
}

/// What both binaries are given in their rows: a lake of a newer format, a lake whose ledger
/// config is corrupt, and a registry directory whose document is not JSON.
pub fn shared_fixtures(dir: &Path) {
    write(
        &dir.join("newer/_ledger/config.json"),
        r#"{"format":3,"buckets":64}"#,
    );
    write(&dir.join("corrupt/_ledger/config.json"), "{\"format\":");
    write(
        &dir.join("registry-bad-json/a.b.json"),
        r#"{"event_name":"a:b","fields":{"n":"integer",}}"#,
    );
}
