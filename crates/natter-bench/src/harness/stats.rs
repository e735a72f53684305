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

/// CPU time of the server, of the load generator and of the whole machine since
/// [`CpuMeter::start`].
#[derive(Debug)]
pub struct CpuMeter {
    started: Instant,
    server_pid: Option<u32>,
    server_start: Option<f64>,
    bench_start: Option<f64>,
    machine_start: Option<MachineTicks>,
}

/// Average cores used over a measurement (1.0 = one core busy all the time); `null` when
/// unknown (not Linux, or the server was not spawned here).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CpuUsage {
    /// The spawned server process, all threads.
    pub server_cores: Option<f64>,
    /// This load generator, all threads.
    pub bench_cores: Option<f64>,
    /// Every CPU of the machine, everything on it: how much was busy, how much waited on
    /// the disk, and how much the hypervisor gave to other guests. A run with steal or
    /// iowait ran on a slower machine than its neighbours (`null` when unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine: Option<MachineUsage>,
}

/// Average cores of the machine in each state over a measurement, from `/proc/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MachineUsage {
    /// CPUs online.
    pub cpus: u32,
    /// Running anything: user, nice, system, interrupts.
    pub busy_cores: f64,
    /// Idle with a disk request outstanding.
    pub iowait_cores: f64,
    /// Wanted to run, but the hypervisor ran another guest.
    pub steal_cores: f64,
}

/// The machine's CPU time so far, in clock ticks, from the `cpu` line of `/proc/stat`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct MachineTicks {
    cpus: u32,
    busy: u64,
    iowait: u64,
    steal: u64,
}

impl MachineTicks {
    fn read() -> Option<MachineTicks> {
        Self::parse(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    /// The sums of the `cpu` line (`user nice system idle iowait irq softirq steal …`)
    /// and the number of `cpuN` lines.
    fn parse(stat: &str) -> Option<MachineTicks> {
        let total = stat.lines().find(|line| line.starts_with("cpu "))?;
        let ticks: Vec<u64> = total
            .split_whitespace()
            .skip(1)
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        let field = |i: usize| ticks.get(i).copied().unwrap_or(0);
        let cpus = stat
            .lines()
            .filter(|line| line.starts_with("cpu") && !line.starts_with("cpu "))
            .count();
        Some(MachineTicks {
            cpus: u32::try_from(cpus).ok()?,
            busy: field(0) + field(1) + field(2) + field(5) + field(6),
            iowait: field(4),
            steal: field(7),
        })
    }

    /// Average cores in each state from `self` to `later`, over `wall` seconds.
    fn usage_until(&self, later: &MachineTicks, wall: f64) -> Option<MachineUsage> {
        if wall <= 0.0 {
            return None;
        }
        let cores = |from: u64, to: u64| {
            round_to(
                to.saturating_sub(from) as f64 / CLOCK_TICKS_PER_SECOND / wall,
                2,
            )
        };
        Some(MachineUsage {
            cpus: later.cpus,
            busy_cores: cores(self.busy, later.busy),
            iowait_cores: cores(self.iowait, later.iowait),
            steal_cores: cores(self.steal, later.steal),
        })
    }
}

impl CpuMeter {
    /// Starts measuring this process and, when given, the server process `server_pid`.
    pub fn start(server_pid: Option<u32>) -> CpuMeter {
        CpuMeter {
            started: Instant::now(),
            server_pid,
            server_start: server_pid.and_then(|pid| cpu_seconds(&pid.to_string())),
            bench_start: cpu_seconds("self"),
            machine_start: MachineTicks::read(),
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
            machine: self
                .machine_start
                .zip(MachineTicks::read())
                .and_then(|(start, now)| start.usage_until(&now, wall)),
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
        )?;
        if let Some(machine) = &self.machine {
            write!(
                f,
                "; machine of {} cpus: busy {}, iowait {}, steal {}",
                machine.cpus, machine.busy_cores, machine.iowait_cores, machine.steal_cores
            )?;
        }
        Ok(())
    }
}

/// USER_HZ, the unit of `/proc`'s CPU times: 100 on every mainstream Linux build.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// User plus system CPU seconds of process `pid` (or `self`) from `/proc/<pid>/stat`.
fn cpu_seconds(pid: &str) -> Option<f64> {
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
    fn machine_time_is_read_per_state_and_averaged_over_the_wall_time() {
        let before = MachineTicks::parse(
            "cpu  100 5 50 1000 20 3 2 7 0 0\ncpu0 50 2 25 500 10 1 1 3 0 0\n\
             cpu1 50 3 25 500 10 2 1 4 0 0\nintr 12345\n",
        )
        .expect("parsed");
        assert_eq!(
            before,
            MachineTicks {
                cpus: 2,
                busy: 160,
                iowait: 20,
                steal: 7
            }
        );
        let after = MachineTicks::parse(
            "cpu  250 5 90 1100 60 3 12 27 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\ncpu1 0 0 0 0 0 0 0 0 0 0\n",
        )
        .expect("parsed");
        // Over 2 s: 200 ticks busy, 40 waiting on the disk, 20 stolen.
        assert_eq!(
            before.usage_until(&after, 2.0),
            Some(MachineUsage {
                cpus: 2,
                busy_cores: 1.0,
                iowait_cores: 0.2,
                steal_cores: 0.1
            })
        );
        assert_eq!(before.usage_until(&after, 0.0), None);
        assert_eq!(MachineTicks::parse("intr 1\n"), None);
    }

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
