//! The storage boundary of Natter: one [`Store`] trait whose methods are atomic use cases
//! (not tables), the records they return, and [`StoreError`].
//!
//! Two crates implement it: `natter-store-sqlite` (embedded default) and
//! `natter-store-postgres` (scale-out). Only those two know SQL. Business rules
//! (who may do what, validation) live in `natter-app`; a store method only guarantees
//! atomicity and the invariants written on it. Event payloads are built here, in
//! [`payload`], so that both stores write byte-identical event logs.

pub mod admin;
pub mod attachments;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
pub mod payload;
mod records;
pub mod search;
pub mod stats;
mod store;

pub use admin::AdminStore;
pub use attachments::{AttachmentRecord, AttachmentStore};
pub use error::StoreError;
pub use records::*;
pub use search::SearchStore;
pub use stats::{CommitSnapshot, CommitStats};
pub use store::Store;

/// Microseconds since the Unix epoch: how both stores keep timestamps.
pub fn to_micros(ts: natter_proto::Timestamp) -> i64 {
    // i64 microseconds cover ±292,000 years; the nanosecond division cannot overflow i64
    // for any OffsetDateTime the `time` crate can represent within that range.
    (ts.unix_timestamp_nanos() / 1_000) as i64
}

/// Inverse of [`to_micros`]; out-of-range values (only from a corrupt row) clamp to the epoch.
pub fn from_micros(micros: i64) -> natter_proto::Timestamp {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// Truncates `now` to microseconds, the precision both stores keep, so that what a
/// service returns right after a write equals what a later read returns.
pub fn truncate_to_micros(ts: natter_proto::Timestamp) -> natter_proto::Timestamp {
    from_micros(to_micros(ts))
}

/// The first 100 characters of a message, as stored in the conversation's preview.
pub fn preview_text(content: Option<&str>) -> String {
    content
        .map(|c| c.chars().take(100).collect())
        .unwrap_or_default()
}
