//! The write path of eventlake: decode -> validate -> enrich -> dedup -> Arrow -> Parquet ->
//! object store. The Lambda handler and the `ingest` CLI are thin binaries over this library.

pub mod batch;
pub mod decode;
pub mod encode;
pub mod error;
pub mod fuzzing;
pub mod generate;
pub mod kinesis;
pub mod lambda;
pub mod ledger;
pub mod registry_dir;
pub mod run;
pub mod source;
pub mod storage;
pub mod testing;

pub use error::IngestError;
