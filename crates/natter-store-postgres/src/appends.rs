//! Group commit of the common append (no attachments, not a thread reply).
//!
//! Appends to one conversation serialise on its row lock, which each append holds for its
//! statement and its commit's WAL flush: one at a time, one flush each, so one busy
//! conversation could not pass a few thousand messages per second however many
//! connections the pool has. Here appends to the same conversation that arrive while one
//! is in flight wait in that conversation's queue; when it finishes, everything queued
//! goes to PostgreSQL as **one** statement (arrays, one row per message) in one
//! transaction: one round trip, one lock hold and one flush for the whole batch.
//!
//! The first append to an idle conversation runs at once on the caller's task, so a quiet
//! conversation pays nothing. Each queued batch runs on a spawned task; whichever append
//! or batch is in flight hands the queue over when it ends — also when its future is
//! dropped (a disconnected client) or panics — so a conversation's queue never stalls.
//!
//! A batch fails as a whole — typically a retried `client_message_id` hitting the unique
//! index, which rolls the statement back with no seq used — and then each of its messages
//! is appended alone, where a retry is answered with the original message.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use natter_proto::{ConversationId, EventSeq, MessageSeq, UserId};
use natter_store::payload;
use natter_store::{preview_text, to_micros, AppendOutcome, CommitStats, NewMessage, StoreError};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::kept::Shelf;
use crate::queries::append_one;

type Result<T> = std::result::Result<T, StoreError>;

/// Messages per batch statement; more stay queued for the next one.
const MAX_BATCH: usize = 128;

/// Appends that may wait for one conversation; beyond, an append is refused as
/// `Unavailable` (the conversation is taking writes faster than PostgreSQL commits them).
const MAX_QUEUED: usize = 4 * 1024;

struct Pending {
    new: NewMessage,
    reply: oneshot::Sender<Result<AppendOutcome>>,
}

/// Per conversation with an append in flight: the appends waiting for it.
#[derive(Default)]
pub(crate) struct Appends {
    queues: Mutex<HashMap<ConversationId, Vec<Pending>>>,
    /// Every plain append's commit (other writes are not counted).
    pub(crate) stats: CommitStats,
}

/// Runs the queue's hand-over when the append in flight finishes or is dropped.
struct InFlight {
    shelf: Arc<Shelf>,
    appends: Arc<Appends>,
    conversation_id: ConversationId,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        hand_over(&self.shelf, &self.appends, self.conversation_id);
    }
}

/// Appends `new`: at once when its conversation has no append in flight, else with the
/// next batch.
pub(crate) async fn append(
    shelf: &Arc<Shelf>,
    appends: &Arc<Appends>,
    new: NewMessage,
) -> Result<AppendOutcome> {
    let conversation_id = new.conversation_id;
    let waiting = {
        let mut queues = lock(appends);
        match queues.get_mut(&conversation_id) {
            Some(queue) if queue.len() >= MAX_QUEUED => {
                return Err(StoreError::Unavailable(
                    "too many messages waiting for this conversation".into(),
                ));
            }
            Some(queue) => {
                let (reply, answer) = oneshot::channel();
                queue.push(Pending { new, reply });
                Err(answer)
            }
            None => {
                queues.insert(conversation_id, Vec::new());
                Ok(new)
            }
        }
    };
    match waiting {
        Ok(new) => {
            let _in_flight = InFlight {
                shelf: shelf.clone(),
                appends: appends.clone(),
                conversation_id,
            };
            let started = Instant::now();
            let outcome = append_one(shelf, new).await;
            record_one(&appends.stats, &outcome, started);
            outcome
        }
        Err(answer) => answer
            .await
            .map_err(|_| StoreError::Unavailable("the append was abandoned".into()))?,
    }
}

fn lock(appends: &Appends) -> std::sync::MutexGuard<'_, HashMap<ConversationId, Vec<Pending>>> {
    // A panic while holding this lock cannot leave the map half-changed (every change is
    // one insert, take or remove), so a poisoned lock is still usable.
    appends
        .queues
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The append in flight for the conversation finished: if appends queued meanwhile, a
/// task runs them as one batch, itself in flight, so that when it finishes (or panics)
/// the next batch is handed over the same way; if not, the conversation is idle.
fn hand_over(shelf: &Arc<Shelf>, appends: &Arc<Appends>, conversation_id: ConversationId) {
    // Without a runtime (it is shutting down and dropping tasks) nothing can run the
    // queue: its appends are dropped (their callers hear "abandoned") and the
    // conversation is idle again.
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        lock(appends).remove(&conversation_id);
        return;
    };
    let Some(batch) = take_batch(appends, conversation_id) else {
        return;
    };
    let in_flight = InFlight {
        shelf: shelf.clone(),
        appends: appends.clone(),
        conversation_id,
    };
    runtime.spawn(async move {
        run_batch(
            &in_flight.shelf,
            &in_flight.appends.stats,
            conversation_id,
            batch,
        )
        .await;
        drop(in_flight);
    });
}

/// Up to [`MAX_BATCH`] queued appends, or `None` (and the conversation marked idle) when
/// none are queued. Appends whose caller went away meanwhile (a cancelled request) are
/// dropped unwritten, as they would have been had they not waited.
fn take_batch(appends: &Appends, conversation_id: ConversationId) -> Option<Vec<Pending>> {
    let mut queues = lock(appends);
    let queue = queues.get_mut(&conversation_id)?;
    queue.retain(|pending| !pending.reply.is_closed());
    if queue.is_empty() {
        queues.remove(&conversation_id);
        return None;
    }
    let rest = queue.split_off(queue.len().min(MAX_BATCH));
    Some(std::mem::replace(queue, rest))
}

/// Counts a single append that committed (not a duplicate, which rolled back).
fn record_one(stats: &CommitStats, outcome: &Result<AppendOutcome>, started: Instant) {
    if matches!(outcome, Ok(appended) if appended.event_seq.is_some()) {
        stats.record(1, started.elapsed());
    }
}

/// Runs a batch and answers its callers; a batch that commits is recorded in `stats`
/// first (a failed one is counted as the single appends that redo it).
async fn run_batch(
    shelf: &Shelf,
    stats: &CommitStats,
    conversation_id: ConversationId,
    batch: Vec<Pending>,
) {
    let started = Instant::now();
    if batch.len() == 1 {
        for pending in batch {
            let outcome = append_one(shelf, pending.new).await;
            record_one(stats, &outcome, started);
            let _ = pending.reply.send(outcome);
        }
        return;
    }
    let result = append_many(shelf, conversation_id, &batch).await;
    if let Ok(Some(_)) = result {
        stats.record(batch.len(), started.elapsed());
    }
    match result {
        Ok(Some((message_base, event_base))) => {
            for (n, pending) in (1..).zip(batch) {
                let outcome = pending
                    .new
                    .appended(MessageSeq(message_base + n), EventSeq(event_base + n));
                let _ = pending.reply.send(Ok(outcome));
            }
        }
        // No such conversation, or a sender the batch must check may not post: each
        // message is appended alone, which answers it as a single append would.
        Ok(None) => {
            for pending in batch {
                let started = Instant::now();
                let outcome = append_one(shelf, pending.new).await;
                record_one(stats, &outcome, started);
                let _ = pending.reply.send(outcome);
            }
        }
        // A batch the database refused (typically a retried `client_message_id` on the
        // unique index; nothing was written): each message alone, where a retry is
        // answered with the original.
        Err(sqlx::Error::Database(err)) => {
            tracing::debug!(%conversation_id, error = %err, size = batch.len(),
                "batch append failed; appending one by one");
            for pending in batch {
                let started = Instant::now();
                let outcome = append_one(shelf, pending.new).await;
                record_one(stats, &outcome, started);
                let _ = pending.reply.send(outcome);
            }
        }
        // The connection or the pool failed (the outcome may be unknown): redoing each
        // message alone could write one twice and would wait out the pool per message.
        Err(err) => {
            let message = err.to_string();
            let unavailable = matches!(
                err,
                sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Io(_)
                    | sqlx::Error::WorkerCrashed
            );
            tracing::warn!(%conversation_id, error = %message, size = batch.len(), "batch append failed");
            for pending in batch {
                let failure = if unavailable {
                    StoreError::Unavailable(message.clone().into())
                } else {
                    StoreError::Backend(message.clone().into())
                };
                let _ = pending.reply.send(Err(failure));
            }
        }
    }
}

/// The batch as one statement: the conversation's counters move by the batch size, and
/// message `n` (1-based, queue order) gets seq `base + n` and event `event base + n`.
/// Returns the two bases, or `None` when the conversation does not exist or is blocked
/// while a message checks its sender, or such a sender is not an active participant.
async fn append_many(
    shelf: &Shelf,
    conversation_id: ConversationId,
    batch: &[Pending],
) -> std::result::Result<Option<(u64, u64)>, sqlx::Error> {
    let size = i64::try_from(batch.len()).unwrap_or(i64::MAX);
    let last = &batch[batch.len() - 1].new;
    let newest = batch
        .iter()
        .map(|p| to_micros(p.new.now))
        .max()
        .unwrap_or(0);
    let draft = payload::message_created();
    let mut ids: Vec<Uuid> = Vec::with_capacity(batch.len());
    let mut senders: Vec<Option<&str>> = Vec::with_capacity(batch.len());
    let mut kinds: Vec<&str> = Vec::with_capacity(batch.len());
    let mut contents: Vec<Option<&str>> = Vec::with_capacity(batch.len());
    let mut client_ids: Vec<Option<&str>> = Vec::with_capacity(batch.len());
    let mut replies: Vec<Option<Uuid>> = Vec::with_capacity(batch.len());
    let mut mentions: Vec<Option<String>> = Vec::with_capacity(batch.len());
    let mut times: Vec<i64> = Vec::with_capacity(batch.len());
    let mut masked: Vec<bool> = Vec::with_capacity(batch.len());
    let mut checks: Vec<bool> = Vec::with_capacity(batch.len());
    for Pending { new, .. } in batch {
        ids.push(new.id.0);
        senders.push(new.sender_id.as_ref().map(UserId::as_str));
        kinds.push(new.kind.as_str());
        contents.push(new.content.as_deref());
        client_ids.push(new.client_message_id.as_deref());
        replies.push(new.reply_to_id.map(|id| id.0));
        mentions.push(if new.mentions.is_empty() {
            None
        } else {
            Some(serde_json::to_string(&new.mentions).unwrap_or_else(|_| "[]".into()))
        });
        times.push(to_micros(new.now));
        masked.push(new.pii_masked);
        checks.push(new.check_sender);
    }
    let mut kept = shelf.take().await?;
    let bases: Option<(i64, i64)> = sqlx::query_as(
        "WITH b AS ( \
           SELECT * FROM unnest($5::uuid[], $6::text[], $7::text[], $8::text[], $9::text[], \
             $10::uuid[], $11::text[], $12::bigint[], $13::bool[], $19::bool[]) WITH ORDINALITY \
             AS b(id, sender_id, kind, content, client_message_id, reply_to_id, mentions, \
                  created_at, pii_masked, check_sender, n)), \
         c AS ( \
           UPDATE conversations SET last_message_seq = last_message_seq + $2, \
             message_count = message_count + $2, last_message_sender = $3, \
             last_message_kind = $4, last_message_text = $14, last_message_at = $15, \
             last_message_deleted = FALSE, last_activity_at = GREATEST(last_activity_at, $16), \
             last_event_seq = last_event_seq + $2, last_event_at = GREATEST(last_event_at, $16) \
           WHERE id = $1 AND NOT EXISTS ( \
             SELECT 1 FROM b WHERE b.check_sender AND (conversations.status = 'blocked' \
               OR NOT EXISTS (SELECT 1 FROM participants p WHERE p.conversation_id = $1 \
                 AND p.user_id = b.sender_id AND p.left_at IS NULL))) \
           RETURNING last_message_seq - $2 AS mbase, last_event_seq - $2 AS ebase), \
         m AS ( \
           INSERT INTO messages (conversation_id, seq, id, sender_id, kind, content, \
             client_message_id, reply_to_id, mentions, created_at, pii_masked) \
           SELECT $1, c.mbase + b.n, b.id, b.sender_id, b.kind, b.content, \
             b.client_message_id, b.reply_to_id, b.mentions::jsonb, b.created_at, b.pii_masked \
           FROM c, b), \
         s AS ( \
           SELECT DISTINCT ON (sender_id) sender_id, n, created_at AS at FROM b \
           WHERE sender_id IS NOT NULL ORDER BY sender_id, n DESC), \
         p AS ( \
           UPDATE participants SET last_read_seq = c.mbase + s.n, last_read_at = s.at, \
             last_delivered_seq = GREATEST(last_delivered_seq, c.mbase + s.n) \
           FROM c, s WHERE conversation_id = $1 AND user_id = s.sender_id \
             AND last_read_seq < c.mbase + s.n), \
         e AS ( \
           INSERT INTO events (conversation_id, seq, kind, message_seq, data, created_at) \
           SELECT $1, c.ebase + b.n, $17, c.mbase + b.n, $18::json, b.created_at FROM c, b) \
         SELECT mbase, ebase FROM c",
    )
    .bind(conversation_id.0)
    .bind(size)
    .bind(last.sender_id.as_ref().map(UserId::as_str))
    .bind(last.kind.as_str())
    .bind(&ids)
    .bind(&senders)
    .bind(&kinds)
    .bind(&contents)
    .bind(&client_ids)
    .bind(&replies)
    .bind(&mentions)
    .bind(&times)
    .bind(&masked)
    .bind(preview_text(last.content.as_deref()))
    .bind(to_micros(last.now))
    .bind(newest)
    .bind(draft.kind)
    .bind(draft.data.to_string())
    .bind(&checks)
    .fetch_optional(kept.conn())
    .await?;
    kept.give_back();
    Ok(bases.map(|(m, e)| (m as u64, e as u64)))
}
