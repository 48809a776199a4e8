//! Rewrites data files without the erased rows, through compaction's crash-safe protocol:
//! per partition a journal (create-only, so it also locks the partition against a
//! compaction), the new files (create-only), a marker per old file naming its replacement
//! (so a roll-forward of the batch that wrote it writes nothing), the old files' deletes,
//! the journal's delete. A file whose every row is erased is replaced by nothing. An
//! interrupted erase is finished or undone by the next `erase` or `compact`. A file of
//! `events` or `duplicates` is read whole only if its bloom filters on `event_uuid` say it
//! may hold an erased uuid.

use super::matcher::Matcher;
use crate::compact::journal::Journal;
use crate::compact::rewrite::read_rows;
use crate::error::QueryError;
use crate::files::{DataFile, Partition, footer};
use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, SchemaRef};
use bytes::Bytes;
use ingest::encode::{ParquetOptions, encode_parquet};
use ingest::storage::{Lake, TableKind};
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use parquet::bloom_filter::Sbbf;
use schemas::columns;

/// One file that holds erased rows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FilePlan {
    pub file: String,
    /// Its size when it was read: checked again once the partition is locked.
    #[serde(skip)]
    pub size: u64,
    pub rows_before: u64,
    pub rows_erased: u64,
}

/// A partition's files with erased rows, and what is kept of each.
#[derive(Debug)]
pub struct PartitionRewrite {
    pub partition: String,
    pub files: Vec<FilePlan>,
    kept: Vec<RecordBatch>,
}

/// Reads a partition's files and finds the erased rows; `None` when it has none.
pub async fn plan_partition(
    lake: &Lake,
    partition: &Partition,
    schema: &SchemaRef,
    matcher: &Matcher,
) -> Result<Option<PartitionRewrite>, QueryError> {
    let mut plan = PartitionRewrite {
        partition: partition.dir.clone(),
        files: Vec::new(),
        kept: Vec::new(),
    };
    for file in &partition.files {
        if partition.table != TableKind::Quarantine && !may_hold(lake, file, matcher).await? {
            continue;
        }
        let bytes = read(lake, file).await?;
        let rows = read_rows(&[(file.path.clone(), bytes)], schema)?;
        let keep = keep_mask(&rows, partition.table, matcher)?;
        let erased = keep.false_count() as u64;
        if erased > 0 {
            plan.files.push(FilePlan {
                file: file.path.clone(),
                size: file.size,
                rows_before: rows.num_rows() as u64,
                rows_erased: erased,
            });
            plan.kept.push(filter_record_batch(&rows, &keep)?);
        }
    }
    Ok((!plan.files.is_empty()).then_some(plan))
}

/// Whether a file may hold a row of an erased uuid, from its footer and its bloom filters on
/// `event_uuid` (a few ranged reads instead of the whole file). Without filters, or with more
/// uuids than are worth probing one by one, it may.
async fn may_hold(lake: &Lake, file: &DataFile, matcher: &Matcher) -> Result<bool, QueryError> {
    const MAX_PROBES: usize = 1_000;
    if matcher.uuids.len() > MAX_PROBES {
        return Ok(true);
    }
    let metadata = footer(lake, file).await?;
    let Some(column) = metadata
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.name() == columns::EVENT_UUID)
    else {
        return Ok(true);
    };
    let path = lake.path(&file.path);
    for row_group in metadata.row_groups() {
        let chunk = row_group.column(column);
        let (Some(offset), Some(length)) = (chunk.bloom_filter_offset(), chunk.bloom_filter_length()) else {
            return Ok(true);
        };
        let (start, end) = (offset.max(0) as u64, offset.max(0) as u64 + length.max(0) as u64);
        let bytes = lake
            .store
            .get_range(&path, start..end)
            .await
            .map_err(|e| QueryError::Store(format!("reading the bloom filter of {}: {e}", file.path)))?;
        let filter = Sbbf::from_bytes(&bytes)
            .map_err(|e| QueryError::Store(format!("reading the bloom filter of {}: {e}", file.path)))?;
        if matcher.uuids.keys().any(|uuid| filter.check(uuid.as_str())) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `true` for the rows that stay.
fn keep_mask(rows: &RecordBatch, table: TableKind, matcher: &Matcher) -> Result<BooleanArray, QueryError> {
    let missing = |name: &str| QueryError::Usage(format!("a {} file has no {name} column", table.dir()));
    if table == TableKind::Quarantine {
        let raw = rows
            .column_by_name(columns::RAW)
            .ok_or_else(|| missing(columns::RAW))?;
        let keep = match raw.data_type() {
            DataType::Binary => raw
                .as_binary::<i32>()
                .iter()
                .map(|v| Some(!v.is_some_and(|bytes| matcher.erases_raw(bytes))))
                .collect(),
            DataType::Utf8 => raw
                .as_string::<i32>()
                .iter()
                .map(|v| Some(!v.is_some_and(|text| matcher.erases_raw(text.as_bytes()))))
                .collect(),
            other => {
                return Err(QueryError::Usage(format!(
                    "quarantine raw column of type {other}"
                )));
            }
        };
        return Ok(keep);
    }
    let uuid = rows
        .column_by_name(columns::EVENT_UUID)
        .ok_or_else(|| missing(columns::EVENT_UUID))?;
    let uuid = uuid
        .as_string_opt::<i32>()
        .ok_or_else(|| missing(columns::EVENT_UUID))?;
    Ok((0..uuid.len())
        .map(|i| Some(uuid.is_null(i) || !matcher.erases_uuid(uuid.value(i))))
        .collect())
}

/// Writes the kept rows and retires the old files. `Ok(false)`: another compaction or
/// erasure holds the partition.
pub async fn apply(
    lake: &Lake,
    plan: PartitionRewrite,
    erasure_id: &str,
    now_millis: i64,
    parquet: ParquetOptions,
) -> Result<bool, QueryError> {
    let mut outputs = Vec::new();
    for (n, kept) in plan.kept.iter().enumerate() {
        if kept.num_rows() > 0 {
            let name = format!("{}/erased-{erasure_id}-{n:03}.parquet", plan.partition);
            outputs.push((name, encode_parquet(kept, parquet)?));
        }
    }
    let journal = Journal {
        partition: plan.partition.clone(),
        created_millis: now_millis,
        inputs: plan.files.iter().map(|f| f.file.clone()).collect(),
        outputs: outputs.iter().map(|(name, _)| name.clone()).collect(),
    };
    if !journal.create(lake).await? {
        return Ok(false);
    }
    // Read before the lock: a compaction that finished in between replaced the files, and
    // rewriting what was read would bring its rows back. Let go; the next run plans again.
    for file in &plan.files {
        let unchanged = match lake.store.head(&lake.path(&file.file)).await {
            Ok(meta) => meta.size == file.size,
            Err(object_store::Error::NotFound { .. }) => false,
            Err(e) => return Err(QueryError::Store(format!("head {}: {e}", file.file))),
        };
        if !unchanged {
            journal.undo(lake).await?;
            return Ok(false);
        }
    }
    for (name, bytes) in outputs {
        put_create(lake, &name, bytes).await?;
    }
    journal.finish(lake).await?;
    Ok(true)
}

async fn read(lake: &Lake, file: &DataFile) -> Result<Bytes, QueryError> {
    let path = lake.path(&file.path);
    let failed = |e: object_store::Error| QueryError::Store(format!("reading {path}: {e}"));
    lake.store
        .get(&path)
        .await
        .map_err(failed)?
        .bytes()
        .await
        .map_err(failed)
}

pub(crate) async fn put_create(lake: &Lake, relative: &str, bytes: Bytes) -> Result<bool, QueryError> {
    let path = lake.path(relative);
    match lake
        .store
        .put_opts(&path, PutPayload::from(bytes), PutOptions::from(PutMode::Create))
        .await
    {
        Ok(_) => Ok(true),
        Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
        Err(e) => Err(QueryError::Store(format!("writing {path}: {e}"))),
    }
}
