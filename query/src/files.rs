//! The lake's data files as listed from the object store, grouped by table and partition
//! directory. Shared by `stats` and `compact`; row counts come from Parquet footers.

use crate::error::QueryError;
use futures::{StreamExt, TryStreamExt};
use ingest::storage::{Lake, TableKind};
use object_store::ObjectStoreExt;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use std::collections::BTreeMap;

pub const TABLES: [TableKind; 3] = [TableKind::Events, TableKind::Duplicates, TableKind::Quarantine];

/// One data file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// Relative to the lake root.
    pub path: String,
    pub size: u64,
}

/// A partition directory (`events/event_type=x/date=y`) and its files, sorted by path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub table: TableKind,
    pub dir: String,
    pub files: Vec<DataFile>,
}

impl Partition {
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// The value of a Hive key in the directory (`event_type`, `date`).
    pub fn value(&self, key: &str) -> Option<&str> {
        self.dir
            .split('/')
            .find_map(|segment| segment.strip_prefix(key)?.strip_prefix('='))
    }
}

/// Every partition of `table`, from a listing of its prefix. Only `*.parquet` files count.
pub async fn partitions(lake: &Lake, table: TableKind) -> Result<Vec<Partition>, QueryError> {
    let prefix = lake.path(table.dir());
    let objects: Vec<_> = lake
        .store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|e| QueryError::Store(format!("listing {prefix}: {e}")))?;
    let mut by_dir: BTreeMap<String, Vec<DataFile>> = BTreeMap::new();
    for meta in objects {
        let path = lake.relative(&meta.location).to_owned();
        let Some((dir, name)) = path.rsplit_once('/') else {
            continue;
        };
        if !name.ends_with(".parquet") || name.starts_with(['.', '_']) {
            continue;
        }
        by_dir.entry(dir.to_owned()).or_default().push(DataFile {
            path: path.clone(),
            size: meta.size,
        });
    }
    Ok(by_dir
        .into_iter()
        .map(|(dir, mut files)| {
            files.sort_by(|a, b| a.path.cmp(&b.path));
            Partition { table, dir, files }
        })
        .collect())
}

/// Rows of each file, read from the Parquet footers (one or two ranged reads per file).
pub async fn row_counts(lake: &Lake, files: &[DataFile]) -> Result<Vec<u64>, QueryError> {
    futures::stream::iter(files.iter().map(|file| footer_rows(lake, file)))
        .buffered(16)
        .try_collect()
        .await
}

async fn footer_rows(lake: &Lake, file: &DataFile) -> Result<u64, QueryError> {
    let metadata = footer(lake, file).await?;
    Ok(metadata.file_metadata().num_rows().max(0) as u64)
}

/// A file's Parquet footer, from ranged reads of its tail.
pub async fn footer(lake: &Lake, file: &DataFile) -> Result<ParquetMetaData, QueryError> {
    let path = lake.path(&file.path);
    let failed =
        |e: &dyn std::fmt::Display| QueryError::Store(format!("reading the footer of {}: {e}", file.path));
    let mut tail = file.size.min(64 * 1024);
    loop {
        let bytes = lake
            .store
            .get_range(&path, file.size - tail..file.size)
            .await
            .map_err(|e| failed(&e))?;
        let mut reader = ParquetMetaDataReader::new();
        match reader.try_parse_sized(&bytes, file.size) {
            Ok(()) => return reader.finish().map_err(|e| failed(&e)),
            Err(ParquetError::NeedMoreData(needed))
                if (needed as u64) > tail && (needed as u64) <= file.size =>
            {
                tail = needed as u64;
            }
            Err(e) => return Err(failed(&e)),
        }
    }
}

/// Every object under a prefix relative to the lake root.
pub async fn list(lake: &Lake, relative: &str) -> Result<Vec<object_store::ObjectMeta>, QueryError> {
    let prefix = lake.path(relative);
    lake.store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|e| QueryError::Store(format!("listing {prefix}: {e}")))
}

/// Whether the object exists.
pub async fn exists(lake: &Lake, relative: &str) -> Result<bool, QueryError> {
    match lake.store.head(&lake.path(relative)).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(QueryError::Store(format!("head {relative}: {e}"))),
    }
}
