//! The ledger on the object store: reads chains (checkpoint + later commits), commits to
//! them with conditional creates, resolves batch statuses from manifests, and keeps the warm
//! cache: chain states (read only new commits on a conflict, dropped per [`CachePolicy`]),
//! final batch statuses, and which committed batches are known to have all their files.

use super::chain::{ChainKey, ChainState};
use super::document::{self, BatchStatus, CommitDoc, ConfigDoc, Hash128};
use super::policy::{CachePolicy, CheckpointPolicy, LeasePolicy};
use crate::error::IngestError;
use crate::storage::{BatchId, Lake, Layout};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;

/// Final batch statuses and completed file checks remembered at most; beyond, both are
/// forgotten at the next batch (a miss costs one ranged GET or a few HEADs), so a writer
/// running for weeks does not keep one entry per batch it ever met.
const MAX_REMEMBERED_BATCHES: usize = 100_000;

/// Default number of hash buckets per date, fixed in `_ledger/config.json` on first write.
pub const DEFAULT_BUCKETS: u32 = 64;

/// A batch's status as seen now: `Pending` may still change, the others never do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Committed,
    Aborted,
    Pending,
}

/// Counters for one ledger, cumulative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LedgerStats {
    pub commits: u64,
    pub conflicts: u64,
    pub cold_loads: u64,
    pub cold_load_bytes: u64,
    pub checkpoints: u64,
    pub aborts: u64,
    /// Chain states dropped from the warm cache, idle or over its byte budget ([`CachePolicy`]).
    pub evictions: u64,
}

#[derive(Debug)]
pub struct Ledger {
    lake: Lake,
    writer: String,
    buckets: u32,
    checkpoints: CheckpointPolicy,
    cache: CachePolicy,
    chains: HashMap<ChainKey, ChainState>,
    /// The batch number (see [`Ledger::begin_batch`]) that last used each cached chain.
    last_used: HashMap<ChainKey, u64>,
    batches_begun: u64,
    statuses: HashMap<BatchId, BatchStatus>,
    verified: HashSet<BatchId>,
    pub stats: LedgerStats,
}

impl Ledger {
    /// Opens the ledger of a lake, creating its config with `default_buckets` if it is new.
    pub async fn open(
        lake: Lake,
        writer: impl Into<String>,
        default_buckets: u32,
    ) -> Result<Self, IngestError> {
        let path = Layout::config();
        let config = match read_optional(&lake, &path).await? {
            Some(bytes) => document::parse_config(&bytes, &path, &lake.url)?,
            None => {
                let doc = ConfigDoc {
                    format: document::FORMAT,
                    buckets: default_buckets.clamp(1, 65_536),
                };
                let json =
                    serde_json::to_vec_pretty(&doc).map_err(IngestError::encode("the ledger config"))?;
                if put_create(&lake, &path, Bytes::from(json)).await? {
                    doc
                } else {
                    let bytes =
                        read_optional(&lake, &path)
                            .await?
                            .ok_or_else(|| IngestError::CorruptLedger {
                                path: path.clone(),
                                message: "config vanished after a create conflict".into(),
                            })?;
                    document::parse_config(&bytes, &path, &lake.url)?
                }
            }
        };
        Ok(Ledger {
            lake,
            writer: writer.into(),
            buckets: config.buckets,
            checkpoints: CheckpointPolicy::default(),
            cache: CachePolicy::default(),
            chains: HashMap::new(),
            last_used: HashMap::new(),
            batches_begun: 0,
            statuses: HashMap::new(),
            verified: HashSet::new(),
            stats: LedgerStats::default(),
        })
    }

    pub fn with_checkpoints(mut self, policy: CheckpointPolicy) -> Self {
        self.checkpoints = policy;
        self
    }

    pub fn with_cache(mut self, policy: CachePolicy) -> Self {
        self.cache = policy;
        self
    }

    /// Starts a batch: counts it and drops the chain states that the cache policy calls idle,
    /// then the least recently used ones while the cache is over its byte budget.
    pub fn begin_batch(&mut self) {
        self.batches_begun += 1;
        let now = self.batches_begun;
        let mut by_age: Vec<(u64, ChainKey)> =
            self.last_used.iter().map(|(key, &used)| (used, *key)).collect();
        by_age.sort_unstable();
        let mut cached: u64 = self.chains.values().map(|s| s.approx_bytes() as u64).sum();
        for (used, key) in by_age {
            if !self.cache.should_evict(used, now) && !self.cache.should_shed(cached) {
                break;
            }
            self.last_used.remove(&key);
            if let Some(state) = self.chains.remove(&key) {
                cached = cached.saturating_sub(state.approx_bytes() as u64);
            }
            self.stats.evictions += 1;
        }
        if self.statuses.len() > MAX_REMEMBERED_BATCHES {
            self.statuses.clear();
        }
        if self.verified.len() > MAX_REMEMBERED_BATCHES {
            self.verified.clear();
        }
    }

    fn touch(&mut self, key: ChainKey) {
        self.last_used.insert(key, self.batches_begun);
    }

    pub fn buckets(&self) -> u32 {
        self.buckets
    }

    pub fn writer(&self) -> &str {
        &self.writer
    }

    pub fn lake(&self) -> &Lake {
        &self.lake
    }

    /// The state of a chain, read from the store on first use (checkpoint + later commits).
    pub async fn state(&mut self, key: ChainKey) -> Result<&ChainState, IngestError> {
        if !self.chains.contains_key(&key) {
            let state = self.load_cold(key).await?;
            self.chains.insert(key, state);
        }
        self.touch(key);
        Ok(&self.chains[&key])
    }

    /// Reads the states of the chains among `keys` that are not cached, up to `parallelism`
    /// at a time, so a cold writer's first batch waits for about one chain's round trips
    /// instead of one after another for every chain it touches.
    pub async fn prefetch(&mut self, keys: &[ChainKey], parallelism: usize) -> Result<(), IngestError> {
        let missing: Vec<ChainKey> = keys
            .iter()
            .copied()
            .filter(|key| !self.chains.contains_key(key))
            .collect();
        let lake = &self.lake;
        let loaded: Vec<_> = futures::stream::iter(missing)
            .map(|key| async move { (key, load_chain(lake, key).await) })
            .buffer_unordered(parallelism.max(1))
            .collect()
            .await;
        for (key, result) in loaded {
            let (state, bytes_read) = result?;
            self.stats.cold_loads += 1;
            self.stats.cold_load_bytes += bytes_read;
            self.chains.insert(key, state);
            // Cached chains are evicted by their last use; one loaded now counts as used.
            self.touch(key);
        }
        Ok(())
    }

    async fn load_cold(&mut self, key: ChainKey) -> Result<ChainState, IngestError> {
        let (state, bytes_read) = load_chain(&self.lake, key).await?;
        self.stats.cold_loads += 1;
        self.stats.cold_load_bytes += bytes_read;
        Ok(state)
    }

    /// Reads the commits that other writers added after our cached version.
    pub async fn refresh(&mut self, key: ChainKey) -> Result<(), IngestError> {
        let mut state = match self.chains.remove(&key) {
            Some(state) => state,
            None => self.load_cold(key).await?,
        };
        let result = async {
            loop {
                let path = key.version_path(state.version.saturating_add(1));
                let Some(bytes) = read_optional(&self.lake, &path).await? else {
                    return Ok(());
                };
                let doc: CommitDoc = document::decode_doc(&bytes, &path)?;
                state.apply(state.version.saturating_add(1), &doc, &path)?;
            }
        }
        .await;
        self.chains.insert(key, state);
        self.touch(key);
        result
    }

    /// Applies a commit this writer just created as version `version` of a chain, and
    /// checkpoints the chain when the policy says so.
    pub async fn record_commit(
        &mut self,
        key: ChainKey,
        version: u64,
        doc: &CommitDoc<'_>,
    ) -> Result<(), IngestError> {
        self.stats.commits += 1;
        let path = key.version_path(version);
        let state = self
            .chains
            .get_mut(&key)
            .ok_or_else(|| IngestError::Config("chain state vanished".into()))?;
        state.apply(version, doc, &path)?;
        if self.checkpoints.should_checkpoint(version, key.bucket) {
            self.write_checkpoint(key).await;
        }
        Ok(())
    }

    /// Best effort: a missing checkpoint only makes the next cold start read more commits.
    async fn write_checkpoint(&mut self, key: ChainKey) {
        let Some(state) = self.chains.get(&key) else {
            return;
        };
        let path = key.checkpoint_path(state.version);
        let written = match state.checkpoint_bytes() {
            Ok(bytes) => put_create(&self.lake, &path, bytes).await,
            Err(e) => Err(e),
        };
        match written {
            Ok(_) => self.stats.checkpoints += 1,
            Err(e) => tracing::warn!(chain = %key, error = %e, "checkpoint not written"),
        }
    }

    /// The status of a batch that made a claim at `claimed_at_millis`. A batch still pending
    /// after its lease is aborted here (tombstone), which settles it.
    pub async fn resolve(
        &mut self,
        batch: &BatchId,
        claimed_at_millis: i64,
        now_millis: i64,
        lease: LeasePolicy,
    ) -> Result<Resolution, IngestError> {
        if let Some(status) = self.statuses.get(batch) {
            return Ok(to_resolution(*status));
        }
        let status = match self.read_status(batch).await? {
            Some(status) => status,
            None if lease.should_take_over(claimed_at_millis, now_millis) => self.abort(batch).await?,
            None => return Ok(Resolution::Pending),
        };
        self.statuses.insert(batch.clone(), status);
        Ok(to_resolution(status))
    }

    async fn read_status(&self, batch: &BatchId) -> Result<Option<BatchStatus>, IngestError> {
        let relative = Layout::manifest(batch);
        let path = self.lake.path(&relative);
        match self.lake.store.get_range(&path, 0..document::HEADER_LEN).await {
            Ok(header) => document::manifest_status(&header, &relative).map(Some),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(IngestError::store("get", &path, e)),
        }
    }

    /// Writes the abort tombstone of a batch unless its manifest exists; returns the final status.
    pub async fn abort(&mut self, batch: &BatchId) -> Result<BatchStatus, IngestError> {
        let relative = Layout::manifest(batch);
        let status = if put_create(&self.lake, &relative, document::tombstone()).await? {
            self.stats.aborts += 1;
            BatchStatus::Aborted
        } else {
            self.read_status(batch)
                .await?
                .ok_or_else(|| IngestError::CorruptLedger {
                    path: relative,
                    message: "manifest create conflicted but no manifest is there".into(),
                })?
        };
        self.statuses.insert(batch.clone(), status);
        Ok(status)
    }

    /// Creates a batch's manifest. `Ok(false)`: the batch was aborted meanwhile.
    pub async fn commit_batch(&mut self, batch: &BatchId, manifest: Bytes) -> Result<bool, IngestError> {
        if put_create(&self.lake, &Layout::manifest(batch), manifest).await? {
            self.statuses.insert(batch.clone(), BatchStatus::Committed);
            return Ok(true);
        }
        let status = self.read_status(batch).await?;
        if let Some(status) = status {
            self.statuses.insert(batch.clone(), status);
        }
        // The create may have succeeded on an earlier, failed-looking attempt of our own.
        Ok(status == Some(BatchStatus::Committed))
    }

    /// Marks uuid hashes of chain `key` erased (`lakeq erase`): the next version, created
    /// like any commit, so every writer that commits after it classifies against it. Hashes
    /// already erased are left out; returns how many were marked now.
    pub async fn commit_erasure(
        &mut self,
        key: ChainKey,
        erasure: &BatchId,
        uuid_hashes: &[u128],
        now_millis: i64,
    ) -> Result<usize, IngestError> {
        const ATTEMPTS: u32 = 100;
        for _ in 0..ATTEMPTS {
            let state = self.state(key).await?;
            let mut erased: Vec<Hash128> = uuid_hashes
                .iter()
                .filter(|&&h| !state.is_erased(h))
                .map(|&h| Hash128(h))
                .collect();
            erased.sort();
            erased.dedup();
            if erased.is_empty() {
                return Ok(0);
            }
            let version = state.version + 1;
            let doc = CommitDoc {
                format: document::FORMAT,
                batch: erasure.to_string(),
                writer: self.writer.clone(),
                committed_at_millis: now_millis,
                claims: Vec::new(),
                others: Vec::new(),
                erased,
            };
            let marked = doc.erased.len();
            if put_create(
                &self.lake,
                &key.version_path(version),
                document::encode_doc(&doc)?,
            )
            .await?
            {
                self.record_commit(key, version, &doc).await?;
                return Ok(marked);
            }
            self.stats.conflicts += 1;
            self.refresh(key).await?;
        }
        Err(IngestError::CommitContention {
            chain: key.to_string(),
            attempts: ATTEMPTS,
        })
    }

    pub fn is_verified(&self, batch: &BatchId) -> bool {
        self.verified.contains(batch)
    }

    pub fn mark_verified(&mut self, batch: BatchId) {
        self.verified.insert(batch);
    }

    /// Distinct uuids and approximate heap bytes over every cached chain.
    pub fn memory(&self) -> (usize, usize) {
        self.chains
            .values()
            .fold((0, 0), |(n, b), s| (n + s.uuids(), b + s.approx_bytes()))
    }

    pub fn cached_chains(&self) -> usize {
        self.chains.len()
    }
}

/// A chain's state read from the store: its newest checkpoint, then the commits after it.
/// Also returns the bytes read.
async fn load_chain(lake: &Lake, key: ChainKey) -> Result<(ChainState, u64), IngestError> {
    let prefix = lake.path(&key.dir());
    let objects: Vec<_> = lake
        .store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|e| IngestError::store("list", &prefix, e))?;
    let mut versions = BTreeMap::new();
    let mut checkpoint = 0u64;
    for meta in &objects {
        let name = meta.location.filename().unwrap_or_default();
        if let Some(v) = name.strip_prefix('v').and_then(|v| v.parse::<u64>().ok()) {
            versions.insert(v, ());
        } else if let Some(v) = name
            .strip_prefix("checkpoint-")
            .and_then(|v| v.parse::<u64>().ok())
        {
            checkpoint = checkpoint.max(v);
        }
    }
    let mut bytes_read = 0u64;
    let mut state = if checkpoint > 0 {
        let path = key.checkpoint_path(checkpoint);
        let bytes = read_listed(lake, &path).await?;
        bytes_read += bytes.len() as u64;
        let state = ChainState::from_checkpoint(&bytes, &path)?;
        if state.version != checkpoint {
            return Err(IngestError::CorruptLedger {
                path,
                message: format!("the checkpoint holds version {}", state.version),
            });
        }
        state
    } else {
        ChainState::default()
    };
    for (&version, ()) in versions.range((Bound::Excluded(state.version), Bound::Unbounded)) {
        let path = key.version_path(version);
        let bytes = read_listed(lake, &path).await?;
        bytes_read += bytes.len() as u64;
        let doc: CommitDoc = document::decode_doc(&bytes, &path)?;
        state.apply(version, &doc, &path)?;
    }
    Ok((state, bytes_read))
}

/// An object the chain's listing named: missing now means the ledger was pruned wrongly.
async fn read_listed(lake: &Lake, path: &str) -> Result<Bytes, IngestError> {
    read_optional(lake, path)
        .await?
        .ok_or_else(|| IngestError::CorruptLedger {
            path: path.to_owned(),
            message: "listed but missing (was the ledger pruned without a checkpoint?)".into(),
        })
}

fn to_resolution(status: BatchStatus) -> Resolution {
    match status {
        BatchStatus::Committed => Resolution::Committed,
        BatchStatus::Aborted => Resolution::Aborted,
    }
}

/// Reads a lake-relative object, `None` if it does not exist.
pub async fn read_optional(lake: &Lake, relative: &str) -> Result<Option<Bytes>, IngestError> {
    let path = lake.path(relative);
    match lake.store.get(&path).await {
        Ok(result) => result
            .bytes()
            .await
            .map(Some)
            .map_err(|e| IngestError::store("get", &path, e)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(IngestError::store("get", &path, e)),
    }
}

/// Creates a lake-relative object if absent. `Ok(false)`: it already existed.
pub async fn put_create(lake: &Lake, relative: &str, bytes: Bytes) -> Result<bool, IngestError> {
    let path = lake.path(relative);
    let options = PutOptions {
        mode: PutMode::Create,
        ..PutOptions::default()
    };
    match lake.store.put_opts(&path, PutPayload::from(bytes), options).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
            Ok(false)
        }
        Err(e) => Err(IngestError::store("put", &path, e)),
    }
}
