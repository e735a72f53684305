//! `natter-bench`: the load generator of Natter.
//!
//! Each subcommand is one scenario (`fanout`, `send`, `history`, `search`, one module each) that
//! prints one JSON line of results on stdout and a short summary on stderr. The server is
//! either given (`--url`, `--api-key`) or started here (`--spawn PATH_TO_NATTER`); see
//! `harness.rs`. Every user acts through the server API key (`X-Natter-User`), so the
//! benchmark needs no token signing. Results and the commands behind them are recorded in
//! `BENCHMARKS.md` at the root of the repository.

#![forbid(unsafe_code)]

mod fanout;
mod harness;
mod history;
mod search;
mod send;

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde::Serialize;

/// Load generator for a Natter server.
#[derive(Debug, Parser)]
#[command(name = "natter-bench", version, about)]
struct Cli {
    #[command(flatten)]
    target: harness::TargetArgs,
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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let target = harness::Target::open(&cli.target).await?;
    eprintln!("natter-bench: server at {}", target.base_url());
    match &cli.scenario {
        Scenario::Fanout(args) => {
            let report = fanout::run(&target, args).await?;
            print_report(&report, &report.human())
        }
        Scenario::Send(args) => {
            let report = send::run(&target, args).await?;
            print_report(&report, &report.human())
        }
        Scenario::History(args) => {
            let report = history::run(&target, args).await?;
            print_report(&report, &report.human())
        }
        Scenario::Search(args) => {
            let report = search::run(&target, args).await?;
            print_report(&report, &report.human())?;
            report.check()
        }
    }
}

/// The JSON line on stdout, the summary on stderr.
fn print_report(report: &impl Serialize, human: &str) -> anyhow::Result<()> {
    let line = serde_json::to_string(report).context("serializing the report")?;
    println!("{line}");
    eprintln!("{human}");
    Ok(())
}
