//! Conversions between Kinesis' record shapes and the processor's [`SourceRecord`]: the SDK's
//! GetRecords records, the Lambda event built from them (base64 data, `eventID` =
//! `shardId:sequence`; the function reads it with [`super::lambda_event`]), and the
//! `batchItemFailures` answer. A record's source is (shard id, sequence number), so
//! a redelivery of the same record is recognised as a retry.

use crate::error::IngestError;
use crate::source::{RecordBlocks, SequenceNumber, SourceId, SourceRecord};
use aws_lambda_events::encodings::SecondTimestamp;
use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord, KinesisRecord};
use aws_lambda_events::event::streams::KinesisEventResponse;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// A record read with GetRecords, as the processor sees it.
pub fn source_record_from_sdk(
    shard_id: &Arc<str>,
    record: &aws_sdk_kinesis::types::Record,
    blocks: &mut RecordBlocks,
) -> Result<SourceRecord, IngestError> {
    let sequence = SequenceNumber::parse(record.sequence_number()).ok_or_else(|| {
        IngestError::BadEvent(format!(
            "shard {shard_id}: sequence number {:?} is not a decimal number",
            record.sequence_number()
        ))
    })?;
    Ok(SourceRecord {
        source: SourceId::new(shard_id.clone(), sequence),
        arrival_micros: arrival(record).timestamp_micros(),
        data: blocks.copy(record.data().as_ref()),
    })
}

fn arrival(record: &aws_sdk_kinesis::types::Record) -> DateTime<Utc> {
    record
        .approximate_arrival_timestamp()
        .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
        .unwrap_or_default()
}

/// The event the Kinesis event source mapping would hand the function for these records.
pub fn lambda_event(
    stream_arn: &str,
    region: &str,
    shard_id: &str,
    records: &[aws_sdk_kinesis::types::Record],
) -> KinesisEvent {
    let mut event = KinesisEvent::default();
    event.records = records
        .iter()
        .map(|record| {
            let mut kinesis = KinesisRecord::default();
            kinesis.approximate_arrival_timestamp = SecondTimestamp(arrival(record));
            kinesis.data.extend_from_slice(record.data().as_ref());
            kinesis.partition_key = record.partition_key().unwrap_or_default().to_owned();
            kinesis.sequence_number = record.sequence_number().to_owned();
            kinesis.kinesis_schema_version = Some("1.0".into());
            let mut wrapped = KinesisEventRecord::default();
            wrapped.kinesis = kinesis;
            wrapped.aws_region = Some(region.to_owned());
            wrapped.event_id = Some(format!("{shard_id}:{}", record.sequence_number()));
            wrapped.event_name = Some("aws:kinesis:record".into());
            wrapped.event_source = Some("aws:kinesis".into());
            wrapped.event_source_arn = Some(stream_arn.to_owned());
            wrapped.event_version = Some("1.0".into());
            wrapped
        })
        .collect();
    event
}

/// The answer to the event source mapping: nothing on success, else the lowest failed
/// sequence number (the shard is retried from there).
pub fn failure_response(lowest_failure: Option<&SequenceNumber>) -> KinesisEventResponse {
    let mut response = KinesisEventResponse::default();
    if let Some(sequence) = lowest_failure {
        response.add_failure(sequence.as_str());
    }
    response
}

/// The lowest sequence number a response asks to retry from. An identifier that is not a
/// sequence number of the batch fails the whole batch, as the event source mapping does.
pub fn lowest_reported_failure(
    response: &KinesisEventResponse,
    batch: &[SequenceNumber],
) -> Option<SequenceNumber> {
    let mut lowest: Option<SequenceNumber> = None;
    for failure in &response.batch_item_failures {
        let parsed = failure
            .item_identifier
            .as_deref()
            .and_then(SequenceNumber::parse)
            .filter(|s| batch.contains(s));
        let Some(sequence) = parsed else {
            return batch.iter().min().cloned();
        };
        if lowest.as_ref().is_none_or(|l| sequence < *l) {
            lowest = Some(sequence);
        }
    }
    lowest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_name_the_lowest_failure() {
        assert!(failure_response(None).batch_item_failures.is_empty());
        let seq = SequenceNumber::from_u64(42);
        let response = failure_response(Some(&seq));
        let json = serde_json::to_string(&response).expect("json");
        assert_eq!(json, r#"{"batchItemFailures":[{"itemIdentifier":"42"}]}"#);

        let batch: Vec<SequenceNumber> = [9, 10, 42].map(SequenceNumber::from_u64).to_vec();
        let mut two = KinesisEventResponse::default();
        two.set_failures(["42", "10"]);
        assert_eq!(
            lowest_reported_failure(&two, &batch),
            Some(SequenceNumber::from_u64(10))
        );
        let mut unknown = KinesisEventResponse::default();
        unknown.add_failure("7");
        assert_eq!(
            lowest_reported_failure(&unknown, &batch),
            Some(SequenceNumber::from_u64(9))
        );
        assert_eq!(
            lowest_reported_failure(&KinesisEventResponse::default(), &batch),
            None
        );
    }
}
