//! Every key the pipeline writes, relative to the lake root:
//!
//! ```text
//! events/event_type=<t>/date=<YYYY-MM-DD>/<batch>.parquet
//! duplicates/event_type=<t>/date=<YYYY-MM-DD>/<batch>.parquet
//! quarantine/date=<YYYY-MM-DD>/<batch>.parquet          (date of arrival)
//! _ledger/config.json                                   (bucket count, fixed per lake)
//! _ledger/<events|quarantine>/date=<d>/bucket=<nnnn>/v<version>       chain commits
//! _ledger/<events|quarantine>/date=<d>/bucket=<nnnn>/checkpoint-<v>   merged state
//! _ledger/batches/<batch>.manifest                      batch commit record
//! _ledger/compactions/<partition>.json                  journal of a compaction or erasure
//! _ledger/compacted/<data file>.json                    marker: the file's rows moved
//! _ledger/erasures/<erasure>.json                       audit entry of `lakeq erase`
//! _ledger/erased-resends/<source fingerprint>           a re-send of an erased event
//! ```
//!
//! A batch writes at most one file per (table, partition), named after the batch, so the
//! name of every file is known from the manifest before it is written.

use schemas::PartitionDate;
use schemas::partition::event_type_segment;
use std::fmt;

/// The three tables of the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableKind {
    Events,
    Duplicates,
    Quarantine,
}

impl TableKind {
    pub fn dir(self) -> &'static str {
        match self {
            TableKind::Events => "events",
            TableKind::Duplicates => "duplicates",
            TableKind::Quarantine => "quarantine",
        }
    }
}

/// A batch's identity: creation time in milliseconds (so keys sort by time) and 64 random bits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BatchId(String);

impl BatchId {
    pub fn new(now_millis: i64, random: u64) -> Self {
        BatchId(format!("{now_millis:013}-{random:016x}"))
    }

    /// Parses an id read back from the ledger.
    pub fn parse(text: &str) -> Option<Self> {
        let (millis, random) = text.split_once('-')?;
        let ok = millis.len() == 13
            && random.len() == 16
            && millis.bytes().all(|b| b.is_ascii_digit())
            && random.bytes().all(|b| b.is_ascii_hexdigit());
        ok.then(|| BatchId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Path rules, all relative to the lake root.
#[derive(Debug, Clone, Copy, Default)]
pub struct Layout;

impl Layout {
    pub const LEDGER: &'static str = "_ledger";

    /// The data file a batch writes for one partition. `event_type` is ignored for quarantine.
    pub fn data_file(table: TableKind, event_type: &str, date: PartitionDate, batch: &BatchId) -> String {
        match table {
            TableKind::Quarantine => format!("{}/{}/{batch}.parquet", table.dir(), date.segment()),
            _ => {
                // decode() admits only event types that pass this check; a failure here is a
                // programming error, so fall back to a quarantine-like, always-safe name.
                let segment =
                    event_type_segment(event_type).unwrap_or_else(|_| "event_type=__invalid__".into());
                format!("{}/{segment}/{}/{batch}.parquet", table.dir(), date.segment())
            }
        }
    }

    pub fn manifest(batch: &BatchId) -> String {
        format!("{}/batches/{batch}.manifest", Self::LEDGER)
    }

    pub fn config() -> String {
        format!("{}/config.json", Self::LEDGER)
    }

    /// Written by compaction before it deletes `data_file`: the file's rows now live in the
    /// compacted file the marker names, so a roll-forward must not write them again.
    pub fn compacted_marker(data_file: &str) -> String {
        // Not `*.parquet`: a glob over the whole lake must not pick markers up as data.
        format!("{}/compacted/{data_file}.json", Self::LEDGER)
    }

    /// A compaction's journal: its inputs and outputs, present while it is unfinished.
    pub fn compaction_journal(id: &str) -> String {
        format!("{}/compactions/{id}.json", Self::LEDGER)
    }

    pub const COMPACTIONS: &'static str = "_ledger/compactions";

    /// One empty object per distinct re-sent record of an erased event (named by the
    /// record's source fingerprint, so a retry counts once): the count `lakeq dups` reports.
    pub fn erased_resend(source_fingerprint: u128) -> String {
        format!("{}/{source_fingerprint:032x}", Self::ERASED_RESENDS)
    }

    pub const ERASED_RESENDS: &'static str = "_ledger/erased-resends";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_hive_layout() {
        let date = PartitionDate::from_unix_seconds(1_644_838_800).expect("in range");
        let batch = BatchId::new(1_700_000_000_000, 0xabc);
        assert_eq!(
            Layout::data_file(TableKind::Events, "payment", date, &batch),
            "events/event_type=payment/date=2022-02-14/1700000000000-0000000000000abc.parquet"
        );
        assert_eq!(
            Layout::data_file(TableKind::Quarantine, "ignored", date, &batch),
            "quarantine/date=2022-02-14/1700000000000-0000000000000abc.parquet"
        );
        assert_eq!(BatchId::parse(batch.as_str()), Some(batch));
        assert_eq!(BatchId::parse("../x"), None);
    }
}
