//! Conversions between Kinesis' record shapes and the processor's [`SourceRecord`]: the
//! Lambda event (base64 data, `eventID` = `shardId:sequence`), the SDK's GetRecords records,
//! and the `batchItemFailures` answer. A record's source is (shard id, sequence number), so
//! a redelivery of the same record is recognised as a retry.

use crate::error::IngestError;
use crate::source::{RecordBlocks, SequenceNumber, ShardIds, SourceId, SourceRecord};
use aws_lambda_events::encodings::SecondTimestamp;
use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord, KinesisRecord};
use aws_lambda_events::event::streams::KinesisEventResponse;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// The records of a Lambda Kinesis event, in delivery order.
pub fn source_records(event: &KinesisEvent) -> Result<Vec<SourceRecord>, IngestError> {
    // An event holds one shard's records: they share one copy of its id, and their bytes
    // share a few blocks.
    let mut shards = ShardIds::default();
    let mut blocks = RecordBlocks::default();
    event
        .records
        .iter()
        .enumerate()
        .map(|(i, record)| source_record(i, record, &mut shards, &mut blocks))
        .collect()
}

fn source_record(
    index: usize,
    record: &KinesisEventRecord,
    shards: &mut ShardIds,
    blocks: &mut RecordBlocks,
) -> Result<SourceRecord, IngestError> {
    let bad = |what: &str| IngestError::BadEvent(format!("record {index}: {what}"));
    let event_id = record.event_id.as_deref().ok_or_else(|| bad("no eventID"))?;
    let shard_id = event_id
        .split_once(':')
        .map(|(shard, _)| shard)
        .filter(|shard| !shard.is_empty())
        .ok_or_else(|| bad("eventID is not shardId:sequenceNumber"))?;
    let sequence = SequenceNumber::parse(&record.kinesis.sequence_number)
        .ok_or_else(|| bad("sequenceNumber is not a decimal number"))?;
    Ok(SourceRecord {
        source: SourceId::new(shards.get(shard_id), sequence),
        arrival_micros: record.kinesis.approximate_arrival_timestamp.0.timestamp_micros(),
        data: blocks.copy(&record.kinesis.data.0),
    })
}

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

    const EVENT: &str = r#"{"Records":[{"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":"k",
        "sequenceNumber":"49568167373333333333333333333333333333333333333333333333",
        "data":"eyJhIjoxfQ==","approximateArrivalTimestamp":1480641523.477},
        "eventSource":"aws:kinesis","eventVersion":"1.0",
        "eventID":"shardId-000000000003:49568167373333333333333333333333333333333333333333333333",
        "eventName":"aws:kinesis:record","awsRegion":"us-east-1",
        "eventSourceARN":"arn:aws:kinesis:us-east-1:123456789012:stream/s"}]}"#;

    #[test]
    fn lambda_records_keep_shard_sequence_arrival_and_bytes() {
        let event: KinesisEvent = serde_json::from_str(EVENT).expect("event");
        let records = source_records(&event).expect("records");
        assert_eq!(records.len(), 1);
        assert_eq!(&*records[0].source.shard_id, "shardId-000000000003");
        assert_eq!(
            records[0].source.sequence.as_str(),
            "49568167373333333333333333333333333333333333333333333333"
        );
        assert_eq!(records[0].arrival_micros, 1_480_641_523_477_000);
        assert_eq!(records[0].data.as_ref(), br#"{"a":1}"#);
    }

    #[test]
    fn a_record_without_its_position_is_rejected() {
        let mut event: KinesisEvent = serde_json::from_str(EVENT).expect("event");
        event.records[0].event_id = Some("no-colon".into());
        let err = source_records(&event).expect_err("bad id");
        assert!(err.to_string().contains("eventID"), "{err}");
        event.records[0].event_id = Some("shardId-1:1".into());
        event.records[0].kinesis.sequence_number = "12x".into();
        assert!(source_records(&event).is_err());
    }

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
