//! Schema evolution: the differences between two registry versions and which of them the
//! lake accepts. Invariant: a change is accepted only if every file already written stays
//! readable with the new registry's schema, i.e. event types and fields are only ever added;
//! removing an event type or a field, or changing a field's type, is refused. Pure.

use crate::error::SchemaError;
use crate::field_type::FieldType;
use crate::registry::{EventSchema, Registry};
use std::fmt;

/// One difference between a previous and a current registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    EventAdded {
        event: String,
    },
    FieldAdded {
        event: String,
        field: String,
        field_type: FieldType,
    },
    EventRemoved {
        event: String,
    },
    FieldRemoved {
        event: String,
        field: String,
        field_type: FieldType,
    },
    TypeChanged {
        event: String,
        field: String,
        old: FieldType,
        new: FieldType,
    },
}

impl Change {
    /// Whether the lake accepts the change: only additions keep old files readable.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Change::EventAdded { .. } | Change::FieldAdded { .. })
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::EventAdded { event } => write!(f, "event {event}: added"),
            Change::FieldAdded {
                event,
                field,
                field_type,
            } => write!(f, "event {event}: field {field} ({field_type}) added"),
            Change::EventRemoved { event } => write!(
                f,
                "event {event}: removed; files already written hold it, so keep its document \
                 (say in its description that it is no longer sent)"
            ),
            Change::FieldRemoved {
                event,
                field,
                field_type,
            } => write!(
                f,
                "event {event}: field {field} ({field_type}) removed; files already written hold \
                 it, so keep it declared (stop sending it if it is unused)"
            ),
            Change::TypeChanged {
                event,
                field,
                old,
                new,
            } => write!(
                f,
                "event {event}: field {field} changed type from {old} to {new}; files already \
                 written hold {old}, so keep {field} as {old} and add a new field name for the \
                 {new} values"
            ),
        }
    }
}

/// Every difference from `previous` to `current`, by event name, then field name.
pub fn compare(previous: &Registry, current: &Registry) -> Vec<Change> {
    let mut changes = Vec::new();
    for old in previous.events() {
        match current.event(&old.event_name) {
            Some(new) => changes.extend(field_changes(old, new)),
            None => changes.push(Change::EventRemoved {
                event: old.event_name.clone(),
            }),
        }
    }
    for new in current.events() {
        if previous.event(&new.event_name).is_none() {
            changes.push(Change::EventAdded {
                event: new.event_name.clone(),
            });
            changes.extend(added_fields(new, new.fields.keys()));
        }
    }
    changes
}

/// The changes if all are allowed, or an error listing the refused ones.
pub fn check(previous: &Registry, current: &Registry) -> Result<Vec<Change>, SchemaError> {
    let changes = compare(previous, current);
    let refused: Vec<Change> = changes.iter().filter(|c| !c.is_allowed()).cloned().collect();
    if refused.is_empty() {
        Ok(changes)
    } else {
        Err(SchemaError::RefusedEvolution { refused })
    }
}

fn field_changes(old: &EventSchema, new: &EventSchema) -> Vec<Change> {
    let event = &old.event_name;
    let mut changes = Vec::new();
    for (field, &old_type) in &old.fields {
        match new.fields.get(field) {
            Some(&new_type) if new_type != old_type => changes.push(Change::TypeChanged {
                event: event.clone(),
                field: field.clone(),
                old: old_type,
                new: new_type,
            }),
            Some(_) => {}
            None => changes.push(Change::FieldRemoved {
                event: event.clone(),
                field: field.clone(),
                field_type: old_type,
            }),
        }
    }
    let added = new.fields.keys().filter(|f| !old.fields.contains_key(*f));
    changes.extend(added_fields(new, added));
    changes
}

fn added_fields<'a>(
    schema: &'a EventSchema,
    names: impl Iterator<Item = &'a String> + 'a,
) -> impl Iterator<Item = Change> + 'a {
    names.map(|field| Change::FieldAdded {
        event: schema.event_name.clone(),
        field: field.clone(),
        field_type: schema.fields[field],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(docs: &[&str]) -> Registry {
        let named: Vec<(String, &str)> = docs
            .iter()
            .enumerate()
            .map(|(i, d)| (format!("{i}.json"), *d))
            .collect();
        Registry::from_documents(named.iter().map(|(n, d)| (n.as_str(), *d))).expect("valid registry")
    }

    const ORDER: &str = r#"{"event_name":"order:placed","fields":{"amount":"float","sku":"string"}}"#;

    #[test]
    fn additions_are_allowed() {
        let previous = registry(&[ORDER]);
        let current = registry(&[
            r#"{"event_name":"order:placed","fields":{"amount":"float","sku":"string","qty":"integer"}}"#,
            r#"{"event_name":"order:shipped","fields":{"carrier":"string"}}"#,
        ]);
        let changes = check(&previous, &current).expect("additions pass");
        assert_eq!(
            changes,
            vec![
                Change::FieldAdded {
                    event: "order:placed".into(),
                    field: "qty".into(),
                    field_type: FieldType::Integer
                },
                Change::EventAdded {
                    event: "order:shipped".into()
                },
                Change::FieldAdded {
                    event: "order:shipped".into(),
                    field: "carrier".into(),
                    field_type: FieldType::String
                },
            ]
        );
    }

    #[test]
    fn an_unchanged_registry_has_no_changes() {
        assert_eq!(check(&registry(&[ORDER]), &registry(&[ORDER])), Ok(vec![]));
    }

    #[test]
    fn removals_and_type_changes_are_refused_with_a_remedy() {
        let previous = registry(&[
            ORDER,
            r#"{"event_name":"order:shipped","fields":{"carrier":"string"}}"#,
        ]);
        let current = registry(&[r#"{"event_name":"order:placed","fields":{"amount":"string"}}"#]);
        let Err(SchemaError::RefusedEvolution { refused }) = check(&previous, &current) else {
            panic!("removals and a type change must be refused");
        };
        let lines: Vec<String> = refused.iter().map(ToString::to_string).collect();
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert!(lines[0].starts_with("event order:placed: field amount changed type from float to string"));
        assert!(lines[0].contains("keep amount as float and add a new field name"));
        assert!(lines[1].starts_with("event order:placed: field sku (string) removed"));
        assert!(lines[1].contains("keep it declared"));
        assert!(lines[2].starts_with("event order:shipped: removed"));
        assert!(lines[2].contains("keep its document"));
    }
}
