//! The store's `has_reactions` flag, which lets pages skip reading reactions.

mod support;

use natter_store::Store;
use natter_store_sqlite::{SqliteOptions, SqliteStore};
use support::{group, text, user};

/// `has_reactions` lets pages skip reading reactions, so it must never be false while a
/// reaction is on the message.
#[tokio::test]
async fn has_reactions_is_set_by_a_reaction_and_cleared_with_the_last() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(SqliteOptions::new(dir.path().join("natter.db"))).expect("open");
    let now = time::OffsetDateTime::now_utc();
    let conversation_id = group(&store, "alice").await;
    let appended = store
        .append_message(text(conversation_id, "alice", "react to me", now))
        .await
        .expect("append")
        .message;
    assert!(!appended.has_reactions);
    let current = || async {
        store
            .find_message(appended.id)
            .await
            .expect("find")
            .expect("exists")
    };
    for (who, emoji) in [("alice", "👍"), ("bob", "👍"), ("bob", "🎉")] {
        store
            .add_reaction(&current().await, &user(who), emoji, 20, now)
            .await
            .expect("react");
        assert!(current().await.has_reactions, "after {who} {emoji}");
    }
    for (who, emoji, left) in [
        ("bob", "👍", true),
        ("alice", "👍", true),
        ("bob", "🎉", false),
    ] {
        store
            .remove_reaction(&current().await, &user(who), emoji, now)
            .await
            .expect("unreact");
        assert_eq!(
            current().await.has_reactions,
            left,
            "after removing {who} {emoji}"
        );
    }
    // A reaction written by another writer (an older binary after a rollback) sets the
    // flag too: the trigger does it, not the store's code.
    let other = store
        .append_message(text(conversation_id, "alice", "react from outside", now))
        .await
        .expect("append")
        .message;
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
}
