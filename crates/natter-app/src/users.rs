//! Users: just-in-time records from token claims, the server API's upsert, lookups and
//! the unread summary.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use natter_proto::{AppRole, ConversationUnread, UnreadSummary, UpsertUser, User, UserId};
use natter_store::UserUpsert;

use crate::core::Core;
use crate::{content, Actor, AppError, Resource, Validation};

/// Remembered `(display name, role)` of users whose record is known to be current, so
/// that just-in-time provisioning costs a write only when claims change. Bounded: cleared
/// when full (a std `Mutex` is fine, it is held for a map lookup only).
type Seen = Mutex<HashMap<UserId, (Option<String>, AppRole)>>;
const SEEN_CAPACITY: usize = 100_000;

/// The users service.
#[derive(Clone)]
pub struct Users {
    core: Arc<Core>,
    seen: Arc<Seen>,
}

impl Users {
    pub(crate) fn new(core: Arc<Core>) -> Self {
        Self {
            core,
            seen: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Makes sure the acting user has a record matching the token's claims. Users acted
    /// as by the server key are created with defaults when missing.
    pub async fn ensure(&self, actor: &Actor) -> Result<(), AppError> {
        let Some(user_id) = &actor.user_id else {
            return Ok(());
        };
        let wanted = (actor.display_name.clone(), actor.role);
        if let Ok(seen) = self.seen.lock() {
            match seen.get(user_id) {
                Some(known) if actor.server || *known == wanted => return Ok(()),
                _ => {}
            }
        }
        let upsert = if actor.server {
            UserUpsert {
                id: user_id.clone(),
                display_name: None,
                avatar_url: None,
                role: None,
            }
        } else {
            UserUpsert {
                id: user_id.clone(),
                display_name: actor.display_name.clone(),
                avatar_url: None,
                role: Some(actor.role),
            }
        };
        let stored = match self.core.store.find_user(user_id).await? {
            Some(record)
                if actor.server
                    || (record.role == actor.role
                        && (actor.display_name.is_none()
                            || record.display_name == actor.display_name)) =>
            {
                record
            }
            _ => self.core.store.upsert_user(upsert, self.core.now()).await?,
        };
        if let Ok(mut seen) = self.seen.lock() {
            if seen.len() >= SEEN_CAPACITY {
                seen.clear();
            }
            seen.insert(user_id.clone(), (stored.display_name, stored.role));
        }
        Ok(())
    }

    /// `GET /v1/users/me`.
    pub async fn me(&self, actor: &Actor) -> Result<User, AppError> {
        let user_id = actor.require_user()?;
        self.get(actor, user_id).await
    }

    /// A user's public profile; any authenticated caller may look one up.
    pub async fn get(&self, _actor: &Actor, user_id: &UserId) -> Result<User, AppError> {
        let record = self
            .core
            .store
            .find_user(user_id)
            .await?
            .ok_or(AppError::NotFound(Resource::User))?;
        Ok(record.to_proto())
    }

    /// Creates or updates a user (server API). Returns the user and whether it was new.
    pub async fn upsert(
        &self,
        actor: &Actor,
        user_id: UserId,
        request: UpsertUser,
    ) -> Result<(User, bool), AppError> {
        actor.require_server()?;
        let mut validation = Validation::new();
        let display_name = request
            .display_name
            .as_deref()
            .and_then(|name| validation.check("display_name", content::line(name, 100)));
        let avatar_url = request
            .avatar_url
            .as_deref()
            .and_then(|url| validation.check("avatar_url", content::url(url)));
        validation.finish()?;
        let existed = self.core.store.find_user(&user_id).await?.is_some();
        let record = self
            .core
            .store
            .upsert_user(
                UserUpsert {
                    id: user_id.clone(),
                    display_name,
                    avatar_url,
                    role: request.role,
                },
                self.core.now(),
            )
            .await?;
        if let Ok(mut seen) = self.seen.lock() {
            seen.remove(&user_id);
        }
        Ok((record.to_proto(), !existed))
    }

    /// The caller's unread totals.
    pub async fn unread(&self, actor: &Actor) -> Result<UnreadSummary, AppError> {
        let user_id = actor.require_user()?;
        let details = self
            .core
            .store
            .list_unread_details(user_id, self.core.now())
            .await?;
        let notify = |d: &natter_store::UnreadDetail| match d.notification_level {
            _ if d.muted => 0,
            natter_proto::NotificationLevel::All => d.unread,
            natter_proto::NotificationLevel::Mentions => d.mentions,
            natter_proto::NotificationLevel::None => 0,
        };
        let with_unread: Vec<&natter_store::UnreadDetail> =
            details.iter().filter(|d| d.unread > 0).collect();
        Ok(UnreadSummary {
            total: with_unread.iter().map(|d| d.unread).sum(),
            conversations_with_unread: with_unread.len() as u64,
            mentions_total: details.iter().map(|d| d.mentions).sum(),
            notify_total: details.iter().map(notify).sum(),
            conversations: with_unread
                .iter()
                .map(|d| ConversationUnread {
                    conversation_id: d.conversation_id,
                    unread_count: d.unread,
                    unread_mentions: d.mentions,
                })
                .collect(),
        })
    }
}
