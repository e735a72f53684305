//! Small fixtures shared by the suite.

use natter_client::{ClientError, Created};
use natter_proto::{Conversation, ConversationType, CreateConversation, Message, SendMessage};
use natter_testkit::{uid, TestUser};

/// Creates a group owned by `owner` with `members`.
pub async fn group(owner: &TestUser, title: &str, members: &[&TestUser]) -> Conversation {
    owner
        .create_conversation(&CreateConversation {
            kind: ConversationType::Group,
            participant_ids: members.iter().map(|m| m.id.clone()).collect(),
            title: Some(title.into()),
            description: None,
            avatar_url: None,
            context: None,
        })
        .await
        .expect("creating a group")
        .value
}

/// Creates (or finds) the direct conversation of `a` and `b`.
pub async fn direct(a: &TestUser, b: &TestUser) -> Created<Conversation> {
    a.create_conversation(&CreateConversation {
        kind: ConversationType::Direct,
        participant_ids: vec![b.id.clone()],
        title: None,
        description: None,
        avatar_url: None,
        context: None,
    })
    .await
    .expect("creating a direct conversation")
}

/// Sends a text message.
pub async fn say(user: &TestUser, conversation: &Conversation, text: &str) -> Message {
    user.send_text(conversation.id, text)
        .await
        .expect("sending a message")
}

/// A text message request.
pub fn text(content: &str) -> SendMessage {
    SendMessage {
        content: Some(content.into()),
        ..Default::default()
    }
}

/// Status and code of an error.
pub fn status_code<T: std::fmt::Debug>(result: Result<T, ClientError>) -> (u16, String) {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(err) => (
            err.status().unwrap_or(0),
            err.code().unwrap_or("<no code>").to_owned(),
        ),
    }
}

/// Shorthand for a user id.
pub fn id(raw: &str) -> natter_proto::UserId {
    uid(raw)
}
