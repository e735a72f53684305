//! The realtime gateway's frames (`GET /v1/realtime`) and the REST bodies around it.
//! `docs/protocol.md` describes the conversation that these frames make up.

use serde::{Deserialize, Serialize};

use crate::{ConversationId, EventSeq, MessageSeq, UserId};

/// WebSocket close codes the gateway uses.
pub mod close_code {
    /// The connection fell behind (or the hub lost track): fetch what you missed through
    /// `/v1/sync` and `/v1/conversations/{id}/events`, then reconnect.
    pub const RESYNC: u16 = 4001;
    /// Authentication failed; the reason is the close frame's text (a problem code).
    pub const UNAUTHORIZED: u16 = 4401;
    /// No authentication frame within 10 seconds.
    pub const AUTH_TIMEOUT: u16 = 4408;
    /// The node is shutting down: reconnect (to any node) and resume.
    pub const SERVICE_RESTART: u16 = 1012;
    /// The client missed heartbeats or sent a frame that is too large.
    pub const POLICY: u16 = 1008;
}

/// A frame from the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum ClientFrame {
    /// First frame when no `?token=` was given: a user JWT or a realtime token.
    #[serde(rename = "auth")]
    Auth {
        /// The token.
        token: String,
    },
    /// Answered with `pong`.
    #[serde(rename = "ping")]
    Ping,
    /// The user is typing (repeat at most every few seconds; expires after 10 s).
    #[serde(rename = "typing.start")]
    TypingStart {
        /// Conversation.
        conversation_id: ConversationId,
    },
    /// The user stopped typing.
    #[serde(rename = "typing.stop")]
    TypingStop {
        /// Conversation.
        conversation_id: ConversationId,
    },
    /// This device received every message up to `seq` (a message seq).
    #[serde(rename = "ack")]
    Ack {
        /// Conversation.
        conversation_id: ConversationId,
        /// Message seq.
        seq: MessageSeq,
    },
    /// The user read every message up to `seq` (a message seq).
    #[serde(rename = "read")]
    Read {
        /// Conversation.
        conversation_id: ConversationId,
        /// Message seq.
        seq: MessageSeq,
    },
}

/// A frame from the server. Conversation events (`message.created`, …) carry the
/// conversation's event `seq`; ephemeral frames (`typing.*`, `presence.updated`) and
/// control frames (`hello`, `pong`, `error`) carry none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerFrame {
    /// `hello`, `pong`, `error`, `typing.start`, `typing.stop`, `presence.updated`, or an
    /// event type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The conversation, for events and typing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<ConversationId>,
    /// The event seq, for conversation events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<EventSeq>,
    /// Payload.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: serde_json::Value,
    /// Server time.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub ts: Option<time::OffsetDateTime>,
}

/// `data` of the `hello` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Id of this connection (for logs).
    pub connection_id: String,
    /// The authenticated user.
    pub user_id: UserId,
    /// The server pings this often; answer pings (WebSocket pongs are automatic) or
    /// send a `ping` frame at least this often.
    pub heartbeat_interval_ms: u64,
    /// A sync token as of the moment live delivery started: events committed after it
    /// arrive on this connection; catch up on what came before with `/v1/sync?since=`.
    pub sync_token: String,
}

/// Response of `POST /v1/realtime/token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RealtimeToken {
    /// Pass as `GET /v1/realtime?token=…`.
    pub token: String,
    /// Seconds until it expires (60).
    pub expires_in: u64,
}

/// Body of `POST /v1/conversations/{id}/typing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetTyping {
    /// `true` (default) starts or refreshes the indicator, `false` clears it.
    #[serde(default = "yes")]
    pub typing: bool,
}

fn yes() -> bool {
    true
}

/// Response of `GET /v1/conversations/{id}/typing`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TypingState {
    /// Users typing now (last `typing.start` less than 10 s ago), sorted.
    pub user_ids: Vec<UserId>,
}

/// Response of `GET /v1/users/{id}/presence`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserPresence {
    /// The user.
    pub user_id: UserId,
    /// At least one device is connected to the realtime gateway (on any node).
    pub online: bool,
    /// When the last device disconnected.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_seen_at: Option<time::OffsetDateTime>,
}
