//! `lakeq stats`: per table and partition, files, rows, bytes, average and smallest file
//! size and the count of small files; totals per table and for the whole lake; and any
//! unfinished compaction (to be finished by running `lakeq compact` again).

use super::{Report, Section};
use crate::error::QueryError;
use crate::files::{TABLES, partitions, row_counts};
use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use futures::TryStreamExt;
use ingest::storage::{Lake, Layout};
use std::sync::Arc;

/// Files under this size count as small (Athena and Spark prefer 128 MiB or more).
pub const DEFAULT_SMALL_FILE_BYTES: u64 = 32 * 1024 * 1024;

#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    partitions: i64,
    files: i64,
    rows: i64,
    bytes: i64,
    small: i64,
    smallest: Option<i64>,
}

impl Totals {
    fn add_file(&mut self, rows: u64, bytes: u64, small_file_bytes: u64) {
        self.files += 1;
        self.rows += rows as i64;
        self.bytes += bytes as i64;
        self.small += i64::from(bytes < small_file_bytes);
        self.smallest = Some(self.smallest.map_or(bytes as i64, |s| s.min(bytes as i64)));
    }

    fn add(&mut self, other: &Totals) {
        self.partitions += other.partitions;
        self.files += other.files;
        self.rows += other.rows;
        self.bytes += other.bytes;
        self.small += other.small;
        self.smallest = match (self.smallest, other.smallest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    fn average(&self) -> i64 {
        if self.files == 0 {
            0
        } else {
            self.bytes / self.files
        }
    }
}

/// Rows of a stats table under construction.
#[derive(Default)]
struct Rows {
    names: Vec<String>,
    totals: Vec<Totals>,
}

impl Rows {
    fn push(&mut self, name: String, totals: Totals) {
        self.names.push(name);
        self.totals.push(totals);
    }

    fn batch(&self, key: &str, with_partitions: bool) -> Result<RecordBatch, QueryError> {
        let mut fields = vec![Field::new(key, DataType::Utf8, false)];
        let mut columns: Vec<Arc<dyn arrow::array::Array>> =
            vec![Arc::new(StringArray::from_iter_values(self.names.iter()))];
        let mut int = |name: &str, f: &dyn Fn(&Totals) -> i64| {
            fields.push(Field::new(name, DataType::Int64, false));
            columns.push(Arc::new(Int64Array::from_iter_values(self.totals.iter().map(f))));
        };
        if with_partitions {
            int("partitions", &|t| t.partitions);
        }
        int("files", &|t| t.files);
        int("rows", &|t| t.rows);
        int("bytes", &|t| t.bytes);
        int("average_file_bytes", &|t| t.average());
        int("smallest_file_bytes", &|t| t.smallest.unwrap_or(0));
        int("small_files", &|t| t.small);
        Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
    }
}

pub async fn stats(lake: &Lake, small_file_bytes: u64) -> Result<Report, QueryError> {
    let mut partition_rows = Rows::default();
    let mut table_rows = Rows::default();
    let mut lake_total = Totals::default();
    for table in TABLES {
        let mut table_total = Totals::default();
        for partition in partitions(lake, table).await? {
            let rows = row_counts(lake, &partition.files).await?;
            let mut totals = Totals {
                partitions: 1,
                ..Totals::default()
            };
            for (file, rows) in partition.files.iter().zip(rows) {
                totals.add_file(rows, file.size, small_file_bytes);
            }
            table_total.add(&totals);
            partition_rows.push(partition.dir.clone(), totals);
        }
        lake_total.add(&table_total);
        table_rows.push(table.dir().to_owned(), table_total);
    }
    table_rows.push("lake".to_owned(), lake_total);
    let journals: Vec<_> = lake
        .store
        .list(Some(&lake.path(Layout::COMPACTIONS)))
        .try_collect()
        .await
        .map_err(|e| QueryError::Store(e.to_string()))?;
    let unfinished = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "unfinished_compactions",
            DataType::Int64,
            false,
        )])),
        vec![Arc::new(Int64Array::from(vec![journals.len() as i64]))],
    )?;
    Ok(Report {
        sections: vec![
            Section {
                name: "tables",
                title: "Tables",
                rows: table_rows.batch("table", true)?,
            },
            Section {
                name: "partitions",
                title: "Partitions",
                rows: partition_rows.batch("partition", false)?,
            },
            Section {
                name: "compactions",
                title: "Unfinished compactions (run lakeq compact to finish them)",
                rows: unfinished,
            },
        ],
    })
}
