//! The `lakeq` reports: duplicate metrics ([`dups`]), input quality ([`quality`]) and files
//! per partition ([`stats`]). Each is a [`Report`]: named sections of rows, rendered for
//! people (aligned tables, numbers with units) or scripts (JSON, NDJSON, CSV).

pub mod dups;
pub mod quality;
pub mod render;
pub mod stats;

use crate::error::QueryError;
use crate::session::LakeSession;
use arrow::record_batch::RecordBatch;

/// One table of a report.
#[derive(Debug, Clone)]
pub struct Section {
    /// The key in JSON output.
    pub name: &'static str,
    /// The heading for people.
    pub title: &'static str,
    pub rows: RecordBatch,
}

/// A report: sections in order.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub sections: Vec<Section>,
}

impl Report {
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }
}

/// Runs one SQL statement and returns its rows as a single batch.
pub(crate) async fn query(session: &LakeSession, sql: &str) -> Result<RecordBatch, QueryError> {
    let frame = session.ctx.sql(sql).await?;
    let schema = frame.schema().inner().clone();
    let batches = frame.collect().await?;
    Ok(arrow::compute::concat_batches(&schema, &batches)?)
}

/// Adds a section from a SQL statement.
pub(crate) async fn add(
    report: &mut Report,
    session: &LakeSession,
    name: &'static str,
    title: &'static str,
    sql: &str,
) -> Result<(), QueryError> {
    let rows = query(session, sql).await?;
    report.sections.push(Section { name, title, rows });
    Ok(())
}

/// The first row's value of an integer column (counts), 0 when absent.
pub(crate) fn first_u64(batch: &RecordBatch, column: &str) -> u64 {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Int64Type;
    batch
        .column_by_name(column)
        .and_then(|c| {
            let c = arrow::compute::cast(c, &arrow::datatypes::DataType::Int64).ok()?;
            let ints = c.as_primitive::<Int64Type>();
            (!ints.is_empty() && ints.is_valid(0)).then(|| ints.value(0).max(0) as u64)
        })
        .unwrap_or(0)
}
