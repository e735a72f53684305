//! Moderation, audit and statistics: the [`AdminStore`] trait and its records.
//!
//! A separate trait from [`crate::Store`] because none of it is on the messaging path:
//! listing every conversation, exporting one whole, erasing a user's content, the audit
//! log and counts. [`crate::Store`] requires it, so a store is always both, and services
//! reach it through the same `Arc<dyn Store>`.
//!
//! Who may call these (app admins and the server key) is `natter-app`'s business
//! (`admin.rs`); the store only guarantees atomicity and the invariants written on each
//! method. Where to look next: each store crate's `admin.rs` for the SQL.

use async_trait::async_trait;
use natter_proto::{
    ConversationId, ConversationStatus, ConversationType, EventSeq, MessageId, MessageSeq,
    Timestamp, UserId,
};

use crate::StoreError;
use crate::{ConversationRecord, EditRecord, MessageRecord, ParticipantRecord, ReactionRecord};

/// What an audit entry is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditTarget {
    /// A conversation.
    Conversation(ConversationId),
    /// A message.
    Message(MessageId),
    /// A user.
    User(UserId),
}

impl AuditTarget {
    /// Stored and wire name of the target's kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Conversation(_) => "conversation",
            Self::Message(_) => "message",
            Self::User(_) => "user",
        }
    }

    /// The target's id as text.
    pub fn id(&self) -> String {
        match self {
            Self::Conversation(id) => id.to_string(),
            Self::Message(id) => id.to_string(),
            Self::User(id) => id.as_str().to_owned(),
        }
    }

    /// Inverse of [`AuditTarget::kind`] and [`AuditTarget::id`]; `None` for anything else.
    pub fn parse(kind: &str, id: &str) -> Option<Self> {
        match kind {
            "conversation" => id.parse().ok().map(Self::Conversation),
            "message" => id.parse().ok().map(Self::Message),
            "user" => UserId::parse(id).ok().map(Self::User),
            _ => None,
        }
    }
}

impl From<ConversationId> for AuditTarget {
    fn from(id: ConversationId) -> Self {
        Self::Conversation(id)
    }
}

impl From<MessageId> for AuditTarget {
    fn from(id: MessageId) -> Self {
        Self::Message(id)
    }
}

impl From<UserId> for AuditTarget {
    fn from(id: UserId) -> Self {
        Self::User(id)
    }
}

/// Input of [`AdminStore::insert_audit`]: one admin action.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    /// When the action happened.
    pub at: Timestamp,
    /// The acting user; `None` for the server key acting as itself.
    pub actor: Option<UserId>,
    /// The request was authenticated with a server API key.
    pub server_key: bool,
    /// Stable action code (`natter_proto::audit_action`).
    pub action: String,
    /// What the action was done to.
    pub target: AuditTarget,
    /// Action-specific details.
    pub details: serde_json::Value,
}

/// A stored audit entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// Position in the log: 1, 2, 3, … in insertion order.
    pub id: u64,
    /// When the action happened.
    pub at: Timestamp,
    /// The acting user; `None` for the server key acting as itself.
    pub actor: Option<UserId>,
    /// The request was authenticated with a server API key.
    pub server_key: bool,
    /// Stable action code.
    pub action: String,
    /// What the action was done to.
    pub target: AuditTarget,
    /// Action-specific details.
    pub details: serde_json::Value,
}

/// Cursor and size of an audit page (newest first).
#[derive(Debug, Clone)]
pub struct AuditQuery {
    /// Only entries with a smaller id.
    pub before: Option<u64>,
    /// Page size; the store returns at most this many.
    pub limit: u32,
}

/// Filters and cursor of [`AdminStore::list_all_conversations`].
#[derive(Debug, Clone, Default)]
pub struct AdminConversationQuery {
    /// Only this type.
    pub kind: Option<ConversationType>,
    /// Only this status.
    pub status: Option<ConversationStatus>,
    /// Only this context kind.
    pub context_kind: Option<String>,
    /// Only this context id.
    pub context_id: Option<String>,
    /// Only conversations this user is or was a participant of.
    pub participant: Option<UserId>,
    /// Only created at or after.
    pub created_from: Option<Timestamp>,
    /// Only created strictly before.
    pub created_to: Option<Timestamp>,
    /// Only conversations strictly after this `(created_at, id)` in list order (newest
    /// created first, ties by id descending).
    pub after: Option<(Timestamp, ConversationId)>,
    /// Page size; the store returns at most this many.
    pub limit: u32,
}

/// One message of an export with everything attached to it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportMessageRecord {
    /// The message as stored (a deleted message may still hold content until purged:
    /// callers must show tombstones without it).
    pub message: MessageRecord,
    /// Its replaced versions, oldest first.
    pub edits: Vec<EditRecord>,
    /// Its reactions, oldest first.
    pub reactions: Vec<ReactionRecord>,
}

/// Input of [`AdminStore::erase_user`].
#[derive(Debug, Clone)]
pub struct Erasure {
    /// Whose content to erase.
    pub user_id: UserId,
    /// Erasure time: `deleted_at` of the messages it deletes.
    pub now: Timestamp,
    /// The audit entry, committed with the erasure.
    pub audit: NewAuditEntry,
}

impl Erasure {
    /// The audit entry as written: its details object gains the outcome's counts
    /// (`messages_erased`, `reactions_removed`, `conversations_affected`), which the caller
    /// cannot know before the erasure ran.
    pub fn audit_with(&self, outcome: &ErasureOutcome) -> NewAuditEntry {
        let mut entry = self.audit.clone();
        if !entry.details.is_object() {
            entry.details = serde_json::Value::Object(serde_json::Map::new());
        }
        if let Some(details) = entry.details.as_object_mut() {
            details.insert("messages_erased".into(), outcome.messages_erased.into());
            details.insert("reactions_removed".into(), outcome.reactions_removed.into());
            details.insert(
                "conversations_affected".into(),
                (outcome.conversations.len() as u64).into(),
            );
        }
        entry
    }
}

/// Result of [`AdminStore::erase_user`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureOutcome {
    /// Messages of the user that were not deleted yet and now are.
    pub messages_erased: u64,
    /// The user's reactions removed from other users' messages.
    pub reactions_removed: u64,
    /// Each conversation that got events, with its newest event seq, by conversation id.
    pub conversations: Vec<(ConversationId, EventSeq)>,
}

/// How many conversations have one type and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConversationCount {
    /// Type.
    pub kind: ConversationType,
    /// Status.
    pub status: ConversationStatus,
    /// Conversations.
    pub count: u64,
}

/// Counts of one user (unread counts come from [`crate::Store::list_unread_counts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserStatsRecord {
    /// The user's active conversations, per type and status (only non-zero pairs).
    pub conversations: Vec<ConversationCount>,
    /// Messages the user ever sent, deleted ones included.
    pub messages_sent: u64,
}

/// Windows of [`AdminStore::get_global_stats`], computed by the caller from its clock.
#[derive(Debug, Clone)]
pub struct StatsWindows {
    /// Start of "active in the last 24 hours".
    pub day_since: Timestamp,
    /// Start of "active in the last 7 days".
    pub week_since: Timestamp,
    /// Midnight (UTC) that starts the first day of the per-day counts.
    pub days_from: Timestamp,
    /// Number of days counted from `days_from`.
    pub days: u32,
}

/// Installation-wide counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalStatsRecord {
    /// Users known to Natter.
    pub users: u64,
    /// Conversations per type and status (only non-zero pairs).
    pub conversations: Vec<ConversationCount>,
    /// Messages ever sent, deleted ones included.
    pub messages: u64,
    /// Users who sent a message since `day_since`.
    pub active_last_day: u64,
    /// Users who sent a message since `week_since`.
    pub active_last_week: u64,
    /// Messages sent on each day from `days_from`, `days` entries, oldest first.
    pub messages_per_day: Vec<u64>,
}

/// Storage of moderation, audit and statistics. Each method is one atomic unit, like
/// those of [`crate::Store`].
#[async_trait]
pub trait AdminStore: Send + Sync + 'static {
    // --- audit ---

    /// Appends an entry to the audit log and returns it with its id.
    async fn insert_audit(&self, entry: NewAuditEntry) -> Result<AuditRecord, StoreError>;

    /// A page of the audit log, newest first.
    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError>;

    // --- conversations ---

    /// One page of every conversation matching the filters, newest created first.
    async fn list_all_conversations(
        &self,
        query: &AdminConversationQuery,
    ) -> Result<Vec<ConversationRecord>, StoreError>;

    /// Every participant row of the conversation, active or left, by join time then user.
    async fn list_participant_history(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Vec<ParticipantRecord>, StoreError>;

    /// Up to `limit` messages with `seq > after`, oldest first, each with its edit history
    /// and reactions, read in one snapshot.
    async fn list_export_messages(
        &self,
        conversation_id: ConversationId,
        after: MessageSeq,
        limit: u32,
    ) -> Result<Vec<ExportMessageRecord>, StoreError>;

    // --- statistics ---

    /// The user's conversation counts and messages sent.
    async fn get_user_stats(&self, user_id: &UserId) -> Result<UserStatsRecord, StoreError>;

    /// Installation-wide counts, read in one snapshot.
    async fn get_global_stats(
        &self,
        windows: &StatsWindows,
    ) -> Result<GlobalStatsRecord, StoreError>;

    // --- erasure ---

    /// Erases everything the user wrote, in one transaction: every message they sent
    /// becomes a tombstone (`deleted_at` set if it was not, `deleted_by` NULL) with its
    /// content and mentions cleared now (not after the retention period), the content of
    /// its edit history cleared and its reactions removed; their reactions on other
    /// messages are removed; previews of their newest messages become tombstones; their
    /// display name and avatar are cleared; the audit entry is written. Appends
    /// `message.deleted` per newly deleted message and `reaction.removed` per removed
    /// reaction on a surviving message. `NotFound` if the user does not exist.
    async fn erase_user(&self, erasure: Erasure) -> Result<ErasureOutcome, StoreError>;
}
