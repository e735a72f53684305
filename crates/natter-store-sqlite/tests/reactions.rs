//! Reactions: the `has_reactions` flag, which lets pages skip reading them, and the groups
//! a page shows.

use natter_store::Store;
use natter_store_sqlite::{SqliteOptions, SqliteStore};

#[tokio::test]
async fn has_reactions_is_set_by_a_reaction_and_cleared_with_the_last() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(SqliteOptions::new(dir.path().join("natter.db"))).expect("open");
    let other = natter_store::conformance::has_reactions_follows_reactions(&store).await;
    // A reaction written by another writer (an older binary after a rollback) sets the
    // flag too: the trigger does it, not the store's code.
    let conn = rusqlite::Connection::open(dir.path().join("natter.db")).expect("open directly");
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .expect("busy timeout");
    conn.execute(
        "INSERT INTO reactions (message_id, emoji, user_id, created_at) VALUES (?1, '😀', 'alice', 0)",
        [other.id.0],
    )
    .expect("insert a reaction directly");
    let flagged = store
        .find_message(other.id)
        .await
        .expect("find")
        .expect("exists");
    assert!(flagged.has_reactions);
    // And its trigger counts it for the page's groups, and uncounts it when deleted.
    let groups = || natter_store::conformance::emoji_counts(&store, other.id);
    assert_eq!(groups().await, [("😀".to_owned(), 1, 1)]);
    conn.execute("DELETE FROM reactions WHERE message_id = ?1", [other.id.0])
        .expect("delete directly");
    assert!(groups().await.is_empty());
}

/// A page's reaction groups add up to the reactions (`natter_store::conformance`).
#[tokio::test]
async fn reaction_groups_add_up_to_the_reactions() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(SqliteOptions::new(dir.path().join("natter.db"))).expect("open");
    natter_store::conformance::reaction_groups_add_up(&store).await;
}

/// One emoji's reactions page by time then user, from any cursor
/// (`natter_store::conformance`).
#[tokio::test]
async fn reactors_page_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(SqliteOptions::new(dir.path().join("natter.db"))).expect("open");
    natter_store::conformance::reactors_page_in_order(&store).await;
}
