//! Statistics of a run: latency samples and their percentiles, rates, and the CPU time the
//! server and the generator used.
//!
//! Percentiles come from sorting every sample (a run holds at most a few hundred thousand),
//! not from a histogram, so they are exact. The scenarios decide what a sample is.

use std::time::{Duration, Instant};

use serde::Serialize;

/// `count` per second over `elapsed`, rounded to one decimal.
pub fn per_second(count: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds <= 0.0 {
        return 0.0;
    }
    round_to(count as f64 / seconds, 1)
}

fn round_to(value: f64, decimals: i32) -> f64 {
    let factor = 10f64.powi(decimals);
    (value * factor).round() / factor
}

/// Latency samples in microseconds; summarised by sorting, without a histogram library.
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    micros: Vec<u64>,
}

impl Latencies {
    /// Records one sample.
    pub fn record(&mut self, latency: Duration) {
        self.record_micros(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    }

    /// Records one sample given in microseconds.
    pub fn record_micros(&mut self, micros: u64) {
        self.micros.push(micros);
    }

    /// Adds another set of samples to these.
    pub fn merge(&mut self, other: Latencies) {
        self.micros.extend(other.micros);
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.micros.len()
    }

    /// Count, mean and percentiles in milliseconds.
    pub fn summary(mut self) -> LatencySummary {
        self.micros.sort_unstable();
        let sorted = &self.micros;
        let ms = |micros: Option<u64>| micros.map(|value| round_to(value as f64 / 1000.0, 3));
        let mean = (!sorted.is_empty())
            .then(|| sorted.iter().map(|&value| value as f64).sum::<f64>() / sorted.len() as f64);
        LatencySummary {
            count: sorted.len(),
            mean_ms: mean.map(|value| round_to(value / 1000.0, 3)),
            p50_ms: ms(percentile(sorted, 50.0)),
            p95_ms: ms(percentile(sorted, 95.0)),
            p99_ms: ms(percentile(sorted, 99.0)),
            p99_9_ms: ms(percentile(sorted, 99.9)),
            max_ms: ms(sorted.last().copied()),
        }
    }
}

/// Latency statistics of one kind of operation, in milliseconds (`null` without samples).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Number of samples.
    pub count: usize,
    /// Arithmetic mean.
    pub mean_ms: Option<f64>,
    /// Median.
    pub p50_ms: Option<f64>,
    /// 95th percentile.
    pub p95_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
    /// 99.9th percentile.
    pub p99_9_ms: Option<f64>,
    /// Largest sample.
    pub max_ms: Option<f64>,
}

impl std::fmt::Display for LatencySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |value: Option<f64>| value.map_or_else(|| "-".to_owned(), |v| format!("{v}"));
        write!(
            f,
            "p50 {} / p95 {} / p99 {} / p99.9 {} / max {} ms ({} samples)",
            show(self.p50_ms),
            show(self.p95_ms),
            show(self.p99_ms),
            show(self.p99_9_ms),
            show(self.max_ms),
            self.count
        )
    }
}

/// The nearest-rank percentile `p` (0–100) of ascending `sorted` samples: the smallest
/// sample with at least `p` % of the samples at or below it. `None` when there are none.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    sorted.get(index).copied()
}

/// CPU time of the server and of the load generator since [`CpuMeter::start`].
#[derive(Debug)]
pub struct CpuMeter {
    started: Instant,
    server_pid: Option<u32>,
    server_start: Option<f64>,
    bench_start: Option<f64>,
}

/// Average cores used over a measurement (1.0 = one core busy all the time); `null` when
/// unknown (not Linux, or the server was not spawned here).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CpuUsage {
    /// The spawned server process, all threads.
    pub server_cores: Option<f64>,
    /// This load generator, all threads.
    pub bench_cores: Option<f64>,
}

impl CpuMeter {
    /// Starts measuring this process and, when given, the server process `server_pid`.
    pub fn start(server_pid: Option<u32>) -> CpuMeter {
        CpuMeter {
            started: Instant::now(),
            server_pid,
            server_start: server_pid.and_then(|pid| cpu_seconds(&pid.to_string())),
            bench_start: cpu_seconds("self"),
        }
    }

    /// Average cores used since the meter started.
    pub fn finish(&self) -> CpuUsage {
        let wall = self.started.elapsed().as_secs_f64();
        let cores = |start: Option<f64>, now: Option<f64>| match (start, now) {
            (Some(start), Some(now)) if wall > 0.0 => Some(round_to((now - start) / wall, 2)),
            _ => None,
        };
        CpuUsage {
            server_cores: cores(
                self.server_start,
                self.server_pid
                    .and_then(|pid| cpu_seconds(&pid.to_string())),
            ),
            bench_cores: cores(self.bench_start, cpu_seconds("self")),
        }
    }
}

impl std::fmt::Display for CpuUsage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |value: Option<f64>| value.map_or_else(|| "?".to_owned(), |v| format!("{v}"));
        write!(
            f,
            "cpu: server {} cores, bench {} cores",
            show(self.server_cores),
            show(self.bench_cores)
        )
    }
}

/// User plus system CPU seconds of process `pid` (or `self`) from `/proc/<pid>/stat`.
fn cpu_seconds(pid: &str) -> Option<f64> {
    // USER_HZ, the unit of utime and stime: 100 on every mainstream Linux build.
    const CLOCK_TICKS_PER_SECOND: f64 = 100.0;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; the fields after it are numbers.
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of the file (utime, stime) are 11 and 12 after the name.
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user + system) / CLOCK_TICKS_PER_SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_the_nearest_rank() {
        let sorted: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&sorted, 50.0), Some(50));
        assert_eq!(percentile(&sorted, 99.0), Some(99));
        assert_eq!(percentile(&sorted, 99.9), Some(100));
        assert_eq!(percentile(&sorted, 100.0), Some(100));
        assert_eq!(
            percentile(&sorted, 0.0),
            Some(1),
            "p0 is the smallest sample"
        );
    }

    #[test]
    fn percentile_of_few_samples_and_of_none() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7], 99.9), Some(7));
        assert_eq!(percentile(&[1, 2, 3, 4], 50.0), Some(2));
        assert_eq!(percentile(&[1, 2, 3, 4], 51.0), Some(3));
    }

    #[test]
    fn summary_sorts_and_converts_to_milliseconds() {
        let mut latencies = Latencies::default();
        for micros in [3000, 1000, 2000] {
            latencies.record_micros(micros);
        }
        let summary = latencies.summary();
        assert_eq!(summary.count, 3);
        assert_eq!(summary.p50_ms, Some(2.0));
        assert_eq!(summary.max_ms, Some(3.0));
        assert_eq!(summary.mean_ms, Some(2.0));
        assert_eq!(Latencies::default().summary().p50_ms, None);
    }

    #[test]
    fn cpu_time_of_this_process_is_readable_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(cpu_seconds("self").is_some());
        }
    }
}
