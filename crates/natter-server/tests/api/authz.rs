//! The authorization matrix: every conversation-scoped endpoint × every kind of caller.
//! Each cell runs on a fresh conversation so that destructive operations do not interfere.

use natter_client::{Client, MessageFilter};
use natter_proto::{
    AddParticipants, AppRole, ConversationType, CreateConversation, EventSeq, MarkRead, Message,
    ParticipantRole, SendMessage, UpdateConversation, UpdateMySettings, UpdateParticipant,
};
use natter_testkit::{uid, TestServer};

use crate::helpers::text;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Owner,
    Admin,
    Member,
    Removed,
    Outsider,
    AppAdmin,
    ServerKey,
    Anonymous,
}

const CALLERS: [Caller; 8] = [
    Caller::Owner,
    Caller::Admin,
    Caller::Member,
    Caller::Removed,
    Caller::Outsider,
    Caller::AppAdmin,
    Caller::ServerKey,
    Caller::Anonymous,
];

#[derive(Debug, Clone, Copy)]
enum Op {
    GetConversation,
    ListParticipants,
    ListParticipantsBadLimit,
    ListMessages,
    ListMessagesFromMessage,
    ListMessagesBadLimit,
    ListMessagesUnknownCursor,
    GetMessage,
    Receipts,
    Events,
    SendMessage,
    SendMessageBadContent,
    UpdateConversation,
    Archive,
    AddParticipant,
    RemoveParticipant,
    PromoteParticipant,
    MarkRead,
    MarkMessageRead,
    MySettings,
    Leave,
    EditMessage,
    History,
    React,
    ListReactions,
    ListReactors,
    ListReactorsBadCursor,
    DeleteForEveryone,
    DeleteForMe,
    Block,
    Typing,
    ListTyping,
    CreateInvitation,
    GetSettings,
    UpdateSettings,
}

struct Fixture {
    conversation: natter_proto::Conversation,
    message: Message,
}

async fn fixture(server: &TestServer, n: usize) -> Fixture {
    let owner = server.user("owner");
    let conversation = owner
        .create_conversation(&CreateConversation {
            kind: ConversationType::Group,
            participant_ids: vec![uid("member"), uid("removed"), uid("frank")],
            title: Some(format!("matrix {n}")),
            description: None,
            avatar_url: None,
            context: None,
        })
        .await
        .expect("fixture conversation")
        .value;
    owner
        .add_participants(
            conversation.id,
            &AddParticipants {
                user_ids: vec![uid("admin")],
                role: Some(ParticipantRole::Admin),
            },
        )
        .await
        .expect("fixture admin");
    let message = owner
        .send_text(conversation.id, "fixture message")
        .await
        .expect("fixture message");
    owner
        .remove_participant(conversation.id, &uid("removed"))
        .await
        .expect("fixture removal");
    Fixture {
        conversation,
        message,
    }
}

fn client(server: &TestServer, caller: Caller) -> Client {
    match caller {
        Caller::Owner => server.user("owner").client,
        Caller::Admin => server.user("admin").client,
        Caller::Member => server.user("member").client,
        Caller::Removed => server.user("removed").client,
        Caller::Outsider => server.user("outsider").client,
        Caller::AppAdmin => server.user_with_role("root", AppRole::Admin).client,
        Caller::ServerKey => server.server(),
        Caller::Anonymous => server.anonymous(),
    }
}

fn status<T>(result: Result<T, natter_client::ClientError>, success: u16) -> u16 {
    match result {
        Ok(_) => success,
        Err(err) => err.status().unwrap_or(0),
    }
}

async fn page(client: &Client, id: natter_proto::ConversationId, filter: MessageFilter) -> u16 {
    status(client.list_messages(id, &filter).await, 200)
}

async fn run(op: Op, client: &Client, fx: &Fixture) -> u16 {
    let id = fx.conversation.id;
    match op {
        Op::GetConversation => status(client.conversation(id).await, 200),
        Op::ListParticipants => status(client.participants(id).await, 200),
        Op::ListParticipantsBadLimit => {
            status(client.participants_page(id, None, Some(0)).await, 200)
        }
        Op::ListMessages => page(client, id, MessageFilter::default()).await,
        Op::ListMessagesFromMessage => {
            let from = MessageFilter {
                after: Some(fx.message.id.to_string()),
                ..MessageFilter::default()
            };
            page(client, id, from).await
        }
        Op::ListMessagesBadLimit => {
            let empty = MessageFilter {
                limit: Some(0),
                ..MessageFilter::default()
            };
            page(client, id, empty).await
        }
        Op::ListMessagesUnknownCursor => {
            let unknown = MessageFilter {
                before: Some(natter_proto::MessageId::new().to_string()),
                ..MessageFilter::default()
            };
            page(client, id, unknown).await
        }
        Op::GetMessage => status(client.message(fx.message.id).await, 200),
        Op::Receipts => status(client.receipts(fx.message.id).await, 200),
        Op::Events => status(client.events(id, EventSeq(0), None).await, 200),
        Op::SendMessage => status(client.send_message(id, &text("matrix")).await, 201),
        Op::SendMessageBadContent => {
            let bell = SendMessage {
                content: Some("a bell \u{7}".into()),
                ..text("matrix")
            };
            status(client.send_message(id, &bell).await, 201)
        }
        Op::UpdateConversation => status(
            client
                .update_conversation(
                    id,
                    &UpdateConversation {
                        title: Some("new".into()),
                        ..Default::default()
                    },
                )
                .await,
            200,
        ),
        Op::Archive => status(client.archive_conversation(id).await, 200),
        Op::AddParticipant => status(
            client
                .add_participants(
                    id,
                    &AddParticipants {
                        user_ids: vec![uid("newbie")],
                        role: None,
                    },
                )
                .await,
            201,
        ),
        Op::RemoveParticipant => status(client.remove_participant(id, &uid("frank")).await, 204),
        Op::PromoteParticipant => status(
            client
                .update_participant(
                    id,
                    &uid("frank"),
                    &UpdateParticipant {
                        role: ParticipantRole::Admin,
                    },
                )
                .await,
            200,
        ),
        Op::MarkRead => status(client.mark_read(id, &MarkRead::default()).await, 200),
        Op::MarkMessageRead => status(client.mark_message_read(fx.message.id).await, 200),
        Op::MySettings => status(
            client
                .update_my_settings(
                    id,
                    &UpdateMySettings {
                        pinned: Some(true),
                        ..Default::default()
                    },
                )
                .await,
            200,
        ),
        Op::Leave => status(client.leave(id).await, 204),
        Op::EditMessage => status(client.edit_message(fx.message.id, "edited").await, 200),
        Op::History => status(client.message_history(fx.message.id).await, 200),
        Op::React => status(client.add_reaction(fx.message.id, "👍").await, 201),
        Op::ListReactions => status(client.reactions(fx.message.id).await, 200),
        Op::ListReactors => status(client.reactors(fx.message.id, "👍", None, None).await, 200),
        Op::ListReactorsBadCursor => status(
            client
                .reactors(fx.message.id, "👍", Some("not a cursor"), None)
                .await,
            200,
        ),
        Op::DeleteForEveryone => status(client.delete_message(fx.message.id, true).await, 204),
        Op::DeleteForMe => status(client.delete_message(fx.message.id, false).await, 204),
        Op::Block => status(client.block_conversation(id).await, 200),
        Op::Typing => status(client.set_typing(id, true).await, 204),
        Op::ListTyping => status(client.typing(id).await, 200),
        Op::CreateInvitation => {
            status(client.create_invitation(id, &Default::default()).await, 201)
        }
        Op::GetSettings => status(client.conversation_settings(id).await, 200),
        Op::UpdateSettings => status(
            client
                .update_conversation_settings(
                    id,
                    &natter_proto::UpdateSettings {
                        settings: serde_json::json!({"color": "#123456"}),
                        version: None,
                    },
                )
                .await,
            200,
        ),
    }
}

/// Expected status per caller, in the order of [`CALLERS`].
fn expected(op: Op) -> [u16; 8] {
    //                     owner admin member removed outsider appadmin server anon
    const READ: [u16; 8] = [200, 200, 200, 404, 404, 200, 200, 401];
    const MANAGE: [u16; 8] = [200, 200, 403, 404, 404, 200, 200, 401];
    const OWN_STATE: [u16; 8] = [200, 200, 200, 404, 404, 403, 403, 401];
    // Bad input to a read: 422 for whoever may read, the read's own answer for the rest
    // (so a stranger cannot tell that the conversation exists).
    const BAD_READ: [u16; 8] = [422, 422, 422, 404, 404, 422, 422, 401];
    match op {
        Op::GetConversation
        | Op::ListParticipants
        | Op::ListMessages
        | Op::ListMessagesFromMessage
        | Op::GetMessage
        | Op::Receipts
        | Op::Events => READ,
        Op::ListMessagesBadLimit | Op::ListMessagesUnknownCursor | Op::ListParticipantsBadLimit => {
            BAD_READ
        }
        Op::SendMessage => [201, 201, 201, 404, 404, 403, 201, 401],
        // Bad input to a send: 422 only for whoever may post (no stranger learns more).
        Op::SendMessageBadContent => [422, 422, 422, 404, 404, 403, 422, 401],
        Op::UpdateConversation | Op::Archive => MANAGE,
        Op::AddParticipant => [201, 201, 403, 404, 404, 201, 201, 401],
        Op::RemoveParticipant => [204, 204, 403, 404, 404, 204, 204, 401],
        Op::PromoteParticipant => [200, 403, 403, 404, 404, 200, 200, 401],
        Op::MarkRead | Op::MarkMessageRead | Op::MySettings => OWN_STATE,
        Op::Leave | Op::DeleteForMe | Op::Typing => [204, 204, 204, 404, 404, 403, 403, 401],
        Op::History | Op::ListReactions | Op::ListReactors | Op::ListTyping => READ,
        Op::ListReactorsBadCursor => BAD_READ,
        Op::EditMessage => [200, 403, 403, 404, 404, 403, 403, 401],
        Op::React => [201, 201, 201, 404, 404, 403, 403, 401],
        Op::DeleteForEveryone => [204, 403, 403, 404, 404, 204, 204, 401],
        Op::Block => [403, 403, 403, 404, 404, 200, 200, 401],
        Op::CreateInvitation => [201, 201, 403, 404, 404, 201, 201, 401],
        Op::GetSettings => READ,
        Op::UpdateSettings => MANAGE,
    }
}

#[tokio::test]
async fn every_conversation_endpoint_answers_each_caller_as_specified() {
    let server = TestServer::spawn().await;
    let ops = [
        Op::GetConversation,
        Op::ListParticipants,
        Op::ListParticipantsBadLimit,
        Op::ListMessages,
        Op::ListMessagesFromMessage,
        Op::ListMessagesBadLimit,
        Op::ListMessagesUnknownCursor,
        Op::GetMessage,
        Op::Receipts,
        Op::Events,
        Op::SendMessage,
        Op::SendMessageBadContent,
        Op::UpdateConversation,
        Op::Archive,
        Op::AddParticipant,
        Op::RemoveParticipant,
        Op::PromoteParticipant,
        Op::MarkRead,
        Op::MarkMessageRead,
        Op::MySettings,
        Op::Leave,
        Op::EditMessage,
        Op::History,
        Op::React,
        Op::ListReactions,
        Op::ListReactors,
        Op::ListReactorsBadCursor,
        Op::DeleteForEveryone,
        Op::DeleteForMe,
        Op::Block,
        Op::Typing,
        Op::ListTyping,
        Op::CreateInvitation,
        Op::GetSettings,
        Op::UpdateSettings,
    ];
    let mut failures = Vec::new();
    let mut n = 0;
    for op in ops {
        for (caller, want) in CALLERS.iter().zip(expected(op)) {
            n += 1;
            let fx = fixture(&server, n).await;
            let got = run(op, &client(&server, *caller), &fx).await;
            if got != want {
                failures.push(format!("{op:?} as {caller:?}: expected {want}, got {got}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "authorization matrix mismatches:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn nothing_of_a_conversation_reaches_outsiders_through_their_own_lists() {
    let server = TestServer::spawn().await;
    let fx = fixture(&server, 0).await;
    for outsider in [server.user("outsider"), server.user("removed")] {
        let list = outsider
            .list_conversations(&Default::default())
            .await
            .expect("list");
        assert!(list.items.iter().all(|c| c.id != fx.conversation.id));
        let sync = outsider.sync(None).await.expect("sync");
        assert!(sync
            .conversations
            .iter()
            .all(|e| e.conversation_id != fx.conversation.id || e.removed));
        let unread = outsider.unread().await.expect("unread");
        assert_eq!(unread.total, 0);
    }
}
