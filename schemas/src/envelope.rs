//! The event envelope: the common fields every event carries, the columns the pipeline adds,
//! and how an `event_name` splits into `event_type` and `event_subtype`.

use crate::error::SchemaError;

/// Column names of the lake tables. Payload fields may not use any of them.
pub mod columns {
    pub const EVENT_UUID: &str = "event_uuid";
    pub const EVENT_NAME: &str = "event_name";
    pub const CREATED_AT: &str = "created_at";
    pub const CREATED_DATETIME: &str = "created_datetime";
    pub const EVENT_TYPE: &str = "event_type";
    pub const EVENT_SUBTYPE: &str = "event_subtype";
    pub const ARRIVAL_TIME: &str = "arrival_time";
    pub const SHARD_ID: &str = "shard_id";
    pub const SEQUENCE_NUMBER: &str = "sequence_number";
    pub const EXTRA: &str = "extra";
    pub const DATE: &str = "date";
    pub const ORIGINAL_SHARD_ID: &str = "original_shard_id";
    pub const ORIGINAL_SEQUENCE_NUMBER: &str = "original_sequence_number";
    pub const ORIGINAL_FILE: &str = "original_file";
    pub const REASON: &str = "reason";
    pub const DETAIL: &str = "detail";
    pub const RAW: &str = "raw";

    /// Every column name of the events and duplicates tables (and the partition keys);
    /// registry fields must avoid them. Quarantine columns are a separate table.
    pub const RESERVED: &[&str] = &[
        EVENT_UUID,
        EVENT_NAME,
        CREATED_AT,
        CREATED_DATETIME,
        EVENT_TYPE,
        EVENT_SUBTYPE,
        ARRIVAL_TIME,
        SHARD_ID,
        SEQUENCE_NUMBER,
        EXTRA,
        DATE,
        ORIGINAL_SHARD_ID,
        ORIGINAL_SEQUENCE_NUMBER,
        ORIGINAL_FILE,
    ];
}

/// Longest accepted `event_type`, so that partition paths stay far below S3's key limit.
pub const MAX_EVENT_TYPE_LEN: usize = 64;

/// An `event_name` split at `:`: `payment:order:completed` has type `payment` and subtype
/// `order`; the full name is kept as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventName<'a> {
    pub full: &'a str,
    pub event_type: &'a str,
    pub event_subtype: Option<&'a str>,
}

impl<'a> EventName<'a> {
    /// Splits and checks a name. Every part must be non-empty; the type must be a safe
    /// partition value (see [`crate::partition::event_type_segment`]).
    pub fn parse(full: &'a str) -> Result<Self, SchemaError> {
        let bad = |reason| SchemaError::BadEventName {
            name: full.to_owned(),
            reason,
        };
        if full.is_empty() {
            return Err(bad("it is empty"));
        }
        let Some(colons) = first_two_colons(full.as_bytes()) else {
            return Err(bad("it has an empty part (a leading, trailing or doubled ':')"));
        };
        let type_end = colons[0].unwrap_or(full.len());
        let event_type = &full[..type_end];
        crate::partition::check_event_type(event_type).map_err(bad)?;
        Ok(EventName {
            full,
            event_type,
            event_subtype: colons[0].map(|first| &full[first + 1..colons[1].unwrap_or(full.len())]),
        })
    }
}

/// The offsets of a non-empty name's first two `:`, or `None` when a part is empty (a leading,
/// trailing or doubled `:`). One pass over the bytes: every event is named, so this is on the
/// hot path (`str::split` searched for each part twice).
fn first_two_colons(name: &[u8]) -> Option<[Option<usize>; 2]> {
    let mut colons = [None; 2];
    let mut found = 0;
    let mut part_empty = true;
    for (i, &byte) in name.iter().enumerate() {
        if byte != b':' {
            part_empty = false;
            continue;
        }
        if part_empty {
            return None;
        }
        if let Some(slot) = colons.get_mut(found) {
            *slot = Some(i);
        }
        found += 1;
        part_empty = true;
    }
    (!part_empty).then_some(colons)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_two_and_three_parts() {
        let one = EventName::parse("heartbeat").expect("valid");
        assert_eq!((one.event_type, one.event_subtype), ("heartbeat", None));
        let two = EventName::parse("account:created").expect("valid");
        assert_eq!((two.event_type, two.event_subtype), ("account", Some("created")));
        let three = EventName::parse("payment:order:completed").expect("valid");
        assert_eq!(three.event_type, "payment");
        assert_eq!(three.event_subtype, Some("order"));
        assert_eq!(three.full, "payment:order:completed");
    }

    #[test]
    fn parts_past_the_third_stay_in_the_full_name() {
        let four = EventName::parse("a:b:c:d").expect("valid");
        assert_eq!(
            (four.event_type, four.event_subtype, four.full),
            ("a", Some("b"), "a:b:c:d")
        );
        assert!(
            EventName::parse("a:b:c:").is_err(),
            "a trailing ':' past the third part"
        );
        assert!(
            EventName::parse("a:b:c::d").is_err(),
            "a doubled ':' past the third part"
        );
    }

    /// Every name of up to eight bytes over `a`, `b` and `:` splits as `str::split` splits it.
    #[test]
    fn splits_like_str_split() {
        let mut names = vec![String::new()];
        let mut last_length = vec![String::new()];
        for _ in 0..8 {
            last_length = last_length
                .iter()
                .flat_map(|n| ["a", "b", ":"].map(|c| format!("{n}{c}")))
                .collect();
            names.extend(last_length.iter().cloned());
        }
        assert_eq!(names.len(), (0..=8).map(|n| 3usize.pow(n)).sum::<usize>());
        for name in &names {
            let parts: Vec<&str> = name.split(':').collect();
            let expected = (!name.is_empty() && !parts.iter().any(|p| p.is_empty()))
                .then(|| (parts[0], parts.get(1).copied()));
            let got = EventName::parse(name)
                .ok()
                .map(|n| (n.event_type, n.event_subtype));
            assert_eq!(got, expected, "{name:?}");
        }
    }

    #[test]
    fn empty_parts_are_rejected() {
        let reason = |name| match EventName::parse(name) {
            Err(SchemaError::BadEventName { reason, .. }) => reason,
            other => panic!("{name:?} must be rejected as a bad name, not {other:?}"),
        };
        assert_eq!(reason(""), "it is empty");
        for name in [":", ":created", "account:", "a::b", "payment:order:", "1:"] {
            assert_eq!(
                reason(name),
                "it has an empty part (a leading, trailing or doubled ':')",
                "{name:?}"
            );
        }
    }
}
