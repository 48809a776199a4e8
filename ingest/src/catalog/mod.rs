//! The table catalog that query engines plan from (the Glue Data Catalog, for Athena and
//! Spark). Invariant: every partition a batch writes a file into is registered before the
//! batch's manifest commits, so every file of a committed batch, and every file a
//! roll-forward rebuilds from its manifest, lies in a registered partition. Registration is
//! idempotent (a partition that exists already is a success) and remembered per process, so
//! a warm writer calls the catalog only for a (table, event type, date) it has not seen.

#[cfg(feature = "aws")]
pub mod glue;

use crate::error::IngestError;
use crate::storage::{Lake, TableKind};
use async_trait::async_trait;
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

/// One partition directory of a table, such as `events/event_type=payment/date=2026-11-30`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition {
    pub table: TableKind,
    /// `(key, value)` in the order of the table's partition keys.
    pub keys: Vec<(String, String)>,
}

impl Partition {
    /// The partition that holds a data file, from the file's path relative to the lake root;
    /// `None` for paths outside the three tables or without partition segments.
    pub fn of_file(path: &str) -> Option<Partition> {
        let mut segments: Vec<&str> = path.split('/').collect();
        segments.pop()?;
        let (first, rest) = segments.split_first()?;
        let table = [TableKind::Events, TableKind::Duplicates, TableKind::Quarantine]
            .into_iter()
            .find(|t| t.dir() == *first)?;
        Self::from_segments(table, rest)
    }

    /// A partition from its `key=value` directory names under the table's folder.
    pub fn from_segments(table: TableKind, segments: &[&str]) -> Option<Partition> {
        let keys = segments
            .iter()
            .map(|s| s.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect::<Option<Vec<_>>>()?;
        (!keys.is_empty()).then_some(Partition { table, keys })
    }

    /// The partition's values, in key order (what a catalog stores).
    pub fn values(&self) -> Vec<&str> {
        self.keys.iter().map(|(_, v)| v.as_str()).collect()
    }

    /// The partition's path under its table's folder, with a trailing `/`.
    pub fn sub_path(&self) -> String {
        self.keys.iter().map(|(k, v)| format!("{k}={v}/")).collect()
    }
}

/// A catalog of the lake's tables that partitions can be added to.
#[async_trait]
pub trait PartitionCatalog: Send + Sync + std::fmt::Debug {
    /// Adds the partitions that the catalog does not have; existing ones are left as they are.
    async fn register(&self, partitions: &[Partition]) -> Result<(), IngestError>;
}

/// A catalog and the partitions this process has registered in it already.
#[derive(Debug, Clone)]
pub struct Registrar {
    catalog: Arc<dyn PartitionCatalog>,
    registered: HashSet<Partition>,
}

impl Registrar {
    pub fn new(catalog: Arc<dyn PartitionCatalog>) -> Self {
        Registrar {
            catalog,
            registered: HashSet::new(),
        }
    }

    /// Registers the partitions of these data files (lake-relative paths) that this process
    /// has not registered yet; returns how many it registered.
    pub async fn ensure<'a>(
        &mut self,
        files: impl IntoIterator<Item = &'a str>,
    ) -> Result<usize, IngestError> {
        let new: BTreeSet<Partition> = files
            .into_iter()
            .filter_map(Partition::of_file)
            .filter(|p| !self.registered.contains(p))
            .collect();
        if new.is_empty() {
            return Ok(0);
        }
        let new: Vec<Partition> = new.into_iter().collect();
        self.catalog.register(&new).await?;
        let count = new.len();
        self.registered.extend(new);
        Ok(count)
    }
}

/// Every partition directory the lake holds, found by listing (one request per directory
/// above the partitions' level): what a catalog must list for readers to see every row.
pub async fn lake_partitions(lake: &Lake) -> Result<Vec<Partition>, IngestError> {
    let mut found = Vec::new();
    for (table, depth) in [
        (TableKind::Events, 2),
        (TableKind::Duplicates, 2),
        (TableKind::Quarantine, 1),
    ] {
        let mut level = vec![table.dir().to_owned()];
        for _ in 0..depth {
            let mut next = Vec::new();
            for dir in level {
                let prefix = lake.path(&dir);
                let listed = lake
                    .store
                    .list_with_delimiter(Some(&prefix))
                    .await
                    .map_err(|e| IngestError::store("list", &prefix, e))?;
                next.extend(
                    listed
                        .common_prefixes
                        .iter()
                        .filter_map(|p| p.filename().map(|name| format!("{dir}/{name}"))),
                );
            }
            level = next;
        }
        found.extend(level.iter().filter_map(|dir| {
            let segments: Vec<&str> = dir.split('/').skip(1).collect();
            Partition::from_segments(table, &segments)
        }));
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_names_its_partition() {
        let p =
            Partition::of_file("events/event_type=payment/date=2026-11-30/1-2.parquet").expect("partition");
        assert_eq!(p.table, TableKind::Events);
        assert_eq!(p.values(), ["payment", "2026-11-30"]);
        assert_eq!(p.sub_path(), "event_type=payment/date=2026-11-30/");
        let q = Partition::of_file("quarantine/date=2026-11-30/1-2.parquet").expect("partition");
        assert_eq!((q.table, q.values()), (TableKind::Quarantine, vec!["2026-11-30"]));
        for outside in [
            "_ledger/batches/1-2.manifest",
            "events/1-2.parquet",
            "events/event_type/x.parquet",
            "other/date=2026-11-30/x.parquet",
            "",
        ] {
            assert_eq!(Partition::of_file(outside), None, "{outside}");
        }
    }
}
