//! `send`: C senders post as fast as they can (closed loop: each waits for its answer before
//! the next post) into K group conversations; sender `i` posts into conversation `i mod K`.
//!
//! This measures the write path alone: no WebSocket is open, so the hub has nobody to fan
//! out to. `fanout.rs` measures delivery; `history.rs` fills a conversation the same way.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use natter_client::Client;
use natter_proto::ConversationId;
use serde::Serialize;
use tokio::task::JoinSet;

use crate::baseline::{Compared, Ratio};
use crate::harness::{self, BenchUser, CpuUsage, Latencies, LatencySummary, Target};

/// Flags of `natter-bench send`.
#[derive(Debug, Clone, clap::Args)]
pub struct SendArgs {
    /// Concurrent senders, each a different user with one request in flight.
    #[arg(long, default_value_t = 16)]
    senders: usize,
    /// Group conversations the senders post into.
    #[arg(long, default_value_t = 1)]
    conversations: usize,
    /// Seconds of sending.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
}

/// Results of one run, printed as one JSON line.
#[derive(Debug, Serialize)]
pub struct SendReport {
    scenario: &'static str,
    senders: usize,
    conversations: usize,
    duration_s: f64,
    /// Posts answered `201`.
    accepted: u64,
    /// Accepted posts per second.
    messages_per_s: f64,
    /// Posts that failed (any status but 201, or no answer).
    errors: u64,
    first_error: Option<String>,
    /// Round trip of accepted posts.
    latency: LatencySummary,
    cpu: CpuUsage,
    /// The server's search index backlog when the senders stopped, and the seconds it
    /// took to reach 0 after that (`natter_search_index_backlog` in `/metrics`; absent for
    /// a server without it). A store that indexes behind its writer (SQLite) can accept
    /// messages faster than it indexes them for a while: this shows whether it did.
    search_backlog: Option<SearchBacklog>,
    /// `messages_per_s` against the baseline server's (with `--baseline`).
    ratio_to_baseline: Option<Ratio>,
}

/// How far the search index was behind at the end of a run.
#[derive(Debug, Serialize)]
pub struct SearchBacklog {
    /// Changes not indexed yet when the senders stopped.
    at_end: u64,
    /// Seconds from the end of sending until the backlog was 0 (or the wait gave up).
    catch_up_s: f64,
    /// Accepted messages per second counting the catch-up: what the store can sustain.
    indexed_messages_per_s: f64,
}

impl SendReport {
    /// A few lines for a human, for stderr.
    pub fn human(&self) -> String {
        let mut summary = format!(
            "send {} senders into {} conversation(s): {} accepted ({} msg/s), {} errors\n  \
             latency: {}\n  {}",
            self.senders,
            self.conversations,
            self.accepted,
            self.messages_per_s,
            self.errors,
            self.latency,
            self.cpu
        );
        for error in [&self.first_error].into_iter().flatten() {
            summary.push_str(&format!("\n  first error: {error}"));
        }
        if let Some(backlog) = &self.search_backlog {
            summary.push_str(&format!(
                "\n  search index: {} behind at the end, caught up {:.2} s later ({:.0} msg/s with the catch-up)",
                backlog.at_end, backlog.catch_up_s, backlog.indexed_messages_per_s
            ));
        }
        if let Some(ratio) = &self.ratio_to_baseline {
            summary.push_str(&format!("\n  {ratio}"));
        }
        summary
    }
}

impl Compared for SendReport {
    fn human(&self) -> String {
        SendReport::human(self)
    }

    fn figure(&self) -> f64 {
        self.messages_per_s
    }

    fn set_ratio(&mut self, ratio: Ratio) {
        self.ratio_to_baseline = Some(ratio);
    }
}

/// What one sender did.
#[derive(Debug, Default)]
struct SenderOutcome {
    latencies: Latencies,
    errors: u64,
    first_error: Option<String>,
}

/// Runs the scenario against `target`.
pub async fn run(target: &Target, args: &SendArgs) -> anyhow::Result<SendReport> {
    if args.senders == 0 || args.conversations == 0 || !harness::is_positive(args.duration) {
        bail!("--senders, --conversations and --duration must be positive");
    }
    let senders = target.users("sender", args.senders)?;
    let conversations = create_groups(&senders, args.conversations).await?;

    let cpu = target.cpu_meter();
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.duration);
    let mut tasks = JoinSet::new();
    for (index, sender) in senders.into_iter().enumerate() {
        let conversation_id = conversations[index % conversations.len()];
        tasks.spawn(send_until(sender.client, conversation_id, deadline));
    }
    let mut latency = Latencies::default();
    let (mut errors, mut first_error) = (0, None);
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined.context("a sender task panicked")?;
        latency.merge(outcome.latencies);
        errors += outcome.errors;
        if let Some(error) = outcome.first_error {
            first_error.get_or_insert(error);
        }
    }
    let elapsed = started.elapsed();
    let cpu = cpu.finish();
    let accepted = latency.len() as u64;
    let search_backlog = harness::search_index_caught_up(target)
        .await
        .map(|(at_end, catch_up)| SearchBacklog {
            at_end,
            catch_up_s: catch_up.as_secs_f64(),
            indexed_messages_per_s: harness::per_second(accepted, elapsed + catch_up),
        });
    Ok(SendReport {
        scenario: "send",
        senders: args.senders,
        conversations: args.conversations,
        duration_s: args.duration,
        accepted,
        messages_per_s: harness::per_second(accepted, elapsed),
        errors,
        first_error,
        latency: latency.summary(),
        cpu,
        search_backlog,
        ratio_to_baseline: None,
    })
}

/// `count` groups owned by the first sender, each with every sender in it.
async fn create_groups(senders: &[BenchUser], count: usize) -> anyhow::Result<Vec<ConversationId>> {
    let (owner, others) = senders.split_first().context("at least one sender")?;
    let member_ids: Vec<_> = others.iter().map(|user| user.id.clone()).collect();
    let mut conversations = Vec::with_capacity(count);
    for index in 0..count {
        conversations
            .push(harness::create_group(owner, &format!("send {index}"), &member_ids).await?);
    }
    Ok(conversations)
}

/// Posts one message after another until `deadline`.
async fn send_until(
    client: Client,
    conversation_id: ConversationId,
    deadline: Instant,
) -> SenderOutcome {
    let mut outcome = SenderOutcome::default();
    let mut index = 0u64;
    while Instant::now() < deadline {
        let content = format!("send benchmark message {index}");
        index += 1;
        let started = Instant::now();
        match client.send_text(conversation_id, &content).await {
            Ok(_) => outcome.latencies.record(started.elapsed()),
            Err(err) => {
                outcome.errors += 1;
                outcome.first_error.get_or_insert_with(|| err.to_string());
            }
        }
    }
    outcome
}
