//! Search endpoint: `GET /v1/search/messages`.

use natter_proto::{ConversationId, MessageType, SearchResults, UserId};

use crate::query::QueryString;
use crate::{Client, ClientError, Method, NO_BODY};

/// Query of `GET /v1/search/messages`; absent fields are not sent.
///
/// `SearchFilter::new("contract").in_conversation(id).limit(10)`. `from` and `to` take
/// RFC 3339 times or dates (`2024-05-01`) as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchFilter {
    /// What to find.
    pub q: String,
    /// Only in this conversation.
    pub conversation_id: Option<ConversationId>,
    /// Only from this sender.
    pub sender_id: Option<UserId>,
    /// Only of this type.
    pub kind: Option<MessageType>,
    /// Only with (true) or without (false) attachments.
    pub has_attachment: Option<bool>,
    /// Sent at or after.
    pub from: Option<String>,
    /// Sent before (a date: up to its end).
    pub to: Option<String>,
    /// Page size (1–50, 20 by default).
    pub limit: Option<u32>,
    /// `next` of the previous page.
    pub cursor: Option<String>,
}

impl SearchFilter {
    /// A search for `q` without filters.
    pub fn new(q: &str) -> SearchFilter {
        SearchFilter {
            q: q.to_owned(),
            ..SearchFilter::default()
        }
    }

    /// This search, limited to one conversation.
    pub fn in_conversation(self, conversation_id: ConversationId) -> SearchFilter {
        SearchFilter {
            conversation_id: Some(conversation_id),
            ..self
        }
    }

    /// This search, limited to one sender.
    pub fn sender(self, sender_id: &UserId) -> SearchFilter {
        SearchFilter {
            sender_id: Some(sender_id.clone()),
            ..self
        }
    }

    /// This search, limited to one message type.
    pub fn kind(self, kind: MessageType) -> SearchFilter {
        SearchFilter {
            kind: Some(kind),
            ..self
        }
    }

    /// This search, limited to messages with or without attachments.
    pub fn has_attachment(self, has_attachment: bool) -> SearchFilter {
        SearchFilter {
            has_attachment: Some(has_attachment),
            ..self
        }
    }

    /// This search, limited to messages sent at or after `from`.
    pub fn from(self, from: &str) -> SearchFilter {
        SearchFilter {
            from: Some(from.to_owned()),
            ..self
        }
    }

    /// This search, limited to messages sent before `to`.
    pub fn to(self, to: &str) -> SearchFilter {
        SearchFilter {
            to: Some(to.to_owned()),
            ..self
        }
    }

    /// This search with a page size.
    pub fn limit(self, limit: u32) -> SearchFilter {
        SearchFilter {
            limit: Some(limit),
            ..self
        }
    }

    /// The page after `cursor` (a previous answer's `next`).
    pub fn cursor(self, cursor: &str) -> SearchFilter {
        SearchFilter {
            cursor: Some(cursor.to_owned()),
            ..self
        }
    }

    /// The query string, starting with `?q=`.
    pub fn to_query_string(&self) -> String {
        QueryString::default()
            .push("q", &self.q)
            .push_opt("conversation_id", self.conversation_id)
            .push_opt("sender_id", self.sender_id.as_ref())
            .push_opt("type", self.kind.map(MessageType::as_str))
            .push_opt("has_attachment", self.has_attachment)
            .push_opt("from", self.from.as_deref())
            .push_opt("to", self.to.as_deref())
            .push_opt("limit", self.limit)
            .push_opt("cursor", self.cursor.as_deref())
            .finish()
    }
}

impl Client {
    /// `GET /v1/search/messages`: one page of the caller's messages matching the filter.
    pub async fn search_messages(
        &self,
        filter: &SearchFilter,
    ) -> Result<SearchResults, ClientError> {
        let path = format!("/v1/search/messages{}", filter.to_query_string());
        self.send(Method::GET, &path, NO_BODY).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_a_query_string() {
        let filter = SearchFilter::new("a b&c")
            .kind(MessageType::Text)
            .has_attachment(false)
            .limit(5);
        assert_eq!(
            filter.to_query_string(),
            "?q=a%20b%26c&type=text&has_attachment=false&limit=5"
        );
    }
}
