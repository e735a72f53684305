//! Conversation endpoints: create, list, find by context, update, archive, participants and
//! the caller's own settings. Messages and read markers are in `messages.rs`.

use natter_proto::{
    AddParticipants, ContextConversation, Conversation, ConversationId, ConversationStatus,
    ConversationType, CreateConversation, MySettings, Page, Participant, UpdateConversation,
    UpdateMySettings, UpdateParticipant, UserId,
};
use serde::de::IgnoredAny;

use crate::query::{encode, QueryString};
use crate::{Client, ClientError, Created, Method, NO_BODY};

/// Query of `GET /v1/conversations`; absent fields are not sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversationFilter {
    /// Only conversations of this type (`type`).
    pub kind: Option<ConversationType>,
    /// Only conversations with this status.
    pub status: Option<ConversationStatus>,
    /// Only conversations with (or without) unread messages.
    pub has_unread: Option<bool>,
    /// Only conversations the caller pinned (or did not).
    pub pinned: Option<bool>,
    /// Only conversations the caller muted (or did not).
    pub muted: Option<bool>,
    /// Only conversations the caller archived in their list (or did not).
    pub archived: Option<bool>,
    /// Only conversations linked to a host-app object of this kind.
    pub context_kind: Option<String>,
    /// Only conversations linked to the host-app object with this id.
    pub context_id: Option<String>,
    /// The `next` cursor of the previous page.
    pub cursor: Option<String>,
    /// Page size.
    pub limit: Option<u32>,
}

impl ConversationFilter {
    /// The query string: `""` when no field is set, otherwise `?name=value&…`.
    pub fn to_query_string(&self) -> String {
        QueryString::default()
            .push_opt("type", self.kind.map(ConversationType::as_str))
            .push_opt("status", self.status.map(ConversationStatus::as_str))
            .push_opt("has_unread", self.has_unread)
            .push_opt("pinned", self.pinned)
            .push_opt("muted", self.muted)
            .push_opt("archived", self.archived)
            .push_opt("context_kind", self.context_kind.as_deref())
            .push_opt("context_id", self.context_id.as_deref())
            .push_opt("cursor", self.cursor.as_deref())
            .push_opt("limit", self.limit)
            .finish()
    }
}

impl Client {
    /// `POST /v1/conversations`: `created` is `false` when an existing conversation was
    /// returned (a direct conversation exists once per pair and context).
    pub async fn create_conversation(
        &self,
        body: &CreateConversation,
    ) -> Result<Created<Conversation>, ClientError> {
        self.send_created(Method::POST, "/v1/conversations", Some(body))
            .await
    }

    /// `GET /v1/conversations`: the caller's conversations, most recent activity first.
    pub async fn list_conversations(
        &self,
        filter: &ConversationFilter,
    ) -> Result<Page<Conversation>, ClientError> {
        let path = format!("/v1/conversations{}", filter.to_query_string());
        self.send(Method::GET, &path, NO_BODY).await
    }

    /// `PUT /v1/conversations/by-context/{kind}/{id}` (server API): finds or creates the
    /// conversation of a host-app object.
    pub async fn conversation_by_context(
        &self,
        kind: &str,
        id: &str,
        body: &ContextConversation,
    ) -> Result<Created<Conversation>, ClientError> {
        let path = format!(
            "/v1/conversations/by-context/{}/{}",
            encode(kind),
            encode(id)
        );
        self.send_created(Method::PUT, &path, Some(body)).await
    }

    /// `GET /v1/conversations/{conversation_id}`, with its participants.
    pub async fn conversation(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Conversation, ClientError> {
        self.send(Method::GET, &conversation_path(conversation_id), NO_BODY)
            .await
    }

    /// `PATCH /v1/conversations/{conversation_id}` (owner or admin).
    pub async fn update_conversation(
        &self,
        conversation_id: ConversationId,
        body: &UpdateConversation,
    ) -> Result<Conversation, ClientError> {
        self.send(
            Method::PATCH,
            &conversation_path(conversation_id),
            Some(body),
        )
        .await
    }

    /// `POST /v1/conversations/{conversation_id}/archive`: archives it for everyone.
    pub async fn archive_conversation(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Conversation, ClientError> {
        let path = format!("{}/archive", conversation_path(conversation_id));
        self.send(Method::POST, &path, NO_BODY).await
    }

    /// `GET /v1/conversations/{conversation_id}/participants`: the first page (50,
    /// longest-standing first).
    pub async fn participants(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Page<Participant>, ClientError> {
        self.participants_page(conversation_id, None, None).await
    }

    /// `GET /v1/conversations/{conversation_id}/participants?cursor=&limit=`: one page.
    pub async fn participants_page(
        &self,
        conversation_id: ConversationId,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<Participant>, ClientError> {
        let query = QueryString::default()
            .push_opt("cursor", cursor)
            .push_opt("limit", limit)
            .finish();
        let path = format!("{}/participants{query}", conversation_path(conversation_id));
        self.send(Method::GET, &path, NO_BODY).await
    }

    /// `POST /v1/conversations/{conversation_id}/participants`: the participants added.
    pub async fn add_participants(
        &self,
        conversation_id: ConversationId,
        body: &AddParticipants,
    ) -> Result<Vec<Participant>, ClientError> {
        let path = format!("{}/participants", conversation_path(conversation_id));
        self.send(Method::POST, &path, Some(body)).await
    }

    /// `PATCH /v1/conversations/{conversation_id}/participants/{user_id}`: changes a role.
    pub async fn update_participant(
        &self,
        conversation_id: ConversationId,
        user_id: &UserId,
        body: &UpdateParticipant,
    ) -> Result<Participant, ClientError> {
        let path = participant_path(conversation_id, user_id);
        self.send(Method::PATCH, &path, Some(body)).await
    }

    /// `DELETE /v1/conversations/{conversation_id}/participants/{user_id}` (`204`).
    pub async fn remove_participant(
        &self,
        conversation_id: ConversationId,
        user_id: &UserId,
    ) -> Result<(), ClientError> {
        let path = participant_path(conversation_id, user_id);
        let _: IgnoredAny = self.send(Method::DELETE, &path, NO_BODY).await?;
        Ok(())
    }

    /// `POST /v1/conversations/{conversation_id}/leave` (`204`).
    pub async fn leave(&self, conversation_id: ConversationId) -> Result<(), ClientError> {
        let path = format!("{}/leave", conversation_path(conversation_id));
        let _: IgnoredAny = self.send(Method::POST, &path, NO_BODY).await?;
        Ok(())
    }

    /// `PATCH /v1/conversations/{conversation_id}/me`: mute, pin, archive, notifications.
    pub async fn update_my_settings(
        &self,
        conversation_id: ConversationId,
        body: &UpdateMySettings,
    ) -> Result<MySettings, ClientError> {
        let path = format!("{}/me", conversation_path(conversation_id));
        self.send(Method::PATCH, &path, Some(body)).await
    }
}

/// `/v1/conversations/{conversation_id}`.
pub(crate) fn conversation_path(conversation_id: ConversationId) -> String {
    format!("/v1/conversations/{conversation_id}")
}

/// `/v1/conversations/{conversation_id}/participants/{user_id}`.
fn participant_path(conversation_id: ConversationId, user_id: &UserId) -> String {
    format!(
        "{}/participants/{}",
        conversation_path(conversation_id),
        encode(user_id.as_str())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_filter_has_no_query_string() {
        assert_eq!(ConversationFilter::default().to_query_string(), "");
    }

    #[test]
    fn filter_sends_only_present_fields_with_wire_names() {
        let filter = ConversationFilter {
            kind: Some(ConversationType::Group),
            status: Some(ConversationStatus::Archived),
            has_unread: Some(true),
            pinned: Some(false),
            context_kind: Some("order".to_owned()),
            context_id: Some("A/1 2".to_owned()),
            limit: Some(20),
            ..ConversationFilter::default()
        };
        assert_eq!(
            filter.to_query_string(),
            "?type=group&status=archived&has_unread=true&pinned=false\
             &context_kind=order&context_id=A%2F1%202&limit=20"
        );
    }

    #[test]
    fn participant_path_encodes_the_user_id() {
        let conversation_id = ConversationId::new();
        let user_id = UserId::parse("bob@host:1").expect("valid user id");
        assert_eq!(
            participant_path(conversation_id, &user_id),
            format!("/v1/conversations/{conversation_id}/participants/bob%40host%3A1")
        );
    }
}
