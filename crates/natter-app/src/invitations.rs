//! Invitation links: owners and admins create signed, expiring, use-limited links; anyone
//! holding one joins the conversation as a member.
//!
//! The token is `inv.<id and conversation>.<HMAC>`: a forged or altered token is
//! rejected before the store is asked. Expiry, use count and revocation are checked and
//! the use consumed in one transaction with the join.

use std::time::Duration;

use natter_proto::{
    Conversation, ConversationId, ConversationType, CreateInvitation, Invitation, Page,
};
use natter_store::{AcceptOutcome, InvitationRecord, StoreError};

use crate::limits::Action;
use crate::{Actor, AppError, Authenticator, Conversations, Resource, Validation};

const DEFAULT_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
const MAX_TTL: u64 = 30 * 24 * 3600;

fn wire(record: &InvitationRecord, auth: &Authenticator) -> Invitation {
    Invitation {
        id: record.id.to_string(),
        conversation_id: record.conversation_id,
        token: auth.sign_invitation(record.id, record.conversation_id),
        created_by: record.created_by.clone(),
        created_at: record.created_at,
        expires_at: record.expires_at,
        max_uses: record.max_uses,
        uses: record.uses,
        revoked: record.revoked_at.is_some(),
    }
}

impl Conversations {
    async fn require_manager(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
    ) -> Result<(), AppError> {
        let (record, access) = self.core.access(actor, conversation_id).await?;
        if record.kind == ConversationType::Direct {
            return Err(AppError::forbidden(
                "direct_conversation_fixed",
                "direct conversations take no invitations",
            ));
        }
        if !access.can_manage() {
            return Err(AppError::forbidden(
                "insufficient_role",
                "only the owner or an admin manages invitations",
            ));
        }
        Ok(())
    }

    /// `POST /v1/conversations/{id}/invitations`.
    pub async fn create_invitation(
        &self,
        auth: &Authenticator,
        actor: &Actor,
        conversation_id: ConversationId,
        request: CreateInvitation,
    ) -> Result<Invitation, AppError> {
        self.require_manager(actor, conversation_id).await?;
        let mut validation = Validation::new();
        let ttl = match request.expires_in_secs {
            None => DEFAULT_TTL,
            Some(secs @ 60..=MAX_TTL) => Duration::from_secs(secs),
            Some(_) => {
                validation.add(
                    "expires_in_secs",
                    "out_of_range",
                    "between 60 seconds and 30 days",
                );
                DEFAULT_TTL
            }
        };
        if request
            .max_uses
            .is_some_and(|uses| !(1..=10_000).contains(&uses))
        {
            validation.add("max_uses", "out_of_range", "between 1 and 10000");
        }
        validation.finish()?;
        self.core.limiter.check(actor, Action::Invite)?;
        let now = self.core.now();
        let record = InvitationRecord {
            id: uuid::Uuid::now_v7(),
            conversation_id,
            created_by: actor.user_id.clone(),
            created_at: now,
            expires_at: now + ttl,
            max_uses: request.max_uses,
            uses: 0,
            revoked_at: None,
        };
        self.core.store.insert_invitation(record.clone()).await?;
        Ok(wire(&record, auth))
    }

    /// `GET /v1/conversations/{id}/invitations`.
    pub async fn list_invitations(
        &self,
        auth: &Authenticator,
        actor: &Actor,
        conversation_id: ConversationId,
    ) -> Result<Page<Invitation>, AppError> {
        self.require_manager(actor, conversation_id).await?;
        let records = self.core.store.list_invitations(conversation_id).await?;
        Ok(Page {
            items: records.iter().map(|r| wire(r, auth)).collect(),
            next: None,
        })
    }

    /// `DELETE /v1/conversations/{id}/invitations/{invitation_id}`.
    pub async fn revoke_invitation(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
        invitation_id: &str,
    ) -> Result<(), AppError> {
        self.require_manager(actor, conversation_id).await?;
        let id: uuid::Uuid = invitation_id
            .parse()
            .map_err(|_| AppError::NotFound(Resource::Invitation))?;
        match self.core.store.find_invitation(id).await? {
            Some(record) if record.conversation_id == conversation_id => {}
            _ => return Err(AppError::NotFound(Resource::Invitation)),
        }
        self.core
            .store
            .revoke_invitation(id, self.core.now())
            .await
            .map_err(|err| match err {
                StoreError::NotFound => AppError::NotFound(Resource::Invitation),
                other => other.into(),
            })
    }

    /// `POST /v1/invitations/{token}/accept`: joins as a member (no use is consumed when
    /// the caller is a member already).
    pub async fn accept_invitation(
        &self,
        auth: &Authenticator,
        actor: &Actor,
        token: &str,
    ) -> Result<Conversation, AppError> {
        let user_id = actor.require_user()?.clone();
        let (id, conversation_id) = auth
            .verify_invitation(token)
            .ok_or(AppError::NotFound(Resource::Invitation))?;
        let outcome = self
            .core
            .store
            .accept_invitation(id, &user_id, self.core.now())
            .await
            .map_err(|err| match err {
                StoreError::NotFound => AppError::NotFound(Resource::Invitation),
                other => other.into(),
            })?;
        match outcome {
            AcceptOutcome::Joined(event_seq) => {
                self.core.committed(conversation_id, event_seq).await
            }
            AcceptOutcome::AlreadyMember => {}
            AcceptOutcome::Revoked => {
                return Err(AppError::Gone {
                    code: "invitation_revoked",
                    detail: "this invitation was revoked".into(),
                })
            }
            AcceptOutcome::Expired => {
                return Err(AppError::Gone {
                    code: "invitation_expired",
                    detail: "this invitation has expired".into(),
                })
            }
            AcceptOutcome::Exhausted => {
                return Err(AppError::Gone {
                    code: "invitation_exhausted",
                    detail: "this invitation has been used up".into(),
                })
            }
        }
        self.get(actor, conversation_id).await
    }
}
