//! The dedup ledger: exactly-once claims on S3 alone, using only conditional creates.
//!
//! Each (kind, date, bucket) chain is an append-only sequence of immutable commit objects
//! `v000000000001, v000000000002, ...`, each created with `PutMode::Create`, so two writers
//! can never both create version N: whoever commits N+1 did so knowing all of 1..=N, which
//! makes its classification (new, duplicate, retry) correct. A batch's manifest, created
//! with `PutMode::Create` after all its chain commits, is the batch's commit point; an
//! abort tombstone at the same key (written by the batch itself on failure, or by anyone
//! once the claim's lease ran out) voids the batch's claims for good. Data files are derived
//! from the manifest and also created with `PutMode::Create`, so any writer may roll a
//! committed batch forward and no row is ever written twice.
//!
//! `chain`, `decision` (the dedup rules), `document` and `policy` are pure (no I/O); `store` (feature `pipeline`, in the default `local`)
//! is the [`Ledger`] that reads and writes them on the lake.

pub mod chain;
mod claims;
mod commit_columns;
#[cfg(feature = "pipeline")]
pub(crate) mod decision;
pub mod document;
mod interner;
mod manifest_columns;
pub mod policy;
mod sequence_arena;
mod sequence_column;
#[cfg(feature = "pipeline")]
mod store;

#[cfg(feature = "pipeline")]
pub use store::{DEFAULT_BUCKETS, Ledger, LedgerStats, Resolution, put_create, read_optional};
