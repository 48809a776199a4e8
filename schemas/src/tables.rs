//! Arrow schemas of the lake's three tables. Partition columns (`event_type`, `date`) live in
//! the path only, never in the files. Every events file carries the registry's full field
//! union so that readers and crawlers see one schema.

use crate::envelope::columns as c;
use crate::field_type::utc_micros;
use crate::registry::Registry;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use std::sync::Arc;

/// The three table schemas for one registry, built once.
#[derive(Debug, Clone)]
pub struct Tables {
    pub events: SchemaRef,
    pub duplicates: SchemaRef,
    pub quarantine: SchemaRef,
}

impl Tables {
    pub fn new(registry: &Registry) -> Self {
        Tables {
            events: events_schema(registry),
            duplicates: duplicates_schema(registry),
            quarantine: quarantine_schema(),
        }
    }
}

fn envelope_fields() -> Vec<Field> {
    vec![
        Field::new(c::EVENT_UUID, DataType::Utf8, false),
        Field::new(c::EVENT_NAME, DataType::Utf8, false),
        Field::new(c::EVENT_SUBTYPE, DataType::Utf8, true),
        Field::new(c::CREATED_AT, DataType::Int64, false),
        Field::new(c::CREATED_DATETIME, utc_micros(), false),
        Field::new(c::ARRIVAL_TIME, utc_micros(), false),
        Field::new(c::SHARD_ID, DataType::Utf8, false),
        Field::new(c::SEQUENCE_NUMBER, DataType::Utf8, false),
    ]
}

fn event_fields(registry: &Registry) -> Vec<Field> {
    let mut fields = envelope_fields();
    fields.extend(
        registry
            .fields()
            .map(|(name, ty)| Field::new(name, ty.arrow_type(), true)),
    );
    fields.push(Field::new(c::EXTRA, DataType::Utf8, true));
    fields
}

/// `events`: envelope, lineage, the declared fields typed, and `extra` (JSON text).
pub fn events_schema(registry: &Registry) -> SchemaRef {
    Arc::new(Schema::new(event_fields(registry)))
}

/// `duplicates`: every dropped occurrence whole, plus a pointer to the original.
pub fn duplicates_schema(registry: &Registry) -> SchemaRef {
    let mut fields = event_fields(registry);
    fields.extend([
        Field::new(c::ORIGINAL_SHARD_ID, DataType::Utf8, false),
        Field::new(c::ORIGINAL_SEQUENCE_NUMBER, DataType::Utf8, false),
        Field::new(c::ORIGINAL_FILE, DataType::Utf8, false),
    ]);
    Arc::new(Schema::new(fields))
}

/// `quarantine`: each invalid record's raw bytes, reason code, detail and source position.
/// Partitioned by the UTC date of arrival (an invalid record may have no usable created_at).
pub fn quarantine_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(c::REASON, DataType::Utf8, false),
        Field::new(c::DETAIL, DataType::Utf8, false),
        Field::new(c::RAW, DataType::Binary, false),
        Field::new(c::EVENT_UUID, DataType::Utf8, true),
        Field::new(c::EVENT_NAME, DataType::Utf8, true),
        Field::new(c::ARRIVAL_TIME, utc_micros(), false),
        Field::new(c::SHARD_ID, DataType::Utf8, false),
        Field::new(c::SEQUENCE_NUMBER, DataType::Utf8, false),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_columns_are_not_in_files() {
        let registry = Registry::embedded().expect("valid");
        let tables = Tables::new(&registry);
        for schema in [&tables.events, &tables.duplicates, &tables.quarantine] {
            assert!(schema.field_with_name(c::EVENT_TYPE).is_err());
            assert!(schema.field_with_name(c::DATE).is_err());
        }
        assert!(tables.events.field_with_name("amount").is_ok());
        assert_eq!(tables.duplicates.fields().len(), tables.events.fields().len() + 3);
    }
}
