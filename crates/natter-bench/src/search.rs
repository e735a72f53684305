//! `search`: loads a generated corpus (N messages in C conversations, `search/corpus.rs`)
//! through the API, then asks `GET /v1/search/messages` the same four queries over and
//! over as one user who is a participant of K of the conversations, and reports the
//! latency percentiles per query.
//!
//! The load is the ordinary send path (`POST …/messages`), with the conversations created
//! by `PUT /v1/conversations/by-context/…` and every message carrying a
//! `client_message_id`: loading twice creates nothing twice, so an interrupted load can be
//! run again, and a retried request is harmless. When the load is complete, a marker
//! conversation (the "manifest", whose only member is a user of its own) is created; with
//! `--reuse`, a run that finds the manifest of the same corpus skips the load. The data
//! must then outlive the server: `--data-dir` for SQLite, the database of `--database-url`
//! for PostgreSQL.
//!
//! Queries are sequential (one in flight): this measures latency, not throughput. Every
//! answer's `total` is compared with the number of matches the generator expects in the
//! user's conversations; a difference counts as `wrong_totals` (it is a bug, in the
//! server or the generator). The first `--warmup` rounds are not recorded.

mod corpus;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use natter_client::{Client, ConversationFilter, SearchFilter};
use natter_proto::{ContextConversation, ConversationId, ConversationType, SendMessage, UserId};
use serde::Serialize;
use tokio::task::JoinSet;

use crate::harness::{self, CpuUsage, Latencies, LatencySummary, Target};
use corpus::{Corpus, Query};

/// Context kind of the benchmark's conversations.
const CONTEXT_KIND: &str = "natter-bench-search";
/// Attempts per request of the load before the run fails.
const LOAD_ATTEMPTS: u32 = 3;
/// How often the load reports its progress on stderr.
const PROGRESS_EVERY: Duration = Duration::from_secs(15);

/// Flags of `natter-bench search`.
#[derive(Debug, Clone, clap::Args)]
pub struct SearchArgs {
    /// Messages in the corpus.
    #[arg(long, default_value_t = 1_000_000)]
    messages: u64,
    /// Conversations the messages are spread over.
    #[arg(long, default_value_t = 10_000)]
    conversations: u64,
    /// Conversations the searching user is a participant of.
    #[arg(long, default_value_t = 50)]
    user_conversations: u64,
    /// Measured rounds; each round asks every query once.
    #[arg(long, default_value_t = 200)]
    rounds: usize,
    /// Rounds asked before the measured ones, not recorded.
    #[arg(long, default_value_t = 5)]
    warmup: usize,
    /// Results per page (`limit`, 1–50).
    #[arg(long, default_value_t = 20)]
    page_size: u32,
    /// Concurrent requests of the load.
    #[arg(long, default_value_t = 16)]
    load_concurrency: usize,
    /// Seed of the corpus generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Skip the load when the server holds this corpus already (its manifest is there);
    /// the user ids are then the same in every run, not prefixed with the run id.
    #[arg(long)]
    reuse: bool,
}

/// Results of one run, printed as one JSON line.
#[derive(Debug, Serialize)]
pub struct SearchReport {
    scenario: &'static str,
    /// `sqlite`, `postgres`, or `unknown` (`--url`).
    store: &'static str,
    messages: u64,
    conversations: u64,
    user_conversations: u64,
    /// Messages in the searching user's conversations.
    scope_messages: u64,
    seed: u64,
    /// Whether the corpus was found loaded already (`--reuse`).
    reused: bool,
    /// Seconds the load took (0 when reused).
    load_s: f64,
    load_messages_per_s: f64,
    rounds: usize,
    page_size: u32,
    /// One entry per query.
    queries: Vec<QueryReport>,
    /// Requests that failed.
    errors: u64,
    first_error: Option<String>,
    /// CPU while querying.
    cpu: CpuUsage,
}

/// Latency and correctness of one query.
#[derive(Debug, Serialize)]
pub struct QueryReport {
    kind: &'static str,
    q: &'static str,
    /// Matches the generator expects in the user's conversations.
    expected_total: u64,
    /// `total` of the last answer.
    total: Option<u64>,
    /// Answers whose `total` was not `expected_total`.
    wrong_totals: u64,
    /// Round trip of `GET /v1/search/messages`.
    latency: LatencySummary,
}

impl SearchReport {
    /// A few lines for a human, for stderr.
    pub fn human(&self) -> String {
        let loaded = if self.reused {
            "reused".to_owned()
        } else {
            format!(
                "loaded in {} s, {} msg/s",
                self.load_s, self.load_messages_per_s
            )
        };
        let mut summary = format!(
            "search on {}: {} messages in {} conversations ({loaded}); user in {} \
             conversations ({} messages); {} rounds, {} errors",
            self.store,
            self.messages,
            self.conversations,
            self.user_conversations,
            self.scope_messages,
            self.rounds,
            self.errors
        );
        for query in &self.queries {
            summary.push_str(&format!(
                "\n  {:<6} {:<16} total {:>5} (expected {}, {} wrong): {}",
                query.kind,
                query.q,
                query
                    .total
                    .map_or_else(|| "-".to_owned(), |t| t.to_string()),
                query.expected_total,
                query.wrong_totals,
                query.latency
            ));
        }
        summary.push_str(&format!("\n  {}", self.cpu));
        if let Some(error) = &self.first_error {
            summary.push_str(&format!("\n  first error: {error}"));
        }
        summary
    }

    /// Fails when a search failed or found another number of messages than expected:
    /// figures of a server that answers wrongly are no figures.
    pub fn check(&self) -> anyhow::Result<()> {
        let wrong: u64 = self.queries.iter().map(|query| query.wrong_totals).sum();
        if self.errors > 0 || wrong > 0 {
            bail!(
                "{} failed searches and {wrong} answers with a wrong total",
                self.errors
            );
        }
        Ok(())
    }
}

/// User ids of one corpus on one server.
struct Names {
    prefix: String,
}

impl Names {
    fn member(&self, index: u64) -> anyhow::Result<UserId> {
        parse_user(&format!("{}-m{index}", self.prefix))
    }

    fn searcher(&self) -> anyhow::Result<UserId> {
        parse_user(&format!("{}-me", self.prefix))
    }

    fn manifest_owner(&self) -> anyhow::Result<UserId> {
        parse_user(&format!("{}-manifest", self.prefix))
    }
}

fn parse_user(raw: &str) -> anyhow::Result<UserId> {
    UserId::parse(raw).with_context(|| format!("building user id {raw:?}"))
}

/// Runs the scenario against `target`.
pub async fn run(target: &Target, args: &SearchArgs) -> anyhow::Result<SearchReport> {
    if args.messages == 0 || args.conversations == 0 || args.rounds == 0 {
        bail!("--messages, --conversations and --rounds must be positive");
    }
    if args.user_conversations == 0 || args.user_conversations > args.conversations {
        bail!("--user-conversations must be between 1 and --conversations");
    }
    if args.load_concurrency == 0 {
        bail!("--load-concurrency must be positive");
    }
    let corpus = Corpus {
        seed: args.seed,
        messages: args.messages,
        conversations: args.conversations,
        user_conversations: args.user_conversations,
    };
    let (names, loaded) = ensure_loaded(target, &corpus, args.reuse, args.load_concurrency).await?;
    let reused = loaded.is_none();
    let load_time = loaded.unwrap_or_default();

    let expected = expected_totals(&corpus);
    let scope_messages = corpus
        .user_conversation_indexes()
        .iter()
        .map(|&c| messages_in(&corpus, c))
        .sum();
    let searcher = target.fixed_user(names.searcher()?.as_str())?;
    let mut outcomes: Vec<QueryOutcome> = Query::ALL.iter().map(|_| Default::default()).collect();
    let mut errors = 0;
    let mut first_error = None;
    let mut cpu = None;
    for round in 0..args.warmup + args.rounds {
        let measured = round >= args.warmup;
        if measured && cpu.is_none() {
            cpu = Some(target.cpu_meter());
        }
        for (index, query) in Query::ALL.iter().enumerate() {
            let filter = SearchFilter::new(query.text()).limit(args.page_size);
            let started = Instant::now();
            match searcher.client.search_messages(&filter).await {
                Ok(results) => {
                    let elapsed = started.elapsed();
                    let outcome = &mut outcomes[index];
                    if measured {
                        outcome.latencies.record(elapsed);
                    }
                    if results.total != expected[index] {
                        outcome.wrong_totals += 1;
                    }
                    outcome.total = Some(results.total);
                }
                Err(err) => {
                    errors += 1;
                    first_error.get_or_insert_with(|| format!("{}: {err}", query.kind()));
                }
            }
        }
    }
    let cpu = cpu.map(|meter| meter.finish()).unwrap_or(CpuUsage {
        server_cores: None,
        bench_cores: None,
        machine: None,
    });
    let queries = Query::ALL
        .iter()
        .zip(outcomes)
        .zip(&expected)
        .map(|((query, outcome), &expected_total)| QueryReport {
            kind: query.kind(),
            q: query.text(),
            expected_total,
            total: outcome.total,
            wrong_totals: outcome.wrong_totals,
            latency: outcome.latencies.summary(),
        })
        .collect();
    Ok(SearchReport {
        scenario: "search",
        store: target.store(),
        messages: corpus.messages,
        conversations: corpus.conversations,
        user_conversations: corpus.user_conversations,
        scope_messages,
        seed: corpus.seed,
        reused,
        load_s: (load_time.as_secs_f64() * 10.0).round() / 10.0,
        load_messages_per_s: if reused {
            0.0
        } else {
            harness::per_second(corpus.messages, load_time)
        },
        rounds: args.rounds,
        page_size: args.page_size,
        queries,
        errors,
        first_error,
        cpu,
    })
}

/// Loads `corpus` through the API, unless `reuse` finds its manifest (it was loaded
/// completely before); returns its names and the load time (`None` when reused).
async fn ensure_loaded(
    target: &Target,
    corpus: &Corpus,
    reuse: bool,
    concurrency: usize,
) -> anyhow::Result<(Names, Option<Duration>)> {
    let prefix = if reuse {
        format!("search-{}", corpus.key())
    } else {
        format!("{}-{}", target.run_id(), corpus.key())
    };
    let names = Names { prefix };
    if reuse && manifest_exists(target, &names, corpus).await? {
        eprintln!("search: corpus {} found, not loading", corpus.key());
        return Ok((names, None));
    }
    let server = target.server_client();
    let load_time = load(&server, &names, corpus, concurrency).await?;
    write_manifest(&server, &names, corpus).await?;
    Ok((names, Some(load_time)))
}

/// Fills the store with this scenario's corpus of `messages` messages (one conversation
/// per 100, 2–6 members each from a pool of 5,000 users, chat-sized texts in four
/// languages, seed 1), unless `reuse` finds it loaded: the data other scenarios run beside
/// (`history --background-messages`). Returns the load time (`None` when reused).
pub async fn load_background(
    target: &Target,
    messages: u64,
    reuse: bool,
) -> anyhow::Result<Option<Duration>> {
    let conversations = (messages / 100).max(1);
    let corpus = Corpus {
        seed: 1,
        messages,
        conversations,
        user_conversations: conversations.min(50),
    };
    let (_, loaded) = ensure_loaded(target, &corpus, reuse, 16).await?;
    Ok(loaded)
}

/// What the searches of one query gave.
#[derive(Debug, Default)]
struct QueryOutcome {
    latencies: Latencies,
    total: Option<u64>,
    wrong_totals: u64,
}

/// Messages of conversation `c`: indexes `c`, `c + C`, `c + 2C`, … below N.
fn messages_in(corpus: &Corpus, c: u64) -> u64 {
    if c >= corpus.messages {
        0
    } else {
        (corpus.messages - 1 - c) / corpus.conversations + 1
    }
}

/// For each query of [`Query::ALL`], the matches in the searching user's conversations.
fn expected_totals(corpus: &Corpus) -> Vec<u64> {
    let mut totals = vec![0; Query::ALL.len()];
    for c in corpus.user_conversation_indexes() {
        let mut i = c;
        while i < corpus.messages {
            let content = corpus.content(i);
            for (total, query) in totals.iter_mut().zip(Query::ALL) {
                *total += u64::from(query.matches(&content));
            }
            i += corpus.conversations;
        }
    }
    totals
}

/// Creates the conversations, then posts every message; returns how long it took.
async fn load(
    server: &Client,
    names: &Names,
    corpus: &Corpus,
    concurrency: usize,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let conversations = Arc::new(create_conversations(server, names, corpus, concurrency).await?);
    eprintln!(
        "search: {} conversations ready after {:.1} s; posting {} messages",
        corpus.conversations,
        started.elapsed().as_secs_f64(),
        corpus.messages
    );
    let senders: Arc<Vec<Vec<Client>>> = Arc::new(
        (0..corpus.conversations)
            .map(|c| {
                corpus
                    .members(c)
                    .into_iter()
                    .map(|member| Ok(server.clone().acting_as(&names.member(member)?)))
                    .collect::<anyhow::Result<Vec<Client>>>()
            })
            .collect::<anyhow::Result<_>>()?,
    );
    let searcher = server.clone().acting_as(&names.searcher()?);
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        let (next, conversations, senders) = (
            Arc::clone(&next),
            Arc::clone(&conversations),
            Arc::clone(&senders),
        );
        let (corpus, searcher) = (*corpus, searcher.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= corpus.messages {
                    return anyhow::Ok(());
                }
                let c = corpus.conversation_of(i) as usize;
                let client = match corpus.sender_of(i) {
                    Some(member) => &senders[c][member],
                    None => &searcher,
                };
                let body = SendMessage {
                    content: Some(corpus.content(i)),
                    client_message_id: Some(format!("search-{i}")),
                    ..SendMessage::default()
                };
                retry(|| client.send_message(conversations[c], &body))
                    .await
                    .with_context(|| format!("posting message {i}"))?;
            }
        });
    }
    let progress = {
        let next = Arc::clone(&next);
        let total = corpus.messages;
        tokio::spawn(async move {
            let started = Instant::now();
            loop {
                tokio::time::sleep(PROGRESS_EVERY).await;
                let done = next.load(Ordering::Relaxed).min(total);
                eprintln!(
                    "search: {done} of {total} messages posted, {} msg/s",
                    harness::per_second(done, started.elapsed())
                );
            }
        })
    };
    let mut result = Ok(());
    while let Some(joined) = tasks.join_next().await {
        if let Err(err) = joined.context("a load task panicked").and_then(|r| r) {
            result = Err(err);
            tasks.abort_all();
        }
    }
    progress.abort();
    result?;
    Ok(started.elapsed())
}

/// Creates (or finds) every conversation of the corpus, by context id; indexed by `c`.
async fn create_conversations(
    server: &Client,
    names: &Names,
    corpus: &Corpus,
    concurrency: usize,
) -> anyhow::Result<Vec<ConversationId>> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        let (next, server, corpus) = (Arc::clone(&next), server.clone(), *corpus);
        let prefix = names.prefix.clone();
        tasks.spawn(async move {
            let names = Names { prefix };
            let mut created = Vec::new();
            loop {
                let c = next.fetch_add(1, Ordering::Relaxed);
                if c >= corpus.conversations {
                    return anyhow::Ok(created);
                }
                let mut participant_ids = corpus
                    .members(c)
                    .into_iter()
                    .map(|member| names.member(member))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                if corpus.has_user(c) {
                    participant_ids.push(names.searcher()?);
                }
                let body = ContextConversation {
                    kind: Some(ConversationType::Group),
                    owner_id: participant_ids.first().cloned(),
                    participant_ids,
                    title: Some(format!("Order {}", 10_000 + c)),
                    description: None,
                };
                let context_id = format!("{}-c{c}", names.prefix);
                let conversation =
                    retry(|| server.conversation_by_context(CONTEXT_KIND, &context_id, &body))
                        .await
                        .with_context(|| format!("creating conversation {c}"))?;
                created.push((c, conversation.value.id));
            }
        });
    }
    let mut ids = vec![None; corpus.conversations as usize];
    while let Some(joined) = tasks.join_next().await {
        for (c, id) in joined.context("a load task panicked")?? {
            ids[c as usize] = Some(id);
        }
    }
    ids.into_iter()
        .enumerate()
        .map(|(c, id)| id.with_context(|| format!("conversation {c} was not created")))
        .collect()
}

/// Runs `request` until it succeeds, at most [`LOAD_ATTEMPTS`] times. Every request of
/// the load is idempotent, so a retry after a lost answer is harmless.
async fn retry<T, F, Fut>(mut request: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, natter_client::ClientError>>,
{
    let mut attempt = 1;
    loop {
        match request().await {
            Ok(value) => return Ok(value),
            Err(err) if attempt >= LOAD_ATTEMPTS => return Err(err.into()),
            Err(err) => {
                eprintln!("search: attempt {attempt} failed ({err}); retrying");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                attempt += 1;
            }
        }
    }
}

/// The manifest's context id and title: the corpus, said in words.
fn manifest_title(corpus: &Corpus) -> String {
    format!("natter-bench search corpus {}: complete", corpus.key())
}

/// Whether the manifest of `corpus` is on the server: the load finished before.
async fn manifest_exists(target: &Target, names: &Names, corpus: &Corpus) -> anyhow::Result<bool> {
    let owner = target.fixed_user(names.manifest_owner()?.as_str())?;
    let filter = ConversationFilter {
        context_kind: Some(CONTEXT_KIND.to_owned()),
        context_id: Some(format!("{}-manifest", names.prefix)),
        ..ConversationFilter::default()
    };
    let page = owner
        .client
        .list_conversations(&filter)
        .await
        .context("looking for the corpus manifest")?;
    Ok(page
        .items
        .iter()
        .any(|conversation| conversation.title.as_deref() == Some(&*manifest_title(corpus))))
}

/// Marks the corpus as completely loaded.
async fn write_manifest(server: &Client, names: &Names, corpus: &Corpus) -> anyhow::Result<()> {
    let owner = names.manifest_owner()?;
    let body = ContextConversation {
        kind: Some(ConversationType::Group),
        owner_id: Some(owner.clone()),
        participant_ids: vec![owner],
        title: Some(manifest_title(corpus)),
        description: None,
    };
    server
        .conversation_by_context(CONTEXT_KIND, &format!("{}-manifest", names.prefix), &body)
        .await
        .context("writing the corpus manifest")?;
    Ok(())
}
