//! Batch manifests keep every committed record's raw bytes until lifecycle expiry, and a
//! roll-forward rebuilds missing files from them: an erasure rewrites each manifest that
//! holds an erased record without it (a plain overwrite: a manifest's key never holds
//! anything else once created, and an abort's create-only tombstone cannot replace it).
//! Before that, batches still in flight on the erased chains are waited for (their lease at
//! most), and afterwards the recent ones are rolled forward from their rewritten manifests,
//! so a writer that built its files before the erasure cannot add an erased row after it:
//! each of its file names is taken first, by the rebuilt file or by an empty placeholder.

use super::matcher::Matcher;
use crate::error::QueryError;
use futures::{StreamExt, TryStreamExt};
use ingest::batch::files::{ManifestRows, encode_files};
use ingest::batch::{BatchProcessor, ProcessorConfig};
use ingest::decode;
use ingest::encode::{ParquetOptions, RowEncoder, encode_parquet_as};
use ingest::ledger::chain::ChainKey;
use ingest::ledger::document::{self, BatchStatus, ManifestDoc, RoleDoc};
use ingest::ledger::policy::LeasePolicy;
use ingest::ledger::{Ledger, Resolution};
use ingest::storage::{BatchId, Lake, Layout, TableKind};
use object_store::{ObjectStoreExt, PutPayload};
use schemas::Registry;
use std::collections::BTreeSet;
use std::time::Duration;

/// Whether a manifest record is erased: valid events by uuid, invalid ones by raw bytes. A
/// record is decoded only if it can hold an erased uuid: when its bytes contain one, or a
/// backslash (a JSON escape could spell one).
fn erases(matcher: &Matcher, role: &RoleDoc, data: &[u8]) -> bool {
    match role {
        RoleDoc::Event | RoleDoc::Duplicate(_) => {
            let candidate = memchr::memchr(b'\\', data).is_some() || matcher.erases_raw(data);
            candidate
                && match decode::decode(data) {
                    Ok(event) => matcher.erases_uuid(event.event_uuid()),
                    Err(_) => matcher.erases_raw(data),
                }
        }
        RoleDoc::Quarantine => matcher.erases_raw(data),
    }
}

/// A manifest that held erased records.
#[derive(Debug, Clone)]
pub struct Scrubbed {
    pub batch: BatchId,
    pub records_erased: u64,
    /// The file names the batch had before (for placeholders).
    pub original: ManifestDoc,
}

/// Every committed manifest with erased records; rewritten unless `dry_run`. Manifests are
/// read 16 at a time (there are thousands a day, until lifecycle expiry).
pub async fn scrub(lake: &Lake, matcher: &Matcher, dry_run: bool) -> Result<Vec<Scrubbed>, QueryError> {
    let objects = crate::files::list(lake, &format!("{}/batches", Layout::LEDGER)).await?;
    let matcher = std::sync::Arc::new(matcher.clone());
    let found: Vec<Option<Scrubbed>> = futures::stream::iter(objects)
        .map(|meta| scrub_one(lake, meta.location, matcher.clone(), dry_run))
        .buffer_unordered(16)
        .try_collect()
        .await?;
    let mut scrubbed: Vec<Scrubbed> = found.into_iter().flatten().collect();
    scrubbed.sort_by(|a, b| a.batch.cmp(&b.batch));
    Ok(scrubbed)
}

async fn scrub_one(
    lake: &Lake,
    location: object_store::path::Path,
    matcher: std::sync::Arc<Matcher>,
    dry_run: bool,
) -> Result<Option<Scrubbed>, QueryError> {
    let relative = lake.relative(&location).to_owned();
    let Some(batch) = relative
        .rsplit('/')
        .next()
        .and_then(|name| name.strip_suffix(".manifest"))
        .and_then(BatchId::parse)
    else {
        return Ok(None);
    };
    let bytes = match lake.store.get(&location).await {
        Ok(got) => got.bytes().await.map_err(|e| QueryError::Store(e.to_string()))?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(QueryError::Store(format!("reading {relative}: {e}"))),
    };
    if document::manifest_status(&bytes, &relative)? != BatchStatus::Committed {
        return Ok(None);
    }
    // Decoding and matching is CPU work: off the async threads, on every core.
    let path = relative.clone();
    let decoded = tokio::task::spawn_blocking(move || -> Result<_, QueryError> {
        let original = document::decode_manifest(&bytes, &path)?;
        let erased: Vec<bool> = original
            .records
            .iter()
            .map(|r| erases(&matcher, &r.role, &r.data.0))
            .collect();
        Ok((original, erased))
    })
    .await
    .map_err(|e| QueryError::Store(format!("reading {relative}: {e}")))?;
    let (original, erased) = decoded?;
    let records_erased = erased.iter().filter(|&&e| e).count() as u64;
    if records_erased == 0 {
        return Ok(None);
    }
    let mut kept = original.clone();
    let mut index = 0;
    kept.records.retain(|_| {
        index += 1;
        !erased[index - 1]
    });
    if !dry_run {
        let body = document::encode_manifest(&kept)?;
        lake.store
            .put(&location, PutPayload::from(body))
            .await
            .map_err(|e| QueryError::Store(format!("rewriting {relative}: {e}")))?;
    }
    Ok(Some(Scrubbed {
        batch,
        records_erased,
        original,
    }))
}

/// Waits until every batch that committed to these chains within the lease is committed or
/// aborted (a pending one past its lease is aborted, as any writer would); the committed
/// ones.
pub async fn settle(
    ledger: &mut Ledger,
    chains: &[ChainKey],
    lease: LeasePolicy,
    now_millis: i64,
) -> Result<BTreeSet<BatchId>, QueryError> {
    let started = std::time::Instant::now();
    let mut recent = Vec::new();
    for key in chains {
        let state = ledger.state(*key).await?;
        recent.extend(state.batches_since(now_millis - lease.lease_millis));
    }
    recent.sort();
    recent.dedup();
    let mut committed = BTreeSet::new();
    for (batch, claimed_at) in recent {
        loop {
            let now = now_millis + started.elapsed().as_millis() as i64;
            match ledger.resolve(&batch, claimed_at, now, lease).await? {
                Resolution::Committed => {
                    committed.insert(batch);
                    break;
                }
                Resolution::Aborted => break,
                Resolution::Pending => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }
    Ok(committed)
}

/// Rolls recent committed batches forward from their (rewritten) manifests, and takes the
/// name of every file they would have written with erased rows only.
pub async fn roll_forward(
    lake: &Lake,
    registry: &Registry,
    batches: &BTreeSet<BatchId>,
    scrubbed: &[Scrubbed],
) -> Result<BTreeSet<String>, QueryError> {
    let mut processor =
        BatchProcessor::open(lake.clone(), registry, "lakeq-erase", ProcessorConfig::default()).await?;
    let encoder = RowEncoder::new(registry)?;
    let mut partitions = BTreeSet::new();
    for batch in batches {
        processor.roll_forward(batch).await?;
        let Some(s) = scrubbed.iter().find(|s| &s.batch == batch) else {
            continue;
        };
        let path = Layout::manifest(batch);
        let rows = ManifestRows::from_doc(s.original.clone(), &path)?;
        for file in encode_files(&encoder, batch, &rows.rows(), ParquetOptions::default())? {
            if let Some((dir, _)) = file.path.rsplit_once('/') {
                partitions.insert(dir.to_owned());
            }
            let files = encoder.files();
            let schema = match file.table {
                TableKind::Events => &files.events,
                TableKind::Duplicates => &files.duplicates,
                TableKind::Quarantine => &files.quarantine,
            };
            let empty = encode_parquet_as(
                schema,
                &arrow::record_batch::RecordBatch::new_empty(schema.arrow().clone()),
                ParquetOptions::default(),
            )?;
            super::rewrite::put_create(lake, &file.path, empty).await?;
        }
    }
    Ok(partitions)
}
