//! `ingest run`: JSON Lines from a file (plain or gzip) or stdin, cut into Kinesis-sized
//! batches and put through the same batch processor as the Lambda.
//!
//! Each line's source is (`file:<file name>`, line number), its arrival time the file's
//! modification time, so running the same file again is a retry (no new rows), while the
//! same event in a file of another name is a duplicate. A file rewritten under the same
//! name is the same source: a line at a position already committed counts as done, whatever
//! it now holds. Stdin gets a source unique to the run. Blank lines are not records.
//!
//! Memory is bounded whatever the input: a line longer than the record limit is read
//! through without being buffered, only its first limit + 1 bytes are kept (so it is
//! quarantined as `too_large`), and a batch ends at `batch_size` records or when the next
//! record would take it past `batch_bytes`, whichever comes first. Where there is a second
//! core the next batch is read and decoded while one commits, so two batches are in memory.

use crate::batch::{BatchProcessor, Counts, DecodedBatch};
use crate::decode::MAX_RECORD_BYTES;
pub use crate::display::{aligned, human_bytes, now_millis, thousands};
use crate::error::IngestError;
use crate::source::{RecordBlocks, SequenceNumber, SourceId, SourceRecord};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

/// Where `ingest run` reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    File(PathBuf),
    Stdin,
}

impl Input {
    pub fn parse(text: &str) -> Self {
        if text == "-" {
            Input::Stdin
        } else {
            Input::File(PathBuf::from(text))
        }
    }
}

/// How a run is cut and retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    /// Records per batch at most. A file is not a stream: larger batches than Kinesis'
    /// 10,000 write fewer, larger files and fewer ledger commits.
    pub batch_size: usize,
    /// Input bytes per batch at most (a single record over it still makes a batch of one).
    /// A batch's memory is a few times its input bytes (records, parsed events, manifest,
    /// encoded files), so this bounds the run's memory.
    pub batch_bytes: usize,
    /// Attempts per batch on retryable errors, as the event source mapping would retry.
    pub attempts: u32,
    /// Read and decode the next batch on another thread while this one commits and writes.
    /// Faster where there is a second core, at the memory of one more batch; the default is
    /// on when the process may use more than one core.
    pub read_ahead: bool,
}

/// Default [`RunOptions::batch_size`]: 50,000 records. On 1M generated events (one core,
/// BENCHMARKS.md) it wrote 1,021 files instead of 4,536 at 10,000 and ran 1.4x faster, with a
/// peak resident memory of 228 MB instead of 134 MB; 100,000 was no faster and took 367 MB.
pub const DEFAULT_BATCH_RECORDS: usize = 50_000;

/// Default [`RunOptions::batch_bytes`]: 64 MiB.
pub const DEFAULT_BATCH_BYTES: usize = 64 << 20;

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            batch_size: DEFAULT_BATCH_RECORDS,
            batch_bytes: DEFAULT_BATCH_BYTES,
            attempts: 5,
            read_ahead: std::thread::available_parallelism().is_ok_and(|n| n.get() > 1),
        }
    }
}

/// The totals of a run, as printed by `--summary`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RunSummary {
    #[serde(flatten)]
    pub counts: Counts,
    pub batches: u64,
    pub partitions: u64,
    pub files: u64,
    pub bytes: u64,
    pub ledger_conflicts: u64,
    /// Rows written by this run per partition directory (`events/event_type=x/date=y`).
    pub rows_per_partition: BTreeMap<String, u64>,
    pub seconds: f64,
    pub events_per_second: f64,
    /// Whether the next batch was read and decoded while one committed
    /// ([`RunOptions::read_ahead`]).
    pub read_ahead: bool,
}

/// Progress callback: records done so far, input bytes read so far.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

/// Runs the whole input through the processor. When a batch fails, the reader thread (with
/// [`RunOptions::read_ahead`]) may still be reading the next one; it ends there, at its next
/// slot in the channel, without reading further.
pub async fn run(
    processor: &mut BatchProcessor,
    input: &Input,
    options: RunOptions,
    progress: Progress<'_>,
) -> Result<RunSummary, IngestError> {
    let started = Instant::now();
    let (reader, shard, arrival_micros) = open_input(input)?;
    let counter = CountingReader {
        inner: reader,
        read: 0,
    };
    let lines = LineBatches::new(counter, shard, arrival_micros, options.batch_size.max(1))
        .with_batch_bytes(options.batch_bytes);
    let mut batches = DecodedBatches::start(lines, processor.buckets(), options.read_ahead)
        .map_err(|e| input_error(input, e))?;
    let mut summary = RunSummary {
        read_ahead: options.read_ahead,
        ..RunSummary::default()
    };
    while let Some(next) = batches.next().await {
        let ReadBatch {
            records,
            decoded,
            bytes_read,
        } = next.map_err(|e| input_error(input, e))?;
        let report = process_with_retries(processor, &records, &decoded, options.attempts).await?;
        summary.counts.add(&report.counts());
        summary.batches += 1;
        summary.ledger_conflicts += report.ledger_conflicts;
        for file in &report.files {
            summary.files += 1;
            summary.bytes += file.bytes as u64;
            if let Some((dir, _)) = file.path.rsplit_once('/') {
                *summary.rows_per_partition.entry(dir.to_owned()).or_default() += file.rows as u64;
            }
        }
        progress(summary.counts.records_in, bytes_read);
        batches.recycle(records, decoded);
    }
    summary.partitions = summary.rows_per_partition.len() as u64;
    summary.seconds = started.elapsed().as_secs_f64();
    summary.events_per_second = summary.counts.records_in as f64 / summary.seconds.max(1e-9);
    Ok(summary)
}

/// One batch of the input, decoded, with the input bytes read up to its end.
struct ReadBatch {
    records: Vec<SourceRecord>,
    decoded: DecodedBatch,
    bytes_read: u64,
}

type InputLines = LineBatches<CountingReader<Box<dyn BufRead + Send>>>;

/// The input's batches in order, read and decoded either when asked for or one batch ahead
/// on a reader thread. Ahead, at most two batches are in memory: the one being processed
/// and the one being read, because the reader takes a slot in the channel before it reads.
enum DecodedBatches {
    InLine {
        lines: InputLines,
        buckets: u32,
    },
    Ahead {
        batches: tokio::sync::mpsc::Receiver<std::io::Result<ReadBatch>>,
        /// Batches done with, dropped by the reader (freeing a batch's hundreds of thousands
        /// of allocations was a sixth of the batch thread's time).
        spent: std::sync::mpsc::Sender<SpentBatch>,
        reader: Option<std::thread::JoinHandle<()>>,
    },
}

/// A processed batch, to be dropped.
type SpentBatch = (Vec<SourceRecord>, DecodedBatch);

impl DecodedBatches {
    fn start(lines: InputLines, buckets: u32, read_ahead: bool) -> std::io::Result<Self> {
        if !read_ahead {
            return Ok(DecodedBatches::InLine { lines, buckets });
        }
        let (slots, batches) = tokio::sync::mpsc::channel(1);
        let (spent, spent_batches) = std::sync::mpsc::channel();
        let runtime = tokio::runtime::Handle::current();
        let reader = std::thread::Builder::new()
            .name("ingest-reader".into())
            .spawn(move || read_ahead_into(lines, buckets, &slots, &spent_batches, &runtime));
        let reader = reader.map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot start the thread that reads it: {e}"))
        })?;
        Ok(DecodedBatches::Ahead {
            batches,
            spent,
            reader: Some(reader),
        })
    }

    /// Hands a processed batch to the reader to drop before it reads the one after next (so
    /// no more batches are in memory than before), or drops it here when reading in line.
    fn recycle(&self, records: Vec<SourceRecord>, decoded: DecodedBatch) {
        if let DecodedBatches::Ahead { spent, .. } = self {
            // A reader that has ended returns the batch, dropped here.
            let _ = spent.send((records, decoded));
        }
    }

    async fn next(&mut self) -> Option<std::io::Result<ReadBatch>> {
        match self {
            DecodedBatches::InLine { lines, buckets } => read_batch(lines, *buckets).transpose(),
            DecodedBatches::Ahead { batches, reader, .. } => {
                let next = batches.recv().await;
                if next.is_none() {
                    // The reader ended: at the end of the input, after an error it sent, or
                    // by a panic, which must not pass for the end of the input.
                    if let Some(Err(panic)) = reader.take().map(std::thread::JoinHandle::join) {
                        std::panic::resume_unwind(panic);
                    }
                }
                next
            }
        }
    }
}

/// The reader thread: reads and decodes a batch whenever the channel has room for it, until
/// the input ends, an error (sent on) or the receiver is gone. The batches the loop is done
/// with arrive before the slot that their successor frees, and are dropped before reading.
fn read_ahead_into(
    mut lines: InputLines,
    buckets: u32,
    slots: &tokio::sync::mpsc::Sender<std::io::Result<ReadBatch>>,
    spent: &std::sync::mpsc::Receiver<SpentBatch>,
    runtime: &tokio::runtime::Handle,
) {
    loop {
        let Ok(slot) = runtime.block_on(slots.reserve()) else {
            return;
        };
        spent.try_iter().for_each(drop);
        match read_batch(&mut lines, buckets) {
            Ok(Some(batch)) => slot.send(Ok(batch)),
            Ok(None) => return,
            Err(e) => return slot.send(Err(e)),
        }
    }
}

fn read_batch(lines: &mut InputLines, buckets: u32) -> std::io::Result<Option<ReadBatch>> {
    let Some(records) = lines.next_batch()? else {
        return Ok(None);
    };
    let decoded = DecodedBatch::decode(&records, buckets);
    Ok(Some(ReadBatch {
        records,
        decoded,
        bytes_read: lines.reader.get_ref_read(),
    }))
}

async fn process_with_retries(
    processor: &mut BatchProcessor,
    batch: &[SourceRecord],
    decoded: &DecodedBatch,
    attempts: u32,
) -> Result<crate::batch::BatchReport, IngestError> {
    let mut attempt = 1;
    loop {
        match processor.process_decoded(batch, decoded, now_millis()).await {
            Ok(report) => return Ok(report),
            Err(e) if e.is_retryable() && attempt < attempts => {
                tracing::warn!(attempt, error = %e, "batch failed; retrying");
                tokio::time::sleep(Duration::from_millis(100 << attempt.min(6))).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

pub(crate) fn input_error(input: &Input, source: std::io::Error) -> IngestError {
    let path = match input {
        Input::File(p) => p.display().to_string(),
        Input::Stdin => "standard input".into(),
    };
    IngestError::Input { path, source }
}

/// The total size of a file input, for progress bars.
pub fn input_len(input: &Input) -> Option<u64> {
    match input {
        Input::File(path) => std::fs::metadata(path).ok().map(|m| m.len()),
        Input::Stdin => None,
    }
}

pub(crate) type OpenedInput = (Box<dyn BufRead + Send>, String, i64);

pub(crate) fn open_input(input: &Input) -> Result<OpenedInput, IngestError> {
    match input {
        Input::Stdin => {
            let shard = format!("stdin-{}", now_millis());
            Ok((
                Box::new(BufReader::new(std::io::stdin())),
                shard,
                now_millis() * 1000,
            ))
        }
        Input::File(path) => {
            let file = std::fs::File::open(path).map_err(|e| input_error(input, e))?;
            let modified = file
                .metadata()
                .and_then(|m| m.modified())
                .map_err(|e| input_error(input, e))?;
            let arrival = modified
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_micros() as i64)
                .unwrap_or(0);
            let mut reader = BufReader::with_capacity(1 << 20, file);
            let gzip = reader
                .fill_buf()
                .map_err(|e| input_error(input, e))?
                .starts_with(&[0x1f, 0x8b]);
            let reader: Box<dyn BufRead + Send> = if gzip {
                Box::new(BufReader::with_capacity(
                    1 << 20,
                    flate2::bufread::MultiGzDecoder::new(reader),
                ))
            } else {
                Box::new(reader)
            };
            Ok((reader, format!("file:{}", file_name(path)), arrival))
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

struct CountingReader<R> {
    inner: R,
    read: u64,
}

impl<R: BufRead> CountingReader<R> {
    fn get_ref_read(&self) -> u64 {
        self.read
    }
}

impl<R: BufRead> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for CountingReader<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.read += amt as u64;
        self.inner.consume(amt);
    }
}

/// Cuts lines into batches of records with stable sources.
struct LineBatches<R> {
    reader: R,
    /// Shared by every record of the input.
    shard: Arc<str>,
    arrival_micros: i64,
    batch_size: usize,
    batch_bytes: usize,
    line_number: u64,
    /// A record read that did not fit the previous batch's byte budget.
    carried: Option<SourceRecord>,
    /// Where records' bytes are copied.
    blocks: RecordBlocks,
}

/// The longest part of a line that is kept: one byte over the record limit, so decoding
/// sees it is too large.
const KEPT_LINE_BYTES: usize = MAX_RECORD_BYTES + 1;

impl<R: BufRead> LineBatches<R> {
    fn new(reader: R, shard: String, arrival_micros: i64, batch_size: usize) -> Self {
        LineBatches {
            reader,
            shard: Arc::from(shard),
            arrival_micros,
            batch_size,
            batch_bytes: DEFAULT_BATCH_BYTES,
            line_number: 0,
            carried: None,
            blocks: RecordBlocks::default(),
        }
    }

    fn with_batch_bytes(mut self, batch_bytes: usize) -> Self {
        self.batch_bytes = batch_bytes.max(1);
        self
    }

    fn next_batch(&mut self) -> std::io::Result<Option<Vec<SourceRecord>>> {
        let mut batch = Vec::with_capacity(self.batch_size.min(10_000));
        let mut bytes = 0;
        if let Some(record) = self.carried.take() {
            bytes += record.data.len();
            batch.push(record);
        }
        let mut line = Vec::new();
        while batch.len() < self.batch_size {
            let Some(length) = read_bounded_line(&mut self.reader, &mut line)? else {
                break;
            };
            self.line_number += 1;
            if length > MAX_RECORD_BYTES as u64 {
                tracing::warn!(
                    line = self.line_number,
                    bytes = length,
                    "line over the record limit; its first {KEPT_LINE_BYTES} bytes go to quarantine"
                );
            }
            if is_blank(&line, length) {
                continue;
            }
            let record = SourceRecord {
                source: SourceId::new(self.shard.clone(), SequenceNumber::from_u64(self.line_number)),
                arrival_micros: self.arrival_micros,
                data: self.blocks.copy(&line),
            };
            if !batch.is_empty() && bytes + record.data.len() > self.batch_bytes {
                self.carried = Some(record);
                break;
            }
            bytes += record.data.len();
            batch.push(record);
        }
        Ok((!batch.is_empty()).then_some(batch))
    }
}

/// Whether a line from [`read_bounded_line`] (kept bytes, full length) is blank. Only a
/// whole line can be: a cut one may hide a record past the cut.
pub(crate) fn is_blank(line: &[u8], length: u64) -> bool {
    length == line.len() as u64 && line.iter().all(u8::is_ascii_whitespace)
}

/// Reads one line into `line` (cleared first) without its line ending (`\n` or `\r\n`),
/// keeping at most [`KEPT_LINE_BYTES`] bytes and skipping the rest of a longer line. Returns
/// the line's full length (before the cut, ending excluded), or `None` at the end of the
/// input. A cut line keeps its first bytes exactly, so it stays longer than any record.
pub(crate) fn read_bounded_line(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
) -> std::io::Result<Option<u64>> {
    line.clear();
    let mut length = 0u64;
    let mut any = false;
    loop {
        let (used, done) = {
            let chunk = match reader.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                break;
            }
            any = true;
            let (part, used, done) = match memchr::memchr(b'\n', chunk) {
                Some(at) => (&chunk[..at], at + 1, true),
                None => (chunk, chunk.len(), false),
            };
            length += part.len() as u64;
            let room = KEPT_LINE_BYTES.saturating_sub(line.len());
            line.extend_from_slice(&part[..part.len().min(room)]);
            (used, done)
        };
        reader.consume(used);
        if done {
            break;
        }
    }
    if !any {
        return Ok(None);
    }
    // A `\r` before the `\n` is part of the line ending, and only a whole line has its end.
    if length == line.len() as u64 && line.last() == Some(&b'\r') {
        line.pop();
        length -= 1;
    }
    Ok(Some(length))
}

impl RunSummary {
    /// The summary as aligned text for people.
    pub fn to_table(&self) -> String {
        let c = &self.counts;
        let mut rows: Vec<(String, String)> = vec![
            ("records in".into(), thousands(c.records_in)),
            ("events written".into(), thousands(c.written)),
            ("duplicates".into(), thousands(c.duplicates)),
        ];
        if c.erased_resends > 0 {
            rows.push((
                "  of erased events (not stored)".into(),
                thousands(c.erased_resends),
            ));
        }
        rows.push(("quarantined".into(), thousands(c.quarantined)));
        for (reason, n) in &c.quarantined_by_reason {
            rows.push((format!("  {reason}"), thousands(*n)));
        }
        rows.extend([
            (
                "already committed (retries)".into(),
                thousands(c.already_committed),
            ),
            ("failed".into(), thousands(c.failed)),
            ("batches".into(), thousands(self.batches)),
            ("partitions".into(), thousands(self.partitions)),
            ("files".into(), thousands(self.files)),
            ("bytes".into(), human_bytes(self.bytes)),
            ("seconds".into(), format!("{:.2}", self.seconds)),
            (
                "events/s".into(),
                thousands(self.events_per_second.round() as u64),
            ),
        ]);
        aligned(&rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves its lines, then panics where the input would end.
    struct PanicsAtTheEnd(std::io::Cursor<Vec<u8>>);

    impl Read for PanicsAtTheEnd {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.read(buf)?;
            if n == 0 {
                panic!("the input's reader panicked");
            }
            Ok(n)
        }
    }

    #[tokio::test]
    #[should_panic(expected = "the input's reader panicked")]
    async fn a_panic_while_reading_ahead_is_raised_not_taken_for_the_end_of_the_input() {
        let text: String = (0..10).map(|i| format!("{{\"n\":{i}}}\n")).collect();
        let reader: Box<dyn BufRead + Send> = Box::new(BufReader::new(PanicsAtTheEnd(std::io::Cursor::new(
            text.into_bytes(),
        ))));
        let counter = CountingReader {
            inner: reader,
            read: 0,
        };
        let lines = LineBatches::new(counter, "file:x".into(), 5, 5);
        let mut batches = DecodedBatches::start(lines, 4, true).expect("reader thread");
        let mut records = 0;
        while let Some(batch) = batches.next().await {
            records += batch.expect("read").records.len();
        }
        // Only the panic, re-raised by `next`, may end the input: returning here is a failure.
        panic!("the input ended after {records} records, without the reader's panic");
    }

    #[test]
    fn lines_become_records_with_stable_sources() {
        let text = b"{\"a\":1}\r\n\n   \n{\"b\":2}\n{\"c\":3}";
        let mut batches = LineBatches::new(&text[..], "file:x".into(), 5, 2);
        let first = batches.next_batch().expect("read").expect("batch");
        assert_eq!(first.len(), 2);
        assert_eq!(first[0].data.as_ref(), b"{\"a\":1}");
        assert_eq!(first[1].source.sequence.as_str(), "4");
        let second = batches.next_batch().expect("read").expect("batch");
        assert_eq!(second[0].source.sequence.as_str(), "5");
        assert!(batches.next_batch().expect("read").is_none());
    }

    #[test]
    fn a_line_over_the_limit_is_cut_without_being_buffered() {
        let long = KEPT_LINE_BYTES * 3 + 17;
        let mut text = b"{\"a\":1}\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', long));
        text.extend_from_slice(b"\r\n{\"b\":2}");
        // A small read buffer: the long line arrives in many chunks.
        let reader = BufReader::with_capacity(4096, &text[..]);
        let mut batches = LineBatches::new(reader, "file:x".into(), 5, 10);
        let batch = batches.next_batch().expect("read").expect("batch");
        assert_eq!(batch.len(), 3);
        assert_eq!(batch[1].data.len(), KEPT_LINE_BYTES);
        assert!(batch[1].data.iter().all(|&b| b == b'x'));
        assert_eq!(batch[2].data.as_ref(), b"{\"b\":2}");
        assert_eq!(batch[2].source.sequence.as_str(), "3");
        let mut line = Vec::new();
        let mut one = &b"abc\r\n"[..];
        assert_eq!(read_bounded_line(&mut one, &mut line).expect("read"), Some(3));
        assert_eq!(read_bounded_line(&mut one, &mut line).expect("read"), None);
    }

    #[test]
    fn a_cut_line_is_never_blank_nor_shortened_to_fit() {
        // Over a MiB of spaces, then a record: blank in its kept part, but not a blank line.
        let mut text = vec![b' '; KEPT_LINE_BYTES + 10];
        text.extend_from_slice(b"{\"event_uuid\":\"u\"}\n");
        // Exactly the record limit, then `\r` and more: the `\r` is inside the line, not its end.
        let mut padded = b"{\"a\":1}".to_vec();
        padded.resize(MAX_RECORD_BYTES, b' ');
        text.extend_from_slice(&padded);
        text.extend_from_slice(b"\rX\n");
        // Exactly the record limit, ended by `\r\n`: a whole record.
        text.extend_from_slice(&padded);
        text.extend_from_slice(b"\r\n");
        let mut batches = LineBatches::new(&text[..], "file:x".into(), 5, 10);
        let batch = batches.next_batch().expect("read").expect("batch");
        let sizes: Vec<usize> = batch.iter().map(|r| r.data.len()).collect();
        assert_eq!(sizes, [KEPT_LINE_BYTES, KEPT_LINE_BYTES, MAX_RECORD_BYTES]);
        let sequences: Vec<&str> = batch.iter().map(|r| r.source.sequence.as_str()).collect();
        assert_eq!(sequences, ["1", "2", "3"]);
    }

    #[test]
    fn batches_end_at_the_byte_budget() {
        let line = format!("{}\n", "y".repeat(299));
        let text = line.repeat(10);
        let mut batches = LineBatches::new(text.as_bytes(), "file:x".into(), 5, 100).with_batch_bytes(1_000);
        let mut sizes = Vec::new();
        let mut first_sequences = Vec::new();
        while let Some(batch) = batches.next_batch().expect("read") {
            sizes.push(batch.len());
            first_sequences.push(batch[0].source.sequence.as_str().to_owned());
        }
        assert_eq!(sizes, [3, 3, 3, 1]);
        assert_eq!(first_sequences, ["1", "4", "7", "10"]);
        let mut one_each = LineBatches::new(text.as_bytes(), "file:x".into(), 5, 100).with_batch_bytes(10);
        assert_eq!(one_each.next_batch().expect("read").expect("batch").len(), 1);
    }
}
