//! Moderation and statistics: the audit log, conversation exports, erasure results and
//! the counts of `/v1/stats` and `/v1/admin/stats`.

use serde::{Deserialize, Serialize};

use crate::conversations::wire_enum;
use crate::{
    Conversation, MessageId, MessageSeq, MessageType, MessageVersion, ParticipantRole, UserId,
};

/// Action codes of the audit log (`AuditEntry::action`).
pub mod audit_action {
    /// `POST /v1/conversations/{id}/block` by a moderator. Target: the conversation.
    pub const CONVERSATION_BLOCK: &str = "conversation.block";
    /// `POST /v1/conversations/{id}/unblock` by a moderator. Target: the conversation.
    pub const CONVERSATION_UNBLOCK: &str = "conversation.unblock";
    /// `GET /v1/admin/conversations/{id}/export`. Target: the conversation; details:
    /// `{messages}`.
    pub const CONVERSATION_EXPORT: &str = "conversation.export";
    /// `DELETE /v1/messages/{id}?for=everyone` by a moderator. Target: the message;
    /// details: `{conversation_id, sender_id}`.
    pub const MESSAGE_DELETE: &str = "message.delete";
    /// `DELETE /v1/conversations/{id}/participants/{user_id}` by a moderator. Target: the
    /// conversation; details: `{user_id}`.
    pub const PARTICIPANT_REMOVE: &str = "participant.remove";
    /// `POST /v1/admin/users/{id}/erase`. Target: the user; details: the
    /// [`crate::ErasureResult`] counts.
    pub const USER_ERASE: &str = "user.erase";
}

wire_enum!(
    /// Kind of thing an audit entry is about.
    AuditTargetType {
        /// A conversation.
        Conversation => "conversation",
        /// A message.
        Message => "message",
        /// A user.
        User => "user",
    }
);

/// One entry of the audit log: an action of an app admin or of the server key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// Position in the log (1, 2, 3, … in the order entries were written).
    pub id: u64,
    /// When the action happened.
    #[serde(with = "time::serde::rfc3339")]
    pub at: time::OffsetDateTime,
    /// The acting user's id, or `server` for the server API key acting as itself.
    pub actor: String,
    /// The request was authenticated with a server API key (tells the server apart from a
    /// user whose id happens to be `server`).
    pub server_key: bool,
    /// Stable action code, see [`audit_action`].
    pub action: String,
    /// What the action was done to.
    pub target_type: AuditTargetType,
    /// The conversation, message or user id.
    pub target_id: String,
    /// Action-specific details.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: serde_json::Value,
}

/// Result of `POST /v1/admin/users/{id}/erase`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErasureResult {
    /// The erased user.
    pub user_id: UserId,
    /// Messages that were turned into tombstones by this call (messages deleted before
    /// lose their remaining content too but are not counted).
    pub messages_erased: u64,
    /// The user's reactions removed from other users' messages.
    pub reactions_removed: u64,
    /// Conversations whose event log got `message.deleted` or `reaction.removed` events.
    pub conversations_affected: u64,
}

/// A participant in an export: everyone who ever joined, with when they left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExportedParticipant {
    /// The user.
    pub user_id: UserId,
    /// Role (the last one held, for those who left).
    pub role: ParticipantRole,
    /// When they (last) joined.
    #[serde(with = "time::serde::rfc3339")]
    pub joined_at: time::OffsetDateTime,
    /// When they left or were removed; absent for active participants.
    #[serde(with = "time::serde::rfc3339::option")]
    pub left_at: Option<time::OffsetDateTime>,
    /// Their read marker.
    pub last_read_seq: MessageSeq,
}

/// One user's reaction in an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExportedReaction {
    /// The emoji.
    pub emoji: String,
    /// Who reacted.
    pub user_id: UserId,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
}

/// A message in an export, with its edit history and reactions. A deleted message is a
/// tombstone: no content, no edit contents, `deleted_at` and `deleted_by` set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExportedMessage {
    /// Id.
    pub id: MessageId,
    /// Position in the conversation.
    pub seq: MessageSeq,
    /// Sender; absent for system messages from the server.
    pub sender_id: Option<UserId>,
    /// Type.
    #[serde(rename = "type")]
    pub kind: MessageType,
    /// Text; absent for tombstones.
    pub content: Option<String>,
    /// Quoted message.
    pub reply_to_id: Option<MessageId>,
    /// Mentioned users.
    pub mentions: Vec<UserId>,
    /// Send time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    /// Last edit time.
    #[serde(with = "time::serde::rfc3339::option")]
    pub edited_at: Option<time::OffsetDateTime>,
    /// Number of edits.
    pub edit_count: u32,
    /// Deletion time (tombstone).
    #[serde(with = "time::serde::rfc3339::option")]
    pub deleted_at: Option<time::OffsetDateTime>,
    /// Who deleted it; absent when the server key deleted it or the sender was erased.
    pub deleted_by: Option<UserId>,
    /// Whether PII was masked out of the content.
    pub pii_masked: bool,
    /// Earlier versions, oldest first (their content absent for tombstones).
    pub edits: Vec<MessageVersion>,
    /// Every reaction, oldest first.
    pub reactions: Vec<ExportedReaction>,
}

/// Response of `GET /v1/admin/conversations/{id}/export`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationExport {
    /// When the export was made.
    #[serde(with = "time::serde::rfc3339")]
    pub exported_at: time::OffsetDateTime,
    /// The conversation with its active participants.
    pub conversation: Conversation,
    /// Everyone who ever participated, active or not.
    pub participants: Vec<ExportedParticipant>,
    /// Every message, by seq, deleted ones as tombstones.
    pub messages: Vec<ExportedMessage>,
}

/// Conversations per type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationTypeCounts {
    /// `direct`.
    pub direct: u64,
    /// `group`.
    pub group: u64,
    /// `support`.
    pub support: u64,
    /// `channel`.
    pub channel: u64,
}

/// Conversations per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationStatusCounts {
    /// `active`.
    pub active: u64,
    /// `archived`.
    pub archived: u64,
    /// `blocked`.
    pub blocked: u64,
}

/// Conversation counts, in total and per type and status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationCounts {
    /// All of them.
    pub total: u64,
    /// Per type.
    pub by_type: ConversationTypeCounts,
    /// Per conversation-wide status.
    pub by_status: ConversationStatusCounts,
}

/// Response of `GET /v1/stats`: the caller's own numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserStats {
    /// The caller's active conversations (those they have not left).
    pub conversations: ConversationCounts,
    /// Unread messages over all of them.
    pub unread_total: u64,
    /// Conversations with at least one unread message.
    pub conversations_with_unread: u64,
    /// Messages the caller ever sent, deleted ones included.
    pub messages_sent: u64,
}

/// Users who sent at least one message in a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActiveUsers {
    /// In the last 24 hours.
    pub last_24h: u64,
    /// In the last 7 days.
    pub last_7d: u64,
}

/// Messages sent on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DailyCount {
    /// The day, `YYYY-MM-DD` (UTC).
    pub date: String,
    /// Messages sent that day, deleted ones included.
    pub messages: u64,
}

/// Response of `GET /v1/admin/stats`: installation-wide numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdminStats {
    /// When the numbers were read.
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: time::OffsetDateTime,
    /// Users known to Natter.
    pub users: u64,
    /// Every conversation.
    pub conversations: ConversationCounts,
    /// Messages ever sent, deleted ones included.
    pub messages: u64,
    /// Users who sent a message recently (`last_seen_at` is not used: it is only written
    /// when a realtime connection closes).
    pub active_users: ActiveUsers,
    /// The last 30 UTC days, oldest first, today last (so far); days without messages
    /// included.
    pub messages_per_day: Vec<DailyCount>,
}
