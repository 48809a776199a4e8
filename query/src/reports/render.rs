//! Reports for people and for scripts. For people, every value is formatted by what its
//! column holds, named by suffix: `*_rate` as a percentage, `*_seconds` as a duration,
//! `*bytes` in binary units, counts with thousands separators; text is left-aligned and
//! numbers right-aligned. For scripts, the raw values: JSON (one object of sections), NDJSON
//! (one row per line, with its section) or CSV (one block per section).

use super::Report;
use crate::error::QueryError;
use crate::output::OutputFormat;
use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use arrow::record_batch::RecordBatch;
use arrow::util::display::array_value_to_string;
use ingest::display::{human_bytes, thousands};
use serde_json::{Map, Value};

pub fn render_report(report: &Report, format: OutputFormat) -> Result<String, QueryError> {
    match format {
        OutputFormat::Table => Ok(tables(report)),
        OutputFormat::Json => {
            let mut doc = Map::new();
            for section in &report.sections {
                doc.insert(section.name.to_owned(), Value::Array(json_rows(&section.rows)?));
            }
            Ok(format!("{}\n", Value::Object(doc)))
        }
        OutputFormat::Ndjson => {
            let mut out = String::new();
            for section in &report.sections {
                for mut row in json_rows(&section.rows)? {
                    if let Value::Object(map) = &mut row {
                        map.insert("section".into(), Value::String(section.name.into()));
                    }
                    out.push_str(&row.to_string());
                    out.push('\n');
                }
            }
            Ok(out)
        }
        OutputFormat::Csv => {
            let mut out = String::new();
            for section in &report.sections {
                out.push_str(&format!("# {}\n", section.name));
                out.push_str(&crate::output::render(
                    std::slice::from_ref(&section.rows),
                    OutputFormat::Csv,
                )?);
            }
            Ok(out)
        }
    }
}

fn json_rows(batch: &RecordBatch) -> Result<Vec<Value>, QueryError> {
    let mut writer = arrow::json::ArrayWriter::new(Vec::new());
    writer.write(batch)?;
    writer.finish()?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&bytes).map_err(|e| QueryError::Output(e.to_string()))
}

fn tables(report: &Report) -> String {
    let mut out = String::new();
    for (i, section) in report.sections.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(section.title);
        out.push('\n');
        out.push_str(&aligned(&section.rows));
    }
    out
}

/// One batch as an aligned text table.
pub fn aligned(batch: &RecordBatch) -> String {
    let schema = batch.schema();
    let headers: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| f.name().replace('_', " "))
        .collect();
    let numeric: Vec<bool> = schema
        .fields()
        .iter()
        .map(|f| f.data_type().is_numeric())
        .collect();
    let cells: Vec<Vec<String>> = (0..batch.num_rows())
        .map(|row| {
            schema
                .fields()
                .iter()
                .enumerate()
                .map(|(col, field)| cell(batch.column(col), field.name(), row))
                .collect()
        })
        .collect();
    if cells.is_empty() {
        return "  (none)\n".into();
    }
    let widths: Vec<usize> = (0..headers.len())
        .map(|col| {
            cells
                .iter()
                .map(|r| r[col].chars().count())
                .chain([headers[col].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: &[String]| {
        let parts: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(col, v)| {
                let w = widths[col];
                if numeric[col] {
                    format!("{v:>w$}")
                } else {
                    format!("{v:<w$}")
                }
            })
            .collect();
        format!("  {}\n", parts.join("  ").trim_end())
    };
    let mut out = line(&headers);
    for row in &cells {
        out.push_str(&line(row));
    }
    out
}

/// One value for people, formatted by its column's name and type.
fn cell(array: &dyn Array, name: &str, row: usize) -> String {
    if array.is_null(row) {
        return "-".into();
    }
    let float = || -> Option<f64> {
        let cast = arrow::compute::cast(&array.slice(row, 1), &DataType::Float64).ok()?;
        Some(cast.as_primitive::<Float64Type>().value(0))
    };
    let int = || -> Option<i64> {
        let cast = arrow::compute::cast(&array.slice(row, 1), &DataType::Int64).ok()?;
        Some(cast.as_primitive::<Int64Type>().value(0))
    };
    let data_type = array.data_type();
    if data_type.is_numeric() {
        if name.ends_with("_rate") {
            return float().map_or_else(String::new, |v| format!("{:.2} %", v * 100.0));
        }
        if name.ends_with("_seconds") {
            return float().map_or_else(String::new, duration);
        }
        if name.contains("bytes") {
            return int().map_or_else(String::new, |v| human_bytes(v.max(0) as u64));
        }
        if data_type.is_integer() {
            return int().map_or_else(String::new, |v| {
                if v < 0 {
                    format!("-{}", thousands(v.unsigned_abs()))
                } else {
                    thousands(v as u64)
                }
            });
        }
        return float().map_or_else(String::new, |v| format!("{v:.2}"));
    }
    array_value_to_string(array, row).unwrap_or_default()
}

/// Seconds with a unit that fits: `0.25 s`, `42.0 s`, `3.5 min`, `2.0 h`, `3.2 d`.
pub fn duration(seconds: f64) -> String {
    let abs = seconds.abs();
    if abs < 10.0 {
        format!("{seconds:.2} s")
    } else if abs < 120.0 {
        format!("{seconds:.1} s")
    } else if abs < 7200.0 {
        format!("{:.1} min", seconds / 60.0)
    } else if abs < 172_800.0 {
        format!("{:.1} h", seconds / 3600.0)
    } else {
        format!("{:.1} d", seconds / 86_400.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, Int64Array, StringArray};
    use std::sync::Arc;

    #[test]
    fn values_get_units_by_column_name() {
        let batch = RecordBatch::try_from_iter([
            (
                "event_type",
                Arc::new(StringArray::from(vec!["payment", "account"])) as _,
            ),
            ("records", Arc::new(Int64Array::from(vec![1_234_567, 8])) as _),
            (
                "duplicate_rate",
                Arc::new(Float64Array::from(vec![0.0512, 0.0])) as _,
            ),
            (
                "median_seconds",
                Arc::new(Float64Array::from(vec![3.25, 5400.0])) as _,
            ),
            ("bytes", Arc::new(Int64Array::from(vec![1536, 10])) as _),
        ])
        .expect("batch");
        let text = aligned(&batch);
        assert_eq!(
            text,
            "  event type    records  duplicate rate  median seconds    bytes\n  \
             payment     1,234,567          5.12 %          3.25 s  1.5 KiB\n  \
             account             8          0.00 %        90.0 min     10 B\n"
        );
        assert_eq!(duration(90.0), "90.0 s");
        assert_eq!(duration(-1.5), "-1.50 s");
        assert_eq!(duration(400_000.0), "4.6 d");
    }
}
