//! Embedded, append-only migrations. Never edit one that has shipped: add a new file.

use rusqlite::Connection;

use crate::error::store_error;
use crate::SqliteOptions;

/// `(version, sql)` in order.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_core.sql")),
    (2, include_str!("../migrations/0002_search.sql")),
    (3, include_str!("../migrations/0003_lifecycle.sql")),
    (4, include_str!("../migrations/0004_admin.sql")),
    (5, include_str!("../migrations/0005_invitations.sql")),
    (6, include_str!("../migrations/0006_settings.sql")),
    (7, include_str!("../migrations/0007_threads.sql")),
    (10, include_str!("../migrations/0010_attachments.sql")),
    (11, include_str!("../migrations/0011_search_queue.sql")),
    (12, include_str!("../migrations/0012_has_reactions.sql")),
    (
        13,
        include_str!("../migrations/0013_read_marker_indexes.sql"),
    ),
    (
        14,
        include_str!("../migrations/0014_thread_followers_by_since.sql"),
    ),
    (15, include_str!("../migrations/0015_reaction_counts.sql")),
    (
        16,
        include_str!("../migrations/0016_unread_by_deletions.sql"),
    ),
    (
        17,
        include_str!("../migrations/0017_messages_with_mentions.sql"),
    ),
    (
        18,
        include_str!("../migrations/0018_participants_by_joined.sql"),
    ),
];

/// Applies the pending migrations inside one transaction each.
pub(crate) fn apply(conn: &mut Connection) -> rusqlite::Result<usize> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )?;
    // Every migration not applied yet runs, also one numbered below the newest applied
    // (as sqlx does on PostgreSQL): branches that add migrations in parallel may land in
    // any order.
    let done: Vec<i64> = conn
        .prepare("SELECT version FROM schema_migrations")?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut applied = 0;
    for (version, sql) in MIGRATIONS
        .iter()
        .filter(|(version, _)| !done.contains(version))
    {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, unixepoch() * 1000000)",
            [version],
        )?;
        tx.commit()?;
        applied += 1;
    }
    Ok(applied)
}

/// Opens the database and applies pending migrations; returns how many ran.
/// Used by `natter migrate`.
pub fn migrate(options: &SqliteOptions) -> Result<usize, natter_store::StoreError> {
    if let Some(dir) = options.path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(natter_store::StoreError::backend)?;
        }
    }
    let mut conn =
        crate::open_connection(&options.path, options.durability).map_err(store_error)?;
    apply(&mut conn).map_err(store_error)
}
