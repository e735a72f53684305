//! Conversations and participants: creation (with direct and by-context uniqueness),
//! the caller's list, updates, membership and the caller's own settings.
//!
//! Permission model (PRODUCT.md §3 Participants): roles rank member < admin < owner.
//! Owners and admins manage; only the owner (or a moderator) changes roles; nobody grants
//! a role above their own or touches the owner; direct conversations have fixed members.
//! App admins and the server key are moderators: they see everything and manage like an
//! admin. Non-participants get `NotFound`.

use std::collections::BTreeSet;
use std::sync::Arc;

use base64::Engine;
use natter_proto::{
    AddParticipants, ContextConversation, ContextRef, Conversation, ConversationId,
    ConversationStatus, ConversationType, CreateConversation, MySettings, Page, Participant,
    ParticipantRole, Timestamp, UpdateConversation, UpdateMySettings, UpdateParticipant, UserId,
};
use natter_store::{
    ConversationPatch, ConversationQuery, ConversationRecord, CreateOutcome, NewConversation,
    NewParticipant, ParticipantRecord, RemovalReason, SettingsPatch, StoreError,
};

use crate::core::{Access, Core};
use crate::{content, Actor, AppError, Resource, Validation};

const MAX_PARTICIPANTS_PER_REQUEST: usize = 100;

/// Filters of the caller's conversation list (query parameters of `GET /v1/conversations`).
#[derive(Debug, Clone, Default)]
pub struct ListConversations {
    /// Only this type.
    pub kind: Option<ConversationType>,
    /// Only this status.
    pub status: Option<ConversationStatus>,
    /// Only with / without unread messages.
    pub has_unread: Option<bool>,
    /// Only pinned / unpinned.
    pub pinned: Option<bool>,
    /// Only muted / unmuted.
    pub muted: Option<bool>,
    /// Only archived / unarchived in the caller's list.
    pub archived: Option<bool>,
    /// Only this context kind.
    pub context_kind: Option<String>,
    /// Only this context id.
    pub context_id: Option<String>,
    /// Cursor from the previous page's `next`.
    pub cursor: Option<String>,
    /// Page size, 1–100 (default 50).
    pub limit: Option<u32>,
}

/// The conversations service.
#[derive(Clone)]
pub struct Conversations {
    pub(crate) core: Arc<Core>,
}

fn direct_key(a: &UserId, b: &UserId, context: Option<&ContextRef>) -> String {
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    match context {
        Some(context) => format!(
            "direct\u{1f}{first}\u{1f}{second}\u{1f}{}\u{1f}{}",
            context.kind, context.id
        ),
        None => format!("direct\u{1f}{first}\u{1f}{second}"),
    }
}

fn context_key(kind: &str, id: &str) -> String {
    format!("context\u{1f}{kind}\u{1f}{id}")
}

fn validate_context(
    validation: &mut Validation,
    context: Option<&ContextRef>,
) -> Option<ContextRef> {
    let context = context?;
    let kind = validation.check("context.kind", content::context_kind(&context.kind));
    let id = validation.check("context.id", content::context_id(&context.id));
    Some(ContextRef {
        kind: kind?,
        id: id?,
    })
}

/// The conversation as `viewer` sees it.
pub(crate) fn view(
    record: &ConversationRecord,
    me: Option<&ParticipantRecord>,
    unread_count: u64,
    participants: Option<&[ParticipantRecord]>,
    now: Timestamp,
) -> Conversation {
    let mut conversation = record.to_proto();
    conversation.unread_count = unread_count;
    conversation.me = me.map(|p| p.to_settings(now));
    if let Some(participants) = participants {
        if record.kind == ConversationType::Direct {
            conversation.peer_id = me.and_then(|me| {
                participants
                    .iter()
                    .find(|p| p.user_id != me.user_id)
                    .map(|p| p.user_id.clone())
            });
        }
        conversation.participants = Some(
            participants
                .iter()
                .map(ParticipantRecord::to_proto)
                .collect(),
        );
    }
    conversation
}

/// A cursor after an entry of a list ordered by a time, then a key: `(last_activity_at or
/// created_at, conversation id)` for conversation lists, `(reacted or joined at, user id)`
/// for the users of an emoji or a conversation. Opaque to clients.
pub(crate) fn encode_cursor(at: Timestamp, key: impl std::fmt::Display) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
        "{}:{}",
        natter_store::to_micros(at),
        key
    ))
}

/// Inverse of [`encode_cursor`]; `None` for anything it did not produce.
pub(crate) fn decode_cursor<K: std::str::FromStr>(raw: &str) -> Option<(Timestamp, K)> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (micros, key) = text.split_once(':')?;
    Some((
        natter_store::from_micros(micros.parse().ok()?),
        key.parse().ok()?,
    ))
}

/// Decodes a page's `cursor` with `decode`, recording `invalid_cursor` for one that
/// `decode` rejects (a cursor this endpoint did not hand out).
pub(crate) fn page_cursor<T>(
    validation: &mut Validation,
    raw: Option<&str>,
    decode: impl FnOnce(&str) -> Option<T>,
) -> Option<T> {
    let raw = raw?;
    let cursor = decode(raw);
    if cursor.is_none() {
        validation.add(
            "cursor",
            "invalid_cursor",
            "not a cursor returned by this endpoint",
        );
    }
    cursor
}

/// Cuts the `limit + 1` rows a store answered for a page down to `limit`, and gives the
/// cursor of the last row kept (by `cursor`) when there was more.
pub(crate) fn cut_page<T>(
    rows: &mut Vec<T>,
    limit: usize,
    cursor: impl FnOnce(&T) -> String,
) -> Option<String> {
    if rows.len() <= limit {
        return None;
    }
    rows.truncate(limit);
    rows.last().map(cursor)
}

/// Checks a page size: 1–100, default 50.
pub(crate) fn page_limit(validation: &mut Validation, limit: Option<u32>) -> u32 {
    match limit {
        None => 50,
        Some(limit @ 1..=100) => limit,
        Some(_) => {
            validation.add("limit", "out_of_range", "limit must be between 1 and 100");
            50
        }
    }
}

fn direct_fixed() -> AppError {
    AppError::forbidden(
        "direct_conversation_fixed",
        "direct conversations always have exactly their two participants",
    )
}

impl Conversations {
    /// `POST /v1/conversations`: creates a conversation with the caller as owner. A direct
    /// conversation that exists for the pair and context is returned instead (`false`).
    pub async fn create(
        &self,
        actor: &Actor,
        request: CreateConversation,
    ) -> Result<(Conversation, bool), AppError> {
        let creator = actor.require_user()?.clone();
        self.core
            .limiter
            .check(actor, crate::limits::Action::CreateConversation)?;
        let mut validation = Validation::new();
        let mut others: Vec<UserId> = Vec::new();
        for user_id in request.participant_ids {
            if user_id != creator && !others.contains(&user_id) {
                others.push(user_id);
            }
        }
        if others.len() > MAX_PARTICIPANTS_PER_REQUEST {
            validation.add(
                "participant_ids",
                "too_many",
                "at most 100 participants per request",
            );
        }
        let title = request
            .title
            .as_deref()
            .and_then(|title| validation.check("title", content::line(title, 200)));
        let description = request
            .description
            .as_deref()
            .and_then(|text| validation.check("description", content::text(text, 2000)));
        let avatar_url = request
            .avatar_url
            .as_deref()
            .and_then(|url| validation.check("avatar_url", content::url(url)));
        let context = validate_context(&mut validation, request.context.as_ref());
        let unique_key = match request.kind {
            ConversationType::Direct => {
                if others.len() != 1 {
                    validation.add(
                        "participant_ids",
                        "direct_needs_one_peer",
                        "a direct conversation has exactly one other participant",
                    );
                }
                others
                    .first()
                    .map(|peer| direct_key(&creator, peer, context.as_ref()))
            }
            ConversationType::Group => {
                if title.is_none() && request.title.is_none() {
                    validation.add("title", "required", "groups need a title");
                }
                None
            }
            ConversationType::Support => None,
            ConversationType::Channel => {
                validation.add("type", "unsupported", "channels are created inside spaces");
                None
            }
        };
        validation.finish()?;
        let mut participants = vec![NewParticipant {
            user_id: creator.clone(),
            role: ParticipantRole::Owner,
        }];
        participants.extend(others.into_iter().map(|user_id| NewParticipant {
            user_id,
            role: ParticipantRole::Member,
        }));
        let new = NewConversation {
            id: ConversationId::new(),
            kind: request.kind,
            title,
            description,
            avatar_url,
            context,
            created_by: Some(creator.clone()),
            trusted: false,
            encrypted: false,
            participants,
            unique_key,
            now: self.core.now(),
        };
        let (record, created) = match self.core.store.create_conversation(new).await? {
            CreateOutcome::Created(record) => (record, true),
            CreateOutcome::Existing(record) => (record, false),
        };
        if created {
            self.core.committed(record.id, record.last_event_seq).await;
        }
        let participants = self.core.embedded_participants(record.id).await?;
        // The creator joined first, but ties on the join time go by user id: a group of
        // more than the embedded members may list them past the first page.
        let me = match participants.iter().find(|p| p.user_id == creator) {
            Some(me) => Some(me.clone()),
            None => self
                .core
                .store
                .find_conversation_access(record.id, Some(&creator))
                .await?
                .and_then(|(_, me)| me),
        };
        let unread = if created {
            0
        } else {
            self.core.store.count_unread(record.id, &creator).await?
        };
        Ok((
            view(
                &record,
                me.as_ref(),
                unread,
                Some(&participants),
                self.core.now(),
            ),
            created,
        ))
    }

    /// `PUT /v1/conversations/by-context/{kind}/{id}` (server API): creates the
    /// conversation of a host-app object, or returns it after adding missing participants.
    pub async fn upsert_by_context(
        &self,
        actor: &Actor,
        kind: &str,
        id: &str,
        request: ContextConversation,
    ) -> Result<(Conversation, bool), AppError> {
        actor.require_server()?;
        let mut validation = Validation::new();
        let context_kind = validation.check("kind", content::context_kind(kind));
        let context_id = validation.check("id", content::context_id(id));
        let conversation_type = request.kind.unwrap_or(ConversationType::Group);
        let mut participant_ids: Vec<UserId> = Vec::new();
        for user_id in request
            .owner_id
            .iter()
            .chain(request.participant_ids.iter())
        {
            if !participant_ids.contains(user_id) {
                participant_ids.push(user_id.clone());
            }
        }
        if participant_ids.is_empty() {
            validation.add("participant_ids", "required", "at least one participant");
        }
        if participant_ids.len() > MAX_PARTICIPANTS_PER_REQUEST {
            validation.add(
                "participant_ids",
                "too_many",
                "at most 100 participants per request",
            );
        }
        match conversation_type {
            ConversationType::Direct if participant_ids.len() != 2 => validation.add(
                "participant_ids",
                "direct_needs_two",
                "a direct conversation has exactly two participants",
            ),
            ConversationType::Channel => {
                validation.add("type", "unsupported", "channels are created inside spaces")
            }
            _ => {}
        }
        let title = request
            .title
            .as_deref()
            .and_then(|title| validation.check("title", content::line(title, 200)));
        let description = request
            .description
            .as_deref()
            .and_then(|text| validation.check("description", content::text(text, 2000)));
        validation.finish()?;
        let (Some(context_kind), Some(context_id)) = (context_kind, context_id) else {
            return Err(AppError::invalid("kind", "invalid", "invalid context"));
        };
        let title = title.or_else(|| {
            (conversation_type == ConversationType::Group)
                .then(|| format!("{context_kind} {context_id}"))
        });
        let key = context_key(&context_kind, &context_id);
        let participants: Vec<NewParticipant> = participant_ids
            .iter()
            .enumerate()
            .map(|(index, user_id)| NewParticipant {
                user_id: user_id.clone(),
                role: if index == 0 {
                    ParticipantRole::Owner
                } else {
                    ParticipantRole::Member
                },
            })
            .collect();
        let new = NewConversation {
            id: ConversationId::new(),
            kind: conversation_type,
            title,
            description,
            avatar_url: None,
            context: Some(ContextRef {
                kind: context_kind,
                id: context_id,
            }),
            created_by: actor.user_id.clone(),
            trusted: false,
            encrypted: false,
            participants: participants.clone(),
            unique_key: Some(key),
            now: self.core.now(),
        };
        let (mut record, created) = match self.core.store.create_conversation(new).await? {
            CreateOutcome::Created(record) => (record, true),
            CreateOutcome::Existing(record) => (record, false),
        };
        if created {
            self.core.committed(record.id, record.last_event_seq).await;
        } else {
            let asked: Vec<UserId> = participants.iter().map(|p| p.user_id.clone()).collect();
            let current = self
                .core
                .store
                .active_participants_among(record.id, &asked)
                .await?;
            let missing: Vec<NewParticipant> = participants
                .into_iter()
                .filter(|p| !current.contains(&p.user_id))
                .map(|p| NewParticipant {
                    user_id: p.user_id,
                    role: ParticipantRole::Member,
                })
                .collect();
            if !missing.is_empty() {
                if record.kind == ConversationType::Direct {
                    return Err(AppError::conflict(
                        "context_conversation_mismatch",
                        "the direct conversation of this context has other participants",
                    ));
                }
                self.core
                    .store
                    .add_participants(record.id, missing, self.core.now())
                    .await?;
                record = self
                    .core
                    .store
                    .find_conversation(record.id)
                    .await?
                    .ok_or(AppError::NotFound(Resource::Conversation))?;
                self.core.committed(record.id, record.last_event_seq).await;
            }
        }
        let participants = self.core.embedded_participants(record.id).await?;
        Ok((
            view(&record, None, 0, Some(&participants), self.core.now()),
            created,
        ))
    }

    /// `GET /v1/conversations/{id}`.
    pub async fn get(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
    ) -> Result<Conversation, AppError> {
        let (record, access) = self.core.access(actor, conversation_id).await?;
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
        Ok(view(
            &record,
            me,
            unread,
            Some(&participants),
            self.core.now(),
        ))
    }

    /// `PATCH /v1/conversations/{id}` (owner, admin or moderator; `trusted` only with the
    /// server key).
    pub async fn update(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
        request: UpdateConversation,
    ) -> Result<Conversation, AppError> {
        let (record, access) = self.core.access(actor, conversation_id).await?;
        if !access.can_manage() {
            return Err(AppError::forbidden(
                "insufficient_role",
                "only the owner or an admin may change the conversation",
            ));
        }
        if request.trusted.is_some() {
            actor.require_server()?;
        }
        let mut validation = Validation::new();
        let mut patch = ConversationPatch::default();
        if let Some(title) = &request.title {
            patch.title = validation
                .check("title", content::line(title, 200))
                .map(Some);
        }
        if let Some(description) = &request.description {
            patch.description = match description.as_str() {
                "" => Some(None),
                text => validation
                    .check("description", content::text(text, 2000))
                    .map(Some),
            };
        }
        if let Some(url) = &request.avatar_url {
            patch.avatar_url = match url.as_str() {
                "" => Some(None),
                url => validation.check("avatar_url", content::url(url)).map(Some),
            };
        }
        match request.status {
            Some(ConversationStatus::Blocked) => validation.add(
                "status",
                "use_block_endpoint",
                "blocking has its own endpoint",
            ),
            Some(ConversationStatus::Active) if record.status == ConversationStatus::Blocked => {
                validation.add(
                    "status",
                    "use_block_endpoint",
                    "unblocking has its own endpoint",
                )
            }
            status => patch.status = status,
        }
        patch.trusted = request.trusted;
        validation.finish()?;
        let record = if patch.is_empty() {
            record
        } else {
            let updated = self
                .core
                .store
                .update_conversation(conversation_id, patch, self.core.now())
                .await
                .map_err(not_found)?;
            self.core
                .committed(conversation_id, updated.last_event_seq)
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
        Ok(view(
            &record,
            me,
            unread,
            Some(&participants),
            self.core.now(),
        ))
    }

    /// `POST /v1/conversations/{id}/archive`: sets the conversation-wide status.
    pub async fn archive(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
    ) -> Result<Conversation, AppError> {
        let request = UpdateConversation {
            status: Some(ConversationStatus::Archived),
            ..Default::default()
        };
        self.update(actor, conversation_id, request).await
    }

    /// `GET /v1/conversations`: the caller's conversations, newest activity first.
    pub async fn list(
        &self,
        actor: &Actor,
        filter: ListConversations,
    ) -> Result<Page<Conversation>, AppError> {
        let user_id = actor.require_user()?.clone();
        let mut validation = Validation::new();
        let limit = page_limit(&mut validation, filter.limit);
        let after = page_cursor(&mut validation, filter.cursor.as_deref(), decode_cursor);
        validation.finish()?;
        let now = self.core.now();
        let query = ConversationQuery {
            user_id,
            kind: filter.kind,
            status: filter.status,
            has_unread: filter.has_unread,
            pinned: filter.pinned,
            muted: filter.muted,
            archived: filter.archived,
            context_kind: filter.context_kind,
            context_id: filter.context_id,
            after,
            limit: limit + 1,
            now,
        };
        let mut rows = self.core.store.list_conversations(&query).await?;
        let next = cut_page(&mut rows, limit as usize, |row| {
            encode_cursor(row.conversation.last_activity_at, row.conversation.id)
        });
        let items = rows
            .iter()
            .map(|row| {
                let mut conversation = view(
                    &row.conversation,
                    Some(&row.me),
                    row.unread_count,
                    None,
                    now,
                );
                conversation.peer_id = row.peer_id.clone();
                conversation
            })
            .collect();
        Ok(Page { items, next })
    }

    /// `GET /v1/conversations/{id}/participants`: the active members, longest-standing
    /// first, a page at a time (`limit` 1–100, default 50); `next` is the cursor of the
    /// last one listed.
    pub async fn participants(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<Participant>, AppError> {
        let mut validation = Validation::new();
        let limit = page_limit(&mut validation, limit);
        let after = page_cursor(&mut validation, cursor, decode_cursor::<UserId>);
        // An outsider learns nothing, not even that the query was malformed.
        self.core.access(actor, conversation_id).await?;
        validation.finish()?;
        let mut rows = self
            .core
            .store
            .list_participants_page(
                conversation_id,
                after.as_ref().map(|(at, user)| (*at, user)),
                limit + 1,
            )
            .await?;
        let next = cut_page(&mut rows, limit as usize, |row| {
            encode_cursor(row.joined_at, &row.user_id)
        });
        Ok(Page {
            items: rows.iter().map(ParticipantRecord::to_proto).collect(),
            next,
        })
    }

    /// `POST /v1/conversations/{id}/participants`: adds users (owner/admin; only the owner
    /// or a moderator grants admin). Agents may add themselves to support conversations.
    pub async fn add_participants(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
        request: AddParticipants,
    ) -> Result<Vec<Participant>, AppError> {
        let (record, access) = self.core.access(actor, conversation_id).await?;
        if record.kind == ConversationType::Direct {
            return Err(direct_fixed());
        }
        let role = request.role.unwrap_or(ParticipantRole::Member);
        let user_ids: BTreeSet<UserId> = request.user_ids.into_iter().collect();
        let mut validation = Validation::new();
        if user_ids.is_empty() || user_ids.len() > MAX_PARTICIPANTS_PER_REQUEST {
            validation.add("user_ids", "out_of_range", "between 1 and 100 users");
        }
        validation.finish()?;
        let joining_agent = matches!(access, Access::SupportAgent)
            && role == ParticipantRole::Member
            && user_ids.len() == 1
            && actor
                .user_id
                .as_ref()
                .is_some_and(|me| user_ids.contains(me));
        if !joining_agent && !access.can_manage() {
            return Err(AppError::forbidden(
                "insufficient_role",
                "only the owner or an admin may add participants",
            ));
        }
        if role == ParticipantRole::Owner
            || (role == ParticipantRole::Admin
                && access.rank() < ParticipantRole::Owner.rank()
                && !matches!(access, Access::Moderator))
        {
            return Err(AppError::forbidden(
                "role_escalation",
                "you may not grant a role above your own, and only the owner grants admin",
            ));
        }
        let new = user_ids
            .into_iter()
            .map(|user_id| NewParticipant { user_id, role })
            .collect();
        let added = self
            .core
            .store
            .add_participants(conversation_id, new, self.core.now())
            .await
            .map_err(not_found)?;
        if !added.is_empty() {
            self.core.committed_latest(conversation_id).await;
        }
        Ok(added.iter().map(ParticipantRecord::to_proto).collect())
    }

    /// `PATCH /v1/conversations/{id}/participants/{user_id}`: the owner (or a moderator)
    /// makes an admin or a member.
    pub async fn update_participant(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
        user_id: &UserId,
        request: UpdateParticipant,
    ) -> Result<Participant, AppError> {
        let (record, access) = self.core.access(actor, conversation_id).await?;
        if record.kind == ConversationType::Direct {
            return Err(direct_fixed());
        }
        let target = self.active_participant(conversation_id, user_id).await?;
        if request.role == ParticipantRole::Owner {
            return Err(AppError::forbidden(
                "role_escalation",
                "ownership passes only when the owner leaves",
            ));
        }
        if target.role == ParticipantRole::Owner {
            return Err(AppError::forbidden(
                "owner_protected",
                "nobody may demote the owner",
            ));
        }
        let is_owner = access
            .participant()
            .is_some_and(|p| p.role == ParticipantRole::Owner);
        if !is_owner && !matches!(access, Access::Moderator) {
            return Err(if access.can_manage() {
                AppError::forbidden("role_escalation", "only the owner changes roles")
            } else {
                AppError::forbidden("insufficient_role", "only the owner changes roles")
            });
        }
        if target.role == request.role {
            return Ok(target.to_proto());
        }
        let updated = self
            .core
            .store
            .update_participant_role(conversation_id, user_id, request.role, self.core.now())
            .await
            .map_err(|err| match err {
                StoreError::NotFound => AppError::NotFound(Resource::Participant),
                other => other.into(),
            })?;
        self.core.committed_latest(conversation_id).await;
        Ok(updated.to_proto())
    }

    /// `DELETE /v1/conversations/{id}/participants/{user_id}`: removes someone of a lower
    /// role (moderators: anyone but the owner). Removing oneself is leaving.
    pub async fn remove_participant(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
        user_id: &UserId,
    ) -> Result<(), AppError> {
        if actor.user_id.as_ref() == Some(user_id) {
            return self.leave(actor, conversation_id).await;
        }
        let (record, access) = self.core.access(actor, conversation_id).await?;
        if record.kind == ConversationType::Direct {
            return Err(direct_fixed());
        }
        if !access.can_manage() {
            return Err(AppError::forbidden(
                "insufficient_role",
                "only the owner or an admin may remove participants",
            ));
        }
        let target = self.active_participant(conversation_id, user_id).await?;
        if target.role == ParticipantRole::Owner {
            return Err(AppError::forbidden(
                "owner_protected",
                "nobody may remove the owner",
            ));
        }
        let allowed = match &access {
            Access::Moderator => true,
            other => other.rank() > target.role.rank(),
        };
        if !allowed {
            return Err(AppError::forbidden(
                "insufficient_role",
                "you may only remove participants below your role",
            ));
        }
        self.core
            .store
            .remove_participant(
                conversation_id,
                user_id,
                RemovalReason::Removed,
                None,
                self.core.now(),
            )
            .await
            .map_err(|err| match err {
                StoreError::NotFound => AppError::NotFound(Resource::Participant),
                other => other.into(),
            })?;
        self.core.committed_latest(conversation_id).await;
        self.core
            .audit(
                actor,
                natter_proto::audit_action::PARTICIPANT_REMOVE,
                conversation_id,
                serde_json::json!({ "user_id": user_id }),
            )
            .await;
        Ok(())
    }

    /// `POST /v1/conversations/{id}/leave`: an owner hands ownership to the
    /// longest-standing admin, else the longest-standing member.
    pub async fn leave(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
    ) -> Result<(), AppError> {
        let (record, me) = self.core.participant(actor, conversation_id).await?;
        if record.kind == ConversationType::Direct {
            return Err(AppError::forbidden(
                "direct_conversation_fixed",
                "you cannot leave a direct conversation; archive it instead",
            ));
        }
        for _attempt in 0..3 {
            let successor = if me.role == ParticipantRole::Owner {
                let others: Vec<ParticipantRecord> = self
                    .core
                    .store
                    .list_participants(conversation_id)
                    .await?
                    .into_iter()
                    .filter(|p| p.user_id != me.user_id)
                    .collect();
                others
                    .iter()
                    .find(|p| p.role == ParticipantRole::Admin)
                    .or_else(|| others.first())
                    .map(|p| p.user_id.clone())
            } else {
                None
            };
            match self
                .core
                .store
                .remove_participant(
                    conversation_id,
                    &me.user_id,
                    RemovalReason::Left,
                    successor.as_ref(),
                    self.core.now(),
                )
                .await
            {
                Err(StoreError::Conflict(reason)) if reason == "successor" => continue,
                Err(StoreError::NotFound) => {
                    return Err(AppError::NotFound(Resource::Conversation))
                }
                Err(other) => return Err(other.into()),
                Ok(()) => {
                    self.core.committed_latest(conversation_id).await;
                    return Ok(());
                }
            }
        }
        Err(AppError::conflict(
            "membership_changed",
            "membership changed while leaving; retry",
        ))
    }

    /// `PATCH /v1/conversations/{id}/me`: the caller's own settings.
    pub async fn update_my_settings(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
        request: UpdateMySettings,
    ) -> Result<MySettings, AppError> {
        let (_, me) = self.core.participant(actor, conversation_id).await?;
        let now = self.core.now();
        let mut validation = Validation::new();
        let mut patch = SettingsPatch {
            muted: request.muted,
            muted_until: None,
            pinned: request.pinned,
            archived: request.archived,
            notification_level: request.notification_level,
            sound: request.sound,
        };
        match (request.muted, request.muted_until) {
            (Some(false), Some(_)) => validation.add(
                "muted_until",
                "conflicts_with_unmute",
                "muted_until needs muted: true",
            ),
            (Some(false), None) => patch.muted_until = Some(None),
            (_, Some(until)) if until <= now => validation.add(
                "muted_until",
                "in_the_past",
                "muted_until must be in the future",
            ),
            (_, Some(until)) => {
                patch.muted = Some(true);
                patch.muted_until = Some(Some(natter_store::truncate_to_micros(until)));
            }
            (Some(true), None) => patch.muted_until = Some(None),
            (None, None) => {}
        }
        validation.finish()?;
        let updated = self
            .core
            .store
            .update_settings(conversation_id, &me.user_id, patch)
            .await
            .map_err(not_found)?;
        Ok(updated.to_settings(now))
    }

    async fn active_participant(
        &self,
        conversation_id: ConversationId,
        user_id: &UserId,
    ) -> Result<ParticipantRecord, AppError> {
        self.core
            .store
            .find_participant(conversation_id, user_id)
            .await?
            .filter(ParticipantRecord::is_active)
            .ok_or(AppError::NotFound(Resource::Participant))
    }
}

/// A store `NotFound` after the access check means the conversation vanished.
fn not_found(err: StoreError) -> AppError {
    match err {
        StoreError::NotFound => AppError::NotFound(Resource::Conversation),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_keys_ignore_participant_order_but_not_context() {
        let (a, b) = (
            UserId::parse("a").expect("id"),
            UserId::parse("b").expect("id"),
        );
        assert_eq!(direct_key(&a, &b, None), direct_key(&b, &a, None));
        let order = ContextRef {
            kind: "order".into(),
            id: "1".into(),
        };
        assert_ne!(direct_key(&a, &b, None), direct_key(&a, &b, Some(&order)));
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_rejected() {
        let at = natter_store::from_micros(1_700_000_000_123_456);
        let id = ConversationId::new();
        assert_eq!(decode_cursor(&encode_cursor(at, id)), Some((at, id)));
        assert_eq!(decode_cursor::<ConversationId>("not-a-cursor"), None);
        // The users of an emoji or a conversation: the key is a user id.
        let user = UserId::parse("bob@example.com").expect("user id");
        assert_eq!(
            decode_cursor(&encode_cursor(at, &user)),
            Some((at, user.clone()))
        );
        let bad_user = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("1:bad id!");
        assert_eq!(decode_cursor::<UserId>(&bad_user), None);
    }
}
