//! The batch processor. For one batch of records:
//!
//! 1. decode every record; key valid events by MD5(event_uuid) in the chain of their
//!    (created_at date, bucket), invalid ones by source fingerprint in the quarantine chain
//!    of their (arrival date, bucket);
//! 2. per chain, read the ledger's state and resolve the batches it names, then classify
//!    each record by the dedup rules (`ledger::decision`): new (claim), a retry of a record
//!    an earlier batch committed (done: roll its batch forward if files are missing), a
//!    duplicate of a committed claim, invalid (quarantine), or blocked behind a claim whose
//!    batch is still in flight within its lease (the record fails, to be retried);
//! 3. commit every chain's entries with create-only versions (on conflict: refresh,
//!    reclassify, retry), then create the batch manifest (the commit point), then the files;
//! 4. report per record.
//!
//! A failure before the manifest aborts the batch (tombstone) so a retry can claim again at
//! once; a crash leaves the claims to expire with their lease.

use super::files::{self, ManifestRows, Role, Row};
use super::report::{BatchReport, RecordOutcome};
use crate::catalog::{PartitionCatalog, Registrar};
use crate::decode::{self, Event, Invalid};
use crate::encode::{OriginalPointer, ParquetOptions, RowEncoder};
use crate::error::IngestError;
use crate::ledger::chain::{ChainKey, ChainKind, bucket_of};
use crate::ledger::decision::{Candidate, Decision, Entry, decide_chain, same_source_decisions};
use crate::ledger::document::{self, ClaimDoc, CommitDoc, Hash128, ManifestView};
use crate::ledger::policy::{CachePolicy, CommitRetryPolicy, LeasePolicy};
use crate::ledger::{Ledger, Resolution, put_create, read_optional};
use crate::source::SourceRecord;
use crate::storage::{BatchId, Lake, Layout, TableKind};
use futures::{StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use object_store::ObjectStoreExt;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use schemas::{PartitionDate, Registry};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// Settings of a processor; the defaults suit the Lambda.
#[derive(Debug, Clone, Copy)]
pub struct ProcessorConfig {
    pub lease: LeasePolicy,
    pub commit_retry: CommitRetryPolicy,
    pub parquet: ParquetOptions,
    /// Concurrent object store requests for commits and uploads.
    pub parallelism: usize,
    /// Chains a cold writer reads at once before its first batch (reads only): by default a
    /// date's buckets, so that a batch touching all of them waits for one chain's round
    /// trips, not four.
    pub chain_reads: usize,
    /// Hash buckets per date for a new lake (an existing lake keeps its own).
    pub buckets: u32,
    /// When the ledger's warm cache drops a chain: idle, or least recently used over budget.
    pub cache: CachePolicy,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        ProcessorConfig {
            lease: LeasePolicy::default(),
            commit_retry: CommitRetryPolicy::default(),
            parquet: ParquetOptions::default(),
            parallelism: 16,
            chain_reads: crate::ledger::DEFAULT_BUCKETS as usize,
            buckets: crate::ledger::DEFAULT_BUCKETS,
            cache: CachePolicy::default(),
        }
    }
}

/// One record, decoded and placed in its chain.
#[derive(Debug)]
struct Item {
    /// The record's source fingerprint (MD5 over its source and bytes), computed when first
    /// needed: for invalid records (it is their key), for records whose uuid their chain
    /// already claims, and for duplicates (the chain records it). A first-time event, most
    /// of a stream, never needs it.
    source_fp: OnceLock<u128>,
    decoded: Result<Event, Invalid>,
    chain: ChainKey,
    /// uuid hash (events chains) or source fingerprint (quarantine chains)
    key: u128,
}

impl Item {
    /// The source fingerprint of `record`, which this item was decoded from.
    fn source_fp(&self, record: &SourceRecord) -> u128 {
        *self.source_fp.get_or_init(|| record.fingerprint())
    }

    fn new(record: &SourceRecord, buckets: u32) -> Item {
        let decoded = decode::decode_shared(&record.data);
        let source_fp = OnceLock::new();
        let (chain, key) = match &decoded {
            Ok(event) => {
                let uuid_hash = u128::from_be_bytes(Md5::digest(event.event_uuid().as_bytes()).into());
                let bucket = bucket_of(uuid_hash, buckets);
                (
                    ChainKey {
                        kind: ChainKind::Events,
                        date: event.date,
                        bucket,
                    },
                    uuid_hash,
                )
            }
            Err(_) => {
                let fp = *source_fp.get_or_init(|| record.fingerprint());
                let date = PartitionDate::from_unix_micros(record.arrival_micros);
                let bucket = bucket_of(fp, buckets);
                (
                    ChainKey {
                        kind: ChainKind::Quarantine,
                        date,
                        bucket,
                    },
                    fp,
                )
            }
        };
        Item {
            source_fp,
            decoded,
            chain,
            key,
        }
    }
}

/// A batch's records decoded and placed in their chains. Pure CPU over the records and the
/// lake's bucket count, with no ledger state, so it can be done ahead of the batch before
/// it: `ingest run` decodes the next batch on a second core while this one commits.
#[derive(Debug)]
pub(crate) struct DecodedBatch {
    items: Vec<Item>,
    /// Replays inside the batch ([`same_source_decisions`]): a function of the records alone.
    same_source: Vec<Option<Decision>>,
    buckets: u32,
}

impl DecodedBatch {
    /// Decodes every record (on all cores) for a lake of `buckets` buckets per date.
    pub(crate) fn decode(records: &[SourceRecord], buckets: u32) -> DecodedBatch {
        let (items, same_source) = rayon::join(
            || records.par_iter().map(|r| Item::new(r, buckets)).collect(),
            || same_source_decisions(records.iter().map(|r| (&r.source, &r.data[..]))),
        );
        DecodedBatch {
            items,
            same_source,
            buckets,
        }
    }

    /// Whether this was decoded from a batch of `records` records for this lake's buckets.
    fn fits(&self, records: usize, buckets: u32) -> bool {
        self.items.len() == records && self.buckets == buckets
    }
}

/// Processes batches against one lake; keeps the ledger's warm cache between batches.
#[derive(Debug)]
pub struct BatchProcessor {
    lake: Lake,
    ledger: Ledger,
    encoder: Arc<RowEncoder>,
    config: ProcessorConfig,
    rng: ChaCha8Rng,
    /// Where partitions are registered before a manifest commits (Glue), if anywhere.
    catalog: Option<Registrar>,
}

static PROCESSORS: AtomicU64 = AtomicU64::new(0);

impl BatchProcessor {
    /// Opens the lake's ledger. `writer` names this process in commits (for operators).
    pub async fn open(
        lake: Lake,
        registry: &Registry,
        writer: &str,
        config: ProcessorConfig,
    ) -> Result<Self, IngestError> {
        let ledger = Ledger::open(lake.clone(), writer, config.buckets)
            .await?
            .with_cache(config.cache);
        let mut seed = Md5::new();
        seed.update(writer.as_bytes());
        seed.update(std::process::id().to_le_bytes());
        seed.update(PROCESSORS.fetch_add(1, Ordering::Relaxed).to_le_bytes());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        seed.update(nanos.to_le_bytes());
        let digest: [u8; 16] = seed.finalize().into();
        let rng = ChaCha8Rng::seed_from_u64(u64::from_le_bytes([
            digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
        ]));
        Ok(BatchProcessor {
            lake,
            ledger,
            encoder: Arc::new(RowEncoder::new(registry)?),
            config,
            rng,
            catalog: None,
        })
    }

    /// Registers the partition of every file a batch writes in `catalog` before the batch
    /// commits (see [`crate::catalog`]).
    pub fn with_catalog(mut self, catalog: Arc<dyn PartitionCatalog>) -> Self {
        self.catalog = Some(Registrar::new(catalog));
        self
    }

    /// Registers the partitions of these files, if a catalog is set.
    async fn register_partitions(&mut self, files: &[files::EncodedFile]) -> Result<(), IngestError> {
        if let Some(catalog) = &mut self.catalog {
            catalog.ensure(files.iter().map(|f| f.path.as_str())).await?;
        }
        Ok(())
    }

    /// Seeds batch ids and backoff jitter, for reproducible lakes (golden tests, benches).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng = ChaCha8Rng::seed_from_u64(seed);
        self
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn lake(&self) -> &Lake {
        &self.lake
    }

    /// Hash buckets per date of this lake, for [`DecodedBatch::decode`].
    pub fn buckets(&self) -> u32 {
        self.ledger.buckets()
    }

    /// Processes one batch. `Err` means nothing in the batch can be reported as done (the
    /// caller retries the whole batch); per-record failures are in the report.
    pub async fn process(
        &mut self,
        records: &[SourceRecord],
        now_millis: i64,
    ) -> Result<BatchReport, IngestError> {
        // Decoding is most of a record's CPU and needs nothing shared: it uses every core.
        let decoded = DecodedBatch::decode(records, self.buckets());
        self.process_decoded(records, &decoded, now_millis).await
    }

    /// [`process`](Self::process) for records already decoded by [`DecodedBatch::decode`]
    /// (a batch decoded for another bucket count or another number of records is decoded
    /// again). A retry of the batch can pass the same decoding.
    pub(crate) async fn process_decoded(
        &mut self,
        records: &[SourceRecord],
        decoded: &DecodedBatch,
        now_millis: i64,
    ) -> Result<BatchReport, IngestError> {
        let redecoded;
        let decoded = if decoded.fits(records.len(), self.buckets()) {
            decoded
        } else {
            redecoded = DecodedBatch::decode(records, self.buckets());
            &redecoded
        };
        let items = &decoded.items;
        let batch = BatchId::new(now_millis, self.rng.next_u64());
        self.ledger.begin_batch();
        let conflicts_before = self.ledger.stats.conflicts;
        let mut decisions = decoded.same_source.clone();
        let chains = group_by_chain(items, &decisions);
        let committed = self
            .commit_chains(&batch, records, items, &chains, &mut decisions, now_millis)
            .await;
        let mut report = BatchReport::default();
        match committed {
            Ok(attempted) => {
                if let Err(e) = self
                    .finish(&batch, records, items, &decisions, now_millis, &mut report)
                    .await
                {
                    if attempted && report.batch.is_none() {
                        self.abort_quietly(&batch).await;
                    }
                    return Err(e);
                }
            }
            Err((attempted, e)) => {
                if attempted {
                    self.abort_quietly(&batch).await;
                }
                return Err(e);
            }
        }
        report.outcomes = outcomes(items, &decisions);
        report.ledger_conflicts = self.ledger.stats.conflicts - conflicts_before;
        Ok(report)
    }

    async fn abort_quietly(&mut self, batch: &BatchId) {
        if let Err(e) = self.ledger.abort(batch).await {
            tracing::warn!(%batch, error = %e, "could not abort the failed batch; its claims expire with the lease");
        }
    }

    /// Classifies and commits every chain. Returns whether any commit was attempted.
    async fn commit_chains(
        &mut self,
        batch: &BatchId,
        records: &[SourceRecord],
        items: &[Item],
        chains: &BTreeMap<ChainKey, Vec<usize>>,
        decisions: &mut [Option<Decision>],
        now_millis: i64,
    ) -> Result<bool, (bool, IngestError)> {
        let mut pending: Vec<ChainKey> = chains.keys().copied().collect();
        self.ledger
            .prefetch(&pending, self.config.chain_reads)
            .await
            .map_err(|e| (false, e))?;
        let mut attempted = false;
        let mut attempt = 0u32;
        while !pending.is_empty() {
            attempt += 1;
            if !self.config.commit_retry.should_retry(attempt) {
                let chain = pending[0].to_string();
                return Err((
                    attempted,
                    IngestError::CommitContention {
                        chain,
                        attempts: attempt - 1,
                    },
                ));
            }
            if attempt > 1 {
                let wait = self.config.commit_retry.backoff(attempt, self.rng.next_u64());
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
            }
            let mut proposals = Vec::new();
            for key in &pending {
                let decided = self
                    .classify_chain(*key, &chains[key], records, items, now_millis)
                    .await;
                let decided = decided.map_err(|e| (attempted, e))?;
                for (i, d) in &decided {
                    decisions[*i] = Some(d.clone());
                }
                if let Some(doc) =
                    commit_doc(batch, self.ledger.writer(), now_millis, records, items, &decided)
                {
                    let version = self.ledger.state(*key).await.map_err(|e| (attempted, e))?.version + 1;
                    proposals.push((*key, version, doc));
                }
            }
            attempted |= !proposals.is_empty();
            let lake = &self.lake;
            // Encoding (zstd) is the round's CPU: on every core, before the PUTs stream.
            let puts: Vec<_> = proposals
                .par_iter()
                .map(|(key, version, doc)| (key.version_path(*version), document::encode_doc(doc)))
                .collect();
            let created: Vec<_> = futures::stream::iter(puts)
                .map(|(path, bytes)| async move {
                    match bytes {
                        Ok(bytes) => put_create(lake, &path, bytes).await,
                        Err(e) => Err(e),
                    }
                })
                .buffered(self.config.parallelism.max(1))
                .collect()
                .await;
            let mut lost = Vec::new();
            for ((key, version, doc), created) in proposals.into_iter().zip(created) {
                match created {
                    Ok(true) => self
                        .ledger
                        .record_commit(key, version, &doc)
                        .await
                        .map_err(|e| (true, e))?,
                    Ok(false) => {
                        self.ledger.stats.conflicts += 1;
                        lost.push(key);
                    }
                    Err(e) => return Err((true, e)),
                }
            }
            for key in &lost {
                self.ledger.refresh(*key).await.map_err(|e| (true, e))?;
            }
            pending = lost;
        }
        Ok(attempted)
    }

    /// Decides every record of one chain against its current state.
    async fn classify_chain(
        &mut self,
        key: ChainKey,
        members: &[usize],
        records: &[SourceRecord],
        items: &[Item],
        now_millis: i64,
    ) -> Result<Vec<(usize, Decision)>, IngestError> {
        let state = self.ledger.state(key).await?;
        let lookups: Vec<_> = members
            .iter()
            .map(|&i| {
                let claim = (key.kind == ChainKind::Events)
                    .then(|| state.original(items[i].key))
                    .flatten();
                let erased = key.kind == ChainKind::Events && state.is_erased(items[i].key);
                // An events chain records a source only beside a claim on its uuid (for a
                // duplicate, in the same commit as the claim or after it) and never removes
                // a claim: without one there is no entry to find, nor a fingerprint to take.
                let other = match (key.kind, &claim) {
                    (ChainKind::Events, None) => {
                        debug_assert!(state.other(items[i].source_fp(&records[i])).is_none());
                        None
                    }
                    _ => state.other(items[i].source_fp(&records[i])),
                };
                (other, claim, erased)
            })
            .collect();
        let mut resolved: HashMap<BatchId, Resolution> = HashMap::new();
        for (other, claim, _) in &lookups {
            let pairs = other.iter().map(|o| (&o.batch, o.committed_at_millis));
            for (b, at) in pairs.chain(claim.iter().map(|c| (&c.batch, c.committed_at_millis))) {
                if !resolved.contains_key(b) {
                    let r = self.ledger.resolve(b, at, now_millis, self.config.lease).await?;
                    resolved.insert(b.clone(), r);
                }
            }
        }
        let candidates = members
            .iter()
            .zip(lookups)
            .map(|(&i, (other, claim, erased))| Candidate {
                index: i,
                key: items[i].key,
                source: &records[i].source,
                other,
                claim,
                erased,
            })
            .collect();
        let status = |b: &BatchId| resolved.get(b).copied().unwrap_or(Resolution::Pending);
        Ok(decide_chain(key.kind, key.date, candidates, status))
    }

    /// After the chains are committed: the files encoded, their partitions registered, the
    /// manifest, the files written, roll-forwards.
    async fn finish(
        &mut self,
        batch: &BatchId,
        records: &[SourceRecord],
        items: &[Item],
        decisions: &[Option<Decision>],
        now_millis: i64,
        report: &mut BatchReport,
    ) -> Result<(), IngestError> {
        let roles = roles(records, items, decisions, batch);
        let committed: Vec<usize> = (0..records.len()).filter(|i| roles[*i].is_some()).collect();
        if !committed.is_empty() {
            let rows: Vec<Row<'_>> = committed
                .iter()
                .filter_map(|&i| {
                    let r = &records[i];
                    roles[i].as_ref().map(|role| Row {
                        source: &r.source,
                        arrival_micros: r.arrival_micros,
                        data: &r.data,
                        decoded: &items[i].decoded,
                        role,
                    })
                })
                .collect();
            let batch_text = batch.to_string();
            let writer = self.ledger.writer();
            // Both are pure CPU over the same rows: on two cores the manifest, its record views
            // included, costs no time.
            let (encoded, manifest) = rayon::join(
                || files::encode_files(&self.encoder, batch, &rows, self.config.parquet),
                || {
                    document::encode_manifest_view(&ManifestView {
                        format: document::FORMAT,
                        batch: &batch_text,
                        writer,
                        committed_at_millis: now_millis,
                        records: rows.iter().map(files::manifest_record).collect(),
                    })
                },
            );
            let (encoded, manifest) = (encoded?, manifest?);
            self.register_partitions(&encoded).await?;
            if !self.ledger.commit_batch(batch, manifest).await? {
                return Err(IngestError::BatchAborted {
                    batch_id: batch.to_string(),
                });
            }
            report.batch = Some(batch.clone());
            report.files = files::put_files(&self.lake, encoded, self.config.parallelism).await?;
            self.ledger.mark_verified(batch.clone());
        }
        self.count_erased_resends(records, items, decisions).await?;
        let earlier: HashSet<BatchId> = decisions
            .iter()
            .filter_map(|d| match d {
                Some(Decision::Done { batch, .. }) => Some(batch.clone()),
                _ => None,
            })
            .collect();
        for old in earlier {
            self.roll_forward(&old).await?;
        }
        Ok(())
    }

    /// Makes sure every file of a committed batch exists, rebuilding missing ones from its manifest.
    pub async fn roll_forward(&mut self, batch: &BatchId) -> Result<usize, IngestError> {
        if self.ledger.is_verified(batch) {
            return Ok(0);
        }
        let path = Layout::manifest(batch);
        let bytes = read_optional(&self.lake, &path)
            .await?
            .ok_or_else(|| IngestError::CorruptLedger {
                path: path.clone(),
                message: "a committed batch has no manifest".into(),
            })?;
        let doc = document::decode_manifest(&bytes, &path)?;
        let manifest_rows = ManifestRows::from_doc(doc, &path)?;
        let encoded = files::encode_files(&self.encoder, batch, &manifest_rows.rows(), self.config.parquet)?;
        let mut missing = Vec::new();
        for file in encoded {
            if !self.file_exists(&file.path).await? {
                missing.push(file);
            }
        }
        let rewritten = missing.len();
        if rewritten > 0 {
            tracing::info!(%batch, files = rewritten, "rolling a committed batch forward");
            // Registered before its manifest was committed, unless a writer without the
            // catalog (or an older release) committed it.
            self.register_partitions(&missing).await?;
            files::put_files(&self.lake, missing, self.config.parallelism).await?;
        }
        self.ledger.mark_verified(batch.clone());
        Ok(rewritten)
    }
}

impl BatchProcessor {
    /// Leaves one empty object per re-sent record of an erased event (create-only, so a
    /// retry of the same record counts once): its payload is never stored.
    async fn count_erased_resends(
        &self,
        records: &[SourceRecord],
        items: &[Item],
        decisions: &[Option<Decision>],
    ) -> Result<(), IngestError> {
        let keys: Vec<String> = records
            .iter()
            .zip(items)
            .zip(decisions)
            .filter(|(_, d)| matches!(d, Some(Decision::ErasedResend)))
            .map(|((record, item), _)| Layout::erased_resend(item.source_fp(record)))
            .collect();
        let lake = &self.lake;
        futures::stream::iter(keys)
            .map(|key| async move { put_create(lake, &key, bytes::Bytes::new()).await })
            .buffer_unordered(self.config.parallelism.max(1))
            .try_collect::<Vec<bool>>()
            .await?;
        Ok(())
    }

    /// Whether a batch's data file is in the lake, as itself or compacted into another file
    /// (compaction writes its marker before deleting the file, so a missing file without a
    /// marker was never written).
    async fn file_exists(&self, relative: &str) -> Result<bool, IngestError> {
        for path in [relative.to_owned(), Layout::compacted_marker(relative)] {
            let full = self.lake.path(&path);
            match self.lake.store.head(&full).await {
                Ok(_) => return Ok(true),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(IngestError::store("head", &full, e)),
            }
        }
        Ok(false)
    }
}

fn group_by_chain(items: &[Item], decisions: &[Option<Decision>]) -> BTreeMap<ChainKey, Vec<usize>> {
    let mut chains: BTreeMap<ChainKey, Vec<usize>> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        if decisions[i].is_none() {
            chains.entry(item.chain).or_default().push(i);
        }
    }
    chains
}

/// The commit for one chain's decisions, or `None` when it records nothing new. Its claims
/// borrow their strings from the batch's records (a takeover's replaced batch, rare, is
/// copied).
fn commit_doc<'a>(
    batch: &BatchId,
    writer: &str,
    now_millis: i64,
    records: &'a [SourceRecord],
    items: &'a [Item],
    decided: &[(usize, Decision)],
) -> Option<CommitDoc<'a>> {
    let mut doc = CommitDoc {
        format: document::FORMAT,
        batch: batch.to_string(),
        writer: writer.to_owned(),
        committed_at_millis: now_millis,
        claims: Vec::new(),
        others: Vec::new(),
        erased: Vec::new(),
    };
    for (i, decision) in decided {
        match decision.entry() {
            Entry::Claim { replaces } => {
                let Ok(event) = &items[*i].decoded else { continue };
                doc.claims.push(ClaimDoc {
                    uuid: Hash128(items[*i].key),
                    shard: Cow::Borrowed(&records[*i].source.shard_id),
                    sequence: Cow::Borrowed(records[*i].source.sequence.as_str()),
                    event_type: Cow::Borrowed(event.event_type()),
                    replaces: replaces.map(|batch| Cow::Owned(batch.to_string())),
                });
            }
            Entry::Other => doc.others.push(Hash128(items[*i].source_fp(&records[*i]))),
            Entry::Nothing => {}
        }
    }
    (!doc.claims.is_empty() || !doc.others.is_empty()).then_some(doc)
}

/// The row each record contributes to this batch's files, if any.
fn roles(
    records: &[SourceRecord],
    items: &[Item],
    decisions: &[Option<Decision>],
    batch: &BatchId,
) -> Vec<Option<Role>> {
    decisions
        .iter()
        .map(|d| match d {
            Some(Decision::Claim { .. }) => Some(Role::Event),
            Some(Decision::Quarantine) => Some(Role::Quarantine),
            Some(Decision::Duplicate(p)) => Some(Role::Duplicate(p.clone())),
            Some(Decision::DuplicateOfItem(j)) => {
                let event_type = items[*j]
                    .decoded
                    .as_ref()
                    .map(|e| e.event_type())
                    .unwrap_or_default();
                Some(Role::Duplicate(OriginalPointer {
                    source: records[*j].source.clone(),
                    file: Layout::data_file(TableKind::Events, event_type, items[*j].chain.date, batch),
                }))
            }
            _ => None,
        })
        .collect()
}

fn outcomes(items: &[Item], decisions: &[Option<Decision>]) -> Vec<RecordOutcome> {
    let direct = |i: usize| match &decisions[i] {
        Some(Decision::Claim { .. }) => RecordOutcome::Written,
        Some(Decision::Duplicate(_) | Decision::DuplicateOfItem(_)) => RecordOutcome::Duplicate,
        Some(Decision::ErasedResend) => RecordOutcome::ErasedResend,
        Some(Decision::Quarantine) => match &items[i].decoded {
            Err(invalid) => RecordOutcome::Quarantined(invalid.reason),
            Ok(_) => RecordOutcome::Quarantined(decode::QuarantineReason::BadType),
        },
        Some(Decision::Done { committed_as, .. }) => RecordOutcome::AlreadyCommitted(*committed_as),
        Some(Decision::Blocked { batch }) => RecordOutcome::Failed {
            retryable: true,
            message: format!("claimed by batch {batch}, which is still in flight; retry after its lease"),
        },
        Some(Decision::SameSourceAs(_)) | None => RecordOutcome::Failed {
            retryable: true,
            message: "not classified".into(),
        },
    };
    (0..items.len())
        .map(|i| match &decisions[i] {
            Some(Decision::SameSourceAs(j)) => direct(*j),
            _ => direct(i),
        })
        .collect()
}
