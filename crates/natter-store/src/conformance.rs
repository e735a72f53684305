//! Behaviour every [`Store`] must show, written once against the trait and run by each
//! store crate's tests (they enable the `conformance` feature in their dev-dependencies).
//! Each function panics, as a test does, when the store does not behave.

use natter_proto::{
    ConversationId, ConversationType, MessageId, MessageSeq, MessageType, ParticipantRole, UserId,
};

use crate::{
    CreateOutcome, MessageQuery, NewConversation, NewMessage, NewParticipant, Order, ReadMarkers,
    RemovalReason, Store,
};

fn user(raw: &str) -> UserId {
    UserId::parse(raw).expect("a user id")
}

/// A page's read markers, which a store computes without listing the participants, are
/// exactly those of its participant list ([`ReadMarkers::of`]) for every kind of viewer:
/// an active participant, the sender, one who never read, one who left, a stranger, none.
pub async fn read_markers_match_participants<S: Store + ?Sized>(store: &S) {
    let now = time::OffsetDateTime::now_utc();
    let members = ["alice", "bob", "carol", "dave", "erin"];
    let created = store
        .create_conversation(NewConversation {
            id: ConversationId::new(),
            kind: ConversationType::Group,
            title: Some("markers".into()),
            description: None,
            avatar_url: None,
            context: None,
            created_by: Some(user("alice")),
            trusted: false,
            encrypted: false,
            participants: members
                .iter()
                .map(|who| NewParticipant {
                    user_id: user(who),
                    role: if *who == "alice" {
                        ParticipantRole::Owner
                    } else {
                        ParticipantRole::Member
                    },
                })
                .collect(),
            unique_key: None,
            now,
        })
        .await
        .expect("create");
    let (CreateOutcome::Created(conversation) | CreateOutcome::Existing(conversation)) = created;
    let conversation_id = conversation.id;
    for n in 1..=6 {
        store
            .append_message(NewMessage {
                id: MessageId::new(),
                conversation_id,
                sender_id: Some(user("alice")),
                kind: MessageType::Text,
                content: Some(format!("m{n}")),
                client_message_id: None,
                reply_to_id: None,
                mentions: Vec::new(),
                pii_masked: false,
                thread_root: None,
                attachments: Vec::new(),
                now,
            })
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
            assert_eq!(page.len(), size);
            assert_eq!(markers, expected, "{viewer:?}, {size} messages");
        }
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
