//! Declared columns + `extra` reproduce the original event exactly, for every event type of
//! the shipped registry, through Arrow and a Parquet round trip. Numbers compare by value
//! (a float column stores `10` as `10.0`).

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimestampMicrosecondType};
use bytes::Bytes;
use ingest::decode::decode;
use ingest::encode::{EventRow, ParquetOptions, RowEncoder, encode_parquet};
use ingest::generate::{GenerateConfig, generate};
use ingest::source::{SequenceNumber, SourceId};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use schemas::Registry;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

const ENVELOPE: [&str; 3] = ["event_uuid", "event_name", "created_at"];
const DERIVED: [&str; 6] = [
    "event_subtype",
    "created_datetime",
    "arrival_time",
    "shard_id",
    "sequence_number",
    "extra",
];

fn reconstruct(registry: &Registry, batch: &arrow::record_batch::RecordBatch, row: usize) -> Value {
    let mut object = Map::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let name = field.name().as_str();
        if DERIVED.contains(&name) || column.is_null(row) {
            continue;
        }
        let value = match field.data_type() {
            DataType::Utf8 if ENVELOPE.contains(&name) => json!(column.as_string::<i32>().value(row)),
            DataType::Utf8 => {
                let text = column.as_string::<i32>().value(row);
                // json-typed fields hold JSON text; string fields hold the string itself.
                if registry.field_type(name) == Some(schemas::FieldType::Json) {
                    serde_json::from_str(text).expect("json column holds JSON")
                } else {
                    json!(text)
                }
            }
            DataType::Int64 => json!(column.as_primitive::<Int64Type>().value(row)),
            DataType::Float64 => json!(column.as_primitive::<Float64Type>().value(row)),
            DataType::Boolean => json!(column.as_boolean().value(row)),
            DataType::Timestamp(_, _) => {
                json!(column.as_primitive::<TimestampMicrosecondType>().value(row) / 1_000_000)
            }
            other => panic!("unexpected column type {other}"),
        };
        object.insert(name.to_owned(), value);
    }
    let extra = batch.column_by_name("extra").expect("extra column");
    if !extra.is_null(row) {
        let Value::Object(extra) =
            serde_json::from_str(extra.as_string::<i32>().value(row)).expect("extra is JSON")
        else {
            panic!("extra must be an object");
        };
        for (k, v) in extra {
            assert!(
                object.insert(k.clone(), v).is_none(),
                "{k} is both a column and in extra"
            );
        }
    }
    Value::Object(object)
}

/// JSON equality with numbers compared by value.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x.as_f64() == y.as_f64() && (x.is_f64() || y.is_f64() || x == y)
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn declared_plus_extra_reproduces_every_event() {
    let registry = Registry::embedded().expect("registry");
    let mut lines = Vec::new();
    let config = GenerateConfig {
        records: 20_000,
        duplicate_rate: 0.0,
        invalid_rate: 0.0,
        seed: 3,
        ..GenerateConfig::default()
    };
    generate(&registry, config, &mut lines).expect("generate");
    let mut inputs: Vec<Value> = String::from_utf8(lines)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    // Edge cases: explicit nulls, wrong types, big integers, nested values, unicode.
    inputs.push(json!({"event_uuid": "edge-1", "event_name": "payment:order:completed", "created_at": 1_793_491_200,
        "amount": null, "currency": 5, "order_id": "ü-Ω", "occurred_at": "yesterday", "quantity": 18_446_744_073_709_551_615_u64,
        "metadata": {"a": [1, 2, {"b": null}]}, "nested": {"x": 1.25}}));
    inputs.push(json!({"event_uuid": "edge-2", "event_name": "heartbeat", "created_at": 1_793_491_200, "amount": 10, "success": "yes"}));
    let decoded: Vec<_> = inputs
        .iter()
        .map(|v| decode(v.to_string().as_bytes()).expect("valid"))
        .collect();
    let source = SourceId::new("s", SequenceNumber::from_u64(1));
    let rows: Vec<_> = decoded
        .iter()
        .map(|event| EventRow {
            event,
            source: &source,
            arrival_micros: 0,
        })
        .collect();
    let batch = RowEncoder::new(&registry)
        .expect("encoder")
        .events(&rows)
        .expect("encode");
    let bytes: Bytes = encode_parquet(&batch, ParquetOptions::default()).expect("parquet");
    let read: Vec<_> = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .expect("open")
        .build()
        .expect("reader")
        .map(|b| b.expect("batch"))
        .collect();
    let read = arrow::compute::concat_batches(&read[0].schema(), &read).expect("concat");
    assert_eq!(read.num_rows(), inputs.len());
    let mut names_seen = BTreeSet::new();
    for (row, input) in inputs.iter().enumerate() {
        let rebuilt = reconstruct(&registry, &read, row);
        assert!(
            same(&rebuilt, input),
            "row {row} differs:\n input {input}\n built {rebuilt}"
        );
        names_seen.insert(input["event_name"].as_str().expect("name").to_owned());
    }
    let registered: BTreeSet<String> = registry.events().map(|e| e.event_name.clone()).collect();
    assert!(
        registered.is_subset(&names_seen),
        "every registered type is covered: missing {:?}",
        registered.difference(&names_seen).collect::<Vec<_>>()
    );
}
