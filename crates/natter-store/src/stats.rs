//! Counters a store keeps about its group commits, for `/metrics`: how many writes each
//! commit carried and how long the commits took. Atomics only, so recording costs a few
//! relaxed adds on the write path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the batch-size buckets (writes per commit).
pub const BATCH_BUCKETS: [u64; 9] = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/// Upper bounds of the commit-duration buckets, in seconds.
pub const DURATION_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Group-commit statistics of one store, shared by its writers.
#[derive(Debug, Default)]
pub struct CommitStats {
    batches: [AtomicU64; BATCH_BUCKETS.len()],
    /// One more than the bounds: the last counts commits slower than every bound.
    durations: [AtomicU64; DURATION_BUCKETS.len() + 1],
    commits: AtomicU64,
    writes: AtomicU64,
    micros: AtomicU64,
}

/// A copy of [`CommitStats`] at one moment; bucket counts are per bucket, not cumulative.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommitSnapshot {
    /// Commits per batch-size bucket of [`BATCH_BUCKETS`] (larger batches in the last).
    pub batches: Vec<u64>,
    /// Commits per duration bucket of [`DURATION_BUCKETS`], then the slower ones.
    pub durations: Vec<u64>,
    /// Commits.
    pub commits: u64,
    /// Writes (requests) in all commits.
    pub writes: u64,
    /// Total commit time.
    pub total: Duration,
    /// Committed message changes not yet in the full-text index (0 where the index is
    /// written in the same transaction, as on PostgreSQL). Searches are exact either way.
    pub search_backlog: u64,
}

impl CommitStats {
    /// Records one commit of `writes` writes that took `took` (from the start of the
    /// transaction to the end of its commit).
    pub fn record(&self, writes: usize, took: Duration) {
        let writes = writes as u64;
        let batch = BATCH_BUCKETS
            .iter()
            .position(|&bound| writes <= bound)
            .unwrap_or(BATCH_BUCKETS.len() - 1);
        self.batches[batch].fetch_add(1, Ordering::Relaxed);
        let seconds = took.as_secs_f64();
        let bucket = DURATION_BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(DURATION_BUCKETS.len());
        self.durations[bucket].fetch_add(1, Ordering::Relaxed);
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.writes.fetch_add(writes, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The counts so far. Each counter is read on its own, so a commit recorded meanwhile
    /// may show in some and not others: renderers derive totals from the buckets.
    pub fn snapshot(&self) -> CommitSnapshot {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        CommitSnapshot {
            batches: self.batches.iter().map(load).collect(),
            durations: self.durations.iter().map(load).collect(),
            commits: load(&self.commits),
            writes: load(&self.writes),
            total: Duration::from_micros(load(&self.micros)),
            search_backlog: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_land_in_their_buckets() {
        let stats = CommitStats::default();
        stats.record(1, Duration::from_micros(80));
        stats.record(3, Duration::from_millis(2));
        stats.record(1000, Duration::from_secs(3));
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.batches, [1, 0, 1, 0, 0, 0, 0, 0, 1]);
        assert_eq!(snapshot.durations, [1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!((snapshot.commits, snapshot.writes), (3, 1004));
        assert_eq!(snapshot.total, Duration::from_micros(3_002_080));
    }
}
