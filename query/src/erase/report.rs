//! An erasure's summary and the audit log as reports (table, CSV or JSON like the others).

use super::EraseSummary;
use super::audit::AuditEntry;
use crate::error::QueryError;
use crate::reports::{Report, Section};
use arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{Field, Schema};
use arrow::record_batch::RecordBatch;
use ingest::storage::TableKind;
use std::sync::Arc;

/// Builds a batch from named columns.
fn batch(columns: Vec<(&str, ArrayRef)>) -> Result<RecordBatch, QueryError> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
        .collect();
    let arrays = columns.into_iter().map(|(_, a)| a).collect();
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

fn ints(values: impl IntoIterator<Item = u64>) -> ArrayRef {
    Arc::new(Int64Array::from_iter_values(values.into_iter().map(|v| v as i64)))
}

fn texts<'a>(values: impl IntoIterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

impl EraseSummary {
    pub fn report(&self) -> Result<Report, QueryError> {
        let mode = if self.dry_run { "dry run" } else { "erased" };
        let totals = batch(vec![
            ("mode", texts([mode])),
            ("erasure_id", texts([self.erasure_id.as_str()])),
            ("uuids", ints([self.uuids])),
            ("events_rows", ints([self.rows(TableKind::Events)])),
            ("duplicates_rows", ints([self.rows(TableKind::Duplicates)])),
            ("quarantine_rows", ints([self.rows(TableKind::Quarantine)])),
            ("files", ints([self.files.len() as u64])),
            ("manifests", ints([self.manifests_rewritten])),
            ("manifest_records", ints([self.manifest_records])),
            ("chains_marked", ints([self.chains_marked])),
            ("partitions_busy", ints([self.partitions_busy])),
        ])?;
        let f = &self.files;
        let files = batch(vec![
            ("table", texts(f.iter().map(|x| x.table.as_str()))),
            ("partition", texts(f.iter().map(|x| x.partition.as_str()))),
            (
                "file",
                texts(f.iter().map(|x| x.file.rsplit('/').next().unwrap_or_default())),
            ),
            ("rows_before", ints(f.iter().map(|x| x.rows_before))),
            ("rows_erased", ints(f.iter().map(|x| x.rows_erased))),
        ])?;
        Ok(Report {
            sections: vec![
                Section {
                    name: "summary",
                    title: "Erasure",
                    rows: totals,
                },
                Section {
                    name: "files",
                    title: "Files rewritten",
                    rows: files,
                },
            ],
        })
    }
}

/// `lakeq erasures`: one row per audit entry.
pub fn audit_report(entries: &[AuditEntry]) -> Result<Report, QueryError> {
    let e = entries;
    let time = |values: Vec<Option<i64>>| -> ArrayRef {
        Arc::new(TimestampMillisecondArray::from(values).with_timezone("UTC"))
    };
    let rows = batch(vec![
        ("erasure_id", texts(e.iter().map(|x| x.erasure_id.as_str()))),
        ("status", texts(e.iter().map(|x| x.status.as_str()))),
        (
            "started_at",
            time(e.iter().map(|x| Some(x.started_at_millis)).collect()),
        ),
        (
            "finished_at",
            time(e.iter().map(|x| x.finished_at_millis).collect()),
        ),
        ("reason", texts(e.iter().map(|x| x.reason.as_str()))),
        (
            "predicate_sha256",
            texts(e.iter().map(|x| x.predicate_sha256.as_str())),
        ),
        ("uuids", ints(e.iter().map(|x| x.uuids))),
        ("events_rows", ints(e.iter().map(|x| x.events_rows))),
        ("duplicates_rows", ints(e.iter().map(|x| x.duplicates_rows))),
        ("quarantine_rows", ints(e.iter().map(|x| x.quarantine_rows))),
        ("manifest_records", ints(e.iter().map(|x| x.manifest_records))),
        ("files_rewritten", ints(e.iter().map(|x| x.files_rewritten))),
    ])?;
    Ok(Report {
        sections: vec![Section {
            name: "erasures",
            title: "Erasures",
            rows,
        }],
    })
}
