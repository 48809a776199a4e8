//! What a batch did, record by record, and its totals.

use crate::decode::QuarantineReason;
use crate::source::{SourceId, SourceRecord};
use crate::storage::{BatchId, TableKind};
use std::collections::BTreeMap;

/// The fate of one input record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Its row is now in `events`.
    Written,
    /// Its row is now in `duplicates`.
    Duplicate,
    /// A duplicate of an event `lakeq erase` removed: counted, and no row is written.
    ErasedResend,
    /// Its row is now in `quarantine`.
    Quarantined(QuarantineReason),
    /// An earlier attempt already committed this very record (a retry); its row is in the
    /// lake (rolled forward now if its file was missing), nothing new was added.
    AlreadyCommitted(CommittedAs),
    /// Not processed; the record must be delivered again.
    Failed { retryable: bool, message: String },
}

/// The table an already-committed record's row went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommittedAs {
    Event,
    Duplicate,
    Quarantine,
}

/// One data file the batch created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileWritten {
    pub path: String,
    pub table: TableKind,
    pub rows: usize,
    pub bytes: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    pub batch: Option<BatchId>,
    pub outcomes: Vec<RecordOutcome>,
    pub files: Vec<FileWritten>,
    pub ledger_conflicts: u64,
}

/// Totals by role. A retried record counts under the role it was committed with, so
/// `records_in = written + duplicates + quarantined + failed` always holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub records_in: u64,
    pub written: u64,
    pub duplicates: u64,
    pub quarantined: u64,
    pub already_committed: u64,
    pub failed: u64,
    /// Duplicates (counted in `duplicates` too) of erased events, whose payload was dropped.
    pub erased_resends: u64,
    pub quarantined_by_reason: BTreeMap<String, u64>,
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        self.records_in += other.records_in;
        self.written += other.written;
        self.duplicates += other.duplicates;
        self.quarantined += other.quarantined;
        self.already_committed += other.already_committed;
        self.failed += other.failed;
        self.erased_resends += other.erased_resends;
        for (reason, n) in &other.quarantined_by_reason {
            *self.quarantined_by_reason.entry(reason.clone()).or_default() += n;
        }
    }
}

impl BatchReport {
    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            records_in: self.outcomes.len() as u64,
            ..Counts::default()
        };
        for outcome in &self.outcomes {
            match outcome {
                RecordOutcome::Written => c.written += 1,
                RecordOutcome::Duplicate => c.duplicates += 1,
                RecordOutcome::ErasedResend => {
                    c.duplicates += 1;
                    c.erased_resends += 1;
                }
                RecordOutcome::Quarantined(reason) => {
                    c.quarantined += 1;
                    *c.quarantined_by_reason
                        .entry(reason.as_str().to_owned())
                        .or_default() += 1;
                }
                RecordOutcome::AlreadyCommitted(role) => {
                    c.already_committed += 1;
                    match role {
                        CommittedAs::Event => c.written += 1,
                        CommittedAs::Duplicate => c.duplicates += 1,
                        CommittedAs::Quarantine => c.quarantined += 1,
                    }
                }
                RecordOutcome::Failed { .. } => c.failed += 1,
            }
        }
        c
    }

    /// The source of the lowest failed record (by shard, then sequence number): Kinesis'
    /// `batchItemFailures` contract restarts the shard from there.
    pub fn lowest_failure<'a>(&self, records: &'a [SourceRecord]) -> Option<&'a SourceId> {
        records
            .iter()
            .zip(&self.outcomes)
            .filter(|(_, o)| matches!(o, RecordOutcome::Failed { .. }))
            .map(|(r, _)| &r.source)
            .min()
    }

    /// A report for a batch that failed as a whole.
    pub fn all_failed(n: usize, retryable: bool, message: &str) -> Self {
        BatchReport {
            outcomes: vec![
                RecordOutcome::Failed {
                    retryable,
                    message: message.to_owned()
                };
                n
            ],
            ..BatchReport::default()
        }
    }
}
