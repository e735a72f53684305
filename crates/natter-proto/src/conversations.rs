//! Conversations and their participants.

use serde::{Deserialize, Serialize};

use crate::{ConversationId, EventSeq, MessageSeq, MessageType, UserId};

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// The snake_case name used on the wire and in storage.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $wire),+ }
            }

            /// Parses the wire name; `None` for anything else.
            pub fn parse(raw: &str) -> Option<Self> {
                match raw { $($wire => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}
pub(crate) use wire_enum;

wire_enum!(
    /// Kind of conversation.
    ConversationType {
        /// Exactly two participants; unique per pair and context.
        Direct => "direct",
        /// Any number of participants with a title.
        Group => "group",
        /// A user plus agents; any agent may join.
        Support => "support",
        /// A room inside a space.
        Channel => "channel",
    }
);

wire_enum!(
    /// Conversation-wide status.
    ConversationStatus {
        /// Open for messages.
        Active => "active",
        /// Archived for everyone; still readable and writable.
        Archived => "archived",
        /// No new messages.
        Blocked => "blocked",
    }
);

wire_enum!(
    /// Role of a participant inside one conversation. Ordered: member < admin < owner.
    ParticipantRole {
        /// Reads and posts.
        Member => "member",
        /// Also adds and removes members and edits the conversation.
        Admin => "admin",
        /// The creator; also grants admin. Exactly one per conversation.
        Owner => "owner",
    }
);

impl ParticipantRole {
    /// Rank for comparisons: member 0, admin 1, owner 2.
    pub fn rank(self) -> u8 {
        match self {
            Self::Member => 0,
            Self::Admin => 1,
            Self::Owner => 2,
        }
    }
}

wire_enum!(
    /// Which messages notify a participant.
    NotificationLevel {
        /// Every message.
        All => "all",
        /// Only messages that mention the participant.
        Mentions => "mentions",
        /// Nothing.
        None => "none",
    }
);

/// Link from a conversation to an object of the host application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ContextRef {
    /// `order`, `booking`, `event` or any other kind (1–32 characters of `[a-z0-9_.-]`).
    pub kind: String,
    /// The host app's id of the object (1–128 printable characters).
    pub id: String,
}

/// Body of `POST /v1/conversations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateConversation {
    /// `direct`, `group` or `support`.
    #[serde(rename = "type")]
    pub kind: ConversationType,
    /// The other participants (the caller is added as owner). Direct: exactly one id.
    #[serde(default)]
    pub participant_ids: Vec<UserId>,
    /// Required for groups; 1–200 characters.
    #[serde(default)]
    pub title: Option<String>,
    /// Up to 2000 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// http(s) URL, up to 2048 characters.
    #[serde(default)]
    pub avatar_url: Option<String>,
    /// Optional link to a host-app object.
    #[serde(default)]
    pub context: Option<ContextRef>,
}

/// Body of `PUT /v1/conversations/by-context/{kind}/{id}` (server API).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ContextConversation {
    /// `group` (default), `support` or `direct` (exactly two participants).
    #[serde(rename = "type", default)]
    pub kind: Option<ConversationType>,
    /// Participants; missing ones are added when the conversation exists already.
    pub participant_ids: Vec<UserId>,
    /// Owner of a new conversation; defaults to the first participant.
    #[serde(default)]
    pub owner_id: Option<UserId>,
    /// Title of a new conversation (required for groups).
    #[serde(default)]
    pub title: Option<String>,
    /// Description of a new conversation.
    #[serde(default)]
    pub description: Option<String>,
}

/// Body of `PATCH /v1/conversations/{id}` (owner or admin).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateConversation {
    /// New title (1–200 characters).
    #[serde(default)]
    pub title: Option<String>,
    /// New description; an empty string clears it.
    #[serde(default)]
    pub description: Option<String>,
    /// New avatar URL; an empty string clears it.
    #[serde(default)]
    pub avatar_url: Option<String>,
    /// `active` or `archived` (blocking has its own endpoint).
    #[serde(default)]
    pub status: Option<ConversationStatus>,
    /// Trusted conversations are exempt from PII masking; server API only.
    #[serde(default)]
    pub trusted: Option<bool>,
}

/// Preview of the latest message, denormalised on the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessagePreview {
    /// Seq of the message.
    pub seq: MessageSeq,
    /// Sender; absent for system messages.
    pub sender_id: Option<UserId>,
    /// Message type.
    #[serde(rename = "type")]
    pub kind: MessageType,
    /// The first 100 characters of the content (empty once deleted).
    pub text: String,
    /// The newest message was deleted: show a tombstone.
    #[serde(default)]
    pub deleted: bool,
    /// When it was sent.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
}

/// A conversation as the caller sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Conversation {
    /// Id.
    pub id: ConversationId,
    /// Kind.
    #[serde(rename = "type")]
    pub kind: ConversationType,
    /// Status.
    pub status: ConversationStatus,
    /// Title (groups always have one).
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// Host-app object this conversation belongs to.
    pub context: Option<ContextRef>,
    /// Creator; absent when the server API created it without acting as a user.
    pub created_by: Option<UserId>,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    /// Last change of the conversation itself.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: time::OffsetDateTime,
    /// Last message, or creation time: the list order.
    #[serde(with = "time::serde::rfc3339")]
    pub last_activity_at: time::OffsetDateTime,
    /// Exempt from PII masking.
    pub trusted: bool,
    /// End-to-end encrypted (set at creation, never unset).
    pub encrypted: bool,
    /// Messages ever sent (including deleted ones).
    pub message_count: u64,
    /// Seq of the newest message (0 when empty).
    pub last_message_seq: MessageSeq,
    /// Seq of the newest event in the event log.
    pub latest_event_seq: EventSeq,
    /// Preview of the newest message.
    pub last_message: Option<MessagePreview>,
    /// Active participants.
    pub participant_count: u64,
    /// For direct conversations, the other participant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_id: Option<UserId>,
    /// Messages from others after the caller's read marker (0 for non-participants).
    pub unread_count: u64,
    /// The caller's own participant state; absent for admins and the server API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub me: Option<MySettings>,
    /// Active participants, longest-standing first: the first 100 (`participant_count`
    /// counts them all; `GET …/participants` pages the rest); only in single-conversation
    /// responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participants: Option<Vec<Participant>>,
}

/// A participant as every participant sees them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Participant {
    /// The user.
    pub user_id: UserId,
    /// Role in this conversation.
    pub role: ParticipantRole,
    /// When they (last) joined.
    #[serde(with = "time::serde::rfc3339")]
    pub joined_at: time::OffsetDateTime,
    /// Read marker: every message up to this seq is read.
    pub last_read_seq: MessageSeq,
    /// When the read marker last moved.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_read_at: Option<time::OffsetDateTime>,
    /// Delivery marker: a device of theirs acknowledged every message up to this seq.
    pub last_delivered_seq: MessageSeq,
}

/// The caller's own state in a conversation (`me`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MySettings {
    /// Role in this conversation.
    pub role: ParticipantRole,
    /// When the caller (last) joined.
    #[serde(with = "time::serde::rfc3339")]
    pub joined_at: time::OffsetDateTime,
    /// Read marker.
    pub last_read_seq: MessageSeq,
    /// When the read marker last moved.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_read_at: Option<time::OffsetDateTime>,
    /// Delivery marker.
    pub last_delivered_seq: MessageSeq,
    /// Muted now (taking `muted_until` into account).
    pub muted: bool,
    /// End of a timed mute.
    #[serde(with = "time::serde::rfc3339::option")]
    pub muted_until: Option<time::OffsetDateTime>,
    /// Pinned to the top of the caller's list.
    pub pinned: bool,
    /// Archived in the caller's list (distinct from the conversation status).
    pub archived: bool,
    /// Notification level.
    pub notification_level: NotificationLevel,
    /// Notification sound on.
    pub sound: bool,
}

/// Body of `PATCH /v1/conversations/{id}/me`: every field optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateMySettings {
    /// Mute or unmute; unmuting clears `muted_until`.
    #[serde(default)]
    pub muted: Option<bool>,
    /// With `muted: true`, the end of the mute (in the future).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub muted_until: Option<time::OffsetDateTime>,
    /// Pin or unpin.
    #[serde(default)]
    pub pinned: Option<bool>,
    /// Archive or unarchive in the caller's list.
    #[serde(default)]
    pub archived: Option<bool>,
    /// Notification level.
    #[serde(default)]
    pub notification_level: Option<NotificationLevel>,
    /// Sound on or off.
    #[serde(default)]
    pub sound: Option<bool>,
}

/// Body of `POST /v1/conversations/{id}/participants`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddParticipants {
    /// Users to add (1–100); those already in are left as they are.
    pub user_ids: Vec<UserId>,
    /// Role for all of them; `member` by default. Only the owner grants `admin`.
    #[serde(default)]
    pub role: Option<ParticipantRole>,
}

/// Body of `PATCH /v1/conversations/{id}/participants/{user_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateParticipant {
    /// New role: `admin` or `member` (ownership is not transferable this way).
    pub role: ParticipantRole,
}

/// Unread count of one conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationUnread {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// Messages from others after the read marker, not deleted.
    pub unread_count: u64,
    /// Of those, the ones that mention the caller.
    #[serde(default)]
    pub unread_mentions: u64,
}

/// Body of `POST /v1/conversations/{id}/invitations`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    /// Seconds until it expires: 60 to 30 days (default 7 days).
    #[serde(default)]
    pub expires_in_secs: Option<u64>,
    /// How many users may accept it (1–10 000); unlimited when absent.
    #[serde(default)]
    pub max_uses: Option<u32>,
}

/// An invitation link to a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invitation {
    /// Id (for revoking).
    pub id: String,
    /// The conversation it admits to.
    pub conversation_id: ConversationId,
    /// The signed token: `POST /v1/invitations/{token}/accept`.
    pub token: String,
    /// Who created it.
    pub created_by: Option<UserId>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    /// Expiry.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: time::OffsetDateTime,
    /// Most accepts, if limited.
    pub max_uses: Option<u32>,
    /// Accepts so far.
    pub uses: u32,
    /// Revoked.
    pub revoked: bool,
}

/// A conversation's settings: a free-form JSON object (at most 4 KiB) with a version.
/// Known keys: `color` (`#rrggbb`), `notification_level` (default for new members:
/// `all`, `mentions`, `none`); anything else is the host app's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationSettings {
    /// The settings object.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub settings: serde_json::Value,
    /// 0 before the first change, then +1 per change.
    pub version: u64,
    /// Last change.
    #[serde(with = "time::serde::rfc3339::option")]
    pub updated_at: Option<time::OffsetDateTime>,
    /// Who changed it last.
    pub updated_by: Option<UserId>,
}

/// Body of `PATCH /v1/conversations/{id}/settings`: top-level keys to set (`null`
/// removes a key), and the version the change is based on (or send `If-Match`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateSettings {
    /// Keys to set or (with `null`) remove.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub settings: serde_json::Value,
    /// The version this change is based on: 409 `version_conflict` if it is not current.
    #[serde(default)]
    pub version: Option<u64>,
}

/// One entry of `GET /v1/conversations/{id}/settings/history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SettingsChange {
    /// The version this change produced.
    pub version: u64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub changed_at: time::OffsetDateTime,
    /// Who (absent for the server key).
    pub changed_by: Option<UserId>,
    /// `{key: {"from", "to"}}` for every key that changed.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub changes: serde_json::Value,
}
