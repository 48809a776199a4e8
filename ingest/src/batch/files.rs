//! From a batch's classified records to its data files: one Parquet file per (table,
//! partition), named after the batch, created with `PutMode::Create` so that the first
//! writer and any later roll-forward can never both leave a copy.

use super::report::FileWritten;
use crate::decode::{self, Event, Invalid, QuarantineReason};
use crate::encode::{
    DuplicateRow, EventRow, OriginalPointer, ParquetOptions, QuarantineRow, RowEncoder, encode_parquet_as,
};
use crate::error::IngestError;
use crate::ledger::document::{ManifestDoc, ManifestRecordView, OriginalView, RoleDoc, RoleView};
use crate::ledger::put_create;
use crate::source::{SequenceNumber, ShardIds, SourceId};
use crate::storage::{BatchId, Lake, Layout, TableKind};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use rayon::prelude::*;
use schemas::PartitionDate;
use std::collections::BTreeMap;

/// The table a committed record's row belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Event,
    Duplicate(OriginalPointer),
    Quarantine,
}

/// A committed record, ready to be encoded.
#[derive(Debug, Clone)]
pub struct Row<'a> {
    pub source: &'a SourceId,
    pub arrival_micros: i64,
    pub data: &'a [u8],
    pub decoded: &'a Result<Event, Invalid>,
    pub role: &'a Role,
}

/// An encoded file, not yet uploaded.
#[derive(Debug, Clone)]
pub struct EncodedFile {
    pub path: String,
    pub table: TableKind,
    pub rows: usize,
    pub bytes: Bytes,
}

type PartitionKey<'r> = (TableKind, &'r str, PartitionDate);

/// Encodes the rows of one batch into its files (synchronous, in memory).
pub fn encode_files(
    encoder: &RowEncoder,
    batch: &BatchId,
    rows: &[Row<'_>],
    options: ParquetOptions,
) -> Result<Vec<EncodedFile>, IngestError> {
    let mut events: BTreeMap<PartitionKey<'_>, Vec<EventRow<'_>>> = BTreeMap::new();
    let mut duplicates: BTreeMap<PartitionKey<'_>, Vec<DuplicateRow<'_>>> = BTreeMap::new();
    let mut quarantine: BTreeMap<PartitionDate, Vec<QuarantineRow<'_>>> = BTreeMap::new();
    // Decoding is deterministic, so a committed record decodes to the role it was committed
    // with. If a newer release validates differently, the record is kept in quarantine with
    // the reason it has now; it is never dropped.
    let substitutes: Vec<Invalid> = rows
        .iter()
        .filter_map(|row| match (row.role, row.decoded) {
            (Role::Event | Role::Duplicate(_), Err(invalid)) => Some(invalid.clone()),
            (Role::Quarantine, Ok(_)) => Some(stale_invalid()),
            _ => None,
        })
        .collect();
    let mut substitutes = substitutes.iter();
    for row in rows {
        let arrival_date = PartitionDate::from_unix_micros(row.arrival_micros);
        let invalid = match (row.role, row.decoded) {
            (Role::Event, Ok(event)) => {
                let key = (TableKind::Events, event.event_type(), event.date);
                events.entry(key).or_default().push(event_row(row, event));
                continue;
            }
            (Role::Duplicate(original), Ok(event)) => {
                let key = (TableKind::Duplicates, event.event_type(), event.date);
                duplicates.entry(key).or_default().push(DuplicateRow {
                    row: event_row(row, event),
                    original,
                });
                continue;
            }
            (Role::Quarantine, Err(invalid)) => invalid,
            _ => match substitutes.next() {
                Some(invalid) => invalid,
                None => continue,
            },
        };
        quarantine.entry(arrival_date).or_default().push(QuarantineRow {
            invalid,
            raw: row.data,
            source: row.source,
            arrival_micros: row.arrival_micros,
        });
    }
    // Partitions encode independently, so they share the cores; the files keep the
    // partitions' order whatever the thread count.
    let jobs: Vec<Partition<'_, '_>> = events
        .iter()
        .map(|(key, rows)| Partition::Events(key, rows))
        .chain(
            duplicates
                .iter()
                .map(|(key, rows)| Partition::Duplicates(key, rows)),
        )
        .chain(
            quarantine
                .iter()
                .map(|(date, rows)| Partition::Quarantine(*date, rows)),
        )
        .collect();
    jobs.par_iter()
        .map(|job| job.encode(encoder, batch, options))
        .collect()
}

/// The rows of one (table, partition) of a batch: one file.
enum Partition<'k, 'r> {
    Events(&'k PartitionKey<'r>, &'k [EventRow<'r>]),
    Duplicates(&'k PartitionKey<'r>, &'k [DuplicateRow<'r>]),
    Quarantine(PartitionDate, &'k [QuarantineRow<'r>]),
}

impl Partition<'_, '_> {
    fn encode(
        &self,
        encoder: &RowEncoder,
        batch: &BatchId,
        options: ParquetOptions,
    ) -> Result<EncodedFile, IngestError> {
        let files = encoder.files();
        let (table, event_type, date, rows, record_batch, schema) = match self {
            Partition::Events((table, event_type, date), rows) => (
                *table,
                *event_type,
                *date,
                rows.len(),
                encoder.events(rows)?,
                &files.events,
            ),
            Partition::Duplicates((table, event_type, date), rows) => (
                *table,
                *event_type,
                *date,
                rows.len(),
                encoder.duplicates(rows)?,
                &files.duplicates,
            ),
            Partition::Quarantine(date, rows) => (
                TableKind::Quarantine,
                "",
                *date,
                rows.len(),
                encoder.quarantine(rows)?,
                &files.quarantine,
            ),
        };
        Ok(EncodedFile {
            path: Layout::data_file(table, event_type, date, batch),
            table,
            rows,
            bytes: encode_parquet_as(schema, &record_batch, options)?,
        })
    }
}

fn stale_invalid() -> Invalid {
    Invalid {
        reason: QuarantineReason::BadType,
        detail: "committed as invalid by an earlier release; valid under this one".into(),
        event_uuid: None,
        event_name: None,
    }
}

fn event_row<'a>(row: &Row<'a>, event: &'a Event) -> EventRow<'a> {
    EventRow {
        event,
        source: row.source,
        arrival_micros: row.arrival_micros,
    }
}

/// Uploads files with create-if-absent; an existing file is one a roll-forward (or an
/// earlier attempt) already wrote with the same rows.
pub async fn put_files(
    lake: &Lake,
    files: Vec<EncodedFile>,
    parallel: usize,
) -> Result<Vec<FileWritten>, IngestError> {
    futures::stream::iter(files)
        .map(|f| async move {
            let size = f.bytes.len();
            put_create(lake, &f.path, f.bytes).await?;
            Ok::<_, IngestError>(FileWritten {
                path: f.path,
                table: f.table,
                rows: f.rows,
                bytes: size,
            })
        })
        .buffer_unordered(parallel.max(1))
        .try_collect()
        .await
}

/// The manifest entry of a committed row, borrowed from it.
pub fn manifest_record<'a>(row: &Row<'a>) -> ManifestRecordView<'a> {
    ManifestRecordView {
        shard: &row.source.shard_id,
        sequence: row.source.sequence.as_str(),
        arrival_micros: row.arrival_micros,
        data: row.data,
        role: match row.role {
            Role::Event => RoleView::Event,
            Role::Duplicate(p) => RoleView::Duplicate(OriginalView {
                original_shard: &p.source.shard_id,
                original_sequence: p.source.sequence.as_str(),
                original_file: &p.file,
            }),
            Role::Quarantine => RoleView::Quarantine,
        },
    }
}

/// Records of a committed manifest, decoded again, to rebuild the batch's files.
#[derive(Debug)]
pub struct ManifestRows {
    pub sources: Vec<SourceId>,
    pub arrivals: Vec<i64>,
    pub data: Vec<Bytes>,
    pub decoded: Vec<Result<Event, Invalid>>,
    pub roles: Vec<Role>,
}

impl ManifestRows {
    pub fn from_doc(doc: ManifestDoc, path: &str) -> Result<Self, IngestError> {
        let corrupt = |message: &str| IngestError::CorruptLedger {
            path: path.to_owned(),
            message: message.to_owned(),
        };
        let n = doc.records.len();
        let mut rows = ManifestRows {
            sources: Vec::with_capacity(n),
            arrivals: Vec::with_capacity(n),
            data: Vec::with_capacity(n),
            decoded: Vec::with_capacity(n),
            roles: Vec::with_capacity(n),
        };
        // Records and their originals each come in runs of one shard.
        let (mut shards, mut original_shards) = (ShardIds::default(), ShardIds::default());
        for r in doc.records {
            let sequence =
                SequenceNumber::parse(&r.sequence).ok_or_else(|| corrupt("bad sequence number"))?;
            let data = Bytes::from(r.data.0);
            let role = match r.role {
                RoleDoc::Event => Role::Event,
                RoleDoc::Quarantine => Role::Quarantine,
                RoleDoc::Duplicate(original) => Role::Duplicate(OriginalPointer {
                    source: SourceId::new(
                        original_shards.get(&original.original_shard),
                        SequenceNumber::parse(&original.original_sequence)
                            .ok_or_else(|| corrupt("bad original sequence"))?,
                    ),
                    file: original.original_file,
                }),
            };
            rows.decoded.push(decode::decode_shared(&data));
            rows.sources.push(SourceId::new(shards.get(&r.shard), sequence));
            rows.arrivals.push(r.arrival_micros);
            rows.data.push(data);
            rows.roles.push(role);
        }
        Ok(rows)
    }

    pub fn rows(&self) -> Vec<Row<'_>> {
        (0..self.sources.len())
            .map(|i| Row {
                source: &self.sources[i],
                arrival_micros: self.arrivals[i],
                data: &self.data[i],
                decoded: &self.decoded[i],
                role: &self.roles[i],
            })
            .collect()
    }
}
