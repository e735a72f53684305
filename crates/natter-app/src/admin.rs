//! Moderation and statistics: the admin conversation list, conversation exports, user
//! erasure ("right to be forgotten"), the audit log, and the counts of `/v1/stats` and
//! `/v1/admin/stats`.
//!
//! Everything here but [`Admin::user_stats`] is for moderators only: app admins and the
//! server key acting as itself (`Actor::is_moderator`); anyone else gets 403
//! `admin_required`. Reading any conversation, its messages and participants needs no
//! admin endpoint: the ordinary `GET` endpoints already give moderators read access
//! (`Core::access` answers `Access::Moderator`), and blocking, moderator deletes and
//! participant removal are the ordinary endpoints too. Those services record their
//! moderator actions with `Core::audit`; this module records exports and erasures.
//!
//! What this module deliberately does not do: stream exports (an export is built in
//! memory, page by page from the store), or erase a user's participation (they stay a
//! participant; only what they wrote goes).

use std::sync::Arc;

use natter_proto::{
    audit_action, ActiveUsers, AdminStats, AuditEntry, AuditTargetType, Conversation,
    ConversationCounts, ConversationExport, ConversationId, ConversationStatus, ConversationType,
    DailyCount, ErasureResult, ExportedMessage, ExportedParticipant, ExportedReaction, MessageSeq,
    MessageVersion, Page, Timestamp, UserId, UserStats,
};
use natter_store::admin::{
    AdminConversationQuery, AuditQuery, AuditRecord, AuditTarget, ConversationCount, Erasure,
    ExportMessageRecord, StatsWindows,
};
use natter_store::{ParticipantRecord, StoreError};

use crate::conversations::{cut_page, page_cursor, page_limit};
use crate::core::{audit_entry, Core};
use crate::{Actor, AppError, Resource, Validation};

/// Messages read from the store per export page.
const EXPORT_PAGE: u32 = 500;

/// Days of `messages_per_day` in the admin statistics, today included.
const STATS_DAYS: u32 = 30;

/// Filters of `GET /v1/admin/conversations`.
#[derive(Debug, Clone, Default)]
pub struct AdminConversationFilter {
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
    /// Only created at or after this RFC 3339 time.
    pub created_from: Option<String>,
    /// Only created strictly before this RFC 3339 time.
    pub created_to: Option<String>,
    /// Cursor from the previous page's `next`.
    pub cursor: Option<String>,
    /// Page size, 1–100 (default 50).
    pub limit: Option<u32>,
}

/// The moderation and statistics service.
#[derive(Clone)]
pub struct Admin {
    pub(crate) core: Arc<Core>,
}

/// A 403 unless the actor is an app admin or the server key acting as itself.
fn require_admin(actor: &Actor) -> Result<(), AppError> {
    if actor.is_moderator() {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "admin_required",
            "this endpoint needs the app role admin or the server API key",
        ))
    }
}

use crate::conversations::{decode_cursor, encode_cursor};

fn parse_time(validation: &mut Validation, field: &str, raw: Option<&str>) -> Option<Timestamp> {
    let raw = raw?;
    match Timestamp::parse(raw, &time::format_description::well_known::Rfc3339) {
        Ok(at) => Some(at),
        Err(_) => {
            validation.add(
                field,
                "invalid_timestamp",
                "an RFC 3339 time, e.g. 2024-05-01T00:00:00Z",
            );
            None
        }
    }
}

/// Totals per type and status from the store's `(type, status, count)` rows.
fn conversation_counts(rows: &[ConversationCount]) -> ConversationCounts {
    let mut counts = ConversationCounts::default();
    for row in rows {
        counts.total += row.count;
        let by_type = &mut counts.by_type;
        *match row.kind {
            ConversationType::Direct => &mut by_type.direct,
            ConversationType::Group => &mut by_type.group,
            ConversationType::Support => &mut by_type.support,
            ConversationType::Channel => &mut by_type.channel,
        } += row.count;
        let by_status = &mut counts.by_status;
        *match row.status {
            ConversationStatus::Active => &mut by_status.active,
            ConversationStatus::Archived => &mut by_status.archived,
            ConversationStatus::Blocked => &mut by_status.blocked,
        } += row.count;
    }
    counts
}

/// The windows of the admin statistics at `now`: 24 hours, 7 days, and the last
/// [`STATS_DAYS`] UTC days ending with today.
fn stats_windows(now: Timestamp) -> StatsWindows {
    let today = now
        .to_offset(time::UtcOffset::UTC)
        .replace_time(time::Time::MIDNIGHT);
    StatsWindows {
        day_since: now - time::Duration::hours(24),
        week_since: now - time::Duration::days(7),
        days_from: today - time::Duration::days(i64::from(STATS_DAYS) - 1),
        days: STATS_DAYS,
    }
}

fn audit_to_proto(record: AuditRecord) -> AuditEntry {
    let target_type = match &record.target {
        AuditTarget::Conversation(_) => AuditTargetType::Conversation,
        AuditTarget::Message(_) => AuditTargetType::Message,
        AuditTarget::User(_) => AuditTargetType::User,
    };
    AuditEntry {
        id: record.id,
        at: record.at,
        actor: record
            .actor
            .as_ref()
            .map_or_else(|| "server".to_owned(), |user| user.as_str().to_owned()),
        server_key: record.server_key,
        action: record.action,
        target_type,
        target_id: record.target.id(),
        details: record.details,
    }
}

fn exported_participant(record: &ParticipantRecord) -> ExportedParticipant {
    ExportedParticipant {
        user_id: record.user_id.clone(),
        role: record.role,
        joined_at: record.joined_at,
        left_at: record.left_at,
        last_read_seq: record.last_read_seq,
    }
}

/// A message of an export; a deleted one is a tombstone (no content, no old versions).
fn exported_message(record: ExportMessageRecord) -> ExportedMessage {
    let message = record.message;
    let deleted = message.deleted_at.is_some();
    ExportedMessage {
        id: message.id,
        seq: message.seq,
        sender_id: message.sender_id,
        kind: message.kind,
        content: if deleted { None } else { message.content },
        reply_to_id: message.reply_to_id,
        mentions: if deleted {
            Vec::new()
        } else {
            message.mentions
        },
        created_at: message.created_at,
        edited_at: message.edited_at,
        edit_count: message.edit_count,
        deleted_at: message.deleted_at,
        deleted_by: message.deleted_by,
        pii_masked: message.pii_masked,
        edits: record
            .edits
            .into_iter()
            .map(|edit| MessageVersion {
                content: if deleted { None } else { edit.content },
                edited_at: edit.edited_at,
            })
            .collect(),
        reactions: record
            .reactions
            .into_iter()
            .map(|reaction| ExportedReaction {
                emoji: reaction.emoji,
                user_id: reaction.user_id,
                created_at: reaction.created_at,
            })
            .collect(),
    }
}

impl Admin {
    /// `GET /v1/admin/conversations`: every conversation matching the filters, newest
    /// created first.
    pub async fn conversations(
        &self,
        actor: &Actor,
        filter: AdminConversationFilter,
    ) -> Result<Page<Conversation>, AppError> {
        require_admin(actor)?;
        let mut validation = Validation::new();
        let limit = page_limit(&mut validation, filter.limit);
        let created_from = parse_time(
            &mut validation,
            "created_from",
            filter.created_from.as_deref(),
        );
        let created_to = parse_time(&mut validation, "created_to", filter.created_to.as_deref());
        let after = page_cursor(&mut validation, filter.cursor.as_deref(), decode_cursor);
        validation.finish()?;
        let query = AdminConversationQuery {
            kind: filter.kind,
            status: filter.status,
            context_kind: filter.context_kind,
            context_id: filter.context_id,
            participant: filter.participant,
            created_from,
            created_to,
            after,
            limit: limit + 1,
        };
        let mut rows = self.core.store.list_all_conversations(&query).await?;
        let next = cut_page(&mut rows, limit as usize, |row| {
            encode_cursor(row.created_at, row.id)
        });
        Ok(Page {
            items: rows.iter().map(|row| row.to_proto()).collect(),
            next,
        })
    }

    /// `GET /v1/admin/conversations/{id}/export`: the conversation, everyone who ever
    /// participated, and every message with its edit history and reactions (deleted ones
    /// as tombstones). Audited as `conversation.export`.
    pub async fn export(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
    ) -> Result<ConversationExport, AppError> {
        require_admin(actor)?;
        let record = self
            .core
            .store
            .find_conversation(conversation_id)
            .await?
            .ok_or(AppError::NotFound(Resource::Conversation))?;
        let active = self.core.store.list_participants(conversation_id).await?;
        let mut conversation = record.to_proto();
        conversation.participants = Some(active.iter().map(ParticipantRecord::to_proto).collect());
        let participants = self
            .core
            .store
            .list_participant_history(conversation_id)
            .await?
            .iter()
            .map(exported_participant)
            .collect();
        let mut messages = Vec::new();
        let mut after = MessageSeq(0);
        loop {
            let page = self
                .core
                .store
                .list_export_messages(conversation_id, after, EXPORT_PAGE)
                .await?;
            let full = page.len() == EXPORT_PAGE as usize;
            if let Some(last) = page.last() {
                after = last.message.seq;
            }
            messages.extend(page.into_iter().map(exported_message));
            if !full {
                break;
            }
        }
        let details = serde_json::json!({ "messages": messages.len() });
        self.core
            .audit(
                actor,
                audit_action::CONVERSATION_EXPORT,
                conversation_id,
                details,
            )
            .await;
        Ok(ConversationExport {
            exported_at: self.core.now(),
            conversation,
            participants,
            messages,
        })
    }

    /// `POST /v1/admin/users/{id}/erase`: the right to be forgotten. Every message the user
    /// sent becomes a tombstone now (content, mentions and edit history cleared at once,
    /// not after the retention period), their reactions are removed, their display name
    /// and avatar cleared; `message.deleted` and `reaction.removed` are logged in each
    /// affected conversation and published. The audit entry commits with the erasure.
    /// Idempotent: erasing again changes nothing and reports zeros.
    pub async fn erase_user(
        &self,
        actor: &Actor,
        user_id: UserId,
    ) -> Result<ErasureResult, AppError> {
        require_admin(actor)?;
        if self.core.store.find_user(&user_id).await?.is_none() {
            return Err(AppError::NotFound(Resource::User));
        }
        let now = self.core.now();
        let audit = audit_entry(
            actor,
            audit_action::USER_ERASE,
            AuditTarget::User(user_id.clone()),
            serde_json::json!({}),
            now,
        );
        let outcome = self
            .core
            .store
            .erase_user(Erasure {
                user_id: user_id.clone(),
                now,
                audit,
            })
            .await
            .map_err(|err| match err {
                StoreError::NotFound => AppError::NotFound(Resource::User),
                other => other.into(),
            })?;
        for (conversation_id, seq) in &outcome.conversations {
            self.core.committed(*conversation_id, *seq).await;
        }
        Ok(ErasureResult {
            user_id,
            messages_erased: outcome.messages_erased,
            reactions_removed: outcome.reactions_removed,
            conversations_affected: outcome.conversations.len() as u64,
        })
    }

    /// `GET /v1/admin/audit`: the audit log, newest first; `next` is the cursor of the
    /// following (older) page.
    pub async fn audit_log(
        &self,
        actor: &Actor,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<AuditEntry>, AppError> {
        require_admin(actor)?;
        let mut validation = Validation::new();
        let limit = page_limit(&mut validation, limit);
        let before = page_cursor(&mut validation, cursor, |raw| raw.parse::<u64>().ok());
        validation.finish()?;
        let mut rows = self
            .core
            .store
            .list_audit(&AuditQuery {
                before,
                limit: limit + 1,
            })
            .await?;
        let next = cut_page(&mut rows, limit as usize, |row| row.id.to_string());
        Ok(Page {
            items: rows.into_iter().map(audit_to_proto).collect(),
            next,
        })
    }

    /// `GET /v1/admin/stats`: installation-wide counts. A user counts as active when they
    /// sent a message in the window (see [`AdminStats::active_users`]).
    pub async fn stats(&self, actor: &Actor) -> Result<AdminStats, AppError> {
        require_admin(actor)?;
        let now = self.core.now();
        let windows = stats_windows(now);
        let stats = self.core.store.get_global_stats(&windows).await?;
        let messages_per_day = stats
            .messages_per_day
            .iter()
            .enumerate()
            .map(|(day, messages)| DailyCount {
                date: (windows.days_from + time::Duration::days(day as i64))
                    .date()
                    .to_string(),
                messages: *messages,
            })
            .collect();
        Ok(AdminStats {
            generated_at: now,
            users: stats.users,
            conversations: conversation_counts(&stats.conversations),
            messages: stats.messages,
            active_users: ActiveUsers {
                last_24h: stats.active_last_day,
                last_7d: stats.active_last_week,
            },
            messages_per_day,
        })
    }

    /// `GET /v1/stats`: the caller's own counts (any user; the server key must act as one).
    pub async fn user_stats(&self, actor: &Actor) -> Result<UserStats, AppError> {
        let user_id = actor.require_user()?;
        let stats = self.core.store.get_user_stats(user_id).await?;
        let unread = self.core.store.list_unread_counts(user_id).await?;
        Ok(UserStats {
            conversations: conversation_counts(&stats.conversations),
            unread_total: unread.iter().map(|(_, count)| count).sum(),
            conversations_with_unread: unread.len() as u64,
            messages_sent: stats.messages_sent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_per_type_and_status() {
        let rows = [
            ConversationCount {
                kind: ConversationType::Direct,
                status: ConversationStatus::Active,
                count: 2,
            },
            ConversationCount {
                kind: ConversationType::Direct,
                status: ConversationStatus::Blocked,
                count: 1,
            },
            ConversationCount {
                kind: ConversationType::Group,
                status: ConversationStatus::Archived,
                count: 4,
            },
        ];
        let counts = conversation_counts(&rows);
        assert_eq!(counts.total, 7);
        assert_eq!(
            (
                counts.by_type.direct,
                counts.by_type.group,
                counts.by_type.support
            ),
            (3, 4, 0)
        );
        assert_eq!(
            (
                counts.by_status.active,
                counts.by_status.archived,
                counts.by_status.blocked
            ),
            (2, 4, 1)
        );
    }

    #[test]
    fn stats_days_end_today_at_utc_midnight() {
        let now = time::macros::datetime!(2024-03-01 13:45:00 UTC);
        let windows = stats_windows(now);
        assert_eq!(
            windows.days_from,
            time::macros::datetime!(2024-02-01 00:00:00 UTC),
            "a leap year: Feb 1 to Mar 1 is 30 days"
        );
        assert_eq!(windows.days, 30);
        assert_eq!(
            windows.day_since,
            time::macros::datetime!(2024-02-29 13:45:00 UTC)
        );
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let at = time::macros::datetime!(2024-03-01 13:45:00.123456 UTC);
        let id = ConversationId::new();
        assert_eq!(decode_cursor(&encode_cursor(at, id)), Some((at, id)));
        assert_eq!(decode_cursor::<ConversationId>("not a cursor"), None);
    }
}
