//! The one place where `sqlx::Error` becomes [`StoreError`].
//!
//! `Unavailable` is for failures a retry may cure (the database is down, restarting or
//! out of connection slots; the pool is exhausted); the server answers 503 to those.
//! Anything else is `Backend`: a bug or a corrupt database. Migration errors only wrap
//! an `sqlx::Error` or describe a broken migration history, so [`migrate_error`] defers
//! to [`store_error`].

use natter_store::StoreError;
use sqlx::error::ErrorKind;
use sqlx::migrate::MigrateError;

/// Maps a driver error to the store's error model.
pub(crate) fn store_error(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(Box::new(err)),
        sqlx::Error::Database(db) => {
            let code = db.code().map(|code| code.into_owned()).unwrap_or_default();
            let constraint_violation = matches!(
                db.kind(),
                ErrorKind::UniqueViolation
                    | ErrorKind::ForeignKeyViolation
                    | ErrorKind::NotNullViolation
                    | ErrorKind::CheckViolation
            ) || code.starts_with("23");
            if constraint_violation {
                let name = db
                    .constraint()
                    .map_or_else(|| db.message().to_owned(), str::to_owned);
                StoreError::Conflict(name)
            } else if is_unavailable_code(&code) {
                StoreError::Unavailable(Box::new(err))
            } else {
                StoreError::backend(err)
            }
        }
        _ => StoreError::backend(err),
    }
}

/// SQLSTATEs meaning "cannot serve you right now": class 08 (connection exception),
/// `57P01` admin shutdown, `57P02` crash shutdown, `57P03` cannot connect now (starting
/// up or in recovery), `53300` too many connections.
fn is_unavailable_code(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

/// Maps a migration failure: SQL errors as [`store_error`] does, a broken migration
/// history (a shipped migration edited or missing) as `Backend`.
pub(crate) fn migrate_error(err: MigrateError) -> StoreError {
    match err {
        MigrateError::Execute(err) => store_error(err),
        other => StoreError::backend(other),
    }
}
