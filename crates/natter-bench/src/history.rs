//! `history`: fills one group with M messages, then several readers page back through it
//! (`GET …/messages?limit=50&before=<next>`) for T seconds, starting over at the newest
//! page when they reach the first message.
//!
//! Reader `r` starts `r/readers` of the way back, so the readers do not move in lockstep
//! over the same pages. Every page is checked: its seqs must be consecutive and continue
//! where the previous page stopped; a page that does not counts as `inconsistent_pages`.
//! The fill is timed as well, but with 16 closed-loop senders it is the `send` scenario
//! again; `send.rs` is the place to measure writes.
//!
//! With `--thread-every K`, the conversation's first message is a thread root and every
//! K-th message of the fill a reply in its thread; the readers then page back through
//! the thread (`GET /v1/messages/{root}/thread?limit=50&before=<next>`), checking each
//! page against the replies' seqs: what a thread page costs in a conversation of M
//! messages (it should not grow with M).
//!
//! With `--reactions-every K`, every K-th message of the fill then gets one reaction from
//! each of `--reactors R` members (reactor `i` with the `i % 3`-th of three emojis), and
//! every page is also checked for those counts: what a page's reaction summaries cost,
//! with a few reactions per message or with thousands on one.
//!
//! With `--background-messages N`, the store first gets the `search` scenario's corpus of
//! N messages spread over N/100 conversations (`search::load_background`), so that the
//! fill's posts and the pages are measured in a store of that size, not an empty one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use natter_client::{Client, MessageFilter, SortOrder};
use natter_proto::{ConversationId, MessageId, MessageSeq, Page, SendMessage};
use serde::Serialize;
use tokio::task::JoinSet;

use crate::baseline::{Compared, Ratio};
use crate::harness::{self, BenchUser, CpuUsage, Latencies, LatencySummary, Target};

/// Concurrent posters used to fill the conversation.
const FILL_SENDERS: usize = 16;

/// Flags of `natter-bench history`.
#[derive(Debug, Clone, clap::Args)]
pub struct HistoryArgs {
    /// Messages in the conversation.
    #[arg(long, default_value_t = 20_000)]
    messages: u64,
    /// Concurrent readers, each a participant paging with one request in flight.
    #[arg(long, default_value_t = 4)]
    readers: usize,
    /// Messages per page (1–100).
    #[arg(long, default_value_t = 50)]
    page_size: u32,
    /// Members of the conversation besides the fillers and readers, who never read: a
    /// bigger group, whose read markers every page carries (delivery states).
    #[arg(long, default_value_t = 0)]
    members: usize,
    /// Every K-th message of the fill is a reply in one thread (rooted at the
    /// conversation's first message), and the readers page through that thread instead
    /// of the timeline. 0: no thread.
    #[arg(long, default_value_t = 0)]
    thread_every: u64,
    /// Every K-th message of the fill gets one reaction from each of `--reactors`
    /// members. 0: no reactions.
    #[arg(long, default_value_t = 0)]
    reactions_every: u64,
    /// Members who react to each message of `--reactions-every`, besides `--members`.
    #[arg(long, default_value_t = 3)]
    reactors: usize,
    /// Seconds of reading.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Messages of other conversations loaded first (the `search` corpus: one
    /// conversation per 100 messages, 2–6 members each, chat-sized texts).
    #[arg(long, default_value_t = 0)]
    background_messages: u64,
    /// Keep the background corpus when the server already holds it (with `--data-dir`
    /// or a kept PostgreSQL database), as `search --reuse` does.
    #[arg(long)]
    reuse: bool,
}

/// Results of one run, printed as one JSON line.
#[derive(Debug, Serialize)]
pub struct HistoryReport {
    scenario: &'static str,
    messages: u64,
    /// Messages of other conversations in the store (`--background-messages`).
    background_messages: u64,
    /// Seconds the background load took (`None`: none, or found loaded).
    background_load_s: Option<f64>,
    readers: usize,
    /// Members besides the fillers and readers (`--members`).
    members: usize,
    /// `--thread-every`: 0 when the readers page the timeline.
    thread_every: u64,
    /// Replies in the thread the readers page (0 without `--thread-every`).
    thread_replies: u64,
    /// `--reactions-every`: 0 without reactions.
    reactions_every: u64,
    /// Reactions added after the fill (messages reacted to × `--reactors`).
    reactions: u64,
    /// Seconds adding them took (16 concurrent requests).
    react_s: f64,
    page_size: u32,
    duration_s: f64,
    /// Seconds the fill took.
    fill_s: f64,
    /// Messages per second of the fill.
    fill_messages_per_s: f64,
    /// Post round trip of the last 10 % of the fill: sending into a conversation that
    /// already holds about `messages` messages.
    fill_tail_latency: LatencySummary,
    /// Pages read.
    pages: u64,
    pages_per_s: f64,
    /// Messages returned per second.
    messages_per_s: f64,
    /// Requests that failed.
    errors: u64,
    first_error: Option<String>,
    /// Pages whose seqs were not the consecutive run expected.
    inconsistent_pages: u64,
    first_inconsistency: Option<String>,
    /// Round trip per page.
    latency: LatencySummary,
    cpu: CpuUsage,
    /// `pages_per_s` against the baseline server's (with `--baseline`).
    ratio_to_baseline: Option<Ratio>,
}

impl HistoryReport {
    /// A few lines for a human, for stderr.
    pub fn human(&self) -> String {
        let mut summary = format!(
            "history {} messages (filled in {} s, {} msg/s), {} readers: {} pages ({} pages/s, \
             {} msg/s), {} errors, {} inconsistent pages\n  page latency: {}\n  \
             post latency, last 10 % of the fill: {}\n  {}",
            self.messages,
            self.fill_s,
            self.fill_messages_per_s,
            self.readers,
            self.pages,
            self.pages_per_s,
            self.messages_per_s,
            self.errors,
            self.inconsistent_pages,
            self.latency,
            self.fill_tail_latency,
            self.cpu
        );
        if self.thread_every > 0 {
            summary.push_str(&format!(
                "\n  pages of a thread of {} replies (one message in {})",
                self.thread_replies, self.thread_every
            ));
        }
        if self.reactions > 0 {
            summary.push_str(&format!(
                "\n  {} reactions, on every {}-th message (added in {} s)",
                self.reactions, self.reactions_every, self.react_s
            ));
        }
        if self.background_messages > 0 {
            summary.push_str(&format!(
                "\n  beside {} messages of other conversations (loaded in {})",
                self.background_messages,
                self.background_load_s
                    .map_or("an earlier run".to_owned(), |took| format!("{took} s"))
            ));
        }
        for error in [&self.first_error, &self.first_inconsistency]
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

impl HistoryArgs {
    /// The flags that need a Natter server (the baseline server keeps bare seqs: no
    /// other conversations, no threads), by name, if any is set.
    pub fn natter_only_flag(&self) -> Option<&'static str> {
        if self.background_messages > 0 {
            Some("--background-messages")
        } else if self.thread_every > 0 {
            Some("--thread-every")
        } else if self.reactions_every > 0 {
            Some("--reactions-every")
        } else {
            None
        }
    }
}

impl Compared for HistoryReport {
    fn human(&self) -> String {
        HistoryReport::human(self)
    }

    fn figure(&self) -> f64 {
        self.pages_per_s
    }

    fn set_ratio(&mut self, ratio: Ratio) {
        self.ratio_to_baseline = Some(ratio);
    }
}

/// What one reader did.
#[derive(Debug, Default)]
struct ReaderOutcome {
    latencies: Latencies,
    messages: u64,
    errors: u64,
    first_error: Option<String>,
    inconsistent_pages: u64,
    first_inconsistency: Option<String>,
}

/// Runs the scenario against `target`.
pub async fn run(target: &Target, args: &HistoryArgs) -> anyhow::Result<HistoryReport> {
    if args.messages == 0 || args.readers == 0 || !harness::is_positive(args.duration) {
        bail!("--messages, --readers and --duration must be positive");
    }
    let background_load = if args.background_messages > 0 {
        crate::search::load_background(target, args.background_messages, args.reuse).await?
    } else {
        None
    };
    let fillers = target.users("filler", FILL_SENDERS)?;
    let readers = target.users("reader", args.readers)?;
    let (owner, other_fillers) = fillers.split_first().context("at least one filler")?;
    let idle_members = target.users("member", args.members)?;
    let reactors = match args.reactions_every {
        0 => Vec::new(),
        _ => target.users("reactor", args.reactors)?,
    };
    let member_ids: Vec<_> = other_fillers
        .iter()
        .chain(&readers)
        .chain(&idle_members)
        .chain(&reactors)
        .map(|user| user.id.clone())
        .collect();
    let conversation_id = harness::create_group(owner, "history", &member_ids).await?;
    let thread = match args.thread_every {
        0 => None,
        every => {
            let root = owner
                .client
                .send_text(conversation_id, "history thread root")
                .await
                .context("posting the thread root")?;
            Some(Thread {
                root: root.id,
                every,
            })
        }
    };
    let filled = fill(
        &fillers,
        conversation_id,
        args.messages,
        thread,
        args.reactions_every,
    )
    .await?;
    let reacted = Reacted {
        seqs: filled.reacted.iter().map(|(seq, _)| *seq).collect(),
        count: reactors.len() as u64,
    };
    let react_took = react(&reactors, &filled.reacted).await?;
    // What the readers page: the timeline's seqs, or the thread's.
    let (source, seqs) = match thread {
        None => (
            Source::Timeline(conversation_id),
            Seqs::Through(args.messages),
        ),
        Some(thread) => (
            Source::Thread(thread.root),
            Seqs::Listed(filled.thread_seqs.into()),
        ),
    };
    if seqs.len() == 0 {
        bail!("the thread has no replies: --thread-every is larger than --messages");
    }
    // Pages are measured once the server is done with the fill (its search indexer too).
    harness::search_index_caught_up(target).await;

    let cpu = target.cpu_meter();
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.duration);
    let mut tasks = JoinSet::new();
    for (index, reader) in readers.into_iter().enumerate() {
        let skip = seqs.len() * index / args.readers;
        let start = (skip > 0).then(|| MessageSeq(seqs.nth(seqs.len() - skip)));
        let pager = Pager {
            client: reader.client,
            source,
            page_size: args.page_size,
            seqs: seqs.clone(),
            reacted: reacted.clone(),
        };
        tasks.spawn(pager.read_until(start, deadline));
    }
    let mut total = ReaderOutcome::default();
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined.context("a reader task panicked")?;
        total.latencies.merge(outcome.latencies);
        total.messages += outcome.messages;
        total.errors += outcome.errors;
        total.inconsistent_pages += outcome.inconsistent_pages;
        if let Some(error) = outcome.first_error {
            total.first_error.get_or_insert(error);
        }
        if let Some(inconsistency) = outcome.first_inconsistency {
            total.first_inconsistency.get_or_insert(inconsistency);
        }
    }
    let elapsed = started.elapsed();
    let cpu = cpu.finish();
    let pages = total.latencies.len() as u64;
    Ok(HistoryReport {
        scenario: "history",
        messages: args.messages,
        background_messages: args.background_messages,
        background_load_s: background_load.map(|took| (took.as_secs_f64() * 10.0).round() / 10.0),
        readers: args.readers,
        members: args.members,
        thread_every: args.thread_every,
        thread_replies: thread.map_or(0, |_| seqs.len() as u64),
        reactions_every: args.reactions_every,
        reactions: reacted.seqs.len() as u64 * reacted.count,
        react_s: (react_took.as_secs_f64() * 100.0).round() / 100.0,
        page_size: args.page_size,
        duration_s: args.duration,
        fill_s: (filled.took.as_secs_f64() * 100.0).round() / 100.0,
        fill_messages_per_s: harness::per_second(args.messages, filled.took),
        fill_tail_latency: filled.tail.summary(),
        pages,
        pages_per_s: harness::per_second(pages, elapsed),
        messages_per_s: harness::per_second(total.messages, elapsed),
        errors: total.errors,
        first_error: total.first_error,
        inconsistent_pages: total.inconsistent_pages,
        first_inconsistency: total.first_inconsistency,
        latency: total.latencies.summary(),
        cpu,
        ratio_to_baseline: None,
    })
}

/// The thread of `--thread-every`.
#[derive(Debug, Clone, Copy)]
struct Thread {
    root: MessageId,
    /// Every `every`-th message of the fill replies in it.
    every: u64,
}

/// What [`fill`] did.
struct Filled {
    took: Duration,
    /// Round trips of the last 10 % of the posts.
    tail: Latencies,
    /// The seqs of the thread's replies, oldest first.
    thread_seqs: Vec<u64>,
    /// The messages to react to (`reactions_every`), by seq.
    reacted: Vec<(u64, MessageId)>,
}

/// Posts `count` messages into one conversation, every user in `senders` posting
/// concurrently with one request in flight, every `thread.every`-th as a reply in the
/// thread; every `reactions_every`-th is noted for [`react`]. Any failed post fails the
/// fill.
async fn fill(
    senders: &[BenchUser],
    conversation_id: ConversationId,
    count: u64,
    thread: Option<Thread>,
    reactions_every: u64,
) -> anyhow::Result<Filled> {
    let tail_from = count - count / 10;
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for sender in senders {
        let (client, next) = (sender.client.clone(), Arc::clone(&next));
        tasks.spawn(async move {
            let mut tail = Latencies::default();
            let mut thread_seqs = Vec::new();
            let mut reacted = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= count {
                    return anyhow::Ok((tail, thread_seqs, reacted));
                }
                // About 100 characters, a typical chat line.
                let content = format!(
                    "history message {index:06}: the quick brown fox jumps over the lazy dog, \
                     twice, and then rests"
                );
                let thread_root_id = thread
                    .filter(|thread| index % thread.every == thread.every - 1)
                    .map(|thread| thread.root);
                let body = SendMessage {
                    content: Some(content),
                    thread_root_id,
                    ..SendMessage::default()
                };
                let posted = Instant::now();
                let sent = client
                    .send_message(conversation_id, &body)
                    .await
                    .with_context(|| format!("posting message {index} of the fill"))?;
                if thread_root_id.is_some() {
                    thread_seqs.push(sent.value.seq.0);
                }
                if reactions_every > 0 && index % reactions_every == reactions_every - 1 {
                    reacted.push((sent.value.seq.0, sent.value.id));
                }
                if index >= tail_from {
                    tail.record(posted.elapsed());
                }
            }
        });
    }
    let mut tail = Latencies::default();
    let mut thread_seqs = Vec::new();
    let mut reacted = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (sender_tail, sender_seqs, sender_reacted) =
            joined.context("a fill task panicked")??;
        tail.merge(sender_tail);
        thread_seqs.extend(sender_seqs);
        reacted.extend(sender_reacted);
    }
    thread_seqs.sort_unstable();
    reacted.sort_unstable();
    Ok(Filled {
        took: started.elapsed(),
        tail,
        thread_seqs,
        reacted,
    })
}

/// The emojis of `--reactors`: reactor `i` reacts with the `i % 3`-th.
const EMOJIS: [&str; 3] = ["👍", "🎉", "❤️"];

/// Every reactor reacts to every message of `messages`, 16 requests in flight (server-key
/// clients are not rate limited). Any failed reaction fails the run.
async fn react(reactors: &[BenchUser], messages: &[(u64, MessageId)]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let reactors: Arc<[(natter_client::Client, &'static str)]> = reactors
        .iter()
        .enumerate()
        .map(|(index, reactor)| (reactor.client.clone(), EMOJIS[index % EMOJIS.len()]))
        .collect();
    let messages: Arc<[MessageId]> = messages.iter().map(|(_, id)| *id).collect();
    let total = (reactors.len() * messages.len()) as u64;
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..FILL_SENDERS {
        let (reactors, messages, next) = (reactors.clone(), messages.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let job = next.fetch_add(1, Ordering::Relaxed);
                if job >= total {
                    return anyhow::Ok(());
                }
                // Message by message, so that a message's reactions grow together.
                let message_id = messages[(job as usize) / reactors.len()];
                let (client, emoji) = &reactors[(job as usize) % reactors.len()];
                client
                    .add_reaction(message_id, emoji)
                    .await
                    .with_context(|| format!("reacting to {message_id}"))?;
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.context("a reaction task panicked")??;
    }
    Ok(started.elapsed())
}

/// The messages of `--reactions-every` and how many reactions each holds.
#[derive(Debug, Clone)]
struct Reacted {
    /// Their seqs, ascending.
    seqs: Arc<[u64]>,
    /// Reactions on each (one per reactor).
    count: u64,
}

impl Reacted {
    /// The reactions a page must show on the message `seq`.
    fn expected(&self, seq: u64) -> u64 {
        if self.seqs.binary_search(&seq).is_ok() {
            self.count
        } else {
            0
        }
    }
}

/// What a reader checks of a message: its seq. Readers decode only that (serde skips the
/// rest of each message unparsed): decoding whole `Message`s took about 30 % of the
/// generator's CPU, which shares the cores with the server (BENCHMARKS.md, method).
#[derive(serde::Deserialize)]
struct PagedMessage {
    seq: MessageSeq,
    /// Only their counts are checked (`--reactions-every`).
    #[serde(default)]
    reactions: Vec<PagedReaction>,
}

/// What a reader checks of a reaction summary.
#[derive(serde::Deserialize)]
struct PagedReaction {
    count: u64,
}

/// What the readers page through.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// `GET /v1/conversations/{id}/messages`.
    Timeline(ConversationId),
    /// `GET /v1/messages/{root}/thread`.
    Thread(MessageId),
}

/// The seqs the readers' pages hold, oldest first (the conversation does not change while
/// reading).
#[derive(Debug, Clone)]
enum Seqs {
    /// `1..=n`: the timeline (kept as a bound: 10M messages are no 80 MB list).
    Through(u64),
    /// The thread's replies.
    Listed(Arc<[u64]>),
}

impl Seqs {
    fn len(&self) -> usize {
        match self {
            Seqs::Through(newest) => *newest as usize,
            Seqs::Listed(seqs) => seqs.len(),
        }
    }

    /// The `index`-th seq, oldest first.
    fn nth(&self, index: usize) -> u64 {
        match self {
            Seqs::Through(_) => index as u64 + 1,
            Seqs::Listed(seqs) => seqs[index],
        }
    }

    /// How many seqs lie below `cursor` (all of them when `None`).
    fn count_below(&self, cursor: Option<MessageSeq>) -> usize {
        match (self, cursor) {
            (_, None) => self.len(),
            (Seqs::Through(newest), Some(cursor)) => {
                cursor.0.saturating_sub(1).min(*newest) as usize
            }
            (Seqs::Listed(seqs), Some(cursor)) => seqs.partition_point(|&seq| seq < cursor.0),
        }
    }
}

/// One reader's view of the conversation.
struct Pager {
    client: Client,
    source: Source,
    page_size: u32,
    seqs: Seqs,
    reacted: Reacted,
}

impl Pager {
    /// Pages back from `start` (exclusive; the newest message when `None`) until
    /// `deadline`, starting over at the newest page after the oldest one.
    async fn read_until(self, start: Option<MessageSeq>, deadline: Instant) -> ReaderOutcome {
        let mut outcome = ReaderOutcome::default();
        let mut before = start;
        while Instant::now() < deadline {
            let mut filter = MessageFilter::default().limit(self.page_size);
            if let Some(seq) = before {
                filter = filter.before_seq(seq);
            }
            let started = Instant::now();
            let page = match self.source {
                Source::Timeline(conversation_id) => {
                    self.client
                        .list_messages_as::<PagedMessage>(conversation_id, &filter)
                        .await
                }
                // A thread's first page is oldest first unless asked otherwise.
                Source::Thread(root) => {
                    let filter = filter.order(SortOrder::Desc);
                    self.client.thread_as::<PagedMessage>(root, &filter).await
                }
            };
            let page = match page {
                Ok(page) => page,
                Err(err) => {
                    outcome.errors += 1;
                    outcome.first_error.get_or_insert_with(|| err.to_string());
                    continue;
                }
            };
            outcome.latencies.record(started.elapsed());
            outcome.messages += page.items.len() as u64;
            if let Err(problem) = self.check(&page, before) {
                outcome.inconsistent_pages += 1;
                outcome.first_inconsistency.get_or_insert(problem);
            }
            before = match page.next.as_deref().map(str::parse::<u64>) {
                Some(Ok(seq)) => Some(MessageSeq(seq)),
                Some(Err(_)) => {
                    outcome.inconsistent_pages += 1;
                    outcome
                        .first_inconsistency
                        .get_or_insert_with(|| format!("next cursor {:?} is no seq", page.next));
                    None
                }
                None => None,
            };
        }
        outcome
    }

    /// A newest-first page before `before` (from the newest when `None`) must hold the
    /// seqs of [`Pager::seqs`] below it, newest first, without gaps, as many as the page
    /// size allows, and `next` must be its last seq when older ones remain.
    fn check(&self, page: &Page<PagedMessage>, before: Option<MessageSeq>) -> Result<(), String> {
        let below = self.seqs.count_below(before);
        let take = below.min(self.page_size as usize);
        // Newest first: the seqs at indexes below - 1 down to below - take.
        let expected: Vec<u64> = (below - take..below)
            .rev()
            .map(|index| self.seqs.nth(index))
            .collect();
        let seqs: Vec<u64> = page.items.iter().map(|message| message.seq.0).collect();
        if seqs != expected {
            return Err(format!(
                "page before {before:?}: expected {} seqs from {:?} down, got {:?}…",
                expected.len(),
                expected.first(),
                &seqs[..seqs.len().min(5)]
            ));
        }
        for message in &page.items {
            let shown: u64 = message.reactions.iter().map(|r| r.count).sum();
            let expected = self.reacted.expected(message.seq.0);
            if shown != expected {
                return Err(format!(
                    "message {}: {shown} reactions, expected {expected}",
                    message.seq.0
                ));
            }
        }
        let expected_next = (below > take)
            .then(|| expected.last().map(u64::to_string))
            .flatten();
        if page.next != expected_next {
            return Err(format!(
                "page before {before:?}: next {:?}, expected {expected_next:?}",
                page.next
            ));
        }
        Ok(())
    }
}
