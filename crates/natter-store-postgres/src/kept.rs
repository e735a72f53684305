//! Pool connections kept aside for the hottest single statements, so that finishing one
//! does not cost a round trip.
//!
//! sqlx 0.8 pings every connection it takes back into its pool (a `Sync` and the wait for
//! `ReadyForQuery`), in case a dropped future left it mid-conversation: one more round
//! trip per statement, off the request's path but not off the CPU — 9.5 % of the natter
//! process's samples during PostgreSQL history paging, and a wake-up of a backend each
//! time (BENCHMARKS.md). A statement that ran to its end leaves nothing to check, so its
//! connection goes to a small shelf here instead, still counted by the pool as in use,
//! and the next hot statement takes it from there.
//!
//! Anything else goes the pool's way: a [`Kept`] dropped without
//! [`Kept::give_back`] (an error, or a future dropped mid-statement) returns its
//! connection to the pool, whose ping settles it. The shelf holds a quarter of the pool
//! at most, so the rest of the store always has connections, and takes none while the
//! pool is exhausted (a caller may be waiting there, which a shelved connection would not
//! serve). A connection that sat on the shelf for [`IDLE_CHECK`] is pinged before use, as
//! the pool does with its own.
//! The pool's `max_lifetime` and `idle_timeout` apply only to connections it holds: a
//! connection stays on the shelf until a failure sends it back (then the pool applies
//! them), which a restarted or failed-over database does at the first statement.

use std::sync::Mutex;
use std::time::Instant;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgPool};
use sqlx::{Connection, Postgres};

use crate::IDLE_CHECK;

/// The shelf of one store.
pub(crate) struct Shelf {
    pool: PgPool,
    idle: Mutex<Vec<(PoolConnection<Postgres>, Instant)>>,
    room: usize,
    max_connections: u32,
}

/// A connection for one statement; see the module doc.
pub(crate) struct Kept<'a> {
    conn: PoolConnection<Postgres>,
    shelf: &'a Shelf,
}

impl Shelf {
    /// A shelf beside `pool`, which may hold `max_connections`.
    pub(crate) fn new(pool: PgPool, max_connections: u32) -> Self {
        let room = usize::try_from(max_connections / 4).unwrap_or(0);
        Self {
            pool,
            idle: Mutex::new(Vec::with_capacity(room)),
            room,
            max_connections,
        }
    }

    /// The pool, for statements that need no shelf.
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A connection from the shelf, or else from the pool.
    pub(crate) async fn take(&self) -> Result<Kept<'_>, sqlx::Error> {
        let shelved = self.lock().pop();
        let conn = match shelved {
            Some((mut conn, since)) if since.elapsed() >= IDLE_CHECK => {
                if conn.ping().await.is_ok() {
                    conn
                } else {
                    // Back to the pool, whose own ping closes it.
                    drop(conn);
                    self.pool.acquire().await?
                }
            }
            Some((conn, _)) => conn,
            None => self.pool.acquire().await?,
        };
        Ok(Kept { conn, shelf: self })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(PoolConnection<Postgres>, Instant)>> {
        // A push or a pop cannot leave the list half-changed: a poisoned lock is usable.
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Kept<'_> {
    /// The connection, to execute on.
    pub(crate) fn conn(&mut self) -> &mut PgConnection {
        &mut self.conn
    }

    /// The statement ran to its end: the connection goes on the shelf if there is room
    /// and the pool is not exhausted, else back to the pool.
    pub(crate) fn give_back(self) {
        let Kept { conn, shelf } = self;
        // With every connection busy or shelved someone may be waiting in the pool, which
        // only a connection handed back to it serves: a shelved one would sit idle while
        // they wait (the mixed scenario on PostgreSQL lost 17 % that way, BENCHMARKS.md).
        let exhausted = shelf.pool.num_idle() == 0 && shelf.pool.size() >= shelf.max_connections;
        let mut idle = shelf.lock();
        if !exhausted && idle.len() < shelf.room {
            idle.push((conn, Instant::now()));
        } else {
            drop(idle);
            drop(conn);
        }
    }
}

#[cfg(test)]
mod tests {
    //! Against a real PostgreSQL (`NATTER_TEST_POSTGRES_URL`; skipped without it). The
    //! shelf needs no schema, so the pool connects to that database as it is.

    use std::time::Duration;

    use sqlx::postgres::PgPoolOptions;

    use super::*;

    async fn pool(max: u32) -> Option<PgPool> {
        let Ok(url) = std::env::var("NATTER_TEST_POSTGRES_URL") else {
            println!("skipped: NATTER_TEST_POSTGRES_URL not set");
            return None;
        };
        Some(
            PgPoolOptions::new()
                .max_connections(max)
                .connect(&url)
                .await
                .expect("connect"),
        )
    }

    async fn backend(kept: &mut Kept<'_>) -> sqlx::Result<i32> {
        sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(kept.conn())
            .await
    }

    fn shelved(shelf: &Shelf) -> usize {
        shelf.lock().len()
    }

    /// The pool takes a dropped connection back on a task of its own (its ping first).
    async fn pool_idle(pool: &PgPool, idle: usize) {
        for _ in 0..100 {
            if pool.num_idle() == idle {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "the pool has {} idle connections, not {idle}",
            pool.num_idle()
        );
    }

    #[tokio::test]
    async fn a_finished_statement_shelves_its_connection_and_a_failed_one_returns_it() {
        let Some(pool) = pool(4).await else {
            return;
        };
        let shelf = Shelf::new(pool.clone(), 4);
        let mut kept = shelf.take().await.expect("take");
        let first = backend(&mut kept).await.expect("pid");
        kept.give_back();
        assert_eq!(shelved(&shelf), 1);

        // The next statement gets the same backend, from the shelf.
        let mut kept = shelf.take().await.expect("take again");
        assert_eq!(shelved(&shelf), 0);
        assert_eq!(backend(&mut kept).await.expect("pid"), first);

        // A failed statement's connection goes back to the pool, not the shelf.
        let failed = sqlx::query("SELECT 1 / 0").execute(kept.conn()).await;
        assert!(failed.is_err());
        drop(kept);
        assert_eq!(shelved(&shelf), 0);
        pool_idle(&pool, 1).await;
    }

    #[tokio::test]
    async fn nothing_is_shelved_while_the_pool_is_exhausted() {
        let Some(pool) = pool(4).await else {
            return;
        };
        let shelf = Shelf::new(pool.clone(), 4);
        let mut all = Vec::new();
        for _ in 0..4 {
            let mut kept = shelf.take().await.expect("take");
            backend(&mut kept).await.expect("pid");
            all.push(kept);
        }
        assert_eq!((pool.size(), pool.num_idle()), (4, 0));
        // Every connection is out: one given back serves whoever waits in the pool.
        all.pop().expect("a connection").give_back();
        assert_eq!(shelved(&shelf), 0);
        pool_idle(&pool, 1).await;
        // With one idle in the pool again, the next one given back is shelved.
        all.pop().expect("a connection").give_back();
        assert_eq!(shelved(&shelf), 1);
    }
}
