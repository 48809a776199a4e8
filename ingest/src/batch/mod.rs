//! The batch processor shared by `ingest run`, `ingest consume` and the Lambda: classify each
//! record, commit claims to the ledger, commit the batch, write its files, report per record.

pub mod files;
pub mod processor;
pub mod report;

pub use files::Role;
pub(crate) use processor::DecodedBatch;
pub use processor::{BatchProcessor, ProcessorConfig};
pub use report::{BatchReport, CommittedAs, Counts, FileWritten, RecordOutcome};
