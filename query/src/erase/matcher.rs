//! What an erasure removes, as a value: the erased uuids (every row and record of them, in
//! every table and manifest) and the string literals of its predicate (a quarantined record
//! has no columns, so it matches when its raw bytes contain an erased uuid or one of those
//! literals as a whole JSON string, quotes included, byte for byte). Pure: no I/O.

use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, Value};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use md5::{Digest, Md5};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Literals shorter than this would match unrelated quarantined records by chance.
pub const MIN_LITERAL_BYTES: usize = 4;

/// The erased uuids with the dates (`created_at`) they were found under, and the literals.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    /// uuid -> the partition dates (days since the epoch) it has rows under.
    pub uuids: BTreeMap<String, BTreeSet<i32>>,
    pub literals: Vec<String>,
    uuid_set: HashSet<String>,
    /// Every uuid and literal between double quotes, as raw JSON spells a string, as searchers
    /// built once (building one costs more than a search in a short record).
    quoted: Vec<memchr::memmem::Finder<'static>>,
}

impl Matcher {
    pub fn new(uuids: BTreeMap<String, BTreeSet<i32>>, literals: Vec<String>) -> Self {
        let uuid_set = uuids.keys().cloned().collect();
        let quoted = uuids
            .keys()
            .chain(&literals)
            .map(|text| memchr::memmem::Finder::new(format!("\"{text}\"").as_bytes()).into_owned())
            .collect();
        Matcher {
            uuids,
            literals,
            uuid_set,
            quoted,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.uuids.is_empty() && self.literals.is_empty()
    }

    /// Whether a row of `events` or `duplicates` with this uuid is erased.
    pub fn erases_uuid(&self, uuid: &str) -> bool {
        self.uuid_set.contains(uuid)
    }

    /// Whether a record's raw bytes (quarantine) carry an erased uuid or a literal as a whole
    /// JSON string (`"account-1"`, so that `"account-10"` does not match).
    pub fn erases_raw(&self, raw: &[u8]) -> bool {
        self.quoted.iter().any(|finder| finder.find(raw).is_some())
    }

    /// The ledger's key of a uuid (MD5 of its text, as the writer hashes it).
    pub fn uuid_hash(uuid: &str) -> u128 {
        u128::from_be_bytes(Md5::digest(uuid.as_bytes()).into())
    }
}

/// Columns whose values say nothing about a person: a literal compared with one of them would
/// erase unrelated quarantined records (`date >= '2026-01-01'`).
const NOT_PERSONAL: [&str; 7] = [
    "date",
    "event_type",
    "event_subtype",
    "event_name",
    "created_at",
    "created_datetime",
    "arrival_time",
];

/// The string literals (at least [`MIN_LITERAL_BYTES`] long) that the predicate compares for
/// equality with a column (`col = 'x'`, `col IN ('x', 'y')`) under AND and OR, except the
/// columns in [`NOT_PERSONAL`]; a literal under NOT, `<>`, `LIKE` or a range is not taken.
pub fn predicate_literals(predicate: &str) -> Vec<String> {
    let Ok(expr) = Parser::new(&GenericDialect {})
        .try_with_sql(predicate)
        .and_then(|mut p| p.parse_expr())
    else {
        return Vec::new();
    };
    let mut literals = Vec::new();
    collect(&expr, &mut literals);
    literals.retain(|text| text.len() >= MIN_LITERAL_BYTES);
    literals.sort();
    literals.dedup();
    literals
}

fn collect(expr: &Expr, out: &mut Vec<String>) {
    match expr {
        Expr::Nested(inner) => collect(inner, out),
        Expr::BinaryOp { left, op, right } => match op {
            BinaryOperator::And | BinaryOperator::Or => {
                collect(left, out);
                collect(right, out);
            }
            BinaryOperator::Eq => {
                for (column, value) in [(left, right), (right, left)] {
                    if personal_column(column)
                        && let Some(text) = string(value)
                    {
                        out.push(text);
                    }
                }
            }
            _ => {}
        },
        Expr::InList {
            expr,
            list,
            negated: false,
        } if personal_column(expr) => out.extend(list.iter().filter_map(string)),
        _ => {}
    }
}

fn personal_column(expr: &Expr) -> bool {
    let name = match expr {
        Expr::Identifier(ident) => &ident.value,
        Expr::CompoundIdentifier(parts) => match parts.last() {
            Some(ident) => &ident.value,
            None => return false,
        },
        _ => return false,
    };
    !NOT_PERSONAL.iter().any(|c| c.eq_ignore_ascii_case(name))
}

fn string(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Value(value) => match &value.value {
            Value::SingleQuotedString(text)
            | Value::EscapedStringLiteral(text)
            | Value::NationalStringLiteral(text) => Some(text.clone()),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_the_quoted_strings_long_enough_to_mean_something() {
        assert_eq!(
            predicate_literals("account_id = 'a-123' OR x IN ('ab', 'it''s here') AND n > 5"),
            ["a-123", "it's here"]
        );
        assert!(predicate_literals("event_uuid = ").is_empty());
        // Dates, event names, negations and ranges say nothing about a person.
        assert_eq!(
            predicate_literals(
                "(user_id = 'u-123' AND date >= '2026-01-01') AND event_name = 'account:created' \
                 AND NOT (email = 'x@y.z') AND country <> 'FR' AND e.user_id = 'u-456'"
            ),
            ["u-123", "u-456"]
        );
    }

    #[test]
    fn raw_bytes_match_a_uuid_or_a_literal() {
        let uuids = BTreeMap::from([("0f8e-uuid".to_owned(), BTreeSet::from([1]))]);
        let m = Matcher::new(uuids, vec!["a-123".into()]);
        assert!(m.erases_uuid("0f8e-uuid") && !m.erases_uuid("other"));
        assert!(m.erases_raw(br#"{"event_uuid":"0f8e-uuid""#));
        assert!(m.erases_raw(br#"{"account_id":"a-123"}"#));
        assert!(!m.erases_raw(br#"{"account_id":"a-124"}"#));
        assert!(
            !m.erases_raw(br#"{"account_id":"a-1234"}"#),
            "a whole string, not a prefix"
        );
    }
}
