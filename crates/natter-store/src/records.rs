//! Records the store returns and the inputs of its write methods.

use natter_proto::{
    AppRole, ContextRef, Conversation, ConversationId, ConversationStatus, ConversationType,
    EventSeq, Message, MessageId, MessagePreview, MessageSeq, MessageType, MySettings,
    NotificationLevel, Participant, ParticipantRole, Timestamp, User, UserId,
};

/// A stored user.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    /// Host-app id.
    pub id: UserId,
    /// Display name.
    pub display_name: Option<String>,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// Application role.
    pub role: AppRole,
    /// First seen.
    pub created_at: Timestamp,
    /// Last seen.
    pub last_seen_at: Option<Timestamp>,
}

impl UserRecord {
    /// The wire shape.
    pub fn to_proto(&self) -> User {
        User {
            id: self.id.clone(),
            display_name: self.display_name.clone(),
            avatar_url: self.avatar_url.clone(),
            role: self.role,
            created_at: self.created_at,
            last_seen_at: self.last_seen_at,
        }
    }
}

/// Input of [`crate::Store::upsert_user`]: absent fields are left unchanged (or defaulted
/// for a new user).
#[derive(Debug, Clone)]
pub struct UserUpsert {
    /// The user.
    pub id: UserId,
    /// New display name.
    pub display_name: Option<String>,
    /// New avatar URL.
    pub avatar_url: Option<String>,
    /// New role.
    pub role: Option<AppRole>,
}

/// A stored conversation with its denormalised counters.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationRecord {
    /// Id.
    pub id: ConversationId,
    /// Kind.
    pub kind: ConversationType,
    /// Status.
    pub status: ConversationStatus,
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// Host-app link.
    pub context: Option<ContextRef>,
    /// Creator.
    pub created_by: Option<UserId>,
    /// Created.
    pub created_at: Timestamp,
    /// Last change of the conversation's own fields.
    pub updated_at: Timestamp,
    /// Last message or creation: the list order.
    pub last_activity_at: Timestamp,
    /// Exempt from PII masking.
    pub trusted: bool,
    /// End-to-end encrypted.
    pub encrypted: bool,
    /// Messages ever appended.
    pub message_count: u64,
    /// Newest message seq.
    pub last_message_seq: MessageSeq,
    /// Newest event seq.
    pub last_event_seq: EventSeq,
    /// Preview of the newest message.
    pub last_message: Option<MessagePreview>,
    /// Active participants.
    pub participant_count: u64,
}

impl ConversationRecord {
    /// The wire shape without per-caller fields (`unread_count` 0, no `me`).
    pub fn to_proto(&self) -> Conversation {
        Conversation {
            id: self.id,
            kind: self.kind,
            status: self.status,
            title: self.title.clone(),
            description: self.description.clone(),
            avatar_url: self.avatar_url.clone(),
            context: self.context.clone(),
            created_by: self.created_by.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            last_activity_at: self.last_activity_at,
            trusted: self.trusted,
            encrypted: self.encrypted,
            message_count: self.message_count,
            last_message_seq: self.last_message_seq,
            latest_event_seq: self.last_event_seq,
            last_message: self.last_message.clone(),
            participant_count: self.participant_count,
            peer_id: None,
            unread_count: 0,
            me: None,
            participants: None,
        }
    }
}

/// A participant row (active, or left when `left_at` is set).
#[derive(Debug, Clone, PartialEq)]
pub struct ParticipantRecord {
    /// Conversation.
    pub conversation_id: ConversationId,
    /// User.
    pub user_id: UserId,
    /// Role.
    pub role: ParticipantRole,
    /// (Last) join time.
    pub joined_at: Timestamp,
    /// Set once the user left or was removed.
    pub left_at: Option<Timestamp>,
    /// Read marker.
    pub last_read_seq: MessageSeq,
    /// When the read marker last moved.
    pub last_read_at: Option<Timestamp>,
    /// Delivery marker.
    pub last_delivered_seq: MessageSeq,
    /// Muted flag as set (see `muted_until`).
    pub muted: bool,
    /// End of a timed mute.
    pub muted_until: Option<Timestamp>,
    /// Pinned.
    pub pinned: bool,
    /// Archived in this user's list.
    pub archived: bool,
    /// Notification level.
    pub notification_level: NotificationLevel,
    /// Sound.
    pub sound: bool,
}

impl ParticipantRecord {
    /// Whether the participant is still in the conversation.
    pub fn is_active(&self) -> bool {
        self.left_at.is_none()
    }

    /// Whether the mute is in force at `now`.
    pub fn is_muted_at(&self, now: Timestamp) -> bool {
        self.muted && self.muted_until.is_none_or(|until| until > now)
    }

    /// The wire shape others see.
    pub fn to_proto(&self) -> Participant {
        Participant {
            user_id: self.user_id.clone(),
            role: self.role,
            joined_at: self.joined_at,
            last_read_seq: self.last_read_seq,
            last_read_at: self.last_read_at,
            last_delivered_seq: self.last_delivered_seq,
        }
    }

    /// The wire shape the participant sees of themselves.
    pub fn to_settings(&self, now: Timestamp) -> MySettings {
        MySettings {
            role: self.role,
            joined_at: self.joined_at,
            last_read_seq: self.last_read_seq,
            last_read_at: self.last_read_at,
            last_delivered_seq: self.last_delivered_seq,
            muted: self.is_muted_at(now),
            muted_until: if self.is_muted_at(now) {
                self.muted_until
            } else {
                None
            },
            pinned: self.pinned,
            archived: self.archived,
            notification_level: self.notification_level,
            sound: self.sound,
        }
    }
}

/// A participant to add.
#[derive(Debug, Clone, PartialEq)]
pub struct NewParticipant {
    /// User (a user record is created if missing).
    pub user_id: UserId,
    /// Role.
    pub role: ParticipantRole,
}

/// Input of [`crate::Store::create_conversation`].
#[derive(Debug, Clone)]
pub struct NewConversation {
    /// Id of the new conversation (UUIDv7).
    pub id: ConversationId,
    /// Kind.
    pub kind: ConversationType,
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// Host-app link.
    pub context: Option<ContextRef>,
    /// Creator.
    pub created_by: Option<UserId>,
    /// Exempt from PII masking.
    pub trusted: bool,
    /// End-to-end encrypted.
    pub encrypted: bool,
    /// Participants, creator included; exactly one `owner`.
    pub participants: Vec<NewParticipant>,
    /// When set, at most one conversation has this key: creating another returns the
    /// existing one. Direct conversations use the unordered pair plus context; by-context
    /// conversations use the context.
    pub unique_key: Option<String>,
    /// Creation time.
    pub now: Timestamp,
}

/// Result of [`crate::Store::create_conversation`].
#[derive(Debug, Clone)]
pub enum CreateOutcome {
    /// A new conversation was created.
    Created(ConversationRecord),
    /// A conversation with the same `unique_key` existed; nothing was written.
    Existing(ConversationRecord),
}

/// Changes to a conversation's own fields; `None` leaves a field as it is and
/// `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ConversationPatch {
    /// Title.
    pub title: Option<Option<String>>,
    /// Description.
    pub description: Option<Option<String>>,
    /// Avatar.
    pub avatar_url: Option<Option<String>>,
    /// Status.
    pub status: Option<ConversationStatus>,
    /// Trusted flag.
    pub trusted: Option<bool>,
}

impl ConversationPatch {
    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.description.is_none()
            && self.avatar_url.is_none()
            && self.status.is_none()
            && self.trusted.is_none()
    }
}

/// Changes to a participant's own settings; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct SettingsPatch {
    /// Muted flag.
    pub muted: Option<bool>,
    /// End of mute (`Some(None)` clears).
    pub muted_until: Option<Option<Timestamp>>,
    /// Pinned.
    pub pinned: Option<bool>,
    /// Archived.
    pub archived: Option<bool>,
    /// Notification level.
    pub notification_level: Option<NotificationLevel>,
    /// Sound.
    pub sound: Option<bool>,
}

/// Why a participant leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovalReason {
    /// They left themselves.
    Left,
    /// Someone removed them.
    Removed,
}

impl RemovalReason {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Left => "left",
            Self::Removed => "removed",
        }
    }
}

/// Filters and cursor of [`crate::Store::list_conversations`].
#[derive(Debug, Clone)]
pub struct ConversationQuery {
    /// Whose list.
    pub user_id: UserId,
    /// Only this type.
    pub kind: Option<ConversationType>,
    /// Only this status.
    pub status: Option<ConversationStatus>,
    /// Only with (true) or without (false) unread messages.
    pub has_unread: Option<bool>,
    /// Only pinned (true) or unpinned (false).
    pub pinned: Option<bool>,
    /// Only muted (true) or unmuted (false) at `now`.
    pub muted: Option<bool>,
    /// Only archived (true) or unarchived (false) in the user's list.
    pub archived: Option<bool>,
    /// Only this context kind.
    pub context_kind: Option<String>,
    /// Only this context id.
    pub context_id: Option<String>,
    /// Only conversations strictly after this `(last_activity_at, id)` in list order
    /// (newest activity first, ties by id descending).
    pub after: Option<(Timestamp, ConversationId)>,
    /// Page size.
    pub limit: u32,
    /// Current time, for timed mutes.
    pub now: Timestamp,
}

/// One row of a user's conversation list.
#[derive(Debug, Clone)]
pub struct ConversationListItem {
    /// The conversation.
    pub conversation: ConversationRecord,
    /// The user's participant row.
    pub me: ParticipantRecord,
    /// Messages from others after the read marker, not deleted.
    pub unread_count: u64,
    /// For direct conversations, the other participant.
    pub peer_id: Option<UserId>,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRecord {
    /// Id.
    pub id: MessageId,
    /// Conversation.
    pub conversation_id: ConversationId,
    /// Seq.
    pub seq: MessageSeq,
    /// Sender (absent for server system messages).
    pub sender_id: Option<UserId>,
    /// Type.
    pub kind: MessageType,
    /// Content (absent once deleted).
    pub content: Option<String>,
    /// Sender's idempotency key.
    pub client_message_id: Option<String>,
    /// Quoted message.
    pub reply_to_id: Option<MessageId>,
    /// Mentioned users.
    pub mentions: Vec<UserId>,
    /// Sent.
    pub created_at: Timestamp,
    /// Last edit.
    pub edited_at: Option<Timestamp>,
    /// Edits.
    pub edit_count: u32,
    /// Deleted for everyone.
    pub deleted_at: Option<Timestamp>,
    /// Who deleted it.
    pub deleted_by: Option<UserId>,
    /// PII was masked.
    pub pii_masked: bool,
    /// The thread root this message replies in.
    pub thread_root_id: Option<MessageId>,
    /// Seq of that root.
    pub thread_root_seq: Option<MessageSeq>,
    /// Replies in the thread this message is the root of.
    pub thread_reply_count: u32,
    /// Last reply in that thread.
    pub thread_last_reply_at: Option<Timestamp>,
    /// Attachments, as they were when the message was sent.
    pub attachments: Vec<natter_proto::MessageAttachment>,
    /// Whether reactions may be on it: set when one is added (by a trigger), checked again
    /// when one is removed. A bulk removal (a user's erasure) leaves it set, which costs only a read:
    /// it is `false` only when the message has none. Pages read reactions only for the
    /// messages that have it set.
    pub has_reactions: bool,
}

impl MessageRecord {
    /// The wire shape without viewer-dependent fields (`delivery` and `read_by_all` are
    /// left for the service to fill in). Clones; [`MessageRecord::into_proto`] moves.
    pub fn to_proto(&self) -> Message {
        self.clone().into_proto()
    }

    /// [`MessageRecord::to_proto`] taking the record: its strings and lists move into the
    /// message instead of being copied (a page turns 50 records into messages at once).
    pub fn into_proto(self) -> Message {
        let deleted = self.deleted_at.is_some();
        Message {
            id: self.id,
            conversation_id: self.conversation_id,
            seq: self.seq,
            sender_id: self.sender_id,
            kind: self.kind,
            content: if deleted { None } else { self.content },
            client_message_id: self.client_message_id,
            reply_to_id: self.reply_to_id,
            mentions: self.mentions,
            created_at: self.created_at,
            edited_at: self.edited_at,
            edit_count: self.edit_count,
            deleted_at: self.deleted_at,
            pii_masked: self.pii_masked,
            delivery: None,
            read_by_all: false,
            reactions: Vec::new(),
            thread_root_id: self.thread_root_id,
            thread: (self.thread_reply_count > 0).then(|| natter_proto::ThreadSummary {
                reply_count: u64::from(self.thread_reply_count),
                last_reply_at: self.thread_last_reply_at,
                participants: Vec::new(),
            }),
            attachments: if deleted {
                Vec::new()
            } else {
                self.attachments
            },
        }
    }
}

/// Input of [`crate::Store::append_message`].
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Id (UUIDv7).
    pub id: MessageId,
    /// Conversation.
    pub conversation_id: ConversationId,
    /// Sender.
    pub sender_id: Option<UserId>,
    /// Type.
    pub kind: MessageType,
    /// Validated content.
    pub content: Option<String>,
    /// Idempotency key, unique per sender.
    pub client_message_id: Option<String>,
    /// Quoted message (already checked to be in the same conversation).
    pub reply_to_id: Option<MessageId>,
    /// Mentioned users (already checked).
    pub mentions: Vec<UserId>,
    /// PII was masked.
    pub pii_masked: bool,
    /// The thread root (already checked: same conversation, not itself a reply).
    pub thread_root: Option<(MessageId, MessageSeq)>,
    /// Uploads to attach (checked by the store in the same transaction: each must be
    /// the sender's, not attached yet and not infected).
    pub attachments: Vec<natter_proto::MessageAttachment>,
    /// Send time.
    pub now: Timestamp,
    /// The caller did not look the sender's access up: the store appends only if the
    /// conversation is not blocked and `sender_id` is one of its active participants,
    /// checked in the append's own transaction, and otherwise refuses with
    /// `StoreError::Conflict(`[`SENDER_REFUSED`]`)` before anything else (a known
    /// `client_message_id` included), so that the caller can find out why.
    pub check_sender: bool,
}

/// The [`StoreError::Conflict`](crate::StoreError::Conflict) of an append with
/// [`NewMessage::check_sender`] whose sender may not post (or whose conversation is gone).
pub const SENDER_REFUSED: &str = "sender_refused";

impl NewMessage {
    /// What a store returns from a successful append of this message at message seq
    /// `seq` with its `message.created` event at `event_seq` (the record never edited,
    /// deleted or replied to yet).
    pub fn appended(self, seq: MessageSeq, event_seq: EventSeq) -> AppendOutcome {
        let message = MessageRecord {
            id: self.id,
            conversation_id: self.conversation_id,
            seq,
            sender_id: self.sender_id,
            kind: self.kind,
            content: self.content,
            client_message_id: self.client_message_id,
            reply_to_id: self.reply_to_id,
            mentions: self.mentions,
            created_at: self.now,
            edited_at: None,
            edit_count: 0,
            deleted_at: None,
            deleted_by: None,
            pii_masked: self.pii_masked,
            thread_root_id: self.thread_root.map(|(id, _)| id),
            thread_root_seq: self.thread_root.map(|(_, root)| root),
            thread_reply_count: 0,
            thread_last_reply_at: None,
            attachments: self.attachments,
            has_reactions: false,
        };
        AppendOutcome {
            message,
            duplicate: false,
            event_seq: Some(event_seq),
        }
    }
}

/// Result of [`crate::Store::append_message`].
#[derive(Debug, Clone)]
pub struct AppendOutcome {
    /// The message (the original one for a duplicate).
    pub message: MessageRecord,
    /// True when `client_message_id` matched an existing message of the sender and
    /// nothing was written.
    pub duplicate: bool,
    /// Seq of the `message.created` event (`None` for a duplicate).
    pub event_seq: Option<EventSeq>,
}

/// Direction of a message page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Oldest first.
    Ascending,
    /// Newest first.
    Descending,
}

/// What a page of messages needs of a conversation's read markers, in a size that does
/// not grow with the conversation: whether the viewer is an active participant, and the
/// few markers that decide `read_by_all` and the viewer's delivery states. Built by the
/// stores, with a page ([`crate::Store::message_page`]) or alone
/// ([`crate::Store::read_markers`]); [`ReadMarkers::of`] derives them from a participant
/// list, the definition the store tests hold both to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadMarkers {
    /// The viewer is an active participant.
    pub viewer_is_participant: bool,
    /// The two lowest read markers of the active participants, lowest first (ties by user
    /// id): the lowest that is not a message's sender decides its `read_by_all`.
    pub lowest_read: Vec<(UserId, MessageSeq)>,
    /// The highest read marker of the active participants other than the viewer.
    pub others_read: Option<MessageSeq>,
    /// The highest delivered marker of the active participants other than the viewer.
    pub others_delivered: Option<MessageSeq>,
}

impl ReadMarkers {
    /// The markers of `participants` (the active ones; others are ignored) for `viewer`.
    pub fn of(participants: &[ParticipantRecord], viewer: Option<&UserId>) -> Self {
        let active = || participants.iter().filter(|p| p.is_active());
        let others = || active().filter(|p| Some(&p.user_id) != viewer);
        let mut lowest: Vec<_> = active()
            .map(|p| (p.user_id.clone(), p.last_read_seq))
            .collect();
        lowest.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        lowest.truncate(2);
        Self {
            viewer_is_participant: viewer.is_some_and(|v| active().any(|p| &p.user_id == v)),
            lowest_read: lowest,
            others_read: others().map(|p| p.last_read_seq).max(),
            others_delivered: others().map(|p| p.last_delivered_seq).max(),
        }
    }

    /// Every active participant but `sender` has read up to `seq` — and there is one.
    pub fn read_by_all(&self, sender: Option<&UserId>, seq: MessageSeq) -> bool {
        self.lowest_read
            .iter()
            .find(|(user, _)| Some(user) != sender)
            .is_some_and(|(_, read)| *read >= seq)
    }

    /// Someone other than the viewer has read up to `seq`.
    pub fn read_by_others(&self, seq: MessageSeq) -> bool {
        self.others_read.is_some_and(|read| read >= seq)
    }

    /// Someone other than the viewer has received up to `seq`.
    pub fn delivered_to_others(&self, seq: MessageSeq) -> bool {
        self.others_delivered
            .is_some_and(|delivered| delivered >= seq)
    }
}

/// Cursor and size of a message page.
#[derive(Debug, Clone)]
pub struct MessageQuery {
    /// `None`: the main timeline (no thread replies); `Some(root)`: that thread's replies.
    pub thread: Option<MessageSeq>,
    /// Leave out the messages this user deleted for themselves.
    pub viewer: Option<UserId>,
    /// Only seqs strictly below.
    pub before: Option<MessageSeq>,
    /// Only seqs strictly above.
    pub after: Option<MessageSeq>,
    /// Page size (1–100, checked by the service; the store adds one to detect more).
    pub limit: u32,
    /// Order of the page.
    pub order: Order,
}

/// Result of moving one read marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOutcome {
    /// Conversation.
    pub conversation_id: ConversationId,
    /// Unread messages this call marked read.
    pub marked_count: u64,
    /// Marker after the call.
    pub last_read_seq: MessageSeq,
    /// Unread messages left after the marker.
    pub unread_count: u64,
    /// Seq of the `receipt.updated` event when the marker moved.
    pub event_seq: Option<EventSeq>,
}

/// Which conversations [`crate::Store::mark_read_many`] marks.
#[derive(Debug, Clone)]
pub enum ReadTargets {
    /// Every active conversation of the user.
    All,
    /// These conversations (those the user is not an active participant of are skipped).
    Some(Vec<ConversationId>),
}

/// One stored event, with the message it refers to for `message.*` events.
#[derive(Debug, Clone)]
pub struct EventRecord {
    /// Conversation.
    pub conversation_id: ConversationId,
    /// Event seq.
    pub seq: EventSeq,
    /// Type (`message.created`, …).
    pub kind: String,
    /// Payload as written (for message events: `{}`; the message is in `message`).
    pub data: serde_json::Value,
    /// The message of a `message.*` event, in its current state (a deleted message is a
    /// tombstone, never its old content).
    pub message: Option<MessageRecord>,
    /// Commit time.
    pub created_at: Timestamp,
}

/// One row of a sync answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRecord {
    /// Conversation.
    pub conversation_id: ConversationId,
    /// Its latest event seq.
    pub last_event_seq: EventSeq,
    /// The user left or was removed.
    pub removed: bool,
}

/// What a hub needs to fan out a conversation's new events: the events and the active
/// participants, read in one consistent snapshot (the participants as of the last event).
#[derive(Debug, Clone)]
pub struct FanoutBatch {
    /// Events after the requested seq, in order.
    pub events: Vec<EventRecord>,
    /// The active participants' user ids as of the newest event in `events` (only the
    /// ids: a fan-out to a big group reads one column per member, per batch).
    pub members: Vec<UserId>,
}

/// Input of [`crate::Store::edit_message`].
#[derive(Debug, Clone)]
pub struct MessageEdit {
    /// The message.
    pub message_id: MessageId,
    /// Validated (and masked) new content.
    pub content: String,
    /// PII was masked out of the new content.
    pub pii_masked: bool,
    /// Edit time.
    pub now: Timestamp,
}

/// An earlier version of an edited message.
#[derive(Debug, Clone, PartialEq)]
pub struct EditRecord {
    /// Its text (absent once purged).
    pub content: Option<String>,
    /// When it was replaced.
    pub edited_at: Timestamp,
}

/// One user's reaction.
#[derive(Debug, Clone, PartialEq)]
pub struct ReactionRecord {
    /// The message.
    pub message_id: MessageId,
    /// The emoji.
    pub emoji: String,
    /// Who reacted.
    pub user_id: UserId,
    /// When.
    pub created_at: Timestamp,
}

/// Users a [`ReactionGroup`] lists: the product's "first 10". The stores keep them in
/// their schema (migration 0015 of each), so changing this needs a migration.
pub const REACTION_GROUP_USERS: usize = 10;

/// One emoji's reactions on a message, as a page shows them
/// ([`crate::Store::list_reaction_groups`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ReactionGroup {
    /// The message.
    pub message_id: MessageId,
    /// The emoji.
    pub emoji: String,
    /// How many users reacted with it.
    pub count: u64,
    /// The viewer is one of them.
    pub me: bool,
    /// The first users who reacted with it (by time, then user id), at most
    /// [`REACTION_GROUP_USERS`].
    pub users: Vec<UserId>,
}

/// What [`crate::Store::add_reaction`] did, and the message's reactions after it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReactionAdded {
    /// The `reaction.added` event; `None` when the user had already reacted with that emoji.
    pub event_seq: Option<EventSeq>,
    /// The message's reactions as a page shows them to the user who reacted
    /// ([`crate::Store::list_reaction_groups`]), read in the same transaction.
    pub groups: Vec<ReactionGroup>,
}

/// A stored invitation.
#[derive(Debug, Clone, PartialEq)]
pub struct InvitationRecord {
    /// Id (named by the signed token).
    pub id: uuid::Uuid,
    /// The conversation it admits to.
    pub conversation_id: ConversationId,
    /// Who created it.
    pub created_by: Option<UserId>,
    /// Created.
    pub created_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
    /// Most accepts, if limited.
    pub max_uses: Option<u32>,
    /// Accepts so far.
    pub uses: u32,
    /// Revocation time.
    pub revoked_at: Option<Timestamp>,
}

/// Result of [`crate::Store::accept_invitation`].
#[derive(Debug, Clone, PartialEq)]
pub enum AcceptOutcome {
    /// The user joined (one use consumed); the event seq of `participant.added`.
    Joined(EventSeq),
    /// The user was already an active participant; no use consumed.
    AlreadyMember,
    /// Revoked.
    Revoked,
    /// Expired.
    Expired,
    /// Every use is consumed.
    Exhausted,
}

/// A conversation's settings document.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingsRecord {
    /// The JSON object.
    pub settings: serde_json::Value,
    /// Starts at 0 (no settings yet), +1 per change.
    pub version: u64,
    /// Last change.
    pub updated_at: Option<Timestamp>,
    /// Who changed it last.
    pub updated_by: Option<UserId>,
}

/// One change of a conversation's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingsChange {
    /// The version this change produced.
    pub version: u64,
    /// When.
    pub changed_at: Timestamp,
    /// Who.
    pub changed_by: Option<UserId>,
    /// `{key: {"from": old, "to": new}}` for every top-level key that changed.
    pub changes: serde_json::Value,
}

/// Result of [`crate::Store::update_conversation_settings`].
#[derive(Debug, Clone, PartialEq)]
pub enum SettingsOutcome {
    /// Saved; the new document and the `conversation.updated` event seq.
    Updated(SettingsRecord, EventSeq),
    /// `expected_version` was not the current version.
    VersionConflict(SettingsRecord),
}

/// A participant's unread state in one conversation, for the unread summary.
#[derive(Debug, Clone, PartialEq)]
pub struct UnreadDetail {
    /// Conversation.
    pub conversation_id: ConversationId,
    /// Unread messages.
    pub unread: u64,
    /// Unread messages that mention the user.
    pub mentions: u64,
    /// The user's notification level there.
    pub notification_level: NotificationLevel,
    /// Muted at the time asked.
    pub muted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(raw: &str) -> UserId {
        UserId::parse(raw).expect("a user id")
    }

    fn markers(lowest: &[(&str, u64)]) -> ReadMarkers {
        ReadMarkers {
            lowest_read: lowest
                .iter()
                .map(|(who, read)| (user(who), MessageSeq(*read)))
                .collect(),
            ..ReadMarkers::default()
        }
    }

    #[test]
    fn read_by_all_is_decided_by_the_lowest_marker_that_is_not_the_senders() {
        let (ann, bob) = (user("ann"), user("bob"));
        let two = markers(&[("ann", 3), ("bob", 7)]);
        // Ann is lowest: for her own message Bob decides, for anyone else's Ann does.
        assert!(two.read_by_all(Some(&ann), MessageSeq(7)));
        assert!(!two.read_by_all(Some(&ann), MessageSeq(8)));
        assert!(two.read_by_all(Some(&bob), MessageSeq(3)));
        assert!(!two.read_by_all(Some(&bob), MessageSeq(4)));
        assert!(
            !two.read_by_all(None, MessageSeq(4)),
            "a system message: everyone"
        );
        assert!(
            two.read_by_all(Some(&user("cy")), MessageSeq(3)),
            "a sender who left"
        );
        // Nobody but the sender: nobody read it.
        let alone = markers(&[("ann", 9)]);
        assert!(!alone.read_by_all(Some(&ann), MessageSeq(1)));
        assert!(alone.read_by_all(Some(&bob), MessageSeq(9)));
        assert!(!markers(&[]).read_by_all(None, MessageSeq(1)));
    }
}
