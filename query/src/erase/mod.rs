//! `lakeq erase`: removes a person's events from every table and keeps them out.
//!
//! In order, each step safe to interrupt and to run again:
//! 1. find the uuids whose rows in `events` or `duplicates` match the predicate or are
//!    listed (`find`), and write the audit entry as `started` (`audit`);
//! 2. mark them erased in their ledger chains (a commit like any writer's), so from then on
//!    a re-send of one is counted and never stored, and a replay of the original is a retry;
//! 3. wait for the batches in flight on those chains, rewrite every manifest that holds an
//!    erased record without it, and roll the recent batches forward (`manifests`);
//! 4. rewrite each data file that holds erased rows without them, through compaction's
//!    journal (`rewrite`); quarantined records match by their raw bytes (`matcher`);
//! 5. write the audit entry as `finished`.

pub mod audit;
pub mod find;
pub mod manifests;
pub mod matcher;
pub mod report;
pub mod rewrite;

use crate::compact::journal::{Recovery, leftover};
use crate::error::QueryError;
use crate::files::partitions;
use crate::session::LakeSession;
use audit::AuditEntry;
use ingest::encode::ParquetOptions;
use ingest::ledger::Ledger;
use ingest::ledger::chain::{ChainKey, ChainKind, bucket_of};
use ingest::ledger::policy::LeasePolicy;
use ingest::storage::{BatchId, Lake, TableKind};
use matcher::Matcher;
use schemas::tables::Tables;
use schemas::{PartitionDate, Registry};
use std::collections::{BTreeMap, BTreeSet};

/// What to erase and how.
#[derive(Debug, Clone)]
pub struct EraseOptions {
    /// A SQL predicate over the columns of `events` and `duplicates`.
    pub predicate: Option<String>,
    /// Uuids to erase (with every copy), besides those the predicate matches.
    pub uuids: Vec<String>,
    pub dry_run: bool,
    pub reason: String,
    /// Refuse when the predicate matches more rows than this (a mistyped predicate must not
    /// erase the lake).
    pub max_rows: u64,
    /// How long a batch in flight may hold its claims (the writers' lease).
    pub lease: LeasePolicy,
    /// A compaction or erasure journal older than this is finished or undone by this run.
    pub takeover_millis: i64,
}

impl Default for EraseOptions {
    fn default() -> Self {
        EraseOptions {
            predicate: None,
            uuids: Vec::new(),
            dry_run: false,
            reason: String::new(),
            max_rows: 10_000,
            lease: LeasePolicy::default(),
            takeover_millis: 15 * 60 * 1000,
        }
    }
}

/// Per table: the files and rows an erasure rewrites (or would).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct EraseSummary {
    pub dry_run: bool,
    pub erasure_id: String,
    pub uuids: u64,
    pub chains_marked: u64,
    pub manifests_rewritten: u64,
    pub manifest_records: u64,
    /// Partitions another compaction or erasure held: run again.
    pub partitions_busy: u64,
    pub interrupted_finished: u64,
    pub interrupted_undone: u64,
    pub files: Vec<FileErased>,
    pub seconds: f64,
}

/// One file with erased rows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileErased {
    pub table: String,
    pub partition: String,
    pub file: String,
    pub rows_before: u64,
    pub rows_erased: u64,
}

impl EraseSummary {
    pub fn rows(&self, table: TableKind) -> u64 {
        self.files
            .iter()
            .filter(|f| f.table == table.dir())
            .map(|f| f.rows_erased)
            .sum()
    }
}

/// Runs an erasure (or plans it, with `dry_run`). `progress` gets (steps done, steps).
pub async fn erase(
    lake: &Lake,
    registry: &Registry,
    options: &EraseOptions,
    now_millis: i64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<EraseSummary, QueryError> {
    let started = std::time::Instant::now();
    let erasure_id = BatchId::new(now_millis, random_bits(now_millis)).to_string();
    let mut summary = EraseSummary {
        dry_run: options.dry_run,
        erasure_id: erasure_id.clone(),
        ..EraseSummary::default()
    };
    const STEPS: u64 = 5;
    if !options.dry_run {
        recover_journals(lake, now_millis, options.takeover_millis, &mut summary).await?;
    }
    let session = LakeSession::for_lake(lake.clone(), registry).await?;
    let found = find::find(&session, options.predicate.as_deref(), &options.uuids).await?;
    progress(1, STEPS);
    if found.rows > options.max_rows {
        return Err(QueryError::Usage(format!(
            "the predicate matches {} rows of events and duplicates, more than --max-rows {}; \
             check it with --dry-run, then raise --max-rows if it is right",
            found.rows, options.max_rows
        )));
    }
    let matcher = found.matcher;
    summary.uuids = matcher.uuids.len() as u64;
    let mut audit = AuditEntry {
        erasure_id: erasure_id.clone(),
        status: "started".into(),
        started_at_millis: now_millis,
        reason: options.reason.clone(),
        predicate_sha256: audit::predicate_hash(options.predicate.as_deref(), &options.uuids),
        uuids: summary.uuids,
        ..AuditEntry::default()
    };
    let mut partition_dirs = found.partitions;
    if !options.dry_run && !matcher.is_empty() {
        audit.write(lake).await?;
        let chains = mark_chains(lake, &matcher, &erasure_id, now_millis, &mut summary).await?;
        progress(2, STEPS);
        let mut ledger = Ledger::open(lake.clone(), "lakeq-erase", ingest::ledger::DEFAULT_BUCKETS).await?;
        let recent = manifests::settle(&mut ledger, &chains, options.lease, now_millis).await?;
        let scrubbed = manifests::scrub(lake, &matcher, false).await?;
        count_manifests(&scrubbed, &mut summary);
        // Only a batch that held an erased record can write one late.
        let recent = recent
            .into_iter()
            .filter(|batch| scrubbed.iter().any(|s| &s.batch == batch))
            .collect();
        partition_dirs.extend(manifests::roll_forward(lake, registry, &recent, &scrubbed).await?);
        progress(3, STEPS);
    } else if !matcher.is_empty() {
        let scrubbed = manifests::scrub(lake, &matcher, true).await?;
        count_manifests(&scrubbed, &mut summary);
    }
    if !matcher.is_empty() {
        rewrite_tables(
            lake,
            registry,
            &matcher,
            &partition_dirs,
            &erasure_id,
            options,
            now_millis,
            &mut summary,
        )
        .await?;
    }
    progress(4, STEPS);
    // Recorded even when nothing matched: the request was answered.
    if !options.dry_run {
        audit.status = if summary.partitions_busy == 0 {
            "finished"
        } else {
            "incomplete"
        }
        .into();
        audit.finished_at_millis = Some(now_millis + started.elapsed().as_millis() as i64);
        audit.chains_marked = summary.chains_marked;
        audit.events_rows = summary.rows(TableKind::Events);
        audit.duplicates_rows = summary.rows(TableKind::Duplicates);
        audit.quarantine_rows = summary.rows(TableKind::Quarantine);
        audit.manifests_rewritten = summary.manifests_rewritten;
        audit.manifest_records = summary.manifest_records;
        audit.files_rewritten = summary.files.len() as u64;
        audit.write(lake).await?;
    }
    progress(STEPS, STEPS);
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

fn count_manifests(scrubbed: &[manifests::Scrubbed], summary: &mut EraseSummary) {
    summary.manifests_rewritten = scrubbed.len() as u64;
    summary.manifest_records = scrubbed.iter().map(|s| s.records_erased).sum();
}

async fn recover_journals(
    lake: &Lake,
    now_millis: i64,
    takeover_millis: i64,
    summary: &mut EraseSummary,
) -> Result<(), QueryError> {
    for journal in leftover(lake).await? {
        match journal.recover(lake, now_millis, takeover_millis).await? {
            Recovery::Finished => summary.interrupted_finished += 1,
            Recovery::Undone => summary.interrupted_undone += 1,
            Recovery::Left => {}
        }
    }
    Ok(())
}

/// Commits the erasure to every chain that holds one of the uuids; the chains.
async fn mark_chains(
    lake: &Lake,
    matcher: &Matcher,
    erasure_id: &str,
    now_millis: i64,
    summary: &mut EraseSummary,
) -> Result<Vec<ChainKey>, QueryError> {
    let mut ledger = Ledger::open(lake.clone(), "lakeq-erase", ingest::ledger::DEFAULT_BUCKETS).await?;
    let buckets = ledger.buckets();
    let mut by_chain: BTreeMap<ChainKey, Vec<u128>> = BTreeMap::new();
    for (uuid, days) in &matcher.uuids {
        let hash = Matcher::uuid_hash(uuid);
        for &day in days {
            let Some(date) = PartitionDate::from_unix_seconds(i64::from(day) * 86_400) else {
                continue;
            };
            let key = ChainKey {
                kind: ChainKind::Events,
                date,
                bucket: bucket_of(hash, buckets),
            };
            by_chain.entry(key).or_default().push(hash);
        }
    }
    let erasure = BatchId::parse(erasure_id).ok_or_else(|| QueryError::Usage("bad erasure id".into()))?;
    for (key, hashes) in &by_chain {
        ledger.commit_erasure(*key, &erasure, hashes, now_millis).await?;
        summary.chains_marked += 1;
    }
    Ok(by_chain.into_keys().collect())
}

/// Rewrites the files with erased rows: events' and duplicates' in the partitions found,
/// quarantine's in every partition (an invalid record has no uuid column to prune by).
#[allow(clippy::too_many_arguments)]
async fn rewrite_tables(
    lake: &Lake,
    registry: &Registry,
    matcher: &Matcher,
    partition_dirs: &BTreeSet<String>,
    erasure_id: &str,
    options: &EraseOptions,
    now_millis: i64,
    summary: &mut EraseSummary,
) -> Result<(), QueryError> {
    let tables = Tables::new(registry);
    // Events last: a crash part way leaves the rows the predicate matched (the events) to be
    // found again by the rerun, which then erases their other copies too.
    for table in [TableKind::Quarantine, TableKind::Duplicates, TableKind::Events] {
        let schema = match table {
            TableKind::Events => tables.events.clone(),
            TableKind::Duplicates => tables.duplicates.clone(),
            TableKind::Quarantine => tables.quarantine.clone(),
        };
        for partition in partitions(lake, table).await? {
            if table != TableKind::Quarantine && !partition_dirs.contains(&partition.dir) {
                continue;
            }
            let Some(plan) = rewrite::plan_partition(lake, &partition, &schema, matcher).await? else {
                continue;
            };
            let files: Vec<FileErased> = plan
                .files
                .iter()
                .map(|f| FileErased {
                    table: table.dir().to_owned(),
                    partition: partition.dir.clone(),
                    file: f.file.clone(),
                    rows_before: f.rows_before,
                    rows_erased: f.rows_erased,
                })
                .collect();
            if !options.dry_run
                && !rewrite::apply(lake, plan, erasure_id, now_millis, ParquetOptions::compacted()).await?
            {
                tracing::warn!(partition = %partition.dir, "a compaction or erasure holds this partition; run erase again");
                summary.partitions_busy += 1;
                continue;
            }
            summary.files.extend(files);
        }
    }
    Ok(())
}

/// 64 bits for the erasure id, from the clock and the process (ids only need to differ).
fn random_bits(now_millis: i64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_i64(now_millis);
    hasher.write_u32(std::process::id());
    hasher.finish()
}
