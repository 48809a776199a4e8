//! Finds what an erasure removes: the uuids whose rows in `events` or `duplicates` match the
//! predicate (or are listed), with the partitions and dates they live under. DataFusion
//! prunes partitions from the predicate and row groups by statistics and by the bloom filter
//! on `event_uuid`, so an erasure by uuid reads few files.

use super::matcher::{Matcher, predicate_literals};
use crate::error::QueryError;
use crate::session::LakeSession;
use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Int32Type, Schema};
use datafusion::datasource::MemTable;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The table of listed uuids the query joins against, when there are too many to inline.
const LISTED: &str = "erase_listed_uuids";
const INLINE_UUIDS: usize = 1_000;

/// What matched: the matcher, and the partition directories (`events/event_type=t/date=d`,
/// and the same under `duplicates/`) that hold the rows.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub matcher: Matcher,
    pub partitions: BTreeSet<String>,
    /// Rows that matched in `events` and `duplicates`.
    pub rows: u64,
}

/// Runs the predicate (and/or the listed uuids) over `events` and `duplicates`, then finds
/// every row of the uuids it matched, wherever they are (a copy whose payload the predicate
/// does not match is erased too).
pub async fn find(
    session: &LakeSession,
    predicate: Option<&str>,
    listed: &[String],
) -> Result<Found, QueryError> {
    let mut conditions = Vec::new();
    if let Some(predicate) = predicate {
        check_predicate(predicate)?;
        conditions.push(format!("({predicate})"));
    }
    if !listed.is_empty() {
        conditions.push(uuid_condition(session, listed)?);
    }
    if conditions.is_empty() {
        return Err(QueryError::Usage(
            "erase needs --where PREDICATE or --uuids FILE (or both)".into(),
        ));
    }
    let mut found = Found::default();
    let mut uuids: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    found.rows = select(
        session,
        &conditions.join(" OR "),
        &mut uuids,
        &mut found.partitions,
    )
    .await?;
    if predicate.is_some() && !uuids.is_empty() {
        let all: Vec<String> = uuids.keys().cloned().collect();
        let condition = uuid_condition(session, &all)?;
        select(session, &condition, &mut uuids, &mut found.partitions).await?;
    }
    // A listed uuid with no row in events or duplicates may still be in quarantine or in a
    // manifest: it is erased there too (it has no ledger claim to mark).
    for uuid in listed {
        uuids.entry(uuid.clone()).or_default();
    }
    let literals = predicate.map(predicate_literals).unwrap_or_default();
    found.matcher = Matcher::new(uuids, literals);
    Ok(found)
}

/// `event_uuid IN (...)`: literals up to [`INLINE_UUIDS`] (so DataFusion prunes row groups by
/// statistics and bloom filters), a registered table of them beyond.
fn uuid_condition(session: &LakeSession, uuids: &[String]) -> Result<String, QueryError> {
    if uuids.len() <= INLINE_UUIDS {
        let quoted: Vec<String> = uuids
            .iter()
            .map(|u| format!("'{}'", u.replace('\'', "''")))
            .collect();
        return Ok(format!("event_uuid IN ({})", quoted.join(", ")));
    }
    let schema = Arc::new(Schema::new(vec![Field::new("event_uuid", DataType::Utf8, false)]));
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(uuids.to_vec()))])?;
    let table = MemTable::try_new(schema, vec![vec![batch]])?;
    session.ctx.deregister_table(LISTED)?;
    session.ctx.register_table(LISTED, Arc::new(table))?;
    Ok(format!("event_uuid IN (SELECT event_uuid FROM {LISTED})"))
}

/// The rows of events and duplicates that meet `condition`: their uuids with their dates, and
/// their partition directories. Returns how many rows met it.
async fn select(
    session: &LakeSession,
    condition: &str,
    uuids: &mut BTreeMap<String, BTreeSet<i32>>,
    partitions: &mut BTreeSet<String>,
) -> Result<u64, QueryError> {
    let select = |table: &str| {
        format!(
            "SELECT '{table}' AS tbl, event_uuid, event_type, CAST(date AS INT) AS day \
             FROM {table} WHERE {condition}"
        )
    };
    let sql = format!("{} UNION ALL {}", select("events"), select("duplicates"));
    // Through the session's statement runner: an unknown column is named with close matches.
    let batches = session.run_statements(&sql).await;
    session.ctx.deregister_table(LISTED)?;
    let batches: Vec<RecordBatch> = batches?.into_iter().flatten().collect();
    let mut rows = 0;
    for batch in &batches {
        let table = batch.column(0).as_string::<i32>();
        let uuid = batch.column(1).as_string::<i32>();
        let event_type = batch.column(2).as_string::<i32>();
        let day = batch.column(3).as_primitive::<Int32Type>();
        for row in 0..batch.num_rows() {
            rows += 1;
            if uuid.is_null(row) || day.is_null(row) {
                continue;
            }
            let date = date_text(day.value(row));
            partitions.insert(format!(
                "{}/event_type={}/date={date}",
                table.value(row),
                event_type.value(row)
            ));
            uuids
                .entry(uuid.value(row).to_owned())
                .or_default()
                .insert(day.value(row));
        }
    }
    Ok(rows)
}

/// The predicate alone must be one SQL expression (so it cannot close the query around it),
/// with the parser's message about the predicate itself when it is not.
fn check_predicate(predicate: &str) -> Result<(), QueryError> {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    use datafusion::sql::sqlparser::tokenizer::Token;
    let bad = |message: String| {
        QueryError::Usage(format!(
            "--where {predicate:?} is not one SQL predicate: {message}; write one such as account_id = 'a-123'"
        ))
    };
    let mut parser = Parser::new(&GenericDialect {})
        .try_with_sql(predicate)
        .map_err(|e| bad(e.to_string()))?;
    parser.parse_expr().map_err(|e| bad(e.to_string()))?;
    match parser.peek_token().token {
        Token::EOF => Ok(()),
        token => Err(bad(format!("unexpected {token} after the expression"))),
    }
}

/// `YYYY-MM-DD` of a day number, as the partition directories spell it.
pub fn date_text(day: i32) -> String {
    schemas::PartitionDate::from_unix_seconds(i64::from(day) * 86_400)
        .map(|d| d.to_string())
        .unwrap_or_default()
}
