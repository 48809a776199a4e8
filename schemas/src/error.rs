//! Errors of the schemas crate: all describe a bad registry document or a value that cannot
//! be placed in the lake. None is retryable: they are fixed by changing the input.

use crate::evolution::Change;
use crate::field_type::FieldType;
use thiserror::Error;

/// Something in the registry or a partition value violates the lake's contract.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SchemaError {
    #[error("schema document {document}: {message}")]
    BadDocument { document: String, message: String },

    #[error(
        "schema document {document}: field {field:?} is declared as {second} in {second_event} but as {first} in {first_event}; a field name must have one type across the registry"
    )]
    ConflictingFieldType {
        field: String,
        first: FieldType,
        first_event: String,
        second: FieldType,
        second_event: String,
        /// The document that declares the second type.
        document: String,
    },

    #[error("event name {event_name:?} is declared twice ({first} and {second})")]
    DuplicateEventName {
        event_name: String,
        first: String,
        second: String,
    },

    #[error("invalid event name {name:?}: {reason}")]
    BadEventName { name: String, reason: &'static str },

    /// Registry changes that would make files already written unreadable, one per line.
    #[error("{}", refused_lines(refused))]
    RefusedEvolution { refused: Vec<Change> },
}

fn refused_lines(refused: &[Change]) -> String {
    let lines: Vec<String> = refused.iter().map(|c| format!("refused: {c}")).collect();
    lines.join("\n")
}

impl SchemaError {
    /// Schema errors come from the input or the configuration; retrying cannot fix them.
    pub fn is_retryable(&self) -> bool {
        false
    }
}
