//! A small pool of read-only connections, used on tokio's blocking pool ([`Readers::read`])
//! or right on the calling task: lookups by key ([`Readers::lookup`]) and reads that are
//! usually short but not bounded by their query ([`Readers::bounded`]).
//!
//! WAL mode lets readers run beside the writer; each read sees the last committed state.
//! A std `Mutex` guards the idle list: it is held only to push or pop, never across I/O.
//!
//! Why more than one way: a point read by primary key takes a few microseconds on a warm
//! page cache, while handing it to the blocking pool and back costs two thread wake-ups —
//! in the send profile the scheduler took more of the server's CPU than HTTP, JSON and the
//! app together. So lookups of one row (or a few) by a unique key run inline on the async
//! worker, like any other short computation. A history page is usually as short (51 rows
//! from one index range), but a timeline page skips thread replies and hidden messages
//! however many lie in its range, so it runs inline under a budget of SQLite VM steps and
//! starts again on the blocking pool when the budget runs out. The hub's read per fan-out
//! batch (its events and the members' ids) runs the same way: ~6 VM steps per member, so
//! groups up to ~5,000 fit the budget and larger ones move to the pool. Anything else whose
//! cost grows with the data (a page's reactions: any number of users per emoji) uses the
//! blocking pool.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use natter_store::StoreError;
use rusqlite::Connection;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::store_error;
use crate::{open_connection, search_index, Durability};

/// SQLite calls the progress handler of [`Readers::bounded`] every this many VM steps…
const STEPS_PER_CHECK: i32 = 1_000;
/// …and the read is given up on the calling task after this many calls: 32,000 steps,
/// about 15 times what a 50-message page takes, well under a millisecond.
const CHECKS_INLINE: u32 = 32;

pub(crate) struct Readers {
    path: PathBuf,
    search_path: PathBuf,
    durability: Durability,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

impl Readers {
    pub(crate) fn new(
        path: PathBuf,
        search_path: PathBuf,
        durability: Durability,
        size: usize,
    ) -> Self {
        Self {
            path,
            search_path,
            durability,
            idle: Mutex::new(Vec::with_capacity(size)),
            permits: Semaphore::new(size),
        }
    }

    /// Runs `work` on a read connection off the async runtime.
    pub(crate) async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("reader pool closed".into()))?;
        let idle = self
            .idle
            .lock()
            .map_err(|_| StoreError::Backend("reader pool poisoned".into()))?
            .pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.open().map_err(store_error)?,
        };
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let result = work(&conn);
            (conn, result)
        })
        .await
        .map_err(|err| StoreError::Backend(format!("read task failed: {err}").into()))?;
        self.give_back(conn);
        result
    }

    /// A new read connection, with the search database attached (as `search`).
    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = open_connection(&self.path, self.durability)?;
        search_index::attach(&conn, &self.search_path)?;
        Ok(conn)
    }

    /// An idle connection with its permit, taken without waiting: `None` when every
    /// connection is busy or none has been opened yet (opening one is the pool's job).
    fn take_idle(&self) -> Result<Option<(SemaphorePermit<'_>, Connection)>, StoreError> {
        let Ok(permit) = self.permits.try_acquire() else {
            return Ok(None);
        };
        let idle = self
            .idle
            .lock()
            .map_err(|_| StoreError::Backend("reader pool poisoned".into()))?
            .pop();
        Ok(idle.map(|conn| (permit, conn)))
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
    }

    /// Runs `work` — a lookup of a bounded number of rows by key — on the calling task
    /// when a connection is idle, without a thread hand-off; otherwise (all connections
    /// busy, or none opened yet) exactly like [`Readers::read`], so it never waits for a
    /// connection on the async runtime.
    pub(crate) async fn lookup<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let Some((_permit, conn)) = self.take_idle()? else {
            return self.read(work).await;
        };
        let result = work(&conn);
        self.give_back(conn);
        result
    }

    /// Runs `work` — a read that is usually short but not bounded by its query — on the
    /// calling task when a connection is idle, stopping it after [`CHECKS_INLINE`] ×
    /// [`STEPS_PER_CHECK`] SQLite VM steps; a read stopped that way (or one that finds no
    /// idle connection) runs again, in full, like [`Readers::read`]. `work` must therefore
    /// be safe to run twice: a read.
    pub(crate) async fn bounded<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let Some((permit, conn)) = self.take_idle()? else {
            return self.read(work).await;
        };
        let stopped = Arc::new(AtomicBool::new(false));
        let mut checks = 0_u32;
        let flag = Arc::clone(&stopped);
        conn.progress_handler(
            STEPS_PER_CHECK,
            Some(move || {
                checks += 1;
                let stop = checks > CHECKS_INLINE;
                if stop {
                    flag.store(true, Ordering::Relaxed);
                }
                stop
            }),
        );
        let result = work(&conn);
        conn.progress_handler(0, None::<fn() -> bool>);
        self.give_back(conn);
        drop(permit);
        if stopped.load(Ordering::Relaxed) {
            return self.read(work).await;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::thread::{self, ThreadId};

    use super::*;

    type Threads = Arc<Mutex<Vec<ThreadId>>>;

    /// A read that counts to `rows` in SQL (about 10 VM steps a row) and records the
    /// thread it ran on.
    fn counting(
        rows: u32,
        ran_on: Threads,
    ) -> impl Fn(&Connection) -> Result<i64, StoreError> + Send + 'static {
        move |conn| {
            ran_on.lock().expect("lock").push(thread::current().id());
            conn.query_row(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?1) \
                 SELECT count(*) FROM c",
                [rows],
                |row| row.get(0),
            )
            .map_err(store_error)
        }
    }

    fn threads(ran_on: &Threads) -> Vec<ThreadId> {
        ran_on.lock().expect("lock").clone()
    }

    #[tokio::test]
    async fn a_bounded_read_runs_inline_until_its_budget_runs_out_then_again_on_the_pool() {
        let dir = tempfile::tempdir().expect("temp dir");
        let readers = Readers::new(
            dir.path().join("natter.db"),
            dir.path().join("search.db"),
            Durability::Normal,
            2,
        );
        // The first read opens a connection (on the pool); the rest find it idle.
        let first = Threads::default();
        assert_eq!(readers.read(counting(10, first)).await.expect("read"), 10);
        let here = thread::current().id();

        let short = Threads::default();
        let count = readers.bounded(counting(100, short.clone())).await;
        assert_eq!(count.expect("read"), 100);
        assert_eq!(threads(&short), [here], "a short read runs once, inline");

        let long = Threads::default();
        let rows = 1_000_000;
        let count = readers.bounded(counting(rows, long.clone())).await;
        assert_eq!(count.expect("read"), i64::from(rows));
        let long = threads(&long);
        assert_eq!(long.len(), 2, "stopped inline, then run again: {long:?}");
        assert_eq!(long[0], here);
        assert_ne!(long[1], here, "the second run is on the blocking pool");

        // The connection went back without its progress handler: a long plain read on
        // it completes.
        let count = readers.read(counting(rows, Threads::default())).await;
        assert_eq!(count.expect("read"), i64::from(rows));
        assert_eq!(readers.idle.lock().expect("lock").len(), 1);
    }
}
