//! Embedded, append-only migrations. Never edit one that has shipped: add a new file.

use rusqlite::Connection;

use crate::error::store_error;
use crate::SqliteOptions;

/// `(version, sql)` in order.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_core.sql")),
    (3, include_str!("../migrations/0003_lifecycle.sql")),
];

/// Applies the pending migrations inside one transaction each.
pub(crate) fn apply(conn: &mut Connection) -> rusqlite::Result<usize> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )?;
    let current: i64 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |row| row.get(0),
    )?;
    let mut applied = 0;
    for (version, sql) in MIGRATIONS.iter().filter(|(version, _)| *version > current) {
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
