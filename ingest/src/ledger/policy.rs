//! Ledger policies as values: each has a pure `should_*` method and is given the time
//! instead of reading the clock, so tests can drive them.

use std::time::Duration;

/// When an unfinished claim may be taken over by another writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeasePolicy {
    /// Must exceed the longest a writer can run (the Lambda timeout) plus clock skew.
    pub lease_millis: i64,
}

impl Default for LeasePolicy {
    /// 16 minutes: Lambda's 15-minute maximum timeout plus a minute of margin.
    fn default() -> Self {
        LeasePolicy {
            lease_millis: 16 * 60 * 1000,
        }
    }
}

impl LeasePolicy {
    /// A claim committed at `claimed_at_millis` whose batch has neither committed nor
    /// aborted may be aborted by someone else once the lease has run out.
    pub fn should_take_over(&self, claimed_at_millis: i64, now_millis: i64) -> bool {
        now_millis.saturating_sub(claimed_at_millis) >= self.lease_millis
    }
}

/// How often a writer retries a chain commit that lost a race, and how long it waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitRetryPolicy {
    pub max_attempts: u32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for CommitRetryPolicy {
    fn default() -> Self {
        CommitRetryPolicy {
            max_attempts: 64,
            base_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(500),
        }
    }
}

impl CommitRetryPolicy {
    /// Whether attempt number `attempt` (1-based, the one about to be made) is allowed.
    pub fn should_retry(&self, attempt: u32) -> bool {
        attempt <= self.max_attempts
    }

    /// Exponential backoff with "full jitter": `jitter` is a uniform random u64.
    pub fn backoff(&self, attempt: u32, jitter: u64) -> Duration {
        let exp = self.base_backoff.saturating_mul(1u32 << attempt.min(16));
        let cap = exp.min(self.max_backoff).as_micros() as u64;
        if cap == 0 {
            Duration::ZERO
        } else {
            Duration::from_micros(jitter % cap)
        }
    }
}

/// When a committer also writes a checkpoint (the merged state) of the chain: every
/// `every_versions` commits, at an offset that depends on the chain's bucket. A batch commits
/// to most of a day's chains at once, so without the offset every chain would reach its
/// checkpoint version in the same batch and that one batch would serialize the whole ledger
/// (seconds at a million uuids) while the others serialize none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    pub every_versions: u64,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        CheckpointPolicy { every_versions: 50 }
    }
}

impl CheckpointPolicy {
    pub fn should_checkpoint(&self, version: u64, bucket: u32) -> bool {
        self.every_versions > 0 && (version + u64::from(bucket)).is_multiple_of(self.every_versions)
    }
}

/// When the warm cache drops a chain's state:
/// - once no batch has touched it for more than `idle_batches` batches. A long-running
///   writer (a consumer running for weeks, a Lambda container living across midnight) would
///   otherwise keep every day's uuids it ever saw; with this it keeps the days it is still
///   writing;
/// - while the cached states hold more than `max_bytes`, least recently used first. Re-sends
///   spread over many past days keep every day busy, so idleness alone would not bound
///   memory.
///
/// The ledger applies both before each batch, so a batch's own chains are never dropped
/// under it and the budget can be exceeded by what one batch touches. A dropped chain is
/// only a cache miss: its next use reads it back from the store (checkpoint and later
/// commits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    pub idle_batches: u64,
    pub max_bytes: u64,
}

/// Default [`CachePolicy::max_bytes`]: 1 GiB.
pub const DEFAULT_CACHE_BYTES: u64 = 1 << 30;

impl Default for CachePolicy {
    /// 100 batches: with Kinesis' 10,000-record batches at 1M events/hour, about an hour.
    fn default() -> Self {
        CachePolicy {
            idle_batches: 100,
            max_bytes: DEFAULT_CACHE_BYTES,
        }
    }
}

impl CachePolicy {
    /// `last_used` and `now` count batches since the ledger was opened.
    pub fn should_evict(&self, last_used: u64, now: u64) -> bool {
        now.saturating_sub(last_used) > self.idle_batches
    }

    /// Whether the cache must drop its least recently used chain to get within budget.
    pub fn should_shed(&self, cached_bytes: u64) -> bool {
        cached_bytes > self.max_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_expires_exactly_at_its_length() {
        let lease = LeasePolicy { lease_millis: 1000 };
        assert!(!lease.should_take_over(5_000, 5_999));
        assert!(lease.should_take_over(5_000, 6_000));
        assert!(
            !lease.should_take_over(5_000, 4_000),
            "clock skew backwards never takes over"
        );
    }

    #[test]
    fn retries_are_bounded_and_backoff_capped() {
        let p = CommitRetryPolicy::default();
        assert!(p.should_retry(1) && p.should_retry(64) && !p.should_retry(65));
        assert!(p.backoff(30, u64::MAX) <= p.max_backoff);
    }

    #[test]
    fn checkpoints_come_every_n_versions_staggered_by_bucket() {
        let p = CheckpointPolicy { every_versions: 10 };
        assert!(p.should_checkpoint(20, 0) && !p.should_checkpoint(21, 0));
        assert!(p.should_checkpoint(17, 3) && !p.should_checkpoint(20, 3));
        assert!(!CheckpointPolicy { every_versions: 0 }.should_checkpoint(0, 0));
        // 64 chains committed together: each version writes a handful of checkpoints, never all.
        let default = CheckpointPolicy::default();
        for version in 1..=200 {
            let due = (0..64).filter(|&b| default.should_checkpoint(version, b)).count();
            assert!((1..=2).contains(&due), "version {version}: {due} checkpoints");
        }
    }

    #[test]
    fn chains_are_dropped_only_after_the_idle_horizon() {
        let cache = CachePolicy {
            idle_batches: 2,
            ..CachePolicy::default()
        };
        assert!(!cache.should_evict(10, 10));
        assert!(!cache.should_evict(10, 12));
        assert!(cache.should_evict(10, 13));
        assert!(!cache.should_evict(10, 3), "a use after now never evicts");
    }

    #[test]
    fn the_cache_sheds_only_beyond_its_budget() {
        let cache = CachePolicy {
            max_bytes: 100,
            ..CachePolicy::default()
        };
        assert!(!cache.should_shed(0) && !cache.should_shed(100));
        assert!(cache.should_shed(101));
    }
}
