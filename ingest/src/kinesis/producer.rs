//! `ingest produce`: JSON Lines onto a Kinesis stream with PutRecords (up to 500 records and
//! 5 MiB a call). The partition key is the record's `event_uuid`, so every copy of an event
//! lands on the same shard (where the ledger sees it in order) and load spreads evenly over
//! shards; a line without one is keyed by the MD5 of its bytes. Records Kinesis rejects
//! (throttling, internal errors) are sent again with backoff; records over Kinesis' 1 MiB
//! limit cannot be sent and are counted, never dropped silently.

use super::client::kinesis_error;
use crate::error::IngestError;
use crate::run::{Input, input_error, is_blank, open_input, read_bounded_line};
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use md5::{Digest, Md5};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Kinesis' limit on one record: data plus partition key.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
const MAX_PARTITION_KEY_CHARS: usize = 256;

/// How calls are cut and failed records retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducePolicy {
    pub max_records_per_call: usize,
    pub max_bytes_per_call: usize,
    pub max_attempts: u32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for ProducePolicy {
    fn default() -> Self {
        ProducePolicy {
            max_records_per_call: 500,
            max_bytes_per_call: 5 * 1024 * 1024,
            max_attempts: 12,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl ProducePolicy {
    /// Whether attempt number `attempt` (1-based, the one about to be made) is allowed.
    pub fn should_retry(&self, attempt: u32) -> bool {
        attempt <= self.max_attempts
    }

    /// The wait before attempt `attempt` (2 and up): doubling, capped.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doubling = 1u32 << attempt.saturating_sub(2).min(16);
        self.base_backoff.saturating_mul(doubling).min(self.max_backoff)
    }
}

/// What a produce run did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ProduceSummary {
    pub records: u64,
    pub bytes: u64,
    pub calls: u64,
    /// Record sends that Kinesis refused and that were sent again.
    pub retried_records: u64,
    /// Records over the 1 MiB limit: not sent.
    pub rejected_too_large: u64,
    pub records_per_shard: BTreeMap<String, u64>,
    pub seconds: f64,
    pub records_per_second: f64,
}

/// The partition key of a record: its `event_uuid` when it has a usable one.
pub fn partition_key(data: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Envelope {
        event_uuid: Option<serde_json::Value>,
    }
    let uuid = serde_json::from_slice::<Envelope>(data)
        .ok()
        .and_then(|e| e.event_uuid)
        .and_then(|v| v.as_str().map(str::to_owned))
        .filter(|u| !u.is_empty() && u.chars().count() <= MAX_PARTITION_KEY_CHARS);
    uuid.unwrap_or_else(|| hex::encode(Md5::digest(data)))
}

/// Sends every line of `input` to `stream`. `progress` gets (records sent, input bytes read).
pub async fn produce(
    client: &Client,
    stream: &str,
    input: &Input,
    policy: ProducePolicy,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ProduceSummary, IngestError> {
    let started = Instant::now();
    let (mut reader, _, _) = open_input(input)?;
    let mut summary = ProduceSummary::default();
    let mut pending: Vec<(PutRecordsRequestEntry, usize)> = Vec::new();
    let mut pending_bytes = 0;
    let mut line = Vec::new();
    let mut line_number = 0u64;
    let mut read_bytes = 0u64;
    loop {
        // Bounded: a line over the limit is skipped through, never buffered whole.
        let Some(length) = read_bounded_line(&mut reader, &mut line).map_err(|e| input_error(input, e))?
        else {
            break;
        };
        read_bytes += length + 1;
        line_number += 1;
        if is_blank(&line, length) {
            continue;
        }
        let key = partition_key(&line);
        let size = line.len() + key.len();
        if size > MAX_RECORD_BYTES {
            tracing::error!(
                line = line_number,
                bytes = length.max(size as u64),
                "record over Kinesis' 1 MiB limit; not sent"
            );
            summary.rejected_too_large += 1;
            continue;
        }
        if pending.len() == policy.max_records_per_call || pending_bytes + size > policy.max_bytes_per_call {
            send_all(client, stream, std::mem::take(&mut pending), policy, &mut summary).await?;
            pending_bytes = 0;
            progress(summary.records, read_bytes);
        }
        let entry = PutRecordsRequestEntry::builder()
            .data(Blob::new(line.clone()))
            .partition_key(key)
            .build()
            .map_err(|e| IngestError::Config(e.to_string()))?;
        pending.push((entry, size));
        pending_bytes += size;
    }
    if !pending.is_empty() {
        send_all(client, stream, pending, policy, &mut summary).await?;
    }
    progress(summary.records, read_bytes);
    summary.seconds = started.elapsed().as_secs_f64();
    summary.records_per_second = summary.records as f64 / summary.seconds.max(1e-9);
    Ok(summary)
}

/// One PutRecords call, then again for the records it refused, until all are in.
async fn send_all(
    client: &Client,
    stream: &str,
    mut entries: Vec<(PutRecordsRequestEntry, usize)>,
    policy: ProducePolicy,
    summary: &mut ProduceSummary,
) -> Result<(), IngestError> {
    let mut attempt = 1;
    let mut last_error = String::new();
    while !entries.is_empty() {
        if !policy.should_retry(attempt) {
            return Err(IngestError::Kinesis {
                operation: "PutRecords",
                stream: stream.to_owned(),
                message: format!(
                    "{} records still refused after {} attempts (last: {last_error})",
                    entries.len(),
                    policy.max_attempts
                ),
                retryable: true,
            });
        }
        if attempt > 1 {
            tokio::time::sleep(policy.backoff(attempt)).await;
        }
        attempt += 1;
        summary.calls += 1;
        let request = client
            .put_records()
            .stream_name(stream)
            .set_records(Some(entries.iter().map(|(e, _)| e.clone()).collect()));
        let output = match request.send().await {
            Ok(output) => output,
            Err(e) => {
                let err = kinesis_error("PutRecords", stream, &e);
                if !err.is_retryable() {
                    return Err(err);
                }
                tracing::warn!(error = %err, "PutRecords failed; retrying");
                last_error = err.to_string();
                summary.retried_records += entries.len() as u64;
                continue;
            }
        };
        let mut refused = Vec::new();
        for (result, (entry, size)) in output.records().iter().zip(entries) {
            match result.error_code() {
                Some(code) => {
                    last_error = format!("{code}: {}", result.error_message().unwrap_or_default());
                    refused.push((entry, size));
                }
                None => {
                    summary.records += 1;
                    summary.bytes += size as u64;
                    *summary
                        .records_per_shard
                        .entry(result.shard_id().unwrap_or_default().to_owned())
                        .or_default() += 1;
                }
            }
        }
        summary.retried_records += refused.len() as u64;
        entries = refused;
    }
    Ok(())
}

impl ProduceSummary {
    /// The summary as aligned text for people.
    pub fn to_table(&self) -> String {
        use crate::run::{human_bytes, thousands};
        let mut rows = vec![
            ("records sent".to_owned(), thousands(self.records)),
            ("bytes".to_owned(), human_bytes(self.bytes)),
            ("PutRecords calls".to_owned(), thousands(self.calls)),
            ("records retried".to_owned(), thousands(self.retried_records)),
            (
                "rejected (over 1 MiB)".to_owned(),
                thousands(self.rejected_too_large),
            ),
        ];
        for (shard, n) in &self.records_per_shard {
            rows.push((format!("  {shard}"), thousands(*n)));
        }
        rows.push(("seconds".to_owned(), format!("{:.2}", self.seconds)));
        rows.push((
            "records/s".to_owned(),
            thousands(self.records_per_second.round() as u64),
        ));
        crate::run::aligned(&rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_of_an_event_share_a_partition_key() {
        let a = br#"{"event_uuid":"6f1c-1","event_name":"a:b","created_at":1}"#;
        let b = br#"{"created_at":1,"event_name":"a:b","event_uuid":"6f1c-1","x":2}"#;
        assert_eq!(partition_key(a), "6f1c-1");
        assert_eq!(partition_key(a), partition_key(b));
        let not_json = b"{oops";
        assert_eq!(partition_key(not_json).len(), 32);
        assert_eq!(partition_key(not_json), partition_key(not_json));
        assert_eq!(partition_key(br#"{"event_uuid":7}"#).len(), 32);
        let long = format!(r#"{{"event_uuid":"{}"}}"#, "x".repeat(300));
        assert_eq!(partition_key(long.as_bytes()).len(), 32);
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let policy = ProducePolicy::default();
        assert_eq!(policy.backoff(2), Duration::from_millis(100));
        assert_eq!(policy.backoff(3), Duration::from_millis(200));
        assert_eq!(policy.backoff(30), Duration::from_secs(5));
        assert!(policy.should_retry(12));
        assert!(!policy.should_retry(13));
    }
}
