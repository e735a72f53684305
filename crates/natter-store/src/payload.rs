//! Event payloads, built once here so that both stores write identical event logs.
//!
//! Message events carry no payload of their own (`{}`): readers join the message in its
//! current state, so a deleted message's old content never survives in the log.

use natter_proto::{event_type, MessageId, Timestamp, UserId};
use serde_json::{json, Value};

use crate::{ConversationRecord, ParticipantRecord, RemovalReason};

/// Type and payload of an event about to be appended.
#[derive(Debug, Clone)]
pub struct EventDraft {
    /// Event type.
    pub kind: &'static str,
    /// Payload.
    pub data: Value,
}

/// `conversation.created`: the conversation and its first participants.
pub fn conversation_created(
    conversation: &ConversationRecord,
    participants: &[ParticipantRecord],
) -> EventDraft {
    let mut data = conversation.to_proto();
    data.participants = Some(
        participants
            .iter()
            .map(ParticipantRecord::to_proto)
            .collect(),
    );
    EventDraft {
        kind: event_type::CONVERSATION_CREATED,
        data: to_value(&data),
    }
}

/// `conversation.updated`: the conversation after the change.
pub fn conversation_updated(conversation: &ConversationRecord) -> EventDraft {
    EventDraft {
        kind: event_type::CONVERSATION_UPDATED,
        data: to_value(&conversation.to_proto()),
    }
}

/// `conversation.updated` after a settings change: the conversation with its settings.
pub fn settings_updated(
    conversation: &ConversationRecord,
    settings: &Value,
    version: u64,
) -> EventDraft {
    let mut data = to_value(&conversation.to_proto());
    if let Value::Object(map) = &mut data {
        map.insert("settings".into(), settings.clone());
        map.insert("settings_version".into(), json!(version));
    }
    EventDraft {
        kind: event_type::CONVERSATION_UPDATED,
        data,
    }
}

/// The top-level keys of two JSON objects that differ: `{key: {"from", "to"}}`.
pub fn settings_diff(before: &Value, after: &Value) -> Value {
    let empty = serde_json::Map::new();
    let old = before.as_object().unwrap_or(&empty);
    let new = after.as_object().unwrap_or(&empty);
    let mut changes = serde_json::Map::new();
    for key in old.keys().chain(new.keys()) {
        let (from, to) = (old.get(key), new.get(key));
        if from != to && !changes.contains_key(key) {
            changes.insert(key.clone(), json!({ "from": from, "to": to }));
        }
    }
    Value::Object(changes)
}

/// `participant.added`.
pub fn participant_added(participant: &ParticipantRecord) -> EventDraft {
    EventDraft {
        kind: event_type::PARTICIPANT_ADDED,
        data: to_value(&participant.to_proto()),
    }
}

/// `participant.updated` (role change, ownership hand-over).
pub fn participant_updated(participant: &ParticipantRecord) -> EventDraft {
    EventDraft {
        kind: event_type::PARTICIPANT_UPDATED,
        data: to_value(&participant.to_proto()),
    }
}

/// `participant.removed`.
pub fn participant_removed(user_id: &UserId, reason: RemovalReason) -> EventDraft {
    EventDraft {
        kind: event_type::PARTICIPANT_REMOVED,
        data: json!({ "user_id": user_id, "reason": reason.as_str() }),
    }
}

/// `receipt.updated`: a participant's read or delivery marker moved. Carries both
/// markers as they stand after the change.
pub fn receipt_updated(
    user_id: &UserId,
    last_read_seq: u64,
    last_read_at: Option<Timestamp>,
    last_delivered_seq: u64,
) -> EventDraft {
    let at = last_read_at.and_then(|at| {
        at.format(&time::format_description::well_known::Rfc3339)
            .ok()
    });
    EventDraft {
        kind: event_type::RECEIPT_UPDATED,
        data: json!({
            "user_id": user_id,
            "last_read_seq": last_read_seq,
            "last_read_at": at,
            "last_delivered_seq": last_delivered_seq,
        }),
    }
}

/// `message.updated` (an edit): the payload is joined at read time.
pub fn message_updated() -> EventDraft {
    EventDraft {
        kind: event_type::MESSAGE_UPDATED,
        data: json!({}),
    }
}

/// `message.deleted`: the payload (a tombstone) is joined at read time.
pub fn message_deleted() -> EventDraft {
    EventDraft {
        kind: event_type::MESSAGE_DELETED,
        data: json!({}),
    }
}

/// `reaction.added` / `reaction.removed`.
pub fn reaction(added: bool, message_id: MessageId, user_id: &UserId, emoji: &str) -> EventDraft {
    EventDraft {
        kind: if added {
            event_type::REACTION_ADDED
        } else {
            event_type::REACTION_REMOVED
        },
        data: json!({ "message_id": message_id, "user_id": user_id, "emoji": emoji }),
    }
}

/// `thread.updated`: the root message (with its summary) is joined at read time.
pub fn thread_updated() -> EventDraft {
    EventDraft {
        kind: event_type::THREAD_UPDATED,
        data: json!({}),
    }
}

/// `message.created`: the payload is joined at read time.
pub fn message_created() -> EventDraft {
    EventDraft {
        kind: event_type::MESSAGE_CREATED,
        data: json!({}),
    }
}

fn to_value<T: serde::Serialize>(value: &T) -> Value {
    // Serialising our own plain data structs to a Value cannot fail: no maps with
    // non-string keys, no custom serialisers that error.
    serde_json::to_value(value).unwrap_or(Value::Null)
}
