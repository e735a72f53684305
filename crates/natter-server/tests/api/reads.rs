//! Read markers and unread counts.

use natter_proto::{BulkMarkRead, MarkRead, MessageSeq};
use natter_testkit::TestServer;

use crate::helpers::{group, say, status_code};

#[tokio::test]
async fn marking_read_moves_forward_only_and_counts_what_it_marked() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "g", &[&bob]).await;
    let mut messages = Vec::new();
    for i in 0..5 {
        messages.push(say(&alice, &g, &format!("m{i}")).await);
    }
    assert_eq!(bob.conversation(g.id).await.expect("get").unread_count, 5);
    let partial = bob
        .mark_read(
            g.id,
            &MarkRead {
                up_to_message_id: Some(messages[2].id),
            },
        )
        .await
        .expect("read 3");
    assert_eq!(
        (
            partial.marked_count,
            partial.last_read_seq,
            partial.unread_count
        ),
        (3, MessageSeq(3), 2)
    );
    let backwards = bob
        .mark_read(
            g.id,
            &MarkRead {
                up_to_message_id: Some(messages[0].id),
            },
        )
        .await
        .expect("backwards");
    assert_eq!(
        (
            backwards.marked_count,
            backwards.last_read_seq,
            backwards.unread_count
        ),
        (0, MessageSeq(3), 2)
    );
    let all = bob
        .mark_read(g.id, &MarkRead::default())
        .await
        .expect("read all");
    assert_eq!(
        (all.marked_count, all.last_read_seq, all.unread_count),
        (2, MessageSeq(5), 0)
    );
    let again = bob
        .mark_read(g.id, &MarkRead::default())
        .await
        .expect("again");
    assert_eq!(again.marked_count, 0);
    let other = group(&alice, "other", &[]).await;
    let foreign = say(&alice, &other, "x").await;
    assert_eq!(
        status_code(
            bob.mark_read(
                g.id,
                &MarkRead {
                    up_to_message_id: Some(foreign.id)
                }
            )
            .await
        ),
        (404, "message_not_found".into())
    );
}

#[tokio::test]
async fn own_messages_are_never_unread_and_sending_reads_the_conversation() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "g", &[&bob]).await;
    say(&alice, &g, "one").await;
    say(&alice, &g, "two").await;
    assert_eq!(alice.conversation(g.id).await.expect("get").unread_count, 0);
    assert_eq!(bob.conversation(g.id).await.expect("get").unread_count, 2);
    say(&bob, &g, "reply").await;
    let bob_view = bob.conversation(g.id).await.expect("get");
    assert_eq!(
        bob_view.unread_count, 0,
        "replying marks what came before as read"
    );
    assert_eq!(bob_view.me.map(|me| me.last_read_seq), Some(MessageSeq(3)));
    assert_eq!(alice.conversation(g.id).await.expect("get").unread_count, 1);
}

#[tokio::test]
async fn patch_message_read_and_bulk_read() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let a = group(&alice, "a", &[&bob]).await;
    let b = group(&alice, "b", &[&bob]).await;
    let c = group(&alice, "c", &[&bob]).await;
    let first = say(&alice, &a, "a1").await;
    say(&alice, &a, "a2").await;
    say(&alice, &b, "b1").await;
    say(&alice, &c, "c1").await;
    let summary = bob.unread().await.expect("summary");
    assert_eq!((summary.total, summary.conversations_with_unread), (4, 3));
    let one = bob.mark_message_read(first.id).await.expect("patch read");
    assert_eq!((one.marked_count, one.unread_count), (1, 1));
    let bulk = bob
        .mark_read_bulk(&BulkMarkRead {
            conversation_ids: vec![a.id, b.id],
            all: false,
        })
        .await
        .expect("bulk");
    assert_eq!(bulk.marked_count, 2);
    assert_eq!(bob.unread().await.expect("summary").total, 1);
    let everything = bob
        .mark_read_bulk(&BulkMarkRead {
            conversation_ids: vec![],
            all: true,
        })
        .await
        .expect("all");
    assert_eq!(everything.marked_count, 1);
    let summary = bob.unread().await.expect("summary");
    assert_eq!((summary.total, summary.conversations.len()), (0, 0));
    assert_eq!(
        status_code(bob.mark_read_bulk(&BulkMarkRead::default()).await).0,
        422
    );
    assert_eq!(
        status_code(
            bob.mark_read_bulk(&BulkMarkRead {
                conversation_ids: vec![a.id],
                all: true
            })
            .await
        )
        .0,
        422
    );
    // Conversations the caller is not in are skipped, not revealed.
    let private = group(&alice, "private", &[]).await;
    say(&alice, &private, "secret").await;
    let skipped = bob
        .mark_read_bulk(&BulkMarkRead {
            conversation_ids: vec![private.id],
            all: false,
        })
        .await
        .expect("skip");
    assert!(skipped.results.is_empty());
}

/// Unread mentions count only mentions of the reader after their marker in messages
/// still there, and not the reader's own messages mentioning themselves.
#[tokio::test]
async fn unread_mentions_follow_reads_and_deletions() {
    let server = TestServer::spawn().await;
    let (alice, bob, carol) = (
        server.user("alice"),
        server.user("bob"),
        server.user("carol"),
    );
    let g = group(&alice, "g", &[&bob, &carol]).await;
    let mut sent = Vec::new();
    for mentions in [
        vec![bob.id.clone()],
        vec![],
        vec![carol.id.clone()],
        vec![bob.id.clone(), carol.id.clone()],
        vec![bob.id.clone()],
    ] {
        let request = natter_proto::SendMessage {
            content: Some("hey".into()),
            mentions,
            ..Default::default()
        };
        sent.push(
            alice
                .send_message(g.id, &request)
                .await
                .expect("send")
                .value,
        );
    }
    let mentions = |user: &natter_testkit::TestUser| {
        let user = user.clone();
        async move {
            let summary = user.unread().await.expect("summary");
            (summary.total, summary.mentions_total)
        }
    };
    assert_eq!(mentions(&bob).await, (5, 3));
    assert_eq!(mentions(&carol).await, (5, 2));
    alice
        .delete_message(sent[3].id, true)
        .await
        .expect("delete for everyone");
    assert_eq!(mentions(&bob).await, (4, 2), "a deleted mention goes");
    bob.mark_message_read(sent[1].id).await.expect("read two");
    assert_eq!(mentions(&bob).await, (2, 1), "a read one too");
    // Bob's own message mentioning himself is never unread.
    let request = natter_proto::SendMessage {
        content: Some("note to self".into()),
        mentions: vec![bob.id.clone()],
        ..Default::default()
    };
    bob.send_message(g.id, &request).await.expect("send");
    assert_eq!(
        mentions(&bob).await,
        (0, 0),
        "sending read the conversation"
    );
    assert_eq!(mentions(&carol).await, (5, 1));
}
