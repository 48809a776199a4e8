//! `lakeq schema suggest`: registry documents proposed from what landed in `extra`, i.e.
//! undeclared fields of known event names and every field of unknown names (and from fields
//! that another name declares, which land in their typed columns). Invariants:
//! declarations already in the registry are never changed, only fields added; a proposed
//! field has one type across the proposal and the registry; and the registry with every
//! proposal applied loads and passes the evolution check ([`schemas::evolution`]).

use super::infer::{Inferred, accepts};
use crate::error::QueryError;
use crate::extra::for_each_extra;
use crate::session::LakeSession;
use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Int64Type};
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::prelude::{DataFrame, col, lit};
use schemas::registry::{check_field_name, document_file_name};
use schemas::{EventSchema, FieldType, Registry};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the lake holds for one event name: its events and the fields found in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventObservation {
    pub events: u64,
    /// Fields this name does not declare, by name: from `extra`, and from the typed columns of
    /// fields other names declare (a declared field of its own in `extra` is a misfit value,
    /// which `lakeq quality` reports).
    pub fields: BTreeMap<String, FieldObservation>,
}

/// How often one field was sent and what its values fit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FieldObservation {
    /// Events carrying the field (a null value included).
    pub events: u64,
    pub inferred: Inferred,
}

/// Observations by event name.
pub type Observations = BTreeMap<String, EventObservation>;

/// A field to add to a document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProposedField {
    pub name: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Events of this name carrying the field.
    pub events: u64,
    /// `events` over all events of this name.
    pub frequency: f64,
    pub note: Option<String>,
}

/// A field seen in `extra` that cannot be declared as it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkippedField {
    pub event_name: String,
    pub name: String,
    pub events: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// A document for an event name the registry does not have.
    New,
    /// The registry's document with fields added.
    Extends,
}

/// One proposed registry document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    pub event_name: String,
    /// The document's file name in the registry directory.
    pub file: String,
    pub status: Status,
    /// Events of this name in the lake.
    pub events: u64,
    pub added: Vec<ProposedField>,
    pub document: EventSchema,
}

impl Suggestion {
    /// The document as the registry's files are written: pretty JSON and a final newline.
    pub fn document_text(&self) -> Result<String, QueryError> {
        let text =
            serde_json::to_string_pretty(&self.document).map_err(|e| QueryError::Output(e.to_string()))?;
        Ok(text + "\n")
    }
}

/// Everything `schema suggest` proposes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SuggestReport {
    pub suggestions: Vec<Suggestion>,
    pub skipped: Vec<SkippedField>,
}

/// Scans the lake's `extra` column (of one event name, or all) and proposes documents for
/// the fields carried by at least `min_count` events.
pub async fn suggest(
    session: &LakeSession,
    registry: &Registry,
    event_name: Option<&str>,
    min_count: u64,
) -> Result<SuggestReport, QueryError> {
    let observations = observe(session, registry, event_name).await?;
    propose(registry, &observations, min_count)
}

/// Counts events per name and the undeclared fields in their `extra`.
pub async fn observe(
    session: &LakeSession,
    registry: &Registry,
    event_name: Option<&str>,
) -> Result<Observations, QueryError> {
    let mut observations = event_counts(events(session, event_name).await?, registry).await?;
    let extras = events(session, event_name)
        .await?
        .filter(col("extra").is_not_null())?
        .select_columns(&["event_name", "extra"])?;
    for_each_extra(extras, |name, extra| {
        let Some(observation) = observations.get_mut(name) else {
            return;
        };
        let declared = registry.event(name).map(|schema| &schema.fields);
        for (field, value) in extra {
            if declared.is_some_and(|fields| fields.contains_key(field)) {
                continue;
            }
            let seen = observation.fields.entry(field.clone()).or_default();
            seen.events += 1;
            seen.inferred.observe(field, value);
        }
    })
    .await?;
    Ok(observations)
}

/// The `events` table, restricted to one event name when given.
async fn events(session: &LakeSession, event_name: Option<&str>) -> Result<DataFrame, QueryError> {
    let table = session.ctx.table("events").await?;
    Ok(match event_name {
        Some(name) => table.filter(col("event_name").eq(lit(name)))?,
        None => table,
    })
}

/// Events per name, and per name the non-null values of declared columns that name does not
/// declare: the write path types a field by the whole registry, so a field declared by
/// another event name lands in its typed column, not in `extra`.
async fn event_counts(events: DataFrame, registry: &Registry) -> Result<Observations, QueryError> {
    let declared: Vec<(&str, FieldType)> = registry.fields().collect();
    let mut counts = vec![count(lit(1)).alias("events")];
    counts.extend(declared.iter().map(|(field, _)| count(col(*field)).alias(*field)));
    let batches = events
        .aggregate(vec![col("event_name")], counts)?
        .collect()
        .await?;
    let mut observations = Observations::new();
    for batch in batches {
        let names = arrow::compute::cast(batch.column(0), &DataType::Utf8)?;
        let names = names.as_string::<i32>();
        let column = |i: usize| arrow::compute::cast(batch.column(i), &DataType::Int64);
        let columns: Vec<_> = (1..batch.num_columns()).map(column).collect::<Result<_, _>>()?;
        let count_at = |i: usize, row: usize| columns[i].as_primitive::<Int64Type>().value(row).max(0) as u64;
        for row in (0..batch.num_rows()).filter(|&row| names.is_valid(row)) {
            let name = names.value(row);
            let own = registry.event(name).map(|schema| &schema.fields);
            let fields = declared
                .iter()
                .enumerate()
                .filter(|(i, (field, _))| {
                    count_at(i + 1, row) > 0 && !own.is_some_and(|f| f.contains_key(*field))
                })
                .map(|(i, (field, field_type))| {
                    ((*field).to_owned(), typed(count_at(i + 1, row), *field_type))
                })
                .collect();
            let events = count_at(0, row);
            observations.insert(name.to_owned(), EventObservation { events, fields });
        }
    }
    Ok(observations)
}

/// A field seen in `events` values of its registry type (in its typed column).
fn typed(events: u64, field_type: FieldType) -> FieldObservation {
    FieldObservation {
        events,
        inferred: Inferred {
            field_type: Some(field_type),
            mixed: false,
        },
    }
}

/// The proposal for `observations`: pure, checked against `registry`.
pub fn propose(
    registry: &Registry,
    observations: &Observations,
    min_count: u64,
) -> Result<SuggestReport, QueryError> {
    let types = field_types(registry, observations, min_count);
    let mut report = SuggestReport::default();
    for (event_name, observation) in observations {
        let mut added = Vec::new();
        for (field, seen) in observation.fields.iter().filter(|(_, s)| s.events >= min_count) {
            match &types[field] {
                Ok((field_type, note)) => added.push(ProposedField {
                    name: field.clone(),
                    field_type: *field_type,
                    events: seen.events,
                    frequency: seen.events as f64 / observation.events.max(1) as f64,
                    note: note.clone(),
                }),
                Err(reason) => report.skipped.push(SkippedField {
                    event_name: event_name.clone(),
                    name: field.clone(),
                    events: seen.events,
                    reason: reason.clone(),
                }),
            }
        }
        let known = registry.event(event_name);
        let wanted = if known.is_some() {
            !added.is_empty()
        } else {
            observation.events >= min_count
        };
        if wanted {
            report
                .suggestions
                .push(suggestion(known, event_name, observation.events, added));
        }
    }
    check_applies(registry, &report.suggestions)?;
    Ok(report)
}

/// A field's proposed type and note, or why it cannot be declared.
type FieldVerdict = Result<(FieldType, Option<String>), String>;

/// One verdict per field name, over every event name that carries it often enough.
fn field_types(
    registry: &Registry,
    observations: &Observations,
    min_count: u64,
) -> BTreeMap<String, FieldVerdict> {
    let mut merged: BTreeMap<&str, Inferred> = BTreeMap::new();
    for observation in observations.values() {
        for (field, seen) in observation.fields.iter().filter(|(_, s)| s.events >= min_count) {
            merged.entry(field.as_str()).or_default().merge(seen.inferred);
        }
    }
    merged
        .into_iter()
        .map(|(field, inferred)| (field.to_owned(), verdict(registry, field, inferred)))
        .collect()
}

fn verdict(registry: &Registry, field: &str, inferred: Inferred) -> FieldVerdict {
    check_field_name(field).map_err(|reason| format!("{reason}; send it under a valid name"))?;
    let inferred_type = inferred
        .field_type
        .ok_or_else(|| "only null values were seen, so its type is unknown".to_owned())?;
    if let Some(declared) = registry.field_type(field) {
        if accepts(declared, inferred_type) {
            return Ok((declared, Some(format!("{declared}, as other events declare it"))));
        }
        return Err(format!(
            "its values are {inferred_type} but the registry declares {field} as {declared} \
             (one type per field name); send them under another name"
        ));
    }
    let note = inferred
        .mixed
        .then(|| "values of mixed JSON types: json keeps every one (string would not)".to_owned());
    Ok((inferred_type, note))
}

fn suggestion(
    known: Option<&EventSchema>,
    event_name: &str,
    events: u64,
    added: Vec<ProposedField>,
) -> Suggestion {
    let mut document = known.cloned().unwrap_or_else(|| EventSchema {
        event_name: event_name.to_owned(),
        description: format!("Proposed by lakeq schema suggest from {events} events: describe the event."),
        fields: BTreeMap::new(),
    });
    document
        .fields
        .extend(added.iter().map(|f| (f.name.clone(), f.field_type)));
    Suggestion {
        event_name: event_name.to_owned(),
        file: document_file_name(event_name),
        status: if known.is_some() {
            Status::Extends
        } else {
            Status::New
        },
        events,
        added,
        document,
    }
}

/// The registry with `suggestions` applied; it must load and evolve cleanly from `registry`.
pub fn apply(registry: &Registry, suggestions: &[Suggestion]) -> Result<Registry, QueryError> {
    let mut documents: BTreeMap<&str, &EventSchema> =
        registry.events().map(|e| (e.event_name.as_str(), e)).collect();
    documents.extend(suggestions.iter().map(|s| (s.event_name.as_str(), &s.document)));
    let texts: Vec<(String, String)> = documents
        .into_values()
        .map(|doc| {
            let text = serde_json::to_string(doc).map_err(|e| QueryError::Output(e.to_string()))?;
            Ok((document_file_name(&doc.event_name), text))
        })
        .collect::<Result<_, QueryError>>()?;
    Ok(Registry::from_documents(
        texts.iter().map(|(name, text)| (name.as_str(), text.as_str())),
    )?)
}

fn check_applies(registry: &Registry, suggestions: &[Suggestion]) -> Result<(), QueryError> {
    let applied = apply(registry, suggestions)?;
    schemas::evolution::check(registry, &applied)?;
    Ok(())
}

/// Writes each suggestion's document into `dir` (created if missing); the paths written.
pub fn write_documents(report: &SuggestReport, dir: &Path) -> Result<Vec<PathBuf>, QueryError> {
    let failed = |path: &Path| {
        let path = path.display().to_string();
        move |source| QueryError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(failed(dir))?;
    report
        .suggestions
        .iter()
        .map(|suggestion| {
            let path = dir.join(&suggestion.file);
            std::fs::write(&path, suggestion.document_text()?).map_err(failed(&path))?;
            Ok(path)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn registry() -> Registry {
        let docs = [
            (
                "o.json",
                r#"{"event_name":"order:placed","description":"d","fields":{"amount":"float"}}"#,
            ),
            (
                "s.json",
                r#"{"event_name":"order:shipped","fields":{"qty":"integer"}}"#,
            ),
        ];
        Registry::from_documents(docs).expect("valid registry")
    }

    fn observed(events: u64, fields: &[(&str, u64, &[serde_json::Value])]) -> EventObservation {
        let fields = fields
            .iter()
            .map(|(name, count, values)| {
                let mut inferred = Inferred::default();
                values.iter().for_each(|v| inferred.observe(name, v));
                let seen = FieldObservation {
                    events: *count,
                    inferred,
                };
                ((*name).to_owned(), seen)
            })
            .collect();
        EventObservation { events, fields }
    }

    #[test]
    fn known_events_gain_fields_and_unknown_ones_get_documents() {
        let observations = Observations::from([
            (
                "order:placed".to_owned(),
                observed(4, &[("coupon", 2, &[json!("X")])]),
            ),
            (
                "order:returned".to_owned(),
                observed(3, &[("reason", 3, &[json!("late")])]),
            ),
        ]);
        let report = propose(&registry(), &observations, 1).expect("proposal");
        let [placed, returned] = &report.suggestions[..] else {
            panic!("two suggestions expected: {report:#?}");
        };
        assert_eq!(placed.status, Status::Extends);
        assert_eq!(placed.document.description, "d");
        assert_eq!(
            placed.document.fields,
            BTreeMap::from([
                ("amount".to_owned(), FieldType::Float),
                ("coupon".to_owned(), FieldType::String)
            ])
        );
        assert_eq!(placed.added[0].frequency, 0.5);
        assert_eq!(returned.status, Status::New);
        assert_eq!(returned.file, "order.returned.json");
        assert_eq!(returned.added[0].frequency, 1.0);
    }

    #[test]
    fn min_count_drops_rare_fields_and_rare_unknown_events() {
        let observations = Observations::from([
            (
                "order:placed".to_owned(),
                observed(9, &[("coupon", 1, &[json!("X")])]),
            ),
            ("order:lost".to_owned(), observed(1, &[])),
        ]);
        let report = propose(&registry(), &observations, 2).expect("proposal");
        assert_eq!(report, SuggestReport::default());
    }

    #[test]
    fn a_field_name_keeps_its_registry_type_or_is_skipped() {
        let observations = Observations::from([
            (
                "order:shipped".to_owned(),
                observed(2, &[("amount", 2, &[json!(3)])]),
            ),
            (
                "order:lost".to_owned(),
                observed(2, &[("qty", 2, &[json!("many")])]),
            ),
        ]);
        let report = propose(&registry(), &observations, 1).expect("proposal");
        assert_eq!(report.suggestions[1].added[0].field_type, FieldType::Float);
        assert_eq!(report.suggestions[0].document.fields.len(), 0);
        assert_eq!(report.skipped.len(), 1);
        assert!(report.skipped[0].reason.contains("declares qty as integer"));
    }

    #[test]
    fn one_type_per_new_field_across_event_names() {
        let observations = Observations::from([
            ("a:x".to_owned(), observed(1, &[("code", 1, &[json!(7)])])),
            ("b:y".to_owned(), observed(1, &[("code", 1, &[json!("7")])])),
        ]);
        let report = propose(&registry(), &observations, 1).expect("proposal");
        for suggestion in &report.suggestions {
            assert_eq!(suggestion.added[0].field_type, FieldType::Json);
            assert!(
                suggestion.added[0]
                    .note
                    .as_deref()
                    .is_some_and(|n| n.contains("mixed"))
            );
        }
    }

    #[test]
    fn invalid_names_and_null_only_fields_are_skipped() {
        let observations = Observations::from([(
            "order:placed".to_owned(),
            observed(2, &[("Bad-Name", 2, &[json!(1)]), ("nothing", 2, &[json!(null)])]),
        )]);
        let report = propose(&registry(), &observations, 1).expect("proposal");
        assert!(report.suggestions.is_empty());
        let reasons: Vec<&str> = report.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert!(reasons[0].contains("[a-z]"), "{reasons:?}");
        assert!(reasons[1].contains("only null"), "{reasons:?}");
    }
}
