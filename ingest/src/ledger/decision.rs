//! The dedup rules: how each record of a batch relates to what its chain already holds (new,
//! a retry of a committed record, a duplicate, invalid, or blocked behind a batch still in
//! flight), and what a chain's commit records for it. Pure: the chain's lookups and the
//! resolution of the batches they name come in, decisions go out; the processor does the
//! I/O around them. Invariant: a uuid is claimed at most once per chain state, so within a
//! batch the first record of a uuid claims it and later ones are its duplicates.

use super::Resolution;
use super::chain::{ChainKind, ClaimView, HashTable, OtherView};
use crate::batch::report::CommittedAs;
use crate::encode::OriginalPointer;
use crate::source::SourceId;
use crate::storage::{BatchId, Layout, TableKind};
use schemas::PartitionDate;

/// What happens to one record of a batch.
#[derive(Debug, Clone)]
pub(crate) enum Decision {
    /// A new event: claim its uuid (taking over the claim of an aborted batch, if any).
    Claim { replaces: Option<BatchId> },
    /// A duplicate of an event an earlier batch committed.
    Duplicate(OriginalPointer),
    /// A duplicate of the record at this index of the same batch, which claims the uuid.
    DuplicateOfItem(usize),
    /// A duplicate of a committed event that `lakeq erase` removed: no row, nothing recorded
    /// (a retry of it decides the same again).
    ErasedResend,
    /// An invalid record, new to its quarantine chain.
    Quarantine,
    /// A retry of a record an earlier batch committed (roll that batch forward if needed).
    Done {
        batch: BatchId,
        committed_as: CommittedAs,
    },
    /// The record's claim or entry belongs to a batch still in flight within its lease.
    Blocked { batch: BatchId },
    /// The same source as the record at this index of the batch: it shares its fate.
    SameSourceAs(usize),
}

/// What a chain's commit records for a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entry<'a> {
    /// A claim on the record's uuid.
    Claim {
        replaces: Option<&'a BatchId>,
    },
    /// The record's source fingerprint, so a retry of it is recognised.
    Other,
    Nothing,
}

impl Decision {
    pub(crate) fn entry(&self) -> Entry<'_> {
        match self {
            Decision::Claim { replaces } => Entry::Claim {
                replaces: replaces.as_ref(),
            },
            Decision::Duplicate(_) | Decision::DuplicateOfItem(_) | Decision::Quarantine => Entry::Other,
            Decision::Done { .. }
            | Decision::Blocked { .. }
            | Decision::SameSourceAs(_)
            | Decision::ErasedResend => Entry::Nothing,
        }
    }
}

/// One record of a chain with what the chain's state holds for it.
#[derive(Debug)]
pub(crate) struct Candidate<'a> {
    /// The record's index in its batch.
    pub index: usize,
    /// Its uuid hash (events chains) or source fingerprint (quarantine chains).
    pub key: u128,
    pub source: &'a SourceId,
    /// The batch that recorded this source as a duplicate or quarantined, if any.
    pub other: Option<OtherView>,
    /// The claim on the record's uuid (events chains).
    pub claim: Option<ClaimView>,
    /// Whether `lakeq erase` removed the event of this uuid (events chains).
    pub erased: bool,
}

/// Decides every record of one chain, in batch order. `status` resolves the batches that
/// the lookups name (absent ones count as pending).
pub(crate) fn decide_chain(
    kind: ChainKind,
    date: PartitionDate,
    candidates: Vec<Candidate<'_>>,
    status: impl Fn(&BatchId) -> Resolution,
) -> Vec<(usize, Decision)> {
    let mut claimed_here: HashTable<u128, usize> = HashTable::default();
    candidates
        .into_iter()
        .map(|c| {
            let recorded = c.other.as_ref().map(|o| (status(&o.batch), o.batch.clone()));
            let decision = match (kind, recorded) {
                (ChainKind::Quarantine, Some((Resolution::Committed, batch))) => Decision::Done {
                    batch,
                    committed_as: CommittedAs::Quarantine,
                },
                (ChainKind::Events, Some((Resolution::Committed, batch))) => Decision::Done {
                    batch,
                    committed_as: CommittedAs::Duplicate,
                },
                (_, Some((Resolution::Pending, batch))) => Decision::Blocked { batch },
                (ChainKind::Quarantine, _) => Decision::Quarantine,
                (ChainKind::Events, _) => match claimed_here.get(&c.key) {
                    Some(&first) => Decision::DuplicateOfItem(first),
                    None => {
                        let d = decide_event(c.source, c.claim, c.erased, &status, date);
                        if matches!(d, Decision::Claim { .. }) {
                            claimed_here.insert(c.key, c.index);
                        }
                        d
                    }
                },
            };
            (c.index, decision)
        })
        .collect()
}

/// How a valid record relates to the claim (if any) on its uuid.
fn decide_event(
    source: &SourceId,
    claim: Option<ClaimView>,
    erased: bool,
    status: impl Fn(&BatchId) -> Resolution,
    date: PartitionDate,
) -> Decision {
    let Some(claim) = claim else {
        return Decision::Claim { replaces: None };
    };
    match status(&claim.batch) {
        Resolution::Committed if claim.source == *source => Decision::Done {
            batch: claim.batch,
            committed_as: CommittedAs::Event,
        },
        Resolution::Committed if erased => Decision::ErasedResend,
        Resolution::Committed => Decision::Duplicate(OriginalPointer {
            file: Layout::data_file(TableKind::Events, &claim.event_type, date, &claim.batch),
            source: claim.source,
        }),
        Resolution::Aborted => Decision::Claim {
            replaces: Some(claim.batch),
        },
        Resolution::Pending => Decision::Blocked { batch: claim.batch },
    }
}

/// Later records with the same source and the same bytes (what a source fingerprint covers,
/// compared whole) as an earlier one in the batch mirror it; the others are left to their
/// chains.
pub(crate) fn same_source_decisions<'a>(
    records: impl Iterator<Item = (&'a SourceId, &'a [u8])>,
) -> Vec<Option<Decision>> {
    let mut first: HashTable<SameSource<'_>, usize> = HashTable::default();
    records
        .map(|(source, bytes)| SameSource { source, bytes })
        .enumerate()
        .map(|(i, record)| match first.get(&record) {
            Some(&j) => Some(Decision::SameSourceAs(j)),
            None => {
                first.insert(record, i);
                None
            }
        })
        .collect()
}

/// A record as [`same_source_decisions`] compares it: equal when source and bytes are, hashed
/// by its source alone (the same source with other bytes is rare; hashing every record's bytes
/// is not).
#[derive(PartialEq, Eq)]
struct SameSource<'a> {
    source: &'a SourceId,
    bytes: &'a [u8],
}

impl std::hash::Hash for SameSource<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.source.hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SequenceNumber;

    fn source(sequence: u64) -> SourceId {
        SourceId::new("shardId-0", SequenceNumber::from_u64(sequence))
    }

    fn claim(batch: &BatchId, sequence: u64) -> ClaimView {
        ClaimView {
            source: source(sequence),
            batch: batch.clone(),
            event_type: "payment".into(),
            committed_at_millis: 1,
        }
    }

    fn other(batch: &BatchId) -> OtherView {
        OtherView {
            batch: batch.clone(),
            committed_at_millis: 1,
        }
    }

    fn date() -> PartitionDate {
        PartitionDate::from_unix_seconds(1_700_000_000).expect("date")
    }

    /// Decides candidates (index, key, sequence, other, claim) of one chain.
    fn decide(
        kind: ChainKind,
        rows: Vec<(u128, u64, Option<OtherView>, Option<ClaimView>)>,
        status: impl Fn(&BatchId) -> Resolution,
    ) -> Vec<Decision> {
        let sources: Vec<SourceId> = rows.iter().map(|r| source(r.1)).collect();
        let candidates = rows
            .into_iter()
            .zip(&sources)
            .enumerate()
            .map(|(index, ((key, _, other, claim), source))| Candidate {
                index,
                key,
                source,
                other,
                claim,
                erased: key == ERASED,
            })
            .collect();
        decide_chain(kind, date(), candidates, status)
            .into_iter()
            .map(|(_, d)| d)
            .collect()
    }

    #[test]
    fn the_first_record_of_a_new_uuid_claims_it_and_the_next_are_its_duplicates() {
        let d = decide(
            ChainKind::Events,
            vec![(7, 1, None, None), (7, 2, None, None), (8, 3, None, None)],
            |_| Resolution::Committed,
        );
        assert!(matches!(d[0], Decision::Claim { replaces: None }));
        assert!(matches!(d[1], Decision::DuplicateOfItem(0)));
        assert!(matches!(d[2], Decision::Claim { replaces: None }));
        assert_eq!(d[1].entry(), Entry::Other);
    }

    #[test]
    fn a_claim_decides_by_its_batch_and_source() {
        let earlier = BatchId::new(1, 1);
        let with = |resolution: Resolution, sequence: u64| {
            decide(
                ChainKind::Events,
                vec![(7, sequence, None, Some(claim(&earlier, 1)))],
                move |_| resolution,
            )
            .remove(0)
        };
        assert!(matches!(
            with(Resolution::Committed, 1),
            Decision::Done {
                committed_as: CommittedAs::Event,
                ..
            }
        ));
        let Decision::Duplicate(original) = with(Resolution::Committed, 2) else {
            panic!("a committed claim of another source makes a duplicate");
        };
        assert_eq!(original.source, source(1));
        assert!(
            original.file.starts_with("events/event_type=payment/"),
            "{}",
            original.file
        );
        assert!(matches!(
            with(Resolution::Aborted, 2),
            Decision::Claim { replaces: Some(b) } if b == earlier
        ));
        assert!(matches!(with(Resolution::Pending, 2), Decision::Blocked { .. }));
    }

    /// The uuid key the test chains treat as erased.
    const ERASED: u128 = 666;

    #[test]
    fn a_resend_of_an_erased_event_is_counted_and_stores_nothing() {
        let earlier = BatchId::new(1, 1);
        let d = decide(
            ChainKind::Events,
            vec![
                (ERASED, 2, None, Some(claim(&earlier, 1))),
                (ERASED, 1, None, Some(claim(&earlier, 1))),
            ],
            |_| Resolution::Committed,
        );
        assert!(matches!(d[0], Decision::ErasedResend));
        assert_eq!(d[0].entry(), Entry::Nothing);
        // The original itself, delivered again (a Kinesis replay), is still a retry.
        assert!(matches!(
            d[1],
            Decision::Done {
                committed_as: CommittedAs::Event,
                ..
            }
        ));
    }

    #[test]
    fn a_recorded_source_is_a_retry_blocked_or_new_again() {
        let earlier = BatchId::new(1, 1);
        let recorded = |kind: ChainKind, resolution: Resolution| {
            decide(kind, vec![(9, 1, Some(other(&earlier)), None)], move |_| {
                resolution
            })
            .remove(0)
        };
        assert!(matches!(
            recorded(ChainKind::Events, Resolution::Committed),
            Decision::Done {
                committed_as: CommittedAs::Duplicate,
                ..
            }
        ));
        assert!(matches!(
            recorded(ChainKind::Quarantine, Resolution::Committed),
            Decision::Done {
                committed_as: CommittedAs::Quarantine,
                ..
            }
        ));
        assert!(matches!(
            recorded(ChainKind::Quarantine, Resolution::Pending),
            Decision::Blocked { .. }
        ));
        assert!(matches!(
            recorded(ChainKind::Quarantine, Resolution::Aborted),
            Decision::Quarantine
        ));
        assert!(matches!(
            recorded(ChainKind::Events, Resolution::Aborted),
            Decision::Claim { replaces: None }
        ));
        assert_eq!(Decision::Quarantine.entry(), Entry::Other);
    }

    #[test]
    fn repeated_sources_mirror_their_first_record() {
        let (five, six) = (source(5), source(6));
        let records: [(&SourceId, &[u8]); 6] = [
            (&five, b"a"),
            (&six, b"a"),
            (&five, b"a"),
            (&five, b"b"),
            (&five, b"a"),
            (&six, b"b"),
        ];
        let d = same_source_decisions(records.into_iter());
        assert!(d[0].is_none() && d[1].is_none());
        assert!(matches!(d[2], Some(Decision::SameSourceAs(0))));
        assert!(
            d[3].is_none(),
            "the same source with other bytes is a record of its own"
        );
        assert!(matches!(d[4], Some(Decision::SameSourceAs(0))));
        assert!(d[5].is_none());
    }
}
