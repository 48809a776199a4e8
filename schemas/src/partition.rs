//! Partition path rules. A partition value is written into object keys as `key=value`, so it
//! must never contain a separator, never change when a Hive reader percent-decodes it, and
//! never escape the lake. We accept only values that need no escaping at all:
//! `event_type` is `[A-Za-z0-9_.-]{1,64}`; anything else is rejected (the record goes to
//! quarantine as `bad_event_name`). Dates are UTC calendar dates of `created_at`.

use chrono::{DateTime, NaiveDate, Utc};
use std::fmt;

/// Earliest accepted `created_at`: 2000-01-01T00:00:00Z.
pub const MIN_CREATED_AT: i64 = 946_684_800;
/// First rejected `created_at`: 2100-01-01T00:00:00Z. Millisecond values land far above it.
pub const MAX_CREATED_AT_EXCLUSIVE: i64 = 4_102_444_800;

/// Checks that `event_type` is a safe, escape-free partition value.
pub fn check_event_type(event_type: &str) -> Result<(), &'static str> {
    if event_type.is_empty() {
        return Err("the event type (first part) is empty");
    }
    if event_type.len() > crate::envelope::MAX_EVENT_TYPE_LEN {
        return Err("the event type (first part) is longer than 64 bytes");
    }
    if !event_type.bytes().all(is_safe_byte) {
        return Err("the event type (first part) has characters outside [A-Za-z0-9_.-]");
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
            "..", "../../x", "a/b", "%2e%2e", "a\\b", "ü", "a b", "a=b", "", "x\0",
        ] {
            if t == ".." {
                // `..` is made of safe bytes, but the segment is `event_type=..`, which is a
                // plain directory name and cannot traverse.
                assert_eq!(event_type_segment(t).expect("safe bytes"), "event_type=..");
                continue;
            }
            assert!(event_type_segment(t).is_err(), "{t:?} must be rejected");
        }
        assert_eq!(event_type_segment("payment").expect("safe"), "event_type=payment");
        assert!(event_type_segment(&"a".repeat(65)).is_err());
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
