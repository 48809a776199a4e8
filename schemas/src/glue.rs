//! The tables' columns in Hive/Athena type names, for Glue table definitions. Terraform reads
//! the checked-in output of `ingest schema glue` with `jsondecode(file(...))`.

use crate::registry::Registry;
use crate::tables::Tables;
use arrow_schema::{DataType, Schema};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GlueColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub hive_type: String,
}

/// Everything Terraform needs to declare the three tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GlueTables {
    pub events: Vec<GlueColumn>,
    pub duplicates: Vec<GlueColumn>,
    pub quarantine: Vec<GlueColumn>,
    /// Partition keys of events and duplicates (quarantine has only `date`).
    pub partition_keys: Vec<GlueColumn>,
    /// The registry's event types (documentation for the Terraform; the lake's partitions
    /// are whatever types the pipeline writes, registered by the writer).
    pub event_types: Vec<String>,
}

impl GlueTables {
    pub fn new(registry: &Registry) -> Self {
        let tables = Tables::new(registry);
        GlueTables {
            events: columns(&tables.events),
            duplicates: columns(&tables.duplicates),
            quarantine: columns(&tables.quarantine),
            partition_keys: vec![
                GlueColumn {
                    name: "event_type".into(),
                    hive_type: "string".into(),
                },
                GlueColumn {
                    name: "date".into(),
                    hive_type: "date".into(),
                },
            ],
            event_types: registry.event_types(),
        }
    }
}

fn columns(schema: &Schema) -> Vec<GlueColumn> {
    schema
        .fields()
        .iter()
        .map(|f| GlueColumn {
            name: f.name().clone(),
            hive_type: hive_type(f.data_type()).to_owned(),
        })
        .collect()
}

/// The Hive name of each Arrow type the lake uses.
pub fn hive_type(data_type: &DataType) -> &'static str {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string",
        DataType::Int64 => "bigint",
        DataType::Int32 => "int",
        DataType::Float64 => "double",
        DataType::Boolean => "boolean",
        DataType::Timestamp(_, _) => "timestamp",
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "binary",
        DataType::Date32 => "date",
        _ => "string",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glue_columns_follow_the_arrow_schema() {
        let registry = Registry::embedded().expect("registry");
        let glue = GlueTables::new(&registry);
        assert_eq!(
            glue.events[0],
            GlueColumn {
                name: "event_uuid".into(),
                hive_type: "string".into()
            }
        );
        assert!(
            glue.events
                .iter()
                .any(|c| c.name == "created_datetime" && c.hive_type == "timestamp")
        );
        assert!(
            glue.events
                .iter()
                .any(|c| c.name == "amount" && c.hive_type == "double")
        );
        assert!(
            glue.quarantine
                .iter()
                .any(|c| c.name == "raw" && c.hive_type == "binary")
        );
        assert_eq!(glue.event_types.len(), 20);
    }
}
