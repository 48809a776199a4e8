//! The write path of eventlake: decode -> validate -> enrich -> dedup -> Arrow -> Parquet ->
//! object store. The Lambda handler and the `ingest` CLI are thin binaries over this library.
//!
//! Without the default feature `io` only the pure core is built: `decode`, `source`, the
//! ledger's `chain`/`document`/`policy`, `storage::layout`, `registry_dir` and `fuzzing`.

#[cfg(feature = "io")]
pub mod batch;
pub mod decode;
#[cfg(feature = "io")]
pub mod encode;
pub mod error;
pub mod fuzzing;
#[cfg(feature = "io")]
pub mod generate;
#[cfg(feature = "io")]
pub mod kinesis;
#[cfg(feature = "io")]
pub mod lambda;
pub mod ledger;
pub mod registry_dir;
#[cfg(feature = "io")]
pub mod run;
pub mod source;
pub mod storage;
#[cfg(feature = "io")]
pub mod testing;

pub use error::IngestError;
