//! Streams the `events` table's `extra` column: each event's name with its `extra` JSON
//! object, one batch at a time (never the whole table in memory). Rows whose name or `extra`
//! is null, or whose `extra` is not a JSON object, are passed over.

use crate::error::QueryError;
use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use datafusion::prelude::DataFrame;
use futures::StreamExt;
use serde_json::{Map, Value};

/// Calls `visit(event_name, extra)` for each row of `frame`, whose first two columns are
/// `event_name` and `extra`.
pub async fn for_each_extra(
    frame: DataFrame,
    mut visit: impl FnMut(&str, &Map<String, Value>),
) -> Result<(), QueryError> {
    let mut stream = frame.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let names = arrow::compute::cast(batch.column(0), &DataType::Utf8)?;
        let extras = arrow::compute::cast(batch.column(1), &DataType::Utf8)?;
        let (names, extras) = (names.as_string::<i32>(), extras.as_string::<i32>());
        for row in 0..batch.num_rows() {
            if names.is_null(row) || extras.is_null(row) {
                continue;
            }
            // `str::parse` runs serde_json's own compiled parser; `serde_json::from_str` would
            // compile one here, at this crate's opt-level (Cargo.toml).
            if let Ok(Value::Object(map)) = extras.value(row).parse::<Value>() {
                visit(names.value(row), &map);
            }
        }
    }
    Ok(())
}
