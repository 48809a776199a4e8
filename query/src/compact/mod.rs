//! `lakeq compact`: rewrites each selected partition's small files into few large ones,
//! sorted by `created_at`, without a table format and without breaking the dedup ledger.
//!
//! Per partition: create the journal (create-only: one compaction per partition at a time),
//! write the outputs (create-only), write a marker per input naming the outputs (the
//! ledger's roll-forward reads it, so a later retry of a compacted batch recognises its
//! records and writes nothing), delete the inputs, delete the journal. A crash anywhere
//! leaves the journal; the next run finishes the compaction if every output was written, or
//! else deletes the outputs (the inputs are untouched until then). Rows are never lost nor
//! doubled once a run completes. Readers listing the partition between the outputs' PUT and
//! the inputs' DELETEs (one partition at a time, milliseconds) can see both.

pub mod journal;
pub mod rewrite;

use crate::error::QueryError;
use crate::files::{DataFile, Partition, TABLES, partitions};
use bytes::Bytes;
use ingest::encode::ParquetOptions;
use ingest::storage::{Lake, TableKind};
use journal::{Journal, Recovery, leftover};
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use schemas::Registry;
use schemas::tables::Tables;

/// Which partitions to compact and how.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    pub tables: Vec<TableKind>,
    pub event_type: Option<String>,
    /// `YYYY-MM-DD`.
    pub date: Option<String>,
    pub target_file_bytes: u64,
    pub dry_run: bool,
    /// A journal older than this is an interrupted compaction, finished or undone by this
    /// run; a younger one may belong to a compaction still running.
    pub takeover_millis: i64,
    pub parquet: ParquetOptions,
}

impl Default for CompactOptions {
    fn default() -> Self {
        CompactOptions {
            tables: TABLES.to_vec(),
            event_type: None,
            date: None,
            target_file_bytes: 128 * 1024 * 1024,
            dry_run: false,
            takeover_millis: 15 * 60 * 1000,
            parquet: ParquetOptions::compacted(),
        }
    }
}

/// One partition's plan and, after a run, its result.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PartitionPlan {
    pub partition: String,
    pub files_before: u64,
    pub bytes_before: u64,
    pub files_after: u64,
    pub bytes_after: u64,
    pub rows: u64,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CompactSummary {
    pub dry_run: bool,
    pub partitions_examined: u64,
    pub partitions_compacted: u64,
    /// Partitions skipped because another compaction holds their journal.
    pub partitions_busy: u64,
    pub files_before: u64,
    pub files_after: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub rows: u64,
    pub interrupted_finished: u64,
    pub interrupted_undone: u64,
    pub partitions: Vec<PartitionPlan>,
    pub seconds: f64,
}

/// Recovers interrupted compactions, then compacts what the options select. `progress` gets
/// (partitions done, partitions planned).
pub async fn compact(
    lake: &Lake,
    registry: &Registry,
    options: &CompactOptions,
    now_millis: i64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<CompactSummary, QueryError> {
    let started = std::time::Instant::now();
    let mut summary = CompactSummary {
        dry_run: options.dry_run,
        ..CompactSummary::default()
    };
    if !options.dry_run {
        for journal in leftover(lake).await? {
            match journal.recover(lake, now_millis, options.takeover_millis).await? {
                Recovery::Finished => summary.interrupted_finished += 1,
                Recovery::Undone => summary.interrupted_undone += 1,
                Recovery::Left => {}
            }
        }
    }
    let mut selected = Vec::new();
    for table in &options.tables {
        for partition in partitions(lake, *table).await? {
            summary.partitions_examined += 1;
            if matches(&partition, options) {
                let inputs = small_files(&partition, options.target_file_bytes);
                if inputs.len() >= 2 {
                    selected.push((partition, inputs));
                }
            }
        }
    }
    let tables = Tables::new(registry);
    let total = selected.len() as u64;
    for (done, (partition, inputs)) in selected.into_iter().enumerate() {
        let bytes_before: u64 = inputs.iter().map(|f| f.size).sum();
        let planned_outputs = bytes_before.div_ceil(options.target_file_bytes.max(1)).max(1);
        let mut plan = PartitionPlan {
            partition: partition.dir.clone(),
            files_before: inputs.len() as u64,
            bytes_before,
            files_after: planned_outputs,
            bytes_after: 0,
            rows: 0,
        };
        if !options.dry_run {
            let schema = match partition.table {
                TableKind::Events => tables.events.clone(),
                TableKind::Duplicates => tables.duplicates.clone(),
                TableKind::Quarantine => tables.quarantine.clone(),
            };
            let id = format!("{now_millis}-{done:05}");
            match compact_partition(
                lake,
                &partition,
                &inputs,
                &schema,
                &id,
                planned_outputs,
                options,
                now_millis,
            )
            .await?
            {
                Some(result) => plan = result,
                None => {
                    summary.partitions_busy += 1;
                    progress(done as u64 + 1, total);
                    continue;
                }
            }
        }
        summary.partitions_compacted += 1;
        summary.files_before += plan.files_before;
        summary.files_after += plan.files_after;
        summary.bytes_before += plan.bytes_before;
        summary.bytes_after += plan.bytes_after;
        summary.rows += plan.rows;
        summary.partitions.push(plan);
        progress(done as u64 + 1, total);
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

fn matches(partition: &Partition, options: &CompactOptions) -> bool {
    let wanted =
        |key: &str, value: &Option<String>| value.as_ref().is_none_or(|v| partition.value(key) == Some(v));
    wanted("event_type", &options.event_type) && wanted("date", &options.date)
}

fn small_files(partition: &Partition, target: u64) -> Vec<DataFile> {
    partition
        .files
        .iter()
        .filter(|f| f.size < target)
        .cloned()
        .collect()
}

/// Compacts one partition; `None` when another compaction holds it.
#[allow(clippy::too_many_arguments)]
async fn compact_partition(
    lake: &Lake,
    partition: &Partition,
    inputs: &[DataFile],
    schema: &arrow::datatypes::SchemaRef,
    id: &str,
    planned_outputs: u64,
    options: &CompactOptions,
    now_millis: i64,
) -> Result<Option<PartitionPlan>, QueryError> {
    let mut files = Vec::with_capacity(inputs.len());
    for input in inputs {
        let path = lake.path(&input.path);
        let bytes = lake
            .store
            .get(&path)
            .await
            .map_err(|e| QueryError::Store(format!("reading {path}: {e}")))?
            .bytes()
            .await
            .map_err(|e| QueryError::Store(format!("reading {path}: {e}")))?;
        files.push((input.path.clone(), bytes));
    }
    let rows = rewrite::sort_rows(&rewrite::read_rows(&files, schema)?)?;
    let encoded = rewrite::encode_outputs(&rows, planned_outputs as usize, options.parquet)?;
    let outputs: Vec<String> = (0..encoded.len())
        .map(|n| format!("{}/compacted-{id}-{n:03}.parquet", partition.dir))
        .collect();
    let journal = Journal {
        partition: partition.dir.clone(),
        created_millis: now_millis,
        inputs: inputs.iter().map(|f| f.path.clone()).collect(),
        outputs: outputs.clone(),
    };
    if !journal.create(lake).await? {
        tracing::warn!(partition = %partition.dir, "another compaction holds this partition; skipped");
        return Ok(None);
    }
    let mut bytes_after = 0;
    for (output, bytes) in outputs.iter().zip(encoded) {
        bytes_after += bytes.len() as u64;
        put_create(lake, output, bytes).await?;
    }
    journal.finish(lake).await?;
    Ok(Some(PartitionPlan {
        partition: partition.dir.clone(),
        files_before: inputs.len() as u64,
        bytes_before: inputs.iter().map(|f| f.size).sum(),
        files_after: outputs.len() as u64,
        bytes_after,
        rows: rows.num_rows() as u64,
    }))
}

async fn put_create(lake: &Lake, relative: &str, bytes: Bytes) -> Result<(), QueryError> {
    let path = lake.path(relative);
    lake.store
        .put_opts(&path, PutPayload::from(bytes), PutOptions::from(PutMode::Create))
        .await
        .map_err(|e| QueryError::Store(format!("writing {path}: {e}")))?;
    Ok(())
}

impl CompactSummary {
    /// The summary as a report: totals, then one row per compacted partition.
    pub fn report(&self) -> Result<crate::reports::Report, QueryError> {
        use arrow::array::{Int64Array, StringArray};
        use arrow::datatypes::{DataType, Field, Schema};
        use arrow::record_batch::RecordBatch;
        use std::sync::Arc;
        let int = |name: &str| Field::new(name, DataType::Int64, false);
        let totals = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("mode", DataType::Utf8, false),
                int("partitions_examined"),
                int("partitions_compacted"),
                int("partitions_busy"),
                int("files_before"),
                int("files_after"),
                int("bytes_before"),
                int("bytes_after"),
                int("rows"),
                int("interrupted_finished"),
                int("interrupted_undone"),
            ])),
            vec![
                Arc::new(StringArray::from(vec![if self.dry_run {
                    "dry run"
                } else {
                    "compacted"
                }])),
                Arc::new(Int64Array::from(vec![self.partitions_examined as i64])),
                Arc::new(Int64Array::from(vec![self.partitions_compacted as i64])),
                Arc::new(Int64Array::from(vec![self.partitions_busy as i64])),
                Arc::new(Int64Array::from(vec![self.files_before as i64])),
                Arc::new(Int64Array::from(vec![self.files_after as i64])),
                Arc::new(Int64Array::from(vec![self.bytes_before as i64])),
                Arc::new(Int64Array::from(vec![self.bytes_after as i64])),
                Arc::new(Int64Array::from(vec![self.rows as i64])),
                Arc::new(Int64Array::from(vec![self.interrupted_finished as i64])),
                Arc::new(Int64Array::from(vec![self.interrupted_undone as i64])),
            ],
        )?;
        let p = &self.partitions;
        let column = |f: &dyn Fn(&PartitionPlan) -> u64| {
            Arc::new(Int64Array::from_iter_values(p.iter().map(|x| f(x) as i64)))
        };
        let partitions = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("partition", DataType::Utf8, false),
                int("files_before"),
                int("files_after"),
                int("bytes_before"),
                int("bytes_after"),
                int("rows"),
            ])),
            vec![
                Arc::new(StringArray::from_iter_values(
                    p.iter().map(|x| x.partition.as_str()),
                )),
                column(&|x| x.files_before),
                column(&|x| x.files_after),
                column(&|x| x.bytes_before),
                column(&|x| x.bytes_after),
                column(&|x| x.rows),
            ],
        )?;
        Ok(crate::reports::Report {
            sections: vec![
                crate::reports::Section {
                    name: "summary",
                    title: "Compaction",
                    rows: totals,
                },
                crate::reports::Section {
                    name: "partitions",
                    title: "Partitions",
                    rows: partitions,
                },
            ],
        })
    }
}
