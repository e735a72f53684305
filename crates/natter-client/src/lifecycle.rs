//! Message lifecycle endpoints: edit, delete, history, reactions; blocking conversations.

use natter_proto::{
    AddReaction, Conversation, ConversationId, EditMessage, Message, MessageHistory, MessageId,
    Reactions,
};

use crate::{Client, ClientError, Created, Method, NO_BODY};

impl Client {
    /// `PATCH /v1/messages/{id}`: edits a message (sender only, within the edit window).
    pub async fn edit_message(
        &self,
        message_id: MessageId,
        content: &str,
    ) -> Result<Message, ClientError> {
        let body = EditMessage {
            content: content.to_owned(),
        };
        self.send(
            Method::PATCH,
            &format!("/v1/messages/{message_id}"),
            Some(&body),
        )
        .await
    }

    /// `DELETE /v1/messages/{id}?for=everyone|me`.
    pub async fn delete_message(
        &self,
        message_id: MessageId,
        for_everyone: bool,
    ) -> Result<(), ClientError> {
        let scope = if for_everyone { "everyone" } else { "me" };
        let response = self
            .raw(
                Method::DELETE,
                &format!("/v1/messages/{message_id}?for={scope}"),
                None,
            )
            .await?;
        if response.status == 204 {
            Ok(())
        } else {
            response.decode::<serde_json::Value>().map(|_| ())
        }
    }

    /// `GET /v1/messages/{id}/history`.
    pub async fn message_history(
        &self,
        message_id: MessageId,
    ) -> Result<MessageHistory, ClientError> {
        self.send(
            Method::GET,
            &format!("/v1/messages/{message_id}/history"),
            NO_BODY,
        )
        .await
    }

    /// `POST /v1/messages/{id}/reactions`: `created` is false when the reaction existed.
    pub async fn add_reaction(
        &self,
        message_id: MessageId,
        emoji: &str,
    ) -> Result<Created<Reactions>, ClientError> {
        let body = AddReaction {
            emoji: emoji.to_owned(),
        };
        self.send_created(
            Method::POST,
            &format!("/v1/messages/{message_id}/reactions"),
            Some(&body),
        )
        .await
    }

    /// `DELETE /v1/messages/{id}/reactions/{emoji}`.
    pub async fn remove_reaction(
        &self,
        message_id: MessageId,
        emoji: &str,
    ) -> Result<(), ClientError> {
        let path = format!(
            "/v1/messages/{message_id}/reactions/{}",
            crate::query::encode(emoji)
        );
        let response = self.raw(Method::DELETE, &path, None).await?;
        if response.status == 204 {
            Ok(())
        } else {
            response.decode::<serde_json::Value>().map(|_| ())
        }
    }

    /// `GET /v1/messages/{id}/reactions`.
    pub async fn reactions(&self, message_id: MessageId) -> Result<Reactions, ClientError> {
        self.send(
            Method::GET,
            &format!("/v1/messages/{message_id}/reactions"),
            NO_BODY,
        )
        .await
    }

    /// `GET /v1/messages/{id}/reactions/{emoji}`: a page of who reacted with `emoji`,
    /// oldest first.
    pub async fn reactors(
        &self,
        message_id: MessageId,
        emoji: &str,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<natter_proto::Page<natter_proto::Reactor>, ClientError> {
        let query = crate::query::QueryString::default()
            .push_opt("cursor", cursor)
            .push_opt("limit", limit)
            .finish();
        let path = format!(
            "/v1/messages/{message_id}/reactions/{}{query}",
            crate::query::encode(emoji)
        );
        self.send(Method::GET, &path, NO_BODY).await
    }

    /// `GET /v1/messages/{id}/thread`: replies to a thread root.
    pub async fn thread(
        &self,
        root_id: MessageId,
        filter: &crate::MessageFilter,
    ) -> Result<natter_proto::Page<Message>, ClientError> {
        self.thread_as(root_id, filter).await
    }

    /// [`Client::thread`] with each item decoded as `T`, a projection of [`Message`] (as
    /// [`Client::list_messages_as`]).
    pub async fn thread_as<T: serde::de::DeserializeOwned>(
        &self,
        root_id: MessageId,
        filter: &crate::MessageFilter,
    ) -> Result<natter_proto::Page<T>, ClientError> {
        let query = filter.to_query_string();
        self.send(
            Method::GET,
            &format!("/v1/messages/{root_id}/thread{query}"),
            NO_BODY,
        )
        .await
    }

    /// `POST|DELETE /v1/messages/{id}/thread/follow`.
    pub async fn follow_thread(&self, root_id: MessageId, follow: bool) -> Result<(), ClientError> {
        let method = if follow { Method::POST } else { Method::DELETE };
        let response = self
            .raw(
                method,
                &format!("/v1/messages/{root_id}/thread/follow"),
                None,
            )
            .await?;
        if response.status == 204 {
            Ok(())
        } else {
            response.decode::<serde_json::Value>().map(|_| ())
        }
    }

    /// `POST /v1/conversations/{id}/block`.
    pub async fn block_conversation(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Conversation, ClientError> {
        self.send(
            Method::POST,
            &format!("/v1/conversations/{conversation_id}/block"),
            NO_BODY,
        )
        .await
    }

    /// `POST /v1/conversations/{id}/unblock`.
    pub async fn unblock_conversation(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Conversation, ClientError> {
        self.send(
            Method::POST,
            &format!("/v1/conversations/{conversation_id}/unblock"),
            NO_BODY,
        )
        .await
    }
}
