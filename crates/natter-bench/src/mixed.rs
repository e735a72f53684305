//! `mixed`: many users doing what a chat app's users do, all at once, for T seconds:
//! throughput and latency per operation.
//!
//! U users share G groups of S members (seat `k` of the groups goes to user `k mod U`,
//! so with G × S ≥ U everyone is in a group). Each user has a WebSocket open (unless
//! `--no-realtime`) whose frames are read and counted, so every send also fans out, and
//! runs a closed loop: pick one of its conversations and an operation by weight, do it,
//! record its round trip, repeat. The weights (per cent) follow a chat client, where
//! reading dominates: list conversations 10, read the newest page 25, send 20, mark read
//! (receipts) 20, typing 15, react to the newest message 10. `send.rs`, `history.rs` and
//! `fanout.rs` measure each path alone; this scenario measures them competing.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::{StreamExt, TryStreamExt};
use natter_client::realtime::Connection;
use natter_client::{Client, ConversationFilter, MessageFilter};
use natter_proto::{ConversationId, MarkRead, MessageId, UserId};
use rand::Rng;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::harness::{self, CpuUsage, Latencies, LatencySummary, Target};

/// WebSocket connections opened at the same time during setup.
const CONNECT_CONCURRENCY: usize = 16;
/// Reactions the users choose from (one per user and emoji, so repeats are no-ops).
const EMOJI: [&str; 6] = ["👍", "❤️", "😂", "🎉", "👀", ":thumbsup:"];

/// The operations and their weights (per cent).
const OPERATIONS: [(Operation, u32); 6] = [
    (Operation::ListConversations, 10),
    (Operation::ReadPage, 25),
    (Operation::Send, 20),
    (Operation::MarkRead, 20),
    (Operation::Typing, 15),
    (Operation::React, 10),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Operation {
    ListConversations,
    ReadPage,
    Send,
    MarkRead,
    Typing,
    React,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::ListConversations => "list_conversations",
            Operation::ReadPage => "read_page",
            Operation::Send => "send",
            Operation::MarkRead => "mark_read",
            Operation::Typing => "typing",
            Operation::React => "react",
        }
    }

    /// One operation drawn by weight.
    fn pick(rng: &mut impl Rng) -> Operation {
        let total: u32 = OPERATIONS.iter().map(|(_, weight)| weight).sum();
        let mut draw = rng.gen_range(0..total);
        for (operation, weight) in OPERATIONS {
            if draw < weight {
                return operation;
            }
            draw -= weight;
        }
        Operation::ReadPage
    }
}

/// Flags of `natter-bench mixed`.
#[derive(Debug, Clone, clap::Args)]
pub struct MixedArgs {
    /// Users, each with one request in flight.
    #[arg(long, default_value_t = 100)]
    users: usize,
    /// Group conversations.
    #[arg(long, default_value_t = 20)]
    groups: usize,
    /// Members per group.
    #[arg(long, default_value_t = 8)]
    group_size: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Do not open a WebSocket per user.
    #[arg(long)]
    no_realtime: bool,
}

/// Results of one run, printed as one JSON line.
#[derive(Debug, Serialize)]
pub struct MixedReport {
    scenario: &'static str,
    users: usize,
    groups: usize,
    group_size: usize,
    realtime: bool,
    duration_s: f64,
    /// Successful operations of every kind.
    operations: u64,
    operations_per_s: f64,
    /// Failed operations (any error status or no answer).
    errors: u64,
    first_error: Option<String>,
    /// Per operation: count, rate and latency.
    by_operation: BTreeMap<&'static str, OperationReport>,
    /// Frames the WebSockets received during the load, by type.
    frames: BTreeMap<String, u64>,
    /// WebSockets that ended during the run.
    connections_lost: usize,
    cpu: CpuUsage,
}

/// One operation's share of a run.
#[derive(Debug, Serialize)]
struct OperationReport {
    per_s: f64,
    errors: u64,
    latency: LatencySummary,
}

impl MixedReport {
    /// A few lines for a human, for stderr.
    pub fn human(&self) -> String {
        let mut summary = format!(
            "mixed {} users in {} groups of {}{}: {} operations ({} ops/s), {} errors, \
             {} connections lost",
            self.users,
            self.groups,
            self.group_size,
            if self.realtime {
                ", WebSockets open"
            } else {
                ""
            },
            self.operations,
            self.operations_per_s,
            self.errors,
            self.connections_lost,
        );
        for (name, operation) in &self.by_operation {
            summary.push_str(&format!(
                "\n  {name}: {} /s, {} errors, {}",
                operation.per_s, operation.errors, operation.latency
            ));
        }
        let frames: u64 = self.frames.values().sum();
        summary.push_str(&format!("\n  {frames} frames received\n  {}", self.cpu));
        if let Some(error) = &self.first_error {
            summary.push_str(&format!("\n  first error: {error}"));
        }
        summary
    }
}

/// The newest message of each conversation (what users react to).
type Newest = Arc<Mutex<HashMap<ConversationId, MessageId>>>;

/// What one user did.
#[derive(Debug, Default)]
struct UserOutcome {
    latencies: BTreeMap<Operation, Latencies>,
    errors: BTreeMap<Operation, u64>,
    first_error: Option<String>,
}

/// Runs the scenario against `target`.
pub async fn run(target: &Target, args: &MixedArgs) -> anyhow::Result<MixedReport> {
    if args.users == 0
        || args.groups == 0
        || !(2..=args.users).contains(&args.group_size)
        || !harness::is_positive(args.duration)
    {
        bail!("--users, --groups and --duration must be positive, 2 ≤ --group-size ≤ --users");
    }
    let users = target.users("user", args.users)?;
    let mut memberships: Vec<Vec<ConversationId>> = vec![Vec::new(); args.users];
    let newest: Newest = Arc::default();
    for group in 0..args.groups {
        let seats: Vec<usize> = (0..args.group_size)
            .map(|seat| (group * args.group_size + seat) % args.users)
            .collect();
        let owner = &users[seats[0]];
        let members: Vec<UserId> = seats[1..]
            .iter()
            .map(|&seat| users[seat].id.clone())
            .collect();
        let conversation_id =
            harness::create_group(owner, &format!("mixed {group}"), &members).await?;
        let first = owner
            .client
            .send_text(conversation_id, "welcome to the mixed benchmark")
            .await
            .context("posting the first message of a group")?;
        lock(&newest).insert(conversation_id, first.id);
        for seat in seats {
            memberships[seat].push(conversation_id);
        }
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut readers = JoinSet::new();
    if !args.no_realtime {
        let connections: Vec<Connection> = futures_util::stream::iter(users.iter().cloned())
            .map(|user| async move {
                user.client
                    .connect_realtime()
                    .await
                    .with_context(|| format!("connecting {} to the gateway", user.id))
            })
            .buffer_unordered(CONNECT_CONCURRENCY)
            .try_collect()
            .await?;
        // Connecting users announce their presence to each other: let that burst pass.
        tokio::time::sleep(Duration::from_secs(1)).await;
        for connection in connections {
            readers.spawn(count_frames(connection, stop_rx.clone()));
        }
    }

    let cpu = target.cpu_meter();
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.duration);
    let mut workers = JoinSet::new();
    for (user, conversations) in users.into_iter().zip(memberships) {
        if conversations.is_empty() {
            continue;
        }
        workers.spawn(work_until(
            user.client,
            conversations,
            Arc::clone(&newest),
            deadline,
        ));
    }
    let mut total = UserOutcome::default();
    while let Some(joined) = workers.join_next().await {
        let outcome = joined.context("a user task panicked")?;
        for (operation, latencies) in outcome.latencies {
            total
                .latencies
                .entry(operation)
                .or_default()
                .merge(latencies);
        }
        for (operation, errors) in outcome.errors {
            *total.errors.entry(operation).or_default() += errors;
        }
        if let Some(error) = outcome.first_error {
            total.first_error.get_or_insert(error);
        }
    }
    let elapsed = started.elapsed();
    let cpu = cpu.finish();
    let _ = stop_tx.send(true);
    let mut frames = BTreeMap::new();
    let mut connections_lost = 0;
    while let Some(joined) = readers.join_next().await {
        let (counted, lost) = joined.context("a WebSocket task panicked")?;
        for (kind, count) in counted {
            *frames.entry(kind).or_insert(0) += count;
        }
        connections_lost += usize::from(lost);
    }

    let operations: u64 = total.latencies.values().map(|l| l.len() as u64).sum();
    let errors: u64 = total.errors.values().sum();
    let by_operation = OPERATIONS
        .iter()
        .map(|&(operation, _)| {
            let latencies = total.latencies.remove(&operation).unwrap_or_default();
            let report = OperationReport {
                per_s: harness::per_second(latencies.len() as u64, elapsed),
                errors: total.errors.get(&operation).copied().unwrap_or(0),
                latency: latencies.summary(),
            };
            (operation.name(), report)
        })
        .collect();
    Ok(MixedReport {
        scenario: "mixed",
        users: args.users,
        groups: args.groups,
        group_size: args.group_size,
        realtime: !args.no_realtime,
        duration_s: args.duration,
        operations,
        operations_per_s: harness::per_second(operations, elapsed),
        errors,
        first_error: total.first_error,
        by_operation,
        frames,
        connections_lost,
        cpu,
    })
}

fn lock(newest: &Newest) -> std::sync::MutexGuard<'_, HashMap<ConversationId, MessageId>> {
    newest
        .lock()
        .expect("the map is never left poisoned: no panics under the lock")
}

/// One user's closed loop until `deadline`.
async fn work_until(
    client: Client,
    conversations: Vec<ConversationId>,
    newest: Newest,
    deadline: Instant,
) -> UserOutcome {
    let mut outcome = UserOutcome::default();
    let mut index = 0u64;
    while Instant::now() < deadline {
        // `ThreadRng` is not `Send`: draw and drop it before the `.await`.
        let (operation, conversation_id, emoji) = {
            let mut rng = rand::thread_rng();
            (
                Operation::pick(&mut rng),
                conversations[rng.gen_range(0..conversations.len())],
                EMOJI[rng.gen_range(0..EMOJI.len())],
            )
        };
        index += 1;
        let started = Instant::now();
        let result = match operation {
            Operation::ListConversations => client
                .list_conversations(&ConversationFilter::default())
                .await
                .map(drop),
            Operation::ReadPage => client
                .list_messages(conversation_id, &MessageFilter::default().limit(50))
                .await
                .map(drop),
            Operation::Send => {
                let content = format!(
                    "mixed message {index}: see you at the station at half past, bring the tickets"
                );
                client
                    .send_text(conversation_id, &content)
                    .await
                    .map(|message| {
                        lock(&newest).insert(conversation_id, message.id);
                    })
            }
            Operation::MarkRead => client
                .mark_read(
                    conversation_id,
                    &MarkRead {
                        up_to_message_id: None,
                    },
                )
                .await
                .map(drop),
            Operation::Typing => client.set_typing(conversation_id, true).await,
            Operation::React => {
                let message_id = lock(&newest).get(&conversation_id).copied();
                match message_id {
                    Some(message_id) => client.add_reaction(message_id, emoji).await.map(drop),
                    None => continue,
                }
            }
        };
        match result {
            Ok(()) => outcome
                .latencies
                .entry(operation)
                .or_default()
                .record(started.elapsed()),
            Err(err) => {
                *outcome.errors.entry(operation).or_default() += 1;
                outcome
                    .first_error
                    .get_or_insert_with(|| format!("{}: {err}", operation.name()));
            }
        }
    }
    outcome
}

/// Reads frames until told to stop; the frames by type, and whether the connection ended
/// before that.
async fn count_frames(
    mut connection: Connection,
    mut stop: watch::Receiver<bool>,
) -> (BTreeMap<String, u64>, bool) {
    let mut frames = BTreeMap::new();
    loop {
        let frame = tokio::select! {
            _ = stop.wait_for(|stop| *stop) => break,
            frame = connection.next_frame() => frame,
        };
        match frame {
            Ok(frame) => *frames.entry(frame.kind).or_insert(0) += 1,
            Err(_) => return (frames, true),
        }
    }
    connection.close().await;
    (frames, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_add_up_to_one_hundred() {
        let total: u32 = OPERATIONS.iter().map(|(_, weight)| weight).sum();
        assert_eq!(total, 100);
    }

    #[test]
    fn every_operation_is_drawn() {
        let mut rng = rand::thread_rng();
        let drawn: std::collections::BTreeSet<Operation> =
            (0..10_000).map(|_| Operation::pick(&mut rng)).collect();
        assert_eq!(drawn.len(), OPERATIONS.len());
    }
}
