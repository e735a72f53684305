//! Process metrics in Prometheus text format: counters and fixed-bucket histograms kept
//! with atomics and a few short-held std mutexes (no exporter dependency). The server
//! renders them at `/metrics`; services, the hub and the gateway update them.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A latency histogram.
#[derive(Debug, Default, Clone)]
pub struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&mut self, value: Duration) {
        let seconds = value.as_secs_f64();
        for (bucket, bound) in self.counts.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (bucket, bound) in self.counts.iter().zip(BUCKETS) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {bucket}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// Every metric of the process.
#[derive(Debug, Default)]
pub struct Metrics {
    http: Mutex<BTreeMap<(String, String, u16), Histogram>>,
    /// Messages accepted (new, not idempotent retries).
    pub messages_sent: AtomicU64,
    /// Frames handed to realtime connections (one per recipient device).
    pub events_delivered: AtomicU64,
    /// Open WebSocket connections.
    pub connections: AtomicI64,
    /// Connections closed because they fell behind.
    pub slow_consumers: AtomicU64,
    /// Requests answered 429.
    pub rate_limited: AtomicU64,
    delivery: Mutex<Histogram>,
    bus_publish: Mutex<Histogram>,
}

impl Metrics {
    /// Records one HTTP request.
    pub fn observe_http(&self, method: &str, route: &str, status: u16, latency: Duration) {
        if let Ok(mut http) = self.http.lock() {
            http.entry((method.to_owned(), route.to_owned(), status))
                .or_default()
                .observe(latency);
        }
    }

    /// Records the time from an event's commit to its hand-off to the connections.
    pub fn observe_delivery(&self, latency: Duration) {
        if let Ok(mut delivery) = self.delivery.lock() {
            delivery.observe(latency);
        }
    }

    /// Records how long one publish on the bus took.
    pub fn observe_bus_publish(&self, latency: Duration) {
        if let Ok(mut publish) = self.bus_publish.lock() {
            publish.observe(latency);
        }
    }

    /// The Prometheus text exposition, with the gauges and the store's commit statistics
    /// the caller adds.
    pub fn render(
        &self,
        store_up: bool,
        bus_up: bool,
        commits: &natter_store::CommitSnapshot,
    ) -> String {
        let mut out = String::with_capacity(4096);
        let _ = writeln!(out, "# HELP natter_http_request_duration_seconds HTTP requests by method, route and status.");
        let _ = writeln!(out, "# TYPE natter_http_request_duration_seconds histogram");
        if let Ok(http) = self.http.lock() {
            for ((method, route, status), histogram) in http.iter() {
                let labels = format!("method=\"{method}\",route=\"{route}\",status=\"{status}\"");
                histogram.render(&mut out, "natter_http_request_duration_seconds", &labels);
            }
        }
        let counters = [
            (
                "natter_messages_sent_total",
                "Messages accepted.",
                self.messages_sent.load(Ordering::Relaxed) as i64,
            ),
            (
                "natter_events_delivered_total",
                "Frames handed to realtime connections.",
                self.events_delivered.load(Ordering::Relaxed) as i64,
            ),
            (
                "natter_slow_consumers_total",
                "Realtime connections closed for falling behind.",
                self.slow_consumers.load(Ordering::Relaxed) as i64,
            ),
            (
                "natter_rate_limited_total",
                "Requests answered 429.",
                self.rate_limited.load(Ordering::Relaxed) as i64,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        let gauges = [
            (
                "natter_realtime_connections",
                "Open realtime connections.",
                self.connections.load(Ordering::Relaxed),
            ),
            (
                "natter_store_up",
                "The store answers (1) or not (0).",
                i64::from(store_up),
            ),
            (
                "natter_bus_up",
                "The bus reaches the other nodes (1) or not (0).",
                i64::from(bus_up),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        let _ = writeln!(out, "# HELP natter_delivery_latency_seconds From an event's commit to its hand-off to the connections.");
        let _ = writeln!(out, "# TYPE natter_delivery_latency_seconds histogram");
        if let Ok(delivery) = self.delivery.lock() {
            delivery.render(&mut out, "natter_delivery_latency_seconds", "");
        }
        let _ = writeln!(
            out,
            "# HELP natter_bus_publish_duration_seconds Time to publish one notice on the bus."
        );
        let _ = writeln!(out, "# TYPE natter_bus_publish_duration_seconds histogram");
        if let Ok(publish) = self.bus_publish.lock() {
            publish.render(&mut out, "natter_bus_publish_duration_seconds", "");
        }
        render_commits(&mut out, commits);
        out
    }
}

/// The store's group commits: writes per commit and commit duration, as histograms; and
/// the search index's backlog.
fn render_commits(out: &mut String, commits: &natter_store::CommitSnapshot) {
    use natter_store::stats::{BATCH_BUCKETS, DURATION_BUCKETS};
    let _ = writeln!(
        out,
        "# HELP natter_search_index_backlog Committed message changes not in the full-text index yet (SQLite indexes behind the writer; searches stay exact).\n\
         # TYPE natter_search_index_backlog gauge\nnatter_search_index_backlog {}",
        commits.search_backlog
    );
    // The last batch bucket also holds larger batches, so it is reported as +Inf only.
    let batch_bounds: Vec<String> = BATCH_BUCKETS[..BATCH_BUCKETS.len() - 1]
        .iter()
        .map(u64::to_string)
        .collect();
    render_bucket_counts(
        out,
        "natter_store_commit_batch_size",
        "Writes per store commit (group commit; PostgreSQL: message appends only).",
        &batch_bounds,
        &commits.batches,
        &commits.writes.to_string(),
    );
    let duration_bounds: Vec<String> = DURATION_BUCKETS.iter().map(f64::to_string).collect();
    render_bucket_counts(
        out,
        "natter_store_commit_duration_seconds",
        "Time from the start of a store commit's transaction to the end of the commit.",
        &duration_bounds,
        &commits.durations,
        &commits.total.as_secs_f64().to_string(),
    );
}

/// A histogram from per-bucket counts (not cumulative; counts past the last bound are
/// in the trailing entries). `+Inf` and `_count` are the sum of the counts, so they agree
/// with the buckets even when a snapshot raced an observation.
fn render_bucket_counts(
    out: &mut String,
    name: &str,
    help: &str,
    bounds: &[String],
    counts: &[u64],
    sum: &str,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    let mut cumulative = 0;
    for (count, bound) in counts.iter().zip(bounds) {
        cumulative += count;
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
    }
    let total: u64 = counts.iter().sum();
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
    let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {total}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_render_as_prometheus_text() {
        let metrics = Metrics::default();
        metrics.observe_http("GET", "/v1/users/me", 200, Duration::from_millis(3));
        metrics.observe_http("GET", "/v1/users/me", 200, Duration::from_millis(30));
        metrics.messages_sent.fetch_add(2, Ordering::Relaxed);
        metrics.observe_bus_publish(Duration::from_micros(40));
        let commits = natter_store::CommitStats::default();
        commits.record(1, Duration::from_micros(300));
        commits.record(12, Duration::from_millis(2));
        let text = metrics.render(true, false, &commits.snapshot());
        assert!(text.contains(r#"natter_http_request_duration_seconds_bucket{method="GET",route="/v1/users/me",status="200",le="0.005"} 1"#));
        assert!(text.contains(r#"natter_store_commit_batch_size_bucket{le="1"} 1"#));
        assert!(text.contains(r#"natter_store_commit_batch_size_bucket{le="8"} 1"#));
        assert!(text.contains(r#"natter_store_commit_batch_size_bucket{le="16"} 2"#));
        assert!(text.contains(r#"natter_store_commit_batch_size_bucket{le="+Inf"} 2"#));
        assert!(text.contains("natter_store_commit_batch_size_sum 13\n"));
        assert!(text.contains(r#"natter_store_commit_duration_seconds_bucket{le="0.0005"} 1"#));
        assert!(text.contains(r#"natter_store_commit_duration_seconds_bucket{le="0.0025"} 2"#));
        assert!(text.contains("natter_bus_publish_duration_seconds_count 1"));
        assert!(text.contains(r#"natter_http_request_duration_seconds_bucket{method="GET",route="/v1/users/me",status="200",le="0.05"} 2"#));
        assert!(text.contains("natter_messages_sent_total 2"));
        assert!(text.contains("natter_bus_up 0"));
    }
}
