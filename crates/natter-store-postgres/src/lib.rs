//! Natter's scale-out store: PostgreSQL through sqlx, shared by any number of server
//! processes.
//!
//! It behaves exactly like `natter-store-sqlite`, method by method: same records, same
//! errors, byte-identical event logs (payloads come from `natter_store::payload`). What
//! SQLite gets from its single writer thread, this crate gets from row locks, because
//! several processes write to one database:
//!
//! - Every write transaction that touches a conversation locks its `conversations` row
//!   first (an `UPDATE` of its counters or `SELECT … FOR NO KEY UPDATE`). Message and
//!   event seqs are assigned by `UPDATE … SET last_*_seq = last_*_seq + 1 RETURNING`
//!   under that lock, so they are gap-free and commit order is seq order.
//! - Locks are taken in one order (conversation rows, by id when there are several,
//!   then user rows by id, then participant rows), so writers never deadlock.
//! - Idempotency races (the same `client_message_id` or `unique_key` sent twice at once)
//!   are settled by unique indexes; the loser rolls back and returns the winner's row.
//! - Concurrent plain appends to one conversation are committed in batches, one
//!   statement each (`appends`), so one busy conversation is not bound to one commit
//!   flush per message.
//!
//! This crate deliberately does not use sqlx's `query!` macros: they need a database at
//! build time. Where to look next: [`queries`] for the SQL, [`error`] for the error
//! mapping, `migrations/` for the schema.

#![forbid(unsafe_code)]

mod admin;
mod appends;
mod attachments;
mod error;
mod kept;
mod queries;
mod rows;
mod search;

use std::time::Duration;

use natter_store::StoreError;
use sqlx::migrate::{Migrate, Migrator};
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::Connection;

use crate::error::{migrate_error, store_error};

/// The embedded migrations, applied in order; never edit one that has shipped.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Options of [`PostgresStore::connect`].
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Connection URL, e.g. `postgres://natter@db.internal:5432/natter`.
    pub url: String,
    /// Most connections this process holds.
    pub max_connections: u32,
    /// How long a request waits for a free connection before `Unavailable`.
    pub acquire_timeout: Duration,
    /// Apply pending migrations when connecting.
    pub migrate: bool,
}

impl PostgresOptions {
    /// Defaults for a database URL: 16 connections, 5 s acquire timeout, migrate.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            migrate: true,
        }
    }
}

/// Pooled connections idle at least this long are pinged before use.
const IDLE_CHECK: Duration = Duration::from_secs(5);

/// The PostgreSQL implementation of [`natter_store::Store`]. Cloning shares the pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// Connections of the pool kept aside for the hottest statements (`kept`).
    shelf: std::sync::Arc<kept::Shelf>,
    /// Appends waiting for their conversation's append in flight (group commit).
    appends: std::sync::Arc<appends::Appends>,
}

impl PostgresStore {
    /// Connects (failing fast with `Unavailable` when the database cannot be reached) and
    /// applies pending migrations unless disabled. Several processes may connect at once:
    /// the migrator serialises them with an advisory lock.
    pub async fn connect(options: PostgresOptions) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            // sqlx's `test_before_acquire` pings before every query: a second round trip
            // on each request's path. A connection idle for a while is checked; a busy one
            // has just proved itself (and a failure there surfaces as that query's error).
            // sqlx 0.8 still pings each connection it takes back, off the request's path.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= IDLE_CHECK {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect(&options.url)
            .await
            .map_err(store_error)?;
        if options.migrate {
            MIGRATOR.run(&pool).await.map_err(migrate_error)?;
        }
        Ok(Self {
            shelf: std::sync::Arc::new(kept::Shelf::new(pool.clone(), options.max_connections)),
            pool,
            appends: Default::default(),
        })
    }
}

/// Connects to `url` and applies the pending migrations; returns how many ran.
/// Used by `natter migrate`.
pub async fn migrate(url: &str) -> Result<usize, StoreError> {
    let mut conn = PgConnection::connect(url).await.map_err(store_error)?;
    conn.ensure_migrations_table()
        .await
        .map_err(migrate_error)?;
    let before = conn
        .list_applied_migrations()
        .await
        .map_err(migrate_error)?
        .len();
    MIGRATOR
        .run_direct(&mut conn)
        .await
        .map_err(migrate_error)?;
    let after = conn
        .list_applied_migrations()
        .await
        .map_err(migrate_error)?
        .len();
    if let Err(err) = conn.close().await {
        tracing::debug!(error = %err, "closing the migration connection failed");
    }
    Ok(after.saturating_sub(before))
}
