//! Record batch -> Parquet bytes in memory: zstd, page-level statistics and page index,
//! a bloom filter on `event_uuid` where the table has one, microsecond UTC timestamps.
//! Columns that are null in every row (most payload columns of a partition: each event type
//! fills a few of the registry's fields) are written plain, uncompressed and without
//! statistics: their pages hold only definition levels, and a zstd context, a dictionary and
//! page-index entries per such column cost more CPU and footer bytes than they save. Small
//! columns, and columns whose values repeat so much that their dictionary and indices are
//! small, are written uncompressed for the same reason ([`ParquetOptions::uncompressed_below_bytes`]).
//! Columns whose values are mostly distinct (a user id, a price) are written without a
//! dictionary: it would be as long as the column, and building it hashes every value.

use crate::error::IngestError;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{ArrowError, DataType, SchemaRef, TimeUnit};
use bytes::Bytes;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::arrow::{ArrowSchemaConverter, ArrowWriter, add_encoded_arrow_schema_to_metadata};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterPropertiesBuilder};
use parquet::schema::types::{ColumnPath, SchemaDescriptor};
use schemas::{Tables, columns};
use std::collections::HashSet;
use std::sync::Arc;

/// Knobs of the Parquet encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParquetOptions {
    pub zstd_level: i32,
    pub max_row_group_rows: usize,
    /// A column that takes fewer bytes than this before compression (its Arrow buffers, or,
    /// when its values repeat, its dictionary and indices) is written uncompressed: zstd saves
    /// a few hundred bytes on it at most, and its context (parquet creates one per compressed
    /// column and file) costs more CPU than encoding the column. A Kinesis batch spreads over
    /// dozens of partitions, so most of its files' columns are this small.
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

/// Whether a column will take fewer than `limit` bytes in the file before compression: its
/// Arrow buffers are that small, or its values repeat so much that the dictionary and the
/// indices take a quarter of it (a batch's shard id, an event type's few names and subtypes,
/// a file's arrival time: zstd saved nothing on them and sometimes added bytes, for a context
/// per column). Only a quarter: a dictionary of sorted or similar values near the limit (the
/// seconds of `created_at` in a large file, file names) still shrinks by half or more.
fn encoded_below(column: &dyn Array, dictionary: bool, limit: usize) -> bool {
    limit > 0
        && (column.get_buffer_memory_size() < limit
            || (dictionary && dictionary_bytes(column, limit / 4).is_some_and(|bytes| bytes < limit / 4)))
}

/// Values looked at to tell a column whose values are mostly distinct (a user id, a price).
const DISTINCT_SAMPLE: usize = 64;

/// Whether most of a column's values differ from each other, judged on its first
/// [`DISTINCT_SAMPLE`] values: then a dictionary is as long as the column, and parquet would
/// hash every value to build it (in a file of a few thousand rows it never gives up on one).
fn mostly_distinct(column: &dyn Array) -> bool {
    fn judged<T: Eq + std::hash::Hash>(values: impl Iterator<Item = T>) -> bool {
        let sample: Vec<T> = values.take(DISTINCT_SAMPLE).collect();
        let distinct = distinct_values(sample.iter(), usize::MAX, usize::MAX, |_| 0).map_or(0, |(n, _)| n);
        sample.len() >= DISTINCT_SAMPLE / 4 && distinct * 8 >= sample.len() * 7
    }
    match column.data_type() {
        DataType::Utf8 => judged(column.as_string::<i32>().iter().flatten()),
        DataType::Int64 => judged(column.as_primitive::<Int64Type>().iter().flatten()),
        DataType::Float64 => judged(
            column
                .as_primitive::<Float64Type>()
                .iter()
                .flatten()
                .map(f64::to_bits),
        ),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            judged(column.as_primitive::<TimestampMicrosecondType>().iter().flatten())
        }
        _ => false,
    }
}

/// About what a string, 64-bit integer or microsecond timestamp column takes dictionary
/// encoded: its distinct values and a bit-packed index per row. `None` for other types, once
/// more than half the rows hold distinct values, and once the estimate reaches `budget`:
/// counting stops there, so a column that is no candidate costs a few hashes, not a pass.
fn dictionary_bytes(column: &dyn Array, budget: usize) -> Option<usize> {
    let rows = column.len();
    if rows.div_ceil(8) >= budget {
        return None;
    }
    let most = rows / 2;
    let (distinct, value_bytes) = match column.data_type() {
        DataType::Utf8 => distinct_values(column.as_string::<i32>().iter().flatten(), most, budget, |v| {
            v.len() + 4
        })?,
        DataType::Int64 => distinct_values(
            column.as_primitive::<Int64Type>().iter().flatten(),
            most,
            budget,
            |_| 8,
        )?,
        DataType::Timestamp(TimeUnit::Microsecond, _) => distinct_values(
            column.as_primitive::<TimestampMicrosecondType>().iter().flatten(),
            most,
            budget,
            |_| 8,
        )?,
        _ => return None,
    };
    let index_bits = usize::BITS - distinct.max(1).leading_zeros();
    Some(value_bytes + (rows * index_bits as usize).div_ceil(8))
}

/// The number of distinct values and their bytes, or `None` past `most` distinct values or
/// `budget` bytes.
fn distinct_values<T: Eq + std::hash::Hash>(
    values: impl Iterator<Item = T>,
    most: usize,
    budget: usize,
    bytes: impl Fn(&T) -> usize,
) -> Option<(usize, usize)> {
    // Seeded per process: the values come from senders. Sized for a sample, or for the values
    // of a dictionary within the uncompressed limit, so that it seldom grows.
    let mut seen = HashSet::with_capacity_and_hasher(DISTINCT_SAMPLE, foldhash::fast::RandomState::default());
    let mut total = 0;
    for value in values {
        let size = bytes(&value);
        if seen.insert(value) {
            total += size;
            if seen.len() > most || total >= budget {
                return None;
            }
        }
    }
    Some((seen.len(), total))
}

/// What every file of one table shares, derived once instead of once per file (about
/// 265,000 instructions per file for a table of ~60 columns): the Arrow schema's conversion
/// to a Parquet schema, and the Arrow schema that parquet-rs embeds in the footer
/// (`ARROW:schema`, IPC in base64) so that readers get Arrow's types back (a timestamp's
/// `UTC`, for one). The file writer still builds its own descriptor of the Parquet schema.
#[derive(Debug, Clone)]
pub struct FileSchema {
    arrow: SchemaRef,
    parquet: SchemaDescriptor,
    embedded: Vec<KeyValue>,
}

impl FileSchema {
    pub fn new(arrow: SchemaRef) -> Result<Self, IngestError> {
        let parquet = ArrowSchemaConverter::new()
            .convert(&arrow)
            .map_err(IngestError::encode("a Parquet schema"))?;
        // parquet-rs' own function, so the footer holds what ArrowWriter would have put there.
        let mut props = WriterProperties::default();
        add_encoded_arrow_schema_to_metadata(&arrow, &mut props);
        let embedded = props.key_value_metadata().cloned().unwrap_or_default();
        Ok(FileSchema {
            arrow,
            parquet,
            embedded,
        })
    }

    pub fn arrow(&self) -> &SchemaRef {
        &self.arrow
    }
}

/// The file schemas of the three tables.
#[derive(Debug, Clone)]
pub struct TableFileSchemas {
    pub events: FileSchema,
    pub duplicates: FileSchema,
    pub quarantine: FileSchema,
}

impl TableFileSchemas {
    pub fn new(tables: &Tables) -> Result<Self, IngestError> {
        Ok(TableFileSchemas {
            events: FileSchema::new(tables.events.clone())?,
            duplicates: FileSchema::new(tables.duplicates.clone())?,
            quarantine: FileSchema::new(tables.quarantine.clone())?,
        })
    }
}

/// Encodes one record batch as a complete Parquet file, deriving its file schema.
pub fn encode_parquet(batch: &RecordBatch, options: ParquetOptions) -> Result<Bytes, IngestError> {
    encode_parquet_as(&FileSchema::new(batch.schema())?, batch, options)
}

/// Encodes one record batch of `schema` as a complete Parquet file.
pub fn encode_parquet_as(
    schema: &FileSchema,
    batch: &RecordBatch,
    options: ParquetOptions,
) -> Result<Bytes, IngestError> {
    if !Arc::ptr_eq(batch.schema_ref(), &schema.arrow) && **batch.schema_ref() != *schema.arrow {
        return Err(IngestError::encode("a Parquet file")(ArrowError::SchemaError(
            "the record batch's schema is not the file's".to_owned(),
        )));
    }
    let props = column_properties(batch, options)?
        .set_key_value_metadata(Some(schema.embedded.clone()))
        .build();
    let writer_options = ArrowWriterOptions::new()
        .with_properties(props)
        .with_parquet_schema(schema.parquet.clone())
        .with_skip_arrow_metadata(true);
    let mut buffer = Vec::with_capacity(batch.get_array_memory_size() / 4 + 4096);
    let mut writer = ArrowWriter::try_new_with_options(&mut buffer, schema.arrow.clone(), writer_options)
        .map_err(IngestError::encode("a Parquet file"))?;
    writer
        .write(batch)
        .map_err(IngestError::encode("a Parquet file"))?;
    writer.close().map_err(IngestError::encode("a Parquet file"))?;
    Ok(Bytes::from(buffer))
}

/// The writer's settings for this batch's columns. The defaults fit a column that is null in
/// every row, most of a partition's ~60 (each event type fills a few of the registry's
/// fields), so only the columns holding values are named: a named column costs the builder a
/// path and a hash map entry per setting.
fn column_properties(
    batch: &RecordBatch,
    options: ParquetOptions,
) -> Result<WriterPropertiesBuilder, IngestError> {
    let zstd = ZstdLevel::try_new(options.zstd_level).map_err(IngestError::encode("Parquet (zstd level)"))?;
    let mut props = WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::None)
        .set_max_row_group_row_count(Some(options.max_row_group_rows))
        .set_created_by(concat!("eventlake ", env!("CARGO_PKG_VERSION")).to_owned());
    for (field, column) in batch.schema_ref().fields().iter().zip(batch.columns()) {
        if column.null_count() == column.len() {
            continue;
        }
        let name = field.name().as_str();
        let unique = UNIQUE_PER_ROW.contains(&name);
        let dictionary = !unique && !mostly_distinct(column.as_ref());
        let path = ColumnPath::from(name);
        props = props
            .set_column_statistics_enabled(path.clone(), EnabledStatistics::Page)
            .set_column_dictionary_enabled(path.clone(), dictionary);
        if !encoded_below(column.as_ref(), dictionary, options.uncompressed_below_bytes) {
            props = props.set_column_compression(path, Compression::ZSTD(zstd));
        }
    }
    if batch.schema_ref().field_with_name(columns::EVENT_UUID).is_ok() {
        let uuid = ColumnPath::from(columns::EVENT_UUID);
        props = props
            .set_column_bloom_filter_enabled(uuid.clone(), true)
            .set_column_bloom_filter_max_ndv(uuid, batch.num_rows().max(1) as u64);
    }
    Ok(props)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Float64Array, Int64Array, StringArray};
    use arrow_schema::{Field, Schema};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use std::sync::Arc;

    /// Each column's codec name (a file records zstd, not its level).
    fn codecs(bytes: &Bytes) -> Vec<(String, &'static str)> {
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes.clone()).expect("a Parquet file");
        let row_group = reader.metadata().row_group(0);
        row_group
            .columns()
            .iter()
            .map(|c| {
                let codec = match c.compression() {
                    Compression::UNCOMPRESSED => "uncompressed",
                    Compression::ZSTD(_) => "zstd",
                    _ => "other",
                };
                (c.column_path().string(), codec)
            })
            .collect()
    }

    /// A file's rows, in one record batch.
    fn read_back(reader: ParquetRecordBatchReaderBuilder<Bytes>) -> Vec<RecordBatch> {
        let rows = reader.metadata().file_metadata().num_rows() as usize;
        reader
            .with_batch_size(rows.max(1))
            .build()
            .expect("reader")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    #[test]
    fn repeated_values_are_stored_uncompressed_and_varied_ones_compressed() {
        let rows = 3_000;
        let shard: ArrayRef = Arc::new(StringArray::from(vec!["shardId-000000000001"; rows]));
        let name: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..rows).map(|i| ["payment:order:completed", "payment:order:refunded"][i % 2]),
        ));
        let user: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..rows).map(|i| format!("user-{i:08}")),
        ));
        let arrival: ArrayRef = Arc::new(Int64Array::from(vec![1_793_491_200_000_000i64; rows]));
        let schema = Arc::new(Schema::new(vec![
            Field::new("shard_id", DataType::Utf8, false),
            Field::new("event_name", DataType::Utf8, false),
            Field::new("user_id", DataType::Utf8, false),
            Field::new("arrival", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(schema, vec![shard, name, user, arrival]).expect("batch");
        assert!(batch.columns().iter().all(|c| c.get_buffer_memory_size() > 4096));

        let bytes = encode_parquet(&batch, ParquetOptions::default()).expect("encode");
        assert_eq!(
            codecs(&bytes),
            [
                ("shard_id".to_owned(), "uncompressed"),
                ("event_name".to_owned(), "uncompressed"),
                ("user_id".to_owned(), "zstd"),
                ("arrival".to_owned(), "uncompressed"),
            ]
        );
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).expect("a Parquet file");
        assert_eq!(
            read_back(reader),
            std::slice::from_ref(&batch),
            "the same rows come back"
        );

        let compacted = encode_parquet(&batch, ParquetOptions::compacted()).expect("encode");
        assert!(codecs(&compacted).iter().all(|(_, codec)| *codec == "zstd"));
    }

    #[test]
    fn mostly_distinct_columns_are_written_without_a_dictionary() {
        let rows = 2_000;
        let columns: Vec<(&str, ArrayRef, bool)> = vec![
            (
                "user_id",
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| format!("user-{i}")),
                )),
                false,
            ),
            (
                "sku",
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| format!("sku-{}", i % 7)),
                )),
                true,
            ),
            (
                "price",
                Arc::new(Float64Array::from_iter_values((0..rows).map(|i| i as f64 * 1.25))),
                false,
            ),
            // 40 distinct values among the first 64: below seven in eight, so a dictionary.
            (
                "level",
                Arc::new(Int64Array::from_iter_values((0..rows).map(|i| (i % 40) as i64))),
                true,
            ),
            (
                "quantity",
                Arc::new(Int64Array::from_iter_values((0..rows).map(|i| i as i64 * 3))),
                false,
            ),
        ];
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|(name, column, _)| Field::new(*name, column.data_type().clone(), false))
                .collect::<Vec<_>>(),
        ));
        let batch =
            RecordBatch::try_new(schema, columns.iter().map(|(_, c, _)| c.clone()).collect()).expect("batch");
        let bytes = encode_parquet(&batch, ParquetOptions::default()).expect("encode");
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).expect("a Parquet file");
        let with_dictionary: Vec<bool> = reader
            .metadata()
            .row_group(0)
            .columns()
            .iter()
            .map(|c| c.dictionary_page_offset().is_some())
            .collect();
        let expected: Vec<bool> = columns.iter().map(|(_, _, dictionary)| *dictionary).collect();
        assert_eq!(with_dictionary, expected);
        assert_eq!(
            read_back(reader),
            std::slice::from_ref(&batch),
            "the same rows come back"
        );
        // Too few values to judge: a dictionary, as parquet's default.
        assert!(!mostly_distinct(&Int64Array::from_iter_values(0..10)));
        assert!(mostly_distinct(&Int64Array::from_iter_values(0..16)));
    }

    #[test]
    fn a_file_schema_derived_once_writes_the_file_parquet_would_derive_itself() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("event_uuid", DataType::Utf8, false),
            Field::new(
                "created_datetime",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("amount", DataType::Float64, true),
        ]));
        let rows = 100;
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| format!("uuid-{i}")),
                )),
                Arc::new(
                    arrow_array::TimestampMicrosecondArray::from_iter_values((0..rows).map(|i| i as i64))
                        .with_timezone("UTC"),
                ),
                Arc::new(Float64Array::from(vec![None; rows])),
            ],
        )
        .expect("batch");
        let file_schema = FileSchema::new(schema.clone()).expect("file schema");
        let ours = encode_parquet_as(&file_schema, &batch, ParquetOptions::default()).expect("encode");

        let props = column_properties(&batch, ParquetOptions::default())
            .expect("props")
            .build();
        let mut theirs = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut theirs, schema.clone(), Some(props)).expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
        assert_eq!(ours, Bytes::from(theirs), "byte for byte");

        let reader = ParquetRecordBatchReaderBuilder::try_new(ours).expect("a Parquet file");
        assert_eq!(reader.schema(), &schema, "the Arrow schema (UTC) comes back");

        let other = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)])),
            vec![Arc::new(Int64Array::from(vec![1]))],
        )
        .expect("batch");
        assert!(encode_parquet_as(&file_schema, &other, ParquetOptions::default()).is_err());
    }

    #[test]
    fn the_dictionary_estimate_stops_at_half_the_rows_distinct() {
        let repeated = StringArray::from_iter_values((0..1_000).map(|i| ["ab", "cde", "f"][i % 3]));
        // Three values of 2, 3 and 1 bytes (plus 4 for each length), two bits per row.
        assert_eq!(dictionary_bytes(&repeated, usize::MAX), Some(6 + 12 + 250));
        let half = Int64Array::from_iter_values((0..1_000).map(|i| i % 500));
        assert_eq!(dictionary_bytes(&half, usize::MAX), Some(500 * 8 + 1_000 * 9 / 8));
        let varied = Int64Array::from_iter_values(0..1_000);
        assert_eq!(dictionary_bytes(&varied, usize::MAX), None);
        let with_nulls = StringArray::from(vec![None, Some("x"), None, Some("x")]);
        assert_eq!(dictionary_bytes(&with_nulls, usize::MAX), Some(5 + 1));
        assert_eq!(
            dictionary_bytes(&Float64Array::from(vec![1.0; 10]), usize::MAX),
            None
        );
        // Counting stops at the budget: the values alone, or a bit per row, reach it.
        assert_eq!(dictionary_bytes(&half, 1_024), None);
        assert_eq!(dictionary_bytes(&repeated, 125), None);
        assert_eq!(dictionary_bytes(&repeated, 1_024), Some(268));
    }
}
