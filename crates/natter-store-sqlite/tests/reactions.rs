//! The store's `has_reactions` flag, which lets pages skip reading reactions.

use natter_proto::{
    ConversationId, ConversationType, MessageId, MessageType, ParticipantRole, UserId,
};
use natter_store::{CreateOutcome, NewConversation, NewMessage, NewParticipant, Store};
use natter_store_sqlite::{SqliteOptions, SqliteStore};

fn user(raw: &str) -> UserId {
    UserId::parse(raw).expect("a user id")
}

/// `has_reactions` lets pages skip reading reactions, so it must never be false while a
/// reaction is on the message.
#[tokio::test]
async fn has_reactions_is_set_by_a_reaction_and_cleared_with_the_last() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(SqliteOptions::new(dir.path().join("natter.db"))).expect("open");
    let now = time::OffsetDateTime::now_utc();
    let conversation = match store
        .create_conversation(NewConversation {
            id: ConversationId::new(),
            kind: ConversationType::Group,
            title: Some("t".into()),
            description: None,
            avatar_url: None,
            context: None,
            created_by: Some(user("alice")),
            trusted: false,
            encrypted: false,
            participants: vec![NewParticipant {
                user_id: user("alice"),
                role: ParticipantRole::Owner,
            }],
            unique_key: None,
            now,
        })
        .await
        .expect("create")
    {
        CreateOutcome::Created(record) | CreateOutcome::Existing(record) => record,
    };
    let appended = store
        .append_message(NewMessage {
            id: MessageId::new(),
            conversation_id: conversation.id,
            sender_id: Some(user("alice")),
            kind: MessageType::Text,
            content: Some("react to me".into()),
            client_message_id: None,
            reply_to_id: None,
            mentions: Vec::new(),
            pii_masked: false,
            thread_root: None,
            attachments: Vec::new(),
            now,
        })
        .await
        .expect("append")
        .message;
    assert!(!appended.has_reactions);
    let flag = || async {
        store
            .find_message(appended.id)
            .await
            .expect("find")
            .expect("exists")
            .has_reactions
    };
    for (who, emoji) in [("alice", "👍"), ("bob", "👍"), ("bob", "🎉")] {
        let current = store
            .find_message(appended.id)
            .await
            .expect("find")
            .expect("exists");
        store
            .add_reaction(&current, &user(who), emoji, 20, now)
            .await
            .expect("react");
        assert!(flag().await, "after {who} {emoji}");
    }
    for (who, emoji, left) in [
        ("bob", "👍", true),
        ("alice", "👍", true),
        ("bob", "🎉", false),
    ] {
        let current = store
            .find_message(appended.id)
            .await
            .expect("find")
            .expect("exists");
        store
            .remove_reaction(&current, &user(who), emoji, now)
            .await
            .expect("unreact");
        assert_eq!(flag().await, left, "after removing {who} {emoji}");
    }
}
