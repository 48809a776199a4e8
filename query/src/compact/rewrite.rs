//! The data side of compaction, synchronous and in memory: a partition's files are read,
//! conformed to the table's schema, sorted (by `created_at`, or arrival for quarantine),
//! cut into files of about the target size and encoded with the pipeline's own Parquet
//! encoder (zstd, page statistics, bloom filter on `event_uuid`).

use crate::error::QueryError;
use arrow::array::{ArrayRef, new_null_array};
use arrow::compute::{SortOptions, concat_batches, sort_to_indices, take_record_batch};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use ingest::encode::{ParquetOptions, encode_parquet};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use schemas::columns;

/// All rows of the given Parquet files, in `schema` (columns missing from an older file are
/// null; a column the schema does not know is an error: the file is newer than this build).
pub fn read_rows(files: &[(String, Bytes)], schema: &SchemaRef) -> Result<RecordBatch, QueryError> {
    let mut batches = Vec::new();
    for (path, bytes) in files {
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes.clone())
            .and_then(|b| b.build())
            .map_err(|e| QueryError::Store(format!("reading {path}: {e}")))?;
        for batch in reader {
            batches.push(conform(&batch?, schema, path)?);
        }
    }
    Ok(concat_batches(schema, &batches)?)
}

fn conform(batch: &RecordBatch, schema: &SchemaRef, path: &str) -> Result<RecordBatch, QueryError> {
    if let Some(unknown) = batch
        .schema()
        .fields()
        .iter()
        .find(|f| schema.field_with_name(f.name()).is_err())
    {
        return Err(QueryError::Usage(format!(
            "{path} has a column {:?} this build's schema registry does not know; upgrade lakeq",
            unknown.name()
        )));
    }
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(column) if column.data_type() == field.data_type() => Ok(column.clone()),
            Some(column) => Ok(arrow::compute::cast(column, field.data_type())?),
            None => Ok(new_null_array(field.data_type(), batch.num_rows())),
        })
        .collect::<Result<_, QueryError>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Sorts by `created_at` where the table has it, else by arrival time.
pub fn sort_rows(rows: &RecordBatch) -> Result<RecordBatch, QueryError> {
    let key = [columns::CREATED_AT, columns::ARRIVAL_TIME]
        .into_iter()
        .find_map(|name| rows.column_by_name(name));
    let Some(key) = key else {
        return Ok(rows.clone());
    };
    let options = SortOptions {
        descending: false,
        nulls_first: false,
    };
    let indices = sort_to_indices(key, Some(options), None)?;
    Ok(take_record_batch(rows, &indices)?)
}

/// Cuts sorted rows into `files` nearly equal slices and encodes each.
pub fn encode_outputs(
    rows: &RecordBatch,
    files: usize,
    options: ParquetOptions,
) -> Result<Vec<Bytes>, QueryError> {
    let files = files.clamp(1, rows.num_rows().max(1));
    let per_file = rows.num_rows().div_ceil(files).max(1);
    let mut out = Vec::with_capacity(files);
    let mut offset = 0;
    while offset < rows.num_rows() || (offset == 0 && out.is_empty()) {
        let len = per_file.min(rows.num_rows() - offset);
        out.push(encode_parquet(&rows.slice(offset, len), options)?);
        offset += len;
        if len == 0 {
            break;
        }
    }
    Ok(out)
}
