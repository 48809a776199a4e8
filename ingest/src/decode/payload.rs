//! An event's payload (every field but the envelope) without a JSON map, and the text of
//! its uuid and name. Keys and strings without escapes are spans of the record itself (a
//! shared, reference-counted buffer); escaped ones and nested values written back as compact
//! JSON go to one text buffer, allocated only when a record has them; numbers keep
//! serde_json's three kinds. Invariant: every conversion (`as_i64`, `as_f64`, the JSON text
//! written for `extra` and `json` columns, `to_value`) gives exactly what serde_json's `Value`
//! of the same field gives, so rows are the same as when decode built a map per record.

use bytestring::ByteString;
use serde_json::{Map, Number, Value};
use std::fmt;
use std::ops::Range;

/// The fields of one event but its envelope. Their order is the one earlier releases stored
/// in `extra`: the record's, except that each envelope field's place was taken by the last
/// field (see [`Payload::remove_envelope`]).
#[derive(Clone, Default)]
pub struct Payload {
    /// The record's text; spans marked [`IN_RECORD`] point into it.
    record: ByteString,
    /// Text the record does not hold as is: keys, strings, a uuid or a name that had escapes
    /// (unescaped), nested values written back as compact JSON.
    text: String,
    fields: Vec<Field>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Field {
    key: Span,
    value: Stored,
}

/// A byte range of [`Payload::text`], or of the record when `start` has [`IN_RECORD`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Span {
    start: u32,
    end: u32,
}

/// Marks a span of the record. Records are at most 1 MiB, and the text buffer at most a few
/// times that (nested numbers written back can be longer: `1e15` is `1000000000000000.0`), so
/// offsets never reach this bit.
const IN_RECORD: u32 = 1 << 31;

impl Span {
    const EMPTY: Span = Span { start: 0, end: 0 };

    fn range(self) -> Range<usize> {
        (self.start & !IN_RECORD) as usize..self.end as usize
    }

    fn len(self) -> usize {
        self.range().len()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stored {
    Null,
    Bool(bool),
    PosInt(u64),
    NegInt(i64),
    Float(f64),
    String(Span),
    Nested(Span),
    /// Where an envelope field stood (0 `event_uuid`, 1 `event_name`, 2 `created_at`), until
    /// [`Payload::remove_envelope`].
    Envelope(u8),
}

/// One payload value, borrowed from its [`Payload`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PayloadValue<'a> {
    Null,
    Bool(bool),
    /// A non-negative integer (serde_json's `PosInt`).
    PosInt(u64),
    /// A negative integer (serde_json's `NegInt`).
    NegInt(i64),
    /// A number with a fraction or exponent, or an integer beyond 64 bits read as a float.
    Float(f64),
    String(&'a str),
    /// An array or an object, as serde_json's compact serialization of it.
    Nested(&'a str),
}

impl PayloadValue<'_> {
    pub fn is_null(self) -> bool {
        matches!(self, Self::Null)
    }

    /// The value as an i64 when it is an integer in range (as `Value::as_i64`).
    pub fn as_i64(self) -> Option<i64> {
        match self {
            Self::PosInt(n) => i64::try_from(n).ok(),
            Self::NegInt(n) => Some(n),
            _ => None,
        }
    }

    /// Any number as an f64 (as `Value::as_f64`).
    pub fn as_f64(self) -> Option<f64> {
        match self {
            Self::PosInt(n) => Some(n as f64),
            Self::NegInt(n) => Some(n as f64),
            Self::Float(f) => Some(f),
            _ => None,
        }
    }

    pub fn is_f64(self) -> bool {
        matches!(self, Self::Float(_))
    }

    pub fn as_bool(self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// Appends the value as JSON text, byte for byte what `serde_json::to_string` writes for
    /// the same `Value`.
    pub fn write_json(self, out: &mut Vec<u8>) {
        match self {
            Self::Null => out.extend_from_slice(b"null"),
            Self::Bool(true) => out.extend_from_slice(b"true"),
            Self::Bool(false) => out.extend_from_slice(b"false"),
            Self::PosInt(n) => write_serialized(out, &n),
            Self::NegInt(n) => write_serialized(out, &n),
            Self::Float(f) => write_serialized(out, &f),
            Self::String(s) => write_serialized(out, s),
            Self::Nested(json) => out.extend_from_slice(json.as_bytes()),
        }
    }

    /// The value as serde_json builds it from the record.
    pub fn to_value(self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Bool(b) => Value::Bool(b),
            Self::PosInt(n) => Value::Number(n.into()),
            Self::NegInt(n) => Value::Number(n.into()),
            Self::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
            Self::String(s) => Value::String(s.to_owned()),
            // Written by serde_json from a parsed value, so it parses back to that value.
            Self::Nested(json) => serde_json::from_str(json).unwrap_or(Value::Null),
        }
    }
}

impl<'a> PayloadValue<'a> {
    /// The text of a string value.
    pub fn as_text(self) -> Option<&'a str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }
}

fn write_serialized<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing into a Vec cannot fail, and numbers and strings always serialize.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// Appends `{"key":value,...}` for the given fields, as `serde_json::to_string` writes the
/// object that holds them.
pub fn write_object<'a>(fields: impl IntoIterator<Item = (&'a str, PayloadValue<'a>)>, out: &mut Vec<u8>) {
    out.push(b'{');
    for (i, (key, value)) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_serialized(out, key);
        out.push(b':');
        value.write_json(out);
    }
    out.push(b'}');
}

impl Payload {
    /// An empty payload of a record being read, whose text it shares (events have a handful
    /// of fields).
    pub(super) fn of_record(record: ByteString) -> Payload {
        Payload {
            record,
            text: String::new(),
            fields: Vec::with_capacity(12),
        }
    }

    /// The text of a span.
    pub(super) fn str(&self, span: Span) -> &str {
        if span.start & IN_RECORD != 0 {
            &self.record[span.range()]
        } else {
            &self.text[span.range()]
        }
    }

    /// A span holding `text`: a span of the record when `text` is a part of it (read without
    /// escapes), a copy otherwise.
    pub(super) fn span(&mut self, text: &str) -> Span {
        let record = self.record.as_ptr() as usize;
        let start = (text.as_ptr() as usize).wrapping_sub(record);
        if start <= self.record.len() && text.len() <= self.record.len() - start {
            Span {
                start: start as u32 | IN_RECORD,
                end: (start + text.len()) as u32,
            }
        } else {
            self.append_text(text)
        }
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The fields in record order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, PayloadValue<'_>)> + '_ {
        self.fields.iter().map(|f| (self.str(f.key), self.value(f.value)))
    }

    pub fn get(&self, key: &str) -> Option<PayloadValue<'_>> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The payload as the JSON map serde_json reads from the record (tests and oracles).
    pub fn to_map(&self) -> Map<String, Value> {
        self.iter().map(|(k, v)| (k.to_owned(), v.to_value())).collect()
    }

    fn value(&self, stored: Stored) -> PayloadValue<'_> {
        match stored {
            Stored::Null => PayloadValue::Null,
            Stored::Bool(b) => PayloadValue::Bool(b),
            Stored::PosInt(n) => PayloadValue::PosInt(n),
            Stored::NegInt(n) => PayloadValue::NegInt(n),
            Stored::Float(f) => PayloadValue::Float(f),
            Stored::String(span) => PayloadValue::String(self.str(span)),
            Stored::Nested(span) => PayloadValue::Nested(self.str(span)),
            Stored::Envelope(_) => PayloadValue::Null,
        }
    }

    /// The keys read so far, without the envelope's places (parsing only).
    pub(super) fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.payload_fields().map(|f| self.str(f.key))
    }

    /// The fields but the envelope's places.
    fn payload_fields(&self) -> impl Iterator<Item = &Field> {
        self.fields
            .iter()
            .filter(|f| !matches!(f.value, Stored::Envelope(_)))
    }

    /// Whether a field of this name is already here (a record repeating a key is invalid).
    pub(super) fn has_key(&self, key: &str) -> bool {
        // Lengths first: a record's keys mostly differ in length, and a span's length needs no
        // look at its text.
        self.payload_fields()
            .any(|f| f.key.len() == key.len() && self.str(f.key) == key)
    }

    /// Marks the place of envelope field `which` (0 uuid, 1 name, 2 created_at).
    pub(super) fn push_envelope(&mut self, which: u8) {
        self.fields.push(Field {
            key: Span::EMPTY,
            value: Stored::Envelope(which),
        });
    }

    /// Drops the envelope's places the way decode once removed the three fields from
    /// serde_json's ordered map, one after the other, each by swapping in the last field
    /// (`IndexMap::swap_remove`). A typical record, envelope first, so keeps its payload in
    /// reverse; keeping that order keeps `extra` byte for byte what earlier releases wrote,
    /// so an original and its re-send written by two releases still carry the same text.
    pub(super) fn remove_envelope(&mut self) {
        for which in 0..3 {
            if let Some(i) = self
                .fields
                .iter()
                .position(|f| f.value == Stored::Envelope(which))
            {
                self.fields.swap_remove(i);
            }
        }
    }

    /// Adds a key; its value follows with one of the `push_*` calls.
    pub(super) fn push_key(&mut self, key: &str) {
        let key = self.span(key);
        self.fields.push(Field {
            key,
            value: Stored::Null,
        });
    }

    pub(super) fn set_null(&mut self) {
        self.set(Stored::Null);
    }

    pub(super) fn set_bool(&mut self, value: bool) {
        self.set(Stored::Bool(value));
    }

    pub(super) fn set_u64(&mut self, value: u64) {
        self.set(Stored::PosInt(value));
    }

    pub(super) fn set_i64(&mut self, value: i64) {
        // serde_json reads non-negative integers as u64; keep its kind for equality.
        self.set(u64::try_from(value).map_or(Stored::NegInt(value), Stored::PosInt));
    }

    pub(super) fn set_f64(&mut self, value: f64) {
        self.set(Stored::Float(value));
    }

    pub(super) fn set_string(&mut self, value: &str) {
        let span = self.span(value);
        self.set(Stored::String(span));
    }

    /// An array or object value: `json` is its compact serialization.
    pub(super) fn set_nested(&mut self, json: &str) {
        let span = self.append_text(json);
        self.set(Stored::Nested(span));
    }

    fn set(&mut self, value: Stored) {
        if let Some(last) = self.fields.last_mut() {
            last.value = value;
        }
    }

    fn append_text(&mut self, text: &str) -> Span {
        let start = self.text.len();
        self.text.push_str(text);
        debug_assert!(self.text.len() < IN_RECORD as usize);
        Span {
            start: start as u32,
            end: self.text.len() as u32,
        }
    }
}

/// Equal as serde_json's maps are: the same fields with equal values, in any order (nested
/// values compare as values, so their key order does not matter either).
impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self.iter().all(|(key, value)| match (value, other.get(key)) {
                (PayloadValue::Nested(_), Some(theirs @ PayloadValue::Nested(_))) => {
                    value.to_value() == theirs.to_value()
                }
                (_, theirs) => theirs == Some(value),
            })
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(value: PayloadValue<'_>) -> String {
        let mut out = Vec::new();
        value.write_json(&mut out);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn json_text_is_serde_jsons_own() {
        for (value, expected) in [
            (PayloadValue::Null, Value::Null),
            (PayloadValue::Bool(true), Value::Bool(true)),
            (PayloadValue::PosInt(u64::MAX), Value::from(u64::MAX)),
            (PayloadValue::NegInt(i64::MIN), Value::from(i64::MIN)),
            (PayloadValue::Float(1e20), Value::from(1e20)),
            (PayloadValue::Float(-0.0), Value::from(-0.0)),
            (PayloadValue::Float(2.5e-308), Value::from(2.5e-308)),
            (
                PayloadValue::String("q\"\\\u{1}é\u{2028}/"),
                Value::from("q\"\\\u{1}é\u{2028}/"),
            ),
        ] {
            assert_eq!(written(value), expected.to_string(), "{value:?}");
            assert_eq!(value.to_value(), expected);
        }
        let mut out = Vec::new();
        write_object(
            [
                ("a\"b", PayloadValue::PosInt(1)),
                ("c", PayloadValue::Nested("[1,{\"d\":null}]")),
            ],
            &mut out,
        );
        let object = serde_json::json!({"a\"b": 1, "c": [1, {"d": null}]});
        assert_eq!(String::from_utf8(out).expect("utf-8"), object.to_string());
    }

    #[test]
    fn plain_text_is_borrowed_from_the_record_and_escaped_text_copied() {
        let record = bytes::Bytes::from_static(
            br#"{"event_uuid":"u\u0031","event_name":"a:b","created_at":1700000000,"k":"v","k\u0032":"x\ny","n":[1, {"m":2}],"w":3}"#,
        );
        let event = crate::decode::decode_shared(&record).expect("valid");
        assert_eq!(event.event_uuid(), "u1");
        assert_eq!(event.event_name(), "a:b");
        let fields: Vec<(&str, PayloadValue<'_>)> = event.payload.iter().collect();
        assert_eq!(
            fields,
            [
                ("w", PayloadValue::PosInt(3)),
                ("n", PayloadValue::Nested(r#"[1,{"m":2}]"#)),
                ("k2", PayloadValue::String("x\ny")),
                ("k", PayloadValue::String("v")),
            ]
        );
        // Only what the record does not hold as is was copied: the escaped key and string,
        // the nested value written back compact, the escaped uuid (the name is borrowed).
        assert_eq!(event.payload.text, "k2x\ny[1,{\"m\":2}]u1");
        // The same event from a copy of the record.
        assert_eq!(crate::decode::decode(&record), Ok(event));
    }

    #[test]
    fn a_span_of_the_record_is_borrowed_and_any_other_text_copied() {
        let record = ByteString::from_static("{\"key\":\"value\"}");
        let mut payload = Payload::of_record(record.clone());
        let inside = payload.span(&record[2..5]);
        let outside = payload.span("key");
        let empty_end = payload.span(&record[record.len()..]);
        assert_eq!(
            (payload.str(inside), payload.str(outside), payload.str(empty_end)),
            ("key", "key", "")
        );
        assert_ne!(inside.start & IN_RECORD, 0);
        assert_ne!(empty_end.start & IN_RECORD, 0);
        assert_eq!(outside.start & IN_RECORD, 0);
        assert_eq!(payload.text, "key");
    }

    #[test]
    fn conversions_match_values() {
        let values = [
            PayloadValue::PosInt(u64::MAX),
            PayloadValue::PosInt(7),
            PayloadValue::NegInt(-7),
            PayloadValue::Float(7.0),
            PayloadValue::Bool(false),
            PayloadValue::String("7"),
        ];
        for value in values {
            let json = value.to_value();
            assert_eq!(value.as_i64(), json.as_i64(), "{value:?}");
            assert_eq!(value.as_f64(), json.as_f64(), "{value:?}");
            assert_eq!(value.is_f64(), json.is_f64(), "{value:?}");
            assert_eq!(value.as_bool(), json.as_bool(), "{value:?}");
            assert_eq!(value.as_text(), json.as_str(), "{value:?}");
        }
    }
}
