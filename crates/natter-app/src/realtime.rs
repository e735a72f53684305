//! REST faces of realtime state: typing indicators, presence and realtime tokens. The
//! WebSocket gateway itself lives in the server; it talks to the [`Hub`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    pub(crate) polls: Arc<Mutex<HashMap<String, PollSession>>>,
}

/// A long-poll cursor: a hub session kept between polls.
pub(crate) struct PollSession {
    user_id: UserId,
    session: Option<crate::hub::Session>,
    last_used: Instant,
}

/// A long-poll cursor is dropped after this long without a poll.
const POLL_IDLE: Duration = Duration::from_secs(60);
/// Most frames returned by one poll.
const POLL_BATCH: usize = 100;

/// The answer to one long poll.
#[derive(Debug)]
pub enum Poll {
    /// A new cursor: catch up from `sync_token` with `/v1/sync`, then poll with `cursor`.
    Started {
        /// The cursor to poll with.
        cursor: String,
        /// Sync token as of the moment the cursor started receiving.
        sync_token: String,
    },
    /// Frames (JSON) since the previous poll; empty after a timeout.
    Frames {
        /// The cursor to poll with next (unchanged).
        cursor: String,
        /// Serialised frames, oldest first.
        frames: Vec<bytes::Bytes>,
    },
}

impl Realtime {
    /// This node's hub.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// `GET /v1/events?since=<cursor>&timeout=<s>`: long-poll. Without a cursor, starts
    /// one (a hub session kept on this node for 60 s between polls). With one, waits up to
    /// `timeout` for frames. A cursor that expired, belongs to someone else, or fell behind
    /// is `Conflict("resync_required")`: resync from the log and start a new cursor.
    pub async fn poll(
        &self,
        actor: &Actor,
        cursor: Option<&str>,
        timeout: Duration,
    ) -> Result<Poll, AppError> {
        let user_id = actor.require_user()?.clone();
        self.sweep_polls();
        let Some(cursor) = cursor else {
            let session = self.hub.connect(&user_id).await?;
            let cursor = format!("lp-{}-{:016x}", session.id(), rand::random::<u64>());
            let sync_token = self.sync_token();
            if let Ok(mut polls) = self.polls.lock() {
                polls.insert(
                    cursor.clone(),
                    PollSession {
                        user_id,
                        session: Some(session),
                        last_used: Instant::now(),
                    },
                );
            }
            return Ok(Poll::Started { cursor, sync_token });
        };
        let resync = || {
            AppError::conflict(
                "resync_required",
                "this cursor expired or fell behind: resync from /v1/sync and start a new one",
            )
        };
        // Take the session out while waiting so that the lock is not held across the wait.
        let mut session = {
            let mut polls = self.polls.lock().map_err(|_| resync())?;
            match polls.get_mut(cursor) {
                Some(poll) if poll.user_id == user_id => poll.session.take().ok_or_else(resync)?,
                _ => return Err(resync()),
            }
        };
        let signal = session.close_signal();
        let mut frames = Vec::new();
        let lagged = tokio::select! {
            frame = tokio::time::timeout(timeout, session.next_frame()) => {
                if let Ok(Some(frame)) = frame {
                    frames.push(frame);
                    while frames.len() < POLL_BATCH {
                        match session.try_next_frame() {
                            Some(more) => frames.push(more),
                            None => break,
                        }
                    }
                }
                false
            }
            _ = signal.closed() => true,
        };
        let mut polls = self.polls.lock().map_err(|_| resync())?;
        if lagged {
            polls.remove(cursor);
            return Err(resync());
        }
        if let Some(poll) = polls.get_mut(cursor) {
            poll.session = Some(session);
            poll.last_used = Instant::now();
        }
        Ok(Poll::Frames {
            cursor: cursor.to_owned(),
            frames,
        })
    }

    fn sweep_polls(&self) {
        if let Ok(mut polls) = self.polls.lock() {
            polls.retain(|_, poll| poll.session.is_none() || poll.last_used.elapsed() < POLL_IDLE);
        }
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
        self.core
            .limiter
            .check(actor, crate::limits::Action::Typing)?;
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
