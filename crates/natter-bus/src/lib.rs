//! The bus between Natter nodes: a doorbell, never the record.
//!
//! After a transaction commits, the service publishes a small [`Notice`] (conversation id
//! and event seq); every node's hub receives it and loads the events from the store. So a
//! lost notice only delays delivery: clients catch up from the event log. Ephemeral state
//! (typing, presence) travels on the bus with its payload because it is never stored.
//!
//! [`LocalBus`] (tokio broadcast) serves one node; [`NatsBus`] (feature `nats`) connects
//! several. A `NatsBus` also delivers every notice locally at once, so a node that loses
//! NATS keeps serving its own clients.

#![forbid(unsafe_code)]

#[cfg(feature = "nats")]
mod nats;

use async_trait::async_trait;
use natter_proto::{ConversationId, EventSeq, UserId};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

#[cfg(feature = "nats")]
pub use nats::{NatsBus, DEFAULT_SUBJECT};

/// Notices buffered per subscriber before it lags (and its node resyncs its clients).
///
/// The ring is allocated whole when the bus starts (tokio's broadcast channel
/// preallocates every slot, ~90 bytes each): 65,536 slots were 5.6 MB of an idle server's
/// 25 MB. 16,384 (1.4 MB) still absorb a 650 ms stall of the hub at 25,000 notices/s; the
/// hub drains up to 1,024 per wake-up.
pub const CAPACITY: usize = 16_384;

/// One message on the bus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// Events up to `seq` of the conversation are committed.
    Committed {
        /// Conversation.
        conversation_id: ConversationId,
        /// Its newest committed event seq.
        seq: EventSeq,
    },
    /// A participant started or stopped typing.
    Typing(Box<TypingNotice>),
    /// A node's view of a user's connection state changed.
    Presence(Box<PresenceNotice>),
}

// The rarer notices are boxed so that a `Notice` is 32 bytes: every slot of the bus ring
// (see `CAPACITY`) holds one, allocated up front. The wire format is the same as with
// inline fields (`{"kind": "typing", "conversation_id": …}`).
const _: () = assert!(std::mem::size_of::<Notice>() <= 32);

/// [`Notice::Typing`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypingNotice {
    /// Conversation.
    pub conversation_id: ConversationId,
    /// Who.
    pub user_id: UserId,
    /// Started (true) or stopped (false).
    pub typing: bool,
}

/// [`Notice::Presence`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceNotice {
    /// Who.
    pub user_id: UserId,
    /// The node that counts the user's devices.
    pub node: String,
    /// At least one device is connected to that node.
    pub online: bool,
    /// Microseconds since the epoch of the change.
    pub at: i64,
}

/// A bus failure (publishing is best-effort: callers log it and go on).
#[derive(Debug, thiserror::Error)]
#[error("bus: {0}")]
pub struct BusError(pub String);

/// Publish-subscribe between nodes.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Publishes to every node, this one included.
    async fn publish(&self, notice: Notice) -> Result<(), BusError>;
    /// A new subscription receiving every notice published after this call.
    fn subscribe(&self) -> broadcast::Receiver<Notice>;
    /// Whether the bus reaches the other nodes (always true in process).
    fn is_connected(&self) -> bool;
    /// A short name for logs and `/readyz`.
    fn name(&self) -> &'static str;
}

/// The in-process bus of a single node.
#[derive(Debug, Clone)]
pub struct LocalBus {
    sender: broadcast::Sender<Notice>,
}

impl Default for LocalBus {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(CAPACITY).0,
        }
    }
}

impl LocalBus {
    /// A new bus.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Bus for LocalBus {
    async fn publish(&self, notice: Notice) -> Result<(), BusError> {
        // No receiver is fine: a node without a hub has nobody to notify.
        let _ = self.sender.send(notice);
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.sender.subscribe()
    }

    fn is_connected(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "local"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_bus_delivers_to_every_subscriber() {
        let bus = LocalBus::new();
        let mut first = bus.subscribe();
        let mut second = bus.subscribe();
        let notice = Notice::Committed {
            conversation_id: ConversationId::new(),
            seq: EventSeq(3),
        };
        bus.publish(notice.clone()).await.expect("publish");
        assert_eq!(first.recv().await.expect("first"), notice);
        assert_eq!(second.recv().await.expect("second"), notice);
    }

    #[test]
    fn notices_round_trip_as_json() {
        let notice = Notice::Presence(Box::new(PresenceNotice {
            user_id: UserId::parse("alice").expect("id"),
            node: "n1".into(),
            online: true,
            at: 5,
        }));
        let json = serde_json::to_string(&notice).expect("serialise");
        assert_eq!(
            json,
            r#"{"kind":"presence","user_id":"alice","node":"n1","online":true,"at":5}"#
        );
        assert_eq!(
            serde_json::from_str::<Notice>(&json).expect("parse"),
            notice
        );
        let typing: Notice = serde_json::from_str(
            r#"{"kind":"typing","conversation_id":"0193a0a0-0000-7000-8000-000000000001","user_id":"bob","typing":false}"#,
        )
        .expect("the inline wire format");
        assert!(matches!(&typing, Notice::Typing(t) if t.user_id.as_str() == "bob" && !t.typing));
    }
}
