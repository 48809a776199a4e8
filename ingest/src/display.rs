//! How counts, sizes, the clock and errors are shown to people and stamped on batches: pure
//! helpers that the three binaries (and `lakeq`'s reports) share. An error is one line: its
//! causes joined once each ([`one_line`]), a bad flag as clap's message without the usage
//! block ([`clap_line`]), and the exit code says who must act ([`EXIT_FAILURE`], [`EXIT_USAGE`]).
//! Results go to [`stdout`], whose closing by its reader (`| head`) ends a command quietly
//! ([`is_stdout_closed`]) instead of as a failure.

use std::error::Error;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Exit code of a failure at run time (a store outage, a corrupt ledger object).
pub const EXIT_FAILURE: i32 = 1;
/// Exit code of something a person must change: a flag, a setting, the environment, the lake.
pub const EXIT_USAGE: i32 = 2;

/// `1234567` -> `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Bytes with a binary unit: `1536` -> `1.5 KiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Label/value rows as two aligned columns, values right-aligned.
pub fn aligned(rows: &[(String, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    let value_width = rows.iter().map(|(_, v)| v.chars().count()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:<width$}  {v:>value_width$}\n"))
        .collect()
}

/// Wall-clock time in Unix milliseconds (0 if the clock is before 1970). Read once at the
/// edges (a batch's start) and passed in, so policies stay pure.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// An error and its causes on one line: a cause whose text the line already holds (a layer
/// that repeats its source) is left out, and every run of whitespace becomes one space.
pub fn one_line(error: &(dyn Error + 'static)) -> String {
    let mut line = collapse_whitespace(&error.to_string());
    let mut cause = error.source();
    while let Some(next) = cause {
        let text = collapse_whitespace(&next.to_string());
        if !text.is_empty() && !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = next.source();
    }
    line
}

/// [`EXIT_USAGE`] when any cause in the chain is something a person must change (`usage`
/// decides per cause), else [`EXIT_FAILURE`].
pub fn exit_code(error: &(dyn Error + 'static), usage: impl Fn(&(dyn Error + 'static)) -> bool) -> i32 {
    let mut cause = Some(error);
    while let Some(next) = cause {
        if usage(next) {
            return EXIT_USAGE;
        }
        cause = next.source();
    }
    EXIT_FAILURE
}

/// Whether `cause` is an [`IngestError`](crate::IngestError) a person must fix.
pub fn is_ingest_usage(cause: &(dyn Error + 'static)) -> bool {
    cause
        .downcast_ref::<crate::IngestError>()
        .is_some_and(crate::IngestError::is_usage)
}

/// clap's rendered error (`error: ...`, tips, a usage block, a pointer to `--help`) as one
/// line: the lines before the usage block joined with `; `, then ` (see --help)`.
pub fn clap_line(rendered: &str) -> String {
    let message: Vec<String> = rendered
        .lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(collapse_whitespace)
        .filter(|l| !l.is_empty())
        .collect();
    format!("{} (see --help)", message.join("; "))
}

/// Standard output closed by its reader (`lakeq sql ... | head`, `ingest generate | head`):
/// the reader has what it wanted. Only [`stdout`] produces it, so no other broken pipe (a
/// connection to S3) is ever taken for it.
#[derive(Debug)]
pub struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("standard output was closed by its reader")
    }
}

impl Error for StdoutClosed {}

/// Standard output for a command's results: a write its reader has closed fails with
/// [`StdoutClosed`] inside the `io::Error`.
#[derive(Debug)]
pub struct Stdout(std::io::StdoutLock<'static>);

/// Locks standard output for a command's results (see [`Stdout`]).
pub fn stdout() -> Stdout {
    Stdout(std::io::stdout().lock())
}

/// Writes `text` to [`stdout`] and flushes it, so that a closed output is seen here.
pub fn print(text: &str) -> std::io::Result<()> {
    let mut out = stdout();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// [`print`] for a command's result, after which only its exit code is left to decide: a
/// reader that closed the output early has what it wanted, so that is not an error, and the
/// command keeps the exit code its result gives (`lakeq dups --check`'s 3, a run's failed
/// records).
pub fn print_result(text: &str) -> std::io::Result<()> {
    match print(text) {
        Err(e) if is_stdout_closed(&e) => Ok(()),
        printed => printed,
    }
}

fn closed_as_marker(error: std::io::Error) -> std::io::Error {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        std::io::Error::new(std::io::ErrorKind::BrokenPipe, StdoutClosed)
    } else {
        error
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf).map_err(closed_as_marker)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush().map_err(closed_as_marker)
    }
}

/// Whether a command stopped because [`stdout`]'s reader closed it: then it says nothing and
/// ends with exit 0 (not SIGPIPE's 141), or with the exit code its result decides.
pub fn is_stdout_closed(error: &(dyn Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(next) = cause {
        // The marker lives inside the `io::Error`, whose `source()` skips it.
        let marked = next
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .is_some_and(|inner| inner.is::<StdoutClosed>());
        if marked {
            return true;
        }
        cause = next.source();
    }
    false
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod error_tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|l| l as &(dyn Error + 'static))
        }
    }

    fn chain(texts: &[&'static str]) -> Layer {
        let mut layer: Option<Box<Layer>> = None;
        for text in texts.iter().rev() {
            layer = Some(Box::new(Layer(text, layer)));
        }
        *layer.expect("at least one layer")
    }

    #[test]
    fn repeated_layers_are_printed_once() {
        let planning = "Error during planning: table 'datafusion.public.eventz' not found";
        let error = chain(&[planning, planning, planning]);
        assert_eq!(one_line(&error), planning);
        let store = chain(&[
            "cannot open lake s3://b/x",
            "object store get x: Generic S3 error: boom\n  body",
            "Generic S3 error: boom\n body",
            "boom",
        ]);
        assert_eq!(
            one_line(&store),
            "cannot open lake s3://b/x: object store get x: Generic S3 error: boom body"
        );
        assert_eq!(one_line(&chain(&["outer", "", "inner"])), "outer: inner");
    }

    #[test]
    fn only_a_closed_stdout_is_taken_for_one() {
        let closed = closed_as_marker(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(is_stdout_closed(&closed));
        let wrapped = crate::IngestError::Input {
            path: "-".into(),
            source: closed,
        };
        assert!(is_stdout_closed(&wrapped), "found below a layer of context");
        let socket = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(!is_stdout_closed(&socket), "a broken connection is a failure");
        let other = closed_as_marker(std::io::Error::from(std::io::ErrorKind::StorageFull));
        assert!(!is_stdout_closed(&other));
    }

    #[test]
    fn usage_anywhere_in_the_chain_exits_2() {
        let error = chain(&["context", "usage: fix the flag", "io"]);
        assert_eq!(
            exit_code(&error, |e| e.to_string().starts_with("usage")),
            EXIT_USAGE
        );
        assert_eq!(exit_code(&error, |_| false), EXIT_FAILURE);
    }

    #[test]
    fn clap_errors_lose_their_usage_block() {
        let rendered = "error: unexpected argument '--lak' found\n\n  tip: a similar argument exists: '--lake'\n\nUsage: lakeq --lake <LAKE> <COMMAND>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            clap_line(rendered),
            "error: unexpected argument '--lak' found; tip: a similar argument exists: '--lake' (see --help)"
        );
        let value = "error: invalid value '0' for '--batch-size <BATCH_SIZE>': 0 is not in 1..=100000\n\nFor more information, try '--help'.\n";
        assert_eq!(
            clap_line(value),
            "error: invalid value '0' for '--batch-size <BATCH_SIZE>': 0 is not in 1..=100000 (see --help)"
        );
    }
}

#[cfg(test)]
mod format_tests {
    use super::*;

    #[test]
    fn numbers_for_people() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}
