//! Record batch -> Parquet bytes in memory: zstd, page-level statistics and page index,
//! a bloom filter on `event_uuid` where the table has one, microsecond UTC timestamps.
//! Columns that are null in every row (most payload columns of a partition: each event type
//! fills a few of the registry's fields) are written plain, uncompressed and without
//! statistics: their pages hold only definition levels, and a zstd context, a dictionary and
//! page-index entries per such column cost more CPU and footer bytes than they save.

use crate::error::IngestError;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use schemas::columns;

/// Knobs of the Parquet encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParquetOptions {
    pub zstd_level: i32,
    pub max_row_group_rows: usize,
    /// A column whose Arrow buffers are smaller than this is written uncompressed: zstd saves
    /// a few hundred bytes on it, and its context (parquet creates one per compressed column
    /// and file) costs more CPU than encoding the column. A Kinesis batch spreads over dozens
    /// of partitions, so most of its files' columns are this small.
    pub uncompressed_below_bytes: usize,
}

impl Default for ParquetOptions {
    /// The write path's files: zstd level 1, the fastest (level 3 made the whole batch about
    /// 13% slower for files 5% smaller; compaction rewrites them at [`ParquetOptions::compacted`]).
    fn default() -> Self {
        ParquetOptions {
            zstd_level: 1,
            max_row_group_rows: 1024 * 1024,
            uncompressed_below_bytes: 4096,
        }
    }
}

impl ParquetOptions {
    /// Compaction's files: off the hot path and read for a long time, so every column is
    /// compressed, harder.
    pub fn compacted() -> Self {
        ParquetOptions {
            zstd_level: 3,
            uncompressed_below_bytes: 0,
            ..ParquetOptions::default()
        }
    }
}

/// Columns whose every row holds a value of its own: a dictionary would be as long as the
/// column, so building it (hashing every value) is pure cost and its page pure overhead.
const UNIQUE_PER_ROW: &[&str] = &[columns::EVENT_UUID, columns::SEQUENCE_NUMBER, columns::RAW];

/// Encodes one record batch as a complete Parquet file.
pub fn encode_parquet(batch: &RecordBatch, options: ParquetOptions) -> Result<Bytes, IngestError> {
    let zstd = ZstdLevel::try_new(options.zstd_level).map_err(IngestError::encode("Parquet (zstd level)"))?;
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(zstd))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(options.max_row_group_rows))
        .set_created_by(concat!("eventlake ", env!("CARGO_PKG_VERSION")).to_owned());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if column.null_count() == column.len() {
            let path = ColumnPath::from(field.name().as_str());
            props = props
                .set_column_compression(path.clone(), Compression::UNCOMPRESSED)
                .set_column_dictionary_enabled(path.clone(), false)
                .set_column_statistics_enabled(path, EnabledStatistics::None);
        } else if column.get_buffer_memory_size() < options.uncompressed_below_bytes {
            let path = ColumnPath::from(field.name().as_str());
            props = props.set_column_compression(path, Compression::UNCOMPRESSED);
        }
    }
    for name in UNIQUE_PER_ROW {
        if batch.schema().field_with_name(name).is_ok() {
            props = props.set_column_dictionary_enabled(ColumnPath::from(*name), false);
        }
    }
    if batch.schema().field_with_name(columns::EVENT_UUID).is_ok() {
        let uuid = ColumnPath::from(columns::EVENT_UUID);
        props = props
            .set_column_bloom_filter_enabled(uuid.clone(), true)
            .set_column_bloom_filter_max_ndv(uuid, batch.num_rows().max(1) as u64);
    }
    let mut buffer = Vec::with_capacity(batch.get_array_memory_size() / 4 + 4096);
    let mut writer = ArrowWriter::try_new(&mut buffer, batch.schema(), Some(props.build()))
        .map_err(IngestError::encode("a Parquet file"))?;
    writer
        .write(batch)
        .map_err(IngestError::encode("a Parquet file"))?;
    writer.close().map_err(IngestError::encode("a Parquet file"))?;
    Ok(Bytes::from(buffer))
}
