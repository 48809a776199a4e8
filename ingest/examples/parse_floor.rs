//! The parse-only floor for `bench/run.py`: the fastest parse we have (serde_json into
//! `serde::de::IgnoredAny`, which checks the JSON and builds nothing) over every line of a
//! JSON Lines file, on one thread, reading the file the way `ingest run` does (1 MiB
//! buffered reads, line by line). Two more passes show what bounds `decode`: splitting lines
//! only (reading), and parsing into `serde_json::Value` (an ordered map per event, which is
//! what `ingest::decode::decode` built before it read fields straight into a `Payload`).
//! Prints one JSON object.
//!
//! Run: `cargo run --release -p ingest --example parse_floor -- INPUT.jsonl`

use serde::de::IgnoredAny;
use serde_json::Value;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::time::Instant;

#[derive(Debug, Default)]
struct Pass {
    lines: u64,
    bytes: u64,
    invalid: u64,
    seconds: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parse {
    Nothing,
    IgnoredAny,
    Value,
}

fn pass(path: &str, parse: Parse) -> std::io::Result<Pass> {
    let started = Instant::now();
    let mut reader = BufReader::with_capacity(1 << 20, File::open(path)?);
    let mut line = Vec::with_capacity(4096);
    let mut out = Pass::default();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        out.bytes += n as u64;
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        out.lines += 1;
        let valid = match parse {
            Parse::Nothing => true,
            Parse::IgnoredAny => serde_json::from_slice::<IgnoredAny>(&line).is_ok(),
            Parse::Value => std::hint::black_box(serde_json::from_slice::<Value>(&line)).is_ok(),
        };
        out.invalid += u64::from(!valid);
    }
    out.seconds = started.elapsed().as_secs_f64();
    Ok(out)
}

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: parse_floor INPUT.jsonl (plain JSON Lines, not gzip)");
        std::process::exit(2);
    };
    let run = || -> std::io::Result<(Pass, Pass, Pass)> {
        // The read-only pass also warms the page cache for the parse passes.
        let read = pass(&path, Parse::Nothing)?;
        let parsed = pass(&path, Parse::IgnoredAny)?;
        let values = pass(&path, Parse::Value)?;
        Ok((read, parsed, values))
    };
    let (read, parsed, values) = match run() {
        Ok(passes) => passes,
        Err(e) => {
            eprintln!("error: cannot read {path}: {e}");
            std::process::exit(1);
        }
    };
    let report = serde_json::json!({
        "parser": "serde_json -> IgnoredAny",
        "lines": parsed.lines,
        "bytes": parsed.bytes,
        "invalid_json": parsed.invalid,
        "seconds": parsed.seconds,
        "lines_per_second": parsed.lines as f64 / parsed.seconds.max(1e-9),
        "mb_per_second": parsed.bytes as f64 / 1e6 / parsed.seconds.max(1e-9),
        "read_only_seconds": read.seconds,
        "value_seconds": values.seconds,
        "value_lines_per_second": values.lines as f64 / values.seconds.max(1e-9),
    });
    println!("{report}");
}
