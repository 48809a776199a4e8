//! The Lambda's Kinesis event read straight into [`SourceRecord`]s, in one pass over its JSON:
//! each record's base64 `data` decoded into shared blocks, its shard id shared, the fields the
//! pipeline does not use skipped without being kept or checked. Invariant: every event that
//! `aws_lambda_events`' `KinesisEvent` reads gives the same records (bytes, shard, sequence
//! number; the arrival time to the microsecond, where the library misreads some: see
//! [`ArrivalSeconds`]), or the same malformed record; an event without the fields the
//! pipeline reads, or with one it cannot read, is refused, never misread. Tests hold the two
//! readers to this.
//!
//! Why: reading the event into `KinesisEvent` (a dozen owned strings and a byte vector per
//! record) and then copying each record took about a third as long as processing the batch
//! (BENCHMARKS.md, "The Lambda's event read in one pass").

use crate::error::IngestError;
use crate::source::{RecordBlocks, SequenceNumber, ShardIds, SourceId, SourceRecord};
use aws_lambda_events::event::kinesis::KinesisEvent;
use base64::DecodeSliceError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use chrono::DateTime;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::sync::Arc;

/// The records of one Lambda invocation's Kinesis event, in delivery order; what the function
/// takes from the runtime.
///
/// The JSON must be a Kinesis event (`Records`, each with a `kinesis` object holding
/// `approximateArrivalTimestamp` and base64 `data`), or reading it fails; the other fields of
/// the event (`awsRegion`, `partitionKey`, `encryptionType`, ...) are not read, so not
/// checked either. Errors name the field; under the Lambda runtime, its path shows which
/// record (`[?[3].?.?]`: keys are read as bytes, which the runtime's path does not name). A record whose
/// position cannot be read (`eventID` not `shardId:sequenceNumber`, `sequenceNumber` not a
/// decimal number) is a malformed event too, reported by [`KinesisBatch::records`] as the
/// handler's error (the same one, naming the first such record, whatever the JSON's field order).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KinesisBatch {
    records: Vec<SourceRecord>,
    malformed: Option<String>,
}

impl KinesisBatch {
    /// The event's records, or the first record whose position could not be read.
    pub fn records(&self) -> Result<&[SourceRecord], IngestError> {
        match &self.malformed {
            Some(problem) => Err(IngestError::BadEvent(problem.clone())),
            None => Ok(&self.records),
        }
    }

    /// The event as the Lambda runtime hands it over: `event` written as JSON and read back,
    /// the function's own path (for tools and tests that build a `KinesisEvent`).
    pub fn from_event(event: &KinesisEvent) -> Result<Self, IngestError> {
        let json = serde_json::to_vec(event).map_err(|e| IngestError::BadEvent(e.to_string()))?;
        serde_json::from_slice(&json).map_err(|e| IngestError::BadEvent(e.to_string()))
    }
}

impl<'de> Deserialize<'de> for KinesisBatch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EventVisitor)
    }
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = KinesisBatch;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Kinesis event (an object with `Records`)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KinesisBatch, A::Error> {
        let mut batch = None;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Records => read_once(&mut map, &mut batch, "Records", RecordsSeed)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        batch.ok_or_else(|| de::Error::missing_field("Records"))
    }
}

/// The next value, read into `slot`; a key given twice is refused, as serde's derived readers
/// (and so `aws_lambda_events`) refuse it.
fn read_once<'de, A: MapAccess<'de>, S: DeserializeSeed<'de>>(
    map: &mut A,
    slot: &mut Option<S::Value>,
    key: &'static str,
    seed: S,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::duplicate_field(key));
    }
    *slot = Some(map.next_value_seed(seed)?);
    Ok(())
}

/// The `Records` array.
struct RecordsSeed;

impl<'de> DeserializeSeed<'de> for RecordsSeed {
    type Value = KinesisBatch;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<KinesisBatch, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed {
    type Value = KinesisBatch;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of Kinesis records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KinesisBatch, A::Error> {
        let mut batch = KinesisBatch {
            records: Vec::with_capacity(seq.size_hint().unwrap_or(0)),
            malformed: None,
        };
        let mut reader = RecordReader::default();
        while let Some(fields) = seq.next_element_seed(RecordSeed(&mut reader))? {
            if batch.malformed.is_some() {
                continue;
            }
            match fields.into_record() {
                Ok(record) => batch.records.push(record),
                Err(what) => batch.malformed = Some(format!("record {}: {what}", batch.records.len())),
            }
        }
        Ok(batch)
    }
}

/// What the records of one event share while they are read.
#[derive(Default)]
struct RecordReader {
    shards: ShardIds,
    blocks: RecordBlocks,
}

/// The fields of one record the pipeline uses, as they were read.
struct RecordFields {
    shard: Result<Arc<str>, &'static str>,
    sequence: Option<SequenceNumber>,
    arrival_micros: i64,
    data: Bytes,
}

impl RecordFields {
    /// The record, or what is wrong with its position (checked in the order the handler
    /// always checked it: the `eventID`, then the sequence number).
    fn into_record(self) -> Result<SourceRecord, &'static str> {
        let shard = self.shard?;
        let sequence = self.sequence.ok_or("sequenceNumber is not a decimal number")?;
        Ok(SourceRecord {
            source: SourceId::new(shard, sequence),
            arrival_micros: self.arrival_micros,
            data: self.data,
        })
    }
}

struct RecordSeed<'r>(&'r mut RecordReader);

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = RecordFields;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<RecordFields, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_> {
    type Value = RecordFields;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Kinesis event record (an object with `kinesis`)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RecordFields, A::Error> {
        let reader = self.0;
        let mut shard: Option<Result<Arc<str>, &'static str>> = None;
        let mut kinesis = None;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::EventId => read_once(
                    &mut map,
                    &mut shard,
                    "eventID",
                    ShardOfEventId(&mut reader.shards),
                )?,
                Key::Kinesis => {
                    read_once(&mut map, &mut kinesis, "kinesis", KinesisSeed(&mut reader.blocks))?
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let kinesis: KinesisFields = kinesis.ok_or_else(|| de::Error::missing_field("kinesis"))?;
        Ok(RecordFields {
            shard: shard.unwrap_or(Err("no eventID")),
            sequence: kinesis.sequence,
            arrival_micros: kinesis.arrival_micros,
            data: kinesis.data,
        })
    }
}

/// An `eventID` (`shardId:sequenceNumber`, or null) read for its shard id.
struct ShardOfEventId<'s>(&'s mut ShardIds);

impl<'de> DeserializeSeed<'de> for ShardOfEventId<'_> {
    type Value = Result<Arc<str>, &'static str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for ShardOfEventId<'_> {
    type Value = Result<Arc<str>, &'static str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an eventID string or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Err("no eventID"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Err("no eventID"))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }

    fn visit_str<E: de::Error>(self, event_id: &str) -> Result<Self::Value, E> {
        Ok(event_id
            .split_once(':')
            .map(|(shard, _)| shard)
            .filter(|shard| !shard.is_empty())
            .map(|shard| self.0.get(shard))
            .ok_or("eventID is not shardId:sequenceNumber"))
    }
}

/// A record's `kinesis` object: its sequence number (when it is one), arrival and bytes.
struct KinesisSeed<'b>(&'b mut RecordBlocks);

/// What a `kinesis` object holds for the pipeline.
struct KinesisFields {
    /// `None` when the `sequenceNumber` is absent or not a decimal number.
    sequence: Option<SequenceNumber>,
    arrival_micros: i64,
    data: Bytes,
}

impl<'de> DeserializeSeed<'de> for KinesisSeed<'_> {
    type Value = KinesisFields;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<KinesisFields, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for KinesisSeed<'_> {
    type Value = KinesisFields;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a kinesis object (with `approximateArrivalTimestamp` and `data`)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KinesisFields, A::Error> {
        let blocks = self.0;
        let (mut sequence, mut arrival, mut data) = (None, None, None);
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::SequenceNumber => {
                    read_once(&mut map, &mut sequence, "sequenceNumber", SequenceNumberSeed)?
                }
                Key::ArrivalTimestamp => read_once(
                    &mut map,
                    &mut arrival,
                    "approximateArrivalTimestamp",
                    ArrivalSeconds,
                )?,
                Key::Data => read_once(&mut map, &mut data, "data", DecodedData(&mut *blocks))?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let arrival = arrival.ok_or_else(|| de::Error::missing_field("approximateArrivalTimestamp"))?;
        let data = data.ok_or_else(|| de::Error::missing_field("data"))?;
        // A missing sequence number reads as "", which is not a number.
        Ok(KinesisFields {
            sequence: sequence.flatten(),
            arrival_micros: arrival,
            data,
        })
    }
}

/// A `sequenceNumber` string: the number when it is one.
struct SequenceNumberSeed;

impl<'de> DeserializeSeed<'de> for SequenceNumberSeed {
    type Value = Option<SequenceNumber>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for SequenceNumberSeed {
    type Value = Option<SequenceNumber>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sequenceNumber string")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(SequenceNumber::parse(text))
    }
}

/// A record's base64 `data`, decoded into the event's shared blocks.
struct DecodedData<'b>(&'b mut RecordBlocks);

impl<'de> DeserializeSeed<'de> for DecodedData<'_> {
    type Value = Bytes;

    /// Read as bytes: base64 is ASCII, so the string's UTF-8 check is left to the decoder,
    /// which refuses any byte outside its alphabet.
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Bytes, D::Error> {
        deserializer.deserialize_bytes(self)
    }
}

impl<'de> Visitor<'de> for DecodedData<'_> {
    type Value = Bytes;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("base64 data")
    }

    fn visit_bytes<E: de::Error>(self, text: &[u8]) -> Result<Bytes, E> {
        let room = base64::decoded_len_estimate(text.len());
        self.0
            .fill(room, |buffer| STANDARD.decode_slice(text, buffer))
            .map_err(|e| match e {
                DecodeSliceError::DecodeError(e) => E::custom(format_args!("data is not base64: {e}")),
                other => E::custom(format_args!("data: {other}")),
            })
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Bytes, E> {
        self.visit_bytes(text.as_bytes())
    }
}

/// `approximateArrivalTimestamp`: seconds since the Unix epoch, a JSON number or a string
/// holding one, read to the microsecond.
///
/// `aws_lambda_events`' own reading (`SecondTimestamp`) takes the digits after the point of
/// the number's shortest text as milliseconds, so `1732406410.080` (as AWS writes a time at
/// 80 ms) reads as 8 ms and `.5` as 5 ms: a test below shows it.
struct ArrivalSeconds;

impl ArrivalSeconds {
    fn micros<E: de::Error>(seconds: f64) -> Result<i64, E> {
        // Exact for times written to the millisecond until 2106 and to the microsecond until
        // 2038: the nearest double to such a time, times a million, rounds back to it.
        let micros = (seconds * 1e6).round();
        // Negative times (`-0` and `-1e-7` too) are refused, as the library refuses them.
        let in_range = !seconds.is_sign_negative() && (0.0..9.0e18).contains(&micros);
        Self::checked(in_range.then_some(micros as i64), seconds)
    }

    /// `micros` when it is a time chrono can hold, else the error naming `seconds`.
    fn checked<E: de::Error>(micros: Option<i64>, seconds: impl fmt::Display) -> Result<i64, E> {
        micros
            .filter(|&m| DateTime::from_timestamp_micros(m).is_some())
            .ok_or_else(|| E::custom(format!("invalid approximateArrivalTimestamp {seconds}")))
    }
}

impl<'de> DeserializeSeed<'de> for ArrivalSeconds {
    type Value = i64;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<i64, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ArrivalSeconds {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("seconds since the Unix epoch, as a number or a string")
    }

    fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<i64, E> {
        let micros = i64::try_from(seconds).ok().and_then(|s| s.checked_mul(1_000_000));
        Self::checked(micros, seconds)
    }

    fn visit_i64<E: de::Error>(self, seconds: i64) -> Result<i64, E> {
        let micros = (seconds >= 0).then(|| seconds.checked_mul(1_000_000)).flatten();
        Self::checked(micros, seconds)
    }

    fn visit_f64<E: de::Error>(self, seconds: f64) -> Result<i64, E> {
        Self::micros(seconds)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<i64, E> {
        let seconds: f64 = text.parse().map_err(|_| {
            let shown: String = text.chars().take(40).collect();
            E::custom(format!("invalid approximateArrivalTimestamp {shown:?}"))
        })?;
        Self::micros(seconds)
    }
}

/// An object key: one of the names this module reads, or another. Read as bytes, so that no
/// key is checked for UTF-8: the names are ASCII, and any other key is skipped.
enum Key {
    Records,
    EventId,
    Kinesis,
    SequenceNumber,
    ArrivalTimestamp,
    Data,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_bytes(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_bytes<E: de::Error>(self, key: &[u8]) -> Result<Key, E> {
        Ok(match key {
            b"Records" => Key::Records,
            b"eventID" => Key::EventId,
            b"kinesis" => Key::Kinesis,
            b"sequenceNumber" => Key::SequenceNumber,
            b"approximateArrivalTimestamp" => Key::ArrivalTimestamp,
            b"data" => Key::Data,
            _ => Key::Other,
        })
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
        self.visit_bytes(key.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::kinesis::KinesisEventRecord;
    use proptest::prelude::*;

    const EVENT: &str = r#"{"Records":[{"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":"k",
        "sequenceNumber":"49568167373333333333333333333333333333333333333333333333",
        "data":"eyJhIjoxfQ==","approximateArrivalTimestamp":1480641523.477},
        "eventSource":"aws:kinesis","eventVersion":"1.0",
        "eventID":"shardId-000000000003:49568167373333333333333333333333333333333333333333333333",
        "eventName":"aws:kinesis:record","awsRegion":"us-east-1",
        "eventSourceARN":"arn:aws:kinesis:us-east-1:123456789012:stream/s"}]}"#;

    fn read(json: &str) -> Result<KinesisBatch, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// What the handler did before this module: the library's model, then each record's
    /// position from its fields (the reference the fast reader is held to).
    fn through_the_library(json: &str) -> Result<Result<Vec<SourceRecord>, String>, serde_json::Error> {
        let event: KinesisEvent = serde_json::from_str(json)?;
        Ok(event
            .records
            .iter()
            .enumerate()
            .map(|(i, record)| reference_record(record).map_err(|what| format!("record {i}: {what}")))
            .collect())
    }

    fn reference_record(record: &KinesisEventRecord) -> Result<SourceRecord, &'static str> {
        let event_id = record.event_id.as_deref().ok_or("no eventID")?;
        let (shard, _) = event_id
            .split_once(':')
            .filter(|(shard, _)| !shard.is_empty())
            .ok_or("eventID is not shardId:sequenceNumber")?;
        let sequence = SequenceNumber::parse(&record.kinesis.sequence_number)
            .ok_or("sequenceNumber is not a decimal number")?;
        Ok(SourceRecord {
            source: SourceId::new(shard, sequence),
            arrival_micros: record.kinesis.approximate_arrival_timestamp.0.timestamp_micros(),
            data: Bytes::copy_from_slice(&record.kinesis.data),
        })
    }

    /// What one reading gives: the JSON refused (the error's text), or the records or the
    /// malformed record's description.
    type Reading = Result<Result<Vec<SourceRecord>, String>, String>;

    fn both(json: &str) -> (Reading, Reading) {
        let ours = read(json)
            .map(|batch| batch.records().map(<[_]>::to_vec).map_err(|e| bad_event_text(&e)))
            .map_err(|e| e.to_string());
        let library = through_the_library(json).map_err(|e| e.to_string());
        (ours, library)
    }

    fn bad_event_text(e: &IngestError) -> String {
        match e {
            IngestError::BadEvent(text) => text.clone(),
            other => panic!("not a malformed event: {other}"),
        }
    }

    #[test]
    fn lambda_records_keep_shard_sequence_arrival_and_bytes() {
        let batch = read(EVENT).expect("event");
        let records = batch.records().expect("records");
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
    fn a_record_without_its_position_is_a_malformed_event() {
        let no_colon = EVENT.replace("shardId-000000000003:4956", "shardId-0000000000034956");
        let err = read(&no_colon).expect("read").records().expect_err("bad id");
        assert_eq!(
            err.to_string(),
            "malformed Kinesis event: record 0: eventID is not shardId:sequenceNumber"
        );
        let bad_number = EVENT.replace(r#""sequenceNumber":"4956"#, r#""sequenceNumber":"x4956"#);
        let err = read(&bad_number)
            .expect("read")
            .records()
            .expect_err("bad number");
        assert_eq!(
            err.to_string(),
            "malformed Kinesis event: record 0: sequenceNumber is not a decimal number"
        );
        let no_id = EVENT.replace(r#""eventID""#, r#""eventId""#);
        let err = read(&no_id).expect("read").records().expect_err("no id");
        assert_eq!(err.to_string(), "malformed Kinesis event: record 0: no eventID");
    }

    #[test]
    fn what_is_not_a_kinesis_event_is_refused() {
        for (json, expected) in [
            (r#"{}"#, "missing field `Records`"),
            (r#"{"Records":null}"#, "invalid type: null"),
            (r#"{"Records":[{"eventID":"s:1"}]}"#, "missing field `kinesis`"),
            (
                r#"{"Records":[{"eventID":"s:1","kinesis":{"data":"eA=="}}]}"#,
                "missing field `approximateArrivalTimestamp`",
            ),
            (
                r#"{"Records":[{"eventID":"s:1","kinesis":{"approximateArrivalTimestamp":1}}]}"#,
                "missing field `data`",
            ),
            (
                r#"{"Records":[{"eventID":"s:1","kinesis":{"approximateArrivalTimestamp":1,"data":"e!=="}}]}"#,
                "Invalid",
            ),
            (
                r#"{"Records":[{"eventID":"s:1","eventID":"s:2","kinesis":{}}]}"#,
                "duplicate field `eventID`",
            ),
            (r#"{"Records":[]"#, "EOF"),
        ] {
            let err = read(json).expect_err(json).to_string();
            assert!(err.contains(expected), "{json}: {err}");
            assert!(
                through_the_library(json).is_err(),
                "the library refuses {json} too"
            );
        }
    }

    #[test]
    fn arrival_times_read_to_the_microsecond_where_the_library_misreads_them() {
        let at = |stamp: &str| EVENT.replace("1480641523.477", stamp);
        let micros = |stamp: &str| read(&at(stamp)).expect(stamp).records().expect(stamp)[0].arrival_micros;
        let library = |stamp: &str| {
            let event: KinesisEvent = serde_json::from_str(&at(stamp)).expect(stamp);
            event.records[0]
                .kinesis
                .approximate_arrival_timestamp
                .0
                .timestamp_micros()
        };
        for (stamp, expected) in [
            ("1480641523.477", 1_480_641_523_477_000),
            ("1480641523", 1_480_641_523_000_000),
            ("\"1480641523.477\"", 1_480_641_523_477_000),
            ("1480641523.080", 1_480_641_523_080_000),
            ("1480641523.5", 1_480_641_523_500_000),
            ("1480641523.000001", 1_480_641_523_000_001),
            ("1.480641523477e9", 1_480_641_523_477_000),
        ] {
            assert_eq!(micros(stamp), expected, "{stamp}");
        }
        // The library takes the digits after the point as milliseconds, whatever their number.
        assert_eq!(library("1480641523.477"), 1_480_641_523_477_000);
        assert_eq!(library("1480641523.080"), 1_480_641_523_008_000);
        assert_eq!(library("1480641523.5"), 1_480_641_523_005_000);
        for bad in [
            "-1", "-0", "-0.0", "\"-0\"", "-1e-7", "\"soon\"", "\"-5\"", "1e300", "null", "true",
        ] {
            let err = read(&at(bad)).expect_err(bad).to_string();
            assert!(
                err.contains("approximateArrivalTimestamp") || err.contains("invalid type"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn an_escaped_key_or_value_reads_as_its_text() {
        let escaped = EVENT
            .replace(r#""data":"eyJhIjoxfQ==""#, r#""d\u0061ta":"eyJhIjoxfQ\u003d=""#)
            .replace(r#""eventID":"shardId"#, r#""eventID":"shard\u0049d"#);
        let (ours, library) = both(&escaped);
        assert_eq!(ours, library);
        assert!(ours.expect("read").is_ok());
    }

    #[test]
    fn a_recorded_event_reads_as_the_library_reads_it() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/kinesis_event.json"
        ))
        .expect("fixture");
        let (ours, library) = both(&text);
        assert_eq!(ours, library);
        assert_eq!(ours.expect("read").expect("records").len(), 5);
    }

    #[test]
    fn records_of_two_shards_keep_their_own_ids_shared_along_a_run() {
        let second = EVENT.replace("shardId-000000000003", "shardId-000000000004");
        let record = |event: &str| event[12..event.len() - 2].to_owned();
        let json = format!(
            r#"{{"Records":[{},{},{},{}]}}"#,
            record(EVENT),
            record(EVENT),
            record(&second),
            record(EVENT)
        );
        let batch = read(&json).expect("read");
        let records = batch.records().expect("records");
        let shards: Vec<&str> = records.iter().map(|r| &*r.source.shard_id).collect();
        assert_eq!(
            shards,
            [
                "shardId-000000000003",
                "shardId-000000000003",
                "shardId-000000000004",
                "shardId-000000000003"
            ]
        );
        assert!(
            Arc::ptr_eq(&records[0].source.shard_id, &records[1].source.shard_id),
            "one copy along a run"
        );
        let (ours, library) = both(&json);
        assert_eq!(ours, library);
    }

    #[test]
    fn under_the_runtime_an_error_names_the_record_and_the_field() {
        // The Lambda runtime reads the payload through serde_path_to_error.
        let second = EVENT.replace("eyJhIjoxfQ==", "eyJhIjoxfQ=!");
        let json = format!(
            r#"{{"Records":[{},{}]}}"#,
            &EVENT[12..EVENT.len() - 2],
            &second[12..second.len() - 2]
        );
        let err = serde_path_to_error::deserialize::<_, KinesisBatch>(
            &mut serde_json::Deserializer::from_str(&json),
        )
        .expect_err("bad base64");
        let text = format!("[{}] {}", err.path(), err);
        assert!(text.starts_with("[?[1].?.?] "), "{text}");
        assert!(text.contains("data is not base64: Invalid"), "{text}");
    }

    /// A record's JSON, its fields in any order, each mostly valid and sometimes absent, null
    /// or malformed (so that both whole events and each kind of refusal occur), with extra
    /// fields the library reads and this module skips.
    fn record_json() -> impl Strategy<Value = String> {
        // A few shards, so that runs of records share one.
        let event_id = prop_oneof![
            8 => (0..3u8, "[0-9]{1,5}").prop_map(|(shard, n)| Some(format!(r#""shardId-00{shard}:{n}""#))),
            1 => Just(None),
            1 => Just(Some("null".to_owned())),
            1 => "[a-z0-9:-]{0,12}".prop_map(|s| Some(format!("{s:?}"))),
        ];
        let sequence = prop_oneof![
            8 => "[0-9]{1,60}".prop_map(|s| Some(format!("{s:?}"))),
            1 => Just(None),
            1 => Just(Some("null".to_owned())),
            1 => "[0-9x ]{0,5}".prop_map(|s| Some(format!("{s:?}"))),
        ];
        // Times the library reads right too: whole seconds, or three digits of milliseconds
        // whose last is not 0, as a number or a string (the test above has the others).
        let arrival = prop_oneof![
            1 => Just(None),
            1 => Just(Some("null".to_owned())),
            6 => (0i64..4_000_000_000, 0u32..100, 1u32..10).prop_map(|(s, ms, last)| Some(format!("{s}.{ms:02}{last}"))),
            2 => (0i64..4_000_000_000, 0u32..100, 1u32..10).prop_map(|(s, ms, last)| Some(format!("\"{s}.{ms:02}{last}\""))),
            2 => (0i64..4_000_000_000).prop_map(|s| Some(s.to_string())),
            1 => (0i64..4_000_000_000).prop_map(|s| Some(format!("\"{s}\""))),
        ];
        let data = prop_oneof![
            1 => Just(None),
            1 => Just(Some("null".to_owned())),
            8 => proptest::collection::vec(any::<u8>(), 0..80).prop_map(|b| Some(format!("{:?}", STANDARD.encode(b)))),
            1 => Just(Some(r#""not base64!""#.to_owned())),
            1 => Just(Some(r#"[1,2]"#.to_owned())),
        ];
        let extras = proptest::option::of(Just(()));
        (event_id, sequence, arrival, data, extras)
            .prop_flat_map(|(event_id, sequence, arrival, data, extras)| {
                let kinesis: Vec<String> = [
                    sequence.map(|v| format!(r#""sequenceNumber":{v}"#)),
                    arrival.map(|v| format!(r#""approximateArrivalTimestamp":{v}"#)),
                    data.map(|v| format!(r#""data":{v}"#)),
                    extras.map(|_| r#""partitionKey":"k""#.to_owned()),
                    extras.map(|_| r#""encryptionType":"NONE""#.to_owned()),
                ]
                .into_iter()
                .flatten()
                .collect();
                (Just(event_id), Just(extras), Just(kinesis).prop_shuffle())
            })
            .prop_flat_map(|(event_id, extras, kinesis)| {
                let fields: Vec<String> = [
                    event_id.map(|v| format!(r#""eventID":{v}"#)),
                    Some(format!(r#""kinesis":{{{}}}"#, kinesis.join(","))),
                    extras.map(|_| r#""eventSource":"aws:kinesis""#.to_owned()),
                    extras.map(|_| r#""awsRegion":"us-east-1""#.to_owned()),
                ]
                .into_iter()
                .flatten()
                .collect();
                Just(fields).prop_shuffle()
            })
            .prop_map(|fields| format!("{{{}}}", fields.join(",")))
    }

    proptest! {
        #[test]
        fn any_event_reads_as_the_library_reads_it(records in proptest::collection::vec(record_json(), 0..6)) {
            let json = format!(r#"{{"Records":[{}]}}"#, records.join(","));
            let (ours, library) = both(&json);
            match (&ours, &library) {
                (Ok(ours), Ok(library)) => prop_assert_eq!(ours, library, "{}", json),
                (Err(_), Err(_)) => {}
                _ => prop_assert!(false, "{json}: ours {ours:?}, the library's {library:?}"),
            }
        }

        #[test]
        fn arrival_times_read_to_the_microsecond(seconds in 0i64..1 << 31, micros in 0u32..1_000_000, quoted: bool) {
            let stamp = format!("{seconds}.{micros:06}");
            let stamp = if quoted { format!("\"{stamp}\"") } else { stamp };
            let json = EVENT.replace("1480641523.477", &stamp);
            let batch = read(&json).expect("read");
            prop_assert_eq!(batch.records().expect("records")[0].arrival_micros, seconds * 1_000_000 + i64::from(micros));
        }

        #[test]
        fn arrival_times_in_milliseconds_read_exactly_until_2106(seconds in 0i64..1 << 32, millis in 0u32..1000) {
            let json = EVENT.replace("1480641523.477", &format!("{seconds}.{millis:03}"));
            let batch = read(&json).expect("read");
            prop_assert_eq!(batch.records().expect("records")[0].arrival_micros, seconds * 1_000_000 + i64::from(millis) * 1000);
        }
    }
}
