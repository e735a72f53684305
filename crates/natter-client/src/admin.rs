//! Moderation and statistics endpoints: the admin conversation list, exports, erasure,
//! the audit log, and `/v1/stats` / `/v1/admin/stats`. The `admin` ones need a client of
//! an app admin or the server key.

use natter_proto::{
    AdminStats, AuditEntry, Conversation, ConversationExport, ConversationId, ConversationStatus,
    ConversationType, ErasureResult, Page, UserId, UserStats,
};

use crate::query::{encode, QueryString};
use crate::{Client, ClientError, Method, NO_BODY};

/// Query of `GET /v1/admin/conversations`; absent fields are not sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminConversationFilter {
    /// Only conversations of this type (`type`).
    pub kind: Option<ConversationType>,
    /// Only conversations with this status.
    pub status: Option<ConversationStatus>,
    /// Only conversations linked to a host-app object of this kind.
    pub context_kind: Option<String>,
    /// Only conversations linked to the host-app object with this id.
    pub context_id: Option<String>,
    /// Only conversations this user is or was a participant of.
    pub participant: Option<UserId>,
    /// Only created at or after this RFC 3339 time.
    pub created_from: Option<String>,
    /// Only created strictly before this RFC 3339 time.
    pub created_to: Option<String>,
    /// The `next` cursor of the previous page.
    pub cursor: Option<String>,
    /// Page size.
    pub limit: Option<u32>,
}

impl AdminConversationFilter {
    /// The query string: `""` when no field is set, otherwise `?name=value&…`.
    pub fn to_query_string(&self) -> String {
        QueryString::default()
            .push_opt("type", self.kind.map(ConversationType::as_str))
            .push_opt("status", self.status.map(ConversationStatus::as_str))
            .push_opt("context_kind", self.context_kind.as_deref())
            .push_opt("context_id", self.context_id.as_deref())
            .push_opt("participant", self.participant.as_ref().map(UserId::as_str))
            .push_opt("created_from", self.created_from.as_deref())
            .push_opt("created_to", self.created_to.as_deref())
            .push_opt("cursor", self.cursor.as_deref())
            .push_opt("limit", self.limit)
            .finish()
    }
}

impl Client {
    /// `GET /v1/admin/conversations`: every conversation, newest created first.
    pub async fn admin_conversations(
        &self,
        filter: &AdminConversationFilter,
    ) -> Result<Page<Conversation>, ClientError> {
        let path = format!("/v1/admin/conversations{}", filter.to_query_string());
        self.send(Method::GET, &path, NO_BODY).await
    }

    /// `GET /v1/admin/conversations/{id}/export`.
    pub async fn export_conversation(
        &self,
        conversation_id: ConversationId,
    ) -> Result<ConversationExport, ClientError> {
        self.send(
            Method::GET,
            &format!("/v1/admin/conversations/{conversation_id}/export"),
            NO_BODY,
        )
        .await
    }

    /// `POST /v1/admin/users/{id}/erase`: erases everything the user wrote.
    pub async fn erase_user(&self, user_id: &UserId) -> Result<ErasureResult, ClientError> {
        self.send(
            Method::POST,
            &format!("/v1/admin/users/{}/erase", encode(user_id.as_str())),
            NO_BODY,
        )
        .await
    }

    /// `GET /v1/admin/audit`: one page of the audit log, newest first.
    pub async fn audit_log(
        &self,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<AuditEntry>, ClientError> {
        let query = QueryString::default()
            .push_opt("cursor", cursor)
            .push_opt("limit", limit)
            .finish();
        self.send(Method::GET, &format!("/v1/admin/audit{query}"), NO_BODY)
            .await
    }

    /// `GET /v1/stats`: the caller's own counts.
    pub async fn stats(&self) -> Result<UserStats, ClientError> {
        self.send(Method::GET, "/v1/stats", NO_BODY).await
    }

    /// `GET /v1/admin/stats`: installation-wide counts.
    pub async fn admin_stats(&self) -> Result<AdminStats, ClientError> {
        self.send(Method::GET, "/v1/admin/stats", NO_BODY).await
    }
}
