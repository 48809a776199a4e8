//! `lakeq schema` output: suggestions as aligned tables followed by each proposed document
//! (for people) or as one JSON object (for scripts); the evolution check's accepted changes
//! one per line. Invariant: the documents printed are byte for byte what `--out` writes.

use super::suggest::{ProposedField, SkippedField, Status, SuggestReport};
use crate::error::QueryError;
use crate::output::OutputFormat;
use crate::reports::render::aligned;
use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array};
use schemas::evolution::Change;
use std::sync::Arc;

/// The suggestions in `table` or `json` format.
pub fn render_suggestions(report: &SuggestReport, format: OutputFormat) -> Result<String, QueryError> {
    match format {
        OutputFormat::Table => suggestion_tables(report),
        OutputFormat::Json => serde_json::to_string_pretty(report)
            .map(|text| text + "\n")
            .map_err(|e| QueryError::Output(e.to_string())),
        OutputFormat::Csv | OutputFormat::Ndjson => Err(QueryError::Usage(
            "lakeq schema suggest prints --format table or json".to_owned(),
        )),
    }
}

fn suggestion_tables(report: &SuggestReport) -> Result<String, QueryError> {
    if report.suggestions.is_empty() && report.skipped.is_empty() {
        return Ok("No undeclared fields or unknown event names in extra: nothing to suggest.\n".to_owned());
    }
    let mut out = String::new();
    for suggestion in &report.suggestions {
        let action = match suggestion.status {
            Status::New => "new document",
            Status::Extends => "adds to",
        };
        out.push_str(&format!(
            "{}: {action} {} ({} events)\n",
            suggestion.event_name, suggestion.file, suggestion.events
        ));
        out.push_str(&aligned(&proposed_rows(&suggestion.added)?));
        out.push_str(&suggestion.document_text()?);
        out.push('\n');
    }
    if !report.skipped.is_empty() {
        out.push_str("Fields left out (cannot be declared as sent)\n");
        out.push_str(&aligned(&skipped_rows(&report.skipped)?));
    }
    Ok(out)
}

fn proposed_rows(fields: &[ProposedField]) -> Result<RecordBatch, QueryError> {
    let notes = fields.iter().map(|f| f.note.as_deref());
    Ok(RecordBatch::try_from_iter([
        ("field", texts(fields.iter().map(|f| Some(f.name.as_str())))),
        ("type", texts(fields.iter().map(|f| Some(f.field_type.name())))),
        (
            "events",
            Arc::new(UInt64Array::from_iter_values(fields.iter().map(|f| f.events))) as ArrayRef,
        ),
        (
            "frequency_rate",
            Arc::new(Float64Array::from_iter_values(fields.iter().map(|f| f.frequency))) as ArrayRef,
        ),
        ("note", texts(notes)),
    ])?)
}

fn skipped_rows(fields: &[SkippedField]) -> Result<RecordBatch, QueryError> {
    Ok(RecordBatch::try_from_iter([
        (
            "event_name",
            texts(fields.iter().map(|f| Some(f.event_name.as_str()))),
        ),
        ("field", texts(fields.iter().map(|f| Some(f.name.as_str())))),
        (
            "events",
            Arc::new(UInt64Array::from_iter_values(fields.iter().map(|f| f.events))) as ArrayRef,
        ),
        ("reason", texts(fields.iter().map(|f| Some(f.reason.as_str())))),
    ])?)
}

fn texts<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(values.collect::<StringArray>())
}

/// The accepted changes of an evolution check, one per line.
pub fn render_changes(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "registry unchanged\n".to_owned();
    }
    let mut out = format!("registry evolution accepted ({} additions):\n", changes.len());
    for change in changes {
        out.push_str(&format!("  {change}\n"));
    }
    out
}
