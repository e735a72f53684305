//! Message pages: those that must skip more rows than a page read may take on the calling
//! task (`Readers::bounded`) come out the same as short ones, from the blocking pool; and
//! a page's read markers are those of the conversation's participants.

mod support;

use natter_proto::{MessageSeq, ParticipantRole};
use natter_store::{MessageQuery, NewParticipant, Order, ReadMarkers, RemovalReason, Store};
use natter_store_sqlite::{Durability, SqliteOptions, SqliteStore};
use support::{group, text, user};

#[tokio::test]
async fn a_timeline_page_over_thousands_of_thread_replies_skips_them_all() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut options = SqliteOptions::new(dir.path().join("natter.db"));
    options.durability = Durability::Normal;
    let store = SqliteStore::open(options).expect("open");
    let now = time::OffsetDateTime::now_utc();
    let conversation_id = group(&store, "alice").await;
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

/// A page's read markers, which the store computes without listing the participants,
/// must be exactly those of its participant list, for every kind of viewer.
#[tokio::test]
async fn a_pages_read_markers_are_those_of_its_participants() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(SqliteOptions::new(dir.path().join("natter.db"))).expect("open");
    let now = time::OffsetDateTime::now_utc();
    let conversation_id = group(&store, "alice").await;
    let members = ["bob", "carol", "dave", "erin"].map(|who| NewParticipant {
        user_id: user(who),
        role: ParticipantRole::Member,
    });
    store
        .add_participants(conversation_id, members.to_vec(), now)
        .await
        .expect("members");
    for n in 1..=6 {
        store
            .append_message(text(conversation_id, "alice", &format!("m{n}"), now))
            .await
            .expect("append");
    }
    for (who, read) in [("bob", 2), ("dave", 2), ("carol", 5)] {
        store
            .mark_read(conversation_id, &user(who), MessageSeq(read), now)
            .await
            .expect("read");
    }
    store
        .mark_delivered(conversation_id, &user("erin"), MessageSeq(4), now)
        .await
        .expect("delivered");
    store
        .remove_participant(
            conversation_id,
            &user("dave"),
            RemovalReason::Left,
            None,
            now,
        )
        .await
        .expect("dave leaves");

    let participants = store
        .list_participants(conversation_id)
        .await
        .expect("participants");
    for viewer in [
        Some("alice"),
        Some("bob"),
        Some("erin"),
        Some("dave"),
        Some("frank"),
        None,
    ] {
        let viewer = viewer.map(user);
        let query = MessageQuery {
            thread: None,
            viewer: viewer.clone(),
            before: None,
            after: None,
            limit: 10,
            order: Order::Descending,
        };
        let (_, markers) = store
            .message_page(conversation_id, query)
            .await
            .expect("page");
        assert_eq!(
            markers,
            ReadMarkers::of(&participants, viewer.as_ref()),
            "{viewer:?}"
        );
    }
    // And what that means here, for bob: erin never read, bob read 2 (dave's 2 no longer
    // counts), alice read everything she sent.
    let bob = ReadMarkers::of(&participants, Some(&user("bob")));
    assert!(bob.viewer_is_participant);
    assert_eq!(
        bob.lowest_read,
        [(user("erin"), MessageSeq(0)), (user("bob"), MessageSeq(2))]
    );
    assert_eq!(bob.others_read, Some(MessageSeq(6)));
    assert!(!ReadMarkers::of(&participants, Some(&user("dave"))).viewer_is_participant);
}
