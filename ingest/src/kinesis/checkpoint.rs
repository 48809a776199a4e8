//! A consumer's read position per shard, kept in the lake at
//! `_ledger/consumers/<consumer>/<shard id>.json`: the last sequence number whose records
//! (and every one before it) are in the lake, and whether the shard was read to its end.
//! A checkpoint is written only after the records it covers are done, so a crash replays
//! at most the records after it; the ledger turns those replays into no-ops.

use crate::error::IngestError;
use crate::ledger::read_optional;
use crate::source::SequenceNumber;
use crate::storage::Lake;
use object_store::{ObjectStoreExt, PutPayload};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoint {
    pub sequence: Option<SequenceNumber>,
    pub finished: bool,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CheckpointDoc {
    sequence: Option<String>,
    finished: bool,
}

/// The checkpoints of one consumer.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    lake: Lake,
    prefix: String,
}

impl CheckpointStore {
    /// `consumer` names the reader (by default, the stream): `[A-Za-z0-9_.-]{1,128}`.
    pub fn new(lake: Lake, consumer: &str) -> Result<Self, IngestError> {
        if !is_safe_name(consumer) {
            return Err(IngestError::Config(format!(
                "consumer name {consumer:?} must be 1 to 128 of A-Z a-z 0-9 _ . -"
            )));
        }
        Ok(CheckpointStore {
            lake,
            prefix: format!("_ledger/consumers/{consumer}"),
        })
    }

    fn key(&self, shard_id: &str) -> Result<String, IngestError> {
        if !is_safe_name(shard_id) {
            return Err(IngestError::BadEvent(format!(
                "shard id {shard_id:?} is not a safe object name"
            )));
        }
        Ok(format!("{}/{shard_id}.json", self.prefix))
    }

    pub async fn load(&self, shard_id: &str) -> Result<Checkpoint, IngestError> {
        let key = self.key(shard_id)?;
        let Some(bytes) = read_optional(&self.lake, &key).await? else {
            return Ok(Checkpoint::default());
        };
        let corrupt = |message: String| IngestError::CorruptLedger {
            path: key.clone(),
            message,
        };
        let doc: CheckpointDoc = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        let sequence = match doc.sequence {
            Some(text) => {
                Some(SequenceNumber::parse(&text).ok_or_else(|| corrupt(format!("bad sequence {text:?}")))?)
            }
            None => None,
        };
        Ok(Checkpoint {
            sequence,
            finished: doc.finished,
        })
    }

    pub async fn save(&self, shard_id: &str, checkpoint: &Checkpoint) -> Result<(), IngestError> {
        let key = self.key(shard_id)?;
        let doc = CheckpointDoc {
            sequence: checkpoint.sequence.as_ref().map(|s| s.as_str().to_owned()),
            finished: checkpoint.finished,
        };
        let bytes = serde_json::to_vec(&doc).map_err(IngestError::encode("a shard checkpoint"))?;
        let path = self.lake.path(&key);
        self.lake
            .store
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(|e| IngestError::store("put", &path, e))?;
        Ok(())
    }
}

fn is_safe_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && name != "."
        && name != ".."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn checkpoints_round_trip_and_default_to_the_start() {
        let lake = Lake::open("memory://", &crate::storage::StoreOptions::default()).expect("lake");
        let store = CheckpointStore::new(lake, "events-stream").expect("name");
        assert_eq!(
            store.load("shardId-000000000001").await.expect("load"),
            Checkpoint::default()
        );
        let checkpoint = Checkpoint {
            sequence: SequenceNumber::parse("49590338271490256608559692538361571095921575989136588898"),
            finished: true,
        };
        store
            .save("shardId-000000000001", &checkpoint)
            .await
            .expect("save");
        assert_eq!(
            store.load("shardId-000000000001").await.expect("load"),
            checkpoint
        );
        assert!(store.load("../x").await.is_err());
        assert!(CheckpointStore::new(store.lake.clone(), "a/b").is_err());
    }
}
