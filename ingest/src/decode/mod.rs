//! Decode, validate and enrich one record: bytes in, an [`Event`] or an [`Invalid`] out.
//! Never panics on any input. The checks, in order (the first failure is the reason):
//!
//! | reason           | when                                                                |
//! |------------------|---------------------------------------------------------------------|
//! | `too_large`      | the record is longer than the limit (1 MiB, Kinesis' own maximum);  |
//! |                  | `ingest run` keeps only the first limit + 1 bytes of a longer line    |
//! | `invalid_json`   | not UTF-8 JSON (NaN/Infinity literals, numbers beyond f64 and nesting |
//! |                  | deeper than 128 included), or an object, at any depth, repeats a key  |
//! | `not_an_object`  | valid JSON, but not an object                                       |
//! | `missing_field`  | `event_uuid`, `event_name` or `created_at` is absent or null        |
//! | `bad_type`       | one of them has the wrong JSON type: uuid and name must be strings;  |
//! |                  | created_at an integer (floats and numeric strings are rejected, so the |
//! |                  | stored value is exactly the sent one); or an integer anywhere in the  |
//! |                  | record is beyond 64 bits (it could only be stored rounded)            |
//! | `bad_uuid`       | `event_uuid` is empty, longer than 128 bytes, has control characters  |
//! |                  | or leading/trailing whitespace                                        |
//! | `bad_event_name` | empty name or empty part, control characters, or an event type       |
//! |                  | (first part, the partition value) outside `[A-Za-z][A-Za-z0-9_.-]{0,63}` |
//! |                  | or a word engines read as NULL, a number or a date (`null`, `nan`,    |
//! |                  | `inf`, `infinity`, `epoch`, any case)                                 |
//! | `bad_timestamp`  | `created_at` before 2000-01-01 or from 2100-01-01 on (negative values, |
//! |                  | milliseconds); far-future values inside the range are kept and counted |
//! |                  | by the quality report instead                                         |
//!
//! Rules that are not rejections:
//! - uuids are compared byte for byte and never normalised: `ABC` and `abc` are two events.
//! - parts after the event type are free text (emoji, RTL marks, `/`, `=`, `%`, any number of
//!   parts) and are stored exactly; only the event type reaches an object key.
//! - integers between 2^63 and 2^64 are kept exactly (in `extra` when a declared integer
//!   column cannot hold them).

mod parse;
mod payload;

pub use payload::{Payload, PayloadValue, write_object};

use bytes::Bytes;
use bytestring::ByteString;
use parse::{Envelope, Parsed};
use payload::Span;
use schemas::partition::PartitionDate;
use schemas::{EventName, columns};
use std::borrow::Cow;
use std::fmt;

/// Kinesis refuses records over 1 MiB; we apply the same bound to every source.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
/// Longest accepted `event_uuid`.
pub const MAX_UUID_BYTES: usize = 128;

/// Why a record went to quarantine. The names are the `reason` column's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QuarantineReason {
    TooLarge,
    InvalidJson,
    NotAnObject,
    MissingField,
    BadType,
    BadUuid,
    BadEventName,
    BadTimestamp,
}

impl QuarantineReason {
    pub const ALL: [QuarantineReason; 8] = [
        Self::TooLarge,
        Self::InvalidJson,
        Self::NotAnObject,
        Self::MissingField,
        Self::BadType,
        Self::BadUuid,
        Self::BadEventName,
        Self::BadTimestamp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::InvalidJson => "invalid_json",
            Self::NotAnObject => "not_an_object",
            Self::MissingField => "missing_field",
            Self::BadType => "bad_type",
            Self::BadUuid => "bad_uuid",
            Self::BadEventName => "bad_event_name",
            Self::BadTimestamp => "bad_timestamp",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

impl fmt::Display for QuarantineReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record that failed validation, with what we could still read of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub reason: QuarantineReason,
    pub detail: String,
    pub event_uuid: Option<String>,
    pub event_name: Option<String>,
}

/// A valid, enriched event. `payload` holds every field except the three envelope fields,
/// in record order, and the text of the uuid and the name (borrowed from the record unless
/// they had escapes); `event_type` and `event_subtype` are parts of the name kept as offsets.
#[derive(Clone)]
pub struct Event {
    uuid: Span,
    name: Span,
    /// The name's first `type_end` bytes are the type.
    type_end: u32,
    /// The name's bytes `type_end + 1..subtype_end` are the subtype; none when `subtype_end`
    /// is `type_end` (a subtype is never empty).
    subtype_end: u32,
    pub created_at: i64,
    pub date: PartitionDate,
    pub payload: Payload,
}

impl Event {
    pub fn event_uuid(&self) -> &str {
        self.payload.str(self.uuid)
    }

    pub fn event_name(&self) -> &str {
        self.payload.str(self.name)
    }

    /// The first `:`-separated part of the name (`payment` of `payment:order:completed`).
    pub fn event_type(&self) -> &str {
        &self.event_name()[..self.type_end as usize]
    }

    /// The second part of the name, if any (`order` of `payment:order:completed`).
    pub fn event_subtype(&self) -> Option<&str> {
        (self.subtype_end > self.type_end)
            .then(|| &self.event_name()[self.type_end as usize + 1..self.subtype_end as usize])
    }

    /// `created_datetime` as ISO 8601 UTC, e.g. `2022-02-14T11:40:00Z`.
    pub fn created_datetime(&self) -> String {
        chrono::DateTime::from_timestamp(self.created_at, 0)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default()
    }
}

/// What validation found of a valid event besides its uuid and name.
#[derive(Clone, Copy)]
struct Checked {
    created_at: i64,
    date: PartitionDate,
    type_end: u32,
    subtype_end: u32,
}

/// Decodes one record. Pure and deterministic: a retry decodes to the same outcome.
pub fn decode(data: &[u8]) -> Result<Event, Invalid> {
    check_size(data)?;
    decode_shared(&Bytes::copy_from_slice(data))
}

/// [`decode`] of a record in a shared buffer: the event keeps the buffer (a reference count)
/// and borrows its text from it instead of copying.
pub fn decode_shared(data: &Bytes) -> Result<Event, Invalid> {
    check_size(data)?;
    // One check of the whole record, then a read as text, gives serde_json's result for less:
    // read from bytes, it checks UTF-8 string by string.
    let text = ByteString::try_from(data.clone());
    let parsed = match &text {
        Ok(text) => parse::record_text(text),
        Err(_) => parse::record_bytes(data),
    }
    .map_err(|e| invalid(QuarantineReason::InvalidJson, format!("not valid JSON: {e}")))?;
    let fields = match parsed {
        Parsed::Object(fields) => fields,
        Parsed::Other(kind) => {
            return Err(invalid(
                QuarantineReason::NotAnObject,
                format!("a JSON {kind} is not an event"),
            ));
        }
    };
    let uuid = envelope_string(fields.uuid, columns::EVENT_UUID);
    let name = envelope_string(fields.name, columns::EVENT_NAME);
    let event = match (&uuid, &name) {
        (Ok(uuid), Ok(name)) => check(uuid, name, fields.created_at, fields.maybe_big_integer, data)
            .map(|checked| Event::new(uuid, name, checked, fields.payload)),
        (Err(bad), _) | (_, Err(bad)) => Err(bad.clone()),
    };
    // An invalid record keeps whichever of its uuid and name could be read.
    event.map_err(|mut bad| {
        bad.event_uuid = uuid.ok().map(Cow::into_owned);
        bad.event_name = name.ok().map(Cow::into_owned);
        bad
    })
}

fn check_size(data: &[u8]) -> Result<(), Invalid> {
    if data.len() > MAX_RECORD_BYTES {
        return Err(invalid(
            QuarantineReason::TooLarge,
            format!(
                "record is longer than the limit of {MAX_RECORD_BYTES} bytes ({} bytes kept in raw)",
                data.len()
            ),
        ));
    }
    Ok(())
}

impl Event {
    fn new(uuid: &str, name: &str, checked: Checked, mut payload: Payload) -> Event {
        Event {
            uuid: payload.span(uuid),
            name: payload.span(name),
            type_end: checked.type_end,
            subtype_end: checked.subtype_end,
            created_at: checked.created_at,
            date: checked.date,
            payload,
        }
    }
}

/// Equal as decoded values, wherever their text is kept.
impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.event_uuid() == other.event_uuid()
            && self.event_name() == other.event_name()
            && self.type_end == other.type_end
            && self.subtype_end == other.subtype_end
            && self.created_at == other.created_at
            && self.date == other.date
            && self.payload == other.payload
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("event_uuid", &self.event_uuid())
            .field("event_name", &self.event_name())
            .field("event_type", &self.event_type())
            .field("event_subtype", &self.event_subtype())
            .field("created_at", &self.created_at)
            .field("date", &self.date)
            .field("payload", &self.payload)
            .finish()
    }
}

/// The rules of a valid event over a record whose uuid and name are strings, in the order
/// their reasons are reported.
fn check(
    uuid: &str,
    name: &str,
    created_at: Option<Envelope<'_>>,
    maybe_big_integer: bool,
    data: &[u8],
) -> Result<Checked, Invalid> {
    let created_at = created_at_seconds(created_at)?;
    if maybe_big_integer {
        check_integers(data)?;
    }
    check_uuid(uuid)?;
    if name.chars().any(char::is_control) {
        return Err(invalid(
            QuarantineReason::BadEventName,
            "event_name contains control characters".into(),
        ));
    }
    let parsed =
        EventName::parse(name).map_err(|e| invalid(QuarantineReason::BadEventName, e.to_string()))?;
    // Both parts are slices of `name` from its start (type, `:`, subtype); a name is at most a
    // record long, far below `u32::MAX`.
    let type_end = parsed.event_type.len() as u32;
    let subtype_end = parsed
        .event_subtype
        .map_or(type_end, |subtype| type_end + 1 + subtype.len() as u32);
    let date = PartitionDate::from_unix_seconds(created_at).ok_or_else(|| {
        invalid(
            QuarantineReason::BadTimestamp,
            format!("created_at {created_at} is outside 2000-01-01..2100-01-01 (Unix seconds expected)"),
        )
    })?;
    Ok(Checked {
        created_at,
        date,
        type_end,
        subtype_end,
    })
}

fn invalid(reason: QuarantineReason, detail: String) -> Invalid {
    Invalid {
        reason,
        detail,
        event_uuid: None,
        event_name: None,
    }
}

fn envelope_string<'d>(value: Option<Envelope<'d>>, field: &str) -> Result<Cow<'d, str>, Invalid> {
    match value {
        None | Some(Envelope::Null) => Err(invalid(
            QuarantineReason::MissingField,
            format!("{field} is missing"),
        )),
        Some(Envelope::String(s)) => Ok(s),
        Some(other) => Err(invalid(
            QuarantineReason::BadType,
            format!("{field} must be a string, not a JSON {}", other.kind()),
        )),
    }
}

fn created_at_seconds(value: Option<Envelope<'_>>) -> Result<i64, Invalid> {
    let field = columns::CREATED_AT;
    match value {
        None | Some(Envelope::Null) => Err(invalid(
            QuarantineReason::MissingField,
            format!("{field} is missing"),
        )),
        Some(Envelope::Number(n)) => n.as_i64().ok_or_else(|| {
            let what = if n.is_f64() {
                "a float (or an integer beyond 64 bits)"
            } else {
                "an integer beyond the signed 64-bit range"
            };
            invalid(
                QuarantineReason::BadType,
                format!("{field} must be integer Unix seconds, not {what} ({n})"),
            )
        }),
        Some(other) => Err(invalid(
            QuarantineReason::BadType,
            format!(
                "{field} must be integer Unix seconds, not a JSON {}",
                other.kind()
            ),
        )),
    }
}

fn check_uuid(uuid: &str) -> Result<(), Invalid> {
    let problem = if uuid.is_empty() {
        Some("event_uuid is empty".to_owned())
    } else if uuid.len() > MAX_UUID_BYTES {
        Some(format!(
            "event_uuid has {} bytes; the limit is {MAX_UUID_BYTES}",
            uuid.len()
        ))
    } else if uuid.chars().any(char::is_control) {
        Some("event_uuid contains control characters".to_owned())
    } else if uuid.starts_with(char::is_whitespace) || uuid.ends_with(char::is_whitespace) {
        Some("event_uuid has leading or trailing whitespace (uuids are never trimmed)".to_owned())
    } else {
        None
    };
    problem.map_or(Ok(()), |detail| Err(invalid(QuarantineReason::BadUuid, detail)))
}

/// A record's integers beyond 64 bits: serde_json reads them as (rounded) floats, so the
/// record is rejected rather than stored changed. Called only when the parse met a float
/// that could be such an integer (integral, |x| >= 2^63), so the usual record is never
/// scanned twice.
fn check_integers(data: &[u8]) -> Result<(), Invalid> {
    match big_integer_literal(data) {
        Some(literal) => Err(invalid(
            QuarantineReason::BadType,
            format!("the integer {literal} is beyond 64 bits; it could only be stored rounded"),
        )),
        None => Ok(()),
    }
}

/// The first integer literal outside strings that fits neither i64 nor u64 (the input is
/// known to be valid JSON), shortened for messages.
fn big_integer_literal(data: &[u8]) -> Option<String> {
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            b'"' => {
                i += 1;
                while i < data.len() && data[i] != b'"' {
                    i += if data[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                i += 1;
                while i < data.len() && data[i].is_ascii_digit() {
                    i += 1;
                }
                let integer = data.get(i).is_none_or(|b| !matches!(b, b'.' | b'e' | b'E'));
                let text = std::str::from_utf8(&data[start..i]).unwrap_or_default();
                if integer && text.parse::<i64>().is_err() && text.parse::<u64>().is_err() {
                    let mut shown: String = text.chars().take(40).collect();
                    if text.len() > 40 {
                        shown.push_str("...");
                    }
                    return Some(shown);
                }
                while i < data.len() && matches!(data[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// Property-test strategies shared by decode's and the encoder's tests.
#[cfg(test)]
pub(crate) mod strategies {
    use proptest::prelude::*;
    use serde_json::Value;

    /// Any JSON scalar serde_json can hold: null, booleans, every i64 and u64, finite
    /// floats, and strings matching `strings`.
    pub(crate) fn json_scalar(strings: &'static str) -> impl Strategy<Value = Value> + Clone {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            strings.prop_map(Value::from),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value};

    fn reason(input: &str) -> QuarantineReason {
        decode(input.as_bytes()).expect_err(input).reason
    }

    const OK: &str =
        r#"{"event_uuid":"u1","event_name":"payment:order:completed","created_at":1644838800,"amount":3.5}"#;

    #[test]
    fn a_valid_event_is_enriched() {
        let event = decode(OK.as_bytes()).expect("valid");
        assert_eq!(event.event_type(), "payment");
        assert_eq!(event.event_subtype(), Some("order"));
        assert_eq!(event.event_name(), "payment:order:completed");
        assert_eq!(event.created_datetime(), "2022-02-14T11:40:00Z");
        assert_eq!(event.date.to_string(), "2022-02-14");
        assert_eq!(event.payload.len(), 1);
    }

    #[test]
    fn escaped_ids_read_as_the_plain_ones() {
        // Without escapes the uuid and name are borrowed from the record; with them, unescaped
        // into a buffer of their own. Either way the event is the same.
        let plain = decode(OK.as_bytes()).expect("plain");
        let escaped = OK
            .replace(r#""u1""#, r#""\u0075\u0031""#)
            .replace("payment:order", r"pay\u006dent\u003aorder");
        let escaped = decode(escaped.as_bytes()).expect("escaped");
        assert_eq!(escaped, plain);
        assert_eq!(
            (
                escaped.event_uuid(),
                escaped.event_type(),
                escaped.event_subtype()
            ),
            ("u1", "payment", Some("order"))
        );
        let bad = OK
            .replace(r#""u1""#, r#""\u0075\u0031""#)
            .replace("1644838800", "\"soon\"");
        let bad = decode(bad.as_bytes()).expect_err("created_at is a string");
        assert_eq!(
            (bad.reason, bad.event_uuid.as_deref(), bad.event_name.as_deref()),
            (
                QuarantineReason::BadType,
                Some("u1"),
                Some("payment:order:completed")
            )
        );
    }

    #[test]
    fn names_with_one_two_three_parts() {
        let with_name = |n: &str| decode(OK.replace("payment:order:completed", n).as_bytes());
        assert_eq!(with_name("heartbeat").expect("one part").event_subtype(), None);
        let two = with_name("account:created").expect("two parts");
        assert_eq!(
            (two.event_type(), two.event_subtype()),
            ("account", Some("created"))
        );
        let four = with_name("a:b:c:d").expect("four parts");
        assert_eq!(
            (four.event_type(), four.event_subtype(), four.event_name()),
            ("a", Some("b"), "a:b:c:d")
        );
    }

    #[test]
    fn every_reason_is_reachable() {
        let big = format!(
            r#"{{"event_uuid":"u","event_name":"a:b","created_at":1644838800,"x":"{}"}}"#,
            "y".repeat(MAX_RECORD_BYTES)
        );
        assert_eq!(reason(&big), QuarantineReason::TooLarge);
        assert_eq!(reason("{not json"), QuarantineReason::InvalidJson);
        assert_eq!(
            decode(&[0xff, 0xfe]).expect_err("bytes").reason,
            QuarantineReason::InvalidJson
        );
        assert_eq!(reason("[1,2]"), QuarantineReason::NotAnObject);
        assert_eq!(reason("\"text\""), QuarantineReason::NotAnObject);
        assert_eq!(
            reason(r#"{"event_name":"a:b","created_at":1644838800}"#),
            QuarantineReason::MissingField
        );
        assert_eq!(
            reason(r#"{"event_uuid":null,"event_name":"a:b","created_at":1644838800}"#),
            QuarantineReason::MissingField
        );
        assert_eq!(
            reason(r#"{"event_uuid":"u","event_name":"a:b"}"#),
            QuarantineReason::MissingField
        );
        assert_eq!(
            reason(r#"{"event_uuid":7,"event_name":"a:b","created_at":1644838800}"#),
            QuarantineReason::BadType
        );
        assert_eq!(
            reason(r#"{"event_uuid":"","event_name":"a:b","created_at":1644838800}"#),
            QuarantineReason::BadUuid
        );
        let long = format!(
            r#"{{"event_uuid":"{}","event_name":"a:b","created_at":1644838800}}"#,
            "u".repeat(129)
        );
        assert_eq!(reason(&long), QuarantineReason::BadUuid);
        assert_eq!(
            reason(r#"{"event_uuid":"u\n","event_name":"a:b","created_at":1644838800}"#),
            QuarantineReason::BadUuid
        );
        assert_eq!(
            reason(r#"{"event_uuid":"u","event_name":"a/b:c","created_at":1644838800}"#),
            QuarantineReason::BadEventName
        );
        assert_eq!(
            reason(r#"{"event_uuid":"u","event_name":"a:b","created_at":-5}"#),
            QuarantineReason::BadTimestamp
        );
    }

    #[test]
    fn created_at_policy() {
        let at = |v: &str| {
            decode(format!(r#"{{"event_uuid":"u","event_name":"a:b","created_at":{v}}}"#).as_bytes())
        };
        assert_eq!(
            at("1644838800.5").expect_err("float").reason,
            QuarantineReason::BadType
        );
        assert_eq!(
            at("1644838800.0").expect_err("float").reason,
            QuarantineReason::BadType
        );
        assert_eq!(
            at("\"1644838800\"").expect_err("string").reason,
            QuarantineReason::BadType
        );
        assert_eq!(
            at("18446744073709551615").expect_err("u64").reason,
            QuarantineReason::BadType
        );
        assert_eq!(
            at("1644838800000").expect_err("millis").reason,
            QuarantineReason::BadTimestamp
        );
        assert_eq!(
            at("946684799").expect_err("1999").reason,
            QuarantineReason::BadTimestamp
        );
        assert_eq!(
            at("946684800").expect("2000-01-01").date.to_string(),
            "2000-01-01"
        );
        assert_eq!(
            at("4102444799").expect("2099-12-31").date.to_string(),
            "2099-12-31"
        );
        assert_eq!(
            at("4102444800").expect_err("2100").reason,
            QuarantineReason::BadTimestamp
        );
        assert_eq!(
            at("86399").expect_err("1970").reason,
            QuarantineReason::BadTimestamp
        );
    }

    #[test]
    fn payload_floats_are_kept_to_the_last_bit() {
        // serde_json's default float parser read this one a unit in the last place off.
        let record = OK.replace("3.5", "-1.1446843786251912e-165");
        let event = decode(record.as_bytes()).expect("valid");
        assert_eq!(
            event.payload.get("amount").and_then(PayloadValue::as_f64),
            Some(-1.1446843786251912e-165)
        );
    }

    #[test]
    fn hostile_names_are_quarantined_with_ids_kept() {
        for name in [
            "../../x:y",
            "a/b:c",
            "%2e%2e:z",
            "ünï:code",
            ":x",
            "a::",
            "",
            "a\\b:c",
            "a b:c",
        ] {
            let input = serde_json::json!({"event_uuid": "u9", "event_name": name, "created_at": 1644838800});
            let bad = decode(input.to_string().as_bytes()).expect_err(name);
            assert_eq!(bad.reason, QuarantineReason::BadEventName, "{name:?}");
            assert_eq!(bad.event_uuid.as_deref(), Some("u9"));
            assert_eq!(bad.event_name.as_deref(), Some(name));
        }
    }

    mod properties {
        use super::*;
        use crate::decode::strategies::json_scalar;
        use proptest::prelude::*;
        use schemas::partition::{MAX_CREATED_AT_EXCLUSIVE, MIN_CREATED_AT};

        /// The three envelope fields of a valid record.
        #[derive(Debug, Clone)]
        struct Envelope {
            uuid: String,
            name: String,
            created_at: i64,
        }

        fn envelope() -> impl Strategy<Value = Envelope> {
            let uuid = "[^\\p{Cc}]{1,32}".prop_filter("128 bytes at most, not padded", |u| {
                u.len() <= MAX_UUID_BYTES && u.trim() == u
            });
            let event_type = "[A-Za-z][A-Za-z0-9_.-]{0,63}".prop_filter("not a reserved word", |t| {
                !schemas::partition::RESERVED_EVENT_TYPES
                    .iter()
                    .any(|w| t.eq_ignore_ascii_case(w))
            });
            let name = (event_type, proptest::collection::vec("[^:\\p{Cc}]{1,8}", 0..3))
                .prop_map(|(t, rest)| std::iter::once(t).chain(rest).collect::<Vec<_>>().join(":"));
            (uuid, name, MIN_CREATED_AT..MAX_CREATED_AT_EXCLUSIVE).prop_map(|(uuid, name, created_at)| {
                Envelope {
                    uuid,
                    name,
                    created_at,
                }
            })
        }

        fn payload() -> impl Strategy<Value = Map<String, Value>> {
            let value = json_scalar(".{0,12}");
            proptest::collection::btree_map("[a-z_]{1,10}", value, 0..6).prop_map(|fields| {
                fields
                    .into_iter()
                    .filter(|(k, _)| {
                        ![columns::EVENT_UUID, columns::EVENT_NAME, columns::CREATED_AT].contains(&k.as_str())
                    })
                    .collect()
            })
        }

        fn record(envelope: &Envelope, payload: &Map<String, Value>) -> Map<String, Value> {
            let mut object = payload.clone();
            object.insert(columns::EVENT_UUID.into(), envelope.uuid.clone().into());
            object.insert(columns::EVENT_NAME.into(), envelope.name.clone().into());
            object.insert(columns::CREATED_AT.into(), envelope.created_at.into());
            object
        }

        /// A change to one envelope field, and the reason the record must then be refused with.
        fn mutation() -> impl Strategy<Value = (&'static str, Option<Value>, QuarantineReason)> {
            use QuarantineReason::*;
            let field = prop_oneof![
                Just(columns::EVENT_UUID),
                Just(columns::EVENT_NAME),
                Just(columns::CREATED_AT)
            ];
            let missing = (field.clone(), prop_oneof![Just(None), Just(Some(Value::Null))])
                .prop_map(|(f, v)| (f, v, MissingField));
            let wrong_type = (field, any::<bool>()).prop_map(|(f, b)| {
                let value = if f == columns::CREATED_AT {
                    Value::from(b.to_string())
                } else {
                    Value::from(b)
                };
                (f, Some(value), BadType)
            });
            prop_oneof![
                missing,
                wrong_type,
                (MIN_CREATED_AT..MAX_CREATED_AT_EXCLUSIVE).prop_map(|s| (
                    columns::CREATED_AT,
                    Some(Value::from(s as f64 + 0.5)),
                    BadType
                )),
                prop_oneof![
                    Just(String::new()),
                    "[a-z]{0,4}[\\x00-\\x1f][a-z]{0,4}",
                    "u{129,140}"
                ]
                .prop_map(|u| (columns::EVENT_UUID, Some(Value::from(u)), BadUuid)),
                prop_oneof![
                    "[a-z]{0,3}[/%= ~\\\\][a-z]{0,3}(:[a-z]{1,3})?",
                    "[a-z]{65,70}",
                    "[a-z]{1,3}(:[a-z]{1,3})?:",
                    "[0-9_.-][A-Za-z0-9_.-]{0,8}(:[a-z]{1,3})?",
                    "(null|NULL|NaN|inf|Infinity|EPOCH)(:[a-z]{1,3})?"
                ]
                .prop_map(|n| (columns::EVENT_NAME, Some(Value::from(n)), BadEventName)),
                prop_oneof![i64::MIN..MIN_CREATED_AT, MAX_CREATED_AT_EXCLUSIVE..i64::MAX].prop_map(|s| (
                    columns::CREATED_AT,
                    Some(Value::from(s)),
                    BadTimestamp
                )),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn a_valid_envelope_is_accepted_with_exactly_its_values(envelope in envelope(), payload in payload()) {
                let bytes = serde_json::to_vec(&record(&envelope, &payload)).expect("serialize");
                let event = decode(&bytes).expect("a valid envelope is accepted");
                prop_assert_eq!(event.event_uuid(), &envelope.uuid);
                prop_assert_eq!(event.event_name(), &envelope.name);
                prop_assert_eq!(event.created_at, envelope.created_at);
                let mut parts = envelope.name.split(':');
                prop_assert_eq!(Some(event.event_type()), parts.next());
                prop_assert_eq!(event.event_subtype(), parts.next());
                prop_assert_eq!(Some(event.date), PartitionDate::from_unix_seconds(envelope.created_at));
                prop_assert_eq!(event.payload.to_map(), payload, "the payload is kept value for value");
            }

            #[test]
            fn a_broken_field_gives_its_documented_reason(
                envelope in envelope(),
                payload in payload(),
                (field, value, reason) in mutation(),
            ) {
                let mut object = record(&envelope, &payload);
                match value {
                    Some(value) => object.insert(field.to_owned(), value),
                    None => object.remove(field),
                };
                let bad = decode(&serde_json::to_vec(&object).expect("serialize")).expect_err("must be refused");
                prop_assert_eq!(bad.reason, reason, "{}", bad.detail);
                if reason > QuarantineReason::BadType {
                    prop_assert_eq!(bad.event_uuid.as_deref(), object[columns::EVENT_UUID].as_str());
                    prop_assert_eq!(bad.event_name.as_deref(), object[columns::EVENT_NAME].as_str());
                }
            }
        }
    }

    fn with_payload(payload: &str) -> Result<Event, Invalid> {
        decode(
            format!(r#"{{"event_uuid":"u","event_name":"a:b","created_at":1644838800,{payload}}}"#)
                .as_bytes(),
        )
    }

    #[test]
    fn repeated_keys_are_rejected_at_any_depth() {
        for payload in [
            r#""event_uuid":"v""#,
            r#""x":1,"x":1"#,
            r#""x":{"y":1,"z":[{"k":1,"k":2}],"y":2}"#,
        ] {
            let bad = with_payload(payload).expect_err(payload);
            assert_eq!(bad.reason, QuarantineReason::InvalidJson, "{payload}");
            assert!(bad.detail.contains("duplicate key"), "{}", bad.detail);
        }
        let fine = with_payload(r#""x":{"x":{"x":1}},"y":[{"k":1},{"k":2}]"#).expect("distinct keys");
        assert_eq!(fine.payload.to_map()["y"][1]["k"], 2);
    }

    #[test]
    fn records_with_many_fields_keep_every_distinct_key() {
        // Past 32 fields, keys seen are tracked in a set; the envelope read first must not
        // count as a key there (an empty key once looked like a repeat of its place).
        let fields: Vec<String> = (0..40).map(|i| format!(r#""k{i}":{i}"#)).collect();
        let event = with_payload(&format!(r#"{},"":0"#, fields.join(","))).expect("distinct keys");
        assert_eq!(event.payload.len(), 41);
        assert_eq!(event.payload.get(""), Some(PayloadValue::PosInt(0)));
        let bad = with_payload(&format!(r#"{},"k3":0"#, fields.join(","))).expect_err("a repeat");
        assert_eq!(bad.reason, QuarantineReason::InvalidJson);
        assert!(bad.detail.contains(r#"duplicate key "k3""#), "{}", bad.detail);
    }

    #[test]
    fn payloads_compare_as_serde_json_maps() {
        let a = with_payload(r#""n":{"x":1,"y":[-0.0]},"s":"t""#).expect("valid");
        let b = with_payload(r#""s":"t","n":{"y":[0.0],"x":1}"#).expect("valid");
        assert_eq!(a.payload, b.payload);
        let c = with_payload(r#""s":"t","n":{"y":[0.0],"x":2}"#).expect("valid");
        assert_ne!(a.payload, c.payload);
    }

    #[test]
    fn integers_beyond_64_bits_are_rejected_not_rounded() {
        for payload in [
            r#""n":18446744073709551616"#,
            r#""n":-9223372036854775809"#,
            r#""deep":[{"n":123456789012345678901234567890}]"#,
        ] {
            let bad = with_payload(payload).expect_err(payload);
            assert_eq!(bad.reason, QuarantineReason::BadType, "{payload}");
            assert!(bad.detail.contains("beyond 64 bits"), "{}", bad.detail);
            assert_eq!(bad.event_uuid.as_deref(), Some("u"));
        }
        let kept = with_payload(
            r#""u":18446744073709551615,"i":-9223372036854775808,"f":1e20,"s":"99999999999999999999999","g":2.5e30"#,
        )
        .expect("64-bit integers, floats and strings are fine");
        let kept = kept.payload.to_map();
        assert_eq!(kept["u"].as_u64(), Some(u64::MAX));
        assert_eq!(kept["i"].as_i64(), Some(i64::MIN));
        assert_eq!(kept["f"].as_f64(), Some(1e20));
        assert_eq!(
            reason(r#"{"event_uuid":"u","event_name":"a:b","created_at":99999999999999999999999}"#),
            QuarantineReason::BadType
        );
        assert_eq!(
            with_payload(r#""x":NaN"#).expect_err("NaN").reason,
            QuarantineReason::InvalidJson
        );
        assert_eq!(
            with_payload(r#""x":1e400"#).expect_err("beyond f64").reason,
            QuarantineReason::InvalidJson
        );
    }

    #[test]
    fn uuids_are_exact_and_never_trimmed() {
        let uuid = |u: &str| {
            let input = serde_json::json!({"event_uuid": u, "event_name": "a:b", "created_at": 1644838800});
            decode(input.to_string().as_bytes())
        };
        assert_eq!(uuid("ABC").expect("upper").event_uuid(), "ABC");
        assert_eq!(uuid("abc").expect("lower").event_uuid(), "abc");
        assert_eq!(uuid("a b").expect("inner space").event_uuid(), "a b");
        for padded in [" abc", "abc ", "\u{a0}abc", "abc\u{2003}"] {
            assert_eq!(uuid(padded).expect_err(padded).reason, QuarantineReason::BadUuid);
        }
    }

    #[test]
    fn names_with_control_characters_are_rejected() {
        for name in ["a:b\u{0}", "a:\u{1b}[31m", "a\tb"] {
            let input = serde_json::json!({"event_uuid": "u", "event_name": name, "created_at": 1644838800});
            let bad = decode(input.to_string().as_bytes()).expect_err(name);
            assert_eq!(bad.reason, QuarantineReason::BadEventName, "{name:?}");
        }
    }

    #[test]
    fn reasons_round_trip_through_their_names() {
        for r in QuarantineReason::ALL {
            assert_eq!(QuarantineReason::parse(r.as_str()), Some(r));
        }
    }
}
