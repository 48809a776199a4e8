//! Registry field types inferred from the JSON values a field was sent with. Invariant: the
//! inferred type accepts every observed value the way the write path stores it (see
//! `ingest::encode`), so declaring it moves the values out of `extra` without loss:
//!
//! - `true`/`false` -> `boolean`; strings -> `string`; objects and arrays -> `json`;
//! - integers -> `integer`, or `timestamp` when the field name ends in `_at` and the value is
//!   Unix seconds within the lake's accepted `created_at` range (2000 to 2100);
//! - numbers with a fraction -> `float`; integers and floats together -> `float`;
//! - any other mix -> `json`, the one type that stores every value (a `string` column would
//!   only take the string values), flagged as mixed.

use schemas::FieldType;
use schemas::partition::{MAX_CREATED_AT_EXCLUSIVE, MIN_CREATED_AT};
use serde_json::Value;

/// What the values of one field seen so far fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Inferred {
    /// `None` until a non-null value is seen.
    pub field_type: Option<FieldType>,
    /// Values of incompatible JSON types were seen (the type fell back to `json`).
    pub mixed: bool,
}

impl Inferred {
    /// Takes one more value into account; nulls say nothing about the type.
    pub fn observe(&mut self, field: &str, value: &Value) {
        if let Some(seen) = value_type(field, value) {
            self.merge_type(seen);
        }
    }

    /// Widens to a type that also accepts `other`'s values.
    pub fn merge(&mut self, other: Inferred) {
        self.mixed |= other.mixed;
        if let Some(seen) = other.field_type {
            self.merge_type(seen);
        }
    }

    fn merge_type(&mut self, seen: FieldType) {
        let (joined, mixed) = match self.field_type {
            None => (seen, false),
            Some(current) => join(current, seen),
        };
        self.field_type = Some(joined);
        self.mixed |= mixed;
    }
}

/// The type of one value, `None` for null.
pub fn value_type(field: &str, value: &Value) -> Option<FieldType> {
    match value {
        Value::Null => None,
        Value::Bool(_) => Some(FieldType::Boolean),
        Value::String(_) => Some(FieldType::String),
        Value::Array(_) | Value::Object(_) => Some(FieldType::Json),
        Value::Number(n) => Some(match n.as_i64() {
            Some(seconds) if is_timestamp(field, seconds) => FieldType::Timestamp,
            Some(_) => FieldType::Integer,
            None if n.is_f64() => FieldType::Float,
            // An integer beyond i64: only a json column stores it unchanged.
            None => FieldType::Json,
        }),
    }
}

fn is_timestamp(field: &str, seconds: i64) -> bool {
    field.ends_with("_at") && (MIN_CREATED_AT..MAX_CREATED_AT_EXCLUSIVE).contains(&seconds)
}

/// The narrowest type accepting values of both types, and whether they were incompatible.
pub fn join(a: FieldType, b: FieldType) -> (FieldType, bool) {
    use FieldType::{Float, Integer, Json, Timestamp};
    match (a, b) {
        _ if a == b => (a, false),
        (Integer, Timestamp) | (Timestamp, Integer) => (Integer, false),
        (Integer | Timestamp, Float) | (Float, Integer | Timestamp) => (Float, false),
        _ => (Json, true),
    }
}

/// Whether a column of `declared` type stores values inferred as `inferred`.
pub fn accepts(declared: FieldType, inferred: FieldType) -> bool {
    declared == FieldType::Json || join(declared, inferred) == (declared, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn infer(field: &str, values: &[Value]) -> Inferred {
        let mut inferred = Inferred::default();
        values.iter().for_each(|v| inferred.observe(field, v));
        inferred
    }

    fn typed(field_type: FieldType, mixed: bool) -> Inferred {
        Inferred {
            field_type: Some(field_type),
            mixed,
        }
    }

    #[test]
    fn scalar_values() {
        assert_eq!(
            infer("ok", &[json!(true), json!(false)]),
            typed(FieldType::Boolean, false)
        );
        assert_eq!(
            infer("n", &[json!(3), json!(-4)]),
            typed(FieldType::Integer, false)
        );
        assert_eq!(infer("x", &[json!(2.5)]), typed(FieldType::Float, false));
        assert_eq!(infer("s", &[json!("a")]), typed(FieldType::String, false));
        assert_eq!(
            infer("j", &[json!({"a": 1}), json!([1])]),
            typed(FieldType::Json, false)
        );
        assert_eq!(infer("big", &[json!(u64::MAX)]), typed(FieldType::Json, false));
    }

    #[test]
    fn nulls_say_nothing() {
        assert_eq!(infer("n", &[json!(null)]), Inferred::default());
        assert_eq!(
            infer("n", &[json!(null), json!(1)]),
            typed(FieldType::Integer, false)
        );
    }

    #[test]
    fn timestamps_need_an_at_name_and_seconds_in_range() {
        let seconds = json!(1_790_000_000);
        assert_eq!(
            infer("paid_at", std::slice::from_ref(&seconds)),
            typed(FieldType::Timestamp, false)
        );
        assert_eq!(
            infer("paid", std::slice::from_ref(&seconds)),
            typed(FieldType::Integer, false)
        );
        let millis = json!(1_790_000_000_000_i64);
        assert_eq!(
            infer("paid_at", std::slice::from_ref(&millis)),
            typed(FieldType::Integer, false)
        );
        assert_eq!(
            infer("paid_at", &[seconds, millis]),
            typed(FieldType::Integer, false)
        );
    }

    #[test]
    fn numbers_widen_to_float_and_other_mixes_to_json() {
        assert_eq!(
            infer("x", &[json!(1), json!(2.5)]),
            typed(FieldType::Float, false)
        );
        assert_eq!(infer("x", &[json!(1), json!("1")]), typed(FieldType::Json, true));
        assert_eq!(
            infer("x", &[json!(true), json!(1.5)]),
            typed(FieldType::Json, true)
        );
    }

    #[test]
    fn merging_keeps_the_mixed_flag() {
        let mut a = infer("x", &[json!(1)]);
        a.merge(infer("x", &[json!("s")]));
        assert_eq!(a, typed(FieldType::Json, true));
        a.merge(Inferred::default());
        assert_eq!(a, typed(FieldType::Json, true));
    }

    #[test]
    fn declared_types_accept_narrower_values() {
        assert!(accepts(FieldType::Float, FieldType::Integer));
        assert!(accepts(FieldType::Json, FieldType::String));
        assert!(accepts(FieldType::Integer, FieldType::Timestamp));
        assert!(!accepts(FieldType::Integer, FieldType::Float));
        assert!(!accepts(FieldType::String, FieldType::Integer));
    }
}
