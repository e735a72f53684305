//! Messages, read markers and receipts.

use serde::{Deserialize, Serialize};

use crate::conversations::wire_enum;
use crate::{ContextRef, ConversationId, MessageId, MessageSeq, UserId};

wire_enum!(
    /// Kind of message.
    MessageType {
        /// Plain text.
        Text => "text",
        /// An image attachment.
        Image => "image",
        /// A document attachment.
        File => "file",
        /// A video attachment.
        Video => "video",
        /// An audio attachment.
        Audio => "audio",
        /// Sent by Natter or the host app's server (joins, leaves, order updates).
        System => "system",
    }
);

wire_enum!(
    /// Delivery state of a message as its sender sees it.
    DeliveryState {
        /// Stored; no recipient device has acknowledged it yet.
        Sent => "sent",
        /// A recipient device acknowledged it over the realtime gateway.
        Delivered => "delivered",
        /// A recipient read up to it.
        Read => "read",
    }
);

/// Body of `POST /v1/conversations/{id}/messages`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    /// `text` (default) or `system` (server API only).
    #[serde(rename = "type", default)]
    pub kind: Option<MessageType>,
    /// UTF-8 text, 1–4000 characters by default; normalised to NFC.
    #[serde(default)]
    pub content: Option<String>,
    /// Idempotency key, unique per sender (1–64 characters): a retry returns the original.
    #[serde(default)]
    pub client_message_id: Option<String>,
    /// Quote-reply to a message of the same conversation.
    #[serde(default)]
    pub reply_to_id: Option<MessageId>,
    /// Reply in the thread of this root message (same conversation; threads are one
    /// level deep, so the root is not itself a reply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_root_id: Option<MessageId>,
    /// Users mentioned; each must be a participant (at most 50).
    #[serde(default)]
    pub mentions: Vec<UserId>,
    /// Uploads to attach (at most 10, each the sender's own and not yet attached). With
    /// attachments, `content` is an optional caption and `type` follows from them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachment_ids: Vec<crate::AttachmentId>,
}

/// Body of `POST /v1/direct-messages`: finds or creates the direct conversation and sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DirectMessage {
    /// The other user.
    pub recipient_id: UserId,
    /// Message text.
    pub content: String,
    /// Context of the direct conversation (one direct conversation per pair and context).
    #[serde(default)]
    pub context: Option<ContextRef>,
    /// Idempotency key, as in [`SendMessage`].
    #[serde(default)]
    pub client_message_id: Option<String>,
}

/// Response of `POST /v1/direct-messages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectMessageSent {
    /// The direct conversation (found or created).
    pub conversation: crate::Conversation,
    /// The message.
    pub message: Message,
}

/// A message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    /// Server id (UUIDv7).
    pub id: MessageId,
    /// Conversation.
    pub conversation_id: ConversationId,
    /// Position in the conversation.
    pub seq: MessageSeq,
    /// Sender; absent for system messages from the server.
    pub sender_id: Option<UserId>,
    /// Type.
    #[serde(rename = "type")]
    pub kind: MessageType,
    /// Text; absent once deleted.
    pub content: Option<String>,
    /// The sender's idempotency key, echoed so that clients can match optimistic sends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_message_id: Option<String>,
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
    /// Whether PII was masked out of the content.
    pub pii_masked: bool,
    /// Delivery state, shown only to the sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryState>,
    /// Every other active participant has read it.
    pub read_by_all: bool,
    /// Reactions, aggregated per emoji (in order of first use).
    #[serde(default)]
    pub reactions: Vec<ReactionSummary>,
    /// The thread root this message replies in.
    #[serde(default)]
    pub thread_root_id: Option<MessageId>,
    /// For a thread root with replies: the summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<ThreadSummary>,
    /// Attached files (empty once the message is deleted). `GET /v1/attachments/{id}`
    /// gives their download URLs.
    #[serde(default)]
    pub attachments: Vec<crate::MessageAttachment>,
}

/// The summary a thread root carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ThreadSummary {
    /// Replies so far (deleted ones included).
    pub reply_count: u64,
    /// Time of the last reply.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_reply_at: Option<time::OffsetDateTime>,
    /// Users who replied or follow the thread (the first 10).
    pub participants: Vec<UserId>,
}

/// One emoji's reactions on a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReactionSummary {
    /// The emoji (one grapheme) or `:shortcode:`.
    pub emoji: String,
    /// How many users reacted with it.
    pub count: u64,
    /// The caller is one of them.
    pub me: bool,
    /// The first 10 users who reacted (by time, then user id); the rest are paged by
    /// `GET /v1/messages/{id}/reactions/{emoji}`.
    pub users: Vec<UserId>,
}

/// One user's reaction with an emoji: an item of `GET /v1/messages/{id}/reactions/{emoji}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reactor {
    /// Who reacted.
    pub user_id: UserId,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub reacted_at: time::OffsetDateTime,
}

/// Body of `POST /v1/messages/{id}/reactions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddReaction {
    /// A single emoji grapheme cluster (ZWJ sequences, skin tones and flags included) or a
    /// `:shortcode:` of `[a-z0-9_+-]{1,32}`.
    pub emoji: String,
}

/// Body of `PATCH /v1/messages/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EditMessage {
    /// The new text (same rules as when sending).
    pub content: String,
}

/// An earlier version of an edited message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageVersion {
    /// The text of that version (absent once the message is deleted).
    pub content: Option<String>,
    /// When this version was replaced by the next.
    #[serde(with = "time::serde::rfc3339")]
    pub edited_at: time::OffsetDateTime,
}

/// Response of `GET /v1/messages/{id}/history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageHistory {
    /// The message.
    pub message_id: MessageId,
    /// Earlier versions, oldest first; the current text is the message's own `content`.
    pub versions: Vec<MessageVersion>,
}

/// Body of `GET /v1/messages/{id}/reactions` and of `POST …/reactions` responses: what a
/// page shows of the message's reactions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reactions {
    /// The message.
    pub message_id: MessageId,
    /// Per emoji, in order of first use: the count, the caller's own, the first 10 users.
    pub reactions: Vec<ReactionSummary>,
}

/// Body of `POST /v1/conversations/{id}/read`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    /// Read up to this message; the latest when absent.
    #[serde(default)]
    pub up_to_message_id: Option<MessageId>,
}

/// Result of moving a read marker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MarkReadResult {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// Unread messages this call marked read (0 when the marker did not move).
    pub marked_count: u64,
    /// The read marker after the call.
    pub last_read_seq: MessageSeq,
    /// Unread messages left.
    pub unread_count: u64,
}

/// Body of `POST /v1/conversations/read`: either a list of conversations or `all: true`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BulkMarkRead {
    /// Conversations to mark read up to their latest message (at most 100).
    #[serde(default)]
    pub conversation_ids: Vec<ConversationId>,
    /// Mark every conversation of the caller read.
    #[serde(default)]
    pub all: bool,
}

/// Response of `POST /v1/conversations/read`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BulkMarkReadResult {
    /// Total messages marked read.
    pub marked_count: u64,
    /// One result per conversation touched.
    pub results: Vec<MarkReadResult>,
}

/// One participant's read or delivery state for a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Receipt {
    /// The participant.
    pub user_id: UserId,
    /// When their read marker reached (or passed) this message, as far as known: the time
    /// of the marker's last move.
    #[serde(with = "time::serde::rfc3339::option")]
    pub read_at: Option<time::OffsetDateTime>,
}

/// Response of `GET /v1/messages/{id}/receipts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Receipts {
    /// The message.
    pub message_id: MessageId,
    /// Its seq.
    pub seq: MessageSeq,
    /// Participants (other than the sender) whose read marker is at or past it.
    pub read_by: Vec<Receipt>,
    /// Participants (other than the sender) who acknowledged delivery but have not read it.
    pub delivered_to: Vec<UserId>,
    /// Participants (other than the sender) who have neither.
    pub pending: Vec<UserId>,
    /// Every other active participant has read it.
    pub read_by_all: bool,
}
