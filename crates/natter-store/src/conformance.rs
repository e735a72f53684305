//! Behaviour every [`Store`] must show, written once against the trait and run by each
//! store crate's tests (they enable the `conformance` feature in their dev-dependencies),
//! and the builders those tests share. Each check panics, as a test does, when the store
//! does not behave.

use natter_proto::{
    ConversationId, ConversationStatus, ConversationType, EventSeq, MessageId, MessageSeq,
    MessageType, ParticipantRole, Timestamp, UserId,
};

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use crate::{
    AppendOutcome, ConversationPatch, CreateOutcome, MessageQuery, MessageRecord, NewConversation,
    NewMessage, NewParticipant, Order, ParticipantRecord, ReactionGroup, ReactionRecord,
    ReadMarkers, RemovalReason, Store, StoreError, REACTION_GROUP_USERS, SENDER_REFUSED,
};

/// A user id.
pub fn user(raw: &str) -> UserId {
    UserId::parse(raw).expect("a user id")
}

/// A new group conversation of `members`, the first its owner.
pub async fn group<S: Store + ?Sized>(store: &S, members: &[&str]) -> ConversationId {
    let created = store
        .create_conversation(NewConversation {
            id: ConversationId::new(),
            kind: ConversationType::Group,
            title: Some("t".into()),
            description: None,
            avatar_url: None,
            context: None,
            created_by: members.first().map(|owner| user(owner)),
            trusted: false,
            encrypted: false,
            participants: members
                .iter()
                .enumerate()
                .map(|(index, who)| NewParticipant {
                    user_id: user(who),
                    role: if index == 0 {
                        ParticipantRole::Owner
                    } else {
                        ParticipantRole::Member
                    },
                })
                .collect(),
            unique_key: None,
            now: time::OffsetDateTime::now_utc(),
        })
        .await
        .expect("create");
    match created {
        CreateOutcome::Created(record) | CreateOutcome::Existing(record) => record.id,
    }
}

/// A plain text message by `sender`.
pub fn text(
    conversation_id: ConversationId,
    sender: &str,
    content: &str,
    now: Timestamp,
) -> NewMessage {
    NewMessage {
        id: MessageId::new(),
        conversation_id,
        sender_id: Some(user(sender)),
        kind: MessageType::Text,
        content: Some(content.to_owned()),
        client_message_id: None,
        reply_to_id: None,
        mentions: Vec::new(),
        pii_masked: false,
        thread_root: None,
        attachments: Vec::new(),
        now,
        check_sender: false,
    }
}

/// `who` leaves the conversation.
pub async fn leave<S: Store + ?Sized>(
    store: &S,
    conversation_id: ConversationId,
    who: &str,
    now: Timestamp,
) {
    store
        .remove_participant(conversation_id, &user(who), RemovalReason::Left, None, now)
        .await
        .expect("leaves");
}

/// `has_reactions` lets pages skip reading reactions, so it must never be false while a
/// reaction is on the message: set by the first reaction, kept while any is left, cleared
/// with the last. Returns a new message of the same conversation, without reactions, for
/// the store's own test to react to from outside the store (the trigger must set the flag
/// for any writer).
pub async fn has_reactions_follows_reactions<S: Store + ?Sized>(store: &S) -> MessageRecord {
    let now = time::OffsetDateTime::now_utc();
    let conversation_id = group(store, &["alice", "bob"]).await;
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
    let reacted = [("alice", "👍"), ("bob", "👍"), ("bob", "🎉")];
    for (n, (who, emoji)) in reacted.into_iter().enumerate() {
        let added = store
            .add_reaction(&current().await, &user(who), emoji, 20, now)
            .await
            .expect("react");
        assert!(added.event_seq.is_some(), "{who} {emoji} is new");
        // The answer carries the reactions as they stand after it, this one included, as
        // a page shows them to the one who reacted.
        assert_eq!(
            added.groups,
            store
                .list_reaction_groups(&[appended.id], Some(&user(who)))
                .await
                .expect("groups"),
            "after {who} {emoji}"
        );
        let counted: u64 = added.groups.iter().map(|group| group.count).sum();
        assert_eq!(counted, n as u64 + 1, "after {who} {emoji}");
        assert!(added.groups.iter().any(|g| g.emoji == emoji && g.me));
        assert!(current().await.has_reactions, "after {who} {emoji}");
    }
    let again = store
        .add_reaction(&current().await, &user("bob"), "👍", 20, now)
        .await
        .expect("react again");
    assert_eq!(
        again.event_seq, None,
        "a repeated reaction appends no event"
    );
    let counted: u64 = again.groups.iter().map(|group| group.count).sum();
    assert_eq!(counted, 3, "and still answers with the reactions");
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
    let other = store
        .append_message(text(conversation_id, "alice", "react from outside", now))
        .await
        .expect("append")
        .message;
    assert!(!other.has_reactions);
    other
}

/// A page's read markers, which a store computes without listing the participants, are
/// exactly those of its participant list ([`ReadMarkers::of`]) for every kind of viewer:
/// an active participant, the sender, one who never read, one who left, a stranger, none.
/// The two who left hold markers that would win if they still counted (dave the highest
/// but the sender's, gina the lowest), so a store that read them would differ. The same
/// markers without a page ([`Store::read_markers`]), and the active participants among
/// some users ([`Store::active_participants_among`]).
pub async fn read_markers_match_participants<S: Store + ?Sized>(store: &S) {
    let now = time::OffsetDateTime::now_utc();
    let conversation_id = group(store, &["alice", "bob", "carol", "dave", "erin", "gina"]).await;
    for n in 1..=6 {
        store
            .append_message(text(conversation_id, "alice", &format!("m{n}"), now))
            .await
            .expect("append");
    }
    for (who, read) in [("bob", 2), ("dave", 6), ("carol", 5)] {
        store
            .mark_read(conversation_id, &user(who), MessageSeq(read), now)
            .await
            .expect("read");
    }
    store
        .mark_delivered(conversation_id, &user("erin"), MessageSeq(4), now)
        .await
        .expect("delivered");
    leave(store, conversation_id, "dave", now).await;
    leave(store, conversation_id, "gina", now).await;

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
        let expected = ReadMarkers::of(&participants, viewer.as_ref());
        // A full page, and an empty one (before the first message): both carry them.
        for (before, size) in [(None, 6), (Some(MessageSeq(1)), 0)] {
            let query = MessageQuery {
                thread: None,
                viewer: viewer.clone(),
                before,
                after: None,
                limit: 10,
                order: Order::Descending,
            };
            let (page, markers) = store
                .message_page(conversation_id, query)
                .await
                .expect("page");
            // Newest first, whatever the store does to fetch page and markers together.
            let seqs: Vec<u64> = page.iter().map(|m| m.seq.0).collect();
            assert_eq!(seqs, (1..=size).rev().collect::<Vec<u64>>());
            assert_eq!(markers, expected, "{viewer:?}, {size} messages");
        }
        // Without a page, too.
        let alone = store
            .read_markers(conversation_id, viewer.as_ref())
            .await
            .expect("markers");
        assert_eq!(alone, expected, "{viewer:?} without a page");
    }
    // Mentions are checked against the active participants only: dave and gina left,
    // frank never joined; the answer keeps no order, so compare sorted.
    let mut active = store
        .active_participants_among(
            conversation_id,
            &["erin", "dave", "frank", "alice", "gina"].map(user),
        )
        .await
        .expect("among");
    active.sort();
    assert_eq!(active, [user("alice"), user("erin")]);
    assert!(store
        .active_participants_among(conversation_id, &[])
        .await
        .expect("none asked")
        .is_empty());
    // And what that means here, for bob: erin never read, bob read 2 (gina's 0 no longer
    // counts), alice read everything she sent; for alice, the others' highest is carol's 5
    // (dave's 6 no longer counts), read and delivered.
    let bob = ReadMarkers::of(&participants, Some(&user("bob")));
    assert!(bob.viewer_is_participant);
    assert_eq!(
        bob.lowest_read,
        [(user("erin"), MessageSeq(0)), (user("bob"), MessageSeq(2))]
    );
    assert_eq!(bob.others_read, Some(MessageSeq(6)));
    let alice = ReadMarkers::of(&participants, Some(&user("alice")));
    assert_eq!(alice.others_read, Some(MessageSeq(5)));
    assert_eq!(alice.others_delivered, Some(MessageSeq(5)));
    assert!(!ReadMarkers::of(&participants, Some(&user("dave"))).viewer_is_participant);
}

/// [`NewMessage::check_sender`]: an append that checks its sender is refused with
/// [`SENDER_REFUSED`] — before its `client_message_id` is looked up — unless the
/// conversation exists and is not blocked and the sender is an active participant.
/// Checked appends arriving together (which a store may batch) are answered one by one:
/// a refused one takes no seq from the others.
pub async fn check_sender_admits_only_participants<S: Store + ?Sized>(store: &S) {
    let now = time::OffsetDateTime::now_utc();
    let conversation_id = group(store, &["alice", "bob", "carol"]).await;
    let checked = |sender: &str, content: &str, client_id: Option<&str>| NewMessage {
        client_message_id: client_id.map(str::to_owned),
        check_sender: true,
        ..text(conversation_id, sender, content, now)
    };
    let first = store
        .append_message(checked("alice", "hello", Some("c1")))
        .await
        .expect("alice may post");
    assert!(!first.duplicate);
    let retry = store
        .append_message(checked("alice", "hello", Some("c1")))
        .await
        .expect("alice retries");
    assert!(retry.duplicate);
    assert_eq!(retry.message.id, first.message.id);

    // Carol posts, then leaves: even her retry is refused, not answered with the original.
    store
        .append_message(checked("carol", "bye", Some("c2")))
        .await
        .expect("carol may post");
    leave(store, conversation_id, "carol", now).await;
    let refused = |outcome: Result<AppendOutcome, StoreError>, case: &str| match outcome {
        Err(StoreError::Conflict(what)) if what == SENDER_REFUSED => {}
        other => panic!("{case}: expected a refusal, got {other:?}"),
    };
    refused(
        store
            .append_message(checked("carol", "bye", Some("c2")))
            .await,
        "a retry by one who left",
    );
    refused(
        store.append_message(checked("carol", "x", None)).await,
        "one who left",
    );
    refused(
        store.append_message(checked("mallory", "x", None)).await,
        "a stranger",
    );
    refused(
        store
            .append_message(NewMessage {
                conversation_id: ConversationId::new(),
                ..checked("alice", "x", None)
            })
            .await,
        "no such conversation",
    );
    refused(
        store
            .append_message(NewMessage {
                sender_id: None,
                kind: MessageType::System,
                ..checked("alice", "x", None)
            })
            .await,
        "no sender",
    );

    // Together: the participants' appends land in order with no gap, the others are refused.
    let senders = [
        "alice", "bob", "mallory", "alice", "carol", "bob", "alice", "bob",
    ];
    let outcomes = join_all(
        senders
            .iter()
            .enumerate()
            .map(|(n, who)| store.append_message(checked(who, &format!("t{n}"), None)))
            .collect(),
    )
    .await;
    let mut appended = Vec::new();
    for (who, outcome) in senders.iter().zip(outcomes) {
        if matches!(*who, "mallory" | "carol") {
            refused(outcome, who);
        } else {
            appended.push(outcome.expect("a participant may post").message.seq);
        }
    }
    appended.sort();
    assert_eq!(
        appended,
        (3..3 + 6).map(MessageSeq).collect::<Vec<_>>(),
        "seqs 1 and 2 went to the first messages; no seq is lost to a refusal"
    );

    // A thread reply (which a store may append another way) is checked the same.
    let root = Some((first.message.id, first.message.seq));
    store
        .append_message(NewMessage {
            thread_root: root,
            ..checked("bob", "in the thread", None)
        })
        .await
        .expect("bob may reply in a thread");
    refused(
        store
            .append_message(NewMessage {
                thread_root: root,
                ..checked("carol", "in the thread", None)
            })
            .await,
        "a thread reply by one who left",
    );

    store
        .update_conversation(
            conversation_id,
            ConversationPatch {
                status: Some(ConversationStatus::Blocked),
                ..Default::default()
            },
            now,
        )
        .await
        .expect("block");
    refused(
        store.append_message(checked("alice", "x", None)).await,
        "a blocked conversation",
    );
    // Without the check, the store appends as it is told (the caller checked).
    store
        .append_message(text(conversation_id, "alice", "checked by the caller", now))
        .await
        .expect("unchecked append");
}

/// Runs the futures concurrently on the calling task; their outputs in order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|output| output.expect("every future finished"))
        .collect()
}

/// A fan-out batch: the events after a seq, at most `limit`, and the ids of the members as
/// of them (one who left is not one); no events after the newest.
pub async fn fanout_batch_carries_the_members<S: Store + ?Sized>(store: &S) {
    let now = time::OffsetDateTime::now_utc();
    let conversation_id = group(store, &["alice", "bob", "carol"]).await;
    leave(store, conversation_id, "carol", now).await;
    for n in 1..=3 {
        store
            .append_message(text(conversation_id, "alice", &format!("m{n}"), now))
            .await
            .expect("append");
    }
    let all = store
        .load_fanout(conversation_id, EventSeq(0), 100)
        .await
        .expect("batch");
    let mut members = all.members.clone();
    members.sort();
    assert_eq!(members, vec![user("alice"), user("bob")]);
    let seqs: Vec<u64> = all.events.iter().map(|e| e.seq.0).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "in order"
    );
    let messages: Vec<_> = all
        .events
        .iter()
        .filter_map(|e| e.message.as_ref())
        .filter_map(|m| m.content.clone())
        .collect();
    assert_eq!(messages, ["m1", "m2", "m3"]);
    let newest = all.events.last().expect("events").seq;

    let two = store
        .load_fanout(conversation_id, EventSeq(0), 2)
        .await
        .expect("limited");
    assert_eq!(two.events.len(), 2);
    assert_eq!(two.members.len(), 2);
    let none = store
        .load_fanout(conversation_id, newest, 100)
        .await
        .expect("nothing new");
    assert!(none.events.is_empty());
}

/// A thread root's summary shows its first followers: [`Store::list_thread_followers`]
/// answers, for each root asked and in that order, at most `per_root` of its followers in
/// the order they started following (ties by user id), whatever order they followed in;
/// a root without followers adds nothing, and one who stopped following is not listed.
pub async fn thread_followers_first_come<S: Store + ?Sized>(store: &S) {
    let start = time::OffsetDateTime::now_utc();
    let members = [
        "alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank", "ivan", "judy", "kate",
        "liam",
    ];
    let conversation_id = group(store, &members).await;
    let mut roots = Vec::new();
    for content in ["busy root", "tied root", "quiet root"] {
        let appended = store
            .append_message(text(conversation_id, "alice", content, start))
            .await
            .expect("append");
        roots.push(appended.message.seq);
    }
    let follow = |root: MessageSeq, who: &'static str, second: i64, on: bool| async move {
        store
            .set_thread_follow(
                conversation_id,
                root,
                &user(who),
                on,
                start + time::Duration::seconds(second),
            )
            .await
            .expect("follow");
    };
    // The busy root's followers arrive newest name first: members[i] follows at second i.
    for (second, who) in members.iter().enumerate().rev() {
        follow(roots[0], who, second as i64, true).await;
    }
    // On the tied root, bob and erin follow in the same microsecond, after carol.
    for (who, second) in [("erin", 5), ("bob", 5), ("carol", 1)] {
        follow(roots[1], who, second, true).await;
    }
    let listed = |per_root: u32| {
        let roots = roots.clone();
        async move {
            store
                .list_thread_followers(conversation_id, &roots, per_root)
                .await
                .expect("followers")
        }
    };
    let expected = |busy: &[&str], tied: &[&str]| -> Vec<(MessageSeq, UserId)> {
        busy.iter()
            .map(|who| (roots[0], user(who)))
            .chain(tied.iter().map(|who| (roots[1], user(who))))
            .collect()
    };
    assert_eq!(
        listed(10).await,
        expected(&members[..10], &["carol", "bob", "erin"]),
        "the first ten of the busy root, then the tied root by time and user id"
    );
    assert_eq!(listed(2).await, expected(&members[..2], &["carol", "bob"]));
    assert!(listed(0).await.is_empty());
    follow(roots[0], "alice", 0, false).await;
    assert_eq!(
        listed(2).await,
        expected(&["bob", "carol"], &["carol", "bob"]),
        "alice stopped following"
    );
}

/// A message's reaction groups as (emoji, count, users listed), for a store's own tests.
pub async fn emoji_counts<S: Store + ?Sized>(
    store: &S,
    message_id: MessageId,
) -> Vec<(String, u64, usize)> {
    store
        .list_reaction_groups(&[message_id], None)
        .await
        .expect("groups")
        .into_iter()
        .map(|group| (group.emoji, group.count, group.users.len()))
        .collect()
}

/// alice's messages with these contents, in order; their ids.
async fn alice_says<S: Store + ?Sized>(
    store: &S,
    conversation_id: ConversationId,
    contents: &[&str],
    at: Timestamp,
) -> Vec<MessageId> {
    let mut ids = Vec::new();
    for content in contents {
        let appended = store
            .append_message(text(conversation_id, "alice", content, at))
            .await
            .expect("append");
        ids.push(appended.message.id);
    }
    ids
}

/// What a page shows of reactions ([`Store::list_reaction_groups`]) is what every
/// reaction ([`Store::list_reactions`]) adds up to: per message and emoji, in order of
/// first use, the count, the viewer's own and the first ten users by time then user id;
/// through adds, removals (the first reactor's included, which can reorder the emojis),
/// the last removal of an emoji, and the message's deletion. The distinct-emoji limit
/// counts what is left.
pub async fn reaction_groups_add_up<S: Store + ?Sized>(store: &S) {
    let start = time::OffsetDateTime::now_utc();
    let at = |second: i64| start + time::Duration::seconds(second);
    let members = [
        "alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank", "ivan", "judy", "kate",
        "liam",
    ];
    let conversation_id = group(store, &members).await;
    let messages = alice_says(
        store,
        conversation_id,
        &["popular", "quiet", "untouched"],
        start,
    )
    .await;
    let current =
        |id: MessageId| async move { store.find_message(id).await.expect("find").expect("exists") };
    let react = |id: MessageId, who: &'static str, emoji: &'static str, second: i64| async move {
        store
            .add_reaction(&current(id).await, &user(who), emoji, 3, at(second))
            .await
    };
    // 👍 on the popular message by all twelve, newest name first (liam at second 1), so
    // that time and name order differ; 🎉 by bob and alice in the same microsecond, before
    // anyone's 👍 but liam's.
    for (second, who) in members.iter().rev().enumerate() {
        react(messages[0], who, "👍", 1 + 2 * second as i64)
            .await
            .expect("react");
    }
    for who in ["bob", "alice"] {
        react(messages[0], who, "🎉", 2).await.expect("react");
    }
    react(messages[1], "carol", "👀", 7).await.expect("react");

    // The groups the rows add up to, for `viewer`.
    let expected = |rows: &[ReactionRecord], viewer: Option<&str>| {
        let mut groups: Vec<ReactionGroup> = Vec::new();
        for row in rows {
            let index = match groups
                .iter()
                .position(|g| g.message_id == row.message_id && g.emoji == row.emoji)
            {
                Some(index) => index,
                None => {
                    groups.push(ReactionGroup {
                        message_id: row.message_id,
                        emoji: row.emoji.clone(),
                        count: 0,
                        me: false,
                        users: Vec::new(),
                    });
                    groups.len() - 1
                }
            };
            let group = &mut groups[index];
            group.count += 1;
            group.me |= viewer == Some(row.user_id.as_str());
            if group.users.len() < REACTION_GROUP_USERS {
                group.users.push(row.user_id.clone());
            }
        }
        groups
    };
    let check = |label: &'static str| {
        let messages = messages.clone();
        async move {
            let rows = store.list_reactions(&messages).await.expect("rows");
            // Stores may order messages differently; each message's groups keep their order.
            let by_message = |mut groups: Vec<ReactionGroup>| {
                groups.sort_by_key(|group| group.message_id);
                groups
            };
            // alice and bob reacted 👍 after the first ten, liam first; carol only 👀.
            for viewer in [
                Some("alice"),
                Some("bob"),
                Some("liam"),
                Some("carol"),
                Some("nobody"),
                None,
            ] {
                let viewer_id = viewer.map(user);
                let groups = store
                    .list_reaction_groups(&messages, viewer_id.as_ref())
                    .await
                    .expect("groups");
                assert_eq!(
                    by_message(groups),
                    by_message(expected(&rows, viewer)),
                    "{label}: viewer {viewer:?}"
                );
            }
            rows
        }
    };

    let rows = check("twelve 👍, two 🎉, one 👀").await;
    assert_eq!(rows.len(), 15);
    let popular = store
        .list_reaction_groups(&messages[..1], Some(&user("alice")))
        .await
        .expect("groups");
    let shown: Vec<(&str, u64, bool, usize)> = popular
        .iter()
        .map(|g| (g.emoji.as_str(), g.count, g.me, g.users.len()))
        .collect();
    assert_eq!(
        shown,
        [("👍", 12, true, 10), ("🎉", 2, true, 2)],
        "alice's 👍 came twelfth: counted and `me`, but not listed"
    );
    assert_eq!(
        popular[1].users,
        [user("alice"), user("bob")],
        "a tie by user id"
    );

    // liam's 👍 (the first) goes: 🎉 is now the older emoji.
    store
        .remove_reaction(&current(messages[0]).await, &user("liam"), "👍", at(30))
        .await
        .expect("unreact");
    check("liam's 👍 removed").await;
    let order: Vec<String> = store
        .list_reaction_groups(&messages[..1], None)
        .await
        .expect("groups")
        .into_iter()
        .map(|g| g.emoji)
        .collect();
    assert_eq!(
        order,
        ["🎉", "👍"],
        "ordered by the first reaction still there"
    );

    // The limit (3 distinct here) counts emojis, and only those still there.
    react(messages[0], "carol", "🚀", 31)
        .await
        .expect("third emoji");
    let refused = react(messages[0], "dave", "🌮", 32).await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(ref reason)) if reason == "too_many_reactions"),
        "a fourth emoji: {refused:?}"
    );
    react(messages[0], "dave", "🚀", 33)
        .await
        .expect("an emoji already there is no new one");
    for who in ["carol", "dave"] {
        store
            .remove_reaction(&current(messages[0]).await, &user(who), "🚀", at(34))
            .await
            .expect("unreact");
    }
    check("🚀 came and went").await;
    react(messages[0], "dave", "🌮", 35)
        .await
        .expect("room again once 🚀 is gone");
    check("🌮 in 🚀's place").await;

    // A deleted message loses its reactions, and its groups with them.
    store
        .delete_message(messages[0], Some(&user("alice")), at(40))
        .await
        .expect("delete");
    let rows = check("the popular message deleted").await;
    assert_eq!(rows.len(), 1, "only the quiet message's 👀 is left");
    assert!(store
        .list_reaction_groups(&[], Some(&user("alice")))
        .await
        .expect("no messages")
        .is_empty());
}

/// [`Store::list_reactors`] pages one emoji's reactions to one message by time, then user
/// id (ties in the same microsecond included), from any cursor — also one whose reaction
/// has since been removed — and agrees with [`Store::list_reactions`].
pub async fn reactors_page_in_order<S: Store + ?Sized>(store: &S) {
    let start = time::OffsetDateTime::now_utc();
    let at = |second: i64| start + time::Duration::seconds(second);
    let members = ["alice", "bob", "carol", "dave", "erin", "frank", "gina"];
    let conversation_id = group(store, &members).await;
    let messages = alice_says(store, conversation_id, &["one", "two"], start).await;
    let current =
        |id: MessageId| async move { store.find_message(id).await.expect("find").expect("exists") };
    // 👍 by everyone, gina first; bob, carol and dave in the same second; 🎉 and the
    // other message's 👍 must not show.
    let seconds = [5, 3, 3, 3, 4, 6, 1];
    for (who, second) in members.iter().zip(seconds) {
        store
            .add_reaction(
                &current(messages[0]).await,
                &user(who),
                "👍",
                50,
                at(second),
            )
            .await
            .expect("react");
    }
    for (message, emoji) in [(messages[0], "🎉"), (messages[1], "👍")] {
        store
            .add_reaction(&current(message).await, &user("erin"), emoji, 50, at(2))
            .await
            .expect("react");
    }
    let popular = messages[0];
    let pages = |limit: u32| async move {
        let mut all = Vec::new();
        let mut after: Option<(Timestamp, UserId)> = None;
        loop {
            let page = store
                .list_reactors(
                    popular,
                    "👍",
                    after.as_ref().map(|(at, who)| (*at, who)),
                    limit,
                )
                .await
                .expect("reactors");
            assert!(page.len() <= limit as usize);
            let Some(last) = page.last() else {
                return all;
            };
            after = Some((last.created_at, last.user_id.clone()));
            let full = page.len() == limit as usize;
            all.extend(page);
            assert!(all.len() <= members.len(), "pages repeat: {all:?}");
            if !full {
                return all;
            }
        }
    };
    let names = |rows: &[ReactionRecord]| -> Vec<String> {
        rows.iter()
            .map(|row| row.user_id.as_str().to_owned())
            .collect()
    };
    let expected = ["gina", "bob", "carol", "dave", "erin", "alice", "frank"];
    for limit in [1, 2, 3, 7, 100] {
        let all = pages(limit).await;
        assert_eq!(names(&all), expected, "limit {limit}");
        assert!(all
            .iter()
            .all(|row| row.message_id == messages[0] && row.emoji == "👍"));
    }
    let rows: Vec<ReactionRecord> = store
        .list_reactions(&messages[..1])
        .await
        .expect("rows")
        .into_iter()
        .filter(|row| row.emoji == "👍")
        .collect();
    assert_eq!(names(&rows), expected, "list_reactions agrees");
    assert_eq!(pages(3).await, rows, "the same records, times included");

    // A cursor at bob (second 3) whose reaction is then removed still pages from there.
    let bob = rows[1].clone();
    store
        .remove_reaction(&current(messages[0]).await, &user("bob"), "👍", at(10))
        .await
        .expect("unreact");
    let after_bob = store
        .list_reactors(messages[0], "👍", Some((bob.created_at, &bob.user_id)), 2)
        .await
        .expect("reactors");
    assert_eq!(names(&after_bob), ["carol", "dave"]);
    assert_eq!(
        names(&pages(2).await),
        ["gina", "carol", "dave", "erin", "alice", "frank"]
    );
    assert!(store
        .list_reactors(messages[0], "🚀", None, 10)
        .await
        .expect("an emoji nobody used")
        .is_empty());
}

/// [`Store::list_participants_page`] pages the active participants in
/// [`Store::list_participants`] order (join time, then user id; ties in one add), from
/// any cursor, also one whose participant has since left.
pub async fn participant_pages_follow_the_list<S: Store + ?Sized>(store: &S) {
    let start = time::OffsetDateTime::now_utc();
    let conversation_id = group(store, &["owner", "zed", "yan"]).await;
    let later = start + time::Duration::seconds(5);
    store
        .add_participants(
            conversation_id,
            ["xia", "bea", "abe"]
                .map(|who| NewParticipant {
                    user_id: user(who),
                    role: ParticipantRole::Member,
                })
                .to_vec(),
            later,
        )
        .await
        .expect("add");
    let pages = |limit: u32| async move {
        let mut all: Vec<ParticipantRecord> = Vec::new();
        loop {
            let after = all.last().map(|p| (p.joined_at, p.user_id.clone()));
            let page = store
                .list_participants_page(
                    conversation_id,
                    after.as_ref().map(|(at, who)| (*at, who)),
                    limit,
                )
                .await
                .expect("page");
            assert!(page.len() <= limit as usize);
            let full = page.len() == limit as usize;
            all.extend(page);
            assert!(all.len() <= 6, "pages repeat: {all:?}");
            if !full {
                return all;
            }
        }
    };
    let listed = store
        .list_participants(conversation_id)
        .await
        .expect("list");
    let names = |rows: &[ParticipantRecord]| -> Vec<String> {
        rows.iter().map(|p| p.user_id.as_str().to_owned()).collect()
    };
    assert_eq!(names(&listed[3..]), ["abe", "bea", "xia"], "the later add");
    for limit in [1, 2, 4, 6, 50] {
        assert_eq!(pages(limit).await, listed, "limit {limit}");
    }
    // A cursor at yan, who then leaves: the next page starts after yan all the same.
    let yan = listed
        .iter()
        .find(|p| p.user_id.as_str() == "yan")
        .expect("yan")
        .clone();
    leave(store, conversation_id, "yan", later).await;
    let after_yan = store
        .list_participants_page(conversation_id, Some((yan.joined_at, &yan.user_id)), 10)
        .await
        .expect("page");
    let expected: Vec<String> = names(&listed)
        .into_iter()
        .skip_while(|who| who != "yan")
        .skip(1)
        .collect();
    assert_eq!(names(&after_yan), expected);
    assert!(!names(&pages(2).await).contains(&"yan".to_owned()));
}
