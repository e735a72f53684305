//! State and checks shared by every service: the store, the clock, and the question
//! "what may this actor do in this conversation?".

use std::sync::Arc;

use natter_bus::{Bus, Notice};
use natter_proto::{ConversationId, ConversationType, EventSeq, ParticipantRole, Timestamp};
use natter_store::{ConversationRecord, ParticipantRecord, Store};

use crate::{Actor, AppError, Clock, Limits, Resource};

/// Members embedded in a single conversation's answer (see
/// [`Core::embedded_participants`]).
pub const EMBEDDED_PARTICIPANTS: u32 = 100;

pub(crate) struct Core {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) bus: Arc<dyn Bus>,
    pub(crate) limits: Limits,
    pub(crate) limiter: crate::limits::Limiter,
    pub(crate) metrics: std::sync::Arc<crate::metrics::Metrics>,
    pub(crate) clock: Arc<dyn Clock>,
    /// PII masking of message content, on send and on edit.
    pub(crate) pii: crate::pii::PiiRules,
}

/// How the actor relates to a conversation.
#[derive(Debug, Clone)]
pub(crate) enum Access {
    /// An active participant.
    Participant(ParticipantRecord),
    /// Not a participant, but may read and moderate (app admin or the server itself).
    Moderator,
    /// An agent looking at a support conversation they may join.
    SupportAgent,
}

impl Access {
    pub(crate) fn participant(&self) -> Option<&ParticipantRecord> {
        match self {
            Self::Participant(participant) => Some(participant),
            _ => None,
        }
    }

    /// Owner or admin of the conversation, or a moderator.
    pub(crate) fn can_manage(&self) -> bool {
        match self {
            Self::Participant(p) => p.role.rank() >= ParticipantRole::Admin.rank(),
            Self::Moderator => true,
            Self::SupportAgent => false,
        }
    }

    /// The highest role this actor may grant or act upon: its own role for participants,
    /// admin for moderators.
    pub(crate) fn rank(&self) -> u8 {
        match self {
            Self::Participant(p) => p.role.rank(),
            Self::Moderator => ParticipantRole::Admin.rank(),
            Self::SupportAgent => 0,
        }
    }
}

impl Core {
    /// Rings the doorbell after a commit: every node's hub loads the conversation's events
    /// up to `seq`. A failed publish only delays live delivery (clients catch up by seq).
    pub(crate) async fn committed(&self, conversation_id: ConversationId, seq: EventSeq) {
        let started = std::time::Instant::now();
        let published = self
            .bus
            .publish(Notice::Committed {
                conversation_id,
                seq,
            })
            .await;
        self.metrics.observe_bus_publish(started.elapsed());
        if let Err(err) = published {
            tracing::warn!(%conversation_id, error = %err, "publish failed; clients will resync");
        }
    }

    /// Like [`Core::committed`] for writes whose store method does not return the event seq
    /// (membership changes, which are rare): reads the conversation's latest seq first.
    pub(crate) async fn committed_latest(&self, conversation_id: ConversationId) {
        match self.store.find_conversation(conversation_id).await {
            Ok(Some(conversation)) => {
                self.committed(conversation_id, conversation.last_event_seq)
                    .await
            }
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(%conversation_id, error = %err, "not published; clients will resync")
            }
        }
    }

    /// Writes an admin action to the audit log when `actor` is a moderator (an app admin,
    /// or the server key acting as itself) and does nothing for anyone else, so services
    /// call it after any action a moderator may take. The action has committed by then: a
    /// failed write is logged, not returned, because the action cannot be taken back.
    pub(crate) async fn audit(
        &self,
        actor: &Actor,
        action: &str,
        target: impl Into<natter_store::admin::AuditTarget>,
        details: serde_json::Value,
    ) {
        if !actor.is_moderator() {
            return;
        }
        let entry = audit_entry(actor, action, target.into(), details, self.now());
        if let Err(err) = self.store.insert_audit(entry).await {
            tracing::error!(action, error = %err, "audit entry not written");
        }
    }

    /// Now, truncated to the precision the stores keep.
    pub(crate) fn now(&self) -> Timestamp {
        natter_store::truncate_to_micros(self.clock.now())
    }

    /// The conversation and the actor's access to it; `NotFound` for anyone who may not
    /// see it, so that outsiders cannot tell whether it exists.
    pub(crate) async fn access(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
    ) -> Result<(ConversationRecord, Access), AppError> {
        let (conversation, participant) = self
            .store
            .find_conversation_access(conversation_id, actor.user_id.as_ref())
            .await?
            .ok_or(AppError::NotFound(Resource::Conversation))?;
        if let Some(participant) = participant.filter(ParticipantRecord::is_active) {
            return Ok((conversation, Access::Participant(participant)));
        }
        if actor.is_moderator() {
            return Ok((conversation, Access::Moderator));
        }
        if actor.role == natter_proto::AppRole::Agent
            && conversation.kind == ConversationType::Support
        {
            return Ok((conversation, Access::SupportAgent));
        }
        Err(AppError::NotFound(Resource::Conversation))
    }

    /// The members a single conversation's answer embeds: the first
    /// [`EMBEDDED_PARTICIPANTS`], longest-standing first. `participant_count` counts them
    /// all and `GET …/participants` pages the rest, so the answer does not grow with the
    /// group.
    pub(crate) async fn embedded_participants(
        &self,
        conversation_id: ConversationId,
    ) -> Result<Vec<ParticipantRecord>, AppError> {
        Ok(self
            .store
            .list_participants_page(conversation_id, None, EMBEDDED_PARTICIPANTS)
            .await?)
    }

    /// Like [`Core::access`] but only active participants pass.
    pub(crate) async fn participant(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
    ) -> Result<(ConversationRecord, ParticipantRecord), AppError> {
        let (conversation, access) = self.access(actor, conversation_id).await?;
        match access {
            Access::Participant(participant) => Ok((conversation, participant)),
            _ => Err(AppError::forbidden(
                "not_participant",
                "only participants of the conversation may do this",
            )),
        }
    }
}

/// The audit entry of `actor` doing `action` to `target` at `at`.
pub(crate) fn audit_entry(
    actor: &Actor,
    action: &str,
    target: natter_store::admin::AuditTarget,
    details: serde_json::Value,
    at: Timestamp,
) -> natter_store::admin::NewAuditEntry {
    natter_store::admin::NewAuditEntry {
        at,
        actor: actor.user_id.clone(),
        server_key: actor.server,
        action: action.to_owned(),
        target,
        details,
    }
}
