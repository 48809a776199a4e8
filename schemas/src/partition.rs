//! Partition path rules. A partition value is written into object keys as `key=value`, so it
//! must never contain a separator, never change when a Hive reader percent-decodes it, never
//! escape the lake, and read back as the same string in every engine. We accept only values
//! that need no escaping and that no reader types or nulls on its own: `event_type` is
//! `[A-Za-z][A-Za-z0-9_.-]{0,63}` and not one of [`RESERVED_EVENT_TYPES`] in any case;
//! anything else is rejected (the record goes to quarantine as `bad_event_name`). Dates are
//! UTC calendar dates of `created_at`.

use chrono::{DateTime, NaiveDate, Utc};
use std::fmt;

/// Earliest accepted `created_at`: 2000-01-01T00:00:00Z.
pub const MIN_CREATED_AT: i64 = 946_684_800;
/// First rejected `created_at`: 2100-01-01T00:00:00Z. Millisecond values land far above it.
pub const MAX_CREATED_AT_EXCLUSIVE: i64 = 4_102_444_800;

/// Words that start with a letter and still do not read back as themselves everywhere (any
/// case): DuckDB's Hive partitioning casts `inf`, `infinity` and `epoch` to dates, DuckDB 1.x
/// reads `null` as NULL, and Spark's partition inference parses `NaN` and `Infinity` as
/// doubles. A leading letter rules out the rest: numbers and dates (`007` is 7 in pyarrow,
/// `0x10` is 16 in DuckDB, `2024-01-01` a date), `-inf`, and Hive's `__HIVE_DEFAULT_PARTITION__`,
/// which Hive, Spark and DuckDB read as NULL and pyarrow refuses.
pub const RESERVED_EVENT_TYPES: [&str; 5] = ["epoch", "inf", "infinity", "nan", "null"];

/// Checks that `event_type` is a safe, escape-free partition value that every engine reads
/// as the same string.
pub fn check_event_type(event_type: &str) -> Result<(), &'static str> {
    let Some(&first) = event_type.as_bytes().first() else {
        return Err("the event type (first part) is empty");
    };
    if event_type.len() > crate::envelope::MAX_EVENT_TYPE_LEN {
        return Err("the event type (first part) is longer than 64 bytes");
    }
    if !event_type.bytes().all(is_safe_byte) {
        return Err("the event type (first part) has characters outside [A-Za-z0-9_.-]");
    }
    if !first.is_ascii_alphabetic() {
        return Err(
            "the event type (first part) does not start with a letter (query engines would read it as a number, a date or NULL)",
        );
    }
    if RESERVED_EVENT_TYPES
        .iter()
        .any(|word| event_type.eq_ignore_ascii_case(word))
    {
        return Err(
            "the event type (first part) is a word query engines read as NULL, a number or a date (null, nan, inf, infinity, epoch)",
        );
    }
    Ok(())
}

fn is_safe_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// The `event_type=<value>` path segment. Callers pass a value that passed
/// [`check_event_type`]; the check is repeated so no unchecked value can reach a key.
pub fn event_type_segment(event_type: &str) -> Result<String, &'static str> {
    check_event_type(event_type)?;
    Ok(format!("event_type={event_type}"))
}

/// The UTC date of an event's `created_at`, the `date=` partition value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartitionDate(pub NaiveDate);

impl PartitionDate {
    /// The UTC date of Unix seconds, or `None` outside the accepted range.
    pub fn from_unix_seconds(seconds: i64) -> Option<Self> {
        if !(MIN_CREATED_AT..MAX_CREATED_AT_EXCLUSIVE).contains(&seconds) {
            return None;
        }
        DateTime::<Utc>::from_timestamp(seconds, 0).map(|t| PartitionDate(t.date_naive()))
    }

    /// The UTC date of a microsecond timestamp (arrival times), clamped to the valid range.
    pub fn from_unix_micros(micros: i64) -> Self {
        let seconds = micros
            .div_euclid(1_000_000)
            .clamp(MIN_CREATED_AT, MAX_CREATED_AT_EXCLUSIVE - 1);
        // The clamp keeps the value inside the range that from_unix_seconds accepts.
        Self::from_unix_seconds(seconds).unwrap_or(PartitionDate(NaiveDate::MIN))
    }

    /// The `date=YYYY-MM-DD` path segment.
    pub fn segment(self) -> String {
        format!("date={self}")
    }
}

impl fmt::Display for PartitionDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_event_types_never_become_segments() {
        for t in [
            "..", ".", "../../x", "a/b", "%2e%2e", "a\\b", "ü", "a b", "a=b", "", "x\0",
        ] {
            assert!(event_type_segment(t).is_err(), "{t:?} must be rejected");
        }
        assert_eq!(event_type_segment("payment").expect("safe"), "event_type=payment");
        assert_eq!(
            event_type_segment("a1.b_c-D").expect("safe"),
            "event_type=a1.b_c-D"
        );
        assert!(event_type_segment(&"a".repeat(64)).is_ok());
        assert!(event_type_segment(&"a".repeat(65)).is_err());
    }

    #[test]
    fn values_some_engine_would_type_or_null_are_refused() {
        for t in [
            "__HIVE_DEFAULT_PARTITION__",
            "_x",
            "007",
            "1",
            "0x10",
            "1e5",
            "1.5",
            "2024-01-01",
            "-inf",
            "-x",
            ".5",
            "null",
            "NULL",
            "Null",
            "nan",
            "NaN",
            "inf",
            "INF",
            "Infinity",
            "epoch",
            "EPOCH",
        ] {
            assert!(check_event_type(t).is_err(), "{t:?} must be rejected");
        }
        for t in [
            "nullable", "nano", "info", "infinite", "epochs", "true", "false", "e5", "x2024",
        ] {
            assert!(check_event_type(t).is_ok(), "{t:?} reads as itself everywhere");
        }
    }

    #[test]
    fn dates_at_the_boundaries() {
        assert_eq!(
            PartitionDate::from_unix_seconds(MIN_CREATED_AT)
                .expect("in range")
                .to_string(),
            "2000-01-01"
        );
        assert_eq!(PartitionDate::from_unix_seconds(MIN_CREATED_AT - 1), None);
        assert_eq!(
            PartitionDate::from_unix_seconds(MAX_CREATED_AT_EXCLUSIVE - 1)
                .expect("in range")
                .to_string(),
            "2099-12-31"
        );
        assert_eq!(PartitionDate::from_unix_seconds(MAX_CREATED_AT_EXCLUSIVE), None);
        assert_eq!(
            PartitionDate::from_unix_seconds(1_644_838_800)
                .expect("in range")
                .segment(),
            "date=2022-02-14"
        );
        // A millisecond timestamp is out of range.
        assert_eq!(PartitionDate::from_unix_seconds(1_644_838_800_000), None);
        assert_eq!(PartitionDate::from_unix_seconds(-1), None);
    }
}
