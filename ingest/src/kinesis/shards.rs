//! Shard lineage. After a split or a merge, a child shard is read only once every parent is
//! read to its end, so the records of one partition key are processed in order across a
//! reshard, as the event source mapping and the KCL do. Pure: no I/O.

use std::collections::HashSet;

/// A shard as ListShards describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardInfo {
    pub id: String,
    /// The parent and, after a merge, the adjacent parent.
    pub parents: Vec<String>,
    /// Closed shards (an ending sequence number) receive no new records.
    pub closed: bool,
}

impl ShardInfo {
    pub fn from_sdk(shard: &aws_sdk_kinesis::types::Shard) -> Self {
        ShardInfo {
            id: shard.shard_id().to_owned(),
            parents: [shard.parent_shard_id(), shard.adjacent_parent_shard_id()]
                .into_iter()
                .flatten()
                .map(str::to_owned)
                .collect(),
            closed: shard
                .sequence_number_range()
                .and_then(|r| r.ending_sequence_number())
                .is_some(),
        }
    }
}

/// The shards to read now: not finished, and every parent either finished or gone from the
/// listing (trimmed past the retention period, so nothing of it is left to read).
pub fn readable<'a>(shards: &'a [ShardInfo], finished: &HashSet<String>) -> Vec<&'a ShardInfo> {
    let listed: HashSet<&str> = shards.iter().map(|s| s.id.as_str()).collect();
    shards
        .iter()
        .filter(|s| !finished.contains(&s.id))
        .filter(|s| {
            s.parents
                .iter()
                .all(|p| finished.contains(p) || !listed.contains(p.as_str()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(id: &str, parents: &[&str], closed: bool) -> ShardInfo {
        ShardInfo {
            id: id.into(),
            parents: parents.iter().map(|p| (*p).to_owned()).collect(),
            closed,
        }
    }

    fn ids(shards: Vec<&ShardInfo>) -> Vec<&str> {
        shards.into_iter().map(|s| s.id.as_str()).collect()
    }

    #[test]
    fn children_wait_for_their_parents() {
        // s0 split into s2 and s3; s1 and s2 merged into s4.
        let shards = vec![
            shard("s0", &[], true),
            shard("s1", &[], true),
            shard("s2", &["s0"], true),
            shard("s3", &["s0"], false),
            shard("s4", &["s1", "s2"], false),
        ];
        let mut finished = HashSet::new();
        assert_eq!(ids(readable(&shards, &finished)), ["s0", "s1"]);
        finished.insert("s0".to_owned());
        assert_eq!(ids(readable(&shards, &finished)), ["s1", "s2", "s3"]);
        finished.insert("s1".to_owned());
        assert_eq!(ids(readable(&shards, &finished)), ["s2", "s3"]);
        finished.insert("s2".to_owned());
        assert_eq!(ids(readable(&shards, &finished)), ["s3", "s4"]);
    }

    #[test]
    fn parents_past_retention_do_not_block() {
        let shards = vec![shard("s5", &["gone"], false)];
        assert_eq!(ids(readable(&shards, &HashSet::new())), ["s5"]);
    }
}
