//! The wire contract of Natter: identifiers, REST request and response bodies, event
//! payloads and the problem body of every error.
//!
//! This crate holds no logic beyond validating identifiers: the server and the SDK share
//! it so that they cannot disagree about a field. With the `openapi` feature every type
//! also derives its OpenAPI schema (only the server turns it on).
//! Where to look next: `natter-app` for the rules behind these shapes.

pub mod admin;
pub mod attachments;
pub mod conversations;
pub mod events;
pub mod ids;
pub mod messages;
pub mod problem;
pub mod realtime;
pub mod search;
pub mod users;

pub use admin::*;
pub use attachments::*;
pub use conversations::*;
pub use events::*;
pub use ids::*;
pub use messages::*;
pub use problem::*;
pub use realtime::{
    ClientFrame, Hello, RealtimeToken, ServerFrame, SetTyping, TypingState, UserPresence,
};
pub use search::*;
pub use users::*;

use serde::{Deserialize, Serialize};

/// RFC 3339 UTC timestamp as used in every body.
pub type Timestamp = time::OffsetDateTime;

/// One page of a list, with the cursor of the next page when there is one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    /// The items of this page, in the order the endpoint documents.
    pub items: Vec<T>,
    /// Opaque cursor to pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Body of `/healthz` and `/readyz`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `ok`, or `unavailable` when a dependency does not answer.
    pub status: String,
    /// Per-dependency state for `/readyz` (`store`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<HealthCheck>,
}

/// State of one dependency in [`Health`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthCheck {
    /// Dependency name, e.g. `store`.
    pub name: String,
    /// `ok` or `unavailable`.
    pub status: String,
}
