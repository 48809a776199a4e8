//! The record an erasure leaves: `_ledger/erasures/<id>.json`, written when it starts
//! (status `started`) and again when it ends (`finished`), with when, the reason text, a
//! SHA-256 of the predicate and the listed uuids (never the personal data itself), and the
//! counts per table. `lakeq erasures` lists them; one left `started` was interrupted (its
//! data work is finished by the next run of the same erasure).

use crate::error::QueryError;
use ingest::storage::Lake;
use object_store::{ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    pub erasure_id: String,
    pub status: String,
    pub started_at_millis: i64,
    pub finished_at_millis: Option<i64>,
    pub reason: String,
    /// SHA-256 (hex) of the predicate, a newline, and the sorted listed uuids, one a line.
    pub predicate_sha256: String,
    pub uuids: u64,
    pub chains_marked: u64,
    pub events_rows: u64,
    pub duplicates_rows: u64,
    pub quarantine_rows: u64,
    pub manifests_rewritten: u64,
    pub manifest_records: u64,
    pub files_rewritten: u64,
}

/// Under the ledger's prefix: state, not data (no reader's glob picks it up).
pub const PREFIX: &str = "_ledger/erasures";

impl AuditEntry {
    pub fn key(&self) -> String {
        format!("{PREFIX}/{}.json", self.erasure_id)
    }

    pub async fn write(&self, lake: &Lake) -> Result<(), QueryError> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| QueryError::Output(e.to_string()))?;
        let path = lake.path(&self.key());
        lake.store
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(|e| QueryError::Store(format!("writing {path}: {e}")))?;
        Ok(())
    }
}

/// The hash that identifies what was erased without holding it.
pub fn predicate_hash(predicate: Option<&str>, listed: &[String]) -> String {
    let mut sorted = listed.to_vec();
    sorted.sort();
    let mut hasher = Sha256::new();
    hasher.update(predicate.unwrap_or_default().as_bytes());
    for uuid in &sorted {
        hasher.update(b"\n");
        hasher.update(uuid.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// Re-sent records of erased events the writers counted (and did not store).
pub async fn erased_resends(lake: &Lake) -> Result<u64, QueryError> {
    let objects = crate::files::list(lake, ingest::storage::Layout::ERASED_RESENDS).await?;
    Ok(objects.len() as u64)
}

/// Every audit entry of the lake, oldest first.
pub async fn list(lake: &Lake) -> Result<Vec<AuditEntry>, QueryError> {
    let objects = crate::files::list(lake, PREFIX).await?;
    let mut entries = Vec::new();
    for meta in objects {
        let bytes = lake
            .store
            .get(&meta.location)
            .await
            .map_err(|e| QueryError::Store(e.to_string()))?
            .bytes()
            .await
            .map_err(|e| QueryError::Store(e.to_string()))?;
        let entry: AuditEntry = serde_json::from_slice(&bytes).map_err(|e| QueryError::Journal {
            path: meta.location.to_string(),
            message: e.to_string(),
        })?;
        entries.push(entry);
    }
    entries.sort_by(|a, b| a.erasure_id.cmp(&b.erasure_id));
    Ok(entries)
}
