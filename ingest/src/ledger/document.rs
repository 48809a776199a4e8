//! The ledger's object formats. Commits and checkpoints are zstd-compressed JSON; a batch
//! manifest starts with an 8-byte status header (`ELM1 OK\n` or `ELM1 AB\n`) so its status
//! can be read with a ranged GET, followed by zstd-compressed JSON of its records.

use crate::error::IngestError;
use base64::Engine as _;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub const FORMAT: u32 = 1;

/// `_ledger/config.json`: fixed when the lake is first written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigDoc {
    pub format: u32,
    pub buckets: u32,
}

/// One chain commit: every entry belongs to the committing batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitDoc {
    pub format: u32,
    pub batch: String,
    pub writer: String,
    pub committed_at_millis: i64,
    /// New originals, and takeovers of claims whose batch was aborted.
    pub claims: Vec<ClaimDoc>,
    /// Source fingerprints (hex) recorded as duplicates or quarantined.
    pub others: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimDoc {
    pub uuid: String,
    pub shard: String,
    pub sequence: String,
    pub event_type: String,
    /// The aborted batch whose claim this one replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
}

/// A checkpoint: the merged state of a chain at `version`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainDoc {
    pub version: u64,
    pub originals: Vec<CheckpointClaim>,
    /// (source fingerprint, batch, committed at)
    pub others: Vec<(String, String, i64)>,
}

/// One original claim in a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointClaim {
    pub uuid: String,
    pub shard: String,
    pub sequence: String,
    pub event_type: String,
    pub batch: String,
    pub committed_at_millis: i64,
}

/// Whether a batch's records count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BatchStatus {
    Committed,
    Aborted,
}

pub(crate) const HEADER_COMMITTED: &[u8; 8] = b"ELM1 OK\n";
const HEADER_ABORTED: &[u8; 8] = b"ELM1 AB\n";
pub const HEADER_LEN: u64 = 8;

/// The role a record plays in a committed batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum RoleDoc {
    Event,
    Duplicate {
        original_shard: String,
        original_sequence: String,
        original_file: String,
    },
    Quarantine,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestRecord {
    pub shard: String,
    pub sequence: String,
    pub arrival_micros: i64,
    /// The record's bytes, base64.
    pub data: String,
    #[serde(flatten)]
    pub role: RoleDoc,
}

/// The commit record of a batch: everything needed to (re)write its files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestDoc {
    pub format: u32,
    pub batch: String,
    pub writer: String,
    pub committed_at_millis: i64,
    pub records: Vec<ManifestRecord>,
}

impl ManifestRecord {
    pub fn encode_data(data: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(data)
    }

    pub fn decode_data(&self) -> Option<Vec<u8>> {
        base64::engine::general_purpose::STANDARD.decode(&self.data).ok()
    }
}

/// Reads `_ledger/config.json` (`path`) of the lake at `lake_url`: a format newer than
/// [`FORMAT`] is a lake this build cannot write or read safely ([`IngestError::NewerLake`]);
/// an unreadable document, format 0 or zero buckets is a corrupt ledger.
pub fn parse_config(bytes: &[u8], path: &str, lake_url: &str) -> Result<ConfigDoc, IngestError> {
    let corrupt = |message: String| IngestError::CorruptLedger {
        path: path.to_owned(),
        message,
    };
    /// Only the format, so a newer lake is recognised whatever else its config holds.
    #[derive(Deserialize)]
    struct Format {
        format: u32,
    }
    let format: Format = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    if format.format > FORMAT {
        return Err(IngestError::NewerLake {
            url: lake_url.to_owned(),
            found: format.format,
            supported: FORMAT,
        });
    }
    let doc: ConfigDoc = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    if doc.format != FORMAT || doc.buckets == 0 {
        return Err(corrupt(format!(
            "unsupported format {} or zero buckets",
            doc.format
        )));
    }
    Ok(doc)
}

pub fn encode_json<T: Serialize>(value: &T) -> Result<Bytes, IngestError> {
    let json = serde_json::to_vec(value).map_err(IngestError::encode)?;
    zstd::bulk::compress(&json, 3)
        .map(Bytes::from)
        .map_err(IngestError::encode)
}

pub fn decode_json<T: DeserializeOwned>(bytes: &[u8], path: &str) -> Result<T, IngestError> {
    let corrupt = |message: String| IngestError::CorruptLedger {
        path: path.to_owned(),
        message,
    };
    let json = zstd::stream::decode_all(bytes).map_err(|e| corrupt(format!("not zstd: {e}")))?;
    serde_json::from_slice(&json).map_err(|e| corrupt(format!("bad JSON: {e}")))
}

pub fn encode_manifest(doc: &ManifestDoc) -> Result<Bytes, IngestError> {
    let body = encode_json(doc)?;
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend_from_slice(HEADER_COMMITTED);
    out.extend_from_slice(&body);
    Ok(Bytes::from(out))
}

pub fn tombstone() -> Bytes {
    Bytes::from_static(HEADER_ABORTED)
}

pub fn manifest_status(header: &[u8], path: &str) -> Result<BatchStatus, IngestError> {
    match header.get(..8) {
        Some(h) if h == HEADER_COMMITTED => Ok(BatchStatus::Committed),
        Some(h) if h == HEADER_ABORTED => Ok(BatchStatus::Aborted),
        _ => Err(IngestError::CorruptLedger {
            path: path.to_owned(),
            message: "unknown manifest header".into(),
        }),
    }
}

pub fn decode_manifest(bytes: &[u8], path: &str) -> Result<ManifestDoc, IngestError> {
    match manifest_status(bytes, path)? {
        BatchStatus::Committed => decode_json(&bytes[8..], path),
        BatchStatus::Aborted => Err(IngestError::CorruptLedger {
            path: path.to_owned(),
            message: "batch was aborted".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_round_trip_and_carry_their_status() {
        let doc = ManifestDoc {
            format: FORMAT,
            batch: "0000000000001-0000000000000001".into(),
            writer: "w".into(),
            committed_at_millis: 1,
            records: vec![ManifestRecord {
                shard: "s".into(),
                sequence: "1".into(),
                arrival_micros: 2,
                data: ManifestRecord::encode_data(b"\xff raw"),
                role: RoleDoc::Duplicate {
                    original_shard: "s".into(),
                    original_sequence: "0".into(),
                    original_file: "f".into(),
                },
            }],
        };
        let bytes = encode_manifest(&doc).expect("encode");
        assert_eq!(
            manifest_status(&bytes, "m").expect("status"),
            BatchStatus::Committed
        );
        assert_eq!(decode_manifest(&bytes, "m").expect("decode"), doc);
        assert_eq!(doc.records[0].decode_data().expect("base64"), b"\xff raw");
        assert_eq!(
            manifest_status(&tombstone(), "m").expect("status"),
            BatchStatus::Aborted
        );
        assert!(manifest_status(b"garbage!", "m").is_err());
    }

    #[test]
    fn a_newer_format_is_its_own_error() {
        let parse = |json: &str| parse_config(json.as_bytes(), "_ledger/config.json", "s3://b/lake");
        assert_eq!(
            parse(r#"{"format":1,"buckets":4}"#).expect("current"),
            ConfigDoc {
                format: 1,
                buckets: 4
            }
        );
        let newer = parse(r#"{"format":2,"shards":8}"#).expect_err("newer");
        assert!(
            matches!(
                newer,
                IngestError::NewerLake {
                    found: 2,
                    supported: 1,
                    ..
                }
            ),
            "{newer}"
        );
        assert!(newer.to_string().contains("s3://b/lake"), "{newer}");
        for corrupt in [r#"{"format":0,"buckets":4}"#, r#"{"format":1,"buckets":0}"#, "{"] {
            assert!(
                matches!(parse(corrupt), Err(IngestError::CorruptLedger { .. })),
                "{corrupt}"
            );
        }
    }
}
