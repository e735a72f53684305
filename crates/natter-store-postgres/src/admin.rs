//! [`AdminStore`] for PostgreSQL: the audit log, the admin conversation list, exports,
//! statistics and user erasure, over the table and indexes of `migrations/0005_admin.sql`.
//!
//! A port of the SQLite store's `admin.rs`, method by method. Reads that combine several
//! statements (an export page, the counts) run in one `REPEATABLE READ READ ONLY`
//! transaction, the equivalent of SQLite's one WAL snapshot. Erasure follows the crate's
//! lock order: it locks every conversation it will change, by id, before any message,
//! reaction or user row, and appends events with the same helpers as a delete.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use natter_proto::{
    ConversationId, ConversationStatus, ConversationType, EventSeq, MessageId, MessageSeq, UserId,
};
use natter_store::admin::{
    AdminConversationQuery, AuditQuery, AuditRecord, AuditTarget, ConversationCount, Erasure,
    ErasureOutcome, ExportMessageRecord, GlobalStatsRecord, NewAuditEntry, StatsWindows,
    UserStatsRecord,
};
use natter_store::{
    from_micros, payload, to_micros, AdminStore, ConversationRecord, EditRecord, ParticipantRecord,
    ReactionRecord, StoreError,
};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Arguments, PgConnection, PgExecutor};
use uuid::Uuid;

use crate::error::store_error;
use crate::queries::{insert_event, next_event_seq};
use crate::rows::{self, CONVERSATION_COLUMNS, MESSAGE_COLUMNS, PARTICIPANT_COLUMNS};
use crate::PostgresStore;

type Result<T> = std::result::Result<T, StoreError>;

const AUDIT_COLUMNS: &str =
    "id, at, actor_id, server_key, action, target_kind, target_id, details::text";

/// Microseconds in a day: the width of a per-day bucket.
const DAY_MICROS: i64 = 86_400_000_000;

/// How often erasure starts over when a conversation it must lock appeared after it took
/// its locks (the user sent into a new conversation meanwhile).
const ERASE_ATTEMPTS: usize = 3;

fn bad(what: &str) -> StoreError {
    StoreError::Backend(format!("invalid {what}").into())
}

fn seq_param(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

fn count(raw: i64) -> u64 {
    u64::try_from(raw).unwrap_or_default()
}

/// Statement text and its arguments, `$n` numbered in push order.
#[derive(Default)]
struct Statement {
    sql: String,
    arguments: PgArguments,
    count: usize,
}

impl Statement {
    /// Binds `value` and returns its placeholder.
    fn bind<'q, T>(&mut self, value: T) -> Result<String>
    where
        T: 'q + sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send,
    {
        self.arguments.add(value).map_err(StoreError::Backend)?;
        self.count += 1;
        Ok(format!("${}", self.count))
    }
}

fn audit(row: &PgRow) -> Result<AuditRecord> {
    let kind: String = rows::get(row, 5)?;
    let id: String = rows::get(row, 6)?;
    let details: String = rows::get(row, 7)?;
    Ok(AuditRecord {
        id: count(rows::get(row, 0)?),
        at: from_micros(rows::get(row, 1)?),
        actor: rows::opt_user_id(row, 2)?,
        server_key: rows::get(row, 3)?,
        action: rows::get(row, 4)?,
        target: AuditTarget::parse(&kind, &id).ok_or_else(|| bad("audit target"))?,
        details: serde_json::from_str(&details).map_err(|_| bad("audit details"))?,
    })
}

async fn insert_audit_in<'c>(
    executor: impl PgExecutor<'c>,
    entry: &NewAuditEntry,
) -> Result<AuditRecord> {
    let row = sqlx::query(&format!(
        "INSERT INTO audit_log (at, actor_id, server_key, action, target_kind, target_id, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7::json) RETURNING {AUDIT_COLUMNS}"
    ))
    .bind(to_micros(entry.at))
    .bind(entry.actor.as_ref().map(UserId::as_str))
    .bind(entry.server_key)
    .bind(&entry.action)
    .bind(entry.target.kind())
    .bind(entry.target.id())
    .bind(entry.details.to_string())
    .fetch_one(executor)
    .await
    .map_err(store_error)?;
    audit(&row)
}

fn conversation_counts(rows: &[PgRow]) -> Result<Vec<ConversationCount>> {
    rows.iter()
        .map(|row| {
            let kind: String = rows::get(row, 0)?;
            let status: String = rows::get(row, 1)?;
            Ok(ConversationCount {
                kind: ConversationType::parse(&kind).ok_or_else(|| bad("conversation type"))?,
                status: ConversationStatus::parse(&status)
                    .ok_or_else(|| bad("conversation status"))?,
                count: count(rows::get(row, 2)?),
            })
        })
        .collect()
}

/// Starts a read-only transaction that sees one snapshot for all its statements.
async fn snapshot(store: &PostgresStore) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
    let mut tx = store.pool.begin().await.map_err(store_error)?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
    Ok(tx)
}

async fn export_page(
    conn: &mut PgConnection,
    conversation_id: ConversationId,
    after: MessageSeq,
    limit: u32,
) -> Result<Vec<ExportMessageRecord>> {
    let after = seq_param(after.0);
    let messages = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = $1 AND m.seq > $2 \
         ORDER BY m.seq LIMIT $3"
    ))
    .bind(conversation_id.0)
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await
    .map_err(store_error)?
    .iter()
    .map(rows::required_message)
    .collect::<Result<Vec<_>>>()?;
    let Some(last) = messages.last().map(|m| seq_param(m.seq.0)) else {
        return Ok(Vec::new());
    };
    let mut edits: HashMap<MessageId, Vec<EditRecord>> = HashMap::new();
    let edit_rows = sqlx::query(
        "SELECT e.message_id, e.content, e.edited_at FROM messages m \
         JOIN message_edits e ON e.message_id = m.id \
         WHERE m.conversation_id = $1 AND m.seq > $2 AND m.seq <= $3 ORDER BY m.seq, e.edit_no",
    )
    .bind(conversation_id.0)
    .bind(after)
    .bind(last)
    .fetch_all(&mut *conn)
    .await
    .map_err(store_error)?;
    for row in &edit_rows {
        edits
            .entry(MessageId(rows::get(row, 0)?))
            .or_default()
            .push(EditRecord {
                content: rows::get(row, 1)?,
                edited_at: from_micros(rows::get(row, 2)?),
            });
    }
    let mut reactions: HashMap<MessageId, Vec<ReactionRecord>> = HashMap::new();
    let reaction_rows = sqlx::query(
        "SELECT r.message_id, r.emoji, r.user_id, r.created_at FROM messages m \
         JOIN reactions r ON r.message_id = m.id \
         WHERE m.conversation_id = $1 AND m.seq > $2 AND m.seq <= $3 \
         ORDER BY m.seq, r.created_at, r.emoji, r.user_id",
    )
    .bind(conversation_id.0)
    .bind(after)
    .bind(last)
    .fetch_all(&mut *conn)
    .await
    .map_err(store_error)?;
    for row in &reaction_rows {
        let message_id = MessageId(rows::get(row, 0)?);
        reactions
            .entry(message_id)
            .or_default()
            .push(ReactionRecord {
                message_id,
                emoji: rows::get(row, 1)?,
                user_id: rows::opt_user_id(row, 2)?.ok_or_else(|| bad("user id"))?,
                created_at: from_micros(rows::get(row, 3)?),
            });
    }
    Ok(messages
        .into_iter()
        .map(|message| ExportMessageRecord {
            edits: edits.remove(&message.id).unwrap_or_default(),
            reactions: reactions.remove(&message.id).unwrap_or_default(),
            message,
        })
        .collect())
}

async fn scalar(conn: &mut PgConnection, sql: &str, bind: Option<i64>) -> Result<u64> {
    let mut query = sqlx::query_scalar::<_, i64>(sql);
    if let Some(value) = bind {
        query = query.bind(value);
    }
    query.fetch_one(conn).await.map(count).map_err(store_error)
}

async fn global_stats(
    conn: &mut PgConnection,
    windows: &StatsWindows,
) -> Result<GlobalStatsRecord> {
    let users = scalar(conn, "SELECT COUNT(*) FROM users", None).await?;
    let conversation_rows =
        sqlx::query("SELECT kind, status, COUNT(*) FROM conversations GROUP BY kind, status")
            .fetch_all(&mut *conn)
            .await
            .map_err(store_error)?;
    let conversations = conversation_counts(&conversation_rows)?;
    // Messages are never removed (deleted ones stay as tombstones), so the counters on the
    // conversations add up to the number of message rows without scanning them.
    let messages = scalar(
        conn,
        "SELECT COALESCE(SUM(message_count), 0)::BIGINT FROM conversations",
        None,
    )
    .await?;
    let active = "SELECT COUNT(DISTINCT sender_id) FROM messages \
                  WHERE created_at >= $1 AND sender_id IS NOT NULL";
    let active_last_day = scalar(conn, active, Some(to_micros(windows.day_since))).await?;
    let active_last_week = scalar(conn, active, Some(to_micros(windows.week_since))).await?;
    let from = to_micros(windows.days_from);
    let to = from.saturating_add(DAY_MICROS.saturating_mul(i64::from(windows.days)));
    let mut messages_per_day = vec![0; windows.days as usize];
    let day_rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT (created_at - $1) / $3, COUNT(*) FROM messages \
         WHERE created_at >= $1 AND created_at < $2 GROUP BY 1",
    )
    .bind(from)
    .bind(to)
    .bind(DAY_MICROS)
    .fetch_all(&mut *conn)
    .await
    .map_err(store_error)?;
    for (day, messages) in day_rows {
        if let Some(slot) = usize::try_from(day)
            .ok()
            .and_then(|day| messages_per_day.get_mut(day))
        {
            *slot = count(messages);
        }
    }
    Ok(GlobalStatsRecord {
        users,
        conversations,
        messages,
        active_last_day,
        active_last_week,
        messages_per_day,
    })
}

/// Conversations an erasure of `user_id` changes: where they sent messages or reacted.
async fn erasure_conversations(conn: &mut PgConnection, user_id: &UserId) -> Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT id FROM (SELECT conversation_id FROM messages WHERE sender_id = $1 \
           UNION SELECT m.conversation_id FROM reactions r JOIN messages m ON m.id = r.message_id \
           WHERE r.user_id = $1) AS affected (id) ORDER BY id",
    )
    .bind(user_id.as_str())
    .fetch_all(conn)
    .await
    .map_err(store_error)
}

/// The erasure proper, once the conversations in `locked` are locked. Only messages and
/// reactions of those conversations are touched, so no lock is taken out of order.
async fn erase_locked(
    conn: &mut PgConnection,
    erasure: &Erasure,
    locked: &[Uuid],
) -> Result<ErasureOutcome> {
    let user = erasure.user_id.as_str();
    let cleared =
        sqlx::query("UPDATE users SET display_name = NULL, avatar_url = NULL WHERE id = $1")
            .bind(user)
            .execute(&mut *conn)
            .await
            .map_err(store_error)?;
    if cleared.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    // The messages this erasure deletes (those deleted before only lose what is left).
    let erased: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT conversation_id, seq FROM messages \
         WHERE sender_id = $1 AND conversation_id = ANY($2) AND deleted_at IS NULL \
         ORDER BY conversation_id, seq FOR UPDATE",
    )
    .bind(user)
    .bind(locked)
    .fetch_all(&mut *conn)
    .await
    .map_err(store_error)?;
    sqlx::query(
        "UPDATE message_edits SET content = NULL WHERE content IS NOT NULL AND message_id IN \
           (SELECT id FROM messages WHERE sender_id = $1 AND conversation_id = ANY($2))",
    )
    .bind(user)
    .bind(locked)
    .execute(&mut *conn)
    .await
    .map_err(store_error)?;
    // Reactions go with a deleted message, as in `delete_message`: no events of their own.
    sqlx::query(
        "DELETE FROM reactions WHERE message_id IN \
           (SELECT id FROM messages WHERE sender_id = $1 AND conversation_id = ANY($2))",
    )
    .bind(user)
    .bind(locked)
    .execute(&mut *conn)
    .await
    .map_err(store_error)?;
    // What is left of the user's reactions is on other people's messages.
    let reactions: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
        "SELECT m.conversation_id, r.message_id, r.emoji FROM reactions r \
         JOIN messages m ON m.id = r.message_id \
         WHERE r.user_id = $1 AND m.conversation_id = ANY($2) \
         ORDER BY m.conversation_id, r.created_at, r.message_id, r.emoji FOR UPDATE OF r",
    )
    .bind(user)
    .bind(locked)
    .fetch_all(&mut *conn)
    .await
    .map_err(store_error)?;
    sqlx::query(
        "DELETE FROM reactions r USING messages m \
         WHERE m.id = r.message_id AND r.user_id = $1 AND m.conversation_id = ANY($2)",
    )
    .bind(user)
    .bind(locked)
    .execute(&mut *conn)
    .await
    .map_err(store_error)?;
    sqlx::query(
        "UPDATE messages \
         SET deleted_at = COALESCE(deleted_at, $3), content = NULL, mentions = NULL, \
           attachments = NULL \
         WHERE sender_id = $1 AND conversation_id = ANY($2) \
         AND (deleted_at IS NULL OR content IS NOT NULL OR mentions IS NOT NULL \
              OR attachments IS NOT NULL)",
    )
    .bind(user)
    .bind(locked)
    .bind(to_micros(erasure.now))
    .execute(&mut *conn)
    .await
    .map_err(store_error)?;
    // The user's uploads go at the next cleanup run (deleted "at time 0" is older than any
    // retention period), attached or not.
    sqlx::query("UPDATE attachments SET deleted_at = 0 WHERE uploader_id = $1")
        .bind(user)
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
    let mut latest: BTreeMap<Uuid, EventSeq> = BTreeMap::new();
    for (conversation, seq) in &erased {
        sqlx::query(
            "UPDATE conversations SET last_message_text = NULL, last_message_deleted = TRUE \
             WHERE id = $1 AND last_message_seq = $2",
        )
        .bind(conversation)
        .bind(seq)
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
        let conversation_id = ConversationId(*conversation);
        let event = next_event_seq(conn, conversation_id, erasure.now)
            .await?
            .ok_or(StoreError::NotFound)?;
        let event_seq = insert_event(
            conn,
            conversation_id,
            event,
            payload::message_deleted(),
            Some(*seq),
            erasure.now,
        )
        .await?;
        latest.insert(*conversation, event_seq);
    }
    for (conversation, message_id, emoji) in &reactions {
        let conversation_id = ConversationId(*conversation);
        let draft = payload::reaction(false, MessageId(*message_id), &erasure.user_id, emoji);
        let event = next_event_seq(conn, conversation_id, erasure.now)
            .await?
            .ok_or(StoreError::NotFound)?;
        let event_seq =
            insert_event(conn, conversation_id, event, draft, None, erasure.now).await?;
        latest.insert(*conversation, event_seq);
    }
    let outcome = ErasureOutcome {
        messages_erased: erased.len() as u64,
        reactions_removed: reactions.len() as u64,
        conversations: latest
            .into_iter()
            .map(|(id, seq)| (ConversationId(id), seq))
            .collect(),
    };
    insert_audit_in(&mut *conn, &erasure.audit_with(&outcome)).await?;
    Ok(outcome)
}

#[async_trait]
impl AdminStore for PostgresStore {
    async fn insert_audit(&self, entry: NewAuditEntry) -> Result<AuditRecord> {
        insert_audit_in(&self.pool, &entry).await
    }

    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        sqlx::query(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(query.before.map_or(i64::MAX, seq_param))
        .bind(i64::from(query.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?
        .iter()
        .map(audit)
        .collect()
    }

    async fn list_all_conversations(
        &self,
        query: &AdminConversationQuery,
    ) -> Result<Vec<ConversationRecord>> {
        let mut statement = Statement::default();
        let mut sql = format!("SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE TRUE");
        if let Some(kind) = query.kind {
            sql.push_str(&format!(" AND c.kind = {}", statement.bind(kind.as_str())?));
        }
        if let Some(status) = query.status {
            sql.push_str(&format!(
                " AND c.status = {}",
                statement.bind(status.as_str())?
            ));
        }
        if let Some(kind) = &query.context_kind {
            sql.push_str(&format!(
                " AND c.context_kind = {}",
                statement.bind(kind.clone())?
            ));
        }
        if let Some(id) = &query.context_id {
            sql.push_str(&format!(
                " AND c.context_id = {}",
                statement.bind(id.clone())?
            ));
        }
        if let Some(user) = &query.participant {
            sql.push_str(&format!(
                " AND c.id IN (SELECT p.conversation_id FROM participants p WHERE p.user_id = {})",
                statement.bind(user.as_str().to_owned())?
            ));
        }
        if let Some(from) = query.created_from {
            sql.push_str(&format!(
                " AND c.created_at >= {}",
                statement.bind(to_micros(from))?
            ));
        }
        if let Some(to) = query.created_to {
            sql.push_str(&format!(
                " AND c.created_at < {}",
                statement.bind(to_micros(to))?
            ));
        }
        if let Some((at, id)) = query.after {
            let at = statement.bind(to_micros(at))?;
            let id = statement.bind(id.0)?;
            sql.push_str(&format!(
                " AND (c.created_at < {at} OR (c.created_at = {at} AND c.id < {id}))"
            ));
        }
        let limit = statement.bind(i64::from(query.limit))?;
        sql.push_str(&format!(
            " ORDER BY c.created_at DESC, c.id DESC LIMIT {limit}"
        ));
        statement.sql = sql;
        sqlx::query_with(&statement.sql, statement.arguments)
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?
            .iter()
            .map(|row| rows::conversation(row, 0))
            .collect()
    }

    async fn list_participant_history(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Vec<ParticipantRecord>> {
        sqlx::query(&format!(
            "SELECT {PARTICIPANT_COLUMNS} FROM participants p WHERE p.conversation_id = $1 \
             ORDER BY p.joined_at, p.user_id"
        ))
        .bind(conversation_id.0)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?
        .iter()
        .map(|row| rows::participant(row, 0))
        .collect()
    }

    async fn list_export_messages(
        &self,
        conversation_id: ConversationId,
        after: MessageSeq,
        limit: u32,
    ) -> Result<Vec<ExportMessageRecord>> {
        let mut tx = snapshot(self).await?;
        let page = export_page(&mut tx, conversation_id, after, limit).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(page)
    }

    async fn get_user_stats(&self, user_id: &UserId) -> Result<UserStatsRecord> {
        let mut tx = snapshot(self).await?;
        let rows = sqlx::query(
            "SELECT c.kind, c.status, COUNT(*) FROM participants p \
             JOIN conversations c ON c.id = p.conversation_id \
             WHERE p.user_id = $1 AND p.left_at IS NULL GROUP BY c.kind, c.status",
        )
        .bind(user_id.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        let conversations = conversation_counts(&rows)?;
        let messages_sent: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE sender_id = $1")
                .bind(user_id.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(UserStatsRecord {
            conversations,
            messages_sent: count(messages_sent),
        })
    }

    async fn get_global_stats(&self, windows: &StatsWindows) -> Result<GlobalStatsRecord> {
        let mut tx = snapshot(self).await?;
        let stats = global_stats(&mut tx, windows).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(stats)
    }

    async fn erase_user(&self, erasure: Erasure) -> Result<ErasureOutcome> {
        for attempt in 1..=ERASE_ATTEMPTS {
            let mut tx = self.pool.begin().await.map_err(store_error)?;
            let locked = erasure_conversations(&mut tx, &erasure.user_id).await?;
            sqlx::query(
                "SELECT id FROM conversations WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
            )
            .bind(&locked)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
            // A message sent meanwhile into a conversation not locked yet: start over, so
            // that it is erased too. After the last attempt, such a late message (sent
            // while the erasure ran) survives it.
            let now_affected = erasure_conversations(&mut tx, &erasure.user_id).await?;
            if attempt < ERASE_ATTEMPTS && now_affected.iter().any(|id| !locked.contains(id)) {
                continue;
            }
            let outcome = erase_locked(&mut tx, &erasure, &locked).await?;
            tx.commit().await.map_err(store_error)?;
            return Ok(outcome);
        }
        Err(StoreError::Backend("erasure did not run".into()))
    }
}
