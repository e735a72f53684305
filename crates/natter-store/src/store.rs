//! The [`Store`] trait.

use async_trait::async_trait;
use natter_proto::{
    ConversationId, EventSeq, MessageId, MessageSeq, ParticipantRole, Timestamp, UserId,
};

use crate::{
    AcceptOutcome, AppendOutcome, ConversationListItem, ConversationPatch, ConversationQuery,
    ConversationRecord, CreateOutcome, EditRecord, EventRecord, FanoutBatch, InvitationRecord,
    MessageEdit, MessageQuery, MessageRecord, NewConversation, NewMessage, NewParticipant,
    ParticipantRecord, ReactionAdded, ReactionGroup, ReactionRecord, ReadMarkers, ReadOutcome,
    ReadTargets, RemovalReason, SettingsChange, SettingsOutcome, SettingsPatch, SettingsRecord,
    StoreError, SyncRecord, UnreadDetail, UserRecord, UserUpsert,
};

/// Everything Natter persists. Each method is one atomic unit: it commits entirely or not
/// at all, and every write that changes a conversation appends to that conversation's
/// event log in the same transaction (the event seq is the conversation's
/// `last_event_seq + 1`, gap-free, in commit order).
///
/// "Unread" everywhere means: messages of the conversation with `seq` greater than the
/// participant's `last_read_seq`, not sent by the participant, not deleted.
#[async_trait]
pub trait Store: crate::AdminStore + crate::AttachmentStore + Send + Sync + 'static {
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Group-commit statistics since start (for `/metrics`).
    fn commit_stats(&self) -> crate::CommitSnapshot;

    // --- users ---

    /// Creates the user or updates the fields given. A new user gets role `user` unless
    /// one is given.
    async fn upsert_user(&self, user: UserUpsert, now: Timestamp)
        -> Result<UserRecord, StoreError>;

    /// The user, if known.
    async fn find_user(&self, user_id: &UserId) -> Result<Option<UserRecord>, StoreError>;

    // --- conversations ---

    /// Creates a conversation with its participants (creating missing user records) and
    /// appends `conversation.created` as event 1. When `unique_key` is set and a
    /// conversation with that key exists, returns it unchanged instead.
    async fn create_conversation(&self, new: NewConversation) -> Result<CreateOutcome, StoreError>;

    /// The conversation, if it exists.
    async fn find_conversation(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Option<ConversationRecord>, StoreError>;

    /// The conversation with this `unique_key`, if any.
    async fn find_conversation_by_key(
        &self,
        unique_key: &str,
    ) -> Result<Option<ConversationRecord>, StoreError>;

    /// Applies the patch, sets `updated_at` and appends `conversation.updated`.
    /// `NotFound` if the conversation does not exist.
    async fn update_conversation(
        &self,
        conversation_id: ConversationId,
        patch: ConversationPatch,
        now: Timestamp,
    ) -> Result<ConversationRecord, StoreError>;

    /// One page of the user's active conversations with their unread counts, in list
    /// order (newest activity first), in a constant number of queries.
    async fn list_conversations(
        &self,
        query: &ConversationQuery,
    ) -> Result<Vec<ConversationListItem>, StoreError>;

    /// Unread count of one conversation for the user (0 when not an active participant).
    async fn count_unread(
        &self,
        conversation_id: ConversationId,
        user_id: &UserId,
    ) -> Result<u64, StoreError>;

    /// Unread count of each of the user's active conversations that has unread messages.
    async fn list_unread_counts(
        &self,
        user_id: &UserId,
    ) -> Result<Vec<(ConversationId, u64)>, StoreError>;

    /// Unread and unread-mention counts, notification level and mute of each of the
    /// user's active conversations (mute evaluated at `now`).
    async fn list_unread_details(
        &self,
        user_id: &UserId,
        now: Timestamp,
    ) -> Result<Vec<UnreadDetail>, StoreError>;

    // --- participants ---

    /// The user's participant row (active or left), if any.
    async fn find_participant(
        &self,
        conversation_id: ConversationId,
        user_id: &UserId,
    ) -> Result<Option<ParticipantRecord>, StoreError>;

    /// The conversation and, when `user_id` is given, that user's participant row (active
    /// or left), in one read: what every request about a conversation checks first.
    /// `None` if the conversation does not exist.
    async fn find_conversation_access(
        &self,
        conversation_id: ConversationId,
        user_id: Option<&UserId>,
    ) -> Result<Option<(ConversationRecord, Option<ParticipantRecord>)>, StoreError>;

    /// Active participants, longest-standing first (by `joined_at`, then user id).
    async fn list_participants(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Vec<ParticipantRecord>, StoreError>;

    /// Active participants, longest-standing first (by `joined_at`, then user id), at most
    /// `limit`, those after `after` (the join time and user of the last one the caller
    /// has): a range of the `participants_by_joined` index (migration 0018).
    async fn list_participants_page(
        &self,
        conversation_id: ConversationId,
        after: Option<(Timestamp, &UserId)>,
        limit: u32,
    ) -> Result<Vec<ParticipantRecord>, StoreError>;

    /// Which of `user_ids` are active participants of the conversation, in no particular
    /// order: a key lookup each (the check of a message's mentions), not a read of every
    /// member.
    async fn active_participants_among(
        &self,
        conversation_id: ConversationId,
        user_ids: &[UserId],
    ) -> Result<Vec<UserId>, StoreError>;

    /// The read markers [`Store::message_page`] returns with a page, without a page: what
    /// one message's delivery state and `read_by_all` need for `viewer`. SQLite reads
    /// them from indexes; PostgreSQL aggregates the active participants in one statement.
    async fn read_markers(
        &self,
        conversation_id: ConversationId,
        viewer: Option<&UserId>,
    ) -> Result<ReadMarkers, StoreError>;

    /// Adds the users who are not active participants (re-joining resets a left row),
    /// creating missing user records. A (re)joining participant's read marker starts at
    /// the conversation's latest message. Appends `participant.added` per added user and
    /// returns only those. `NotFound` if the conversation does not exist.
    async fn add_participants(
        &self,
        conversation_id: ConversationId,
        participants: Vec<NewParticipant>,
        now: Timestamp,
    ) -> Result<Vec<ParticipantRecord>, StoreError>;

    /// Changes an active participant's role and appends `participant.updated`.
    /// `NotFound` if they are not an active participant.
    async fn update_participant_role(
        &self,
        conversation_id: ConversationId,
        user_id: &UserId,
        role: ParticipantRole,
        now: Timestamp,
    ) -> Result<ParticipantRecord, StoreError>;

    /// Marks an active participant as left and appends `participant.removed`. With a
    /// `successor`, that active participant becomes owner in the same transaction
    /// (`participant.updated`); `Conflict("successor")` if they are no longer active.
    /// `NotFound` if `user_id` is not an active participant.
    async fn remove_participant(
        &self,
        conversation_id: ConversationId,
        user_id: &UserId,
        reason: RemovalReason,
        successor: Option<&UserId>,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Changes the participant's own settings (no event: they are private).
    /// `NotFound` if not an active participant.
    async fn update_settings(
        &self,
        conversation_id: ConversationId,
        user_id: &UserId,
        patch: SettingsPatch,
    ) -> Result<ParticipantRecord, StoreError>;

    // --- messages ---

    /// Appends a message with the conversation's next seq, updates the conversation's
    /// counters and preview, moves the sender's read marker to the new message (sending
    /// implies having read the conversation), and appends `message.created`. A thread
    /// reply also updates its root's summary, makes the sender a follower and appends
    /// `thread.updated`.
    /// When the sender already has a message with the same `client_message_id`, returns
    /// that one with `duplicate: true` and writes nothing.
    /// `NotFound` if the conversation does not exist.
    async fn append_message(&self, new: NewMessage) -> Result<AppendOutcome, StoreError>;

    /// The message, if it exists.
    async fn find_message(
        &self,
        message_id: MessageId,
    ) -> Result<Option<MessageRecord>, StoreError>;

    /// A page of messages by seq cursor, at most `limit + 1` rows (the extra row tells
    /// the caller that there is a next page), and the conversation's read markers for
    /// `query.viewer`, which every page needs for delivery states (and which say whether
    /// the viewer is an active participant).
    async fn message_page(
        &self,
        conversation_id: ConversationId,
        query: MessageQuery,
    ) -> Result<(Vec<MessageRecord>, ReadMarkers), StoreError>;

    /// Replaces the content of a message that is not deleted, keeping the replaced version
    /// in its history; sets `edited_at`, increments `edit_count`, refreshes the
    /// conversation's preview when it is the newest message, and appends
    /// `message.updated`. `NotFound` if missing, `Conflict("deleted")` if deleted.
    async fn edit_message(
        &self,
        edit: MessageEdit,
    ) -> Result<(MessageRecord, EventSeq), StoreError>;

    /// The replaced versions of a message, oldest first.
    async fn list_message_edits(
        &self,
        message_id: MessageId,
    ) -> Result<Vec<EditRecord>, StoreError>;

    /// Deletes a message for everyone: a tombstone with `deleted_at` and `deleted_by` (the
    /// content stays until [`Store::purge_deleted`] but is never returned), its reactions
    /// removed, the conversation preview turned into a tombstone if it was the newest, and
    /// `message.deleted` appended. `NotFound` if missing, `Conflict("deleted")` if deleted.
    async fn delete_message(
        &self,
        message_id: MessageId,
        deleted_by: Option<&UserId>,
        now: Timestamp,
    ) -> Result<(MessageRecord, EventSeq), StoreError>;

    /// Hides a message for one user ("deleted for me"); idempotent, no event.
    async fn hide_message(
        &self,
        message: &MessageRecord,
        user_id: &UserId,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Which of these messages the user hid.
    async fn list_hidden(
        &self,
        user_id: &UserId,
        message_ids: &[MessageId],
    ) -> Result<Vec<MessageId>, StoreError>;

    /// Clears the content and edit history of messages deleted before `before`, at most
    /// `limit` of them; returns how many.
    async fn purge_deleted(&self, before: Timestamp, limit: u32) -> Result<u64, StoreError>;

    // --- threads ---

    /// The first `per_root` followers (repliers and explicit followers) of each of these
    /// thread roots, in the order they started following (then by user id), by root: what a
    /// root's summary shows. Each root costs `per_root` index entries, not its followers.
    async fn list_thread_followers(
        &self,
        conversation_id: ConversationId,
        root_seqs: &[MessageSeq],
        per_root: u32,
    ) -> Result<Vec<(MessageSeq, UserId)>, StoreError>;

    /// Follows (or unfollows) a thread; idempotent, no event.
    async fn set_thread_follow(
        &self,
        conversation_id: ConversationId,
        root_seq: MessageSeq,
        user_id: &UserId,
        follow: bool,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    // --- conversation settings ---

    /// The conversation's settings (an empty object at version 0 when never set).
    async fn find_conversation_settings(
        &self,
        conversation_id: ConversationId,
    ) -> Result<SettingsRecord, StoreError>;

    /// Replaces the settings if the current version is `expected_version`, records the
    /// change in the history (top-level keys that differ) and appends
    /// `conversation.updated` with the new settings.
    async fn update_conversation_settings(
        &self,
        conversation_id: ConversationId,
        settings: serde_json::Value,
        expected_version: u64,
        changed_by: Option<&UserId>,
        now: Timestamp,
    ) -> Result<SettingsOutcome, StoreError>;

    /// The settings history, oldest first.
    async fn list_settings_history(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Vec<SettingsChange>, StoreError>;

    // --- invitations ---

    /// Stores a new invitation.
    async fn insert_invitation(&self, invitation: InvitationRecord) -> Result<(), StoreError>;

    /// The invitation, if it exists.
    async fn find_invitation(&self, id: uuid::Uuid)
        -> Result<Option<InvitationRecord>, StoreError>;

    /// A conversation's invitations, newest first.
    async fn list_invitations(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Vec<InvitationRecord>, StoreError>;

    /// Marks an invitation revoked (idempotent). `NotFound` if it does not exist.
    async fn revoke_invitation(&self, id: uuid::Uuid, now: Timestamp) -> Result<(), StoreError>;

    /// Atomically checks the invitation (revoked, expired, exhausted), consumes one use
    /// and adds the user as a member (appending `participant.added`), unless the user is
    /// an active participant already. `NotFound` if the invitation does not exist.
    async fn accept_invitation(
        &self,
        id: uuid::Uuid,
        user_id: &UserId,
        now: Timestamp,
    ) -> Result<AcceptOutcome, StoreError>;

    // --- reactions ---

    /// Adds a reaction and appends `reaction.added` (no event when the user had already
    /// reacted with that emoji); returns the message's reaction groups as well, so that
    /// the caller's answer needs no second read. `Conflict("too_many_reactions")` when the
    /// message has `max_distinct` different emojis and this one is new;
    /// `Conflict("deleted")` when the message is deleted.
    async fn add_reaction(
        &self,
        message: &MessageRecord,
        user_id: &UserId,
        emoji: &str,
        max_distinct: u32,
        now: Timestamp,
    ) -> Result<ReactionAdded, StoreError>;

    /// Removes the user's reaction and appends `reaction.removed`; `None` if there was none.
    async fn remove_reaction(
        &self,
        message: &MessageRecord,
        user_id: &UserId,
        emoji: &str,
        now: Timestamp,
    ) -> Result<Option<EventSeq>, StoreError>;

    /// Every reaction of these messages in one query, ordered by message, time, emoji and
    /// user: the rows the kept counts must add up to (the conformance tests hold
    /// [`Store::list_reaction_groups`] and [`Store::list_reactors`] to them). The server
    /// answers from those two, whose cost does not grow with the reactions.
    async fn list_reactions(
        &self,
        message_ids: &[MessageId],
    ) -> Result<Vec<ReactionRecord>, StoreError>;

    /// One emoji's reactions to a message, oldest first (by time, then user id), at most
    /// `limit`, those after `after` (the time and user of the last one the caller has):
    /// a range of the `reactions_in_order` index, so a page costs the same however many
    /// users reacted.
    async fn list_reactors(
        &self,
        message_id: MessageId,
        emoji: &str,
        after: Option<(Timestamp, &UserId)>,
        limit: u32,
    ) -> Result<Vec<ReactionRecord>, StoreError>;

    /// What a page shows of these messages' reactions: per message and emoji, in order of
    /// first use, how many reacted, whether `viewer` did, and the first
    /// [`REACTION_GROUP_USERS`](crate::REACTION_GROUP_USERS) users (by time, then user
    /// id); read in one snapshot. Each emoji costs one row kept up to date by the writes
    /// (plus, past that many users, one probe for `viewer`), not its reactions.
    async fn list_reaction_groups(
        &self,
        message_ids: &[MessageId],
        viewer: Option<&UserId>,
    ) -> Result<Vec<ReactionGroup>, StoreError>;

    // --- read state ---

    /// Moves the participant's read marker forward to `min(up_to, last_message_seq)`;
    /// never backward. Appends `receipt.updated` when it moved.
    /// `NotFound` if not an active participant.
    async fn mark_read(
        &self,
        conversation_id: ConversationId,
        user_id: &UserId,
        up_to: MessageSeq,
        now: Timestamp,
    ) -> Result<ReadOutcome, StoreError>;

    /// Marks each target conversation read up to its latest message, in one transaction.
    /// Returns an outcome per active conversation touched.
    async fn mark_read_many(
        &self,
        user_id: &UserId,
        targets: ReadTargets,
        now: Timestamp,
    ) -> Result<Vec<ReadOutcome>, StoreError>;

    /// Moves the participant's delivery marker forward to `min(up_to, last_message_seq)`
    /// (a device acknowledged the messages); never backward, never past the read marker's
    /// meaning (reading implies delivery, not the reverse). Appends `receipt.updated` and
    /// returns its seq when the marker moved. `NotFound` if not an active participant.
    async fn mark_delivered(
        &self,
        conversation_id: ConversationId,
        user_id: &UserId,
        up_to: MessageSeq,
        now: Timestamp,
    ) -> Result<Option<EventSeq>, StoreError>;

    /// Records when the user was last seen (last realtime disconnect).
    async fn set_last_seen(&self, user_id: &UserId, at: Timestamp) -> Result<(), StoreError>;

    // --- events ---

    /// Events with `seq > after` (at most `limit`) and the active participants, read in
    /// one snapshot so that membership matches the newest event returned.
    async fn load_fanout(
        &self,
        conversation_id: ConversationId,
        after: EventSeq,
        limit: u32,
    ) -> Result<FanoutBatch, StoreError>;

    /// Events with `seq > after`, in seq order, at most `limit`.
    async fn list_events(
        &self,
        conversation_id: ConversationId,
        after: EventSeq,
        limit: u32,
    ) -> Result<Vec<EventRecord>, StoreError>;

    /// The user's conversations with an event at or after `since`, plus those the user
    /// left at or after `since` (`removed: true`).
    async fn list_changed_conversations(
        &self,
        user_id: &UserId,
        since: Timestamp,
    ) -> Result<Vec<SyncRecord>, StoreError>;
}
