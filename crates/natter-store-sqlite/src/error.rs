//! The one place where `rusqlite::Error` becomes [`StoreError`].

use natter_store::StoreError;
use rusqlite::ErrorCode;

/// Maps a driver error to the store's error model.
pub(crate) fn store_error(err: rusqlite::Error) -> StoreError {
    match &err {
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
        rusqlite::Error::SqliteFailure(failure, message) => match failure.code {
            ErrorCode::ConstraintViolation => {
                StoreError::Conflict(message.clone().unwrap_or_else(|| "constraint".into()))
            }
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                StoreError::Unavailable(Box::new(err))
            }
            _ => StoreError::backend(err),
        },
        _ => StoreError::backend(err),
    }
}
