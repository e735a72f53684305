//! The search index's own database file, and the indexer thread that keeps it up to date.
//!
//! Writes never touch the FTS5 tables: the triggers of `migrations/0011_search_queue.sql`
//! append each changed message's docid to `search_queue` in the store's database, inside
//! the write's own transaction. The indexer thread, woken after every group commit, reads
//! the queue past its mark and, in one transaction of the search database, brings both
//! FTS5 tables to each queued message's *current* state and moves the mark
//! (`search_state.indexed_up_to`). So indexing runs beside the writer, on its own write
//! lock (the search database is a separate file), in batches as large as the backlog.
//!
//! Exactness does not depend on the indexer keeping up: a search that uses the index also
//! takes the scope's queue entries past the mark as candidates (`search::pending_docids`),
//! and every candidate is confirmed against the message row anyway.
//!
//! Crash safety: the index changes and the mark commit together in the search database,
//! which always syncs its commits (`synchronous = FULL`, whatever the store's durability);
//! the queue rows below the mark are deleted by the writer afterwards, never before. If
//! the search database is missing (a new install, the upgrade from in-line indexing, a
//! deleted file) or its mark is past the newest queue row (it belongs to another copy of
//! the store's database), [`prepare`] queues every indexable message again and starts an
//! empty index.
//!
//! What this module does not do: decide how a search reads the index (see [`crate::search`]).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use natter_store::StoreError;
use rusqlite::{params, Connection, OptionalExtension};

use crate::error::store_error;
use crate::writer::Writer;

/// Queue entries indexed in one transaction at most.
const BATCH: usize = 4096;

/// Least time between two index transactions. Each commits with an fsync of the search
/// database; under load, waiting lets a batch grow (FTS5 inserts cost less per row in
/// larger transactions) and keeps the indexer's fsyncs from queueing on the disk behind
/// every one of the writer's. Searches do not wait for it (they read the queue too).
const BATCH_INTERVAL: Duration = Duration::from_millis(20);

/// How often the indexer checkpoints the store's WAL into its database file while there
/// are writes: it copies the pages beside the writer, on the other core.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// The writer's `wal_autocheckpoint`, in pages. A checkpoint that runs while the writer
/// appends never catches up with the end of the WAL, and only a complete one lets the next
/// write start the WAL from its beginning again; so the writer still checkpoints when the
/// WAL reaches this size, but finds nearly every page already copied by the indexer's
/// checkpoints (the default, 1,000 pages, had the writer copy them all, inside a group
/// commit). The WAL stays under ~16 MB.
pub(crate) const WRITER_AUTOCHECKPOINT_PAGES: u32 = 4_000;

/// The writer deletes indexed queue rows once this many have accumulated (and whenever
/// the indexer has caught up).
const CLEANUP_EVERY: i64 = 8192;

/// The search database as seen by the store's connections.
const SCHEMA_SQL: &str = "
    CREATE TABLE IF NOT EXISTS search.search_state (
        id            INTEGER PRIMARY KEY CHECK (id = 1),
        indexed_up_to INTEGER NOT NULL
    );
    CREATE VIRTUAL TABLE IF NOT EXISTS search.message_words USING fts5 (
        content,
        content = '',
        contentless_delete = 1,
        tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE VIRTUAL TABLE IF NOT EXISTS search.message_trigrams USING fts5 (
        content,
        content = '',
        contentless_delete = 1,
        tokenize = 'trigram case_sensitive 0 remove_diacritics 1'
    );";

/// The search database's file beside the store's: `natter.db` → `natter.search.db`.
pub(crate) fn search_path(store_path: &Path) -> PathBuf {
    let stem = store_path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| "natter".to_owned());
    store_path.with_file_name(format!("{stem}.search.db"))
}

/// Attaches the search database as schema `search`, in WAL mode with
/// `synchronous = FULL` whatever the store's durability: the writer deletes the queue rows
/// below the indexer's mark, so the mark must be on disk before they are, and under
/// `NORMAL` the two files reach the disk in no particular order. (The indexer commits at
/// most every [`BATCH_INTERVAL`], so the syncs cost little.)
pub(crate) fn attach(conn: &Connection, search_path: &Path) -> rusqlite::Result<()> {
    let name = search_path.to_string_lossy();
    conn.execute("ATTACH DATABASE ?1 AS search", [name.as_ref()])?;
    conn.execute_batch("PRAGMA search.journal_mode = WAL; PRAGMA search.synchronous = FULL;")
}

/// Makes the attached search database ready: creates it, or rebuilds it when it is
/// missing or does not belong to this store's queue. Runs once when the store opens,
/// before the writer and the indexer start. Returns how many messages were queued for a
/// rebuild (0 when the index was kept).
pub(crate) fn prepare(conn: &Connection) -> rusqlite::Result<u64> {
    let has_state: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM search.sqlite_master WHERE name = 'search_state')",
        [],
        |row| row.get(0),
    )?;
    let mark: Option<i64> = if has_state {
        conn.query_row(
            "SELECT indexed_up_to FROM search.search_state WHERE id = 1",
            [],
            |row| row.get(0),
        )
        .optional()?
    } else {
        None
    };
    let (oldest, newest): (Option<i64>, i64) = conn.query_row(
        "SELECT MIN(id), COALESCE(MAX(id), 0) FROM main.search_queue",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    // A mark belongs to this queue when it is not past its newest row, and not below the
    // rows the clean-up kept (it deletes only below a mark, and keeps the row at it).
    let belongs = |mark: i64| mark <= newest && oldest.is_none_or(|oldest| mark + 1 >= oldest);
    if matches!(mark, Some(mark) if belongs(mark)) {
        return Ok(0);
    }
    // Three steps, each durable before the next: forget the old index (so that a crash
    // later leaves no mark, and the next start begins again), queue every message in the
    // store's database, then an empty index whose mark skips the rows queued before.
    conn.execute_batch(
        "BEGIN;
         DROP TABLE IF EXISTS search.message_words;
         DROP TABLE IF EXISTS search.message_trigrams;
         DROP TABLE IF EXISTS search.search_state;
         COMMIT;",
    )?;
    let synchronous: i64 = conn.query_row("PRAGMA main.synchronous", [], |row| row.get(0))?;
    conn.execute_batch("PRAGMA main.synchronous = FULL")?;
    let queued = conn.execute(
        "INSERT INTO search_queue (docid, fresh) \
         SELECT s.docbase * 4294967296 + m.seq, 1 FROM messages m \
         JOIN search_conversations s ON s.conversation_id = m.conversation_id \
         WHERE m.content IS NOT NULL AND m.deleted_at IS NULL \
         ORDER BY s.docbase, m.seq",
        [],
    );
    conn.execute_batch(&format!("PRAGMA main.synchronous = {synchronous}"))?;
    let queued = queued?;
    let tx = conn.unchecked_transaction()?;
    tx.execute_batch(SCHEMA_SQL)?;
    tx.execute(
        "INSERT INTO search.search_state (id, indexed_up_to) VALUES (1, ?1)",
        [newest],
    )?;
    tx.commit()?;
    if queued > 0 {
        tracing::info!(queued, "search index: rebuilding in the background");
    }
    Ok(queued as u64)
}

/// The newest queue id (0 for an empty queue).
fn newest_queued(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COALESCE(MAX(id), 0) FROM main.search_queue",
        [],
        |row| row.get(0),
    )
}

/// What one [`index_pending`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Progress {
    /// Queue entries consumed.
    pub(crate) entries: usize,
    /// The mark afterwards: every queue id up to it is in the index.
    pub(crate) mark: i64,
    /// Queue entries still past the mark (as of the snapshot read).
    pub(crate) backlog: u64,
}

/// Indexes up to `limit` queue entries past the mark, in one transaction of the search
/// database: each queued docid's index rows are replaced by its message's current text
/// (none when it is deleted, purged, gone or encrypted).
pub(crate) fn index_pending(conn: &Connection, limit: usize) -> rusqlite::Result<Progress> {
    // Deferred: the reads of the store's database take no lock that the writer waits for;
    // the first write to the search database takes only that file's write lock.
    let tx = conn.unchecked_transaction()?;
    let mark: i64 = tx.query_row(
        "SELECT indexed_up_to FROM search.search_state WHERE id = 1",
        [],
        |row| row.get(0),
    )?;
    let mut entries: Vec<(i64, i64, bool)> = Vec::new();
    {
        let mut stmt = tx.prepare_cached(
            "SELECT id, docid, fresh FROM main.search_queue WHERE id > ?1 ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt.query_map(
            params![mark, i64::try_from(limit).unwrap_or(i64::MAX)],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )?;
        for row in rows {
            entries.push(row?);
        }
    }
    let Some(&(last, _, _)) = entries.last() else {
        return Ok(Progress {
            entries: 0,
            mark,
            backlog: 0,
        });
    };
    // One pass per docid: whether an older index row may exist (any entry not fresh).
    let mut docs: Vec<(i64, bool)> = Vec::with_capacity(entries.len());
    let mut seen: std::collections::HashMap<i64, usize> =
        std::collections::HashMap::with_capacity(entries.len());
    for &(_, docid, fresh) in &entries {
        match seen.get(&docid) {
            Some(&at) => docs[at].1 |= !fresh,
            None => {
                seen.insert(docid, docs.len());
                docs.push((docid, !fresh));
            }
        }
    }
    {
        let mut current = tx.prepare_cached(
            "SELECT m.content FROM search_conversations s \
             JOIN conversations c ON c.id = s.conversation_id \
             JOIN messages m ON m.conversation_id = s.conversation_id AND m.seq = ?2 \
             WHERE s.docbase = ?1 AND m.content IS NOT NULL AND m.deleted_at IS NULL \
               AND NOT c.encrypted",
        )?;
        let mut delete_words =
            tx.prepare_cached("DELETE FROM search.message_words WHERE rowid = ?1")?;
        let mut delete_trigrams =
            tx.prepare_cached("DELETE FROM search.message_trigrams WHERE rowid = ?1")?;
        let mut insert_words =
            tx.prepare_cached("INSERT INTO search.message_words (rowid, content) VALUES (?1, ?2)")?;
        let mut insert_trigrams = tx.prepare_cached(
            "INSERT INTO search.message_trigrams (rowid, content) VALUES (?1, ?2)",
        )?;
        for (docid, replaces) in docs {
            if replaces {
                delete_words.execute([docid])?;
                delete_trigrams.execute([docid])?;
            }
            let content: Option<String> = current
                .query_row(params![docid >> 32, docid & 0xFFFF_FFFF], |row| row.get(0))
                .optional()?;
            if let Some(content) = content {
                insert_words.execute(params![docid, content])?;
                insert_trigrams.execute(params![docid, content])?;
            }
        }
    }
    tx.execute(
        "UPDATE search.search_state SET indexed_up_to = ?1 WHERE id = 1",
        [last],
    )?;
    let newest = newest_queued(&tx)?;
    tx.commit()?;
    Ok(Progress {
        entries: entries.len(),
        mark: last,
        backlog: u64::try_from(newest - last).unwrap_or(0),
    })
}

/// Deletes the queue rows below `mark` (the row at the mark stays, so queue ids never go
/// back to lower values). Runs on the writer.
pub(crate) fn delete_indexed(conn: &Connection, mark: i64) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM search_queue WHERE id < ?1")
        .and_then(|mut stmt| stmt.execute([mark]))
        .map(|_| ())
        .map_err(store_error)
}

/// Where the queue and the index stand, shared by the writer (newest queue id after each
/// commit) and the indexer (its mark).
#[derive(Debug, Default)]
pub(crate) struct Progression {
    newest: AtomicI64,
    mark: AtomicI64,
}

impl Progression {
    /// Committed changes not in the index yet.
    pub(crate) fn backlog(&self) -> u64 {
        let behind = self.newest.load(Ordering::Relaxed) - self.mark.load(Ordering::Relaxed);
        u64::try_from(behind).unwrap_or(0)
    }
}

/// What the writer does after each commit for the indexer: note the newest queue id and
/// ring the indexer's doorbell.
pub(crate) struct AfterCommit {
    progression: Arc<Progression>,
    doorbell: SyncSender<()>,
    stopped: AtomicBool,
}

impl AfterCommit {
    /// Called by the writer thread after each commit, on its connection.
    pub(crate) fn run(&self, conn: &Connection) {
        // The rightmost row of the queue's B-tree: a microsecond or two.
        if let Ok(newest) = newest_queued(conn) {
            self.progression.newest.store(newest, Ordering::Relaxed);
        }
        // Full means the indexer is already due to look; it reads the queue, not the ring.
        if let Err(TrySendError::Disconnected(())) = self.doorbell.try_send(()) {
            if !self.stopped.swap(true, Ordering::Relaxed) {
                tracing::error!(
                    "the search indexer has stopped: new messages are not indexed (searches \
                     stay exact but grow slower) and the WAL is checkpointed only by the writer"
                );
            }
        }
    }
}

/// Handle to the indexer thread. The thread also checkpoints the store's WAL, and stops
/// by itself when the writer stops.
pub(crate) struct Indexer {
    progression: Arc<Progression>,
}

impl Indexer {
    /// The writer's side of the indexer, to be given to [`Indexer::start`]'s counterpart:
    /// first the hook the writer calls after each commit, then what starts the thread.
    pub(crate) fn pair(conn: &Connection) -> rusqlite::Result<(AfterCommit, IndexerStart)> {
        let progression = Arc::new(Progression::default());
        let mark: i64 = conn.query_row(
            "SELECT indexed_up_to FROM search.search_state WHERE id = 1",
            [],
            |row| row.get(0),
        )?;
        progression.mark.store(mark, Ordering::Relaxed);
        progression
            .newest
            .store(newest_queued(conn)?, Ordering::Relaxed);
        let (doorbell, rings) = mpsc::sync_channel(1);
        Ok((
            AfterCommit {
                progression: progression.clone(),
                doorbell,
                stopped: AtomicBool::new(false),
            },
            IndexerStart { progression, rings },
        ))
    }

    /// Committed changes not in the index yet.
    pub(crate) fn backlog(&self) -> u64 {
        self.progression.backlog()
    }
}

/// The indexer's half of [`Indexer::pair`], started once the writer runs.
pub(crate) struct IndexerStart {
    progression: Arc<Progression>,
    rings: Receiver<()>,
}

impl IndexerStart {
    /// Starts the indexer on `conn` (the store's database with the search database
    /// attached); `writer` takes the queue clean-ups.
    pub(crate) fn start(
        self,
        conn: Connection,
        writer: Weak<Writer>,
    ) -> Result<(Indexer, JoinHandle<()>), StoreError> {
        let progression = self.progression.clone();
        let thread = std::thread::Builder::new()
            .name("natter-sqlite-indexer".into())
            .spawn(move || run(&conn, &self.rings, &writer, &self.progression))
            .map_err(StoreError::backend)?;
        Ok((Indexer { progression }, thread))
    }
}

fn run(
    conn: &Connection,
    doorbell: &Receiver<()>,
    writer: &Weak<Writer>,
    progression: &Progression,
) {
    let mut state = Housekeeping {
        cleaned_to: 0,
        checkpointed: Instant::now(),
    };
    loop {
        let started = Instant::now();
        // A panic in one round must not end indexing and checkpointing for good: it is
        // logged, and the same queue entries are tried again after a pause.
        match catch_unwind(AssertUnwindSafe(|| state.round(conn, writer, progression))) {
            Ok(Round::Continue) => {}
            Ok(Round::StoreGone) => return,
            Err(_) => {
                tracing::error!("the search indexer panicked; retrying in a second");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        let rest = BATCH_INTERVAL.saturating_sub(started.elapsed());
        if !rest.is_zero() {
            std::thread::sleep(rest);
        }
        match doorbell.recv_timeout(Duration::from_secs(5)) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// What the indexer thread remembers between rounds.
struct Housekeeping {
    /// The writer was asked to delete the queue rows below this id.
    cleaned_to: i64,
    /// When the store's WAL was last checkpointed.
    checkpointed: Instant,
}

/// How a round of the indexer ended.
enum Round {
    Continue,
    /// The store was dropped: the thread ends.
    StoreGone,
}

impl Housekeeping {
    /// Indexes everything queued, asks the writer to clean the queue when due, and
    /// checkpoints the store's WAL when due.
    fn round(
        &mut self,
        conn: &Connection,
        writer: &Weak<Writer>,
        progression: &Progression,
    ) -> Round {
        let mut mark = None;
        loop {
            match index_pending(conn, BATCH) {
                Ok(progress) => {
                    progression.mark.store(progress.mark, Ordering::Relaxed);
                    mark = Some(progress.mark);
                    if progress.backlog == 0 || progress.entries == 0 {
                        break;
                    }
                }
                Err(err) => {
                    // Nothing was marked; the same entries are tried again after a pause.
                    tracing::warn!(error = %store_error(err), "search indexing failed; retrying");
                    std::thread::sleep(Duration::from_secs(1));
                    break;
                }
            }
        }
        if let Some(mark) = mark {
            let caught_up = progression.backlog() == 0;
            if mark - self.cleaned_to >= CLEANUP_EVERY || (caught_up && mark > self.cleaned_to) {
                let Some(writer) = writer.upgrade() else {
                    return Round::StoreGone;
                };
                writer.submit(move |conn| delete_indexed(conn, mark));
                self.cleaned_to = mark;
            }
        }
        if self.checkpointed.elapsed() >= CHECKPOINT_EVERY {
            // PASSIVE: copies what no reader still needs, never blocks the writer.
            if let Err(err) = conn.query_row("PRAGMA main.wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            {
                tracing::warn!(error = %store_error(err), "checkpoint of the store's WAL failed");
            }
            self.checkpointed = Instant::now();
        }
        Round::Continue
    }
}
