//! The conversation event log as clients read it, and the sync token.
//!
//! Sync tokens are opaque to clients: `v1:<microseconds>`, base64url. A sync answers every
//! conversation with an event at or after `token time − SYNC_OVERLAP`; the overlap covers
//! transactions that committed out of timestamp order (several nodes, clock steps), and
//! the extra conversations it returns are harmless because clients compare seqs.

use std::sync::Arc;

use base64::Engine;
use natter_proto::{
    ConversationId, Event, EventPage, EventSeq, SyncEntry, SyncResponse, Timestamp,
};
use natter_store::EventRecord;

use crate::core::Core;
use crate::{Actor, AppError, Validation};

const SYNC_OVERLAP: time::Duration = time::Duration::seconds(10);

/// The events service.
#[derive(Clone)]
pub struct Events {
    pub(crate) core: Arc<Core>,
}

/// The wire shape of a stored event: message events carry the message in its current
/// state (a tombstone once deleted).
pub(crate) fn to_proto(record: EventRecord) -> Event {
    let data = match &record.message {
        Some(message) => {
            serde_json::to_value(message.to_proto()).unwrap_or(serde_json::Value::Null)
        }
        None => record.data,
    };
    Event {
        kind: record.kind,
        conversation_id: record.conversation_id,
        seq: record.seq,
        data,
        ts: record.created_at,
    }
}

pub(crate) fn encode_token(at: Timestamp) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("v1:{}", natter_store::to_micros(at)))
}

fn decode_token(raw: &str) -> Option<Timestamp> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let micros = text.strip_prefix("v1:")?.parse().ok()?;
    Some(natter_store::from_micros(micros))
}

impl Events {
    /// Events of the caller's conversations committed at or after the token's time minus
    /// the sync overlap (at most the last 1000 of each conversation), in seq order per
    /// conversation: the replay of an SSE stream resumed with `Last-Event-ID`. Clients
    /// drop what they already hold by seq.
    pub async fn since_token(&self, actor: &Actor, token: &str) -> Result<Vec<Event>, AppError> {
        let user_id = actor.require_user()?;
        let Some(at) = decode_token(token) else {
            return Err(AppError::invalid(
                "Last-Event-ID",
                "invalid_token",
                "not an event id of this stream",
            ));
        };
        let since = at - SYNC_OVERLAP;
        let mut events = Vec::new();
        for record in self
            .core
            .store
            .list_changed_conversations(user_id, since)
            .await?
        {
            if record.removed {
                continue;
            }
            let after = EventSeq(record.last_event_seq.0.saturating_sub(1000));
            let page = self
                .core
                .store
                .list_events(record.conversation_id, after, 1000)
                .await?;
            events.extend(
                page.into_iter()
                    .filter(|e| e.created_at >= since)
                    .map(to_proto),
            );
        }
        Ok(events)
    }

    /// `GET /v1/conversations/{id}/events?after_seq=N&limit=L` (limit 1–1000, default 100).
    pub async fn list(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
        after: EventSeq,
        limit: Option<u32>,
    ) -> Result<EventPage, AppError> {
        let (conversation, _) = self.core.access(actor, conversation_id).await?;
        let limit = match limit {
            None => 100,
            Some(limit @ 1..=1000) => limit,
            Some(_) => {
                return Err(AppError::invalid(
                    "limit",
                    "out_of_range",
                    "limit must be between 1 and 1000",
                ))
            }
        };
        let records = self
            .core
            .store
            .list_events(conversation_id, after, limit)
            .await?;
        let last = records.last().map_or(after, |r| r.seq);
        let latest_seq = conversation.last_event_seq.max(last);
        Ok(EventPage {
            has_more: last < latest_seq,
            latest_seq,
            events: records.into_iter().map(to_proto).collect(),
        })
    }

    /// `GET /v1/sync?since=<token>`: the caller's conversations changed since the token
    /// (all of them without a token), with their latest event seq.
    pub async fn sync(&self, actor: &Actor, since: Option<&str>) -> Result<SyncResponse, AppError> {
        let user_id = actor.require_user()?;
        let now = self.core.now();
        let since = match since {
            None => time::OffsetDateTime::UNIX_EPOCH,
            Some(raw) => {
                let mut validation = Validation::new();
                let at = decode_token(raw);
                if at.is_none() {
                    validation.add("since", "invalid_token", "not a token returned by /v1/sync");
                }
                validation.finish()?;
                at.unwrap_or(time::OffsetDateTime::UNIX_EPOCH) - SYNC_OVERLAP
            }
        };
        let records = self
            .core
            .store
            .list_changed_conversations(user_id, since)
            .await?;
        Ok(SyncResponse {
            conversations: records
                .into_iter()
                .map(|r| SyncEntry {
                    conversation_id: r.conversation_id,
                    latest_seq: r.last_event_seq,
                    removed: r.removed,
                })
                .collect(),
            next_token: encode_token(now),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_tokens_round_trip() {
        let at = natter_store::from_micros(1_750_000_000_000_001);
        assert_eq!(decode_token(&encode_token(at)), Some(at));
        assert_eq!(decode_token("garbage"), None);
    }
}
