//! `lakeq quality`: what a data lead asks of the input. Quarantined records by reason and
//! their share of all records; events whose name has no schema (all their fields land in
//! `extra`); declared fields that fell back to `extra` because their value did not fit the
//! declared type; arrival lag (arrival − created_at); events created in the future (more
//! than 5 minutes after they arrived) or long before (more than 7 days).

use super::{Report, Section, add};
use crate::error::QueryError;
use crate::extra::for_each_extra;
use crate::session::LakeSession;
use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use schemas::Registry;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Created more than this after arrival: a producer clock in the future.
pub const FUTURE_TOLERANCE_SECONDS: i64 = 300;
/// Created more than this before arrival: a late replay or a wrong clock.
pub const FAR_PAST_SECONDS: i64 = 7 * 86_400;

pub async fn quality(session: &LakeSession, registry: &Registry) -> Result<Report, QueryError> {
    register_event_names(session, registry)?;
    let mut report = Report::default();
    add(
        &mut report,
        session,
        "quarantine",
        "Quarantined records",
        "SELECT t.total AS records_in, q.n AS quarantined, \
         CASE WHEN t.total = 0 THEN 0.0 ELSE CAST(q.n AS DOUBLE) / t.total END AS quarantine_rate \
         FROM (SELECT count(*) AS n FROM quarantine) q, \
              (SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM duplicates) \
                    + (SELECT count(*) FROM quarantine) AS total) t",
    )
    .await?;
    add(
        &mut report,
        session,
        "quarantine_by_reason",
        "Quarantined by reason",
        "SELECT reason, count(*) AS records, CAST(count(*) AS DOUBLE) / max(t.total) AS input_rate \
         FROM quarantine, (SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM duplicates) \
                                + (SELECT count(*) FROM quarantine) AS total) t \
         GROUP BY reason ORDER BY records DESC, reason",
    )
    .await?;
    add(
        &mut report,
        session,
        "unknown_event_names",
        "Events with no schema (every field in extra)",
        "SELECT event_name, count(*) AS events FROM events \
         WHERE event_name NOT IN (SELECT event_name FROM registry_event_names) \
         GROUP BY event_name ORDER BY events DESC, event_name",
    )
    .await?;
    report.sections.push(Section {
        name: "declared_fields_in_extra",
        title: "Declared fields whose value did not fit their type (kept in extra)",
        rows: declared_fields_in_extra(session, registry).await?,
    });
    let lag = "(CAST(arrival_time AS BIGINT) - CAST(created_datetime AS BIGINT)) / 1e6";
    add(
        &mut report,
        session,
        "arrival_lag",
        "Arrival lag (arrival time − created_at)",
        &format!(
            "SELECT count(*) AS events, min(s) AS min_seconds, median(s) AS median_seconds, \
             approx_percentile_cont(0.99) WITHIN GROUP (ORDER BY s) AS p99_seconds, max(s) AS max_seconds \
             FROM (SELECT {lag} AS s FROM events)"
        ),
    )
    .await?;
    add(
        &mut report,
        session,
        "timing",
        "Events dated in the future (> 5 min after arrival) or far past (> 7 days before)",
        &format!(
            "SELECT count(*) AS events, \
             sum(CASE WHEN s < -{FUTURE_TOLERANCE_SECONDS} THEN 1 ELSE 0 END) AS in_future, \
             sum(CASE WHEN s > {FAR_PAST_SECONDS} THEN 1 ELSE 0 END) AS far_past \
             FROM (SELECT {lag} AS s FROM events)"
        ),
    )
    .await?;
    Ok(report)
}

fn register_event_names(session: &LakeSession, registry: &Registry) -> Result<(), QueryError> {
    if session.ctx.table_exist("registry_event_names")? {
        return Ok(());
    }
    let names: Vec<&str> = registry.events().map(|e| e.event_name.as_str()).collect();
    let schema = Arc::new(Schema::new(vec![Field::new("event_name", DataType::Utf8, false)]));
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(names))])?;
    let table = MemTable::try_new(schema, vec![vec![batch]])?;
    session
        .ctx
        .register_table("registry_event_names", Arc::new(table))?;
    Ok(())
}

/// Counts, per (event name, field), declared fields found in `extra`: a value that did not
/// fit the declared type. Scans `extra` in Rust (one JSON parse per non-empty value).
async fn declared_fields_in_extra(
    session: &LakeSession,
    registry: &Registry,
) -> Result<RecordBatch, QueryError> {
    let frame = session
        .ctx
        .sql("SELECT event_name, extra FROM events WHERE extra IS NOT NULL AND extra <> '{}'")
        .await?;
    let mut counts: BTreeMap<(String, String), i64> = BTreeMap::new();
    for_each_extra(frame, |name, extra| {
        let Some(schema) = registry.event(name) else {
            return;
        };
        for key in extra.keys().filter(|k| schema.fields.contains_key(k.as_str())) {
            *counts.entry((name.to_owned(), key.clone())).or_default() += 1;
        }
    })
    .await?;
    let mut rows: Vec<((String, String), i64)> = counts.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let schema = Arc::new(Schema::new(vec![
        Field::new("event_name", DataType::Utf8, false),
        Field::new("field", DataType::Utf8, false),
        Field::new("events", DataType::Int64, false),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0.0.as_str()))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0.1.as_str()))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
        ],
    )?)
}
