//! Natter's use cases: who may do what, validation, idempotency, and the one store call
//! that makes each change atomic.
//!
//! [`App`] bundles the services (`app.conversations`, `app.messages`, …), each a cheap
//! clone over the shared [`core::Core`]. Services take an [`Actor`] and return proto
//! types or [`AppError`]. This crate never names axum, sqlx or rusqlite: the server maps
//! results to HTTP, the store crates do SQL. Where to look next: `conversations.rs` for
//! the permission model, `messages.rs` for sending.

#![forbid(unsafe_code)]

mod admin;
pub mod attachments;
pub mod auth;
pub mod content;
mod conversations;
mod core;
pub mod emoji;
mod error;
mod events;
pub mod hub;
mod invitations;
mod lifecycle;
pub mod limits;
mod messages;
pub mod metrics;
pub mod pii;
mod realtime;
mod search;
mod settings;
mod users;

use std::sync::Arc;

pub use admin::{Admin, AdminConversationFilter};
pub use attachments::{AttachmentSettings, AttachmentSetup, Attachments};
pub use auth::{Actor, Authenticator, JwtKey, TokenIssuer};
pub use conversations::{Conversations, ListConversations};
pub use core::EMBEDDED_PARTICIPANTS;
pub use error::{AppError, AuthFailure, Resource, Validation};
pub use events::Events;
pub use hub::{CloseReason, CloseSignal, Hub, Presence, Session};
pub use lifecycle::DeleteScope;
pub use limits::{Action, Rate, RateLimits};
pub use messages::{Cursor, ListMessages, Messages};
pub use natter_store::Store;
pub use realtime::{Poll, Realtime};
pub use search::{Search, SearchMessages, SearchSettings, TextSetup};
pub use users::Users;

/// Source of the current time; tests may substitute their own.
pub trait Clock: Send + Sync + 'static {
    /// Now, in UTC.
    fn now(&self) -> time::OffsetDateTime;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc()
    }
}

/// Limits the services enforce (the `limits` section of the configuration).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest message content in characters (1–10 000).
    pub max_message_chars: usize,
    /// Frames queued per realtime connection before it is closed with the resync code.
    pub session_queue: usize,
    /// How long after sending the sender may edit a message.
    pub edit_window: std::time::Duration,
    /// How long after sending the sender may delete a message for everyone.
    pub delete_window: std::time::Duration,
    /// Most distinct emojis on one message.
    pub max_reactions_per_message: u32,
    /// Rate limits per action.
    pub rates: limits::RateLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_chars: 4000,
            session_queue: 1024,
            edit_window: std::time::Duration::from_secs(15 * 60),
            delete_window: std::time::Duration::from_secs(60 * 60),
            max_reactions_per_message: 50,
            rates: limits::RateLimits::default(),
        }
    }
}

/// All services, sharing one store and clock. Cloning is one reference count: the HTTP
/// layer clones the app for every request (axum's `State`), and cloning each service's
/// handles there was ~1 % of a busy server's CPU.
#[derive(Clone)]
pub struct App(Arc<Services>);

impl std::ops::Deref for App {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The services of an [`App`] (reached through it: `app.messages`, …).
pub struct Services {
    /// Users.
    pub users: Users,
    /// Conversations and participants.
    pub conversations: Conversations,
    /// Messages and read state.
    pub messages: Messages,
    /// Event log and sync.
    pub events: Events,
    /// Typing, presence and the realtime hub of this node.
    pub realtime: Realtime,
    /// Moderation, audit log and statistics.
    pub admin: Admin,
    /// Message search.
    pub search: Search,
    /// Uploads and downloads of files.
    pub attachments: Attachments,
    /// Credential verification.
    pub auth: Arc<Authenticator>,
    /// Process metrics (`/metrics`).
    pub metrics: Arc<metrics::Metrics>,
    store: Arc<dyn Store>,
}

/// Everything [`App::new`] is built from (the server's wiring picks each part).
pub struct AppParts {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The bus between nodes.
    pub bus: Arc<dyn natter_bus::Bus>,
    /// Credential verification.
    pub auth: Authenticator,
    /// Limits and rates.
    pub limits: Limits,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// This node's name on the bus.
    pub node: String,
    /// Search index and PII masking rules.
    pub text: TextSetup,
    /// Object store, scanner and attachment settings.
    pub attachments: AttachmentSetup,
}

impl App {
    /// Wires the services over a store and a bus. `node` names this node on the bus;
    /// `text` brings the search index and the PII masking rules.
    /// Call [`Hub::start`] on `app.realtime.hub()` to begin delivering events.
    pub fn new(parts: AppParts) -> Self {
        let AppParts {
            store,
            bus,
            auth,
            limits,
            clock,
            node,
            text,
            attachments,
        } = parts;
        let queue = limits.session_queue;
        let metrics = Arc::new(metrics::Metrics::default());
        let core = Arc::new(core::Core {
            store: store.clone(),
            bus: bus.clone(),
            limiter: limits::Limiter::new(limits.rates.clone(), metrics.clone()),
            metrics: metrics.clone(),
            limits,
            clock,
            pii: text.pii,
        });
        let hub = Hub::new(core.clone(), bus, node, queue);
        let auth = Arc::new(auth);
        Self(Arc::new(Services {
            attachments: Attachments::new(core.clone(), attachments, auth.clone()),
            users: Users::new(core.clone()),
            conversations: Conversations { core: core.clone() },
            messages: Messages { core: core.clone() },
            events: Events { core: core.clone() },
            search: Search::new(core.clone(), text.search_store, text.search),
            admin: Admin { core: core.clone() },
            realtime: Realtime {
                core,
                hub,
                polls: Arc::default(),
            },
            auth,
            metrics,
            store,
        }))
    }

    /// Whether the store answers (for `/readyz`).
    pub async fn store_ready(&self) -> bool {
        self.store.ping().await.is_ok()
    }

    /// The store's group-commit statistics since start.
    pub fn store_commit_stats(&self) -> natter_store::CommitSnapshot {
        self.store.commit_stats()
    }
}
