//! Natter's embedded store: SQLite through `rusqlite`, in the data directory.
//!
//! Shape (see ARCHITECTURE.md, "SQLite store"): every write goes to one writer thread
//! that owns the only write connection and commits the requests queued at that moment
//! together ([`writer`]: group commit, each request in its own savepoint, each answered
//! only after the commit that holds it). Reads run on a small pool of read connections
//! on tokio's blocking pool ([`readers`]). Messages and events are clustered by
//! conversation (`WITHOUT ROWID`, primary key `(conversation_id, seq)`). The full-text
//! index lives in a second database file kept up to date by an indexer thread from a
//! queue that writes append to ([`search_index`]).
//!
//! This crate deliberately uses `rusqlite` rather than sqlx: the writer is a plain
//! thread running synchronous closures, which is what group commit needs, and it avoids
//! sqlx-sqlite's per-statement worker hop. Where to look next: [`queries`] for the SQL.

#![forbid(unsafe_code)]

mod admin;
mod attachments;
mod error;
mod migrations;
mod queries;
mod readers;
mod rows;
mod search;
mod search_index;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use natter_store::StoreError;
use rusqlite::Connection;

pub use migrations::migrate;

/// Durability of a commit, SQLite's `synchronous` pragma in WAL mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=FULL`: a commit survives power loss (the default).
    #[default]
    Full,
    /// `synchronous=NORMAL`: a commit survives a crash of the process but the last
    /// transactions may be lost on power loss or an OS crash.
    Normal,
}

/// Options of [`SqliteStore::open`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Database file.
    pub path: PathBuf,
    /// Commit durability.
    pub durability: Durability,
    /// Read connections.
    pub read_connections: usize,
    /// Most write requests committed in one transaction.
    pub max_batch: usize,
    /// Apply pending migrations when opening.
    pub migrate: bool,
}

impl SqliteOptions {
    /// Defaults for a database file.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            durability: Durability::Full,
            read_connections: 4,
            max_batch: 256,
            migrate: true,
        }
    }
}

/// The SQLite implementation of [`natter_store::Store`].
#[derive(Clone)]
pub struct SqliteStore {
    writer: Arc<writer::Writer>,
    readers: Arc<readers::Readers>,
    stats: Arc<natter_store::CommitStats>,
    indexer: Arc<search_index::Indexer>,
    /// Declared last, so dropped last: by then the writer's queue is closed.
    #[expect(dead_code, reason = "held for its Drop, which joins the threads")]
    threads: Arc<Threads>,
}

/// The store's writer and indexer threads, joined when the last handle to the store is
/// dropped: their connections are closed when dropping returns (a store opened again on
/// the same files, or files removed afterwards, then meet no connection of the old one).
struct Threads(Vec<std::thread::JoinHandle<()>>);

impl Drop for Threads {
    fn drop(&mut self) {
        for thread in self.0.drain(..) {
            // Never a join of the thread that runs this (a job holding the last handle).
            if thread.thread().id() != std::thread::current().id() && thread.join().is_err() {
                tracing::error!("a SQLite store thread panicked");
            }
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database and its search database, applies
    /// migrations unless disabled, and starts the writer and indexer threads.
    pub fn open(options: SqliteOptions) -> Result<Self, StoreError> {
        if let Some(dir) = options.path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(StoreError::backend)?;
            }
        }
        let search_path = search_index::search_path(&options.path);
        let open = |path: &Path| open_connection(path, options.durability);
        let mut write_conn = open(&options.path).map_err(error::store_error)?;
        if options.migrate {
            migrations::apply(&mut write_conn).map_err(error::store_error)?;
        }
        // The writer never writes the index: it attaches the search database only to
        // prepare it, before anything else runs.
        let prepared: rusqlite::Result<_> = (|| {
            search_index::attach(&write_conn, &search_path)?;
            search_index::prepare(&write_conn)?;
            let pair = search_index::Indexer::pair(&write_conn)?;
            write_conn.execute("DETACH DATABASE search", [])?;
            // The indexer thread copies the WAL into the database; the writer completes
            // the checkpoint only when the WAL has grown (see the constant).
            write_conn.pragma_update(
                None,
                "wal_autocheckpoint",
                search_index::WRITER_AUTOCHECKPOINT_PAGES,
            )?;
            Ok(pair)
        })();
        let (after_commit, indexer) = prepared.map_err(error::store_error)?;
        let stats = Arc::new(natter_store::CommitStats::default());
        let (writer, writer_thread) =
            writer::Writer::start(write_conn, options.max_batch, stats.clone(), move |conn| {
                after_commit.run(conn)
            })?;
        let writer = Arc::new(writer);
        let index_conn = open(&options.path)
            .and_then(|conn| {
                search_index::attach(&conn, &search_path)?;
                Ok(conn)
            })
            .map_err(error::store_error)?;
        let (indexer, indexer_thread) = indexer.start(index_conn, Arc::downgrade(&writer))?;
        let readers = readers::Readers::new(
            options.path.clone(),
            search_path,
            options.durability,
            options.read_connections.max(1),
        );
        Ok(Self {
            writer,
            readers: Arc::new(readers),
            stats,
            indexer: Arc::new(indexer),
            threads: Arc::new(Threads(vec![writer_thread, indexer_thread])),
        })
    }
}

/// Opens one connection with Natter's pragmas.
pub(crate) fn open_connection(path: &Path, durability: Durability) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let synchronous = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = {synchronous};
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -16000;"
    ))?;
    // Room for every fixed statement plus the IN-list variants of page-sized lookups.
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}
