//! Row mappers: column lists and the functions that read them, by position.
//!
//! The column lists are the SQLite store's, in the same order, so the two crates' queries
//! read alike. Decoding failures (a NULL where none may be, an unknown enum value) only
//! come from a corrupt row and surface as `StoreError::Backend`.

use natter_proto::{
    AppRole, AttachmentId, AttachmentKind, ContextRef, ConversationId, ConversationStatus,
    ConversationType, EventSeq, MessageId, MessagePreview, MessageSeq, MessageType,
    NotificationLevel, ParticipantRole, ScanStatus, Timestamp, UserId,
};
use natter_store::{
    from_micros, AttachmentRecord, ConversationRecord, MessageRecord, ParticipantRecord,
    StoreError, UserRecord,
};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::Row;
use uuid::Uuid;

use crate::error::store_error;

type Result<T> = std::result::Result<T, StoreError>;

pub(crate) const USER_COLUMNS: &str =
    "id, display_name, avatar_url, role, created_at, last_seen_at";

pub(crate) const CONVERSATION_COLUMNS: &str = "c.id, c.kind, c.status, c.title, c.description, \
    c.avatar_url, c.context_kind, c.context_id, c.created_by, c.created_at, c.updated_at, \
    c.last_activity_at, c.trusted, c.encrypted, c.message_count, c.last_message_seq, \
    c.last_event_seq, c.last_message_sender, c.last_message_kind, c.last_message_text, \
    c.last_message_at, c.participant_count, c.last_message_deleted";
pub(crate) const CONVERSATION_WIDTH: usize = 23;

pub(crate) const PARTICIPANT_COLUMNS: &str = "p.conversation_id, p.user_id, p.role, p.joined_at, \
    p.left_at, p.last_read_seq, p.last_read_at, p.last_delivered_seq, p.muted, p.muted_until, \
    p.pinned, p.archived, p.notification_level, p.sound";
pub(crate) const PARTICIPANT_WIDTH: usize = 14;

pub(crate) const MESSAGE_COLUMNS: &str = "m.id, m.conversation_id, m.seq, m.sender_id, m.kind, \
    m.content, m.client_message_id, m.reply_to_id, m.mentions, m.created_at, m.edited_at, \
    m.edit_count, m.deleted_at, m.deleted_by, m.pii_masked, m.thread_root_id, m.thread_root_seq, \
    m.thread_reply_count, m.thread_last_reply_at, m.attachments, m.has_reactions";
pub(crate) const MESSAGE_WIDTH: usize = 21;

fn bad(index: usize, what: &str) -> StoreError {
    StoreError::Backend(format!("invalid {what} in column {index}").into())
}

/// One column by position, without sqlx's check of the column's type against `T` (a
/// type-info clone and comparison per column: 50 messages × 21 columns a page; the server's
/// CPU per history page fell 13 % without it, BENCHMARKS.md). A mismatched `T` is a bug of
/// this crate's own queries, and the store tests run every one of them on PostgreSQL.
pub(crate) fn get<'r, T>(row: &'r PgRow, index: usize) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get_unchecked(index).map_err(store_error)
}

/// A user id column.
pub(crate) fn user_id(row: &PgRow, index: usize) -> Result<UserId> {
    // Borrowed from the row: parsing copies it once.
    let raw: &str = get(row, index)?;
    UserId::parse(raw).map_err(|_| bad(index, "user id"))
}

/// A `text[]` column of user ids.
pub(crate) fn user_ids(row: &PgRow, index: usize) -> Result<Vec<UserId>> {
    let raw: Vec<String> = get(row, index)?;
    raw.iter()
        .map(|raw| UserId::parse(raw).map_err(|_| bad(index, "user id")))
        .collect()
}

/// An optional user id column.
pub(crate) fn opt_user_id(row: &PgRow, index: usize) -> Result<Option<UserId>> {
    let raw: Option<&str> = get(row, index)?;
    raw.map(|raw| UserId::parse(raw).map_err(|_| bad(index, "user id")))
        .transpose()
}

fn ts(row: &PgRow, index: usize) -> Result<Timestamp> {
    Ok(from_micros(get(row, index)?))
}

fn opt_ts(row: &PgRow, index: usize) -> Result<Option<Timestamp>> {
    Ok(get::<Option<i64>>(row, index)?.map(from_micros))
}

/// A non-negative BIGINT column (a seq or a counter).
pub(crate) fn seq(row: &PgRow, index: usize) -> Result<u64> {
    let raw: i64 = get(row, index)?;
    u64::try_from(raw).map_err(|_| bad(index, "sequence number"))
}

fn wire<T>(row: &PgRow, index: usize, parse: fn(&str) -> Option<T>) -> Result<T> {
    let raw: &str = get(row, index)?;
    parse(raw).ok_or_else(|| bad(index, "enum value"))
}

/// Reads [`USER_COLUMNS`].
pub(crate) fn user(row: &PgRow) -> Result<UserRecord> {
    Ok(UserRecord {
        id: user_id(row, 0)?,
        display_name: get(row, 1)?,
        avatar_url: get(row, 2)?,
        role: wire(row, 3, AppRole::parse)?,
        created_at: ts(row, 4)?,
        last_seen_at: opt_ts(row, 5)?,
    })
}

/// Reads [`CONVERSATION_COLUMNS`] starting at column `at`.
pub(crate) fn conversation(row: &PgRow, at: usize) -> Result<ConversationRecord> {
    let context = match (
        get::<Option<String>>(row, at + 6)?,
        get::<Option<String>>(row, at + 7)?,
    ) {
        (Some(kind), Some(id)) => Some(ContextRef { kind, id }),
        _ => None,
    };
    let last_message_seq = seq(row, at + 15)?;
    let last_message = match get::<Option<i64>>(row, at + 20)? {
        Some(created_at) if last_message_seq > 0 => Some(MessagePreview {
            seq: MessageSeq(last_message_seq),
            sender_id: opt_user_id(row, at + 17)?,
            kind: wire(row, at + 18, MessageType::parse)?,
            text: get::<Option<String>>(row, at + 19)?.unwrap_or_default(),
            deleted: get::<bool>(row, at + 22)?,
            created_at: from_micros(created_at),
        }),
        _ => None,
    };
    Ok(ConversationRecord {
        id: ConversationId(get::<Uuid>(row, at)?),
        kind: wire(row, at + 1, ConversationType::parse)?,
        status: wire(row, at + 2, ConversationStatus::parse)?,
        title: get(row, at + 3)?,
        description: get(row, at + 4)?,
        avatar_url: get(row, at + 5)?,
        context,
        created_by: opt_user_id(row, at + 8)?,
        created_at: ts(row, at + 9)?,
        updated_at: ts(row, at + 10)?,
        last_activity_at: ts(row, at + 11)?,
        trusted: get(row, at + 12)?,
        encrypted: get(row, at + 13)?,
        message_count: seq(row, at + 14)?,
        last_message_seq: MessageSeq(last_message_seq),
        last_event_seq: EventSeq(seq(row, at + 16)?),
        last_message,
        participant_count: seq(row, at + 21)?,
    })
}

/// Reads [`PARTICIPANT_COLUMNS`] starting at column `at`.
pub(crate) fn participant(row: &PgRow, at: usize) -> Result<ParticipantRecord> {
    Ok(ParticipantRecord {
        conversation_id: ConversationId(get::<Uuid>(row, at)?),
        user_id: user_id(row, at + 1)?,
        role: wire(row, at + 2, ParticipantRole::parse)?,
        joined_at: ts(row, at + 3)?,
        left_at: opt_ts(row, at + 4)?,
        last_read_seq: MessageSeq(seq(row, at + 5)?),
        last_read_at: opt_ts(row, at + 6)?,
        last_delivered_seq: MessageSeq(seq(row, at + 7)?),
        muted: get(row, at + 8)?,
        muted_until: opt_ts(row, at + 9)?,
        pinned: get(row, at + 10)?,
        archived: get(row, at + 11)?,
        notification_level: wire(row, at + 12, NotificationLevel::parse)?,
        sound: get(row, at + 13)?,
    })
}

/// Reads [`MESSAGE_COLUMNS`] starting at column `at`; `None` when the id is NULL (an
/// outer join without a message).
pub(crate) fn message(row: &PgRow, at: usize) -> Result<Option<MessageRecord>> {
    let Some(id) = get::<Option<Uuid>>(row, at)? else {
        return Ok(None);
    };
    let mentions = get::<Option<Json<Vec<UserId>>>>(row, at + 8)?
        .map(|Json(mentions)| mentions)
        .unwrap_or_default();
    let edit_count: i32 = get(row, at + 11)?;
    Ok(Some(MessageRecord {
        id: MessageId(id),
        conversation_id: ConversationId(get::<Uuid>(row, at + 1)?),
        seq: MessageSeq(seq(row, at + 2)?),
        sender_id: opt_user_id(row, at + 3)?,
        kind: wire(row, at + 4, MessageType::parse)?,
        content: get(row, at + 5)?,
        client_message_id: get(row, at + 6)?,
        reply_to_id: get::<Option<Uuid>>(row, at + 7)?.map(MessageId),
        mentions,
        created_at: ts(row, at + 9)?,
        edited_at: opt_ts(row, at + 10)?,
        edit_count: u32::try_from(edit_count).map_err(|_| bad(at + 11, "edit count"))?,
        deleted_at: opt_ts(row, at + 12)?,
        deleted_by: opt_user_id(row, at + 13)?,
        pii_masked: get(row, at + 14)?,
        thread_root_id: get::<Option<Uuid>>(row, at + 15)?.map(MessageId),
        thread_root_seq: get::<Option<i64>>(row, at + 16)?.map(|seq| MessageSeq(seq as u64)),
        thread_reply_count: u32::try_from(get::<i32>(row, at + 17)?).unwrap_or_default(),
        thread_last_reply_at: opt_ts(row, at + 18)?,
        attachments: match get::<Option<&str>>(row, at + 19)? {
            Some(raw) => serde_json::from_str(raw).map_err(|_| bad(at + 19, "attachments"))?,
            None => Vec::new(),
        },
        has_reactions: get(row, at + 20)?,
    }))
}

/// Reads a message from a query that always has one.
pub(crate) fn required_message(row: &PgRow) -> Result<MessageRecord> {
    message(row, 0)?.ok_or(StoreError::NotFound)
}

pub(crate) const ATTACHMENT_COLUMNS: &str = "a.id, a.uploader_id, a.kind, a.content_type, \
    a.filename, a.size, a.width, a.height, a.storage_key, a.thumbnail_key, a.scan_status, \
    a.created_at, a.conversation_id, a.message_id, a.deleted_at";

/// Reads [`ATTACHMENT_COLUMNS`].
pub(crate) fn attachment(row: &PgRow) -> Result<AttachmentRecord> {
    let dimension = |index: usize| -> Result<Option<u32>> {
        get::<Option<i32>>(row, index)?
            .map(|value| u32::try_from(value).map_err(|_| bad(index, "dimension")))
            .transpose()
    };
    Ok(AttachmentRecord {
        id: AttachmentId(get::<Uuid>(row, 0)?),
        uploader_id: user_id(row, 1)?,
        kind: wire(row, 2, AttachmentKind::parse)?,
        content_type: get(row, 3)?,
        filename: get(row, 4)?,
        size: u64::try_from(get::<i64>(row, 5)?).map_err(|_| bad(5, "size"))?,
        width: dimension(6)?,
        height: dimension(7)?,
        storage_key: get(row, 8)?,
        thumbnail_key: get(row, 9)?,
        scan_status: wire(row, 10, ScanStatus::parse)?,
        created_at: ts(row, 11)?,
        conversation_id: get::<Option<Uuid>>(row, 12)?.map(ConversationId),
        message_id: get::<Option<Uuid>>(row, 13)?.map(MessageId),
        deleted_at: opt_ts(row, 14)?,
    })
}
