//! What happens to a message after it is sent: edits (with history), deletion for
//! everyone or for oneself, reactions; and blocking a conversation.
//!
//! Rules (PRODUCT.md §3 Messages, Reactions): only the sender edits, within the edit
//! window, never a deleted message; the sender deletes for everyone within the delete
//! window, moderators (app admins, the server key) at any time; anyone deletes for
//! themselves at any time. A blocked conversation takes no new messages, edits or
//! reactions; deleting stays possible.

use std::collections::{HashMap, HashSet};

use natter_proto::{
    AppRole, Conversation, ConversationId, ConversationStatus, ConversationType, EditMessage,
    Message, MessageHistory, MessageId, MessageSeq, MessageVersion, Page, ReactionSummary,
    Reactions, Reactor, UserId,
};
use natter_store::{ConversationPatch, MessageEdit, MessageRecord, ReactionGroup, StoreError};

use crate::conversations::{cut_page, decode_cursor, encode_cursor, page_cursor, page_limit};
use crate::core::Access;
use crate::limits::Action;
use crate::{content, emoji, Actor, AppError, Conversations, Messages, Resource, Validation};

/// Followers a thread root's summary lists (the store lists the first ten users of each
/// reaction the same way: `natter_store::REACTION_GROUP_USERS`).
const FOLLOWERS_LISTED: u32 = 10;

/// Whose view a deletion changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteScope {
    /// Everyone: a tombstone.
    Everyone,
    /// Only the caller: hidden from their lists.
    Me,
}

/// The messages of `records` that may have reactions (`has_reactions`): the only ones
/// whose reactions a page reads.
pub(crate) fn reacted<'a>(
    records: impl IntoIterator<Item = &'a MessageRecord>,
) -> HashSet<MessageId> {
    records
        .into_iter()
        .filter(|record| record.has_reactions)
        .map(|record| record.id)
        .collect()
}

/// One emoji's reactions as a page shows them.
fn summary(group: ReactionGroup) -> ReactionSummary {
    ReactionSummary {
        emoji: group.emoji,
        count: group.count,
        me: group.me,
        users: group.users,
    }
}

fn map_store(err: StoreError, resource: Resource) -> AppError {
    match err {
        StoreError::NotFound => AppError::NotFound(resource),
        StoreError::Conflict(reason) if reason == "deleted" => {
            AppError::conflict("message_deleted", "the message was deleted")
        }
        StoreError::Conflict(reason) if reason == "too_many_reactions" => AppError::conflict(
            "too_many_reactions",
            "this message has the maximum number of different reactions",
        ),
        other => other.into(),
    }
}

impl Messages {
    /// The message and the caller's access, `NotFound(Message)` for outsiders.
    async fn message_access(
        &self,
        actor: &Actor,
        message_id: MessageId,
    ) -> Result<(MessageRecord, Access, ConversationStatus), AppError> {
        let record = self
            .core
            .store
            .find_message(message_id)
            .await?
            .ok_or(AppError::NotFound(Resource::Message))?;
        let (conversation, access) = self
            .core
            .access(actor, record.conversation_id)
            .await
            .map_err(|err| match err {
                AppError::NotFound(_) => AppError::NotFound(Resource::Message),
                other => other,
            })?;
        Ok((record, access, conversation.status))
    }

    /// `PATCH /v1/messages/{id}`: the sender edits within the edit window.
    pub async fn edit(
        &self,
        actor: &Actor,
        message_id: MessageId,
        request: EditMessage,
    ) -> Result<Message, AppError> {
        let (record, access, status) = self.message_access(actor, message_id).await?;
        let Some(me) = access.participant() else {
            return Err(AppError::forbidden(
                "not_sender",
                "only the sender may edit a message",
            ));
        };
        if record.sender_id.as_ref() != Some(&me.user_id) {
            return Err(AppError::forbidden(
                "not_sender",
                "only the sender may edit a message",
            ));
        }
        if record.deleted_at.is_some() {
            return Err(AppError::conflict(
                "message_deleted",
                "a deleted message cannot be edited",
            ));
        }
        if status == ConversationStatus::Blocked {
            return Err(AppError::conflict(
                "conversation_blocked",
                "the conversation is blocked",
            ));
        }
        let now = self.core.now();
        if now - record.created_at > self.core.limits.edit_window {
            return Err(AppError::conflict(
                "edit_window_expired",
                "the time to edit this message has passed",
            ));
        }
        let mut validation = Validation::new();
        let content = validation.check(
            "content",
            content::message_content(&request.content, self.core.limits.max_message_chars),
        );
        validation.finish()?;
        let content = content
            .ok_or_else(|| AppError::invalid("content", "required", "content is required"))?;
        let (masked, pii_masked) = self.mask_for_edit(record.conversation_id, content).await?;
        let (updated, event_seq) = self
            .core
            .store
            .edit_message(MessageEdit {
                message_id,
                content: masked,
                pii_masked,
                now,
            })
            .await
            .map_err(|err| map_store(err, Resource::Message))?;
        self.core
            .committed(updated.conversation_id, event_seq)
            .await;
        self.view_one(&updated, actor).await
    }

    /// PII masking of edited content, exactly as on send (`pii.rs`).
    async fn mask_for_edit(
        &self,
        conversation_id: ConversationId,
        content: String,
    ) -> Result<(String, bool), AppError> {
        let trusted = self
            .core
            .store
            .find_conversation(conversation_id)
            .await?
            .is_some_and(|conversation| conversation.trusted);
        let masked = crate::pii::mask(
            &content,
            &self.core.pii,
            trusted,
            self.core.limits.max_message_chars,
        );
        Ok((masked.text, masked.masked))
    }

    /// `GET /v1/messages/{id}/history`: the earlier versions, oldest first.
    pub async fn history(
        &self,
        actor: &Actor,
        message_id: MessageId,
    ) -> Result<MessageHistory, AppError> {
        let (record, _, _) = self.message_access(actor, message_id).await?;
        let edits = self.core.store.list_message_edits(message_id).await?;
        let deleted = record.deleted_at.is_some();
        Ok(MessageHistory {
            message_id,
            versions: edits
                .into_iter()
                .map(|edit| MessageVersion {
                    content: if deleted { None } else { edit.content },
                    edited_at: edit.edited_at,
                })
                .collect(),
        })
    }

    /// `DELETE /v1/messages/{id}?for=everyone|me`. Deleting what is already deleted (or
    /// hidden) succeeds without a change.
    pub async fn delete(
        &self,
        actor: &Actor,
        message_id: MessageId,
        scope: DeleteScope,
    ) -> Result<(), AppError> {
        let (record, access, _) = self.message_access(actor, message_id).await?;
        match scope {
            DeleteScope::Me => {
                let Some(me) = access.participant() else {
                    return Err(AppError::forbidden(
                        "not_participant",
                        "only participants hide messages for themselves",
                    ));
                };
                self.core
                    .store
                    .hide_message(&record, &me.user_id, self.core.now())
                    .await?;
                Ok(())
            }
            DeleteScope::Everyone => {
                if record.deleted_at.is_some() {
                    return Ok(());
                }
                let moderator = actor.is_moderator() || actor.role == AppRole::Admin;
                let is_sender = access
                    .participant()
                    .is_some_and(|me| record.sender_id.as_ref() == Some(&me.user_id));
                if !moderator {
                    if !is_sender {
                        return Err(AppError::forbidden(
                            "not_sender",
                            "only the sender (or a moderator) may delete for everyone",
                        ));
                    }
                    if self.core.now() - record.created_at > self.core.limits.delete_window {
                        return Err(AppError::conflict(
                            "delete_window_expired",
                            "the time to delete this message for everyone has passed",
                        ));
                    }
                }
                match self
                    .core
                    .store
                    .delete_message(message_id, actor.user_id.as_ref(), self.core.now())
                    .await
                {
                    Ok((deleted, event_seq)) => {
                        self.core
                            .committed(deleted.conversation_id, event_seq)
                            .await;
                        let details = serde_json::json!({
                            "conversation_id": deleted.conversation_id,
                            "sender_id": deleted.sender_id,
                        });
                        self.core
                            .audit(
                                actor,
                                natter_proto::audit_action::MESSAGE_DELETE,
                                message_id,
                                details,
                            )
                            .await;
                        Ok(())
                    }
                    Err(StoreError::Conflict(reason)) if reason == "deleted" => Ok(()),
                    Err(err) => Err(map_store(err, Resource::Message)),
                }
            }
        }
    }

    /// `POST /v1/messages/{id}/reactions`: returns the message's reactions and whether this
    /// call added one.
    pub async fn react(
        &self,
        actor: &Actor,
        message_id: MessageId,
        emoji_raw: &str,
    ) -> Result<(Reactions, bool), AppError> {
        let (record, access, status) = self.message_access(actor, message_id).await?;
        let Some(me) = access.participant() else {
            return Err(AppError::forbidden(
                "not_participant",
                "only participants react",
            ));
        };
        let user_id = me.user_id.clone();
        if let Err((code, message)) = emoji::validate(emoji_raw) {
            return Err(AppError::invalid("emoji", code, message));
        }
        if record.deleted_at.is_some() {
            return Err(AppError::conflict(
                "message_deleted",
                "a deleted message takes no reactions",
            ));
        }
        if status == ConversationStatus::Blocked {
            return Err(AppError::conflict(
                "conversation_blocked",
                "the conversation is blocked",
            ));
        }
        self.core.limiter.check(actor, Action::React)?;
        let added = self
            .core
            .store
            .add_reaction(
                &record,
                &user_id,
                emoji_raw,
                self.core.limits.max_reactions_per_message,
                self.core.now(),
            )
            .await
            .map_err(|err| map_store(err, Resource::Message))?;
        if let Some(event_seq) = added.event_seq {
            self.core.committed(record.conversation_id, event_seq).await;
        }
        let reactions = Reactions {
            message_id,
            reactions: added.groups.into_iter().map(summary).collect(),
        };
        Ok((reactions, added.event_seq.is_some()))
    }

    /// `DELETE /v1/messages/{id}/reactions/{emoji}`: removes the caller's own reaction.
    pub async fn unreact(
        &self,
        actor: &Actor,
        message_id: MessageId,
        emoji_raw: &str,
    ) -> Result<(), AppError> {
        let (record, access, _) = self.message_access(actor, message_id).await?;
        let Some(me) = access.participant() else {
            return Err(AppError::forbidden(
                "not_participant",
                "only participants react",
            ));
        };
        let removed = self
            .core
            .store
            .remove_reaction(&record, &me.user_id, emoji_raw, self.core.now())
            .await
            .map_err(|err| map_store(err, Resource::Message))?;
        if let Some(event_seq) = removed {
            self.core.committed(record.conversation_id, event_seq).await;
        }
        Ok(())
    }

    /// Purges the content of messages deleted more than `retention` ago (the retention
    /// job); returns how many were purged.
    pub async fn purge_deleted(&self, retention: std::time::Duration) -> Result<u64, AppError> {
        let before = self.core.now() - retention;
        let mut total = 0;
        loop {
            let purged = self.core.store.purge_deleted(before, 500).await?;
            total += purged;
            if purged < 500 {
                return Ok(total);
            }
        }
    }

    /// `GET /v1/messages/{id}/reactions`: the message's reactions as a page shows them
    /// (per emoji the count, the caller's own, the first 10 users).
    pub async fn reactions(
        &self,
        actor: &Actor,
        message_id: MessageId,
    ) -> Result<Reactions, AppError> {
        self.message_access(actor, message_id).await?;
        let groups = self
            .core
            .store
            .list_reaction_groups(&[message_id], actor.user_id.as_ref())
            .await?;
        Ok(Reactions {
            message_id,
            reactions: groups.into_iter().map(summary).collect(),
        })
    }

    /// `GET /v1/messages/{id}/reactions/{emoji}`: everyone who reacted with `emoji`,
    /// oldest first, a page at a time (`limit` 1–100, default 50); `next` is the cursor of
    /// the last one listed. An emoji nobody used is an empty page; one that could never
    /// be a reaction is a 422.
    pub async fn reactors(
        &self,
        actor: &Actor,
        message_id: MessageId,
        emoji_raw: &str,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<Reactor>, AppError> {
        let mut validation = Validation::new();
        let limit = page_limit(&mut validation, limit);
        if let Err((code, message)) = emoji::validate(emoji_raw) {
            validation.add("emoji", code, message);
        }
        let after = page_cursor(&mut validation, cursor, decode_cursor::<UserId>);
        // An outsider learns nothing, not even that the query was malformed.
        self.message_access(actor, message_id).await?;
        validation.finish()?;
        let mut rows = self
            .core
            .store
            .list_reactors(
                message_id,
                emoji_raw,
                after.as_ref().map(|(at, user)| (*at, user)),
                limit + 1,
            )
            .await?;
        let next = cut_page(&mut rows, limit as usize, |row| {
            encode_cursor(row.created_at, &row.user_id)
        });
        Ok(Page {
            items: rows
                .into_iter()
                .map(|row| Reactor {
                    user_id: row.user_id,
                    reacted_at: row.created_at,
                })
                .collect(),
            next,
        })
    }

    /// Attaches reactions (one query for the whole page) to message views. `reacted` holds
    /// the messages that may have reactions (see [`reacted`]); the others are not looked
    /// up, so a page nobody reacted to reads no reactions at all.
    pub(crate) async fn with_reactions(
        &self,
        messages: &mut [Message],
        reacted: &HashSet<MessageId>,
        viewer: Option<&UserId>,
    ) -> Result<(), AppError> {
        if messages.iter().all(|m| m.deleted_at.is_some()) {
            return Ok(());
        }
        let ids: Vec<MessageId> = messages
            .iter()
            .filter(|m| m.deleted_at.is_none() && reacted.contains(&m.id))
            .map(|m| m.id)
            .collect();
        let roots: Vec<MessageSeq> = messages
            .iter()
            .filter(|m| m.thread.is_some())
            .map(|m| m.seq)
            .collect();
        let conversation_id = messages.first().map(|m| m.conversation_id);
        // Independent reads, issued together (two round trips at once on PostgreSQL).
        let (groups, followers) =
            futures_util::try_join!(self.core.store.list_reaction_groups(&ids, viewer), async {
                match conversation_id {
                    Some(id) if !roots.is_empty() => {
                        self.core
                            .store
                            .list_thread_followers(id, &roots, FOLLOWERS_LISTED)
                            .await
                    }
                    _ => Ok(Vec::new()),
                }
            },)?;
        // The store answers by message, each message's emojis in order of first use.
        let mut summaries: HashMap<MessageId, Vec<ReactionSummary>> = HashMap::new();
        for group in groups {
            summaries
                .entry(group.message_id)
                .or_default()
                .push(summary(group));
        }
        for message in messages.iter_mut() {
            message.reactions = summaries.remove(&message.id).unwrap_or_default();
        }
        if !roots.is_empty() {
            for message in messages.iter_mut() {
                if let Some(thread) = message.thread.as_mut() {
                    // The store answers at most FOLLOWERS_LISTED per root.
                    thread.participants = followers
                        .iter()
                        .filter(|(root, _)| *root == message.seq)
                        .map(|(_, user)| user.clone())
                        .collect();
                }
            }
        }
        Ok(())
    }

    /// `GET /v1/messages/{id}/thread`: the replies to a thread root, oldest first by
    /// default, cursor-paginated like the timeline.
    pub async fn thread(
        &self,
        actor: &Actor,
        root_id: MessageId,
        query: crate::ListMessages,
    ) -> Result<Page<Message>, AppError> {
        let (root, _, _) = self.message_access(actor, root_id).await?;
        if root.thread_root_seq.is_some() {
            return Err(AppError::invalid(
                "message_id",
                "not_a_thread_root",
                "this message is itself a thread reply",
            ));
        }
        let mut validation = Validation::new();
        let limit = page_limit(&mut validation, query.limit);
        validation.finish()?;
        let seq_of = |cursor: Option<crate::Cursor>| match cursor {
            Some(crate::Cursor::Seq(seq)) => Ok(Some(seq)),
            Some(crate::Cursor::Message(_)) => Err(AppError::invalid(
                "cursor",
                "invalid_cursor",
                "thread pages take seq cursors",
            )),
            None => Ok(None),
        };
        let (before, after) = (seq_of(query.before)?, seq_of(query.after)?);
        let ascending = query.ascending.unwrap_or(before.is_none());
        let order = if ascending {
            natter_store::Order::Ascending
        } else {
            natter_store::Order::Descending
        };
        let (mut rows, markers) = self
            .core
            .store
            .message_page(
                root.conversation_id,
                natter_store::MessageQuery {
                    thread: Some(root.seq),
                    viewer: actor.user_id.clone(),
                    before,
                    after,
                    limit,
                    order,
                },
            )
            .await?;
        let next = cut_page(&mut rows, limit as usize, |m| m.seq.0.to_string());
        let reacted = reacted(&rows);
        let mut items: Vec<Message> = rows
            .into_iter()
            .map(|m| crate::messages::view(m, actor.user_id.as_ref(), &markers))
            .collect();
        self.with_reactions(&mut items, &reacted, actor.user_id.as_ref())
            .await?;
        Ok(Page { items, next })
    }

    /// `POST|DELETE /v1/messages/{id}/thread/follow`: follow a thread (replying follows
    /// it too) or stop following.
    pub async fn follow_thread(
        &self,
        actor: &Actor,
        root_id: MessageId,
        follow: bool,
    ) -> Result<(), AppError> {
        let (root, access, _) = self.message_access(actor, root_id).await?;
        let Some(me) = access.participant() else {
            return Err(AppError::forbidden(
                "not_participant",
                "only participants follow threads",
            ));
        };
        if root.thread_root_seq.is_some() {
            return Err(AppError::invalid(
                "message_id",
                "not_a_thread_root",
                "this message is itself a thread reply",
            ));
        }
        self.core
            .store
            .set_thread_follow(
                root.conversation_id,
                root.seq,
                &me.user_id,
                follow,
                self.core.now(),
            )
            .await?;
        Ok(())
    }
}

impl Conversations {
    /// `POST /v1/conversations/{id}/block` and `/unblock`: moderators, or either side of a
    /// direct conversation. A blocked conversation takes no new messages.
    pub async fn set_blocked(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
        blocked: bool,
    ) -> Result<Conversation, AppError> {
        let (record, access) = self.core.access(actor, conversation_id).await?;
        let allowed = match &access {
            Access::Moderator => true,
            Access::Participant(_) => {
                record.kind == ConversationType::Direct || actor.role == AppRole::Admin
            }
            Access::SupportAgent => false,
        };
        if !allowed {
            return Err(AppError::forbidden(
                "insufficient_role",
                "only moderators, or either side of a direct conversation, block",
            ));
        }
        let status = if blocked {
            ConversationStatus::Blocked
        } else {
            ConversationStatus::Active
        };
        let record = if record.status == status {
            record
        } else {
            let patch = ConversationPatch {
                status: Some(status),
                ..Default::default()
            };
            let updated = self
                .core
                .store
                .update_conversation(conversation_id, patch, self.core.now())
                .await?;
            self.core
                .committed(conversation_id, updated.last_event_seq)
                .await;
            let action = if blocked {
                natter_proto::audit_action::CONVERSATION_BLOCK
            } else {
                natter_proto::audit_action::CONVERSATION_UNBLOCK
            };
            self.core
                .audit(actor, action, conversation_id, serde_json::json!({}))
                .await;
            updated
        };
        let participants = self.core.embedded_participants(conversation_id).await?;
        let me = access.participant();
        let unread = match me {
            Some(me) => {
                self.core
                    .store
                    .count_unread(conversation_id, &me.user_id)
                    .await?
            }
            None => 0,
        };
        Ok(crate::conversations::view(
            &record,
            me,
            unread,
            Some(&participants),
            self.core.now(),
        ))
    }
}

impl Messages {
    /// One message as `actor` sees it (delivery state, `read_by_all`, reactions).
    pub(crate) async fn view_one(
        &self,
        record: &MessageRecord,
        actor: &Actor,
    ) -> Result<Message, AppError> {
        let markers = self
            .core
            .store
            .read_markers(record.conversation_id, actor.user_id.as_ref())
            .await?;
        let mut message = [crate::messages::view(
            record.clone(),
            actor.user_id.as_ref(),
            &markers,
        )];
        self.with_reactions(&mut message, &reacted([record]), actor.user_id.as_ref())
            .await?;
        let [message] = message;
        Ok(message)
    }
}
