//! The retention purge clears deleted content (and its edit history) and nothing else.

use natter_store::conformance::{group, text, user};
use natter_store::{MessageEdit, Store};
use natter_store_sqlite::{SqliteOptions, SqliteStore};

#[tokio::test]
async fn purge_clears_content_of_messages_deleted_before_the_cutoff() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(SqliteOptions::new(dir.path().join("natter.db"))).expect("open");
    let now = time::OffsetDateTime::now_utc();
    let conversation_id = group(&store, &["alice"]).await;
    let mut ids = Vec::new();
    for content in ["keep", "old secret", "recent secret"] {
        let outcome = store
            .append_message(text(conversation_id, "alice", content, now))
            .await
            .expect("append");
        ids.push(outcome.message.id);
    }
    store
        .edit_message(MessageEdit {
            message_id: ids[1],
            content: "old secret v2".into(),
            pii_masked: false,
            now,
        })
        .await
        .expect("edit");
    let long_ago = now - time::Duration::days(40);
    store
        .delete_message(ids[1], Some(&user("alice")), long_ago)
        .await
        .expect("delete old");
    store
        .delete_message(ids[2], Some(&user("alice")), now)
        .await
        .expect("delete recent");
    let purged = store
        .purge_deleted(now - time::Duration::days(30), 100)
        .await
        .expect("purge");
    assert_eq!(purged, 1, "only the message deleted before the cutoff");
    let old = store
        .find_message(ids[1])
        .await
        .expect("find")
        .expect("tombstone stays");
    assert_eq!(old.content, None);
    assert!(old.deleted_at.is_some());
    let edits = store.list_message_edits(ids[1]).await.expect("edits");
    assert!(
        edits.iter().all(|e| e.content.is_none()),
        "edit history purged too"
    );
    let recent = store
        .find_message(ids[2])
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(
        recent.content.as_deref(),
        Some("recent secret"),
        "kept until its retention ends"
    );
    let kept = store
        .find_message(ids[0])
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(kept.content.as_deref(), Some("keep"));
    assert_eq!(
        store
            .purge_deleted(now - time::Duration::days(30), 100)
            .await
            .expect("again"),
        0
    );
}
