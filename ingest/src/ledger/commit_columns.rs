//! A chain commit in columns (`ELB6`, written since 2026-12-02): its claims' shards, event
//! types, sequence numbers and replaced batches each in a column, the strings as indexes into
//! one table of the commit's distinct strings, the sequence numbers as differences; its
//! 128-bit hashes (claims, then others, then erasures) apart, as plain bytes. Invariant:
//! decoding gives back the [`CommitDoc`] that was encoded, claim for claim; a document that
//! does not add up is refused, never misread.
//!
//! Why: in rows (`ELB2`/`ELB3`) each claim repeated its shard and event type as text between
//! two random 16-byte hashes; commits were 29% of the ledger's bytes (BENCHMARKS.md, "Where the
//! ledger's bytes go"). The hashes are kept out of zstd because they cannot be compressed and,
//! in the same block, they spoil the entropy tables of the columns that can.

use super::chain::HashTable;
use super::document::{ClaimDoc, CommitDoc, Hash128, check_copied_strings};
use super::sequence_column::SequenceColumn;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Leads a commit in columns.
pub const COMMIT_COLUMNS_MAGIC: &[u8; 4] = b"ELB6";

const HASH_BYTES: usize = 16;

/// A claim that replaces no aborted batch, in [`CommitColumns::replaces`].
const REPLACES_NOTHING: u32 = 0;

/// A commit in columns: its hashes as plain bytes, the rest in postcard (to be compressed).
#[derive(Debug)]
pub struct EncodedColumns {
    pub hashes: Vec<u8>,
    pub plain: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct CommitColumns<'a> {
    format: u32,
    #[serde(borrow)]
    batch: Cow<'a, str>,
    #[serde(borrow)]
    writer: Cow<'a, str>,
    committed_at_millis: i64,
    /// The distinct shards, event types and replaced batches of the claims.
    #[serde(borrow)]
    strings: Vec<Cow<'a, str>>,
    shards: Vec<u32>,
    event_types: Vec<u32>,
    sequences: SequenceColumn,
    /// One more than the index of the batch a claim replaces, or [`REPLACES_NOTHING`].
    replaces: Vec<u32>,
    /// How many hashes follow the claims' as others, then as erasures.
    others: u32,
    erased: u32,
}

/// The distinct strings of a commit being written.
#[derive(Default)]
struct Strings<'a> {
    table: Vec<Cow<'a, str>>,
    index: HashTable<&'a str, u32>,
}

impl<'a> Strings<'a> {
    fn index(&mut self, text: &'a str) -> u32 {
        let next = self.table.len() as u32;
        let i = *self.index.entry(text).or_insert(next);
        if i == next {
            self.table.push(Cow::Borrowed(text));
        }
        i
    }
}

/// `doc` in columns (the plain part to be compressed behind [`COMMIT_COLUMNS_MAGIC`]).
pub(super) fn encode(doc: &CommitDoc<'_>) -> postcard::Result<EncodedColumns> {
    let n = doc.claims.len();
    let mut strings = Strings::default();
    let (mut shards, mut event_types, mut replaces) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for claim in &doc.claims {
        shards.push(strings.index(&claim.shard));
        event_types.push(strings.index(&claim.event_type));
        replaces.push(match &claim.replaces {
            Some(batch) => strings.index(batch) + 1,
            None => REPLACES_NOTHING,
        });
    }
    let columns = CommitColumns {
        format: doc.format,
        batch: Cow::Borrowed(&doc.batch),
        writer: Cow::Borrowed(&doc.writer),
        committed_at_millis: doc.committed_at_millis,
        strings: strings.table,
        shards,
        event_types,
        sequences: SequenceColumn::encode(doc.claims.iter().map(|c| c.sequence.as_ref())),
        replaces,
        others: doc.others.len() as u32,
        erased: doc.erased.len() as u32,
    };
    let hashes = doc
        .claims
        .iter()
        .map(|c| c.uuid)
        .chain(doc.others.iter().copied())
        .chain(doc.erased.iter().copied())
        .flat_map(|h| h.0.to_be_bytes())
        .collect();
    Ok(EncodedColumns {
        hashes,
        plain: postcard::to_stdvec(&columns)?,
    })
}

/// The commit `hashes` and `plain` (postcard in columns) hold; `Err` says what does not add up.
pub(super) fn decode(hashes: &[u8], plain: &[u8]) -> Result<CommitDoc<'static>, String> {
    let (columns, rest) = postcard::take_from_bytes::<CommitColumns<'_>>(plain)
        .map_err(|e| format!("bad binary document: {e}"))?;
    if !rest.is_empty() {
        return Err(format!("{} bytes after the document", rest.len()));
    }
    let n = columns.shards.len();
    let lengths = [
        columns.event_types.len(),
        columns.sequences.len(),
        columns.replaces.len(),
    ];
    if lengths.iter().any(|&len| len != n) {
        return Err(format!(
            "columns of unequal lengths: {n} shards, others {lengths:?}"
        ));
    }
    let counts = [n, columns.others as usize, columns.erased as usize];
    let hash_count = counts
        .iter()
        .try_fold(0usize, |sum, &count| sum.checked_add(count));
    if hash_count.and_then(|count| count.checked_mul(HASH_BYTES)) != Some(hashes.len()) {
        return Err(format!("{} bytes of hashes for {counts:?} hashes", hashes.len()));
    }
    let mut hashes = hashes
        .chunks_exact(HASH_BYTES)
        .map(|bytes| Hash128(u128::from_be_bytes(bytes.try_into().expect("16 bytes"))));
    let replaced = columns
        .replaces
        .iter()
        .filter(|&&r| r != REPLACES_NOTHING)
        .map(|&r| r - 1);
    let indexes = columns
        .shards
        .iter()
        .chain(&columns.event_types)
        .copied()
        .chain(replaced);
    check_copied_strings(&columns.strings, indexes, "string", "claim strings")?;
    let string = |i: u32| -> Result<Cow<'static, str>, String> {
        columns
            .strings
            .get(i as usize)
            .map(|s| Cow::Owned(s.clone().into_owned()))
            .ok_or_else(|| format!("string index {i} beyond the {} strings", columns.strings.len()))
    };
    let rows = columns
        .shards
        .iter()
        .zip(&columns.event_types)
        .zip(columns.sequences.decode()?)
        .zip(&columns.replaces)
        .zip(hashes.by_ref());
    let claims = rows
        .map(|((((&shard, &event_type), sequence), &replaces), uuid)| {
            Ok(ClaimDoc {
                uuid,
                shard: string(shard)?,
                sequence: Cow::Owned(sequence),
                event_type: string(event_type)?,
                replaces: match replaces {
                    REPLACES_NOTHING => None,
                    i => Some(string(i - 1)?),
                },
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let others = hashes.by_ref().take(counts[1]).collect();
    Ok(CommitDoc {
        format: columns.format,
        batch: columns.batch.into_owned(),
        writer: columns.writer.into_owned(),
        committed_at_millis: columns.committed_at_millis,
        claims,
        others,
        erased: hashes.collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(i: u64, replaces: Option<&str>) -> ClaimDoc<'static> {
        ClaimDoc {
            uuid: Hash128(u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)),
            shard: Cow::Owned(format!("shardId-00000000000{}", i % 2)),
            sequence: Cow::Owned((49_000_000_000u64 + i * 7).to_string()),
            event_type: Cow::Owned(["payment", "cart", "é€"][i as usize % 3].to_owned()),
            replaces: replaces.map(|b| Cow::Owned(b.to_owned())),
        }
    }

    fn commit(claims: Vec<ClaimDoc<'static>>) -> CommitDoc<'static> {
        CommitDoc {
            format: 2,
            batch: "0000000000002-0000000000000001".into(),
            writer: "w".into(),
            committed_at_millis: 7,
            claims,
            others: vec![Hash128(1), Hash128(u128::MAX)],
            erased: vec![Hash128(3)],
        }
    }

    #[test]
    fn a_commit_reads_back_claim_for_claim() {
        let aborted = "0000000000001-0000000000000009";
        let mut claims: Vec<_> = (0..50).map(|i| claim(i, None)).collect();
        claims[3].replaces = Some(Cow::Borrowed(aborted));
        claims[4].replaces = Some(Cow::Borrowed("payment"));
        let mut bare = commit(Vec::new());
        bare.others.clear();
        bare.erased.clear();
        for doc in [commit(claims), commit(Vec::new()), bare] {
            assert_eq!(round_trip(&doc).expect("decode"), doc);
        }
    }

    fn round_trip(doc: &CommitDoc<'_>) -> Result<CommitDoc<'static>, String> {
        let encoded = encode(doc).expect("encode");
        decode(&encoded.hashes, &encoded.plain)
    }

    #[test]
    fn a_commit_that_would_copy_one_string_into_memory_too_often_is_refused() {
        let long = "s".repeat(1 << 20);
        let mut claims: Vec<_> = (0..300).map(|i| claim(i, None)).collect();
        for claim in &mut claims {
            claim.shard = Cow::Owned(long.clone());
        }
        let doc = commit(claims);
        let EncodedColumns { hashes, plain } = encode(&doc).expect("encode");
        // The string is stored once, yet each claim would own a copy: 300 MiB from 1 MiB.
        assert!(plain.len() < 2 << 20);
        assert!(
            decode(&hashes, &plain)
                .expect_err("refused")
                .contains("claim strings")
        );
    }

    #[test]
    fn damaged_columns_are_refused_without_panicking() {
        let doc = commit((0..4).map(|i| claim(i, (i == 2).then_some("b"))).collect());
        let EncodedColumns { hashes, plain } = encode(&doc).expect("encode");
        for len in 0..plain.len() {
            assert!(decode(&hashes, &plain[..len]).is_err(), "cut to {len} bytes");
        }
        for len in (0..hashes.len()).chain([hashes.len() + 16]) {
            let hashes = [hashes.as_slice(), &[0; 16]].concat();
            assert!(
                decode(&hashes[..len], &plain).is_err(),
                "hashes cut to {len} bytes"
            );
        }
        for at in 0..plain.len() {
            for flip in [1u8, 0x80, 0xff] {
                let mut damaged = plain.clone();
                damaged[at] ^= flip;
                if let Ok(read) = decode(&hashes, &damaged) {
                    assert_eq!(round_trip(&read).expect("re-decode"), read);
                }
            }
        }
    }
}
