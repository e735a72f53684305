//! The per-conversation event log and sync.

use natter_proto::{event_type, AddParticipants, EventSeq, MarkRead, UpdateConversation};
use natter_testkit::TestServer;

use crate::helpers::{group, say, status_code};

#[tokio::test]
async fn every_change_is_logged_in_order_with_gap_free_event_seqs() {
    let server = TestServer::spawn().await;
    let (alice, bob, carol) = (
        server.user("alice"),
        server.user("bob"),
        server.user("carol"),
    );
    let g = group(&alice, "g", &[&bob]).await;
    let message = say(&alice, &g, "hello").await;
    bob.mark_read(g.id, &MarkRead::default())
        .await
        .expect("read");
    alice
        .add_participants(
            g.id,
            &AddParticipants {
                user_ids: vec![carol.id.clone()],
                role: None,
            },
        )
        .await
        .expect("add");
    alice
        .update_conversation(
            g.id,
            &UpdateConversation {
                title: Some("renamed".into()),
                ..Default::default()
            },
        )
        .await
        .expect("rename");
    carol.leave(g.id).await.expect("leave");
    let page = bob.events(g.id, EventSeq(0), None).await.expect("events");
    let kinds: Vec<_> = page.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        vec![
            event_type::CONVERSATION_CREATED,
            event_type::MESSAGE_CREATED,
            event_type::RECEIPT_UPDATED,
            event_type::PARTICIPANT_ADDED,
            event_type::CONVERSATION_UPDATED,
            event_type::PARTICIPANT_REMOVED,
        ]
    );
    let seqs: Vec<_> = page.events.iter().map(|e| e.seq.0).collect();
    assert_eq!(seqs, (1..=6).collect::<Vec<_>>());
    assert_eq!(page.latest_seq, EventSeq(6));
    assert!(!page.has_more);
    assert_eq!(page.events[1].data["id"], serde_json::json!(message.id));
    assert_eq!(page.events[1].data["content"], "hello");
    assert_eq!(page.events[2].data["user_id"], "bob");
    assert_eq!(page.events[2].data["last_read_seq"], 1);
    assert_eq!(page.events[5].data["reason"], "left");
    let tail = bob.events(g.id, EventSeq(4), Some(1)).await.expect("tail");
    assert_eq!(tail.events.len(), 1);
    assert_eq!(tail.events[0].seq, EventSeq(5));
    assert!(tail.has_more);
    assert_eq!(
        status_code(carol.events(g.id, EventSeq(0), None).await),
        (404, "conversation_not_found".into())
    );
    assert_eq!(
        status_code(bob.events(g.id, EventSeq(0), Some(0)).await).0,
        422
    );
}

#[tokio::test]
async fn sync_lists_changed_conversations_and_removals() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let a = group(&alice, "a", &[&bob]).await;
    let b = group(&alice, "b", &[&bob]).await;
    let full = bob.sync(None).await.expect("full sync");
    assert_eq!(full.conversations.len(), 2);
    let a_entry = full
        .conversations
        .iter()
        .find(|e| e.conversation_id == a.id)
        .expect("a listed");
    assert_eq!(a_entry.latest_seq, EventSeq(1));
    assert!(!a_entry.removed);
    say(&alice, &a, "news").await;
    let delta = bob.sync(Some(&full.next_token)).await.expect("delta");
    let a_entry = delta
        .conversations
        .iter()
        .find(|e| e.conversation_id == a.id)
        .expect("a changed");
    assert_eq!(a_entry.latest_seq, EventSeq(2));
    alice
        .remove_participant(b.id, &bob.id)
        .await
        .expect("remove bob");
    let after_removal = bob.sync(Some(&delta.next_token)).await.expect("sync");
    let b_entry = after_removal
        .conversations
        .iter()
        .find(|e| e.conversation_id == b.id)
        .expect("b reported");
    assert!(b_entry.removed);
    assert_eq!(status_code(bob.sync(Some("not-a-token")).await).0, 422);
}
