//! Message pages: those that must skip more rows than a page read may take on the calling
//! task (`Readers::bounded`) come out the same as short ones, from the blocking pool; a
//! page's read markers are those of the conversation's participants; and a thread root's
//! summary lists its first followers.

use natter_proto::MessageSeq;
use natter_store::conformance::{group, text, user};
use natter_store::{MessageQuery, Order, Store};
use natter_store_sqlite::{Durability, SqliteOptions, SqliteStore};

#[tokio::test]
async fn a_timeline_page_over_thousands_of_thread_replies_skips_them_all() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut options = SqliteOptions::new(dir.path().join("natter.db"));
    options.durability = Durability::Normal;
    let store = SqliteStore::open(options).expect("open");
    let now = time::OffsetDateTime::now_utc();
    let conversation_id = group(&store, &["alice"]).await;
    let append = |content: &str| store.append_message(text(conversation_id, "alice", content, now));
    let before = append("before").await.expect("append").message;
    let root = append("root").await.expect("append").message;
    // 20,000 replies: skipping them takes the newest-first timeline page past its inline
    // budget of 32,000 VM steps (checked by hand with a print in `Readers::bounded`: 6,000
    // replies did not, 12,000 did).
    for i in 0..20_000 {
        let mut reply = text(conversation_id, "alice", &format!("reply {i}"), now);
        reply.thread_root = Some((root.id, root.seq));
        store.append_message(reply).await.expect("reply");
    }
    let after = append("after").await.expect("append").message;

    let page = |order, after_seq: Option<MessageSeq>, thread: Option<MessageSeq>| {
        store.message_page(
            conversation_id,
            MessageQuery {
                thread,
                viewer: Some(user("alice")),
                before: None,
                after: after_seq,
                limit: 10,
                order,
            },
        )
    };
    let seqs = |messages: &[natter_store::MessageRecord]| {
        messages.iter().map(|m| m.seq).collect::<Vec<_>>()
    };

    let (newest, markers) = page(Order::Descending, None, None).await.expect("page");
    assert_eq!(seqs(&newest), [after.seq, root.seq, before.seq]);
    assert!(markers.viewer_is_participant);
    let (from_root, _) = page(Order::Ascending, Some(root.seq), None)
        .await
        .expect("page");
    assert_eq!(seqs(&from_root), [after.seq]);
    let (replies, _) = page(Order::Ascending, None, Some(root.seq))
        .await
        .expect("thread page");
    assert_eq!(replies.len(), 11, "a full page of replies and one more");
    assert!(replies.iter().all(|m| m.thread_root_seq == Some(root.seq)));
}

/// A page's read markers are those of its participants (`natter_store::conformance`).
#[tokio::test]
async fn a_pages_read_markers_are_those_of_its_participants() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(SqliteOptions::new(dir.path().join("natter.db"))).expect("open");
    natter_store::conformance::read_markers_match_participants(&store).await;
}

/// The member list pages in list order from any cursor (`natter_store::conformance`).
#[tokio::test]
async fn participant_pages_follow_the_list() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(SqliteOptions::new(dir.path().join("natter.db"))).expect("open");
    natter_store::conformance::participant_pages_follow_the_list(&store).await;
}

/// A thread root's summary lists its first followers, at most as many as asked
/// (`natter_store::conformance`).
#[tokio::test]
async fn a_roots_first_followers_come_by_the_time_they_followed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(SqliteOptions::new(dir.path().join("natter.db"))).expect("open");
    natter_store::conformance::thread_followers_first_come(&store).await;
}
