//! What a replay reads: per shard, a range of sequence numbers, from `--at SHARD=SEQ` (and
//! `--until SHARD=SEQ`) or from the record the event source mapping sends to its on-failure
//! destination (`KinesisBatchInfo`: shard, first and last sequence number, batch size,
//! stream ARN). Pure: parsing and checks, no I/O. A replayed record keeps its source (shard,
//! sequence number), so the ledger sees a retry: what is already in the lake stays as it is.

use crate::error::IngestError;
use crate::source::SequenceNumber;
use serde_json::Value;
use std::collections::BTreeMap;

/// One shard's records to read again: `start` and everything after it, up to `end`
/// (inclusive) when set, else to the shard's end or until the walker stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRange {
    pub shard_id: String,
    pub start: SequenceNumber,
    pub end: Option<SequenceNumber>,
    /// How many records the range holds, when a failure record says so (`batchSize`).
    pub expected_records: Option<u64>,
}

impl ShardRange {
    /// Whether a record at `sequence` is past the range's end.
    pub fn is_past_end(&self, sequence: &SequenceNumber) -> bool {
        self.end.as_ref().is_some_and(|end| sequence > end)
    }
}

/// The ranges of one replay, at most one per shard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayPlan {
    ranges: BTreeMap<String, ShardRange>,
}

impl ReplayPlan {
    /// A plan from `--at SHARD=SEQ` starts, `--until SHARD=SEQ` ends and failure records.
    /// Every error names the value to fix.
    pub fn new(
        at: &[String],
        until: &[String],
        failure_records: Vec<ShardRange>,
    ) -> Result<ReplayPlan, IngestError> {
        let mut plan = ReplayPlan::default();
        for spec in at {
            let (shard_id, start) = parse_position("--at", spec)?;
            plan.add(ShardRange {
                shard_id,
                start,
                end: None,
                expected_records: None,
            })?;
        }
        for spec in until {
            let (shard_id, end) = parse_position("--until", spec)?;
            let Some(range) = plan.ranges.get_mut(&shard_id) else {
                return Err(config(format!(
                    "--until {spec}: shard {shard_id} has no --at {shard_id}=SEQUENCE to start from"
                )));
            };
            if range.end.is_some() {
                return Err(config(format!(
                    "--until {spec}: shard {shard_id} already has an end"
                )));
            }
            if end < range.start {
                return Err(config(format!(
                    "--until {spec}: ends before its start {} (--at)",
                    range.start
                )));
            }
            range.end = Some(end);
        }
        let named: Vec<String> = plan.ranges.keys().cloned().collect();
        for range in failure_records {
            if named.contains(&range.shard_id) {
                plan.add(range)?;
            } else {
                plan.cover(range);
            }
        }
        Ok(plan)
    }

    /// Adds a failure record's range, widening the shard's range when an earlier record
    /// named the same shard (retried or bisected batches each send one). Records between
    /// two failed ranges are replayed too: they are retries of committed records, so the
    /// ledger answers them without writing anything.
    fn cover(&mut self, range: ShardRange) {
        match self.ranges.get_mut(&range.shard_id) {
            None => {
                self.ranges.insert(range.shard_id.clone(), range);
            }
            Some(current) => {
                current.start = current.start.clone().min(range.start);
                current.end = match (current.end.take(), range.end) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
                current.expected_records = None;
            }
        }
    }

    fn add(&mut self, range: ShardRange) -> Result<(), IngestError> {
        if self.ranges.contains_key(&range.shard_id) {
            return Err(config(format!(
                "shard {} is named twice (by --at or a failure record); replay one range per shard per run",
                range.shard_id
            )));
        }
        self.ranges.insert(range.shard_id.clone(), range);
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn get(&self, shard_id: &str) -> Option<&ShardRange> {
        self.ranges.get(shard_id)
    }

    pub fn ranges(&self) -> impl Iterator<Item = &ShardRange> {
        self.ranges.values()
    }
}

fn config(message: String) -> IngestError {
    IngestError::Config(message)
}

/// `SHARD_ID=SEQUENCE`, as `--at` and `--until` take it.
fn parse_position(flag: &str, spec: &str) -> Result<(String, SequenceNumber), IngestError> {
    let Some((shard_id, sequence)) = spec.split_once('=') else {
        return Err(config(format!(
            "{flag} {spec:?}: expected SHARD_ID=SEQUENCE_NUMBER, e.g. shardId-000000000001=49590338271490256608559692538361571095921575989136588898"
        )));
    };
    let shard_id = shard_id.trim();
    if shard_id.is_empty() {
        return Err(config(format!(
            "{flag} {spec:?}: the shard id before '=' is empty"
        )));
    }
    let sequence = SequenceNumber::parse(sequence.trim()).ok_or_else(|| {
        config(format!(
            "{flag} {spec:?}: the sequence number after '=' must be 1 to 129 decimal digits"
        ))
    })?;
    Ok((shard_id.to_owned(), sequence))
}

/// The batch an on-failure record describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedBatch {
    pub stream_arn: String,
    pub range: ShardRange,
}

impl FailedBatch {
    /// The stream's name, from its ARN (`arn:aws:kinesis:REGION:ACCOUNT:stream/NAME`).
    pub fn stream_name(&self) -> Option<&str> {
        self.stream_arn
            .split_once(":stream/")
            .map(|(_, name)| name)
            .filter(|name| !name.is_empty())
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct KinesisBatchInfo {
    shard_id: String,
    start_sequence_number: String,
    end_sequence_number: String,
    batch_size: u64,
    stream_arn: String,
}

/// The failed batches in a document: the invocation record the event source mapping sends
/// to its on-failure destination, that record inside an SNS notification (`Message`), or the
/// output of `aws sqs receive-message` (each message's `Body`). `what` names the document in
/// errors (its file name).
pub fn parse_failure_records(what: &str, bytes: &[u8]) -> Result<Vec<FailedBatch>, IngestError> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| {
        config(format!(
            "{what} is not JSON ({e}); expected a Lambda on-failure record"
        ))
    })?;
    let mut out = Vec::new();
    collect_batches(what, &doc, 0, &mut out)?;
    if out.is_empty() {
        return Err(config(format!(
            "{what} holds no message (aws sqs receive-message found the queue empty?)"
        )));
    }
    Ok(out)
}

fn collect_batches(
    what: &str,
    doc: &Value,
    depth: u32,
    out: &mut Vec<FailedBatch>,
) -> Result<(), IngestError> {
    let not_a_record = || {
        config(format!(
            "{what} is not a Lambda on-failure record: it has no KinesisBatchInfo (pass the JSON the event source mapping sent to its on-failure queue or topic)"
        ))
    };
    // The deepest wrapping: `aws sqs receive-message` output of an SNS notification
    // delivered to SQS without raw message delivery (Messages -> Body -> Message).
    if depth > 3 {
        return Err(not_a_record());
    }
    if let Some(info) = doc.get("KinesisBatchInfo") {
        out.push(failed_batch(what, info)?);
        return Ok(());
    }
    // An SNS notification carries the record as a JSON string in `Message`; an SQS message
    // (as `aws sqs receive-message` prints it) in `Body`.
    let wrapped = |field: &str| -> Result<Option<Value>, IngestError> {
        match doc.get(field).and_then(Value::as_str) {
            Some(text) => serde_json::from_str(text)
                .map(Some)
                .map_err(|e| config(format!("{what}: its {field} is not JSON ({e})"))),
            None => Ok(None),
        }
    };
    if let Some(messages) = doc.get("Messages").and_then(Value::as_array) {
        for message in messages {
            collect_batches(what, message, depth + 1, out)?;
        }
        return Ok(());
    }
    for field in ["Body", "Message"] {
        if let Some(inner) = wrapped(field)? {
            return collect_batches(what, &inner, depth + 1, out);
        }
    }
    Err(not_a_record())
}

fn failed_batch(what: &str, info: &Value) -> Result<FailedBatch, IngestError> {
    let info: KinesisBatchInfo = serde_json::from_value(info.clone())
        .map_err(|e| config(format!("{what}: KinesisBatchInfo is incomplete: {e}")))?;
    let sequence = |field: &str, text: &str| {
        SequenceNumber::parse(text).ok_or_else(|| {
            config(format!(
                "{what}: KinesisBatchInfo.{field} {text:?} is not a decimal sequence number"
            ))
        })
    };
    let start = sequence("startSequenceNumber", &info.start_sequence_number)?;
    let end = sequence("endSequenceNumber", &info.end_sequence_number)?;
    if end < start {
        return Err(config(format!(
            "{what}: KinesisBatchInfo.endSequenceNumber is before startSequenceNumber"
        )));
    }
    if info.shard_id.trim().is_empty() {
        return Err(config(format!("{what}: KinesisBatchInfo.shardId is empty")));
    }
    if info.batch_size == 0 {
        return Err(config(format!("{what}: KinesisBatchInfo.batchSize is 0")));
    }
    let batch = FailedBatch {
        stream_arn: info.stream_arn,
        range: ShardRange {
            shard_id: info.shard_id,
            start,
            end: Some(end),
            expected_records: Some(info.batch_size),
        },
    };
    if batch.stream_name().is_none() {
        return Err(config(format!(
            "{what}: KinesisBatchInfo.streamArn {:?} is not a Kinesis stream ARN",
            batch.stream_arn
        )));
    }
    Ok(batch)
}

/// The ranges of failed batches of `stream`; a batch of another stream is refused, naming it.
pub fn ranges_for_stream(
    what: &str,
    batches: Vec<FailedBatch>,
    stream: &str,
) -> Result<Vec<ShardRange>, IngestError> {
    batches
        .into_iter()
        .map(|batch| match batch.stream_name() {
            Some(name) if name == stream => Ok(batch.range),
            other => Err(config(format!(
                "{what} is a batch of stream {}, not {stream}: pass --stream {}",
                other.unwrap_or("?"),
                other.unwrap_or("?")
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../../tests/fixtures/kinesis_failure_record.json");

    fn seq(text: &str) -> SequenceNumber {
        SequenceNumber::parse(text).expect("digits")
    }

    #[test]
    fn the_on_failure_record_gives_its_exact_range() {
        let batches = parse_failure_records("record.json", FIXTURE.as_bytes()).expect("parses");
        assert_eq!(batches.len(), 1);
        let batch = &batches[0];
        assert_eq!(batch.stream_name(), Some("eventlake-events"));
        assert_eq!(batch.range.shard_id, "shardId-000000000001");
        assert_eq!(
            batch.range.start,
            seq("49657395513342751180372418613294387124913846154371547154")
        );
        assert_eq!(
            batch.range.end,
            Some(seq("49657395513342751180372418613307687380530457207553032210"))
        );
        assert_eq!(batch.range.expected_records, Some(2083));
        let ranges =
            ranges_for_stream("record.json", batches.clone(), "eventlake-events").expect("same stream");
        assert_eq!(ranges.len(), 1);
        let err = ranges_for_stream("record.json", batches, "other").expect_err("another stream");
        assert!(err.to_string().contains("--stream eventlake-events"), "{err}");
    }

    #[test]
    fn sns_and_sqs_wrappings_are_unwrapped() {
        let sns = serde_json::json!({"Type": "Notification", "Message": FIXTURE}).to_string();
        let sqs = serde_json::json!({"Messages": [{"MessageId": "m", "Body": FIXTURE}]}).to_string();
        let direct = parse_failure_records("a", FIXTURE.as_bytes()).expect("direct");
        assert_eq!(parse_failure_records("b", sns.as_bytes()).expect("sns"), direct);
        assert_eq!(parse_failure_records("c", sqs.as_bytes()).expect("sqs"), direct);
        let sns_in_sqs = serde_json::json!({"Messages": [{"MessageId": "m", "Body": sns}]}).to_string();
        assert_eq!(
            parse_failure_records("e", sns_in_sqs.as_bytes()).expect("sns in sqs"),
            direct
        );
        let empty = serde_json::json!({"Messages": []}).to_string();
        assert!(parse_failure_records("d", empty.as_bytes()).is_err());
    }

    #[test]
    fn failure_records_of_one_shard_widen_its_range() {
        let range = |start: &str, end: &str| ShardRange {
            shard_id: "shardId-1".into(),
            start: seq(start),
            end: Some(seq(end)),
            expected_records: Some(2),
        };
        let plan = ReplayPlan::new(
            &[],
            &[],
            vec![range("20", "29"), range("5", "9"), range("12", "14")],
        )
        .expect("merged");
        let merged = plan.get("shardId-1").expect("one range");
        assert_eq!(
            (&merged.start, merged.end.as_ref()),
            (&seq("5"), Some(&seq("29")))
        );
        assert_eq!(
            merged.expected_records, None,
            "the widened range's count is unknown"
        );
        let err = ReplayPlan::new(&["shardId-1=3".into()], &[], vec![range("5", "9")]).expect_err("--at too");
        assert!(err.to_string().contains("named twice"), "{err}");
    }

    #[test]
    fn bad_failure_records_say_what_is_wrong() {
        let cases = [
            ("not json", "not JSON"),
            (r#"{"requestContext":{}}"#, "no KinesisBatchInfo"),
            (r#"{"KinesisBatchInfo":{"shardId":"s"}}"#, "incomplete"),
            (
                r#"{"KinesisBatchInfo":{"shardId":"s","startSequenceNumber":"5","endSequenceNumber":"4","batchSize":2,"streamArn":"arn:aws:kinesis:r:1:stream/x"}}"#,
                "before startSequenceNumber",
            ),
            (
                r#"{"KinesisBatchInfo":{"shardId":"s","startSequenceNumber":"x1","endSequenceNumber":"4","batchSize":2,"streamArn":"arn:aws:kinesis:r:1:stream/x"}}"#,
                "startSequenceNumber",
            ),
            (
                r#"{"KinesisBatchInfo":{"shardId":"s","startSequenceNumber":"1","endSequenceNumber":"4","batchSize":4,"streamArn":"arn:aws:sqs:r:1:q"}}"#,
                "not a Kinesis stream ARN",
            ),
        ];
        for (text, expected) in cases {
            let err = parse_failure_records("f.json", text.as_bytes()).expect_err(text);
            let message = err.to_string();
            assert!(
                message.contains(expected) && message.contains("f.json"),
                "{text}: {message}"
            );
            assert!(!err.is_retryable());
        }
    }

    #[test]
    fn at_and_until_build_one_range_per_shard() {
        let plan = ReplayPlan::new(
            &["shardId-1=20".into(), "shardId-2=7".into()],
            &["shardId-1=30".into()],
            Vec::new(),
        )
        .expect("plan");
        let one = plan.get("shardId-1").expect("shard 1");
        assert_eq!((one.start.clone(), one.end.clone()), (seq("20"), Some(seq("30"))));
        assert!(one.is_past_end(&seq("31")) && !one.is_past_end(&seq("30")));
        let two = plan.get("shardId-2").expect("shard 2");
        assert!(two.end.is_none() && !two.is_past_end(&seq("999999")));
        assert_eq!(plan.ranges().count(), 2);

        let bad: [(&[&str], &[&str], &str); 6] = [
            (&["shardId-1"], &[], "SHARD_ID=SEQUENCE_NUMBER"),
            (&["=5"], &[], "shard id before '=' is empty"),
            (&["shardId-1=12a"], &[], "decimal digits"),
            (&["shardId-1=5", "shardId-1=6"], &[], "named twice"),
            (&["shardId-1=5"], &["shardId-2=9"], "no --at shardId-2"),
            (&["shardId-1=5"], &["shardId-1=4"], "ends before its start"),
        ];
        for (at, until, expected) in bad {
            let at: Vec<String> = at.iter().map(|s| (*s).to_owned()).collect();
            let until: Vec<String> = until.iter().map(|s| (*s).to_owned()).collect();
            let err = ReplayPlan::new(&at, &until, Vec::new()).expect_err(expected);
            assert!(err.to_string().contains(expected), "{at:?} {until:?}: {err}");
        }
    }
}
