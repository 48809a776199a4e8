//! Encoding, separate from upload: rows -> Arrow record batches (`record_batch`), record
//! batches -> Parquet bytes in memory (`parquet`). Synchronous and deterministic.

pub mod parquet;
pub mod record_batch;

pub use parquet::{FileSchema, ParquetOptions, TableFileSchemas, encode_parquet, encode_parquet_as};
pub use record_batch::{DuplicateRow, EventRow, OriginalPointer, QuarantineRow, RowEncoder};
