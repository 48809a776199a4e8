//! The types a payload field may be declared with, and how each maps to Arrow and to the
//! Hive/Athena type names that Glue uses.

use arrow_schema::{DataType, TimeUnit};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The type of a declared payload field.
///
/// - `string`: a JSON string.
/// - `integer`: a JSON integer that fits a signed 64-bit integer.
/// - `float`: a JSON number (integers are accepted if a 64-bit float holds them exactly).
/// - `boolean`: `true` or `false`.
/// - `timestamp`: an integer count of Unix seconds, stored as a UTC microsecond timestamp.
/// - `json`: any JSON value, stored as its JSON text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    String,
    Integer,
    Float,
    Boolean,
    Timestamp,
    Json,
}

impl FieldType {
    /// The Arrow type of the column holding this field.
    pub fn arrow_type(self) -> DataType {
        match self {
            FieldType::String | FieldType::Json => DataType::Utf8,
            FieldType::Integer => DataType::Int64,
            FieldType::Float => DataType::Float64,
            FieldType::Boolean => DataType::Boolean,
            FieldType::Timestamp => utc_micros(),
        }
    }

    /// The Hive/Athena type name used in Glue table definitions.
    pub fn hive_type(self) -> &'static str {
        match self {
            FieldType::String | FieldType::Json => "string",
            FieldType::Integer => "bigint",
            FieldType::Float => "double",
            FieldType::Boolean => "boolean",
            FieldType::Timestamp => "timestamp",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Integer => "integer",
            FieldType::Float => "float",
            FieldType::Boolean => "boolean",
            FieldType::Timestamp => "timestamp",
            FieldType::Json => "json",
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Microsecond UTC timestamps: nanoseconds break Athena and Spark.
pub fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}
