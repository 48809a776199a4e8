//! The one pass over a record's JSON: the envelope's three fields are kept aside, every
//! other field goes straight into a [`Payload`] (no map, no allocation per scalar), and the
//! whole record is checked strictly (an object repeating a key, at any depth, is an error).
//! Arrays and objects inside the payload are written back as compact JSON while they are read
//! ([`NestedSeed`]), byte for byte what serde_json prints for the `Value` it would build.

use super::payload::Payload;
use bytestring::ByteString;
use schemas::columns;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};
use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::ops::Range;

/// What one pass read from a record that is valid JSON.
#[derive(Debug)]
pub(super) enum Parsed<'de> {
    Object(Fields<'de>),
    /// Valid JSON that is not an object: its kind (`array`, `string`, ...).
    Other(&'static str),
}

/// An object's fields: the envelope's, as they were sent, and the rest.
#[derive(Debug, Default)]
pub(super) struct Fields<'de> {
    pub uuid: Option<Envelope<'de>>,
    pub name: Option<Envelope<'de>>,
    pub created_at: Option<Envelope<'de>>,
    pub payload: Payload,
    /// A payload number was read as an integral float of magnitude 2^63 or more: it may be
    /// an integer beyond 64 bits, which only the raw bytes can tell.
    pub maybe_big_integer: bool,
    /// Keys seen so far, kept only once an object has many (a linear scan is faster below).
    many_keys: Option<HashSet<Box<str>>>,
}

/// An envelope field's value as sent; a string without escapes is borrowed from the record.
#[derive(Debug)]
pub(super) enum Envelope<'de> {
    Null,
    String(Cow<'de, str>),
    Number(Number),
    /// Any other JSON kind (`boolean`, `array`, `object`).
    Other(&'static str),
}

impl Envelope<'_> {
    /// The JSON kind, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Envelope::Null => "null",
            Envelope::String(_) => "string",
            Envelope::Number(_) => "number",
            Envelope::Other(kind) => kind,
        }
    }
}

/// Objects with more payload fields than this track their keys in a hash set.
const LINEAR_KEY_SCAN: usize = 32;

/// Reads one record that is UTF-8 (at most [`super::MAX_RECORD_BYTES`]); the payload shares
/// its text.
pub(super) fn record_text(text: &ByteString) -> Result<Parsed<'_>, serde_json::Error> {
    read(
        serde_json::Deserializer::from_str(text),
        Payload::of_record(text.clone()),
    )
}

/// Reads a record that is not UTF-8, for serde_json's own error (every record that parses
/// is UTF-8 as a whole).
pub(super) fn record_bytes(data: &[u8]) -> Result<Parsed<'_>, serde_json::Error> {
    read(serde_json::Deserializer::from_slice(data), Payload::default())
}

fn read<'de, R: serde_json::de::Read<'de>>(
    mut deserializer: serde_json::Deserializer<R>,
    payload: Payload,
) -> Result<Parsed<'de>, serde_json::Error> {
    let parsed = (&mut deserializer).deserialize_any(RecordVisitor { payload })?;
    deserializer.end()?;
    Ok(parsed)
}

struct RecordVisitor {
    /// Empty, sharing the record's text.
    payload: Payload,
}

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = Parsed<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed<'de>, A::Error> {
        let mut fields = Fields {
            payload: self.payload,
            ..Fields::default()
        };
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let envelope = match key.as_ref() {
                columns::EVENT_UUID => Some((&mut fields.uuid, 0)),
                columns::EVENT_NAME => Some((&mut fields.name, 1)),
                columns::CREATED_AT => Some((&mut fields.created_at, 2)),
                _ => None,
            };
            if let Some((slot, which)) = envelope {
                if slot.is_some() {
                    return Err(duplicate_key(&key));
                }
                *slot = Some(map.next_value_seed(EnvelopeSeed)?);
                fields.payload.push_envelope(which);
                continue;
            }
            if fields.seen_before(&key) {
                return Err(duplicate_key(&key));
            }
            fields.payload.push_key(&key);
            map.next_value_seed(PayloadSeed {
                payload: &mut fields.payload,
                maybe_big_integer: &mut fields.maybe_big_integer,
            })?;
        }
        fields.payload.remove_envelope();
        Ok(Parsed::Object(fields))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Parsed<'de>, A::Error> {
        StrictVisitor.visit_seq(seq).map(|_| Parsed::Other("array"))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Parsed<'de>, E> {
        Ok(Parsed::Other("boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Parsed<'de>, E> {
        Ok(Parsed::Other("number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Parsed<'de>, E> {
        Ok(Parsed::Other("number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Parsed<'de>, E> {
        Ok(Parsed::Other("number"))
    }

    fn visit_str<E>(self, _: &str) -> Result<Parsed<'de>, E> {
        Ok(Parsed::Other("string"))
    }

    fn visit_unit<E>(self) -> Result<Parsed<'de>, E> {
        Ok(Parsed::Other("null"))
    }
}

impl Fields<'_> {
    fn seen_before(&mut self, key: &str) -> bool {
        if let Some(keys) = &mut self.many_keys {
            return !keys.insert(key.into());
        }
        if self.payload.has_key(key) {
            return true;
        }
        if self.payload.len() >= LINEAR_KEY_SCAN {
            let mut keys: HashSet<Box<str>> = self.payload.keys().map(Box::from).collect();
            keys.insert(key.into());
            self.many_keys = Some(keys);
        }
        false
    }
}

fn duplicate_key<E: de::Error>(key: &str) -> E {
    E::custom(format_args!("duplicate key {key:?}"))
}

/// A key, borrowed from the input unless it has escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

struct EnvelopeSeed;

impl<'de> DeserializeSeed<'de> for EnvelopeSeed {
    type Value = Envelope<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Envelope<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EnvelopeSeed {
    type Value = Envelope<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Envelope<'de>, E> {
        Ok(Envelope::Other("boolean"))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Envelope<'de>, E> {
        Ok(Envelope::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Envelope<'de>, E> {
        Ok(Envelope::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Envelope<'de>, E> {
        Ok(Number::from_f64(v).map_or(Envelope::Null, Envelope::Number))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Envelope<'de>, E> {
        Ok(Envelope::String(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Envelope<'de>, E> {
        Ok(Envelope::String(Cow::Owned(v.to_owned())))
    }

    fn visit_unit<E>(self) -> Result<Envelope<'de>, E> {
        Ok(Envelope::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Envelope<'de>, A::Error> {
        StrictVisitor.visit_seq(seq).map(|_| Envelope::Other("array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Envelope<'de>, A::Error> {
        StrictVisitor.visit_map(map).map(|_| Envelope::Other("object"))
    }
}

/// Reads one payload value into the payload's last field.
struct PayloadSeed<'p> {
    payload: &'p mut Payload,
    maybe_big_integer: &'p mut bool,
}

impl<'de> DeserializeSeed<'de> for PayloadSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PayloadSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.payload.set_bool(v);
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.payload.set_i64(v);
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.payload.set_u64(v);
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        *self.maybe_big_integer |= may_be_big_integer_float(v);
        self.payload.set_f64(v);
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.payload.set_string(v);
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.payload.set_null();
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        let mut json = Vec::new();
        NestedSeed::new(&mut json, self.maybe_big_integer).visit_seq(seq)?;
        self.set_nested(&json)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let mut json = Vec::new();
        NestedSeed::new(&mut json, self.maybe_big_integer).visit_map(map)?;
        self.set_nested(&json)
    }
}

impl PayloadSeed<'_> {
    /// `json` is what serde_json's serializer wrote from `str`s, so always UTF-8; it is checked
    /// rather than assumed, since this crate has no `unsafe`.
    fn set_nested<E: de::Error>(self, json: &[u8]) -> Result<(), E> {
        let json =
            std::str::from_utf8(json).map_err(|_| E::custom("a nested value written back is not UTF-8"))?;
        self.payload.set_nested(json);
        Ok(())
    }
}

/// serde_json reads an integer beyond 64 bits as a (rounded) float: integral, |x| >= 2^63.
fn may_be_big_integer_float(value: f64) -> bool {
    value.fract() == 0.0 && value.abs() >= 9.2e18
}

/// Writes one value inside a payload array or object back as compact JSON while reading it,
/// exactly as serde_json prints the [`StrictValue`] it would otherwise build (keys in their
/// order, since `preserve_order`; scalars through serde_json's own serializer), and refuses
/// an object repeating a key at the same place [`StrictVisitor`] does. No map, no `Value`.
struct NestedSeed<'w> {
    json: &'w mut Vec<u8>,
    maybe_big_integer: &'w mut bool,
}

/// Objects with more keys than this track them in a hash set instead of comparing each.
const LINEAR_NESTED_KEYS: usize = 16;

impl<'w> NestedSeed<'w> {
    fn new(json: &'w mut Vec<u8>, maybe_big_integer: &'w mut bool) -> Self {
        NestedSeed {
            json,
            maybe_big_integer,
        }
    }

    fn reborrow(&mut self) -> NestedSeed<'_> {
        NestedSeed {
            json: self.json,
            maybe_big_integer: self.maybe_big_integer,
        }
    }

    fn scalar<T: serde::Serialize + ?Sized, E: de::Error>(self, value: &T) -> Result<(), E> {
        value
            .serialize(&mut serde_json::Serializer::new(&mut *self.json))
            .map_err(E::custom)
    }
}

impl<'de> DeserializeSeed<'de> for NestedSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NestedSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.scalar(&v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.scalar(&v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.scalar(&v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        *self.maybe_big_integer |= may_be_big_integer_float(v);
        self.scalar(&v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.scalar(v)
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar(&())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        self.json.push(b'[');
        let mut first = true;
        loop {
            let comma = self.json.len();
            if !first {
                self.json.push(b',');
            }
            if seq.next_element_seed(self.reborrow())?.is_none() {
                self.json.truncate(comma);
                break;
            }
            first = false;
        }
        self.json.push(b']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        self.json.push(b'{');
        // Where each key's text was written: serde_json writes equal keys alike and different
        // ones differently, so the written texts compare as the keys do. A set past a few.
        let mut keys: Vec<Range<usize>> = Vec::new();
        let mut many_keys: Option<HashSet<Box<[u8]>>> = None;
        let mut first = true;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if !first {
                self.json.push(b',');
            }
            first = false;
            let start = self.json.len();
            self.reborrow().scalar::<str, A::Error>(&key)?;
            let written = start..self.json.len();
            let text = &self.json[written.clone()];
            let repeated = match &mut many_keys {
                Some(set) => !set.insert(text.into()),
                None => keys.iter().any(|earlier| &self.json[earlier.clone()] == text),
            };
            if repeated {
                return Err(duplicate_key(&key));
            }
            if many_keys.is_none() {
                keys.push(written);
                if keys.len() > LINEAR_NESTED_KEYS {
                    many_keys = Some(keys.drain(..).map(|k| self.json[k].into()).collect());
                }
            }
            self.json.push(b':');
            map.next_value_seed(self.reborrow())?;
        }
        self.json.push(b'}');
        Ok(())
    }
}

/// A JSON value read like [`Value`], except that an object repeating a key is an error
/// instead of keeping the last value: a record whose fields readers could disagree on
/// (the first `event_uuid` or the last?) is quarantined whole.
struct StrictValue(Value);

impl<'de> de::Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match object.entry(key) {
                Entry::Occupied(taken) => return Err(duplicate_key(taken.key())),
                Entry::Vacant(slot) => {
                    let StrictValue(value) = map.next_value()?;
                    slot.insert(value);
                }
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the nested writer gives for `json`: the text, whether a float may be a big
    /// integer, or serde_json's error message.
    fn written_back(json: &str) -> Result<(String, bool), String> {
        let mut out = Vec::new();
        let mut maybe_big = false;
        let mut deserializer = serde_json::Deserializer::from_str(json);
        NestedSeed::new(&mut out, &mut maybe_big)
            .deserialize(&mut deserializer)
            .and_then(|()| deserializer.end())
            .map_err(|e| e.to_string())?;
        Ok((String::from_utf8(out).expect("UTF-8"), maybe_big))
    }

    /// The same through the `Value` the writer replaced.
    fn through_value(json: &str) -> Result<(String, bool), String> {
        fn maybe_big(value: &Value) -> bool {
            match value {
                Value::Number(n) => n.is_f64() && n.as_f64().is_some_and(may_be_big_integer_float),
                Value::Array(items) => items.iter().any(maybe_big),
                Value::Object(fields) => fields.values().any(maybe_big),
                _ => false,
            }
        }
        serde_json::from_str::<StrictValue>(json)
            .map(|StrictValue(value)| (value.to_string(), maybe_big(&value)))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn nested_values_are_written_back_as_value_prints_them() {
        for json in [
            r#"[]"#,
            r#"{}"#,
            r#" [ 1 , -2 , 3.50 , 1e15 , -0 , 18446744073709551616 , "x" , null , true ] "#,
            r#"{"a":{"b":[{"c":"\u00e9\n\"\\\/"}]},"d":[[],{}]}"#,
            r#"{"a":1,"\u0061":2}"#,
            r#"{"k":[{"x":1,"y":2,"x":3}]}"#,
            r#"{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"r":18,"a":19}"#,
            r#"[1e400]"#,
            r#"{"a":[1,2,}"#,
        ] {
            assert_eq!(written_back(json), through_value(json), "{json}");
        }
    }

    /// JSON text with what a generated `Value` never has: repeated keys (also spelled with
    /// escapes), escapes, exponents, integers past 64 bits, and whitespace.
    fn json_text() -> impl Strategy<Value = String> {
        let space = prop_oneof![Just(""), Just(" "), Just("\n\t ")];
        let scalar = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("false".to_owned()),
            "-?(0|[1-9][0-9]{0,24})",
            "-?(0|[1-9][0-9]{0,5})\\.[0-9]{1,19}([eE][+-]?[0-9]{1,3})?",
            "-?[1-9][eE][+-]?[0-9]{1,2}",
            proptest::collection::vec(
                prop_oneof![
                    Just("a"),
                    Just("é"),
                    Just("\\u00e9"),
                    Just("\\n"),
                    Just("\\\""),
                    Just("\\\\"),
                    Just("\\/"),
                    Just("\\ud83d\\ude00"),
                    Just("\\u0000")
                ],
                0..4
            )
            .prop_map(|parts| format!("\"{}\"", parts.concat())),
        ];
        // Two spellings each of two keys, and other keys (`weight` to 1 against each spelling).
        let key = |weight: u32| {
            prop_oneof![
                1 => Just("a".to_owned()),
                1 => Just("\\u0061".to_owned()),
                1 => Just("c\\n".to_owned()),
                1 => Just("c\\u000a".to_owned()),
                weight => "[b-z]{1,2}",
            ]
            .prop_map(|k| format!("\"{k}\""))
        };
        // Objects wide enough for the set of keys (past 16), some with a repeat, some without.
        let wide = proptest::collection::vec((key(40), scalar.clone()), 14..24).prop_map(|fields| {
            let fields: Vec<String> = fields.into_iter().map(|(k, v)| format!("{k} : {v}")).collect();
            format!("{{ {} }}", fields.join(" ,"))
        });
        let nested = scalar.prop_recursive(4, 48, 5, move |inner| {
            let item = (space.clone(), inner, space.clone()).prop_map(|(a, v, b)| format!("{a}{v}{b}"));
            prop_oneof![
                proptest::collection::vec(item.clone(), 0..5)
                    .prop_map(|items| format!("[{}]", items.join(","))),
                proptest::collection::vec((key(1), item), 0..5).prop_map(|fields| {
                    let fields: Vec<String> = fields.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
                    format!("{{{}}}", fields.join(","))
                }),
            ]
        });
        prop_oneof![4 => nested, 1 => wide]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn any_nested_value_is_written_back_as_value_prints_it(json in json_text()) {
            prop_assert_eq!(written_back(&json), through_value(&json), "{}", json);
        }
    }
}
