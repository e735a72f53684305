//! Threads: replies under a root, the root's summary, followers, paging, events.

use natter_client::{MessageFilter, SortOrder};
use natter_proto::{event_type, EventSeq, MessageSeq, SendMessage};
use natter_testkit::TestServer;

use crate::helpers::{group, say, status_code};

fn reply(root: natter_proto::MessageId, text: &str) -> SendMessage {
    SendMessage {
        content: Some(text.into()),
        thread_root_id: Some(root),
        ..Default::default()
    }
}

#[tokio::test]
async fn replies_live_in_the_thread_and_the_root_carries_a_summary() {
    let server = TestServer::spawn().await;
    let (alice, bob, carol) = (
        server.user("alice"),
        server.user("bob"),
        server.user("carol"),
    );
    let g = group(&alice, "g", &[&bob, &carol]).await;
    let root = say(&alice, &g, "Where shall we meet?").await;
    for (user, text) in [
        (&bob, "Station"),
        (&carol, "Café"),
        (&bob, "Station, 10:00"),
    ] {
        let sent = user
            .send_message(g.id, &reply(root.id, text))
            .await
            .expect("reply")
            .value;
        assert_eq!(sent.thread_root_id, Some(root.id));
    }
    say(&alice, &g, "after the thread").await;
    let timeline = bob
        .list_messages(g.id, &MessageFilter::default())
        .await
        .expect("timeline");
    let contents: Vec<_> = timeline
        .items
        .iter()
        .map(|m| m.content.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        contents,
        vec!["after the thread", "Where shall we meet?"],
        "replies stay out of the timeline"
    );
    let summary = timeline.items[1]
        .thread
        .clone()
        .expect("the root has a summary");
    assert_eq!(summary.reply_count, 3);
    assert!(summary.last_reply_at.is_some());
    assert_eq!(
        summary.participants,
        vec![bob.id.clone(), carol.id.clone()],
        "repliers follow, in order"
    );
    let page = alice
        .thread(root.id, &MessageFilter::default().limit(2))
        .await
        .expect("thread page");
    assert_eq!(
        page.items
            .iter()
            .map(|m| m.content.clone().unwrap_or_default())
            .collect::<Vec<_>>(),
        vec!["Station", "Café"]
    );
    let rest = alice
        .thread(
            root.id,
            &MessageFilter {
                after: page.next.clone(),
                ..MessageFilter::default()
            },
        )
        .await
        .expect("next page");
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0].seq, MessageSeq(4));
    assert_eq!(
        carol.conversation(g.id).await.expect("get").unread_count,
        2,
        "replies count as unread like any message"
    );
    let events = carol.events(g.id, EventSeq(0), None).await.expect("events");
    let thread_events: Vec<_> = events
        .events
        .iter()
        .filter(|e| e.kind == event_type::THREAD_UPDATED)
        .collect();
    assert_eq!(thread_events.len(), 3);
    assert_eq!(thread_events[2].data["thread"]["reply_count"], 3);
}

/// Thread pages come from the thread index (not a filtered walk of the conversation):
/// two threads interleaved with the timeline, paged newest first by cursor and oldest
/// first, hold only their own replies, in order, without the viewer's hidden ones.
#[tokio::test]
async fn thread_pages_hold_their_own_replies_in_either_order() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "g", &[&bob]).await;
    let first = say(&alice, &g, "first root").await;
    let second = say(&bob, &g, "second root").await;
    let mut first_replies = Vec::new();
    let mut second_replies = Vec::new();
    for round in 0..4 {
        say(&alice, &g, &format!("timeline {round}")).await;
        for (root, replies) in [(&first, &mut first_replies), (&second, &mut second_replies)] {
            let text = format!("{} {round}", root.content.as_deref().unwrap_or_default());
            let sent = bob.send_message(g.id, &reply(root.id, &text)).await;
            replies.push(sent.expect("reply").value);
        }
    }
    // Alice hides one reply of the first thread from herself.
    alice
        .delete_message(first_replies[1].id, false)
        .await
        .expect("hide for me");
    let seqs = |page: &natter_proto::Page<natter_proto::Message>| {
        page.items.iter().map(|m| m.seq).collect::<Vec<_>>()
    };
    let newest_first = MessageFilter::default().order(SortOrder::Desc).limit(2);
    let page = bob.thread(first.id, &newest_first).await.expect("page 1");
    assert_eq!(
        seqs(&page),
        vec![first_replies[3].seq, first_replies[2].seq]
    );
    let next = page.next.clone().expect("more replies");
    let rest = bob
        .thread(
            first.id,
            &MessageFilter {
                before: Some(next),
                ..newest_first.clone()
            },
        )
        .await
        .expect("page 2");
    assert_eq!(
        seqs(&rest),
        vec![first_replies[1].seq, first_replies[0].seq]
    );
    assert_eq!(rest.next, None, "the thread's oldest reply ends it");
    let hers = alice
        .thread(first.id, &MessageFilter::default().order(SortOrder::Desc))
        .await
        .expect("alice's page");
    assert_eq!(
        seqs(&hers),
        vec![
            first_replies[3].seq,
            first_replies[2].seq,
            first_replies[0].seq
        ],
        "a reply hidden for alice is not in her page"
    );
    let oldest_first = bob
        .thread(second.id, &MessageFilter::default())
        .await
        .expect("second thread");
    assert_eq!(
        seqs(&oldest_first),
        second_replies.iter().map(|m| m.seq).collect::<Vec<_>>()
    );
    let timeline = bob
        .list_messages(g.id, &MessageFilter::default())
        .await
        .expect("timeline");
    assert_eq!(
        timeline.items.len(),
        6,
        "two roots and four timeline messages"
    );
    assert!(timeline.items.iter().all(|m| m.thread_root_id.is_none()));
}

/// A root's summary names its first ten followers, in the order they replied, however
/// many follow it (the store reads ten per root).
#[tokio::test]
async fn a_roots_summary_names_its_first_ten_followers() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice");
    let repliers: Vec<_> = (0..12)
        .map(|n| server.user(&format!("replier{n:02}")))
        .collect();
    let g = group(&alice, "g", &repliers.iter().collect::<Vec<_>>()).await;
    let root = say(&alice, &g, "who is in?").await;
    for replier in &repliers {
        replier
            .send_message(g.id, &reply(root.id, "me"))
            .await
            .expect("reply");
    }
    let timeline = alice
        .list_messages(g.id, &MessageFilter::default())
        .await
        .expect("timeline");
    let summary = timeline.items[0].thread.clone().expect("a summary");
    assert_eq!(summary.reply_count, 12);
    assert_eq!(
        summary.participants,
        repliers[..10]
            .iter()
            .map(|r| r.id.clone())
            .collect::<Vec<_>>(),
        "the first ten repliers, in order"
    );
}

#[tokio::test]
async fn threads_are_one_level_deep_and_followable() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "g", &[&bob]).await;
    let other = group(&alice, "other", &[]).await;
    let root = say(&alice, &g, "root").await;
    let first = bob
        .send_message(g.id, &reply(root.id, "reply"))
        .await
        .expect("reply")
        .value;
    assert_eq!(
        status_code(alice.send_message(g.id, &reply(first.id, "nested")).await).0,
        422
    );
    let foreign = say(&alice, &other, "elsewhere").await;
    assert_eq!(
        status_code(alice.send_message(g.id, &reply(foreign.id, "cross")).await).0,
        422
    );
    assert_eq!(
        status_code(alice.thread(first.id, &MessageFilter::default()).await).0,
        422
    );
    alice.follow_thread(root.id, true).await.expect("follow");
    alice
        .follow_thread(root.id, true)
        .await
        .expect("following twice is fine");
    let seen = alice.message(root.id).await.expect("root");
    assert_eq!(
        seen.thread.expect("summary").participants,
        vec![bob.id.clone(), alice.id.clone()]
    );
    bob.follow_thread(root.id, false).await.expect("unfollow");
    let seen = alice.message(root.id).await.expect("root");
    assert_eq!(
        seen.thread.expect("summary").participants,
        vec![alice.id.clone()]
    );
    assert_eq!(
        status_code(
            server
                .user("zed")
                .thread(root.id, &MessageFilter::default())
                .await
        ),
        (404, "message_not_found".into())
    );
}

#[tokio::test]
async fn mentions_are_counted_and_notification_levels_shape_the_badge() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let loud = group(&alice, "loud", &[&bob]).await;
    let quiet = group(&alice, "quiet", &[&bob]).await;
    let muted = group(&alice, "muted", &[&bob]).await;
    for (conversation, mention) in [
        (&loud, false),
        (&loud, true),
        (&quiet, false),
        (&quiet, true),
        (&quiet, false),
        (&muted, true),
    ] {
        let request = SendMessage {
            content: Some("hey".into()),
            mentions: if mention {
                vec![bob.id.clone()]
            } else {
                vec![]
            },
            ..Default::default()
        };
        alice
            .send_message(conversation.id, &request)
            .await
            .expect("send");
    }
    bob.update_my_settings(
        quiet.id,
        &natter_proto::UpdateMySettings {
            notification_level: Some(natter_proto::NotificationLevel::Mentions),
            ..Default::default()
        },
    )
    .await
    .expect("mentions only");
    bob.update_my_settings(
        muted.id,
        &natter_proto::UpdateMySettings {
            muted: Some(true),
            ..Default::default()
        },
    )
    .await
    .expect("mute");
    let summary = bob.unread().await.expect("summary");
    assert_eq!(summary.total, 6);
    assert_eq!(summary.mentions_total, 3);
    assert_eq!(
        summary.notify_total,
        2 + 1,
        "all of loud, the mention in quiet, nothing of muted"
    );
    let quiet_entry = summary
        .conversations
        .iter()
        .find(|c| c.conversation_id == quiet.id)
        .expect("quiet");
    assert_eq!(
        (quiet_entry.unread_count, quiet_entry.unread_mentions),
        (3, 1)
    );
    bob.mark_read(quiet.id, &Default::default())
        .await
        .expect("read");
    assert_eq!(bob.unread().await.expect("summary").mentions_total, 2);
}
