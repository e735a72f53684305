//! A small pool of read-only connections, used on tokio's blocking pool ([`Readers::read`])
//! or, for lookups by key, right on the calling task ([`Readers::lookup`]).
//!
//! WAL mode lets readers run beside the writer; each read sees the last committed state.
//! A std `Mutex` guards the idle list: it is held only to push or pop, never across I/O.
//!
//! Why two ways: a point read by primary key takes a few microseconds on a warm page
//! cache, while handing it to the blocking pool and back costs two thread wake-ups — in
//! the send profile the scheduler took more of the server's CPU than HTTP, JSON and the
//! app together. So lookups of one row (or a few) by a unique key run inline on the async
//! worker, like any other short computation; anything whose cost can grow with the data
//! keeps using the blocking pool — also a history page (a timeline page skips thread
//! replies and hidden messages, however many lie in its range) and a page's reactions
//! (any number of users per emoji).

use std::path::PathBuf;
use std::sync::Mutex;

use natter_store::StoreError;
use rusqlite::Connection;
use tokio::sync::Semaphore;

use crate::error::store_error;
use crate::{open_connection, search_index, Durability};

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
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
        result
    }

    /// A new read connection, with the search database attached (as `search`).
    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = open_connection(&self.path, self.durability)?;
        search_index::attach(&conn, &self.search_path)?;
        Ok(conn)
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
        let Ok(permit) = self.permits.try_acquire() else {
            return self.read(work).await;
        };
        let idle = self
            .idle
            .lock()
            .map_err(|_| StoreError::Backend("reader pool poisoned".into()))?
            .pop();
        let Some(conn) = idle else {
            drop(permit);
            return self.read(work).await;
        };
        let result = work(&conn);
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
        result
    }
}
