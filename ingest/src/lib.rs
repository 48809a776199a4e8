//! The write path of eventlake: decode -> validate -> enrich -> dedup -> Arrow -> Parquet ->
//! object store. The Lambda handler and the `ingest` CLI are thin binaries over this library.
//!
//! Features in layers (Cargo.toml): without any, only the pure core is built (`decode`,
//! `source`, `display`, the ledger's `chain`/`document`/`policy`, `storage::layout`,
//! `registry_dir`, `fuzzing`); `lake` adds the store and the Parquet encoder (all the read
//! path needs); `pipeline` the batch processor, the ledger on the lake, the partition catalog,
//! `run`, `generate` and `testing`; `cli` the argument parsing every binary shares; `local`
//! (default) the `ingest` binary's local commands; `aws` Kinesis, the Glue catalog and the
//! Lambda; `io` all of it.

#[cfg(feature = "pipeline")]
pub mod batch;
#[cfg(feature = "pipeline")]
pub mod catalog;
#[cfg(feature = "cli")]
pub mod cli;
pub mod decode;
pub mod display;
#[cfg(feature = "lake")]
pub mod encode;
pub mod error;
pub mod fuzzing;
#[cfg(feature = "pipeline")]
pub mod generate;
#[cfg(feature = "aws")]
pub mod kinesis;
#[cfg(feature = "aws")]
pub mod lambda;
pub mod ledger;
pub mod registry_dir;
#[cfg(feature = "pipeline")]
pub mod run;
pub mod source;
pub mod storage;
#[cfg(feature = "pipeline")]
pub mod testing;

pub use error::IngestError;
