//! One CloudWatch Embedded Metric Format line per invocation: namespace `eventlake`,
//! dimension `FunctionName`. Lambda ships stdout to CloudWatch Logs, which turns the line
//! into metrics without any API call from the function.

use crate::batch::BatchReport;
use serde_json::{Value, json};

pub const NAMESPACE: &str = "eventlake";

/// What one invocation did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct InvocationMetrics {
    pub records_in: u64,
    pub written: u64,
    pub duplicates: u64,
    pub quarantined: u64,
    /// Records reported back in `batchItemFailures` (to be delivered again).
    pub failed: u64,
    /// Re-sends of erased events (within `duplicates`), whose payload was not stored.
    pub erased_resends: u64,
    pub files: u64,
    pub bytes: u64,
    pub ledger_conflicts: u64,
    pub duration_ms: u64,
}

impl InvocationMetrics {
    pub fn from_report(report: &BatchReport, duration_ms: u64) -> Self {
        let counts = report.counts();
        InvocationMetrics {
            records_in: counts.records_in,
            written: counts.written,
            duplicates: counts.duplicates,
            quarantined: counts.quarantined,
            failed: counts.failed,
            erased_resends: counts.erased_resends,
            files: report.files.len() as u64,
            bytes: report.files.iter().map(|f| f.bytes as u64).sum(),
            ledger_conflicts: report.ledger_conflicts,
            duration_ms,
        }
    }

    fn values(&self) -> [(&'static str, &'static str, u64); 10] {
        [
            ("RecordsIn", "Count", self.records_in),
            ("Written", "Count", self.written),
            ("Duplicates", "Count", self.duplicates),
            ("Quarantined", "Count", self.quarantined),
            ("Failed", "Count", self.failed),
            ("ErasedResends", "Count", self.erased_resends),
            ("Files", "Count", self.files),
            ("Bytes", "Bytes", self.bytes),
            ("LedgerConflicts", "Count", self.ledger_conflicts),
            ("DurationMs", "Milliseconds", self.duration_ms),
        ]
    }

    /// The EMF document, as one line of JSON.
    pub fn emf_line(&self, function_name: &str, timestamp_millis: i64) -> String {
        let values = self.values();
        let definitions: Vec<Value> = values
            .iter()
            .map(|(name, unit, _)| json!({ "Name": name, "Unit": unit }))
            .collect();
        let mut doc = json!({
            "_aws": {
                "Timestamp": timestamp_millis,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["FunctionName"]],
                    "Metrics": definitions,
                }],
            },
            "FunctionName": function_name,
        });
        if let Some(object) = doc.as_object_mut() {
            for (name, _, value) in values {
                object.insert(name.to_owned(), json!(value));
            }
        }
        doc.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_declares_every_metric_it_sets() {
        let metrics = InvocationMetrics {
            records_in: 10,
            written: 7,
            duplicates: 2,
            quarantined: 1,
            bytes: 4096,
            duration_ms: 12,
            ..InvocationMetrics::default()
        };
        let line = metrics.emf_line("fn", 1_700_000_000_000);
        assert!(!line.contains('\n'));
        let doc: Value = serde_json::from_str(&line).expect("json");
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        assert_eq!(doc["FunctionName"], "fn");
        let names: Vec<&str> = directive["Metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .filter_map(|m| m["Name"].as_str())
            .collect();
        for name in &names {
            assert!(doc[*name].is_u64(), "{name} declared but not set");
        }
        assert_eq!(doc["Written"], 7);
        assert_eq!(doc["Bytes"], 4096);
        for expected in [
            "RecordsIn",
            "Written",
            "Duplicates",
            "Quarantined",
            "Files",
            "Bytes",
            "LedgerConflicts",
            "DurationMs",
        ] {
            assert!(
                names.contains(&expected),
                "{expected} missing: the Terraform alarms and dashboard read it"
            );
        }
    }
}
