//! `lakeq dups`: duplicate metrics. Records seen (events + duplicates), unique events,
//! duplicates and the duplicate rate, overall, per event type and per date; the time between
//! an original's arrival and its copies'; the most re-sent uuids; and the residual check:
//! an `event_uuid` present twice in `events` within a date breaks the guarantee.

use super::{Report, add, first_u64, query};
use crate::error::QueryError;
use crate::session::LakeSession;

/// The report, and the residual count that `--check` turns into the exit status.
#[derive(Debug, Clone)]
pub struct DupsReport {
    pub report: Report,
    /// (event_uuid, date) pairs with more than one row in `events`; must be zero.
    pub residual_duplicates: u64,
}

const SEEN_BY: &str = "SELECT {key}, count(*) AS records_seen, sum(is_event) AS unique_events, \
     sum(1 - is_event) AS duplicates, CAST(sum(1 - is_event) AS DOUBLE) / count(*) AS duplicate_rate \
     FROM (SELECT {key}, 1 AS is_event FROM events UNION ALL SELECT {key}, 0 AS is_event FROM duplicates) \
     GROUP BY {key} ORDER BY {key}";

async fn erased_section(session: &LakeSession) -> Result<arrow::record_batch::RecordBatch, QueryError> {
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let erasures = crate::erase::audit::list(&session.lake).await?.len() as i64;
    let resends = crate::erase::audit::erased_resends(&session.lake).await? as i64;
    Ok(arrow::record_batch::RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("erasures", DataType::Int64, false),
            Field::new("erased_resends", DataType::Int64, false),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![erasures])),
            Arc::new(Int64Array::from(vec![resends])),
        ],
    )?)
}

pub async fn dups(session: &LakeSession, top: usize) -> Result<DupsReport, QueryError> {
    let mut report = Report::default();
    add(
        &mut report,
        session,
        "overall",
        "Duplicates overall",
        "SELECT e.n + d.n AS records_seen, e.n AS unique_events, d.n AS duplicates, \
         CASE WHEN e.n + d.n = 0 THEN 0.0 ELSE CAST(d.n AS DOUBLE) / (e.n + d.n) END AS duplicate_rate \
         FROM (SELECT count(*) AS n FROM events) e, (SELECT count(*) AS n FROM duplicates) d",
    )
    .await?;
    add(
        &mut report,
        session,
        "by_event_type",
        "By event type",
        &SEEN_BY.replace("{key}", "event_type"),
    )
    .await?;
    add(
        &mut report,
        session,
        "by_date",
        "By date (of created_at, UTC)",
        &SEEN_BY.replace("{key}", "date"),
    )
    .await?;
    add(
        &mut report,
        session,
        "delay",
        "Time from the original's arrival to a copy's",
        "SELECT count(*) AS copies, min(s) AS min_seconds, median(s) AS median_seconds, \
         approx_percentile_cont(0.99) WITHIN GROUP (ORDER BY s) AS p99_seconds, max(s) AS max_seconds \
         FROM (SELECT (CAST(d.arrival_time AS BIGINT) - CAST(e.arrival_time AS BIGINT)) / 1e6 AS s \
               FROM duplicates d JOIN events e \
               ON d.event_uuid = e.event_uuid AND d.event_type = e.event_type AND d.date = e.date)",
    )
    .await?;
    add(
        &mut report,
        session,
        "most_duplicated",
        "Most re-sent events",
        &format!(
            "SELECT event_uuid, min(event_name) AS event_name, count(*) + 1 AS copies \
             FROM duplicates GROUP BY event_uuid ORDER BY copies DESC, event_uuid LIMIT {top}"
        ),
    )
    .await?;
    let residual = query(
        session,
        "SELECT count(*) AS residual_duplicates FROM \
         (SELECT event_uuid FROM events GROUP BY event_uuid, date HAVING count(*) > 1)",
    )
    .await?;
    let residual_duplicates = first_u64(&residual, "residual_duplicates");
    report.sections.push(super::Section {
        name: "residual",
        title: "Residual check (event_uuid twice in events within a date; must be 0)",
        rows: residual,
    });
    report.sections.push(super::Section {
        name: "erased",
        title: "Erasures (lakeq erase) and re-sends of erased events (counted, not stored)",
        rows: erased_section(session).await?,
    });
    Ok(DupsReport {
        report,
        residual_duplicates,
    })
}
