//! What the store's integration tests share: users, a group conversation, a text message.

use natter_proto::{
    ConversationId, ConversationType, MessageId, MessageType, ParticipantRole, Timestamp, UserId,
};
use natter_store::{CreateOutcome, NewConversation, NewMessage, NewParticipant, Store};
use natter_store_sqlite::SqliteStore;

pub fn user(raw: &str) -> UserId {
    UserId::parse(raw).expect("a user id")
}

/// A new group conversation owned by `owner`, its only participant.
pub async fn group(store: &SqliteStore, owner: &str) -> ConversationId {
    let outcome = store
        .create_conversation(NewConversation {
            id: ConversationId::new(),
            kind: ConversationType::Group,
            title: Some("t".into()),
            description: None,
            avatar_url: None,
            context: None,
            created_by: Some(user(owner)),
            trusted: false,
            encrypted: false,
            participants: vec![NewParticipant {
                user_id: user(owner),
                role: ParticipantRole::Owner,
            }],
            unique_key: None,
            now: time::OffsetDateTime::now_utc(),
        })
        .await
        .expect("create");
    match outcome {
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
    }
}
