//! Baselines: what any server could do on this machine, measured with the same load.
//!
//! `natter-bench baseline send|fanout|history [flags]` runs that scenario, with the same
//! flags, against the baseline server (`baseline/server.rs`: the same routes and bodies,
//! no storage, no rules), spawned as its own process on a free port like `natter serve`.
//! `natter-bench baseline sqlite` runs the storage loop (`baseline/sqlite.rs`).
//! `natter-bench --baseline send|fanout|history …` first runs the baseline of that scenario,
//! moments before the real run, and adds `ratio_to_baseline` to the report: the scenario's
//! headline figure divided by the baseline's. The baseline's own report is printed first,
//! with `"server": "baseline"`.

use std::future::Future;

use anyhow::Context;
use serde::Serialize;

use crate::fanout::FanoutArgs;
use crate::harness::{Target, TargetArgs};
use crate::history::HistoryArgs;
use crate::send::SendArgs;

pub mod server;
pub mod sqlite;

/// `natter-bench baseline …`: one baseline.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum BaselineCommand {
    /// The `send` scenario against the baseline server (an axum JSON → 201 handler).
    Send(SendArgs),
    /// The `fanout` scenario against the baseline server (a tokio WebSocket broadcaster).
    Fanout(FanoutArgs),
    /// The `history` scenario against the baseline server (pages from messages serialised once).
    History(HistoryArgs),
    /// Batched inserts into SQLite on one thread, one transaction per batch.
    Sqlite(SqliteArgs),
}

/// Flags of `natter-bench baseline sqlite`.
#[derive(Debug, Clone, clap::Args)]
pub struct SqliteArgs {
    /// Rows per transaction (the real writer's batch is at most the number of senders).
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// `synchronous` pragma, in WAL mode.
    #[arg(long, default_value = "full", value_parser = ["full", "normal"])]
    pub synchronous: String,
    /// Keep the store's search index (FTS5 tables and trigger of `0002_search.sql`).
    #[arg(long)]
    pub search_index: bool,
    /// Wrap each row in its own savepoint, as the writer thread does with each request.
    #[arg(long)]
    pub savepoint_per_row: bool,
    /// Seconds of inserting.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
}

/// A scenario report that can be compared with its baseline.
pub trait Compared: Serialize {
    /// A few lines for a human.
    fn human(&self) -> String;
    /// The headline figure (per second) that the ratio compares.
    fn figure(&self) -> f64;
    /// Records the comparison.
    fn set_ratio(&mut self, ratio: Ratio);
}

/// A scenario's headline figure against the same figure from the baseline server.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ratio {
    /// The baseline's figure, measured moments before.
    pub baseline: f64,
    /// The scenario's figure.
    pub measured: f64,
    /// `measured / baseline`.
    pub ratio: f64,
}

impl Ratio {
    /// `measured / baseline`, rounded to three decimals (0 when the baseline is 0).
    pub fn new(measured: f64, baseline: f64) -> Ratio {
        let ratio = if baseline > 0.0 {
            (measured / baseline * 1000.0).round() / 1000.0
        } else {
            0.0
        };
        Ratio {
            baseline,
            measured,
            ratio,
        }
    }
}

impl std::fmt::Display for Ratio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.1} % of the baseline ({} /s against {} /s)",
            self.ratio * 100.0,
            self.measured,
            self.baseline
        )
    }
}

/// A report of a run against the baseline server, marked as such in its JSON line.
#[derive(Debug, Serialize)]
pub struct BaselineReport<R> {
    server: &'static str,
    #[serde(flatten)]
    report: R,
}

impl<R> BaselineReport<R> {
    /// Marks `report` as the baseline's.
    pub fn new(report: R) -> Self {
        BaselineReport {
            server: "baseline",
            report,
        }
    }
}

/// The SQLite loop's report, as one JSON line.
#[derive(Debug, Serialize)]
pub struct SqliteReport {
    scenario: &'static str,
    server: &'static str,
    #[serde(flatten)]
    result: sqlite::SqliteBaseline,
}

impl SqliteReport {
    /// A few lines for a human, for stderr.
    pub fn human(&self) -> String {
        let shape = &self.result.shape;
        format!(
            "baseline sqlite, synchronous={}, {} rows per transaction{}{}: {} rows/s, {} \
             commits/s, {} rows per CPU-second\n  commit latency: {}",
            self.result.synchronous,
            shape.batch,
            if shape.search_index {
                ", search index"
            } else {
                ""
            },
            if shape.savepoint_per_row {
                ", savepoint per row"
            } else {
                ""
            },
            self.result.rows_per_s,
            self.result.commits_per_s,
            self.result
                .rows_per_cpu_s
                .map_or_else(|| "?".to_owned(), |rate| rate.to_string()),
            self.result.commit_latency
        )
    }
}

/// Runs the SQLite loop on a blocking thread.
pub async fn run_sqlite(args: &SqliteArgs) -> anyhow::Result<SqliteReport> {
    if !crate::harness::is_positive(args.duration) {
        anyhow::bail!("--duration must be positive");
    }
    let args = args.clone();
    let result = tokio::task::spawn_blocking(move || {
        sqlite::run(
            sqlite::LoopShape {
                batch: args.batch,
                search_index: args.search_index,
                savepoint_per_row: args.savepoint_per_row,
            },
            std::time::Duration::from_secs_f64(args.duration),
            &args.synchronous,
        )
    })
    .await
    .context("the sqlite baseline panicked")??;
    Ok(SqliteReport {
        scenario: "baseline_sqlite",
        server: "none",
        result,
    })
}

/// Starts the baseline server (this binary's hidden `serve`) and waits until it is ready.
pub async fn target() -> anyhow::Result<Target> {
    let binary = std::env::current_exe().context("finding the natter-bench binary")?;
    Target::open(&TargetArgs {
        url: None,
        api_key: None,
        spawn: Some(binary),
        durability: None,
        database_url: None,
        data_dir: None,
    })
    .await
    .context("starting the baseline server")
}

/// Runs `scenario` against a fresh baseline server and returns its report, after printing
/// it as a JSON line marked `"server": "baseline"`. The server is stopped before returning.
pub async fn measure<R, F, Fut>(scenario: F) -> anyhow::Result<R>
where
    R: Compared,
    F: FnOnce(Target) -> Fut,
    Fut: Future<Output = anyhow::Result<R>>,
{
    let target = target().await?;
    eprintln!("natter-bench: baseline server at {}", target.base_url());
    let report = scenario(target).await?;
    crate::print_report(&BaselineReport::new(&report), &report.human())?;
    Ok(report)
}
