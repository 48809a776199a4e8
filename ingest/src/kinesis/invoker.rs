//! A [`BatchSink`] that invokes the Lambda function over HTTP with the event the Kinesis event
//! source mapping would send: the Lambda Invoke API of `cargo lambda watch` (or any endpoint
//! that speaks it). It honours the answer as the mapping does: `batchItemFailures` retries
//! the shard from the lowest failed sequence number; a function error retries the batch.
//! Batches are cut to stay under Lambda's 6 MB synchronous payload limit.

use super::consumer::{BatchSink, Delivery};
use super::event::{lambda_event, lowest_reported_failure};
use crate::error::IngestError;
use crate::source::SequenceNumber;
use async_trait::async_trait;
use aws_lambda_events::event::streams::KinesisEventResponse;
use aws_sdk_kinesis::types::Record;

/// Lambda's limit on a synchronous invocation's request, with room for the envelope.
const MAX_EVENT_BYTES: usize = 5_500_000;
/// JSON around one record besides its base64 data and the variable fields counted apart
/// (partition key, ARN, shard id, region): field names, sequence numbers, fixed values.
const RECORD_OVERHEAD_BYTES: usize = 600;

#[derive(Debug)]
pub struct LambdaInvoker {
    http: reqwest::Client,
    url: String,
    stream_arn: String,
    region: String,
    pub invocations: u64,
}

impl LambdaInvoker {
    /// `endpoint` is the Invoke API's base URL (e.g. `http://127.0.0.1:9000`).
    pub fn new(endpoint: &str, function: &str, stream_arn: &str, region: &str) -> Self {
        LambdaInvoker {
            http: reqwest::Client::new(),
            url: format!(
                "{}/2015-03-31/functions/{function}/invocations",
                endpoint.trim_end_matches('/')
            ),
            stream_arn: stream_arn.to_owned(),
            region: region.to_owned(),
            invocations: 0,
        }
    }

    /// Invokes once; `Some(sequence)` is where the shard must be retried from.
    async fn invoke(
        &mut self,
        shard_id: &str,
        records: &[Record],
    ) -> Result<Option<SequenceNumber>, IngestError> {
        let invoke_error = |message: String| IngestError::Invoke {
            url: self.url.clone(),
            message,
        };
        let event = lambda_event(&self.stream_arn, &self.region, shard_id, records);
        self.invocations += 1;
        let response = self
            .http
            .post(&self.url)
            .json(&event)
            .send()
            .await
            .map_err(|e| invoke_error(e.to_string()))?;
        let status = response.status();
        let function_error = response.headers().contains_key("x-amz-function-error");
        let body = response.bytes().await.map_err(|e| invoke_error(e.to_string()))?;
        let sequences: Vec<SequenceNumber> = records
            .iter()
            .filter_map(|r| SequenceNumber::parse(r.sequence_number()))
            .collect();
        let answer = serde_json::from_slice::<KinesisEventResponse>(&body);
        match answer {
            Ok(answer) if status.is_success() && !function_error => {
                Ok(lowest_reported_failure(&answer, &sequences))
            }
            _ => {
                tracing::warn!(
                    status = status.as_u16(),
                    body = %String::from_utf8_lossy(&body[..body.len().min(500)]),
                    "function error; the batch will be retried"
                );
                Ok(sequences.into_iter().min())
            }
        }
    }
}

#[async_trait]
impl BatchSink for LambdaInvoker {
    async fn deliver(&mut self, shard_id: &str, records: &[Record]) -> Result<Delivery, IngestError> {
        let mut done = 0;
        let per_record = self.stream_arn.len() + self.region.len() + shard_id.len();
        for chunk in payload_chunks(records, per_record) {
            if let Some(retry_from) = self.invoke(shard_id, chunk).await? {
                let done_in_chunk = chunk
                    .iter()
                    .take_while(|r| {
                        SequenceNumber::parse(r.sequence_number()).is_some_and(|s| s < retry_from)
                    })
                    .count();
                return Ok(delivery(done + done_in_chunk, Some(retry_from)));
            }
            done += chunk.len();
        }
        Ok(delivery(done, None))
    }
}

fn delivery(done: usize, retry_from: Option<SequenceNumber>) -> Delivery {
    Delivery {
        retry_from,
        records_done: done as u64,
        ..Delivery::default()
    }
}

/// Consecutive runs of records whose event stays under the payload limit. `per_record` is
/// the length of the texts every record repeats (stream ARN, region, shard id); a partition
/// key (up to 256 characters) counts as if every character were escaped (`\uXXXX`).
fn payload_chunks(records: &[Record], per_record: usize) -> Vec<&[Record]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut size = 0;
    for (i, record) in records.iter().enumerate() {
        let key = record.partition_key().map_or(0, |k| k.chars().count() * 6);
        let record_size =
            record.data().as_ref().len().div_ceil(3) * 4 + RECORD_OVERHEAD_BYTES + per_record + key;
        if i > start && size + record_size > MAX_EVENT_BYTES {
            chunks.push(&records[start..i]);
            start = i;
            size = 0;
        }
        size += record_size;
    }
    if start < records.len() {
        chunks.push(&records[start..]);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_kinesis::primitives::Blob;

    fn record(seq: u64, bytes: usize) -> Record {
        keyed(&seq.to_string(), bytes, "k")
    }

    fn keyed(seq: &str, bytes: usize, key: &str) -> Record {
        Record::builder()
            .sequence_number(seq)
            .partition_key(key)
            .data(Blob::new(vec![b'x'; bytes]))
            .build()
            .expect("record")
    }

    #[test]
    fn events_stay_under_the_payload_limit() {
        let records: Vec<Record> = (1..=30).map(|i| record(i, 400_000)).collect();
        let chunks = payload_chunks(&records, 40);
        assert!(chunks.len() > 1);
        assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), 30);
        for chunk in &chunks {
            let json =
                serde_json::to_vec(&lambda_event("arn", "us-east-1", "shardId-0", chunk)).expect("json");
            assert!(json.len() < 6 * 1024 * 1024, "{}", json.len());
        }
        let small: Vec<Record> = (1..=10).map(|i| record(i, 10)).collect();
        assert_eq!(payload_chunks(&small, 40).len(), 1);
        assert!(payload_chunks(&[], 40).is_empty());
    }

    #[test]
    fn many_small_records_with_long_keys_stay_under_the_limit() {
        // 10,000 records (a full GetRecords answer) with 256-character keys and a long ARN:
        // the envelope, not the data, is what must be counted.
        let arn = format!(
            "arn:aws:kinesis:eu-central-1:123456789012:stream/{}",
            "s".repeat(128)
        );
        let key = "\u{1}".repeat(256);
        let records: Vec<Record> = (0..10_000)
            .map(|i| {
                keyed(
                    &format!("4959033827149025660855969253836157109592157598913{i:05}"),
                    20,
                    &key,
                )
            })
            .collect();
        let shard = "shardId-000000000000";
        let chunks = payload_chunks(&records, arn.len() + "eu-central-1".len() + shard.len());
        assert!(chunks.len() > 1);
        assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), 10_000);
        for chunk in chunks {
            let json = serde_json::to_vec(&lambda_event(&arn, "eu-central-1", shard, chunk)).expect("json");
            assert!(json.len() < 6 * 1024 * 1024, "{} bytes", json.len());
        }
    }
}
