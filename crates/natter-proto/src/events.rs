//! The conversation event log as clients read it: over REST (`/events`, `/sync`) and,
//! with the realtime gateway, as frames.

use serde::{Deserialize, Serialize};

use crate::{ConversationId, EventSeq};

/// Event type names (`category.action`). The payload of each is documented in `docs/protocol.md`.
pub mod event_type {
    /// `data`: the message.
    pub const MESSAGE_CREATED: &str = "message.created";
    /// `data`: the message after an edit.
    pub const MESSAGE_UPDATED: &str = "message.updated";
    /// `data`: the message's tombstone.
    pub const MESSAGE_DELETED: &str = "message.deleted";
    /// `data`: `{message_id, user_id, emoji}`.
    pub const REACTION_ADDED: &str = "reaction.added";
    /// `data`: the thread's root message with its summary.
    pub const THREAD_UPDATED: &str = "thread.updated";
    /// `data`: `{message_id, user_id, emoji}`.
    pub const REACTION_REMOVED: &str = "reaction.removed";
    /// `data`: the conversation (with participants).
    pub const CONVERSATION_CREATED: &str = "conversation.created";
    /// `data`: the conversation (without per-user fields).
    pub const CONVERSATION_UPDATED: &str = "conversation.updated";
    /// `data`: the participant.
    pub const PARTICIPANT_ADDED: &str = "participant.added";
    /// `data`: `{user_id, reason}` with reason `left` or `removed`.
    pub const PARTICIPANT_REMOVED: &str = "participant.removed";
    /// `data`: the participant.
    pub const PARTICIPANT_UPDATED: &str = "participant.updated";
    /// `data`: `{user_id, last_read_seq, last_read_at}`.
    pub const RECEIPT_UPDATED: &str = "receipt.updated";
}

/// One entry of a conversation's event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// `category.action`, see [`event_type`].
    #[serde(rename = "type")]
    pub kind: String,
    /// The conversation.
    pub conversation_id: ConversationId,
    /// Position in the conversation's event log (1, 2, 3, … without gaps).
    pub seq: EventSeq,
    /// Payload; its shape depends on `type`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: serde_json::Value,
    /// When the change was committed.
    #[serde(with = "time::serde::rfc3339")]
    pub ts: time::OffsetDateTime,
}

/// Response of `GET /v1/conversations/{id}/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventPage {
    /// Events with `seq > after_seq`, in seq order.
    pub events: Vec<Event>,
    /// The conversation's latest event seq at the time of the read.
    pub latest_seq: EventSeq,
    /// More events follow the last one returned.
    pub has_more: bool,
}

/// One conversation in a sync response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncEntry {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// Its latest event seq: fetch events after the last one you hold, up to this.
    pub latest_seq: EventSeq,
    /// The caller is no longer a participant; drop the conversation locally.
    pub removed: bool,
}

/// Response of `GET /v1/sync`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncResponse {
    /// Conversations changed since the token (possibly a few more: the window overlaps
    /// to be safe against commit-order races; compare seqs to see what is new).
    pub conversations: Vec<SyncEntry>,
    /// Pass as `since` next time.
    pub next_token: String,
}
