//! The realtime hub of one node: turns bus notices into frames for this node's sessions.
//!
//! The bus only rings the doorbell (`Committed { conversation_id, seq }`); the hub loads
//! the new events and the members' ids from the store in one snapshot, serialises each
//! event **once**, and hands the same bytes to every local session of every recipient.
//! Membership boundaries are exact: walking the batch backwards from the members as of
//! its last event, a user added by an event receives it and what follows; a
//! removed user receives their own removal and nothing after.
//!
//! Each session has a bounded queue. A session that cannot keep up is never waited for:
//! it is flagged `lagged` and the gateway closes it with the resync code, and the client
//! catches up from the event log. Typing and presence are ephemeral: they travel on the
//! bus with their payload and are never stored (except `last_seen_at`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use natter_bus::{Bus, Notice};
use natter_proto::{event_type, ConversationId, EventSeq, MessageSeq, Timestamp, UserId};
use natter_store::{EventRecord, StoreError};
use serde_json::json;
use tokio::sync::{broadcast, mpsc, Notify};

use crate::core::Core;
use crate::{AppError, Resource};

/// Typing indicators expire this long after the last `typing.start`.
pub const TYPING_TTL: Duration = Duration::from_secs(10);
/// Most events loaded per conversation per doorbell; more means the sessions resync.
/// Never more than a session queue holds, so that one batch alone cannot overflow it.
const FANOUT_LIMIT: u32 = 500;

/// A serialised server → client frame (UTF-8 JSON), shared by every recipient.
pub type Frame = Bytes;

/// Presence of a user as the hub knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    /// At least one device is connected to some node.
    pub online: bool,
    /// Last disconnect of the last device, if known.
    pub last_seen_at: Option<Timestamp>,
}

/// What a session's queue holds: one frame, or the frames of one fan-out batch, shared by
/// every recipient of the batch (one queue push and one wake-up per recipient and batch,
/// not per event).
enum Queued {
    One(Frame),
    Batch(Arc<[Frame]>),
}

pub(crate) struct SessionShared {
    id: u64,
    user_id: UserId,
    /// Unbounded, with [`SessionShared::queued`] as its bound: a bounded channel took a
    /// semaphore (and a lock to return each permit) per frame and recipient.
    queue: mpsc::UnboundedSender<Queued>,
    /// Frames in the queue; past the hub's `queue_capacity` the session is lagged.
    queued: AtomicUsize,
    capacity: usize,
    lagged: AtomicBool,
    wake: Notify,
    conversations: Mutex<HashSet<ConversationId>>,
}

impl SessionShared {
    /// Queues a frame; `true` if it was queued.
    fn push(&self, frame: &Frame) -> bool {
        self.enqueue(Queued::One(frame.clone()), 1)
    }

    /// Queues a batch's frames; `true` if they were queued. A batch of one goes as that
    /// frame (one reference count less to touch per recipient); an empty one is not queued.
    fn push_batch(&self, frames: &Arc<[Frame]>) -> bool {
        match &**frames {
            [] => true,
            [frame] => self.push(frame),
            _ => self.enqueue(Queued::Batch(Arc::clone(frames)), frames.len()),
        }
    }

    fn enqueue(&self, item: Queued, frames: usize) -> bool {
        if self.queued.fetch_add(frames, Ordering::Relaxed) + frames > self.capacity {
            self.queued.fetch_sub(frames, Ordering::Relaxed);
            self.mark_lagged();
            return false;
        }
        if self.queue.send(item).is_err() {
            self.queued.fetch_sub(frames, Ordering::Relaxed);
            return false;
        }
        true
    }

    fn mark_lagged(&self) {
        if !self.lagged.swap(true, Ordering::SeqCst) {
            self.wake.notify_one();
        }
    }

    fn is_in(&self, conversation_id: ConversationId) -> bool {
        self.conversations
            .lock()
            .map(|set| set.contains(&conversation_id))
            .unwrap_or(false)
    }
}

#[derive(Default)]
struct TypingState {
    /// conversation → typist → expiry.
    active: HashMap<ConversationId, HashMap<UserId, Instant>>,
}

struct HubInner {
    core: Arc<Core>,
    bus: Arc<dyn Bus>,
    node: String,
    queue_capacity: usize,
    next_session: AtomicU64,
    sessions: RwLock<HashMap<UserId, Vec<Arc<SessionShared>>>>,
    delivered: Mutex<HashMap<ConversationId, EventSeq>>,
    typing: Mutex<TypingState>,
    /// user → nodes where at least one device is connected.
    online: Mutex<HashMap<UserId, HashSet<String>>>,
    last_seen: Mutex<HashMap<UserId, Timestamp>>,
    closing: AtomicBool,
}

/// The hub of this node. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

/// Why the hub asks a gateway to close a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The session fell behind: the client must resync from the log.
    Resync,
    /// The node is shutting down: the client reconnects elsewhere.
    Shutdown,
}

/// One connected device: the receiving end of its frame queue. Dropping it disconnects.
pub struct Session {
    shared: Arc<SessionShared>,
    inbox: Inbox,
    hub: Hub,
}

/// The receiving end of a session's queue: hands out a batch's frames one by one.
struct Inbox {
    queue: mpsc::UnboundedReceiver<Queued>,
    /// The batch being handed out, and the index of its next frame.
    batch: Option<(Arc<[Frame]>, usize)>,
}

impl Inbox {
    /// Cancel-safe: a frame is either returned or left queued.
    async fn next(&mut self, queued: &AtomicUsize) -> Option<Frame> {
        if let Some(frame) = self.next_of_batch(queued) {
            return Some(frame);
        }
        let item = self.queue.recv().await?;
        Some(self.take(item, queued))
    }

    fn try_next(&mut self, queued: &AtomicUsize) -> Option<Frame> {
        if let Some(frame) = self.next_of_batch(queued) {
            return Some(frame);
        }
        let item = self.queue.try_recv().ok()?;
        Some(self.take(item, queued))
    }

    fn next_of_batch(&mut self, queued: &AtomicUsize) -> Option<Frame> {
        let (frames, next) = self.batch.as_mut()?;
        let frame = frames.get(*next).cloned();
        *next += 1;
        if *next >= frames.len() {
            self.batch = None;
        }
        queued.fetch_sub(1, Ordering::Relaxed);
        frame
    }

    fn take(&mut self, item: Queued, queued: &AtomicUsize) -> Frame {
        match item {
            Queued::One(frame) => {
                queued.fetch_sub(1, Ordering::Relaxed);
                frame
            }
            Queued::Batch(frames) => {
                self.batch = Some((frames, 0));
                // A batch is never empty (the hub queues none).
                self.next_of_batch(queued).unwrap_or_default()
            }
        }
    }
}

fn frame_of<T: serde::Serialize>(value: &T) -> Frame {
    // Serialising our own JSON values cannot fail.
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

fn now_rfc3339(now: Timestamp) -> String {
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn event_user(record: &EventRecord) -> Option<UserId> {
    record
        .data
        .get("user_id")
        .and_then(|v| v.as_str())
        .and_then(|raw| UserId::parse(raw).ok())
}

impl Hub {
    pub(crate) fn new(
        core: Arc<Core>,
        bus: Arc<dyn Bus>,
        node: String,
        queue_capacity: usize,
    ) -> Self {
        Self {
            inner: Arc::new(HubInner {
                core,
                bus,
                node,
                queue_capacity: queue_capacity.max(8),
                next_session: AtomicU64::new(1),
                sessions: RwLock::new(HashMap::new()),
                delivered: Mutex::new(HashMap::new()),
                typing: Mutex::new(TypingState::default()),
                online: Mutex::new(HashMap::new()),
                last_seen: Mutex::new(HashMap::new()),
                closing: AtomicBool::new(false),
            }),
        }
    }

    /// Starts the hub's task: it subscribes to the bus and runs until the bus closes.
    pub fn start(&self) -> tokio::task::JoinHandle<()> {
        let notices = self.inner.bus.subscribe();
        let hub = self.clone();
        tokio::spawn(async move { hub.run(notices).await })
    }

    /// This node's id on the bus.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// Whether the bus reaches the other nodes.
    pub fn bus_connected(&self) -> bool {
        self.inner.bus.is_connected()
    }

    /// Connected sessions on this node.
    pub fn session_count(&self) -> usize {
        self.inner
            .sessions
            .read()
            .map(|s| s.values().map(Vec::len).sum())
            .unwrap_or(0)
    }

    async fn run(self, mut notices: broadcast::Receiver<Notice>) {
        let mut sweep = tokio::time::interval(Duration::from_secs(1));
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut bus_was_connected = self.inner.bus.is_connected();
        loop {
            tokio::select! {
                received = notices.recv() => match received {
                    Ok(first) => {
                        let mut batch = vec![first];
                        while batch.len() < 1024 {
                            match notices.try_recv() {
                                Ok(notice) => batch.push(notice),
                                Err(_) => break,
                            }
                        }
                        self.handle_batch(batch).await;
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "the hub fell behind the bus; every session resyncs");
                        self.resync_everyone();
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = sweep.tick() => {
                    self.expire_typing();
                    // Notices published while the bus was away never reached this node:
                    // every session resyncs from the log once it is back.
                    let connected = self.inner.bus.is_connected();
                    if connected && !bus_was_connected {
                        tracing::info!("the bus is back; every session resyncs");
                        self.resync_everyone();
                    }
                    bus_was_connected = connected;
                }
            }
        }
    }

    async fn handle_batch(&self, batch: Vec<Notice>) {
        // Coalesce doorbells: one load per conversation, up to its highest seq. The lowest
        // is kept too: for a conversation this node has not delivered yet, the load starts
        // there (group commit answers several senders at once, who publish in any order).
        let mut committed: Vec<(ConversationId, EventSeq, EventSeq)> = Vec::new();
        for notice in batch {
            match notice {
                Notice::Committed {
                    conversation_id,
                    seq,
                } => note_commit(&mut committed, conversation_id, seq),
                Notice::Typing(typing) => {
                    self.apply_typing(typing.conversation_id, &typing.user_id, typing.typing)
                }
                Notice::Presence(presence) => {
                    let natter_bus::PresenceNotice {
                        user_id,
                        node,
                        online,
                        at,
                    } = *presence;
                    self.apply_presence(user_id, node, online, natter_store::from_micros(at))
                        .await
                }
            }
        }
        for (conversation_id, lowest, seq) in committed {
            if let Err(err) = self.fan_out(conversation_id, lowest, seq).await {
                tracing::warn!(%conversation_id, error = %err, "fan-out failed; clients will catch up from the log");
            }
        }
    }

    fn resync_everyone(&self) {
        if let Ok(sessions) = self.inner.sessions.read() {
            sessions.values().flatten().for_each(|s| s.mark_lagged());
        }
        if let Ok(mut delivered) = self.inner.delivered.lock() {
            delivered.clear();
        }
    }

    fn local_sessions(&self, user_id: &UserId) -> Vec<Arc<SessionShared>> {
        self.inner
            .sessions
            .read()
            .ok()
            .and_then(|s| s.get(user_id).cloned())
            .unwrap_or_default()
    }

    async fn fan_out(
        &self,
        conversation_id: ConversationId,
        lowest: EventSeq,
        seq: EventSeq,
    ) -> Result<(), StoreError> {
        let after = {
            let Ok(mut delivered) = self.inner.delivered.lock() else {
                return Ok(());
            };
            let after = *delivered
                .entry(conversation_id)
                .or_insert(EventSeq(lowest.0.saturating_sub(1)));
            if seq <= after {
                return Ok(());
            }
            if self.session_count() == 0 {
                delivered.insert(conversation_id, seq);
                return Ok(());
            }
            after
        };
        let limit = FANOUT_LIMIT.min(self.inner.queue_capacity as u32);
        let batch = self
            .inner
            .core
            .store
            .load_fanout(conversation_id, after, limit)
            .await?;
        let Some(last) = batch.events.last().map(|e| e.seq) else {
            return Ok(());
        };
        if let Ok(mut delivered) = self.inner.delivered.lock() {
            let entry = delivered.entry(conversation_id).or_insert(after);
            if *entry >= last {
                return Ok(()); // another batch got here first
            }
            *entry = last;
        }
        if batch.events.len() as u32 >= limit {
            // Too much at once: let the participants' clients read the log instead.
            for user in &batch.members {
                self.local_sessions(user)
                    .iter()
                    .for_each(|s| s.mark_lagged());
            }
            return Ok(());
        }
        self.deliver(&batch.events, &batch.members);
        Ok(())
    }

    /// Delivers events in order; recipients follow membership as it was at each event.
    fn deliver(&self, events: &[EventRecord], members_after: &[UserId]) {
        if events.is_empty() {
            return;
        }
        let changes_membership = |event: &EventRecord| {
            matches!(
                event.kind.as_str(),
                event_type::PARTICIPANT_ADDED | event_type::PARTICIPANT_REMOVED
            )
        };
        // Most batches change no membership: every event goes to the members after it.
        // Otherwise, walking back from them, an added user was not a member before the
        // event that added them, and a removed one was (and receives their removal).
        let per_event: Option<Vec<Vec<UserId>>> =
            events.iter().any(changes_membership).then(|| {
                let mut members: HashSet<UserId> = members_after.iter().cloned().collect();
                let mut recipients: Vec<Vec<UserId>> = Vec::with_capacity(events.len());
                for event in events.iter().rev() {
                    let mut these: Vec<UserId> = members.iter().cloned().collect();
                    match event.kind.as_str() {
                        event_type::PARTICIPANT_ADDED => {
                            if let Some(user) = event_user(event) {
                                members.remove(&user);
                            }
                        }
                        event_type::PARTICIPANT_REMOVED => {
                            if let Some(user) = event_user(event) {
                                these.push(user.clone());
                                members.insert(user);
                            }
                        }
                        _ => {}
                    }
                    recipients.push(these);
                }
                recipients.reverse();
                recipients
            });
        let metrics = &self.inner.core.metrics;
        let now = self.inner.core.now();
        let frames: Vec<Frame> = events
            .iter()
            .map(|event| {
                metrics.observe_delivery((now - event.created_at).try_into().unwrap_or_default());
                frame_of(&crate::events::to_proto(event.clone()))
            })
            .collect();
        // One read lock for the batch (a push never waits: it only queues the frame), so
        // that each recipient costs one map lookup, not a lock and a copied session list.
        let Ok(sessions) = self.inner.sessions.read() else {
            return;
        };
        let mut delivered = 0u64;
        let creates = |event: &EventRecord| event.kind == event_type::CONVERSATION_CREATED;
        if per_event.is_none() && !events.iter().any(creates) {
            // The common batch: the same frames for every member, queued once each.
            let batch: Arc<[Frame]> = frames.into();
            for session in members_after
                .iter()
                .filter_map(|user| sessions.get(user))
                .flatten()
            {
                if session.push_batch(&batch) {
                    delivered += batch.len() as u64;
                }
            }
        } else {
            for ((index, event), frame) in events.iter().enumerate().zip(frames) {
                let created = creates(event);
                let mut push = |user: &UserId| {
                    for session in sessions.get(user).into_iter().flatten() {
                        if created {
                            if let Ok(mut set) = session.conversations.lock() {
                                set.insert(event.conversation_id);
                            }
                        }
                        if session.push(&frame) {
                            delivered += 1;
                        }
                    }
                };
                match &per_event {
                    Some(recipients) => recipients[index].iter().for_each(&mut push),
                    None => members_after.iter().for_each(&mut push),
                }
                if changes_membership(event) {
                    let joined = event.kind == event_type::PARTICIPANT_ADDED;
                    let user = event_user(event);
                    for session in user.and_then(|u| sessions.get(&u)).into_iter().flatten() {
                        if let Ok(mut set) = session.conversations.lock() {
                            if joined {
                                set.insert(event.conversation_id);
                            } else {
                                set.remove(&event.conversation_id);
                            }
                        }
                    }
                }
            }
        }
        metrics
            .events_delivered
            .fetch_add(delivered, Ordering::Relaxed);
    }

    fn typing_frame(
        &self,
        conversation_id: ConversationId,
        user_id: &UserId,
        typing: bool,
    ) -> Frame {
        frame_of(&json!({
            "type": if typing { "typing.start" } else { "typing.stop" },
            "conversation_id": conversation_id,
            "data": { "user_id": user_id },
            "ts": now_rfc3339(self.inner.core.now()),
        }))
    }

    fn send_typing(&self, conversation_id: ConversationId, user_id: &UserId, typing: bool) {
        let frame = self.typing_frame(conversation_id, user_id, typing);
        if let Ok(sessions) = self.inner.sessions.read() {
            for session in sessions.values().flatten() {
                if &session.user_id != user_id && session.is_in(conversation_id) {
                    let _ = session.push(&frame);
                }
            }
        }
    }

    fn apply_typing(&self, conversation_id: ConversationId, user_id: &UserId, typing: bool) {
        let changed = {
            let Ok(mut state) = self.inner.typing.lock() else {
                return;
            };
            let typists = state.active.entry(conversation_id).or_default();
            if typing {
                typists
                    .insert(user_id.clone(), Instant::now() + TYPING_TTL)
                    .is_none()
            } else {
                let was = typists.remove(user_id).is_some();
                if typists.is_empty() {
                    state.active.remove(&conversation_id);
                }
                was
            }
        };
        if changed {
            self.send_typing(conversation_id, user_id, typing);
        }
    }

    fn expire_typing(&self) {
        let now = Instant::now();
        let mut expired = Vec::new();
        if let Ok(mut state) = self.inner.typing.lock() {
            state.active.retain(|conversation_id, typists| {
                typists.retain(|user_id, expiry| {
                    let keep = *expiry > now;
                    if !keep {
                        expired.push((*conversation_id, user_id.clone()));
                    }
                    keep
                });
                !typists.is_empty()
            });
        }
        for (conversation_id, user_id) in expired {
            self.send_typing(conversation_id, &user_id, false);
        }
    }

    /// Who is typing in a conversation right now (on any node).
    pub fn typing(&self, conversation_id: ConversationId) -> Vec<UserId> {
        let now = Instant::now();
        let mut users: Vec<UserId> = self
            .inner
            .typing
            .lock()
            .ok()
            .and_then(|state| {
                state.active.get(&conversation_id).map(|typists| {
                    typists
                        .iter()
                        .filter(|(_, expiry)| **expiry > now)
                        .map(|(u, _)| u.clone())
                        .collect()
                })
            })
            .unwrap_or_default();
        users.sort();
        users
    }

    /// Announces typing (after the caller's membership was checked).
    pub(crate) async fn publish_typing(
        &self,
        conversation_id: ConversationId,
        user_id: &UserId,
        typing: bool,
    ) {
        let notice = Notice::Typing(Box::new(natter_bus::TypingNotice {
            conversation_id,
            user_id: user_id.clone(),
            typing,
        }));
        if let Err(err) = self.inner.bus.publish(notice).await {
            tracing::warn!(error = %err, "typing notice not published");
        }
    }

    async fn apply_presence(&self, user_id: UserId, node: String, online: bool, at: Timestamp) {
        let (was, is) = {
            let Ok(mut map) = self.inner.online.lock() else {
                return;
            };
            let nodes = map.entry(user_id.clone()).or_default();
            let was = !nodes.is_empty();
            if online {
                nodes.insert(node);
            } else {
                nodes.remove(&node);
            }
            let is = !nodes.is_empty();
            if !is {
                map.remove(&user_id);
            }
            (was, is)
        };
        if !is {
            if let Ok(mut seen) = self.inner.last_seen.lock() {
                seen.insert(user_id.clone(), at);
            }
        }
        if was == is {
            return;
        }
        let conversations: HashSet<ConversationId> = match self
            .inner
            .core
            .store
            .list_changed_conversations(&user_id, time::OffsetDateTime::UNIX_EPOCH)
            .await
        {
            Ok(records) => records
                .into_iter()
                .filter(|r| !r.removed)
                .map(|r| r.conversation_id)
                .collect(),
            Err(err) => {
                tracing::warn!(error = %err, "presence not announced: membership unavailable");
                return;
            }
        };
        let frame = frame_of(&json!({
            "type": "presence.updated",
            "data": { "user_id": user_id, "online": is, "last_seen_at": if is { None } else { Some(now_rfc3339(at)) } },
            "ts": now_rfc3339(self.inner.core.now()),
        }));
        if let Ok(sessions) = self.inner.sessions.read() {
            for session in sessions.values().flatten() {
                if session.user_id == user_id {
                    continue;
                }
                let shares = session
                    .conversations
                    .lock()
                    .map(|set| !set.is_disjoint(&conversations))
                    .unwrap_or(false);
                if shares {
                    let _ = session.push(&frame);
                }
            }
        }
    }

    /// A user's presence as this node knows it.
    pub fn presence(&self, user_id: &UserId) -> Presence {
        let online = self
            .inner
            .online
            .lock()
            .map(|map| map.contains_key(user_id))
            .unwrap_or(false);
        let last_seen_at = self
            .inner
            .last_seen
            .lock()
            .ok()
            .and_then(|seen| seen.get(user_id).copied());
        Presence {
            online,
            last_seen_at,
        }
    }

    /// Registers a device of `user_id` and returns its session. Announces the user online
    /// when this is their first device on this node.
    pub async fn connect(&self, user_id: &UserId) -> Result<Session, AppError> {
        let conversations: HashSet<ConversationId> = self
            .inner
            .core
            .store
            .list_changed_conversations(user_id, time::OffsetDateTime::UNIX_EPOCH)
            .await?
            .into_iter()
            .filter(|r| !r.removed)
            .map(|r| r.conversation_id)
            .collect();
        let (queue, frames) = mpsc::unbounded_channel();
        let shared = Arc::new(SessionShared {
            id: self.inner.next_session.fetch_add(1, Ordering::Relaxed),
            user_id: user_id.clone(),
            queue,
            queued: AtomicUsize::new(0),
            capacity: self.inner.queue_capacity,
            lagged: AtomicBool::new(false),
            wake: Notify::new(),
            conversations: Mutex::new(conversations),
        });
        let first = {
            let mut sessions = self
                .inner
                .sessions
                .write()
                .map_err(|_| AppError::Internal(anyhow::anyhow!("hub poisoned")))?;
            let list = sessions.entry(user_id.clone()).or_default();
            list.push(shared.clone());
            list.len() == 1
        };
        if first {
            self.announce(user_id, true).await;
        }
        Ok(Session {
            shared,
            inbox: Inbox {
                queue: frames,
                batch: None,
            },
            hub: self.clone(),
        })
    }

    fn disconnect(&self, shared: &SessionShared) {
        let last = match self.inner.sessions.write() {
            Ok(mut sessions) => {
                let empty = match sessions.get_mut(&shared.user_id) {
                    Some(list) => {
                        list.retain(|s| s.id != shared.id);
                        list.is_empty()
                    }
                    None => false,
                };
                if empty {
                    sessions.remove(&shared.user_id);
                }
                empty
            }
            Err(_) => false,
        };
        if last {
            let hub = self.clone();
            let user_id = shared.user_id.clone();
            // Drop cannot await; the announcement and `last_seen_at` follow right after.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let now = hub.inner.core.now();
                    if let Err(err) = hub.inner.core.store.set_last_seen(&user_id, now).await {
                        tracing::warn!(error = %err, "last_seen_at not stored");
                    }
                    hub.announce(&user_id, false).await;
                });
            }
        }
    }

    async fn announce(&self, user_id: &UserId, online: bool) {
        let notice = Notice::Presence(Box::new(natter_bus::PresenceNotice {
            user_id: user_id.clone(),
            node: self.inner.node.clone(),
            online,
            at: natter_store::to_micros(self.inner.core.now()),
        }));
        if let Err(err) = self.inner.bus.publish(notice).await {
            tracing::warn!(error = %err, "presence notice not published");
        }
    }

    /// Closes every session (graceful shutdown): each is flagged and its gateway closes it
    /// with the "reconnect elsewhere" code.
    pub fn close_all(&self) {
        self.inner.closing.store(true, Ordering::SeqCst);
        if let Ok(sessions) = self.inner.sessions.read() {
            sessions.values().flatten().for_each(|s| s.mark_lagged());
        }
    }
}

impl Session {
    /// This session's id on the node.
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// The connected user.
    pub fn user_id(&self) -> &UserId {
        &self.shared.user_id
    }

    /// The next frame for the device; `None` once the hub dropped the session.
    /// Cancel-safe: a frame is either returned or left queued.
    pub async fn next_frame(&mut self) -> Option<Frame> {
        self.inbox.next(&self.shared.queued).await
    }

    /// A frame already queued, without waiting (for coalescing writes).
    pub fn try_next_frame(&mut self) -> Option<Frame> {
        self.inbox.try_next(&self.shared.queued)
    }

    /// A handle that resolves when the hub wants this session closed; separate from the
    /// session so that a gateway can wait on it while it also reads frames.
    pub fn close_signal(&self) -> CloseSignal {
        CloseSignal {
            shared: self.shared.clone(),
            hub: self.hub.clone(),
        }
    }

    fn require_member(&self, conversation_id: ConversationId) -> Result<(), AppError> {
        if self.shared.is_in(conversation_id) {
            Ok(())
        } else {
            Err(AppError::NotFound(Resource::Conversation))
        }
    }

    /// `typing.start` / `typing.stop` from this device.
    pub async fn typing(
        &self,
        conversation_id: ConversationId,
        typing: bool,
    ) -> Result<(), AppError> {
        self.require_member(conversation_id)?;
        self.hub
            .publish_typing(conversation_id, &self.shared.user_id, typing)
            .await;
        Ok(())
    }

    /// `ack`: a device received the messages up to `seq`.
    pub async fn ack(
        &self,
        conversation_id: ConversationId,
        seq: MessageSeq,
    ) -> Result<(), AppError> {
        self.require_member(conversation_id)?;
        let core = &self.hub.inner.core;
        let moved = core
            .store
            .mark_delivered(conversation_id, &self.shared.user_id, seq, core.now())
            .await
            .map_err(|err| match err {
                StoreError::NotFound => AppError::NotFound(Resource::Conversation),
                other => other.into(),
            })?;
        if let Some(event_seq) = moved {
            core.committed(conversation_id, event_seq).await;
        }
        Ok(())
    }

    /// `read`: the user read up to `seq`.
    pub async fn read(
        &self,
        conversation_id: ConversationId,
        seq: MessageSeq,
    ) -> Result<(), AppError> {
        self.require_member(conversation_id)?;
        let core = &self.hub.inner.core;
        let outcome = core
            .store
            .mark_read(conversation_id, &self.shared.user_id, seq, core.now())
            .await
            .map_err(|err| match err {
                StoreError::NotFound => AppError::NotFound(Resource::Conversation),
                other => other.into(),
            })?;
        if let Some(event_seq) = outcome.event_seq {
            core.committed(conversation_id, event_seq).await;
        }
        Ok(())
    }
}

/// See [`Session::close_signal`].
pub struct CloseSignal {
    shared: Arc<SessionShared>,
    hub: Hub,
}

impl CloseSignal {
    /// Resolves when the session must be closed: it fell behind (the client resyncs), or
    /// the node is shutting down (the client reconnects elsewhere).
    pub async fn closed(&self) -> CloseReason {
        loop {
            let notified = self.shared.wake.notified();
            if self.shared.lagged.load(Ordering::SeqCst) {
                return if self.hub.inner.closing.load(Ordering::SeqCst) {
                    CloseReason::Shutdown
                } else {
                    CloseReason::Resync
                };
            }
            notified.await;
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.hub.disconnect(&self.shared);
    }
}

/// Adds one doorbell to a batch's coalesced commits: per conversation, the lowest and the
/// highest seq rung.
fn note_commit(
    committed: &mut Vec<(ConversationId, EventSeq, EventSeq)>,
    conversation_id: ConversationId,
    seq: EventSeq,
) {
    match committed
        .iter_mut()
        .find(|(id, _, _)| *id == conversation_id)
    {
        Some((_, lowest, highest)) => {
            *lowest = (*lowest).min(seq);
            *highest = (*highest).max(seq);
        }
        None => committed.push((conversation_id, seq, seq)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session_queue(capacity: usize) -> (SessionShared, Inbox) {
        let (queue, receiver) = mpsc::unbounded_channel();
        let shared = SessionShared {
            id: 1,
            user_id: UserId::parse("u").expect("a user id"),
            queue,
            queued: AtomicUsize::new(0),
            capacity,
            lagged: AtomicBool::new(false),
            wake: Notify::new(),
            conversations: Mutex::new(HashSet::new()),
        };
        let inbox = Inbox {
            queue: receiver,
            batch: None,
        };
        (shared, inbox)
    }

    fn frames(texts: &[&'static str]) -> Arc<[Frame]> {
        texts
            .iter()
            .map(|text| Frame::from_static(text.as_bytes()))
            .collect()
    }

    /// A batch is queued once and handed out frame by frame, in order, between single
    /// frames; the bound counts frames, not queue items.
    #[tokio::test]
    async fn batches_are_handed_out_in_order_and_count_against_the_bound() {
        let (shared, mut inbox) = session_queue(5);
        assert!(shared.push(&Frame::from_static(b"1")));
        assert!(shared.push_batch(&frames(&["2", "3", "4"])));
        assert_eq!(shared.queued.load(Ordering::SeqCst), 4);
        // Two more frames would pass the bound of 5: refused, and the session is lagged.
        assert!(!shared.push_batch(&frames(&["5", "6"])));
        assert!(shared.lagged.load(Ordering::SeqCst));
        assert_eq!(shared.queued.load(Ordering::SeqCst), 4);
        assert!(shared.push(&Frame::from_static(b"5")));
        let mut got = vec![inbox.next(&shared.queued).await.expect("a frame")];
        while let Some(frame) = inbox.try_next(&shared.queued) {
            got.push(frame);
        }
        assert_eq!(
            got,
            ["1", "2", "3", "4", "5"].map(|t| Frame::from_static(t.as_bytes()))
        );
        assert_eq!(shared.queued.load(Ordering::SeqCst), 0);
        assert!(inbox.try_next(&shared.queued).is_none());
    }

    /// A batch of one is that frame; an empty batch queues nothing.
    #[tokio::test]
    async fn batches_of_one_or_none_queue_what_they_hold() {
        let (shared, mut inbox) = session_queue(4);
        assert!(shared.push_batch(&frames(&[])));
        assert_eq!(shared.queued.load(Ordering::SeqCst), 0);
        assert!(inbox.try_next(&shared.queued).is_none());
        assert!(shared.push_batch(&frames(&["only"])));
        assert_eq!(shared.queued.load(Ordering::SeqCst), 1);
        assert_eq!(
            inbox.next(&shared.queued).await,
            Some(Frame::from_static(b"only"))
        );
        assert!(inbox.try_next(&shared.queued).is_none());
        assert_eq!(shared.queued.load(Ordering::SeqCst), 0);
    }

    /// What was taken leaves room for more.
    #[tokio::test]
    async fn taking_frames_frees_room() {
        let (shared, mut inbox) = session_queue(2);
        assert!(shared.push_batch(&frames(&["a", "b"])));
        assert!(!shared.push(&Frame::from_static(b"c")));
        assert_eq!(
            inbox.next(&shared.queued).await,
            Some(Frame::from_static(b"a"))
        );
        assert!(shared.push(&Frame::from_static(b"c")));
        assert_eq!(
            inbox.try_next(&shared.queued),
            Some(Frame::from_static(b"b"))
        );
        assert_eq!(
            inbox.try_next(&shared.queued),
            Some(Frame::from_static(b"c"))
        );
        assert_eq!(shared.queued.load(Ordering::SeqCst), 0);
    }

    /// Group commit answers several senders at once and they ring in any order: the batch
    /// keeps where each conversation's new events start, not only where they end.
    #[test]
    fn doorbells_coalesce_to_the_lowest_and_highest_seq() {
        let (a, b) = (ConversationId::new(), ConversationId::new());
        let mut committed = Vec::new();
        for (id, seq) in [(a, 7), (b, 3), (a, 5), (a, 6)] {
            note_commit(&mut committed, id, EventSeq(seq));
        }
        assert_eq!(
            committed,
            [(a, EventSeq(5), EventSeq(7)), (b, EventSeq(3), EventSeq(3))]
        );
    }
}
