//! Users: the host application's users as Natter knows them.

use serde::{Deserialize, Serialize};

use crate::UserId;

/// Application-wide role of a user, from the token claim `role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AppRole {
    /// An ordinary end user (the default).
    #[default]
    User,
    /// A support agent: may join any `support` conversation.
    Agent,
    /// A vendor, tutor, venue or other provider in the host app.
    ServiceProvider,
    /// May read and moderate every conversation.
    Admin,
}

impl AppRole {
    /// The snake_case name used on the wire and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Agent => "agent",
            Self::ServiceProvider => "service_provider",
            Self::Admin => "admin",
        }
    }

    /// Parses the wire name; `None` for anything else.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "user" => Self::User,
            "agent" => Self::Agent,
            "service_provider" => Self::ServiceProvider,
            "admin" => Self::Admin,
            _ => return None,
        })
    }
}

/// A user record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    /// The host application's id.
    pub id: UserId,
    /// Display name, from the token's `name` claim or the server API.
    pub display_name: Option<String>,
    /// Avatar URL, set by the server API.
    pub avatar_url: Option<String>,
    /// Application role.
    pub role: AppRole,
    /// When Natter first saw this user.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    /// Last time the user was seen (authenticated request or realtime disconnect).
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_seen_at: Option<time::OffsetDateTime>,
}

/// Body of `PUT /v1/users/{id}` (server API): creates or updates a user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpsertUser {
    /// Display name (1–100 characters); unchanged when absent.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Avatar URL (http or https, at most 2048 characters); unchanged when absent.
    #[serde(default)]
    pub avatar_url: Option<String>,
    /// Application role; unchanged when absent, `user` for a new user.
    #[serde(default)]
    pub role: Option<AppRole>,
}

/// The caller's unread summary: `GET /v1/users/me/unread`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnreadSummary {
    /// Unread messages over all the caller's conversations.
    pub total: u64,
    /// Conversations with at least one unread message.
    pub conversations_with_unread: u64,
    /// Per conversation, only those with unread messages.
    pub conversations: Vec<crate::ConversationUnread>,
    /// Unread messages that mention the caller, over all conversations.
    #[serde(default)]
    pub mentions_total: u64,
    /// What should drive a badge or a notification: per conversation its unread count
    /// (level `all`), its unread mentions (level `mentions`) or nothing (level `none`, or
    /// muted), summed.
    #[serde(default)]
    pub notify_total: u64,
}
