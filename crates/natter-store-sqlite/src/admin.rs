//! [`AdminStore`] for SQLite: the audit log, the admin conversation list, exports,
//! statistics and user erasure, over the tables and indexes of `migrations/0004_admin.sql`.
//!
//! Same rules as [`crate::queries`]: writes run on the writer thread, reads on the reader
//! pool; reads that combine several statements (an export page, the global counts) run in
//! one read transaction so that they come from one WAL snapshot. Events are appended with
//! [`crate::queries::append_event`], so erasure logs exactly what a delete logs.

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
use rusqlite::types::{ToSql, Type};
use rusqlite::{params, params_from_iter, Connection, Row};
use uuid::Uuid;

use crate::error::store_error;
use crate::queries::append_event;
use crate::rows::{self, CONVERSATION_COLUMNS, MESSAGE_COLUMNS, PARTICIPANT_COLUMNS};
use crate::SqliteStore;

type Result<T> = std::result::Result<T, StoreError>;

const AUDIT_COLUMNS: &str = "id, at, actor_id, server_key, action, target_kind, target_id, details";

/// Microseconds in a day: the width of a per-day bucket.
const DAY_MICROS: i64 = 86_400_000_000;

fn bad(index: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, Type::Text, format!("invalid {what}").into())
}

fn seq_param(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

fn count(raw: i64) -> u64 {
    u64::try_from(raw).unwrap_or_default()
}

fn user_id(row: &Row<'_>, index: usize) -> rusqlite::Result<UserId> {
    let raw: String = row.get(index)?;
    UserId::parse(&raw).map_err(|_| bad(index, "user id"))
}

fn audit(row: &Row<'_>) -> rusqlite::Result<AuditRecord> {
    let actor = match row.get::<_, Option<String>>(2)? {
        Some(raw) => Some(UserId::parse(&raw).map_err(|_| bad(2, "user id"))?),
        None => None,
    };
    let (kind, id): (String, String) = (row.get(5)?, row.get(6)?);
    let details: String = row.get(7)?;
    Ok(AuditRecord {
        id: count(row.get(0)?),
        at: from_micros(row.get(1)?),
        actor,
        server_key: row.get(3)?,
        action: row.get(4)?,
        target: AuditTarget::parse(&kind, &id).ok_or_else(|| bad(5, "audit target"))?,
        details: serde_json::from_str(&details).map_err(|_| bad(7, "audit details"))?,
    })
}

fn insert_audit_in(conn: &Connection, entry: &NewAuditEntry) -> Result<AuditRecord> {
    conn.prepare_cached(&format!(
        "INSERT INTO audit_log (at, actor_id, server_key, action, target_kind, target_id, details) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING {AUDIT_COLUMNS}"
    ))
    .and_then(|mut stmt| {
        stmt.query_row(
            params![
                to_micros(entry.at),
                entry.actor.as_ref().map(UserId::as_str),
                entry.server_key,
                entry.action,
                entry.target.kind(),
                entry.target.id(),
                entry.details.to_string(),
            ],
            audit,
        )
    })
    .map_err(store_error)
}

/// Runs a `SELECT kind, status, COUNT(*) … GROUP BY kind, status`.
fn conversation_counts(
    conn: &Connection,
    sql: &str,
    params: &[&dyn ToSql],
) -> Result<Vec<ConversationCount>> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| {
            stmt.query_map(params, |row| {
                let (kind, status): (String, String) = (row.get(0)?, row.get(1)?);
                Ok(ConversationCount {
                    kind: ConversationType::parse(&kind).ok_or_else(|| bad(0, "type"))?,
                    status: ConversationStatus::parse(&status).ok_or_else(|| bad(1, "status"))?,
                    count: count(row.get(2)?),
                })
            })?
            .collect()
        })
        .map_err(store_error)
}

fn scalar(conn: &Connection, sql: &str, params: &[&dyn ToSql]) -> Result<u64> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.query_row(params, |row| row.get::<_, i64>(0)))
        .map(count)
        .map_err(store_error)
}

fn select_all_conversations(
    conn: &Connection,
    query: &AdminConversationQuery,
) -> Result<Vec<ConversationRecord>> {
    let mut params: Vec<Box<dyn ToSql>> = Vec::new();
    let mut sql = format!("SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE 1 = 1");
    let mut filter = |sql: &mut String, condition: &str, value: Box<dyn ToSql>| {
        params.push(value);
        sql.push_str(&format!(" AND {condition} ?{}", params.len()));
    };
    if let Some(kind) = query.kind {
        filter(&mut sql, "c.kind =", Box::new(kind.as_str()));
    }
    if let Some(status) = query.status {
        filter(&mut sql, "c.status =", Box::new(status.as_str()));
    }
    if let Some(kind) = &query.context_kind {
        filter(&mut sql, "c.context_kind =", Box::new(kind.clone()));
    }
    if let Some(id) = &query.context_id {
        filter(&mut sql, "c.context_id =", Box::new(id.clone()));
    }
    if let Some(user) = &query.participant {
        filter(
            &mut sql,
            "c.id IN (SELECT p.conversation_id FROM participants p WHERE p.user_id =",
            Box::new(user.as_str().to_owned()),
        );
        sql.push(')');
    }
    if let Some(from) = query.created_from {
        filter(&mut sql, "c.created_at >=", Box::new(to_micros(from)));
    }
    if let Some(to) = query.created_to {
        filter(&mut sql, "c.created_at <", Box::new(to_micros(to)));
    }
    if let Some((at, id)) = query.after {
        params.push(Box::new(to_micros(at)));
        let at = params.len();
        params.push(Box::new(id.0));
        let id = params.len();
        sql.push_str(&format!(
            " AND (c.created_at < ?{at} OR (c.created_at = ?{at} AND c.id < ?{id}))"
        ));
    }
    params.push(Box::new(i64::from(query.limit)));
    sql.push_str(&format!(
        " ORDER BY c.created_at DESC, c.id DESC LIMIT ?{}",
        params.len()
    ));
    conn.prepare(&sql)
        .and_then(|mut stmt| {
            stmt.query_map(params_from_iter(params.iter()), |row| {
                rows::conversation(row, 0)
            })?
            .collect()
        })
        .map_err(store_error)
}

fn export_page(
    conn: &Connection,
    conversation_id: ConversationId,
    after: MessageSeq,
    limit: u32,
) -> Result<Vec<ExportMessageRecord>> {
    let after = seq_param(after.0);
    let messages = conn
        .prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = ?1 AND m.seq > ?2 \
             ORDER BY m.seq LIMIT ?3"
        ))
        .and_then(|mut stmt| {
            stmt.query_map(
                params![conversation_id.0, after, i64::from(limit)],
                rows::required_message,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(store_error)?;
    let Some(last) = messages.last().map(|m| seq_param(m.seq.0)) else {
        return Ok(Vec::new());
    };
    let range = params![conversation_id.0, after, last];
    let mut edits: HashMap<MessageId, Vec<EditRecord>> = HashMap::new();
    conn.prepare_cached(
        "SELECT e.message_id, e.content, e.edited_at FROM messages m \
         JOIN message_edits e ON e.message_id = m.id \
         WHERE m.conversation_id = ?1 AND m.seq > ?2 AND m.seq <= ?3 ORDER BY m.seq, e.edit_no",
    )
    .and_then(|mut stmt| {
        let mut found = stmt.query(range)?;
        while let Some(row) = found.next()? {
            edits
                .entry(MessageId(row.get(0)?))
                .or_default()
                .push(EditRecord {
                    content: row.get(1)?,
                    edited_at: from_micros(row.get(2)?),
                });
        }
        Ok(())
    })
    .map_err(store_error)?;
    let mut reactions: HashMap<MessageId, Vec<ReactionRecord>> = HashMap::new();
    conn.prepare_cached(
        "SELECT r.message_id, r.emoji, r.user_id, r.created_at FROM messages m \
         JOIN reactions r ON r.message_id = m.id \
         WHERE m.conversation_id = ?1 AND m.seq > ?2 AND m.seq <= ?3 \
         ORDER BY m.seq, r.created_at, r.emoji, r.user_id",
    )
    .and_then(|mut stmt| {
        let mut found = stmt.query(range)?;
        while let Some(row) = found.next()? {
            let message_id = MessageId(row.get(0)?);
            reactions
                .entry(message_id)
                .or_default()
                .push(ReactionRecord {
                    message_id,
                    emoji: row.get(1)?,
                    user_id: user_id(row, 2)?,
                    created_at: from_micros(row.get(3)?),
                });
        }
        Ok(())
    })
    .map_err(store_error)?;
    Ok(messages
        .into_iter()
        .map(|message| ExportMessageRecord {
            edits: edits.remove(&message.id).unwrap_or_default(),
            reactions: reactions.remove(&message.id).unwrap_or_default(),
            message,
        })
        .collect())
}

fn global_stats(conn: &Connection, windows: &StatsWindows) -> Result<GlobalStatsRecord> {
    let users = scalar(conn, "SELECT COUNT(*) FROM users", &[])?;
    let conversations = conversation_counts(
        conn,
        "SELECT kind, status, COUNT(*) FROM conversations GROUP BY kind, status",
        &[],
    )?;
    // Messages are never removed (deleted ones stay as tombstones), so the counters on the
    // conversations add up to the number of message rows without scanning them.
    let messages = scalar(
        conn,
        "SELECT COALESCE(SUM(message_count), 0) FROM conversations",
        &[],
    )?;
    let active = "SELECT COUNT(DISTINCT sender_id) FROM messages \
                  WHERE created_at >= ?1 AND sender_id IS NOT NULL";
    let active_last_day = scalar(conn, active, &[&to_micros(windows.day_since)])?;
    let active_last_week = scalar(conn, active, &[&to_micros(windows.week_since)])?;
    let from = to_micros(windows.days_from);
    let to = from.saturating_add(DAY_MICROS.saturating_mul(i64::from(windows.days)));
    let mut messages_per_day = vec![0; windows.days as usize];
    conn.prepare_cached(
        "SELECT (created_at - ?1) / ?3, COUNT(*) FROM messages \
         WHERE created_at >= ?1 AND created_at < ?2 GROUP BY 1",
    )
    .and_then(|mut stmt| {
        let mut found = stmt.query(params![from, to, DAY_MICROS])?;
        while let Some(row) = found.next()? {
            let day: i64 = row.get(0)?;
            if let Some(slot) = usize::try_from(day)
                .ok()
                .and_then(|day| messages_per_day.get_mut(day))
            {
                *slot = count(row.get(1)?);
            }
        }
        Ok(())
    })
    .map_err(store_error)?;
    Ok(GlobalStatsRecord {
        users,
        conversations,
        messages,
        active_last_day,
        active_last_week,
        messages_per_day,
    })
}

fn erase_in(conn: &Connection, erasure: &Erasure) -> Result<ErasureOutcome> {
    let user = erasure.user_id.as_str();
    let cleared = conn
        .prepare_cached("UPDATE users SET display_name = NULL, avatar_url = NULL WHERE id = ?1")
        .and_then(|mut stmt| stmt.execute([user]))
        .map_err(store_error)?;
    if cleared == 0 {
        return Err(StoreError::NotFound);
    }
    // The messages this erasure deletes (those deleted before only lose what is left).
    let erased: Vec<(Uuid, i64)> = conn
        .prepare_cached(
            "SELECT conversation_id, seq FROM messages WHERE sender_id = ?1 AND deleted_at IS NULL \
             ORDER BY conversation_id, seq",
        )
        .and_then(|mut stmt| {
            stmt.query_map([user], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
        .map_err(store_error)?;
    conn.prepare_cached(
        "UPDATE message_edits SET content = NULL WHERE content IS NOT NULL \
         AND message_id IN (SELECT id FROM messages WHERE sender_id = ?1)",
    )
    .and_then(|mut stmt| stmt.execute([user]))
    .map_err(store_error)?;
    // Reactions go with a deleted message, as in `delete_message`: no events of their own.
    conn.prepare_cached(
        "DELETE FROM reactions WHERE message_id IN (SELECT id FROM messages WHERE sender_id = ?1)",
    )
    .and_then(|mut stmt| stmt.execute([user]))
    .map_err(store_error)?;
    // What is left of the user's reactions is on other people's messages.
    let reactions: Vec<(Uuid, Uuid, String)> = conn
        .prepare_cached(
            "SELECT m.conversation_id, r.message_id, r.emoji FROM reactions r \
             JOIN messages m ON m.id = r.message_id WHERE r.user_id = ?1 \
             ORDER BY m.conversation_id, r.created_at, r.message_id, r.emoji",
        )
        .and_then(|mut stmt| {
            stmt.query_map([user], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                .collect()
        })
        .map_err(store_error)?;
    conn.prepare_cached("DELETE FROM reactions WHERE user_id = ?1")
        .and_then(|mut stmt| stmt.execute([user]))
        .map_err(store_error)?;
    conn.prepare_cached(
        "UPDATE messages \
         SET deleted_at = COALESCE(deleted_at, ?2), content = NULL, mentions = NULL, \
           attachments = NULL \
         WHERE sender_id = ?1 \
         AND (deleted_at IS NULL OR content IS NOT NULL OR mentions IS NOT NULL \
              OR attachments IS NOT NULL)",
    )
    .and_then(|mut stmt| stmt.execute(params![user, to_micros(erasure.now)]))
    .map_err(store_error)?;
    // The user's uploads go at the next cleanup run (deleted "at time 0" is older than any
    // retention period), attached or not.
    conn.prepare_cached("UPDATE attachments SET deleted_at = 0 WHERE uploader_id = ?1")
        .and_then(|mut stmt| stmt.execute([user]))
        .map_err(store_error)?;
    let mut latest: BTreeMap<Uuid, EventSeq> = BTreeMap::new();
    for (conversation, seq) in &erased {
        conn.prepare_cached(
            "UPDATE conversations SET last_message_text = NULL, last_message_deleted = 1 \
             WHERE id = ?1 AND last_message_seq = ?2",
        )
        .and_then(|mut stmt| stmt.execute(params![conversation, seq]))
        .map_err(store_error)?;
        let event_seq = append_event(
            conn,
            ConversationId(*conversation),
            payload::message_deleted(),
            Some(count(*seq)),
            erasure.now,
        )?;
        latest.insert(*conversation, event_seq);
    }
    for (conversation, message_id, emoji) in &reactions {
        let draft = payload::reaction(false, MessageId(*message_id), &erasure.user_id, emoji);
        let event_seq = append_event(
            conn,
            ConversationId(*conversation),
            draft,
            None,
            erasure.now,
        )?;
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
    insert_audit_in(conn, &erasure.audit_with(&outcome))?;
    Ok(outcome)
}

#[async_trait]
impl AdminStore for SqliteStore {
    async fn insert_audit(&self, entry: NewAuditEntry) -> Result<AuditRecord> {
        self.writer
            .write(move |conn| insert_audit_in(conn, &entry))
            .await
    }

    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        let before = query.before.map_or(i64::MAX, seq_param);
        let limit = i64::from(query.limit);
        self.readers
            .read(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE id < ?1 ORDER BY id DESC LIMIT ?2"
                ))
                .and_then(|mut stmt| stmt.query_map(params![before, limit], audit)?.collect())
                .map_err(store_error)
            })
            .await
    }

    async fn list_all_conversations(
        &self,
        query: &AdminConversationQuery,
    ) -> Result<Vec<ConversationRecord>> {
        let query = query.clone();
        self.readers
            .read(move |conn| select_all_conversations(conn, &query))
            .await
    }

    async fn list_participant_history(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Vec<ParticipantRecord>> {
        self.readers
            .read(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {PARTICIPANT_COLUMNS} FROM participants p WHERE p.conversation_id = ?1 \
                     ORDER BY p.joined_at, p.user_id"
                ))
                .and_then(|mut stmt| {
                    stmt.query_map([conversation_id.0], |row| rows::participant(row, 0))?
                        .collect()
                })
                .map_err(store_error)
            })
            .await
    }

    async fn list_export_messages(
        &self,
        conversation_id: ConversationId,
        after: MessageSeq,
        limit: u32,
    ) -> Result<Vec<ExportMessageRecord>> {
        self.readers
            .read(move |conn| {
                let snapshot = conn.unchecked_transaction().map_err(store_error)?;
                let page = export_page(&snapshot, conversation_id, after, limit)?;
                snapshot.finish().map_err(store_error)?;
                Ok(page)
            })
            .await
    }

    async fn get_user_stats(&self, user_id: &UserId) -> Result<UserStatsRecord> {
        let user_id = user_id.clone();
        self.readers
            .read(move |conn| {
                let snapshot = conn.unchecked_transaction().map_err(store_error)?;
                let user = user_id.as_str();
                let conversations = conversation_counts(
                    &snapshot,
                    "SELECT c.kind, c.status, COUNT(*) FROM participants p \
                     JOIN conversations c ON c.id = p.conversation_id \
                     WHERE p.user_id = ?1 AND p.left_at IS NULL GROUP BY c.kind, c.status",
                    &[&user],
                )?;
                let messages_sent = scalar(
                    &snapshot,
                    "SELECT COUNT(*) FROM messages WHERE sender_id = ?1",
                    &[&user],
                )?;
                snapshot.finish().map_err(store_error)?;
                Ok(UserStatsRecord {
                    conversations,
                    messages_sent,
                })
            })
            .await
    }

    async fn get_global_stats(&self, windows: &StatsWindows) -> Result<GlobalStatsRecord> {
        let windows = windows.clone();
        self.readers
            .read(move |conn| {
                let snapshot = conn.unchecked_transaction().map_err(store_error)?;
                let stats = global_stats(&snapshot, &windows)?;
                snapshot.finish().map_err(store_error)?;
                Ok(stats)
            })
            .await
    }

    async fn erase_user(&self, erasure: Erasure) -> Result<ErasureOutcome> {
        self.writer
            .write(move |conn| erase_in(conn, &erasure))
            .await
    }
}
