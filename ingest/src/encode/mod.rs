//! Encoding, separate from upload: rows -> Arrow record batches (`record_batch`), record
//! batches -> Parquet bytes in memory (`parquet`). Synchronous and deterministic.

pub mod parquet;
pub mod record_batch;

pub use parquet::{ParquetOptions, encode_parquet};
pub use record_batch::{DuplicateRow, EventRow, OriginalPointer, QuarantineRow, RowEncoder};
