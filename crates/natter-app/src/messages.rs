//! Messages and read state: sending (idempotent, gap-free seq), reading pages, receipts
//! and read markers.

use std::sync::Arc;

use natter_proto::{
    AttachmentKind, BulkMarkRead, BulkMarkReadResult, ConversationId, ConversationStatus,
    ConversationType, CreateConversation, DeliveryState, DirectMessage, DirectMessageSent,
    MarkRead, MarkReadResult, Message, MessageId, MessageSeq, MessageType, Page, Receipt, Receipts,
    SendMessage, UserId,
};
use natter_store::{
    AppendOutcome, MessageQuery, MessageRecord, NewMessage, Order, ReadMarkers, ReadOutcome,
    ReadTargets, StoreError, SENDER_REFUSED,
};

use crate::conversations::{cut_page, page_limit, Conversations};
use crate::core::{Access, Core};
use crate::{content, Actor, AppError, Resource, Validation};

const MAX_MENTIONS: usize = 50;
const MAX_BULK_READ: usize = 100;

/// A message cursor: a seq or a message id of the same conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// A message seq.
    Seq(MessageSeq),
    /// A message id.
    Message(MessageId),
}

impl Cursor {
    /// Parses `42` as a seq and a UUID as a message id.
    pub fn parse(raw: &str) -> Option<Self> {
        if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
            return raw.parse().ok().map(|seq| Self::Seq(MessageSeq(seq)));
        }
        raw.parse().ok().map(Self::Message)
    }
}

/// Query of `GET /v1/conversations/{id}/messages`.
#[derive(Debug, Clone, Default)]
pub struct ListMessages {
    /// Only messages before this cursor.
    pub before: Option<Cursor>,
    /// Only messages after this cursor.
    pub after: Option<Cursor>,
    /// Page size 1–100 (default 50).
    pub limit: Option<u32>,
    /// `true` for oldest first. Default: newest first, or oldest first when only `after`
    /// is given.
    pub ascending: Option<bool>,
}

/// The messages service.
#[derive(Clone)]
pub struct Messages {
    pub(crate) core: Arc<Core>,
}

/// A message as `viewer` sees it, given the conversation's active participants.
pub(crate) fn view(
    record: MessageRecord,
    viewer: Option<&UserId>,
    markers: &ReadMarkers,
) -> Message {
    let mut message = record.into_proto();
    let seq = message.seq;
    message.read_by_all = markers.read_by_all(message.sender_id.as_ref(), seq);
    if viewer.is_some() && viewer == message.sender_id.as_ref() {
        message.delivery = Some(if markers.read_by_others(seq) {
            DeliveryState::Read
        } else if markers.delivered_to_others(seq) {
            DeliveryState::Delivered
        } else {
            DeliveryState::Sent
        });
    }
    message
}

fn read_result(outcome: ReadOutcome) -> MarkReadResult {
    MarkReadResult {
        conversation_id: outcome.conversation_id,
        marked_count: outcome.marked_count,
        last_read_seq: outcome.last_read_seq,
        unread_count: outcome.unread_count,
    }
}

/// A failed append as the send answers it.
fn append_error(err: StoreError) -> AppError {
    match err {
        StoreError::NotFound => AppError::NotFound(Resource::Conversation),
        StoreError::Conflict(what) if what == "attachment" => AppError::conflict(
            "attachment_in_use",
            "an attachment was attached to another message meanwhile",
        ),
        other => other.into(),
    }
}

fn message_not_found(err: AppError) -> AppError {
    match err {
        AppError::NotFound(_) => AppError::NotFound(Resource::Message),
        other => other,
    }
}

impl Messages {
    /// `POST /v1/conversations/{id}/messages`. Returns the message and whether it is new
    /// (`false`: a retry with the same `client_message_id` returned the original).
    pub async fn send(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
        request: SendMessage,
    ) -> Result<(Message, bool), AppError> {
        self.core
            .limiter
            .check(actor, crate::limits::Action::SendMessage)?;
        if let Some(sent) = self.send_plain(actor, conversation_id, &request).await? {
            return Ok(sent);
        }
        let (conversation, access) = self.core.access(actor, conversation_id).await?;
        let sender = match &access {
            Access::Participant(participant) => Some(participant.user_id.clone()),
            Access::Moderator if actor.server && actor.user_id.is_none() => None,
            _ => {
                return Err(AppError::forbidden(
                    "not_participant",
                    "only participants may post",
                ))
            }
        };
        let mut validation = Validation::new();
        let attachments = if request.attachment_ids.is_empty() {
            Vec::new()
        } else {
            crate::attachments::Attachments::for_message(
                &self.core,
                sender.as_ref(),
                &request.attachment_ids,
                request.client_message_id.is_some(),
                &mut validation,
            )
            .await?
        };
        let with_files = !request.attachment_ids.is_empty();
        let derived = AttachmentKind::message_type(attachments.iter().map(|a| a.kind));
        let kind = match request.kind {
            None if with_files => derived,
            None => MessageType::Text,
            Some(kind) if with_files => {
                if kind != derived && !attachments.is_empty() {
                    validation.add(
                        "type",
                        "type_mismatch",
                        format!(
                            "the type follows from the attachments: {}",
                            derived.as_str()
                        ),
                    );
                }
                derived
            }
            Some(MessageType::Text) => MessageType::Text,
            Some(MessageType::System) if actor.server => MessageType::System,
            Some(MessageType::System) => {
                validation.add(
                    "type",
                    "server_only",
                    "system messages come from the server API only",
                );
                MessageType::System
            }
            Some(kind) => {
                validation.add(
                    "type",
                    "attachments_required",
                    "image, file, video and audio messages need attachments",
                );
                kind
            }
        };
        let content = match request.content.as_deref() {
            // With attachments the text is an optional caption.
            Some(raw) if with_files && raw.trim().is_empty() => None,
            Some(raw) => validation.check(
                "content",
                content::message_content(raw, self.core.limits.max_message_chars),
            ),
            None if with_files => None,
            None => {
                validation.add("content", "required", "content is required");
                None
            }
        };
        let client_message_id = request
            .client_message_id
            .as_deref()
            .and_then(|raw| validation.check("client_message_id", content::client_message_id(raw)));
        let mut mentions: Vec<UserId> = Vec::new();
        for user_id in request.mentions {
            if !mentions.contains(&user_id) {
                mentions.push(user_id);
            }
        }
        if mentions.len() > MAX_MENTIONS {
            validation.add("mentions", "too_many", "at most 50 mentions");
        }
        validation.finish()?;
        if conversation.status == ConversationStatus::Blocked {
            return Err(AppError::conflict(
                "conversation_blocked",
                "the conversation is blocked; no new messages",
            ));
        }
        let mut validation = Validation::new();
        let mut thread_root = None;
        if let Some(root_id) = request.thread_root_id {
            match self.core.store.find_message(root_id).await? {
                Some(root) if root.conversation_id == conversation_id && root.thread_root_seq.is_none() => {
                    thread_root = Some((root.id, root.seq));
                }
                _ => validation.add(
                    "thread_root_id",
                    "invalid_thread_root",
                    "the thread root must be a message of this conversation that is not itself a thread reply",
                ),
            }
        }
        if let Some(reply_to_id) = request.reply_to_id {
            let original = self.core.store.find_message(reply_to_id).await?;
            if original.is_none_or(|m| m.conversation_id != conversation_id) {
                validation.add(
                    "reply_to_id",
                    "not_in_conversation",
                    "the replied-to message is not in this conversation",
                );
            }
        }
        if !mentions.is_empty() {
            let active = self
                .core
                .store
                .active_participants_among(conversation_id, &mentions)
                .await?;
            for (index, user_id) in mentions.iter().enumerate() {
                if !active.contains(user_id) {
                    validation.add(
                        format!("mentions[{index}]"),
                        "not_participant",
                        format!("{user_id} is not a participant"),
                    );
                }
            }
        }
        validation.finish()?;
        // PII masking (pii.rs); the host app's own system messages (no sender) are exempt.
        let (content, pii_masked) = match &sender {
            Some(_) => crate::pii::mask_content(
                content,
                &self.core.pii,
                conversation.trusted,
                self.core.limits.max_message_chars,
            ),
            None => (content, false),
        };
        let outcome = self
            .core
            .store
            .append_message(NewMessage {
                id: MessageId::new(),
                conversation_id,
                sender_id: sender.clone(),
                kind,
                content,
                client_message_id,
                reply_to_id: request.reply_to_id,
                mentions,
                pii_masked,
                thread_root,
                attachments,
                now: self.core.now(),
                check_sender: false,
            })
            .await
            .map_err(append_error)?;
        self.sent(conversation_id, sender.as_ref(), outcome).await
    }

    /// The common send — a user's text message with no attachments, thread, reply or
    /// mentions, valid as it stands — without looking the sender's access up first: the
    /// store checks it in the append's own transaction ([`NewMessage::check_sender`]).
    /// That is one statement less per message, and on PostgreSQL one round trip less on
    /// each send's path. `None` for any other send and for a sender the store refused:
    /// those take the full path in [`Messages::send`], which answers them as it always
    /// has (404 to a stranger, 403, 409 in a blocked conversation, 422 before all these
    /// only for a caller who may post).
    async fn send_plain(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
        request: &SendMessage,
    ) -> Result<Option<(Message, bool)>, AppError> {
        let Some(sender) = &actor.user_id else {
            return Ok(None);
        };
        let plain = matches!(request.kind, None | Some(MessageType::Text))
            && request.attachment_ids.is_empty()
            && request.thread_root_id.is_none()
            && request.reply_to_id.is_none()
            && request.mentions.is_empty();
        let max_chars = self.core.limits.max_message_chars;
        let content = match request.content.as_deref() {
            Some(raw) if plain => content::message_content(raw, max_chars),
            _ => return Ok(None),
        };
        let client_message_id = request
            .client_message_id
            .as_deref()
            .map(content::client_message_id)
            .transpose();
        let (Ok(content), Ok(client_message_id)) = (content, client_message_id) else {
            return Ok(None);
        };
        // Masked as in an untrusted conversation. Where nothing was found, or where the
        // policy treats trusted conversations alike, the conversation's flag (which only
        // the access lookup would tell) cannot change the result.
        let rules = &self.core.pii;
        let (content, pii_masked) =
            crate::pii::mask_content(Some(content), rules, false, max_chars);
        if pii_masked && rules.applies(true) != rules.applies(false) {
            return Ok(None);
        }
        let appended = self
            .core
            .store
            .append_message(NewMessage {
                id: MessageId::new(),
                conversation_id,
                sender_id: Some(sender.clone()),
                kind: MessageType::Text,
                content,
                client_message_id,
                reply_to_id: None,
                mentions: Vec::new(),
                pii_masked,
                thread_root: None,
                attachments: Vec::new(),
                now: self.core.now(),
                check_sender: true,
            })
            .await;
        let outcome = match appended {
            Err(StoreError::Conflict(what)) if what == SENDER_REFUSED => return Ok(None),
            other => other.map_err(append_error)?,
        };
        self.sent(conversation_id, Some(sender), outcome)
            .await
            .map(Some)
    }

    /// What a send answers once the store appended (or found the retried original).
    async fn sent(
        &self,
        conversation_id: ConversationId,
        sender: Option<&UserId>,
        outcome: AppendOutcome,
    ) -> Result<(Message, bool), AppError> {
        if let Some(event_seq) = outcome.event_seq {
            self.core
                .metrics
                .messages_sent
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.core.committed(conversation_id, event_seq).await;
        }
        if outcome.duplicate {
            if outcome.message.conversation_id != conversation_id {
                return Err(AppError::conflict(
                    "client_message_id_reused",
                    "this client_message_id was already used for a message in another conversation",
                ));
            }
            let markers = self
                .core
                .store
                .read_markers(conversation_id, sender)
                .await?;
            return Ok((view(outcome.message, sender, &markers), false));
        }
        let mut message = outcome.message.to_proto();
        if sender.is_some() {
            message.delivery = Some(DeliveryState::Sent);
        }
        Ok((message, true))
    }

    /// `POST /v1/direct-messages`: finds or creates the direct conversation with the
    /// recipient (and context) and sends.
    pub async fn send_direct(
        &self,
        actor: &Actor,
        request: DirectMessage,
    ) -> Result<DirectMessageSent, AppError> {
        let conversations = Conversations {
            core: self.core.clone(),
        };
        let create = CreateConversation {
            kind: ConversationType::Direct,
            participant_ids: vec![request.recipient_id],
            title: None,
            description: None,
            avatar_url: None,
            context: request.context,
        };
        let (conversation, _) = conversations.create(actor, create).await?;
        let send = SendMessage {
            kind: None,
            content: Some(request.content),
            client_message_id: request.client_message_id,
            reply_to_id: None,
            thread_root_id: None,
            mentions: Vec::new(),
            attachment_ids: Vec::new(),
        };
        let (message, _) = self.send(actor, conversation.id, send).await?;
        let conversation = conversations.get(actor, conversation.id).await?;
        Ok(DirectMessageSent {
            conversation,
            message,
        })
    }

    /// `GET /v1/messages/{id}`.
    pub async fn get(&self, actor: &Actor, message_id: MessageId) -> Result<Message, AppError> {
        let record = self
            .core
            .store
            .find_message(message_id)
            .await?
            .ok_or(AppError::NotFound(Resource::Message))?;
        self.core
            .access(actor, record.conversation_id)
            .await
            .map_err(message_not_found)?;
        if let Some(user_id) = &actor.user_id {
            if !self
                .core
                .store
                .list_hidden(user_id, &[message_id])
                .await?
                .is_empty()
            {
                return Err(AppError::NotFound(Resource::Message));
            }
        }
        self.view_one(&record, actor).await
    }

    async fn cursor_seq(
        &self,
        conversation_id: ConversationId,
        field: &str,
        cursor: Cursor,
    ) -> Result<MessageSeq, AppError> {
        match cursor {
            Cursor::Seq(seq) => Ok(seq),
            Cursor::Message(message_id) => match self.core.store.find_message(message_id).await? {
                Some(message) if message.conversation_id == conversation_id => Ok(message.seq),
                _ => Err(AppError::invalid(
                    field,
                    "invalid_cursor",
                    "no such message in this conversation",
                )),
            },
        }
    }

    /// `GET /v1/conversations/{id}/messages`: a page by seq cursor. `next` is the seq to
    /// pass as `before` (newest-first pages) or `after` (oldest-first pages).
    ///
    /// A participant is recognised by the read markers that the page is read with (for
    /// delivery states), so the common case costs no access query of its own;
    /// anyone else — moderators, support agents, strangers — passes [`Core::access`]
    /// before seeing the page, and a stranger's request that reaches no page (bad limit
    /// or cursor) is answered as `access` answers it, so nothing reveals that the
    /// conversation exists.
    ///
    /// [`Core::access`]: crate::core::Core::access
    pub async fn list(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
        query: ListMessages,
    ) -> Result<Page<Message>, AppError> {
        let page_query = match self.page_query(actor, conversation_id, query).await {
            Ok(page_query) => page_query,
            Err(err) => {
                self.core.access(actor, conversation_id).await?;
                return Err(err);
            }
        };
        let limit = page_query.limit as usize;
        // The page and the read markers together: one statement on PostgreSQL, one read
        // on SQLite.
        let (mut rows, markers) = self
            .core
            .store
            .message_page(conversation_id, page_query)
            .await?;
        if !markers.viewer_is_participant {
            self.core.access(actor, conversation_id).await?;
        }
        let next = cut_page(&mut rows, limit, |m| m.seq.0.to_string());
        let reacted = crate::lifecycle::reacted(&rows);
        let mut items: Vec<Message> = rows
            .into_iter()
            .map(|m| view(m, actor.user_id.as_ref(), &markers))
            .collect();
        self.with_reactions(&mut items, &reacted, actor.user_id.as_ref())
            .await?;
        Ok(Page { items, next })
    }

    /// The store query for a timeline page: the limit checked, the cursors resolved.
    async fn page_query(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
        query: ListMessages,
    ) -> Result<MessageQuery, AppError> {
        let mut validation = Validation::new();
        let limit = page_limit(&mut validation, query.limit);
        validation.finish()?;
        let before = match query.before {
            Some(cursor) => Some(self.cursor_seq(conversation_id, "before", cursor).await?),
            None => None,
        };
        let after = match query.after {
            Some(cursor) => Some(self.cursor_seq(conversation_id, "after", cursor).await?),
            None => None,
        };
        let ascending = query
            .ascending
            .unwrap_or(after.is_some() && before.is_none());
        Ok(MessageQuery {
            thread: None,
            viewer: actor.user_id.clone(),
            before,
            after,
            limit,
            order: if ascending {
                Order::Ascending
            } else {
                Order::Descending
            },
        })
    }

    /// `GET /v1/messages/{id}/receipts`: who has read or received it, from read markers.
    pub async fn receipts(
        &self,
        actor: &Actor,
        message_id: MessageId,
    ) -> Result<Receipts, AppError> {
        let record = self
            .core
            .store
            .find_message(message_id)
            .await?
            .ok_or(AppError::NotFound(Resource::Message))?;
        self.core
            .access(actor, record.conversation_id)
            .await
            .map_err(message_not_found)?;
        let participants = self
            .core
            .store
            .list_participants(record.conversation_id)
            .await?;
        let mut receipts = Receipts {
            message_id,
            seq: record.seq,
            read_by: Vec::new(),
            delivered_to: Vec::new(),
            pending: Vec::new(),
            read_by_all: false,
        };
        for p in participants
            .iter()
            .filter(|p| Some(&p.user_id) != record.sender_id.as_ref())
        {
            if p.last_read_seq >= record.seq {
                receipts.read_by.push(Receipt {
                    user_id: p.user_id.clone(),
                    read_at: p.last_read_at,
                });
            } else if p.last_delivered_seq >= record.seq {
                receipts.delivered_to.push(p.user_id.clone());
            } else {
                receipts.pending.push(p.user_id.clone());
            }
        }
        receipts.read_by_all = !receipts.read_by.is_empty()
            && receipts.delivered_to.is_empty()
            && receipts.pending.is_empty();
        Ok(receipts)
    }

    /// `POST /v1/conversations/{id}/read`: moves the caller's read marker forward.
    pub async fn mark_read(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
        request: MarkRead,
    ) -> Result<MarkReadResult, AppError> {
        let (_, me) = self.core.participant(actor, conversation_id).await?;
        let up_to = match request.up_to_message_id {
            None => MessageSeq(u64::MAX),
            Some(message_id) => match self.core.store.find_message(message_id).await? {
                Some(message) if message.conversation_id == conversation_id => message.seq,
                _ => return Err(AppError::NotFound(Resource::Message)),
            },
        };
        self.store_mark_read(conversation_id, &me.user_id, up_to)
            .await
    }

    /// `PATCH /v1/messages/{id}/read`: marks read up to this message.
    pub async fn mark_message_read(
        &self,
        actor: &Actor,
        message_id: MessageId,
    ) -> Result<MarkReadResult, AppError> {
        let record = self
            .core
            .store
            .find_message(message_id)
            .await?
            .ok_or(AppError::NotFound(Resource::Message))?;
        let (_, me) = self
            .core
            .participant(actor, record.conversation_id)
            .await
            .map_err(message_not_found)?;
        self.store_mark_read(record.conversation_id, &me.user_id, record.seq)
            .await
    }

    async fn store_mark_read(
        &self,
        conversation_id: ConversationId,
        user_id: &UserId,
        up_to: MessageSeq,
    ) -> Result<MarkReadResult, AppError> {
        let outcome = self
            .core
            .store
            .mark_read(conversation_id, user_id, up_to, self.core.now())
            .await
            .map_err(|err| match err {
                StoreError::NotFound => AppError::NotFound(Resource::Conversation),
                other => other.into(),
            })?;
        if let Some(event_seq) = outcome.event_seq {
            self.core.committed(conversation_id, event_seq).await;
        }
        Ok(read_result(outcome))
    }

    /// `POST /v1/conversations/read`: marks several (or all) of the caller's
    /// conversations read. Conversations the caller is not in are skipped silently.
    pub async fn mark_read_bulk(
        &self,
        actor: &Actor,
        request: BulkMarkRead,
    ) -> Result<BulkMarkReadResult, AppError> {
        let user_id = actor.require_user()?.clone();
        let targets = match (request.all, request.conversation_ids.len()) {
            (true, 0) => ReadTargets::All,
            (false, 1..=MAX_BULK_READ) => ReadTargets::Some(request.conversation_ids),
            (true, _) => {
                return Err(AppError::invalid(
                    "all",
                    "conflicts_with_ids",
                    "give either all: true or conversation_ids",
                ))
            }
            (false, _) => {
                return Err(AppError::invalid(
                    "conversation_ids",
                    "out_of_range",
                    "between 1 and 100 conversations, or all: true",
                ))
            }
        };
        let outcomes = self
            .core
            .store
            .mark_read_many(&user_id, targets, self.core.now())
            .await?;
        for outcome in &outcomes {
            if let Some(event_seq) = outcome.event_seq {
                self.core
                    .committed(outcome.conversation_id, event_seq)
                    .await;
            }
        }
        Ok(BulkMarkReadResult {
            marked_count: outcomes.iter().map(|o| o.marked_count).sum(),
            results: outcomes.into_iter().map(read_result).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_seqs_or_message_ids() {
        assert_eq!(Cursor::parse("42"), Some(Cursor::Seq(MessageSeq(42))));
        let id = MessageId::new();
        assert_eq!(Cursor::parse(&id.to_string()), Some(Cursor::Message(id)));
        assert_eq!(Cursor::parse("-1"), None);
        assert_eq!(Cursor::parse(""), None);
        assert_eq!(Cursor::parse("99999999999999999999999"), None);
    }
}
