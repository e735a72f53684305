//! `natter-bench`: the load generator of Natter.
//!
//! Each subcommand is one scenario (`fanout`, `send`, `history`, `search`, `connections`,
//! `mixed`, `upload`, `members`, one module each) that prints one JSON line of results on stdout and a short summary on
//! stderr. The server is either given (`--url`, `--api-key`) or started here (`--spawn
//! PATH_TO_NATTER`); see `harness.rs`. `baseline` runs a scenario against a minimal server
//! instead, and `--baseline` runs it first and reports the ratio (`baseline.rs`). Every
//! user acts through the server API key (`X-Natter-User`), so the benchmark needs no token
//! signing. Results and the commands behind them are recorded in `BENCHMARKS.md` at the
//! root of the repository.

#![forbid(unsafe_code)]

mod baseline;
mod connections;
mod fanout;
mod harness;
mod history;
mod members;
mod mixed;
mod search;
mod send;
mod upload;

use anyhow::Context;
use baseline::Compared;
use clap::{Parser, Subcommand};
use serde::Serialize;

/// Load generator for a Natter server.
#[derive(Debug, Parser)]
#[command(name = "natter-bench", version, about)]
struct Cli {
    #[command(flatten)]
    target: harness::TargetArgs,
    /// Run the scenario against the baseline server first, moments before, and report
    /// `ratio_to_baseline` (send, fanout, history).
    #[arg(long, global = true)]
    baseline: bool,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// One sender, many receivers on WebSockets: deliveries/s and send-to-receive latency.
    Fanout(fanout::FanoutArgs),
    /// Concurrent closed-loop senders: accepted messages/s and post latency.
    Send(send::SendArgs),
    /// Page back through a long conversation: pages/s and page latency.
    History(history::HistoryArgs),
    /// Search a generated corpus as a user of some of its conversations: latency per query.
    Search(search::SearchArgs),
    /// Many idle WebSockets: server memory per connection and time to connect.
    Connections(connections::ConnectionsArgs),
    /// A realistic mix of operations by many users: throughput and latency per operation.
    Mixed(mixed::MixedArgs),
    /// Large uploads and a camera JPEG: the server's peak memory and the upload latency.
    Upload(upload::UploadArgs),
    /// One request at a time in a big group: the latencies that must not grow with it.
    Members(members::MembersArgs),
    /// What any server could do here: a scenario against a minimal server, or SQLite alone.
    #[command(subcommand)]
    Baseline(baseline::BaselineCommand),
    /// The baseline server itself, as the harness starts it (`NATTER_LISTEN`).
    #[command(hide = true)]
    Serve,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match &cli.scenario {
        Scenario::Serve => return baseline::server::serve().await,
        Scenario::Baseline(command) => return run_baseline(command).await,
        _ => {}
    }
    // The baseline runs (and its server stops) before the real server starts.
    let baseline = if cli.baseline {
        match &cli.scenario {
            Scenario::Fanout(args) => Some(
                baseline::measure(|t| async move { fanout::run(&t, args).await })
                    .await?
                    .figure(),
            ),
            Scenario::Send(args) => Some(
                baseline::measure(|t| async move { send::run(&t, args).await })
                    .await?
                    .figure(),
            ),
            Scenario::History(args) => {
                if let Some(flag) = args.natter_only_flag() {
                    anyhow::bail!("{flag} needs a Natter server: not with --baseline");
                }
                Some(
                    baseline::measure(|t| async move { history::run(&t, args).await })
                        .await?
                        .figure(),
                )
            }
            _ => anyhow::bail!("--baseline applies to send, fanout and history"),
        }
    } else {
        None
    };
    let target = harness::Target::open(&cli.target).await?;
    eprintln!("natter-bench: server at {}", target.base_url());
    match &cli.scenario {
        Scenario::Fanout(args) => print_compared(fanout::run(&target, args).await?, baseline),
        Scenario::Send(args) => print_compared(send::run(&target, args).await?, baseline),
        Scenario::History(args) => print_compared(history::run(&target, args).await?, baseline),
        Scenario::Connections(args) => {
            let report = connections::run(&target, args).await?;
            print_report(&report, &report.human())
        }
        Scenario::Mixed(args) => {
            let report = mixed::run(&target, args).await?;
            print_report(&report, &report.human())
        }
        Scenario::Upload(args) => {
            let report = upload::run(&target, args).await?;
            print_report(&report, &report.human())
        }
        Scenario::Members(args) => {
            let report = members::run(&target, args).await?;
            print_report(&report, &report.human())
        }
        Scenario::Search(args) => {
            let report = search::run(&target, args).await?;
            print_report(&report, &report.human())?;
            report.check()
        }
        // Both returned before the target was opened.
        Scenario::Baseline(_) | Scenario::Serve => Ok(()),
    }
}

/// `natter-bench baseline …`.
async fn run_baseline(command: &baseline::BaselineCommand) -> anyhow::Result<()> {
    use baseline::BaselineCommand;
    match command {
        BaselineCommand::Send(args) => {
            baseline::measure(|t| async move { send::run(&t, args).await }).await?;
        }
        BaselineCommand::Fanout(args) => {
            baseline::measure(|t| async move { fanout::run(&t, args).await }).await?;
        }
        BaselineCommand::History(args) => {
            if let Some(flag) = args.natter_only_flag() {
                anyhow::bail!("{flag} needs a Natter server: not with the baseline");
            }
            baseline::measure(|t| async move { history::run(&t, args).await }).await?;
        }
        BaselineCommand::Sqlite(args) => {
            let report = baseline::run_sqlite(args).await?;
            print_report(&report, &report.human())?;
        }
    }
    Ok(())
}

/// Prints a scenario's report, with its ratio to the baseline figure when there is one.
fn print_compared(
    mut report: impl baseline::Compared,
    baseline: Option<f64>,
) -> anyhow::Result<()> {
    if let Some(baseline) = baseline {
        report.set_ratio(baseline::Ratio::new(report.figure(), baseline));
    }
    print_report(&report, &report.human())
}

/// The JSON line on stdout, the summary on stderr.
fn print_report(report: &impl Serialize, human: &str) -> anyhow::Result<()> {
    let line = serde_json::to_string(report).context("serializing the report")?;
    println!("{line}");
    eprintln!("{human}");
    Ok(())
}
