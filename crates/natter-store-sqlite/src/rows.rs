//! Row mappers: column lists and the functions that read them, by position.

use natter_proto::{
    AppRole, AttachmentId, AttachmentKind, ContextRef, ConversationId, ConversationStatus,
    ConversationType, EventSeq, MessageId, MessagePreview, MessageSeq, MessageType,
    NotificationLevel, ParticipantRole, ScanStatus, Timestamp, UserId,
};
use natter_store::{
    from_micros, AttachmentRecord, ConversationRecord, MessageRecord, ParticipantRecord, UserRecord,
};
use rusqlite::types::Type;
use rusqlite::Row;
use uuid::Uuid;

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

fn bad(index: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, Type::Text, format!("invalid {what}").into())
}

/// A text column (or NULL) borrowed from the row: the callers below parse or copy it
/// once, where reading a `String` first would allocate it twice.
fn opt_text<'r>(row: &'r Row<'_>, index: usize) -> rusqlite::Result<Option<&'r str>> {
    let value = row.get_ref(index)?;
    value.as_str_or_null().map_err(|err| {
        rusqlite::Error::FromSqlConversionFailure(index, value.data_type(), err.into())
    })
}

fn text<'r>(row: &'r Row<'_>, index: usize) -> rusqlite::Result<&'r str> {
    opt_text(row, index)?
        .ok_or_else(|| rusqlite::Error::InvalidColumnType(index, String::new(), Type::Null))
}

pub(crate) fn user_id(row: &Row<'_>, index: usize) -> rusqlite::Result<UserId> {
    UserId::parse(text(row, index)?).map_err(|_| bad(index, "user id"))
}

/// User ids joined by spaces (`group_concat(user_id, ' ')`: user ids hold none); NULL
/// when there are none.
pub(crate) fn joined_user_ids(row: &Row<'_>, index: usize) -> rusqlite::Result<Vec<UserId>> {
    opt_text(row, index)?
        .unwrap_or_default()
        .split_ascii_whitespace()
        .map(|raw| UserId::parse(raw).map_err(|_| bad(index, "user id")))
        .collect()
}

/// A count kept in a column (never negative).
pub(crate) fn count(row: &Row<'_>, index: usize) -> rusqlite::Result<u64> {
    u64::try_from(row.get::<_, i64>(index)?).map_err(|_| bad(index, "count"))
}

fn opt_user_id(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<UserId>> {
    opt_text(row, index)?
        .map(|raw| UserId::parse(raw).map_err(|_| bad(index, "user id")))
        .transpose()
}

fn ts(row: &Row<'_>, index: usize) -> rusqlite::Result<Timestamp> {
    Ok(from_micros(row.get(index)?))
}

fn opt_ts(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<Timestamp>> {
    Ok(row.get::<_, Option<i64>>(index)?.map(from_micros))
}

fn seq(row: &Row<'_>, index: usize) -> rusqlite::Result<u64> {
    let raw: i64 = row.get(index)?;
    u64::try_from(raw).map_err(|_| bad(index, "sequence number"))
}

fn wire<T>(row: &Row<'_>, index: usize, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    parse(text(row, index)?).ok_or_else(|| bad(index, "enum value"))
}

pub(crate) fn user(row: &Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        id: user_id(row, 0)?,
        display_name: row.get(1)?,
        avatar_url: row.get(2)?,
        role: wire(row, 3, AppRole::parse)?,
        created_at: ts(row, 4)?,
        last_seen_at: opt_ts(row, 5)?,
    })
}

/// Reads [`CONVERSATION_COLUMNS`] starting at column `at`.
pub(crate) fn conversation(row: &Row<'_>, at: usize) -> rusqlite::Result<ConversationRecord> {
    let context = match (
        row.get::<_, Option<String>>(at + 6)?,
        row.get::<_, Option<String>>(at + 7)?,
    ) {
        (Some(kind), Some(id)) => Some(ContextRef { kind, id }),
        _ => None,
    };
    let last_message_seq = seq(row, at + 15)?;
    let last_message = match row.get::<_, Option<i64>>(at + 20)? {
        Some(created_at) if last_message_seq > 0 => Some(MessagePreview {
            seq: MessageSeq(last_message_seq),
            sender_id: opt_user_id(row, at + 17)?,
            kind: wire(row, at + 18, MessageType::parse)?,
            text: row.get::<_, Option<String>>(at + 19)?.unwrap_or_default(),
            deleted: row.get(at + 22)?,
            created_at: from_micros(created_at),
        }),
        _ => None,
    };
    Ok(ConversationRecord {
        id: ConversationId(row.get::<_, Uuid>(at)?),
        kind: wire(row, at + 1, ConversationType::parse)?,
        status: wire(row, at + 2, ConversationStatus::parse)?,
        title: row.get(at + 3)?,
        description: row.get(at + 4)?,
        avatar_url: row.get(at + 5)?,
        context,
        created_by: opt_user_id(row, at + 8)?,
        created_at: ts(row, at + 9)?,
        updated_at: ts(row, at + 10)?,
        last_activity_at: ts(row, at + 11)?,
        trusted: row.get(at + 12)?,
        encrypted: row.get(at + 13)?,
        message_count: seq(row, at + 14)?,
        last_message_seq: MessageSeq(last_message_seq),
        last_event_seq: EventSeq(seq(row, at + 16)?),
        last_message,
        participant_count: seq(row, at + 21)?,
    })
}

/// Reads [`PARTICIPANT_COLUMNS`] starting at column `at`.
pub(crate) fn participant(row: &Row<'_>, at: usize) -> rusqlite::Result<ParticipantRecord> {
    Ok(ParticipantRecord {
        conversation_id: ConversationId(row.get::<_, Uuid>(at)?),
        user_id: user_id(row, at + 1)?,
        role: wire(row, at + 2, ParticipantRole::parse)?,
        joined_at: ts(row, at + 3)?,
        left_at: opt_ts(row, at + 4)?,
        last_read_seq: MessageSeq(seq(row, at + 5)?),
        last_read_at: opt_ts(row, at + 6)?,
        last_delivered_seq: MessageSeq(seq(row, at + 7)?),
        muted: row.get(at + 8)?,
        muted_until: opt_ts(row, at + 9)?,
        pinned: row.get(at + 10)?,
        archived: row.get(at + 11)?,
        notification_level: wire(row, at + 12, NotificationLevel::parse)?,
        sound: row.get(at + 13)?,
    })
}

/// Reads [`MESSAGE_COLUMNS`] starting at column `at`; `None` when the id is NULL (an
/// outer join without a message).
pub(crate) fn message(row: &Row<'_>, at: usize) -> rusqlite::Result<Option<MessageRecord>> {
    let Some(id) = row.get::<_, Option<Uuid>>(at)? else {
        return Ok(None);
    };
    let mentions = match opt_text(row, at + 8)? {
        Some(raw) => serde_json::from_str(raw).map_err(|_| bad(at + 8, "mentions"))?,
        None => Vec::new(),
    };
    Ok(Some(MessageRecord {
        id: MessageId(id),
        conversation_id: ConversationId(row.get::<_, Uuid>(at + 1)?),
        seq: MessageSeq(seq(row, at + 2)?),
        sender_id: opt_user_id(row, at + 3)?,
        kind: wire(row, at + 4, MessageType::parse)?,
        content: row.get(at + 5)?,
        client_message_id: row.get(at + 6)?,
        reply_to_id: row.get::<_, Option<Uuid>>(at + 7)?.map(MessageId),
        mentions,
        created_at: ts(row, at + 9)?,
        edited_at: opt_ts(row, at + 10)?,
        edit_count: row.get(at + 11)?,
        deleted_at: opt_ts(row, at + 12)?,
        deleted_by: opt_user_id(row, at + 13)?,
        pii_masked: row.get(at + 14)?,
        thread_root_id: row.get::<_, Option<Uuid>>(at + 15)?.map(MessageId),
        thread_root_seq: row
            .get::<_, Option<i64>>(at + 16)?
            .map(|seq| MessageSeq(seq as u64)),
        thread_reply_count: row.get(at + 17)?,
        thread_last_reply_at: opt_ts(row, at + 18)?,
        attachments: match opt_text(row, at + 19)? {
            Some(raw) => serde_json::from_str(raw).map_err(|_| bad(at + 19, "attachments"))?,
            None => Vec::new(),
        },
        has_reactions: row.get(at + 20)?,
    }))
}

/// Reads a message from a query that always has one.
pub(crate) fn required_message(row: &Row<'_>) -> rusqlite::Result<MessageRecord> {
    message(row, 0)?.ok_or(rusqlite::Error::QueryReturnedNoRows)
}

pub(crate) const ATTACHMENT_COLUMNS: &str = "a.id, a.uploader_id, a.kind, a.content_type, \
    a.filename, a.size, a.width, a.height, a.storage_key, a.thumbnail_key, a.scan_status, \
    a.created_at, a.conversation_id, a.message_id, a.deleted_at";

/// Reads [`ATTACHMENT_COLUMNS`].
pub(crate) fn attachment(row: &Row<'_>) -> rusqlite::Result<AttachmentRecord> {
    Ok(AttachmentRecord {
        id: AttachmentId(row.get::<_, Uuid>(0)?),
        uploader_id: user_id(row, 1)?,
        kind: wire(row, 2, AttachmentKind::parse)?,
        content_type: row.get(3)?,
        filename: row.get(4)?,
        size: u64::try_from(row.get::<_, i64>(5)?).map_err(|_| bad(5, "size"))?,
        width: row.get(6)?,
        height: row.get(7)?,
        storage_key: row.get(8)?,
        thumbnail_key: row.get(9)?,
        scan_status: wire(row, 10, ScanStatus::parse)?,
        created_at: ts(row, 11)?,
        conversation_id: row.get::<_, Option<Uuid>>(12)?.map(ConversationId),
        message_id: row.get::<_, Option<Uuid>>(13)?.map(MessageId),
        deleted_at: opt_ts(row, 14)?,
    })
}
