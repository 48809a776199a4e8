//! Query results for people (aligned tables) and for scripts (CSV, JSON, NDJSON).

use crate::error::QueryError;
use clap::ValueEnum;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
    Ndjson,
}

/// Renders batches in one of the output formats.
pub fn render(batches: &[RecordBatch], format: OutputFormat) -> Result<String, QueryError> {
    let err = |e: ArrowError| QueryError::Output(e.to_string());
    let bytes = match format {
        OutputFormat::Table => return Ok(format!("{}\n", pretty_format_batches(batches).map_err(err)?)),
        OutputFormat::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(Vec::new());
            for b in batches {
                writer.write(b).map_err(err)?;
            }
            writer.into_inner()
        }
        OutputFormat::Json => {
            let mut writer = arrow::json::ArrayWriter::new(Vec::new());
            for b in batches {
                writer.write(b).map_err(err)?;
            }
            writer.finish().map_err(err)?;
            let mut out = writer.into_inner();
            if out.is_empty() {
                out.extend_from_slice(b"[]");
            }
            out.push(b'\n');
            out
        }
        OutputFormat::Ndjson => {
            let mut writer = arrow::json::LineDelimitedWriter::new(Vec::new());
            for b in batches {
                writer.write(b).map_err(err)?;
            }
            writer.finish().map_err(err)?;
            writer.into_inner()
        }
    };
    String::from_utf8(bytes).map_err(|e| QueryError::Output(e.to_string()))
}
