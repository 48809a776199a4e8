//! The shard walker behind `ingest consume` and `ingest invoke`: the local stand-in for the
//! Lambda event source mapping. It lists the stream's shards, reads each with GetRecords
//! (children only after their parents are read to the end), hands each batch to a
//! [`BatchSink`] and, like the mapping with `ReportBatchItemFailures`, retries a shard from
//! the lowest failed sequence number with backoff. After the records of a batch are done it
//! writes the shard's checkpoint, so a restart resumes there; records replayed after a
//! crash are retries, which the ledger makes no-ops. A replay ([`Positions::Replay`]) reads
//! only the shards of a [`ReplayPlan`], each from a sequence number (AT_SEQUENCE_NUMBER) to
//! an optional last one, and neither reads nor writes checkpoints.

use super::checkpoint::{Checkpoint, CheckpointStore};
use super::client::{error_code, kinesis_error};
use super::event::source_record_from_sdk;
use super::replay::{ReplayPlan, ShardRange};
use super::shards::{ShardInfo, readable};
use crate::batch::{BatchProcessor, BatchReport, Counts};
use crate::error::IngestError;
use crate::source::{RecordBlocks, SequenceNumber};
use async_trait::async_trait;
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::types::{Record, ShardIteratorType};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What a sink did with one delivery.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delivery {
    /// The lowest sequence number to deliver again (with everything after it), if any.
    pub retry_from: Option<SequenceNumber>,
    /// Records before `retry_from` (all records when it is `None`): done.
    pub records_done: u64,
    /// What became of the done records, when the sink knows (the processor does; the
    /// Lambda's answer does not say).
    pub counts: Option<Counts>,
    pub files: u64,
    pub bytes: u64,
}

/// Where the walker delivers batches.
#[async_trait]
pub trait BatchSink: Send {
    /// Delivers one shard's records, in sequence order. A retryable error retries the
    /// whole delivery; any other error stops the walker.
    async fn deliver(&mut self, shard_id: &str, records: &[Record]) -> Result<Delivery, IngestError>;
}

/// Delivers batches to a batch processor in this process.
#[derive(Debug)]
pub struct ProcessorSink<'a> {
    pub processor: &'a mut BatchProcessor,
}

#[async_trait]
impl BatchSink for ProcessorSink<'_> {
    async fn deliver(&mut self, shard_id: &str, records: &[Record]) -> Result<Delivery, IngestError> {
        let shard: Arc<str> = shard_id.into();
        let mut blocks = RecordBlocks::default();
        let sources = records
            .iter()
            .map(|r| source_record_from_sdk(&shard, r, &mut blocks))
            .collect::<Result<Vec<_>, _>>()?;
        let report = self.processor.process(&sources, crate::run::now_millis()).await?;
        let retry_from = report.lowest_failure(&sources).map(|s| s.sequence.clone());
        let done = sources
            .iter()
            .take_while(|s| retry_from.as_ref().is_none_or(|r| s.source.sequence < *r))
            .count();
        let prefix = BatchReport {
            outcomes: report.outcomes[..done].to_vec(),
            ..BatchReport::default()
        };
        Ok(Delivery {
            retry_from,
            records_done: done as u64,
            counts: Some(prefix.counts()),
            files: report.files.len() as u64,
            bytes: report.files.iter().map(|f| f.bytes as u64).sum(),
        })
    }
}

/// Where the walker starts each shard and whether it keeps checkpoints.
#[derive(Debug, Clone, Copy)]
pub enum Positions<'a> {
    /// Every shard, from its checkpoint (else [`ConsumeOptions::start`]); a checkpoint is
    /// written after each delivery's records are done.
    Checkpoints(&'a CheckpointStore),
    /// Only the plan's shards, each over its range; checkpoints are neither read nor written,
    /// so a replay does not move a consumer's position.
    Replay(&'a ReplayPlan),
}

/// Where a shard with no checkpoint starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartPosition {
    /// The oldest record still in the stream.
    TrimHorizon,
    /// Only records put after the walker starts. Shards already closed at start are
    /// skipped; shards created by a later reshard are read from their start.
    Latest,
}

#[derive(Debug, Clone, Copy)]
pub struct ConsumeOptions {
    pub start: StartPosition,
    /// Stop once no shard has had new records for this long (and nothing is pending).
    pub until_idle: Option<Duration>,
    /// Records per GetRecords call (Kinesis allows up to 10,000).
    pub batch_size: i32,
    /// Wait between polls of a shard that had nothing new (Kinesis allows 5 reads/s/shard).
    pub idle_poll: Duration,
    /// How often to list shards to find the children of a reshard.
    pub list_every: Duration,
    pub retry_base: Duration,
    pub retry_max: Duration,
}

impl Default for ConsumeOptions {
    fn default() -> Self {
        ConsumeOptions {
            start: StartPosition::TrimHorizon,
            until_idle: None,
            batch_size: 10_000,
            idle_poll: Duration::from_secs(1),
            list_every: Duration::from_secs(30),
            retry_base: Duration::from_millis(200),
            retry_max: Duration::from_secs(10),
        }
    }
}

impl ConsumeOptions {
    /// Backoff before retrying a shard after `failures` failed deliveries in a row.
    pub fn retry_delay(&self, failures: u32) -> Duration {
        let doubling = 1u32 << failures.saturating_sub(1).min(16);
        self.retry_base.saturating_mul(doubling).min(self.retry_max)
    }

    /// Whether the walker has been idle long enough to stop.
    pub fn should_stop_idle(&self, idle_for: Duration, pending_records: usize) -> bool {
        pending_records == 0 && self.until_idle.is_some_and(|limit| idle_for >= limit)
    }
}

/// Totals of a walk.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ConsumeSummary {
    /// Records delivered and done (not to be delivered again).
    pub records_done: u64,
    /// Their outcomes, when the sink reports them (see [`Delivery::counts`]).
    #[serde(flatten)]
    pub counts: Option<Counts>,
    pub deliveries: u64,
    /// Deliveries that asked for (part of) their records again.
    pub retried_deliveries: u64,
    pub files: u64,
    pub bytes: u64,
    pub shards_seen: u64,
    pub shards_finished: u64,
    pub records_per_shard: BTreeMap<String, u64>,
    pub seconds: f64,
}

impl ConsumeSummary {
    /// The summary as aligned text for people.
    pub fn to_table(&self) -> String {
        use crate::run::{aligned, human_bytes, thousands};
        let mut rows = vec![("records done".to_owned(), thousands(self.records_done))];
        if let Some(c) = &self.counts {
            rows.extend([
                ("events written".to_owned(), thousands(c.written)),
                ("duplicates".to_owned(), thousands(c.duplicates)),
                ("quarantined".to_owned(), thousands(c.quarantined)),
                (
                    "already committed (retries)".to_owned(),
                    thousands(c.already_committed),
                ),
            ]);
            if c.erased_resends > 0 {
                rows.push((
                    "re-sends of erased events (not stored)".to_owned(),
                    thousands(c.erased_resends),
                ));
            }
        }
        rows.extend([
            ("deliveries".to_owned(), thousands(self.deliveries)),
            (
                "retried deliveries".to_owned(),
                thousands(self.retried_deliveries),
            ),
            ("files".to_owned(), thousands(self.files)),
            ("bytes".to_owned(), human_bytes(self.bytes)),
            (
                "shards finished / seen".to_owned(),
                format!("{} / {}", self.shards_finished, self.shards_seen),
            ),
        ]);
        for (shard, n) in &self.records_per_shard {
            rows.push((format!("  {shard}"), thousands(*n)));
        }
        rows.push(("seconds".to_owned(), format!("{:.2}", self.seconds)));
        aligned(&rows)
    }
}

#[derive(Debug)]
struct Cursor {
    checkpoint: Checkpoint,
    start_latest: bool,
    /// In a replay: the range to read (starting AT its first sequence number).
    range: Option<ShardRange>,
    iterator: Option<String>,
    /// The last sequence number fetched (pending records included).
    fetched_through: Option<SequenceNumber>,
    pending: Vec<Record>,
    end_reached: bool,
    failures: u32,
    next_attempt: Instant,
}

/// Reads `stream` into `sink` until stopped, idle (see [`ConsumeOptions::until_idle`]) or
/// every shard is closed and read. `progress` sees the running totals.
pub async fn consume(
    client: &Client,
    stream: &str,
    positions: Positions<'_>,
    sink: &mut dyn BatchSink,
    options: ConsumeOptions,
    stop: Arc<AtomicBool>,
    progress: &mut dyn FnMut(&ConsumeSummary),
) -> Result<ConsumeSummary, IngestError> {
    let mut walker = Walker {
        client,
        stream,
        positions,
        options,
        cursors: HashMap::new(),
        summary: ConsumeSummary::default(),
        last_activity: Instant::now(),
    };
    let started = Instant::now();
    let mut shards = walker.list_shards().await?;
    walker.open_cursors(&shards, true).await?;
    let mut next_list = Instant::now() + options.list_every;
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let mut relist = Instant::now() >= next_list;
        let finished: HashSet<String> = walker
            .cursors
            .iter()
            .filter(|(_, c)| c.checkpoint.finished)
            .map(|(id, _)| id.clone())
            .collect();
        let ready: Vec<String> = readable(&shards, &finished)
            .iter()
            .map(|s| s.id.clone())
            .collect();
        let replay = matches!(walker.positions, Positions::Replay(_));
        if ready.is_empty() && (replay || shards.iter().all(|s| s.closed)) {
            break;
        }
        for shard_id in &ready {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            relist |= walker.step(shard_id, sink).await?;
        }
        walker.summary.seconds = started.elapsed().as_secs_f64();
        progress(&walker.summary);
        let pending: usize = walker.cursors.values().map(|c| c.pending.len()).sum();
        if options.should_stop_idle(walker.last_activity.elapsed(), pending) {
            break;
        }
        if relist {
            shards = walker.list_shards().await?;
            walker.open_cursors(&shards, false).await?;
            next_list = Instant::now() + options.list_every;
        } else {
            walker.wait_for_next(&ready, &stop).await;
        }
    }
    walker.summary.shards_seen = walker.cursors.len() as u64;
    walker.summary.shards_finished = walker.cursors.values().filter(|c| c.checkpoint.finished).count() as u64;
    walker.warn_short_ranges();
    walker.summary.seconds = started.elapsed().as_secs_f64();
    Ok(walker.summary)
}

struct Walker<'a> {
    client: &'a Client,
    stream: &'a str,
    positions: Positions<'a>,
    options: ConsumeOptions,
    cursors: HashMap<String, Cursor>,
    summary: ConsumeSummary,
    last_activity: Instant,
}

impl Walker<'_> {
    async fn list_shards(&self) -> Result<Vec<ShardInfo>, IngestError> {
        let mut shards = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let request = match &next_token {
                Some(token) => self.client.list_shards().next_token(token),
                None => self.client.list_shards().stream_name(self.stream),
            };
            let out = request
                .send()
                .await
                .map_err(|e| kinesis_error("ListShards", self.stream, &e))?;
            shards.extend(out.shards().iter().map(ShardInfo::from_sdk));
            next_token = out.next_token().map(str::to_owned);
            if next_token.is_none() {
                break;
            }
        }
        let Positions::Replay(plan) = self.positions else {
            return Ok(shards);
        };
        if let Some(missing) = plan.ranges().find(|r| !shards.iter().any(|s| s.id == r.shard_id)) {
            let listed: Vec<&str> = shards.iter().map(|s| s.id.as_str()).collect();
            return Err(IngestError::Kinesis {
                operation: "ListShards",
                stream: self.stream.to_owned(),
                message: format!(
                    "shard {} is not in the stream (never was, or trimmed past retention); it has {}",
                    missing.shard_id,
                    listed.join(", ")
                ),
                retryable: false,
            });
        }
        shards.retain(|s| plan.get(&s.id).is_some());
        Ok(shards)
    }

    async fn save_checkpoint(&self, shard_id: &str, checkpoint: &Checkpoint) -> Result<(), IngestError> {
        match self.positions {
            Positions::Checkpoints(store) => store.save(shard_id, checkpoint).await,
            Positions::Replay(_) => Ok(()),
        }
    }

    /// Warns about replayed failure-record ranges that yielded fewer or more records than
    /// the record's `batchSize`.
    fn warn_short_ranges(&self) {
        for (shard_id, cursor) in &self.cursors {
            let Some(expected) = cursor.range.as_ref().and_then(|r| r.expected_records) else {
                continue;
            };
            let done = self.summary.records_per_shard.get(shard_id).copied().unwrap_or(0);
            if done != expected {
                tracing::warn!(
                    shard = shard_id.as_str(),
                    expected,
                    done,
                    "the replayed range did not hold the failure record's batchSize records"
                );
            }
        }
    }

    async fn open_cursors(&mut self, shards: &[ShardInfo], at_start: bool) -> Result<(), IngestError> {
        for shard in shards {
            if self.cursors.contains_key(&shard.id) {
                continue;
            }
            let (mut checkpoint, range) = match self.positions {
                Positions::Checkpoints(store) => (store.load(&shard.id).await?, None),
                Positions::Replay(plan) => (Checkpoint::default(), plan.get(&shard.id).cloned()),
            };
            let latest = at_start
                && range.is_none()
                && self.options.start == StartPosition::Latest
                && checkpoint.sequence.is_none();
            if latest && shard.closed && !checkpoint.finished {
                checkpoint.finished = true;
            }
            self.cursors.insert(
                shard.id.clone(),
                Cursor {
                    checkpoint,
                    start_latest: latest,
                    range,
                    iterator: None,
                    fetched_through: None,
                    pending: Vec::new(),
                    end_reached: false,
                    failures: 0,
                    next_attempt: Instant::now(),
                },
            );
        }
        Ok(())
    }

    /// One step of a shard: fetch if nothing is pending, deliver what is pending, and
    /// finish the shard at its end. Returns whether the shard list should be refreshed.
    async fn step(&mut self, shard_id: &str, sink: &mut dyn BatchSink) -> Result<bool, IngestError> {
        let Some(cursor) = self.cursors.get(shard_id) else {
            return Ok(false);
        };
        if cursor.next_attempt > Instant::now() {
            return Ok(false);
        }
        if cursor.pending.is_empty() && !cursor.end_reached {
            self.fetch(shard_id).await?;
        }
        let has_pending = self.cursors.get(shard_id).is_some_and(|c| !c.pending.is_empty());
        if has_pending {
            self.deliver(shard_id, sink).await?;
        }
        let Some(cursor) = self.cursors.get_mut(shard_id) else {
            return Ok(false);
        };
        if cursor.pending.is_empty() && cursor.end_reached && !cursor.checkpoint.finished {
            cursor.checkpoint.finished = true;
            let checkpoint = cursor.checkpoint.clone();
            self.save_checkpoint(shard_id, &checkpoint).await?;
            tracing::info!(shard = shard_id, "shard read to its end");
            return Ok(true);
        }
        Ok(false)
    }

    async fn fetch(&mut self, shard_id: &str) -> Result<(), IngestError> {
        let iterator = match self.cursors.get(shard_id).and_then(|c| c.iterator.clone()) {
            Some(iterator) => iterator,
            None => self.shard_iterator(shard_id).await?,
        };
        let result = self
            .client
            .get_records()
            .shard_iterator(iterator)
            .limit(self.options.batch_size)
            .send()
            .await;
        let now = Instant::now();
        let Some(cursor) = self.cursors.get_mut(shard_id) else {
            return Ok(());
        };
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                match error_code(&e) {
                    Some("ExpiredIteratorException") => cursor.iterator = None,
                    Some("ProvisionedThroughputExceededException" | "KMSThrottlingException") => {
                        cursor.failures += 1;
                        cursor.next_attempt = now + self.options.retry_delay(cursor.failures);
                    }
                    _ => return Err(kinesis_error("GetRecords", self.stream, &e)),
                }
                return Ok(());
            }
        };
        cursor.iterator = out.next_shard_iterator().map(str::to_owned);
        cursor.end_reached = cursor.iterator.is_none();
        let mut records = out.records().to_vec();
        if let Some(range) = &cursor.range {
            if cursor.fetched_through.is_none()
                && let Some(first) = records.first()
            {
                check_range_start(self.stream, range, first.sequence_number())?;
            }
            let in_range = records
                .iter()
                .take_while(|r| {
                    SequenceNumber::parse(r.sequence_number()).is_none_or(|s| !range.is_past_end(&s))
                })
                .count();
            let at_end = range.end.as_ref().is_some_and(|end| {
                records
                    .get(..in_range)
                    .and_then(<[Record]>::last)
                    .and_then(|r| SequenceNumber::parse(r.sequence_number()))
                    .as_ref()
                    == Some(end)
            });
            if in_range < records.len() || at_end {
                records.truncate(in_range);
                cursor.end_reached = true;
                cursor.iterator = None;
            }
        }
        if let Some(last) = records.last() {
            cursor.fetched_through = SequenceNumber::parse(last.sequence_number());
            cursor.pending = records;
            cursor.next_attempt = now + Duration::from_millis(200);
            self.last_activity = now;
        } else if out.millis_behind_latest().unwrap_or(0) == 0 {
            cursor.next_attempt = now + self.options.idle_poll;
        }
        Ok(())
    }

    async fn shard_iterator(&mut self, shard_id: &str) -> Result<String, IngestError> {
        let Some(cursor) = self.cursors.get(shard_id) else {
            return Err(IngestError::BadEvent(format!("unknown shard {shard_id}")));
        };
        let after = cursor
            .fetched_through
            .clone()
            .or_else(|| cursor.checkpoint.sequence.clone());
        let at = cursor.range.as_ref().map(|r| r.start.clone());
        let mut request = self
            .client
            .get_shard_iterator()
            .stream_name(self.stream)
            .shard_id(shard_id);
        request = match after {
            Some(sequence) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(sequence.as_str()),
            None if at.is_some() => request
                .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
                .starting_sequence_number(at.as_ref().map_or("", SequenceNumber::as_str)),
            None if cursor.start_latest => request.shard_iterator_type(ShardIteratorType::Latest),
            None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        let out = request
            .send()
            .await
            .map_err(|e| kinesis_error("GetShardIterator", self.stream, &e))?;
        out.shard_iterator()
            .map(str::to_owned)
            .ok_or_else(|| IngestError::Kinesis {
                operation: "GetShardIterator",
                stream: self.stream.to_owned(),
                message: format!("no iterator returned for {shard_id}"),
                retryable: true,
            })
    }

    async fn deliver(&mut self, shard_id: &str, sink: &mut dyn BatchSink) -> Result<(), IngestError> {
        let Some(cursor) = self.cursors.get_mut(shard_id) else {
            return Ok(());
        };
        let delivery = match sink.deliver(shard_id, &cursor.pending).await {
            Ok(delivery) => delivery,
            Err(e) if e.is_retryable() => {
                tracing::warn!(shard = shard_id, error = %e, "delivery failed; retrying the batch");
                Delivery {
                    retry_from: cursor
                        .pending
                        .first()
                        .and_then(|r| SequenceNumber::parse(r.sequence_number())),
                    ..Delivery::default()
                }
            }
            Err(e) => return Err(e),
        };
        let summary = &mut self.summary;
        summary.deliveries += 1;
        summary.records_done += delivery.records_done;
        if let Some(counts) = &delivery.counts {
            summary.counts.get_or_insert_with(Counts::default).add(counts);
        }
        summary.files += delivery.files;
        summary.bytes += delivery.bytes;
        let done = cursor
            .pending
            .iter()
            .take_while(|r| {
                let sequence = SequenceNumber::parse(r.sequence_number());
                delivery
                    .retry_from
                    .as_ref()
                    .is_none_or(|from| sequence.as_ref() < Some(from))
            })
            .count();
        *summary.records_per_shard.entry(shard_id.to_owned()).or_default() += done as u64;
        if let Some(last_done) = done.checked_sub(1).and_then(|i| cursor.pending.get(i)) {
            cursor.checkpoint.sequence = SequenceNumber::parse(last_done.sequence_number());
            if let Positions::Checkpoints(store) = self.positions {
                store.save(shard_id, &cursor.checkpoint).await?;
            }
        }
        cursor.pending.drain(..done);
        let now = Instant::now();
        if cursor.pending.is_empty() {
            cursor.failures = 0;
            self.last_activity = now;
        } else {
            summary.retried_deliveries += 1;
            cursor.failures += 1;
            cursor.next_attempt = now + self.options.retry_delay(cursor.failures);
        }
        Ok(())
    }

    /// Sleeps until a ready shard is due (at most 200 ms at a time, to notice a stop).
    async fn wait_for_next(&self, ready: &[String], stop: &AtomicBool) {
        let now = Instant::now();
        let next = ready
            .iter()
            .filter_map(|id| self.cursors.get(id))
            .map(|c| c.next_attempt)
            .min()
            .unwrap_or(now + self.options.idle_poll);
        let wait = next
            .saturating_duration_since(now)
            .min(Duration::from_millis(200));
        if !wait.is_zero() && !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(wait).await;
        }
    }
}

/// A range from a failure record must begin with its first record: when the stream's first
/// record at or after `start` is a later one, the records from `start` were trimmed (past the
/// stream's retention) and cannot be replayed.
fn check_range_start(stream: &str, range: &ShardRange, first: &str) -> Result<(), IngestError> {
    if range.expected_records.is_none() || SequenceNumber::parse(first).as_ref() == Some(&range.start) {
        return Ok(());
    }
    Err(IngestError::Kinesis {
        operation: "GetRecords",
        stream: stream.to_owned(),
        message: format!(
            "shard {}: the first record at or after {} is {first}: the batch's first records are no longer in the stream (past its retention?)",
            range.shard_id, range.start
        ),
        retryable: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_backoff_doubles_and_caps() {
        let options = ConsumeOptions::default();
        assert_eq!(options.retry_delay(1), Duration::from_millis(200));
        assert_eq!(options.retry_delay(2), Duration::from_millis(400));
        assert_eq!(options.retry_delay(40), Duration::from_secs(10));
    }

    #[test]
    fn idle_stop_waits_for_pending_records() {
        let options = ConsumeOptions {
            until_idle: Some(Duration::from_secs(5)),
            ..ConsumeOptions::default()
        };
        assert!(!options.should_stop_idle(Duration::from_secs(4), 0));
        assert!(options.should_stop_idle(Duration::from_secs(5), 0));
        assert!(!options.should_stop_idle(Duration::from_secs(60), 3));
        assert!(!ConsumeOptions::default().should_stop_idle(Duration::from_secs(3600), 0));
    }
}
