//! REST faces of realtime state: typing indicators, presence and realtime tokens. The
//! WebSocket gateway itself lives in the server; it talks to the [`Hub`].

use std::sync::Arc;

use natter_proto::{ConversationId, RealtimeToken, TypingState, UserId, UserPresence};

use crate::auth::REALTIME_TOKEN_TTL_SECONDS;
use crate::core::Core;
use crate::hub::Hub;
use crate::{Actor, AppError, Authenticator, Resource};

/// The realtime service.
#[derive(Clone)]
pub struct Realtime {
    pub(crate) core: Arc<Core>,
    pub(crate) hub: Hub,
}

impl Realtime {
    /// This node's hub.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// `POST /v1/conversations/{id}/typing`: starts (or with `false` stops) the caller's
    /// typing indicator.
    pub async fn set_typing(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
        typing: bool,
    ) -> Result<(), AppError> {
        let (_, me) = self.core.participant(actor, conversation_id).await?;
        self.hub
            .publish_typing(conversation_id, &me.user_id, typing)
            .await;
        Ok(())
    }

    /// `GET /v1/conversations/{id}/typing`.
    pub async fn typing(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
    ) -> Result<TypingState, AppError> {
        self.core.access(actor, conversation_id).await?;
        Ok(TypingState {
            user_ids: self.hub.typing(conversation_id),
        })
    }

    /// `GET /v1/users/{id}/presence`: visible to the user, moderators, and users who share
    /// a conversation with them.
    pub async fn presence(
        &self,
        actor: &Actor,
        user_id: &UserId,
    ) -> Result<UserPresence, AppError> {
        let allowed = actor.is_moderator()
            || actor.user_id.as_ref() == Some(user_id)
            || match &actor.user_id {
                Some(me) => {
                    let epoch = time::OffsetDateTime::UNIX_EPOCH;
                    let mine: std::collections::HashSet<ConversationId> = self
                        .core
                        .store
                        .list_changed_conversations(me, epoch)
                        .await?
                        .into_iter()
                        .filter(|r| !r.removed)
                        .map(|r| r.conversation_id)
                        .collect();
                    self.core
                        .store
                        .list_changed_conversations(user_id, epoch)
                        .await?
                        .iter()
                        .any(|r| !r.removed && mine.contains(&r.conversation_id))
                }
                None => false,
            };
        if !allowed {
            return Err(AppError::NotFound(Resource::User));
        }
        let mut presence = self.hub.presence(user_id);
        if !presence.online && presence.last_seen_at.is_none() {
            presence.last_seen_at = self
                .core
                .store
                .find_user(user_id)
                .await?
                .and_then(|u| u.last_seen_at);
        }
        Ok(UserPresence {
            user_id: user_id.clone(),
            online: presence.online,
            last_seen_at: presence.last_seen_at,
        })
    }

    /// `POST /v1/realtime/token`: a 60-second token for `GET /v1/realtime?token=`.
    pub fn token(&self, auth: &Authenticator, actor: &Actor) -> Result<RealtimeToken, AppError> {
        let now = self.core.now().unix_timestamp().max(0) as u64;
        Ok(RealtimeToken {
            token: auth.mint_realtime(actor, now)?,
            expires_in: REALTIME_TOKEN_TTL_SECONDS,
        })
    }

    /// The sync token as of now (sent in the gateway's `hello`).
    pub fn sync_token(&self) -> String {
        crate::events::encode_token(self.core.now())
    }

    /// The current time as RFC 3339 (for `pong` frames).
    pub fn sync_token_time(&self) -> String {
        self.core
            .now()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    }

    /// The current time in seconds since the epoch (for verifying realtime tokens).
    pub fn now_unix(&self) -> u64 {
        self.core.now().unix_timestamp().max(0) as u64
    }
}
