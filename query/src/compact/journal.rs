//! A compaction's journal, `_ledger/compactions/<partition dir>.json`: created (create-only,
//! so it doubles as the partition's lock) before any output is written, deleted after the
//! last input is gone. An interrupted compaction leaves it behind; the next run finishes it
//! when every output exists (markers, then deletes), or else undoes it (deletes the outputs;
//! the inputs are untouched until every output and marker exists).

use crate::error::QueryError;
use crate::files::exists;
use bytes::Bytes;
use ingest::storage::{Lake, Layout};
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Journal {
    pub partition: String,
    pub created_millis: i64,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

/// What recovery did with one leftover journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    Finished,
    Undone,
    /// Younger than the takeover time: maybe still running elsewhere.
    Left,
}

impl Journal {
    pub fn key(partition: &str) -> String {
        Layout::compaction_journal(partition)
    }

    /// Creates the journal; `false` when one exists already (another compaction).
    pub async fn create(&self, lake: &Lake) -> Result<bool, QueryError> {
        let bytes = serde_json::to_vec(self).map_err(|e| QueryError::Output(e.to_string()))?;
        let path = lake.path(&Self::key(&self.partition));
        let options = PutOptions::from(PutMode::Create);
        match lake.store.put_opts(&path, PutPayload::from(bytes), options).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(QueryError::Store(format!("creating {path}: {e}"))),
        }
    }

    /// Marks every input as compacted, deletes the inputs, then the journal.
    pub async fn finish(&self, lake: &Lake) -> Result<(), QueryError> {
        let marker = Bytes::from(
            serde_json::to_vec(&serde_json::json!({ "compacted_into": self.outputs }))
                .map_err(|e| QueryError::Output(e.to_string()))?,
        );
        for input in &self.inputs {
            let path = lake.path(&Layout::compacted_marker(input));
            lake.store
                .put(&path, PutPayload::from(marker.clone()))
                .await
                .map_err(|e| QueryError::Store(format!("writing {path}: {e}")))?;
        }
        for input in &self.inputs {
            delete_if_present(lake, input).await?;
        }
        delete_if_present(lake, &Self::key(&self.partition)).await
    }

    /// Deletes whatever outputs were written, then the journal; the inputs were never touched.
    pub async fn undo(&self, lake: &Lake) -> Result<(), QueryError> {
        for output in &self.outputs {
            delete_if_present(lake, output).await?;
        }
        delete_if_present(lake, &Self::key(&self.partition)).await
    }

    /// Finishes or undoes this journal's compaction, if it is older than `takeover_millis`.
    pub async fn recover(
        &self,
        lake: &Lake,
        now_millis: i64,
        takeover_millis: i64,
    ) -> Result<Recovery, QueryError> {
        if now_millis - self.created_millis < takeover_millis {
            return Ok(Recovery::Left);
        }
        let mut all_written = true;
        for output in &self.outputs {
            all_written &= exists(lake, output).await?;
        }
        if all_written {
            self.finish(lake).await?;
            Ok(Recovery::Finished)
        } else {
            self.undo(lake).await?;
            Ok(Recovery::Undone)
        }
    }
}

/// Every journal left in the lake.
pub async fn leftover(lake: &Lake) -> Result<Vec<Journal>, QueryError> {
    let objects = crate::files::list(lake, Layout::COMPACTIONS).await?;
    let mut journals = Vec::new();
    for meta in objects {
        let bytes = match lake.store.get(&meta.location).await {
            Ok(got) => got.bytes().await.map_err(|e| QueryError::Store(e.to_string()))?,
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(e) => return Err(QueryError::Store(e.to_string())),
        };
        let journal = serde_json::from_slice(&bytes).map_err(|e| QueryError::Journal {
            path: meta.location.to_string(),
            message: e.to_string(),
        })?;
        journals.push(journal);
    }
    Ok(journals)
}

async fn delete_if_present(lake: &Lake, relative: &str) -> Result<(), QueryError> {
    let path = lake.path(relative);
    match lake.store.delete(&path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(QueryError::Store(format!("deleting {path}: {e}"))),
    }
}
