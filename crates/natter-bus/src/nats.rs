//! [`NatsBus`]: notices as JSON on one NATS subject, shared by every node.

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::{Bus, BusError, Notice, CAPACITY};

/// The default subject every node of a deployment publishes to and subscribes on.
/// Deployments sharing one NATS must each use their own.
pub const DEFAULT_SUBJECT: &str = "natter.notices";

/// A notice with the id of the node that published it, so a node can skip its own
/// (it has delivered them locally already).
#[derive(Serialize, Deserialize)]
struct Envelope {
    origin: String,
    notice: Notice,
}

/// The NATS bus. Cheap to clone.
#[derive(Clone)]
pub struct NatsBus {
    client: async_nats::Client,
    local: broadcast::Sender<Notice>,
    node: Arc<str>,
    subject: Arc<str>,
}

impl std::fmt::Debug for NatsBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBus")
            .field("node", &self.node)
            .field("subject", &self.subject)
            .finish()
    }
}

impl NatsBus {
    /// Connects to `url` (e.g. `nats://127.0.0.1:4222`) and starts forwarding other
    /// nodes' notices on `subject` into local subscriptions. The first connection must succeed (a node
    /// does not start half-connected: its hub would otherwise mistake the first connect
    /// for a reconnect); later the client reconnects by itself, and while it is away local
    /// notices still reach local subscribers.
    pub async fn connect(url: &str, node: &str, subject: &str) -> Result<Self, BusError> {
        let subject: Arc<str> = subject.into();
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(std::time::Duration::from_secs(2))
            .event_callback(|event| async move { tracing::info!(%event, "nats") })
            .connect(url)
            .await
            .map_err(|err| BusError(format!("connecting to {url}: {err}")))?;
        let mut subscription = client
            .subscribe(subject.to_string())
            .await
            .map_err(|err| BusError(format!("subscribing to {subject}: {err}")))?;
        let local = broadcast::channel(CAPACITY).0;
        let node: Arc<str> = node.into();
        tokio::spawn({
            let (local, node) = (local.clone(), node.clone());
            async move {
                while let Some(message) = subscription.next().await {
                    match serde_json::from_slice::<Envelope>(&message.payload) {
                        Ok(envelope) if *envelope.origin == *node => {}
                        Ok(envelope) => {
                            let _ = local.send(envelope.notice);
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "ignoring an unreadable bus message")
                        }
                    }
                }
                tracing::warn!("the NATS subscription ended");
            }
        });
        Ok(Self {
            client,
            local,
            node,
            subject,
        })
    }
}

#[async_trait]
impl Bus for NatsBus {
    async fn publish(&self, notice: Notice) -> Result<(), BusError> {
        let _ = self.local.send(notice.clone());
        let payload = serde_json::to_vec(&Envelope {
            origin: self.node.to_string(),
            notice,
        })
        .map_err(|err| BusError(err.to_string()))?;
        self.client
            .publish(self.subject.to_string(), payload.into())
            .await
            .map_err(|err| BusError(err.to_string()))
    }

    fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.local.subscribe()
    }

    fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    fn name(&self) -> &'static str {
        "nats"
    }
}
