//! Edits, deletes, reactions, blocking and rate limits.

use natter_client::{MessageFilter, SearchFilter};
use natter_proto::{event_type, AppRole, EventSeq, MarkRead, SendMessage};
use natter_server::config::RateConfig;
use natter_testkit::TestServer;

use crate::helpers::{direct, group, say, status_code};

#[tokio::test]
async fn the_sender_edits_within_the_window_and_history_keeps_every_version() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "g", &[&bob]).await;
    let message = say(&alice, &g, "frist").await;
    let edited = alice.edit_message(message.id, "first").await.expect("edit");
    assert_eq!(edited.content.as_deref(), Some("first"));
    assert_eq!(edited.edit_count, 1);
    assert!(edited.edited_at.is_some());
    let again = alice
        .edit_message(message.id, "First!")
        .await
        .expect("edit again");
    assert_eq!(again.edit_count, 2);
    let history = bob.message_history(message.id).await.expect("history");
    let versions: Vec<_> = history.versions.iter().map(|v| v.content.clone()).collect();
    assert_eq!(
        versions,
        vec![Some("frist".to_owned()), Some("first".to_owned())]
    );
    assert_eq!(
        bob.message(message.id)
            .await
            .expect("get")
            .content
            .as_deref(),
        Some("First!")
    );
    assert_eq!(
        bob.conversation(g.id)
            .await
            .expect("get")
            .last_message
            .map(|p| p.text),
        Some("First!".into()),
        "the preview follows"
    );
    let events = bob.events(g.id, EventSeq(0), None).await.expect("events");
    let updated: Vec<_> = events
        .events
        .iter()
        .filter(|e| e.kind == event_type::MESSAGE_UPDATED)
        .collect();
    assert_eq!(updated.len(), 2);
    assert_eq!(updated[1].data["content"], "First!");
    assert_eq!(
        status_code(bob.edit_message(message.id, "mine now").await),
        (403, "not_sender".into())
    );
    assert_eq!(
        status_code(alice.edit_message(message.id, "bad\u{0}").await),
        (422, "validation_failed".into())
    );
    assert_eq!(
        bob.conversation(g.id).await.expect("get").unread_count,
        1,
        "edits do not add unread messages"
    );
}

#[tokio::test]
async fn edits_and_deletes_respect_their_windows() {
    let server = TestServer::spawn_with(|config| {
        config.messages.edit_window_secs = 0;
        config.messages.delete_window_secs = 0;
    })
    .await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "g", &[&bob]).await;
    let message = say(&alice, &g, "too late").await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(
        status_code(alice.edit_message(message.id, "x").await),
        (409, "edit_window_expired".into())
    );
    assert_eq!(
        status_code(alice.delete_message(message.id, true).await),
        (409, "delete_window_expired".into())
    );
    alice
        .delete_message(message.id, false)
        .await
        .expect("deleting for oneself has no window");
    let admin = server.user_with_role("root", AppRole::Admin);
    admin
        .delete_message(message.id, true)
        .await
        .expect("moderators delete any time");
    assert!(bob
        .message(message.id)
        .await
        .expect("tombstone")
        .deleted_at
        .is_some());
}

#[tokio::test]
async fn deleting_for_everyone_leaves_a_tombstone_and_fixes_unread_and_preview() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "g", &[&bob]).await;
    say(&alice, &g, "keep").await;
    let gone = say(&alice, &g, "secret").await;
    alice.add_reaction(gone.id, "👍").await.expect("react");
    assert_eq!(bob.conversation(g.id).await.expect("get").unread_count, 2);
    assert_eq!(
        status_code(bob.delete_message(gone.id, true).await),
        (403, "not_sender".into())
    );
    alice.delete_message(gone.id, true).await.expect("delete");
    alice
        .delete_message(gone.id, true)
        .await
        .expect("deleting again is a no-op");
    let tombstone = bob.message(gone.id).await.expect("tombstone");
    assert_eq!(tombstone.content, None);
    assert!(tombstone.deleted_at.is_some());
    assert!(
        tombstone.reactions.is_empty(),
        "reactions go with the content"
    );
    let page = bob
        .list_messages(g.id, &MessageFilter::default())
        .await
        .expect("history");
    let in_history = page
        .items
        .iter()
        .find(|m| m.id == gone.id)
        .expect("the tombstone is in the history");
    assert!(
        in_history.deleted_at.is_some() && in_history.reactions.is_empty(),
        "a tombstone in a history page has no reactions either"
    );
    let view = bob.conversation(g.id).await.expect("get");
    assert_eq!(view.unread_count, 1, "a deleted message is not unread");
    let preview = view.last_message.expect("preview");
    assert!(
        preview.deleted && preview.text.is_empty(),
        "the preview is a tombstone: {preview:?}"
    );
    assert_eq!(bob.unread().await.expect("summary").total, 1);
    let events = bob.events(g.id, EventSeq(0), None).await.expect("events");
    let created = events
        .events
        .iter()
        .find(|e| {
            e.kind == event_type::MESSAGE_CREATED && e.data["id"] == serde_json::json!(gone.id)
        })
        .expect("logged");
    assert!(
        created.data["content"].is_null(),
        "the log never returns deleted content"
    );
    assert!(events
        .events
        .iter()
        .any(|e| e.kind == event_type::MESSAGE_DELETED));
    assert_eq!(
        status_code(alice.edit_message(gone.id, "resurrect").await),
        (409, "message_deleted".into())
    );
    assert_eq!(
        status_code(bob.add_reaction(gone.id, "👍").await),
        (409, "message_deleted".into())
    );
    let history = bob.message_history(gone.id).await.expect("history");
    assert!(history.versions.iter().all(|v| v.content.is_none()));
}

#[tokio::test]
async fn deleting_for_me_hides_the_message_from_me_only() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "g", &[&bob]).await;
    let first = say(&alice, &g, "one").await;
    let second = say(&alice, &g, "two").await;
    assert_eq!(bob.conversation(g.id).await.expect("get").unread_count, 2);
    bob.delete_message(second.id, false).await.expect("hide");
    let bobs = bob
        .list_messages(g.id, &MessageFilter::default())
        .await
        .expect("list");
    assert_eq!(
        bobs.items.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![first.id]
    );
    assert_eq!(
        status_code(bob.message(second.id).await),
        (404, "message_not_found".into())
    );
    assert_eq!(
        bob.conversation(g.id).await.expect("get").unread_count,
        1,
        "a hidden message is not unread"
    );
    assert_eq!(bob.unread().await.expect("summary").total, 1);
    let alices = alice
        .list_messages(g.id, &MessageFilter::default())
        .await
        .expect("list");
    assert_eq!(alices.items.len(), 2, "the sender still sees it");
    let read = bob
        .mark_read(g.id, &MarkRead::default())
        .await
        .expect("read");
    assert_eq!(
        read.marked_count, 1,
        "marking read counts only what was unread"
    );
}

#[tokio::test]
async fn reactions_are_validated_unique_aggregated_and_logged() {
    let server =
        TestServer::spawn_with(|config| config.messages.max_reactions_per_message = 3).await;
    let (alice, bob, carol) = (
        server.user("alice"),
        server.user("bob"),
        server.user("carol"),
    );
    let g = group(&alice, "g", &[&bob, &carol]).await;
    let message = say(&alice, &g, "react to me").await;
    let first = bob.add_reaction(message.id, "👍🏽").await.expect("react");
    assert!(first.created);
    let again = bob
        .add_reaction(message.id, "👍🏽")
        .await
        .expect("react again");
    assert!(!again.created, "one reaction per user and emoji");
    carol.add_reaction(message.id, "👍🏽").await.expect("carol");
    carol
        .add_reaction(message.id, "👨‍👩‍👧")
        .await
        .expect("zwj family");
    alice
        .add_reaction(message.id, ":party:")
        .await
        .expect("shortcode");
    assert_eq!(
        status_code(alice.add_reaction(message.id, "🇯🇵").await),
        (409, "too_many_reactions".into())
    );
    carol
        .add_reaction(message.id, "👨‍👩‍👧")
        .await
        .expect("existing emojis still accept users");
    for bad in ["ok", "👍👍", "", ":NO:", "<b>"] {
        assert_eq!(
            status_code(bob.add_reaction(message.id, bad).await).0,
            422,
            "{bad:?}"
        );
    }
    let seen_by_bob = bob
        .list_messages(g.id, &MessageFilter::default())
        .await
        .expect("list")
        .items
        .remove(0);
    let thumbs = &seen_by_bob.reactions[0];
    assert_eq!(
        (thumbs.emoji.as_str(), thumbs.count, thumbs.me),
        ("👍🏽", 2, true)
    );
    assert_eq!(seen_by_bob.reactions.len(), 3);
    assert!(!seen_by_bob.reactions[1].me);
    bob.remove_reaction(message.id, "👍🏽")
        .await
        .expect("unreact");
    bob.remove_reaction(message.id, "👍🏽")
        .await
        .expect("unreacting twice is a no-op");
    let all = alice.reactions(message.id).await.expect("reactions");
    assert_eq!(all.reactions[0].count, 1);
    assert_eq!(all.reactions[0].users, vec![carol.id.clone()]);
    let events = alice.events(g.id, EventSeq(0), None).await.expect("events");
    let kinds: Vec<_> = events
        .events
        .iter()
        .map(|e| e.kind.as_str())
        .filter(|k| k.starts_with("reaction."))
        .collect();
    assert_eq!(
        kinds,
        vec![
            "reaction.added",
            "reaction.added",
            "reaction.added",
            "reaction.added",
            "reaction.removed"
        ]
    );
    let outsider = server.user("zed");
    assert_eq!(
        status_code(outsider.add_reaction(message.id, "👍").await),
        (404, "message_not_found".into())
    );
}

/// Pages read reactions only for messages flagged as reacted to: every way a message is
/// shown must still carry exactly its reactions as they come and go.
#[tokio::test]
async fn every_view_shows_exactly_the_reactions_as_they_come_and_go() {
    let server = TestServer::spawn().await;
    let (alice, bob, carol) = (
        server.user("alice"),
        server.user("bob"),
        server.user("carol"),
    );
    let g = group(&alice, "g", &[&bob, &carol]).await;
    let plain = say(&alice, &g, "nobody reacts to this").await;
    let liked = say(&alice, &g, "everybody likes this").await;
    // (message, [(emoji, count)]) per view, newest first on the timeline.
    let timeline = || async {
        alice
            .list_messages(g.id, &MessageFilter::default())
            .await
            .expect("timeline")
            .items
            .iter()
            .map(|m| (m.id, counts(m)))
            .collect::<Vec<_>>()
    };
    let shown =
        |expected: &[(&str, u64)]| vec![(liked.id, owned(expected)), (plain.id, Vec::new())];
    assert_eq!(timeline().await, shown(&[]));

    bob.add_reaction(liked.id, "👍").await.expect("bob");
    carol.add_reaction(liked.id, "👍").await.expect("carol");
    carol
        .add_reaction(liked.id, "🎉")
        .await
        .expect("carol again");
    assert_eq!(timeline().await, shown(&[("👍", 2), ("🎉", 1)]));
    let one = alice.message(liked.id).await.expect("one message");
    assert_eq!(counts(&one), owned(&[("👍", 2), ("🎉", 1)]));
    let found = alice
        .search_messages(&SearchFilter::new("everybody"))
        .await
        .expect("search");
    assert_eq!(
        counts(&found.items[0].message),
        owned(&[("👍", 2), ("🎉", 1)])
    );

    bob.remove_reaction(liked.id, "👍")
        .await
        .expect("bob takes back");
    carol
        .remove_reaction(liked.id, "👍")
        .await
        .expect("carol takes back");
    assert_eq!(timeline().await, shown(&[("🎉", 1)]));
    carol
        .remove_reaction(liked.id, "🎉")
        .await
        .expect("the last one");
    assert_eq!(timeline().await, shown(&[]));

    bob.add_reaction(liked.id, "❤️").await.expect("again");
    carol.add_reaction(liked.id, "❤️").await.expect("carol too");
    assert_eq!(timeline().await, shown(&[("❤️", 2)]));
    // An erasure removes the user's reactions in bulk (the flag stays set; the page reads
    // and finds the rest).
    server
        .server()
        .erase_user(&carol.id)
        .await
        .expect("erase carol");
    assert_eq!(timeline().await, shown(&[("❤️", 1)]));
}

/// A page lists the first ten users of an emoji and counts all of them; the caller's own
/// reaction shows as `me` also when it came later; `GET …/reactions` answers the same, and
/// `GET …/reactions/{emoji}` pages through everyone, checking its emoji, cursor and limit.
#[tokio::test]
async fn a_page_lists_an_emojis_first_ten_users_and_counts_them_all() {
    let server = TestServer::spawn().await;
    let users: Vec<_> = (0..12).map(|n| server.user(&format!("u{n:02}"))).collect();
    let others: Vec<_> = users[1..].iter().collect();
    let g = group(&users[0], "g", &others).await;
    let message = say(&users[0], &g, "react in turn").await;
    // Newest name first, so that the order of reacting is not the order of names.
    for user in users.iter().rev() {
        user.add_reaction(message.id, "👍").await.expect("react");
    }
    users[3]
        .add_reaction(message.id, "🎉")
        .await
        .expect("react");
    let ids = |range: &[natter_testkit::TestUser]| -> Vec<_> {
        range.iter().rev().map(|user| user.id.clone()).collect()
    };
    // The last to react, the first, the tenth, the ninth (who also reacted 🎉).
    for viewer in [0, 11, 2, 3] {
        let page = users[viewer]
            .list_messages(g.id, &MessageFilter::default())
            .await
            .expect("page");
        let shown = &page.items[0].reactions;
        assert_eq!(shown.len(), 2);
        assert_eq!(
            (shown[0].emoji.as_str(), shown[0].count, shown[0].me),
            ("👍", 12, true),
            "viewer u{viewer:02}"
        );
        assert_eq!(shown[0].users, ids(&users[2..]), "the first ten to react");
        assert_eq!(
            (shown[1].emoji.as_str(), shown[1].count, shown[1].me),
            ("🎉", 1, viewer == 3)
        );
    }
    // `GET …/reactions` answers as the page shows them, for its own caller.
    let summary = users[3].reactions(message.id).await.expect("reactions");
    let page = users[3]
        .list_messages(g.id, &MessageFilter::default())
        .await
        .expect("page");
    assert_eq!(summary.message_id, message.id);
    assert_eq!(summary.reactions, page.items[0].reactions);
    // `GET …/reactions/👍` pages through all twelve in the order they reacted.
    let mut listed = Vec::new();
    let mut cursor: Option<String> = None;
    let mut sizes = Vec::new();
    loop {
        let page = users[5]
            .reactors(message.id, "👍", cursor.as_deref(), Some(5))
            .await
            .expect("reactors");
        sizes.push(page.items.len());
        listed.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(sizes, [5, 5, 2]);
    let listed_ids: Vec<_> = listed.iter().map(|r| r.user_id.clone()).collect();
    assert_eq!(listed_ids, ids(&users), "all twelve, first to react first");
    assert!(listed
        .windows(2)
        .all(|w| w[0].reacted_at <= w[1].reacted_at));
    let party = users[0]
        .reactors(message.id, "🎉", None, None)
        .await
        .expect("reactors");
    assert_eq!(party.items.len(), 1);
    assert_eq!((&party.items[0].user_id, party.next), (&users[3].id, None));
    let unused = users[0]
        .reactors(message.id, ":tada:", None, None)
        .await
        .expect("an emoji nobody used");
    assert!(unused.items.is_empty() && unused.next.is_none());
    for (emoji, cursor, limit, field) in [
        ("not an emoji", None, None, "emoji"),
        ("👍", Some("bm90IGEgY3Vyc29y"), None, "cursor"),
        ("👍", None, Some(0), "limit"),
        ("👍", None, Some(101), "limit"),
    ] {
        let refused = users[0]
            .reactors(message.id, emoji, cursor, limit)
            .await
            .expect_err("refused");
        assert_eq!(refused.status(), Some(422), "{field}: {refused:?}");
        let problem = refused.problem().expect("problem+json");
        let fields: Vec<&str> = problem.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, [field]);
    }
    // u11 reacted first: without it, u01 moves up into the ten.
    users[11]
        .remove_reaction(message.id, "👍")
        .await
        .expect("unreact");
    let page = users[0]
        .list_messages(g.id, &MessageFilter::default())
        .await
        .expect("page");
    let thumbs = &page.items[0].reactions[0];
    assert_eq!(thumbs.count, 11);
    assert_eq!(thumbs.users, ids(&users[1..11]));
}

fn counts(message: &natter_proto::Message) -> Vec<(String, u64)> {
    message
        .reactions
        .iter()
        .map(|r| (r.emoji.clone(), r.count))
        .collect()
}

fn owned(counts: &[(&str, u64)]) -> Vec<(String, u64)> {
    counts
        .iter()
        .map(|(emoji, n)| ((*emoji).to_owned(), *n))
        .collect()
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after_and_spare_the_server_key() {
    let server = TestServer::spawn_with(|config| {
        config.rate_limits.react = RateConfig {
            count: 5,
            per_seconds: 60,
        };
        config.rate_limits.send_message = RateConfig {
            count: 3,
            per_seconds: 60,
        };
    })
    .await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "g", &[&bob]).await;
    for i in 0..3 {
        say(&alice, &g, &format!("{i}")).await;
    }
    let limited = alice
        .raw(
            natter_client::Method::POST,
            &format!("/v1/conversations/{}/messages", g.id),
            Some(natter_client::RawBody::json_text(r#"{"content":"4th"}"#)),
        )
        .await
        .expect("response");
    assert_eq!(limited.status, 429);
    assert_eq!(
        limited.problem().map(|p| p.code),
        Some("rate_limited".into())
    );
    let retry: u64 = limited
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=20).contains(&retry), "retry after {retry}");
    bob.send_text(g.id, "bob has his own budget")
        .await
        .expect("bob");
    let system = SendMessage {
        kind: Some(natter_proto::MessageType::System),
        content: Some("exempt".into()),
        ..Default::default()
    };
    for _ in 0..5 {
        server
            .server()
            .send_message(g.id, &system)
            .await
            .expect("the server key is exempt");
    }
    let message = say(&bob, &g, "react").await;
    for emoji in ["😀", "😃", "😄", "😁", "😆"] {
        alice
            .add_reaction(message.id, emoji)
            .await
            .expect("within 5 per minute");
    }
    assert_eq!(
        status_code(alice.add_reaction(message.id, "😅").await),
        (429, "rate_limited".into())
    );
}

#[tokio::test]
async fn either_side_of_a_direct_conversation_blocks_and_unblocks() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let d = direct(&alice, &bob).await.value;
    let message = say(&alice, &d, "hi").await;
    let blocked = bob.block_conversation(d.id).await.expect("block");
    assert_eq!(blocked.status, natter_proto::ConversationStatus::Blocked);
    assert_eq!(
        status_code(alice.send_text(d.id, "hello?").await),
        (409, "conversation_blocked".into())
    );
    assert_eq!(
        status_code(alice.edit_message(message.id, "edited").await),
        (409, "conversation_blocked".into())
    );
    assert_eq!(
        status_code(bob.add_reaction(message.id, "👍").await),
        (409, "conversation_blocked".into())
    );
    let unblocked = alice.unblock_conversation(d.id).await.expect("unblock");
    assert_eq!(unblocked.status, natter_proto::ConversationStatus::Active);
    say(&alice, &d, "back").await;
    let g = group(&alice, "g", &[&bob]).await;
    assert_eq!(
        status_code(alice.block_conversation(g.id).await),
        (403, "insufficient_role".into())
    );
    let admin = server.user_with_role("root", AppRole::Admin);
    admin
        .block_conversation(g.id)
        .await
        .expect("moderators block groups");
    assert_eq!(
        status_code(bob.send_text(g.id, "x").await),
        (409, "conversation_blocked".into())
    );
    assert_eq!(
        status_code(server.user("zed").block_conversation(g.id).await),
        (404, "conversation_not_found".into())
    );
}

#[tokio::test]
async fn edits_are_masked_like_sends_unless_the_conversation_is_trusted() {
    let server = TestServer::spawn().await;
    let (alice, bob) = (server.user("alice"), server.user("bob"));
    let g = group(&alice, "g", &[&bob]).await;
    let message = say(&alice, &g, "hello").await;
    let edited = alice
        .edit_message(message.id, "mail me at john@example.com")
        .await
        .expect("edit");
    assert!(edited.pii_masked, "{:?}", edited.content);
    assert!(!edited
        .content
        .unwrap_or_default()
        .contains("john@example.com"));
    server
        .server()
        .update_conversation(
            g.id,
            &natter_proto::UpdateConversation {
                trusted: Some(true),
                ..Default::default()
            },
        )
        .await
        .expect("trust");
    let trusted = alice
        .edit_message(message.id, "mail me at john@example.com")
        .await
        .expect("edit");
    assert!(!trusted.pii_masked);
    assert_eq!(
        trusted.content.as_deref(),
        Some("mail me at john@example.com")
    );
}
