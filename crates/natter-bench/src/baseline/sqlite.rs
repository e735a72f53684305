//! The storage baseline: one thread inserting message-shaped rows into SQLite in batches,
//! one transaction per batch, with the store's pragmas (WAL, `synchronous` FULL by default).
//!
//! It bounds the write path of `send`: the real writer thread also commits the requests
//! queued at that moment in one transaction, and with C closed-loop senders a batch holds
//! at most C messages; so the loop runs with the batch size the scenario would reach. The
//! table has the real `messages` table's key (`WITHOUT ROWID`, clustered by conversation
//! and seq) and its unique index on the message id, but none of the rest of a send (event
//! log, counters, read markers).
//!
//! Two switches take it towards the real writer, to show what each costs: `search_index`
//! adds the two contentless FTS5 tables and the insert trigger of migration
//! `0002_search.sql` (the same DDL), and `savepoint_per_row` wraps each row in its own
//! savepoint, as the writer does with each request. FTS5 flushes its pending terms to a new
//! segment at every savepoint.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use natter_proto::{ConversationId, MessageId};
use rusqlite::params;
use serde::Serialize;

use crate::harness::{self, CpuMeter, Latencies, LatencySummary};

/// The search tables and insert trigger of `natter-store-sqlite`'s migration
/// `0002_search.sql`, on this loop's table (`conversations` has no `encrypted` column
/// here: every conversation is indexed).
const SEARCH_INDEX: &str = "
    CREATE TABLE search_conversations (
        docbase         INTEGER PRIMARY KEY,
        conversation_id BLOB NOT NULL UNIQUE
    );
    CREATE VIRTUAL TABLE message_words USING fts5 (
        content,
        content = '',
        contentless_delete = 1,
        tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE VIRTUAL TABLE message_trigrams USING fts5 (
        content,
        content = '',
        contentless_delete = 1,
        tokenize = 'trigram case_sensitive 0 remove_diacritics 1'
    );
    CREATE TRIGGER messages_search_insert AFTER INSERT ON messages
    WHEN new.content IS NOT NULL
    BEGIN
        INSERT OR IGNORE INTO search_conversations (conversation_id) VALUES (new.conversation_id);
        INSERT INTO message_words (rowid, content)
            SELECT docbase * 4294967296 + new.seq, new.content
            FROM search_conversations WHERE conversation_id = new.conversation_id;
        INSERT INTO message_trigrams (rowid, content)
            SELECT docbase * 4294967296 + new.seq, new.content
            FROM search_conversations WHERE conversation_id = new.conversation_id;
    END;";

/// How the loop writes.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LoopShape {
    /// Rows per transaction.
    pub batch: usize,
    /// Keep the search index of migration `0002_search.sql` (FTS5, by trigger).
    pub search_index: bool,
    /// Wrap each row in its own savepoint, like the writer thread's requests.
    pub savepoint_per_row: bool,
}

/// What the loop reached.
#[derive(Debug, Clone, Serialize)]
pub struct SqliteBaseline {
    /// `synchronous` pragma: `full` or `normal`.
    pub synchronous: String,
    #[serde(flatten)]
    pub shape: LoopShape,
    pub duration_s: f64,
    /// Rows committed.
    pub rows: u64,
    /// Rows committed per second.
    pub rows_per_s: f64,
    /// Transactions committed per second.
    pub commits_per_s: f64,
    /// Rows per second of this process's CPU time (user + system), which is the loop's:
    /// what one core could insert, whatever else the machine was doing.
    pub rows_per_cpu_s: Option<f64>,
    /// Time of one transaction, `BEGIN` to the end of `COMMIT`.
    pub commit_latency: LatencySummary,
}

/// Runs the loop for `duration` in a fresh database under the system's temporary
/// directory (the disk the spawned server's data directory is on), then deletes it.
pub fn run(
    shape: LoopShape,
    duration: Duration,
    synchronous: &str,
) -> anyhow::Result<SqliteBaseline> {
    if shape.batch == 0 || duration.is_zero() {
        bail!("the batch size and the duration must be positive");
    }
    if !matches!(synchronous, "full" | "normal") {
        bail!("synchronous must be full or normal, not {synchronous:?}");
    }
    let dir = std::env::temp_dir().join(format!(
        "natter-bench-sqlite-{}-{}",
        std::process::id(),
        harness::unix_nanos()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let result = insert_loop(&dir.join("baseline.db"), shape, duration, synchronous);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn insert_loop(
    path: &std::path::Path,
    shape: LoopShape,
    duration: Duration,
    synchronous: &str,
) -> anyhow::Result<SqliteBaseline> {
    let mut connection =
        rusqlite::Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    connection
        .execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = {synchronous};
             PRAGMA temp_store = MEMORY;
             PRAGMA cache_size = -16000;
             CREATE TABLE messages (
                 conversation_id BLOB NOT NULL,
                 seq             INTEGER NOT NULL,
                 id              BLOB NOT NULL,
                 sender_id       TEXT,
                 kind            TEXT NOT NULL,
                 content         TEXT,
                 created_at      INTEGER NOT NULL,
                 PRIMARY KEY (conversation_id, seq)
             ) WITHOUT ROWID;
             CREATE UNIQUE INDEX messages_by_id ON messages (id);"
        ))
        .context("creating the baseline table")?;
    if shape.search_index {
        connection
            .execute_batch(SEARCH_INDEX)
            .context("creating the search index")?;
    }
    let conversation_id = ConversationId::new();
    let mut commits = Latencies::default();
    let mut seq = 0u64;
    let cpu = CpuMeter::start(None);
    let started = Instant::now();
    let deadline = started + duration;
    while Instant::now() < deadline {
        let commit_started = Instant::now();
        let transaction = connection
            .transaction()
            .context("beginning a transaction")?;
        {
            let mut insert = transaction
                .prepare_cached(
                    "INSERT INTO messages (conversation_id, seq, id, sender_id, kind, content, created_at)
                     VALUES (?1, ?2, ?3, ?4, 'text', ?5, ?6)",
                )
                .context("preparing the insert")?;
            for _ in 0..shape.batch {
                seq += 1;
                if shape.savepoint_per_row {
                    transaction
                        .execute_batch("SAVEPOINT job")
                        .context("opening a savepoint")?;
                }
                // About 100 characters, as in the `history` fill.
                let content = format!(
                    "baseline message {seq:06}: the quick brown fox jumps over the lazy dog, \
                     twice, and then rests"
                );
                insert
                    .execute(params![
                        conversation_id.0,
                        seq,
                        MessageId::new().0,
                        format!("sender{}", seq % 16),
                        content,
                        harness::unix_nanos() / 1000,
                    ])
                    .context("inserting a row")?;
                if shape.savepoint_per_row {
                    transaction
                        .execute_batch("RELEASE job")
                        .context("releasing a savepoint")?;
                }
            }
        }
        transaction.commit().context("committing")?;
        commits.record(commit_started.elapsed());
    }
    let elapsed = started.elapsed();
    let cores = cpu.finish().bench_cores;
    let transactions = commits.len() as u64;
    Ok(SqliteBaseline {
        synchronous: synchronous.to_owned(),
        shape,
        duration_s: duration.as_secs_f64(),
        rows: seq,
        rows_per_s: harness::per_second(seq, elapsed),
        commits_per_s: harness::per_second(transactions, elapsed),
        rows_per_cpu_s: cores
            .filter(|cores| *cores > 0.0)
            .map(|cores| harness::per_second(seq, elapsed) / cores)
            .map(f64::round),
        commit_latency: commits.summary(),
    })
}
