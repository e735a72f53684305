use std::error::Error as StdError;

/// What can go wrong in a store, independent of the backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row a `get_*`/`update_*` method needed does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness or precondition check failed; carries the constraint or rule name.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be reached right now (connection refused, pool timeout).
    /// The request may be retried; the server answers 503.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] Box<dyn StdError + Send + Sync>),
    /// Any other backend failure: a bug or a corrupt database.
    #[error("store backend error: {0}")]
    Backend(#[source] Box<dyn StdError + Send + Sync>),
}

impl StoreError {
    /// Wraps an arbitrary backend error.
    pub fn backend(err: impl StdError + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(err))
    }
}
