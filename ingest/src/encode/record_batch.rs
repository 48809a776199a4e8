//! Rows of the three tables -> Arrow record batches with the registry's full schema.
//! Declared fields go to typed columns when the value fits the declared type; everything
//! else (undeclared fields, values that do not fit, and explicit nulls) goes to `extra`, a
//! JSON object, so that envelope + declared + extra reproduces the original event.

use super::parquet::TableFileSchemas;
use crate::decode::{Event, Invalid, PayloadValue, write_object};
use crate::error::IngestError;
use crate::ledger::chain::HashTable;
use crate::source::SourceId;
use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch, new_null_array};
use schemas::{FieldType, Registry, Tables};
use std::sync::Arc;

/// A valid event with its lineage.
#[derive(Debug, Clone, Copy)]
pub struct EventRow<'a> {
    pub event: &'a Event,
    pub source: &'a SourceId,
    pub arrival_micros: i64,
}

/// Where the original of a duplicate lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalPointer {
    pub source: SourceId,
    /// Object key of the events file holding the original, relative to the lake root.
    pub file: String,
}

#[derive(Debug, Clone, Copy)]
pub struct DuplicateRow<'a> {
    pub row: EventRow<'a>,
    pub original: &'a OriginalPointer,
}

#[derive(Debug, Clone, Copy)]
pub struct QuarantineRow<'a> {
    pub invalid: &'a Invalid,
    pub raw: &'a [u8],
    pub source: &'a SourceId,
    pub arrival_micros: i64,
}

/// Builds record batches for one registry, and holds its tables' file schemas; cheap to
/// share, built once per process.
#[derive(Debug, Clone)]
pub struct RowEncoder {
    tables: Tables,
    files: TableFileSchemas,
    declared: Vec<(String, FieldType)>,
    index: HashTable<String, usize>,
}

impl RowEncoder {
    pub fn new(registry: &Registry) -> Result<Self, IngestError> {
        let declared: Vec<(String, FieldType)> = registry.fields().map(|(n, t)| (n.to_owned(), t)).collect();
        let index = declared
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (n.clone(), i))
            .collect();
        let tables = Tables::new(registry);
        Ok(RowEncoder {
            files: TableFileSchemas::new(&tables)?,
            tables,
            declared,
            index,
        })
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// The tables' file schemas, for [`super::parquet::encode_parquet_as`].
    pub fn files(&self) -> &TableFileSchemas {
        &self.files
    }

    pub fn events(&self, rows: &[EventRow<'_>]) -> Result<RecordBatch, IngestError> {
        let columns = self.event_columns(rows.iter().copied(), rows.len());
        RecordBatch::try_new(self.tables.events.clone(), columns)
            .map_err(IngestError::encode("an Arrow record batch"))
    }

    pub fn duplicates(&self, rows: &[DuplicateRow<'_>]) -> Result<RecordBatch, IngestError> {
        let mut columns = self.event_columns(rows.iter().map(|d| d.row), rows.len());
        let mut shard = StringBuilder::with_capacity(rows.len(), rows.len() * 24);
        let mut sequence = StringBuilder::with_capacity(rows.len(), rows.len() * 56);
        let mut file = StringBuilder::with_capacity(rows.len(), rows.len() * 96);
        for d in rows {
            shard.append_value(&d.original.source.shard_id);
            sequence.append_value(d.original.source.sequence.as_str());
            file.append_value(&d.original.file);
        }
        columns.extend([
            Arc::new(shard.finish()) as ArrayRef,
            Arc::new(sequence.finish()),
            Arc::new(file.finish()),
        ]);
        RecordBatch::try_new(self.tables.duplicates.clone(), columns)
            .map_err(IngestError::encode("an Arrow record batch"))
    }

    pub fn quarantine(&self, rows: &[QuarantineRow<'_>]) -> Result<RecordBatch, IngestError> {
        let n = rows.len();
        let (mut reason, mut detail) = (StringBuilder::new(), StringBuilder::new());
        let mut raw = BinaryBuilder::with_capacity(n, rows.iter().map(|r| r.raw.len()).sum());
        let (mut uuid, mut name) = (StringBuilder::new(), StringBuilder::new());
        let mut arrival = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
        let (mut shard, mut sequence) = (StringBuilder::new(), StringBuilder::new());
        for r in rows {
            reason.append_value(r.invalid.reason.as_str());
            detail.append_value(&r.invalid.detail);
            raw.append_value(r.raw);
            uuid.append_option(r.invalid.event_uuid.as_deref());
            name.append_option(r.invalid.event_name.as_deref());
            arrival.append_value(r.arrival_micros);
            shard.append_value(&r.source.shard_id);
            sequence.append_value(r.source.sequence.as_str());
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(reason.finish()),
            Arc::new(detail.finish()),
            Arc::new(raw.finish()),
            Arc::new(uuid.finish()),
            Arc::new(name.finish()),
            Arc::new(arrival.finish()),
            Arc::new(shard.finish()),
            Arc::new(sequence.finish()),
        ];
        RecordBatch::try_new(self.tables.quarantine.clone(), columns)
            .map_err(IngestError::encode("an Arrow record batch"))
    }

    fn event_columns<'a>(&self, rows: impl Iterator<Item = EventRow<'a>>, n: usize) -> Vec<ArrayRef> {
        let mut uuid = StringBuilder::with_capacity(n, n * 36);
        let mut name = StringBuilder::with_capacity(n, n * 24);
        let mut subtype = StringBuilder::with_capacity(n, n * 12);
        let mut created_at = Int64Builder::with_capacity(n);
        let mut created_datetime = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
        let mut arrival = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
        let mut shard = StringBuilder::with_capacity(n, n * 20);
        let mut sequence = StringBuilder::with_capacity(n, n * 56);
        // A partition holds one event type, which fills a few of the registry's fields: only
        // those get a builder (created at the first value, nulls before it); the other
        // columns are null arrays made in one step at the end.
        let mut declared: Vec<Option<TypedColumn>> = (0..self.declared.len()).map(|_| None).collect();
        let mut active: Vec<usize> = Vec::new();
        let mut filled: Vec<bool> = vec![false; self.declared.len()];
        let mut extra = StringBuilder::with_capacity(n, n * 8);
        let mut leftovers: Vec<(&str, PayloadValue<'_>)> = Vec::new();
        let mut json = Vec::new();
        let mut rows_done = 0;
        for (row_index, row) in rows.enumerate() {
            rows_done = row_index + 1;
            let e = row.event;
            uuid.append_value(e.event_uuid());
            name.append_value(e.event_name());
            subtype.append_option(e.event_subtype());
            created_at.append_value(e.created_at);
            // decode() guarantees created_at is inside 2000..2100, so this cannot overflow.
            created_datetime.append_value(e.created_at * 1_000_000);
            arrival.append_value(row.arrival_micros);
            shard.append_value(&row.source.shard_id);
            sequence.append_value(row.source.sequence.as_str());
            leftovers.clear();
            for (key, value) in e.payload.iter() {
                let slot = self.index.get(key).copied().filter(|_| !value.is_null());
                let accepted = slot.filter(|&i| accepts(self.declared[i].1, value));
                let Some(i) = accepted else {
                    leftovers.push((key, value));
                    continue;
                };
                let column = declared[i].get_or_insert_with(|| {
                    active.push(i);
                    let mut column = TypedColumn::new(self.declared[i].1, n);
                    column.append_nulls(row_index);
                    column
                });
                column.append(Some(value), &mut json);
                filled[i] = true;
            }
            for &i in &active {
                if !std::mem::take(&mut filled[i])
                    && let Some(column) = declared[i].as_mut()
                {
                    column.append(None, &mut json);
                }
            }
            if leftovers.is_empty() {
                extra.append_null();
            } else {
                json.clear();
                write_object(leftovers.iter().copied(), &mut json);
                append_json(&mut extra, &json);
            }
        }
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(uuid.finish()),
            Arc::new(name.finish()),
            Arc::new(subtype.finish()),
            Arc::new(created_at.finish()),
            Arc::new(created_datetime.finish()),
            Arc::new(arrival.finish()),
            Arc::new(shard.finish()),
            Arc::new(sequence.finish()),
        ];
        // `events` is envelope and lineage, the declared fields, then `extra`.
        let fields = self.tables.events.fields();
        let payload_fields = &fields[fields.len() - 1 - self.declared.len()..];
        columns.extend(
            declared
                .into_iter()
                .zip(payload_fields)
                .map(|(column, field)| match column {
                    Some(column) => column.finish(),
                    None => new_null_array(field.data_type(), rows_done),
                }),
        );
        columns.push(Arc::new(extra.finish()));
        columns
    }
}

/// One declared payload column being built.
enum TypedColumn {
    Text(StringBuilder),
    Json(StringBuilder),
    Integer(Int64Builder),
    Float(Float64Builder),
    Boolean(BooleanBuilder),
    Timestamp(TimestampMicrosecondBuilder),
}

/// Largest integer magnitude a 64-bit float holds exactly.
const F64_EXACT_INT: i64 = 1 << 53;

/// Whether a value fits a declared type exactly (otherwise it is kept in `extra`).
fn accepts(ty: FieldType, value: PayloadValue<'_>) -> bool {
    match ty {
        FieldType::String => value.as_text().is_some(),
        FieldType::Json => true,
        FieldType::Integer => value.as_i64().is_some(),
        FieldType::Float => {
            value.is_f64()
                || value
                    .as_i64()
                    .is_some_and(|i| (-F64_EXACT_INT..=F64_EXACT_INT).contains(&i))
        }
        FieldType::Boolean => value.as_bool().is_some(),
        FieldType::Timestamp => value.as_i64().is_some_and(|s| s.checked_mul(1_000_000).is_some()),
    }
}

/// JSON text written by `write_json`/`write_object` is UTF-8 (its keys and strings come
/// from `&str`, everything else is ASCII), so this borrows and never replaces a character.
fn append_json(builder: &mut StringBuilder, json: &[u8]) {
    builder.append_value(String::from_utf8_lossy(json));
}

impl TypedColumn {
    fn new(ty: FieldType, n: usize) -> Self {
        match ty {
            FieldType::String => Self::Text(StringBuilder::with_capacity(n, n * 8)),
            FieldType::Json => Self::Json(StringBuilder::with_capacity(n, n * 8)),
            FieldType::Integer => Self::Integer(Int64Builder::with_capacity(n)),
            FieldType::Float => Self::Float(Float64Builder::with_capacity(n)),
            FieldType::Boolean => Self::Boolean(BooleanBuilder::with_capacity(n)),
            FieldType::Timestamp => {
                Self::Timestamp(TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC"))
            }
        }
    }

    /// Whether a non-null value is stored in this column without loss.
    fn append_nulls(&mut self, count: usize) {
        match self {
            Self::Text(b) | Self::Json(b) => b.append_nulls(count),
            Self::Integer(b) => b.append_nulls(count),
            Self::Float(b) => b.append_nulls(count),
            Self::Boolean(b) => b.append_nulls(count),
            Self::Timestamp(b) => b.append_nulls(count),
        }
    }

    /// Appends a value that [`accepts`] this column's type (`json` is scratch space).
    fn append(&mut self, value: Option<PayloadValue<'_>>, json: &mut Vec<u8>) {
        match (self, value) {
            (Self::Text(b), Some(PayloadValue::String(s))) => b.append_value(s),
            (Self::Json(b), Some(v)) => {
                json.clear();
                v.write_json(json);
                append_json(b, json);
            }
            (Self::Integer(b), Some(v)) => b.append_option(v.as_i64()),
            (Self::Float(b), Some(v)) => b.append_option(v.as_f64()),
            (Self::Boolean(b), Some(v)) => b.append_option(v.as_bool()),
            (Self::Timestamp(b), Some(v)) => {
                b.append_option(v.as_i64().and_then(|s| s.checked_mul(1_000_000)))
            }
            (Self::Text(b) | Self::Json(b), _) => b.append_null(),
            (Self::Integer(b), None) => b.append_null(),
            (Self::Float(b), None) => b.append_null(),
            (Self::Boolean(b), None) => b.append_null(),
            (Self::Timestamp(b), None) => b.append_null(),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            Self::Text(mut b) | Self::Json(mut b) => Arc::new(b.finish()),
            Self::Integer(mut b) => Arc::new(b.finish()),
            Self::Float(mut b) => Arc::new(b.finish()),
            Self::Boolean(mut b) => Arc::new(b.finish()),
            Self::Timestamp(mut b) => Arc::new(b.finish()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode;
    use crate::decode::strategies::json_scalar;
    use crate::source::{SequenceNumber, SourceId};
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    const DOCUMENT: &str = r#"{"event_name": "t:x", "fields": {"s": "string", "j": "json",
        "i": "integer", "f": "float", "b": "boolean", "ts": "timestamp"}}"#;

    /// The rule `accepts` implements, stated over serde_json's `Value`.
    fn fits(ty: FieldType, value: &Value) -> bool {
        match ty {
            FieldType::String => value.is_string(),
            FieldType::Json => true,
            FieldType::Integer => value.is_i64(),
            FieldType::Float => value.is_f64() || value.as_i64().is_some_and(|i| i.abs() <= 1 << 53),
            FieldType::Boolean => value.is_boolean(),
            FieldType::Timestamp => value.as_i64().is_some_and(|s| s.checked_mul(1_000_000).is_some()),
        }
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = json_scalar("\\PC{0,6}|[\"\\\\/\\x00-\\x1f\u{2028}é]{0,4}");
        leaf.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z\"é]{1,3}", inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn payload() -> impl Strategy<Value = Vec<(String, Value)>> {
        let key = prop_oneof![
            Just("s"),
            Just("j"),
            Just("i"),
            Just("f"),
            Just("b"),
            Just("ts"),
            Just("other"),
            Just("k\"\\é")
        ];
        proptest::collection::btree_map(key, value(), 0..8)
            .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            .prop_shuffle()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Typed columns and `extra` hold exactly what serde_json's map of the record gives:
        /// the same values, and the same JSON text for `json` columns and `extra`.
        #[test]
        fn columns_and_extra_are_serde_jsons_own(fields in payload(), envelope_every in 0usize..3) {
            let registry = Registry::from_documents([("t.x.json", DOCUMENT)]).expect("registry");
            let encoder = RowEncoder::new(&registry).expect("encoder");
            let envelope = [("event_uuid", json!("u")), ("event_name", json!("t:x")), ("created_at", json!(1_700_000_000))];
            let mut record: Map<String, Value> = Map::new();
            for (i, (key, value)) in fields.iter().enumerate() {
                if let Some((k, v)) = envelope.get(i * envelope_every) {
                    record.insert((*k).into(), v.clone());
                }
                record.insert(key.clone(), value.clone());
            }
            for (k, v) in &envelope {
                record.entry(*k).or_insert_with(|| v.clone());
            }
            let bytes = serde_json::to_vec(&record).expect("json");
            let event = decode(&bytes).expect("valid");
            // What earlier releases did: serde_json's ordered map, envelope removed.
            let mut reference: Map<String, Value> = serde_json::from_slice(&bytes).expect("json");
            for (k, _) in &envelope {
                reference.remove(*k);
            }
            let source = SourceId { shard_id: "s".into(), sequence: SequenceNumber::parse("1").expect("seq") };
            let batch = encoder
                .events(&[EventRow { event: &event, source: &source, arrival_micros: 0 }])
                .expect("batch");
            let column = |name: &str| batch.column_by_name(name).expect(name).clone();
            let mut leftovers = Map::new();
            for (key, value) in &reference {
                let declared = registry.field_type(key).filter(|&ty| !value.is_null() && fits(ty, value));
                let Some(ty) = declared else {
                    leftovers.insert(key.clone(), value.clone());
                    continue;
                };
                let stored = column(key);
                prop_assert!(stored.is_valid(0), "{key}");
                match ty {
                    FieldType::String => prop_assert_eq!(stored.as_string::<i32>().value(0), value.as_str().expect("str")),
                    FieldType::Json => prop_assert_eq!(stored.as_string::<i32>().value(0), value.to_string()),
                    FieldType::Integer => prop_assert_eq!(stored.as_primitive::<arrow_array::types::Int64Type>().value(0), value.as_i64().expect("i64")),
                    FieldType::Float => prop_assert_eq!(stored.as_primitive::<arrow_array::types::Float64Type>().value(0).to_bits(), value.as_f64().expect("f64").to_bits()),
                    FieldType::Boolean => prop_assert_eq!(stored.as_boolean().value(0), value.as_bool().expect("bool")),
                    FieldType::Timestamp => prop_assert_eq!(stored.as_primitive::<arrow_array::types::TimestampMicrosecondType>().value(0), value.as_i64().expect("i64") * 1_000_000),
                }
            }
            let extra = column("extra");
            if leftovers.is_empty() {
                prop_assert!(extra.is_null(0));
            } else {
                prop_assert_eq!(extra.as_string::<i32>().value(0), Value::Object(leftovers).to_string());
            }
        }
    }
}
