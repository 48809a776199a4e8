//! The lake's contract, shared by the write path and the read path: the event envelope, the
//! registry of per-type payload fields, the Arrow schemas of the three tables and the rules
//! for partition paths. Pure: no I/O, no async, no object store.

pub mod envelope;
pub mod error;
pub mod evolution;
pub mod field_type;
pub mod glue;
pub mod partition;
pub mod registry;
pub mod tables;

pub use envelope::{EventName, columns};
pub use error::SchemaError;
pub use field_type::FieldType;
pub use partition::{PartitionDate, event_type_segment};
pub use registry::{EventSchema, Registry};
pub use tables::{Tables, duplicates_schema, events_schema, quarantine_schema};
