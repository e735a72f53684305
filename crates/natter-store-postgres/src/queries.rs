//! The [`Store`] implementation: one function per use case, SQL inline.
//!
//! Each method is a port of the SQLite store's method of the same name and keeps its
//! order of checks, so both answer the same inputs with the same results and errors.
//! Reads run straight on the pool (READ COMMITTED: each statement sees what was
//! committed when it started). Writes run in one transaction that first locks the
//! conversation row (see the crate docs for why and in which order).
//!
//! What this module deliberately does not do: retry. Locks are always taken in the same
//! order, so deadlocks do not occur, and the idempotency races end in a unique violation
//! that is turned into the expected answer rather than retried.

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
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor, PgPool, Postgres};
use uuid::Uuid;

use crate::error::store_error;
use crate::kept::Shelf;
use crate::rows::{
    self, CONVERSATION_COLUMNS, CONVERSATION_WIDTH, MESSAGE_COLUMNS, MESSAGE_WIDTH,
    PARTICIPANT_COLUMNS, PARTICIPANT_WIDTH, USER_COLUMNS,
};
use crate::PostgresStore;

type Result<T> = std::result::Result<T, StoreError>;

/// Counts the messages of `$1` in `($2, $4]` that are unread for user `$5`, split at `$3`:
/// those up to `$3` (about to be marked read) and those after it (still unread). `$2` is
/// the user's read marker, and after it every message counts (seqs are gap-free, and none
/// after the marker is the user's own: sending moves the sender's marker, joining puts it
/// at the newest message) but the deleted ones (`messages_deleted_by_seq` holds only
/// those) and those the user hid. Costs the deletions and hidings in the range, not its
/// length.
const UNREAD_SPLIT_SQL: &str = "WITH deleted AS (SELECT COUNT(*) FILTER (WHERE d.seq <= $3) AS upto, \
       COUNT(*) FILTER (WHERE d.seq > $3) AS after \
     FROM messages d WHERE d.conversation_id = $1 AND d.seq > $2 AND d.seq <= $4 \
     AND d.deleted_at IS NOT NULL), \
   hidden AS (SELECT COUNT(*) FILTER (WHERE h.seq <= $3) AS upto, \
       COUNT(*) FILTER (WHERE h.seq > $3) AS after \
     FROM message_hidden h JOIN messages hm ON hm.conversation_id = h.conversation_id AND hm.seq = h.seq \
     WHERE h.user_id = $5 AND h.conversation_id = $1 AND h.seq > $2 AND h.seq <= $4 \
     AND hm.deleted_at IS NULL AND hm.sender_id IS DISTINCT FROM $5) \
   SELECT $3 - $2 - deleted.upto - hidden.upto, $4 - $3 - deleted.after - hidden.after \
   FROM deleted, hidden";

/// "Messages of `p`'s conversation unread for `p`" (an active participant), as a scalar
/// subquery, the same way as [`UNREAD_SPLIT_SQL`]: from the marker to the newest message,
/// less the deleted ones and those `p` hid. A system message (NULL sender) is unread for
/// everyone.
const UNREAD_SUBQUERY: &str = "((SELECT c0.last_message_seq FROM conversations c0 \
       WHERE c0.id = p.conversation_id) - p.last_read_seq \
   - (SELECT COUNT(*) FROM messages d \
     WHERE d.conversation_id = p.conversation_id AND d.seq > p.last_read_seq \
     AND d.deleted_at IS NOT NULL) \
   - (SELECT COUNT(*) FROM message_hidden h \
     JOIN messages hm ON hm.conversation_id = h.conversation_id AND hm.seq = h.seq \
     WHERE h.user_id = p.user_id AND h.conversation_id = p.conversation_id \
     AND h.seq > p.last_read_seq AND hm.deleted_at IS NULL \
     AND hm.sender_id IS DISTINCT FROM p.user_id))";

fn seq_param(seq: u64) -> i64 {
    // Sequence numbers are assigned by the database from 1 upward; they never approach
    // i64::MAX. Saturate rather than wrap for values from untrusted cursors.
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// Creates the missing user records. The ids are inserted in one statement, in bytewise
/// order, so that two transactions creating the same new users cannot deadlock.
async fn ensure_users<'a>(
    conn: &mut PgConnection,
    user_ids: impl IntoIterator<Item = &'a UserId>,
    now: Timestamp,
) -> Result<()> {
    let mut ids: Vec<String> = user_ids
        .into_iter()
        .map(|id| id.as_str().to_owned())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO users (id, role, created_at) \
         SELECT u.id, 'user', $2 FROM UNNEST($1::text[]) AS u(id) ORDER BY u.id COLLATE \"C\" \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(ids)
    .bind(to_micros(now))
    .execute(conn)
    .await
    .map_err(store_error)?;
    Ok(())
}

/// Takes the conversation's next event seq (locking its row until commit); `None` when
/// the conversation does not exist.
pub(crate) async fn next_event_seq(
    conn: &mut PgConnection,
    conversation_id: ConversationId,
    now: Timestamp,
) -> Result<Option<i64>> {
    sqlx::query_scalar(
        "UPDATE conversations SET last_event_seq = last_event_seq + 1, last_event_at = GREATEST(last_event_at, $2) \
         WHERE id = $1 RETURNING last_event_seq",
    )
    .bind(conversation_id.0)
    .bind(to_micros(now))
    .fetch_optional(conn)
    .await
    .map_err(store_error)
}

/// Writes an event row with a seq from [`next_event_seq`].
pub(crate) async fn insert_event(
    conn: &mut PgConnection,
    conversation_id: ConversationId,
    seq: i64,
    draft: EventDraft,
    message_seq: Option<i64>,
    now: Timestamp,
) -> Result<EventSeq> {
    sqlx::query(
        "INSERT INTO events (conversation_id, seq, kind, message_seq, data, created_at) \
         VALUES ($1, $2, $3, $4, $5::json, $6)",
    )
    .bind(conversation_id.0)
    .bind(seq)
    .bind(draft.kind)
    .bind(message_seq)
    .bind(draft.data.to_string())
    .bind(to_micros(now))
    .execute(conn)
    .await
    .map_err(store_error)?;
    Ok(EventSeq(u64::try_from(seq).unwrap_or_default()))
}

/// Appends an event with the conversation's next event seq.
async fn append_event(
    conn: &mut PgConnection,
    conversation_id: ConversationId,
    draft: EventDraft,
    now: Timestamp,
) -> Result<EventSeq> {
    let seq = next_event_seq(conn, conversation_id, now)
        .await?
        .ok_or(StoreError::NotFound)?;
    insert_event(conn, conversation_id, seq, draft, None, now).await
}

async fn select_conversation<'c>(
    executor: impl PgExecutor<'c>,
    conversation_id: ConversationId,
) -> Result<Option<ConversationRecord>> {
    sqlx::query(&format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = $1"
    ))
    .bind(conversation_id.0)
    .fetch_optional(executor)
    .await
    .map_err(store_error)?
    .map(|row| rows::conversation(&row, 0))
    .transpose()
}

async fn select_conversation_by_key<'c>(
    executor: impl PgExecutor<'c>,
    key: &str,
) -> Result<Option<ConversationRecord>> {
    sqlx::query(&format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.unique_key = $1"
    ))
    .bind(key)
    .fetch_optional(executor)
    .await
    .map_err(store_error)?
    .map(|row| rows::conversation(&row, 0))
    .transpose()
}

async fn select_participant<'c>(
    executor: impl PgExecutor<'c>,
    conversation_id: ConversationId,
    user_id: &UserId,
) -> Result<Option<ParticipantRecord>> {
    sqlx::query(&format!(
        "SELECT {PARTICIPANT_COLUMNS} FROM participants p \
         WHERE p.conversation_id = $1 AND p.user_id = $2"
    ))
    .bind(conversation_id.0)
    .bind(user_id.as_str())
    .fetch_optional(executor)
    .await
    .map_err(store_error)?
    .map(|row| rows::participant(&row, 0))
    .transpose()
}

async fn select_participants<'c>(
    executor: impl PgExecutor<'c>,
    conversation_id: ConversationId,
) -> Result<Vec<ParticipantRecord>> {
    sqlx::query(&format!(
        "SELECT {PARTICIPANT_COLUMNS} FROM participants p \
         WHERE p.conversation_id = $1 AND p.left_at IS NULL ORDER BY p.joined_at, p.user_id"
    ))
    .bind(conversation_id.0)
    .fetch_all(executor)
    .await
    .map_err(store_error)?
    .iter()
    .map(|row| rows::participant(row, 0))
    .collect()
}

/// The sender's earlier message with the same `client_message_id`, if any: by sender
/// across all conversations, or for a system message (no sender) within the conversation.
async fn find_duplicate<'c>(
    executor: impl PgExecutor<'c>,
    new: &NewMessage,
) -> Result<Option<MessageRecord>> {
    let Some(client_id) = &new.client_message_id else {
        return Ok(None);
    };
    let row = match &new.sender_id {
        Some(sender) => {
            sqlx::query(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages m \
                 WHERE m.sender_id = $1 AND m.client_message_id = $2"
            ))
            .bind(sender.as_str())
            .bind(client_id.as_str())
            .fetch_optional(executor)
            .await
        }
        None => {
            sqlx::query(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = $1 \
                 AND m.sender_id IS NULL AND m.client_message_id = $2"
            ))
            .bind(new.conversation_id.0)
            .bind(client_id.as_str())
            .fetch_optional(executor)
            .await
        }
    }
    .map_err(store_error)?;
    row.map(|row| rows::required_message(&row)).transpose()
}

/// Whether an insert failed on a unique index.
fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// The outcome of a committed append of `new` at message seq `seq` and event seq
/// `event_seq` (as PostgreSQL returns them).
fn appended(new: NewMessage, seq: i64, event_seq: i64) -> AppendOutcome {
    new.appended(MessageSeq(seq as u64), EventSeq(event_seq as u64))
}

/// The earlier message a failed or empty append of `new` stands for: its duplicate by
/// `client_message_id`, else `NotFound` (the conversation does not exist).
async fn duplicate_or_missing(pool: &PgPool, new: &NewMessage) -> Result<AppendOutcome> {
    match find_duplicate(pool, new).await? {
        Some(message) => Ok(AppendOutcome {
            message,
            duplicate: true,
            event_seq: None,
        }),
        None => Err(StoreError::NotFound),
    }
}

/// The common append — no attachments, not a thread reply — as one statement in its
/// own transaction: one round trip, so the conversation row, locked by the first
/// sub-statement until the commit, is held for the statement and the commit flush
/// only (the multi-statement transaction held it across five round trips; with many
/// senders in one conversation that hold time was the send rate's bound). A retry
/// of a message already stored fails on a unique index, which rolls the whole
/// statement back (no seq is used up); the original is then looked up and returned.
/// Concurrent appends to one conversation are batched by `crate::appends`.
pub(crate) async fn append_one(shelf: &Shelf, new: NewMessage) -> Result<AppendOutcome> {
    let pool = shelf.pool();
    let now = to_micros(new.now);
    let draft = payload::message_created();
    let mentions = (!new.mentions.is_empty()).then_some(Json(&new.mentions));
    let mut kept = shelf.take().await.map_err(store_error)?;
    let result: std::result::Result<Option<(i64, i64)>, sqlx::Error> = sqlx::query_as(
        "WITH c AS ( \
           UPDATE conversations SET last_message_seq = last_message_seq + 1, \
             message_count = message_count + 1, last_message_sender = $2, \
             last_message_kind = $3, last_message_text = $4, last_message_at = $5, \
             last_message_deleted = FALSE, last_activity_at = GREATEST(last_activity_at, $5), \
             last_event_seq = last_event_seq + 1, last_event_at = GREATEST(last_event_at, $5) \
           WHERE id = $1 AND (NOT $14 OR (status <> 'blocked' AND EXISTS ( \
             SELECT 1 FROM participants p WHERE p.conversation_id = $1 AND p.user_id = $2 \
               AND p.left_at IS NULL))) \
           RETURNING last_message_seq AS mseq, last_event_seq AS eseq), \
         m AS ( \
           INSERT INTO messages (conversation_id, seq, id, sender_id, kind, content, \
             client_message_id, reply_to_id, mentions, created_at, pii_masked) \
           SELECT $1, c.mseq, $6, $2, $3, $7, $8, $9, $10, $5, $11 FROM c), \
         p AS ( \
           UPDATE participants SET last_read_seq = c.mseq, last_read_at = $5, \
             last_delivered_seq = GREATEST(last_delivered_seq, c.mseq) \
           FROM c WHERE conversation_id = $1 AND user_id = $2 AND last_read_seq < c.mseq), \
         e AS ( \
           INSERT INTO events (conversation_id, seq, kind, message_seq, data, created_at) \
           SELECT $1, c.eseq, $12, c.mseq, $13::json, $5 FROM c) \
         SELECT mseq, eseq FROM c",
    )
    .bind(new.conversation_id.0)
    .bind(new.sender_id.as_ref().map(UserId::as_str))
    .bind(new.kind.as_str())
    .bind(preview_text(new.content.as_deref()))
    .bind(now)
    .bind(new.id.0)
    .bind(new.content.as_deref())
    .bind(new.client_message_id.as_deref())
    .bind(new.reply_to_id.map(|id| id.0))
    .bind(mentions)
    .bind(new.pii_masked)
    .bind(draft.kind)
    .bind(draft.data.to_string())
    .bind(new.check_sender)
    .fetch_optional(kept.conn())
    .await;
    // A failed statement's connection goes back through the pool, which checks it.
    match &result {
        Ok(_) => kept.give_back(),
        Err(_) => drop(kept),
    }
    match result {
        Ok(Some((seq, event_seq))) => Ok(appended(new, seq, event_seq)),
        Ok(None) if new.check_sender => Err(StoreError::Conflict(SENDER_REFUSED.into())),
        // No such conversation; like SQLite, a known client_message_id wins.
        Ok(None) => duplicate_or_missing(pool, &new).await,
        // A retry of a stored message (in this conversation or, by the same sender,
        // another): any unique index may report the clash first.
        Err(err) if new.client_message_id.is_some() && is_unique_violation(&err) => {
            match duplicate_or_missing(pool, &new).await {
                Err(StoreError::NotFound) => Err(store_error(err)),
                other => other,
            }
        }
        Err(err) => Err(store_error(err)),
    }
}

/// Moves one read marker; shared by `mark_read` and `mark_read_many`. Locks the
/// conversation row first: the marker and the receipt event then change in seq order.
async fn mark_read_in(
    conn: &mut PgConnection,
    conversation_id: ConversationId,
    user_id: &UserId,
    up_to: MessageSeq,
    now: Timestamp,
) -> Result<ReadOutcome> {
    let last: i64 = sqlx::query_scalar(
        "SELECT last_message_seq FROM conversations WHERE id = $1 FOR NO KEY UPDATE",
    )
    .bind(conversation_id.0)
    .fetch_optional(&mut *conn)
    .await
    .map_err(store_error)?
    .ok_or(StoreError::NotFound)?;
    // A fresh statement after the lock: it sees the marker as the last writer left it.
    let (old, delivered): (i64, i64) = sqlx::query_as(
        "SELECT last_read_seq, last_delivered_seq FROM participants \
         WHERE conversation_id = $1 AND user_id = $2 AND left_at IS NULL",
    )
    .bind(conversation_id.0)
    .bind(user_id.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(store_error)?
    .ok_or(StoreError::NotFound)?;
    let target = seq_param(up_to.0).min(last);
    let split = target.max(old);
    let (marked_count, unread_count) = if last <= old {
        (0, 0)
    } else {
        let (marked, unread): (i64, i64) = sqlx::query_as(UNREAD_SPLIT_SQL)
            .bind(conversation_id.0)
            .bind(old)
            .bind(split)
            .bind(last)
            .bind(user_id.as_str())
            .fetch_one(&mut *conn)
            .await
            .map_err(store_error)?;
        (marked as u64, unread as u64)
    };
    if target <= old {
        return Ok(ReadOutcome {
            conversation_id,
            marked_count: 0,
            last_read_seq: MessageSeq(old as u64),
            unread_count,
            event_seq: None,
        });
    }
    sqlx::query(
        "UPDATE participants SET last_read_seq = $3, last_read_at = $4, \
         last_delivered_seq = GREATEST(last_delivered_seq, $3) \
         WHERE conversation_id = $1 AND user_id = $2",
    )
    .bind(conversation_id.0)
    .bind(user_id.as_str())
    .bind(target)
    .bind(to_micros(now))
    .execute(&mut *conn)
    .await
    .map_err(store_error)?;
    let event_seq = append_event(
        conn,
        conversation_id,
        payload::receipt_updated(
            user_id,
            target as u64,
            Some(now),
            delivered.max(target) as u64,
        ),
        now,
    )
    .await?;
    Ok(ReadOutcome {
        conversation_id,
        marked_count,
        last_read_seq: MessageSeq(target as u64),
        unread_count,
        event_seq: Some(event_seq),
    })
}

/// A message by id.
async fn select_message<'c>(
    executor: impl PgExecutor<'c>,
    message_id: MessageId,
) -> Result<Option<MessageRecord>> {
    sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.id = $1"
    ))
    .bind(message_id.0)
    .fetch_optional(executor)
    .await
    .map_err(store_error)?
    .map(|row| rows::required_message(&row))
    .transpose()
}

/// The read markers of a page (see [`ReadMarkers`]) as a CTE named `marks` of one row:
/// `member`, `others_read`, `others_delivered`, `low_users`, `low_reads`. Its result does
/// not grow with the conversation, but it scans the conversation's active participants:
/// once for the three aggregates (one subquery each scanned them three times), and a
/// top-two sort for the lowest read markers.
/// SQLite reads the same markers from indexes; here, indexes on the two markers made
/// sends 10 % slower (every send moves its sender's markers, and an indexed column turns
/// that update into a non-HOT one, with new entries in every index of the table). `$1` is
/// the conversation; `{viewer}` the parameter holding the viewer.
fn marks_cte(viewer: &str) -> String {
    format!(
        "p AS (SELECT user_id, last_read_seq, last_delivered_seq FROM participants \
           WHERE conversation_id = $1 AND left_at IS NULL), \
         low AS (SELECT user_id, last_read_seq FROM p ORDER BY last_read_seq, user_id LIMIT 2), \
         marks AS (SELECT COALESCE(bool_or(user_id = {viewer}), FALSE) AS member, \
           MAX(last_read_seq) FILTER (WHERE user_id IS DISTINCT FROM {viewer}) AS others_read, \
           MAX(last_delivered_seq) FILTER (WHERE user_id IS DISTINCT FROM {viewer}) \
             AS others_delivered, \
           ARRAY(SELECT user_id FROM low ORDER BY last_read_seq, user_id) AS low_users, \
           ARRAY(SELECT last_read_seq FROM low ORDER BY last_read_seq, user_id) AS low_reads \
           FROM p)"
    )
}

/// The `marks` columns of [`marks_cte`], from column `at` on.
fn read_markers(row: &PgRow, at: usize) -> Result<ReadMarkers> {
    let seq = |raw: i64| MessageSeq(raw as u64);
    let users: Vec<String> = rows::get(row, at + 3)?;
    let reads: Vec<i64> = rows::get(row, at + 4)?;
    let lowest_read = users
        .iter()
        .zip(reads)
        .map(|(user, read)| {
            UserId::parse(user)
                .map(|user| (user, seq(read)))
                .map_err(|_| StoreError::Backend("invalid user id in read markers".into()))
        })
        .collect::<Result<_>>()?;
    Ok(ReadMarkers {
        viewer_is_participant: rows::get(row, at)?,
        lowest_read,
        others_read: rows::get::<Option<i64>>(row, at + 1)?.map(seq),
        others_delivered: rows::get::<Option<i64>>(row, at + 2)?.map(seq),
    })
}

/// A page of messages by seq cursor and its read markers (see [`Store::message_page`]), in
/// one statement: a first row of NULL message columns carrying the markers, `UNION ALL`
/// the page's rows with NULL markers. Carried on every row instead (a few columns, two
/// of them arrays), the markers were output and sent 51 times per page; alone in the
/// page's first row, an empty page needed a second statement.
async fn select_page(
    shelf: &Shelf,
    conversation_id: ConversationId,
    query: MessageQuery,
) -> Result<(Vec<MessageRecord>, ReadMarkers)> {
    let order = match query.order {
        Order::Ascending => "ASC",
        Order::Descending => "DESC",
    };
    let before = query.before.map_or(i64::MAX, |seq| seq_param(seq.0));
    let after = query.after.map_or(0, |seq| seq_param(seq.0));
    let viewer = query.viewer.as_ref().map(UserId::as_str);
    // A thread page compares with `=`, which the partial index `messages_by_thread` serves
    // (`=` is strict, so it implies the index's `thread_root_seq IS NOT NULL` even in a
    // generic plan); `IS NOT DISTINCT FROM` is no index condition, and a thread page
    // scanned the conversation from the cursor back: 58 ms instead of 0.07 ms for a page
    // of a thread of 200 replies over 200,000 messages (BENCHMARKS.md). The main timeline
    // (`$6` NULL) keeps the null-safe form: its rows are the primary key's.
    let thread = if query.thread.is_some() {
        "m.thread_root_seq = $6"
    } else {
        "m.thread_root_seq IS NOT DISTINCT FROM $6"
    };
    let mut kept = shelf.take().await.map_err(store_error)?;
    let rows = sqlx::query(&format!(
        "WITH {} SELECT {}marks.* FROM marks \
         UNION ALL (SELECT {MESSAGE_COLUMNS}, NULL, NULL, NULL, NULL, NULL FROM messages m \
         WHERE m.conversation_id = $1 \
         AND m.seq < $2 AND m.seq > $3 AND {thread} \
         AND ($5::text IS NULL OR NOT EXISTS \
           (SELECT 1 FROM message_hidden h WHERE h.user_id = $5 AND h.message_id = m.id)) \
         ORDER BY m.seq {order} LIMIT $4)",
        marks_cte("$5"),
        "NULL, ".repeat(MESSAGE_WIDTH),
    ))
    .bind(conversation_id.0)
    .bind(before)
    .bind(after)
    .bind(i64::from(query.limit) + 1)
    .bind(viewer)
    .bind(query.thread.map(|root| seq_param(root.0)))
    .fetch_all(kept.conn())
    .await
    .map_err(store_error)?;
    kept.give_back();
    let mut markers = None;
    let mut messages = Vec::with_capacity(rows.len());
    for row in &rows {
        match rows::message(row, 0)? {
            Some(message) => messages.push(message),
            None => markers = Some(read_markers(row, MESSAGE_WIDTH)?),
        }
    }
    let markers =
        markers.ok_or_else(|| StoreError::Backend("a page without its read markers".into()))?;
    // `UNION ALL` does not promise to keep its branches' order (it does, as executed; the
    // sort of an already ordered page is one pass).
    match query.order {
        Order::Ascending => messages.sort_by_key(|m| m.seq),
        Order::Descending => messages.sort_by_key(|m| std::cmp::Reverse(m.seq)),
    }
    Ok((messages, markers))
}

/// The reactions of `ids`, ordered by message, time, emoji and user.
async fn select_reactions<'e>(
    executor: impl PgExecutor<'e>,
    ids: &[Uuid],
) -> Result<Vec<ReactionRecord>> {
    let rows: Vec<(Uuid, String, String, i64)> = sqlx::query_as(
        "SELECT message_id, emoji, user_id, created_at FROM reactions WHERE message_id = ANY($1) \
         ORDER BY message_id, created_at, emoji, user_id",
    )
    .bind(ids)
    .fetch_all(executor)
    .await
    .map_err(store_error)?;
    rows.into_iter().map(reaction_record).collect()
}

/// A `reactions` row selected as `message_id, emoji, user_id, created_at`.
fn reaction_record(
    (message_id, emoji, user, created_at): (Uuid, String, String, i64),
) -> Result<ReactionRecord> {
    Ok(ReactionRecord {
        message_id: MessageId(message_id),
        emoji,
        user_id: UserId::parse(&user).map_err(StoreError::backend)?,
        created_at: natter_store::from_micros(created_at),
    })
}

/// [`Store::list_reactors`]: a range of `reactions_in_order` from the row value after the
/// cursor (every row is after `(i64::MIN, '')`).
async fn select_reactors<'e>(
    executor: impl PgExecutor<'e>,
    message_id: MessageId,
    emoji: &str,
    after: (i64, &str),
    limit: u32,
) -> Result<Vec<ReactionRecord>> {
    let rows: Vec<(Uuid, String, String, i64)> = sqlx::query_as(
        "SELECT message_id, emoji, user_id, created_at FROM reactions \
         WHERE message_id = $1 AND emoji = $2 AND (created_at, user_id) > ($3, $4) \
         ORDER BY created_at, user_id LIMIT $5",
    )
    .bind(message_id.0)
    .bind(emoji)
    .bind(after.0)
    .bind(after.1)
    .bind(i64::from(limit))
    .fetch_all(executor)
    .await
    .map_err(store_error)?;
    rows.into_iter().map(reaction_record).collect()
}

/// [`Store::list_reaction_groups`]: the `reaction_counts` rows of the messages, whose first
/// users the trigger of 0015_reaction_counts.sql keeps; the viewer's reaction is probed
/// only where more users reacted than are listed.
async fn select_reaction_groups<'e>(
    executor: impl PgExecutor<'e>,
    ids: &[Uuid],
    viewer: Option<&UserId>,
) -> Result<Vec<ReactionGroup>> {
    let rows = sqlx::query(
        "SELECT c.message_id, c.emoji, c.count, c.users, \
           CASE WHEN c.count > $3 THEN EXISTS (SELECT 1 FROM reactions r \
             WHERE r.message_id = c.message_id AND r.emoji = c.emoji AND r.user_id = $2) \
           ELSE FALSE END \
         FROM reaction_counts c WHERE c.message_id = ANY($1) \
         ORDER BY c.message_id, c.first_at, c.emoji",
    )
    .bind(ids)
    .bind(viewer.map(UserId::as_str))
    .bind(REACTION_GROUP_USERS as i64)
    .fetch_all(executor)
    .await
    .map_err(store_error)?;
    rows.iter()
        .map(|row| {
            let users = rows::user_ids(row, 3)?;
            let probed: bool = rows::get(row, 4)?;
            let listed = viewer.is_some_and(|viewer| users.contains(viewer));
            Ok(ReactionGroup {
                message_id: MessageId(rows::get(row, 0)?),
                emoji: rows::get(row, 1)?,
                count: rows::seq(row, 2)?,
                me: listed || probed,
                users,
            })
        })
        .collect()
}

/// Locks a message's conversation row, then the message (the crate's lock order), and
/// returns the message as it stands under the lock. `NotFound` if it does not exist.
async fn lock_message(conn: &mut PgConnection, message_id: MessageId) -> Result<MessageRecord> {
    let conversation_id: Uuid =
        sqlx::query_scalar("SELECT conversation_id FROM messages WHERE id = $1")
            .bind(message_id.0)
            .fetch_optional(&mut *conn)
            .await
            .map_err(store_error)?
            .ok_or(StoreError::NotFound)?;
    sqlx::query("SELECT 1 FROM conversations WHERE id = $1 FOR NO KEY UPDATE")
        .bind(conversation_id)
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
    sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.id = $1 FOR UPDATE"
    ))
    .bind(message_id.0)
    .fetch_optional(&mut *conn)
    .await
    .map_err(store_error)?
    .map(|row| rows::required_message(&row))
    .transpose()?
    .ok_or(StoreError::NotFound)
}

/// Adds one participant (or re-activates a left one) with `participant.added`; `None`
/// when the user is an active participant already. The caller holds the conversation's
/// row lock and has ensured the user record. Shared by `add_participants` and
/// `accept_invitation`.
async fn add_participant_in(
    conn: &mut PgConnection,
    conversation: &ConversationRecord,
    new: &NewParticipant,
    now: Timestamp,
) -> Result<Option<(ParticipantRecord, EventSeq)>> {
    let existing = select_participant(&mut *conn, conversation.id, &new.user_id).await?;
    if existing.as_ref().is_some_and(ParticipantRecord::is_active) {
        return Ok(None);
    }
    let row = sqlx::query(&format!(
        "INSERT INTO participants AS p (conversation_id, user_id, role, joined_at, \
           last_read_seq, last_delivered_seq) VALUES ($1, $2, $3, $4, $5, $5) \
         ON CONFLICT (conversation_id, user_id) DO UPDATE SET role = $3, \
           joined_at = $4, left_at = NULL, \
           last_read_seq = GREATEST(p.last_read_seq, $5), \
           last_delivered_seq = GREATEST(p.last_delivered_seq, $5) \
         RETURNING {PARTICIPANT_COLUMNS}"
    ))
    .bind(conversation.id.0)
    .bind(new.user_id.as_str())
    .bind(new.role.as_str())
    .bind(to_micros(now))
    .bind(seq_param(conversation.last_message_seq.0))
    .fetch_one(&mut *conn)
    .await
    .map_err(store_error)?;
    let participant = rows::participant(&row, 0)?;
    sqlx::query("UPDATE conversations SET participant_count = participant_count + 1 WHERE id = $1")
        .bind(conversation.id.0)
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
    let event_seq = append_event(
        conn,
        conversation.id,
        payload::participant_added(&participant),
        now,
    )
    .await?;
    Ok(Some((participant, event_seq)))
}

const INVITATION_COLUMNS: &str =
    "id, conversation_id, created_by, created_at, expires_at, max_uses, uses, revoked_at";

type InvitationRow = (
    Uuid,
    Uuid,
    Option<String>,
    i64,
    i64,
    Option<i32>,
    i32,
    Option<i64>,
);

fn invitation(row: InvitationRow) -> InvitationRecord {
    let (id, conversation_id, created_by, created_at, expires_at, max_uses, uses, revoked_at) = row;
    InvitationRecord {
        id,
        conversation_id: ConversationId(conversation_id),
        created_by: created_by.and_then(|raw| UserId::parse(&raw).ok()),
        created_at: natter_store::from_micros(created_at),
        expires_at: natter_store::from_micros(expires_at),
        max_uses: max_uses.map(|n| n.max(0) as u32),
        uses: uses.max(0) as u32,
        revoked_at: revoked_at.map(natter_store::from_micros),
    }
}

async fn select_settings<'c>(
    executor: impl PgExecutor<'c>,
    conversation_id: ConversationId,
) -> Result<SettingsRecord> {
    let row: Option<(String, i64, i64, Option<String>)> = sqlx::query_as(
        "SELECT settings, version, updated_at, updated_by FROM conversation_settings WHERE conversation_id = $1",
    )
    .bind(conversation_id.0)
    .fetch_optional(executor)
    .await
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

async fn follow_thread(
    conn: &mut PgConnection,
    conversation_id: ConversationId,
    root_seq: MessageSeq,
    user_id: &UserId,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO thread_followers (conversation_id, root_seq, user_id, since) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (conversation_id, root_seq, user_id) DO NOTHING",
    )
    .bind(conversation_id.0)
    .bind(seq_param(root_seq.0))
    .bind(user_id.as_str())
    .bind(now)
    .execute(conn)
    .await
    .map_err(store_error)?;
    Ok(())
}

/// Events after `after`, each joined with its message in its current state.
async fn select_events<'c>(
    executor: impl PgExecutor<'c>,
    conversation_id: ConversationId,
    after: EventSeq,
    limit: u32,
) -> Result<Vec<EventRecord>> {
    sqlx::query(&format!(
        "SELECT e.seq, e.kind, e.data::text, e.created_at, {MESSAGE_COLUMNS} FROM events e \
         LEFT JOIN messages m ON m.conversation_id = e.conversation_id AND m.seq = e.message_seq \
         WHERE e.conversation_id = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3"
    ))
    .bind(conversation_id.0)
    .bind(seq_param(after.0))
    .bind(i64::from(limit))
    .fetch_all(executor)
    .await
    .map_err(store_error)?
    .iter()
    .map(|row| event_row(row, conversation_id))
    .collect()
}

/// An event from the columns `seq, kind, data::text, created_at` and the message's
/// [`MESSAGE_COLUMNS`] (NULL for an event of no message).
fn event_row(row: &PgRow, conversation_id: ConversationId) -> Result<EventRecord> {
    let data: String = rows::get(row, 2)?;
    Ok(EventRecord {
        conversation_id,
        seq: EventSeq(rows::seq(row, 0)?),
        kind: rows::get(row, 1)?,
        data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
        created_at: natter_store::from_micros(rows::get(row, 3)?),
        message: rows::message(row, 4)?,
    })
}

/// A value bound to a dynamically built statement.
enum Bind {
    Text(String),
    Int(i64),
    Bool(bool),
    Uuid(Uuid),
}

/// Bind values of a dynamically built statement, numbered `$1`, `$2`, … as pushed.
#[derive(Default)]
struct Binds(Vec<Bind>);

impl Binds {
    /// Adds a value and returns its placeholder.
    fn push(&mut self, value: Bind) -> String {
        self.0.push(value);
        format!("${}", self.0.len())
    }

    /// Adds `AND <column> = $n` when a boolean filter is set.
    fn bool_filter(&mut self, sql: &mut String, column: &str, value: Option<bool>) {
        if let Some(value) = value {
            let placeholder = self.push(Bind::Bool(value));
            sql.push_str(&format!(" AND {column} = {placeholder}"));
        }
    }

    fn apply(
        self,
        mut query: sqlx::query::Query<'_, Postgres, PgArguments>,
    ) -> sqlx::query::Query<'_, Postgres, PgArguments> {
        for value in self.0 {
            query = match value {
                Bind::Text(value) => query.bind(value),
                Bind::Int(value) => query.bind(value),
                Bind::Bool(value) => query.bind(value),
                Bind::Uuid(value) => query.bind(value),
            };
        }
        query
    }
}

fn list_item(row: &PgRow) -> Result<ConversationListItem> {
    let at = CONVERSATION_WIDTH + PARTICIPANT_WIDTH;
    let peer: Option<String> = rows::get(row, at + 1)?;
    Ok(ConversationListItem {
        conversation: rows::conversation(row, 0)?,
        me: rows::participant(row, CONVERSATION_WIDTH)?,
        unread_count: rows::seq(row, at)?,
        peer_id: peer.and_then(|peer| UserId::parse(&peer).ok()),
    })
}

#[async_trait]
impl Store for PostgresStore {
    fn commit_stats(&self) -> natter_store::CommitSnapshot {
        self.appends.stats.snapshot()
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn upsert_user(&self, user: UserUpsert, now: Timestamp) -> Result<UserRecord> {
        let row = sqlx::query(&format!(
            "INSERT INTO users (id, display_name, avatar_url, role, created_at) \
             VALUES ($1, $2, $3, COALESCE($4, 'user'), $5) \
             ON CONFLICT (id) DO UPDATE SET \
               display_name = COALESCE($2, users.display_name), \
               avatar_url = COALESCE($3, users.avatar_url), \
               role = COALESCE($4, users.role) \
             RETURNING {USER_COLUMNS}"
        ))
        .bind(user.id.as_str())
        .bind(user.display_name)
        .bind(user.avatar_url)
        .bind(user.role.map(|role| role.as_str()))
        .bind(to_micros(now))
        .fetch_one(&self.pool)
        .await
        .map_err(store_error)?;
        rows::user(&row)
    }

    async fn find_user(&self, user_id: &UserId) -> Result<Option<UserRecord>> {
        sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(user_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?
            .map(|row| rows::user(&row))
            .transpose()
    }

    async fn create_conversation(&self, new: NewConversation) -> Result<CreateOutcome> {
        if let Some(key) = &new.unique_key {
            if let Some(existing) = select_conversation_by_key(&self.pool, key).await? {
                return Ok(CreateOutcome::Existing(existing));
            }
        }
        let now = to_micros(new.now);
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        // A concurrent create with the same key makes this insert wait for that
        // transaction; once it committed, the insert does nothing and the key's
        // conversation is returned. An id collision is still an error (Conflict).
        let inserted = sqlx::query(
            "INSERT INTO conversations (id, kind, title, description, avatar_url, \
             context_kind, context_id, unique_key, created_by, created_at, updated_at, \
             last_activity_at, last_event_at, trusted, encrypted, participant_count) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $10, $10, $11, $12, $13) \
             ON CONFLICT (unique_key) DO NOTHING",
        )
        .bind(new.id.0)
        .bind(new.kind.as_str())
        .bind(new.title.as_deref())
        .bind(new.description.as_deref())
        .bind(new.avatar_url.as_deref())
        .bind(new.context.as_ref().map(|c| c.kind.as_str()))
        .bind(new.context.as_ref().map(|c| c.id.as_str()))
        .bind(new.unique_key.as_deref())
        .bind(new.created_by.as_ref().map(UserId::as_str))
        .bind(now)
        .bind(new.trusted)
        .bind(new.encrypted)
        .bind(new.participants.len() as i64)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected();
        if inserted == 0 {
            tx.rollback().await.map_err(store_error)?;
            let key = new.unique_key.as_deref().unwrap_or_default();
            return match select_conversation_by_key(&self.pool, key).await? {
                Some(existing) => Ok(CreateOutcome::Existing(existing)),
                None => Err(StoreError::Conflict("conversations_unique_key".into())),
            };
        }
        ensure_users(
            &mut tx,
            new.participants.iter().map(|p| &p.user_id),
            new.now,
        )
        .await?;
        let user_ids: Vec<&str> = new
            .participants
            .iter()
            .map(|p| p.user_id.as_str())
            .collect();
        let roles: Vec<&str> = new.participants.iter().map(|p| p.role.as_str()).collect();
        sqlx::query(
            "INSERT INTO participants (conversation_id, user_id, role, joined_at) \
             SELECT $1, u.user_id, u.role, $4 FROM UNNEST($2::text[], $3::text[]) AS u(user_id, role)",
        )
        .bind(new.id.0)
        .bind(user_ids)
        .bind(roles)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        let mut conversation = select_conversation(&mut *tx, new.id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let participants = select_participants(&mut *tx, new.id).await?;
        conversation.last_event_seq = append_event(
            &mut tx,
            new.id,
            payload::conversation_created(&conversation, &participants),
            new.now,
        )
        .await?;
        tx.commit().await.map_err(store_error)?;
        Ok(CreateOutcome::Created(conversation))
    }

    async fn find_conversation(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Option<ConversationRecord>> {
        select_conversation(&self.pool, conversation_id).await
    }

    async fn find_conversation_by_key(
        &self,
        unique_key: &str,
    ) -> Result<Option<ConversationRecord>> {
        select_conversation_by_key(&self.pool, unique_key).await
    }

    async fn update_conversation(
        &self,
        conversation_id: ConversationId,
        patch: ConversationPatch,
        now: Timestamp,
    ) -> Result<ConversationRecord> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let row = sqlx::query(&format!(
            "UPDATE conversations c SET \
               title = CASE WHEN $2 THEN $3 ELSE c.title END, \
               description = CASE WHEN $4 THEN $5 ELSE c.description END, \
               avatar_url = CASE WHEN $6 THEN $7 ELSE c.avatar_url END, \
               status = COALESCE($8, c.status), \
               trusted = COALESCE($9, c.trusted), \
               updated_at = $10 \
             WHERE c.id = $1 RETURNING {CONVERSATION_COLUMNS}"
        ))
        .bind(conversation_id.0)
        .bind(patch.title.is_some())
        .bind(patch.title.clone().flatten())
        .bind(patch.description.is_some())
        .bind(patch.description.clone().flatten())
        .bind(patch.avatar_url.is_some())
        .bind(patch.avatar_url.clone().flatten())
        .bind(patch.status.map(|status| status.as_str()))
        .bind(patch.trusted)
        .bind(to_micros(now))
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?
        .ok_or(StoreError::NotFound)?;
        let mut conversation = rows::conversation(&row, 0)?;
        conversation.last_event_seq = append_event(
            &mut tx,
            conversation_id,
            payload::conversation_updated(&conversation),
            now,
        )
        .await?;
        tx.commit().await.map_err(store_error)?;
        Ok(conversation)
    }

    async fn list_conversations(
        &self,
        query: &ConversationQuery,
    ) -> Result<Vec<ConversationListItem>> {
        let mut binds = Binds::default();
        let user = binds.push(Bind::Text(query.user_id.as_str().to_owned()));
        let now = binds.push(Bind::Int(to_micros(query.now)));
        let mut sql = format!(
            "SELECT {CONVERSATION_COLUMNS}, {PARTICIPANT_COLUMNS}, {UNREAD_SUBQUERY} AS unread, \
               CASE WHEN c.kind = 'direct' THEN (SELECT p2.user_id FROM participants p2 \
                  WHERE p2.conversation_id = c.id AND p2.user_id <> p.user_id \
                  ORDER BY p2.user_id LIMIT 1) END AS peer, \
               c.last_activity_at AS sort_at, c.id AS sort_id \
             FROM participants p JOIN conversations c ON c.id = p.conversation_id \
             WHERE p.user_id = {user} AND p.left_at IS NULL"
        );
        if let Some(kind) = query.kind {
            let placeholder = binds.push(Bind::Text(kind.as_str().to_owned()));
            sql.push_str(&format!(" AND c.kind = {placeholder}"));
        }
        if let Some(status) = query.status {
            let placeholder = binds.push(Bind::Text(status.as_str().to_owned()));
            sql.push_str(&format!(" AND c.status = {placeholder}"));
        }
        binds.bool_filter(&mut sql, "p.pinned", query.pinned);
        binds.bool_filter(&mut sql, "p.archived", query.archived);
        binds.bool_filter(
            &mut sql,
            &format!("(p.muted AND (p.muted_until IS NULL OR p.muted_until > {now}))"),
            query.muted,
        );
        if let Some(kind) = &query.context_kind {
            let placeholder = binds.push(Bind::Text(kind.clone()));
            sql.push_str(&format!(" AND c.context_kind = {placeholder}"));
        }
        if let Some(id) = &query.context_id {
            let placeholder = binds.push(Bind::Text(id.clone()));
            sql.push_str(&format!(" AND c.context_id = {placeholder}"));
        }
        if let Some((at, id)) = query.after {
            let at = binds.push(Bind::Int(to_micros(at)));
            let id = binds.push(Bind::Uuid(id.0));
            sql.push_str(&format!(
                " AND (c.last_activity_at < {at} OR (c.last_activity_at = {at} AND c.id < {id}))"
            ));
        }
        // With the unread filter, OFFSET 0 keeps the planner from inlining the subquery and
        // evaluating the unread count twice per row.
        let fence = if query.has_unread.is_some() {
            " OFFSET 0"
        } else {
            ""
        };
        let mut outer = format!("SELECT * FROM ({sql}{fence}) AS t WHERE TRUE");
        binds.bool_filter(&mut outer, "(t.unread > 0)", query.has_unread);
        let limit = binds.push(Bind::Int(i64::from(query.limit)));
        let outer = format!("{outer} ORDER BY t.sort_at DESC, t.sort_id DESC LIMIT {limit}");
        binds
            .apply(sqlx::query(&outer))
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?
            .iter()
            .map(list_item)
            .collect()
    }

    async fn count_unread(&self, conversation_id: ConversationId, user_id: &UserId) -> Result<u64> {
        let unread: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT {UNREAD_SUBQUERY} FROM participants p \
             WHERE p.conversation_id = $1 AND p.user_id = $2 AND p.left_at IS NULL"
        ))
        .bind(conversation_id.0)
        .bind(user_id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(unread.map_or(0, |unread| unread as u64))
    }

    async fn list_unread_counts(&self, user_id: &UserId) -> Result<Vec<(ConversationId, u64)>> {
        sqlx::query(&format!(
            "SELECT conversation_id, unread FROM ( \
               SELECT p.conversation_id, {UNREAD_SUBQUERY} AS unread \
               FROM participants p WHERE p.user_id = $1 AND p.left_at IS NULL OFFSET 0) AS t \
             WHERE unread > 0 ORDER BY conversation_id"
        ))
        .bind(user_id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?
        .iter()
        .map(|row| Ok((ConversationId(rows::get(row, 0)?), rows::seq(row, 1)?)))
        .collect()
    }

    async fn list_unread_details(
        &self,
        user_id: &UserId,
        now: Timestamp,
    ) -> Result<Vec<UnreadDetail>> {
        let rows: Vec<(Uuid, i64, i64, String, bool)> = sqlx::query_as(&format!(
            "SELECT p.conversation_id, {UNREAD_SUBQUERY}, \
               (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = p.conversation_id \
                 AND m.seq > p.last_read_seq AND m.deleted_at IS NULL AND m.mentions IS NOT NULL \
                 AND m.sender_id IS DISTINCT FROM p.user_id \
                 AND m.mentions @> jsonb_build_array(p.user_id::text)), \
               p.notification_level, (p.muted AND (p.muted_until IS NULL OR p.muted_until > $2)) \
             FROM participants p WHERE p.user_id = $1 AND p.left_at IS NULL ORDER BY p.conversation_id"
        ))
        .bind(user_id.as_str())
        .bind(to_micros(now))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(
                |(conversation_id, unread, mentions, level, muted)| UnreadDetail {
                    conversation_id: ConversationId(conversation_id),
                    unread: unread.max(0) as u64,
                    mentions: mentions.max(0) as u64,
                    notification_level: natter_proto::NotificationLevel::parse(&level)
                        .unwrap_or(natter_proto::NotificationLevel::All),
                    muted,
                },
            )
            .collect())
    }

    async fn find_participant(
        &self,
        conversation_id: ConversationId,
        user_id: &UserId,
    ) -> Result<Option<ParticipantRecord>> {
        select_participant(&self.pool, conversation_id, user_id).await
    }

    async fn find_conversation_access(
        &self,
        conversation_id: ConversationId,
        user_id: Option<&UserId>,
    ) -> Result<Option<(ConversationRecord, Option<ParticipantRecord>)>> {
        // One round trip: the participant row joins on (conversation, user), so a NULL user
        // id (no user acting) or a stranger leaves the participant columns NULL.
        let mut kept = self.shelf.take().await.map_err(store_error)?;
        let row = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLUMNS}, {PARTICIPANT_COLUMNS} FROM conversations c \
             LEFT JOIN participants p ON p.conversation_id = c.id AND p.user_id = $2 \
             WHERE c.id = $1"
        ))
        .bind(conversation_id.0)
        .bind(user_id.map(UserId::as_str))
        .fetch_optional(kept.conn())
        .await
        .map_err(store_error)?;
        kept.give_back();
        let Some(row) = row else {
            return Ok(None);
        };
        let conversation = rows::conversation(&row, 0)?;
        let participant = match rows::get::<Option<String>>(&row, CONVERSATION_WIDTH + 1)? {
            Some(_) => Some(rows::participant(&row, CONVERSATION_WIDTH)?),
            None => None,
        };
        Ok(Some((conversation, participant)))
    }

    async fn list_participants(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Vec<ParticipantRecord>> {
        select_participants(&self.pool, conversation_id).await
    }

    async fn list_participants_page(
        &self,
        conversation_id: ConversationId,
        after: Option<(Timestamp, &UserId)>,
        limit: u32,
    ) -> Result<Vec<ParticipantRecord>> {
        let after = after.map_or((i64::MIN, ""), |(at, user)| (to_micros(at), user.as_str()));
        sqlx::query(&format!(
            "SELECT {PARTICIPANT_COLUMNS} FROM participants p \
             WHERE p.conversation_id = $1 AND p.left_at IS NULL \
             AND (p.joined_at, p.user_id) > ($2, $3) \
             ORDER BY p.joined_at, p.user_id LIMIT $4"
        ))
        .bind(conversation_id.0)
        .bind(after.0)
        .bind(after.1)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?
        .iter()
        .map(|row| rows::participant(row, 0))
        .collect()
    }

    async fn active_participants_among(
        &self,
        conversation_id: ConversationId,
        user_ids: &[UserId],
    ) -> Result<Vec<UserId>> {
        let ids: Vec<&str> = user_ids.iter().map(UserId::as_str).collect();
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT user_id FROM participants \
             WHERE conversation_id = $1 AND user_id = ANY($2) AND left_at IS NULL",
        )
        .bind(conversation_id.0)
        .bind(&ids)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        rows.into_iter()
            .map(|(user,)| UserId::parse(&user).map_err(StoreError::backend))
            .collect()
    }

    async fn read_markers(
        &self,
        conversation_id: ConversationId,
        viewer: Option<&UserId>,
    ) -> Result<ReadMarkers> {
        let row = sqlx::query(&format!(
            "WITH {} SELECT marks.* FROM marks",
            marks_cte("$2")
        ))
        .bind(conversation_id.0)
        .bind(viewer.map(UserId::as_str))
        .fetch_one(&self.pool)
        .await
        .map_err(store_error)?;
        read_markers(&row, 0)
    }

    async fn add_participants(
        &self,
        conversation_id: ConversationId,
        participants: Vec<NewParticipant>,
        now: Timestamp,
    ) -> Result<Vec<ParticipantRecord>> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let row = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = $1 FOR NO KEY UPDATE"
        ))
        .bind(conversation_id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?
        .ok_or(StoreError::NotFound)?;
        let conversation = rows::conversation(&row, 0)?;
        ensure_users(&mut tx, participants.iter().map(|p| &p.user_id), now).await?;
        let mut added = Vec::new();
        for new in participants {
            if let Some((participant, _)) =
                add_participant_in(&mut tx, &conversation, &new, now).await?
            {
                added.push(participant);
            }
        }
        tx.commit().await.map_err(store_error)?;
        Ok(added)
    }

    async fn update_participant_role(
        &self,
        conversation_id: ConversationId,
        user_id: &UserId,
        role: ParticipantRole,
        now: Timestamp,
    ) -> Result<ParticipantRecord> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        // Taking the event seq first locks the conversation (see the crate docs); an
        // error below rolls it back with everything else.
        let seq = next_event_seq(&mut tx, conversation_id, now)
            .await?
            .ok_or(StoreError::NotFound)?;
        let row = sqlx::query(&format!(
            "UPDATE participants p SET role = $3 \
             WHERE p.conversation_id = $1 AND p.user_id = $2 AND p.left_at IS NULL \
             RETURNING {PARTICIPANT_COLUMNS}"
        ))
        .bind(conversation_id.0)
        .bind(user_id.as_str())
        .bind(role.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?
        .ok_or(StoreError::NotFound)?;
        let participant = rows::participant(&row, 0)?;
        insert_event(
            &mut tx,
            conversation_id,
            seq,
            payload::participant_updated(&participant),
            None,
            now,
        )
        .await?;
        tx.commit().await.map_err(store_error)?;
        Ok(participant)
    }

    async fn remove_participant(
        &self,
        conversation_id: ConversationId,
        user_id: &UserId,
        reason: RemovalReason,
        successor: Option<&UserId>,
        now: Timestamp,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        // The counter update comes first because it locks the conversation row; when the
        // participant turns out not to be active, the transaction is rolled back.
        let counted = sqlx::query(
            "UPDATE conversations SET participant_count = participant_count - 1 WHERE id = $1",
        )
        .bind(conversation_id.0)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected();
        if counted == 0 {
            return Err(StoreError::NotFound);
        }
        let changed = sqlx::query(
            "UPDATE participants SET left_at = $3 \
             WHERE conversation_id = $1 AND user_id = $2 AND left_at IS NULL",
        )
        .bind(conversation_id.0)
        .bind(user_id.as_str())
        .bind(to_micros(now))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        append_event(
            &mut tx,
            conversation_id,
            payload::participant_removed(user_id, reason),
            now,
        )
        .await?;
        if let Some(successor) = successor {
            let row = sqlx::query(&format!(
                "UPDATE participants p SET role = 'owner' \
                 WHERE p.conversation_id = $1 AND p.user_id = $2 AND p.left_at IS NULL \
                 RETURNING {PARTICIPANT_COLUMNS}"
            ))
            .bind(conversation_id.0)
            .bind(successor.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_error)?
            .ok_or_else(|| StoreError::Conflict("successor".into()))?;
            let participant = rows::participant(&row, 0)?;
            append_event(
                &mut tx,
                conversation_id,
                payload::participant_updated(&participant),
                now,
            )
            .await?;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(())
    }

    async fn update_settings(
        &self,
        conversation_id: ConversationId,
        user_id: &UserId,
        patch: SettingsPatch,
    ) -> Result<ParticipantRecord> {
        // One statement on one row, no event: it needs neither a transaction nor the
        // conversation lock.
        let row = sqlx::query(&format!(
            "UPDATE participants p SET \
               muted = COALESCE($3, p.muted), \
               muted_until = CASE WHEN $4 THEN $5 ELSE p.muted_until END, \
               pinned = COALESCE($6, p.pinned), \
               archived = COALESCE($7, p.archived), \
               notification_level = COALESCE($8, p.notification_level), \
               sound = COALESCE($9, p.sound) \
             WHERE p.conversation_id = $1 AND p.user_id = $2 AND p.left_at IS NULL \
             RETURNING {PARTICIPANT_COLUMNS}"
        ))
        .bind(conversation_id.0)
        .bind(user_id.as_str())
        .bind(patch.muted)
        .bind(patch.muted_until.is_some())
        .bind(patch.muted_until.flatten().map(to_micros))
        .bind(patch.pinned)
        .bind(patch.archived)
        .bind(patch.notification_level.map(|level| level.as_str()))
        .bind(patch.sound)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .ok_or(StoreError::NotFound)?;
        rows::participant(&row, 0)
    }

    async fn append_message(&self, new: NewMessage) -> Result<AppendOutcome> {
        if new.attachments.is_empty() && new.thread_root.is_none() {
            return crate::appends::append(&self.shelf, &self.appends, new).await;
        }
        let now = to_micros(new.now);
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        if new.check_sender {
            let admitted: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM conversations c \
                   JOIN participants p ON p.conversation_id = c.id \
                   WHERE c.id = $1 AND c.status <> 'blocked' AND p.user_id = $2 \
                   AND p.left_at IS NULL)",
            )
            .bind(new.conversation_id.0)
            .bind(new.sender_id.as_ref().map(UserId::as_str))
            .fetch_one(&mut *tx)
            .await
            .map_err(store_error)?;
            if !admitted {
                return Err(StoreError::Conflict(SENDER_REFUSED.into()));
            }
        }
        // Both seqs in one statement, which also locks the conversation row until commit:
        // concurrent appends to one conversation queue here, so seqs follow commit order.
        let seqs: Option<(i64, i64)> = sqlx::query_as(
            "UPDATE conversations SET last_message_seq = last_message_seq + 1, \
               message_count = message_count + 1, last_message_sender = $2, \
               last_message_kind = $3, last_message_text = $4, last_message_at = $5, last_message_deleted = FALSE, \
               last_activity_at = GREATEST(last_activity_at, $5), last_event_seq = last_event_seq + 1, last_event_at = GREATEST(last_event_at, $5) \
             WHERE id = $1 RETURNING last_message_seq, last_event_seq",
        )
        .bind(new.conversation_id.0)
        .bind(new.sender_id.as_ref().map(UserId::as_str))
        .bind(new.kind.as_str())
        .bind(preview_text(new.content.as_deref()))
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        let Some((seq, event_seq)) = seqs else {
            tx.rollback().await.map_err(store_error)?;
            // Like SQLite, a known client_message_id wins over a missing conversation.
            return duplicate_or_missing(&self.pool, &new).await;
        };
        // Under the lock this sees any retry committed on this conversation; the rollback
        // gives the seqs back, so a duplicate leaves no gap.
        if let Some(message) = find_duplicate(&mut *tx, &new).await? {
            tx.rollback().await.map_err(store_error)?;
            return Ok(AppendOutcome {
                message,
                duplicate: true,
                event_seq: None,
            });
        }
        let mentions = (!new.mentions.is_empty()).then_some(Json(&new.mentions));
        let attachments = if new.attachments.is_empty() {
            None
        } else {
            Some(serde_json::to_string(&new.attachments).map_err(StoreError::backend)?)
        };
        let inserted = sqlx::query(
            "INSERT INTO messages (conversation_id, seq, id, sender_id, kind, content, \
               client_message_id, reply_to_id, mentions, created_at, pii_masked, \
               thread_root_id, thread_root_seq, attachments) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(new.conversation_id.0)
        .bind(seq)
        .bind(new.id.0)
        .bind(new.sender_id.as_ref().map(UserId::as_str))
        .bind(new.kind.as_str())
        .bind(new.content.as_deref())
        .bind(new.client_message_id.as_deref())
        .bind(new.reply_to_id.map(|id| id.0))
        .bind(mentions)
        .bind(now)
        .bind(new.pii_masked)
        .bind(new.thread_root.map(|(id, _)| id.0))
        .bind(new.thread_root.map(|(_, root)| seq_param(root.0)))
        .bind(attachments)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            // A retry of the same message was in flight in another conversation (a
            // client_message_id is unique per sender, not per conversation): the insert
            // waited for it and lost. Its message is committed now; answer with it. Any
            // unique index may report the clash first (the retry may reuse the message
            // id too), so look for the original whichever it was.
            Err(err) if new.client_message_id.is_some() && is_unique_violation(&err) => {
                tx.rollback().await.map_err(store_error)?;
                return match duplicate_or_missing(&self.pool, &new).await {
                    Err(StoreError::NotFound) => Err(store_error(err)),
                    other => other,
                };
            }
            Err(err) => return Err(store_error(err)),
        }
        for attachment in &new.attachments {
            let taken = sqlx::query(
                "UPDATE attachments SET conversation_id = $2, message_id = $3 \
                 WHERE id = $1 AND uploader_id = $4 AND message_id IS NULL \
                 AND deleted_at IS NULL AND scan_status <> 'infected'",
            )
            .bind(attachment.id.0)
            .bind(new.conversation_id.0)
            .bind(new.id.0)
            .bind(new.sender_id.as_ref().map(UserId::as_str))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
            if taken.rows_affected() != 1 {
                return Err(StoreError::Conflict("attachment".into()));
            }
        }
        if let Some(sender) = &new.sender_id {
            sqlx::query(
                "UPDATE participants SET last_read_seq = $3, last_read_at = $4, \
                   last_delivered_seq = GREATEST(last_delivered_seq, $3) \
                 WHERE conversation_id = $1 AND user_id = $2 AND last_read_seq < $3",
            )
            .bind(new.conversation_id.0)
            .bind(sender.as_str())
            .bind(seq)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        }
        insert_event(
            &mut tx,
            new.conversation_id,
            event_seq,
            payload::message_created(),
            Some(seq),
            new.now,
        )
        .await?;
        if let Some((_, root_seq)) = new.thread_root {
            sqlx::query(
                "UPDATE messages SET thread_reply_count = thread_reply_count + 1, thread_last_reply_at = $3 \
                 WHERE conversation_id = $1 AND seq = $2",
            )
            .bind(new.conversation_id.0)
            .bind(seq_param(root_seq.0))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
            if let Some(sender) = &new.sender_id {
                follow_thread(&mut tx, new.conversation_id, root_seq, sender, now).await?;
            }
            let thread_seq = next_event_seq(&mut tx, new.conversation_id, new.now)
                .await?
                .ok_or(StoreError::NotFound)?;
            insert_event(
                &mut tx,
                new.conversation_id,
                thread_seq,
                payload::thread_updated(),
                Some(seq_param(root_seq.0)),
                new.now,
            )
            .await?;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(appended(new, seq, event_seq))
    }

    async fn find_message(&self, message_id: MessageId) -> Result<Option<MessageRecord>> {
        sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.id = $1"
        ))
        .bind(message_id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .map(|row| rows::required_message(&row))
        .transpose()
    }

    async fn message_page(
        &self,
        conversation_id: ConversationId,
        query: MessageQuery,
    ) -> Result<(Vec<MessageRecord>, ReadMarkers)> {
        select_page(&self.shelf, conversation_id, query).await
    }

    async fn edit_message(&self, edit: MessageEdit) -> Result<(MessageRecord, EventSeq)> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let current = lock_message(&mut tx, edit.message_id).await?;
        if current.deleted_at.is_some() {
            return Err(StoreError::Conflict("deleted".into()));
        }
        let now = to_micros(edit.now);
        sqlx::query(
            "INSERT INTO message_edits (message_id, edit_no, content, edited_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(edit.message_id.0)
        .bind(i32::try_from(current.edit_count).unwrap_or(i32::MAX - 1) + 1)
        .bind(&current.content)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        sqlx::query(
            "UPDATE messages SET content = $3, edited_at = $4, edit_count = edit_count + 1, pii_masked = $5 \
             WHERE conversation_id = $1 AND seq = $2",
        )
        .bind(current.conversation_id.0)
        .bind(seq_param(current.seq.0))
        .bind(&edit.content)
        .bind(now)
        .bind(edit.pii_masked)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        sqlx::query("UPDATE conversations SET last_message_text = $3 WHERE id = $1 AND last_message_seq = $2")
            .bind(current.conversation_id.0)
            .bind(seq_param(current.seq.0))
            .bind(preview_text(Some(&edit.content)))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        let seq = next_event_seq(&mut tx, current.conversation_id, edit.now)
            .await?
            .ok_or(StoreError::NotFound)?;
        let event_seq = insert_event(
            &mut tx,
            current.conversation_id,
            seq,
            payload::message_updated(),
            Some(seq_param(current.seq.0)),
            edit.now,
        )
        .await?;
        let updated = select_message(&mut *tx, edit.message_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await.map_err(store_error)?;
        Ok((updated, event_seq))
    }

    async fn list_message_edits(&self, message_id: MessageId) -> Result<Vec<EditRecord>> {
        let rows: Vec<(Option<String>, i64)> = sqlx::query_as(
            "SELECT content, edited_at FROM message_edits WHERE message_id = $1 ORDER BY edit_no",
        )
        .bind(message_id.0)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(|(content, edited_at)| EditRecord {
                content,
                edited_at: natter_store::from_micros(edited_at),
            })
            .collect())
    }

    async fn delete_message(
        &self,
        message_id: MessageId,
        deleted_by: Option<&UserId>,
        now: Timestamp,
    ) -> Result<(MessageRecord, EventSeq)> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let current = lock_message(&mut tx, message_id).await?;
        if current.deleted_at.is_some() {
            return Err(StoreError::Conflict("deleted".into()));
        }
        sqlx::query("UPDATE messages SET deleted_at = $3, deleted_by = $4 WHERE conversation_id = $1 AND seq = $2")
            .bind(current.conversation_id.0)
            .bind(seq_param(current.seq.0))
            .bind(to_micros(now))
            .bind(deleted_by.map(UserId::as_str))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        sqlx::query("UPDATE attachments SET deleted_at = $2 WHERE message_id = $1")
            .bind(message_id.0)
            .bind(to_micros(now))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        sqlx::query("DELETE FROM reactions WHERE message_id = $1")
            .bind(message_id.0)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        sqlx::query(
            "UPDATE conversations SET last_message_text = NULL, last_message_deleted = TRUE \
             WHERE id = $1 AND last_message_seq = $2",
        )
        .bind(current.conversation_id.0)
        .bind(seq_param(current.seq.0))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        let seq = next_event_seq(&mut tx, current.conversation_id, now)
            .await?
            .ok_or(StoreError::NotFound)?;
        let event_seq = insert_event(
            &mut tx,
            current.conversation_id,
            seq,
            payload::message_deleted(),
            Some(seq_param(current.seq.0)),
            now,
        )
        .await?;
        let deleted = select_message(&mut *tx, message_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await.map_err(store_error)?;
        Ok((deleted, event_seq))
    }

    async fn hide_message(
        &self,
        message: &MessageRecord,
        user_id: &UserId,
        now: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO message_hidden (user_id, message_id, conversation_id, seq, hidden_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, message_id) DO NOTHING",
        )
        .bind(user_id.as_str())
        .bind(message.id.0)
        .bind(message.conversation_id.0)
        .bind(seq_param(message.seq.0))
        .bind(to_micros(now))
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn list_hidden(
        &self,
        user_id: &UserId,
        message_ids: &[MessageId],
    ) -> Result<Vec<MessageId>> {
        if message_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = message_ids.iter().map(|id| id.0).collect();
        let hidden: Vec<Uuid> = sqlx::query_scalar(
            "SELECT message_id FROM message_hidden WHERE user_id = $1 AND message_id = ANY($2)",
        )
        .bind(user_id.as_str())
        .bind(&ids)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(hidden.into_iter().map(MessageId).collect())
    }

    async fn purge_deleted(&self, before: Timestamp, limit: u32) -> Result<u64> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE messages SET content = NULL, mentions = NULL, attachments = NULL WHERE id IN ( \
               SELECT id FROM messages WHERE deleted_at IS NOT NULL AND deleted_at < $1 \
               AND (content IS NOT NULL OR mentions IS NOT NULL OR attachments IS NOT NULL) \
               LIMIT $2 FOR UPDATE SKIP LOCKED) \
             RETURNING id",
        )
        .bind(to_micros(before))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        sqlx::query("UPDATE message_edits SET content = NULL WHERE message_id = ANY($1)")
            .bind(&ids)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(ids.len() as u64)
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
        // Each root the first `per_root` entries of `thread_followers_by_since`.
        let rows = sqlx::query(
            "SELECT r.seq, f.user_id FROM unnest($2::bigint[]) WITH ORDINALITY AS r (seq, n) \
             CROSS JOIN LATERAL (SELECT user_id, since FROM thread_followers \
               WHERE conversation_id = $1 AND root_seq = r.seq \
               ORDER BY since, user_id LIMIT $3) AS f \
             ORDER BY r.n, f.since, f.user_id",
        )
        .bind(conversation_id.0)
        .bind(&seqs)
        .bind(i64::from(per_root))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        rows.iter()
            .map(|row| Ok((MessageSeq(rows::seq(row, 0)?), rows::user_id(row, 1)?)))
            .collect()
    }

    async fn set_thread_follow(
        &self,
        conversation_id: ConversationId,
        root_seq: MessageSeq,
        user_id: &UserId,
        follow: bool,
        now: Timestamp,
    ) -> Result<()> {
        let mut conn = self.pool.acquire().await.map_err(store_error)?;
        if follow {
            follow_thread(
                &mut conn,
                conversation_id,
                root_seq,
                user_id,
                to_micros(now),
            )
            .await
        } else {
            sqlx::query("DELETE FROM thread_followers WHERE conversation_id = $1 AND root_seq = $2 AND user_id = $3")
                .bind(conversation_id.0)
                .bind(seq_param(root_seq.0))
                .bind(user_id.as_str())
                .execute(&mut *conn)
                .await
                .map_err(store_error)?;
            Ok(())
        }
    }

    async fn find_conversation_settings(
        &self,
        conversation_id: ConversationId,
    ) -> Result<SettingsRecord> {
        select_settings(&self.pool, conversation_id).await
    }

    async fn update_conversation_settings(
        &self,
        conversation_id: ConversationId,
        settings: serde_json::Value,
        expected_version: u64,
        changed_by: Option<&UserId>,
        now: Timestamp,
    ) -> Result<SettingsOutcome> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let row = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = $1 FOR NO KEY UPDATE"
        ))
        .bind(conversation_id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?
        .ok_or(StoreError::NotFound)?;
        let conversation = rows::conversation(&row, 0)?;
        let current = select_settings(&mut *tx, conversation_id).await?;
        if current.version != expected_version {
            return Ok(SettingsOutcome::VersionConflict(current));
        }
        let version = current.version + 1;
        let changes = payload::settings_diff(&current.settings, &settings);
        sqlx::query(
            "INSERT INTO conversation_settings (conversation_id, settings, version, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (conversation_id) DO UPDATE SET \
               settings = $2, version = $3, updated_at = $4, updated_by = $5",
        )
        .bind(conversation_id.0)
        .bind(settings.to_string())
        .bind(version as i64)
        .bind(to_micros(now))
        .bind(changed_by.map(UserId::as_str))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        sqlx::query(
            "INSERT INTO conversation_settings_history (conversation_id, version, changed_at, changed_by, changes) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(conversation_id.0)
        .bind(version as i64)
        .bind(to_micros(now))
        .bind(changed_by.map(UserId::as_str))
        .bind(changes.to_string())
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        let event_seq = append_event(
            &mut tx,
            conversation_id,
            payload::settings_updated(&conversation, &settings, version),
            now,
        )
        .await?;
        tx.commit().await.map_err(store_error)?;
        let record = SettingsRecord {
            settings,
            version,
            updated_at: Some(now),
            updated_by: changed_by.cloned(),
        };
        Ok(SettingsOutcome::Updated(record, event_seq))
    }

    async fn list_settings_history(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Vec<SettingsChange>> {
        let rows: Vec<(i64, i64, Option<String>, String)> = sqlx::query_as(
            "SELECT version, changed_at, changed_by, changes FROM conversation_settings_history \
             WHERE conversation_id = $1 ORDER BY version",
        )
        .bind(conversation_id.0)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(
                |(version, changed_at, changed_by, changes)| SettingsChange {
                    version: version as u64,
                    changed_at: natter_store::from_micros(changed_at),
                    changed_by: changed_by.and_then(|raw| UserId::parse(&raw).ok()),
                    changes: serde_json::from_str(&changes).unwrap_or(serde_json::Value::Null),
                },
            )
            .collect())
    }

    async fn insert_invitation(&self, invitation: InvitationRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO invitations (id, conversation_id, created_by, created_at, expires_at, max_uses) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(invitation.id)
        .bind(invitation.conversation_id.0)
        .bind(invitation.created_by.as_ref().map(UserId::as_str))
        .bind(to_micros(invitation.created_at))
        .bind(to_micros(invitation.expires_at))
        .bind(invitation.max_uses.map(|n| i32::try_from(n).unwrap_or(i32::MAX)))
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn find_invitation(&self, id: Uuid) -> Result<Option<InvitationRecord>> {
        let row: Option<InvitationRow> = sqlx::query_as(&format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(row.map(invitation))
    }

    async fn list_invitations(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Vec<InvitationRecord>> {
        let rows: Vec<InvitationRow> = sqlx::query_as(&format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations WHERE conversation_id = $1 ORDER BY created_at DESC"
        ))
        .bind(conversation_id.0)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(rows.into_iter().map(invitation).collect())
    }

    async fn revoke_invitation(&self, id: Uuid, now: Timestamp) -> Result<()> {
        let changed = sqlx::query(
            "UPDATE invitations SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
        )
        .bind(id)
        .bind(to_micros(now))
        .execute(&self.pool)
        .await
        .map_err(store_error)?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn accept_invitation(
        &self,
        id: Uuid,
        user_id: &UserId,
        now: Timestamp,
    ) -> Result<AcceptOutcome> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let conversation_id: Uuid =
            sqlx::query_scalar("SELECT conversation_id FROM invitations WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(store_error)?
                .ok_or(StoreError::NotFound)?;
        // Lock order: the conversation row first, then the invitation.
        let row = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = $1 FOR NO KEY UPDATE"
        ))
        .bind(conversation_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?
        .ok_or(StoreError::NotFound)?;
        let conversation = rows::conversation(&row, 0)?;
        let record: InvitationRow = sqlx::query_as(&format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations WHERE id = $1 FOR UPDATE"
        ))
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(store_error)?;
        let record = invitation(record);
        if record.revoked_at.is_some() {
            return Ok(AcceptOutcome::Revoked);
        }
        if record.expires_at <= now {
            return Ok(AcceptOutcome::Expired);
        }
        let member = select_participant(&mut *tx, conversation.id, user_id).await?;
        if member.as_ref().is_some_and(ParticipantRecord::is_active) {
            return Ok(AcceptOutcome::AlreadyMember);
        }
        if record.max_uses.is_some_and(|max| record.uses >= max) {
            return Ok(AcceptOutcome::Exhausted);
        }
        sqlx::query("UPDATE invitations SET uses = uses + 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        ensure_users(&mut tx, std::iter::once(user_id), now).await?;
        let new = NewParticipant {
            user_id: user_id.clone(),
            role: ParticipantRole::Member,
        };
        let outcome = match add_participant_in(&mut tx, &conversation, &new, now).await? {
            Some((_, event_seq)) => AcceptOutcome::Joined(event_seq),
            None => AcceptOutcome::AlreadyMember,
        };
        tx.commit().await.map_err(store_error)?;
        Ok(outcome)
    }

    async fn add_reaction(
        &self,
        message: &MessageRecord,
        user_id: &UserId,
        emoji: &str,
        max_distinct: u32,
        now: Timestamp,
    ) -> Result<ReactionAdded> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let current = lock_message(&mut tx, message.id).await?;
        if current.deleted_at.is_some() {
            return Err(StoreError::Conflict("deleted".into()));
        }
        let (distinct, has_emoji): (i64, bool) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(BOOL_OR(emoji = $2), FALSE) FROM reaction_counts WHERE message_id = $1",
        )
        .bind(message.id.0)
        .bind(emoji)
        .fetch_one(&mut *tx)
        .await
        .map_err(store_error)?;
        if !has_emoji && distinct >= i64::from(max_distinct) {
            return Err(StoreError::Conflict("too_many_reactions".into()));
        }
        let inserted = sqlx::query(
            "INSERT INTO reactions (message_id, emoji, user_id, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (message_id, emoji, user_id) DO NOTHING",
        )
        .bind(message.id.0)
        .bind(emoji)
        .bind(user_id.as_str())
        .bind(to_micros(now))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected();
        let event_seq = if inserted == 0 {
            None
        } else {
            Some(
                append_event(
                    &mut tx,
                    message.conversation_id,
                    payload::reaction(true, message.id, user_id, emoji),
                    now,
                )
                .await?,
            )
        };
        let groups = select_reaction_groups(&mut *tx, &[message.id.0], Some(user_id)).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(ReactionAdded { event_seq, groups })
    }

    async fn remove_reaction(
        &self,
        message: &MessageRecord,
        user_id: &UserId,
        emoji: &str,
        now: Timestamp,
    ) -> Result<Option<EventSeq>> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        lock_message(&mut tx, message.id).await?;
        let removed = sqlx::query(
            "DELETE FROM reactions WHERE message_id = $1 AND emoji = $2 AND user_id = $3",
        )
        .bind(message.id.0)
        .bind(emoji)
        .bind(user_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected();
        if removed == 0 {
            return Ok(None);
        }
        // A trigger sets `has_reactions` on insert (0012_has_reactions.sql); the last
        // removal clears it here, under the message's row lock (lock_message).
        sqlx::query(
            "UPDATE messages SET has_reactions = EXISTS (SELECT 1 FROM reactions WHERE message_id = $1) \
             WHERE id = $1",
        )
        .bind(message.id.0)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        let event_seq = append_event(
            &mut tx,
            message.conversation_id,
            payload::reaction(false, message.id, user_id, emoji),
            now,
        )
        .await?;
        tx.commit().await.map_err(store_error)?;
        Ok(Some(event_seq))
    }

    async fn list_reactions(&self, message_ids: &[MessageId]) -> Result<Vec<ReactionRecord>> {
        if message_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = message_ids.iter().map(|id| id.0).collect();
        select_reactions(&self.pool, &ids).await
    }

    async fn list_reactors(
        &self,
        message_id: MessageId,
        emoji: &str,
        after: Option<(Timestamp, &UserId)>,
        limit: u32,
    ) -> Result<Vec<ReactionRecord>> {
        let after = after.map_or((i64::MIN, ""), |(at, user)| (to_micros(at), user.as_str()));
        select_reactors(&self.pool, message_id, emoji, after, limit).await
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
        select_reaction_groups(&self.pool, &ids, viewer).await
    }

    async fn mark_read(
        &self,
        conversation_id: ConversationId,
        user_id: &UserId,
        up_to: MessageSeq,
        now: Timestamp,
    ) -> Result<ReadOutcome> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let outcome = mark_read_in(&mut tx, conversation_id, user_id, up_to, now).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(outcome)
    }

    async fn mark_read_many(
        &self,
        user_id: &UserId,
        targets: ReadTargets,
        now: Timestamp,
    ) -> Result<Vec<ReadOutcome>> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let conversation_ids: Vec<ConversationId> = match targets {
            ReadTargets::Some(ids) => ids,
            ReadTargets::All => sqlx::query_scalar(
                "SELECT conversation_id FROM participants \
                 WHERE user_id = $1 AND left_at IS NULL ORDER BY conversation_id",
            )
            .bind(user_id.as_str())
            .fetch_all(&mut *tx)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(ConversationId)
            .collect(),
        };
        // Lock every target up front in id order: two bulk reads over overlapping
        // conversations then queue instead of deadlocking. The outcomes keep the
        // caller's order.
        let ids: Vec<Uuid> = conversation_ids.iter().map(|id| id.0).collect();
        sqlx::query(
            "SELECT id FROM conversations WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
        )
        .bind(ids)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        let mut outcomes = Vec::with_capacity(conversation_ids.len());
        for conversation_id in conversation_ids {
            match mark_read_in(&mut tx, conversation_id, user_id, MessageSeq(u64::MAX), now).await {
                Ok(outcome) => outcomes.push(outcome),
                Err(StoreError::NotFound) => continue,
                Err(err) => return Err(err),
            }
        }
        tx.commit().await.map_err(store_error)?;
        Ok(outcomes)
    }

    async fn list_events(
        &self,
        conversation_id: ConversationId,
        after: EventSeq,
        limit: u32,
    ) -> Result<Vec<EventRecord>> {
        select_events(&self.pool, conversation_id, after, limit).await
    }

    async fn mark_delivered(
        &self,
        conversation_id: ConversationId,
        user_id: &UserId,
        up_to: MessageSeq,
        now: Timestamp,
    ) -> Result<Option<EventSeq>> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let last: i64 = sqlx::query_scalar(
            "SELECT last_message_seq FROM conversations WHERE id = $1 FOR NO KEY UPDATE",
        )
        .bind(conversation_id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?
        .ok_or(StoreError::NotFound)?;
        let (read, read_at, delivered): (i64, Option<i64>, i64) = sqlx::query_as(
            "SELECT last_read_seq, last_read_at, last_delivered_seq FROM participants \
             WHERE conversation_id = $1 AND user_id = $2 AND left_at IS NULL",
        )
        .bind(conversation_id.0)
        .bind(user_id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?
        .ok_or(StoreError::NotFound)?;
        let target = seq_param(up_to.0).min(last);
        if target <= delivered {
            return Ok(None);
        }
        sqlx::query(
            "UPDATE participants SET last_delivered_seq = $3 \
             WHERE conversation_id = $1 AND user_id = $2",
        )
        .bind(conversation_id.0)
        .bind(user_id.as_str())
        .bind(target)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        let draft = payload::receipt_updated(
            user_id,
            read as u64,
            read_at.map(natter_store::from_micros),
            target as u64,
        );
        let event_seq = append_event(&mut tx, conversation_id, draft, now).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(Some(event_seq))
    }

    async fn set_last_seen(&self, user_id: &UserId, at: Timestamp) -> Result<()> {
        sqlx::query("UPDATE users SET last_seen_at = $2 WHERE id = $1")
            .bind(user_id.as_str())
            .bind(to_micros(at))
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn load_fanout(
        &self,
        conversation_id: ConversationId,
        after: EventSeq,
        limit: u32,
    ) -> Result<FanoutBatch> {
        // One statement, so one snapshot: the members match the newest event returned. The
        // first row carries them (an uncorrelated subquery runs once); without events no
        // row comes back and nobody needs them.
        let mut kept = self.shelf.take().await.map_err(store_error)?;
        let rows = sqlx::query(&format!(
            "SELECT e.seq, e.kind, e.data::text, e.created_at, {MESSAGE_COLUMNS}, \
               CASE WHEN row_number() OVER (ORDER BY e.seq) = 1 THEN \
                 (SELECT array_agg(p.user_id) FROM participants p \
                  WHERE p.conversation_id = $1 AND p.left_at IS NULL) END \
             FROM events e \
             LEFT JOIN messages m ON m.conversation_id = e.conversation_id AND m.seq = e.message_seq \
             WHERE e.conversation_id = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3"
        ))
        .bind(conversation_id.0)
        .bind(seq_param(after.0))
        .bind(i64::from(limit))
        .fetch_all(kept.conn())
        .await
        .map_err(store_error)?;
        kept.give_back();
        let members: Vec<String> = match rows.first() {
            Some(first) => {
                rows::get::<Option<Vec<String>>>(first, 4 + MESSAGE_WIDTH)?.unwrap_or_default()
            }
            None => Vec::new(),
        };
        let members = members
            .into_iter()
            .map(|raw| {
                UserId::parse(&raw)
                    .map_err(|_| StoreError::Backend("invalid user id of a participant".into()))
            })
            .collect::<Result<_>>()?;
        let events = rows
            .iter()
            .map(|row| event_row(row, conversation_id))
            .collect::<Result<_>>()?;
        Ok(FanoutBatch { events, members })
    }

    async fn list_changed_conversations(
        &self,
        user_id: &UserId,
        since: Timestamp,
    ) -> Result<Vec<SyncRecord>> {
        sqlx::query(
            "SELECT c.id, c.last_event_seq, p.left_at IS NOT NULL FROM participants p \
             JOIN conversations c ON c.id = p.conversation_id \
             WHERE p.user_id = $1 AND ((p.left_at IS NULL AND c.last_event_at >= $2) \
               OR (p.left_at IS NOT NULL AND p.left_at >= $2)) \
             ORDER BY c.last_event_at, c.id",
        )
        .bind(user_id.as_str())
        .bind(to_micros(since))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?
        .iter()
        .map(|row| {
            Ok(SyncRecord {
                conversation_id: ConversationId(rows::get(row, 0)?),
                last_event_seq: EventSeq(rows::seq(row, 1)?),
                removed: rows::get(row, 2)?,
            })
        })
        .collect()
    }
}
