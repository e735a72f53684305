//! Message endpoints: send, list and read messages, read markers, receipts and the
//! one-call direct message.

use natter_proto::{
    BulkMarkRead, BulkMarkReadResult, ConversationId, DirectMessage, DirectMessageSent, MarkRead,
    MarkReadResult, Message, MessageId, MessageSeq, Page, Receipts, SendMessage,
};

use crate::conversations::conversation_path;
use crate::query::QueryString;
use crate::{Client, ClientError, Created, Method, NO_BODY};

/// Order of a message list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortOrder {
    /// Oldest first.
    Asc,
    /// Newest first.
    Desc,
}

impl SortOrder {
    /// The wire name: `asc` or `desc`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Asc => "asc",
            Self::Desc => "desc",
        }
    }
}

/// Query of `GET /v1/conversations/{id}/messages`; absent fields are not sent.
///
/// `before` and `after` take a message seq or a message id, as text; the builder methods
/// fill them from typed values: `MessageFilter::default().after_seq(MessageSeq(3)).limit(10)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageFilter {
    /// Only messages before this seq or message id.
    pub before: Option<String>,
    /// Only messages after this seq or message id.
    pub after: Option<String>,
    /// Page size (1–100, 50 by default).
    pub limit: Option<u32>,
    /// Sort order.
    pub order: Option<SortOrder>,
}

impl MessageFilter {
    /// This filter, limited to messages before `seq`.
    pub fn before_seq(self, seq: MessageSeq) -> MessageFilter {
        MessageFilter {
            before: Some(seq.0.to_string()),
            ..self
        }
    }

    /// This filter, limited to messages before the message `message_id`.
    pub fn before_message(self, message_id: MessageId) -> MessageFilter {
        MessageFilter {
            before: Some(message_id.to_string()),
            ..self
        }
    }

    /// This filter, limited to messages after `seq`.
    pub fn after_seq(self, seq: MessageSeq) -> MessageFilter {
        MessageFilter {
            after: Some(seq.0.to_string()),
            ..self
        }
    }

    /// This filter, limited to messages after the message `message_id`.
    pub fn after_message(self, message_id: MessageId) -> MessageFilter {
        MessageFilter {
            after: Some(message_id.to_string()),
            ..self
        }
    }

    /// This filter with a page size.
    pub fn limit(self, limit: u32) -> MessageFilter {
        MessageFilter {
            limit: Some(limit),
            ..self
        }
    }

    /// This filter with a sort order.
    pub fn order(self, order: SortOrder) -> MessageFilter {
        MessageFilter {
            order: Some(order),
            ..self
        }
    }

    /// The query string: `""` when no field is set, otherwise `?name=value&…`.
    pub fn to_query_string(&self) -> String {
        QueryString::default()
            .push_opt("before", self.before.as_deref())
            .push_opt("after", self.after.as_deref())
            .push_opt("limit", self.limit)
            .push_opt("order", self.order.map(SortOrder::as_str))
            .finish()
    }
}

impl Client {
    /// `POST /v1/conversations/{conversation_id}/messages`: `created` is `false` when the
    /// `client_message_id` was seen before and the original message came back.
    pub async fn send_message(
        &self,
        conversation_id: ConversationId,
        body: &SendMessage,
    ) -> Result<Created<Message>, ClientError> {
        let path = format!("{}/messages", conversation_path(conversation_id));
        self.send_created(Method::POST, &path, Some(body)).await
    }

    /// Sends a text message without idempotency key, replies or mentions.
    pub async fn send_text(
        &self,
        conversation_id: ConversationId,
        text: &str,
    ) -> Result<Message, ClientError> {
        let body = SendMessage {
            content: Some(text.to_owned()),
            ..SendMessage::default()
        };
        let sent = self.send_message(conversation_id, &body).await?;
        Ok(sent.value)
    }

    /// `GET /v1/conversations/{conversation_id}/messages`.
    pub async fn list_messages(
        &self,
        conversation_id: ConversationId,
        filter: &MessageFilter,
    ) -> Result<Page<Message>, ClientError> {
        self.list_messages_as(conversation_id, filter).await
    }

    /// [`Client::list_messages`] with each item decoded as `T`: a projection of
    /// [`Message`] (its `seq` alone, say) is cheaper to decode than the whole message,
    /// for a caller that reads many pages and needs little of each.
    pub async fn list_messages_as<T: serde::de::DeserializeOwned>(
        &self,
        conversation_id: ConversationId,
        filter: &MessageFilter,
    ) -> Result<Page<T>, ClientError> {
        let path = format!(
            "{}/messages{}",
            conversation_path(conversation_id),
            filter.to_query_string()
        );
        self.send(Method::GET, &path, NO_BODY).await
    }

    /// `GET /v1/messages/{message_id}`.
    pub async fn message(&self, message_id: MessageId) -> Result<Message, ClientError> {
        self.send(Method::GET, &message_path(message_id), NO_BODY)
            .await
    }

    /// `GET /v1/messages/{message_id}/receipts`: who read it, who has it, who has neither.
    pub async fn receipts(&self, message_id: MessageId) -> Result<Receipts, ClientError> {
        let path = format!("{}/receipts", message_path(message_id));
        self.send(Method::GET, &path, NO_BODY).await
    }

    /// `PATCH /v1/messages/{message_id}/read`: moves the caller's read marker up to it.
    pub async fn mark_message_read(
        &self,
        message_id: MessageId,
    ) -> Result<MarkReadResult, ClientError> {
        let path = format!("{}/read", message_path(message_id));
        self.send(Method::PATCH, &path, NO_BODY).await
    }

    /// `POST /v1/conversations/{conversation_id}/read`: moves the caller's read marker.
    pub async fn mark_read(
        &self,
        conversation_id: ConversationId,
        body: &MarkRead,
    ) -> Result<MarkReadResult, ClientError> {
        let path = format!("{}/read", conversation_path(conversation_id));
        self.send(Method::POST, &path, Some(body)).await
    }

    /// `POST /v1/conversations/read`: marks several (or all) conversations read.
    pub async fn mark_read_bulk(
        &self,
        body: &BulkMarkRead,
    ) -> Result<BulkMarkReadResult, ClientError> {
        self.send(Method::POST, "/v1/conversations/read", Some(body))
            .await
    }

    /// `POST /v1/direct-messages`: finds or creates the direct conversation and sends.
    pub async fn direct_message(
        &self,
        body: &DirectMessage,
    ) -> Result<DirectMessageSent, ClientError> {
        self.send(Method::POST, "/v1/direct-messages", Some(body))
            .await
    }
}

/// `/v1/messages/{message_id}`.
fn message_path(message_id: MessageId) -> String {
    format!("/v1/messages/{message_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_message_filter_has_no_query_string() {
        assert_eq!(MessageFilter::default().to_query_string(), "");
    }

    #[test]
    fn message_filter_builders_fill_the_query_string() {
        let filter = MessageFilter::default()
            .after_seq(MessageSeq(3))
            .limit(10)
            .order(SortOrder::Desc);
        assert_eq!(filter.to_query_string(), "?after=3&limit=10&order=desc");

        let message_id = MessageId::new();
        let filter = MessageFilter::default().before_message(message_id);
        assert_eq!(filter.to_query_string(), format!("?before={message_id}"));
    }
}
