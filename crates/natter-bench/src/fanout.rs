//! `fanout`: one sender, R receivers with one WebSocket each, all in one group.
//!
//! Open loop (default): the sender posts at a fixed rate, each post in its own task so a
//! slow answer does not delay the next one. Closed loop (`--closed-loop`): the next post
//! goes out as soon as every receiver has the previous one. Each message's content starts
//! with its send time (`t=<unix nanos>`), taken just before the request; a receiver's
//! latency sample is its clock at the frame minus that time, so it covers the HTTP request,
//! the commit, the hub and the WebSocket write. Receivers count a second frame with the
//! same event seq as a duplicate; they do not resume or catch up (that is
//! `realtime::ResumingStream`'s job), so `missed` is what live delivery lost.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::{StreamExt, TryStreamExt};
use natter_client::realtime::Connection;
use natter_proto::{event_type, ConversationId, EventSeq};
use serde::Serialize;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use crate::baseline::{Compared, Ratio};
use crate::harness::{self, CpuUsage, Latencies, LatencySummary, Target};

/// WebSocket connections opened at the same time during setup.
const CONNECT_CONCURRENCY: usize = 16;
/// The setup's frames have passed once none arrived for this long …
const QUIET: Duration = Duration::from_millis(500);
/// … or after this long at most.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);

/// Flags of `natter-bench fanout`.
#[derive(Debug, Clone, clap::Args)]
pub struct FanoutArgs {
    /// Receivers in the group, each with one WebSocket.
    #[arg(long, default_value_t = 100)]
    receivers: usize,
    /// Messages per second the sender posts (open loop).
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Seconds of sending.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Post the next message as soon as every receiver has the previous one.
    #[arg(long)]
    closed_loop: bool,
    /// Seconds to wait for outstanding deliveries after the last post.
    #[arg(long, default_value_t = 5.0)]
    drain: f64,
    /// Least seconds between the last connection and the first post. Every connection
    /// tells every other one that its user came online (about R²/2 `presence.updated`
    /// frames: ~600,000 for 1,000 receivers, seconds of work); the first post waits until
    /// no such frame has arrived for 0.5 s as well, so that the burst is not timed.
    #[arg(long, default_value_t = 1.0)]
    settle: f64,
}

/// Results of one run, printed as one JSON line.
#[derive(Debug, Serialize)]
pub struct FanoutReport {
    scenario: &'static str,
    mode: &'static str,
    receivers: usize,
    /// Offered rate (open loop only).
    rate: Option<f64>,
    duration_s: f64,
    /// Posts the server accepted.
    sent: u64,
    send_errors: u64,
    /// Accepted posts per second over the sending time.
    messages_per_s: f64,
    /// `message.created` frames received (first copy only).
    delivered: u64,
    /// Delivered frames per second, from the first post to the last frame received.
    deliveries_per_s: f64,
    /// `receivers × sent − delivered`.
    missed: u64,
    /// Frames whose event seq the same connection had received before.
    duplicates: u64,
    /// Frames of other types (presence, receipts …), by type, setup's included.
    other_frames: BTreeMap<String, u64>,
    /// Seconds from the last connection to the first post (see `--settle`).
    settle_s: f64,
    /// Connections that ended before the run did (e.g. closed with 4001, resync).
    connections_lost: usize,
    first_connection_error: Option<String>,
    first_send_error: Option<String>,
    /// Post to frame, per delivery.
    latency: LatencySummary,
    /// The sender's `POST …/messages` round trip.
    send_latency: LatencySummary,
    cpu: CpuUsage,
    /// `deliveries_per_s` against the baseline server's (with `--baseline`).
    ratio_to_baseline: Option<Ratio>,
}

impl FanoutReport {
    /// A few lines for a human, for stderr.
    pub fn human(&self) -> String {
        let mut summary = format!(
            "fanout ({}) 1 sender x {} receivers: {} sent ({} msg/s), {} send errors, \
             {} delivered ({} deliveries/s), {} missed, {} duplicates, {} connections lost\n  \
             delivery latency: {}\n  send latency: {}\n  {}",
            self.mode,
            self.receivers,
            self.sent,
            self.messages_per_s,
            self.send_errors,
            self.delivered,
            self.deliveries_per_s,
            self.missed,
            self.duplicates,
            self.connections_lost,
            self.latency,
            self.send_latency,
            self.cpu
        );
        for error in [&self.first_send_error, &self.first_connection_error]
            .into_iter()
            .flatten()
        {
            summary.push_str(&format!("\n  first error: {error}"));
        }
        if let Some(ratio) = &self.ratio_to_baseline {
            summary.push_str(&format!("\n  {ratio}"));
        }
        summary
    }
}

impl Compared for FanoutReport {
    fn human(&self) -> String {
        FanoutReport::human(self)
    }

    fn figure(&self) -> f64 {
        self.deliveries_per_s
    }

    fn set_ratio(&mut self, ratio: Ratio) {
        self.ratio_to_baseline = Some(ratio);
    }
}

/// What one receiver saw.
#[derive(Debug, Default)]
struct ReceiverOutcome {
    latencies: Latencies,
    delivered: u64,
    duplicates: u64,
    other_frames: BTreeMap<String, u64>,
    last_delivery: Option<Instant>,
    error: Option<String>,
}

/// What the sender did.
#[derive(Debug, Default)]
struct SenderOutcome {
    sent: u64,
    errors: u64,
    first_error: Option<String>,
    latencies: Latencies,
}

impl SenderOutcome {
    fn add(&mut self, result: Result<Duration, String>) {
        match result {
            Ok(latency) => {
                self.sent += 1;
                self.latencies.record(latency);
            }
            Err(error) => {
                self.errors += 1;
                self.first_error.get_or_insert(error);
            }
        }
    }
}

/// Runs the scenario against `target`.
pub async fn run(target: &Target, args: &FanoutArgs) -> anyhow::Result<FanoutReport> {
    if args.receivers == 0
        || !harness::is_positive(args.rate)
        || !harness::is_positive(args.duration)
    {
        bail!("--receivers, --rate and --duration must be positive");
    }
    let sender = target.user("sender")?;
    let receivers = target.users("receiver", args.receivers)?;
    let member_ids: Vec<_> = receivers.iter().map(|user| user.id.clone()).collect();
    let conversation_id = harness::create_group(&sender, "fanout", &member_ids).await?;
    let connections: Vec<Connection> = futures_util::stream::iter(receivers)
        .map(|user| async move {
            user.client
                .connect_realtime()
                .await
                .with_context(|| format!("connecting {} to the gateway", user.id))
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .try_collect()
        .await?;

    // The count of deliveries so far: the closed loop waits on it for each message, the
    // open loop for the last ones.
    let delivered = Arc::new(Progress::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let other_frames = Arc::new(AtomicU64::new(0));
    let mut receiver_tasks = JoinSet::new();
    for connection in connections {
        receiver_tasks.spawn(receive(
            connection,
            conversation_id,
            Arc::clone(&delivered),
            Arc::clone(&other_frames),
            stop_rx.clone(),
        ));
    }

    let settle_s = settle(&other_frames, args.settle).await.as_secs_f64();
    let cpu = target.cpu_meter();
    let started = Instant::now();
    let sender_outcome = if args.closed_loop {
        send_closed_loop(&sender.client, conversation_id, args, &delivered).await
    } else {
        send_open_loop(&sender.client, conversation_id, args).await
    };
    let sending_time = started.elapsed();
    let expected = sender_outcome.sent * args.receivers as u64;
    let drain = Duration::from_secs_f64(args.drain.max(0.0));
    // A timeout here is a result (deliveries missed), not an error.
    let _ = tokio::time::timeout(drain, delivered.wait_for(expected)).await;
    let cpu = cpu.finish();
    let _ = stop_tx.send(true);

    let mut outcomes = Vec::with_capacity(args.receivers);
    while let Some(joined) = receiver_tasks.join_next().await {
        outcomes.push(joined.context("a receiver task panicked")?);
    }
    Ok(report(
        args,
        sender_outcome,
        outcomes,
        started,
        sending_time,
        cpu,
        settle_s,
    ))
}

/// Waits `least` seconds, then until the receivers got no other frame for [`QUIET`] (at
/// most [`SETTLE_LIMIT`] in all); returns the time waited.
async fn settle(other_frames: &AtomicU64, least: f64) -> Duration {
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(least.max(0.0))).await;
    let mut seen = other_frames.load(Ordering::Relaxed);
    while started.elapsed() < SETTLE_LIMIT {
        tokio::time::sleep(QUIET).await;
        let now = other_frames.load(Ordering::Relaxed);
        if now == seen {
            break;
        }
        seen = now;
    }
    started.elapsed()
}

fn report(
    args: &FanoutArgs,
    sender: SenderOutcome,
    outcomes: Vec<ReceiverOutcome>,
    started: Instant,
    sending_time: Duration,
    cpu: CpuUsage,
    settle_s: f64,
) -> FanoutReport {
    let mut latency = Latencies::default();
    let (mut delivered, mut duplicates) = (0, 0);
    let mut other_frames = BTreeMap::new();
    let mut connections_lost = 0;
    let mut first_connection_error = None;
    let mut last_delivery = started;
    for outcome in outcomes {
        delivered += outcome.delivered;
        duplicates += outcome.duplicates;
        for (kind, count) in outcome.other_frames {
            *other_frames.entry(kind).or_insert(0) += count;
        }
        latency.merge(outcome.latencies);
        if let Some(at) = outcome.last_delivery {
            last_delivery = last_delivery.max(at);
        }
        if let Some(error) = outcome.error {
            connections_lost += 1;
            first_connection_error.get_or_insert(error);
        }
    }
    let expected = sender.sent * args.receivers as u64;
    FanoutReport {
        scenario: "fanout",
        mode: if args.closed_loop {
            "closed_loop"
        } else {
            "open_loop"
        },
        receivers: args.receivers,
        rate: (!args.closed_loop).then_some(args.rate),
        duration_s: args.duration,
        sent: sender.sent,
        send_errors: sender.errors,
        messages_per_s: harness::per_second(sender.sent, sending_time),
        delivered,
        deliveries_per_s: harness::per_second(delivered, last_delivery - started),
        missed: expected.saturating_sub(delivered),
        duplicates,
        other_frames,
        settle_s,
        connections_lost,
        first_connection_error,
        first_send_error: sender.first_error,
        latency: latency.summary(),
        send_latency: sender.latencies.summary(),
        cpu,
        ratio_to_baseline: None,
    }
}

/// Posts `rate × duration` messages on a fixed schedule, each in its own task.
async fn send_open_loop(
    client: &natter_client::Client,
    conversation_id: ConversationId,
    args: &FanoutArgs,
) -> SenderOutcome {
    let total = (args.rate * args.duration).round() as u64;
    let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate));
    let mut posts = JoinSet::new();
    for index in 0..total {
        interval.tick().await;
        let client = client.clone();
        posts.spawn(async move { post(&client, conversation_id, index).await });
    }
    let mut outcome = SenderOutcome::default();
    while let Some(joined) = posts.join_next().await {
        outcome.add(joined.unwrap_or_else(|err| Err(format!("send task failed: {err}"))));
    }
    outcome
}

/// Posts one message at a time, each once every receiver has the one before.
async fn send_closed_loop(
    client: &natter_client::Client,
    conversation_id: ConversationId,
    args: &FanoutArgs,
    delivered: &Progress,
) -> SenderOutcome {
    let deadline = Instant::now() + Duration::from_secs_f64(args.duration);
    let drain = Duration::from_secs_f64(args.drain.max(0.0));
    let mut outcome = SenderOutcome::default();
    let mut index = 0;
    while Instant::now() < deadline {
        outcome.add(post(client, conversation_id, index).await);
        index += 1;
        let expected = outcome.sent * args.receivers as u64;
        let all_arrived = tokio::time::timeout(drain, delivered.wait_for(expected)).await;
        if all_arrived.is_err() {
            // Some receiver lost a message: waiting longer would only stall the run.
            break;
        }
    }
    outcome
}

/// Posts message `index` with its send time in the content; the round trip on success.
async fn post(
    client: &natter_client::Client,
    conversation_id: ConversationId,
    index: u64,
) -> Result<Duration, String> {
    let content = format!("t={} n={index}", harness::unix_nanos());
    let started = Instant::now();
    match client.send_text(conversation_id, &content).await {
        Ok(_) => Ok(started.elapsed()),
        Err(err) => Err(err.to_string()),
    }
}

/// The count of frames delivered, and a wake-up for the one task that waits for a count.
/// Every receiver counts every frame: a `watch` channel here (a lock and a notification of
/// its waiters per frame) took a tenth of the generator's time at 500,000 frames/s, on the
/// cores the server needs (BENCHMARKS.md, method).
#[derive(Debug)]
struct Progress {
    count: AtomicU64,
    /// The count the waiter waits for; `u64::MAX` while nobody waits.
    wanted: AtomicU64,
    reached: Notify,
}

impl Default for Progress {
    fn default() -> Self {
        Self {
            count: AtomicU64::new(0),
            wanted: AtomicU64::new(u64::MAX),
            reached: Notify::new(),
        }
    }
}

impl Progress {
    fn add_one(&self) {
        let count = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        if count >= self.wanted.load(Ordering::SeqCst) {
            // Stores a permit if the waiter is between its check and its wait.
            self.reached.notify_one();
        }
    }

    /// Returns once `expected` frames were counted. One waiter at a time.
    async fn wait_for(&self, expected: u64) {
        // The waiter publishes what it wants before it reads the count, and each receiver
        // counts before it reads what is wanted: one of the two sees the other.
        self.wanted.store(expected, Ordering::SeqCst);
        while self.count.load(Ordering::SeqCst) < expected {
            self.reached.notified().await;
        }
        self.wanted.store(u64::MAX, Ordering::SeqCst);
    }
}

/// The event seqs one connection has received, as bits from the first one (a hash set's
/// insert per frame was another tenth of the generator's time). Seqs below the first, which
/// only a frame out of order would bring, go to a set.
#[derive(Debug, Default)]
struct SeenSeqs {
    first: Option<u64>,
    bits: Vec<u64>,
    before_first: HashSet<u64>,
}

impl SeenSeqs {
    /// Adds `seq`; `false` if it was there already.
    fn insert(&mut self, seq: EventSeq) -> bool {
        let first = *self.first.get_or_insert(seq.0);
        let Some(offset) = seq.0.checked_sub(first) else {
            return self.before_first.insert(seq.0);
        };
        let (word, mask) = ((offset / 64) as usize, 1u64 << (offset % 64));
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        let new = self.bits[word] & mask == 0;
        self.bits[word] |= mask;
        new
    }
}

/// What a receiver reads of a frame (a projection of `ServerFrame`), borrowing from the
/// frame: decoding each frame's `data` as a `serde_json::Value` (a map of every field) and
/// its `ts` was most of the generator's JSON work (BENCHMARKS.md, method).
#[derive(Debug, serde::Deserialize)]
struct ReceivedFrame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    conversation_id: Option<ConversationId>,
    #[serde(default)]
    seq: Option<EventSeq>,
    #[serde(default, borrow)]
    data: Option<ReceivedData<'a>>,
}

/// The part of a `message.created` frame's `data` that carries the send time.
#[derive(Debug, serde::Deserialize)]
struct ReceivedData<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
}

/// A frame as a receiver counts it.
enum Received {
    /// A `message.created` of the run's conversation.
    Message {
        seq: Option<EventSeq>,
        sent_at: Option<u64>,
    },
    /// Any other frame, by type.
    Other(String),
}

impl Received {
    fn of(text: &str, conversation_id: ConversationId) -> Result<Self, serde_json::Error> {
        let frame: ReceivedFrame<'_> = serde_json::from_str(text)?;
        Ok(
            if frame.kind == event_type::MESSAGE_CREATED
                && frame.conversation_id == Some(conversation_id)
            {
                Received::Message {
                    seq: frame.seq,
                    sent_at: sent_at(&frame),
                }
            } else {
                Received::Other(frame.kind.into_owned())
            },
        )
    }
}

/// Reads frames until told to stop or the connection ends.
async fn receive(
    mut connection: Connection,
    conversation_id: ConversationId,
    delivered: Arc<Progress>,
    other_frames: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) -> ReceiverOutcome {
    let mut outcome = ReceiverOutcome::default();
    let mut seen = SeenSeqs::default();
    let stopped = stop.wait_for(|stop| *stop);
    tokio::pin!(stopped);
    loop {
        // `next_text_with` is cancel-safe: a frame is either read or left in the stream.
        let frame = tokio::select! {
            _ = &mut stopped => break,
            frame = connection.next_text_with(|text| Received::of(text, conversation_id)) => frame,
        };
        let frame = match frame {
            Ok(Ok(frame)) => frame,
            Ok(Err(err)) => {
                outcome.error = Some(format!("an unreadable frame: {err}"));
                return outcome;
            }
            Err(err) => {
                outcome.error = Some(err.to_string());
                return outcome;
            }
        };
        let received_at = harness::unix_nanos();
        let (seq, sent_at) = match frame {
            Received::Message { seq, sent_at } => (seq, sent_at),
            Received::Other(kind) => {
                *outcome.other_frames.entry(kind).or_insert(0) += 1;
                other_frames.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        if let Some(seq) = seq {
            if !seen.insert(seq) {
                outcome.duplicates += 1;
                continue;
            }
        }
        if let Some(sent_at) = sent_at {
            outcome
                .latencies
                .record_micros(received_at.saturating_sub(sent_at) / 1000);
        }
        outcome.delivered += 1;
        outcome.last_delivery = Some(Instant::now());
        delivered.add_one();
    }
    connection.close().await;
    outcome
}

/// The send time (unix nanos) that [`post`] put at the start of the content.
fn sent_at(frame: &ReceivedFrame<'_>) -> Option<u64> {
    let content = frame.data.as_ref()?.content.as_deref()?;
    let stamp = content.strip_prefix("t=")?;
    stamp.split(' ').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_time_is_read_back_from_the_content() {
        let frame: ReceivedFrame<'_> = serde_json::from_str(
            r#"{"type":"message.created","conversation_id":null,"seq":7,
                "data":{"content":"t=1700000000123456789 n=4","kind":"text"},
                "ts":"2026-12-06T10:00:00Z"}"#,
        )
        .expect("a message.created frame");
        assert_eq!(frame.seq, Some(EventSeq(7)));
        assert_eq!(sent_at(&frame), Some(1_700_000_000_123_456_789));
        let other: ReceivedFrame<'_> =
            serde_json::from_str(r#"{"type":"presence.updated","data":{"content":"hello"}}"#)
                .expect("a presence frame");
        assert_eq!(sent_at(&other), None);
        let bare: ReceivedFrame<'_> =
            serde_json::from_str(r#"{"type":"pong","data":null}"#).expect("a pong frame");
        assert_eq!(sent_at(&bare), None);
    }

    #[test]
    fn escaped_content_still_gives_its_send_time() {
        // An escape makes serde copy the string instead of borrowing it.
        let frame: ReceivedFrame<'_> = serde_json::from_str(
            r#"{"type":"message.created","seq":1,"data":{"content":"t=42 n=\u00e9"}}"#,
        )
        .expect("a message.created frame");
        assert!(matches!(
            frame.data.as_ref().and_then(|d| d.content.as_ref()),
            Some(Cow::Owned(_))
        ));
        assert_eq!(sent_at(&frame), Some(42));
    }

    #[test]
    fn frames_are_told_apart_by_type_and_conversation() {
        let ours = ConversationId::new();
        let text = |conversation: ConversationId, kind: &str| {
            format!(
                r#"{{"type":"{kind}","conversation_id":"{conversation}","seq":3,"data":{{"content":"t=5 n=0"}}}}"#
            )
        };
        let received = |text: &str| Received::of(text, ours).expect("a frame");
        assert!(matches!(
            received(&text(ours, "message.created")),
            Received::Message {
                seq: Some(EventSeq(3)),
                sent_at: Some(5)
            }
        ));
        let elsewhere = ConversationId::new();
        assert!(
            matches!(received(&text(elsewhere, "message.created")), Received::Other(kind) if kind == "message.created")
        );
        assert!(
            matches!(received(&text(ours, "message.updated")), Received::Other(kind) if kind == "message.updated")
        );
        assert!(Received::of("not json", ours).is_err());
    }

    #[test]
    fn seen_seqs_report_repeats_in_any_order() {
        let mut seen = SeenSeqs::default();
        for seq in [10, 11, 75, 12, 200] {
            assert!(seen.insert(EventSeq(seq)), "{seq} is new");
        }
        for seq in [10, 11, 75, 12, 200] {
            assert!(!seen.insert(EventSeq(seq)), "{seq} was seen");
        }
        assert!(seen.insert(EventSeq(9)), "below the first is new");
        assert!(!seen.insert(EventSeq(9)), "and then seen");
        assert!(seen.insert(EventSeq(13)));
        assert!(seen.insert(EventSeq(74)));
    }

    #[tokio::test]
    async fn progress_wakes_its_waiter_at_the_count() {
        let progress = Arc::new(Progress::default());
        // Counted before anyone waits: the wait returns at once.
        progress.add_one();
        tokio::time::timeout(Duration::from_secs(5), progress.wait_for(1))
            .await
            .expect("already there");
        let counting = {
            let progress = Arc::clone(&progress);
            tokio::spawn(async move {
                for _ in 0..999 {
                    progress.add_one();
                    tokio::task::yield_now().await;
                }
            })
        };
        tokio::time::timeout(Duration::from_secs(5), progress.wait_for(1000))
            .await
            .expect("woken at 1,000");
        assert_eq!(progress.count.load(Ordering::SeqCst), 1000);
        counting.await.expect("the counter");
        // Not there yet: the wait does not return.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), progress.wait_for(1001))
                .await
                .is_err()
        );
    }
}
