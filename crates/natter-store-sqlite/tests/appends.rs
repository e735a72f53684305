//! Appends that check their sender, and fan-out batches (`natter_store::conformance`).

use natter_store_sqlite::{SqliteOptions, SqliteStore};

/// Only an active participant of a conversation that is not blocked may post.
#[tokio::test]
async fn a_checked_append_admits_only_active_participants() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(SqliteOptions::new(dir.path().join("natter.db"))).expect("open");
    natter_store::conformance::check_sender_admits_only_participants(&store).await;
}

/// A fan-out batch carries the members as of its events (`natter_store::conformance`).
#[tokio::test]
async fn a_fanout_batch_carries_the_members() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(SqliteOptions::new(dir.path().join("natter.db"))).expect("open");
    natter_store::conformance::fanout_batch_carries_the_members(&store).await;
}
