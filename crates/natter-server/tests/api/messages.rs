//! Sending and reading messages: validation, idempotency, gap-free seqs, pages, receipts.

use std::collections::BTreeSet;

use natter_client::{MessageFilter, SortOrder};
use natter_proto::{DeliveryState, DirectMessage, MessageSeq, MessageType, SendMessage};
use natter_testkit::TestServer;

use crate::helpers::{direct, group, say, status_code, text};

#[tokio::test]
async fn a_sent_message_is_numbered_normalised_and_listed() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "g", &[&bob]).await;
    let first = alice
        .send_message(g.id, &text("Cafe\u{301} at 10?\n\tok"))
        .await
        .expect("send");
    assert!(first.created);
    let message = first.value;
    assert_eq!(message.seq, MessageSeq(1));
    assert_eq!(message.kind, MessageType::Text);
    assert_eq!(message.content.as_deref(), Some("Café at 10?\n\tok"));
    assert_eq!(message.sender_id, Some(alice.id.clone()));
    assert_eq!(message.delivery, Some(DeliveryState::Sent));
    let second = say(&bob, &g, "yes").await;
    assert_eq!(second.seq, MessageSeq(2));
    let fetched = bob.message(message.id).await.expect("get");
    assert_eq!(fetched.content, message.content);
    assert_eq!(
        fetched.delivery, None,
        "delivery state is only shown to the sender"
    );
    let conversation = alice.conversation(g.id).await.expect("conversation");
    assert_eq!(conversation.message_count, 2);
    assert_eq!(conversation.last_message_seq, MessageSeq(2));
    assert_eq!(
        conversation.last_message.map(|p| p.text),
        Some("yes".into())
    );
}

#[tokio::test]
async fn content_rules_are_enforced() {
    let server = TestServer::spawn_with(|config| config.limits.max_message_chars = 10).await;
    let alice = server.user("alice");
    let g = group(&alice, "g", &[]).await;
    for (content, field_code) in [
        ("", "empty"),
        ("   \n ", "empty"),
        ("nul\u{0}byte", "control_character"),
        ("bell\u{7}", "control_character"),
        ("abcdefghijk", "too_long"),
    ] {
        let err = alice
            .send_message(g.id, &text(content))
            .await
            .expect_err("rejected");
        assert_eq!(err.status(), Some(422));
        let problem = err.problem().expect("problem body");
        assert_eq!(problem.code, "validation_failed");
        assert_eq!(problem.errors[0].field, "content");
        assert_eq!(problem.errors[0].code, field_code, "{content:?}");
    }
    assert!(
        alice.send_message(g.id, &text("ten chars!")).await.is_ok(),
        "exactly the limit is fine"
    );
    assert!(
        alice.send_message(g.id, &text("éééééééééé")).await.is_ok(),
        "the limit counts characters, not bytes"
    );
    let missing = alice.send_message(g.id, &SendMessage::default()).await;
    assert_eq!(status_code(missing), (422, "validation_failed".into()));
    let image = alice
        .send_message(
            g.id,
            &SendMessage {
                kind: Some(MessageType::Image),
                ..text("x")
            },
        )
        .await;
    assert_eq!(status_code(image), (422, "validation_failed".into()));
    let page = alice
        .list_messages(g.id, &MessageFilter::default())
        .await
        .expect("list");
    assert_eq!(page.items.len(), 2, "rejected sends stored nothing");
}

#[tokio::test]
async fn system_messages_come_only_from_the_server_key() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "g", &[&bob]).await;
    let system = SendMessage {
        kind: Some(MessageType::System),
        ..text("Order #123 shipped")
    };
    assert_eq!(
        status_code(alice.send_message(g.id, &system).await),
        (422, "validation_failed".into())
    );
    let sent = server
        .server()
        .send_message(g.id, &system)
        .await
        .expect("server sends")
        .value;
    assert_eq!(sent.sender_id, None);
    assert_eq!(sent.kind, MessageType::System);
    assert_eq!(
        bob.conversation(g.id).await.expect("get").unread_count,
        1,
        "system messages count as unread"
    );
}

#[tokio::test]
async fn a_retry_with_the_same_client_message_id_returns_the_original() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "g", &[&bob]).await;
    let request = SendMessage {
        client_message_id: Some("c-1".into()),
        ..text("once")
    };
    let first = alice.send_message(g.id, &request).await.expect("first");
    let retry = alice.send_message(g.id, &request).await.expect("retry");
    assert!(first.created && !retry.created);
    assert_eq!(retry.value.id, first.value.id);
    assert_eq!(retry.value.client_message_id.as_deref(), Some("c-1"));
    // The key is per sender: bob may use the same one.
    let bobs = bob.send_message(g.id, &request).await.expect("bob");
    assert!(bobs.created);
    let other = group(&alice, "other", &[]).await;
    assert_eq!(
        status_code(alice.send_message(other.id, &request).await),
        (409, "client_message_id_reused".into())
    );
    let page = alice
        .list_messages(g.id, &MessageFilter::default())
        .await
        .expect("list");
    assert_eq!(page.items.len(), 2);
    assert_eq!(
        status_code(
            alice
                .send_message(
                    g.id,
                    &SendMessage {
                        client_message_id: Some("has space".into()),
                        ..text("x")
                    }
                )
                .await
        )
        .0,
        422
    );
}

#[tokio::test]
async fn twenty_concurrent_retries_create_exactly_one_message() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice");
    let g = group(&alice, "g", &[]).await;
    let request = SendMessage {
        client_message_id: Some("same-key".into()),
        ..text("hello")
    };
    let sends = (0..20).map(|_| {
        let (alice, request) = (alice.clone(), request.clone());
        async move { alice.send_message(g.id, &request).await.expect("send") }
    });
    let results = futures::future::join_all(sends).await;
    let ids: BTreeSet<_> = results.iter().map(|r| r.value.id).collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(results.iter().filter(|r| r.created).count(), 1);
    let next = say(&alice, &g, "next").await;
    assert_eq!(next.seq, MessageSeq(2), "duplicates consumed no seq");
}

#[tokio::test]
async fn fifty_concurrent_senders_get_gap_free_seqs() {
    let server = TestServer::spawn().await;
    let users: Vec<_> = (0..10).map(|i| server.user(&format!("user{i}"))).collect();
    let g = group(&users[0], "busy", &users[1..].iter().collect::<Vec<_>>()).await;
    let sends = (0..50).map(|i| {
        let user = users[i % users.len()].clone();
        async move {
            user.send_text(g.id, &format!("message {i}"))
                .await
                .expect("send")
        }
    });
    let messages = futures::future::join_all(sends).await;
    let mut seqs: Vec<u64> = messages.iter().map(|m| m.seq.0).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=50).collect::<Vec<_>>());
    let mut stored = Vec::new();
    let mut filter = MessageFilter::default().order(SortOrder::Asc).limit(100);
    loop {
        let page = users[0].list_messages(g.id, &filter).await.expect("page");
        stored.extend(page.items.iter().map(|m| (m.seq.0, m.id)));
        match page.next {
            Some(next) => filter.after = Some(next),
            None => break,
        }
    }
    assert_eq!(stored.len(), 50);
    for message in &messages {
        assert!(
            stored.contains(&(message.seq.0, message.id)),
            "every acknowledged message is stored under its seq"
        );
    }
}

#[tokio::test]
async fn pages_walk_backwards_and_forwards_without_gaps() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice");
    let g = group(&alice, "g", &[]).await;
    let mut sent = Vec::new();
    for i in 1..=25 {
        sent.push(say(&alice, &g, &format!("m{i}")).await);
    }
    let newest = alice
        .list_messages(g.id, &MessageFilter::default().limit(10))
        .await
        .expect("newest");
    assert_eq!(
        newest.items.iter().map(|m| m.seq.0).collect::<Vec<_>>(),
        (16..=25).rev().collect::<Vec<_>>()
    );
    let next = newest.next.clone().expect("more");
    assert_eq!(next, "16");
    let older = alice
        .list_messages(
            g.id,
            &MessageFilter {
                before: Some(next),
                ..MessageFilter::default().limit(10)
            },
        )
        .await
        .expect("older");
    assert_eq!(older.items.first().map(|m| m.seq.0), Some(15));
    let oldest = alice
        .list_messages(
            g.id,
            &MessageFilter::default().before_seq(MessageSeq(6)).limit(10),
        )
        .await
        .expect("oldest");
    assert_eq!(oldest.items.len(), 5);
    assert!(oldest.next.is_none());
    let after = alice
        .list_messages(g.id, &MessageFilter::default().after_message(sent[19].id))
        .await
        .expect("after id");
    assert_eq!(
        after.items.iter().map(|m| m.seq.0).collect::<Vec<_>>(),
        vec![21, 22, 23, 24, 25],
        "only `after` means oldest first"
    );
    let window = alice
        .list_messages(
            g.id,
            &MessageFilter::default()
                .after_seq(MessageSeq(3))
                .before_seq(MessageSeq(7))
                .order(SortOrder::Asc),
        )
        .await
        .expect("window");
    assert_eq!(
        window.items.iter().map(|m| m.seq.0).collect::<Vec<_>>(),
        vec![4, 5, 6]
    );
    for bad in [
        MessageFilter::default().limit(0),
        MessageFilter::default().limit(101),
        MessageFilter {
            before: Some("nope".into()),
            ..Default::default()
        },
    ] {
        assert_eq!(
            status_code(alice.list_messages(g.id, &bad).await).0,
            422,
            "{bad:?}"
        );
    }
    let other = group(&alice, "other", &[]).await;
    let foreign = say(&alice, &other, "elsewhere").await;
    assert_eq!(
        status_code(
            alice
                .list_messages(g.id, &MessageFilter::default().before_message(foreign.id))
                .await
        )
        .0,
        422
    );
}

#[tokio::test]
async fn replies_must_quote_a_message_of_the_same_conversation() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "g", &[&bob]).await;
    let other = group(&alice, "other", &[]).await;
    let original = say(&alice, &g, "question?").await;
    let foreign = say(&alice, &other, "elsewhere").await;
    let reply = bob
        .send_message(
            g.id,
            &SendMessage {
                reply_to_id: Some(original.id),
                ..text("answer")
            },
        )
        .await
        .expect("reply");
    assert_eq!(reply.value.reply_to_id, Some(original.id));
    let err = bob
        .send_message(
            g.id,
            &SendMessage {
                reply_to_id: Some(foreign.id),
                ..text("cross")
            },
        )
        .await
        .expect_err("rejected");
    assert_eq!(err.status(), Some(422));
    assert_eq!(
        err.problem().map(|p| p.errors[0].code.clone()),
        Some("not_in_conversation".into())
    );
    let mention = bob
        .send_message(
            g.id,
            &SendMessage {
                mentions: vec![alice.id.clone()],
                ..text("@alice")
            },
        )
        .await
        .expect("mention");
    assert_eq!(mention.value.mentions, vec![alice.id.clone()]);
    let outsider = server.user("zed");
    let refused = bob
        .send_message(
            g.id,
            &SendMessage {
                mentions: vec![alice.id.clone(), outsider.id.clone()],
                ..text("@alice @zed")
            },
        )
        .await
        .expect_err("zed is no participant");
    assert_eq!(refused.status(), Some(422));
    let fields: Vec<_> = refused
        .problem()
        .map(|p| {
            p.errors
                .iter()
                .map(|e| (e.field.clone(), e.code.clone()))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        fields,
        [("mentions[1]".to_owned(), "not_participant".to_owned())]
    );
}

#[tokio::test]
async fn receipts_and_delivery_state_follow_read_markers() {
    let server = TestServer::spawn().await;
    let (alice, bob, carol) = (
        server.user("alice"),
        server.user("bob"),
        server.user("carol"),
    );
    let g = group(&alice, "g", &[&bob, &carol]).await;
    let message = say(&alice, &g, "did you see this?").await;
    let receipts = alice.receipts(message.id).await.expect("receipts");
    assert!(receipts.read_by.is_empty());
    assert_eq!(receipts.pending.len(), 2);
    assert!(!receipts.read_by_all);
    bob.mark_message_read(message.id).await.expect("bob reads");
    let seen = alice.message(message.id).await.expect("get");
    assert_eq!(seen.delivery, Some(DeliveryState::Read));
    assert!(!seen.read_by_all);
    let receipts = alice.receipts(message.id).await.expect("receipts");
    assert_eq!(
        receipts
            .read_by
            .iter()
            .map(|r| r.user_id.clone())
            .collect::<Vec<_>>(),
        vec![bob.id.clone()]
    );
    assert!(receipts.read_by[0].read_at.is_some());
    carol
        .mark_read(g.id, &Default::default())
        .await
        .expect("carol reads");
    assert!(alice.message(message.id).await.expect("get").read_by_all);
    assert!(
        alice
            .receipts(message.id)
            .await
            .expect("receipts")
            .read_by_all
    );
}

#[tokio::test]
async fn direct_message_endpoint_finds_or_creates_the_conversation() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let dm = DirectMessage {
        recipient_id: bob.id.clone(),
        content: "hi bob".into(),
        context: None,
        client_message_id: None,
    };
    let first = alice.direct_message(&dm).await.expect("first");
    assert_eq!(first.message.seq, MessageSeq(1));
    assert_eq!(
        first.conversation.kind,
        natter_proto::ConversationType::Direct
    );
    let existing = direct(&bob, &alice).await;
    assert!(!existing.created);
    assert_eq!(existing.value.id, first.conversation.id);
    assert_eq!(existing.value.unread_count, 1);
    let second = alice
        .direct_message(&DirectMessage {
            content: "again".into(),
            ..dm.clone()
        })
        .await
        .expect("second");
    assert_eq!(second.conversation.id, first.conversation.id);
    assert_eq!(second.message.seq, MessageSeq(2));
    let to_self = DirectMessage {
        recipient_id: alice.id.clone(),
        ..dm
    };
    assert_eq!(status_code(alice.direct_message(&to_self).await).0, 422);
}
