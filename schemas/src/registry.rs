//! The registry of per-type payload fields, one JSON document per event name:
//!
//! ```json
//! { "event_name": "payment:order:completed",
//!   "description": "A customer's payment for an order went through.",
//!   "fields": { "order_id": "string", "amount": "float", "paid_at": "timestamp" } }
//! ```
//!
//! Invariants checked on load: event names are valid and unique; field names are
//! `[a-z][a-z0-9_]*` (Athena lowercases names), avoid the envelope's reserved names, and have
//! one type across the whole registry, so every events file can carry the union of fields.

use crate::envelope::{EventName, columns};
use crate::error::SchemaError;
use crate::field_type::FieldType;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

include!(concat!(env!("OUT_DIR"), "/embedded_registry.rs"));

/// One registry document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSchema {
    pub event_name: String,
    #[serde(default)]
    pub description: String,
    pub fields: BTreeMap<String, FieldType>,
}

/// All event schemas, and the union of their fields with one type each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    events: BTreeMap<String, EventSchema>,
    /// field name -> (type, first event name declaring it)
    fields: BTreeMap<String, (FieldType, String)>,
}

impl Registry {
    /// The registry shipped in `schemas/events/`, compiled into the binary.
    pub fn embedded() -> Result<Self, SchemaError> {
        Self::from_documents(EMBEDDED_DOCUMENTS.iter().copied())
    }

    /// Builds a registry from `(document name, JSON text)` pairs, checking every invariant.
    pub fn from_documents<'a>(
        docs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, SchemaError> {
        let mut registry = Registry::default();
        let mut sources: BTreeMap<String, String> = BTreeMap::new();
        for (document, text) in docs {
            let bad = |message: String| SchemaError::BadDocument {
                document: document.to_owned(),
                message,
            };
            let schema: EventSchema = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
            EventName::parse(&schema.event_name).map_err(|e| bad(e.to_string()))?;
            if let Some(first) = sources.insert(schema.event_name.clone(), document.to_owned()) {
                return Err(SchemaError::DuplicateEventName {
                    event_name: schema.event_name,
                    first,
                    second: document.to_owned(),
                });
            }
            for (field, ty) in &schema.fields {
                check_field_name(field).map_err(|m| bad(format!("field {field:?}: {m}")))?;
                registry.add_field(field, *ty, &schema.event_name, document)?;
            }
            registry.events.insert(schema.event_name.clone(), schema);
        }
        Ok(registry)
    }

    fn add_field(
        &mut self,
        field: &str,
        ty: FieldType,
        event_name: &str,
        document: &str,
    ) -> Result<(), SchemaError> {
        match self.fields.get(field) {
            Some((existing, first_event)) if *existing != ty => Err(SchemaError::ConflictingFieldType {
                field: field.to_owned(),
                first: *existing,
                first_event: first_event.clone(),
                second: ty,
                second_event: event_name.to_owned(),
                document: document.to_owned(),
            }),
            Some(_) => Ok(()),
            None => {
                self.fields.insert(field.to_owned(), (ty, event_name.to_owned()));
                Ok(())
            }
        }
    }

    /// The schema of one event name, if it is registered.
    pub fn event(&self, event_name: &str) -> Option<&EventSchema> {
        self.events.get(event_name)
    }

    pub fn events(&self) -> impl Iterator<Item = &EventSchema> {
        self.events.values()
    }

    /// The union of declared fields, sorted by name: the payload columns of every events file.
    pub fn fields(&self) -> impl Iterator<Item = (&str, FieldType)> {
        self.fields.iter().map(|(name, (ty, _))| (name.as_str(), *ty))
    }

    /// The type of a declared field name, whichever event declares it.
    pub fn field_type(&self, field: &str) -> Option<FieldType> {
        self.fields.get(field).map(|(ty, _)| *ty)
    }

    /// Distinct event types (first name parts), sorted.
    pub fn event_types(&self) -> Vec<String> {
        let types: std::collections::BTreeSet<&str> = self
            .events
            .keys()
            .filter_map(|n| EventName::parse(n).ok().map(|e| e.event_type))
            .collect();
        types.into_iter().map(str::to_owned).collect()
    }
}

/// Checks a payload field name: `[a-z][a-z0-9_]*`, at most 128 bytes, not reserved.
pub fn check_field_name(name: &str) -> Result<(), &'static str> {
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_lowercase());
    if !first_ok || !bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        return Err("field names must match [a-z][a-z0-9_]*");
    }
    if name.len() > 128 {
        return Err("field names must be at most 128 bytes");
    }
    if columns::RESERVED.contains(&name) {
        return Err("the name is reserved for a column the pipeline writes");
    }
    Ok(())
}

/// The registry file of an event name: `payment:order:completed` -> `payment.order.completed.json`.
pub fn document_file_name(event_name: &str) -> String {
    format!("{}.json", event_name.replace(':', "."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_registry_loads_and_is_consistent() {
        let registry = Registry::embedded().expect("shipped registry is valid");
        assert_eq!(registry.events().count(), 100);
        assert_eq!(registry.event_types().len(), 20);
        assert_eq!(registry.field_type("amount"), Some(FieldType::Float));
    }

    #[test]
    fn a_field_with_two_types_is_rejected() {
        let a = r#"{"event_name":"a:x","fields":{"amount":"float"}}"#;
        let b = r#"{"event_name":"b:y","fields":{"amount":"string"}}"#;
        let err = Registry::from_documents([("a.json", a), ("b.json", b)]).expect_err("conflict");
        assert!(
            matches!(err, SchemaError::ConflictingFieldType { ref field, .. } if field == "amount"),
            "{err}"
        );
        assert!(err.to_string().contains("a:x") && err.to_string().contains("b:y"));
    }

    #[test]
    fn bad_documents_say_what_to_fix() {
        let cases = [
            (r#"{"event_name":"a:x","fields":{"Amount":"float"}}"#, "[a-z]"),
            (
                r#"{"event_name":"a:x","fields":{"event_type":"string"}}"#,
                "reserved",
            ),
            (
                r#"{"event_name":"a:x","fields":{"n":"decimal"}}"#,
                "unknown variant",
            ),
            (r#"{"event_name":"a/b:x","fields":{}}"#, "A-Za-z0-9"),
            (r#"{"event_name":"a:x","fields":{},"extra":1}"#, "unknown field"),
        ];
        for (doc, expected) in cases {
            let err = Registry::from_documents([("d.json", doc)])
                .expect_err(doc)
                .to_string();
            assert!(
                err.contains(expected) && err.contains("d.json"),
                "{err} should mention {expected}"
            );
        }
        let twice = r#"{"event_name":"a:x","fields":{}}"#;
        assert!(matches!(
            Registry::from_documents([("1.json", twice), ("2.json", twice)]),
            Err(SchemaError::DuplicateEventName { .. })
        ));
    }
}
