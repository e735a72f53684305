//! The [`Store`] implementation: one function per use case, SQL inline.
//!
//! Writes run on the writer thread (`self.writer.write`), reads on the reader pool
//! (`self.readers.read`). Functions that both kinds of method need (appending an event,
//! counting unread messages) take a `&Connection` and are shared.

use async_trait::async_trait;
use natter_proto::{
    ConversationId, EventSeq, MessageId, MessageSeq, ParticipantRole, Timestamp, UserId,
};
use natter_store::payload::{self, EventDraft};
use natter_store::{
    preview_text, to_micros, AcceptOutcome, AppendOutcome, ConversationListItem, ConversationPatch,
    ConversationQuery, ConversationRecord, CreateOutcome, EditRecord, EventRecord, FanoutBatch,
    InvitationRecord, MessageEdit, MessageQuery, MessageRecord, NewConversation, NewMessage,
    NewParticipant, Order, ParticipantRecord, ReactionAdded, ReactionGroup, ReactionRecord,
    ReadMarkers, ReadOutcome, ReadTargets, RemovalReason, SettingsChange, SettingsOutcome,
    SettingsPatch, SettingsRecord, Store, StoreError, SyncRecord, UnreadDetail, UserRecord,
    UserUpsert, REACTION_GROUP_USERS, SENDER_REFUSED,
};
use rusqlite::types::ToSql;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use uuid::Uuid;

use crate::error::store_error;
use crate::rows::{
    self, CONVERSATION_COLUMNS, CONVERSATION_WIDTH, MESSAGE_COLUMNS, PARTICIPANT_COLUMNS,
    PARTICIPANT_WIDTH, USER_COLUMNS,
};
use crate::SqliteStore;

type Result<T> = std::result::Result<T, StoreError>;

/// The messages of conversation `?1` in `(?2, ?3]` unread for user `?4`, for bounds at or
/// after the user's read marker: all of them (seqs are gap-free, and none after the
/// marker is the user's own: sending moves the sender's marker, joining puts it at the
/// newest message), less the deleted ones (`messages_deleted_by_seq` holds only those)
/// and those the user hid. Costs the deletions and hidings in the range, not its length.
const UNREAD_COUNT_SQL: &str = "SELECT ?3 - ?2 \
    - (SELECT COUNT(*) FROM messages d INDEXED BY messages_deleted_by_seq \
       WHERE d.conversation_id = ?1 AND d.seq > ?2 AND d.seq <= ?3 AND d.deleted_at IS NOT NULL) \
    - (SELECT COUNT(*) FROM message_hidden h \
       JOIN messages hm ON hm.conversation_id = h.conversation_id AND hm.seq = h.seq \
       WHERE h.user_id = ?4 AND h.conversation_id = ?1 AND h.seq > ?2 AND h.seq <= ?3 \
       AND hm.deleted_at IS NULL AND (hm.sender_id IS NULL OR hm.sender_id <> ?4))";

/// The unread count of participant row `p` (active), the same way as [`UNREAD_COUNT_SQL`]
/// from `p`'s marker to the conversation's newest message.
const PARTICIPANT_UNREAD: &str = "((SELECT c0.last_message_seq FROM conversations c0 \
       WHERE c0.id = p.conversation_id) - p.last_read_seq \
    - (SELECT COUNT(*) FROM messages d INDEXED BY messages_deleted_by_seq \
       WHERE d.conversation_id = p.conversation_id AND d.seq > p.last_read_seq \
       AND d.deleted_at IS NOT NULL) \
    - (SELECT COUNT(*) FROM message_hidden h \
       JOIN messages hm ON hm.conversation_id = h.conversation_id AND hm.seq = h.seq \
       WHERE h.user_id = p.user_id AND h.conversation_id = p.conversation_id \
       AND h.seq > p.last_read_seq AND hm.deleted_at IS NULL \
       AND (hm.sender_id IS NULL OR hm.sender_id <> p.user_id)))";

fn seq_param(seq: u64) -> i64 {
    // Sequence numbers are assigned by the database from 1 upward; they never approach
    // i64::MAX. Saturate rather than wrap for values from untrusted cursors.
    i64::try_from(seq).unwrap_or(i64::MAX)
}

fn ensure_user(conn: &Connection, user_id: &UserId, now: Timestamp) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO users (id, role, created_at) VALUES (?1, 'user', ?2) ON CONFLICT (id) DO NOTHING",
    )
    .and_then(|mut stmt| stmt.execute(params![user_id.as_str(), to_micros(now)]))
    .map_err(store_error)?;
    Ok(())
}

/// [`NewMessage::check_sender`]: the conversation is not blocked and the sender is one of
/// its active participants, else the append is refused with [`SENDER_REFUSED`].
fn check_sender(conn: &Connection, new: &NewMessage) -> Result<()> {
    let admitted = match &new.sender_id {
        Some(sender) => conn
            .prepare_cached(
                "SELECT 1 FROM conversations c JOIN participants p ON p.conversation_id = c.id \
                 WHERE c.id = ?1 AND c.status <> 'blocked' AND p.user_id = ?2 \
                 AND p.left_at IS NULL",
            )
            .and_then(|mut stmt| stmt.exists(params![new.conversation_id.0, sender.as_str()]))
            .map_err(store_error)?,
        None => false,
    };
    if admitted {
        Ok(())
    } else {
        Err(StoreError::Conflict(SENDER_REFUSED.into()))
    }
}

/// Appends an event with the conversation's next event seq.
pub(crate) fn append_event(
    conn: &Connection,
    conversation_id: ConversationId,
    draft: EventDraft,
    message_seq: Option<u64>,
    now: Timestamp,
) -> Result<EventSeq> {
    let seq: i64 = conn
        .prepare_cached(
            "UPDATE conversations SET last_event_seq = last_event_seq + 1, last_event_at = MAX(last_event_at, ?2) \
             WHERE id = ?1 RETURNING last_event_seq",
        )
        .and_then(|mut stmt| {
            stmt.query_row(params![conversation_id.0, to_micros(now)], |row| row.get(0))
        })
        .map_err(store_error)?;
    insert_event(conn, conversation_id, seq, draft, message_seq, now)
}

/// Stores event `seq`, which the caller took from the conversation's `last_event_seq`.
fn insert_event(
    conn: &Connection,
    conversation_id: ConversationId,
    seq: i64,
    draft: EventDraft,
    message_seq: Option<u64>,
    now: Timestamp,
) -> Result<EventSeq> {
    conn.prepare_cached(
        "INSERT INTO events (conversation_id, seq, kind, message_seq, data, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            conversation_id.0,
            seq,
            draft.kind,
            message_seq.map(seq_param),
            draft.data.to_string(),
            to_micros(now)
        ])
    })
    .map_err(store_error)?;
    Ok(EventSeq(seq as u64))
}

fn select_conversation(
    conn: &Connection,
    conversation_id: ConversationId,
) -> Result<Option<ConversationRecord>> {
    conn.prepare_cached(&format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = ?1"
    ))
    .and_then(|mut stmt| {
        stmt.query_row([conversation_id.0], |row| rows::conversation(row, 0))
            .optional()
    })
    .map_err(store_error)
}

fn select_conversation_by_key(conn: &Connection, key: &str) -> Result<Option<ConversationRecord>> {
    conn.prepare_cached(&format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.unique_key = ?1"
    ))
    .and_then(|mut stmt| {
        stmt.query_row([key], |row| rows::conversation(row, 0))
            .optional()
    })
    .map_err(store_error)
}

fn select_participant(
    conn: &Connection,
    conversation_id: ConversationId,
    user_id: &UserId,
) -> Result<Option<ParticipantRecord>> {
    conn.prepare_cached(&format!(
        "SELECT {PARTICIPANT_COLUMNS} FROM participants p \
         WHERE p.conversation_id = ?1 AND p.user_id = ?2"
    ))
    .and_then(|mut stmt| {
        stmt.query_row(params![conversation_id.0, user_id.as_str()], |row| {
            rows::participant(row, 0)
        })
        .optional()
    })
    .map_err(store_error)
}

/// The `FROM` and the condition on `thread_root_seq` (parameter `?6`) of a page. A thread
/// page walks `messages_by_thread`: its replies, whatever lies between them. Left to
/// choose (no statistics), SQLite took the primary key, which holds the columns the page
/// reads, and filtered it from the cursor back, so a thread of 200 replies spread over
/// 20,000 messages read 5,000 rows per page (BENCHMARKS.md); and `IS ?6` is no
/// condition the partial index can serve at all. The main timeline (`?6` NULL) keeps the
/// primary key and `IS`.
fn page_source(thread_page: bool) -> (&'static str, &'static str) {
    if thread_page {
        (
            "messages m INDEXED BY messages_by_thread",
            "m.thread_root_seq = ?6",
        )
    } else {
        ("messages m", "m.thread_root_seq IS ?6")
    }
}

/// A page of messages by seq cursor (see [`Store::message_page`]). `viewer_hides` says
/// whether the viewer has hidden any message of the conversation (see
/// [`select_read_markers`]): only then does each row look for itself in
/// `message_hidden`, a B-tree probe per row (~6 µs of a page of 50, BENCHMARKS.md) that
/// finds nothing for almost every viewer.
fn select_messages(
    conn: &Connection,
    conversation_id: ConversationId,
    query: &MessageQuery,
    viewer_hides: bool,
) -> Result<Vec<MessageRecord>> {
    let order = match query.order {
        Order::Ascending => "ASC",
        Order::Descending => "DESC",
    };
    let (table, thread) = page_source(query.thread.is_some());
    let hidden = if viewer_hides {
        "AND (?5 IS NULL OR NOT EXISTS \
           (SELECT 1 FROM message_hidden h WHERE h.user_id = ?5 AND h.message_id = m.id))"
    } else {
        // `?5` stays a parameter of the statement (SQLite numbers them up to the highest
        // used, `?6`), so both forms take the same bindings.
        ""
    };
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM {table} WHERE m.conversation_id = ?1 \
         AND m.seq < ?2 AND m.seq > ?3 AND {thread} {hidden} \
         ORDER BY m.seq {order} LIMIT ?4"
    );
    let before = query.before.map_or(i64::MAX, |seq| seq_param(seq.0));
    let after = query.after.map_or(0, |seq| seq_param(seq.0));
    let viewer = query.viewer.as_ref().map(UserId::as_str);
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| {
            stmt.query_map(
                params![
                    conversation_id.0,
                    before,
                    after,
                    i64::from(query.limit) + 1,
                    viewer,
                    query.thread.map(|root| seq_param(root.0))
                ],
                rows::required_message,
            )?
            .collect()
        })
        .map_err(store_error)
}

fn select_participants(
    conn: &Connection,
    conversation_id: ConversationId,
) -> Result<Vec<ParticipantRecord>> {
    conn.prepare_cached(&format!(
        "SELECT {PARTICIPANT_COLUMNS} FROM participants p \
         WHERE p.conversation_id = ?1 AND p.left_at IS NULL ORDER BY p.joined_at, p.user_id"
    ))
    .and_then(|mut stmt| {
        stmt.query_map([conversation_id.0], |row| rows::participant(row, 0))?
            .collect()
    })
    .map_err(store_error)
}

/// A page's read markers (see [`ReadMarkers`]): two statements whose results do not grow
/// with the conversation, however many participants they scan. Also whether the viewer
/// has hidden any message of the conversation, which decides the form of the page's
/// statement ([`select_messages`]).
fn select_read_markers(
    conn: &Connection,
    conversation_id: ConversationId,
    viewer: Option<&UserId>,
) -> Result<(ReadMarkers, bool)> {
    let viewer = viewer.map(UserId::as_str);
    let (viewer_is_participant, others_read, others_delivered, viewer_hides) = conn
        .prepare_cached(
            // Each from an index (0013_read_marker_indexes.sql, and
            // `message_hidden_by_conversation`), not a scan of the members.
            "SELECT EXISTS (SELECT 1 FROM participants WHERE conversation_id = ?1 AND user_id = ?2 \
                 AND left_at IS NULL), \
               (SELECT last_read_seq FROM participants WHERE conversation_id = ?1 AND left_at IS NULL \
                 AND user_id IS NOT ?2 ORDER BY last_read_seq DESC LIMIT 1), \
               (SELECT last_delivered_seq FROM participants WHERE conversation_id = ?1 AND left_at IS NULL \
                 AND user_id IS NOT ?2 ORDER BY last_delivered_seq DESC LIMIT 1), \
               EXISTS (SELECT 1 FROM message_hidden WHERE user_id = ?2 AND conversation_id = ?1)",
        )
        .and_then(|mut stmt| {
            stmt.query_row(params![conversation_id.0, viewer], |row| {
                Ok((
                    row.get::<_, bool>(0)?,
                    row.get::<_, Option<i64>>(1)?,
                    row.get::<_, Option<i64>>(2)?,
                    row.get::<_, bool>(3)?,
                ))
            })
        })
        .map_err(store_error)?;
    let lowest_read = conn
        .prepare_cached(
            "SELECT p.user_id, p.last_read_seq FROM participants p \
             WHERE p.conversation_id = ?1 AND p.left_at IS NULL \
             ORDER BY p.last_read_seq, p.user_id LIMIT 2",
        )
        .and_then(|mut stmt| {
            stmt.query_map([conversation_id.0], |row| {
                Ok((
                    rows::user_id(row, 0)?,
                    MessageSeq(row.get::<_, i64>(1)? as u64),
                ))
            })?
            .collect()
        })
        .map_err(store_error)?;
    let markers = ReadMarkers {
        viewer_is_participant,
        lowest_read,
        others_read: others_read.map(|seq| MessageSeq(seq as u64)),
        others_delivered: others_delivered.map(|seq| MessageSeq(seq as u64)),
    };
    Ok((markers, viewer_hides))
}

fn count_unread(
    conn: &Connection,
    conversation_id: ConversationId,
    user_id: &UserId,
    after: u64,
    up_to: u64,
) -> Result<u64> {
    if up_to <= after {
        return Ok(0);
    }
    let count: i64 = conn
        .prepare_cached(UNREAD_COUNT_SQL)
        .and_then(|mut stmt| {
            stmt.query_row(
                params![
                    conversation_id.0,
                    seq_param(after),
                    seq_param(up_to),
                    user_id.as_str()
                ],
                |row| row.get(0),
            )
        })
        .map_err(store_error)?;
    Ok(count as u64)
}

/// Moves one read marker; shared by `mark_read` and `mark_read_many`.
fn mark_read_in(
    conn: &Connection,
    conversation_id: ConversationId,
    user_id: &UserId,
    up_to: MessageSeq,
    now: Timestamp,
) -> Result<ReadOutcome> {
    let markers = select_markers(conn, conversation_id, user_id)?;
    let (old, last) = (markers.read, markers.last_message);
    let target = up_to.0.min(last);
    if target <= old {
        return Ok(ReadOutcome {
            conversation_id,
            marked_count: 0,
            last_read_seq: MessageSeq(old),
            unread_count: count_unread(conn, conversation_id, user_id, old, last)?,
            event_seq: None,
        });
    }
    let marked_count = count_unread(conn, conversation_id, user_id, old, target)?;
    conn.prepare_cached(
        "UPDATE participants SET last_read_seq = ?3, last_read_at = ?4, \
         last_delivered_seq = MAX(last_delivered_seq, ?3) \
         WHERE conversation_id = ?1 AND user_id = ?2",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            conversation_id.0,
            user_id.as_str(),
            seq_param(target),
            to_micros(now)
        ])
    })
    .map_err(store_error)?;
    let event_seq = append_event(
        conn,
        conversation_id,
        payload::receipt_updated(user_id, target, Some(now), markers.delivered.max(target)),
        None,
        now,
    )?;
    Ok(ReadOutcome {
        conversation_id,
        marked_count,
        last_read_seq: MessageSeq(target),
        unread_count: count_unread(conn, conversation_id, user_id, target, last)?,
        event_seq: Some(event_seq),
    })
}

/// A participant's markers and the conversation's newest message seq.
struct Markers {
    read: u64,
    read_at: Option<Timestamp>,
    delivered: u64,
    last_message: u64,
}

/// `NotFound` unless the user is an active participant.
fn select_markers(
    conn: &Connection,
    conversation_id: ConversationId,
    user_id: &UserId,
) -> Result<Markers> {
    conn.prepare_cached(
        "SELECT p.last_read_seq, p.last_read_at, p.last_delivered_seq, c.last_message_seq \
         FROM participants p JOIN conversations c ON c.id = p.conversation_id \
         WHERE p.conversation_id = ?1 AND p.user_id = ?2 AND p.left_at IS NULL",
    )
    .and_then(|mut stmt| {
        stmt.query_row(params![conversation_id.0, user_id.as_str()], |row| {
            Ok(Markers {
                read: row.get::<_, i64>(0)? as u64,
                read_at: row.get::<_, Option<i64>>(1)?.map(natter_store::from_micros),
                delivered: row.get::<_, i64>(2)? as u64,
                last_message: row.get::<_, i64>(3)? as u64,
            })
        })
    })
    .map_err(store_error)
}

/// The reactions of `ids`, ordered by message, time, emoji and user.
fn select_reactions(conn: &Connection, ids: &[Uuid]) -> Result<Vec<ReactionRecord>> {
    let placeholders = vec!["?"; ids.len()].join(", ");
    let sql = format!(
        "SELECT message_id, emoji, user_id, created_at FROM reactions \
         WHERE message_id IN ({placeholders}) ORDER BY message_id, created_at, emoji, user_id"
    );
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| {
            stmt.query_map(params_from_iter(ids.iter()), reaction_row)?
                .collect()
        })
        .map_err(store_error)
}

/// A `reactions` row selected as `message_id, emoji, user_id, created_at`.
fn reaction_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ReactionRecord> {
    let user: String = row.get(2)?;
    Ok(ReactionRecord {
        message_id: MessageId(row.get(0)?),
        emoji: row.get(1)?,
        user_id: UserId::parse(&user).map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(
                2,
                rusqlite::types::Type::Text,
                "user id".into(),
            )
        })?,
        created_at: natter_store::from_micros(row.get(3)?),
    })
}

/// [`Store::list_reactors`]: a range of `reactions_in_order` from the row value after the
/// cursor (every row is after `(i64::MIN, '')`).
fn select_reactors(
    conn: &Connection,
    message_id: MessageId,
    emoji: &str,
    after: (i64, &str),
    limit: u32,
) -> Result<Vec<ReactionRecord>> {
    conn.prepare_cached(
        "SELECT message_id, emoji, user_id, created_at FROM reactions INDEXED BY reactions_in_order \
         WHERE message_id = ?1 AND emoji = ?2 AND (created_at, user_id) > (?3, ?4) \
         ORDER BY created_at, user_id LIMIT ?5",
    )
    .and_then(|mut stmt| {
        stmt.query_map(params![message_id.0, emoji, after.0, after.1, limit], reaction_row)?
            .collect()
    })
    .map_err(store_error)
}

/// [`Store::list_reaction_groups`] in one statement (one snapshot): the `reaction_counts`
/// rows of the messages, whose first users the triggers of `0015_reaction_counts.sql`
/// keep; the viewer's reaction is probed only where more users reacted than are listed.
/// Sorted here, not in SQL: sorting a page's few rows costs SQLite a temporary b-tree.
fn select_reaction_groups(
    conn: &Connection,
    ids: &[Uuid],
    viewer: Option<&UserId>,
) -> Result<Vec<ReactionGroup>> {
    let placeholders = vec!["?"; ids.len()].join(", ");
    let sql = format!(
        "SELECT c.message_id, c.emoji, c.count, c.users, c.first_at, \
           CASE WHEN c.count > ?2 THEN EXISTS (SELECT 1 FROM reactions r \
             WHERE r.message_id = c.message_id AND r.emoji = c.emoji AND r.user_id = ?1) \
           ELSE 0 END \
         FROM reaction_counts c WHERE c.message_id IN ({placeholders})"
    );
    let viewer = viewer.map(UserId::as_str);
    let listed = REACTION_GROUP_USERS as i64;
    let params = [&viewer as &dyn ToSql, &listed]
        .into_iter()
        .chain(ids.iter().map(|id| id as &dyn ToSql));
    let mut groups: Vec<(i64, ReactionGroup)> = conn
        .prepare_cached(&sql)
        .and_then(|mut stmt| {
            stmt.query_map(params_from_iter(params), |row| {
                let users = rows::joined_user_ids(row, 3)?;
                let probed: bool = row.get(5)?;
                let listed = viewer.is_some_and(|v| users.iter().any(|u| u.as_str() == v));
                let group = ReactionGroup {
                    message_id: MessageId(row.get(0)?),
                    emoji: row.get(1)?,
                    count: rows::count(row, 2)?,
                    me: probed || listed,
                    users,
                };
                Ok((row.get(4)?, group))
            })?
            .collect()
        })
        .map_err(store_error)?;
    groups.sort_unstable_by(|(a_first, a), (b_first, b)| {
        (a.message_id, a_first, &a.emoji).cmp(&(b.message_id, b_first, &b.emoji))
    });
    Ok(groups.into_iter().map(|(_, group)| group).collect())
}

fn select_message(conn: &Connection, message_id: MessageId) -> Result<Option<MessageRecord>> {
    conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.id = ?1"
    ))
    .and_then(|mut stmt| {
        stmt.query_row([message_id.0], rows::required_message)
            .optional()
    })
    .map_err(store_error)
}

/// Adds one participant (or re-activates a left one) with `participant.added`; `None`
/// when the user is an active participant already. Shared by `add_participants` and
/// `accept_invitation`.
fn add_participant_in(
    conn: &Connection,
    conversation: &ConversationRecord,
    new: &NewParticipant,
    now: Timestamp,
) -> Result<Option<(ParticipantRecord, EventSeq)>> {
    let conversation_id = conversation.id;
    ensure_user(conn, &new.user_id, now)?;
    let existing = select_participant(conn, conversation_id, &new.user_id)?;
    if existing.as_ref().is_some_and(ParticipantRecord::is_active) {
        return Ok(None);
    }
    let start = seq_param(conversation.last_message_seq.0);
    conn.prepare_cached(
        "INSERT INTO participants (conversation_id, user_id, role, joined_at, \
           last_read_seq, last_delivered_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?5) \
         ON CONFLICT (conversation_id, user_id) DO UPDATE SET role = ?3, \
           joined_at = ?4, left_at = NULL, \
           last_read_seq = MAX(participants.last_read_seq, ?5), \
           last_delivered_seq = MAX(participants.last_delivered_seq, ?5)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            conversation_id.0,
            new.user_id.as_str(),
            new.role.as_str(),
            to_micros(now),
            start
        ])
    })
    .map_err(store_error)?;
    conn.prepare_cached(
        "UPDATE conversations SET participant_count = participant_count + 1 WHERE id = ?1",
    )
    .and_then(|mut stmt| stmt.execute([conversation_id.0]))
    .map_err(store_error)?;
    let participant =
        select_participant(conn, conversation_id, &new.user_id)?.ok_or(StoreError::NotFound)?;
    let event_seq = append_event(
        conn,
        conversation_id,
        payload::participant_added(&participant),
        None,
        now,
    )?;
    Ok(Some((participant, event_seq)))
}

fn select_invitation(conn: &Connection, id: Uuid) -> Result<Option<InvitationRecord>> {
    conn.prepare_cached(
        "SELECT id, conversation_id, created_by, created_at, expires_at, max_uses, uses, revoked_at \
         FROM invitations WHERE id = ?1",
    )
    .and_then(|mut stmt| stmt.query_row([id], invitation_row).optional())
    .map_err(store_error)
}

fn invitation_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<InvitationRecord> {
    let created_by: Option<String> = row.get(2)?;
    Ok(InvitationRecord {
        id: row.get(0)?,
        conversation_id: ConversationId(row.get(1)?),
        created_by: created_by.and_then(|raw| UserId::parse(&raw).ok()),
        created_at: natter_store::from_micros(row.get(3)?),
        expires_at: natter_store::from_micros(row.get(4)?),
        max_uses: row.get::<_, Option<i64>>(5)?.map(|n| n as u32),
        uses: row.get::<_, i64>(6)? as u32,
        revoked_at: row.get::<_, Option<i64>>(7)?.map(natter_store::from_micros),
    })
}

fn select_settings(conn: &Connection, conversation_id: ConversationId) -> Result<SettingsRecord> {
    let row: Option<(String, i64, i64, Option<String>)> = conn
        .prepare_cached(
            "SELECT settings, version, updated_at, updated_by FROM conversation_settings WHERE conversation_id = ?1",
        )
        .and_then(|mut stmt| {
            stmt.query_row([conversation_id.0], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))
                .optional()
        })
        .map_err(store_error)?;
    Ok(match row {
        Some((settings, version, updated_at, updated_by)) => SettingsRecord {
            settings: serde_json::from_str(&settings).unwrap_or_else(|_| serde_json::json!({})),
            version: version as u64,
            updated_at: Some(natter_store::from_micros(updated_at)),
            updated_by: updated_by.and_then(|raw| UserId::parse(&raw).ok()),
        },
        None => SettingsRecord {
            settings: serde_json::json!({}),
            version: 0,
            updated_at: None,
            updated_by: None,
        },
    })
}

fn follow_thread(
    conn: &Connection,
    conversation_id: ConversationId,
    root_seq: MessageSeq,
    user_id: &UserId,
    now: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO thread_followers (conversation_id, root_seq, user_id, since) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (conversation_id, root_seq, user_id) DO NOTHING",
    )
    .and_then(|mut stmt| stmt.execute(params![conversation_id.0, seq_param(root_seq.0), user_id.as_str(), now]))
    .map_err(store_error)?;
    Ok(())
}

/// Events after `after`, each joined with its message in its current state.
fn select_events(
    conn: &Connection,
    conversation_id: ConversationId,
    after: EventSeq,
    limit: u32,
) -> Result<Vec<EventRecord>> {
    conn.prepare_cached(&format!(
        "SELECT e.seq, e.kind, e.data, e.created_at, {MESSAGE_COLUMNS} FROM events e \
         LEFT JOIN messages m ON m.conversation_id = e.conversation_id AND m.seq = e.message_seq \
         WHERE e.conversation_id = ?1 AND e.seq > ?2 ORDER BY e.seq LIMIT ?3"
    ))
    .and_then(|mut stmt| {
        stmt.query_map(
            params![conversation_id.0, seq_param(after.0), i64::from(limit)],
            |row| {
                let data: String = row.get(2)?;
                Ok(EventRecord {
                    conversation_id,
                    seq: EventSeq(row.get::<_, i64>(0)? as u64),
                    kind: row.get(1)?,
                    data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
                    created_at: natter_store::from_micros(row.get(3)?),
                    message: rows::message(row, 4)?,
                })
            },
        )?
        .collect()
    })
    .map_err(store_error)
}

fn opt_bool_filter(
    sql: &mut String,
    params: &mut Vec<Box<dyn ToSql>>,
    column: &str,
    value: Option<bool>,
) {
    if let Some(value) = value {
        params.push(Box::new(value));
        sql.push_str(&format!(" AND {column} = ?{}", params.len()));
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn commit_stats(&self) -> natter_store::CommitSnapshot {
        natter_store::CommitSnapshot {
            search_backlog: self.indexer.backlog(),
            ..self.stats.snapshot()
        }
    }

    async fn ping(&self) -> Result<()> {
        self.readers
            .read(|conn| {
                conn.query_row("SELECT 1", [], |_| Ok(()))
                    .map_err(store_error)
            })
            .await
    }

    async fn upsert_user(&self, user: UserUpsert, now: Timestamp) -> Result<UserRecord> {
        self.writer
            .write(move |conn| {
                conn.prepare_cached(&format!(
                    "INSERT INTO users (id, display_name, avatar_url, role, created_at) \
                     VALUES (?1, ?2, ?3, COALESCE(?4, 'user'), ?5) \
                     ON CONFLICT (id) DO UPDATE SET \
                       display_name = COALESCE(?2, users.display_name), \
                       avatar_url = COALESCE(?3, users.avatar_url), \
                       role = COALESCE(?4, users.role) \
                     RETURNING {USER_COLUMNS}"
                ))
                .and_then(|mut stmt| {
                    stmt.query_row(
                        params![
                            user.id.as_str(),
                            user.display_name,
                            user.avatar_url,
                            user.role.map(|role| role.as_str()),
                            to_micros(now)
                        ],
                        rows::user,
                    )
                })
                .map_err(store_error)
            })
            .await
    }

    async fn find_user(&self, user_id: &UserId) -> Result<Option<UserRecord>> {
        let user_id = user_id.clone();
        self.readers
            .lookup(move |conn| {
                conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))
                    .and_then(|mut stmt| stmt.query_row([user_id.as_str()], rows::user).optional())
                    .map_err(store_error)
            })
            .await
    }

    async fn create_conversation(&self, new: NewConversation) -> Result<CreateOutcome> {
        self.writer
            .write(move |conn| {
                if let Some(key) = &new.unique_key {
                    if let Some(existing) = select_conversation_by_key(conn, key)? {
                        return Ok(CreateOutcome::Existing(existing));
                    }
                }
                let now = to_micros(new.now);
                conn.prepare_cached(
                    "INSERT INTO conversations (id, kind, title, description, avatar_url, \
                     context_kind, context_id, unique_key, created_by, created_at, updated_at, \
                     last_activity_at, last_event_at, trusted, encrypted, participant_count) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?10, ?10, ?11, ?12, ?13)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        new.id.0,
                        new.kind.as_str(),
                        new.title,
                        new.description,
                        new.avatar_url,
                        new.context.as_ref().map(|c| c.kind.as_str()),
                        new.context.as_ref().map(|c| c.id.as_str()),
                        new.unique_key,
                        new.created_by.as_ref().map(UserId::as_str),
                        now,
                        new.trusted,
                        new.encrypted,
                        new.participants.len() as i64,
                    ])
                })
                .map_err(store_error)?;
                for participant in &new.participants {
                    ensure_user(conn, &participant.user_id, new.now)?;
                    conn.prepare_cached(
                        "INSERT INTO participants (conversation_id, user_id, role, joined_at) \
                         VALUES (?1, ?2, ?3, ?4)",
                    )
                    .and_then(|mut stmt| {
                        stmt.execute(params![
                            new.id.0,
                            participant.user_id.as_str(),
                            participant.role.as_str(),
                            now
                        ])
                    })
                    .map_err(store_error)?;
                }
                let mut conversation =
                    select_conversation(conn, new.id)?.ok_or(StoreError::NotFound)?;
                let participants = select_participants(conn, new.id)?;
                conversation.last_event_seq = append_event(
                    conn,
                    new.id,
                    payload::conversation_created(&conversation, &participants),
                    None,
                    new.now,
                )?;
                Ok(CreateOutcome::Created(conversation))
            })
            .await
    }

    async fn find_conversation(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Option<ConversationRecord>> {
        self.readers
            .lookup(move |conn| select_conversation(conn, conversation_id))
            .await
    }

    async fn find_conversation_by_key(
        &self,
        unique_key: &str,
    ) -> Result<Option<ConversationRecord>> {
        let key = unique_key.to_owned();
        self.readers
            .lookup(move |conn| select_conversation_by_key(conn, &key))
            .await
    }

    async fn update_conversation(
        &self,
        conversation_id: ConversationId,
        patch: ConversationPatch,
        now: Timestamp,
    ) -> Result<ConversationRecord> {
        self.writer
            .write(move |conn| {
                let changed = conn
                    .prepare_cached(
                        "UPDATE conversations SET \
                           title = CASE WHEN ?2 THEN ?3 ELSE title END, \
                           description = CASE WHEN ?4 THEN ?5 ELSE description END, \
                           avatar_url = CASE WHEN ?6 THEN ?7 ELSE avatar_url END, \
                           status = COALESCE(?8, status), \
                           trusted = COALESCE(?9, trusted), \
                           updated_at = ?10 \
                         WHERE id = ?1",
                    )
                    .and_then(|mut stmt| {
                        stmt.execute(params![
                            conversation_id.0,
                            patch.title.is_some(),
                            patch.title.clone().flatten(),
                            patch.description.is_some(),
                            patch.description.clone().flatten(),
                            patch.avatar_url.is_some(),
                            patch.avatar_url.clone().flatten(),
                            patch.status.map(|status| status.as_str()),
                            patch.trusted,
                            to_micros(now),
                        ])
                    })
                    .map_err(store_error)?;
                if changed == 0 {
                    return Err(StoreError::NotFound);
                }
                let mut conversation =
                    select_conversation(conn, conversation_id)?.ok_or(StoreError::NotFound)?;
                conversation.last_event_seq = append_event(
                    conn,
                    conversation_id,
                    payload::conversation_updated(&conversation),
                    None,
                    now,
                )?;
                Ok(conversation)
            })
            .await
    }

    async fn list_conversations(
        &self,
        query: &ConversationQuery,
    ) -> Result<Vec<ConversationListItem>> {
        let query = query.clone();
        self.readers
            .read(move |conn| {
                let mut params: Vec<Box<dyn ToSql>> =
                    vec![Box::new(query.user_id.as_str().to_owned()), Box::new(to_micros(query.now))];
                let mut sql = format!(
                    "SELECT {CONVERSATION_COLUMNS}, {PARTICIPANT_COLUMNS}, \
                       {PARTICIPANT_UNREAD} AS unread, \
                       CASE WHEN c.kind = 'direct' THEN (SELECT p2.user_id FROM participants p2 \
                          WHERE p2.conversation_id = c.id AND p2.user_id <> p.user_id LIMIT 1) END AS peer, \
                       c.last_activity_at AS sort_at, c.id AS sort_id \
                     FROM participants p JOIN conversations c ON c.id = p.conversation_id \
                     WHERE p.user_id = ?1 AND p.left_at IS NULL"
                );
                if let Some(kind) = query.kind {
                    params.push(Box::new(kind.as_str()));
                    sql.push_str(&format!(" AND c.kind = ?{}", params.len()));
                }
                if let Some(status) = query.status {
                    params.push(Box::new(status.as_str()));
                    sql.push_str(&format!(" AND c.status = ?{}", params.len()));
                }
                opt_bool_filter(&mut sql, &mut params, "p.pinned", query.pinned);
                opt_bool_filter(&mut sql, &mut params, "p.archived", query.archived);
                opt_bool_filter(
                    &mut sql,
                    &mut params,
                    "(p.muted = 1 AND (p.muted_until IS NULL OR p.muted_until > ?2))",
                    query.muted,
                );
                if let Some(kind) = &query.context_kind {
                    params.push(Box::new(kind.clone()));
                    sql.push_str(&format!(" AND c.context_kind = ?{}", params.len()));
                }
                if let Some(id) = &query.context_id {
                    params.push(Box::new(id.clone()));
                    sql.push_str(&format!(" AND c.context_id = ?{}", params.len()));
                }
                if let Some((at, id)) = query.after {
                    params.push(Box::new(to_micros(at)));
                    let at_index = params.len();
                    params.push(Box::new(id.0));
                    sql.push_str(&format!(
                        " AND (c.last_activity_at < ?{at_index} OR (c.last_activity_at = ?{at_index} AND c.id < ?{}))",
                        params.len()
                    ));
                }
                // With the unread filter, LIMIT -1 keeps SQLite from flattening the subquery
                // and evaluating the unread count twice per row.
                let fence = if query.has_unread.is_some() { " LIMIT -1" } else { "" };
                let mut outer = format!("SELECT * FROM ({sql}{fence}) AS t WHERE 1 = 1");
                opt_bool_filter(&mut outer, &mut params, "(t.unread > 0)", query.has_unread);
                params.push(Box::new(i64::from(query.limit)));
                let outer = format!("{outer} ORDER BY t.sort_at DESC, t.sort_id DESC LIMIT ?{}", params.len());
                let mut stmt = conn.prepare_cached(&outer).map_err(store_error)?;
                let items = stmt
                    .query_map(params_from_iter(params.iter()), |row| {
                        let at = CONVERSATION_WIDTH + PARTICIPANT_WIDTH;
                        let peer: Option<String> = row.get(at + 1)?;
                        Ok(ConversationListItem {
                            conversation: rows::conversation(row, 0)?,
                            me: rows::participant(row, CONVERSATION_WIDTH)?,
                            unread_count: row.get::<_, i64>(at)? as u64,
                            peer_id: peer.and_then(|peer| UserId::parse(&peer).ok()),
                        })
                    })
                    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                    .map_err(store_error)?;
                Ok(items)
            })
            .await
    }

    async fn count_unread(&self, conversation_id: ConversationId, user_id: &UserId) -> Result<u64> {
        let user_id = user_id.clone();
        self.readers
            .read(move |conn| {
                let marker: Option<(i64, i64)> = conn
                    .prepare_cached(
                        "SELECT p.last_read_seq, c.last_message_seq FROM participants p \
                         JOIN conversations c ON c.id = p.conversation_id \
                         WHERE p.conversation_id = ?1 AND p.user_id = ?2 AND p.left_at IS NULL",
                    )
                    .and_then(|mut stmt| {
                        stmt.query_row(params![conversation_id.0, user_id.as_str()], |row| {
                            Ok((row.get(0)?, row.get(1)?))
                        })
                        .optional()
                    })
                    .map_err(store_error)?;
                match marker {
                    Some((read, last)) => {
                        count_unread(conn, conversation_id, &user_id, read as u64, last as u64)
                    }
                    None => Ok(0),
                }
            })
            .await
    }

    async fn list_unread_counts(&self, user_id: &UserId) -> Result<Vec<(ConversationId, u64)>> {
        let user_id = user_id.clone();
        self.readers
            .read(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT conversation_id, unread FROM ( \
                       SELECT p.conversation_id, {PARTICIPANT_UNREAD} AS unread \
                       FROM participants p WHERE p.user_id = ?1 AND p.left_at IS NULL LIMIT -1) \
                     WHERE unread > 0"
                ))
                .and_then(|mut stmt| {
                    stmt.query_map([user_id.as_str()], |row| {
                        Ok((
                            ConversationId(row.get::<_, Uuid>(0)?),
                            row.get::<_, i64>(1)? as u64,
                        ))
                    })?
                    .collect()
                })
                .map_err(store_error)
            })
            .await
    }

    async fn list_unread_details(
        &self,
        user_id: &UserId,
        now: Timestamp,
    ) -> Result<Vec<UnreadDetail>> {
        let user_id = user_id.clone();
        self.readers
            .read(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT p.conversation_id, {PARTICIPANT_UNREAD}, \
                     (SELECT COUNT(*) FROM messages m INDEXED BY messages_with_mentions \
                       WHERE m.conversation_id = p.conversation_id \
                       AND m.seq > p.last_read_seq AND m.deleted_at IS NULL AND m.mentions IS NOT NULL \
                       AND (m.sender_id IS NULL OR m.sender_id <> p.user_id) \
                       AND instr(m.mentions, '\"' || p.user_id || '\"') > 0), \
                     p.notification_level, (p.muted = 1 AND (p.muted_until IS NULL OR p.muted_until > ?2)) \
                     FROM participants p WHERE p.user_id = ?1 AND p.left_at IS NULL"
                ))
                .and_then(|mut stmt| {
                    stmt.query_map(params![user_id.as_str(), to_micros(now)], |row| {
                        let level: String = row.get(3)?;
                        Ok(UnreadDetail {
                            conversation_id: ConversationId(row.get(0)?),
                            unread: row.get::<_, i64>(1)?.max(0) as u64,
                            mentions: row.get::<_, i64>(2)?.max(0) as u64,
                            notification_level: natter_proto::NotificationLevel::parse(&level)
                                .unwrap_or(natter_proto::NotificationLevel::All),
                            muted: row.get(4)?,
                        })
                    })?
                    .collect()
                })
                .map_err(store_error)
            })
            .await
    }

    async fn find_participant(
        &self,
        conversation_id: ConversationId,
        user_id: &UserId,
    ) -> Result<Option<ParticipantRecord>> {
        let user_id = user_id.clone();
        self.readers
            .lookup(move |conn| select_participant(conn, conversation_id, &user_id))
            .await
    }

    async fn find_conversation_access(
        &self,
        conversation_id: ConversationId,
        user_id: Option<&UserId>,
    ) -> Result<Option<(ConversationRecord, Option<ParticipantRecord>)>> {
        let user_id = user_id.cloned();
        self.readers
            .lookup(move |conn| {
                let Some(conversation) = select_conversation(conn, conversation_id)? else {
                    return Ok(None);
                };
                let participant = match &user_id {
                    Some(user_id) => select_participant(conn, conversation_id, user_id)?,
                    None => None,
                };
                Ok(Some((conversation, participant)))
            })
            .await
    }

    async fn list_participants(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Vec<ParticipantRecord>> {
        self.readers
            .read(move |conn| select_participants(conn, conversation_id))
            .await
    }

    async fn list_participants_page(
        &self,
        conversation_id: ConversationId,
        after: Option<(Timestamp, &UserId)>,
        limit: u32,
    ) -> Result<Vec<ParticipantRecord>> {
        let after = after.map_or((i64::MIN, String::new()), |(at, user)| {
            (to_micros(at), user.as_str().to_owned())
        });
        // At most `limit` rows of one index range: a lookup.
        self.readers
            .lookup(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {PARTICIPANT_COLUMNS} FROM participants p INDEXED BY participants_by_joined \
                     WHERE p.conversation_id = ?1 AND p.left_at IS NULL \
                     AND (p.joined_at, p.user_id) > (?2, ?3) \
                     ORDER BY p.joined_at, p.user_id LIMIT ?4"
                ))
                .and_then(|mut stmt| {
                    stmt.query_map(params![conversation_id.0, after.0, after.1, limit], |row| {
                        rows::participant(row, 0)
                    })?
                    .collect()
                })
                .map_err(store_error)
            })
            .await
    }

    async fn active_participants_among(
        &self,
        conversation_id: ConversationId,
        user_ids: &[UserId],
    ) -> Result<Vec<UserId>> {
        let user_ids = user_ids.to_vec();
        // A primary-key probe per user (at most 50 mentions): a lookup.
        self.readers
            .lookup(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM participants \
                         WHERE conversation_id = ?1 AND user_id = ?2 AND left_at IS NULL)",
                    )
                    .map_err(store_error)?;
                let mut active = Vec::with_capacity(user_ids.len());
                for user_id in user_ids {
                    let present: bool = stmt
                        .query_row(params![conversation_id.0, user_id.as_str()], |row| {
                            row.get(0)
                        })
                        .map_err(store_error)?;
                    if present {
                        active.push(user_id);
                    }
                }
                Ok(active)
            })
            .await
    }

    async fn read_markers(
        &self,
        conversation_id: ConversationId,
        viewer: Option<&UserId>,
    ) -> Result<ReadMarkers> {
        let viewer = viewer.cloned();
        // Six probes from index ends (see `select_read_markers`; the last, whether the
        // viewer hides anything here, only pages use): a lookup.
        self.readers
            .lookup(move |conn| {
                select_read_markers(conn, conversation_id, viewer.as_ref())
                    .map(|(markers, _)| markers)
            })
            .await
    }

    async fn add_participants(
        &self,
        conversation_id: ConversationId,
        participants: Vec<NewParticipant>,
        now: Timestamp,
    ) -> Result<Vec<ParticipantRecord>> {
        self.writer
            .write(move |conn| {
                let conversation =
                    select_conversation(conn, conversation_id)?.ok_or(StoreError::NotFound)?;
                let mut added = Vec::new();
                for new in participants {
                    if let Some((participant, _)) =
                        add_participant_in(conn, &conversation, &new, now)?
                    {
                        added.push(participant);
                    }
                }
                Ok(added)
            })
            .await
    }

    async fn update_participant_role(
        &self,
        conversation_id: ConversationId,
        user_id: &UserId,
        role: ParticipantRole,
        now: Timestamp,
    ) -> Result<ParticipantRecord> {
        let user_id = user_id.clone();
        self.writer
            .write(move |conn| {
                let changed = conn
                    .prepare_cached(
                        "UPDATE participants SET role = ?3 \
                         WHERE conversation_id = ?1 AND user_id = ?2 AND left_at IS NULL",
                    )
                    .and_then(|mut stmt| {
                        stmt.execute(params![conversation_id.0, user_id.as_str(), role.as_str()])
                    })
                    .map_err(store_error)?;
                if changed == 0 {
                    return Err(StoreError::NotFound);
                }
                let participant = select_participant(conn, conversation_id, &user_id)?
                    .ok_or(StoreError::NotFound)?;
                append_event(
                    conn,
                    conversation_id,
                    payload::participant_updated(&participant),
                    None,
                    now,
                )?;
                Ok(participant)
            })
            .await
    }

    async fn remove_participant(
        &self,
        conversation_id: ConversationId,
        user_id: &UserId,
        reason: RemovalReason,
        successor: Option<&UserId>,
        now: Timestamp,
    ) -> Result<()> {
        let user_id = user_id.clone();
        let successor = successor.cloned();
        self.writer
            .write(move |conn| {
                let changed = conn
                    .prepare_cached(
                        "UPDATE participants SET left_at = ?3 \
                         WHERE conversation_id = ?1 AND user_id = ?2 AND left_at IS NULL",
                    )
                    .and_then(|mut stmt| stmt.execute(params![conversation_id.0, user_id.as_str(), to_micros(now)]))
                    .map_err(store_error)?;
                if changed == 0 {
                    return Err(StoreError::NotFound);
                }
                conn.prepare_cached(
                    "UPDATE conversations SET participant_count = participant_count - 1 WHERE id = ?1",
                )
                .and_then(|mut stmt| stmt.execute([conversation_id.0]))
                .map_err(store_error)?;
                append_event(conn, conversation_id, payload::participant_removed(&user_id, reason), None, now)?;
                if let Some(successor) = successor {
                    let promoted = conn
                        .prepare_cached(
                            "UPDATE participants SET role = 'owner' \
                             WHERE conversation_id = ?1 AND user_id = ?2 AND left_at IS NULL",
                        )
                        .and_then(|mut stmt| stmt.execute(params![conversation_id.0, successor.as_str()]))
                        .map_err(store_error)?;
                    if promoted == 0 {
                        return Err(StoreError::Conflict("successor".into()));
                    }
                    let participant = select_participant(conn, conversation_id, &successor)?
                        .ok_or(StoreError::NotFound)?;
                    append_event(conn, conversation_id, payload::participant_updated(&participant), None, now)?;
                }
                Ok(())
            })
            .await
    }

    async fn update_settings(
        &self,
        conversation_id: ConversationId,
        user_id: &UserId,
        patch: SettingsPatch,
    ) -> Result<ParticipantRecord> {
        let user_id = user_id.clone();
        self.writer
            .write(move |conn| {
                let changed = conn
                    .prepare_cached(
                        "UPDATE participants SET \
                           muted = COALESCE(?3, muted), \
                           muted_until = CASE WHEN ?4 THEN ?5 ELSE muted_until END, \
                           pinned = COALESCE(?6, pinned), \
                           archived = COALESCE(?7, archived), \
                           notification_level = COALESCE(?8, notification_level), \
                           sound = COALESCE(?9, sound) \
                         WHERE conversation_id = ?1 AND user_id = ?2 AND left_at IS NULL",
                    )
                    .and_then(|mut stmt| {
                        stmt.execute(params![
                            conversation_id.0,
                            user_id.as_str(),
                            patch.muted,
                            patch.muted_until.is_some(),
                            patch.muted_until.flatten().map(to_micros),
                            patch.pinned,
                            patch.archived,
                            patch.notification_level.map(|level| level.as_str()),
                            patch.sound,
                        ])
                    })
                    .map_err(store_error)?;
                if changed == 0 {
                    return Err(StoreError::NotFound);
                }
                select_participant(conn, conversation_id, &user_id)?.ok_or(StoreError::NotFound)
            })
            .await
    }

    async fn append_message(&self, new: NewMessage) -> Result<AppendOutcome> {
        self.writer
            .write(move |conn| {
                if new.check_sender {
                    check_sender(conn, &new)?;
                }
                if let Some(client_id) = &new.client_message_id {
                    let existing = match &new.sender_id {
                        Some(sender) => conn
                            .prepare_cached(&format!(
                                "SELECT {MESSAGE_COLUMNS} FROM messages m \
                                 WHERE m.sender_id = ?1 AND m.client_message_id = ?2"
                            ))
                            .and_then(|mut stmt| {
                                stmt.query_row(params![sender.as_str(), client_id], rows::required_message)
                                    .optional()
                            }),
                        None => conn
                            .prepare_cached(&format!(
                                "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = ?1 \
                                 AND m.sender_id IS NULL AND m.client_message_id = ?2"
                            ))
                            .and_then(|mut stmt| {
                                stmt.query_row(params![new.conversation_id.0, client_id], rows::required_message)
                                    .optional()
                            }),
                    }
                    .map_err(store_error)?;
                    if let Some(message) = existing {
                        return Ok(AppendOutcome { message, duplicate: true, event_seq: None });
                    }
                }
                let now = to_micros(new.now);
                // One update takes the message's seq and its `message.created` event's.
                let (seq, event_seq): (i64, i64) = conn
                    .prepare_cached(
                        "UPDATE conversations SET last_message_seq = last_message_seq + 1, \
                           message_count = message_count + 1, last_message_sender = ?2, \
                           last_message_kind = ?3, last_message_text = ?4, last_message_at = ?5, last_message_deleted = 0, \
                           last_activity_at = MAX(last_activity_at, ?5), \
                           last_event_seq = last_event_seq + 1, last_event_at = MAX(last_event_at, ?5) \
                         WHERE id = ?1 RETURNING last_message_seq, last_event_seq",
                    )
                    .and_then(|mut stmt| {
                        stmt.query_row(
                            params![
                                new.conversation_id.0,
                                new.sender_id.as_ref().map(UserId::as_str),
                                new.kind.as_str(),
                                preview_text(new.content.as_deref()),
                                now
                            ],
                            |row| Ok((row.get(0)?, row.get(1)?)),
                        )
                    })
                    .map_err(store_error)?;
                let mentions = if new.mentions.is_empty() {
                    None
                } else {
                    Some(serde_json::to_string(&new.mentions).map_err(StoreError::backend)?)
                };
                let attachments = if new.attachments.is_empty() {
                    None
                } else {
                    Some(serde_json::to_string(&new.attachments).map_err(StoreError::backend)?)
                };
                for attachment in &new.attachments {
                    let taken = conn
                        .prepare_cached(
                            "UPDATE attachments SET conversation_id = ?2, message_id = ?3 \
                             WHERE id = ?1 AND uploader_id = ?4 AND message_id IS NULL \
                             AND deleted_at IS NULL AND scan_status <> 'infected'",
                        )
                        .and_then(|mut stmt| {
                            stmt.execute(params![
                                attachment.id.0,
                                new.conversation_id.0,
                                new.id.0,
                                new.sender_id.as_ref().map(UserId::as_str)
                            ])
                        })
                        .map_err(store_error)?;
                    if taken != 1 {
                        return Err(StoreError::Conflict("attachment".into()));
                    }
                }
                conn.prepare_cached(
                    "INSERT INTO messages (conversation_id, seq, id, sender_id, kind, content, \
                       client_message_id, reply_to_id, mentions, created_at, pii_masked, \
                       thread_root_id, thread_root_seq, attachments) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        new.conversation_id.0,
                        seq,
                        new.id.0,
                        new.sender_id.as_ref().map(UserId::as_str),
                        new.kind.as_str(),
                        new.content,
                        new.client_message_id,
                        new.reply_to_id.map(|id| id.0),
                        mentions,
                        now,
                        new.pii_masked,
                        new.thread_root.map(|(id, _)| id.0),
                        new.thread_root.map(|(_, seq)| seq_param(seq.0)),
                        attachments,
                    ])
                })
                .map_err(store_error)?;
                if let Some(sender) = &new.sender_id {
                    conn.prepare_cached(
                        "UPDATE participants SET last_read_seq = ?3, last_read_at = ?4, \
                           last_delivered_seq = MAX(last_delivered_seq, ?3) \
                         WHERE conversation_id = ?1 AND user_id = ?2 AND last_read_seq < ?3",
                    )
                    .and_then(|mut stmt| stmt.execute(params![new.conversation_id.0, sender.as_str(), seq, now]))
                    .map_err(store_error)?;
                }
                let event_seq =
                    insert_event(conn, new.conversation_id, event_seq, payload::message_created(), Some(seq as u64), new.now)?;
                if let Some((_, root_seq)) = new.thread_root {
                    conn.prepare_cached(
                        "UPDATE messages SET thread_reply_count = thread_reply_count + 1, \
                           thread_last_reply_at = ?3 WHERE conversation_id = ?1 AND seq = ?2",
                    )
                    .and_then(|mut stmt| stmt.execute(params![new.conversation_id.0, seq_param(root_seq.0), now]))
                    .map_err(store_error)?;
                    if let Some(sender) = &new.sender_id {
                        follow_thread(conn, new.conversation_id, root_seq, sender, now)?;
                    }
                    append_event(conn, new.conversation_id, payload::thread_updated(), Some(root_seq.0), new.now)?;
                }
                Ok(new.appended(MessageSeq(seq as u64), event_seq))
            })
            .await
    }

    async fn find_message(&self, message_id: MessageId) -> Result<Option<MessageRecord>> {
        self.readers
            .lookup(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.id = ?1"
                ))
                .and_then(|mut stmt| {
                    stmt.query_row([message_id.0], rows::required_message)
                        .optional()
                })
                .map_err(store_error)
            })
            .await
    }

    async fn message_page(
        &self,
        conversation_id: ConversationId,
        query: MessageQuery,
    ) -> Result<(Vec<MessageRecord>, ReadMarkers)> {
        // Both reads at once, on the calling task unless the page turns out long (see
        // `Readers::bounded`), in one read transaction: the markers, and whether the
        // viewer hides anything here, hold for the page read right after them.
        self.readers
            .bounded(move |conn| {
                let snapshot = conn.unchecked_transaction().map_err(store_error)?;
                let (markers, viewer_hides) =
                    select_read_markers(&snapshot, conversation_id, query.viewer.as_ref())?;
                let messages = select_messages(&snapshot, conversation_id, &query, viewer_hides)?;
                snapshot.finish().map_err(store_error)?;
                Ok((messages, markers))
            })
            .await
    }

    async fn edit_message(&self, edit: MessageEdit) -> Result<(MessageRecord, EventSeq)> {
        self.writer
            .write(move |conn| {
                let current = select_message(conn, edit.message_id)?.ok_or(StoreError::NotFound)?;
                if current.deleted_at.is_some() {
                    return Err(StoreError::Conflict("deleted".into()));
                }
                let now = to_micros(edit.now);
                conn.prepare_cached(
                    "INSERT INTO message_edits (message_id, edit_no, content, edited_at) \
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![edit.message_id.0, i64::from(current.edit_count) + 1, current.content, now])
                })
                .map_err(store_error)?;
                conn.prepare_cached(
                    "UPDATE messages SET content = ?3, edited_at = ?4, edit_count = edit_count + 1, \
                       pii_masked = ?5 WHERE conversation_id = ?1 AND seq = ?2",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        current.conversation_id.0,
                        seq_param(current.seq.0),
                        edit.content,
                        now,
                        edit.pii_masked
                    ])
                })
                .map_err(store_error)?;
                conn.prepare_cached(
                    "UPDATE conversations SET last_message_text = ?3 \
                     WHERE id = ?1 AND last_message_seq = ?2",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        current.conversation_id.0,
                        seq_param(current.seq.0),
                        preview_text(Some(&edit.content))
                    ])
                })
                .map_err(store_error)?;
                let event_seq = append_event(
                    conn,
                    current.conversation_id,
                    payload::message_updated(),
                    Some(current.seq.0),
                    edit.now,
                )?;
                let updated = select_message(conn, edit.message_id)?.ok_or(StoreError::NotFound)?;
                Ok((updated, event_seq))
            })
            .await
    }

    async fn list_message_edits(&self, message_id: MessageId) -> Result<Vec<EditRecord>> {
        self.readers
            .read(move |conn| {
                conn.prepare_cached(
                    "SELECT content, edited_at FROM message_edits WHERE message_id = ?1 ORDER BY edit_no",
                )
                .and_then(|mut stmt| {
                    stmt.query_map([message_id.0], |row| {
                        Ok(EditRecord { content: row.get(0)?, edited_at: natter_store::from_micros(row.get(1)?) })
                    })?
                    .collect()
                })
                .map_err(store_error)
            })
            .await
    }

    async fn delete_message(
        &self,
        message_id: MessageId,
        deleted_by: Option<&UserId>,
        now: Timestamp,
    ) -> Result<(MessageRecord, EventSeq)> {
        let deleted_by = deleted_by.cloned();
        self.writer
            .write(move |conn| {
                let current = select_message(conn, message_id)?.ok_or(StoreError::NotFound)?;
                if current.deleted_at.is_some() {
                    return Err(StoreError::Conflict("deleted".into()));
                }
                conn.prepare_cached(
                    "UPDATE messages SET deleted_at = ?3, deleted_by = ?4 \
                     WHERE conversation_id = ?1 AND seq = ?2",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        current.conversation_id.0,
                        seq_param(current.seq.0),
                        to_micros(now),
                        deleted_by.as_ref().map(UserId::as_str)
                    ])
                })
                .map_err(store_error)?;
                conn.prepare_cached("DELETE FROM reactions WHERE message_id = ?1")
                    .and_then(|mut stmt| stmt.execute([message_id.0]))
                    .map_err(store_error)?;
                conn.prepare_cached("UPDATE attachments SET deleted_at = ?2 WHERE message_id = ?1")
                    .and_then(|mut stmt| stmt.execute(params![message_id.0, to_micros(now)]))
                    .map_err(store_error)?;
                conn.prepare_cached(
                    "UPDATE conversations SET last_message_text = NULL, last_message_deleted = 1 \
                     WHERE id = ?1 AND last_message_seq = ?2",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![current.conversation_id.0, seq_param(current.seq.0)])
                })
                .map_err(store_error)?;
                let event_seq = append_event(
                    conn,
                    current.conversation_id,
                    payload::message_deleted(),
                    Some(current.seq.0),
                    now,
                )?;
                let deleted = select_message(conn, message_id)?.ok_or(StoreError::NotFound)?;
                Ok((deleted, event_seq))
            })
            .await
    }

    async fn hide_message(
        &self,
        message: &MessageRecord,
        user_id: &UserId,
        now: Timestamp,
    ) -> Result<()> {
        let (message_id, conversation_id, seq) = (message.id, message.conversation_id, message.seq);
        let user_id = user_id.clone();
        self.writer
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO message_hidden (user_id, message_id, conversation_id, seq, hidden_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (user_id, message_id) DO NOTHING",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        user_id.as_str(),
                        message_id.0,
                        conversation_id.0,
                        seq_param(seq.0),
                        to_micros(now)
                    ])
                })
                .map_err(store_error)?;
                Ok(())
            })
            .await
    }

    async fn list_hidden(
        &self,
        user_id: &UserId,
        message_ids: &[MessageId],
    ) -> Result<Vec<MessageId>> {
        if message_ids.is_empty() {
            return Ok(Vec::new());
        }
        let user_id = user_id.clone();
        let ids: Vec<Uuid> = message_ids.iter().map(|id| id.0).collect();
        self.readers
            .read(move |conn| {
                let placeholders = vec!["?"; ids.len()].join(", ");
                let sql = format!(
                    "SELECT message_id FROM message_hidden WHERE user_id = ? AND message_id IN ({placeholders})"
                );
                let mut params: Vec<Box<dyn ToSql>> = vec![Box::new(user_id.as_str().to_owned())];
                params.extend(ids.into_iter().map(|id| Box::new(id) as Box<dyn ToSql>));
                conn.prepare_cached(&sql)
                    .and_then(|mut stmt| {
                        stmt.query_map(params_from_iter(params.iter()), |row| Ok(MessageId(row.get(0)?)))?.collect()
                    })
                    .map_err(store_error)
            })
            .await
    }

    async fn purge_deleted(&self, before: Timestamp, limit: u32) -> Result<u64> {
        self.writer
            .write(move |conn| {
                let ids: Vec<Uuid> = conn
                    .prepare_cached(
                        "SELECT id FROM messages WHERE deleted_at IS NOT NULL AND deleted_at < ?1 \
                         AND (content IS NOT NULL OR mentions IS NOT NULL OR attachments IS NOT NULL) \
                         LIMIT ?2",
                    )
                    .and_then(|mut stmt| {
                        stmt.query_map(params![to_micros(before), i64::from(limit)], |row| {
                            row.get(0)
                        })?
                        .collect()
                    })
                    .map_err(store_error)?;
                for id in &ids {
                    conn.prepare_cached(
                        "UPDATE messages SET content = NULL, mentions = NULL, attachments = NULL \
                         WHERE id = ?1",
                    )
                    .and_then(|mut stmt| stmt.execute([id]))
                    .map_err(store_error)?;
                    conn.prepare_cached(
                        "UPDATE message_edits SET content = NULL WHERE message_id = ?1",
                    )
                    .and_then(|mut stmt| stmt.execute([id]))
                    .map_err(store_error)?;
                }
                Ok(ids.len() as u64)
            })
            .await
    }

    async fn list_thread_followers(
        &self,
        conversation_id: ConversationId,
        root_seqs: &[MessageSeq],
        per_root: u32,
    ) -> Result<Vec<(MessageSeq, UserId)>> {
        if root_seqs.is_empty() || per_root == 0 {
            return Ok(Vec::new());
        }
        let seqs: Vec<i64> = root_seqs.iter().map(|seq| seq_param(seq.0)).collect();
        // A page's few roots, each the first `per_root` entries of
        // `thread_followers_by_since`: bounded, so read inline.
        self.readers
            .lookup(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT user_id FROM thread_followers \
                         WHERE conversation_id = ?1 AND root_seq = ?2 \
                         ORDER BY since, user_id LIMIT ?3",
                    )
                    .map_err(store_error)?;
                let mut followers = Vec::new();
                for seq in seqs {
                    let rows = stmt
                        .query_map(params![conversation_id.0, seq, per_root], |row| {
                            rows::user_id(row, 0)
                        })
                        .map_err(store_error)?;
                    for user in rows {
                        followers.push((MessageSeq(seq as u64), user.map_err(store_error)?));
                    }
                }
                Ok(followers)
            })
            .await
    }

    async fn set_thread_follow(
        &self,
        conversation_id: ConversationId,
        root_seq: MessageSeq,
        user_id: &UserId,
        follow: bool,
        now: Timestamp,
    ) -> Result<()> {
        let user_id = user_id.clone();
        self.writer
            .write(move |conn| {
                if follow {
                    follow_thread(conn, conversation_id, root_seq, &user_id, to_micros(now))
                } else {
                    conn.prepare_cached(
                        "DELETE FROM thread_followers WHERE conversation_id = ?1 AND root_seq = ?2 AND user_id = ?3",
                    )
                    .and_then(|mut stmt| stmt.execute(params![conversation_id.0, seq_param(root_seq.0), user_id.as_str()]))
                    .map_err(store_error)?;
                    Ok(())
                }
            })
            .await
    }

    async fn find_conversation_settings(
        &self,
        conversation_id: ConversationId,
    ) -> Result<SettingsRecord> {
        self.readers
            .lookup(move |conn| select_settings(conn, conversation_id))
            .await
    }

    async fn update_conversation_settings(
        &self,
        conversation_id: ConversationId,
        settings: serde_json::Value,
        expected_version: u64,
        changed_by: Option<&UserId>,
        now: Timestamp,
    ) -> Result<SettingsOutcome> {
        let changed_by = changed_by.cloned();
        self.writer
            .write(move |conn| {
                let conversation = select_conversation(conn, conversation_id)?.ok_or(StoreError::NotFound)?;
                let current = select_settings(conn, conversation_id)?;
                if current.version != expected_version {
                    return Ok(SettingsOutcome::VersionConflict(current));
                }
                let version = current.version + 1;
                let changes = payload::settings_diff(&current.settings, &settings);
                conn.prepare_cached(
                    "INSERT INTO conversation_settings (conversation_id, settings, version, updated_at, updated_by) \
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (conversation_id) DO UPDATE SET \
                       settings = ?2, version = ?3, updated_at = ?4, updated_by = ?5",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        conversation_id.0,
                        settings.to_string(),
                        version as i64,
                        to_micros(now),
                        changed_by.as_ref().map(UserId::as_str)
                    ])
                })
                .map_err(store_error)?;
                conn.prepare_cached(
                    "INSERT INTO conversation_settings_history (conversation_id, version, changed_at, changed_by, changes) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        conversation_id.0,
                        version as i64,
                        to_micros(now),
                        changed_by.as_ref().map(UserId::as_str),
                        changes.to_string()
                    ])
                })
                .map_err(store_error)?;
                let event_seq = append_event(
                    conn,
                    conversation_id,
                    payload::settings_updated(&conversation, &settings, version),
                    None,
                    now,
                )?;
                let record = SettingsRecord { settings, version, updated_at: Some(now), updated_by: changed_by };
                Ok(SettingsOutcome::Updated(record, event_seq))
            })
            .await
    }

    async fn list_settings_history(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Vec<SettingsChange>> {
        self.readers
            .read(move |conn| {
                conn.prepare_cached(
                    "SELECT version, changed_at, changed_by, changes FROM conversation_settings_history \
                     WHERE conversation_id = ?1 ORDER BY version",
                )
                .and_then(|mut stmt| {
                    stmt.query_map([conversation_id.0], |row| {
                        let changed_by: Option<String> = row.get(2)?;
                        let changes: String = row.get(3)?;
                        Ok(SettingsChange {
                            version: row.get::<_, i64>(0)? as u64,
                            changed_at: natter_store::from_micros(row.get(1)?),
                            changed_by: changed_by.and_then(|raw| UserId::parse(&raw).ok()),
                            changes: serde_json::from_str(&changes).unwrap_or(serde_json::Value::Null),
                        })
                    })?
                    .collect()
                })
                .map_err(store_error)
            })
            .await
    }

    async fn insert_invitation(&self, invitation: InvitationRecord) -> Result<()> {
        self.writer
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO invitations (id, conversation_id, created_by, created_at, expires_at, max_uses) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        invitation.id,
                        invitation.conversation_id.0,
                        invitation.created_by.as_ref().map(UserId::as_str),
                        to_micros(invitation.created_at),
                        to_micros(invitation.expires_at),
                        invitation.max_uses.map(i64::from),
                    ])
                })
                .map_err(store_error)?;
                Ok(())
            })
            .await
    }

    async fn find_invitation(&self, id: Uuid) -> Result<Option<InvitationRecord>> {
        self.readers
            .lookup(move |conn| select_invitation(conn, id))
            .await
    }

    async fn list_invitations(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Vec<InvitationRecord>> {
        self.readers
            .read(move |conn| {
                conn.prepare_cached(
                    "SELECT id, conversation_id, created_by, created_at, expires_at, max_uses, uses, revoked_at \
                     FROM invitations WHERE conversation_id = ?1 ORDER BY created_at DESC",
                )
                .and_then(|mut stmt| stmt.query_map([conversation_id.0], invitation_row)?.collect())
                .map_err(store_error)
            })
            .await
    }

    async fn revoke_invitation(&self, id: Uuid, now: Timestamp) -> Result<()> {
        self.writer
            .write(move |conn| {
                let changed = conn
                    .prepare_cached("UPDATE invitations SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1")
                    .and_then(|mut stmt| stmt.execute(params![id, to_micros(now)]))
                    .map_err(store_error)?;
                if changed == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            })
            .await
    }

    async fn accept_invitation(
        &self,
        id: Uuid,
        user_id: &UserId,
        now: Timestamp,
    ) -> Result<AcceptOutcome> {
        let user_id = user_id.clone();
        self.writer
            .write(move |conn| {
                let invitation = select_invitation(conn, id)?.ok_or(StoreError::NotFound)?;
                if invitation.revoked_at.is_some() {
                    return Ok(AcceptOutcome::Revoked);
                }
                if invitation.expires_at <= now {
                    return Ok(AcceptOutcome::Expired);
                }
                let conversation = select_conversation(conn, invitation.conversation_id)?
                    .ok_or(StoreError::NotFound)?;
                let member = select_participant(conn, conversation.id, &user_id)?;
                if member.as_ref().is_some_and(ParticipantRecord::is_active) {
                    return Ok(AcceptOutcome::AlreadyMember);
                }
                if invitation
                    .max_uses
                    .is_some_and(|max| invitation.uses >= max)
                {
                    return Ok(AcceptOutcome::Exhausted);
                }
                conn.prepare_cached("UPDATE invitations SET uses = uses + 1 WHERE id = ?1")
                    .and_then(|mut stmt| stmt.execute([id]))
                    .map_err(store_error)?;
                let new = NewParticipant {
                    user_id: user_id.clone(),
                    role: ParticipantRole::Member,
                };
                match add_participant_in(conn, &conversation, &new, now)? {
                    Some((_, event_seq)) => Ok(AcceptOutcome::Joined(event_seq)),
                    None => Ok(AcceptOutcome::AlreadyMember),
                }
            })
            .await
    }

    async fn add_reaction(
        &self,
        message: &MessageRecord,
        user_id: &UserId,
        emoji: &str,
        max_distinct: u32,
        now: Timestamp,
    ) -> Result<ReactionAdded> {
        let (message_id, conversation_id) = (message.id, message.conversation_id);
        let (user_id, emoji) = (user_id.clone(), emoji.to_owned());
        self.writer
            .write(move |conn| {
                let current = select_message(conn, message_id)?.ok_or(StoreError::NotFound)?;
                if current.deleted_at.is_some() {
                    return Err(StoreError::Conflict("deleted".into()));
                }
                let (distinct, has_emoji): (i64, bool) = conn
                    .prepare_cached(
                        "SELECT COUNT(*), COALESCE(MAX(emoji = ?2), 0) FROM reaction_counts WHERE message_id = ?1",
                    )
                    .and_then(|mut stmt| stmt.query_row(params![message_id.0, emoji], |row| Ok((row.get(0)?, row.get(1)?))))
                    .map_err(store_error)?;
                if !has_emoji && distinct >= i64::from(max_distinct) {
                    return Err(StoreError::Conflict("too_many_reactions".into()));
                }
                let inserted = conn
                    .prepare_cached(
                        "INSERT INTO reactions (message_id, emoji, user_id, created_at) VALUES (?1, ?2, ?3, ?4) \
                         ON CONFLICT (message_id, emoji, user_id) DO NOTHING",
                    )
                    .and_then(|mut stmt| stmt.execute(params![message_id.0, emoji, user_id.as_str(), to_micros(now)]))
                    .map_err(store_error)?;
                let event_seq = if inserted == 0 {
                    None
                } else {
                    let draft = payload::reaction(true, message_id, &user_id, &emoji);
                    Some(append_event(conn, conversation_id, draft, None, now)?)
                };
                let groups = select_reaction_groups(conn, &[message_id.0], Some(&user_id))?;
                Ok(ReactionAdded { event_seq, groups })
            })
            .await
    }

    async fn remove_reaction(
        &self,
        message: &MessageRecord,
        user_id: &UserId,
        emoji: &str,
        now: Timestamp,
    ) -> Result<Option<EventSeq>> {
        let (message_id, conversation_id) = (message.id, message.conversation_id);
        let (user_id, emoji) = (user_id.clone(), emoji.to_owned());
        self.writer
            .write(move |conn| {
                let removed = conn
                    .prepare_cached("DELETE FROM reactions WHERE message_id = ?1 AND emoji = ?2 AND user_id = ?3")
                    .and_then(|mut stmt| stmt.execute(params![message_id.0, emoji, user_id.as_str()]))
                    .map_err(store_error)?;
                if removed == 0 {
                    return Ok(None);
                }
                // A trigger sets `has_reactions` on insert (0012_has_reactions.sql); the
                // last removal clears it here.
                conn.prepare_cached(
                    "UPDATE messages SET has_reactions = EXISTS (SELECT 1 FROM reactions WHERE message_id = ?1) \
                     WHERE id = ?1",
                )
                .and_then(|mut stmt| stmt.execute([message_id.0]))
                .map_err(store_error)?;
                let draft = payload::reaction(false, message_id, &user_id, &emoji);
                append_event(conn, conversation_id, draft, None, now).map(Some)
            })
            .await
    }

    async fn list_reactions(&self, message_ids: &[MessageId]) -> Result<Vec<ReactionRecord>> {
        if message_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = message_ids.iter().map(|id| id.0).collect();
        self.readers
            .read(move |conn| select_reactions(conn, &ids))
            .await
    }

    async fn list_reactors(
        &self,
        message_id: MessageId,
        emoji: &str,
        after: Option<(Timestamp, &UserId)>,
        limit: u32,
    ) -> Result<Vec<ReactionRecord>> {
        let emoji = emoji.to_owned();
        let after = after.map_or((i64::MIN, String::new()), |(at, user)| {
            (to_micros(at), user.as_str().to_owned())
        });
        // At most `limit` rows of one index range: a lookup.
        self.readers
            .lookup(move |conn| {
                select_reactors(conn, message_id, &emoji, (after.0, &after.1), limit)
            })
            .await
    }

    async fn list_reaction_groups(
        &self,
        message_ids: &[MessageId],
        viewer: Option<&UserId>,
    ) -> Result<Vec<ReactionGroup>> {
        if message_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = message_ids.iter().map(|id| id.0).collect();
        let viewer = viewer.cloned();
        // A row per emoji of the page's reacted messages, a probe for those of more than
        // ten users: a few rows as a rule, up to 50 per message when a page is full of
        // emojis, so inline under the read budget rather than unconditionally.
        self.readers
            .bounded(move |conn| select_reaction_groups(conn, &ids, viewer.as_ref()))
            .await
    }

    async fn mark_read(
        &self,
        conversation_id: ConversationId,
        user_id: &UserId,
        up_to: MessageSeq,
        now: Timestamp,
    ) -> Result<ReadOutcome> {
        let user_id = user_id.clone();
        self.writer
            .write(move |conn| mark_read_in(conn, conversation_id, &user_id, up_to, now))
            .await
    }

    async fn mark_read_many(
        &self,
        user_id: &UserId,
        targets: ReadTargets,
        now: Timestamp,
    ) -> Result<Vec<ReadOutcome>> {
        let user_id = user_id.clone();
        self.writer
            .write(move |conn| {
                let conversation_ids: Vec<ConversationId> = match targets {
                    ReadTargets::Some(ids) => ids,
                    ReadTargets::All => conn
                        .prepare_cached(
                            "SELECT conversation_id FROM participants WHERE user_id = ?1 AND left_at IS NULL",
                        )
                        .and_then(|mut stmt| {
                            stmt.query_map([user_id.as_str()], |row| Ok(ConversationId(row.get(0)?)))?
                                .collect()
                        })
                        .map_err(store_error)?,
                };
                let mut outcomes = Vec::with_capacity(conversation_ids.len());
                for conversation_id in conversation_ids {
                    match mark_read_in(conn, conversation_id, &user_id, MessageSeq(u64::MAX), now) {
                        Ok(outcome) => outcomes.push(outcome),
                        Err(StoreError::NotFound) => continue,
                        Err(err) => return Err(err),
                    }
                }
                Ok(outcomes)
            })
            .await
    }

    async fn mark_delivered(
        &self,
        conversation_id: ConversationId,
        user_id: &UserId,
        up_to: MessageSeq,
        now: Timestamp,
    ) -> Result<Option<EventSeq>> {
        let user_id = user_id.clone();
        self.writer
            .write(move |conn| {
                let markers = select_markers(conn, conversation_id, &user_id)?;
                let target = up_to.0.min(markers.last_message);
                if target <= markers.delivered {
                    return Ok(None);
                }
                conn.prepare_cached(
                    "UPDATE participants SET last_delivered_seq = ?3 \
                     WHERE conversation_id = ?1 AND user_id = ?2",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        conversation_id.0,
                        user_id.as_str(),
                        seq_param(target)
                    ])
                })
                .map_err(store_error)?;
                let draft =
                    payload::receipt_updated(&user_id, markers.read, markers.read_at, target);
                append_event(conn, conversation_id, draft, None, now).map(Some)
            })
            .await
    }

    async fn set_last_seen(&self, user_id: &UserId, at: Timestamp) -> Result<()> {
        let user_id = user_id.clone();
        self.writer
            .write(move |conn| {
                conn.prepare_cached("UPDATE users SET last_seen_at = ?2 WHERE id = ?1")
                    .and_then(|mut stmt| stmt.execute(params![user_id.as_str(), to_micros(at)]))
                    .map_err(store_error)?;
                Ok(())
            })
            .await
    }

    async fn load_fanout(
        &self,
        conversation_id: ConversationId,
        after: EventSeq,
        limit: u32,
    ) -> Result<FanoutBatch> {
        // On the hub's task unless the group turns out large (see `Readers::bounded`): a
        // batch of a small group is two short reads, and the blocking pool's hand-offs
        // took longer than them.
        self.readers
            .bounded(move |conn| {
                // One read transaction: the events and the participants come from the same
                // WAL snapshot.
                let snapshot = conn.unchecked_transaction().map_err(store_error)?;
                let events = select_events(&snapshot, conversation_id, after, limit)?;
                let members = snapshot
                    .prepare_cached(
                        "SELECT user_id FROM participants \
                         WHERE conversation_id = ?1 AND left_at IS NULL",
                    )
                    .and_then(|mut stmt| {
                        stmt.query_map([conversation_id.0], |row| rows::user_id(row, 0))?
                            .collect::<rusqlite::Result<Vec<_>>>()
                    })
                    .map_err(store_error)?;
                snapshot.finish().map_err(store_error)?;
                Ok(FanoutBatch { events, members })
            })
            .await
    }

    async fn list_events(
        &self,
        conversation_id: ConversationId,
        after: EventSeq,
        limit: u32,
    ) -> Result<Vec<EventRecord>> {
        self.readers
            .read(move |conn| select_events(conn, conversation_id, after, limit))
            .await
    }

    async fn list_changed_conversations(
        &self,
        user_id: &UserId,
        since: Timestamp,
    ) -> Result<Vec<SyncRecord>> {
        let user_id = user_id.clone();
        self.readers
            .read(move |conn| {
                conn.prepare_cached(
                    "SELECT c.id, c.last_event_seq, p.left_at IS NOT NULL FROM participants p \
                     JOIN conversations c ON c.id = p.conversation_id \
                     WHERE p.user_id = ?1 AND ((p.left_at IS NULL AND c.last_event_at >= ?2) \
                       OR (p.left_at IS NOT NULL AND p.left_at >= ?2)) \
                     ORDER BY c.last_event_at",
                )
                .and_then(|mut stmt| {
                    stmt.query_map(params![user_id.as_str(), to_micros(since)], |row| {
                        Ok(SyncRecord {
                            conversation_id: ConversationId(row.get(0)?),
                            last_event_seq: EventSeq(row.get::<_, i64>(1)? as u64),
                            removed: row.get(2)?,
                        })
                    })?
                    .collect()
                })
                .map_err(store_error)
            })
            .await
    }
}
